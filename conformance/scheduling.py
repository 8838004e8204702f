"""How a run spreads over xdist workers (`--workers N`).

Test modules stay whole, one worker each (as `--dist loadfile`), so that the rate-limit and idempotency
scenarios never share a window with each other. The Schemathesis engine, most of a run's work, is split:
with more than one worker every operation gets its own engine run, except the operations that stateful
links chain, which stay together with the stateful phase. xdist then hands these runs to whichever
worker is free.
"""

from __future__ import annotations

from typing import Any

from xdist.scheduler import LoadScopeScheduling

from conformance.profile import Profile

__all__ = [
    "ENGINE",
    "STATEFUL",
    "SuiteScheduling",
    "engine_scope",
    "linked_operations",
    "scope_operations",
    "work_unit",
]

ENGINE = "engine"  # one run of every operation and phase (one worker)
STATEFUL = "engine:stateful"  # the linked operations and the stateful phase
SCHEMA_TEST = "test_schema.py::test_schema["


def linked_operations(profile: Profile) -> frozenset[str]:
    """Operations at either end of an OpenAPI link: the stateful phase needs them in one run."""
    linked: set[str] = set()
    for op in profile.operations.values():
        for response in (op.definition.get("responses") or {}).values():
            links = response.get("links") if isinstance(response, dict) else None
            for link in (links or {}).values():
                if isinstance(link, dict) and link.get("operationId") in profile.operations:
                    linked.update((op.operation_id, link["operationId"]))
    return frozenset(linked)


def engine_scope(profile: Profile, operation_id: str, workers: int) -> str:
    """The engine run that covers `operation_id`."""
    if workers <= 1:
        return ENGINE
    if operation_id in linked_operations(profile):
        return STATEFUL
    return f"engine:{operation_id}"


def scope_operations(profile: Profile, scope: str, workers: int) -> list[str]:
    """The operations one engine run covers."""
    return [op for op in profile.operations if engine_scope(profile, op, workers) == scope]


class SuiteScheduling(LoadScopeScheduling):
    """xdist's scope scheduling with the scopes above: a module, or one engine run."""

    def __init__(self, config: Any, log: Any, profile: Profile) -> None:
        super().__init__(config, log)
        self.profile = profile

    def _split_scope(self, nodeid: str) -> str:
        return work_unit(self.profile, nodeid)


def work_unit(profile: Profile, nodeid: str) -> str:
    """The unit of work a test belongs to: its engine run (several workers), or else its module."""
    start = nodeid.find(SCHEMA_TEST)
    if start == -1 or not nodeid.endswith("]"):
        return nodeid.split("::", 1)[0]
    return engine_scope(profile, nodeid[start + len(SCHEMA_TEST) : -1], workers=2)
