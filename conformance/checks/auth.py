"""Authentication rules: protected operations refuse missing and invalid keys, public ones need none, every
documented key location works, and permission-limited keys are refused.

`conformance/suite/test_auth.py` sends the requests (and decides which answers say something about the
key at all); these judge the answers.
"""

from __future__ import annotations

from typing import Any

from conformance.checks.errors import judge_error
from conformance.checks.transport import judge_transport
from conformance.client import AuthLocation, Exchange
from conformance.findings import Finding, finding
from conformance.profile import Profile, resolve_pointer
from conformance.rules import Rule, register

__all__ = ["judge_key_location", "judge_permission", "judge_public", "judge_refusal"]

register(
    Rule(
        "auth.missing-credentials",
        "Missing credentials are refused",
        "Protected operations refuse a request without credentials with the documented status and envelope.",
        passive="exchange",
        reads=("auth", "auth.missing_status", "auth.messages", "auth.public"),
    )
)
register(
    Rule(
        "auth.invalid-credentials",
        "Invalid credentials are refused",
        "Protected operations refuse an invalid key with the documented status and envelope.",
        reads=("auth", "auth.invalid_status", "auth.messages", "auth.public"),
    )
)
register(
    Rule(
        "auth.public-operations",
        "Public operations need no credentials",
        "Operations documented as public answer without credentials (and ignore a bad one).",
        passive="exchange",
        reads=("auth.public", "auth.public_ignores_invalid"),
    )
)
register(
    Rule(
        "auth.key-locations",
        "Every documented key location works",
        "Each documented way of passing the key (header, query, form field) authenticates.",
        reads=("auth.locations",),
    )
)
register(
    Rule(
        "auth.permissions",
        "Permission-limited keys are refused",
        "A key lacking a documented permission (or account capability) is refused as documented (403, or"
        " the API's own status) on the operation that needs it, and a key that has it is not.",
        reads=("auth.permission",),
    )
)


def judge_refusal(
    profile: Profile,
    exchange: Exchange,
    *,
    credentials: str,
    rule_id: str,
    operation: str,
    what: str,
    secrets: tuple[str, ...],
) -> list[Finding]:
    """Fails unless a request with no key (`credentials` "none") or an invalid one was refused as documented.

    The status and envelope are judged by `judge_error`; where the profile documents the refusal's
    message, a refusal with another message fails too.
    """
    auth = profile.data["auth"]
    expected = auth["missing_status"] if credentials == "none" else auth["invalid_status"]
    findings = judge_error(
        profile,
        exchange,
        rule_id=rule_id,
        operation=operation,
        expected=expected,
        what=what,
        secrets=secrets,
        rule=auth,
    )
    messages = auth.get("messages")
    text = messages.get("missing" if credentials == "none" else "invalid") if messages else None
    if text and exchange.status in expected and not findings:
        try:
            said = resolve_pointer(exchange.json(), messages["pointer"])
        except (KeyError, ValueError):
            said = None
        if said != text:
            findings.append(
                finding(
                    rule_id,
                    operation,
                    f"{what}: message {said!r}; documented: {text!r}.",
                    rule=auth,
                    exchange=exchange,
                    secrets=secrets,
                )
            )
    return findings


def judge_public(
    profile: Profile, exchange: Exchange, *, operation: str, credentials: str, secrets: tuple[str, ...]
) -> list[Finding]:
    """Fails when a public operation, asked with no key (or an invalid one), did not answer 2xx."""
    transport = judge_transport(exchange, operation, secrets)
    if transport:
        return transport
    if 200 <= (exchange.status or 0) < 300:
        return []
    op = profile.operation(operation)
    return [
        finding(
            "auth.public-operations",
            operation,
            f"{op.method} {op.path} with {'no' if credentials == 'none' else 'an invalid'} key answered "
            f"{exchange.status}; documented as public: it must answer without credentials.",
            rule=profile.data["auth"],
            exchange=exchange,
            secrets=secrets,
        )
    ]


def judge_key_location(
    profile: Profile, exchange: Exchange, *, operation: str, location: AuthLocation, secrets: tuple[str, ...]
) -> list[Finding]:
    """Fails when the key passed at `location` was refused as missing or invalid."""
    transport = judge_transport(exchange, operation, secrets)
    if transport:
        return transport
    auth = profile.data["auth"]
    if exchange.status not in (set(auth["missing_status"]) | set(auth["invalid_status"])):
        return []
    op = profile.operation(operation)
    return [
        finding(
            "auth.key-locations",
            operation,
            f"{op.method} {op.path} with the key in the {location.in_} {location.name!r} answered "
            f"{exchange.status}; documented: the key is accepted there.",
            rule=auth,
            exchange=exchange,
            secrets=secrets,
        )
    ]


def judge_permission(profile: Profile, exchange: Exchange, *, has: bool, secrets: tuple[str, ...]) -> list[Finding]:
    """Fails when the permission-limited operation (`auth.permission`) was answered against the key's grants.

    `has`: whether the key holds the permission. A key without it must be refused with the documented
    status and envelope; a key with it must not get that status.
    """
    permission: dict[str, Any] = profile.data["auth"]["permission"]
    statuses = permission["status"] if isinstance(permission["status"], list) else [permission["status"]]
    op = profile.operation(permission["operation"])
    if not has:
        return judge_error(
            profile,
            exchange,
            rule_id="auth.permissions",
            operation=op.operation_id,
            expected=statuses,
            what=f"{op.method} {op.path} with a key lacking {permission['permission']!r}",
            secrets=secrets,
            rule=permission,
        )
    if exchange.status not in statuses:
        return []
    return [
        finding(
            "auth.permissions",
            op.operation_id,
            f"{op.method} {op.path} answered {exchange.status} although the key has {permission['permission']!r}.",
            rule=permission,
            exchange=exchange,
            secrets=secrets,
        )
    ]
