"""Run-to-run diffs: which findings were fixed, which are new, which remain.

Findings are matched by identity, `(rule, operation)`, never by wording, so a better message
does not make a finding "new". A finding that disappears counts as fixed only when the new run
checked that rule on that operation and it passed; when the check was skipped or not run, it is
listed as "not re-checked" instead, so an unreachable server never looks like a fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from conformance.report.build import format_started
from conformance.report.model import API_WIDE, FindingRecord, Result
from conformance.report.render import render_diff_fragment
from conformance.rules import RULES

__all__ = ["Diff", "DiffEntry", "diff_results", "regressed", "render_html", "render_text"]


@dataclass(frozen=True)
class DiffEntry:
    """One (rule, operation) and what happened to it between the runs."""

    change: str  # "new", "fixed", "unverified" or "unchanged"
    rule: str
    operation: str
    title: str
    status: str  # in the new run: "failed" or "accepted"; "" when it is gone
    message: str  # the first paragraph of the latest message
    note: str = ""


@dataclass(frozen=True)
class Diff:
    """The findings of two runs, compared."""

    old_label: str
    new_label: str
    new: tuple[DiffEntry, ...]
    fixed: tuple[DiffEntry, ...]
    unverified: tuple[DiffEntry, ...]
    unchanged: tuple[DiffEntry, ...]
    apis_differ: bool = False


def diff_results(old: Mapping[str, Any], new: Mapping[str, Any]) -> Diff:
    """Returns the comparison of two result dicts (old run first); raises ResultError for a bad one."""
    before, after = Result.from_dict(old), Result.from_dict(new)
    old_findings = _by_key(before.findings)
    new_findings = _by_key(after.findings)
    checked = {(o.rule, o.operation): o.status for o in after.outcomes()}
    passed_rules = {c.rule for c in after.checks if c.operation == API_WIDE and c.outcome == "passed"}
    sections: dict[str, list[DiffEntry]] = {"new": [], "fixed": [], "unverified": [], "unchanged": []}
    for key in dict.fromkeys([*old_findings, *new_findings]):
        rule, operation = key
        was, now = old_findings.get(key), new_findings.get(key)
        if now and not was:
            sections["new"].append(_entry("new", key, now))
        elif was and not now:
            fixed = checked.get(key) == "passed" or (key not in checked and rule in passed_rules)
            if fixed:
                sections["fixed"].append(_entry("fixed", key, was, status=""))
            else:
                why = "skipped in the new run" if checked.get(key) == "skipped" else "not run in the new run"
                sections["unverified"].append(_entry("unverified", key, was, status="", note=why))
        elif was and now:
            old_status, new_status = _status(was), _status(now)
            note = f"was {old_status}" if old_status != new_status else ""
            sections["unchanged"].append(_entry("unchanged", key, now, note=note))
    return Diff(
        old_label=_label(before),
        new_label=_label(after),
        new=tuple(sections["new"]),
        fixed=tuple(sections["fixed"]),
        unverified=tuple(sections["unverified"]),
        unchanged=tuple(sections["unchanged"]),
        apis_differ=before.run.api != after.run.api,
    )


def regressed(diff: Diff) -> bool:
    """True when the new run has a failing finding the old one did not (accepted ones don't count)."""
    return any(entry.status == "failed" for entry in diff.new)


def render_text(diff: Diff) -> str:
    """Returns the diff as plain text for a terminal or a CI log."""
    new_failures = sum(entry.status == "failed" for entry in diff.new)
    counts = f"{len(diff.fixed)} fixed, {len(diff.new)} new, {len(diff.unchanged)} unchanged"
    if diff.unverified:
        counts += f", {len(diff.unverified)} not re-checked"
    verdict = (
        f"Regressed: {new_failures} new failing finding{'s' * (new_failures != 1)}"
        if regressed(diff)
        else "No regression"
    )
    lines = [f"old: {diff.old_label}", f"new: {diff.new_label}"]
    if diff.apis_differ:
        lines.append("note: the two results are of different APIs")
    lines += [f"{verdict} ({counts})", ""]
    every = [*diff.new, *diff.fixed, *diff.unverified, *diff.unchanged]
    rule_width = max((len(e.rule) for e in every), default=0)
    operation_width = max((len(_operation(e.operation)) for e in every), default=0)
    for entries, title, mark in (
        (diff.new, "New findings", "+"),
        (diff.fixed, "Fixed", "-"),
        (diff.unverified, "Not re-checked (gone, but the new run did not check them)", "?"),
        (diff.unchanged, "Unchanged", "="),
    ):
        if not entries:
            continue
        lines.append(f"{title} ({len(entries)}):")
        for e in entries:
            extra = [e.status] if e.status == "accepted" else []
            extra += [e.note] if e.note else []
            suffix = f"  [{'; '.join(extra)}]" if extra else ""
            lines.append(
                f"  {mark} {e.rule:<{rule_width}}  {_operation(e.operation):<{operation_width}}  "
                f"{e.title}{suffix}".rstrip()
            )
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def render_html(diff: Diff) -> str:
    """Returns the diff as an HTML fragment (a <section>, every value escaped)."""
    return render_diff_fragment(diff, regressed=regressed(diff))


def _by_key(findings: tuple[FindingRecord, ...]) -> dict[tuple[str, str], list[FindingRecord]]:
    grouped: dict[tuple[str, str], list[FindingRecord]] = {}
    for item in findings:
        grouped.setdefault(item.key, []).append(item)
    return grouped


def _status(findings: list[FindingRecord]) -> str:
    return "failed" if any(not item.accepted for item in findings) else "accepted"


def _entry(
    change: str, key: tuple[str, str], findings: list[FindingRecord], *, status: str | None = None, note: str = ""
) -> DiffEntry:
    rule, operation = key
    first = findings[0]
    title = first.title or (RULES[rule].title if rule in RULES else "")
    message = first.message.split("\n\n", 1)[0].strip()
    return DiffEntry(change, rule, operation, title, _status(findings) if status is None else status, message, note)


def _label(result: Result) -> str:
    run = result.run
    parts = [run.api]
    if run.started_at:
        parts.append(f"at {format_started(run.started_at)}")
    if run.base_url:
        parts.append(f"against {run.base_url}")
    return " ".join(parts)


def _operation(operation: str) -> str:
    return "API-wide" if operation == API_WIDE else operation
