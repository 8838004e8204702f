"""Benchmark of `conformance drift`: exchanges judged per second, and peak memory against traffic size.

Records client sessions of the goat sandbox (in-process, nothing listens), then writes HAR files of
about 100 MB and 1 GB into a temporary folder by repeating those sessions with fresh times, clients and
idempotency keys; judges each file in a fresh process (`conformance drift goat FILE`) several times and
reports the median exchanges/s and peak RSS. The files are deleted afterwards.

A session is what one client of a shop does: its account, a browse of the catalogue (the first pages of
the product list at the default page size, then a walk to the end at the largest), product reads, an order
created with an idempotency key (replayed once in a while), the order and its payment read back, a mistyped
id (404) and a bad parameter (400). Entries average about 4 KB.

    .venv/bin/python bench/drift.py                 # 100 MB and 1 GB, 3 runs each
    .venv/bin/python bench/drift.py --sizes 100 --runs 1
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESET = re.compile(r'("x-ratelimit-reset", "value": ")\d+')
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def sessions() -> list[list[dict[str, Any]]]:
    """Two recorded client sessions of the goat sandbox, as HAR entries."""
    from tests.drift_traffic import Recorder

    recorded = []
    for variant in range(2):
        recorder = Recorder("goat")
        full = {"Authorization": f"Bearer {recorder.keys['full']}"}
        go = recorder.request
        go("GET", "/me", headers=full)
        cursor, products = None, []
        for _ in range(3):  # browse: the first pages at the default size
            page = go("GET", "/products", headers=full, params={"cursor": cursor} if cursor else {})
            products += [item["id"] for item in page.json()["data"]]
            cursor = page.json()["next_cursor"]
        if variant:  # a walk to the end at the largest page size
            cursor = None
            while True:
                page = go(
                    "GET", "/products", headers=full, params={"limit": 100, **({"cursor": cursor} if cursor else {})}
                )
                cursor = page.json()["next_cursor"]
                if not cursor:
                    break
        for product in products[3:9]:
            go("GET", f"/products/{product}", headers=full)
        body = {"product_id": products[0], "quantity": 1, "customer": {"external_id": "u1", "contact": "a@example.com"}}
        order = go("POST", "/orders", headers={**full, "Idempotency-Key": "KEY"}, json=body).json()
        if variant:
            go("POST", "/orders", headers={**full, "Idempotency-Key": "KEY"}, json=body)
        go("GET", f"/orders/{order['id']}", headers=full)
        go("GET", f"/payments/{order['payment_id']}", headers=full)
        go("GET", "/products/prod_NOSUCHTHING", headers=full)
        go("GET", "/products", headers=full, params={"limit": "ten"})
        recorded.append(recorder.entries)
    return recorded


def write_har(path: Path, megabytes: int, templates: list[list[dict[str, Any]]]) -> int:
    """Writes a HAR of about `megabytes` MB by repeating the sessions; returns the number of entries."""
    texts = [[json.dumps(entry) for entry in session] for session in templates]
    target = megabytes * 1_000_000
    start = datetime(2026, 12, 1, tzinfo=UTC).timestamp()
    written = count = cycle = 0
    with path.open("w", encoding="utf-8") as handle:
        handle.write('{"log": {"version": "1.2", "creator": {"name": "bench/drift.py", "version": "1"}, "entries": [\n')
        while written < target:
            session = texts[cycle % len(texts)]
            moment = start + cycle * 0.5
            for number, text in enumerate(session):
                stamp = datetime.fromtimestamp(moment + number * 0.01, UTC).isoformat(timespec="milliseconds")
                text = text.replace('"KEY"', f'"key-{cycle}"').replace(
                    "goat_sk_test_full_4F9C2A7D", f"sk_{cycle % 5000:08d}"
                )
                text = RESET.sub(rf"\g<1>{int(moment) + 60}", text)  # each session in a window of its own
                head = f'{{"startedDateTime": "{stamp.replace("+00:00", "Z")}", ' + text[1:].split(", ", 1)[1]
                chunk = ("" if count == 0 else ",\n") + head
                handle.write(chunk)
                written += len(chunk)
                count += 1
            cycle += 1
        handle.write("\n]}}\n")
    return count


def measure(path: Path) -> dict[str, Any]:
    """Judges the file in this process (called in a fresh one) and returns time, exchanges and peak RSS."""
    from conformance.drift.run import Drift
    from conformance.profile import load_profile

    drift = Drift(load_profile("goat"))
    started, cpu = time.perf_counter(), time.process_time()
    drift.read([path])
    took, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {
        "exchanges": drift.exchanges,
        "judged": drift.matched,
        "findings": len(drift.violations),
        "seconds": took,
        "rate": drift.exchanges / took,
        "cpu_rate": drift.exchanges / cpu,  # per CPU-second: moves less than the wall rate on a shared machine
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000", help="HAR sizes in MB, comma-separated (default 100,1000)")
    parser.add_argument("--runs", type=int, default=3, help="runs per size (median reported)")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure)))
        return 0
    templates = sessions()
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []
    with tempfile.TemporaryDirectory(prefix="drift-bench-", dir="/tmp") as folder:
        for size in sizes:
            path = Path(folder) / f"traffic-{size}MB.har"
            entries = write_har(path, size, templates)
            runs = []
            for _ in range(args.runs):
                out = subprocess.run(
                    [sys.executable, __file__, "--measure", str(path)], capture_output=True, text=True, check=True
                )
                runs.append(json.loads(out.stdout))
            path.unlink()
            row = {
                "size_mb": round(path.stat().st_size / 1e6) if path.exists() else size,
                "entries": entries,
                "bytes_per_entry": size * 1_000_000 // entries,
                "rate": statistics.median(r["rate"] for r in runs),
                "cpu_rate": statistics.median(r["cpu_rate"] for r in runs),
                "seconds": statistics.median(r["seconds"] for r in runs),
                "peak_rss_mib": statistics.median(r["peak_rss_mib"] for r in runs),
                "findings": runs[0]["findings"],
            }
            rows.append(row)
            print(
                f"{size} MB HAR: {entries} exchanges (~{row['bytes_per_entry']} bytes each), median of {args.runs}: "
                f"{row['rate']:,.0f} exchanges/s ({row['seconds']:.1f} s; {row['cpu_rate']:,.0f} per CPU-second), "
                f"peak RSS {row['peak_rss_mib']:.0f} MiB, {row['findings']} unique finding(s); "
                f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
