"""Judging idempotent replays: the same key and body answer the first response; another body is refused.

The live suite (`conformance/suite/test_idempotency.py`) judges the replays it sends; `conformance drift`
the replays recorded traffic happens to hold.
"""

from __future__ import annotations

import re
from typing import Any

from conformance.checks.errors import judge_error
from conformance.client import Exchange
from conformance.findings import Finding, finding
from conformance.profile import Profile, resolve_pointer
from conformance.rules import Rule, register

__all__ = ["judge_conflict", "judge_replay", "resource_id"]

register(
    Rule(
        "idempotency.replay-same-resource",
        "A replay returns the same resource",
        "The same key with the same body returns the same resource and status, creating nothing.",
        passive="sequence",
        reads=("idempotency", "idempotency.header", "idempotency.resource_id", "idempotency.read"),
    )
)
register(
    Rule(
        "idempotency.replay-same-response",
        "A replay returns the first response",
        "The same key with the same body answers the first response again: the same ids, payment link and "
        "timestamps, not a rebuilt one.",
        passive="sequence",
        reads=("idempotency", "idempotency.header"),
    )
)
register(
    Rule(
        "idempotency.conflict",
        "Key reuse with another body is refused",
        "The same key with a different body is refused with a 4xx envelope and creates nothing.",
        passive="sequence",
        reads=("idempotency", "idempotency.conflict_status", "idempotency.conflict_code"),
    )
)
register(
    Rule(
        "idempotency.concurrent",
        "Concurrent same-key requests create one resource",
        "Parallel requests sharing one idempotency key create exactly one resource.",
        reads=("idempotency", "idempotency.header", "idempotency.resource_id"),
    )
)
register(
    Rule(
        "idempotency.key-required",
        "A missing key is refused",
        "Where the key is required, a write without it answers 400 with the envelope.",
        passive="exchange",
        reads=("idempotency", "idempotency.required", "idempotency.missing_status"),
    )
)

# Fields a replay may show in their current state (the field's own name, not its parents'): the resource can
# have moved on since the first answer.
_MAY_CHANGE = re.compile(r"status|updated|modified", re.IGNORECASE)


def resource_id(exchange: Exchange, pointer: str) -> Any:
    try:
        return resolve_pointer(exchange.json(), pointer)
    except (KeyError, ValueError):
        return None


def judge_replay(
    idempotent: dict[str, Any], first: Exchange, second: Exchange, secrets: tuple[str, ...]
) -> tuple[list[Finding], list[Finding]]:
    """Returns the findings and notes of a replay (`second`) of a create (`first`) with the same key and body.

    A replay answering another status or resource breaks replay-same-resource; the same resource with other
    values breaks replay-same-response; only state fields (status, updated…) changed is a note.
    """
    first_id = resource_id(first, idempotent["resource_id"])
    second_id = resource_id(second, idempotent["resource_id"])
    header = idempotent["header"]
    if second.status != first.status or second_id != first_id:
        message = (
            f"a replay with the same {header} and body answered {second.status} with id {second_id!r}; the first "
            f"answer was {first.status} with id {first_id!r}.\n\nA replay must return the original resource and "
            "status, creating nothing."
        )
        return [_f("idempotency.replay-same-resource", idempotent, message, second, secrets)], []
    try:
        before, after = first.json(), second.json()
    except ValueError:
        return [], []
    differences = _differences(before, after)
    changed = [path for path in differences if not _MAY_CHANGE.search(path.rsplit("/", 1)[-1])]
    moved = [path for path in differences if _MAY_CHANGE.search(path.rsplit("/", 1)[-1])]
    if changed:
        message = (
            f"a replay with the same {header} and body answered the same resource with other values at "
            f"{', '.join(changed[:5])}: {_shown(before, after, changed[0])}.\n\nA replay must return the "
            "first response (ids, payment links, timestamps), not a rebuilt one."
        )
        return [_f("idempotency.replay-same-response", idempotent, message, second, secrets)], []
    if moved:
        message = (
            f"a replay with the same {header} answered the resource in its current state "
            f"({', '.join(moved[:5])} changed since the first answer); the documents do not say whether a "
            "replay repeats the first answer or shows the resource as it is now."
        )
        return [], [_f("idempotency.replay-same-response", idempotent, message, second, secrets)]
    return [], []


def judge_conflict(
    profile: Profile, idempotent: dict[str, Any], first_id: Any, second: Exchange, secrets: tuple[str, ...]
) -> list[Finding]:
    """Fails when the same key with a different body (`second`) is not refused as documented, with the envelope."""
    findings = judge_error(
        profile,
        second,
        rule_id="idempotency.conflict",
        operation=idempotent["operation"],
        expected=idempotent["conflict_status"],
        what=f"the same {idempotent['header']} with a different body (first id {first_id!r})",
        secrets=secrets,
        rule=idempotent,
    )
    code = idempotent.get("conflict_code")
    if code and second.status in idempotent["conflict_status"] and not findings:
        try:
            said = resolve_pointer(second.json(), profile.data["errors"]["code_pointer"])
        except (KeyError, ValueError):
            said = None
        if said != code:
            message = f"the conflict answered code {said!r}; documented: {code!r}."
            findings.append(_f("idempotency.conflict", idempotent, message, second, secrets))
    return findings


def _f(rule_id: str, idempotent: dict[str, Any], message: str, exchange: Exchange, secrets: tuple[str, ...]) -> Finding:
    return finding(rule_id, idempotent["operation"], message, rule=idempotent, exchange=exchange, secrets=secrets)


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
