"""The result model: how checks and findings become outcomes, and what a bad result says."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import conformance.report
from conformance.report.model import Result, ResultError

Make = Callable[..., dict[str, Any]]


def test_public_names_are_pinned() -> None:
    assert sorted(conformance.report.__all__) == [
        "ResultError",
        "curl_command",
        "load_result",
        "write_html",
        "write_index",
    ]


def test_summary_counts_one_outcome_per_rule_and_operation(make_result: Make) -> None:
    assert Result.from_dict(make_result()).summary() == {"passed": 14, "failed": 4, "skipped": 2, "accepted": 1}


def test_outcome_is_accepted_when_all_its_findings_are_accepted(make_result: Make) -> None:
    outcomes = {(o.rule, o.operation): o for o in Result.from_dict(make_result()).outcomes()}
    assert outcomes[("auth.invalid-credentials", "listOrders")].status == "accepted"
    assert outcomes[("pagination.no-duplicates", "listProducts")].status == "failed"
    assert outcomes[("rate-limit.exceeded", "*")].status == "skipped"
    assert outcomes[("rate-limit.exceeded", "*")].reason == "--probe-rate-limit not given"


def test_failed_check_without_finding_counts_as_failed(make_result: Make) -> None:
    data = make_result(findings=[])
    outcomes = {(o.rule, o.operation): o.status for o in Result.from_dict(data).outcomes()}
    assert outcomes[("errors.envelope", "getProduct")] == "failed"


def test_repeated_checks_of_one_pair_count_once_and_failure_wins(make_result: Make) -> None:
    data = make_result()
    data["checks"].append({"rule": "errors.envelope", "operation": "getProduct", "outcome": "passed"})
    data["checks"].append({"rule": "pagination.sort-order", "operation": "listOrders", "outcome": "passed"})
    outcomes = {(o.rule, o.operation): o.status for o in Result.from_dict(data).outcomes()}
    assert outcomes[("errors.envelope", "getProduct")] == "failed"
    assert outcomes[("pagination.sort-order", "listOrders")] == "passed"
    assert Result.from_dict(data).summary()["passed"] == 15


def test_api_wide_failure_is_shown_at_the_operations_its_findings_name(make_result: Make) -> None:
    data = make_result(
        checks=[{"rule": "auth.missing-credentials", "operation": "*", "outcome": "failed"}], findings=[]
    )
    data["findings"] = [
        {"rule": "auth.missing-credentials", "operation": op, "message": "no key got 200"}
        for op in ("listOrders", "getOrder")
    ]
    outcomes = [(o.rule, o.operation, o.status) for o in Result.from_dict(data).outcomes()]
    assert outcomes == [
        ("auth.missing-credentials", "listOrders", "failed"),
        ("auth.missing-credentials", "getOrder", "failed"),
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param([], "expected a JSON object, got list", id="not-an-object"),
        pytest.param({"checks": []}, "'api' is missing", id="no-api"),
        pytest.param({"api": "goat", "checks": {}}, "'checks' must be a list, not dict", id="checks-not-a-list"),
        pytest.param(
            {"api": "goat", "checks": [{"rule": "x", "operation": "op", "outcome": "ok"}]},
            "checks[0].outcome must be one of passed, failed, skipped, not 'ok'",
            id="bad-outcome",
        ),
        pytest.param(
            {"api": "goat", "findings": [{"operation": "op"}]}, "findings[0].rule is missing", id="finding-without-rule"
        ),
        pytest.param(
            {"api": "goat", "findings": [{"rule": "r", "request": "GET /"}]},
            "findings[0].request must be an object or null",
            id="request-not-an-object",
        ),
    ],
)
def test_bad_result_raises_result_error_naming_the_place(data: Any, message: str) -> None:
    with pytest.raises(ResultError) as info:
        Result.from_dict(data)
    assert str(info.value) == message
