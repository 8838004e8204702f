"""The schema rules, and re-judging the engine's schema failures by what the documents promise.

Schemathesis fails a server for every schema violation it got through. Our documents promise less:
a refusal is promised for a missing required input, a value outside a documented enum or bound, a
wrong type; they never promise that a null or empty optional input is refused (a server may read
it as "not given"), nor that an unknown field is. Those, and the statuses that any server behind
a proxy answers to an oversized request, are notes, not findings.
"""

from __future__ import annotations

import re
from typing import Any

from conformance.client import Exchange
from conformance.findings import Finding, finding
from conformance.profile import Operation, Profile, resolve_pointer
from conformance.rules import Rule, register

__all__ = ["INFRASTRUCTURE_STATUSES", "infrastructure_refusal", "judge_documented_status", "tolerated_input"]

# The schema rules: Schemathesis judges most of them (`conformance/engine.py` maps its checks to these ids);
# `judge_documented_status` below judges the suite's own known-good requests.
register(
    Rule(
        "schema.response-schema",
        "Response body matches the documented schema",
        "A response body must validate against the schema documented for its status code.",
        passive="exchange",
    )
)
register(
    Rule(
        "schema.status-code",
        "Status code is documented",
        "Every status code a server answers must be documented for that operation.",
        passive="exchange",
    )
)
register(
    Rule(
        "schema.content-type",
        "Content type is documented",
        "Responses must carry a documented media type (JSON for this suite's APIs).",
        passive="exchange",
    )
)
register(
    Rule(
        "schema.response-headers",
        "Documented response headers are present",
        "Headers the spec marks as required (X-Total-Count, rate-limit headers) must be sent.",
        passive="exchange",
    )
)
register(
    Rule(
        "schema.server-error",
        "No server errors",
        "No request, valid or not, may produce a 5xx answer.",
        passive="exchange",
    )
)
register(
    Rule(
        "schema.negative-data",
        "Invalid input is rejected",
        "A request that breaks a documented constraint must get a 4xx answer.",
    )
)
register(
    Rule(
        "schema.positive-data",
        "Valid input is accepted",
        "A request that satisfies the documented schema must not be refused with 4xx.",
    )
)
register(
    Rule(
        "schema.stateful",
        "Created resources can be read back",
        "A resource returned by a create operation can be fetched by its read operation.",
    )
)

# Answers a proxy or framework gives to requests too large or of an unsupported type before the API
# sees them (nginx answers 414/431 to a long URL): no document lists them, and no server can avoid them.
INFRASTRUCTURE_STATUSES = {
    413: "content too large",
    414: "URI too long",
    415: "unsupported media type",
    431: "request header fields too large",
}

# A request line and headers past this many bytes (the classic 2 KB URL limit), or a body past LARGE_BODY,
# is one a proxy may refuse.
LARGE_HEAD = 2048
LARGE_BODY = 8192


def infrastructure_refusal(
    status: int | None, url: str, headers: dict[str, str], body: bytes | str | None, documented_types: list[str]
) -> str | None:
    """Why an undocumented 413/414/415/431 answer is what any server (or its proxy) says, or None.

    Only for a request that earned it: an oversized URL or header block (414, 431), a large body (413), a
    content type the operation does not document (415). The same status to an ordinary request is a finding.
    """
    if status not in INFRASTRUCTURE_STATUSES:
        return None
    head = len(url) + sum(len(name) + len(value) + 4 for name, value in headers.items())
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    media_type = content_type.split(";", 1)[0].strip().lower()
    earned = {
        413: len(body or b"") > LARGE_BODY,
        414: head > LARGE_HEAD,
        431: head > LARGE_HEAD,
        415: bool(media_type) and media_type not in [t.lower() for t in documented_types],
    }[status]
    if not earned:
        return None
    return f"{status} ({INFRASTRUCTURE_STATUSES[status]}) is what servers and proxies answer to such a request"


# Coverage scenarios whose refusal no document promises (apis.md: unknown fields are ignored).
_NEVER_PROMISED = {"object_unexpected_properties", "object_invalid_property_name", "duplicate_parameter"}
# Scenarios that drop a required input, and mutations that drop one or send a body that is not JSON: refusals
# the documents (and apis.md: "a body that is not valid JSON → 400") always promise.
_MISSING = {"missing_parameter", "object_missing_required_property"}
_ALWAYS_PROMISED = {"remove_required_property", "syntax_fuzzing"}
# A value past a bound: for a list's page parameters, the profile says which refusals are promised
# (`invalid_limits`, `over_max`), and the pagination rules hold the server to exactly those.
_BOUND_SCENARIOS = {"value_above_maximum", "value_below_minimum"}
_BOUND_KEYWORDS = {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}
_PAGING_ROLES = ("limit", "page", "offset", "cursor")


def paging_parameters(spec: dict[str, Any], operation_id: str) -> set[str]:
    """The query parameters that page through a list the profile describes (its size, page, offset, cursor)."""
    names: set[str] = set()
    for listing in (spec.get("x-conformance") or {}).get("pagination") or []:
        if isinstance(listing, dict) and listing.get("operation") == operation_id:
            for role in _PAGING_ROLES:
                if isinstance(listing.get(role), dict):
                    names.add(str(listing[role].get("param", role)))
    return names


def tolerated_input(case: Any, op: Operation, spec: dict[str, Any]) -> str | None:
    """Returns why accepting this invalid request breaks no documented promise, or None.

    `case` is a Schemathesis Case of the negative mode; `op` its operation in our profile.
    """
    meta = getattr(case, "meta", None)
    data = getattr(getattr(meta, "phase", None), "data", None)
    if data is None:
        return None
    scenario = str(getattr(getattr(data, "scenario", None), "value", getattr(data, "scenario", "")) or "")
    if scenario in _NEVER_PROMISED:
        return "an unknown or repeated input was ignored, as apis.md allows"
    if scenario in _MISSING:
        return None
    mutations = tuple(getattr(data, "mutations", ()) or ())
    operators = {str(getattr(m.operator, "value", m.operator)) for m in mutations}
    if operators & _ALWAYS_PROMISED:
        return None
    if mutations and all(set(m.keywords) == {"additionalProperties"} for m in mutations):
        return "an unknown field was ignored, as apis.md allows"
    places = [(_location(m.parameter_location), m.parameter, m.schema_pointer) for m in mutations]
    if not places:
        places = [(_location(data.parameter_location), data.parameter, data.location or "")]
    out_of_bounds = (
        scenario in _BOUND_SCENARIOS or bool(mutations) and all(set(m.keywords) <= _BOUND_KEYWORDS for m in mutations)
    )
    reasons = set()
    for location, parameter, pointer in places:
        if out_of_bounds and location == "query" and parameter in paging_parameters(spec, op.operation_id):
            reasons.add(
                "a page parameter outside its documented bounds was accepted (clamped or read leniently); "
                "pagination.invalid-limit and pagination.max-limit judge it by the profile's cases"
            )
        elif _is_repeated_query_parameter(case, op, spec, location, parameter):
            reasons.add("a repeated query parameter was read as one of its values; no document promises its refusal")
        elif _is_null_or_empty_optional(case, op, spec, location, parameter, pointer):
            reasons.add('a null or empty value for an input was read as "not given"; no document promises its refusal')
        else:
            return None
    return "; ".join(sorted(reasons))


def _location(value: Any) -> str:
    return str(getattr(value, "value", value) or "").lower()


def _is_null_or_empty_optional(
    case: Any, op: Operation, spec: dict[str, Any], location: str, parameter: str | None, pointer: str
) -> bool:
    """True when the mutated input is null or "" and the documents do not require it (a PATCH requires nothing)."""
    if location == "body":
        names = _property_path(pointer)
        if not names:  # the whole body: null for an optional body is "no body"
            body = op.definition.get("requestBody") or {}
            return case.body in (None, "") and not body.get("required", False)
        value = _dig(case.body, names)
        if value not in (None, ""):
            return False
        return op.method == "PATCH" or not _body_requires(spec, op, names)
    containers = {"query": case.query, "path": case.path_parameters, "header": case.headers, "cookie": case.cookies}
    values = containers.get(location) or {}
    if not parameter or parameter not in values:
        return False
    sent = _query_values(values[parameter]) if location == "query" else [values[parameter]]
    if any(value not in (None, "") for value in sent):  # none sent (an empty list) or only empty ones: "not given"
        return False
    declared = op.param(parameter, location) or {}
    return not declared.get("required", False)


def _is_repeated_query_parameter(
    case: Any, op: Operation, spec: dict[str, Any], location: str, parameter: str | None
) -> bool:
    """True when a query parameter that takes one value is sent several times (`?_size=&_size=K`).

    A list (or an object, sent as its keys) becomes the parameter repeated; which value a server reads,
    the first or the last, no document says, nor that it must refuse the repetition: the leniency the
    `duplicate_parameter` scenario has.
    """
    if location != "query" or not parameter:
        return False
    if len(_query_values((case.query or {}).get(parameter))) < 2:
        return False
    declared = op.param(parameter, "query") or {}
    schema = _resolve(spec, declared.get("schema")) or {}
    kind = schema.get("type")
    kinds: list[Any] = kind if isinstance(kind, list) else [kind]
    return not ({"array", "object"} & set(kinds))  # an array parameter's repetition is its documented form


def _query_values(value: Any) -> list[Any]:
    """The values a query parameter is sent with: a list's items, an object's keys (as the client sends them)."""
    if isinstance(value, (list, tuple)):
        return list(value)
    if isinstance(value, dict):
        return list(value)
    return [value]


def _property_path(pointer: str) -> list[str]:
    """`/properties/customer/properties/contact/type` -> ["customer", "contact"]."""
    return re.findall(r"(?:^|/)properties/([^/]+)", pointer or "")


def _dig(value: Any, names: list[str]) -> Any:
    for name in names:
        if not isinstance(value, dict) or name not in value:
            return object()  # absent: not a null or empty value
        value = value[name]
    return value


def _body_requires(spec: dict[str, Any], op: Operation, names: list[str]) -> bool:
    """True when the request body schema lists the field (at its depth) as required."""
    content = (op.definition.get("requestBody") or {}).get("content") or {}
    schema = next((media.get("schema") for media in content.values() if isinstance(media, dict)), None)
    for depth, name in enumerate(names):
        schema = _resolve(spec, schema)
        if not isinstance(schema, dict):
            return False
        if depth == len(names) - 1:
            return name in (schema.get("required") or [])
        schema = (schema.get("properties") or {}).get(name)
    return False


def _resolve(spec: dict[str, Any], schema: Any) -> Any:
    for _ in range(10):
        if not (isinstance(schema, dict) and isinstance(schema.get("$ref"), str)):
            return schema
        try:
            schema = resolve_pointer(spec, schema["$ref"].removeprefix("#"))
        except KeyError:
            return None
    return schema


def judge_documented_status(
    profile: Profile, exchange: Exchange, operation: str, secrets: tuple[str, ...]
) -> list[Finding]:
    """Fails when a valid request's answer has a status the spec does not document for the operation.

    The property tests judge this too, but they rarely get a valid write through (form bodies of
    JSON-string fields, ids that must exist); the scenarios send known-good requests.
    """
    if exchange.status is None:
        return []
    op = profile.operations[operation]
    documented = {str(code).upper() for code in op.definition.get("responses") or {}}
    status = str(exchange.status)
    if status in documented or f"{status[0]}XX" in documented or "DEFAULT" in documented:
        return []
    return [
        finding(
            "schema.status-code",
            operation,
            f"{op.method} {op.path} answered {status}; documented: {', '.join(sorted(documented))}.",
            rule={"source": f"OpenAPI spec, {op.method} {op.path}: responses"},
            tier="documented",
            exchange=exchange,
            secrets=secrets,
        )
    ]
