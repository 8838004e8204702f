"""`conformance report` and `conformance diff`: the command-line faces of reports and diffs.

Each `*_main(argv)` parses its own arguments and returns the exit code (0 fine, 1 regressed,
2 usage or file error); `conformance/cli.py` dispatches to them. Errors are one line on stderr,
`error: <what>; <how to fix>`, with no traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from conformance.diff import diff_results, regressed, render_html, render_text
from conformance.report.model import ResultError
from conformance.report.render import render_diff_page
from conformance.report.writer import load_result, write_html, write_text

__all__ = ["diff_main", "report_main"]


def _report_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="conformance report",
        description="Regenerate the HTML report of one API from its JSON result.",
        epilog="Example: conformance report reports/goat.json   (writes reports/goat.html)",
    )
    parser.add_argument(
        "result",
        type=Path,
        metavar="RESULT.json",
        help="a result written by `conformance run --report-dir DIR` (DIR/<api>.json)",
    )
    parser.add_argument(
        "--out", type=Path, metavar="FILE", help="where to write the HTML page (default: RESULT.json with .html)"
    )
    return parser


def _diff_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="conformance diff",
        description="Compare two runs: fixed, new and unchanged findings, matched by rule and operation.",
        epilog="Exit status: 0 no regression, 1 a new failing finding, 2 bad usage or an unreadable file. "
        "Example: conformance diff last-week/goat.json reports/goat.json --html reports/diff.html",
    )
    parser.add_argument("old", type=Path, metavar="OLD.json", help="the earlier run's result")
    parser.add_argument("new", type=Path, metavar="NEW.json", help="the later run's result")
    parser.add_argument(
        "--html", type=Path, metavar="FILE", help="also write the diff as a self-contained HTML page to FILE"
    )
    parser.add_argument(
        "--html-fragment",
        type=Path,
        metavar="FILE",
        help="also write the diff as an HTML fragment (one <section>, no page around it) to FILE, to embed elsewhere",
    )
    return parser


def report_main(argv: list[str]) -> int:
    """Runs `conformance report RESULT.json [--out FILE]`; returns the exit code."""
    parsed = _parse(_report_parser(), argv)
    if isinstance(parsed, int):
        return parsed
    try:
        result = load_result(parsed.result)
        out = parsed.out or parsed.result.with_suffix(".html")
        write_html(result, out)
    except ResultError as exc:
        return _error(f"{exc}; pass the DIR/<api>.json that `conformance run --report-dir DIR` wrote")
    except OSError as exc:
        return _error(f"cannot write the report ({exc}); check --out")
    sys.stdout.write(f"wrote {out}\n")
    return 0


def diff_main(argv: list[str]) -> int:
    """Runs `conformance diff OLD.json NEW.json [--html FILE] [--html-fragment FILE]`; 1 if the new run regressed."""
    parsed = _parse(_diff_parser(), argv)
    if isinstance(parsed, int):
        return parsed
    try:
        old, new = load_result(parsed.old), load_result(parsed.new)
    except ResultError as exc:
        return _error(f"{exc}; pass two DIR/<api>.json results of `conformance run --report-dir DIR`")
    if old["api"] != new["api"]:  # nothing would match: every finding would read as fixed or new
        return _error(
            f"{parsed.old} is a result of {old['api']!r}, {parsed.new} of {new['api']!r}; diff two runs of the same API"
        )
    diff = diff_results(old, new)
    sys.stdout.write(render_text(diff))
    fragment = render_html(diff)
    for path, option, text in (
        (parsed.html, "--html", lambda: render_diff_page(fragment)),
        (parsed.html_fragment, "--html-fragment", lambda: fragment),
    ):
        if path:
            try:
                write_text(path, text())
            except OSError as exc:
                return _error(f"cannot write {path} ({exc}); check {option}")
    return 1 if regressed(diff) else 0


def _parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace | int:
    """Returns the parsed arguments, or the exit code argparse chose (0 for --help, 2 for misuse)."""
    try:
        return parser.parse_args(argv)
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else 2


def _error(message: str) -> int:
    sys.stderr.write(f"error: {message}\n")
    return 2
