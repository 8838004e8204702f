"""Authentication: protected operations refuse missing and invalid keys; public ones need none."""

from __future__ import annotations

from typing import Any

import pytest

from conformance.checks.auth import judge_key_location, judge_permission, judge_public, judge_refusal
from conformance.checks.errors import judge_envelope
from conformance.checks.transport import judge_transport
from conformance.client import AuthLocation
from conformance.profile import resolve_pointer
from conformance.suite.conftest import Verdict, build_or_skip, require_writes
from conformance.target import RecipeError, Target, patched_body

ENVELOPE_RULES = ("errors.envelope", "errors.code-convention")


def _probe_request(target: Target, operation_id: str) -> tuple[dict[str, Any], str | None]:
    """The request a key check is made with: the operation's recipe, an otherwise valid request.

    When the recipe cannot be built here, path parameters fall back to placeholders (a server checks
    credentials first); the second value then says why the recipe could not be used, else it is None.
    """
    op = target.operation(operation_id)
    try:
        return target.build(operation_id), None
    except RecipeError as exc:
        reason = str(exc)
    placeholders = {name: "conformance-0" for name in op.path_params}
    for case in target.profile.data["errors"].get("not_found", []):
        if case["operation"] == operation_id:
            placeholders.update(case["path_params"])
    try:
        return target.build(operation_id, path_params=placeholders), reason
    except RecipeError:
        path = op.path
        for name, value in placeholders.items():
            path = path.replace("{" + name + "}", str(value))
        return {"method": op.method, "path": path, "operation": operation_id}, reason


def _refused(target: Target, verdict: Verdict, operation_id: str, credentials: str, rule_id: str) -> None:
    auth = target.profile.data["auth"]
    op = target.operation(operation_id)
    if op.method != "GET":
        require_writes(target)
    request, placeholder_reason = _probe_request(target, operation_id)
    exchange = target.client.request(credentials=credentials, **request)
    expected = auth["missing_status"] if credentials == "none" else auth["invalid_status"]
    what = f"{op.method} {op.path} with {'no' if credentials == 'none' else 'an invalid'} key"
    if (
        exchange.status is not None
        and exchange.status >= 400
        and exchange.status not in expected
        and not judge_transport(exchange, operation_id, target.secrets)
    ):
        # Another refusal (400, 404, 422...): it blames the key only when the same request with the valid key
        # is accepted; otherwise the request itself was refused and the answer says nothing about the key.
        if placeholder_reason is not None:
            pytest.skip(
                f"{what}: answered {exchange.status} to a request with placeholder path parameters (no valid "
                f"request can be built here: {placeholder_reason}); an otherwise valid request is needed to "
                "judge the key check"
            )
        control = target.client.request(**request)
        if not 200 <= (control.status or 0) < 300:
            pytest.skip(
                f"{what}: answered {exchange.status}, and the same request with the valid key answered "
                f"{control.status or control.error}: the request itself is refused, so its answer says nothing "
                "about the key"
            )
    verdict.add(
        judge_refusal(
            target.profile,
            exchange,
            credentials=credentials,
            rule_id=rule_id,
            operation=operation_id,
            what=what,
            secrets=target.secrets,
        )
    )
    verdict.conclude()


@pytest.mark.rules("auth.missing-credentials", *ENVELOPE_RULES)
def test_missing_credentials(target: Target, verdict: Verdict, protected_op: str) -> None:
    """Fails when a protected operation answers a request that carries no key."""
    _refused(target, verdict, protected_op, "none", "auth.missing-credentials")


@pytest.mark.rules("auth.invalid-credentials", *ENVELOPE_RULES)
def test_invalid_credentials(target: Target, verdict: Verdict, protected_op: str) -> None:
    """Fails when a protected operation answers a request that carries a wrong key."""
    _refused(target, verdict, protected_op, "invalid", "auth.invalid-credentials")


@pytest.mark.rules("auth.public-operations")
def test_public_operation(target: Target, verdict: Verdict, public_op: str) -> None:
    """Fails when a public operation refuses a request without credentials (or, where documented, with a bad one)."""
    auth = target.profile.data["auth"]
    request = build_or_skip(target, public_op)
    modes = ["none", "invalid"] if auth.get("public_ignores_invalid") else ["none"]
    for mode in modes:
        exchange = target.client.request(credentials=mode, **request)
        verdict.add(
            judge_public(target.profile, exchange, operation=public_op, credentials=mode, secrets=target.secrets)
        )
        if exchange.error is not None:
            break
    verdict.conclude()


@pytest.mark.rules("auth.key-locations")
def test_key_location(target: Target, verdict: Verdict, auth_location: dict[str, Any]) -> None:
    """Fails when the key passed in one of its documented places is not accepted."""
    auth = target.profile.data["auth"]
    location = AuthLocation(in_=auth_location["in"], name=auth_location["name"], prefix=auth_location.get("prefix", ""))
    public = set(auth["public"])
    candidates = [op for op in target.profile.operations.values() if op.operation_id not in public]
    if location.in_ == "form":
        candidates = [op for op in candidates if "application/x-www-form-urlencoded" in op.request_media_types]
        require_writes(target)
    else:
        candidates = [op for op in candidates if op.method == "GET" and not op.path_params] or [
            op for op in candidates if op.method == "GET"
        ]
    for op in candidates:
        try:
            request = target.build(op.operation_id)
        except RecipeError:
            continue
        if location.in_ == "form" and "data" not in request:
            continue
        exchange = target.client.request(auth_location=location, **request)
        verdict.add(
            judge_key_location(
                target.profile, exchange, operation=op.operation_id, location=location, secrets=target.secrets
            )
        )
        verdict.conclude()
        return
    pytest.skip(f"no operation to try the {location.in_} {location.name!r} key location on")


@pytest.mark.rules("auth.permissions", "errors.envelope")
def test_permissions(target: Target, verdict: Verdict) -> None:
    """Fails when a key without the documented permission is not refused as documented (or one with it is).

    The permission is read from the key's grants (a list of permissions, or a boolean capability flag);
    `body_patch` names the part of the request that needs it.
    """
    permission = target.profile.data["auth"].get("permission")
    if not permission:
        pytest.skip("the API documents no permission-limited operation")
    require_writes(target)
    granted = target.send(permission["granted_by"]["operation"])
    try:
        permissions = resolve_pointer(granted.json(), permission["granted_by"]["pointer"])
    except (KeyError, ValueError):
        pytest.skip(f"cannot read the key's permissions from {permission['granted_by']['operation']}")
    if isinstance(permissions, bool):  # a capability flag (tribute-shop: the shop's `recurrent`)
        has = permissions
    else:
        has = isinstance(permissions, list) and permission["permission"] in permissions
    overrides: dict[str, Any] = {}
    if "body_patch" in permission:
        build_or_skip(target, permission["operation"])
        overrides = patched_body(target, permission["operation"], permission["body_patch"])
    request = build_or_skip(target, permission["operation"], **overrides)
    exchange = target.client.request(**request)
    verdict.add(judge_permission(target.profile, exchange, has=has, secrets=target.secrets))
    verdict.conclude()


__all__ = ["judge_envelope"]
