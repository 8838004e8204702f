"""Builds the report's view (matrix, scores, findings) from a Result. Pure: no I/O."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from conformance.report.curl import curl_command
from conformance.report.model import (
    API_WIDE,
    Body,
    CategoryScore,
    Cell,
    Counts,
    Exchange,
    FindingRecord,
    FindingView,
    Matrix,
    MatrixRow,
    Outcome,
    Report,
    RequestRow,
    Result,
    known_categories,
)
from conformance.rules import RULES

__all__ = [
    "MAX_BODY_CHARS",
    "MAX_BODY_LINES",
    "body_view",
    "build_report",
    "exchange_brief",
    "format_duration",
    "format_started",
]

# A body longer than this is cut in the report (the JSON result keeps what the engine kept).
MAX_BODY_CHARS = 4000
MAX_BODY_LINES = 60
# How the engine marks a body it cut when recording it (conformance/exchange.py, `_body_text`).
_ENGINE_CUT = re.compile(r"… \[truncated, (\d+) bytes in all\]$")


def build_report(result: Result) -> Report:
    """Returns the view of one API's run: counts, per-category scores, matrix and findings."""
    outcomes = result.outcomes()
    categories = known_categories(outcome.category for outcome in outcomes)
    by_category = [
        CategoryScore(category, Counts.of(o.status for o in outcomes if o.category == category))
        for category in categories
    ]
    findings = _findings(result)
    anchors: dict[tuple[str, str], str] = {}
    for view in findings:
        anchors.setdefault((view.operation, view.category), view.anchor)
    return Report(
        run=result.run,
        started=format_started(result.run.started_at),
        duration=format_duration(result.run.duration_s),
        counts=Counts.of(outcome.status for outcome in outcomes),
        categories=tuple(score for score in by_category if score.counts.total),
        matrix=_matrix(outcomes, categories, anchors),
        findings=findings,
        outcomes=tuple(sorted(outcomes, key=_outcome_order)),
        baseline=result.baseline,
        notes=tuple(_finding_view(index, item, None, kind="note") for index, item in enumerate(result.notes, 1)),
        incomplete=result.incomplete,
        requests=_requests(result),
    )


def _requests(result: Result) -> tuple[RequestRow, ...]:
    """Requests per rule family (most first), each followed by its rules: where the next cut is."""
    by_rule = result.run.requests_by_rule
    total = sum(by_rule.values()) or 1
    families: dict[str, dict[str, int]] = {}
    for rule, sent in by_rule.items():
        category = RULES[rule].category if rule in RULES else rule.split(".", 1)[0]
        families.setdefault(category, {})[rule] = sent
    rows: list[RequestRow] = []
    for category, rules in sorted(families.items(), key=lambda item: -sum(item[1].values())):
        family = sum(rules.values())
        rows.append(RequestRow(category, "", family, family / total))
        for rule, sent in sorted(rules.items(), key=lambda item: -item[1]):
            rows.append(RequestRow(category, rule, sent, sent / total))
    return tuple(rows)


def _matrix(outcomes: list[Outcome], categories: tuple[str, ...], anchors: dict[tuple[str, str], str]) -> Matrix:
    operations = list(dict.fromkeys(o.operation for o in outcomes if o.operation != API_WIDE))
    if any(o.operation == API_WIDE for o in outcomes):
        operations.append(API_WIDE)
    rows = []
    for operation in operations:
        mine = [o for o in outcomes if o.operation == operation]
        cells = tuple(
            Cell(
                operation=operation,
                category=category,
                counts=Counts.of(o.status for o in mine if o.category == category),
                rules=tuple((o.rule, o.status) for o in mine if o.category == category),
                anchor=anchors.get((operation, category)),
            )
            for category in categories
        )
        label = "API-wide" if operation == API_WIDE else operation
        rows.append(MatrixRow(operation, label, cells, Counts.of(o.status for o in mine)))
    return Matrix(categories=categories, rows=tuple(rows))


def _findings(result: Result) -> tuple[FindingView, ...]:
    expired: dict[tuple[str, str], str] = {}
    if result.baseline:
        for entry in result.baseline.expired:
            expired[(str(entry.get("rule")), str(entry.get("operation")))] = str(entry.get("expires"))
    # Failures before accepted ones, then in category order, so the page reads worst first.
    ordered = sorted(result.findings, key=lambda item: (item.accepted, _category_position(item.category)))
    return tuple(_finding_view(index, item, expired.get(item.key)) for index, item in enumerate(ordered, 1))


def _finding_view(index: int, item: FindingRecord, expired: str | None, *, kind: str = "finding") -> FindingView:
    return FindingView(
        anchor=f"{kind}-{index}",
        rule=item.rule,
        category=item.category,
        tier=item.tier,
        operation=item.operation,
        title=item.title,
        message=item.message,
        source=item.source,
        status="note" if kind == "note" else item.status,
        baseline_reason=item.baseline_reason,
        baseline_expired=expired,
        request=item.request,
        request_body=body_view(item.request.body) if item.request else None,
        response=item.response,
        response_body=body_view(item.response.body) if item.response else None,
        curl=curl_command(item.raw),
        exchange_brief=exchange_brief(item.request, item.response),
    )


def exchange_brief(request: Exchange | None, response: Exchange | None, *, limit: int = 80) -> str:
    """Returns `GET /v1/products?limit=0 → 400` (path and query only, cut to `limit`), or ""."""
    if request is None or not request.url:
        return ""
    parts = urlsplit(request.url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if len(target) > limit:
        target = target[: limit - 1] + "…"
    brief = f"{request.method or 'GET'} {target}"
    if response is not None:
        brief += f" → {response.status if response.status is not None else 'no status'}"
    elif request is not None:
        brief += " → no answer"
    return brief


def body_view(body: str | None, *, limit: int = MAX_BODY_CHARS, max_lines: int = MAX_BODY_LINES) -> Body | None:
    """Returns the body as shown: JSON pretty-printed, then cut to `max_lines` lines and `limit` characters."""
    if body is None or body == "":
        return None
    cut_by_engine = _ENGINE_CUT.search(body)
    if cut_by_engine:  # the result holds only the start of the body: never parse it as JSON
        text = body[: cut_by_engine.start()]
        shown = _cut(text, limit, max_lines)
        return Body(text=shown, total=int(cut_by_engine.group(1)), truncated=True, unit="bytes")
    text = body
    try:
        text = json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    except ValueError:
        pass
    shown = _cut(text, limit, max_lines)
    return Body(text=shown, total=len(text), truncated=len(shown) < len(text))


def _cut(text: str, limit: int, max_lines: int) -> str:
    return "\n".join(text.split("\n", max_lines)[:max_lines])[:limit]


def format_started(started_at: str) -> str:
    """Returns an ISO timestamp as `2026-11-23 10:00:00 UTC` (unparseable ones unchanged)."""
    try:
        moment = datetime.fromisoformat(started_at)
    except ValueError:
        return started_at
    zone = "UTC" if moment.utcoffset() is not None and not moment.utcoffset() else moment.strftime("%z")
    return f"{moment:%Y-%m-%d %H:%M:%S} {zone}".strip()


def format_duration(seconds: float | None) -> str:
    """Returns `12.3 s`, `2 min 05 s` or `1 h 02 min`; `-` when unknown."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


_STATUS_ORDER = {"failed": 0, "accepted": 1, "skipped": 2, "passed": 3}


def _outcome_order(outcome: Outcome) -> tuple[Any, ...]:
    status = _STATUS_ORDER.get(outcome.status, 9)
    return (status, _category_position(outcome.category), outcome.rule, outcome.operation)


def _category_position(category: str) -> int:
    categories = known_categories()
    return categories.index(category) if category in categories else len(categories)
