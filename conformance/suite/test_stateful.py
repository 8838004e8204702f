"""Stateful: what a create operation returns can be read back through the spec's links."""

from __future__ import annotations

from typing import Any

import pytest

from conformance.checks.common import judge_documented_status, judge_transport
from conformance.findings import finding
from conformance.profile import resolve_pointer, resolve_ref
from conformance.suite.conftest import Verdict, build_or_skip, require_writes
from conformance.target import RecipeError, Target

BODY = "$response.body#"


def response_links(target: Target, operation_id: str, status: int) -> dict[str, Any]:
    """Returns the links documented for `status` (or its 2XX/default entry) of the operation."""
    responses = target.operation(operation_id).definition.get("responses", {})
    for key in (str(status), "2XX", "default"):
        if key in responses:
            response = resolve_ref(target.profile.spec, responses[key])
            return {name: resolve_ref(target.profile.spec, link) for name, link in (response.get("links") or {}).items()}
    return {}


@pytest.mark.rules("schema.stateful", "schema.status-code")
def test_created_resource_is_readable(target: Target, verdict: Verdict, linked_op: str) -> None:
    """Fails when a resource a create operation returned cannot be read through the operation's links."""
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
        if not op_id or op_id not in target.profile.operations or target.operation(op_id).method != "GET":
            continue
        params: dict[str, Any] = {}
        for param, expression in (link.get("parameters") or {}).items():
            name_only = param.split(".", 1)[-1]
            if isinstance(expression, str) and expression.startswith(BODY):
                try:
                    params[name_only] = resolve_pointer(body, expression[len(BODY):])
                except KeyError:
                    params[name_only] = None
            else:
                params[name_only] = expression
        read_op = target.operation(op_id)
        path_params = {k: v for k, v in params.items() if k in read_op.path_params}
        if any(v is None for v in path_params.values()):
            verdict.add([finding("schema.stateful", linked_op,
                                 f"link {name!r}: the create's answer has no value for {link.get('parameters')}.",
                                 exchange=created, secrets=target.secrets)])
            continue
        try:
            read = target.send(op_id, path_params=path_params)
        except RecipeError as exc:
            pytest.skip(f"cannot build {op_id}: {exc}")
        followed += 1
        transport = judge_transport(read, op_id, target.secrets)
        if transport:
            verdict.add(transport)
        elif not 200 <= (read.status or 0) < 300:
            verdict.add([finding("schema.stateful", linked_op,
                                 f"{read_op.method} {read_op.path} for the resource {linked_op} just created "
                                 f"({path_params}) answered {read.status}; a created resource must be readable.",
                                 exchange=read, secrets=target.secrets)])
    if not followed and not verdict.findings:
        pytest.skip("no GET link to follow")
    verdict.conclude()


@pytest.mark.rules("schema.positive-data")
def test_valid_request_is_accepted(target: Target, verdict: Verdict, valid_request: dict[str, Any]) -> None:
    """Fails when a request the documents say is valid (an unknown filter value, an unknown code) is refused."""
    operation = valid_request["operation"]
    op = target.operation(operation)
    if op.method != "GET":
        require_writes(target)
    overrides: dict[str, Any] = {}
    if "query" in valid_request:
        overrides["query"] = valid_request["query"]
    if "body_patch" in valid_request:
        from conformance.suite.test_errors import patched_body

        build_or_skip(target, operation)
        overrides.update(patched_body(target, operation, valid_request["body_patch"]))
    request = build_or_skip(target, operation, **overrides)
    exchange = target.client.request(**request)
    transport = judge_transport(exchange, operation, target.secrets)
    if transport:
        verdict.add(transport)
    elif not 200 <= (exchange.status or 0) < 300:
        verdict.add([finding("schema.positive-data", operation,
                             f"{op.method} {op.path} with {valid_request['why']} answered {exchange.status}; "
                             "documented: accepted.", rule=valid_request, exchange=exchange, secrets=target.secrets)])
    verdict.conclude()
