"""Issue 13: the burst probe spends the window it is in, and a budget plans what fits.

The burst runs against the gaming-goods sandbox (fixed windows, Limit/Remaining/Reset headers) at a small
limit, so the window the burst starts in has only a few requests left.
"""

from __future__ import annotations

from typing import Any

import pytest

from conformance.plan import make_plan, parse_budget, requests_allowed
from conformance.profile import load_profile
from conformance.sandbox import load_sandbox
from conformance.target import Options, Target


@pytest.fixture
def suite(request: pytest.FixtureRequest) -> Any:
    """The suite's rate-limit module; its `rules` marker is registered as the suite's conftest does."""
    request.config.addinivalue_line("markers", "rules(*ids): the rule ids a conformance test judges")
    import conformance.suite.test_rate_limit as module

    return module


def _burst(suite: Any, target: Target) -> Any:
    return suite.send_burst(target)


def _target(sandbox: Any, limit: tuple[int, float]) -> Target:
    key = load_sandbox("gaming-goods").KEYS["full"]
    options = Options(probe_rate_limit=True, known_limit=limit)
    return Target(load_profile("gaming-goods"), sandbox.base_url, key, options)


def _spend(suite: Any, target: Target, leave: int) -> int:
    """Spends the window down to `leave` remaining requests; returns what the server said is left."""
    request = suite._probe_request(target)
    while True:
        exchange = target.client.request(**request, pace=False)
        remaining = int(exchange.header("X-RateLimit-Remaining") or 0)
        if remaining <= leave:
            return remaining


@pytest.mark.slow
@pytest.mark.parametrize("faults", [(), ("rate-limit.exceeded",)], ids=["enforced", "not-enforced"])
def test_a_burst_sends_only_what_the_window_has_left_and_a_few(
    sandbox_factory: Any, suite: Any, faults: tuple[str, ...]
) -> None:
    sandbox = sandbox_factory("gaming-goods", rate_limit=(20, 10.0), faults=list(faults))
    target = _target(sandbox, (20, 10.0))
    try:
        left = _spend(suite, target, leave=4)  # the first request of the burst takes one more
        burst = _burst(suite, target)
    finally:
        target.close()
    assert burst.certain and burst.limit == 20
    # never twice the limit (45 requests before issue 13): the rest of the window and a few
    assert burst.sent <= left + suite.BURST_EXTRA
    if faults:  # the server let the burst through: proven by its own headers, without 2 × 20 requests
        assert burst.refused is None and "answered all" in burst.overrun
    else:
        assert burst.refused is not None and burst.refused.status == 429 and not burst.overrun
        assert burst.waited_s <= 11.5  # waited for Reset once


@pytest.mark.slow
def test_a_burst_into_a_new_window_counts_again_from_its_headers(sandbox_factory: Any, suite: Any) -> None:
    """A fresh window (Remaining near the limit) is still refused: the burst keeps going up to the limit."""
    sandbox = sandbox_factory("gaming-goods", rate_limit=(10, 10.0))
    target = _target(sandbox, (10, 10.0))
    try:
        burst = _burst(suite, target)
    finally:
        target.close()
    assert burst.refused is not None and burst.refused.status == 429
    assert burst.sent <= 10 + suite.BURST_EXTRA


def test_budget_forms() -> None:
    assert parse_budget("180").seconds == 180 and parse_budget("300req").requests == 300
    for bad in ("", "0", "fast", "10min", "-5"):
        with pytest.raises(ValueError, match="SECONDS"):
            parse_budget(bad)


def test_a_budget_in_seconds_is_whole_windows_of_the_allowance() -> None:
    # 180 s at 100 per minute: the allowance (95) now, then after 1 and 2 minutes (15 s kept for the run's own work)
    assert requests_allowed(parse_budget("180"), 100, 60.0) == 3 * 95
    assert requests_allowed(parse_budget("300req"), 100, 60.0) == 300


def test_the_plan_cuts_engine_examples_first_then_the_burst_then_the_engine() -> None:
    roomy = make_plan(parse_budget("100000req"), (100, 60.0), engine_operations=7, other_tests=60, burst=True)
    assert roomy.max_examples == 8 and not roomy.skipped
    fewer = make_plan(parse_budget("270req"), (100, 60.0), engine_operations=7, other_tests=60, burst=True)
    assert 1 <= fewer.max_examples < 8 and not fewer.skipped
    no_burst = make_plan(parse_budget("212req"), (100, 60.0), engine_operations=7, other_tests=60, burst=True)
    assert no_burst.max_examples == 1 and set(no_burst.skipped) == {"burst"}
    no_engine = make_plan(parse_budget("150req"), (100, 60.0), engine_operations=7, other_tests=60, burst=True)
    assert set(no_engine.skipped) == {"engine"}  # without the engine the burst fits again
    tight = make_plan(parse_budget("125req"), (100, 60.0), engine_operations=7, other_tests=60, burst=True)
    assert set(tight.skipped) == {"burst", "engine"}
    assert all(reason.startswith("skipped for budget") for reason in tight.skipped.values())
    assert "skipped for budget" in tight.describe()
    mine = make_plan(
        parse_budget("150req"), (100, 60.0), engine_operations=7, other_tests=60, burst=False, max_examples=5
    )
    assert mine.max_examples == 5  # the user's own figure is kept; the engine is skipped instead


def test_a_malformed_budget_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    from conformance.cli import main

    assert main(["run", "goat", "--budget", "soon"]) == 2
    assert "--budget takes SECONDS" in capsys.readouterr().err
