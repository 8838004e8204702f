"""`conformance drift (API | --spec FILE) TRAFFIC…`: judge recorded traffic, sending no request.

Exit codes as `conformance run`: 0 conforming (every finding accepted by the baseline, or none), 1 a
finding, 2 a usage or file error (one `error:` line naming the file and where) or nothing judged (no
recorded exchange matched an operation). Reports as `run`: DIR/<api>.json, .html, .junit.xml (and
SARIF where the report writer makes it), with the traffic's counts under `traffic` in the JSON.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

from conformance.cli import UsageError, known_api
from conformance.drift.run import Drift
from conformance.drift.traffic import TrafficError

__all__ = ["drift_main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="conformance drift",
        description="Judge recorded traffic (HAR 1.2 or NDJSON, docs/drift.md) against an API's documented "
        "promises, without sending a request: every rule that recorded answers can show, once per rule, "
        "operation and signature.",
        epilog="Exit status: 0 conforming, 1 a finding, 2 bad usage, an unreadable file or nothing matched. "
        "Example: conformance drift goat recorded.har --report-dir reports",
    )
    parser.add_argument(
        "inputs",
        nargs="+",
        metavar="API|TRAFFIC",
        help="the API slug (unless --spec is given), then one or more .har or .ndjson files",
    )
    parser.add_argument("--spec", metavar="FILE", help="judge against this spec and its x-conformance profile")
    parser.add_argument(
        "--base-url",
        metavar="URL",
        help="only requests to this URL are the API's (default: any host, below the profile's base path)",
    )
    parser.add_argument(
        "--api-key",
        metavar="KEY",
        help="a key to redact wherever it appears (default: $CONFORMANCE_API_KEY); keys the traffic carries "
        "at the documented locations are redacted too",
    )
    parser.add_argument("--report-dir", metavar="DIR", help="write DIR/<api>.json, .html, .junit.xml and index.html")
    parser.add_argument("--baseline", metavar="FILE", help="accept the known deviations listed in FILE")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only the findings and the summary line")
    return parser


def drift_main(argv: list[str]) -> int:
    """Runs `conformance drift`; returns the exit code."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2
    try:
        return _drift(args)
    except (UsageError, TrafficError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2


def _profile(args: argparse.Namespace) -> tuple[Any, list[Path], str]:
    from conformance.profile import ProfileError, load_profile
    from conformance.speccheck import check_spec_file
    from conformance.specfiles import API_SLUGS, spec_path

    inputs = list(args.inputs)
    api: str | None = None
    if not args.spec or (inputs[0] in API_SLUGS and not Path(inputs[0]).exists()):
        api = known_api(inputs.pop(0))
    if not inputs:
        raise UsageError("no traffic file given; pass one or more .har or .ndjson files after the API")
    spec = args.spec or str(spec_path(api or ""))
    problems = check_spec_file(spec)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise UsageError(f"bad spec: {problems[0]}{more}")
    try:
        profile = load_profile(spec)
    except ProfileError as exc:
        raise UsageError(str(exc)) from None
    if api is not None and profile.api != api:
        raise UsageError(f"the spec {spec} describes {profile.api!r}, not {api!r}")
    paths = [Path(item) for item in inputs]
    for path in paths:
        if not path.is_file():
            raise UsageError(f"{path}: no such traffic file; pass a .har or .ndjson recording")
    return profile, paths, spec


def _drift(args: argparse.Namespace) -> int:
    from conformance.plugin import RunState, build_result
    from conformance.report.console import summary_lines
    from conformance.report.writer import write_junit, write_reports
    from conformance.run import check_base_url, check_report_dir, load_baseline_entries

    profile, paths, spec = _profile(args)
    base_url = check_base_url(args.base_url) if args.base_url else None
    report_dir = check_report_dir(args.report_dir) if args.report_dir else None
    entries = load_baseline_entries(args.baseline) if args.baseline else []
    key = args.api_key or os.environ.get("CONFORMANCE_API_KEY") or None
    started = time.monotonic()
    drift = Drift(profile, base_url=base_url, api_key=key)
    drift.read(paths)
    took = time.monotonic() - started
    if not drift.exchanges:
        raise UsageError(
            f"nothing was judged: {', '.join(map(str, paths))} holds no exchange; record some traffic first"
        )
    if not drift.matched:
        unmatched = ", ".join(f"{count} {why}" for why, count in drift.unmatched.items()) or "none"
        where = base_url or f"the base path {profile.data.get('base_path') or '/'}"
        raise UsageError(
            f"nothing was judged: none of the {drift.exchanges} recorded exchange(s) is a {profile.api} operation "
            f"under {where} (unmatched: {unmatched}"
            + (f"; {drift.no_response} without a response" if drift.no_response else "")
            + "); pass --base-url with the URL the traffic went to"
        )
    shown = ", ".join(str(p) for p in paths)
    state = RunState(api=profile.api, base_url=base_url or f"recorded traffic ({shown})", api_key=None, report_dir=None)
    state.findings = [v.to_dict() for v in drift.violations.values()]
    state.notes = [v.to_dict() for v in drift.notes.values()]
    state.checks = drift.checks()
    result = build_result(state, seed=None)
    result["traffic"] = {
        "files": [str(p) for p in paths],
        "exchanges": drift.exchanges,
        "judged": drift.matched,
        "without_response": drift.no_response,
        "unmatched": drift.unmatched,
        "duration_s": round(took, 3),
    }
    if entries:
        from conformance.baseline import apply_baseline

        result = apply_baseline(result, entries, date.today())
    if report_dir is not None:
        write_reports(result, report_dir, spec)  # SARIF locations point into the spec
        write_junit(result, report_dir / f"{profile.api}.junit.xml", name=f"conformance drift {profile.api}")
    failures = [item for item in result["findings"] if not item.get("accepted")]
    lines = summary_lines(result, failures, report_dir)
    others = sum(drift.unmatched.values())
    rate = drift.exchanges / took if took > 0 else 0.0
    lines.insert(
        1,
        f"  traffic: {drift.exchanges} exchange(s) read from {len(paths)} file(s), {drift.matched} judged"
        + (f", {others} not the API's" if others else "")
        + (f", {drift.no_response} without a response" if drift.no_response else "")
        + f" ({rate:,.0f} exchanges/s); no request sent",
    )
    for line in lines if not args.quiet else [lines[0], *[x for x in lines if x.startswith("  FAIL")]]:
        sys.stdout.write(line + "\n")
    return 1 if failures else 0
