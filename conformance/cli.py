"""`conformance`: run the suite, serve sandboxes, check specs, render reports, diff runs.

Exit codes: 0 conforming (or clean; or the baseline written); 1 nonconformance found (or a score
under `--fail-under`, or problems in specs, or a regression in `diff`); 2 usage error, bad spec, a
setup mistake the pre-flight probe finds (no answer, whose report is still written with the
transport finding that says why; no documented route; the key refused), or nothing tested;
130 interrupted by SIGINT, 143 by SIGTERM
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
from pathlib import Path

from conformance import __version__
from conformance.specfiles import API_SLUGS

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """A one-line `error: <what>; <how to fix>` for the user; exit code 2."""


# Commands that parse their own arguments (conformance/report/commands.py): everything after the name is
# theirs, so `diff --help` and `diff --html F OLD NEW` reach their parser untouched.
DELEGATED = {
    "report": "report_main",
    "diff": "diff_main",
    "drift": "conformance.drift.command:drift_main",
    "init": "conformance.init:init_main",
}


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
        if args.command == "run":
            _apply_config(args, argv[argv.index("run") + 1 :])
            apis = list(dict.fromkeys(args.api or []))  # one API or several, from the command line or the file
            args.api = apis[0] if apis else None
            if len(apis) > 1:
                return _run_several(apis, args, argv[argv.index("run") + 1 :])
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
        description="Runs the conformance suite for API (a bundled spec) or for --spec FILE (any OpenAPI 3.0/3.1 "
        "spec with an x-conformance profile; `conformance init` drafts one) against --base-url (default: the "
        "API's sandbox, started on a free loopback port). Exit 0 conforming, 1 nonconformance found, 2 usage error, "
        "bad spec, setup mistake (unreachable, key refused, no documented route) or nothing tested, "
        "130/143 interrupted by SIGINT/SIGTERM.",
    )
    run.add_argument(
        "api",
        metavar="API",
        nargs="*",
        help=f"bundled API: {', '.join(API_SLUGS)} (optional with --spec, whose profile names its API); "
        "several APIs run at once against their sandboxes, each in its own process",
    )
    run.add_argument("--base-url", help="base URL including its path, e.g. https://api.example/v1")
    run.add_argument("--api-key", help="API key (default: $CONFORMANCE_API_KEY; the sandbox's key without --base-url)")
    run.add_argument(
        "--spec",
        metavar="FILE",
        help="spec file with an x-conformance profile: your own API's, or an edited bundled one",
    )
    run.add_argument(
        "--report-dir",
        help="write DIR/<api>.json, .junit.xml, .html, .sarif (not for a run that was stopped, "
        "interrupted or tested nothing), .wfc.json with its replay script .wfc.sh (WFC) and DIR/index.html",
    )
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
    run.add_argument(
        "--budget",
        metavar="SECONDS|Nreq",
        help="bound the run (e.g. 180, or 300req): a request plan says what it skips to fit, and the report "
        "shows those rules as skipped for budget",
    )
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
    run.add_argument(
        "--fail-under",
        action="append",
        default=[],
        metavar="[CATEGORY=]SCORE",
        help="exit 1 when the score (the HTML report's, a whole percent) is under SCORE, or a category's score "
        "under it (e.g. --fail-under 90 --fail-under errors=95; repeatable)",
    )
    run.add_argument("--config", metavar="FILE", help="read settings from FILE (see below)")
    from conformance.config import help_text

    run.epilog = help_text()
    run.set_defaults(handler=_run_command)

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
    specs.add_argument(
        "--only-openapi",
        action="store_true",
        help="skip (with a note) a YAML/JSON file without a top-level `openapi` key, instead of reporting it as "
        "not an OpenAPI document (what the pre-commit hook passes: it sees every spec-like file)",
    )
    specs.set_defaults(handler=cmd_specs)

    report = commands.add_parser("report", help="regenerate the HTML report of a JSON result", add_help=False)
    report.add_argument("rest", nargs=argparse.REMAINDER)
    report.set_defaults(handler=lambda args: _delegate("report_main", args.rest))
    diff = commands.add_parser(
        "diff", help="compare two JSON results: fixed, new and unchanged findings", add_help=False
    )
    diff.add_argument("rest", nargs=argparse.REMAINDER)
    diff.set_defaults(handler=lambda args: _delegate("diff_main", args.rest))
    drift = commands.add_parser(
        "drift", help="judge recorded traffic (HAR, NDJSON) without sending a request", add_help=False
    )
    drift.add_argument("rest", nargs=argparse.REMAINDER)
    drift.set_defaults(handler=lambda args: _delegate(DELEGATED["drift"], args.rest))
    init = commands.add_parser(
        "init", help="draft an x-conformance profile for a spec (every guess marked)", add_help=False
    )
    init.add_argument("rest", nargs=argparse.REMAINDER)
    init.set_defaults(handler=lambda args: _delegate(DELEGATED["init"], args.rest))
    return parser


def _apply_config(args: argparse.Namespace, run_argv: list[str]) -> None:
    """Fills the `run` options not given on the command line from the config file (conformance/config.py)."""
    from conformance.config import ConfigError, given_options, load_config

    try:
        config = load_config(Path(args.config) if args.config else None)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    if config is not None:
        config.apply(args, given_options(_run_parser(), run_argv))


def _run_several(apis: list[str], args: argparse.Namespace, run_argv: list[str]) -> int:
    """`conformance run API API…` (conformance/multirun.py): the shared options go to each API's run."""
    from conformance.multirun import child_argv, one_api_option, run_many

    for api in apis:
        known_api(api)
    option = one_api_option(args)
    if option:
        given = option in run_argv or any(token.startswith(option + "=") for token in run_argv)
        where = "" if given else " (set by the config file)"
        raise UsageError(f"{option}{where} applies to one API; run the APIs one at a time to use it")
    return run_many(apis, child_argv(_run_parser(), run_argv, apis), args.report_dir)


def _run_parser() -> argparse.ArgumentParser:
    """A fresh parser of the `run` command (its actions say which options take a value)."""
    run: argparse.ArgumentParser = next(
        a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)
    ).choices["run"]
    return run


def _delegate(name: str, rest: list[str]) -> int:
    """Runs a command that parses its own arguments: a function of report/commands.py, or `module:function`."""
    import importlib

    module, _, function = name.rpartition(":")
    commands = importlib.import_module(module or "conformance.report.commands")
    return int(getattr(commands, function)(rest))


def _run_command(args: argparse.Namespace) -> int:
    from conformance.run import cmd_run

    return cmd_run(args)


def known_api(api: str) -> str:
    if api in API_SLUGS:
        return api
    close = difflib.get_close_matches(api, API_SLUGS, n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"known APIs: {', '.join(API_SLUGS)}"
    raise UsageError(f"unknown API {api!r}; {hint} (for your own API, pass --spec FILE)")


def known_rule(rule: str) -> str:
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
    checked: list[Path] = []
    for path in paths:
        if not _is_openapi(path):
            if getattr(args, "only_openapi", False):
                print(f"{path}: skipped: no top-level `openapi` key (not an OpenAPI document)", file=sys.stderr)
                continue
            print(f"{path}: /: not an OpenAPI document (no top-level `openapi` key)")
            problems += 1
            continue
        checked.append(path)
        found = check_spec_file(path)
        problems += len(found)
        for problem in found:
            print(problem)
    paths = [path for path in paths if path in checked or not getattr(args, "only_openapi", False)]
    clean = len([p for p in checked if not check_spec_file(p)]) if problems else len(paths)
    print(f"{len(paths)} spec(s) checked: {problems} problem(s); {clean} clean", file=sys.stderr)
    return EXIT_FINDINGS if problems else EXIT_OK


def _is_openapi(path: Path) -> bool:
    """True when `path` has a top-level `openapi` key (or cannot be parsed but has one at a line's start)."""
    import re

    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return True  # check_spec_file says what is wrong with it
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError:
        return re.search(r"""(?m)^\s*["']?openapi["']?\s*:""", text) is not None
    return isinstance(document, dict) and "openapi" in document


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


if __name__ == "__main__":
    # `python -m conformance.cli`: run the imported module's main, so that the UsageError that
    # conformance/run.py raises is the class main() catches (not a second copy made for __main__)
    from conformance import cli

    sys.exit(cli.main())
