"""The official RetailCRM Python client (`retailcrm` on PyPI) against the RetailCRM sandbox.

The sandbox must serve the requests a real client sends, not only the suite's: the client encodes
nested data its own way (`filter[...]` query trees, `customFields: []` for an empty map, as PHP
cannot tell `[]` from `{}`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from conformance.sandbox.runner import RunningSandbox, running_sandbox

retailcrm = pytest.importorskip("retailcrm")

UNLIMITED = (1_000_000, 1.0)  # the client does not pace itself to 10 requests per second


@pytest.fixture(scope="module")
def sandbox() -> Iterator[RunningSandbox]:
    with running_sandbox("retailcrm", rate_limit=UNLIMITED) as running:
        yield running


@pytest.fixture
def client(sandbox: RunningSandbox) -> Any:
    """A v5 client: it wants the account URL and appends `/api` itself."""
    account_url = sandbox.base_url.removesuffix("/api")
    return retailcrm.v5(account_url, sandbox.api_key)


def ok(response: Any) -> dict[str, Any]:
    body: dict[str, Any] = response.get_response()
    assert response.is_successful(), (response.get_status_code(), body)
    assert body["success"] is True
    return body


def test_versions_and_credentials(client: Any) -> None:
    assert "5.0" in ok(client.api_versions())["versions"]
    credentials = ok(client.api_credentials())
    assert set(credentials["sitesAvailable"]) == {"main", "outlet"}


def test_references(client: Any) -> None:
    assert "main" in ok(client.sites())["sites"]
    assert "new" in ok(client.statuses())["statuses"]


def test_orders_list_and_get(client: Any) -> None:
    body = ok(client.orders(limit=50, page=2))
    assert body["pagination"]["currentPage"] == 2 and len(body["orders"]) == 50
    first = body["orders"][0]
    assert ok(client.order(first["id"], "id"))["order"]["id"] == first["id"]
    filtered = ok(client.orders({"ids": [first["id"]]}))["orders"]
    assert [order["id"] for order in filtered] == [first["id"]]
    statuses = ok(client.orders_statuses([first["id"]], []))["orders"]
    assert [order["id"] for order in statuses] == [first["id"]]


def test_order_create_and_edit_with_empty_custom_fields(client: Any) -> None:
    order = {"externalId": "client-order-1", "firstName": "Client", "customFields": []}
    created = client.order_create(order, "main")
    assert created.get_status_code() == 201, created.get_response()
    order_id = ok(created)["id"]
    edited = ok(client.order_edit({"id": order_id, "lastName": "Edited", "customFields": []}, "id", "main"))
    assert edited["id"] == order_id
    read = ok(client.order("client-order-1", site="main"))["order"]
    assert read["lastName"] == "Edited" and read["customFields"] in ({}, [])


def test_customers(client: Any) -> None:
    listed = ok(client.customers({"ids": [4001, 4002]}))
    assert {customer["id"] for customer in listed["customers"]} == {4001, 4002}
    customer = {"externalId": "client-customer-1", "firstName": "Client", "customFields": []}
    created = client.customer_create(customer, "outlet")
    assert created.get_status_code() == 201, created.get_response()
    customer_id = ok(created)["id"]
    ok(client.customer_edit({"id": customer_id, "lastName": "Edited", "customFields": []}, "id", "outlet"))
    read = ok(client.customer("client-customer-1", site="outlet"))["customer"]
    assert read["id"] == customer_id and read["lastName"] == "Edited"
    assert ok(client.customer(str(customer_id), "id"))["customer"]["externalId"] == "client-customer-1"
