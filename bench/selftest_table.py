"""The README's self-test table: every sandbox fault caught under its rule, every conforming variation clean.

Why: the table is the evidence that each check can fail (faults) and stays silent where the documents leave the
behaviour open (variations); it is generated, not written by hand, from the same cases the project's tests run
(`conformance.selftest`): `detect(case)` per fault, `try_variations` per variation and per API with all of its
variations at once, `run_suite(api)` per clean sandbox (which must have no findings).

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
from conformance.sandbox import SANDBOXES, load_sandbox  # noqa: E402
from conformance.selftest import (  # noqa: E402
    FaultCase,
    detect,
    fault_cases,
    run_suite,
    try_variations,
    variation_cases,
)

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


def variation_run(api: str, names: tuple[str, ...]) -> dict[str, Any]:
    """Runs the whole suite against the sandbox showing `names`; a finding there is a false alarm."""
    started = time.perf_counter()
    result = try_variations(api, names)
    return {
        "api": api,
        "names": names,
        "findings": [f"{f['rule']} {f['operation']}" for f in result["findings"]],
        "notes": [f"{f['rule']} {f['operation']}" for f in result.get("notes") or []],
        "exit_code": result["exit_code"],
        "seconds": time.perf_counter() - started,
    }


def render(
    detections: list[dict[str, Any]],
    cleans: list[dict[str, Any]],
    variations: list[dict[str, Any]],
    seconds: float,
    jobs: int,
) -> str:
    """The markdown tables (faults: rule → API → fault → detected; variations: findings and notes) and totals."""
    descriptions = {(api, name): text for api in SANDBOXES for name, text in load_sandbox(api).VARIATIONS.items()}
    lines = ["| rule | API | fault | detected |", "|---|---|---|---|"]
    for item in sorted(detections, key=lambda d: (d["case"].rule, d["case"].api)):
        case = item["case"]
        mark = "✓" if item["detected"] else f"✗ (found: {', '.join(item['found']) or 'nothing'})"
        description = case.description.replace("|", "\\|")
        lines.append(f"| `{case.rule}` | {case.api} | {description} | {mark} |")
    lines += ["", "| API | conforming variation | findings (must be 0) | notes |", "|---|---|---|---|"]
    for item in sorted(variations, key=lambda v: (v["api"], len(v["names"]) > 1, v["names"])):
        if len(item["names"]) == 1:
            text = f"`{item['names'][0]}`: {descriptions.get((item['api'], item['names'][0]), '')}"
        else:
            text = f"all {len(item['names'])} at once"
        found = str(len(item["findings"])) if not item["findings"] else "✗ " + ", ".join(item["findings"])
        notes = ", ".join(item["notes"]) or "0"
        text = text.replace("|", "\\|")
        lines.append(f"| {item['api']} | {text} | {found} | {notes} |")
    detected = sum(d["detected"] for d in detections)
    clean = ", ".join(f"{c['api']} {len(c['findings'])}" for c in cleans)
    singles = [v for v in variations if len(v["names"]) == 1]
    quiet = sum(not v["findings"] and v["exit_code"] == 0 for v in singles)
    together = sum(not v["findings"] and v["exit_code"] == 0 for v in variations if len(v["names"]) > 1)
    notes = sum(len(v["notes"]) for v in singles)
    lines += [
        "",
        f"**{detected}/{len(detections)} faults detected under their rule; {quiet}/{len(singles)} conforming "
        f"variations clean (and {together}/{len(variations) - len(singles)} APIs with all their variations at once); "
        f"{notes} notes shown on the variations.** Findings on the clean sandboxes (must be 0): {clean}. "
        f"{seconds:.0f} s with {jobs} job(s).",
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
        variation_futures = [
            pool.submit(variation_run, case.api, (case.name,)) for case in variation_cases() if case.api in apis
        ] + [pool.submit(variation_run, api, tuple(sorted(load_sandbox(api).VARIATIONS))) for api in apis]
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
        variations = [future.result() for future in variation_futures]
    table = render(detections, cleans, variations, time.perf_counter() - started, args.jobs)
    print(table)
    failed = (
        any(not d["detected"] for d in detections)
        or any(c["findings"] for c in cleans)
        or any(v["findings"] or v["exit_code"] for v in variations)
    )
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
