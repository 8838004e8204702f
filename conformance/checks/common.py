"""Helpers the checks modules share; rules and their judges live in the module of their category."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["JSON_TYPES", "statuses_text"]

JSON_TYPES = ("application/json", "application/problem+json")


def statuses_text(statuses: Iterable[int]) -> str:
    return " or ".join(str(s) for s in statuses)
