"""The run's summary on the console: one line of counts, then each finding, note and problem."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["summary_lines"]


def summary_lines(
    result: dict[str, Any],
    failures: list[dict[str, Any]],
    report_dir: Path | None = None,
    more: Sequence[str] = (),
) -> list[str]:
    """The run's closing summary: counts, each failing finding, notes, unused baseline entries, `more` lines
    (the missed `--fail-under` thresholds), and last where the report is."""
    lines: list[str] = []
    summary = result["summary"]
    accepted = len(result["findings"]) - len(failures)
    notes = result.get("notes") or []
    seed = f"; seed {result['seed']}" if result.get("seed") is not None else ""
    outcomes = f"{summary['passed']} passed, {summary['failed']} failed, " + (
        f"{summary['accepted']} accepted, " if summary.get("accepted") else ""
    )
    from conformance.report.score import scores

    total = scores(result)["total"]  # the HTML report's score (conformance/report/score.py)
    lines.append(
        f"{result['api']} at {result['base_url']}: {outcomes}"
        f"{summary['skipped']} skipped (rule × operation)"
        + (f", score {total}%" if total is not None else "")
        + f"; {len(failures)} finding(s)"
        + (f", {accepted} accepted" if accepted else "")
        + (f", {len(notes)} note(s)" if notes else "")
        + f"; {result['requests_sent']} requests in {result['duration_s']:.1f} s{seed}"
    )
    for item in failures[:50]:
        first = item["message"].splitlines()[0] if item["message"] else ""
        if item.get("baseline_expired"):
            first = f"(accepted until {item['baseline_expired']}, expired) {first}"
        lines.append(f"  FAIL  {item['rule']:32} {operation_label(item['operation']):20} {cut(first)}")
    if len(failures) > 50:
        lines.append(f"  … and {len(failures) - 50} more (see the report)")
    for item in notes[:20]:  # a note differs from our reading but breaks no promise: it never fails the run
        first = item["message"].splitlines()[0] if item["message"] else ""
        lines.append(f"  NOTE  {item['rule']:32} {operation_label(item['operation']):20} {cut(first)}")
    if len(notes) > 20:
        lines.append(f"  … and {len(notes) - 20} more notes (see the report)")
    found = {(item["rule"], item["operation"]) for item in result["findings"]}
    crashes: dict[tuple[str, str], str] = {}
    for check in result.get("checks") or []:
        if check["outcome"] == "failed" and (check["rule"], check["operation"]) not in found and check.get("reason"):
            crashes.setdefault((check["rule"], check["operation"]), check["reason"].strip().splitlines()[-1])
    for entry in (result.get("baseline") or {}).get("unused", []):
        lines.append(
            f"  BASELINE {entry['rule']} on {operation_label(entry['operation'])} ({entry['location']}) matched "
            "nothing: the deviation may be fixed; remove the entry"
        )
    for (rule, operation), reason in list(crashes.items())[:20]:
        lines.append(f"  ERROR {rule:32} {operation_label(operation):20} the check itself failed: {cut(reason)}")
    lines.extend(more)
    if report_dir is not None:
        lines.append(f"report: {report_dir / (result['api'] + '.html')} (all APIs: {report_dir / 'index.html'})")
    return lines


def cut(text: str, limit: int = 140) -> str:
    """A console line's message, cut to `limit` characters with an ellipsis that says so."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def operation_label(operation: str) -> str:
    return "API-wide" if operation == "*" else operation
