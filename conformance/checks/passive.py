"""Judging answers without asking: one recorded exchange at a time, and the sequences traffic holds.

`judge_exchange` judges one response by every rule that one response can show (`Rule.passive ==
"exchange"`); `Sequences` is fed every exchange in order and judges what only several can show
(`"sequence"`): pages of one list walked in a row, replays with one idempotency key, rate-limit headers
of one client. Neither sends a request, so both serve `conformance drift` (recorded traffic) and the
live suite (the exchanges it records) alike. `judged` sets collect which rule was judged on which
operation, so a caller can tell "judged and fine" from "never shown by this traffic".
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from operator import itemgetter
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import orjson

from conformance.checks.common import JSON_TYPES
from conformance.checks.errors import judge_envelope
from conformance.checks.idempotency import judge_conflict, judge_replay, resource_id
from conformance.checks.pagination import (
    Page,
    Walk,
    judge_header_echo,
    judge_last_page,
    judge_no_duplicates,
    judge_page_sizes,
    judge_sort_order,
    judge_totals,
    read_page,
)
from conformance.checks.rate_limit import Sample, header_int, judge_consistency, judge_headers, server_now
from conformance.checks.schema import INFRASTRUCTURE_STATUSES, infrastructure_refusal, judge_documented_status
from conformance.client import Exchange
from conformance.drift.fastjson import exact
from conformance.findings import Finding, finding
from conformance.profile import Operation, Profile, resolve_ref, schema_validator

__all__ = ["ANY_RESPONSE_RULES", "Judged", "Sequences", "credentials", "judge_exchange", "judge_recorded"]

Judged = set[tuple[str, str]]
"""(rule id, operation) pairs a judge looked at, whether it found anything or not."""

ANY_RESPONSE_RULES = frozenset(
    {
        "schema.response-schema",
        "schema.content-type",
        "schema.response-headers",
        "schema.server-error",
        "errors.envelope",
        "errors.code-convention",
        "errors.request-id",
        "rate-limit.headers",
        "transport.invalid-response",
    }
)
"""The rules of `judge_exchange` that are properties of any answer to a valid request, whatever it asked: the
live suite judges by them every exchange its tests of valid requests record (`judge_recorded`). Not among them:
schema.status-code (which statuses a request may get depends on the request: a scenario judges that), the auth
rules and idempotency.key-required (properties of requests sent without a key on purpose)."""

MAX_OPEN_WALKS = 500  # lists walked at once that are remembered (the oldest is judged and forgotten)
MAX_PAGES = 200  # pages of one walk remembered; a longer walk is judged in parts
MAX_KEYS = 2000  # idempotency keys remembered
MAX_CLIENTS = 2000  # clients whose last rate-limit headers are remembered


_CARRIED: tuple[Any, list[str]] = (None, [])  # the last exchange asked about, and its credentials


def credentials(profile: Profile, exchange: Exchange) -> list[str]:
    """The credential values the request carries at the profile's documented locations (empty: none)."""
    global _CARRIED
    last, found = _CARRIED  # one tuple, rebound at once: safe when the live suite judges from threads
    if last is not exchange:
        found = _credentials(profile, exchange)
        _CARRIED = (exchange, found)
    return list(found)


def _credentials(profile: Profile, exchange: Exchange) -> list[str]:
    found = []
    query: dict[str, str] | None = None
    form: dict[str, str] | None = None
    headers = {name.lower(): value for name, value in exchange.request_headers.items()}
    for location in profile.data["auth"]["locations"]:
        name, where = location["name"], location["in"]
        value: str | None = None
        if where == "header":
            value = headers.get(name.lower())
            prefix = location.get("prefix", "")
            if value and prefix and value.lower().startswith(prefix.lower()):
                value = value[len(prefix) :]
        elif where == "query":
            if query is None:
                query = dict(parse_qsl(urlsplit(exchange.url).query, keep_blank_values=True))
            value = query.get(name)
        elif where == "form" and exchange.request_body and "form" in headers.get("content-type", ""):
            if form is None:
                form = dict(parse_qsl(exchange.request_body.decode("utf-8", "replace"), keep_blank_values=True))
            value = form.get(name)
        if value and value.strip():
            found.append(value.strip())
    return found


class _Schemas:
    """Response validators per operation, status and media type, built once from the spec.

    Each body is first checked by a compiled validator (jsonschema-rs, some 200 times faster: traffic runs
    to millions of answers); only a body it refuses is validated again by `jsonschema`, the suite's own
    validator, whose first error is the one reported (the same wording as the live suite).
    """

    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self.cache: dict[tuple[str, str, str], Any] = {}
        self.fast: dict[tuple[str, str, str], Any] = {}
        self.pairs: dict[tuple[str, int, str], tuple[Any, Any]] = {}  # see `first_error`
        self.responses: dict[tuple[str, int], tuple[str, dict[str, Any]] | None] = {}
        self.headers: dict[tuple[str, int], list[str]] = {}
        self.idempotency: dict[str, dict[str, Any]] | None = None  # see `_idempotency`

    def response(self, op: Operation, status: int) -> tuple[str, dict[str, Any]] | None:
        """The documented response for `status` (exact, then 4XX, then default) and its JSON pointer."""
        key = (op.operation_id, status)
        if key not in self.responses:
            self.responses[key] = self._response(op, status)
        return self.responses[key]

    def documented(self, op: Operation, status: int) -> bool:
        """Whether the spec documents this status for the operation (exactly, as 4XX, or by a default)."""
        return self.response(op, status) is not None

    def required_headers(self, op: Operation, status: int) -> list[str]:
        """The headers the spec marks required on this response."""
        key = (op.operation_id, status)
        if key not in self.headers:
            found = self.response(op, status)
            definitions = (found[1].get("headers") or {}) if found else {}
            self.headers[key] = [
                name
                for name, definition in definitions.items()
                if (resolved := resolve_ref(self.profile.spec, definition)) and isinstance(resolved, dict)
                if resolved.get("required")
            ]
        return self.headers[key]

    def _response(self, op: Operation, status: int) -> tuple[str, dict[str, Any]] | None:
        responses = op.definition.get("responses") or {}
        base = f"/paths/{_escape(op.path)}/{op.method.lower()}/responses"
        for code in (str(status), f"{str(status)[0]}XX", f"{str(status)[0]}xx", "default"):
            if code in responses:
                response = responses[code]
                pointer = f"{base}/{_escape(code)}"
                while isinstance(response, dict) and isinstance(response.get("$ref"), str):
                    pointer = response["$ref"].removeprefix("#")
                    response = resolve_ref(self.profile.spec, {"$ref": response["$ref"]})
                return pointer, response if isinstance(response, dict) else {}
        return None

    def validator(self, op: Operation, status: int, media_type: str) -> tuple[Any, list[str]] | None:
        """The validator of the body documented for this status and media type, and the documented media types."""
        found = self.response(op, status)
        if found is None:
            return None
        pointer, response = found
        content = response.get("content") or {}
        media = media_type if media_type in content else next((m for m in content if m.endswith("json")), None)
        if media is None or "schema" not in (content.get(media) or {}):
            return None, list(content)
        key = (op.operation_id, str(status), media)
        if key not in self.cache:
            self.cache[key] = schema_validator(self.profile.spec, f"{pointer}/content/{_escape(media)}/schema")
        return self.cache[key], list(content)

    def first_error(self, op: Operation, status: int, media_type: str, body: Any) -> Any:
        """The first schema error of a body (a jsonschema ValidationError), or None when it validates."""
        pair = self.pairs.get((op.operation_id, status, media_type))
        if pair is None:
            pair = self._pair(op, status, media_type)
        fast, slow = pair
        if slow is None:
            return None
        if fast is not None and fast.is_valid(body):
            return None
        return next(iter(slow.iter_errors(body)), None)

    def _pair(self, op: Operation, status: int, media_type: str) -> tuple[Any, Any]:
        """The compiled validator (None: none) and the suite's validator (None: no schema) of `first_error`."""
        found = self.validator(op, status, media_type)
        pair: tuple[Any, Any] = (None, None)
        if found is not None and found[0] is not None:
            key = (op.operation_id, str(status), media_type)
            if key not in self.fast:
                self.fast[key] = self._compiled(op, status, media_type)
            pair = (self.fast[key], found[0])
        if len(self.pairs) >= 4096:  # media types come from the traffic: bounded
            self.pairs.clear()
        self.pairs[(op.operation_id, status, media_type)] = pair
        return pair

    def _compiled(self, op: Operation, status: int, media_type: str) -> Any:
        try:
            import jsonschema_rs
        except ImportError:  # pragma: no cover - declared, but the pure-Python validator still judges alone
            return None
        found = self.response(op, status)
        content = (found[1].get("content") or {}) if found else {}
        media = media_type if media_type in content else next((m for m in content if m.endswith("json")), None)
        if found is None or media is None:
            return None
        spec = self.profile.spec
        root = {key: value for key, value in spec.items() if key in ("components", "paths")}
        root["$ref"] = "#" + quote(f"{found[0]}/content/{_escape(media)}/schema", safe="/~")  # {} are not URI
        try:
            return jsonschema_rs.validator_for(root, validate_formats=True)
        except (ValueError, jsonschema_rs.ValidationError):  # a schema it cannot compile: jsonschema alone
            return None


def _escape(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


_SCHEMAS: dict[int, _Schemas] = {}


def _schemas(profile: Profile) -> _Schemas:
    schemas = _SCHEMAS.get(id(profile))
    if schemas is None or schemas.profile is not profile:
        schemas = _SCHEMAS[id(profile)] = _Schemas(profile)
        _fast_envelope(profile)
    return schemas


class _CompiledFirst:
    """A validator whose `iter_errors` asks a compiled validator first: a body it accepts has no error; one it
    refuses is validated again by the suite's own validator, whose errors (and wording) are the ones given."""

    def __init__(self, fast: Any, slow: Any) -> None:
        self.fast, self.slow = fast, slow

    def iter_errors(self, body: Any) -> Any:
        if self.fast.is_valid(body):
            return iter(())
        return self.slow.iter_errors(body)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.slow, name)


def _fast_envelope(profile: Profile) -> None:
    """Every error answer is checked against the envelope (`Profile.envelope_errors`, pure-Python `jsonschema`,
    some 0.2 ms each): its validator is given a compiled validator to ask first, as the response bodies are."""
    try:
        import jsonschema_rs
    except ImportError:  # pragma: no cover - declared; `jsonschema` alone still judges
        return
    envelope = (profile.data.get("errors") or {}).get("envelope") or {}
    profile.envelope_errors({})  # builds the suite's validator
    slow = getattr(profile, "_envelope_validator", None)
    if slow is None or isinstance(slow, _CompiledFirst):
        return
    if "schema" in envelope:
        schema = envelope["schema"]
    elif isinstance(envelope.get("$ref"), str):
        schema = {key: value for key, value in profile.spec.items() if key in ("components", "paths")}
        schema["$ref"] = "#" + quote(envelope["$ref"][1:], safe="/~")
    else:
        return
    try:
        fast = jsonschema_rs.validator_for(schema, validate_formats=True)
    except (ValueError, jsonschema_rs.ValidationError):  # a schema it cannot compile: jsonschema alone
        return
    profile._envelope_validator = _CompiledFirst(fast, slow)


_PARSED: tuple[Any, Any] = (None, None)  # the last exchange parsed, and its body: judges share one parse


def _body(exchange: Exchange) -> Any:
    """The exchange's parsed JSON body (ValueError when it is none), parsed once for every judge."""
    global _PARSED
    last, body = _PARSED  # one tuple, rebound at once: safe when the live suite judges from threads
    if last is not exchange:
        body = _json(exchange)
        _PARSED = (exchange, body)
    return body


def _json(exchange: Exchange) -> Any:
    """`exchange.json()`, by orjson where its value is exactly the standard library's (`fastjson.py`); a body
    orjson refuses goes to `exchange.json()`, so the value or the error message is the same."""
    if exchange.status is not None:
        try:
            value = orjson.loads(exchange.body)
        except orjson.JSONDecodeError:
            pass
        else:
            if exact(exchange.body):
                return value
    return exchange.json()


def _is_json(media_type: str) -> bool:
    return media_type in JSON_TYPES or media_type.endswith("+json")


def judge_exchange(
    profile: Profile,
    exchange: Exchange,
    operation: Operation | str,
    secrets: tuple[str, ...],
    *,
    judged: Judged | None = None,
    notes: list[Finding] | None = None,
) -> list[Finding]:
    """Judges one recorded response by every rule a single response can show; returns the findings.

    Rules: transport.invalid-response (JSON that does not parse), schema.status-code, schema.content-type,
    schema.response-schema, schema.response-headers, schema.server-error, the errors.* conventions of every
    4xx/5xx (envelope, codes, request id), rate-limit.headers, auth.missing-credentials and
    auth.public-operations (a request without credentials), idempotency.key-required (a write without its
    key). Differences that break no promise (a proxy's 431 to a huge request) go to `notes`.
    """
    op = profile.operation(operation) if isinstance(operation, str) else operation
    name = op.operation_id
    seen: Judged = judged if judged is not None else set()
    status = exchange.status
    if status is None or status == 304:  # 304: HTTP caching answered a conditional request, not the API
        return []
    findings: list[Finding] = []
    rate = profile.data.get("rate_limit") or {}
    throttled = status == rate.get("exceeded_status")
    media_type = exchange.content_type
    has_body = bool(exchange.body.strip()) and exchange.method != "HEAD"

    parsed: Any = None
    json_ok = False
    if has_body and _is_json(media_type):
        seen.add(("transport.invalid-response", name))
        try:
            parsed, json_ok = _body(exchange), True
        except ValueError as exc:
            label = f"{op.method} {op.path}"
            message = f"{label} answered {status}: {exc}."
            findings.append(_f("transport.invalid-response", name, message, exchange, secrets))

    refusal = (
        infrastructure_refusal(
            status, exchange.url, exchange.request_headers, exchange.request_body, op.request_media_types
        )
        if status in INFRASTRUCTURE_STATUSES  # else None, without reading the operation's media types
        else None
    )
    if refusal:
        if notes is not None:
            notes.append(
                finding(
                    "schema.status-code",
                    name,
                    f"{op.method} {op.path} answered {refusal}; not documented, but no server can avoid it.",
                    exchange=exchange,
                    secrets=secrets,
                    tier="inferred",
                )
            )
        return findings

    seen.add(("schema.status-code", name))
    if not _schemas(profile).documented(op, status):
        findings += judge_documented_status(profile, exchange, name, secrets)

    if status >= 500 and not throttled:
        findings.append(
            finding(
                "schema.server-error",
                name,
                f"{op.method} {op.path} answered {status}; no request may produce a server error.",
                rule={"source": "apis.md: never a 500 for bad input"},
                tier="inferred",
                exchange=exchange,
                secrets=secrets,
            )
        )
    if status < 500 or throttled:
        seen.add(("schema.server-error", name))

    if 200 <= status < 300:
        findings += _judge_success(profile, op, exchange, parsed if json_ok else None, secrets, seen)
    if status >= 400 and not (throttled and rate.get("exceeded_body", "envelope") != "envelope"):
        errors = profile.data["errors"]
        seen.add(("errors.envelope", name))
        if errors.get("code_pattern") or errors.get("codes_by_status"):
            seen.add(("errors.code-convention", name))
        if errors.get("request_id"):
            seen.add(("errors.request-id", name))
        findings += judge_envelope(profile, exchange, name, secrets)

    carried = credentials(profile, exchange)
    public = op.is_public or name in (profile.data["auth"].get("public") or [])
    if rate.get("headers") and (200 <= status < 300 or throttled) and (carried or rate.get("scope") != "key"):
        seen.add(("rate-limit.headers", name))
        findings += judge_headers(rate, exchange, name, secrets)
    if not carried:
        findings += _judge_anonymous(profile, op, exchange, public, throttled, secrets, seen)
    findings += _judge_key_required(profile, op, exchange, throttled, secrets, seen)
    return findings


def judge_recorded(
    profile: Profile,
    exchanges: list[Exchange],
    secrets: tuple[str, ...],
    rules: frozenset[str] | set[str] = ANY_RESPONSE_RULES,
) -> tuple[list[Finding], list[Finding]]:
    """Judges recorded exchanges by `judge_exchange`, keeping `rules` only; returns (findings, notes).

    Passed over: an exchange without a known operation, and one the client could not complete (`error`: a body
    cut at the size cap, a redirect not followed), which `judge_transport` judges. The same rule, operation and
    message is given once: twenty pages breaking the schema at the same place are one finding.
    """
    findings: list[Finding] = []
    notes: list[Finding] = []
    seen: set[tuple[str, str, str]] = set()
    for exchange in exchanges:
        if exchange.operation not in profile.operations or exchange.error is not None:
            continue
        found_notes: list[Finding] = []
        found = judge_exchange(profile, exchange, exchange.operation, secrets, notes=found_notes)
        for item, into in [*((f, findings) for f in found), *((n, notes) for n in found_notes)]:
            key = (item.rule_id, item.operation, item.message)
            if item.rule_id in rules and key not in seen:
                seen.add(key)
                into.append(item)
    return findings, notes


def _judge_success(
    profile: Profile, op: Operation, exchange: Exchange, body: Any, secrets: tuple[str, ...], seen: Judged
) -> list[Finding]:
    """A 2xx answer: its media type, body schema and required headers as the spec documents them."""
    status = exchange.status or 0
    name = op.operation_id
    schemas = _schemas(profile)
    found = schemas.response(op, status)
    if found is None:
        return []  # undocumented: schema.status-code has said so
    findings: list[Finding] = []
    _, response = found
    source = {"source": f"OpenAPI spec, {op.method} {op.path}: responses/{status}"}
    content = response.get("content") or {}
    has_body = bool(exchange.body.strip()) and exchange.method != "HEAD"
    if content and has_body:
        seen.add(("schema.content-type", name))
        media_type = exchange.content_type
        if media_type not in content and not any(media_type == m.split(";")[0].strip().lower() for m in content):
            message = (
                f"{op.method} {op.path} answered {status} as {exchange.content_type or 'no content type'!r}; "
                f"documented: {', '.join(content)}."
            )
            findings.append(_f("schema.content-type", name, message, exchange, secrets, rule=source))
            if all(_is_json(m.split(";")[0].strip().lower()) for m in content) and not _is_json(exchange.content_type):
                seen.add(("transport.invalid-response", name))
                message = (
                    f"{op.method} {op.path} answered {status} as {exchange.content_type or 'no content type'!r}; "
                    "documented: JSON."
                )
                findings.append(_f("transport.invalid-response", name, message, exchange, secrets, rule=source))
        elif body is not None:
            seen.add(("schema.response-schema", name))
            error = schemas.first_error(op, status, media_type, body)
            if error is not None:
                where = "/" + "/".join(map(str, error.absolute_path))
                message = (
                    f"{op.method} {op.path} answered {status} with a body that breaks its documented schema at "
                    f"{where}: {_cut(error.message)}"
                )
                findings.append(_f("schema.response-schema", name, message, exchange, secrets, rule=source))
    for header in schemas.required_headers(op, status):
        seen.add(("schema.response-headers", name))
        if exchange.header(header) is None:
            message = f"{op.method} {op.path} answered {status} without the {header} header the spec requires."
            findings.append(_f("schema.response-headers", name, message, exchange, secrets, rule=source))
    return findings


def _cut(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _judge_anonymous(
    profile: Profile,
    op: Operation,
    exchange: Exchange,
    public: bool,
    throttled: bool,
    secrets: tuple[str, ...],
    seen: Judged,
) -> list[Finding]:
    """A request without credentials: refused on a protected operation, answered on a public one."""
    auth = profile.data["auth"]
    status = exchange.status or 0
    name = op.operation_id
    if throttled or status >= 500:
        return []
    if public:
        seen.add(("auth.public-operations", name))
        if status in (401, 403):
            message = f"{op.method} {op.path} is public, but a request without credentials answered {status}."
            return [_f("auth.public-operations", name, message, exchange, secrets, rule=auth)]
        return []
    seen.add(("auth.missing-credentials", name))
    expected = auth.get("missing_status") or [401]
    if status not in expected:
        message = (
            f"{op.method} {op.path} answered {status} to a request without credentials; documented: "
            f"{' or '.join(map(str, expected))}."
        )
        return [_f("auth.missing-credentials", name, message, exchange, secrets, rule=auth)]
    return []


def _idempotency(profile: Profile, name: str) -> dict[str, Any] | None:
    sections = _schemas(profile).idempotency
    if sections is None:  # the profile's idempotency sections by operation, the first of each (looked up per answer)
        sections = _schemas(profile).idempotency = {}
        for section in profile.data.get("idempotency") or []:
            sections.setdefault(section["operation"], section)
    return sections.get(name)


def _judge_key_required(
    profile: Profile, op: Operation, exchange: Exchange, throttled: bool, secrets: tuple[str, ...], seen: Judged
) -> list[Finding]:
    """A write without the idempotency key the profile requires: refused as documented."""
    section = _idempotency(profile, op.operation_id)
    status = exchange.status or 0
    if not section or not section.get("required") or throttled or status in (401, 403) or status >= 500:
        return []
    if any(name.lower() == section["header"].lower() for name in exchange.request_headers):
        return []
    seen.add(("idempotency.key-required", op.operation_id))
    expected = section.get("missing_status") or [400]
    if status in expected:
        return []
    message = f"a create without {section['header']} answered {status}; documented: {' or '.join(map(str, expected))}."
    return [_f("idempotency.key-required", op.operation_id, message, exchange, secrets, rule=section)]


def _f(
    rule_id: str,
    operation: str,
    message: str,
    exchange: Exchange,
    secrets: tuple[str, ...],
    *,
    rule: dict[str, Any] | None = None,
) -> Finding:
    return finding(rule_id, operation, message, rule=rule, exchange=exchange, secrets=secrets)


# --- sequences -------------------------------------------------------------------------------------


@dataclass
class _OpenWalk:
    walk: Walk
    position: int  # page number (page style) or offset (offset style) of the last page
    size: int | None
    from_start: bool  # the first page seen is the list's first page


class Sequences:
    """Judges the sequences in a stream of exchanges: list walks, idempotent replays, rate-limit windows.

    Feed every exchange in the order it was sent with `add` (the client: who sent it, e.g. a hash of its
    key), then call `finish` for the walks still open. Memory is bounded: at most MAX_OPEN_WALKS walks,
    MAX_KEYS idempotency keys and MAX_CLIENTS clients are remembered, the oldest forgotten first.
    """

    def __init__(self, profile: Profile, *, now: Callable[[Exchange], float] = server_now) -> None:
        self.profile = profile
        self.now = now
        self.listings = {s["operation"]: s for s in profile.data.get("pagination") or [] if s.get("style") != "none"}
        self.walks: OrderedDict[tuple[Any, ...], _OpenWalk] = OrderedDict()
        self.cursors: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        self.keys: OrderedDict[tuple[str, str, str], tuple[str, Exchange]] = OrderedDict()
        self.rates: OrderedDict[str, tuple[Sample, float | None]] = OrderedDict()
        self.judged: Judged = set()
        self.notes: list[Finding] = []

    def add(
        self, exchange: Exchange, operation: str, client: str, secrets: tuple[str, ...], *, started: float | None = None
    ) -> list[Finding]:
        """Judges what this exchange completes; returns the findings (notes collect in `self.notes`)."""
        findings: list[Finding] = []
        status = exchange.status or 0
        if operation in self.listings and status == 200 and exchange.method == "GET":
            findings += self._page(self.listings[operation], exchange, client, secrets)
        section = _idempotency(self.profile, operation)
        if section is not None:
            findings += self._replay(section, exchange, client, secrets)
        rate = self.profile.data.get("rate_limit") or {}
        if rate.get("headers") and 200 <= status < 300:
            findings += self._rate(rate, exchange, operation, client, secrets, started)
        return findings

    def finish(self, secrets: tuple[str, ...] = ()) -> list[Finding]:
        """Judges the walks still open (traffic that ended mid-list is judged on the pages it holds)."""
        findings: list[Finding] = []
        while self.walks:
            _, open_walk = self.walks.popitem(last=False)
            findings += self._judge_walk(open_walk.walk, secrets)
        self.cursors.clear()
        return findings

    # pagination

    def _page(
        self, listing: dict[str, Any], exchange: Exchange, client: str, secrets: tuple[str, ...]
    ) -> list[Finding]:
        params = dict(parse_qsl(urlsplit(exchange.url).query, keep_blank_values=True))
        try:
            page = read_page(listing, exchange, params, body=_body(exchange))
        except ValueError:
            return []  # not a page of the list: the schema judges say why
        style = listing["style"]
        step_param = {
            "page": (listing.get("page") or {}).get("param"),
            "offset": (listing.get("offset") or {}).get("param"),
            "cursor": (listing.get("cursor") or {}).get("param"),
        }.get(style)
        others = tuple(sorted((k, v) for k, v in params.items() if k != step_param))
        group = (listing["operation"], client, others)
        limit_param = (listing.get("limit") or {}).get("param")
        limit = _int(params.get(limit_param)) if limit_param else None
        size = limit or (listing.get("limit") or {}).get("default") or None
        findings: list[Finding] = []
        current: _OpenWalk | None = None
        position = 0
        if style == "page":
            position = _int(params.get(step_param or "")) or 1
            candidate = self.walks.get(group)
            if candidate is not None and candidate.position == position - 1:
                current = candidate
        elif style == "offset":
            position = _int(params.get(step_param or "")) or 0
            candidate = self.walks.get(group)
            if candidate is not None:
                last = candidate.walk.pages[-1]
                if position in (candidate.position + len(last.items), candidate.position + (candidate.size or -1)):
                    current = candidate
        else:  # cursor or link: the request carries the previous page's next pointer
            value = params.get(step_param or "") if style == "cursor" else exchange.url
            if value is not None:
                key = self.cursors.pop((listing["operation"], client, str(value)), None)
                if key is not None:
                    current = self.walks.get(key)
                    group = key
        if current is None:
            if group in self.walks:  # a new walk over the same list: the earlier one is over
                findings += self._close(group, secrets)
            walk = Walk(operation=listing["operation"], listing=listing, limit=limit, ended="partial")
            first = {"page": 1, "offset": 0}.get(style, 0)
            from_start = position == first if style in ("page", "offset") else step_param not in params
            current = _OpenWalk(walk, position, size, from_start)
            self.walks[group] = current
            while len(self.walks) > MAX_OPEN_WALKS:
                findings += self._close(next(iter(self.walks)), secrets)
        paths = _paths(listing)
        if paths is not None and all(len(parts) == 1 for parts in paths):  # `/id` (and a top-level sort key)
            keys = [parts[0] for parts in paths]
            page.items = _slim_top(page.items, keys)
        else:
            page.items = [_slim(item, paths) for item in page.items]
        current.walk.pages.append(page)
        current.position = position
        self.walks.move_to_end(group)
        if self._ended(listing, current, page):
            current.walk.ended = "end" if current.from_start else "partial"
            findings += self._close(group, secrets)
        elif len(current.walk.pages) >= MAX_PAGES:
            findings += self._close(group, secrets)
        elif page.next is not None:
            self.cursors[(listing["operation"], client, str(page.next))] = group
        return findings

    @staticmethod
    def _ended(listing: dict[str, Any], current: _OpenWalk, page: Page) -> bool:
        style = listing["style"]
        if style in ("cursor", "link"):
            return page.next is None or not page.items
        if not page.items or (current.size and len(page.items) < current.size):
            return True
        if style == "page" and page.page_count is not None:
            return current.position >= page.page_count
        if style == "offset" and page.total is not None:
            return current.position + len(page.items) >= page.total
        return False

    def _close(self, group: tuple[Any, ...], secrets: tuple[str, ...]) -> list[Finding]:
        open_walk = self.walks.pop(group, None)
        return self._judge_walk(open_walk.walk, secrets) if open_walk else []

    def _judge_walk(self, walk: Walk, secrets: tuple[str, ...]) -> list[Finding]:
        listing, name = walk.listing, walk.operation
        findings: list[Finding] = []
        totals = {page.total for page in walk.pages}
        if len(totals) <= 1:  # a total that moved means the list changed meanwhile: items may shift pages
            self.judged.add(("pagination.no-duplicates", name))
            if not _distinct_ids(walk):  # distinct string ids cannot be duplicates: the judge has nothing to find
                findings += judge_no_duplicates(walk, secrets)
        if listing.get("total") or listing.get("echo") or listing.get("page_count"):
            self.judged.add(("pagination.totals", name))
            findings += judge_totals(walk, secrets) or _judge_walk_total(walk, secrets)
        if listing["style"] in ("cursor", "link") and len(walk.pages) > 1:
            self.judged.add(("pagination.last-page", name))
            findings += judge_last_page(walk, secrets)
        if listing.get("sort"):
            self.judged.add(("pagination.sort-order", name))
            findings += judge_sort_order(walk, secrets)
        if listing.get("header_echo") or (listing.get("total") or {}).get("in") == "header":
            self.judged.add(("pagination.headers", name))
            findings += judge_header_echo(walk, secrets)
        maximum = (listing.get("limit") or {}).get("max")
        if maximum:
            self.judged.add(("pagination.max-limit", name))
            findings += judge_page_sizes(walk, int(maximum), secrets)
        return findings

    # idempotency

    def _replay(
        self, section: dict[str, Any], exchange: Exchange, client: str, secrets: tuple[str, ...]
    ) -> list[Finding]:
        header = section["header"]
        key = next((v for n, v in exchange.request_headers.items() if n.lower() == header.lower()), None)
        status = exchange.status or 0
        if not key or status in (401, 403, 429) or status >= 500:
            return []
        digest = hashlib.sha256(exchange.request_body or b"").hexdigest()
        slot = (section["operation"], client, key)
        stored = self.keys.get(slot)
        if stored is None:
            if 200 <= status < 300:  # kept: its status and body (the replay is compared with them)
                self.keys[slot] = (digest, _copy(exchange, request_body=None, request_headers={}))
                while len(self.keys) > MAX_KEYS:
                    self.keys.popitem(last=False)
            return []
        first_digest, first = stored
        name = section["operation"]
        if first_digest == digest:
            self.judged.add(("idempotency.replay-same-resource", name))
            self.judged.add(("idempotency.replay-same-response", name))
            findings, notes = judge_replay(section, first, exchange, secrets)
            self.notes += notes
            return findings
        if section.get("conflict_status"):
            self.judged.add(("idempotency.conflict", name))
            first_id = resource_id(first, section["resource_id"])
            found = judge_conflict(self.profile, section, first_id, exchange, secrets)
            return [f for f in found if f.rule_id == "idempotency.conflict"]  # the envelope is judged per exchange
        return []

    # rate limits

    def _rate(
        self,
        rate: dict[str, Any],
        exchange: Exchange,
        operation: str,
        client: str,
        secrets: tuple[str, ...],
        started: float | None,
    ) -> list[Finding]:
        if rate.get("scope") == "key" and not credentials(self.profile, exchange):
            return []  # not counted against a key
        names = dict(rate["headers"])
        header = exchange.header
        values = [header(names["limit"]), header(names["remaining"]), header(names["reset"])]
        if None in values:
            return []  # a header missing: rate-limit.headers judges whether it was due
        current: Sample = (exchange, header_int(values[0]), header_int(values[1]), header_int(values[2]))
        self.judged.add(("rate-limit.consistent", operation))
        previous = self.rates.pop(client, None)
        # answers that overlapped in time may have been counted in either order: only judge one after the other
        # (the previous sample is kept only when it was sound, so a finding is this answer's)
        ordered = previous is not None and (started is None or previous[1] is None or started >= previous[1])
        batch = [previous[0], current] if previous is not None and ordered else [current]
        findings = judge_consistency(batch, rate, names, operation, secrets, exact=False, now=self.now)
        if not findings:
            ended = started + exchange.elapsed_s if started is not None else None
            kept = _copy(exchange, body=b"", request_body=None)  # only its headers and time are read again
            self.rates[client] = ((kept, *current[1:]), ended)
            while len(self.rates) > MAX_CLIENTS:
                self.rates.popitem(last=False)
        return findings


_PLAIN: dict[type, bool] = {}  # per Exchange class: whether `_copy` may copy its fields (a few classes)


def _copy(exchange: Exchange, **changes: Any) -> Exchange:
    """`dataclasses.replace(exchange, **changes)` without its per-field introspection (thousands a second)."""
    fields = getattr(exchange, "__dict__", None)
    kind = type(exchange)
    plain = _PLAIN.get(kind)
    if plain is None:  # Exchange's own __init__ and no __post_init__: copying the fields is what replace() does
        plain = _PLAIN[kind] = kind.__init__ is Exchange.__init__ and not hasattr(kind, "__post_init__")
    if fields is None or not plain:
        return replace(exchange, **changes)
    copy = object.__new__(type(exchange))
    copy.__dict__.update(fields)
    copy.__dict__.update(changes)
    return copy


def _slim_top(items: list[Any], keys: list[str]) -> list[Any]:
    """`[{key: item[key] for key in keys if key in item} if isinstance(item, dict) else item for item in items]`,
    for the usual single `/id` without a comprehension per item (walks of 100-item pages, thousands a second)."""
    if len(keys) == 1:
        try:  # raises unless every item is a dict holding the key (JSON items: dict, list, str, number, ...)
            values = list(map(itemgetter(keys[0]), items))
        except (KeyError, TypeError, IndexError):
            pass
        else:
            key = keys[0]
            return [{key: value} for value in values]
    return [{key: item[key] for key in keys if key in item} if isinstance(item, dict) else item for item in items]


def _distinct_ids(walk: Walk) -> bool:
    """Whether every item of the walk is a dict whose `/name` id is a string, all ids distinct: then
    `judge_no_duplicates` (whose keys are those strings, JSON-encoded one to one) finds nothing."""
    pointer = walk.listing.get("item_id")
    if not isinstance(pointer, str) or pointer.count("/") != 1 or not pointer.startswith("/") or "~" in pointer:
        return False
    getter = itemgetter(pointer[1:])
    ids: list[Any] = []
    try:
        for page in walk.pages:
            ids += map(getter, page.items)
    except (KeyError, TypeError, IndexError):
        return False
    if not ids or set(map(type, ids)) != {str}:
        return False
    return len(set(ids)) == len(ids)


def _slim(item: Any, paths: list[list[str]] | None) -> Any:
    """What the walk judges read of an item (its id and sort key), so open walks stay small in memory.

    `paths`: the parts of the listing's item_id and sort pointers (`_paths`); None keeps the whole item.
    """
    if paths is None or not isinstance(item, dict):
        return item
    slim: dict[str, Any] = {}
    for parts in paths:
        source, target = item, slim
        for index, part in enumerate(parts):
            if not isinstance(source, dict) or part not in source:
                break
            if index == len(parts) - 1 or not isinstance(source[part], dict):
                target[part] = source[part]
                break
            source, target = source[part], target.setdefault(part, {})
    return slim


def _paths(listing: dict[str, Any]) -> list[list[str]] | None:
    """The parts of the pointers `_slim` keeps; None when the whole item is its identity."""
    sort = (listing.get("sort") or {}).get("pointer")
    pointers = [listing.get("item_id", ""), *([sort] if sort else [])]
    if "" in pointers:
        return None
    return [[p.replace("~1", "/").replace("~0", "~") for p in pointer[1:].split("/")] for pointer in pointers]


def _judge_walk_total(walk: Walk, secrets: tuple[str, ...]) -> list[Finding]:
    """Fails when a walk from the first page to the end saw another number of items than its unchanged total."""
    total = walk.stable_total
    if walk.ended != "end" or total is None:
        return []
    keys = walk.keys
    if len(set(keys)) <= total <= len(keys):
        return []
    name = str((walk.listing.get("total") or {}).get("name") or "the total")
    message = (
        f"{name} is {total} on every page, but {walk.describe()} from the first page to the end returned "
        f"{len(set(keys))} item(s): the total miscounts, or the walk lost items.\n\nThe total must count the items "
        "of the list, and a walk must reach every item."
    )
    return [
        finding(
            "pagination.totals",
            walk.operation,
            message,
            rule=walk.listing,
            exchange=walk.pages[0].exchange,
            secrets=secrets,
        )
    ]


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip()) if value is not None else None
    except ValueError:
        return None
