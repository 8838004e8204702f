"""The suite against plain Schemathesis on the same faulty sandboxes: who catches which fault, at what cost (issue 6).

Why: the suite builds on Schemathesis; this shows what the profiles and rule checks add. Per API and sandbox fault,
one `conformance sandbox API --fault F` process serves both tools in turn:

(a) `conformance run API --base-url URL` (default settings, `--seed`, `--max-examples`, `--pace` = the sandbox's
    limit); detected when the fault's rule id is among the findings;
(b) `schemathesis run specs/<api>.yaml --url URL --checks all` (same seed and examples, default phases incl.
    stateful, the key in the profile's first header location); detected only when it reports a failure
    (check × operation) that it does not report on the clean sandbox of the same API: any failure alone would be
    no detection, since it fails on some clean sandboxes too.

Rate-limit faults get the self-test's small sandbox limit (and `--probe-rate-limit` for the suite); all other cases
`--rate-limit 1000/1`, so that neither tool waits on a limiter. Both tools pace to the sandbox's limit.

    .venv/bin/python bench/peer.py [--api goat ...] [--fault RULE ...] [--jobs 2] [--fresh]

Appends one JSON line per case to bench/results/peer.jsonl (cases already there are skipped unless --fresh),
then prints the table and writes it to bench/results/peer.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.readme import write_block  # noqa: E402
from conformance.profile import load_profile  # noqa: E402
from conformance.sandbox import SANDBOXES, load_sandbox  # noqa: E402
from conformance.selftest import FAST_RATE_LIMIT, RUN_OPTIONS, SANDBOX_RATE_LIMITS, key_for  # noqa: E402
from conformance.specfiles import spec_path  # noqa: E402

RESULTS = ROOT / "bench" / "results"
JSONL = RESULTS / "peer.jsonl"
TABLE = RESULTS / "peer.md"
CLEAN = "(clean)"
RUN_TIMEOUT_S = 1800
PACING_MARGIN = 0.8  # as the suite's own Schemathesis engine: a little under the limit
_write_lock = threading.Lock()


def tool(name: str) -> str:
    """The venv's console script `name` (next to this interpreter)."""
    return str(Path(sys.executable).parent / name)


def sandbox_rate(fault: str | None) -> str:
    return SANDBOX_RATE_LIMITS.get(fault or "", FAST_RATE_LIMIT)


def cases_for(api: str, faults: list[str] | None) -> list[dict[str, Any]]:
    """The clean baseline(s) of `api` first, then one case per fault."""
    rules = sorted(load_sandbox(api).FAULTS)
    if faults:
        rules = [rule for rule in rules if rule in faults]
    rates = dict.fromkeys([FAST_RATE_LIMIT, *(sandbox_rate(rule) for rule in rules)])
    cases = [{"api": api, "fault": None, "rate": rate} for rate in rates]
    return cases + [{"api": api, "fault": rule, "rate": sandbox_rate(rule)} for rule in rules]


def case_key(case: dict[str, Any]) -> str:
    return f"{case['api']}:{case['fault'] or CLEAN}@{case['rate']}"


class Sandbox:
    """`conformance sandbox API --port 0` as a subprocess; knows its base URL once it answers."""

    def __init__(self, api: str, fault: str | None, rate: str) -> None:
        argv = [tool("conformance"), "sandbox", api, "--port", "0", "--rate-limit", rate]
        if fault:
            argv += ["--fault", fault]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline()
        match = re.search(r" at (http://\S+)", first)
        if not match:
            self.close()
            raise RuntimeError(f"sandbox {api} did not start: {first.strip()}")
        self.base_url = match.group(1)
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()  # drain, never block the server
        deadline = time.monotonic() + 30
        while True:  # it prints its URL before uvicorn listens: wait for any HTTP answer
            try:
                httpx.get(self.base_url + "/", timeout=2)
                return
            except httpx.TransportError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.close()
                    raise RuntimeError(f"sandbox {api} at {self.base_url} never answered") from None
                time.sleep(0.1)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def run_options(case: dict[str, Any]) -> list[str]:
    """The self-test's extra options of the fault; a clean baseline at a fault's limit gets that fault's options."""
    if case["fault"]:
        return RUN_OPTIONS.get(case["fault"], [])
    same_rate = [fault for fault, rate in SANDBOX_RATE_LIMITS.items() if rate == case["rate"]]
    return list(dict.fromkeys(option for fault in same_rate for option in RUN_OPTIONS.get(fault, [])))


def run_conformance(case: dict[str, Any], url: str, key: str, seed: int, examples: int) -> dict[str, Any]:
    """(a): the suite with default settings against the sandbox; detected when the fault's rule is found."""
    with tempfile.TemporaryDirectory(prefix="bench-peer-conformance-") as tmp:
        argv = [
            tool("conformance"),
            "run",
            case["api"],
            "--base-url",
            url,
            "--report-dir",
            tmp,
            "-q",
            "--seed",
            str(seed),
            "--max-examples",
            str(examples),
            "--pace",
            case["rate"],
            *run_options(case),
        ]
        env = os.environ | {"CONFORMANCE_API_KEY": key}  # the key by environment, as the CLI recommends
        env.pop("CONFORMANCE_SANDBOX_RATE_LIMIT", None)
        started = time.perf_counter()
        proc = subprocess.run(argv, env=env, cwd=tmp, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
        wall = time.perf_counter() - started
        path = Path(tmp) / f"{case['api']}.json"
        result = json.loads(path.read_text(encoding="utf-8")) if path.exists() else None
    if result is None:
        return {
            "error": (proc.stderr.strip().splitlines() or ["no result"])[-1],
            "exit_code": proc.returncode,
            "time_s": wall,
            "requests": 0,
            "rules": [],
            "detected": False,
        }
    rules = sorted({f["rule"] for f in result["findings"]})
    return {
        "exit_code": proc.returncode,
        "time_s": wall,
        "requests": result["requests_sent"],
        "rules": rules,
        "findings": len(result["findings"]),
        "detected": bool(case["fault"]) and case["fault"] in rules,
    }


def schemathesis_rate(rate: str) -> str:
    """Schemathesis' `--rate-limit` for a sandbox limit N/SECONDS (per second, with the suite's margin)."""
    count, _, seconds = rate.partition("/")
    return f"{max(int(int(count) * PACING_MARGIN / float(seconds)), 1)}/s"


def auth_header(api: str, key: str) -> str:
    """`Name: value` of the first header location in the profile (every API has one)."""
    locations = load_profile(api).data["auth"]["locations"]
    location = next(loc for loc in locations if loc["in"] == "header")
    return f"{location['name']}: {location.get('prefix', '')}{key}"


def run_schemathesis(case: dict[str, Any], url: str, key: str, seed: int, examples: int) -> dict[str, Any]:
    """(b): plain Schemathesis, all checks, default phases; returns its failures (check × operation) and calls."""
    with tempfile.TemporaryDirectory(prefix="bench-peer-schemathesis-") as tmp:
        events = Path(tmp) / "events.ndjson"
        argv = [
            tool("schemathesis"),
            "run",
            str(spec_path(case["api"])),
            "--url",
            url,
            "--header",
            auth_header(case["api"], key),
            "--checks",
            "all",
            "--max-examples",
            str(examples),
            "--seed",
            str(seed),
            "--rate-limit",
            schemathesis_rate(case["rate"]),
            "--generation-database",
            "none",
            "--report",
            "ndjson",
            "--report-ndjson-path",
            str(events),
            "--no-color",
        ]
        started = time.perf_counter()
        proc = subprocess.run(argv, cwd=tmp, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
        wall = time.perf_counter() - started
        failures: set[tuple[str, str]] = set()
        requests = errors = 0
        for line in events.read_text(encoding="utf-8").splitlines() if events.exists() else []:
            event = json.loads(line)
            if "NonFatalError" in event or "FatalError" in event:
                errors += 1
            finished = event.get("ScenarioFinished")
            if not finished:
                continue
            recorder = finished["recorder"]
            requests += len(recorder.get("interactions", {}))
            for nodes in recorder.get("checks", {}).values():
                for node in nodes:
                    if node["status"] == "failure":
                        failure = (node.get("failure_info") or {}).get("failure") or {}
                        failures.add((node["name"], failure.get("operation") or recorder["label"]))
    return {
        "exit_code": proc.returncode,
        "time_s": wall,
        "requests": requests,
        "errors": errors,
        "failures": sorted(failures),
        "tail": proc.stdout.strip().splitlines()[-1:],
    }


def run_case(case: dict[str, Any], seed: int, examples: int) -> dict[str, Any]:
    """Starts the case's sandbox and runs both tools against it, the suite first."""
    key = key_for(case["api"], case["fault"] or "") or load_sandbox(case["api"]).KEYS["full"]
    sandbox = Sandbox(case["api"], case["fault"], case["rate"])
    try:
        conformance = run_conformance(case, sandbox.base_url, key, seed, examples)
        count, _, seconds = case["rate"].partition("/")
        time.sleep(2 * float(seconds) + 0.5)  # let a burst's window (and a fault's extra window) pass
        schemathesis = run_schemathesis(case, sandbox.base_url, key, seed, examples)
    finally:
        sandbox.close()
    return case | {
        "key": case_key(case),
        "seed": seed,
        "max_examples": examples,
        "conformance": conformance,
        "schemathesis": schemathesis,
    }


def load_records() -> dict[str, dict[str, Any]]:
    if not JSONL.exists():
        return {}
    records = {}
    for line in JSONL.read_text(encoding="utf-8").splitlines():
        if line.strip():
            record = json.loads(line)
            records[record["key"]] = record
    return records


def append_record(record: dict[str, Any]) -> None:
    with _write_lock, JSONL.open("a", encoding="utf-8") as out:
        out.write(json.dumps(record, ensure_ascii=False) + "\n")


def schemathesis_verdict(record: dict[str, Any], records: dict[str, dict[str, Any]]) -> tuple[bool | None, str]:
    """(detected, note): new failures compared with the clean sandbox at the same limit; None without a baseline."""
    clean = records.get(f"{record['api']}:{CLEAN}@{record['rate']}")
    failures = {tuple(f) for f in record["schemathesis"]["failures"]}
    if clean is None:
        return None, "no clean baseline"
    new = failures - {tuple(f) for f in clean["schemathesis"]["failures"]}
    if new:
        shown = [f"{check} {op}" for check, op in sorted(new)]
        return True, ", ".join(shown[:2]) + (f" +{len(shown) - 2} more" if len(shown) > 2 else "")
    return False, "as on clean" if failures else ""


def render(records: dict[str, dict[str, Any]], apis: list[str]) -> str:
    """The table (clean baselines and faults per API) and the totals line."""
    lines = [
        "| API | fault | conformance | time | requests | schemathesis | time | requests |",
        "|---|---|---|---:|---:|---|---:|---:|",
    ]
    n = detected_a = detected_b = 0
    time_a = time_b = 0.0
    requests_a = requests_b = 0
    for record in sorted(
        records.values(),
        key=lambda r: (
            apis.index(r["api"]) if r["api"] in apis else 99,
            r["fault"] is not None,
            r["fault"] or "",
            r["rate"],
        ),
    ):
        if record["api"] not in apis:
            continue
        a, b = record["conformance"], record["schemathesis"]
        if record["fault"] is None:
            label = f"{CLEAN} {record['rate']}"
            mark_a = f"{a.get('findings', '?')} finding(s)" + (f": {', '.join(a['rules'])}" if a["rules"] else "")
            mark_b = f"{len(b['failures'])} failure(s)"
        else:
            n += 1
            label = f"`{record['fault']}`"
            mark_a = "✓" if a["detected"] else f"✗ ({', '.join(a['rules']) or 'nothing'})"
            verdict, note = schemathesis_verdict(record, records)
            mark_b = {True: "✓", False: "✗", None: "?"}[verdict] + (f" ({note})" if note else "")
            detected_a += a["detected"]
            detected_b += bool(verdict)
            time_a, time_b = time_a + a["time_s"], time_b + b["time_s"]
            requests_a, requests_b = requests_a + a["requests"], requests_b + b["requests"]
        if a.get("error"):
            mark_a += f" error: {a['error']}"
        lines.append(
            f"| {record['api']} | {label} | {mark_a} | {a['time_s']:.1f} s | {a['requests']} | "
            f"{mark_b.replace('|', '/')} | {b['time_s']:.1f} s | {b['requests']} |"
        )
    lines += [
        "",
        f"detected {detected_a}/{n} faults in {time_a:.0f} s with {requests_a} requests; "
        f"schemathesis alone: {detected_b}/{n} in {time_b:.0f} s with {requests_b} requests",
    ]
    clean = [r for r in records.values() if r["fault"] is None and r["api"] in apis and r["schemathesis"]["failures"]]
    if clean:
        lines += ["", "Schemathesis failures on the clean sandboxes (check × operation):", ""]
        for record in clean:
            failures = "; ".join(f"{check} {op}" for check, op in record["schemathesis"]["failures"])
            lines.append(f"- {record['api']} at {record['rate']}: {failures}")
    return "\n".join(lines) + "\n"


def summary(records: dict[str, dict[str, Any]], apis: list[str]) -> str:
    """Per API: faults, and how many each tool detected at what cost (the README's short table)."""
    lines = [
        "| API | faults | conformance detected | time | requests | schemathesis detected | time | requests |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for api in apis:
        faulty = [r for r in records.values() if r["api"] == api and r["fault"] is not None]
        if not faulty:
            continue
        a = [r["conformance"] for r in faulty]
        b = [r["schemathesis"] for r in faulty]
        caught_b = sum(bool(schemathesis_verdict(r, records)[0]) for r in faulty)
        lines.append(
            f"| {api} | {len(faulty)} | {sum(x['detected'] for x in a)} | {sum(x['time_s'] for x in a):.0f} s | "
            f"{sum(x['requests'] for x in a)} | {caught_b} | {sum(x['time_s'] for x in b):.0f} s | "
            f"{sum(x['requests'] for x in b)} |"
        )
    return "\n".join(lines) + "\n"


def readme_block(records: dict[str, dict[str, Any]], apis: list[str], table: str) -> str:
    """The README's peer section: the command, the per-API summary, the totals, the full table folded."""
    totals = next(line for line in table.splitlines() if line.startswith("detected "))
    return (
        "`.venv/bin/python bench/peer.py --jobs 2` (resumable; `--fresh` reruns every case). Both tools get "
        "the same seed, example budget and faulty sandbox; a Schemathesis failure counts only when it is not "
        "also reported on the clean sandbox of the same API. That makes Schemathesis' count generous: a failure "
        "unrelated to the fault counts as a detection when the clean run happened not to show it (gaming-goods: "
        "`positive_data_acceptance GET /products` in most fault runs).\n\n"
        f"{summary(records, apis)}\n**{totals}**\n\n"
        "<details><summary>Every case</summary>\n\n"
        f"{table}\n</details>\n"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api", action="append", choices=list(SANDBOXES), help="only these APIs (repeatable)")
    parser.add_argument("--fault", action="append", help="only these faults (repeatable; clean baselines still run)")
    parser.add_argument("--jobs", type=int, default=1, help="cases in parallel, each with its own sandbox (default 1)")
    parser.add_argument("--seed", type=int, default=1, help="seed of both tools (default 1)")
    parser.add_argument(
        "--max-examples",
        type=int,
        default=8,
        help="examples per operation for both tools (default 8, the suite's default)",
    )
    parser.add_argument("--fresh", action="store_true", help="drop bench/results/peer.jsonl and run every case")
    parser.add_argument("--table-only", action="store_true", help="run nothing; render what peer.jsonl holds")
    args = parser.parse_args()
    apis = args.api or list(SANDBOXES)
    RESULTS.mkdir(parents=True, exist_ok=True)
    if args.fresh and JSONL.exists():
        JSONL.unlink()
    done = load_records()
    todo = [case for api in apis for case in cases_for(api, args.fault) if case_key(case) not in done]
    if args.table_only:
        todo = []
        apis = [api for api in apis if any(record["api"] == api for record in done.values())]
    print(f"{len(todo)} case(s) to run, {len(done)} already in {JSONL.relative_to(ROOT)}", file=sys.stderr)

    def one(case: dict[str, Any]) -> None:
        try:
            record = run_case(case, args.seed, args.max_examples)
        except Exception as exc:  # one broken case must not stop the others
            print(f"{case_key(case)}: failed to run: {exc}", file=sys.stderr, flush=True)
            return
        append_record(record)
        a, b = record["conformance"], record["schemathesis"]
        print(
            f"{record['key']}: conformance {'detected' if a['detected'] else a['rules']} in {a['time_s']:.0f} s; "
            f"schemathesis {len(b['failures'])} failure(s) in {b['time_s']:.0f} s",
            file=sys.stderr,
            flush=True,
        )

    with ThreadPoolExecutor(max_workers=max(args.jobs, 1)) as pool:
        list(pool.map(one, todo))
    records = load_records()
    table = render(records, apis)
    print(table)
    TABLE.write_text(table, encoding="utf-8")
    if set(apis) == set(SANDBOXES) and not args.fault:
        write_block("peer-table", readme_block(records, apis, table))
    else:
        print("--api/--fault: README.md left alone", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
