"""Judging rate-limit headers: present as documented, and consistent from one answer to the next.

The live suite (`conformance/suite/test_rate_limit.py`) feeds these the answers to its probe requests;
`conformance drift` feeds them recorded answers, whose "now" is when they were recorded.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable
from typing import Any

from conformance.client import Exchange
from conformance.findings import Finding, finding
from conformance.rules import Rule, register

__all__ = ["Sample", "header_int", "judge_consistency", "judge_headers", "server_now"]

register(
    Rule(
        "rate-limit.headers",
        "Rate-limit headers are present",
        "Responses carry the documented rate-limit headers (where optional: all or none).",
        passive="exchange",
        reads=("rate_limit", "rate_limit.preset", "rate_limit.headers", "rate_limit.headers_required"),
    )
)
register(
    Rule(
        "rate-limit.consistent",
        "Rate-limit headers are consistent",
        "Limit is constant, Remaining falls by one per request, Reset is in the documented unit and not past.",
        passive="sequence",
        reads=("rate_limit", "rate_limit.headers", "rate_limit.reset_unit", "rate_limit.window_s"),
    )
)
register(
    Rule(
        "rate-limit.exceeded",
        "Exceeding the limit gets the documented status",
        "A burst past the limit gets the documented status with the envelope and a wait hint.",
        reads=(
            "rate_limit",
            "rate_limit.requests",
            "rate_limit.exceeded_status",
            "rate_limit.exceeded_body",
            "rate_limit.retry_after",
        ),
    )
)
register(
    Rule(
        "rate-limit.recovery",
        "The wait hint is honored",
        "After waiting as the server said, requests succeed again.",
        reads=("rate_limit", "rate_limit.retry_after", "rate_limit.window_s"),
    )
)

Sample = tuple[Exchange, int | None, int | None, int | None]
"""One answer and its Limit, Remaining and Reset headers read as integers (None: absent or not an integer)."""


def header_int(value: str | None) -> int | None:
    try:
        return int(str(value).strip()) if value is not None else None
    except ValueError:
        return None


def server_now(exchange: Exchange) -> float:
    """When the server answered: its Date header, else the local clock."""
    date = exchange.header("Date")
    if date:
        try:
            return email.utils.parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError):
            pass
    return time.time()


def sample(exchange: Exchange, names: dict[str, str]) -> Sample:
    return (
        exchange,
        header_int(exchange.header(names["limit"])),
        header_int(exchange.header(names["remaining"])),
        header_int(exchange.header(names["reset"])),
    )


def judge_headers(
    section: dict[str, Any], exchange: Exchange, operation: str, secrets: tuple[str, ...]
) -> list[Finding]:
    """Fails when an answer lacks documented rate-limit headers (where optional: sends only some of them)."""
    names = dict(section.get("headers") or {})
    header = exchange.header
    missing = [name for name in names.values() if header(name) is None]
    if not missing or not (section.get("headers_required") or len(missing) < len(names)):  # none, or all, missing
        return []
    together = (
        ""
        if section.get("headers_required")
        else " while sending the other rate-limit headers (they come all together or not at all)"
    )
    return [
        finding(
            "rate-limit.headers",
            operation,
            f"the answer lacks {', '.join(missing)}{together}.",
            rule=section,
            exchange=exchange,
            secrets=secrets,
        )
    ]


def judge_consistency(
    samples: list[Sample],
    section: dict[str, Any],
    names: dict[str, str],
    operation: str,
    secrets: tuple[str, ...],
    *,
    exact: bool,
    now: Callable[[Exchange], float] = server_now,
) -> list[Finding]:
    """Judges consecutive rate-limit headers of one client.

    `exact`: every request between two samples was counted by this client alone, so Remaining falls by
    exactly one; otherwise it must only fall. `now` tells when an answer was given (recorded traffic is judged
    at the time it was recorded, not today).
    """

    def fail(message: str, exchange: Exchange) -> list[Finding]:
        return [finding("rate-limit.consistent", operation, message, rule=section, exchange=exchange, secrets=secrets)]

    for exchange, limit, remaining, reset in samples:
        if limit is None or remaining is None or reset is None:
            for role, value in (("limit", limit), ("remaining", remaining), ("reset", reset)):
                if value is None:
                    return fail(f"{names[role]} is {exchange.header(names[role])!r}, not an integer.", exchange)
        assert limit is not None and remaining is not None and reset is not None
        if remaining > limit or remaining < 0:
            return fail(f"{names['remaining']} {remaining} is outside 0..{names['limit']} ({limit}).", exchange)
        moment = now(exchange)
        if section.get("reset_unit", "unix-seconds") == "unix-seconds":
            if reset > 10**11:
                return fail(f"{names['reset']} {reset} looks like milliseconds; documented: Unix seconds.", exchange)
            if reset < 10**9:
                return fail(
                    f"{names['reset']} {reset} is not a Unix timestamp (seconds); it looks like a delay.", exchange
                )
            if reset < moment - 2:
                return fail(
                    f"{names['reset']} {reset} is {moment - reset:.0f} s in the past; it must be now or later.",
                    exchange,
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
