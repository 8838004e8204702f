"""Every rule the suite checks fails on a sandbox that breaks it and passes on every clean sandbox."""

from __future__ import annotations

import pytest

from conformance.rules import RULES
from conformance.sandbox import SANDBOXES, load_sandbox
from conformance.selftest import (
    SANDBOX_RATE_LIMITS,
    FaultCase,
    VariationCase,
    detect,
    fault_cases,
    run_suite,
    try_variations,
    variation_cases,
)

CASES = fault_cases()
VARIATIONS = variation_cases()
MIN_VARIATIONS_PER_API = 6


@pytest.mark.parametrize("api", list(SANDBOXES))
def test_clean_sandbox_has_no_findings(api: str) -> None:
    result = run_suite(api)
    messages = [f"[{f['rule']}] {f['operation']}: {f['message']}" for f in result["findings"]]
    assert messages == []
    assert result["exit_code"] == 0
    assert result["summary"]["passed"] > 0


RATE_LIMITED = sorted({case.api for case in CASES if case.rule == "rate-limit.recovery"})


@pytest.mark.parametrize("api", RATE_LIMITED)
def test_clean_sandbox_passes_the_rate_limit_probe(api: str) -> None:
    """The burst's rules pass on a clean sandbox at the small limit the faulty ones get."""
    rules = ("rate-limit.exceeded", "rate-limit.recovery")
    result = run_suite(api, rules=rules, extra=("--probe-rate-limit",), rate=SANDBOX_RATE_LIMITS[rules[1]])
    messages = [f"[{f['rule']}] {f['operation']}: {f['message']}" for f in result["findings"]]
    assert messages == []
    assert result["exit_code"] == 0
    assert result["summary"]["passed"] >= 2


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_fault_is_detected_under_its_rule(case: FaultCase) -> None:
    result = detect(case)
    found = sorted({f["rule"] for f in result["findings"]})
    assert case.rule in found, f"{case.id} ({case.description}) was not detected; found: {found}"
    assert result["exit_code"] == 1


def test_every_fault_names_a_rule() -> None:
    for api in SANDBOXES:
        unknown = set(load_sandbox(api).FAULTS) - set(RULES)
        assert not unknown, f"{api}: faults named after no rule: {sorted(unknown)}"


def test_every_rule_has_a_fault_somewhere() -> None:
    covered = {case.rule for case in CASES}
    # transport rules are proven against the hostile servers of tests/test_hostile.py instead
    missing = sorted(rule for rule in RULES if rule not in covered and not rule.startswith("transport."))
    assert missing == []


@pytest.mark.parametrize("case", VARIATIONS, ids=[case.id for case in VARIATIONS])
def test_conforming_variation_has_no_findings(case: VariationCase) -> None:
    """A reasonable behaviour the documents leave open is never a finding (at most a note)."""
    result = try_variations(case.api, (case.name,))
    messages = [f"[{f['rule']}] {f['operation']}: {f['message']}" for f in result["findings"]]
    assert messages == [], f"{case.id} ({case.description}) was flagged"
    assert result["exit_code"] == 0
    assert result["summary"]["passed"] > 0


@pytest.mark.parametrize("api", list(SANDBOXES))
def test_all_variations_of_an_api_together_have_no_findings(api: str) -> None:
    names = tuple(sorted(load_sandbox(api).VARIATIONS))
    result = try_variations(api, names)
    messages = [f"[{f['rule']}] {f['operation']}: {f['message']}" for f in result["findings"]]
    assert messages == []
    assert result["exit_code"] == 0


@pytest.mark.parametrize("api", list(SANDBOXES))
def test_every_api_has_conforming_variations(api: str) -> None:
    assert len(load_sandbox(api).VARIATIONS) >= MIN_VARIATIONS_PER_API


def test_permission_checked_before_the_body_is_not_a_finding() -> None:
    """apis.md: credentials come before parameters, so a 403 to a malformed body from a limited key is fine."""
    limited = load_sandbox("goat").KEYS["limited"]
    result = run_suite("goat", rules=("errors.bad-body",), extra=("--api-key", limited))
    assert result["findings"] == []
    skipped = [c for c in result["checks"] if c["outcome"] == "skipped" and c["operation"] == "updateOrder"]
    assert skipped and "403 before the request was validated" in skipped[0]["reason"]
