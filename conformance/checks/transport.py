"""Transport rules: the target answers, with well-formed responses, and keeps credentials on its host."""

from __future__ import annotations

from conformance.client import Exchange
from conformance.findings import Finding, finding
from conformance.rules import Rule, register

__all__ = ["judge_transport"]

register(
    Rule(
        "transport.unreachable", "The target answers", "The target accepts connections and answers within the timeout."
    )
)
register(
    Rule(
        "transport.invalid-response",
        "Responses are well-formed",
        "Responses declared as JSON parse as JSON, and fit in the size cap.",
        passive="exchange",
    )
)
register(
    Rule(
        "transport.redirect",
        "Credentials never leave the host",
        "A redirect to another host is not followed with credentials.",
    )
)


def judge_transport(exchange: Exchange, operation: str, secrets: tuple[str, ...]) -> list[Finding]:
    """Fails when the exchange never got a usable answer (timeout, reset, oversize, off-host redirect)."""
    if exchange.error is None:
        return []
    rule = {
        "oversize": "transport.invalid-response",
        "protocol": "transport.invalid-response",
        "redirect": "transport.redirect",
    }.get(exchange.error_kind or "", "transport.unreachable")
    return [
        finding(
            rule,
            operation,
            f"{exchange.method} {exchange.url.split('?')[0]}: {exchange.error}",
            exchange=exchange,
            secrets=secrets,
            tier="inferred",
        )
    ]
