"""The rule registry: every rule the suite checks, under a stable id.

Ids are `<category>.<name>`, never renumbered or reused; a finding's identity is its rule id
and operation, never its wording. Sandbox faults are named after the rule they break, so the
self-test can prove each rule both fails and passes.

A rule is declared once, next to the code that judges it: `register(Rule(...))` in
`conformance/checks/<category>.py` (`rate-limit` -> `rate_limit.py`). This module holds only the
machinery; the registry is filled from those modules the first time `RULES` or `get_rule` is used,
so it is complete whichever module is imported first. Nothing else lists rules.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

__all__ = ["CATEGORIES", "RULES", "TIERS", "Rule", "get_rule", "register"]

CATEGORIES = ("schema", "errors", "pagination", "idempotency", "rate-limit", "auth", "transport")
TIERS = ("documented", "inferred")


@dataclass(frozen=True)
class Rule:
    """One documented (or inferred) promise an API makes."""

    id: str
    title: str
    description: str
    passive: str = ""
    """What recorded traffic can show of this rule (`conformance drift`): "exchange", judged on each
    response; "sequence", judged on the sequences the traffic holds (pages of one list, replays of one
    key, headers within one window); "" needs requests the suite makes (a made-up id, a burst, two walks)."""
    reads: tuple[str, ...] = ()
    """The profile keys (dotted paths under `x-conformance`, as in `conformance/profile.schema.yaml`)
    the rule's judgement reads. The first names where the rule's promise is written: SARIF points a
    finding that has no operation there. Empty: the rule reads the OpenAPI document, not the profile."""
    tier: str = "documented"
    """The tier of its findings when neither the judge nor the profile section says otherwise."""

    @property
    def category(self) -> str:
        return self.id.split(".", 1)[0]

    @property
    def module(self) -> str:
        """The module that declares and judges the rule."""
        return f"conformance.checks.{self.category.replace('-', '_')}"


_REGISTRY: dict[str, Rule] = {}
_ORDER: dict[str, int] = {}
_loaded = False


def register(rule: Rule) -> Rule:
    """Adds `rule` to the registry and returns it; a duplicate id or an unknown category or tier raises.

    The registry keeps the order of `CATEGORIES`, then of declaration, whichever module loads first.
    """
    if rule.id in _REGISTRY:
        raise ValueError(f"duplicate rule id {rule.id!r}")
    if rule.category not in CATEGORIES:
        raise ValueError(f"rule {rule.id!r}: unknown category {rule.category!r}; known: {', '.join(CATEGORIES)}")
    if rule.tier not in TIERS:
        raise ValueError(f"rule {rule.id!r}: tier must be one of {', '.join(TIERS)}, not {rule.tier!r}")
    _ORDER[rule.id] = len(_ORDER)
    entries = sorted([*_REGISTRY.values(), rule], key=lambda r: (CATEGORIES.index(r.category), _ORDER[r.id]))
    _REGISTRY.clear()
    _REGISTRY.update((r.id, r) for r in entries)
    return rule


def _load() -> dict[str, Rule]:
    """Imports the checks module of every category, so that every rule is registered."""
    global _loaded
    if not _loaded:
        _loaded = True
        for category in CATEGORIES:
            importlib.import_module(f"conformance.checks.{category.replace('-', '_')}")
    return _REGISTRY


RULES: dict[str, Rule]
"""Rule id -> rule, every rule (read lazily through `__getattr__`: the checks modules fill it)."""


def __getattr__(name: str) -> Any:
    if name == "RULES":
        return _load()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def get_rule(rule_id: str) -> Rule:
    """Returns the rule with this id; a KeyError names the closest known id."""
    try:
        return _REGISTRY[rule_id]
    except KeyError:
        if not _loaded:
            _load()
            return get_rule(rule_id)
        import difflib

        close = difflib.get_close_matches(rule_id, _REGISTRY, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise KeyError(f"unknown rule id {rule_id!r}{hint}") from None
