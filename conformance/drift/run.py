"""Judging recorded traffic: match each exchange to its operation, judge it, count unique violations.

Nothing here opens a connection: the exchanges come from files (`traffic.py`) and go through the same
judges as the live suite (`conformance/checks/passive.py`). A violation is counted once per rule,
operation and signature (its message with ids, numbers and quoted values taken out), with how many
exchanges showed it and when first and last.
"""

from __future__ import annotations

import email.utils
import gc
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx

from conformance.checks.passive import Judged, Sequences, credentials, judge_exchange
from conformance.checks.rate_limit import server_now
from conformance.client import Exchange
from conformance.drift.traffic import Record, read_traffic
from conformance.exchange import redact
from conformance.findings import Finding
from conformance.profile import Operation, Profile, resolve_ref
from conformance.rules import RULES

__all__ = ["Drift", "Matcher", "not_observed_reason"]

_GC_THRESHOLD = 50_000  # see `Drift.read`

# Why a rule could not be judged on an operation, by what the traffic lacked.
_LACKING = {
    "errors": "no error answer (4xx/5xx) of this operation",
    "pagination": "no page of this list (two pages in a row for a walk)",
    "idempotency.replay-same-resource": "no replay with one idempotency key and the same body",
    "idempotency.replay-same-response": "no replay with one idempotency key and the same body",
    "idempotency.conflict": "no reuse of one idempotency key with another body",
    "idempotency.key-required": "no create without its idempotency key",
    "rate-limit.headers": "no answer the rate-limit headers are due on",
    "rate-limit.consistent": "no answer carrying rate-limit headers",
    "auth.missing-credentials": "no request without credentials",
    "auth.public-operations": "no request without credentials",
    "transport.invalid-response": "no JSON answer",
    "schema.content-type": "no successful answer with a body",
    "schema.response-schema": "no successful JSON answer",
    "schema.response-headers": "no successful answer",
}


def not_observed_reason(rule_id: str) -> str:
    lacking = _LACKING.get(rule_id) or _LACKING.get(rule_id.split(".")[0]) or "no exchange of this operation"
    return f"not observed: the traffic holds {lacking}"


class Matcher:
    """Finds the spec operation of a recorded request by method and path below the base URL.

    With `base_url`, only requests to that scheme, host and path are the API's; without it, any host whose
    path starts with the profile's base path. Literal path segments win over templates
    (`/orders/statuses` before `/orders/{id}`); a trailing slash is ignored.
    """

    def __init__(self, profile: Profile, base_url: str | None = None) -> None:
        self.origin: str | None = None
        base_path = str(profile.data.get("base_path") or "")
        if base_url:
            parts = urlsplit(base_url)
            self.origin = f"{parts.scheme}://{parts.netloc}".lower()
            base_path = parts.path
        self.base_path = base_path.rstrip("/")
        self.routes: dict[str, list[tuple[re.Pattern[str], Operation]]] = {}
        ordered = sorted(profile.operations.values(), key=lambda op: (-_literal_segments(op.path), op.path))
        for op in ordered:
            pattern = re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(op.path.rstrip("/") or "/"))
            self.routes.setdefault(op.method, []).append((re.compile(f"^{pattern}/?$"), op))
        self.cache: dict[tuple[str, str], Operation | None] = {}
        self.urls: dict[tuple[str, str], tuple[Operation | None, str]] = {}  # (method, URL before its query)

    def match(self, method: str, url: str) -> tuple[Operation | None, str]:
        """Returns the operation, or None and why not ("another host", "outside the base path", "no operation")."""
        base = url.partition("?")[0]  # the query changes neither host nor path: answers cached without it
        if "#" in base:
            return self._match(method, url)
        key = (method, base)
        found = self.urls.get(key)
        if found is None:
            found = self._match(method, base)
            if len(self.urls) >= 10_000:
                self.urls.clear()
            self.urls[key] = found
        return found

    def _match(self, method: str, url: str) -> tuple[Operation | None, str]:
        parts = urlsplit(url)
        if self.origin is not None and f"{parts.scheme}://{parts.netloc}".lower() != self.origin:
            return None, "another host"
        path = unquote(parts.path)
        if self.base_path and not (path == self.base_path or path.startswith(self.base_path + "/")):
            return None, "outside the base path"
        relative = path[len(self.base_path) :] or "/"
        method = "GET" if method == "HEAD" else method
        key = (method, relative)
        if key not in self.cache:
            if len(self.cache) > 10_000:
                self.cache.clear()
            self.cache[key] = next((op for pattern, op in self.routes.get(method, ()) if pattern.match(relative)), None)
        op = self.cache[key]
        return (op, "") if op is not None else (None, "no operation of the spec")


class RecordedHeaders(httpx.Headers):
    """httpx.Headers whose look-ups are one dict access, built in full only when asked for (evidence).

    The judges read a recorded answer's headers often, and millions of answers pass; few become evidence.
    """

    def __init__(self, pairs: list[tuple[str, str]]) -> None:  # no super().__init__: `_list` is built lazily
        self._pairs = pairs
        self._built: list[tuple[bytes, bytes, bytes]] | None = None
        self._encoding = None
        joined: dict[str, str] = {}
        for name, value in pairs:
            key = name.lower()
            joined[key] = f"{joined[key]}, {value}" if key in joined else value
        self._joined = joined

    @property  # type: ignore[override]
    def _list(self) -> list[tuple[bytes, bytes, bytes]]:
        if self._built is None:
            self._built = httpx.Headers(self._pairs)._list
        return self._built

    @_list.setter
    def _list(self, value: list[tuple[bytes, bytes, bytes]]) -> None:
        self._built = value

    def get(self, key: str, default: Any = None) -> Any:
        return self._joined.get(key.lower(), default)


class RecordedExchange(Exchange):
    """An Exchange read from a file: the same fields and judgements, with cheaper header reads.

    `header` of a plain name is one dict access on `RecordedHeaders`, and `content_type` is worked out once
    per exchange (the judges ask for both several times per answer).
    """

    def header(self, name: str) -> str | None:
        if ";" in name:  # a structured-field parameter: as Exchange reads it
            return super().header(name)
        headers: RecordedHeaders = self.response_headers  # type: ignore[assignment]  # always, see `_new_exchange`
        value: str | None = headers._joined.get(name.lower())
        return value

    @property
    def content_type(self) -> str:
        fields = self.__dict__
        value: str | None = fields.get("_content_type")
        if value is None:
            value = fields["_content_type"] = (self.header("content-type") or "").split(";", 1)[0].strip().lower()
        return value


def _new_exchange(**values: Any) -> Exchange:
    """`RecordedExchange(**values)` without the frozen dataclass's `object.__setattr__` per field (give all)."""
    exchange = object.__new__(RecordedExchange)
    exchange.__dict__.update(values)
    return exchange


def _literal_segments(path: str) -> int:
    return sum(1 for part in path.split("/") if part and "{" not in part)


@dataclass
class Violation:
    """One unique violation: the first finding of its signature, and how often and when it was seen."""

    finding: Finding
    count: int = 0
    first_seen: float | None = None
    last_seen: float | None = None

    def to_dict(self) -> dict[str, Any]:
        data = self.finding.to_dict()
        seen = f"Seen in {self.count} exchange(s)"
        if self.first_seen is not None and self.last_seen is not None:
            seen += f", first at {_iso(self.first_seen)}, last at {_iso(self.last_seen)}"
        data["message"] = f"{data['message']}\n\n{seen}."
        data.update(count=self.count, first_seen=_iso(self.first_seen), last_seen=_iso(self.last_seen))
        return data


def _iso(moment: float | None) -> str | None:
    if moment is None:
        return None
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")
_VARIABLE = re.compile(r"\b\w*\d\w*\b")


def signature(finding: Finding, exchange: Exchange, op: Operation) -> str:
    """What makes two findings of one rule and operation the same violation: the message without its values."""
    text = finding.message.replace(exchange.url.split("?", 1)[0], op.path)
    text = _VARIABLE.sub("#", _QUOTED.sub("…", text))
    return f"{exchange.status}|{text}"


@dataclass
class Drift:
    """One drift run over recorded traffic of one API."""

    profile: Profile
    base_url: str | None = None
    api_key: str | None = None
    exchanges: int = 0
    matched: int = 0
    unmatched: dict[str, int] = field(default_factory=dict)
    no_response: int = 0
    violations: dict[tuple[str, str, str], Violation] = field(default_factory=dict)
    notes: dict[tuple[str, str, str], Violation] = field(default_factory=dict)
    judged: Judged = field(default_factory=set)
    operations_seen: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.matcher = Matcher(self.profile, self.base_url)
        self.sequences = Sequences(self.profile, now=self._now)
        self.started: dict[int, float | None] = {}
        self.clients: dict[str, str] = {}
        self.dates: dict[str, float] = {}  # Date header -> its time: answers of one second share one

    def _now(self, exchange: Exchange) -> float:
        """When a recorded answer was given: its Date header, else when it was recorded (0: unknown)."""
        date = exchange.header("Date")
        if date:
            moment = self.dates.get(date)
            if moment is None:
                try:  # what `server_now` reads, parsed once per distinct value
                    moment = email.utils.parsedate_to_datetime(date).timestamp()
                except (TypeError, ValueError):
                    return server_now(exchange)
                if len(self.dates) >= 4096:
                    self.dates.clear()
                self.dates[date] = moment
            return moment
        return self.started.get(id(exchange)) or 0.0

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self.api_key,) if self.api_key else ()

    def read(self, paths: Iterable[Path]) -> None:
        """Reads and judges every exchange of the files, in order; a broken file raises TrafficError.

        Meanwhile the cyclic garbage collector runs after 50,000 net new objects instead of 700: every parsed
        page body outlives 700 (a list page holds thousands), and collecting them is wasted work (they are
        freed by reference counting once judged). The threshold is restored afterwards.
        """
        threshold = gc.get_threshold()
        gc.set_threshold(max(threshold[0], _GC_THRESHOLD), *threshold[1:])
        try:
            for path in paths:
                for record in read_traffic(path):
                    self.add(record)
        finally:
            gc.set_threshold(*threshold)
        last = self.sequences.finish(self.secrets)
        for item in last:
            self._count(self.violations, item, None, None, None)

    def add(self, record: Record) -> None:
        self.exchanges += 1
        op, why = self.matcher.match(record.method, record.url)
        if op is None:
            self.unmatched[why] = self.unmatched.get(why, 0) + 1
            return
        if record.status is None:
            self.no_response += 1
            return
        self.matched += 1
        self.operations_seen.add(op.operation_id)
        exchange = _new_exchange(
            operation=op.operation_id,
            method=record.method,
            url=record.url,
            request_headers=dict(record.request_headers),
            request_body=record.request_body,
            status=record.status,
            response_headers=RecordedHeaders(record.response_headers),
            body=record.body,
            error=None,
            error_kind=None,
            elapsed_s=record.elapsed_s,
        )
        carried = credentials(self.profile, exchange)
        secrets = (*self.secrets, *carried)
        client = record.client or (self._client(carried[0]) if carried else "anonymous")
        self.started[id(exchange)] = record.started
        notes: list[Finding] = []
        found = judge_exchange(self.profile, exchange, op, secrets, judged=self.judged, notes=notes)
        found += self.sequences.add(exchange, op.operation_id, client, secrets, started=record.started)
        self.started.pop(id(exchange), None)
        for item in found:
            self._count(self.violations, item, exchange, op, record.started, secrets)
        if notes or self.sequences.notes:
            for item in notes + self.sequences.notes:
                self._count(self.notes, item, exchange, op, record.started, secrets)
            self.sequences.notes.clear()

    def _client(self, credential: str) -> str:
        """A client's name in memory: a digest of its key, never the key."""
        name = self.clients.get(credential)
        if name is None:
            if len(self.clients) > 100_000:
                self.clients.clear()
            name = self.clients[credential] = hashlib.sha256(credential.encode()).hexdigest()[:16]
        return name

    def _count(
        self,
        table: dict[tuple[str, str, str], Violation],
        item: Finding,
        exchange: Exchange | None,
        op: Operation | None,
        when: float | None,
        secrets: tuple[str, ...] = (),
    ) -> None:
        sig = signature(item, exchange, op) if exchange is not None and op is not None else item.message
        key = (item.rule_id, item.operation, sig)
        violation = table.get(key)
        if violation is None:
            if secrets:  # a judge may quote what the server said: no key leaves in a message either
                item = Finding(
                    item.rule_id,
                    item.operation,
                    redact(item.message, secrets, evidence=True),
                    item.tier,
                    item.source,
                    item.evidence,
                )
            violation = table[key] = Violation(item)
        violation.count += 1
        if when is not None:
            violation.first_seen = when if violation.first_seen is None else min(violation.first_seen, when)
            violation.last_seen = when if violation.last_seen is None else max(violation.last_seen, when)

    def checks(self) -> list[dict[str, Any]]:
        """One outcome per rule and operation: failed, passed (judged, nothing found) or skipped (not observed)."""
        failing = {(v.finding.rule_id, v.finding.operation) for v in self.violations.values()}
        judged = self.judged | self.sequences.judged
        checks: list[dict[str, Any]] = []
        for rule in RULES.values():
            if not rule.passive:
                checks.append(
                    _check(
                        rule.id, "*", "skipped", "needs requests the suite sends (conformance run); drift sends none"
                    )
                )
                continue
            for op in self.profile.operations.values():
                if not _applies(self.profile, rule.id, op):
                    continue
                key = (rule.id, op.operation_id)
                if key in failing:
                    checks.append(_check(rule.id, op.operation_id, "failed", ""))
                elif key in judged:
                    checks.append(_check(rule.id, op.operation_id, "passed", ""))
                else:
                    checks.append(_check(rule.id, op.operation_id, "skipped", not_observed_reason(rule.id)))
        for rule_id, operation in sorted(failing):  # API-wide findings (operation "*")
            if not any(c["rule"] == rule_id and c["operation"] == operation for c in checks):
                checks.append(_check(rule_id, operation, "failed", ""))
        return checks


def _check(rule_id: str, operation: str, outcome: str, reason: str) -> dict[str, Any]:
    return {
        "rule": rule_id,
        "category": RULES[rule_id].category,
        "operation": operation,
        "outcome": outcome,
        "reason": reason,
        "test": "drift",
    }


def _applies(profile: Profile, rule_id: str, op: Operation) -> bool:
    """Whether the profile makes this promise for this operation at all (else no check is listed)."""
    data = profile.data
    name = op.operation_id
    category = rule_id.split(".")[0]
    if category == "pagination":
        listing = next((s for s in data.get("pagination") or [] if s["operation"] == name), None)
        if listing is None or listing.get("style") == "none":
            return False
        return {
            "pagination.headers": bool(
                listing.get("header_echo") or (listing.get("total") or {}).get("in") == "header"
            ),
            "pagination.sort-order": bool(listing.get("sort")),
            "pagination.totals": bool(listing.get("total") or listing.get("echo") or listing.get("page_count")),
            "pagination.max-limit": bool((listing.get("limit") or {}).get("max")),
            "pagination.last-page": listing["style"] in ("cursor", "link"),
        }.get(rule_id, True)
    if category == "idempotency":
        section = next((s for s in data.get("idempotency") or [] if s["operation"] == name), None)
        if section is None:
            return False
        return {"idempotency.key-required": bool(section.get("required")), "idempotency.conflict": True}.get(
            rule_id, True
        )
    public = op.is_public or name in (data["auth"].get("public") or [])
    if category == "rate-limit":
        rate = data.get("rate_limit") or {}
        return bool(rate.get("headers")) and not (public and rate.get("scope") == "key")
    if rule_id == "auth.public-operations":
        return public
    if rule_id == "auth.missing-credentials":
        return not public
    errors = data["errors"]
    if rule_id == "errors.request-id":
        return bool(errors.get("request_id"))
    if rule_id == "errors.code-convention":
        return bool(errors.get("code_pattern") or errors.get("codes_by_status"))
    if rule_id == "schema.response-headers":
        return _required_headers(profile, op)
    return True


def _required_headers(profile: Profile, op: Operation) -> bool:
    for code, response in (op.definition.get("responses") or {}).items():
        if not str(code).startswith("2"):
            continue
        response = resolve_ref(profile.spec, response)
        for header in (response.get("headers") or {}).values() if isinstance(response, dict) else ():
            header = resolve_ref(profile.spec, header)
            if isinstance(header, dict) and header.get("required"):
                return True
    return False
