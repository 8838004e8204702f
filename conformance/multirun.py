"""`conformance run API API…`: several bundled APIs against their embedded sandboxes, side by side.

Why: a polite run against a rate-limited API mostly waits for its next window (retailcrm documents 10
requests a second), and while it waits the machine is idle; the other APIs' runs use that time (issue 13).
Each API runs in its own process, exactly as `conformance run API …` alone (one pytest session, one
sandbox, its own reports), and its output is printed whole when it ends, so runs never interleave. The
slowest-paced API starts first: its windows set the length of the whole run.
The exit code is the worst of the runs': interrupted, then unusable (2), then nonconformance (1).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

__all__ = ["child_argv", "one_api_option", "run_many", "start_order", "worst"]

# Options that name one API's server, key, file or sandbox change: meaningless for several APIs at once.
ONE_API_OPTIONS = ("--base-url", "--spec", "--api-key", "--baseline", "--update-baseline", "--fault", "--variation")
# As many runs at once as the machine has cores: a run is CPU-bound except while it waits for its window, and
# more at once only slow each other (on 2 cores, six at once took 59 s, two at a time 53 s).
MAX_AT_ONCE = max(os.cpu_count() or 2, 2)
STOP_GRACE_S = 30.0


def child_argv(run_parser: argparse.ArgumentParser, run_argv: list[str], apis: list[str]) -> list[str]:
    """The `run` arguments without the API names: the options every API's run shares, as the user wrote them."""
    takes_value = {
        option
        for action in run_parser._actions
        if action.option_strings and action.nargs != 0
        for option in action.option_strings
    }
    rest: list[str] = []
    tokens = iter(run_argv)
    for token in tokens:
        prefixed = token.startswith("--") and "=" not in token and sum(o.startswith(token) for o in takes_value) == 1
        if token in takes_value or prefixed:  # `--seed 3`, `--report out`: the value is no API name, whatever it spells
            rest += [token, next(tokens, "")]
        elif token in apis and not token.startswith("-"):
            continue
        else:
            rest.append(token)
    return rest


def one_api_option(args: argparse.Namespace) -> str | None:
    """The first option given that belongs to one API only, or None."""
    for option in ONE_API_OPTIONS:
        if getattr(args, option.lstrip("-").replace("-", "_"), None):
            return option
    return None


def start_order(apis: list[str]) -> list[str]:
    """The APIs, the slowest-paced first: a documented limit the server does not advertise is the pace the run
    keeps all along (retailcrm: 10 a second); a server that advertises its window sets the pace itself."""
    from conformance.profile import load_profile

    def per_second(api: str) -> float:
        rate = load_profile(api).data.get("rate_limit") or {}
        requests, window = rate.get("requests"), rate.get("window_s")
        if rate.get("headers") or not (requests and window):
            return float("inf")
        return float(requests) / float(window)

    return sorted(dict.fromkeys(apis), key=per_second)


def worst(codes: list[int]) -> int:
    """The exit code of several runs: an interruption (130, 143), then any other failure to finish (2, a run
    killed by a signal: 128 + its number), then 1 (nonconformance), then 0."""
    codes = [128 - code if code < 0 else code for code in codes]  # Popen: -9 is "killed by SIGKILL"
    for code in (130, 143):
        if code in codes:
            return code
    return next((code for code in codes if code not in (0, 1)), max(codes, default=0))


def run_many(apis: list[str], shared: list[str], report_dir: str | None) -> int:
    """Runs `conformance run API *shared` for each API, MAX_AT_ONCE at a time; returns the worst exit code.

    Ctrl-C or SIGTERM stops every run as that signal stops one (its report marked incomplete), prints what
    each printed, and is raised again for the caller's exit code.
    """
    from conformance.interrupt import install_sigterm, signal_name

    order = start_order(apis)
    print(
        f"running {len(order)} APIs, {min(MAX_AT_ONCE, len(order))} at a time, each in its own process: "
        + ", ".join(order),
        flush=True,
    )
    pending = list(order)
    running: dict[str, _Run] = {}
    codes: dict[str, int] = {}

    def finish(api: str) -> None:
        run = running.pop(api)
        run.reader.join()
        codes[api] = run.proc.returncode
        print(f"\n== {api}: exit {run.proc.returncode} after {time.monotonic() - run.started:.0f} s ==", flush=True)
        sys.stdout.write(run.output.decode("utf-8", "replace"))
        sys.stdout.flush()

    restore = install_sigterm()
    try:
        while pending or running:
            while pending and len(running) < MAX_AT_ONCE:
                api = pending.pop(0)
                running[api] = _Run.start([sys.executable, "-m", "conformance.cli", "run", api, *shared])
            for api in [api for api, run in running.items() if run.proc.poll() is not None]:
                finish(api)
            time.sleep(0.1)
    except KeyboardInterrupt as exc:  # each run gets the one signal, in its own session: no second Ctrl-C
        # A second Ctrl-C or SIGTERM while the runs write their reports must not leave one running.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        sig = signal.SIGTERM if signal_name(exc) == "SIGTERM" else signal.SIGINT
        for run in running.values():
            if run.proc.poll() is None:
                run.proc.send_signal(sig)
        deadline = time.monotonic() + STOP_GRACE_S
        for run in running.values():
            run.wait_or_kill(deadline)
        for api in list(running):
            finish(api)
        if pending:
            print(f"\nnot started: {', '.join(pending)}", flush=True)
        raise
    finally:
        for run in running.values():  # whatever stopped this loop, no run outlives it
            if run.proc.poll() is None:
                run.proc.kill()
        restore()
        if report_dir:  # runs that end together may each have missed another's result in the index
            from conformance.report.writer import write_folder_index

            write_folder_index(Path(report_dir))
    print("\nexit codes: " + ", ".join(f"{api} {codes[api]}" for api in order))
    return worst(list(codes.values()))


class _Run:
    """One API's `conformance run` process and the output it has printed so far."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self.started = time.monotonic()
        self.output = bytearray()
        self.reader = threading.Thread(target=_drain, args=(proc, self.output), daemon=True)
        self.reader.start()

    @classmethod
    def start(cls, argv: list[str]) -> _Run:
        # its own session: a Ctrl-C at the terminal reaches this process only, which passes it on once
        return cls(subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True))

    def wait_or_kill(self, deadline: float) -> None:
        """Waits for a stopped run to write its report; kills it at `deadline` (time.monotonic())."""
        try:
            self.proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _drain(proc: subprocess.Popen[bytes], into: bytearray) -> None:
    """Reads a run's output as it comes, so a full pipe never stalls it."""
    assert proc.stdout is not None
    into.extend(proc.stdout.read())
