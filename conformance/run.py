"""`conformance run`: checks one server against one API's spec, by running the suite under pytest.

The command checks what it can before a request is sent (the spec, the options, the pre-flight
probe), runs the suite in this process, then applies the baseline, writes the reports and says the
exit code: 0 conforming, 1 nonconformance (or a score under `--fail-under`), 2 a usage or setup
error or nothing tested, 130/143 interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from conformance.cli import (
    EXIT_FINDINGS,
    EXIT_OK,
    EXIT_USAGE,
    UsageError,
    known_api,
    known_rule,
    parse_rate,
)
from conformance.report.console import summary_lines
from conformance.report.writer import write_junit, write_reports
from conformance.specfiles import API_SLUGS

__all__ = ["check_base_url", "check_report_dir", "cmd_run", "load_baseline_entries", "unusable_result"]

SUITE_INI = Path(__file__).resolve().parent / "suite" / "pytest.ini"


def check_base_url(url: str) -> str:
    import httpx

    from conformance.exchange import hide_url_credentials

    fix = "e.g. https://api.example/v1"
    shown = hide_url_credentials(url, url)  # a `user:password@` is never printed
    try:
        parts = urlsplit(url)
        httpx.URL(url)  # the client's own parser, stricter about ports and characters
    except (ValueError, httpx.InvalidURL) as exc:
        reason = hide_url_credentials(str(exc), url)
        raise UsageError(f"--base-url {shown!r} is not a valid URL ({reason}); {fix}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--base-url {shown!r} is not an http(s) URL with a host; {fix}")
    try:
        _ = parts.port
    except ValueError:
        raise UsageError(f"--base-url {shown!r} has an invalid port; {fix}") from None
    return url.rstrip("/")


def unusable_result(api: str, base_url: str, found: Any, *, seed: int | None, started: float) -> dict[str, Any]:
    """The result document of a run stopped by the pre-flight probe: one failed check, one finding.

    It is no verdict on the API (`unusable`): no SARIF is written for it (conformance/report/sarif.py).
    """
    import json

    from conformance.exchange import hide_url_credentials
    from conformance.plugin import RunState, build_result
    from conformance.rules import RULES

    state = RunState(api=api, base_url=base_url, api_key=None, report_dir=None, started=started)
    state.requests_sent = 1
    finding = json.loads(hide_url_credentials(json.dumps(found.to_dict()), base_url))
    state.findings.append(finding)
    state.checks.append(
        {
            "rule": found.rule_id,
            "category": RULES[found.rule_id].category,
            "operation": found.operation,
            "outcome": "failed",
            "reason": "",
            "test": "preflight",
        }
    )
    result = build_result(state, seed=seed)
    result["unusable"] = True
    return result


def check_report_dir(path: str) -> Path:
    directory = Path(path)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / f".conformance-write-test.{os.getpid()}"  # runs side by side each probe their own
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        reason = exc.strerror or exc
        raise UsageError(f"cannot write to --report-dir {path}: {reason}; pick a writable folder") from None
    return directory


def cmd_run(args: argparse.Namespace) -> int:
    from conformance.interrupt import install_sigterm

    restore = install_sigterm()  # a CI cancel (SIGTERM) stops the run like Ctrl-C: reports marked incomplete
    try:
        return _run(args)
    finally:
        restore()


def _run(args: argparse.Namespace) -> int:
    from conformance.preflight import preflight
    from conformance.profile import ProfileError, load_profile
    from conformance.speccheck import check_spec_file
    from conformance.specfiles import spec_path

    if args.spec is None and args.api is None:
        raise UsageError(f"name a bundled API ({', '.join(API_SLUGS)}) or pass --spec FILE")
    spec = args.spec or str(spec_path(known_api(args.api)))
    problems = check_spec_file(spec)
    if problems:
        raise UsageError(f"bad spec: {problems[0]}" + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""))
    try:
        profile = load_profile(spec)
    except ProfileError as exc:
        raise UsageError(str(exc)) from None
    api = args.api or profile.api  # the slug of your own API comes from its spec
    if profile.api != api:
        raise UsageError(f"the spec {spec} describes {profile.api!r}, not {api!r}")
    if not args.base_url:
        from conformance.sandbox import SANDBOXES

        if api not in SANDBOXES:
            raise UsageError(f"no sandbox serves {api!r}; pass --base-url URL of the server to check")
    key = args.api_key or os.environ.get("CONFORMANCE_API_KEY") or None
    if args.workers < 1:
        raise UsageError("--workers must be at least 1")
    pace = parse_rate(args.pace, "--pace")
    if not 0 < args.timeout < float("inf"):  # nan and inf too: every request needs a deadline
        raise UsageError("--timeout must be a positive number of seconds")
    if (args.fault or args.variation) and args.base_url:
        option = "--fault" if args.fault else "--variation"
        raise UsageError(f"{option} changes the embedded sandbox; drop --base-url to use it")
    report_dir = check_report_dir(args.report_dir) if args.report_dir else None
    thresholds = _parse_thresholds(args.fail_under)
    if args.update_baseline and not args.baseline:
        raise UsageError("--update-baseline needs --baseline FILE")
    entries = load_baseline_entries(args.baseline) if args.baseline and not args.update_baseline else []
    if args.base_url:
        base_url = check_base_url(args.base_url)
        has_protected = any(not op.is_public for op in profile.operations.values())
        if has_protected and not key:
            raise UsageError(f"{api} needs an API key; pass --api-key KEY or set CONFORMANCE_API_KEY")
        started = time.monotonic()
        problem = preflight(profile, base_url, key, args.timeout)
        if problem is not None:
            where = ""
            if problem.finding is not None and report_dir is not None:  # an unreachable target: say why in CI
                stopped = unusable_result(api, base_url, problem.finding, seed=args.seed, started=started)
                write_reports(stopped, report_dir, spec)
                write_junit(stopped, report_dir / f"{api}.junit.xml")
                where = f" (report: {report_dir / f'{api}.html'}; no SARIF: the run judged nothing)"
            from conformance.exchange import hide_url_credentials

            raise UsageError(hide_url_credentials(problem.message, base_url) + where)
    pytest_args = [
        "--pyargs",
        "conformance.suite",
        "--conformance-api",
        api,
        "-c",
        str(SUITE_INI),
        "--rootdir",
        str(SUITE_INI.parent),
        "--tb=line",
        "--conformance-request-timeout",
        str(args.timeout),
        "-W",
        "ignore::DeprecationWarning",
        "-W",
        "ignore::pytest.PytestAssertRewriteWarning",
    ]
    if args.base_url:
        # the pre-flight probe is done above, with a report when the target is unusable
        pytest_args += ["--base-url", args.base_url, "--conformance-no-preflight"]
    if args.spec:
        pytest_args += ["--conformance-spec", args.spec]
    for fault in args.fault:
        pytest_args += ["--conformance-sandbox-fault", fault]
    for variation in args.variation:
        pytest_args += ["--conformance-sandbox-variation", variation]
    if args.allow_writes:
        pytest_args.append("--conformance-allow-writes")
    if args.probe_rate_limit:
        pytest_args.append("--conformance-probe-rate-limit")
    if args.seed is not None:
        pytest_args += ["--conformance-seed", str(args.seed)]
    if args.max_examples:
        pytest_args += ["--conformance-max-examples", str(args.max_examples)]
    if args.budget:
        from conformance.plan import parse_budget

        try:
            parse_budget(args.budget)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        pytest_args += ["--conformance-budget", args.budget]
    if args.workers > 1:
        # The plugin's scheduler keeps each module on one worker and splits the engine (conformance/scheduling.py).
        pytest_args += ["-n", str(args.workers)]
    if pace:
        pytest_args += ["--conformance-pace", f"{pace[0]}/{pace[1]:g}"]
    if args.keyword:
        pytest_args += ["-k", args.keyword]
    for rule in args.rule:
        pytest_args += ["--conformance-rule", known_rule(rule)]
    # pytest's own letters, headers and summaries give way to the plugin's progress lines (none with -q).
    pytest_args += [
        "-qq",
        "--no-header",
        "--no-summary",
        "-o",
        "console_output_style=classic",
        "--conformance-progress",
        "quiet" if args.quiet else "lines",
    ]
    if report_dir is not None:
        pytest_args += ["--conformance-report-dir", str(report_dir)]
    result, code, interrupted = _run_pytest(pytest_args, key, quiet=args.quiet)
    if result is None:
        if interrupted:
            from conformance.interrupt import EXIT_CODES

            print(f"interrupted by {interrupted} before any test ran; no report written", file=sys.stderr)
            return EXIT_CODES[interrupted]
        return EXIT_USAGE if code != 1 else EXIT_FINDINGS
    incomplete = result.get("incomplete")
    if incomplete:
        from conformance.interrupt import EXIT_CODES

        withheld = write_reports(result, report_dir, spec) if report_dir is not None else None
        failures = [f for f in result["findings"] if not f.get("accepted")]
        _print_summary(result, failures, report_dir, _sarif_note(withheld))
        print(f"{incomplete['summary']} (no baseline applied or written)", file=sys.stderr)
        return EXIT_CODES[incomplete["signal"]]
    if code == 4 and not result["checks"]:
        return EXIT_USAGE  # pytest has said what was wrong (a malformed -k expression): nothing to add
    idle = _nothing_tested(result, args)
    if idle:
        if report_dir is not None:
            write_reports(result, report_dir, spec)
        raise UsageError(idle)
    if entries:
        from conformance.baseline import apply_baseline

        result = apply_baseline(result, entries, _today())
    if args.update_baseline:
        from conformance.baseline import apply_baseline, write_baseline

        written = write_baseline(Path(args.baseline), result)
        print(f"baseline written: {args.baseline} ({len(result['findings'])} finding(s))", file=sys.stderr)
        # what was asked is done: the findings are now accepted, and the run says so (exit 0)
        result = apply_baseline(result, written, _today())
    withheld = write_reports(result, report_dir, spec) if report_dir is not None else None
    failures = [f for f in result["findings"] if not f.get("accepted")]
    missed = _missed_thresholds(result, thresholds) if not args.update_baseline else []  # writing is what was asked
    _print_summary(result, failures, report_dir, [f"  FAIL  {line}" for line in missed] + _sarif_note(withheld))
    under = bool(missed)
    crashed = result["summary"]["failed"] > 0 and not result["findings"]
    if code in (2, 3, 4) and not result["checks"]:
        return EXIT_USAGE
    if failures or crashed or under:
        return EXIT_FINDINGS
    if code not in (0, 1, 5) and not result["checks"]:
        return EXIT_USAGE
    return EXIT_OK


def _parse_thresholds(values: list[str]) -> list[Any]:
    from conformance.report.score import ThresholdError, parse_threshold

    try:
        return [parse_threshold(value) for value in values]
    except ThresholdError as exc:
        raise UsageError(f"--fail-under {exc}") from None


def _missed_thresholds(result: dict[str, Any], thresholds: list[Any]) -> list[str]:
    """One line per `--fail-under` threshold the run's score misses (printed before the `report:` line)."""
    if not thresholds:
        return []
    from conformance.report.score import failed_thresholds, scores

    return failed_thresholds(scores(result), thresholds)


def _sarif_note(withheld: str | None) -> list[str]:
    """The summary line saying no SARIF was written, and why (an upload would close alerts not judged)."""
    if withheld is None:
        return []
    return [f"no SARIF written: {withheld}; uploading one would close code-scanning alerts this run did not judge"]


def _nothing_tested(result: dict[str, Any], args: argparse.Namespace) -> str | None:
    """Says why nothing was tested (no test selected, or every selected check skipped), else None.

    A run that tested nothing has found nothing: it must not pass a CI gate as conforming.
    """
    checks = result["checks"]
    if result["findings"] or any(check["outcome"] != "skipped" for check in checks):
        return None
    chosen = [f"-k {args.keyword!r}"] if args.keyword else []
    chosen += [f"--rule {rule}" for rule in args.rule]
    selection = " and ".join(chosen)
    if not checks:
        return f"nothing was tested: {selection or 'this run'} selects no test; widen the selection"
    reasons = [check["reason"] for check in checks if check.get("reason")]
    why = f" (e.g. {reasons[0]})" if reasons else ""
    by = f" selected by {selection}" if selection else ""
    return f"nothing was tested: every check{by} was skipped{why}"


def _today() -> Any:
    from datetime import date

    return date.today()


def load_baseline_entries(path: str) -> list[Any]:
    """The entries of the `--baseline` file; a missing or broken one is a usage error."""
    from conformance.baseline import BaselineError, load_baseline

    try:
        return list(load_baseline(Path(path)))
    except BaselineError as exc:
        raise UsageError(str(exc)) from None


class _Capture:
    """Keeps the run's result when pytest finishes (after the collector has built it)."""

    result: dict[str, Any] | None = None
    interrupted: str | None = None

    @pytest.hookimpl(tryfirst=True)  # before the terminal's report of it, which can itself fail
    def pytest_keyboard_interrupt(self, excinfo: Any) -> None:
        from conformance.interrupt import signal_name

        self.interrupted = signal_name(excinfo.value)

    def pytest_unconfigure(self, config: Any) -> None:
        from conformance.plugin import run_state_key

        state = config.stash.get(run_state_key, None)
        if state is not None:
            self.result = state.result


def _run_pytest(
    pytest_args: list[str], key: str | None, *, quiet: bool
) -> tuple[dict[str, Any] | None, int, str | None]:
    capture = _Capture()
    previous = os.environ.get("CONFORMANCE_API_KEY")
    if key:
        os.environ["CONFORMANCE_API_KEY"] = key  # the key travels by environment, never on a command line
    try:
        code = int(pytest.main(pytest_args, plugins=[capture]))
    except Exception:
        # pytest's own account of an interrupt can fail (on CPython 3.11 a signal that lands inside an AST
        # conversion makes a later ast.parse raise SystemError); the run was interrupted all the same, and
        # the collector has written its reports marked incomplete
        from conformance.interrupt import interrupted_by

        if interrupted_by() is None:
            raise
        capture.interrupted = capture.interrupted or interrupted_by()
        code = int(pytest.ExitCode.INTERRUPTED)
    finally:
        if previous is None:
            os.environ.pop("CONFORMANCE_API_KEY", None)
        else:
            os.environ["CONFORMANCE_API_KEY"] = previous
    return capture.result, code, capture.interrupted


def _print_summary(
    result: dict[str, Any],
    failures: list[dict[str, Any]],
    report_dir: Path | None = None,
    more: list[str] | None = None,
) -> None:
    for line in summary_lines(result, failures, report_dir, more or ()):
        print(line)
