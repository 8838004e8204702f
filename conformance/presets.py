"""Profile presets and defaults: what a profile may leave out, filled in before the checks read it.

Standards that many APIs follow (RFC 9457 problem details, the IETF rate-limit and idempotency-key
drafts) are one `preset:` line instead of a hand-written section; a section the profile leaves out
(`auth` of a public API, `rate_limit` where none is documented) gets a default that makes its checks
skip or stay lenient. Keys written in the profile always win over the preset's.
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["PRESETS", "PROBLEM_DETAILS_SCHEMA", "effective_security", "expand"]

# RFC 9457 section 3: every member is optional; `type` and `instance` are URI references, `status` an integer.
PROBLEM_DETAILS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 100, "maximum": 599},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
    },
}

PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "errors": {
        "problem-details": {
            "envelope": {"schema": PROBLEM_DETAILS_SCHEMA},
            "statuses": [400, 401, 403, 404, 405, 409, 422, 429, 500],
            "code_pointer": "/type",
            "message_pointer": "/title",
        },
    },
    "rate_limit": {
        # draft-ietf-httpapi-ratelimit-headers (versions up to -06): seconds until the window resets
        "ietf-ratelimit-headers": {
            "headers": {"limit": "RateLimit-Limit", "remaining": "RateLimit-Remaining", "reset": "RateLimit-Reset"},
            "reset_unit": "seconds",
            "exceeded_status": 429,
            "retry_after": False,
        },
        # the draft's later versions: structured fields, read as `Header;parameter` (conformance/exchange.py)
        "ietf-ratelimit-policy": {
            "headers": {"limit": "RateLimit-Policy;q", "remaining": "RateLimit;r", "reset": "RateLimit;t"},
            "reset_unit": "seconds",
            "exceeded_status": 429,
            "retry_after": False,
        },
        "x-ratelimit": {
            "headers": {
                "limit": "X-RateLimit-Limit",
                "remaining": "X-RateLimit-Remaining",
                "reset": "X-RateLimit-Reset",
            },
            "reset_unit": "unix-seconds",
            "exceeded_status": 429,
            "retry_after": True,
        },
    },
    "idempotency": {
        # draft-ietf-httpapi-idempotency-key-header: a missing required key 400, a reused key with another
        # payload 422, a request still in progress with the same key 409
        "idempotency-key-draft": {
            "header": "Idempotency-Key",
            "required": False,
            "missing_status": [400],
            "conflict_status": [409, 422],
        },
    },
}

NO_RATE_LIMIT: dict[str, Any] = {
    "tier": "inferred",
    "source": "the profile documents no rate limit; 10 requests per second is only the pace the suite keeps",
    "documented": False,
    "requests": 10,
    "window_s": 1,
    "scope": "ip",
    "headers": None,
    "exceeded_status": 429,
    "exceeded_body": "any",
}


def _with_preset(section: dict[str, Any], kind: str) -> dict[str, Any]:
    name = section.get("preset")
    if not name:
        return section
    merged = {**copy.deepcopy(PRESETS[kind][name]), **section}
    del merged["preset"]
    return merged


def effective_security(spec: dict[str, Any], definition: dict[str, Any]) -> list[Any]:
    """The security requirements of an operation: its own, else the spec's root ones; [] when it is public.

    OpenAPI: an empty requirement object (`security: [{}]`, or `[{}, {key: []}]`) allows anonymous
    requests, so an operation with one is public like one with `security: []` or none at all.
    """
    security = list(definition.get("security", spec.get("security")) or [])
    if any(isinstance(requirement, dict) and not requirement for requirement in security):
        return []
    return security


def expand(spec: dict[str, Any], profile: dict[str, Any], operations: list[Any]) -> dict[str, Any]:
    """Returns the profile with presets applied and left-out sections filled (the input is not changed).

    `operations` are the spec's operations; a public API (`public: all`, or no `auth` section while no
    operation demands security) lists them all as public and has no key locations.
    """
    data = copy.deepcopy(profile)
    data.setdefault("source", "")
    data.setdefault("requests", {})
    data.setdefault("pagination", [])
    data.setdefault("idempotency", [])
    errors = _with_preset(data["errors"], "errors")
    errors.setdefault("not_found", [])
    errors.setdefault("method_not_allowed", [])
    data["errors"] = errors
    data["idempotency"] = [_with_preset(rule, "idempotency") for rule in data["idempotency"]]
    rate_limit = data.get("rate_limit")
    data["rate_limit"] = _with_preset(rate_limit, "rate_limit") if rate_limit else dict(NO_RATE_LIMIT)
    data["rate_limit"].setdefault("exceeded_status", 429)
    auth = data.get("auth")
    open_ops = [op.operation_id for op in operations if not effective_security(spec, op.definition)]
    if auth is None:
        auth = {"tier": "inferred", "source": "the profile has no auth section", "public": "all"}
        if len(open_ops) < len(operations):
            auth["public"] = open_ops  # protected operations and no locations: Profile refuses it, naming them
    if auth["public"] == "all":
        auth["public"] = [op.operation_id for op in operations]
    elif not effective_security(spec, {}):  # the root demands no key: operations without their own are public too
        auth["public"] = list(dict.fromkeys([*auth["public"], *open_ops]))
    auth.setdefault("locations", [])
    auth.setdefault("missing_status", [401])
    auth.setdefault("invalid_status", [401])
    data["auth"] = auth
    return data
