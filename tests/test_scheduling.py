"""How `--workers N` spreads a run: modules whole, the Schemathesis engine split by operation."""

from __future__ import annotations

import pytest

from conformance.profile import load_profile
from conformance.scheduling import ENGINE, STATEFUL, engine_scope, linked_operations, scope_operations, work_unit

GOAT = load_profile("goat")


def test_linked_operations_are_both_ends_of_the_links() -> None:
    assert linked_operations(GOAT) == {"createOrder", "getOrder", "updateOrder", "getPayment"}
    assert linked_operations(load_profile("storefront")) == {"createOrder", "createPayment"}


def test_one_worker_runs_the_engine_once() -> None:
    assert {engine_scope(GOAT, op, workers=1) for op in GOAT.operations} == {ENGINE}
    assert scope_operations(GOAT, ENGINE, workers=1) == list(GOAT.operations)


def test_several_workers_get_one_engine_run_per_unlinked_operation() -> None:
    scopes = {op: engine_scope(GOAT, op, workers=2) for op in GOAT.operations}
    assert scopes["createOrder"] == scopes["getPayment"] == STATEFUL
    assert scopes["listProducts"] == "engine:listProducts"
    assert sorted(scope_operations(GOAT, STATEFUL, workers=2)) == [
        "createOrder",
        "getOrder",
        "getPayment",
        "updateOrder",
    ]
    # every operation is in exactly one run
    covered = [op for scope in set(scopes.values()) for op in scope_operations(GOAT, scope, workers=2)]
    assert sorted(covered) == sorted(GOAT.operations)


@pytest.mark.parametrize(
    ("nodeid", "scope"),
    [
        ("test_schema.py::test_schema[createOrder]", STATEFUL),
        ("test_schema.py::test_schema[listProducts]", "engine:listProducts"),
        ("conformance/suite/test_schema.py::test_schema[getMe]", "engine:getMe"),
        ("test_rate_limit.py::test_headers", "test_rate_limit.py"),
        ("test_idempotency.py::test_concurrent[createOrder]", "test_idempotency.py"),
    ],
)
def test_scope_of_a_test(nodeid: str, scope: str) -> None:
    assert work_unit(GOAT, nodeid) == scope
