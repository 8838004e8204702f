"""Stateful: what a create operation returns can be read back through the spec's links."""

from __future__ import annotations

from typing import Any

import pytest

from conformance.checks.schema import judge_documented_status
from conformance.checks.transport import judge_transport
from conformance.findings import finding
from conformance.profile import resolve_pointer, resolve_ref
from conformance.suite.conftest import Verdict, build_or_skip, require_writes
from conformance.target import RecipeError, Target, patched_body

BODY = "$response.body#"
# Refusals of a linked write that say nothing about whether the created resource exists: payment
# declined, a permission the key lacks, a conflict with the resource's state, a rate limit.
NOT_STATE = {402, 403, 409, 429}


def response_links(target: Target, operation_id: str, status: int) -> dict[str, Any]:
    """Returns the links documented for `status` (or its 2XX/default entry) of the operation."""
    responses = target.operation(operation_id).definition.get("responses", {})
    for key in (str(status), "2XX", "default"):
        if key in responses:
            response = resolve_ref(target.profile.spec, responses[key])
            links = response.get("links") or {}
            return {name: resolve_ref(target.profile.spec, link) for name, link in links.items()}
    return {}


@pytest.mark.rules("schema.stateful", "schema.status-code")
@pytest.mark.sends_valid_requests
def test_created_resource_is_readable(target: Target, verdict: Verdict, linked_op: str) -> None:
    """Fails when a resource a create operation returned cannot be used through the operation's links.

    A GET link must read it back; a link to a write (storefront: paying for the new order) is sent with the
    target's recipe, the link's parameters and `requestBody` fields filled in from the create's answer.
    """
    require_writes(target)
    request = build_or_skip(target, linked_op)
    created = target.client.request(**request)
    transport = judge_transport(created, linked_op, target.secrets)
    if transport:
        verdict.add(transport)
        verdict.conclude()
    if not 200 <= (created.status or 0) < 300:
        pytest.skip(f"the create answered {created.status}; nothing to read back")
    verdict.add(judge_documented_status(target.profile, created, linked_op, target.secrets))
    try:
        body = created.json()
    except ValueError:
        pytest.skip("the create did not answer JSON")
    followed = 0
    for name, link in response_links(target, linked_op, created.status or 0).items():
        op_id = link.get("operationId")
        if not op_id or op_id not in target.profile.operations:
            continue
        next_op = target.operation(op_id)
        params = {
            param.split(".", 1)[-1]: _link_value(expression, body)
            for param, expression in (link.get("parameters") or {}).items()
        }
        path_params = {k: v for k, v in params.items() if k in next_op.path_params}
        query = {k: v for k, v in params.items() if k not in path_params and next_op.param(k, "query")}
        fields = link.get("requestBody")
        fields = (
            {k: _link_value(v, body) for k, v in fields.items()}
            if isinstance(fields, dict)
            else (_link_value(fields, body) if fields is not None else None)
        )
        missing = [k for k, v in {**path_params, **(fields if isinstance(fields, dict) else {})}.items() if v is None]
        if missing or (link.get("requestBody") is not None and fields is None):
            verdict.add(
                [
                    finding(
                        "schema.stateful",
                        linked_op,
                        f"link {name!r}: the create's answer has no value for "
                        f"{', '.join(missing) or 'the request body'} ({link.get('parameters') or ''}"
                        f"{link.get('requestBody') or ''}).",
                        exchange=created,
                        secrets=target.secrets,
                    )
                ]
            )
            continue
        overrides: dict[str, Any] = {"path_params": path_params, "query": query}
        try:
            if fields is not None:
                overrides.update(patched_body(target, op_id, fields) if isinstance(fields, dict) else {"body": fields})
            request = target.build(op_id, **overrides)
        except RecipeError:
            continue  # no recipe for the linked operation here: nothing to follow
        after = target.client.request(**request)
        followed += 1
        transport = judge_transport(after, op_id, target.secrets)
        if transport:
            verdict.add(transport)
        elif not 200 <= (after.status or 0) < 300 and not (next_op.method != "GET" and after.status in NOT_STATE):
            what = "readable" if next_op.method == "GET" else "usable through its links"
            verdict.add(
                [
                    finding(
                        "schema.stateful",
                        linked_op,
                        f"{next_op.method} {next_op.path} for the resource {linked_op} just created "
                        f"({link_summary(path_params, fields)}) answered {after.status}; a created "
                        f"resource must be {what}.",
                        exchange=after,
                        secrets=target.secrets,
                    )
                ]
            )
    if not followed and not verdict.findings:
        pytest.skip("no link to follow")
    verdict.conclude()


def _link_value(expression: Any, body: Any) -> Any:
    """The value of a link parameter or body field: a `$response.body#` pointer into the create's answer
    (None when it is not there) or a literal."""
    if isinstance(expression, str) and expression.startswith(BODY):
        try:
            return resolve_pointer(body, expression[len(BODY) :])
        except KeyError:
            return None
    return expression


def link_summary(path_params: dict[str, Any], fields: Any) -> str:
    parts = [f"{k}={v!r}" for k, v in path_params.items()]
    if isinstance(fields, dict):
        parts += [f"{k}={v!r}" for k, v in fields.items()]
    elif fields is not None:
        parts.append(f"body {fields!r}")
    return ", ".join(parts)


@pytest.mark.rules("schema.positive-data")
@pytest.mark.sends_valid_requests
def test_valid_request_is_accepted(target: Target, verdict: Verdict, valid_request: dict[str, Any]) -> None:
    """Fails when a request the documents say is valid (an unknown filter value, an unknown code) is refused."""
    operation = valid_request["operation"]
    op = target.operation(operation)
    if op.method != "GET":
        require_writes(target)
    overrides: dict[str, Any] = {}
    variables = valid_request.get("variables")
    try:
        if "query" in valid_request:
            overrides["query"] = target.substitute(operation, valid_request["query"], variables)
        if "body_patch" in valid_request:
            overrides.update(patched_body(target, operation, valid_request["body_patch"], variables))
    except RecipeError as exc:
        pytest.skip(f"cannot build a request for {operation}: {exc}")
    request = build_or_skip(target, operation, **overrides)
    exchange = target.client.request(**request)
    transport = judge_transport(exchange, operation, target.secrets)
    if transport:
        verdict.add(transport)
    elif not 200 <= (exchange.status or 0) < 300:
        verdict.add(
            [
                finding(
                    "schema.positive-data",
                    operation,
                    f"{op.method} {op.path} with {valid_request['why']} answered {exchange.status}; "
                    "documented: accepted.",
                    rule=valid_request,
                    exchange=exchange,
                    secrets=target.secrets,
                )
            ]
        )
    verdict.conclude()
