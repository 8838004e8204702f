"""Transport: the target answers, in well-formed JSON, and keeps credentials at home."""

from __future__ import annotations

import pytest

from conformance.checks.common import JSON_TYPES
from conformance.checks.transport import judge_transport
from conformance.findings import finding
from conformance.suite.conftest import Verdict
from conformance.target import RecipeError, Target


@pytest.mark.rules("transport.unreachable", "transport.invalid-response", "transport.redirect")
def test_answers_json(target: Target, verdict: Verdict) -> None:
    """Fails when a documented GET does not come back as a JSON answer within the timeout and size cap.

    Every GET that can be requested is asked once: the documents promise JSON from each of them.
    """
    asked = 0
    for op in target.profile.operations.values():
        if op.method != "GET":
            continue
        try:
            request = target.build(op.operation_id)
        except RecipeError:
            continue
        exchange = target.ask(request)  # the plain recipe: other rules may have asked it already
        asked += 1
        transport = judge_transport(exchange, op.operation_id, target.secrets)
        if transport:
            verdict.add(transport)
            break  # a target that hangs or floods would do it again on every operation
        if exchange.content_type not in JSON_TYPES:
            verdict.add(
                [
                    finding(
                        "transport.invalid-response",
                        op.operation_id,
                        f"{op.method} {op.path} answered {exchange.status} as "
                        f"{exchange.content_type or 'no content type'!r}; documented: JSON.",
                        exchange=exchange,
                        secrets=target.secrets,
                        tier="documented",
                    )
                ]
            )
        else:
            try:
                exchange.json()
            except ValueError as exc:
                verdict.add(
                    [
                        finding(
                            "transport.invalid-response",
                            op.operation_id,
                            f"{op.method} {op.path} answered {exchange.status}: {exc}.",
                            exchange=exchange,
                            secrets=target.secrets,
                            tier="documented",
                        )
                    ]
                )
    if not asked:
        pytest.skip("no GET operation that can be requested")
    verdict.conclude()
