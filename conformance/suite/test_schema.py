"""Schema: what the Schemathesis engine (conformance/engine.py) found, one test per operation.

The engine runs once per session (with several workers, once per scope of conformance/scheduling.py);
each operation's test then reports the failures it found for that operation, each under a stable rule id.
"""

from __future__ import annotations

import pytest

from conformance.engine import SCHEMA_RULES, EngineRuns
from conformance.suite.conftest import Verdict
from conformance.target import Target


@pytest.fixture(scope="session")
def engine_runs(target: Target, pytestconfig: pytest.Config) -> EngineRuns:
    from conformance.progress import engine_listener

    return EngineRuns(target, engine_listener(pytestconfig))


@pytest.mark.rules(*SCHEMA_RULES, "transport.invalid-response")
def test_schema(engine_runs: EngineRuns, schema_op: str, verdict: Verdict, request: pytest.FixtureRequest) -> None:
    """Fails when Schemathesis finds a response that breaks the spec for this operation."""
    target = verdict.target
    if not target.writes_allowed and target.operation(schema_op).method in ("POST", "PUT", "PATCH", "DELETE"):
        pytest.skip("sends writes: the target is not on loopback; pass --allow-writes to include it")
    engine_run = engine_runs.for_operation(schema_op)
    if not engine_run.counted:
        engine_run.counted = True
        target.external_requests += engine_run.requests
    if engine_run.errors and not engine_run.findings:
        pytest.skip(engine_run.errors[0])
    verdict.note(engine_run.notes.get(schema_op, []))
    findings = engine_run.findings.get(schema_op, [])
    selected = request.config.getoption("conformance_rules", None)
    if selected:  # the engine's answers judged by other rules (errors.envelope…) count only when selected
        findings = [f for f in findings if f.rule_id in SCHEMA_RULES or f.rule_id in selected]
    verdict.add(findings)
    verdict.conclude()
