"""Fixtures and parametrization of the suite, all driven by the API's profile."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest

from conformance.checks.passive import ANY_RESPONSE_RULES, judge_recorded
from conformance.client import Exchange
from conformance.findings import Finding
from conformance.plugin import OPERATION_PROPERTY, REQUESTS_PROPERTY, RULE_PROPERTY, record_findings, run_state_key
from conformance.profile import Profile, load_profile
from conformance.rules import get_rule
from conformance.target import Options, RecipeError, Target


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "rules(*ids): the rule ids a conformance test judges")
    config.addinivalue_line(
        "markers",
        "sends_valid_requests: every request the test sends is valid by the spec; each answer is also judged by "
        "the rules of any response (conformance/checks/passive.py ANY_RESPONSE_RULES)",
    )


def _profile(config: pytest.Config) -> Profile:
    state = config.stash.get(run_state_key, None)
    if state is None:
        raise pytest.UsageError("conformance.suite needs --conformance-api API (e.g. --conformance-api goat)")
    return load_profile(config.getoption("conformance_spec") or state.api)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrizes tests by what the profile lists: lists, idempotent writes, operations…

    First, every id in the test's `@pytest.mark.rules` must be a registered rule: a typo is a collection error.
    """
    marker = metafunc.definition.get_closest_marker("rules")
    for rule in marker.args if marker is not None else ():
        try:
            get_rule(rule)
        except KeyError as exc:
            pytest.fail(f"{metafunc.definition.nodeid}: @pytest.mark.rules: {exc.args[0]}", pytrace=False)
    profile = _profile(metafunc.config)
    data = profile.data
    params: dict[str, tuple[list[Any], list[str]]] = {
        "listing": (data["pagination"], [_listing_id(p) for p in data["pagination"]]),
        "idempotent": (data["idempotency"], [p["operation"] for p in data["idempotency"]]),
        "not_found": (
            data["errors"].get("not_found", []),
            [c["operation"] for c in data["errors"].get("not_found", [])],
        ),
        "bad_parameter": (
            data["errors"].get("bad_parameters", []),
            [_case_id(c) for c in data["errors"].get("bad_parameters", [])],
        ),
        "business_rule": (
            data["errors"].get("business_rules", []),
            [_case_id(c) for c in data["errors"].get("business_rules", [])],
        ),
        "bad_body_op": (data["errors"].get("bad_body", []), list(data["errors"].get("bad_body", []))),
        "wrong_method": (
            data["errors"]["method_not_allowed"],
            [f"{c['method']} {c['path']}" for c in data["errors"]["method_not_allowed"]],
        ),
        "protected_op": _ops(profile, public=False),
        "public_op": _ops(profile, public=True),
        "schema_op": _ops(profile, public=None),
        "linked_op": _linked_ops(profile),
        "valid_request": (data.get("valid_requests", []), [c["operation"] for c in data.get("valid_requests", [])]),
        "auth_location": (
            data["auth"]["locations"],
            [f"{loc['in']}:{loc['name']}" for loc in data["auth"]["locations"]],
        ),
    }
    for name, (values, ids) in params.items():
        if name in metafunc.fixturenames:
            if not values:  # say what the API lacks, not pytest's "got empty parameter set"
                reason = f"not applicable: the profile lists no {name.replace('_', ' ')} case for this API"
                metafunc.parametrize(name, [pytest.param(None, marks=pytest.mark.skip(reason=reason))], ids=["none"])
                continue
            metafunc.parametrize(name, values, ids=_unique(ids))


def _ops(profile: Profile, *, public: bool | None) -> tuple[list[Any], list[str]]:
    ops = [op for op in profile.operations.values() if public is None or op.is_public == public]
    return [op.operation_id for op in ops], [op.operation_id for op in ops]


def _linked_ops(profile: Profile) -> tuple[list[Any], list[str]]:
    ops = []
    for op in profile.operations.values():
        for status, response in (op.definition.get("responses") or {}).items():
            if str(status).startswith("2") and isinstance(response, dict) and response.get("links"):
                ops.append(op.operation_id)
                break
    return ops, ops


def _listing_id(listing: dict[str, Any]) -> str:
    """The operation, and the fixed query of a list walked in more than one shape (listItems-_shape=array)."""
    query = listing.get("query") or {}
    return listing["operation"] + "".join(f"-{k}={v}" for k, v in query.items())


def _case_id(case: dict[str, Any]) -> str:
    what = {**case.get("query", {}), **case.get("path_params", {}), **case.get("body_patch", {})}
    return case["operation"] + ("-" + ",".join(f"{k}={v}" for k, v in what.items()) if what else "")


def _unique(ids: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for value in ids:
        seen[value] = seen.get(value, 0) + 1
        out.append(value if seen[value] == 1 else f"{value}#{seen[value]}")
    return out


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tags each test with its rule and operation (for the JSON result and JUnit).

    With `--rule`, only the tests that judge one of those rules stay selected.
    """
    wanted = set(config.getoption("conformance_rules") or ())
    if wanted:
        keep = [i for i in items if (m := i.get_closest_marker("rules")) is not None and wanted & set(m.args)]
        config.hook.pytest_deselected(items=[i for i in items if i not in keep])
        items[:] = keep
    for item in items:
        marker = item.get_closest_marker("rules")
        if marker is None:
            continue
        operation = "*"
        callspec = getattr(item, "callspec", None)
        if callspec is not None:
            for value in callspec.params.values():
                if isinstance(value, str):
                    operation = value.split("-")[0] if " " not in value else "*"
                elif isinstance(value, dict) and "operation" in value:
                    operation = value["operation"]
        for rule in marker.args:
            item.user_properties.append((RULE_PROPERTY, rule))
        item.user_properties.append((OPERATION_PROPERTY, operation))
    if config.getoption("conformance_probe_rate_limit") and not hasattr(config, "workerinput"):
        # the burst's tests last: the burst is sent at a window's end before them when the run spends one
        names = ("test_rate_limit.py::test_exceeded", "test_rate_limit.py::test_recovery")
        burst = [i for i in items if any(name in i.nodeid for name in names)]
        items[:] = [i for i in items if i not in burst] + burst
    if config.getoption("conformance_budget", None):
        _fit_budget(config, items)


def _fit_budget(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`--budget`: plans the run's requests before any is sent and marks what does not fit (conformance/plan.py)."""
    import sys

    from conformance.plan import make_plan, parse_budget

    section = _profile(config).data["rate_limit"]
    pace = _known_limit(getattr(config.option, "sandbox_pace", None)) or (
        int(section["requests"]),
        float(section["window_s"]),
    )
    engine = [i for i in items if i.module is not None and i.module.__name__.endswith("test_schema")]  # type: ignore[attr-defined]
    burst = [
        i
        for i in items
        if config.getoption("conformance_probe_rate_limit")
        and i.module is not None  # type: ignore[attr-defined]
        and i.module.__name__.endswith("test_rate_limit")  # type: ignore[attr-defined]
        and i.originalname in ("test_exceeded", "test_recovery")  # type: ignore[attr-defined]
    ]
    plan = make_plan(
        parse_budget(config.getoption("conformance_budget")),
        pace,
        engine_operations=len(engine),
        other_tests=len(items) - len(engine) - len(burst),
        burst=bool(burst),
        max_examples=config.getoption("conformance_max_examples"),
    )
    config.option.conformance_max_examples = plan.max_examples
    for group, tests in (("burst", burst), ("engine", engine)):
        if group in plan.skipped:
            for item in tests:
                item.add_marker(pytest.mark.skip(reason=plan.skipped[group]))
    state = config.stash.get(run_state_key, None)
    if state is not None and not hasattr(config, "workerinput"):
        state.plan = plan.to_dict()
        sys.stderr.write(plan.describe() + "\n")


@pytest.fixture(scope="session")
def target(pytestconfig: pytest.Config) -> Iterator[Target]:
    """The server under test: profile, paced client, options."""
    state = pytestconfig.stash[run_state_key]
    options = Options(
        allow_writes=pytestconfig.getoption("conformance_allow_writes"),
        probe_rate_limit=pytestconfig.getoption("conformance_probe_rate_limit"),
        seed=pytestconfig.getoption("conformance_seed"),
        max_examples=pytestconfig.getoption("conformance_max_examples") or 0,
        timeout=pytestconfig.getoption("conformance_request_timeout"),
        workers=int(getattr(pytestconfig, "workerinput", {}).get("workercount", 1)),
        known_limit=_known_limit(getattr(pytestconfig.option, "sandbox_pace", None)),
    )
    target = Target(_profile(pytestconfig), state.base_url, state.api_key, options)
    from conformance.suite.test_rate_limit import schedule_burst

    schedule_burst(target)  # at the first window's end, where it costs a few requests (issue 13)
    yield target
    target.close()


def _known_limit(rate: str | None) -> tuple[int, float] | None:
    """`N/SECONDS` of an embedded sandbox started with an explicit limit, or None."""
    if not rate:
        return None
    count, _, seconds = rate.partition("/")
    return int(count), float(seconds or 1)


class Verdict:
    """Collects a test's findings and notes, and fails the test when there are findings.

    A note is what differs from our reading of the documents but breaks no promise they make
    (a limit higher than documented, a null read as "not given"): it is reported, never failed.

    Every response is judged by every rule that can judge it: in a test marked `sends_valid_requests`, each
    exchange the target's client returns (`recorded`, from any thread) is judged, when the verdict concludes,
    by the rules of any response (`ANY_RESPONSE_RULES`: schema, envelope, request id, rate-limit headers…)
    that the test does not judge itself, and that `--rule` selected if it was given. The test opts in, rather
    than opting out, because only it knows that its requests are valid: the wrong ones other tests send on
    purpose (a bad parameter, no key, a burst past the limit) may get answers that no rule of any response
    should be held to (a proxy's refusal, a 429 with no body), and the rules they break are theirs to judge.
    """

    def __init__(self, item: pytest.Item, target: Target, recorded: list[Exchange] | None = None) -> None:
        self.item = item
        self.target = target
        self.findings: list[Finding] = []
        self.notes: list[Finding] = []
        self.recorded = recorded

    def add(self, findings: list[Finding]) -> None:
        self.findings.extend(findings)

    def note(self, notes: list[Finding]) -> None:
        self.notes.extend(notes)

    def conclude(self) -> None:
        self._judge_recorded()
        if self.notes:
            record_findings(self.item, self.notes, notes=True)
            self.notes = []
        if not self.findings:
            return
        record_findings(self.item, self.findings)
        lines = [f"[{f.rule_id}] {f.operation}: {f.message}" for f in self.findings]
        pytest.fail("\n\n".join(lines), pytrace=False)

    def _judge_recorded(self) -> None:
        """Judges the exchanges recorded since the last call by the rules of any response (see the class)."""
        if not self.recorded:
            return
        exchanges = self.recorded[:]
        del self.recorded[: len(exchanges)]  # what another thread adds meanwhile waits for the next call
        marker = self.item.get_closest_marker("rules")
        rules = ANY_RESPONSE_RULES - set(marker.args if marker is not None else ())
        selected = self.item.config.getoption("conformance_rules", None)
        if selected:
            rules &= set(selected)
        findings, notes = judge_recorded(self.target.profile, exchanges, self.target.secrets, rules)
        known = {(f.rule_id, f.operation, f.message) for f in self.findings + self.notes}
        self.findings += [f for f in findings if (f.rule_id, f.operation, f.message) not in known]
        self.notes += [n for n in notes if (n.rule_id, n.operation, n.message) not in known]


@pytest.fixture
def verdict(request: pytest.FixtureRequest, target: Target) -> Iterator[Verdict]:
    """Judge a scenario: `verdict.add(findings)`, then `verdict.conclude()` fails on any finding.

    In a test marked `sends_valid_requests`, what its client sends is recorded for the verdict (see `Verdict`).
    """
    before = target.requests_sent
    valid = request.node.get_closest_marker("sends_valid_requests") is not None
    with target.client.recording() if valid else contextlib.nullcontext() as recorded:
        verdict = Verdict(request.node, target, recorded)
        try:
            yield verdict
        finally:
            request.node.user_properties.append((REQUESTS_PROPERTY, target.requests_sent - before))


def require_writes(target: Target) -> None:
    """Skips a test that writes when writes to this host are off."""
    if not target.writes_allowed:
        pytest.skip("sends writes: the target is not on loopback; pass --allow-writes to include it")


def build_or_skip(target: Target, operation_id: str, **overrides: Any) -> dict[str, Any]:
    """Returns the request of a recipe, or skips the test saying why it cannot be built here."""
    try:
        return target.build(operation_id, **overrides)
    except RecipeError as exc:
        pytest.skip(f"cannot build a request for {operation_id}: {exc}")
