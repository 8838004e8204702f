"""Idempotency: replays return the same resource, conflicts are refused, races create one."""

from __future__ import annotations

import copy
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from conformance.checks.errors import judge_error
from conformance.checks.idempotency import judge_conflict, judge_replay
from conformance.checks.idempotency import resource_id as _resource_id
from conformance.checks.transport import judge_transport
from conformance.client import Exchange
from conformance.findings import finding
from conformance.suite.conftest import Verdict, build_or_skip, require_writes
from conformance.target import Target

CONCURRENT_REQUESTS = 20


def _send(target: Target, request: dict[str, Any], header: str, key: str | None) -> Exchange:
    # Drop any key the request recipe already carries (in whatever case), so `key=None` really sends none.
    headers = {name: value for name, value in (request.get("headers") or {}).items() if name.lower() != header.lower()}
    if key is not None:
        headers[header] = key
    return target.client.request(**{**request, "headers": headers})


def _created(target: Target, rule: dict[str, Any], verdict: Verdict, exchange: Exchange, what: str) -> Any:
    """Returns the created resource's id, or records why the first create did not succeed and stops."""
    transport = judge_transport(exchange, rule["operation"], target.secrets)
    if transport:
        verdict.add(transport)
        verdict.conclude()
    if not 200 <= (exchange.status or 0) < 300:
        pytest.skip(
            f"{what} answered {exchange.status}: the recipe does not create here, so idempotency cannot be judged"
        )
    return _resource_id(exchange, rule["resource_id"])


def _prepare(target: Target, idempotent: dict[str, Any]) -> dict[str, Any]:
    require_writes(target)
    return build_or_skip(target, idempotent["operation"])


@pytest.mark.rules("idempotency.replay-same-resource", "idempotency.replay-same-response")
@pytest.mark.sends_valid_requests
def test_replay_same_resource(target: Target, verdict: Verdict, idempotent: dict[str, Any]) -> None:
    """Fails when a replay with the same key and body creates a second resource or answers differently."""
    request = _prepare(target, idempotent)
    key = f"conformance-{uuid.uuid4().hex}"
    first = _send(target, request, idempotent["header"], key)
    _created(target, idempotent, verdict, first, "the first create")
    second = _send(target, request, idempotent["header"], key)
    findings, notes = judge_replay(idempotent, first, second, target.secrets)
    verdict.add(findings)
    verdict.note(notes)
    verdict.conclude()


@pytest.mark.rules("idempotency.conflict", "errors.envelope")
def test_conflict(target: Target, verdict: Verdict, idempotent: dict[str, Any]) -> None:
    """Fails when the same key with a different body is not refused (409/422) with the envelope."""
    request = _prepare(target, idempotent)
    key = f"conformance-{uuid.uuid4().hex}"
    first = _send(target, request, idempotent["header"], key)
    first_id = _created(target, idempotent, verdict, first, "the first create")
    changed = _changed_body(request)
    if changed is None:
        pytest.skip("cannot derive a different body from the recipe")
    second = _send(target, changed, idempotent["header"], key)
    findings = judge_conflict(target.profile, idempotent, first_id, second, target.secrets)
    verdict.add(findings)
    verdict.conclude()


def _changed_body(request: dict[str, Any]) -> dict[str, Any] | None:
    """Returns the request with one number in its body changed (or a marker field added)."""
    changed = copy.deepcopy(request)
    body = changed.get("json")
    if not isinstance(body, dict):
        return None

    def bump(node: Any) -> bool:
        if isinstance(node, dict):
            for key, value in node.items():
                if isinstance(value, int) and not isinstance(value, bool) and key in ("quantity", "amount", "count"):
                    node[key] = value + 1
                    return True
                if bump(value):
                    return True
        elif isinstance(node, list):
            return any(bump(value) for value in node)
        return False

    if not bump(body):
        body["conformance_marker"] = uuid.uuid4().hex
    return changed


@pytest.mark.rules("idempotency.concurrent")
@pytest.mark.sends_valid_requests
def test_concurrent(target: Target, verdict: Verdict, idempotent: dict[str, Any]) -> None:
    """Fails when parallel requests sharing one key create more than one resource."""
    request = _prepare(target, idempotent)
    key = f"conformance-{uuid.uuid4().hex}"
    with ThreadPoolExecutor(max_workers=CONCURRENT_REQUESTS) as pool:
        exchanges = list(
            pool.map(lambda _: _send(target, request, idempotent["header"], key), range(CONCURRENT_REQUESTS))
        )
    created = [e for e in exchanges if 200 <= (e.status or 0) < 300]
    if not created:
        pytest.skip(f"no parallel create succeeded (statuses: {sorted({e.status for e in exchanges}, key=str)})")
    ids = {str(_resource_id(e, idempotent["resource_id"])) for e in created}
    if len(ids) > 1:
        verdict.add(
            [
                finding(
                    "idempotency.concurrent",
                    idempotent["operation"],
                    f"{CONCURRENT_REQUESTS} parallel requests with one {idempotent['header']} created "
                    f"{len(ids)} different resources ({', '.join(sorted(ids)[:3])}…); exactly one is allowed.",
                    rule=idempotent,
                    exchange=created[-1],
                    secrets=target.secrets,
                )
            ]
        )
    verdict.conclude()


@pytest.mark.rules("idempotency.key-required", "errors.envelope")
def test_key_required(target: Target, verdict: Verdict, idempotent: dict[str, Any]) -> None:
    """Fails when a write without the required key is not refused with 400."""
    if not idempotent["required"]:
        pytest.skip(f"{idempotent['header']} is optional for {idempotent['operation']}")
    request = _prepare(target, idempotent)
    exchange = _send(target, request, idempotent["header"], None)
    verdict.add(
        judge_error(
            target.profile,
            exchange,
            rule_id="idempotency.key-required",
            operation=idempotent["operation"],
            expected=idempotent.get("missing_status", [400]),
            what=f"a create without {idempotent['header']}",
            secrets=target.secrets,
            rule=idempotent,
        )
    )
    verdict.conclude()
