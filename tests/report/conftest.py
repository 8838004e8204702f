"""Fake run results for the report tests: several operations and categories, every status."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

HOSTILE = "<script>alert('xss')</script>"


def _exchange(
    method: str,
    url: str,
    *,
    body: str | None = None,
    status: int = 200,
    response_body: str = "{}",
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "request": {
            "method": method,
            "url": url,
            "headers": {"Accept": "application/json", "Authorization": "Bearer [REDACTED]", **(headers or {})},
            "body": body,
        },
        "response": {"status": status, "headers": {"Content-Type": "application/json"}, "body": response_body},
    }


def _finding(rule: str, operation: str, message: str, **extra: Any) -> dict[str, Any]:
    category = rule.split(".", 1)[0]
    return {
        "rule": rule,
        "category": category,
        "tier": extra.pop("tier", "documented"),
        "operation": operation,
        "title": extra.pop("title", rule.split(".", 1)[1].replace("-", " ")),
        "message": message,
        "source": extra.pop("source", f"The docs promise {rule}."),
        "request": None,
        "response": None,
        "accepted": False,
        "baseline_reason": None,
        **extra,
    }


BASE = "http://127.0.0.1:8123/v1"
BIG_PAGE = json.dumps(
    {"data": [{"id": f"p-{i:04d}", "name": f"Product {i}", "price": i * 3} for i in range(300)], "next_cursor": "abc"}
)

# (rule, operation, outcome): the checks the fake engine ran.
CHECKS = [
    ("schema.response-schema", "listProducts", "passed"),
    ("schema.response-schema", "getProduct", "passed"),
    ("schema.response-schema", "createOrder", "passed"),
    ("schema.response-schema", "listOrders", "passed"),
    ("schema.status-code", "createOrder", "passed"),
    ("errors.envelope", "getProduct", "failed"),
    ("errors.not-found", "getProduct", "passed"),
    ("errors.bad-parameter", "listProducts", "passed"),
    ("errors.unknown-route", "*", "passed"),
    ("pagination.no-duplicates", "listProducts", "failed"),
    ("pagination.complete", "listProducts", "passed"),
    ("pagination.max-limit", "listProducts", "passed"),
    ("pagination.no-duplicates", "listOrders", "passed"),
    ("pagination.sort-order", "listOrders", "skipped"),
    ("idempotency.replay-same-resource", "createOrder", "failed"),
    ("idempotency.conflict", "createOrder", "passed"),
    ("auth.missing-credentials", "listOrders", "passed"),
    ("auth.invalid-credentials", "listOrders", "failed"),
    ("auth.public-operations", "listProducts", "passed"),
    ("rate-limit.headers", "*", "failed"),
    ("rate-limit.exceeded", "*", "skipped"),
]


def result_dict() -> dict[str, Any]:
    """Returns a fresh fake result of the `goat` API: 4 failed, 1 accepted, 2 skipped outcomes."""
    findings = [
        _finding(
            "pagination.no-duplicates",
            "listProducts",
            f"Item p-0049 appeared on pages 1 and 2 {HOSTILE}.\n\nReturn each item once per walk.",
            title="No item appears twice in a walk",
            source="Pages never overlap: each product appears exactly once.",
            **_exchange("GET", f"{BASE}/products?limit=50&cursor=abc", response_body=BIG_PAGE),
        ),
        _finding(
            "errors.envelope",
            "getProduct",
            'The 404 body was {"message": ...}; the docs show {"error": {"code", "message"}}.\n\n'
            "Answer every error with the documented envelope.",
            title="Errors use the documented envelope",
            source='Errors are returned as {"error": {"code": ..., "message": ...}}.',
            **_exchange("GET", f"{BASE}/products/does-not-exist", status=404, response_body='{"message": "not found"}'),
        ),
        _finding(
            "idempotency.replay-same-resource",
            "createOrder",
            "The replay created a second order (o-2 after o-1).\n\nStore the key and replay the response.",
            title="A replay returns the same resource",
            source="Retrying with the same Idempotency-Key returns the original order.",
            **_exchange(
                "POST",
                f"{BASE}/orders",
                status=201,
                body='{"customer": "O\'Brien", "items": [{"sku": "p-1", "qty": 2}]}',
                headers={"Content-Type": "application/json", "Idempotency-Key": "k-123"},
                response_body='{"id": "o-2"}',
            ),
        ),
        _finding(
            "auth.invalid-credentials",
            "listOrders",
            "A wrong key got 200.\n\nRefuse it with 401.",
            title="Invalid credentials are refused",
            accepted=True,
            baseline_reason="Staging accepts any key until SEC-42 lands",
            **_exchange("GET", f"{BASE}/orders?api_key=[REDACTED]"),
        ),
        _finding(
            "rate-limit.headers",
            "*",
            "X-RateLimit-Remaining was missing on 3 of 40 responses.",
            title="Rate-limit headers are present",
            tier="inferred",
        ),
    ]
    checks = [
        {
            "rule": rule,
            "category": rule.split(".", 1)[0],
            "operation": operation,
            "outcome": outcome,
            "reason": "--probe-rate-limit not given" if outcome == "skipped" else "",
        }
        for rule, operation, outcome in CHECKS
    ]
    return {
        "api": "goat",
        "base_url": BASE,
        "started_at": "2026-11-23T10:00:00Z",
        "duration_s": 12.3,
        "requests_sent": 812,
        "seed": 0,
        "tool_version": "0.1.0",
        "summary": {"passed": 14, "failed": 4, "skipped": 2, "accepted": 1},
        "checks": checks,
        "findings": findings,
    }


@pytest.fixture
def make_result() -> Callable[..., dict[str, Any]]:
    """Returns a factory of fresh fake results; keyword arguments override top-level keys.

    Example: `make_result(api="other", findings=[])`.
    """

    def make(**overrides: Any) -> dict[str, Any]:
        data = copy.deepcopy(result_dict())
        data.update(overrides)
        return data

    return make
