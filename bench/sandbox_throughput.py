"""Requests per second of ONE sandbox worker, and its memory with 100,000 orders (issue 3).

Each measurement starts a fresh sandbox as its own process, exactly as a user does
(`conformance sandbox API --port 0 --rate-limit 1000000000/1`: one uvicorn process, one event loop,
state in memory, the rate limit raised so far that it never throttles while its middleware still
runs), and loads it from another process: `wrk` when it is installed (Debian package `wrk`; a Lua
script for POST /orders, one fresh Idempotency-Key per request), else a Python asyncio load
generator with the same number of keep-alive connections.

Scenarios: a simple authenticated GET of one product (all six APIs; see API_CASES for the
request each one uses), and for goat also a list page at the maximum page size (100) and an order
create. Each is run RUNS times for DURATION seconds after a one-second warm-up; the table holds
medians. Besides requests/s it shows the sandbox's own CPU use during the runs (from /proc) and
requests per CPU-second of the sandbox: on a shared, noisy machine that ratio moves less than
requests/s.

Memory: a fresh goat sandbox (in-memory state) gets ORDERS orders through its API (POST /orders,
each with its own Idempotency-Key, so each also leaves an idempotency record), then its resident
set size (VmRSS, and the peak VmHWM) is read from /proc.

Usage (from the repository root):

    .venv/bin/python bench/sandbox_throughput.py                 # everything, ~5 minutes
    .venv/bin/python bench/sandbox_throughput.py --runs 3 --duration 3 --apis goat --orders 20000

The markdown table is printed and written to bench/results/sandbox_throughput.md (--output).
Traffic goes to 127.0.0.1 only; every run is bounded in time and the sandboxes are stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = ROOT / "bench" / "results" / "sandbox_throughput.md"
NO_LIMIT = "1000000000/1"  # requests per window: never reached, so the sandbox never throttles
TARGET_GET_PER_S = 1500


@dataclass(frozen=True)
class Case:
    """One request to load a sandbox with."""

    label: str
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None
    idempotency: bool = False  # each request gets its own Idempotency-Key
    expect: int = 200


GOAT_KEY = {"Authorization": "Bearer goat_sk_test_full_4F9C2A7D"}
GOAT_ORDER = {
    "product_id": "prod_01HX9R2Q2C",
    "quantity": 1,
    "customer": {"external_id": "bench_user", "contact": "bench@example.com"},
}

# Per API: scenario -> request. Ids and keys are the sandboxes' seeded demo data.
API_CASES: dict[str, dict[str, Case]] = {
    "goat": {
        "get": Case("GET /v1/products/{id}", "GET", "/v1/products/prod_01HX9R2Q2C", GOAT_KEY),
        "list": Case("GET /v1/products?limit=100", "GET", "/v1/products?limit=100", GOAT_KEY),
        "create": Case(
            "POST /v1/orders + Idempotency-Key",
            "POST",
            "/v1/orders",
            {**GOAT_KEY, "Content-Type": "application/json"},
            json.dumps(GOAT_ORDER),
            idempotency=True,
            expect=201,
        ),
    },
    "gaming-goods": {
        "get": Case("GET /api/v1/products/{slug} (public)", "GET", "/api/v1/products/age-of-empires-iv-steam-key"),
    },
    "gaming-goods-partner": {
        "get": Case(
            "GET /api/partner/v1/products/{id}",
            "GET",
            "/api/partner/v1/products/a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d",
            {"X-API-Key": "ggp_sandbox_7c1e4b9a2f6d4e0b"},
        ),
    },
    "storefront": {
        "get": Case(
            "GET /products/{productId}",
            "GET",
            "/products/prod_xyz789",
            {"Authorization": "Bearer sf_test_5e0c1d7a9b34"},
        ),
    },
    "tribute-shop": {  # the API has no products: the nearest one-resource read is an order's status
        "get": Case(
            "GET /api/v1/shop/orders/{uuid}/status",
            "GET",
            "/api/v1/shop/orders/f301f806-3acb-492a-b863-0c0ffc027025/status",
            {"Api-Key": "tribute-demo-recurrent-7f3a"},
        ),
    },
    "retailcrm": {  # no one-product route: the product list filtered to one id
        "get": Case(
            "GET /api/v5/store/products?filter[ids][]=1",
            "GET",
            "/api/v5/store/products?filter%5Bids%5D%5B%5D=1",
            {"X-API-KEY": "X2EDxEta9U3lcsSV0dwdF38UvtSCxIuGh"},
        ),
    },
}
SCENARIO_NAMES = {"get": "simple GET", "list": "list, max page", "create": "order create"}


# --- the sandbox process -------------------------------------------------------------------


def conformance_command() -> list[str]:
    script = Path(sys.executable).with_name("conformance")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from conformance.cli import main; sys.exit(main())"]


class Sandbox:
    """`conformance sandbox API` in its own process on a free loopback port."""

    def __init__(self, api: str) -> None:
        self.api = api
        self.log = tempfile.TemporaryFile(mode="w+")
        command = [*conformance_command(), "sandbox", api, "--port", "0", "--rate-limit", NO_LIMIT]
        self.process = subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.PIPE, stderr=self.log, text=True, start_new_session=True
        )
        self.origin = self._wait_started(command)

    def _wait_started(self, command: list[str]) -> str:
        """Reads the start banner up to "Ctrl-C to stop."; returns the origin it names."""
        assert self.process.stdout is not None
        watchdog = threading.Timer(30, self.process.kill)  # a sandbox that hangs before its banner
        watchdog.start()
        origin, seen = None, []
        try:
            for line in self.process.stdout:
                seen.append(line.rstrip())
                match = re.search(r" sandbox at (http://[^/\s]+)", line)
                if match:
                    origin = match.group(1)
                if line.startswith("Ctrl-C to stop") and origin:
                    self._wait_listening(origin)  # the banner comes before uvicorn listens
                    return origin
        finally:
            watchdog.cancel()
        self.log.seek(0)
        errors = self.log.read()[-2000:]
        self.stop()
        raise RuntimeError(f"{' '.join(command)} did not start:\n" + "\n".join(seen) + "\n" + errors)

    def _wait_listening(self, origin: str) -> None:
        host, _, port = origin.removeprefix("http://").rpartition(":")
        deadline = time.monotonic() + 30
        while self.process.poll() is None and time.monotonic() < deadline:
            try:
                socket.create_connection((host, int(port)), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)

    def cpu_seconds(self) -> float:
        """User + system CPU time the sandbox process has used so far."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def memory_kib(self) -> dict[str, int]:
        """VmRSS (resident now) and VmHWM (peak resident) in KiB."""
        values = {}
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                values[name] = int(rest.split()[0])
        return values

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # Ctrl-C: uvicorn shuts down cleanly
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        self.log.close()


@contextmanager
def sandbox(api: str) -> Iterator[Sandbox]:
    running = Sandbox(api)
    try:
        yield running
    finally:
        running.stop()


# --- load generators -----------------------------------------------------------------------


@dataclass
class Load:
    """What one load run did."""

    requests: int
    seconds: float
    unexpected: int  # answers with another status than the case expects, plus socket errors
    latency_p50_ms: float | None = None
    created: int | None = None  # count-limited runs: answers with the expected status

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def lua_string(value: str) -> str:
    level = "=" * 3
    while f"]{level}]" in value:
        level += "="
    return f"[{level}[{value}]{level}]"


def wrk_script(case: Case) -> str:
    """A wrk Lua script sending `case` (a fresh Idempotency-Key per request where it needs one).

    It counts the answers with the expected status: done() prints `BENCH expected=N`.
    """
    headers = ", ".join(f"[ {lua_string(k)} ] = {lua_string(v)}" for k, v in case.headers.items())
    body = "nil" if case.body is None else lua_string(case.body)
    return f"""
-- globals, not locals: setup() sets thread_id and done() reads expected through thread:set/get
counter, expected, tag, thread_id = 0, 0, "run", 0
local threads = {{}}
function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_id", #threads)
end
function init(args)
  tag = (args[1] or "run") .. "-" .. thread_id
end
request = function()
  counter = counter + 1
  local headers = {{ {headers} }}
  if {str(case.idempotency).lower()} then headers["Idempotency-Key"] = "bench-" .. tag .. "-" .. counter end
  return wrk.format({lua_string(case.method)}, {lua_string(case.path)}, headers, {body})
end
response = function(status, headers, body)
  if status == {case.expect} then expected = expected + 1 end
end
done = function(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do total = total + thread:get("expected") end
  io.write(string.format("BENCH expected=%d\\n", total))
end
"""


def run_wrk(origin: str, case: Case, *, connections: int, seconds: float, tag: str) -> Load:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(wrk_script(case))
    try:
        command = [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{max(int(round(seconds)), 1)}s",
            "--timeout",
            "10s",
            "--latency",
            "-s",
            script.name,
            origin + case.path,
            "--",
            tag,
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
        out = done.stdout
    finally:
        os.unlink(script.name)
    requests_line = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", out)
    if requests_line is None:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    unit = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[requests_line.group(3)]
    requests, duration = int(requests_line.group(1)), float(requests_line.group(2)) * unit
    expected = int(re.search(r"BENCH expected=(\d+)", out).group(1))  # type: ignore[union-attr]
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = sum(int(n) for n in socket_errors.groups()) if socket_errors else 0
    p50 = re.search(r"^\s+50%\s+([\d.]+)(us|ms|s)", out, re.M)
    p50_ms = float(p50.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[p50.group(2)] if p50 else None
    return Load(requests, duration, requests - expected + errors, p50_ms)


async def _python_load(
    origin: str, case: Case, connections: int, seconds: float, tag: str, target: int | None
) -> tuple[int, int, int, list[float]]:
    host, _, port = origin.removeprefix("http://").partition(":")
    deadline = time.monotonic() + seconds
    state = {"sent": 0, "done": 0, "expected": 0, "unexpected": 0}
    latencies: list[float] = []

    def next_request() -> bytes | None:
        if time.monotonic() >= deadline or (target is not None and state["sent"] >= target):
            return None
        state["sent"] += 1
        headers = {"Host": f"{host}:{port}", **case.headers}
        if case.idempotency:
            headers["Idempotency-Key"] = f"bench-{tag}-{state['sent']}"
        body = (case.body or "").encode()
        if case.body is not None:
            headers["Content-Length"] = str(len(body))
        head = f"{case.method} {case.path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        return head.encode() + b"\r\n" + body

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while (request := next_request()) is not None:
                started = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head.split(b" ", 2)[1])
                length = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
                if length is None:
                    raise RuntimeError("a response without Content-Length")
                await reader.readexactly(int(length.group(1)))
                latencies.append(time.perf_counter() - started)
                state["done"] += 1
                state["expected" if status == case.expect else "unexpected"] += 1
        finally:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(connections)))
    return state["done"], state["expected"], state["unexpected"], latencies


def run_python(
    origin: str, case: Case, *, connections: int, seconds: float, tag: str, target: int | None = None
) -> Load:
    started = time.monotonic()
    done, expected, unexpected, latencies = asyncio.run(_python_load(origin, case, connections, seconds, tag, target))
    elapsed = time.monotonic() - started
    p50 = statistics.median(latencies) * 1e3 if latencies else None
    return Load(done, elapsed, unexpected, p50, created=expected if target is not None else None)


# --- measurements --------------------------------------------------------------------------


@dataclass
class Result:
    api: str
    scenario: str
    case: Case
    loads: list[Load]
    cpu: list[tuple[float, float]]  # per run: (sandbox CPU seconds, wall-clock seconds) during the run
    rss_kib: int

    @property
    def rates(self) -> list[float]:
        return [load.rate for load in self.loads]

    @property
    def per_cpu_second(self) -> list[float]:
        return [load.requests / cpu for load, (cpu, _) in zip(self.loads, self.cpu, strict=True) if cpu > 0]

    @property
    def cpu_shares(self) -> list[float]:
        return [cpu / wall for cpu, wall in self.cpu]


def measure(api: str, scenario: str, args: argparse.Namespace, load: Callable[..., Load]) -> Result:
    case = API_CASES[api][scenario]
    loads: list[Load] = []
    cpu: list[tuple[float, float]] = []
    with sandbox(api) as running:
        warm = load(running.origin, case, connections=args.connections, seconds=1, tag=f"warm{time.time_ns()}")
        if warm.unexpected:
            raise RuntimeError(f"{api} {case.label}: {warm.unexpected} unexpected answers during the warm-up")
        for run in range(args.runs):
            cpu_before, wall_before = running.cpu_seconds(), time.monotonic()
            result = load(
                running.origin, case, connections=args.connections, seconds=args.duration, tag=f"r{run}{time.time_ns()}"
            )
            cpu.append((running.cpu_seconds() - cpu_before, time.monotonic() - wall_before))
            loads.append(result)
            note = f"  {result.unexpected} UNEXPECTED" if result.unexpected else ""
            print(f"  {api:22} {scenario:7} run {run + 1}/{args.runs}: {result.rate:8.0f} req/s{note}", flush=True)
        rss = running.memory_kib()["VmRSS"]
    return Result(api, scenario, case, loads, cpu, rss)


@dataclass
class Memory:
    api: str
    orders: int
    seeded: int
    idle: dict[str, int]
    full: dict[str, int]
    seconds: float


def measure_memory(args: argparse.Namespace, load: Callable[..., Load]) -> Memory:
    case = API_CASES["goat"]["create"]
    with sandbox("goat") as running:
        load(running.origin, API_CASES["goat"]["get"], connections=args.connections, seconds=1, tag="warm")
        idle = running.memory_kib()
        started = time.monotonic()
        filled = run_python(  # exact counts: wrk runs for a time, not for a number of requests
            running.origin,
            case,
            connections=args.connections,
            seconds=args.fill_timeout,
            tag="fill",
            target=args.orders,
        )
        seconds = time.monotonic() - started
        if filled.created != args.orders:
            raise RuntimeError(f"goat: {filled.created} of {args.orders} orders created in {seconds:.0f} s")
        load(running.origin, API_CASES["goat"]["get"], connections=args.connections, seconds=1, tag="after")
        full = running.memory_kib()
    return Memory("goat", args.orders, 80, idle, full, seconds)


# --- report --------------------------------------------------------------------------------


def mib(kib: int) -> str:
    return f"{kib / 1024:.1f} MiB"


def environment(loadgen: str, connections: int) -> list[str]:
    def installed(name: str) -> bool:
        return importlib.util.find_spec(name) is not None

    loop = "uvloop" if installed("uvloop") else "asyncio"
    http = "httptools" if installed("httptools") else "h11"
    versions = [f"{name} {metadata.version(name)}" for name in ("uvicorn", "starlette")]
    git = ["git", "-C", str(ROOT)]
    commit = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    changed = subprocess.run(
        [*git, "status", "--porcelain", "--", "conformance", "pyproject.toml"], capture_output=True, text=True
    ).stdout.strip()
    return [
        f"- when: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, commit {commit or '?'}"
        + (" with uncommitted changes to conformance/" if changed else ""),
        f"- machine: {os.cpu_count()} cores ({platform.machine()}), shared with other work; load average at start "
        f"{os.getloadavg()[0]:.2f}",
        f"- sandbox: one process, `conformance sandbox API --port 0 --rate-limit {NO_LIMIT}` (state in memory); "
        f"Python {platform.python_version()}, {', '.join(versions)}, event loop {loop}, HTTP parser {http}",
        f"- load: {loadgen}, {connections} keep-alive connections, from a separate process",
    ]


def render(results: list[Result], memory: Memory | None, args: argparse.Namespace, header: list[str]) -> str:
    lines = ["# Sandbox throughput: one worker", "", *header]
    lines.append(
        f"- {args.runs} runs × {args.duration:g} s per row after a 1 s warm-up; figures are medians "
        "(min–max in brackets)"
    )
    lines += [
        "",
        "| API | scenario | request | req/s median (min–max) | p50 latency | sandbox CPU | req per CPU-second | "
        "RSS after |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        rates = r.rates
        p50s = [load.latency_p50_ms for load in r.loads if load.latency_p50_ms is not None]
        per_cpu = r.per_cpu_second
        bad = sum(load.unexpected for load in r.loads)
        flag = f" ⚠ {bad} unexpected answers" if bad else ""
        p50 = f"{statistics.median(p50s):.1f} ms" if p50s else "?"
        cpu_rate = f"{statistics.median(per_cpu):,.0f}" if per_cpu else "?"
        lines.append(
            f"| {r.api} | {SCENARIO_NAMES[r.scenario]} | `{r.case.label}` | "
            f"**{statistics.median(rates):,.0f}** ({min(rates):,.0f}–{max(rates):,.0f}){flag} | {p50} | "
            f"{100 * statistics.median(r.cpu_shares):.0f}% | {cpu_rate} | {mib(r.rss_kib)} |"
        )
    goat_get = next((r for r in results if r.api == "goat" and r.scenario == "get"), None)
    lines.append("")
    lines.append(
        "`sandbox CPU`: the sandbox process's CPU time per wall-clock second during the runs (100% = one core "
        "busy); `req per CPU-second`: requests served per second of the sandbox's own CPU time, which the "
        "other work on the machine disturbs less than req/s."
    )
    if goat_get is not None:
        median = statistics.median(goat_get.rates)
        verdict = "met" if median >= TARGET_GET_PER_S else "NOT met"
        lines += [
            "",
            f"Target ≥ {TARGET_GET_PER_S:,} simple GETs/s on one core: goat median {median:,.0f}/s, {verdict}.",
        ]
    if memory is not None:
        lines += [
            "",
            "## Memory with 100,000 orders" if memory.orders == 100_000 else f"## Memory with {memory.orders:,} orders",
            "",
            f"A fresh {memory.api} sandbox (state in memory) got {memory.orders:,} orders through its API "
            f"(POST /v1/orders from the Python load generator, each with its own Idempotency-Key, so each also "
            f"stores an idempotency record) "
            f"in {memory.seconds:.0f} s ({memory.orders / memory.seconds:,.0f} orders/s), on top of its "
            f"{memory.seeded} seeded orders. Resident set size of the sandbox process, from /proc:",
            "",
            "| API | orders | RSS before | RSS after | RSS peak | growth per order |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
            f"| {memory.api} | {memory.orders + memory.seeded:,} | {mib(memory.idle['VmRSS'])} | "
            f"**{mib(memory.full['VmRSS'])}** | {mib(memory.full['VmHWM'])} | "
            f"{(memory.full['VmRSS'] - memory.idle['VmRSS']) * 1024 / memory.orders:,.0f} B |",
        ]
    lines += ["", "Reproduce: `.venv/bin/python bench/sandbox_throughput.py` (see bench/README.md)."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--apis", default="all", help="comma-separated API slugs, or all (default)")
    parser.add_argument("--runs", type=int, default=5, help="runs per scenario; the table shows medians (default 5)")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per run (default 5)")
    parser.add_argument("--connections", type=int, default=8, help="keep-alive connections (default 8)")
    parser.add_argument("--orders", type=int, default=100_000, help="orders for the memory measurement; 0 skips it")
    parser.add_argument("--fill-timeout", type=float, default=600.0, help="seconds allowed to create --orders")
    parser.add_argument(
        "--loadgen",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="load generator: wrk if installed (auto), or the Python asyncio one",
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="markdown file to write the table to")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.duration < 1 or args.connections < 1:
        parser.error("--runs, --duration and --connections must be at least 1")
    apis = list(API_CASES) if args.apis == "all" else [a.strip() for a in args.apis.split(",") if a.strip()]
    unknown = [a for a in apis if a not in API_CASES]
    if unknown:
        parser.error(f"unknown API {unknown[0]!r}; known: {', '.join(API_CASES)}")
    use_wrk = args.loadgen == "wrk" or (args.loadgen == "auto" and shutil.which("wrk"))
    if use_wrk and not shutil.which("wrk"):
        parser.error("--loadgen wrk: wrk is not installed (apt-get install -y wrk)")
    if use_wrk:
        version = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout.split("[")[0].strip()
        loadgen, load = f"{version} (1 thread)", run_wrk
    else:
        loadgen, load = "Python asyncio load generator (bench/sandbox_throughput.py)", run_python
    header = environment(loadgen, args.connections)
    print("\n".join(header), flush=True)

    results = []
    for api in apis:
        for scenario in API_CASES[api]:
            results.append(measure(api, scenario, args, load))
    memory = None
    if args.orders > 0 and "goat" in apis:
        print(f"  goat: creating {args.orders:,} orders for the memory measurement ...", flush=True)
        memory = measure_memory(args, load)
    header[1] += f", at the end {os.getloadavg()[0]:.2f}"
    table = render(results, memory, args, header)
    print()
    print(table, end="")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(table)
    print(f"\nwritten to {args.output.relative_to(ROOT) if args.output.is_relative_to(ROOT) else args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
