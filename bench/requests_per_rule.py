"""Where a run's requests go: wall time and requests per rule family (category) and rule (issue 13).

Why: on a rate-limited API a polite run takes (requests sent) / (limit), so requests are the cost; this shows
which rules spend them, so that the next cut is visible. Two kinds of run:

    .venv/bin/python bench/requests_per_rule.py --label after                 # default run of all six sandboxes
    .venv/bin/python bench/requests_per_rule.py --label after --rate-limited  # gaming-goods sandbox at 100/60,
                                                                              # --probe-rate-limit, writes on
    .venv/bin/python bench/requests_per_rule.py --label after --together      # the six in one command, side by
                                                                              # side (`conformance run API API…`)
    .venv/bin/python bench/requests_per_rule.py --compare before after        # the two tables side by side

A default run is `conformance run API --report-dir DIR -q` with the embedded sandbox (as bench/full_run.py); the
rate-limited run starts `conformance sandbox gaming-goods --port 0 --rate-limit 100/60` as its own process and runs
`conformance run gaming-goods --base-url URL --probe-rate-limit -q` against it, so the suite knows only what the
server advertises and documents, as against a real server. Requests per rule come from the JUnit file's
`conformance_requests` property of each test (charged to the test's first rule), which older commits write too, so
"before" and "after" are counted alike. Results: bench/results/requests_<label>[_rate_limited].json and a table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.full_run import conformance_command  # noqa: E402
from conformance.rules import RULES  # noqa: E402
from conformance.sandbox import SANDBOXES, load_sandbox  # noqa: E402

RESULTS = ROOT / "bench" / "results"
RATE_LIMITED = ("gaming-goods", "100/60")


def per_rule(junit: Path) -> Counter[str]:
    """Requests per rule id from a run's JUnit file (each test's requests charged to its first rule)."""
    counts: Counter[str] = Counter()
    if not junit.exists():
        return counts
    for case in ET.parse(junit).iter("testcase"):
        props = [(p.get("name"), p.get("value")) for p in case.iter("property")]
        rules = [str(v) for n, v in props if n == "conformance_rule"]
        sent = sum(int(v or 0) for n, v in props if n == "conformance_requests")
        counts[rules[0] if rules else "(no rule)"] += sent
    return counts


def run(api: str, argv_extra: list[str], env: dict[str, str]) -> dict[str, Any]:
    """One `conformance run` in its own process: wall, requests, findings, requests per rule."""
    with tempfile.TemporaryDirectory(prefix="bench-requests-") as tmp:
        argv = [*conformance_command(), "run", api, "--report-dir", tmp, "-q", *argv_extra]
        started = time.perf_counter()
        proc = subprocess.run(argv, env=env, cwd=tmp, capture_output=True, text=True)
        wall = time.perf_counter() - started
        path = Path(tmp) / f"{api}.json"
        result = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        rules = per_rule(Path(tmp) / f"{api}.junit.xml")
    return {
        "api": api,
        "wall_s": round(wall, 1),
        "requests": result.get("requests_sent"),
        "findings": sorted({f"{f['rule']} {f['operation']}" for f in result.get("findings", [])}),
        "exit_code": proc.returncode,
        "stderr": proc.stderr.strip().splitlines()[-3:] if proc.returncode not in (0, 1) else [],
        "per_rule": dict(rules),
        "skipped": sorted({c["rule"] for c in result.get("checks", []) if c["outcome"] == "skipped"}),
    }


TREE: str | None = None
"""--tree DIR: run the suite's code from DIR (e.g. `git archive HEAD | tar -x -C DIR`, for "before" figures)."""


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CONFORMANCE_API_KEY", "CONFORMANCE_SANDBOX_RATE_LIMIT")}
    if TREE:
        env["PYTHONPATH"] = TREE
    return env


def default_runs(apis: list[str], extra: list[str]) -> list[dict[str, Any]]:
    runs = []
    for api in apis:
        runs.append(run(api, extra, clean_env()))
        print(
            f"{api}: {runs[-1]['wall_s']} s, {runs[-1]['requests']} requests, exit {runs[-1]['exit_code']}", flush=True
        )
    return runs


def together_run(apis: list[str], extra: list[str]) -> tuple[float, list[dict[str, Any]]]:
    """All the APIs in one `conformance run API API…` (side by side, conformance/multirun.py): its wall, and
    each API's requests and findings from its own result (its `wall_s` is the run's `duration_s`)."""
    with tempfile.TemporaryDirectory(prefix="bench-requests-") as tmp:
        argv = [*conformance_command(), "run", *apis, "--report-dir", tmp, "-q", *extra]
        started = time.perf_counter()
        proc = subprocess.run(argv, env=clean_env(), cwd=tmp, capture_output=True, text=True)
        wall = time.perf_counter() - started
        runs = []
        for api in apis:
            path = Path(tmp) / f"{api}.json"
            result = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
            runs.append(
                {
                    "api": api,
                    "wall_s": result.get("duration_s"),
                    "requests": result.get("requests_sent"),
                    "findings": sorted({f"{f['rule']} {f['operation']}" for f in result.get("findings", [])}),
                    "exit_code": proc.returncode,
                    "stderr": proc.stdout.strip().splitlines()[-3:] if proc.returncode not in (0, 1) else [],
                    "per_rule": dict(per_rule(Path(tmp) / f"{api}.junit.xml")),
                    "skipped": sorted({c["rule"] for c in result.get("checks", []) if c["outcome"] == "skipped"}),
                }
            )
    print(f"{len(apis)} APIs in one command: {wall:.1f} s, exit {proc.returncode}", flush=True)
    return round(wall, 1), runs


def external_run(api: str, rate: str | None, extra: list[str]) -> dict[str, Any]:
    """The suite against a sandbox it did not start (so it paces as against a real server)."""
    from bench.peer import Sandbox

    rate = rate or "{}/{:g}".format(*load_sandbox(api).DEFAULT_RATE_LIMIT)
    sandbox = Sandbox(api, None, rate)
    try:
        env = clean_env() | {"CONFORMANCE_API_KEY": load_sandbox(api).KEYS["full"]}
        record = run(api, ["--base-url", sandbox.base_url, *extra], env)
    finally:
        sandbox.close()
    record["rate_limit"] = rate
    print(f"{api} at {rate}: {record['wall_s']} s, {record['requests']} requests, exit {record['exit_code']}")
    return record


def rate_limited_run(extra: list[str]) -> dict[str, Any]:
    api, rate = RATE_LIMITED
    return external_run(api, rate, ["--probe-rate-limit", *extra])


def peer_runs(apis: list[str]) -> list[dict[str, Any]]:
    """The suite and plain `schemathesis run` on each clean sandbox, same seed and example budget (bench/peer.py)."""
    from bench.peer import run_case
    from conformance.selftest import FAST_RATE_LIMIT

    if TREE:
        os.environ["PYTHONPATH"] = TREE  # the suite's code of the older tree (Schemathesis is the same)
    runs = []
    for api in apis:
        case = run_case({"api": api, "fault": None, "rate": FAST_RATE_LIMIT}, seed=1, examples=8)
        ours, theirs = case["conformance"], case["schemathesis"]
        runs.append(
            {
                "api": api,
                "wall_s": round(ours["time_s"], 1),
                "requests": ours["requests"],
                "findings": ours.get("rules", []),
                "exit_code": ours["exit_code"],
                "per_rule": {},
                "schemathesis": {
                    "wall_s": round(theirs["time_s"], 1),
                    "requests": theirs["requests"],
                    "failures": theirs["failures"],
                },
            }
        )
        print(
            f"{api}: suite {ours['time_s']:.1f} s / {ours['requests']} requests; schemathesis "
            f"{theirs['time_s']:.1f} s / {theirs['requests']} requests",
            flush=True,
        )
    wall = sum(r["wall_s"] for r in runs) / max(sum(r["schemathesis"]["wall_s"] for r in runs), 1e-9)
    sent = sum(r["requests"] or 0 for r in runs) / max(sum(r["schemathesis"]["requests"] for r in runs), 1)
    print(f"suite / schemathesis: wall {wall:.2f}x, requests {sent:.2f}x")
    return runs


def families(runs: list[dict[str, Any]]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for record in runs:
        for rule, sent in record["per_rule"].items():
            counts[RULES[rule].category if rule in RULES else rule] += sent
    return counts


def rules_total(runs: list[dict[str, Any]]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for record in runs:
        counts.update(record["per_rule"])
    return counts


def compare(before: dict[str, Any], after: dict[str, Any]) -> str:
    """Markdown: wall and requests per API, then requests per rule family and per rule, before and after."""
    lines = [
        f"before: {before['label']} ({before['when']}), after: {after['label']} ({after['when']})",
        "",
        "| API | wall before | wall after | requests before | requests after |",
        "|---|---:|---:|---:|---:|",
    ]
    b_runs, a_runs = {r["api"]: r for r in before["runs"]}, {r["api"]: r for r in after["runs"]}
    for api in b_runs:
        b, a = b_runs[api], a_runs.get(api, {})
        lines.append(
            f"| {api} | {b['wall_s']} s | {a.get('wall_s', '–')} s | {b['requests']} | {a.get('requests', '–')} |"
        )
    tb = sum(r["wall_s"] for r in before["runs"])
    ta = sum(r["wall_s"] for r in after["runs"])
    rb = sum(r["requests"] or 0 for r in before["runs"])
    ra = sum(r["requests"] or 0 for r in after["runs"])
    lines += [f"| **total** | {tb:.0f} s | {ta:.0f} s | {rb} | {ra} |", ""]
    for title, b_counts, a_counts in (
        ("rule family", families(before["runs"]), families(after["runs"])),
        ("rule", rules_total(before["runs"]), rules_total(after["runs"])),
    ):
        lines += [f"| {title} | requests before | after |", "|---|---:|---:|"]
        for name in sorted(set(b_counts) | set(a_counts), key=lambda n: -b_counts.get(n, 0)):
            lines.append(f"| {name} | {b_counts.get(name, 0)} | {a_counts.get(name, 0)} |")
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", default="now", help="name of this measurement (before, after, …)")
    parser.add_argument("--api", action="append", choices=list(SANDBOXES), help="only these APIs (default runs)")
    parser.add_argument("--rate-limited", action="store_true", help="gaming-goods sandbox at 100/60 instead")
    parser.add_argument(
        "--external", action="store_true", help="each --api against a sandbox started apart (its default limit)"
    )
    parser.add_argument("--extra", action="append", default=[], help="extra option for conformance run")
    parser.add_argument("--peer", action="store_true", help="each clean sandbox: the suite vs plain schemathesis")
    parser.add_argument(
        "--together", action="store_true", help="the default runs in one `conformance run API API…` command"
    )
    parser.add_argument("--tree", help="run the code of this directory (a checkout of an older commit)")
    parser.add_argument("--compare", nargs=2, metavar=("BEFORE", "AFTER"), help="compare two saved results")
    args = parser.parse_args()
    global TREE
    TREE = args.tree
    if args.compare:
        before, after = (json.loads(Path(p).read_text(encoding="utf-8")) for p in args.compare)
        print(compare(before, after))
        return 0
    together_wall = None
    apis = args.api or list(SANDBOXES)
    if args.together:
        together_wall, runs = together_run(apis, args.extra)
    elif args.peer:
        runs = peer_runs(apis)
    elif args.rate_limited:
        runs = [rate_limited_run(args.extra)]
    elif args.external:
        runs = [external_run(api, None, args.extra) for api in apis]
    else:
        runs = default_runs(apis, args.extra)
    record: dict[str, Any] = {
        "label": args.label,
        "when": f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load {os.getloadavg()[0]:.1f}",
        "runs": runs,
    }
    if together_wall is not None:
        record["together_wall_s"] = together_wall
    RESULTS.mkdir(parents=True, exist_ok=True)
    kinds = {
        "_rate_limited": args.rate_limited,
        "_external": args.external,
        "_peer": args.peer,
        "_together": args.together,
    }
    kind = next((name for name, chosen in kinds.items() if chosen), "")
    name = f"requests_{args.label}{kind}.json"
    (RESULTS / name).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    print(compare(record, record).split("\n\n", 1)[1])
    print(f"wrote bench/results/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
