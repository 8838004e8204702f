"""The report's model: a run's result document, read into plain frozen dataclasses.

`Result.from_dict` checks the shape of the JSON result that `conformance run --report-dir` writes
and raises `ResultError` naming the first thing that is wrong. Every view (the HTML report, the
index, `diff`, the baseline) reads results through it, so they all count the same way:

* an **outcome** is one rule on one operation (`(rule, operation)`, operation `"*"` for API-wide
  rules), however many tests the engine ran for it;
* its status is `failed` when a finding of that pair is not accepted (or a check of it failed
  without leaving a finding), `accepted` when all its findings are baselined, else `passed`
  when a check of it passed, else `skipped`.

The second half of the module holds the view dataclasses that `build.py` fills and the templates
read (matrix, scores, findings with truncated bodies and a curl command).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from conformance.rules import CATEGORIES

__all__ = [
    "API_WIDE",
    "STATUSES",
    "BaselineNote",
    "Body",
    "Cell",
    "CategoryScore",
    "CheckRecord",
    "Counts",
    "Exchange",
    "FindingRecord",
    "FindingView",
    "IndexEntry",
    "Matrix",
    "MatrixRow",
    "Outcome",
    "Report",
    "RequestRow",
    "Result",
    "ResultError",
    "Run",
    "known_categories",
]

# Worst first: a cell or an API takes the first status any of its outcomes has.
STATUSES = ("failed", "accepted", "passed", "skipped")
OUTCOMES = ("passed", "failed", "skipped")
API_WIDE = "*"


class ResultError(ValueError):
    """The document is not a conformance result; the message says where and what is wrong."""


# --- the result document --------------------------------------------------------------------


@dataclass(frozen=True)
class Exchange:
    """One side of the recorded HTTP exchange: a request (method, url) or a response (status)."""

    headers: tuple[tuple[str, str], ...]
    body: str | None
    method: str = ""
    url: str = ""
    status: int | None = None


@dataclass(frozen=True)
class FindingRecord:
    """One finding as the JSON result holds it."""

    rule: str
    category: str
    tier: str
    operation: str
    title: str
    message: str
    source: str
    request: Exchange | None
    response: Exchange | None
    accepted: bool
    baseline_reason: str | None
    raw: Mapping[str, Any]

    @property
    def key(self) -> tuple[str, str]:
        """Identity across runs: the rule and the operation, never the wording."""
        return (self.rule, self.operation)

    @property
    def status(self) -> str:
        return "accepted" if self.accepted else "failed"


@dataclass(frozen=True)
class CheckRecord:
    """One check the engine ran: a rule on an operation, with its outcome."""

    rule: str
    category: str
    operation: str
    outcome: str
    reason: str


@dataclass(frozen=True)
class Outcome:
    """The verdict on one rule for one operation, from its checks and findings."""

    rule: str
    category: str
    operation: str
    status: str
    reason: str
    findings: tuple[FindingRecord, ...]


@dataclass(frozen=True)
class Run:
    """What was run, where and when."""

    api: str
    base_url: str
    started_at: str
    duration_s: float | None
    requests_sent: int | None
    seed: int | str | None
    tool_version: str
    requests_by_rule: Mapping[str, int] = field(default_factory=dict)
    """Requests per rule (each test's charged to its first rule): where a run's cost goes."""


@dataclass(frozen=True)
class BaselineNote:
    """What the baseline did to this result (written by `apply_baseline`)."""

    entries: int
    matched: int
    expired: tuple[Mapping[str, Any], ...]
    unused: tuple[Mapping[str, Any], ...]


@dataclass(frozen=True)
class Result:
    """A run's result document: run facts, checks and findings."""

    run: Run
    checks: tuple[CheckRecord, ...]
    findings: tuple[FindingRecord, ...]
    baseline: BaselineNote | None
    notes: tuple[FindingRecord, ...] = ()
    """What differs from our reading of the documents but breaks no promise; never a failure."""
    incomplete: Mapping[str, Any] | None = None
    """Set when the run was interrupted: its reason, what ran and what did not (conformance/interrupt.py)."""

    @classmethod
    def from_dict(cls, data: Any) -> Result:
        """Returns the result read from its JSON shape; raises ResultError naming what is wrong."""
        if not isinstance(data, Mapping):
            raise ResultError(f"expected a JSON object, got {type(data).__name__}")
        api = _string(data, "api", "", required=True)
        checks = tuple(_check(item, f"checks[{i}]") for i, item in enumerate(_list(data, "checks")))
        findings = tuple(_finding(item, f"findings[{i}]") for i, item in enumerate(_list(data, "findings")))
        run = Run(
            api=api,
            base_url=_string(data, "base_url", ""),
            started_at=_string(data, "started_at", ""),
            duration_s=_number(data, "duration_s"),
            requests_sent=_integer(data, "requests_sent"),
            seed=data.get("seed") if isinstance(data.get("seed"), int | str) else None,
            tool_version=_string(data, "tool_version", ""),
            requests_by_rule=_counts(data.get("requests_by_rule")),
        )
        notes = tuple(_finding(item, f"notes[{i}]") for i, item in enumerate(_list(data, "notes")))
        incomplete = data.get("incomplete") if isinstance(data.get("incomplete"), Mapping) else None
        return cls(
            run=run,
            checks=checks,
            findings=findings,
            baseline=_baseline_note(data.get("baseline")),
            notes=notes,
            incomplete=incomplete,
        )

    def outcomes(self) -> list[Outcome]:
        """Returns one Outcome per (rule, operation), in the order the engine first reported them.

        A failed API-wide check whose findings name operations is shown at those operations
        only, so one broken promise is never counted twice.
        """
        order: dict[tuple[str, str], str] = {}
        checks: dict[tuple[str, str], list[CheckRecord]] = {}
        findings: dict[tuple[str, str], list[FindingRecord]] = {}
        for check in self.checks:
            order.setdefault((check.rule, check.operation), check.category)
            checks.setdefault((check.rule, check.operation), []).append(check)
        for item in self.findings:
            order.setdefault(item.key, item.category)
            findings.setdefault(item.key, []).append(item)
        rules_found = {rule for rule, _ in findings}
        outcomes = []
        for (rule, operation), category in order.items():
            found = findings.get((rule, operation), [])
            ran = checks.get((rule, operation), [])
            results = {check.outcome for check in ran}
            reasons = [check.reason for check in ran if check.outcome != "passed" and check.reason]
            if found:
                status = "failed" if any(not item.accepted for item in found) else "accepted"
            elif "failed" in results:
                if operation == API_WIDE and rule in rules_found:
                    continue  # its findings are shown at their operations
                status = "failed"
            elif "passed" in results:
                status = "passed"
            else:
                status = "skipped"
            reason = "; ".join(dict.fromkeys(reasons)) if status in ("failed", "skipped") else ""
            outcomes.append(Outcome(rule, category, operation, status, reason, tuple(found)))
        return outcomes

    def summary(self) -> dict[str, int]:
        """Returns the counts of outcomes by status (the JSON result's `summary`)."""
        counts = Counts.of(outcome.status for outcome in self.outcomes())
        return {
            "passed": counts.passed,
            "failed": counts.failed,
            "skipped": counts.skipped,
            "accepted": counts.accepted,
        }


def _list(data: Mapping[str, Any], key: str) -> list[Any]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise ResultError(f"{key!r} must be a list, not {type(value).__name__}")
    return value


def _string(data: Mapping[str, Any], key: str, where: str, *, required: bool = False) -> str:
    value = data.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        name = f"{where}.{key}" if where else repr(key)
        what = "is missing" if key not in data else f"must be a non-empty string, not {value!r}"
        raise ResultError(f"{name} {what}")
    return value


def _number(data: Mapping[str, Any], key: str) -> float | None:
    value = data.get(key)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _counts(value: Any) -> Mapping[str, int]:
    """A {name: count} object, or empty when absent or malformed (older results have none)."""
    if not isinstance(value, Mapping):
        return {}
    return {str(k): int(v) for k, v in value.items() if isinstance(v, int) and not isinstance(v, bool)}


def _integer(data: Mapping[str, Any], key: str) -> int | None:
    value = data.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _category(data: Mapping[str, Any], rule: str) -> str:
    category = data.get("category")
    return category if isinstance(category, str) and category else rule.split(".", 1)[0]


def _check(data: Any, where: str) -> CheckRecord:
    if not isinstance(data, Mapping):
        raise ResultError(f"{where} must be an object")
    rule = _string(data, "rule", where, required=True)
    outcome = data.get("outcome")
    if outcome not in OUTCOMES:
        raise ResultError(f"{where}.outcome must be one of {', '.join(OUTCOMES)}, not {outcome!r}")
    return CheckRecord(
        rule=rule,
        category=_category(data, rule),
        operation=_string(data, "operation", where) or API_WIDE,
        outcome=outcome,
        reason=_string(data, "reason", where),
    )


def _finding(data: Any, where: str) -> FindingRecord:
    if not isinstance(data, Mapping):
        raise ResultError(f"{where} must be an object")
    rule = _string(data, "rule", where, required=True)
    reason = data.get("baseline_reason")
    return FindingRecord(
        rule=rule,
        category=_category(data, rule),
        tier=_string(data, "tier", where) or "documented",
        operation=_string(data, "operation", where) or API_WIDE,
        title=_string(data, "title", where),
        message=_string(data, "message", where),
        source=_string(data, "source", where),
        request=_exchange(data.get("request"), f"{where}.request"),
        response=_exchange(data.get("response"), f"{where}.response"),
        accepted=data.get("accepted") is True,
        baseline_reason=reason if isinstance(reason, str) else None,
        raw=data,
    )


def _exchange(data: Any, where: str) -> Exchange | None:
    if data is None:
        return None
    if not isinstance(data, Mapping):
        raise ResultError(f"{where} must be an object or null")
    headers = data.get("headers") or {}
    if isinstance(headers, Mapping):
        pairs = tuple((str(k), str(v)) for k, v in headers.items())
    elif isinstance(headers, list) and all(isinstance(p, list | tuple) and len(p) == 2 for p in headers):
        pairs = tuple((str(k), str(v)) for k, v in headers)
    else:
        raise ResultError(f"{where}.headers must be an object of header names to values")
    body = data.get("body")
    status = data.get("status")
    return Exchange(
        headers=pairs,
        body=None if body is None else body if isinstance(body, str) else str(body),
        method=str(data.get("method") or ""),
        url=str(data.get("url") or ""),
        status=status if isinstance(status, int) else None,
    )


def _baseline_note(data: Any) -> BaselineNote | None:
    if not isinstance(data, Mapping):
        return None
    return BaselineNote(
        entries=int(data.get("entries", 0)),
        matched=int(data.get("matched", 0)),
        expired=tuple(data.get("expired") or ()),
        unused=tuple(data.get("unused") or ()),
    )


# --- views: what the templates read ---------------------------------------------------------


@dataclass(frozen=True)
class Counts:
    """How many outcomes have each status."""

    passed: int = 0
    failed: int = 0
    accepted: int = 0
    skipped: int = 0

    @classmethod
    def of(cls, statuses: Any) -> Counts:
        statuses = list(statuses)
        return cls(*(statuses.count(name) for name in ("passed", "failed", "accepted", "skipped")))

    @property
    def checked(self) -> int:
        """Outcomes that reached a verdict (skipped ones did not)."""
        return self.passed + self.failed + self.accepted

    @property
    def total(self) -> int:
        return self.checked + self.skipped

    @property
    def score(self) -> float | None:
        """Share of checked outcomes that passed; an accepted deviation is still a deviation."""
        return self.passed / self.checked if self.checked else None

    @property
    def status(self) -> str:
        """The worst status present, or `n-a` when nothing applies."""
        for name in STATUSES:
            if getattr(self, name):
                return name
        return "n-a"


@dataclass(frozen=True)
class Body:
    """A body as shown: possibly pretty-printed, possibly cut, with the original size."""

    text: str
    total: int  # the whole body's size, in `unit`
    truncated: bool
    unit: str = "characters"  # "bytes" when the engine had already cut the body


@dataclass(frozen=True)
class FindingView:
    """A finding as the report shows it."""

    anchor: str
    rule: str
    category: str
    tier: str
    operation: str
    title: str
    message: str
    source: str
    status: str
    baseline_reason: str | None
    baseline_expired: str | None
    request: Exchange | None
    request_body: Body | None
    response: Exchange | None
    response_body: Body | None
    curl: str
    exchange_brief: str = ""  # `GET /v1/products?limit=0 → 400`: tells apart findings of one rule and operation


@dataclass(frozen=True)
class Cell:
    """One matrix cell: the outcomes of one category's rules on one operation."""

    operation: str
    category: str
    counts: Counts
    rules: tuple[tuple[str, str], ...]  # (rule, status)
    anchor: str | None = None  # the cell's first finding, worst first

    @property
    def status(self) -> str:
        return self.counts.status

    @property
    def tooltip(self) -> str:
        return "\n".join(f"{rule}: {status}" for rule, status in self.rules) or "no rule applies"


@dataclass(frozen=True)
class MatrixRow:
    operation: str
    label: str
    cells: tuple[Cell, ...]
    counts: Counts


@dataclass(frozen=True)
class Matrix:
    """Operations × categories."""

    categories: tuple[str, ...]
    rows: tuple[MatrixRow, ...]


@dataclass(frozen=True)
class CategoryScore:
    category: str
    counts: Counts


@dataclass(frozen=True)
class Report:
    """Everything the HTML report of one API shows."""

    run: Run
    started: str
    duration: str
    counts: Counts
    categories: tuple[CategoryScore, ...]
    matrix: Matrix
    findings: tuple[FindingView, ...]
    outcomes: tuple[Outcome, ...]
    baseline: BaselineNote | None
    notes: tuple[FindingView, ...] = ()
    incomplete: Mapping[str, Any] | None = None
    requests: tuple[RequestRow, ...] = ()
    """Requests per rule family, each followed by its rules (empty for results without the figures)."""

    def category(self, name: str) -> Counts:
        """Returns the counts of one category (all zero when none of its rules applies)."""
        return next((score.counts for score in self.categories if score.category == name), Counts())


@dataclass(frozen=True)
class RequestRow:
    """One line of the report's requests table: a rule family (rule "") or one of its rules."""

    category: str
    rule: str
    requests: int
    share: float


@dataclass(frozen=True)
class IndexEntry:
    """One API's line in the run's index page."""

    report: Report
    href: str


def known_categories(extra: Any = ()) -> tuple[str, ...]:
    """Returns the suite's categories in their fixed order, then any unknown ones seen."""
    seen = [category for category in extra if category not in CATEGORIES]
    return CATEGORIES + tuple(dict.fromkeys(seen))
