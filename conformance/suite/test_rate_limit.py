"""Rate limits: the documented headers, their consistency and, with --probe-rate-limit, a burst."""

from __future__ import annotations

import email.utils
import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from conformance.checks.common import judge_envelope, judge_transport
from conformance.client import Client, Exchange
from conformance.findings import Finding, finding
from conformance.suite.conftest import Verdict
from conformance.target import RecipeError, Target, auth_locations

SAMPLES = 4
MAX_BURST = 600
MAX_WAIT_S = 65.0
# Without a limit the server states, a burst this many times the documented limit shows it is not enforced.
UNCERTAIN_FACTOR = 10


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


def _server_now(exchange: Exchange) -> float:
    date = exchange.header("Date")
    if date:
        try:
            return email.utils.parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError):
            pass
    return time.time()


@pytest.mark.rules("rate-limit.headers")
def test_headers(target: Target, verdict: Verdict) -> None:
    """Fails when the documented rate-limit headers are missing (or, where optional, only partly sent)."""
    names = _headers_section(target)
    section = _section(target)
    request = _probe_request(target)
    for _ in range(SAMPLES):
        exchange = target.client.request(**request)
        if judge_transport(exchange, request["operation"], target.secrets):
            verdict.add(judge_transport(exchange, request["operation"], target.secrets))
            break
        present = {role: exchange.header(name) is not None for role, name in names.items()}
        missing = [names[role] for role, there in present.items() if not there]
        if missing and (section.get("headers_required") or any(present.values())):
            verdict.add(
                [
                    finding(
                        "rate-limit.headers",
                        request["operation"],
                        f"the answer lacks {', '.join(missing)}"
                        + (
                            ""
                            if section.get("headers_required")
                            else " while sending the other rate-limit headers (they come all together or not at all)"
                        )
                        + ".",
                        rule=section,
                        exchange=exchange,
                        secrets=target.secrets,
                    )
                ]
            )
            break
    verdict.conclude()


def _int(value: str | None) -> int | None:
    try:
        return int(str(value).strip()) if value is not None else None
    except ValueError:
        return None


@pytest.mark.rules("rate-limit.consistent")
def test_consistent(target: Target, verdict: Verdict) -> None:
    """Fails when Limit changes, Remaining does not fall by one per request, or Reset is past or in another unit."""
    names = _headers_section(target)
    section = _section(target)
    request = _probe_request(target)
    samples: list[tuple[Exchange, int | None, int | None, int | None]] = []
    for _ in range(SAMPLES):
        exchange = target.client.request(**request)
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


def judge_consistency(
    samples: list[tuple[Exchange, int | None, int | None, int | None]],
    section: dict[str, Any],
    names: dict[str, str],
    operation: str,
    secrets: tuple[str, ...],
    *,
    exact: bool,
) -> list[Finding]:
    """Judges consecutive rate-limit headers of one client."""

    def fail(message: str, exchange: Exchange) -> list[Finding]:
        return [finding("rate-limit.consistent", operation, message, rule=section, exchange=exchange, secrets=secrets)]

    for exchange, limit, remaining, reset in samples:
        for role, value in (("limit", limit), ("remaining", remaining), ("reset", reset)):
            if value is None:
                return fail(f"{names[role]} is {exchange.header(names[role])!r}, not an integer.", exchange)
        assert limit is not None and remaining is not None and reset is not None
        if remaining > limit or remaining < 0:
            return fail(f"{names['remaining']} {remaining} is outside 0..{names['limit']} ({limit}).", exchange)
        now = _server_now(exchange)
        if section.get("reset_unit", "unix-seconds") == "unix-seconds":
            if reset > 10**11:
                return fail(f"{names['reset']} {reset} looks like milliseconds; documented: Unix seconds.", exchange)
            if reset < 10**9:
                return fail(
                    f"{names['reset']} {reset} is not a Unix timestamp (seconds); it looks like a delay.", exchange
                )
            if reset < now - 2:
                return fail(
                    f"{names['reset']} {reset} is {now - reset:.0f} s in the past; it must be now or later.", exchange
                )
        elif reset < 0:
            return fail(f"{names['reset']} {reset} is negative.", exchange)
    for (_, limit_a, rem_a, reset_a), (b, limit_b, rem_b, reset_b) in zip(samples, samples[1:], strict=False):
        if limit_a != limit_b and reset_a == reset_b:
            return fail(f"{names['limit']} changed from {limit_a} to {limit_b} within one window.", b)
        if reset_a != reset_b or rem_a is None or rem_b is None:
            continue  # a new window began
        if rem_a == 0:
            continue
        if rem_b == rem_a or rem_b > rem_a or (exact and rem_b != rem_a - 1):
            return fail(
                f"{names['remaining']} went from {rem_a} to {rem_b} after one request; it must fall by one "
                "per counted request.",
                b,
            )
    return []


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
    recovered: Exchange | None = None
    waited_s: float = 0.0
    waited_for: str = "as the server said"
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


@pytest.fixture(scope="session")
def burst(target: Target) -> Burst:
    """Sends a bounded burst past the limit (once per session) and waits as the server says."""
    section = _section(target)
    if not target.options.probe_rate_limit:
        return Burst(limit=0, skip_reason="pass --probe-rate-limit to send a burst past the limit")
    request = _probe_request(target)
    names = dict(section.get("headers") or {})
    first = target.client.request(**request)
    advertised = _int(first.header(names["limit"])) if names else None
    known = target.options.known_limit
    limit = advertised or (known[0] if known else None) or (section["requests"] if section.get("documented") else None)
    if not limit:
        return Burst(limit=0, skip_reason="the API documents no limit and the server advertises none")
    certain = bool(advertised)
    # A server may allow more than documented (apis.md: a note, not a failure): without a limit it states,
    # "not enforced" may only be said after a burst well past any plausible limit, sent within one window.
    budget = limit * 2 + 5 if certain else limit * UNCERTAIN_FACTOR
    if budget > MAX_BURST:
        return Burst(limit=limit, skip_reason=f"the limit ({limit} per window) is too large to probe politely")
    window_s = float(known[1]) if known else float(section["window_s"])
    result = Burst(limit=limit, certain=certain, window_s=window_s)
    started = time.monotonic()
    client = Client(
        target.base_url,
        api_key=target.api_key,
        auth=auth_locations(target.profile),
        timeout=target.options.timeout,
        rate=None,
    )
    try:
        for _ in range(budget):
            result.sent_at.append(time.monotonic())
            exchange = client.request(retry_throttled=False, **request)
            result.sent += 1
            result.last = exchange
            if exchange.error or (exchange.status or 0) >= 400:
                result.refused = exchange
                break
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
        target.external_requests += client.requests_sent
        client.close()
    return result


@pytest.mark.rules("rate-limit.exceeded", "errors.envelope")
def test_exceeded(target: Target, verdict: Verdict, burst: Burst) -> None:
    """Fails when a burst past the limit does not get the documented status, envelope and wait hint."""
    if burst.skip_reason:
        pytest.skip(burst.skip_reason)
    section = _section(target)
    operation = "*"
    # A fixed window can split a burst in two: only more than twice the limit within one window's length proves
    # the limit is not enforced. A burst too slow for that (a distant server) says nothing: a note.
    if burst.refused is None and burst.busiest <= 2 * burst.limit:
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
