"""The finding: the one record every check returns and every report shows.

pytest outcomes, the JSON result, JUnit and HTML are all views of `Finding.to_dict()`.
Evidence is redacted when the finding is made (by `Exchange.evidence`), so no writer can leak
a key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from conformance.rules import get_rule

__all__ = ["Finding", "finding"]


@dataclass(frozen=True)
class Finding:
    """One broken promise: which rule, where, what was seen, and the redacted exchange."""

    rule_id: str
    operation: str
    message: str
    tier: str = "documented"
    source: str = ""
    evidence: dict[str, Any] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        get_rule(self.rule_id)  # an unknown id is a bug in the check, caught at once
        if self.tier not in ("documented", "inferred"):
            raise ValueError(f"tier must be 'documented' or 'inferred', not {self.tier!r}")

    @property
    def category(self) -> str:
        return get_rule(self.rule_id).category

    @property
    def title(self) -> str:
        return get_rule(self.rule_id).title

    @property
    def key(self) -> tuple[str, str]:
        """Identity across runs: the rule and the operation, never the wording."""
        return (self.rule_id, self.operation)

    def to_dict(self) -> dict[str, Any]:
        evidence = self.evidence or {}
        return {
            "rule": self.rule_id,
            "category": self.category,
            "tier": self.tier,
            "operation": self.operation,
            "title": self.title,
            "message": self.message,
            "source": self.source,
            "request": evidence.get("request"),
            "response": evidence.get("response"),
            "accepted": False,
            "baseline_reason": None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        evidence = {"request": data.get("request"), "response": data.get("response")}
        return cls(
            rule_id=data["rule"],
            operation=data["operation"],
            message=data["message"],
            tier=data.get("tier", "documented"),
            source=data.get("source", ""),
            evidence=evidence,
        )


def finding(
    rule_id: str,
    operation: str,
    message: str,
    *,
    rule: dict[str, Any] | None = None,
    exchange: Any = None,
    secrets: tuple[str, ...] = (),
    tier: str | None = None,
) -> Finding:
    """Returns a Finding whose tier and source come from the profile section `rule` (else the rule's default tier).

    `exchange` (a client Exchange) becomes redacted evidence.
    """
    section = rule or {}
    evidence = exchange.evidence(secrets) if exchange is not None else None
    return Finding(
        rule_id=rule_id,
        operation=operation,
        message=message,
        tier=tier or section.get("tier") or get_rule(rule_id).tier,
        source=section.get("source", ""),
        evidence=evidence,
    )
