"""Every response is judged by every rule that can judge it (issue 13, item 1).

The exchanges a test of valid requests records (walks, idempotent replays, stateful reads, valid requests,
rate-limit samples) are judged by the rules of any response (`ANY_RESPONSE_RULES`) the test does not judge
itself: a fault on a page is found through the walk, and nothing is found on a clean sandbox. The conforming
variations of every sandbox stay silent with this in place: `tests/test_selftest.py` runs the whole suite,
these recorded exchanges included, on each of them.
"""

from __future__ import annotations

import contextlib
import io
import json
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from conformance.checks.passive import ANY_RESPONSE_RULES, judge_recorded
from conformance.client import Client, Exchange
from conformance.profile import load_profile
from conformance.selftest import FAST_RATE_LIMIT

WALK = "test_pagination and test_no_duplicates"  # one walk of each list, nothing else


def _run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, api: str, *args: str) -> tuple[dict[str, Any], int]:
    from conformance.cli import main

    monkeypatch.setenv("CONFORMANCE_SANDBOX_RATE_LIMIT", FAST_RATE_LIMIT)
    with contextlib.redirect_stdout(io.StringIO()):
        code = main(["run", api, "--report-dir", str(tmp_path), "-q", "--seed", "1", *args])
    result: dict[str, Any] = json.loads((tmp_path / f"{api}.json").read_text(encoding="utf-8"))
    return result, code


def test_a_page_that_breaks_its_schema_is_found_through_the_walk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """storefront's fault: product objects carry `price` as a string, so every page of listProducts breaks
    its schema; the walk of test_no_duplicates now finds it, in every view of the result alike."""
    result, code = _run(tmp_path, monkeypatch, "storefront", "--fault", "schema.response-schema", "-k", WALK)
    found = [(f["rule"], f["operation"]) for f in result["findings"]]
    assert ("schema.response-schema", "listProducts") in found
    assert {rule for rule, _ in found} == {"schema.response-schema"}
    messages = [(f["rule"], f["operation"], f["message"]) for f in result["findings"]]
    assert len(messages) == len(set(messages))  # the same rule, operation and message once
    rows = [c for c in result["checks"] if c["rule"] == "schema.response-schema"]
    assert rows and all(c["outcome"] == "failed" and "test_no_duplicates" in c["test"] for c in rows)
    assert {c["operation"] for c in rows} == {"listProducts"}
    own = [c for c in result["checks"] if c["rule"] == "pagination.no-duplicates"]
    assert own and all(c["outcome"] == "passed" for c in own)  # the walk itself has no duplicates
    assert result["summary"]["failed"] == 1
    assert code == 1
    sarif = json.loads((tmp_path / "storefront.sarif").read_text(encoding="utf-8"))
    assert {r["ruleId"] for r in sarif["runs"][0]["results"]} == {"schema.response-schema"}
    assert "schema.response-schema" in (tmp_path / "storefront.html").read_text(encoding="utf-8")


def test_the_same_walk_is_silent_on_the_clean_sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result, code = _run(tmp_path, monkeypatch, "storefront", "-k", WALK)
    assert [f["message"] for f in result["findings"]] == []
    assert not any(c["outcome"] == "failed" for c in result["checks"])
    assert code == 0


def test_a_rule_selection_keeps_to_its_rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With --rule, the recorded exchanges are judged by the selected rules only: the run stands for them."""
    args = ("--fault", "schema.response-schema", "--rule", "pagination.no-duplicates", "-k", WALK)
    result, code = _run(tmp_path, monkeypatch, "storefront", *args)
    assert result["findings"] == []
    assert code == 0


def test_headers_a_list_leaves_out_are_found_on_its_first_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """storefront's fault: list answers leave out X-Offset without `offset`: the default-limit test asks for
    the first page without one, and its answer is judged by schema.response-headers."""
    args = ("--fault", "schema.response-headers", "-k", "test_pagination and test_default_limit")
    result, code = _run(tmp_path, monkeypatch, "storefront", *args)
    assert "schema.response-headers" in {f["rule"] for f in result["findings"]}
    assert code == 1


# --- the pieces -------------------------------------------------------------------------------------


def _exchange(operation: str | None, status: int, body: bytes, content_type: str = "application/json") -> Exchange:
    return Exchange(
        operation=operation,
        method="GET",
        url="http://x/v1/me",
        request_headers={"Authorization": "Bearer k"},
        request_body=None,
        status=status,
        response_headers=httpx.Headers({"content-type": content_type}),
        body=body,
    )


def test_judge_recorded_keeps_the_rules_of_any_response_once() -> None:
    profile = load_profile("goat")
    broken = _exchange("getMe", 404, b"<h1>nope</h1>", "text/html")
    findings, notes = judge_recorded(
        profile, [broken, broken, _exchange(None, 404, b"x"), _exchange("nope", 500, b"")], ("k",)
    )
    rules = [f.rule_id for f in findings]
    assert "errors.envelope" in rules
    assert "schema.status-code" not in rules  # what a request may get depends on the request: not swept
    assert set(rules) <= ANY_RESPONSE_RULES
    assert len(rules) == len(set(rules))  # the second, identical answer adds nothing
    assert notes == []
    only, _ = judge_recorded(profile, [broken], ("k",), frozenset({"errors.request-id"}))
    assert {f.rule_id for f in only} <= {"errors.request-id"}


def test_judge_recorded_is_silent_on_a_conforming_answer() -> None:
    profile = load_profile("goat")
    body = b'{"status": "ok", "version": "1.0.0", "timestamp": "2026-05-24T12:00:00Z"}'
    ok = _exchange("getHealth", 200, body)
    assert judge_recorded(profile, [ok, ok], ()) == ([], [])


def test_the_client_records_what_it_returns_from_every_thread() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={"ok": True}))
    client = Client("http://api.test", transport=transport)
    client.request("GET", "/before")
    with client.recording() as recorded:
        threads = [threading.Thread(target=client.request, args=("GET", f"/{n}")) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        client.request("GET", "/last", operation="op")
    client.request("GET", "/after")
    assert len(recorded) == 9
    assert recorded[-1].operation == "op" and recorded[-1].url.endswith("/last")
    assert not any(e.url.endswith(("/before", "/after")) for e in recorded)


@pytest.mark.slow
def test_the_engines_valid_answers_are_judged_by_the_rules_of_any_response(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine's positive cases (a product id that does not exist: 404) carry goat's request id or not."""
    clean, code = _run(tmp_path / "clean", monkeypatch, "goat", "-k", "test_schema")
    assert code == 0 and clean["findings"] == []
    broken, code = _run(tmp_path / "broken", monkeypatch, "goat", "-k", "test_schema", "--fault", "errors.request-id")
    assert code == 1
    found = {(f["rule"], f["operation"]) for f in broken["findings"]}
    assert found and {rule for rule, _ in found} == {"errors.request-id"}  # only the engine ran: its answers
    failed = {(c["rule"], c["operation"]) for c in broken["checks"] if c["outcome"] == "failed"}
    assert found <= failed  # a failed row per rule and operation: summary, score and exit code agree
    selected, code = _run(
        tmp_path / "selected",
        monkeypatch,
        "goat",
        "-k",
        "test_schema",
        "--fault",
        "errors.request-id",
        "--rule",
        "schema.server-error",
    )
    assert selected["findings"] == []  # a rule not selected is not reported
