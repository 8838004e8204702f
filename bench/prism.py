"""The suite against `prism mock` of each of our own specs (issue 10, deliverable 5).

Why: Prism (npm `@stoplight/prism-cli`) serves any OpenAPI document as a mock server that answers every valid
request with a documented example or a schema-valid body. It implements none of what the documents promise beyond
the schemas (key checks, pagination, idempotency, the error envelope on every error, rate limits), so most
findings against it are correct; the ones that are not (the suite blaming a server for something no document
promises) are false alarms a real server would get too. This script runs the suite against Prism for every API
and lists each finding with our verdict: TRUE (Prism really breaks a documented promise) or FALSE (no document
promises it: a false alarm to fix), from the table `VERDICTS` below; a finding no entry covers is UNCLASSIFIED.

    .venv/bin/python bench/prism.py                  # all six APIs; writes bench/results/prism.md
    .venv/bin/python bench/prism.py --api storefront --api retailcrm --no-write

- Installs Prism into bench/.prism/ (`npm install --prefix bench/.prism @stoplight/prism-cli@VERSION`, once;
  needs node and npm, and the npm registry), git-ignored.
- Per API: `prism mock specs/API.yaml` on 127.0.0.1 and a free port, in its own process group (killed on exit,
  Ctrl-C and SIGTERM included), ready when it answers HTTP; then `conformance run API --spec specs/API.yaml
  --base-url http://127.0.0.1:PORT --api-key ... --max-examples N --pace 200/1 --seed S --report-dir DIR`, bounded
  by `--timeout-per-api` seconds.
- Base URL: apis.md says `--base-url` is the documented base URL including its path, and spec paths are relative
  to it. Prism ignores the path of the spec's `servers` entry and serves every spec path at its root
  (`GET /v1/products` of goat answers 404 `NO_PATH_MATCHED_ERROR`, `GET /products` answers 200), so Prism's base
  URL is `http://127.0.0.1:PORT` with no path. The script checks it: a parameterless GET of the spec must not
  answer 404 there.
- Prism accepts any key value (it only checks that the security header or parameter is present), so any key
  works; a long one is used because the suite redacts the key's text from everything it prints.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
PRISM_DIR = ROOT / "bench" / ".prism"
PRISM_PACKAGE = "@stoplight/prism-cli"
PRISM_VERSION = "5.14.2"
RESULTS = ROOT / "bench" / "results" / "prism.md"
APIS = tuple(sorted(path.stem for path in (ROOT / "specs").glob("*.yaml")))  # the bundled specs
API_KEY = "prism-bench-key-5b1d0c7e9a24"  # Prism accepts any value; long so that redaction hides only it


# --- verdicts ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """Our judgement of the findings that match: `rule` (exact), `api`/`operation` (exact or "*"), `message` (a
    regular expression searched in the finding's message) and `request` (one searched in its recorded request).

    Each entry was written after reading the findings it matches (request and response); a finding no entry
    matches is UNCLASSIFIED and makes the script exit 1, so that a new kind of finding gets read, not assumed.
    """

    rule: str
    verdict: str  # TRUE or FALSE
    why: str
    message: str = ""
    api: str = "*"
    operation: str = "*"
    request: str = ""

    def matches(self, api: str, finding: dict[str, Any]) -> bool:
        return (
            self.rule == finding.get("rule")
            and self.api in ("*", api)
            and self.operation in ("*", finding.get("operation"))
            and re.search(self.message, finding.get("message") or "") is not None
            and re.search(self.request, json.dumps(finding.get("request"))) is not None
        )


ACCEPTED = r"answered 2\d\d|was accepted \(2\d\d\)"
VERDICTS: list[Verdict] = [
    # --- false alarms: no document promises what the suite demanded ---------------------------------------------
    Verdict(
        "schema.negative-data",
        "FALSE",
        "the engine sent the JSON body `null` to an operation whose body is optional (`requestBody.required: "
        "false`; apis.md: 'takes an optional JSON object'); reading null as no body breaks no promise (issue 10, "
        "item 1: at most a note). conformance/checks/schema.py judges only null *fields*, not a null body.",
        message="Schema-violating request accepted",
        api="goat",
        operation="testWebhook",
        request=r'"body": "null"',
    ),
    # --- keys: Prism checks that the key is there, never its value ---------------------------------------------
    Verdict(
        "auth.invalid-credentials",
        "TRUE",
        "Prism accepts any key value: a valid request with a wrong key is served (documented: 401).",
        message=ACCEPTED,
    ),
    Verdict(
        "auth.key-locations",
        "TRUE",
        "RetailCRM documents the key as a form field too; OpenAPI cannot express that, so Prism requires the "
        "query or header key and answers 401.",
        message=r"in the form 'apiKey' answered 401",
        api="retailcrm",
    ),
    # --- Prism's own error answers: not the API's envelope, code or headers ------------------------------------
    Verdict(
        "errors.envelope",
        "TRUE",
        'Prism\'s own error bodies: an RFC 7807 problem for 404/405/422, `{"error": {"code": "invalid_json"}}` '
        "for a body that is not JSON; never the API's documented envelope.",
        message=r"answered \d+ with a body that is not the documented error envelope",
    ),
    Verdict(
        "errors.code-convention",
        "TRUE",
        "Prism's own `invalid_json` code for a body that is not JSON; documented: INVALID_PARAMETER, INVALID_REQUEST.",
        message=r"error code 'invalid_json'",
    ),
    Verdict(
        "errors.request-id",
        "TRUE",
        "Prism fills the `X-Request-Id` header from its schema (`string`) and the body from the example: they differ.",
        message=r"header X-Request-Id \('string'\) differs",
    ),
    Verdict(
        "errors.method-not-allowed",
        "TRUE",
        "Prism answers a wrong method 405 without an `Allow` header (RFC 9110; apis.md).",
        message=r"405 without an Allow header",
    ),
    Verdict(
        "schema.response-schema",
        "TRUE",
        "Prism's own `invalid_json` error body (no `request_id`), or a field without an example filled with "
        '`"string"` whatever its documented pattern.',
        message=r'"request_id" is a required property|"string" does not match',
    ),
    # --- a stateless mock: no lookups, no business rules, no idempotency ----------------------------------------
    Verdict(
        "errors.not-found",
        "TRUE",
        "Prism has no state: an unknown id is served the documented example (documented: 404).",
        message=ACCEPTED,
    ),
    Verdict(
        "errors.business-rule",
        "TRUE",
        "a business rule (empty cart, unknown product, declined method, cancelling a one-time order) is not "
        "implemented by a mock: the example is served.",
        message=ACCEPTED,
    ),
    Verdict(
        "errors.bad-parameter",
        "TRUE",
        "a value the documents forbid but the schema does not express (a decimal `limit`, a malformed date, "
        "a non-integer id in `ids[]`) is served by Prism.",
        message=ACCEPTED,
    ),
    Verdict(
        "schema.negative-data",
        "TRUE",
        "a documented refusal the schema cannot express (an unknown id, a title over 100 UTF-16 code units, a "
        "decimal `limit`) is not implemented: Prism serves the request.",
        message=ACCEPTED,
    ),
    Verdict(
        "schema.negative-data",
        "TRUE",
        "txId 18446744073709551616 is above the documented maximum (2^64 - 1); Prism reads numbers as JavaScript "
        "doubles, where both are 2^64, and serves the request.",
        message=r"value greater than maximum",
        api="tribute-shop",
        operation="refundShopOrderTransaction",
    ),
    Verdict(
        "errors.bad-body",
        "TRUE",
        "Prism does not parse the JSON inside a form field: a nested field that is not valid JSON is served "
        "(apis.md: 400).",
        message=ACCEPTED,
    ),
    Verdict(
        "idempotency.conflict",
        "TRUE",
        "Prism has no idempotency: a reused key with another body creates again (documented: 409/422).",
        message=ACCEPTED,
    ),
    # --- pagination: the same example page whatever the parameters ---------------------------------------------
    Verdict(
        "pagination.totals",
        "TRUE",
        "Prism serves the example page: its total and echoed page size ignore the request and what the pages hold.",
        message=r"echoes \w+=\d+ but the request asked|on every page, but a walk",
    ),
    Verdict(
        "pagination.headers",
        "TRUE",
        "the example's `X-Limit` is served whatever `limit` was asked for.",
        message=r"X-Limit is \d+ but the request asked",
    ),
    Verdict(
        "pagination.last-page",
        "TRUE",
        "a page past the end is the example page again, so a walk never ends.",
        message=r"page past the end held|did not end after",
    ),
    Verdict(
        "pagination.default-limit",
        "TRUE",
        "the first page holds the example's items, not the documented default page size.",
        message=r"without a limit the first page held",
    ),
    Verdict(
        "pagination.no-duplicates",
        "TRUE",
        "every page is the example page: its items repeat on the next page.",
        message=r"appeared on page \d+ and again",
    ),
    Verdict(
        "pagination.includes-created",
        "TRUE",
        "Prism keeps no state: the example's total is the same before and after a create.",
        message=r"before \w+ created .* after it; it must count the new item",
    ),
    Verdict(
        "pagination.bad-cursor",
        "TRUE",
        "Prism serves any cursor value (documented: 400).",
        message=ACCEPTED,
    ),
    # --- rate-limit headers: the example's fixed values ---------------------------------------------------------
    Verdict(
        "rate-limit.consistent",
        "TRUE",
        "the rate-limit headers are fixed example or schema values (a Reset in 2024, or 0), not a live window.",
        message=r"in the past|is not a Unix timestamp",
    ),
]


# False alarms seen against Prism before they were fixed (issue 10, item 4), and where each went.
FIXED = [
    (
        "storefront `schema.stateful` (createOrder → PayOrder link answered 400)",
        "the createPayment recipe copied the first product's `price` (no minimum) into `amount` (> 0): a free first "
        "product made the payment invalid. The recipe now leaves `amount` out (the order's total is charged, as "
        "PaymentRequest documents).",
        "specs/storefront.yaml",
    ),
    (
        "`schema.status-code` for 431 (the fuzzer sent a 21 KB URL)",
        "413/414/415/431 answers to the engine are notes (`INFRASTRUCTURE_STATUSES`); confirmed end to end.",
        "conformance/checks/schema.py (the lead)",
    ),
    (
        "goat `schema.negative-data` testWebhook: the JSON body `null` accepted",
        "the body is optional (`requestBody.required: false`): a null body read as no body is a note, like a null "
        "optional field (found by this bench, fixed in commit f11d63a).",
        "conformance/checks/schema.py (the lead)",
    ),
    (
        "`auth.invalid-credentials` judged on a request that was itself invalid",
        "the probe uses the operation's recipe; another refusal than 401/403 is blamed on the key only when the "
        "same request with the valid key succeeds (control), and a placeholder request (no recipe) skips saying so.",
        "conformance/suite/test_auth.py",
    ),
    (
        "`errors.bad-parameter` passed without a control request",
        "a refusal counts only when the recipe without the bad value succeeds; otherwise the check skips saying so "
        "(writes on an existing resource, cancel and refund, are not repeated as a control).",
        "conformance/suite/test_errors.py",
    ),
    (
        "checks skipped silently on an account without orders (`site` from `/orders/0`)",
        "recipe variables take a `fallback` (ids from a create, retailcrm's `site` from `/v5/reference/sites`, "
        "pointer `*` = first member); what still needs existing data (a refund needs a transaction) skips with "
        "'an empty list at …'.",
        "conformance/target.py, specs/*.yaml",
    ),
]


def classify(api: str, finding: dict[str, Any]) -> Verdict | None:
    for verdict in VERDICTS:
        if verdict.matches(api, finding):
            return verdict
    return None


# --- Prism -------------------------------------------------------------------------------------------------------


class BenchError(Exception):
    """A reason the bench cannot run (printed as one line; exit 2)."""


def prism_binary() -> Path:
    return PRISM_DIR / "node_modules" / ".bin" / "prism"


def install_prism(version: str) -> Path:
    """Installs Prism into bench/.prism once (npm install --prefix) and returns its executable."""
    binary = prism_binary()
    installed = PRISM_DIR / "node_modules" / "@stoplight" / "prism-cli" / "package.json"
    if binary.exists() and installed.exists():
        have = json.loads(installed.read_text(encoding="utf-8")).get("version")
        if have == version:
            return binary
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            raise BenchError(
                f"`{tool}` is not on PATH: Prism is an npm package and needs Node.js and npm "
                "(e.g. `apt-get install nodejs npm`), then run this script again"
            )
    PRISM_DIR.mkdir(parents=True, exist_ok=True)
    argv = ["npm", "install", "--prefix", str(PRISM_DIR), f"{PRISM_PACKAGE}@{version}", "--no-audit", "--no-fund"]
    print("installing Prism:", " ".join(argv), flush=True)
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0 or not binary.exists():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise BenchError(f"npm install of {PRISM_PACKAGE}@{version} failed: " + " | ".join(tail))
    return binary


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Prism:
    """`prism mock SPEC` on 127.0.0.1:PORT in its own process group; stop() ends the group."""

    def __init__(self, binary: Path, spec: Path, log: Path) -> None:
        self.binary, self.spec, self.log_path = binary, spec, log
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, ready_timeout: float = 60.0) -> None:
        for _attempt in range(3):  # a free port can be taken between the probe and Prism's bind
            self.port = free_port()
            with open(self.log_path, "wb") as log:
                self.proc = subprocess.Popen(
                    [str(self.binary), "mock", str(self.spec), "--host", "127.0.0.1", "--port", str(self.port)],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,  # its own process group: stop() kills node and anything it forks
                )
            _STARTED.append(self)
            if self._wait_ready(ready_timeout):
                return
            self.stop()
            if "EADDRINUSE" not in self.log_path.read_text(encoding="utf-8", errors="replace"):
                break
        raise BenchError(f"Prism did not start for {self.spec.name}: {self.log_tail()}")

    def _wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                return False
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/", timeout=2).close()
                return True
            except urllib.error.HTTPError:
                return True  # any HTTP answer (Prism answers 404 at its root): it is listening
            except OSError:
                time.sleep(0.3)
        return False

    def log_tail(self, lines: int = 5) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
        except OSError:
            return "(no log)"
        return " | ".join(text[-lines:]) or "(empty log)"

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        with contextlib.suppress(ValueError):
            _STARTED.remove(self)


_STARTED: list[Prism] = []
_CHILDREN: list[subprocess.Popen[bytes]] = []


def _stop_everything() -> None:
    for prism in list(_STARTED):
        prism.stop()
    for child in list(_CHILDREN):
        if child.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.pid, signal.SIGKILL)
            child.wait(timeout=5)


def _on_signal(signum: int, _frame: Any) -> None:
    _stop_everything()
    raise SystemExit(128 + signum)


def base_url_check(spec_path: Path, port: int) -> str | None:
    """Checks that Prism serves the spec's paths at its root: returns a problem, or None."""
    spec = yaml.safe_load(spec_path.read_text(encoding="utf-8"))
    for path, item in (spec.get("paths") or {}).items():
        if "{" in path or "get" not in (item or {}):
            continue
        request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Authorization": "Bearer x"})
        try:
            urllib.request.urlopen(request, timeout=10).close()
            return None
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return f"GET {path} at Prism's root answered 404: the base URL mapping is not the one assumed"
            return None
        except OSError as exc:
            return f"GET {path}: {exc}"
    return None


# --- one API -----------------------------------------------------------------------------------------------------


def conformance_command() -> list[str]:
    script = Path(sys.executable).parent / "conformance"
    return [str(script)] if script.exists() else [sys.executable, "-m", "conformance.cli"]


def run_api(api: str, binary: Path, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    spec = ROOT / "specs" / f"{api}.yaml"
    prism = Prism(binary, spec, work / f"prism-{api}.log")
    report_dir = work / "reports"
    report_dir.mkdir(exist_ok=True)
    started = time.perf_counter()
    try:
        prism.start()
        problem = base_url_check(spec, prism.port)
        if problem:
            print(f"  warning: {problem}", flush=True)
        base_url = f"http://127.0.0.1:{prism.port}"
        argv = [
            *conformance_command(),
            "run",
            api,
            "--spec",
            str(spec.relative_to(ROOT)),
            "--base-url",
            base_url,
            "--api-key",
            API_KEY,
            "--report-dir",
            str(report_dir),
            "--max-examples",
            str(args.max_examples),
            "--pace",
            args.pace,
            "--seed",
            str(args.seed),
            "-q",
        ]
        env = {k: v for k, v in os.environ.items() if not k.startswith("CONFORMANCE_")}
        with open(work / f"conformance-{api}.log", "wb") as log:
            proc = subprocess.Popen(
                argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
            _CHILDREN.append(proc)
            code: int | None = None
            try:
                code = proc.wait(timeout=args.timeout_per_api)
            except subprocess.TimeoutExpired:
                print(f"  {api}: still running after {args.timeout_per_api:g} s: stopped", flush=True)
            finally:  # a timeout, Ctrl-C or SIGTERM: the run (its own process group) ends with us
                if proc.poll() is None:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                _CHILDREN.remove(proc)
    finally:
        prism.stop()
    wall = time.perf_counter() - started
    result_path = report_dir / f"{api}.json"
    result = json.loads(result_path.read_text(encoding="utf-8")) if code is not None and result_path.exists() else {}
    return {
        "api": api,
        "exit": code,
        "wall_s": wall,
        "requests": result.get("requests_sent"),
        "findings": result.get("findings", []),
        "notes": result.get("notes", []),
        "command": " ".join(argv).replace(str(ROOT) + "/", "").replace(str(report_dir), "DIR"),
        "log": (work / f"conformance-{api}.log").read_text(encoding="utf-8", errors="replace")[-2000:],
    }


# --- report ------------------------------------------------------------------------------------------------------


def first_line(text: str) -> str:
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return line if len(line) <= 160 else line[:157] + "…"


def cell(text: str) -> str:
    return text.replace("|", "\\|")


def render(runs: list[dict[str, Any]], args: argparse.Namespace, started_at: str) -> str:
    lines = [
        "# The suite against Prism",
        "",
        f"`.venv/bin/python bench/prism.py {' '.join(args.argv)}`".replace(" `", "`"),
        "",
        f"Run on {started_at} with `{PRISM_PACKAGE}@{PRISM_VERSION}` (`prism mock specs/API.yaml`, 127.0.0.1), "
        f"`--max-examples {args.max_examples} --pace {args.pace} --seed {args.seed}`. Each API's command:",
        "",
        "```sh",
        *(run["command"] for run in runs),
        "```",
        "",
        "TRUE: Prism really breaks a documented promise (it is a stateless mock: no key check, no pagination, no "
        "idempotency, no rate limit, its own error format). FALSE: no document promises it (a false alarm of the "
        "suite). The verdicts come from the table `VERDICTS` in `bench/prism.py`; UNCLASSIFIED: no entry covers "
        "the finding. Time: wall time of the API's run, Prism's start included, on a shared 2-core machine.",
        "",
        "| API | exit | findings | TRUE | FALSE | UNCLASSIFIED | notes | requests | time |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    totals = {"findings": 0, "TRUE": 0, "FALSE": 0, "UNCLASSIFIED": 0, "notes": 0}
    for run in runs:
        counts = {"TRUE": 0, "FALSE": 0, "UNCLASSIFIED": 0}
        for finding in run["findings"]:
            verdict = classify(run["api"], finding)
            counts[verdict.verdict if verdict else "UNCLASSIFIED"] += 1
        exit_text = "timeout" if run["exit"] is None else str(run["exit"])
        lines.append(
            f"| {run['api']} | {exit_text} | {len(run['findings'])} | {counts['TRUE']} | {counts['FALSE']} | "
            f"{counts['UNCLASSIFIED']} | {len(run['notes'])} | {run['requests'] or '–'} | {run['wall_s']:.0f} s |"
        )
        totals["findings"] += len(run["findings"])
        totals["notes"] += len(run["notes"])
        for key, value in counts.items():
            totals[key] += value
    lines.append(
        f"| **all** | | **{totals['findings']}** | **{totals['TRUE']}** | **{totals['FALSE']}** | "
        f"**{totals['UNCLASSIFIED']}** | {totals['notes']} | | |"
    )
    lines += [
        "",
        "## False alarms fixed",
        "",
        "Seen against Prism (issue 10, item 4, and this bench); none is reported any more. Tests without Prism: "
        "`tests/test_prism_false_alarms.py` (and `tests/test_schema_judgement.py` for the engine's).",
        "",
        "| false alarm | cause and fix | where |",
        "|---|---|---|",
        *(f"| {cell(what)} | {cell(fix)} | {cell(where)} |" for what, fix, where in FIXED),
    ]
    for run in runs:
        lines += ["", f"## {run['api']}", ""]
        if run["exit"] is None or run["exit"] == 2:
            lines += ["The run did not complete:", "", "```", run["log"].strip()[-1200:], "```", ""]
        if not run["findings"]:
            lines.append("No findings.")
            continue
        lines += ["| verdict | rule | operation | message (first line) | why |", "|---|---|---|---|---|"]
        for finding in run["findings"]:
            verdict = classify(run["api"], finding)
            lines.append(
                f"| {verdict.verdict if verdict else 'UNCLASSIFIED'} | `{finding.get('rule')}` | "
                f"{cell(str(finding.get('operation')))} | {cell(first_line(finding.get('message', '')))} | "
                f"{cell(verdict.why) if verdict else ''} |"
            )
        if run["notes"]:
            lines += ["", f"Notes ({len(run['notes'])}, they never fail a run):", ""]
            for note in run["notes"]:
                where = cell(str(note.get("operation")))
                lines.append(f"- `{note.get('rule')}` {where}: {cell(first_line(note.get('message', '')))}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--api", action="append", choices=APIS, help="only this API (repeatable; default: all)")
    parser.add_argument("--max-examples", type=int, default=3, help="property-test examples per operation (3)")
    parser.add_argument("--pace", default="200/1", help="requests per window (200/1: Prism has no limit)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the property tests (1)")
    parser.add_argument("--timeout-per-api", type=float, default=900.0, help="seconds before a run is killed (900)")
    parser.add_argument("--prism-version", default=PRISM_VERSION, help=f"npm version of {PRISM_PACKAGE}")
    parser.add_argument("--keep", type=Path, help="keep the JSON results and logs in this directory")
    parser.add_argument("--no-write", action="store_true", help=f"print the table only, do not write {RESULTS}")
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)
    started_at = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    runs = []
    try:
        binary = install_prism(args.prism_version)
        with contextlib.ExitStack() as stack:
            if args.keep:
                args.keep.mkdir(parents=True, exist_ok=True)
                work = args.keep
            else:
                work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-prism-")))
            for api in args.api or APIS:
                print(f"{api}: prism mock specs/{api}.yaml …", flush=True)
                run = run_api(api, binary, args, work)
                runs.append(run)
                print(
                    f"  exit {run['exit']}, {len(run['findings'])} finding(s), {len(run['notes'])} note(s), "
                    f"{run['requests']} requests, {run['wall_s']:.0f} s",
                    flush=True,
                )
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: Prism stopped", file=sys.stderr)
        return 130
    finally:
        _stop_everything()
    text = render(runs, args, started_at)
    print(text)
    if not args.no_write:
        RESULTS.write_text(text, encoding="utf-8")
        print(f"written: {RESULTS.relative_to(ROOT)}")
    unclassified = sum(1 for run in runs for f in run["findings"] if classify(run["api"], f) is None)
    return 1 if unclassified else 0


if __name__ == "__main__":
    sys.exit(main())
