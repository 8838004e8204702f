"""A run's request plan under `--budget SECONDS|Nreq` (issue 13): what fits, and what is skipped to fit.

On a rate-limited API a polite run takes about (requests sent) / (limit), so a budget in seconds is a
budget in requests: the client spends a window's allowance at once and then waits for the next window,
so B seconds allow the allowance of floor(B / window) + 1 windows. Before any request, the plan estimates
what the selected tests need and fits them in, cutting in this order:

1. the Schemathesis engine's generated examples per operation (8 by default, down to 1): every schema
   rule is still judged, on fewer generated cases (the coverage phase's deterministic cases stay);
2. the burst probe (`rate-limit.exceeded`, `rate-limit.recovery`): the margin of a window and a few more;
3. the engine (the `schema.*` rules it judges).

Skipped tests say "skipped for budget: …", so the JSON result and the report show those rules as such.
The estimates come from measured runs of the six sandboxes (bench/requests_per_rule.py): the engine
sends about 11 + 1.5 × examples requests per operation (gaming-goods 180 for 7 operations, retailcrm 325 for
15, at 8 examples), every other test about 2.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from conformance.client import window_allowance

__all__ = ["Budget", "Plan", "make_plan", "parse_budget"]

ENGINE_PER_OPERATION = 11.0  # the coverage phase (its repeated cases left out: engine.py `coverage_filter`)
ENGINE_PER_EXAMPLE = 1.5  # per operation and generated example (fuzzing, stateful)
PER_TEST = 2.0  # every other test: a recipe's request or two, a small walk
BURST_EXTRA_REQUESTS = 4
CPU_OVERHEAD_S = 15.0  # start-up and the engine's own work, besides waiting for windows
DEFAULT_EXAMPLES = 8
SKIP_PREFIX = "skipped for budget"
GROUPS = {"burst": "the burst probe (rate-limit.exceeded, rate-limit.recovery)", "engine": "the engine (schema.*)"}


@dataclass(frozen=True)
class Budget:
    """A bound on a run: seconds of wall time, or a number of requests."""

    seconds: float | None = None
    requests: int | None = None

    def __str__(self) -> str:
        return f"{self.seconds:g} s" if self.seconds is not None else f"{self.requests} requests"


def parse_budget(text: str) -> Budget:
    """`120` or `120s` is seconds, `300req` requests; raises ValueError saying the accepted forms."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(s|req)?\s*", text or "")
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"--budget takes SECONDS (e.g. 180) or a number of requests (e.g. 300req), not {text!r}")
    if match.group(2) == "req":
        return Budget(requests=int(float(match.group(1))))
    return Budget(seconds=float(match.group(1)))


@dataclass
class Plan:
    """What the run will send, and what it skips to fit the budget."""

    budget: Budget
    pace: tuple[int, float]
    allowed: int
    max_examples: int
    estimate: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    """Group ("engine", "burst") -> the reason its tests carry."""

    @property
    def total(self) -> int:
        return sum(self.estimate.values())

    def describe(self) -> str:
        """One line for the console and the JSON result."""
        requests, window = self.pace
        parts = ", ".join(f"{name} ~{count}" for name, count in self.estimate.items())
        line = (
            f"plan: budget {self.budget} at {window_allowance(requests)} requests per {window:g} s allows "
            f"~{self.allowed} requests; estimate ~{self.total} ({parts}; {self.max_examples} engine example(s) per "
            "operation)"
        )
        if self.skipped:
            line += f"; {SKIP_PREFIX}: " + ", ".join(GROUPS[group] for group in self.skipped)
        if self.total > self.allowed:
            line += "; the rest does not fit either: the run may take longer than the budget"
        return line

    def to_dict(self) -> dict[str, Any]:
        return {
            "budget": str(self.budget),
            "allowed_requests": self.allowed,
            "estimate": dict(self.estimate),
            "max_examples": self.max_examples,
            "skipped": dict(self.skipped),
            "summary": self.describe(),
        }


def requests_allowed(budget: Budget, requests: int, window_s: float) -> int:
    """Requests a budget allows at a pace of `requests` per `window_s` (each window's allowance spent at once)."""
    allowed = math.inf
    if budget.seconds is not None:
        windows = math.floor(max(budget.seconds - CPU_OVERHEAD_S, 0.0) / window_s) + 1
        allowed = windows * window_allowance(requests)
    if budget.requests is not None:
        allowed = min(allowed, budget.requests)
    return int(allowed)


def make_plan(
    budget: Budget,
    pace: tuple[int, float],
    *,
    engine_operations: int,
    other_tests: int,
    burst: bool,
    max_examples: int | None = None,
) -> Plan:
    """Fits the selected tests into the budget: fewer engine examples, then no burst, then no engine."""
    allowed = requests_allowed(budget, *pace)
    others = round(other_tests * PER_TEST)
    # The burst is sent where a window is spent: its margin and a few more. A run too short to spend a
    # window bursts at its end, into what is left; the budget has room for that then.
    burst_cost = BURST_EXTRA_REQUESTS + pace[0] - window_allowance(pace[0])

    def engine(examples: int) -> int:
        return round(engine_operations * (ENGINE_PER_OPERATION + ENGINE_PER_EXAMPLE * examples))

    examples = max_examples or DEFAULT_EXAMPLES
    if not max_examples:  # the user's own figure is kept
        while examples > 1 and others + engine(examples) + (burst_cost if burst else 0) > allowed:
            examples -= 1
    plan = Plan(budget, pace, allowed, examples)
    plan.estimate["other rules"] = others
    if engine_operations:
        plan.estimate["engine"] = engine(examples)
    if burst:
        plan.estimate["burst"] = burst_cost
    if burst and plan.total > allowed:
        plan.skipped["burst"] = (
            f"{SKIP_PREFIX}: the burst probe (~{burst_cost} requests) does not fit {budget} (~{allowed} requests)"
        )
        del plan.estimate["burst"]
    if engine_operations and plan.total > allowed:
        plan.skipped["engine"] = (
            f"{SKIP_PREFIX}: the Schemathesis engine (~{plan.estimate['engine']} requests at 1 example per "
            f"operation) does not fit {budget} (~{allowed} requests)"
        )
        del plan.estimate["engine"]
        if "burst" in plan.skipped and plan.total + burst_cost <= allowed:  # without the engine it fits again
            del plan.skipped["burst"]
            plan.estimate["burst"] = burst_cost
    return plan
