"""Proving the checks: every sandbox fault must be caught under its rule id, and no clean sandbox flagged.

Used by the project's own tests (`tests/test_selftest.py`) and by `bench/selftest_table.py`, which
writes the README's rule → fault → detected table.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conformance.sandbox import SANDBOXES, load_sandbox

__all__ = ["FaultCase", "VariationCase", "detect", "fault_cases", "run_suite", "try_variations", "variation_cases"]

# Faults whose rule only shows with options a default run does not take.
RUN_OPTIONS = {
    "rate-limit.exceeded": ["--probe-rate-limit"],
    "rate-limit.recovery": ["--probe-rate-limit"],
}
# The burst needs a small advertised limit to stay polite.
SANDBOX_RATE_LIMITS = {"rate-limit.exceeded": "20/2", "rate-limit.recovery": "20/2"}
# Elsewhere the sandboxes get a generous limit, which the suite paces to: the self-test proves checks, not patience.
FAST_RATE_LIMIT = "1000/1"


@dataclass(frozen=True)
class FaultCase:
    """One sandbox fault: the API, the rule it breaks, and what it does."""

    api: str
    rule: str
    description: str

    @property
    def id(self) -> str:
        return f"{self.api}:{self.rule}"


def fault_cases() -> list[FaultCase]:
    """Returns every fault of every sandbox, sorted by API and rule."""
    cases = []
    for api in SANDBOXES:
        for rule, description in sorted(load_sandbox(api).FAULTS.items()):
            cases.append(FaultCase(api, rule, description))
    return cases


@dataclass(frozen=True)
class VariationCase:
    """One conforming variation of a sandbox: a reasonable behaviour the documents leave open."""

    api: str
    name: str
    description: str

    @property
    def id(self) -> str:
        return f"{self.api}:{self.name}"


# Variations whose behaviour only shows with options a default run does not take: a higher limit than
# documented must survive the burst probe, at the sandbox's own (documented) limit.
VARIATION_OPTIONS = {
    "higher-rate-limit": ["--probe-rate-limit"],
    "higher-rate-limit-no-headers": ["--probe-rate-limit"],
}
VARIATION_RATES = {"higher-rate-limit": "default", "higher-rate-limit-no-headers": "default"}


def variation_cases() -> list[VariationCase]:
    """Returns every conforming variation of every sandbox, sorted by API and name."""
    cases = []
    for api in SANDBOXES:
        for name, description in sorted(load_sandbox(api).VARIATIONS.items()):
            cases.append(VariationCase(api, name, description))
    return cases


def try_variations(api: str, names: tuple[str, ...]) -> dict[str, Any]:
    """Runs the whole suite against the sandbox showing these variations; a finding there is a false alarm."""
    extra = tuple(dict.fromkeys(option for name in names for option in VARIATION_OPTIONS.get(name, [])))
    rate = next((VARIATION_RATES[name] for name in names if name in VARIATION_RATES), None)
    return run_suite(api, variations=names, extra=extra, rate=rate)


def key_for(api: str, rule: str) -> str | None:
    """The sandbox key a fault needs (a permission rule shows only with the limited key)."""
    keys = load_sandbox(api).KEYS
    if rule == "auth.permissions" and "limited" in keys:
        return str(keys["limited"])
    return None


def detect(case: FaultCase) -> dict[str, Any]:
    """Runs the tests that judge the fault's rule against the faulty sandbox; returns the result.

    The fast, deterministic scenarios run first; the Schemathesis engine only when they miss.
    """
    result = run_suite(case.api, faults=(case.rule,), rules=(case.rule,), keyword="not test_schema")
    if case.rule not in {f["rule"] for f in result["findings"]} and case.rule.startswith(("schema.", "transport.")):
        result = run_suite(case.api, faults=(case.rule,), rules=(case.rule,), keyword="test_schema", max_examples=5)
    return result


def run_suite(
    api: str,
    *,
    faults: tuple[str, ...] = (),
    variations: tuple[str, ...] = (),
    rules: tuple[str, ...] = (),
    extra: tuple[str, ...] = (),
    max_examples: int | None = None,
    keyword: str | None = None,
    rate: str | None = None,
) -> dict[str, Any]:
    """Runs `conformance run` in-process against the embedded sandbox; returns the JSON result.

    `rate` is the sandbox's limit (N/SECONDS); "default" keeps the API's own.
    """
    from conformance.cli import main

    with tempfile.TemporaryDirectory(prefix="conformance-selftest-") as tmp:
        argv = ["run", api, "--report-dir", tmp, "-q", "--seed", "1"]
        for fault in faults:
            argv += ["--fault", fault]
            argv += RUN_OPTIONS.get(fault, [])
        for variation in variations:
            argv += ["--variation", variation]
        for rule in rules:
            argv += ["--rule", rule]
        if max_examples:
            argv += ["--max-examples", str(max_examples)]
        if keyword:
            argv += ["-k", keyword]
        argv += list(extra)
        key = next((key_for(api, f) for f in faults if key_for(api, f)), None)
        if key:
            argv += ["--api-key", key]
        rate = rate or next((SANDBOX_RATE_LIMITS[f] for f in faults if f in SANDBOX_RATE_LIMITS), FAST_RATE_LIMIT)
        env_rate = _sandbox_rate(rate)
        with env_rate, contextlib.redirect_stdout(io.StringIO()):
            code = main(argv)
        path = Path(tmp) / f"{api}.json"
        if not path.exists():
            raise RuntimeError(f"conformance run {' '.join(argv)} wrote no result (exit {code})")
        import json

        result: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        result["exit_code"] = code
        return result


@contextlib.contextmanager
def _sandbox_rate(rate: str | None) -> Iterator[None]:
    """Passes a sandbox rate limit to the plugin (the CLI has no option for it)."""
    import os

    if rate is None or rate == "default":
        yield
        return
    previous = os.environ.get("CONFORMANCE_SANDBOX_RATE_LIMIT")
    os.environ["CONFORMANCE_SANDBOX_RATE_LIMIT"] = rate
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("CONFORMANCE_SANDBOX_RATE_LIMIT", None)
        else:
            os.environ["CONFORMANCE_SANDBOX_RATE_LIMIT"] = previous
