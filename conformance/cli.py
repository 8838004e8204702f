"""`conformance`: run the suite, serve sandboxes, check specs, render reports, diff runs.

Exit codes: 0 conforming (or clean; or the baseline written); 1 nonconformance found (or problems
in specs, or a regression in `diff`); 2 usage error, bad spec, a setup mistake the pre-flight probe
finds (no answer, whose report is still written with the transport finding that says why; no
documented route; the key refused), or nothing tested; 130 interrupted by SIGINT, 143 by SIGTERM
(the reports written and marked incomplete).
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import os
import socket
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from conformance import __version__
from conformance.specfiles import API_SLUGS

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2
SUITE_INI = Path(__file__).resolve().parent / "suite" / "pytest.ini"


class UsageError(Exception):
    """A one-line `error: <what>; <how to fix>` for the user; exit code 2."""


# Commands that parse their own arguments (conformance/report/commands.py): everything after the name is
# theirs, so `diff --help` and `diff --html F OLD NEW` reach their parser untouched.
DELEGATED = {"report": "report_main", "diff": "diff_main"}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    try:
        if argv and argv[0] in DELEGATED:
            return _delegate(DELEGATED[argv[0]], argv[1:])
        args = parser.parse_args(argv)
        if not getattr(args, "command", None):
            parser.print_help()
            return EXIT_USAGE
        return int(args.handler(args))
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt as exc:
        from conformance.interrupt import EXIT_CODES, signal_name

        print(f"interrupted by {signal_name(exc)}", file=sys.stderr)
        return EXIT_CODES[signal_name(exc)]
    except BrokenPipeError:  # `conformance sandbox X --list-faults | head`: the reader left; nothing to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="conformance",
        description=f"Contract and conformance suite for documented HTTP APIs. APIs: {', '.join(API_SLUGS)}.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="check a server against an API's documented behaviour",
        description="Runs the conformance suite for API against --base-url (default: the API's sandbox, "
        "started on a free loopback port). Exit 0 conforming, 1 nonconformance found, 2 usage error, "
        "bad spec, setup mistake (unreachable, key refused, no documented route) or nothing tested, "
        "130/143 interrupted by SIGINT/SIGTERM.",
    )
    run.add_argument("api", metavar="API", help=f"API slug: {', '.join(API_SLUGS)}")
    run.add_argument("--base-url", help="base URL including its path, e.g. https://api.example/v1")
    run.add_argument("--api-key", help="API key (default: $CONFORMANCE_API_KEY; the sandbox's key without --base-url)")
    run.add_argument("--spec", help="spec file to use instead of the bundled one")
    run.add_argument("--report-dir", help="write DIR/<api>.json, .junit.xml, .html and DIR/index.html")
    run.add_argument("--baseline", help="YAML file of accepted deviations; matching findings do not fail the run")
    run.add_argument("--update-baseline", action="store_true", help="write the current findings into --baseline")
    run.add_argument("--allow-writes", action="store_true", help="send write requests to a non-loopback host")
    run.add_argument(
        "--probe-rate-limit",
        action="store_true",
        help="send a bounded burst past the rate limit to check the exceeded answer",
    )
    run.add_argument("--seed", type=int, help="seed of the property tests (for reproducible runs)")
    run.add_argument("--max-examples", type=int, help="property-test examples per operation (default 8)")
    run.add_argument("--workers", type=int, default=1, help="parallel pytest-xdist workers (default 1)")
    run.add_argument(
        "--pace",
        metavar="N/SECONDS",
        help="requests per window the suite keeps to (default: the server's advertised or documented limit)",
    )
    run.add_argument("--timeout", type=float, default=10.0, help="timeout of each request in seconds (default 10)")
    run.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="RULE",
        help="with the embedded sandbox: break this rule on purpose (see `sandbox API --list-faults`)",
    )
    run.add_argument(
        "--variation",
        action="append",
        default=[],
        metavar="NAME",
        help="with the embedded sandbox: show this conforming variation, a reasonable behaviour the documents "
        "leave open, which must not be flagged (see `sandbox API --list-variations`)",
    )
    run.add_argument("-q", "--quiet", action="store_true", help="print only the summary")
    run.add_argument("-k", dest="keyword", help="only run tests matching this pytest expression")
    run.add_argument(
        "--rule",
        action="append",
        default=[],
        metavar="RULE",
        help="only run the tests that judge this rule id (repeatable)",
    )
    run.set_defaults(handler=cmd_run)

    sandbox = commands.add_parser(
        "sandbox",
        help="serve an API's conforming reference implementation",
        description="Serves the sandbox of API until Ctrl-C. Prints its base URL, demo keys and data.",
    )
    sandbox.add_argument("api", metavar="API", help=f"API slug: {', '.join(API_SLUGS)}")
    sandbox.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    sandbox.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    sandbox.add_argument("--db", help="SQLite file to keep state in across restarts (default: in memory)")
    sandbox.add_argument("--rate-limit", metavar="N/SECONDS", help="requests per window to enforce, e.g. 100/60")
    sandbox.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="RULE",
        help="break this rule on purpose (repeatable); see --list-faults",
    )
    sandbox.add_argument("--list-faults", action="store_true", help="list the faults this sandbox can inject")
    sandbox.add_argument(
        "--variation",
        action="append",
        default=[],
        metavar="NAME",
        help="behave in this conforming way the documents leave open (repeatable); see --list-variations",
    )
    sandbox.add_argument(
        "--list-variations",
        action="store_true",
        help="list the conforming variations this sandbox can show (the suite must not flag any of them)",
    )
    sandbox.set_defaults(handler=cmd_sandbox)

    specs = commands.add_parser(
        "specs",
        help="validate specs and their conformance profiles",
        description="Validates OpenAPI specs, their x-conformance profiles, examples and references. "
        "Prints `file: JSON pointer: reason` per problem; exit 1 if any, 0 if none.",
    )
    specs.add_argument("paths", nargs="*", metavar="PATH", help="spec files (default: every bundled spec)")
    specs.set_defaults(handler=cmd_specs)

    report = commands.add_parser("report", help="regenerate the HTML report of a JSON result", add_help=False)
    report.add_argument("rest", nargs=argparse.REMAINDER)
    report.set_defaults(handler=lambda args: _delegate("report_main", args.rest))
    diff = commands.add_parser(
        "diff", help="compare two JSON results: fixed, new and unchanged findings", add_help=False
    )
    diff.add_argument("rest", nargs=argparse.REMAINDER)
    diff.set_defaults(handler=lambda args: _delegate("diff_main", args.rest))
    return parser


def _delegate(name: str, rest: list[str]) -> int:
    from conformance.report import commands

    return int(getattr(commands, name)(rest))


def known_api(api: str) -> str:
    if api in API_SLUGS:
        return api
    close = difflib.get_close_matches(api, API_SLUGS, n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"known APIs: {', '.join(API_SLUGS)}"
    raise UsageError(f"unknown API {api!r}; {hint}")


def _known_rule(rule: str) -> str:
    from conformance.rules import get_rule

    try:
        return get_rule(rule).id
    except KeyError as exc:
        raise UsageError(str(exc.args[0])) from None


# --- specs ---------------------------------------------------------------------------------


def cmd_specs(args: argparse.Namespace) -> int:
    from conformance.speccheck import check_spec_file
    from conformance.specfiles import spec_path

    paths = [Path(p) for p in args.paths] or [spec_path(api) for api in API_SLUGS]
    for path in paths:
        if not path.exists():
            raise UsageError(f"{path}: no such file; pass spec files, or nothing for the bundled specs")
    problems = 0
    for path in paths:
        found = check_spec_file(path)
        problems += len(found)
        for problem in found:
            print(problem)
    clean = len(paths) - len({p for p in paths if check_spec_file(p)}) if problems else len(paths)
    print(f"{len(paths)} spec(s) checked: {problems} problem(s); {clean} clean", file=sys.stderr)
    return EXIT_FINDINGS if problems else EXIT_OK


# --- sandbox -------------------------------------------------------------------------------


def parse_rate(value: str | None, option: str = "--rate-limit") -> tuple[int, float] | None:
    if not value:
        return None
    count, _, seconds = value.partition("/")
    try:
        parsed = (int(count), float(seconds or 1))
    except ValueError:
        raise UsageError(f"{option} {value!r} is not N/SECONDS; e.g. 100/60") from None
    if parsed[0] < 1 or parsed[1] <= 0:
        raise UsageError(f"{option} {value!r} needs N >= 1 and SECONDS > 0")
    return parsed


def cmd_sandbox(args: argparse.Namespace) -> int:
    import uvicorn

    from conformance.sandbox.runner import build_app

    api = known_api(args.api)
    from conformance.sandbox import load_sandbox

    module = load_sandbox(api)
    if args.list_faults or args.list_variations:
        listed = module.FAULTS if args.list_faults else module.VARIATIONS
        for name, description in sorted(listed.items()):
            print(f"{name:36} {description}")
        return EXIT_OK
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port} is not a TCP port; pick one in 0-65535 (0 picks a free one)")
    if args.db:
        check_db(api, args.db)
    try:
        module, app = build_app(
            api, faults=args.fault, variations=args.variation, rate_limit=parse_rate(args.rate_limit), db=args.db
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    except sqlite3.Error as exc:
        raise UsageError(f"--db {args.db}: {exc}; pass a new file in a writable folder") from None
    # proto IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on accepted sockets whose proto says TCP;
    # without it every keep-alive response waits ~40 ms for a delayed ACK (Nagle), capping a client at 25/s
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((args.host, args.port))
    except OSError as exc:
        sock.close()
        raise UsageError(
            f"cannot listen on {args.host}:{args.port}: {exc.strerror}; pick another --port (0 picks a free one)"
        ) from None
    host, port = sock.getsockname()[:2]
    base_url = f"http://{host if ':' not in host else f'[{host}]'}:{port}{module.BASE_PATH.rstrip('/')}"
    requests, window = parse_rate(args.rate_limit) or module.DEFAULT_RATE_LIMIT
    print(f"{api} sandbox at {base_url}")
    for role, key in module.KEYS.items():
        print(f"  key ({role}): {key}")
    print(f"  data: {module.summary(app)}")
    print(f"  state: {args.db or 'in memory'}; rate limit: {requests} per {window:g} s")
    if args.fault:
        print(f"  faults: {', '.join(args.fault)}")
    if args.variation:
        print(f"  variations: {', '.join(args.variation)}")
    print("Ctrl-C to stop.", flush=True)
    # uvicorn picks uvloop and httptools when installed (loop/http "auto"); no access log: it would not
    # show at log level warning anyway, and formatting it costs every request
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    try:
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        db = getattr(app.state, "db", None)
        if db is not None:
            db.close()
    print("stopped")
    return EXIT_OK


def check_db(api: str, path: str) -> None:
    """Refuses a `--db` that cannot hold `api`'s state, before the sandbox opens it.

    SQLite would fail with a traceback on a missing folder or a file of another kind; a file of
    another API's sandbox opens fine and then answers 500s, so its tables are compared with the ones
    this API's sandbox makes in a fresh file.
    """
    import tempfile

    from conformance.sandbox.runner import build_app

    file = Path(path)
    if not file.parent.is_dir():
        raise UsageError(f"--db {path}: the folder {file.parent} does not exist; create it or pick another path")
    if file.is_dir():
        raise UsageError(f"--db {path} is a folder; pass a file path, e.g. {file / (api + '.db')}")
    if not file.exists() or file.stat().st_size == 0:
        return
    found = _tables(file, path)
    if not found:
        return
    with tempfile.TemporaryDirectory() as scratch:
        fresh = Path(scratch) / "fresh.db"
        _, app = build_app(api, db=str(fresh))
        expected = _tables(fresh, str(fresh))
        if getattr(app.state, "db", None) is not None:
            app.state.db.close()
    missing = sorted(set(expected) - set(found))
    different = sorted(name for name in expected if name in found and found[name] != expected[name])
    if missing or different:
        what = "; ".join(
            part
            for part in (
                f"missing tables {', '.join(missing)}" if missing else "",
                f"other columns in {', '.join(different)}" if different else "",
            )
            if part
        )
        raise UsageError(
            f"--db {path} was not made by the {api} sandbox ({what}); it holds another API's state: "
            f"pass a new file for {api}"
        )


def _tables(file: Path, shown: str) -> dict[str, list[str]]:
    """The tables of an SQLite file and their columns; a file that is not SQLite is a UsageError."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{file}?mode=ro", uri=True)) as conn:
            names = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            return {name: [row[1] for row in conn.execute(f'PRAGMA table_info("{name}")')] for name in names}
    except sqlite3.Error as exc:
        raise UsageError(f"--db {shown} is not a usable SQLite database ({exc}); pass a new file") from None


# --- run -----------------------------------------------------------------------------------


def check_base_url(url: str) -> str:
    import httpx

    fix = "e.g. https://api.example/v1"
    try:
        parts = urlsplit(url)
        httpx.URL(url)  # the client's own parser, stricter about ports and characters
    except (ValueError, httpx.InvalidURL) as exc:
        raise UsageError(f"--base-url {url!r} is not a valid URL ({exc}); {fix}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--base-url {url!r} is not an http(s) URL with a host; {fix}")
    try:
        _ = parts.port
    except ValueError:
        raise UsageError(f"--base-url {url!r} has an invalid port; {fix}") from None
    return url.rstrip("/")


def unusable_result(api: str, base_url: str, found: Any, *, seed: int | None, started: float) -> dict[str, Any]:
    """The result document of a run stopped by the pre-flight probe: one failed check, one finding."""
    from conformance.plugin import RunState, build_result
    from conformance.rules import RULES

    state = RunState(api=api, base_url=base_url, api_key=None, report_dir=None, started=started)
    state.requests_sent = 1
    state.findings.append(found.to_dict())
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
    return build_result(state, seed=seed)


def write_junit(result: dict[str, Any], path: Path) -> None:
    """Writes a JUnit file of `result`'s findings, for a run that stopped before pytest could write one."""
    from xml.etree import ElementTree

    findings = result["findings"]
    root = ElementTree.Element("testsuites")
    suite = ElementTree.SubElement(
        root,
        "testsuite",
        name="conformance",
        tests=str(len(findings)),
        failures=str(len(findings)),
        errors="0",
        skipped="0",
    )
    for item in findings:
        case = ElementTree.SubElement(
            suite, "testcase", classname=f"{result['api']}.{item['rule']}", name=item["operation"]
        )
        ElementTree.SubElement(case, "failure", message=item["message"]).text = item["message"]
    path.write_bytes(ElementTree.tostring(root, encoding="utf-8", xml_declaration=True))


def check_report_dir(path: str) -> Path:
    directory = Path(path)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / ".conformance-write-test"
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

    api = known_api(args.api)
    spec = args.spec or str(spec_path(api))
    problems = check_spec_file(spec)
    if problems:
        raise UsageError(f"bad spec: {problems[0]}" + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""))
    try:
        profile = load_profile(spec)
    except ProfileError as exc:
        raise UsageError(str(exc)) from None
    if profile.api != api:
        raise UsageError(f"the spec {spec} describes {profile.api!r}, not {api!r}")
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
    if args.update_baseline and not args.baseline:
        raise UsageError("--update-baseline needs --baseline FILE")
    entries = _load_baseline(args.baseline) if args.baseline and not args.update_baseline else []
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
                write_reports(stopped, report_dir)
                write_junit(stopped, report_dir / f"{api}.junit.xml")
                where = f" (report: {report_dir / f'{api}.html'})"
            raise UsageError(problem.message + where)
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
    if args.workers > 1:
        # The plugin's scheduler keeps each module on one worker and splits the engine (conformance/scheduling.py).
        pytest_args += ["-n", str(args.workers)]
    if pace:
        pytest_args += ["--conformance-pace", f"{pace[0]}/{pace[1]:g}"]
    if args.keyword:
        pytest_args += ["-k", args.keyword]
    for rule in args.rule:
        pytest_args += ["--conformance-rule", _known_rule(rule)]
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

        if report_dir is not None:
            write_reports(result, report_dir)
        failures = [f for f in result["findings"] if not f.get("accepted")]
        _print_summary(result, failures, report_dir)
        print(f"{incomplete['summary']} (no baseline applied or written)", file=sys.stderr)
        return EXIT_CODES[incomplete["signal"]]
    if code == 4 and not result["checks"]:
        return EXIT_USAGE  # pytest has said what was wrong (a malformed -k expression): nothing to add
    idle = _nothing_tested(result, args)
    if idle:
        if report_dir is not None:
            write_reports(result, report_dir)
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
    if report_dir is not None:
        write_reports(result, report_dir)
    failures = [f for f in result["findings"] if not f.get("accepted")]
    _print_summary(result, failures, report_dir)
    crashed = result["summary"]["failed"] > 0 and not result["findings"]
    if code in (2, 3, 4) and not result["checks"]:
        return EXIT_USAGE
    if failures or crashed:
        return EXIT_FINDINGS
    if code not in (0, 1, 5) and not result["checks"]:
        return EXIT_USAGE
    return EXIT_OK


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


def _load_baseline(path: str) -> list[Any]:
    from conformance.baseline import BaselineError, load_baseline

    try:
        return list(load_baseline(Path(path)))
    except BaselineError as exc:
        raise UsageError(str(exc)) from None
    except FileNotFoundError:
        raise UsageError(f"--baseline {path}: no such file; create it with --update-baseline") from None


class _Capture:
    """Keeps the run's result when pytest finishes (after the collector has built it)."""

    result: dict[str, Any] | None = None
    interrupted: str | None = None

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
    import pytest

    capture = _Capture()
    previous = os.environ.get("CONFORMANCE_API_KEY")
    if key:
        os.environ["CONFORMANCE_API_KEY"] = key  # the key travels by environment, never on a command line
    try:
        code = int(pytest.main(pytest_args, plugins=[capture]))
    finally:
        if previous is None:
            os.environ.pop("CONFORMANCE_API_KEY", None)
        else:
            os.environ["CONFORMANCE_API_KEY"] = previous
    return capture.result, code, capture.interrupted


def write_reports(result: dict[str, Any], report_dir: Path) -> None:
    """Writes the JSON, the HTML page and the folder's index of every result in it."""
    from conformance.plugin import write_result

    write_result(result, report_dir)
    try:
        from conformance.report import write_html, write_index
    except ImportError:
        return
    write_html(result, report_dir / f"{result['api']}.html")
    results = []
    import json

    for path in sorted(report_dir.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and "findings" in data and "api" in data:
            results.append(data)
    write_index(results, report_dir / "index.html")


def _print_summary(result: dict[str, Any], failures: list[dict[str, Any]], report_dir: Path | None = None) -> None:
    for line in summary_lines(result, failures, report_dir):
        print(line)


def summary_lines(result: dict[str, Any], failures: list[dict[str, Any]], report_dir: Path | None = None) -> list[str]:
    """The run's closing summary: counts, each failing finding, notes, unused baseline entries, the report."""
    lines: list[str] = []
    summary = result["summary"]
    accepted = len(result["findings"]) - len(failures)
    notes = result.get("notes") or []
    seed = f"; seed {result['seed']}" if result.get("seed") is not None else ""
    outcomes = f"{summary['passed']} passed, {summary['failed']} failed, " + (
        f"{summary['accepted']} accepted, " if summary.get("accepted") else ""
    )
    lines.append(
        f"{result['api']} at {result['base_url']}: {outcomes}"
        f"{summary['skipped']} skipped (rule × operation); {len(failures)} finding(s)"
        + (f", {accepted} accepted" if accepted else "")
        + (f", {len(notes)} note(s)" if notes else "")
        + f"; {result['requests_sent']} requests in {result['duration_s']:.1f} s{seed}"
    )
    for item in failures[:50]:
        first = item["message"].splitlines()[0] if item["message"] else ""
        if item.get("baseline_expired"):
            first = f"(accepted until {item['baseline_expired']}, expired) {first}"
        lines.append(f"  FAIL  {item['rule']:32} {_operation_label(item['operation']):20} {_cut(first)}")
    if len(failures) > 50:
        lines.append(f"  … and {len(failures) - 50} more (see the report)")
    for item in notes[:20]:  # a note differs from our reading but breaks no promise: it never fails the run
        first = item["message"].splitlines()[0] if item["message"] else ""
        lines.append(f"  NOTE  {item['rule']:32} {_operation_label(item['operation']):20} {_cut(first)}")
    if len(notes) > 20:
        lines.append(f"  … and {len(notes) - 20} more notes (see the report)")
    found = {(item["rule"], item["operation"]) for item in result["findings"]}
    crashes: dict[tuple[str, str], str] = {}
    for check in result.get("checks") or []:
        if check["outcome"] == "failed" and (check["rule"], check["operation"]) not in found and check.get("reason"):
            crashes.setdefault((check["rule"], check["operation"]), check["reason"].strip().splitlines()[-1])
    for entry in (result.get("baseline") or {}).get("unused", []):
        lines.append(
            f"  BASELINE {entry['rule']} on {_operation_label(entry['operation'])} ({entry['location']}) matched "
            "nothing: the deviation may be fixed; remove the entry"
        )
    for (rule, operation), reason in list(crashes.items())[:20]:
        lines.append(f"  ERROR {rule:32} {_operation_label(operation):20} the check itself failed: {_cut(reason)}")
    if report_dir is not None:
        lines.append(f"report: {report_dir / (result['api'] + '.html')} (all APIs: {report_dir / 'index.html'})")
    return lines


def _cut(text: str, limit: int = 140) -> str:
    """A console line's message, cut to `limit` characters with an ellipsis that says so."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _operation_label(operation: str) -> str:
    return "API-wide" if operation == "*" else operation


if __name__ == "__main__":
    sys.exit(main())
