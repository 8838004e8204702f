"""Wall time and requests of a full default run of every API against its embedded sandbox (issue 4).

Why: the whole suite should finish in under 3 minutes for all six APIs; this measures it the way a user runs it
(`conformance run API --report-dir DIR -q`, one process per API), first with one worker, then with `--workers 2`,
and shows the medians of `--repeat` rounds and how much the second worker saves.

    .venv/bin/python bench/full_run.py [--repeat 3] [--api goat ...]

Prints a markdown table and writes it to bench/results/full_run.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from conformance.sandbox import SANDBOXES  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "full_run.md"
TARGET_S = 180.0
WORKERS = (1, 2)


def conformance_command() -> list[str]:
    """The installed `conformance` script next to this interpreter, else the module."""
    script = Path(sys.executable).parent / "conformance"
    return [str(script)] if script.exists() else [sys.executable, "-m", "conformance.cli"]


def run_once(api: str, workers: int) -> dict[str, Any]:
    """One `conformance run` in its own process; returns wall time, requests sent, findings and exit code."""
    # default settings: no inherited key or sandbox limit from the caller's environment
    env = {k: v for k, v in os.environ.items() if k not in ("CONFORMANCE_API_KEY", "CONFORMANCE_SANDBOX_RATE_LIMIT")}
    with tempfile.TemporaryDirectory(prefix="bench-full-run-") as tmp:
        argv = [*conformance_command(), "run", api, "--report-dir", tmp, "-q"]
        if workers > 1:
            argv += ["--workers", str(workers)]
        started = time.perf_counter()
        proc = subprocess.run(argv, env=env, cwd=tmp, capture_output=True, text=True)
        wall = time.perf_counter() - started
        path = Path(tmp) / f"{api}.json"
        result = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    return {
        "api": api,
        "workers": workers,
        "wall_s": wall,
        "requests": result.get("requests_sent"),
        "findings": len(result.get("findings", [])) if result else None,
        "seed": result.get("seed"),
        "found": [f"{f['rule']} {f['operation']}: {f['message'][:300]}" for f in result.get("findings", [])],
        "exit_code": proc.returncode,
        "stderr": proc.stderr.strip().splitlines()[-1:] if proc.returncode not in (0, 1) else [],
    }


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def render(runs: list[dict[str, Any]], apis: list[str], repeat: int) -> str:
    """The markdown table: per API and in total, median wall time and requests for 1 and 2 workers."""

    def pick(api: str | None, workers: int, key: str) -> list[float]:
        return [
            float(r[key])
            for r in runs
            if r["workers"] == workers and (api is None or r["api"] == api) and r[key] is not None
        ]

    def totals(workers: int, key: str) -> list[float]:
        rounds: dict[int, float] = {}
        for r in runs:
            if r["workers"] == workers and r[key] is not None:
                rounds[int(r["round"])] = rounds.get(int(r["round"]), 0.0) + float(r[key])
        return list(rounds.values())

    lines = [
        f"Full default run per API against its embedded sandbox; median of {repeat} round(s); "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, load average "
        f"{', '.join(f'{x:.1f}' for x in os.getloadavg())} at the end.",
        "",
        "| API | 1 worker: time | requests | 2 workers: time | requests | time ratio 1/2 | findings | exit |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for api in [*apis, None]:
        if api is None:
            t1, t2 = median(totals(1, "wall_s")), median(totals(2, "wall_s"))
            r1, r2 = median(totals(1, "requests")), median(totals(2, "requests"))
            label, findings, codes = "**total**", "", ""
        else:
            t1, t2 = median(pick(api, 1, "wall_s")), median(pick(api, 2, "wall_s"))
            r1, r2 = median(pick(api, 1, "requests")), median(pick(api, 2, "requests"))
            mine = [r for r in runs if r["api"] == api]
            findings = "/".join(sorted({str(r["findings"]) for r in mine}))
            codes = "/".join(sorted({str(r["exit_code"]) for r in mine}))
            label = api
        lines.append(
            f"| {label} | {t1:.1f} s | {r1:.0f} | {t2:.1f} s | {r2:.0f} | {t1 / t2:.2f} | {findings} | {codes} |"
        )
    t1, t2 = median(totals(1, "wall_s")), median(totals(2, "wall_s"))
    lines += [
        "",
        f"Target: under {TARGET_S:.0f} s in total. 1 worker: {t1:.0f} s "
        f"({'met' if t1 < TARGET_S else 'missed'}); 2 workers: {t2:.0f} s "
        f"({'met' if t2 < TARGET_S else 'missed'}).",
    ]
    odd = [r for r in runs if r["exit_code"] not in (0,) or r["findings"]]
    for r in odd:
        lines.append(
            f"- {r['api']} ({r['workers']} worker(s), round {r['round']}, seed {r.get('seed')}): "
            f"exit {r['exit_code']}, "
            f"{r['findings']} finding(s) on the clean sandbox {' '.join(r['stderr'])}".rstrip()
            + "".join(f"\n  - {found}" for found in r.get("found", []))
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="rounds per worker count (default 1)")
    parser.add_argument("--api", action="append", choices=list(SANDBOXES), help="only these APIs (repeatable)")
    args = parser.parse_args()
    apis = args.api or list(SANDBOXES)
    runs = []
    for round_ in range(1, args.repeat + 1):
        for workers in WORKERS:  # interleaved, so that a noisy spell hits both worker counts alike
            for api in apis:
                run = run_once(api, workers) | {"round": round_}
                runs.append(run)
                print(
                    f"round {round_}, {workers} worker(s), {api}: {run['wall_s']:.1f} s, {run['requests']} "
                    f"requests, exit {run['exit_code']}",
                    file=sys.stderr,
                    flush=True,
                )
    table = render(runs, apis, args.repeat)
    print(table)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(table, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
