"""Time to the first finding on a faulty sandbox, beside the time of the whole run (issue 6).

Why: a person watching a run, or a CI job that fails fast, cares when the first break shows, not only
when the run ends. Each case runs `conformance run API --fault RULE` as a subprocess and timestamps the
first progress line that reports a finding.

    .venv/bin/python bench/first_finding.py [--api goat ...] [--fault RULE ...]

Without --fault, one fault per category present in each sandbox (the first in rule order). Writes the
table to bench/results/first_finding.md.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from conformance.sandbox import SANDBOXES, load_sandbox  # noqa: E402
from conformance.selftest import RUN_OPTIONS, SANDBOX_RATE_LIMITS  # noqa: E402

RESULT = ROOT / "bench" / "results" / "first_finding.md"
FINDING_LINE = re.compile(r"\+\d+ findings?\b")


def sample_faults(api: str) -> list[str]:
    """One fault per category (schema, errors, pagination, …) of the API's sandbox."""
    chosen: dict[str, str] = {}
    for rule in sorted(load_sandbox(api).FAULTS):
        chosen.setdefault(rule.split(".")[0], rule)
    return sorted(chosen.values())


def measure(api: str, fault: str) -> tuple[float | None, float, int]:
    """Returns (seconds to the first finding or None, seconds of the whole run, exit code)."""
    conformance = str(Path(sys.executable).parent / "conformance")
    env = dict(os.environ)
    if fault in SANDBOX_RATE_LIMITS:
        env["CONFORMANCE_SANDBOX_RATE_LIMIT"] = SANDBOX_RATE_LIMITS[fault]
    with tempfile.TemporaryDirectory() as tmp:
        argv = [conformance, "run", api, "--fault", fault, "--report-dir", tmp, "--seed", "1"]
        argv += RUN_OPTIONS.get(fault, [])
        started = time.monotonic()
        first = None
        with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env) as proc:
            assert proc.stdout is not None
            for line in proc.stdout:
                if first is None and FINDING_LINE.search(line):
                    first = time.monotonic() - started
            code = proc.wait()
        return first, time.monotonic() - started, code


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api", action="append", choices=list(SANDBOXES), help="only these APIs (repeatable)")
    parser.add_argument("--fault", action="append", help="these faults instead of one per category (repeatable)")
    args = parser.parse_args()
    rows = ["| API | fault | first finding | whole run | exit |", "|---|---|---:|---:|---|"]
    firsts, wholes = [], []
    for api in args.api or list(SANDBOXES):
        for fault in args.fault or sample_faults(api):
            first, whole, code = measure(api, fault)
            print(f"{api} {fault}: first finding {first if first is None else round(first, 1)} s, run {whole:.1f} s")
            shown = "–" if first is None else f"{first:.1f} s"
            rows.append(f"| {api} | `{fault}` | {shown} | {whole:.1f} s | {code} |")
            if first is not None:
                firsts.append(first)
            wholes.append(whole)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    summary = (
        f"Median time to the first finding {statistics.median(firsts):.1f} s; median whole run "
        f"{statistics.median(wholes):.1f} s ({len(firsts)}/{len(wholes)} runs found something; "
        f"process start and sandbox start included; load average {load} at the end)."
        if firsts
        else "No run found anything."
    )
    text = "\n".join(["# Time to the first finding", "", *rows, "", summary, ""])
    print(text)
    if not args.fault:
        RESULT.parent.mkdir(parents=True, exist_ok=True)
        RESULT.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
