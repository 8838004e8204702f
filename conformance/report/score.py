"""The conformance score: the one the HTML report's ring and bars show, and what `--fail-under` gates on.

The score of a set of outcomes (a rule on an operation) is the share that passed of those that
reached a verdict (`Counts.score`; an accepted deviation is still a deviation, a skipped check
reaches none). It is shown, written into the JSON result and gated as a whole percent, rounded,
but 100 only when every check passed and 0 only when none did, so a gate never disagrees with the
page a person reads.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from conformance.report.build import build_report
from conformance.report.model import Result, known_categories

__all__ = ["Threshold", "ThresholdError", "failed_thresholds", "parse_threshold", "score_percent", "scores"]


def score_percent(score: float | None) -> int | None:
    """Returns a score (0..1) as the whole percent every view shows, or None when nothing reached a verdict."""
    if score is None:
        return None
    value = round(score * 100)
    if value == 100 and score < 1:
        value = 99
    if value == 0 and score > 0:
        value = 1
    return value


def scores(result: Mapping[str, Any]) -> dict[str, Any]:
    """Returns `{"total": 87, "categories": {"errors": 60, ...}}` of a result (None where nothing was checked)."""
    report = build_report(Result.from_dict(result))
    return {
        "total": score_percent(report.counts.score),
        "categories": {item.category: score_percent(item.counts.score) for item in report.categories},
    }


class ThresholdError(ValueError):
    """A `--fail-under` value that is not SCORE or CATEGORY=SCORE; the message says how to write it."""


@dataclass(frozen=True)
class Threshold:
    """A minimum score, of the whole run (`category` None) or of one category."""

    minimum: int
    category: str | None = None

    def __str__(self) -> str:
        return f"{self.category}={self.minimum}" if self.category else str(self.minimum)


def parse_threshold(text: str) -> Threshold:
    """Reads `90` or `total=90` (the whole run) or `errors=90` (one category); 0-100, a whole percent as shown.

    Digits only: `9_0`, `+90` or `=90` (which int() or a lax split would take) are refused.
    """
    match = _THRESHOLD.fullmatch(str(text).strip())
    if match is None:
        raise ThresholdError(
            f"{text!r} is not SCORE or CATEGORY=SCORE; e.g. 90, total=90 or errors=95 (a whole percent)"
        )
    category, value = match["category"], match["score"]
    minimum = int(value)
    if not 0 <= minimum <= 100:
        raise ThresholdError(f"{text!r}: the score is a percent, 0 to 100")
    if category == "total":
        category = None
    if category and category not in known_categories():
        close = difflib.get_close_matches(category, [*known_categories(), "total"], n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"categories: {', '.join(known_categories())}, or total"
        raise ThresholdError(f"{text!r}: unknown category {category!r}; {hint}")
    return Threshold(minimum, category or None)


_THRESHOLD = re.compile(r"(?:(?P<category>[A-Za-z][A-Za-z0-9_-]*)\s*=\s*)?(?P<score>[0-9]+)", re.ASCII)


def failed_thresholds(computed: Mapping[str, Any], thresholds: list[Threshold]) -> list[str]:
    """Returns one line per threshold the scores miss, saying the score and the threshold.

    A category none of whose checks reached a verdict has no score: a threshold on it fails, since
    a gate that was asked for and could not be checked must not pass silently.
    """
    lines = []
    for threshold in thresholds:
        if threshold.category is None:
            score, name = computed.get("total"), "score"
        else:
            score, name = computed.get("categories", {}).get(threshold.category), f"{threshold.category} score"
        if score is None:
            lines.append(f"{name}: no check reached a verdict, under --fail-under {threshold}")
        elif score < threshold.minimum:
            lines.append(f"{name} {score}% is under --fail-under {threshold} ({threshold.minimum}%)")
    return lines
