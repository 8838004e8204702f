"""Baselines: accepted deviations stop failing the run until they expire."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from conformance.baseline import BaselineError, Entry, apply_baseline, load_baseline, write_baseline

Make = Callable[..., dict[str, Any]]
TODAY = date(2026, 11, 23)


def _findings(result: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(f["rule"], f["operation"]): f for f in result["findings"]}


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "conformance-baseline.yaml"
    path.write_text(text)
    return path


def test_baseline_entry_turns_a_matching_finding_into_an_accepted_one(make_result: Make) -> None:
    entry = Entry("errors.envelope", "getProduct", "legacy 404 shape, API-7")
    result = apply_baseline(make_result(), [entry], TODAY)
    finding = _findings(result)[("errors.envelope", "getProduct")]
    assert (finding["accepted"], finding["baseline_reason"]) == (True, "legacy 404 shape, API-7")
    # The fixture's earlier acceptance of auth.invalid-credentials is not in this baseline: it fails again.
    assert result["summary"] == {"passed": 14, "failed": 4, "skipped": 2, "accepted": 1}
    assert _findings(result)[("auth.invalid-credentials", "listOrders")]["accepted"] is False


def test_baseline_accepting_every_finding_leaves_no_failure(make_result: Make) -> None:
    entries = [Entry(f["rule"], f["operation"], "known") for f in make_result()["findings"]]
    result = apply_baseline(make_result(), entries, TODAY)
    assert (result["summary"]["failed"], result["summary"]["accepted"]) == (0, 5)
    assert result["baseline"]["matched"] == 5 and result["baseline"]["unused"] == []


def test_baseline_expired_entry_no_longer_matches_and_is_reported(make_result: Make) -> None:
    entry = Entry("errors.envelope", "getProduct", "until the fix", expires=TODAY, location="b.yaml:2")
    result = apply_baseline(make_result(), [entry], TODAY)
    assert _findings(result)[("errors.envelope", "getProduct")]["accepted"] is False
    assert result["summary"]["failed"] == 5
    assert result["baseline"]["expired"] == [
        {
            "rule": "errors.envelope",
            "operation": "getProduct",
            "reason": "until the fix",
            "expires": "2026-11-23",
            "location": "b.yaml:2",
        }
    ]
    still_valid = apply_baseline(make_result(), [entry], date(2026, 11, 22))
    assert still_valid["summary"]["failed"] == 4


def test_baseline_reports_entries_that_matched_nothing(make_result: Make) -> None:
    entries = [
        Entry("pagination.complete", "listProducts", "old"),  # checked, passed: the deviation is fixed
        Entry("auth.permissions", "createOrder", "old"),  # not checked by this run: nothing to say
        Entry("errors.envelope", "getProduct", "x", api="billing"),
    ]
    result = apply_baseline(make_result(), entries, TODAY)
    assert [e["rule"] for e in result["baseline"]["unused"]] == ["pagination.complete"]
    assert [e["rule"] for e in result["baseline"]["unchecked"]] == ["auth.permissions"]
    assert result["baseline"]["entries"] == 2  # the billing entry is not this API's


def test_a_finding_of_an_expired_entry_says_until_when_it_was_accepted(make_result: Make) -> None:
    entries = [Entry("errors.envelope", "getProduct", "API-7", expires=date(2020, 1, 31))]
    result = apply_baseline(make_result(), entries, TODAY)
    found = next(f for f in result["findings"] if (f["rule"], f["operation"]) == ("errors.envelope", "getProduct"))
    assert (found["accepted"], found["baseline_expired"]) == (False, "2020-01-31")


def test_baseline_does_not_change_the_result_it_was_given(make_result: Make) -> None:
    data = make_result()
    apply_baseline(data, [Entry("errors.envelope", "getProduct", "x")], TODAY)
    assert data == make_result()


def test_baseline_file_loads_entries_with_dates_and_locations(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """\
# our accepted deviations
accepted:
  - rule: errors.envelope
    operation: getProduct
    reason: legacy 404 shape, API-7
    expires: 2027-01-31
  - rule: rate-limit.headers
    operation: "*"
    reason: the gateway strips them
    api: goat
""",
    )
    assert load_baseline(path) == [
        Entry("errors.envelope", "getProduct", "legacy 404 shape, API-7", expires=date(2027, 1, 31)),
        Entry("rate-limit.headers", "*", "the gateway strips them", api="goat"),
    ]
    assert [e.location for e in load_baseline(path)] == [f"{path}:3", f"{path}:7"]


def test_baseline_file_may_be_empty(tmp_path: Path) -> None:
    assert load_baseline(_write(tmp_path, "# nothing accepted yet\n")) == []
    assert load_baseline(_write(tmp_path, "accepted: []\n")) == []


ENTRY = "accepted:\n  - rule: errors.envelope\n    operation: getProduct\n    reason: legacy\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("accepted: [\n", ":2: not valid YAML", id="bad-yaml"),
        pytest.param(
            "- rule: errors.envelope\n", ":1: expected a mapping with an 'accepted' list", id="top-level-list"
        ),
        pytest.param("accepted:\n  rule: x\n", ":1: 'accepted' must be a list", id="accepted-not-a-list"),
        pytest.param("acepted: []\n", "expected a mapping with an 'accepted' list", id="misspelt-accepted"),
        pytest.param(ENTRY + "extra: 1\n", ":5: unknown key 'extra'", id="unknown-top-key"),
        pytest.param(
            ENTRY.replace("reason: legacy", "reasons: legacy"),
            ":4: unknown key 'reasons'; did you mean 'reason'?",
            id="misspelt-key",
        ),
        pytest.param(ENTRY.replace("    reason: legacy\n", ""), ":2: 'reason' is missing; say why", id="no-reason"),
        pytest.param(
            ENTRY.replace("errors.envelope", "errors.envelop"),
            ":2: unknown rule id 'errors.envelop'; did you mean 'errors.envelope'?",
            id="unknown-rule",
        ),
        pytest.param(
            ENTRY + "    expires: next week\n",
            ":5: 'expires' must be a date written YYYY-MM-DD, not 'next week'",
            id="bad-date",
        ),
        pytest.param(
            ENTRY + ENTRY.removeprefix("accepted:\n"),
            ":5: a second entry for errors.envelope on getProduct (the first is at",
            id="duplicate",
        ),
        pytest.param("accepted:\n\n  - errors.envelope\n", ":3: each entry must be a mapping", id="entry-not-a-map"),
    ],
)
def test_bad_baseline_file_raises_an_error_with_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(BaselineError) as info:
        load_baseline(path)
    assert str(info.value).startswith(str(path))
    assert message in str(info.value)


def test_missing_baseline_file_says_how_to_create_it(tmp_path: Path) -> None:
    with pytest.raises(BaselineError, match="no such file; create it with --update-baseline"):
        load_baseline(tmp_path / "nope.yaml")


def test_update_baseline_writes_current_findings_keeping_reasons_and_expiries(
    make_result: Make, tmp_path: Path
) -> None:
    path = _write(
        tmp_path,
        """\
accepted:
  - rule: errors.envelope
    operation: getProduct
    reason: legacy 404 shape, API-7
    expires: 2026-01-31
  - rule: pagination.complete
    operation: listProducts
    reason: fixed since
    api: goat
  - rule: pagination.totals
    operation: listProducts
    reason: not checked by this run
    api: goat
  - rule: errors.envelope
    operation: getInvoice
    reason: another API's
    api: billing
""",
    )
    write_baseline(path, make_result())
    entries = {(e.rule, e.operation): e for e in load_baseline(path)}
    assert set(entries) == {
        ("errors.envelope", "getInvoice"),
        ("pagination.totals", "listProducts"),  # its rule did not run: kept, not dropped as fixed
        ("errors.envelope", "getProduct"),
        ("pagination.no-duplicates", "listProducts"),
        ("idempotency.replay-same-resource", "createOrder"),
        ("auth.invalid-credentials", "listOrders"),
        ("rate-limit.headers", "*"),
    }
    kept = entries[("errors.envelope", "getProduct")]
    assert (kept.reason, kept.expires) == ("legacy 404 shape, API-7", date(2026, 1, 31))  # never extended
    added = entries[("rate-limit.headers", "*")]
    assert (added.reason.startswith("TODO"), added.api) == (True, "goat")
    # The updated file accepts everything this run found, except what has expired.
    result = apply_baseline(make_result(), load_baseline(path), TODAY)
    assert (result["summary"]["failed"], result["summary"]["accepted"]) == (1, 4)


def test_update_baseline_creates_the_file(make_result: Make, tmp_path: Path) -> None:
    path = tmp_path / "ci" / "baseline.yaml"
    written = write_baseline(path, make_result())
    assert load_baseline(path) == written and len(written) == 5
    assert path.read_text().startswith("# Accepted deviations")
