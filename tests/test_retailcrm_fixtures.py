"""The retailcrm spec accepts real RetailCRM responses.

The bodies come from the official PHP client's test suite (see the fixtures' README). Each body of an
operation the spec covers must validate against that operation's *documented success* schema: the
recorded statuses are the mock's (always 200, creates included), not the API's, so they are ignored.

The fixtures are read from `../shared/fixtures/retailcrm` beside the repository; where that folder does
not exist (a fresh clone in CI), from the copy of the covered ones in `tests/fixtures/retailcrm`.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from conformance.profile import iter_operations, resolve_pointer, schema_validator
from conformance.specfiles import load_spec

API = "retailcrm"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "retailcrm"
COPY = Path(__file__).resolve().parent / "fixtures" / "retailcrm"
FIXTURES = SHARED if SHARED.is_dir() else COPY

# Fixture file → the spec operation whose success schema must accept its body. Mapped by the record's
# `method` + `path_template` (the client's route), never by its concrete path: `GET /api/v5/orders/packs`
# and `GET /api/v5/orders/history` would otherwise match getOrder with externalId "packs"/"history".
FIXTURE_OPERATIONS = {
    "OrdersTest__testList__1.json": "listOrders",
    "OrdersTest__testGet__1.json": "getOrder",
    "OrdersTest__testCreate__1.json": "createOrder",
    "OrdersTest__testEdit__1.json": "editOrder",
    "OrdersTest__testStatuses__1.json": "getOrderStatuses",
    "CustomersTest__testCustomersList__1.json": "listCustomers",
    "CustomersTest__testCustomersGet__1.json": "getCustomer",
    "CustomersTest__testCustomersCreate__1.json": "createCustomer",
    "CustomersTest__testCustomersEdit__1.json": "editCustomer",
    "CustomersTest__testCustomersEditTags__1.json": "editCustomer",
}


def _escape(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


@cache
def operations() -> dict[tuple[str, str], str]:
    """(METHOD, path template relative to the base URL) → operationId, for every spec operation."""
    return {(op.method, op.path): op.operation_id for op in iter_operations(load_spec(API))}


def operation_of(record: dict[str, Any]) -> str | None:
    """The spec operation of a recorded response's route, or None when the spec does not cover it."""
    template = str(record["path_template"]).removeprefix("/api")
    return operations().get((str(record["method"]).upper(), template))


def success_schema_pointer(operation_id: str) -> str:
    """JSON pointer to the application/json schema of the operation's documented 2xx response."""
    spec = load_spec(API)
    (method, path), *_ = [key for key, op_id in operations().items() if op_id == operation_id]
    responses = spec["paths"][path][method.lower()]["responses"]
    [status] = [code for code in responses if str(code).startswith("2")]
    pointer = f"/paths/{_escape(path)}/{method.lower()}/responses/{status}"
    response = resolve_pointer(spec, pointer)
    while "$ref" in response:
        pointer = response["$ref"].removeprefix("#")
        response = resolve_pointer(spec, pointer)
    assert "application/json" in response["content"], f"{operation_id}: the success response is not JSON"
    return f"{pointer}/content/application~1json/schema"


def schema_errors(operation_id: str, body: Any) -> list[str]:
    validator = schema_validator(load_spec(API), success_schema_pointer(operation_id))
    return [f"/{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(body)]


def load_record(path: Path) -> dict[str, Any]:
    record: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return record


def fixture_files() -> list[Path]:
    return sorted(FIXTURES.glob("*__*.json"))


def test_the_fixture_folder_holds_every_mapped_fixture() -> None:
    assert FIXTURES.is_dir(), f"no RetailCRM fixtures at {SHARED} nor at {COPY}"
    assert sorted(FIXTURE_OPERATIONS) == sorted(
        path.name for path in fixture_files() if path.name in FIXTURE_OPERATIONS
    )


def test_every_fixture_of_a_covered_operation_is_mapped_to_it() -> None:
    found = {path.name: operation_of(load_record(path)) for path in fixture_files()}
    covered = {name: op_id for name, op_id in found.items() if op_id is not None}
    # A fixture whose route the spec covers but the table misses (or maps elsewhere) fails here.
    assert covered == FIXTURE_OPERATIONS
    # The shared folder also holds routes outside the spec's subset (history, packs, notes, payments...).
    if FIXTURES == SHARED:
        assert len(found) > len(covered)


@pytest.mark.parametrize("name", sorted(FIXTURE_OPERATIONS))
def test_fixture_body_matches_the_success_schema_of_its_operation(name: str) -> None:
    record = load_record(FIXTURES / name)
    assert record["body_format"] == "json"
    assert record["body"]["success"] is True
    assert schema_errors(FIXTURE_OPERATIONS[name], record["body"]) == []


def test_the_copy_in_the_repository_equals_the_shared_fixtures() -> None:
    # CI runs on a fresh clone without ../shared: the copy must hold every mapped fixture, unchanged.
    for name in FIXTURE_OPERATIONS:
        copied = load_record(COPY / name)
        assert operation_of(copied) == FIXTURE_OPERATIONS[name]
        if SHARED.is_dir():
            assert copied == load_record(SHARED / name), f"tests/fixtures/retailcrm/{name} differs from {SHARED}"


def _order_date_with_t(body: dict[str, Any]) -> None:
    body["order"]["createdAt"] = body["order"]["createdAt"].replace(" ", "T")


def _order_without_id(body: dict[str, Any]) -> None:
    del body["order"]["id"]


def _order_id_as_text(body: dict[str, Any]) -> None:
    body["order"]["id"] = str(body["order"]["id"])


def _order_without_site(body: dict[str, Any]) -> None:
    del body["order"]["site"]


def _success_false(body: dict[str, Any]) -> None:
    body["success"] = False


def _item_quantity_as_text(body: dict[str, Any]) -> None:
    body["order"]["items"][0]["quantity"] = "1"


BROKEN_ORDERS: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("iso-date", _order_date_with_t, "/order/createdAt"),
    ("no-id", _order_without_id, "/order: 'id' is a required property"),
    ("id-as-text", _order_id_as_text, "/order/id"),
    ("no-site", _order_without_site, "/order: 'site' is a required property"),
    ("success-false", _success_false, "/success"),
    ("item-quantity-as-text", _item_quantity_as_text, "/order/items/0/quantity"),
]


@pytest.mark.parametrize(("mutate", "where"), [b[1:] for b in BROKEN_ORDERS], ids=[b[0] for b in BROKEN_ORDERS])
def test_the_schema_check_rejects_a_broken_order(mutate: Callable[[dict[str, Any]], None], where: str) -> None:
    body = copy.deepcopy(load_record(FIXTURES / "OrdersTest__testGet__1.json")["body"])
    assert schema_errors("getOrder", body) == []
    mutate(body)
    errors = schema_errors("getOrder", body)
    assert any(error.startswith(where) for error in errors), errors


def test_the_schema_check_rejects_a_customer_without_created_at() -> None:
    body = copy.deepcopy(load_record(FIXTURES / "CustomersTest__testCustomersList__1.json")["body"])
    del body["customers"][0]["createdAt"]
    assert schema_errors("listCustomers", body) == ["/customers/0: 'createdAt' is a required property"]
