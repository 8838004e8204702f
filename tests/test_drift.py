"""`conformance drift`: recorded sandbox traffic judged without a request, clean and with each fault it shows."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conformance.checks.passive import judge_exchange
from conformance.cli import main
from conformance.drift.traffic import TrafficError, read_traffic
from conformance.profile import load_profile
from conformance.rules import RULES
from conformance.sandbox import load_sandbox
from tests.drift_traffic import Recorder, goat_script, storefront_script, write_har, write_ndjson

SCRIPTS = {"goat": goat_script, "storefront": storefront_script}
# The faults the recorded sessions show (each found under its own rule); the others need requests the suite
# makes on purpose (a made-up id, a burst, a second walk) and never appear in this traffic.
SHOWN = {
    "goat": [
        "schema.response-schema",
        "schema.status-code",
        "schema.content-type",
        "schema.server-error",
        "errors.envelope",
        "errors.code-convention",
        "errors.request-id",
        "pagination.no-duplicates",
        "pagination.max-limit",
        "pagination.last-page",
        "idempotency.replay-same-resource",
        "idempotency.replay-same-response",
        "idempotency.conflict",
        "idempotency.key-required",
        "rate-limit.headers",
        "rate-limit.consistent",
        "transport.invalid-response",
        "auth.missing-credentials",
        "auth.public-operations",
    ],
    "storefront": [
        "schema.response-schema",
        "schema.server-error",
        "schema.content-type",
        "schema.response-headers",
        "errors.envelope",
        "errors.code-convention",
        "pagination.no-duplicates",
        "pagination.max-limit",
        "pagination.totals",
        "pagination.headers",
        "auth.missing-credentials",
    ],
}


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """No server runs, and any attempt to connect anywhere fails the test: drift must send nothing."""
    attempts: list[Any] = []

    def refuse(self: socket.socket, address: Any) -> None:
        attempts.append(address)
        raise AssertionError(f"drift tried to connect to {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: refuse(None, a))  # type: ignore[arg-type]
    yield attempts
    assert not attempts


_RECORDED: dict[tuple[str, str | None], list[dict[str, Any]]] = {}


def recorded(api: str, fault: str | None = None) -> list[dict[str, Any]]:
    """The HAR entries of the API's session on its sandbox (with one fault), recorded once per test run."""
    key = (api, fault)
    if key not in _RECORDED:
        recorder = Recorder(api, *([fault] if fault else []))
        SCRIPTS[api](recorder)
        _RECORDED[key] = recorder.entries
    return json.loads(json.dumps(_RECORDED[key]))  # a copy a test may change


def drift(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["drift", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def result(report_dir: Path, api: str = "goat") -> dict[str, Any]:
    data: dict[str, Any] = json.loads((report_dir / f"{api}.json").read_text(encoding="utf-8"))
    return data


def test_clean_goat_traffic_passes_with_nothing_sent(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    har = write_har(recorded("goat"), tmp_path / "recorded.har")
    code, out, err = drift(capsys, "goat", str(har), "--report-dir", str(tmp_path / "out"))
    assert (code, err) == (0, "")
    data = result(tmp_path / "out")
    assert data["findings"] == [] and data["requests_sent"] == 0
    assert data["traffic"]["exchanges"] == data["traffic"]["judged"] == len(recorded("goat"))
    assert "no request sent" in out and "0 finding(s)" in out
    outcomes = {(c["rule"], c["operation"]): c for c in data["checks"]}
    assert outcomes[("errors.envelope", "getMe")]["outcome"] == "passed"
    assert outcomes[("pagination.no-duplicates", "listProducts")]["outcome"] == "passed"
    assert outcomes[("idempotency.replay-same-resource", "createOrder")]["outcome"] == "passed"
    # what the traffic cannot show is skipped with why, never passed
    assert outcomes[("errors.envelope", "updateOrder")]["outcome"] == "skipped"
    assert outcomes[("errors.envelope", "updateOrder")]["reason"].startswith("not observed")
    assert outcomes[("rate-limit.exceeded", "*")]["outcome"] == "skipped"
    assert "drift sends none" in outcomes[("rate-limit.exceeded", "*")]["reason"]
    for path in ("goat.html", "goat.junit.xml", "index.html"):
        assert (tmp_path / "out" / path).is_file()
    assert "not observed" in (tmp_path / "out" / "goat.junit.xml").read_text(encoding="utf-8")


def test_clean_storefront_traffic_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    har = write_har(recorded("storefront"), tmp_path / "recorded.har")
    code, out, _ = drift(capsys, "storefront", str(har))
    assert code == 0, out


@pytest.mark.parametrize(("api", "fault"), [(api, fault) for api, faults in SHOWN.items() for fault in faults])
def test_a_fault_in_recorded_traffic_is_found_under_its_rule(
    api: str, fault: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert fault in load_sandbox(api).FAULTS and RULES[fault].passive
    har = write_har(recorded(api, fault), tmp_path / "recorded.har")
    code, out, _ = drift(capsys, api, str(har), "--report-dir", str(tmp_path / "out"))
    assert code == 1
    rules = {item["rule"] for item in result(tmp_path / "out", api)["findings"]}
    assert fault in rules
    assert f"FAIL  {fault}" in out


def test_ndjson_traffic_is_judged_like_har(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clean = write_ndjson(recorded("goat"), tmp_path / "clean.ndjson")
    assert drift(capsys, "goat", str(clean))[0] == 0
    faulty = write_ndjson(recorded("goat", "errors.envelope"), tmp_path / "faulty.ndjson")
    code, out, _ = drift(capsys, "goat", str(faulty))
    assert code == 1 and "FAIL  errors.envelope" in out


def test_a_violation_seen_many_times_is_one_finding_with_its_count(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    entries = recorded("goat", "errors.envelope")
    errors = [e for e in entries if e["response"]["status"] == 404]
    later = json.loads(json.dumps(errors[0]))
    later["startedDateTime"] = "2030-01-01T00:00:00.000Z"
    har = write_har([*entries, *errors * 3, later], tmp_path / "recorded.har")
    assert drift(capsys, "goat", str(har), "--report-dir", str(tmp_path / "out"))[0] == 1
    found = [f for f in result(tmp_path / "out")["findings"] if f["rule"] == "errors.envelope"]
    on_product = [f for f in found if f["operation"] == "getProduct"]
    assert len(on_product) == 1
    assert on_product[0]["count"] == 5
    assert on_product[0]["last_seen"] == "2030-01-01T00:00:00.000Z"
    assert on_product[0]["first_seen"] < on_product[0]["last_seen"]
    assert "Seen in 5 exchange(s)" in on_product[0]["message"]


@pytest.mark.parametrize("key", ["sk_live_5ecretVeryLongKey_0123456789", "Zq7"])
def test_recorded_keys_are_redacted_in_every_output(
    key: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A recording carries real keys: in headers, cookies, a query, a body and an echo; none reaches an output."""
    demo = load_sandbox("goat").KEYS["full"]
    text = json.dumps(recorded("goat", "errors.envelope")).replace(demo, key)
    entries = json.loads(text)
    for entry in entries:
        entry["request"]["headers"].append({"name": "Cookie", "value": f"session={key}"})
        if entry["response"]["status"] == 404:
            entry["request"]["url"] += f"?token={key}"
            entry["response"]["content"]["text"] = json.dumps({"message": f"key {key} has no such product"})
    har = write_har(entries, tmp_path / "recorded.har")
    monkeypatch.setenv("CONFORMANCE_API_KEY", key)
    out_dir = tmp_path / "out"
    code, out, err = drift(capsys, "goat", str(har), "--report-dir", str(out_dir))
    assert code == 1
    written = [p.read_text(encoding="utf-8") for p in out_dir.iterdir() if p.is_file()]
    assert any("[REDACTED]" in text for text in written)
    for text in [out, err, *written]:
        assert key not in text


def test_a_broken_har_is_one_error_line_with_its_place(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    har = write_har(recorded("goat")[:3], tmp_path / "recorded.har")
    text = har.read_text(encoding="utf-8")
    cut = text.rindex('"response"')
    har.write_text(text[:cut] + '"response" {"status": 200}}]}}', encoding="utf-8")
    code, out, err = drift(capsys, "goat", str(har))
    assert code == 2 and out == ""
    assert err.startswith(f"error: {har}: line ") and "entry 2" in err and "Traceback" not in err
    assert err.count("\n") == 1


def test_a_broken_ndjson_line_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_ndjson(recorded("goat")[:3], tmp_path / "recorded.ndjson")
    path.write_text(path.read_text(encoding="utf-8") + '{"request": {"method": "GET"}}\n', encoding="utf-8")
    code, _, err = drift(capsys, "goat", str(path))
    assert code == 2
    assert err == f"error: {path}: line 4: not a traffic record (no 'url'); docs/drift.md gives the format " + (
        '({"time", "request": {"method", "url", ...}, "response": {"status", ...}})\n'
    )


def test_traffic_of_another_api_judges_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    har = write_har(recorded("storefront"), tmp_path / "recorded.har")
    code, _, err = drift(capsys, "goat", str(har))
    assert code == 2 and err.startswith("error: nothing was judged") and "--base-url" in err


def test_base_url_keeps_only_that_hosts_traffic(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    entries = recorded("goat", "errors.envelope")
    har = write_har(entries, tmp_path / "recorded.har")
    code, _, err = drift(capsys, "goat", str(har), "--base-url", "https://api.example/v1")
    assert code == 2 and "another host" in err
    code, out, _ = drift(capsys, "goat", str(har), "--base-url", "http://testserver/v1")
    assert code == 1 and "FAIL  errors.envelope" in out


def test_spec_option_judges_against_that_spec(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    har = write_har(recorded("goat", "errors.request-id"), tmp_path / "recorded.har")
    spec = Path(__file__).resolve().parent.parent / "specs" / "goat.yaml"
    code, out, _ = drift(capsys, "--spec", str(spec), str(har))
    assert code == 1 and "FAIL  errors.request-id" in out


def test_streaming_reader_reads_entries_split_across_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import conformance.drift.traffic as traffic

    monkeypatch.setattr(traffic, "CHUNK", 7)
    entries = recorded("goat")
    har = write_har(entries, tmp_path / "recorded.har")
    records = list(read_traffic(har))
    assert [(r.method, r.url, r.status) for r in records] == [
        (e["request"]["method"], e["request"]["url"], e["response"]["status"]) for e in entries
    ]
    assert records[0].started is not None and records[0].body == entries[0]["response"]["content"]["text"].encode()
    with pytest.raises(TrafficError, match="no log.entries"):
        (tmp_path / "empty.har").write_text('{"log": {"version": "1.2"}}', encoding="utf-8")
        list(read_traffic(tmp_path / "empty.har"))


def test_judge_exchange_works_on_any_exchange() -> None:
    """The live suite can call the passive judge on what it records: an Exchange and an operation id."""
    import httpx

    from conformance.client import Exchange

    profile = load_profile("goat")
    exchange = Exchange(
        operation="getMe",
        method="GET",
        url="http://x/v1/me",
        request_headers={"Authorization": "Bearer k"},
        request_body=None,
        status=404,
        response_headers=httpx.Headers({"content-type": "text/html"}),
        body=b"<h1>nope</h1>",
    )
    judged: set[tuple[str, str]] = set()
    findings = judge_exchange(profile, exchange, "getMe", ("k",), judged=judged)
    assert {"errors.envelope", "schema.status-code"} <= {f.rule_id for f in findings}
    assert ("errors.envelope", "getMe") in judged


def test_every_rule_declares_whether_traffic_can_judge_it() -> None:
    assert {rule.passive for rule in RULES.values()} == {"", "exchange", "sequence"}
    assert RULES["errors.envelope"].passive == "exchange"
    assert RULES["pagination.no-duplicates"].passive == "sequence"
    assert RULES["rate-limit.exceeded"].passive == ""


def test_rate_limit_windows_compare_only_answers_one_after_the_other(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Remaining that does not fall is a finding between answers in sequence, not between overlapping ones."""
    entries = [e for e in recorded("goat") if e["request"]["url"].endswith("/v1/me") and e["response"]["status"] == 200]
    first, second = json.loads(json.dumps(entries[0])), json.loads(json.dumps(entries[0]))  # the same Remaining
    first["startedDateTime"], first["time"] = "2026-12-04T10:00:00.000Z", 500
    second["startedDateTime"] = "2026-12-04T10:00:00.100Z"  # sent while the first was still waiting
    overlapping = write_har([first, second], tmp_path / "overlapping.har")
    assert drift(capsys, "goat", str(overlapping))[0] == 0
    second["startedDateTime"] = "2026-12-04T10:00:01.000Z"
    sequential = write_har([first, second], tmp_path / "sequential.har")
    code, out, _ = drift(capsys, "goat", str(sequential))
    assert code == 1 and "FAIL  rate-limit.consistent" in out


def test_http_caching_answers_are_not_judged(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    entries = recorded("goat")
    cached = json.loads(json.dumps(entries[1]))
    cached["response"].update(status=304, headers=[], content={"size": 0, "mimeType": "", "text": ""})
    har = write_har([*entries, cached], tmp_path / "recorded.har")
    assert drift(capsys, "goat", str(har))[0] == 0
