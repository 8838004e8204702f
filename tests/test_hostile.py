"""`conformance run` against hostile servers and bad input: it ends, explains, reports and keeps the key.

Each hostile server listens on loopback (tests/hostile_servers.py); the CLI runs in a subprocess so
that a hang fails the test at `HANG_GUARD_S` instead of blocking CI. Bad command lines fail before
any network traffic, so those run in-process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

from conformance.cli import check_db, main
from conformance.specfiles import spec_path
from tests import hostile_servers as hostile
from tests.hostile_servers import Listener

KEY = "SECRETKEY-h0stile/+="  # '/', '+' and '=' change under URL encoding: every form is searched for
KEY_FORMS = tuple({KEY, quote(KEY, safe=""), quote_plus(KEY)})
TIMEOUT = 2.0
# A hang guard, not a speed target: the runs here take 2-15 s; against the never-answering server the
# suite used to wait out every request (143 s). The slack covers a busy 2-core machine.
HANG_GUARD_S = 30 * TIMEOUT


@dataclass
class Run:
    """One finished `conformance run`."""

    code: int
    stdout: str
    stderr: str
    report_dir: Path
    api: str

    @property
    def result(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.report_dir / f"{self.api}.json").read_text(encoding="utf-8"))
        return data

    def messages(self, rule: str) -> list[str]:
        return [f["message"] for f in self.result["findings"] if f["rule"] == rule]


def conformance_run(base_url: str, report_dir: Path, *args: str, api: str = "goat") -> Run:
    """Runs the CLI in a subprocess; fails the test when it outlives HANG_GUARD_S."""
    common = ["--base-url", base_url, "--api-key", KEY, "--report-dir", str(report_dir), "--timeout", str(TIMEOUT)]
    argv = [sys.executable, "-m", "conformance.cli", "run", api, *common, *args]
    env = {k: v for k, v in os.environ.items() if k != "CONFORMANCE_API_KEY" and not k.lower().endswith("_proxy")}
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=HANG_GUARD_S, env=env, cwd=report_dir.parent
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"`conformance run {api}` against {base_url} was still running after {HANG_GUARD_S:g} s: it hangs")
    return Run(done.returncode, done.stdout, done.stderr, report_dir, api)


def assert_reported_safely(run: Run, rule: str) -> None:
    """The run explains itself under `rule`, writes its reports, and shows no traceback and no key."""
    output = run.stdout + run.stderr
    assert "Traceback" not in output, output
    for name in (f"{run.api}.json", f"{run.api}.html", f"{run.api}.junit.xml", "index.html"):
        assert (run.report_dir / name).is_file(), f"{name} not written; output:\n{output}"
    assert run.messages(rule), f"no {rule} finding; findings: {[f['rule'] for f in run.result['findings']]}"
    assert rule in (run.report_dir / f"{run.api}.html").read_text(encoding="utf-8")
    if run.code == 2:
        assert run.stdout == "" and run.stderr.startswith("error: target unusable: ")
        assert len(run.stderr.strip().splitlines()) == 1, run.stderr
    else:
        assert run.code == 1, output
        assert any(line.split()[:2] == ["FAIL", rule] for line in run.stdout.splitlines()), run.stdout
    leaks = [str(path) for path in run.report_dir.rglob("*") if path.is_file() and _has_key(path.read_bytes())]
    assert not _has_key(output.encode()) and leaks == []


def _has_key(data: bytes) -> bool:
    return any(form.encode() in data for form in KEY_FORMS)


@pytest.fixture
def serve() -> Iterator[Callable[..., Listener]]:
    """Starts hostile listeners (`serve(behaviour, host=..., tls=...)`); all close at the test's end."""
    listeners: list[Listener] = []

    def start(behaviour: hostile.Behaviour, **options: Any) -> Listener:
        try:
            listeners.append(Listener(behaviour, **options))
        except OSError as exc:
            pytest.skip(f"cannot listen on {options.get('host', '127.0.0.1')}: {exc.strerror}")
        return listeners[-1]

    yield start
    for listener in listeners:
        listener.close()


@pytest.fixture
def report_dir(tmp_path: Path) -> Path:
    return tmp_path / "reports"


# --- servers that never give a usable answer: the preflight probe stops the run, with a report -------------


@pytest.mark.parametrize(
    ("behaviour", "expected"),
    [
        (hostile.never_answers, "timed out after 2.0 s waiting for the response"),
        (hostile.drip, "timed out after 2.0 s"),
        (hostile.reset_mid_response, "connection reset by peer while reading the body of a 200 response"),
    ],
    ids=["never-answers", "drips-one-byte-a-second", "resets-mid-response"],
)
def test_target_without_a_usable_answer_stops_the_run_with_a_report(
    serve: Callable[..., Listener], report_dir: Path, behaviour: hostile.Behaviour, expected: str
) -> None:
    server = serve(behaviour)
    run = conformance_run(server.url(), report_dir)
    assert run.code == 2
    assert_reported_safely(run, "transport.unreachable")
    assert expected in run.messages("transport.unreachable")[0] and expected in run.stderr


def test_self_signed_certificate_stops_the_run_with_a_report(
    serve: Callable[..., Listener], report_dir: Path, tmp_path: Path
) -> None:
    server = serve(hostile.ok_json, tls=hostile.self_signed_context(tmp_path))  # skips when no maker is installed
    run = conformance_run(server.url(), report_dir)
    assert run.code == 2
    assert_reported_safely(run, "transport.unreachable")
    assert "TLS certificate verify failed: self-signed certificate" in run.messages("transport.unreachable")[0]
    assert "serve a certificate this machine trusts" in run.stderr


# --- servers that answer badly: the suite runs and finds it ------------------------------------------------


@pytest.mark.parametrize(
    ("behaviour", "expected"),
    [
        (hostile.huge_json, "response body exceeds 10 MiB"),
        (hostile.invalid_json, "response body is not valid JSON"),
        (hostile.html_page, "answered 200 as 'text/html'; documented: JSON"),
    ],
    ids=["fifty-megabytes-of-json", "invalid-json-as-json", "html-with-200"],
)
def test_malformed_answers_are_transport_findings(
    serve: Callable[..., Listener], report_dir: Path, behaviour: hostile.Behaviour, expected: str
) -> None:
    server = serve(behaviour)
    run = conformance_run(server.url(), report_dir, "-k", "answers_json")
    assert_reported_safely(run, "transport.invalid-response")
    assert any(expected in message for message in run.messages("transport.invalid-response"))


@pytest.mark.parametrize(
    ("api", "base_path", "args"),
    [
        ("goat", "/v1", ()),  # the full suite: every scenario, Schemathesis included
        # retailcrm takes its key in a header, the query string and form bodies: all three are tried
        ("retailcrm", "/api", ("--rule", "auth.key-locations", "--rule", "transport.redirect")),
    ],
    ids=["goat-full-run", "retailcrm-header-query-form"],
)
def test_redirect_to_another_host_never_carries_the_key(
    serve: Callable[..., Listener], report_dir: Path, api: str, base_path: str, args: tuple[str, ...]
) -> None:
    elsewhere = serve(hostile.ok_json, host="127.0.0.2")
    server = serve(hostile.redirect_to(elsewhere))
    run = conformance_run(server.url(base_path), report_dir, *args, api=api)
    assert_reported_safely(run, "transport.redirect")
    assert f"redirect to another host (http://127.0.0.2:{elsewhere.port}/" in run.messages("transport.redirect")[0]
    methods = {raw.split(b" ", 1)[0] for raw in server.received}
    assert {b"GET", b"POST"} <= methods, f"both redirects (302 for reads, 307 for writes) served: {methods}"
    assert not any(_has_key(raw) for raw in elsewhere.received), "the key reached the other host"


def test_key_echoed_back_by_the_server_stays_out_of_every_report(
    serve: Callable[..., Listener], report_dir: Path
) -> None:
    server = serve(hostile.echo_request)
    run = conformance_run(server.url(), report_dir, "-k", "not test_schema")  # Schemathesis: the redirect run
    # pagination compares item ids across page sizes: here each id is the request head, key included
    assert_reported_safely(run, "pagination.complete")
    assert "Bearer [REDACTED]" in run.messages("pagination.complete")[0]


# --- bad input from users: one line on stderr, exit 2, before any traffic ---------------------------------


def _fails_with(argv: list[str], capsys: pytest.CaptureFixture[str], expected: str) -> None:
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("error: ") and expected in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


GOOD_TARGET = ["--base-url", "http://127.0.0.1:9/v1", "--api-key", KEY]  # port 9: never reached


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda d: d / "missing.yaml", "cannot read the file"),
        (lambda d: _write(d / "cut.yaml", spec_path("goat").read_text(encoding="utf-8")[:3000]), "bad spec: "),
        (lambda d: _write(d / "list.yaml", "- not\n- a spec\n"), "the document is not a mapping"),
    ],
    ids=["missing-file", "truncated-spec", "not-a-mapping"],
)
def test_broken_spec_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make: Callable[[Path], Path], expected: str
) -> None:
    _fails_with(["run", "goat", "--spec", str(make(tmp_path)), *GOOD_TARGET], capsys, expected)


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_unknown_api_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    _fails_with(["run", "gaot", *GOOD_TARGET], capsys, "unknown API 'gaot'; did you mean 'goat'?")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("api.example/v1", "is not an http(s) URL with a host"),
        ("ftp://127.0.0.1/v1", "is not an http(s) URL with a host"),
        ("http://127.0.0.1:99999/v1", "has an invalid port"),
        ("http://[::1/v1", "is not a valid URL (Invalid IPv6 URL)"),
        ("http://[::1]x/v1", "is not a valid URL (Invalid port: 'x')"),
    ],
)
def test_malformed_base_url_is_one_line(capsys: pytest.CaptureFixture[str], url: str, expected: str) -> None:
    _fails_with(["run", "goat", "--base-url", url, "--api-key", KEY], capsys, expected)


def test_missing_key_is_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("CONFORMANCE_API_KEY", raising=False)
    expected = "goat needs an API key; pass --api-key KEY or set CONFORMANCE_API_KEY"
    _fails_with(["run", "goat", "--base-url", "http://127.0.0.1:9/v1"], capsys, expected)


def test_unwritable_report_dir_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = _write(tmp_path / "a-file", "")  # a directory below a file cannot be made, even by root
    argv = ["run", "goat", *GOOD_TARGET, "--report-dir", str(blocker / "reports")]
    _fails_with(argv, capsys, f"cannot write to --report-dir {blocker / 'reports'}: Not a directory")


@pytest.mark.parametrize("timeout", ["0", "nan", "inf"])
def test_timeout_without_a_deadline_is_one_line(capsys: pytest.CaptureFixture[str], timeout: str) -> None:
    _fails_with(["run", "goat", *GOOD_TARGET, "--timeout", timeout], capsys, "--timeout must be a positive number")


@pytest.mark.parametrize("key", ["x", "test"])
def test_a_short_key_neither_crashes_the_run_nor_mangles_its_text(tmp_path: Path, key: str) -> None:
    """`--api-key x` crashed (`KeyError: 'pagination.ma[REDACTED]-limit'`); `test` printed `[REDACTED]Webhook`.

    The goat sandbox with `auth.invalid-credentials` accepts any key, so the whole suite runs with it.
    """
    from conformance.rules import RULES

    argv = [sys.executable, "-m", "conformance.cli", "run", "goat", "--fault", "auth.invalid-credentials"]
    argv += ["--api-key", key, "-k", "not test_schema", "--report-dir", str(tmp_path)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=HANG_GUARD_S)
    output = done.stdout + done.stderr
    assert done.returncode == 1 and "INTERNALERROR" not in output and "Traceback" not in output, output
    assert "[REDACTED]" not in output and "testWebhook" in output and "pagination  max limit" in output
    result = json.loads((tmp_path / "goat.json").read_text(encoding="utf-8"))
    assert {check["rule"] for check in result["checks"]} <= set(RULES)
    assert {"pagination.max-limit", "auth.invalid-credentials"} <= {check["rule"] for check in result["checks"]}


# --- bad input that used to end in a traceback ----------------------------------------------------------


def _latin1_spec(directory: Path) -> Path:
    """The goat spec saved as Latin-1, with one non-ASCII character: not UTF-8."""
    path = directory / "latin1.yaml"
    text = spec_path("goat").read_text(encoding="utf-8").replace("title:", "title: Café", 1)
    path.write_bytes(text.encode("latin-1", errors="replace"))
    return path


def test_a_spec_that_is_not_utf8_is_one_line_for_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _fails_with(["run", "goat", "--spec", str(_latin1_spec(tmp_path)), *GOOD_TARGET], capsys, "not UTF-8 text")


def test_a_spec_that_is_not_utf8_is_a_problem_for_specs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _latin1_spec(tmp_path)
    assert main(["specs", str(path)]) == 1
    out, err = capsys.readouterr()
    assert out.startswith(f"{path}: /: not UTF-8 text (byte 0xe9 at offset ") and "Traceback" not in out + err


def test_a_spec_that_is_not_utf8_is_a_usage_error_in_the_pytest_route(tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "pytest", "--pyargs", "conformance.suite", "--conformance-api", "goat"]
    done = subprocess.run(
        [*argv, "--conformance-spec", str(_latin1_spec(tmp_path)), "-p", "no:cacheprovider"], **_QUICK
    )
    assert done.returncode == pytest.ExitCode.USAGE_ERROR and "INTERNALERROR" not in done.stdout + done.stderr
    assert "bad spec: " in done.stderr and "not UTF-8 text" in done.stderr


_QUICK: dict[str, Any] = {"capture_output": True, "text": True, "timeout": HANG_GUARD_S}


def _sandbox_fails_with(argv: list[str], expected: str) -> None:
    """`conformance sandbox …` in a subprocess (it would serve forever if the mistake were missed)."""
    done = subprocess.run([sys.executable, "-m", "conformance.cli", "sandbox", *argv], **{**_QUICK, "timeout": 30})
    assert done.returncode == 2 and done.stdout == "", done.stdout + done.stderr
    assert done.stderr.startswith("error: ") and expected in done.stderr and len(done.stderr.splitlines()) == 1


def test_a_port_out_of_range_is_one_line() -> None:
    _sandbox_fails_with(["goat", "--port", "80000"], "--port 80000 is not a TCP port; pick one in 0-65535")


def test_a_db_in_a_missing_folder_is_one_line(tmp_path: Path) -> None:
    db = tmp_path / "no" / "goat.db"
    _sandbox_fails_with(["goat", "--port", "0", "--db", str(db)], f"the folder {db.parent} does not exist")


def test_a_db_that_is_not_sqlite_is_one_line(tmp_path: Path) -> None:
    db = _write(tmp_path / "notes.db", "shopping list\n" * 100)
    _sandbox_fails_with(["goat", "--port", "0", "--db", str(db)], "is not a usable SQLite database")


def test_another_apis_db_is_refused_before_it_answers_500(tmp_path: Path) -> None:
    from conformance.sandbox.runner import build_app

    db = tmp_path / "goat.db"
    build_app("goat", db=str(db))  # the goat sandbox makes its tables and seeds them
    _sandbox_fails_with(["storefront", "--port", "0", "--db", str(db)], "was not made by the storefront sandbox")
    check_db("goat", str(db))  # its own API's file is fine: state survives restarts


# --- credentials in the base URL -------------------------------------------------------------------

PASSWORD = "hunter2pw"


@pytest.mark.parametrize("route", ["conformance run", "pytest"])
def test_credentials_in_the_base_url_reach_no_output(tmp_path: Path, route: str) -> None:
    """`--base-url http://bob:PASSWORD@host/v1`: the requests may carry them (httpx sends basic auth, the
    sandbox ignores it), but neither the console nor any report shows `bob:` or the password."""
    from conformance.sandbox.runner import running_sandbox
    from tests.commands import PYTEST_ROUTE_GOAT

    reports = tmp_path / "reports"
    with running_sandbox("goat", faults=["errors.envelope"]) as sandbox:
        url = sandbox.base_url.replace("://", f"://bob:{PASSWORD}@", 1)
        env = {**os.environ, "CONFORMANCE_API_KEY": sandbox.api_key}
        if route == "pytest":
            argv = [*PYTEST_ROUTE_GOAT, "--base-url", url, "--conformance-report-dir", str(reports)]
            argv += ["--conformance-rule", "errors.envelope", "-k", "not test_schema", "--conformance-seed", "7"]
        else:
            argv = [sys.executable, "-m", "conformance.cli", "run", "goat", "--base-url", url]
            argv += ["--report-dir", str(reports), "--rule", "errors.envelope", "-k", "not test_schema", "--seed", "7"]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
        public = sandbox.base_url
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert f"{public}/" in output  # the findings quote request URLs: there was something to leak
    result = json.loads((reports / "goat.json").read_text(encoding="utf-8"))
    assert result["base_url"] == public
    assert any(str((f["request"] or {}).get("url", "")).startswith(public) for f in result["findings"])
    written = sorted(path.name for path in reports.iterdir())
    assert {"goat.json", "goat.html", "goat.sarif", "goat.wfc.json", "goat.wfc.sh", "index.html"} <= set(written)
    for text, where in [(output, "console"), *((p.read_text(encoding="utf-8"), p.name) for p in reports.iterdir())]:
        assert PASSWORD not in text and "bob:" not in text and "bob%3A" not in text, where


def test_credentials_in_an_unreachable_base_url_reach_no_output(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    run = conformance_run(f"http://bob:{PASSWORD}@127.0.0.1:9/v1", reports)
    assert run.code == 2 and run.stderr.startswith("error: target unusable: "), run.stderr
    assert "http://127.0.0.1:9/v1" in run.stderr
    for text in [run.stdout + run.stderr, *(path.read_text(encoding="utf-8") for path in reports.iterdir())]:
        assert PASSWORD not in text and "bob:" not in text
    bad = subprocess.run(
        [sys.executable, "-m", "conformance.cli", "run", "goat", "--base-url", f"http://bob:{PASSWORD}@h:port/v1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "not a valid URL" in bad.stderr and PASSWORD not in bad.stderr


def test_only_the_base_urls_own_credentials_are_dropped() -> None:
    from conformance.exchange import hide_url_credentials

    base = f"https://bob:{PASSWORD}@staging.example/v1"
    text = f'GET {base}/me answered {{"avatar": "https://alice@cdn.example/a.png", "echo": "{PASSWORD}"}}'
    assert hide_url_credentials(text, base) == (
        'GET https://staging.example/v1/me answered {"avatar": "https://alice@cdn.example/a.png", "echo": "[REDACTED]"}'
    )
    assert hide_url_credentials(text, "https://staging.example/v1") == text  # no credentials: nothing to hide
