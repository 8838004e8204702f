"""The README's self-test table: every sandbox fault, and whether the suite catches it under its rule (issue 4).

Why: the table is the evidence that each check can fail; it is generated, not written by hand, from the same
cases the project's tests run (`conformance.selftest`): `detect(case)` per fault, `run_suite(api)` per clean
sandbox (which must have no findings).

    .venv/bin/python bench/selftest_table.py [--jobs 2] [--api goat ...] [--check]

Writes the table into README.md between the selftest-table markers and into bench/results/selftest_table.md;
with --api only the results file (the README's table covers every API). --check writes nothing, prints the
table and exits 1 when a fault is missed or a clean sandbox has findings.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.readme import write_block  # noqa: E402
from conformance.sandbox import SANDBOXES  # noqa: E402
from conformance.selftest import FaultCase, detect, fault_cases, run_suite  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "selftest_table.md"


def detect_case(case: FaultCase) -> dict[str, Any]:
    """Runs one fault case; returns the rules found (in a worker process when --jobs > 1)."""
    started = time.perf_counter()
    result = detect(case)
    rules = sorted({f["rule"] for f in result["findings"]})
    return {"case": case, "found": rules, "detected": case.rule in rules, "seconds": time.perf_counter() - started}


def clean_run(api: str) -> dict[str, Any]:
    """Runs the whole suite against the clean sandbox of `api`; returns its findings."""
    result = run_suite(api)
    return {
        "api": api,
        "findings": [f"{f['rule']} {f['operation']}" for f in result["findings"]],
        "exit_code": result["exit_code"],
    }


def render(detections: list[dict[str, Any]], cleans: list[dict[str, Any]], seconds: float, jobs: int) -> str:
    """The markdown table (rule → API → fault → detected) and the totals line."""
    lines = ["| rule | API | fault | detected |", "|---|---|---|---|"]
    for item in sorted(detections, key=lambda d: (d["case"].rule, d["case"].api)):
        case = item["case"]
        mark = "✓" if item["detected"] else f"✗ (found: {', '.join(item['found']) or 'nothing'})"
        description = case.description.replace("|", "\\|")
        lines.append(f"| `{case.rule}` | {case.api} | {description} | {mark} |")
    detected = sum(d["detected"] for d in detections)
    clean = ", ".join(f"{c['api']} {len(c['findings'])}" for c in cleans)
    lines += [
        "",
        f"{detected}/{len(detections)} faults detected under their rule; findings on the clean sandboxes "
        f"(must be 0): {clean}. {seconds:.0f} s with {jobs} job(s).",
    ]
    for c in cleans:
        for finding in c["findings"]:
            lines.append(f"- clean {c['api']}: {finding}")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api", action="append", choices=list(SANDBOXES), help="only these APIs (repeatable)")
    parser.add_argument("--jobs", type=int, default=1, help="cases in parallel, one process each (default 1)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 on a miss or a finding when clean")
    args = parser.parse_args()
    apis = args.api or list(SANDBOXES)
    cases = [case for case in fault_cases() if case.api in apis]
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=max(args.jobs, 1)) as pool:
        clean_futures = [pool.submit(clean_run, api) for api in apis]
        detect_futures = [pool.submit(detect_case, case) for case in cases]
        detections = []
        for future in detect_futures:
            item = future.result()
            detections.append(item)
            print(
                f"{item['case'].id}: {'detected' if item['detected'] else 'MISSED'} in {item['seconds']:.0f} s",
                file=sys.stderr,
                flush=True,
            )
        cleans = [future.result() for future in clean_futures]
    table = render(detections, cleans, time.perf_counter() - started, args.jobs)
    print(table)
    failed = any(not d["detected"] for d in detections) or any(c["findings"] for c in cleans)
    if args.check:
        return 1 if failed else 0
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(table, encoding="utf-8")
    if args.api is None:
        write_block("selftest-table", table)
    else:
        print(f"--api: README.md left alone; table in {os.path.relpath(RESULTS)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
