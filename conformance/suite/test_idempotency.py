"""Idempotency: replays return the same resource, conflicts are refused, races create one."""

from __future__ import annotations

import copy
import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from conformance.checks.common import judge_error, judge_transport
from conformance.client import Exchange
from conformance.findings import finding
from conformance.profile import resolve_pointer
from conformance.suite.conftest import Verdict, build_or_skip, require_writes
from conformance.target import Target

CONCURRENT_REQUESTS = 20


def _send(target: Target, request: dict[str, Any], header: str, key: str | None) -> Exchange:
    # Drop any key the request recipe already carries (in whatever case), so `key=None` really sends none.
    headers = {name: value for name, value in (request.get("headers") or {}).items() if name.lower() != header.lower()}
    if key is not None:
        headers[header] = key
    return target.client.request(**{**request, "headers": headers})


def _resource_id(exchange: Exchange, pointer: str) -> Any:
    try:
        return resolve_pointer(exchange.json(), pointer)
    except (KeyError, ValueError):
        return None


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
def test_replay_same_resource(target: Target, verdict: Verdict, idempotent: dict[str, Any]) -> None:
    """Fails when a replay with the same key and body creates a second resource or answers differently."""
    request = _prepare(target, idempotent)
    key = f"conformance-{uuid.uuid4().hex}"
    first = _send(target, request, idempotent["header"], key)
    first_id = _created(target, idempotent, verdict, first, "the first create")
    second = _send(target, request, idempotent["header"], key)
    second_id = _resource_id(second, idempotent["resource_id"])
    if second.status != first.status or second_id != first_id:
        verdict.add(
            [
                finding(
                    "idempotency.replay-same-resource",
                    idempotent["operation"],
                    f"a replay with the same {idempotent['header']} and body answered {second.status} with id "
                    f"{second_id!r}; the first answer was {first.status} with id {first_id!r}.\n\n"
                    "A replay must return the original resource and status, creating nothing.",
                    rule=idempotent,
                    exchange=second,
                    secrets=target.secrets,
                )
            ]
        )
    else:
        _judge_same_response(target, verdict, idempotent, first, second)
    verdict.conclude()


# Fields a replay may show in their current state (the field's own name, not its parents'): the resource can
# have moved on since the first answer.
_MAY_CHANGE = re.compile(r"status|updated|modified", re.IGNORECASE)


def _judge_same_response(
    target: Target, verdict: Verdict, idempotent: dict[str, Any], first: Exchange, second: Exchange
) -> None:
    """A replay answers the first response: a field that differs is a finding, a state field a note."""
    try:
        before, after = first.json(), second.json()
    except ValueError:
        return
    differences = _differences(before, after)
    changed = [path for path in differences if not _MAY_CHANGE.search(path.rsplit("/", 1)[-1])]
    moved = [path for path in differences if _MAY_CHANGE.search(path.rsplit("/", 1)[-1])]
    header = idempotent["header"]
    if changed:
        verdict.add(
            [
                finding(
                    "idempotency.replay-same-response",
                    idempotent["operation"],
                    f"a replay with the same {header} and body answered the same resource with other values at "
                    f"{', '.join(changed[:5])}: {_shown(before, after, changed[0])}.\n\nA replay must return the "
                    "first response (ids, payment links, timestamps), not a rebuilt one.",
                    rule=idempotent,
                    exchange=second,
                    secrets=target.secrets,
                )
            ]
        )
    elif moved:
        verdict.note(
            [
                finding(
                    "idempotency.replay-same-response",
                    idempotent["operation"],
                    f"a replay with the same {header} answered the resource in its current state "
                    f"({', '.join(moved[:5])} changed since the first answer); the documents do not say whether a "
                    "replay repeats the first answer or shows the resource as it is now.",
                    rule=idempotent,
                    exchange=second,
                    secrets=target.secrets,
                )
            ]
        )


def _differences(before: Any, after: Any, path: str = "") -> list[str]:
    """JSON pointers where `after` differs from `before` (fields only `after` has are not differences)."""
    if isinstance(before, dict) and isinstance(after, dict):
        found: list[str] = []
        for key, value in before.items():
            found += _differences(value, after.get(key), f"{path}/{key}")
        return found
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        return [
            p for i, (b, a) in enumerate(zip(before, after, strict=True)) for p in _differences(b, a, f"{path}/{i}")
        ]
    return [] if before == after else [path or "/"]


def _shown(before: Any, after: Any, pointer: str) -> str:
    def at(document: Any) -> Any:
        try:
            return resolve_pointer(document, pointer)
        except KeyError:
            return None

    return f"{pointer} was {at(before)!r}, now {at(after)!r}"


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
    findings = judge_error(
        target.profile,
        second,
        rule_id="idempotency.conflict",
        operation=idempotent["operation"],
        expected=idempotent["conflict_status"],
        what=f"the same {idempotent['header']} with a different body (first id {first_id!r})",
        secrets=target.secrets,
        rule=idempotent,
    )
    code = idempotent.get("conflict_code")
    if code and second.status in idempotent["conflict_status"] and not findings:
        try:
            said = resolve_pointer(second.json(), target.profile.data["errors"]["code_pointer"])
        except (KeyError, ValueError):
            said = None
        if said != code:
            findings.append(
                finding(
                    "idempotency.conflict",
                    idempotent["operation"],
                    f"the conflict answered code {said!r}; documented: {code!r}.",
                    rule=idempotent,
                    exchange=second,
                    secrets=target.secrets,
                )
            )
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
