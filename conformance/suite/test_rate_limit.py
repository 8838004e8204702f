"""Rate limits: the documented headers, their consistency and, with --probe-rate-limit, a burst."""

from __future__ import annotations

import email.utils
import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from conformance.checks.errors import judge_envelope
from conformance.checks.rate_limit import header_int as _int
from conformance.checks.rate_limit import judge_consistency, judge_headers
from conformance.checks.rate_limit import server_now as _server_now
from conformance.checks.transport import judge_transport
from conformance.client import Client, Exchange
from conformance.findings import finding
from conformance.suite.conftest import Verdict
from conformance.target import RecipeError, Target, auth_locations

SAMPLES = 4
MAX_BURST = 600
MAX_WAIT_S = 65.0
# Without a limit the server states, a burst this many times the documented limit shows it is not enforced.
UNCERTAIN_FACTOR = 10
# Past what the server says Remains in its window, a burst sends this many more: a refusal must come by then.
BURST_EXTRA = 3


def _section(target: Target) -> dict[str, Any]:
    return target.profile.data["rate_limit"]


def _probe_request(target: Target) -> dict[str, Any]:
    """A cheap GET that counts against the limit: protected when the limit is per key."""
    section = _section(target)
    public = set(target.profile.data["auth"]["public"])
    ops = [op for op in target.profile.operations.values() if op.method == "GET"]
    ops.sort(key=lambda op: (bool(op.path_params), section["scope"] == "key" and op.operation_id in public))
    for op in ops:
        try:
            return target.build(op.operation_id)
        except RecipeError:
            continue
    pytest.skip("no GET operation to measure the rate limit with")


def _headers_section(target: Target) -> dict[str, str]:
    headers = _section(target).get("headers")
    if not headers:
        pytest.skip("the API documents no rate-limit headers")
    return dict(headers)


def _samples(target: Target) -> list[Exchange]:
    """SAMPLES consecutive answers to the probe request, sent once for both header rules (issue 13)."""
    with target._lock:
        if "rate-limit samples" not in target._cache:
            request = _probe_request(target)
            samples: list[Exchange] = []
            for _ in range(SAMPLES):
                samples.append(target.client.request(**request))
                if samples[-1].error:
                    break
            target._cache["rate-limit samples"] = samples
        answers: list[Exchange] = target._cache["rate-limit samples"]
        return answers


@pytest.mark.rules("rate-limit.headers")
@pytest.mark.sends_valid_requests
def test_headers(target: Target, verdict: Verdict) -> None:
    """Fails when the documented rate-limit headers are missing (or, where optional, only partly sent)."""
    _headers_section(target)  # skips where the API documents none
    section = _section(target)
    request = _probe_request(target)
    for exchange in _samples(target):
        if judge_transport(exchange, request["operation"], target.secrets):
            verdict.add(judge_transport(exchange, request["operation"], target.secrets))
            break
        missing = judge_headers(section, exchange, request["operation"], target.secrets)
        if missing:
            verdict.add(missing)
            break
    verdict.conclude()


@pytest.mark.rules("rate-limit.consistent")
@pytest.mark.sends_valid_requests
def test_consistent(target: Target, verdict: Verdict) -> None:
    """Fails when Limit changes, Remaining does not fall by one per request, or Reset is past or in another unit."""
    names = _headers_section(target)
    section = _section(target)
    request = _probe_request(target)
    samples: list[tuple[Exchange, int | None, int | None, int | None]] = []
    for exchange in _samples(target):
        if exchange.error:
            break
        samples.append(
            (
                exchange,
                _int(exchange.header(names["limit"])),
                _int(exchange.header(names["remaining"])),
                _int(exchange.header(names["reset"])),
            )
        )
    with_headers = [s for s in samples if s[1] is not None or s[2] is not None or s[3] is not None]
    if not with_headers:
        pytest.skip("the server sends no rate-limit headers (documented as optional)")
    verdict.add(
        judge_consistency(
            with_headers, section, names, request["operation"], target.secrets, exact=target.options.workers <= 1
        )
    )
    verdict.conclude()


@dataclass
class Burst:
    """What a bounded burst past the limit found."""

    limit: int
    certain: bool = False
    """The server advertises its limit: a burst just past it proves it, and a larger one is never needed."""
    window_s: float = 0.0
    elapsed_s: float = 0.0
    sent_at: list[float] = field(default_factory=list)
    """When each request of the burst was sent (monotonic clock)."""

    @property
    def busiest(self) -> int:
        """The most requests the burst sent within any one window's length of time."""
        most, first = 0, 0
        for last, moment in enumerate(self.sent_at):
            while moment - self.sent_at[first] >= self.window_s:
                first += 1
            most = max(most, last - first + 1)
        return most

    sent: int = 0
    refused: Exchange | None = None
    last: Exchange | None = None
    overrun: str = ""
    """How the burst went past what the server said Remained in one window and was still answered (proof)."""
    recovered: Exchange | None = None
    waited_s: float = 0.0
    waited_for: str = "as the server said"
    unbilled: int = 0
    """Requests of the burst not yet charged to a test (the fixture runs before the test's count starts)."""
    skip_reason: str = ""
    notes: list[str] = field(default_factory=list)


def _wait_hint(exchange: Exchange, section: dict[str, Any], names: dict[str, str]) -> float | None:
    retry_after = exchange.header("Retry-After")
    if retry_after:
        if retry_after.strip().isdigit():
            return float(retry_after)
        try:
            return max(email.utils.parsedate_to_datetime(retry_after).timestamp() - time.time(), 0.0)
        except (TypeError, ValueError):
            return None
    reset = _int(exchange.header(names["reset"])) if names.get("reset") else None
    if reset is not None:
        if section.get("reset_unit") == "seconds":
            return float(reset)
        return max(reset - _server_now(exchange), 0.0) + 0.5
    return None


def _window_s(target: Target, section: dict[str, Any]) -> float:
    """Without a wait hint: one window and a quarter (a sliding window may count the refused request too).

    The window is the one the user gave with --pace (or the embedded sandbox's) when known, else the documented one.
    """
    window_s = target.options.known_limit[1] if target.options.known_limit else section["window_s"]
    return float(window_s) * 1.25


class _Window:
    """The server's window as its headers tell it: a burst needs only Remaining + BURST_EXTRA requests.

    Where Limit, Remaining and Reset are advertised, the burst spends what the window it is in has left,
    not twice the limit: once the server has answered Remaining + BURST_EXTRA requests under the same
    Reset, it has let more through than it said it would. A Reset that moves (a new window, or a Reset
    given as a delay) starts the count again, so such a server gets the whole bounded burst as before.
    """

    def __init__(self, names: dict[str, str], first: Exchange) -> None:
        self.names = names
        self.reset: str | None = None
        self.allowed: int | None = None
        self.since = 0
        self._start(first)

    def _start(self, exchange: Exchange) -> None:
        self.reset = exchange.header(self.names["reset"]) if self.names.get("reset") else None
        remaining = exchange.header(self.names["remaining"]) if self.names.get("remaining") else None
        self.allowed = _int(remaining) if self.reset else None
        self.since = 0

    def answered(self, exchange: Exchange) -> str:
        """Counts one answered request of the burst; returns the proof once it went past the window."""
        reset = exchange.header(self.names["reset"]) if self.names.get("reset") else None
        if reset is None or reset != self.reset or self.allowed is None:
            self._start(exchange)
            return ""
        self.since += 1
        if self.since < self.allowed + BURST_EXTRA:
            return ""
        return (
            f"the server said {self.names['remaining']} {self.allowed} with {self.names['reset']} {self.reset}, "
            f"then answered all {self.since} requests of a burst sent within that window"
        )


@pytest.fixture(scope="session")
def burst(target: Target) -> Burst:
    """The bounded burst past the limit (once per session): sent at a window's end, or now if none came yet."""
    return _burst_once(target)


def schedule_burst(target: Target) -> None:
    """With --probe-rate-limit: sends the burst when the client's window is next spent (issue 13).

    There the window has only its margin left: the burst costs that and BURST_EXTRA requests, and its wait
    for Reset is the wait the run had to do anyway. A run that never spends a window bursts when the
    rate-limit tests ask for it.
    """
    if target.options.probe_rate_limit:
        target.client.at_window_end(lambda: _burst_once(target))


def _burst_once(target: Target) -> Burst:
    with target._lock:
        if "burst" not in target._cache:
            target._cache["burst"] = send_burst(target)
        burst: Burst = target._cache["burst"]
        return burst


def send_burst(target: Target) -> Burst:
    """The burst: what the window it starts in has left and BURST_EXTRA more, then one wait for Reset."""
    section = _section(target)
    if not target.options.probe_rate_limit:
        return Burst(limit=0, skip_reason="pass --probe-rate-limit to send a burst past the limit")
    request = _probe_request(target)
    names = dict(section.get("headers") or {})
    client = Client(
        target.base_url,
        api_key=target.api_key,
        auth=auth_locations(target.profile),
        timeout=target.options.timeout,
        rate=None,
    )
    if not names.get("reset") and not section.get("retry_after"):
        # No wait hint will come: rate-limit.recovery waits a window and a quarter from the refusal, which
        # proves a refusal that outlasts its window only if the burst opened that window. A window of quiet
        # first, so that it does (where the window is counted from its first request, or slides).
        time.sleep(float(target.options.known_limit[1]) if target.options.known_limit else float(section["window_s"]))
    first = client.request(retry_throttled=False, **request)  # unpaced: it may run inside a paced request
    advertised = _int(first.header(names["limit"])) if names else None
    known = target.options.known_limit
    limit = advertised or (known[0] if known else None) or (section["requests"] if section.get("documented") else None)
    if not limit:
        client.close()
        reason = "the API documents no limit and the server advertises none"
        return Burst(limit=0, skip_reason=reason, unbilled=client.requests_sent)
    certain = bool(advertised)
    # A server may allow more than documented (apis.md: a note, not a failure): without a limit it states,
    # "not enforced" may only be said after a burst well past any plausible limit, sent within one window.
    budget = limit * 2 + 5 if certain else limit * UNCERTAIN_FACTOR
    if budget > MAX_BURST:
        client.close()
        return Burst(
            limit=limit,
            skip_reason=f"the limit ({limit} per window) is too large to probe politely",
            unbilled=client.requests_sent,
        )
    window_s = float(known[1]) if known else float(section["window_s"])
    result = Burst(limit=limit, certain=certain, window_s=window_s)
    started = time.monotonic()
    window = _Window(names, first)
    try:
        while result.sent < budget and not result.overrun:
            result.sent_at.append(time.monotonic())
            exchange = client.request(retry_throttled=False, **request)
            result.sent += 1
            result.last = exchange
            if exchange.error or (exchange.status or 0) >= 400:
                result.refused = exchange
                break
            result.overrun = window.answered(exchange) if certain else ""
        result.elapsed_s = time.monotonic() - started
        if result.refused is not None and result.refused.status == section["exceeded_status"]:
            wait = _wait_hint(result.refused, section, names)
            if wait is None:
                wait = _window_s(target, section)
                result.waited_for = "(a window and a quarter; the answer had no wait hint)"
            if wait > MAX_WAIT_S:
                result.notes.append(f"the server asks to wait {wait:.0f} s; longer than the probe waits")
            else:
                time.sleep(wait)
                result.waited_s = wait
                result.recovered = client.request(retry_throttled=False, **request)
    finally:
        result.unbilled = client.requests_sent
        client.close()
    return result


@pytest.mark.rules("rate-limit.exceeded", "errors.envelope")
def test_exceeded(target: Target, verdict: Verdict, burst: Burst) -> None:
    """Fails when a burst past the limit does not get the documented status, envelope and wait hint."""
    target.external_requests += burst.unbilled  # charged here, inside this test's count of requests
    burst.unbilled = 0
    if burst.skip_reason:
        pytest.skip(burst.skip_reason)
    section = _section(target)
    operation = "*"
    # A fixed window can split a burst in two: only more than twice the limit within one window's length proves
    # the limit is not enforced. A burst too slow for that (a distant server) says nothing: a note.
    if burst.refused is None and burst.overrun:
        verdict.add(
            [
                finding(
                    "rate-limit.exceeded",
                    operation,
                    f"{burst.overrun}; documented: {section['exceeded_status']} once the limit is exceeded.",
                    rule=section,
                    exchange=burst.last,
                    secrets=target.secrets,
                )
            ]
        )
    elif burst.refused is None and burst.busiest <= 2 * burst.limit:
        verdict.note(
            [
                finding(
                    "rate-limit.exceeded",
                    operation,
                    f"the limit was not reached by a burst of {burst.sent} requests in {burst.elapsed_s:.1f} s: "
                    f"at most {burst.busiest} fell within one window of {burst.window_s:g} s (limit {burst.limit}), "
                    "too few to prove the limit is not enforced; the server may allow more than documented.",
                    rule=section,
                    exchange=burst.last,
                    secrets=target.secrets,
                )
            ]
        )
    elif burst.refused is None:
        verdict.add(
            [
                finding(
                    "rate-limit.exceeded",
                    operation,
                    f"{burst.sent} requests in a burst against a limit of {burst.limit} per {burst.window_s:g} s were "
                    f"all answered, {burst.busiest} of them within one window; documented: "
                    f"{section['exceeded_status']} once the limit is exceeded.",
                    rule=section,
                    exchange=burst.last,
                    secrets=target.secrets,
                )
            ]
        )
    elif burst.refused.status != section["exceeded_status"]:
        verdict.add(
            [
                finding(
                    "rate-limit.exceeded",
                    operation,
                    f"request {burst.sent} of a burst answered {burst.refused.status or burst.refused.error}; "
                    f"documented: {section['exceeded_status']} when the limit is exceeded.",
                    rule=section,
                    exchange=burst.refused,
                    secrets=target.secrets,
                )
            ]
        )
    else:
        if not burst.certain and burst.sent > burst.limit + 1:
            verdict.note(
                [
                    finding(
                        "rate-limit.exceeded",
                        operation,
                        f"the server refused request {burst.sent} of a burst: it allows more than the documented "
                        f"{burst.limit} per {section['window_s']:g} s (apis.md: a different limit is a note).",
                        rule=section,
                        exchange=burst.refused,
                        secrets=target.secrets,
                    )
                ]
            )
        names = dict(section.get("headers") or {})
        if section.get("retry_after") and not burst.refused.header("Retry-After"):
            verdict.add(
                [
                    finding(
                        "rate-limit.exceeded",
                        operation,
                        f"the {burst.refused.status} answer has no Retry-After header; documented: a wait "
                        "hint in seconds.",
                        rule=section,
                        exchange=burst.refused,
                        secrets=target.secrets,
                    )
                ]
            )
        elif _wait_hint(burst.refused, section, names) is None and names:
            verdict.add(
                [
                    finding(
                        "rate-limit.exceeded",
                        operation,
                        f"the {burst.refused.status} answer gives no wait hint (Retry-After or {names.get('reset')}).",
                        rule=section,
                        exchange=burst.refused,
                        secrets=target.secrets,
                    )
                ]
            )
        verdict.add(
            judge_envelope(
                target.profile,
                burst.refused,
                operation,
                target.secrets,
                envelope_required=section.get("exceeded_body", "envelope") == "envelope",
            )
        )
    verdict.conclude()


@pytest.mark.rules("rate-limit.recovery")
def test_recovery(target: Target, verdict: Verdict, burst: Burst) -> None:
    """Fails when requests are still refused after waiting as the server said."""
    target.external_requests += burst.unbilled  # when test_exceeded was not selected
    burst.unbilled = 0
    if burst.skip_reason:
        pytest.skip(burst.skip_reason)
    if burst.recovered is None:
        pytest.skip("; ".join(burst.notes) or "the burst was not refused with the documented status")
    if not 200 <= (burst.recovered.status or 0) < 300:
        verdict.add(
            [
                finding(
                    "rate-limit.recovery",
                    "*",
                    f"after waiting {burst.waited_s:.1f} s {burst.waited_for}, a request answered "
                    f"{burst.recovered.status or burst.recovered.error}; it must succeed again.",
                    rule=_section(target),
                    exchange=burst.recovered,
                    secrets=target.secrets,
                )
            ]
        )
    verdict.conclude()
