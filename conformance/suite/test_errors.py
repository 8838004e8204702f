"""Errors: provoke every documented error and require the API's envelope and conventions."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from conformance.checks.errors import judge_error
from conformance.checks.transport import judge_transport
from conformance.client import Exchange
from conformance.findings import finding
from conformance.suite.conftest import Verdict, build_or_skip, require_writes
from conformance.target import RecipeError, Target, patched_body

ENVELOPE_RULES = ("errors.envelope", "errors.code-convention", "errors.request-id")


@pytest.mark.rules("errors.not-found", *ENVELOPE_RULES)
def test_not_found(target: Target, verdict: Verdict, not_found: dict[str, Any]) -> None:
    """Fails when an unknown resource id does not answer 404 with the envelope."""
    operation = not_found["operation"]
    op = target.operation(operation)
    if op.method != "GET":
        require_writes(target)
    request = build_or_skip(target, operation, path_params=not_found["path_params"])
    exchange = target.client.request(**request)
    verdict.add(
        judge_error(
            target.profile,
            exchange,
            rule_id="errors.not-found",
            operation=operation,
            expected=not_found.get("status", [404]),
            what=f"{op.method} an unknown {op.path}",
            secrets=target.secrets,
        )
    )
    verdict.conclude()


@pytest.mark.rules("errors.unknown-route", *ENVELOPE_RULES)
def test_unknown_route(target: Target, verdict: Verdict) -> None:
    """Fails when a path the API does not define does not answer 404 with the envelope.

    `errors.unknown_route.suffix` ends the made-up path like the API's own (Datasette's `.json`).
    """
    probe = target.profile.data["errors"].get("unknown_route", {})
    if probe is False:
        pytest.skip("the profile does not check unknown routes (errors.unknown_route: false)")
    path = f"/conformance-no-such-route-{uuid.uuid4().hex[:8]}{probe.get('suffix', '')}"
    exchange = target.client.request("GET", path, operation="*")
    verdict.add(
        judge_error(
            target.profile,
            exchange,
            rule_id="errors.unknown-route",
            operation="*",
            expected=[404],
            what=f"GET {path} (a route the API does not define)",
            secrets=target.secrets,
        )
    )
    verdict.conclude()


@pytest.mark.rules("errors.method-not-allowed", *ENVELOPE_RULES)
def test_method_not_allowed(target: Target, verdict: Verdict, wrong_method: dict[str, Any]) -> None:
    """Fails when a wrong method does not answer 405 with the envelope and an Allow header."""
    path, method = wrong_method["path"], wrong_method["method"]
    concrete = path
    for name, value in (wrong_method.get("path_params") or {}).items():
        concrete = concrete.replace("{" + name + "}", str(value))
    concrete = concrete.replace("{", "conformance-").replace("}", "")
    kwargs: dict[str, Any] = {}
    if method in ("POST", "PUT", "PATCH"):
        kwargs["json"] = {}
    exchange = target.client.request(method, concrete, operation="*", **kwargs)
    what = f"{method} {path} (not a documented method of this path)"
    findings = judge_error(
        target.profile,
        exchange,
        rule_id="errors.method-not-allowed",
        operation="*",
        expected=[405],
        what=what,
        secrets=target.secrets,
    )
    if exchange.status == 405:
        allow = exchange.header("Allow")
        documented = {
            m.upper()
            for m in (target.profile.spec["paths"].get(path) or {})
            if m in ("get", "post", "put", "patch", "delete")
        }
        offered = {m.strip().upper() for m in (allow or "").split(",") if m.strip()}
        problem = None
        if not allow:
            problem = "405 without an Allow header; RFC 9110 requires Allow on 405 listing the path's methods."
        elif method in offered or not (documented & offered):
            problem = f"Allow is {allow!r}; documented methods of {path}: {', '.join(sorted(documented))}."
        if problem:
            findings.append(
                finding(
                    "errors.method-not-allowed",
                    "*",
                    f"{what}: {problem}",
                    rule=target.profile.data["errors"],
                    exchange=exchange,
                    secrets=target.secrets,
                )
            )
    verdict.add(findings)
    verdict.conclude()


def _send_case(target: Target, case: dict[str, Any]) -> Exchange:
    """Sends the operation's recipe changed as a profile case says (query, path_params, body_patch)."""
    operation = case["operation"]
    if target.operation(operation).method != "GET":
        require_writes(target)
    variables = case.get("variables")
    overrides: dict[str, Any] = {}
    try:
        for key in ("query", "path_params"):
            if key in case:
                overrides[key] = target.substitute(operation, case[key], variables)
        if "body_patch" in case:
            build_or_skip(target, operation)
            overrides.update(patched_body(target, operation, case["body_patch"], variables))
    except RecipeError as exc:
        pytest.skip(f"cannot build the request for {operation}: {exc}")
    return target.ask(build_or_skip(target, operation, **overrides))  # a read may share its answer


def _case_why(case: dict[str, Any]) -> str:
    changes = {**case.get("query", {}), **case.get("path_params", {}), **case.get("body_patch", {})}
    return case.get("why") or ", ".join(f"{k}={v!r}" for k, v in changes.items())


@pytest.mark.rules("errors.business-rule", *ENVELOPE_RULES)
def test_business_rule(target: Target, verdict: Verdict, business_rule: dict[str, Any]) -> None:
    """Fails when a request the documents say must be refused for what it asks is not refused as documented."""
    operation = business_rule["operation"]
    op = target.operation(operation)
    exchange = _send_case(target, business_rule)
    verdict.add(
        judge_error(
            target.profile,
            exchange,
            rule_id="errors.business-rule",
            operation=operation,
            expected=business_rule["status"],
            what=f"{op.method} {op.path}: {_case_why(business_rule)}",
            secrets=target.secrets,
            rule=business_rule,
        )
    )
    verdict.conclude()


@pytest.mark.rules("errors.bad-parameter", "schema.negative-data", *ENVELOPE_RULES)
def test_bad_parameter(target: Target, verdict: Verdict, bad_parameter: dict[str, Any]) -> None:
    """Fails when a documented-invalid parameter or body value is not refused with the envelope."""
    operation = bad_parameter["operation"]
    op = target.operation(operation)
    exchange = _send_case(target, bad_parameter)
    allowed = not 200 <= (exchange.status or 0) < 300 and _control_or_skip(
        target, operation, exchange.status or exchange.error
    )
    why = _case_why(bad_parameter)
    # A documented bound of a body field broken: the negative-data rule; of a query/path parameter: bad-parameter.
    rule_id = "schema.negative-data" if "body_patch" in bad_parameter else "errors.bad-parameter"
    what = f"{op.method} {op.path} with {why}"
    verdict.add(
        judge_error(
            target.profile,
            exchange,
            rule_id=rule_id,
            operation=operation,
            expected=bad_parameter["status"],
            what=what,
            secrets=target.secrets,
            rule=bad_parameter if "tier" in bad_parameter else None,
            forbidden_first_ok=not allowed,
        )
    )
    if rule_id != "schema.negative-data" and 200 <= (exchange.status or 0) < 300:
        # Accepting what the documents forbid is also the property tests' negative-data failure.
        verdict.add(
            [
                finding(
                    "schema.negative-data",
                    operation,
                    f"{what} was accepted ({exchange.status}); "
                    "a request that breaks a documented constraint must get a 4xx answer.",
                    rule=bad_parameter,
                    exchange=exchange,
                    secrets=target.secrets,
                )
            ]
        )
    verdict.conclude()


def _control_or_skip(target: Target, operation: str, refused_with: Any) -> bool:
    """Skips the bad-parameter check unless the same request without the bad value (the recipe) succeeds.

    Returns True when the control was sent and succeeded (the key may make this request), False when none
    was sent.

    A refusal proves the bad value was refused only when the request is otherwise valid; without a control, a
    request refused for another reason (a missing parameter, an id that does not exist here) is a false pass or
    a finding blamed on the wrong value. Actions on an existing resource (a write with path parameters: cancel,
    refund) get no control: repeating them would change that resource, so they are judged as they stand.
    """
    op = target.operation(operation)
    if op.method != "GET" and op.path_params:
        return False
    try:
        control = target.answer(operation)
    except RecipeError as exc:
        pytest.skip(f"no control request for {operation} (the request without the bad value): {exc}")
    if not 200 <= (control.status or 0) < 300:
        pytest.skip(
            f"{op.method} {op.path} without the bad value (the control request) answered "
            f"{control.status or control.error}; the refusal ({refused_with}) cannot be blamed on the bad value"
        )
    return True


@pytest.mark.rules("errors.bad-body", *ENVELOPE_RULES)
def test_bad_body(target: Target, verdict: Verdict, bad_body_op: str) -> None:
    """Fails when a body that is not valid JSON (or a nested JSON field that is not) is not refused with 400."""
    require_writes(target)
    op = target.operation(bad_body_op)
    request = build_or_skip(target, bad_body_op)
    if "data" in request:  # form-encoded: break every JSON-string field
        recipe = target.recipe(bad_body_op)
        broken = {k: ("{not json" if isinstance(v, dict | list) else v) for k, v in recipe.get("form", {}).items()}
        request = {**request, "data": broken}
        what = f"{op.method} {op.path} with a nested field that is not valid JSON"
    else:
        request.pop("json", None)
        request["content"] = b'{"broken": '
        request["headers"] = {**request.get("headers", {}), "Content-Type": "application/json"}
        what = f"{op.method} {op.path} with a body that is not valid JSON"
    exchange = target.client.request(**request)
    verdict.add(
        judge_transport(exchange, bad_body_op, target.secrets)
        or judge_error(
            target.profile,
            exchange,
            rule_id="errors.bad-body",
            operation=bad_body_op,
            expected=[400],
            what=what,
            secrets=target.secrets,
        )
    )
    verdict.conclude()
