"""Order operations: list, statuses, get, create, edit."""

from __future__ import annotations

import json
import math
import sqlite3
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from conformance.sandbox.base import ApiError
from conformance.sandbox.retailcrm.context import (
    Call,
    by_param,
    call,
    entity,
    filtered_page,
    find,
    in_clause,
    listing_rows,
    not_found,
    now,
    ok,
    page_request,
    site_for_create,
    site_param,
    unique_external_id,
)
from conformance.sandbox.retailcrm.data import SITE_SUFFIX, STATUSES, order_item
from conformance.sandbox.retailcrm.params import (
    ENTITY_ERROR,
    ORDER_STRINGS,
    SQLITE_MAX,
    integers,
    invalid_parameter,
    nested_json,
    strings,
    validate_order,
)

__all__ = ["create_order", "edit_order", "get_order", "list_orders", "order_statuses"]

MAX_STATUS_LOOKUPS = 500


async def list_orders(request: Request) -> Response:
    c = await call(request)
    limit, page = page_request(c)
    ids = integers(c.query, "filter", "ids")
    numbers = strings(c.query, "filter", "numbers")
    external_ids = strings(c.query, "filter", "externalIds")
    if numbers and c.has("schema.server-error"):
        raise ApiError(500, "Internal server error")
    filters: list[tuple[str, list[Any]]] = [
        ("id", ids),
        ("json_extract(body, '$.number')", numbers),
        ("external_id", external_ids),
    ]
    return filtered_page(c, "orders", filters, limit, page)


async def order_statuses(request: Request) -> Response:
    c = await call(request)
    ids = integers(c.query, "ids", lenient=c.has("schema.negative-data"))
    external_ids = strings(c.query, "externalIds")
    if external_ids and c.has("schema.positive-data"):
        raise invalid_parameter("externalIds", "This parameter is not supported.")
    if len(ids) + len(external_ids) > MAX_STATUS_LOOKUPS:
        raise invalid_parameter("ids", f"At most {MAX_STATUS_LOOKUPS} orders can be looked up at once.")
    if not ids and not external_ids:
        return ok({"orders": []})
    id_clause, id_values = in_clause("id", ids) if ids else ("0", [])
    ext_clause, ext_values = in_clause("external_id", external_ids) if external_ids else ("0", [])
    rows = listing_rows(c, "orders", [f"({id_clause} OR {ext_clause})"], [*id_values, *ext_values])
    orders = []
    for row in rows:
        order = json.loads(row["body"])
        entry = {"id": order["id"], "status": order["status"], "group": STATUSES[order["status"]]["group"]}
        if "externalId" in order:
            entry["externalId"] = order["externalId"]
        orders.append(entry)
    return ok({"orders": orders})


async def get_order(request: Request) -> Response:
    c = await call(request)
    by, site = by_param(c), site_param(c)
    row = find(c, "orders", request.path_params["externalId"], by, site)
    if row is None or (row["from_api"] and c.has("schema.stateful")):
        raise not_found(c, "Order")
    return ok({"order": entity(c, row["body"])})


async def create_order(request: Request) -> Response:
    c = await call(request)
    site = site_for_create(c)
    data = nested_json(c.form, "order", lenient=c.has("errors.bad-body")) or {}
    validate_order(data, STATUSES)
    stamp = now()
    with c.db.transaction() as conn:
        customer = order_customer(c, data, site)
        unique_external_id(c, "orders", data.get("externalId"), "Order")
        cursor = conn.execute(
            "INSERT INTO orders (external_id, site, from_api, body) VALUES (?, ?, 1, '{}')",
            (data.get("externalId"), site),
        )
        order_id = int(cursor.lastrowid or 0)
        order: dict[str, Any] = {
            "slug": order_id,
            "id": order_id,
            "number": f"{order_id}{SITE_SUFFIX.get(site, 'A')}",
            "orderType": "eshop-individual",
            "orderMethod": "shopping-cart",
            "countryIso": "RU",
            "createdAt": stamp,
            "statusUpdatedAt": stamp,
            "summ": 0,
            "currency": "RUB",
            "totalSumm": 0,
            "prepaySum": 0,
            "purchaseSumm": 0,
            "markDatetime": stamp,
            "call": False,
            "expired": False,
            "contragent": {"contragentType": "individual"},
            "delivery": {"cost": 0, "netCost": 0},
            "site": site,
            "status": "new",
            "items": [],
            "payments": {},
            "fromApi": True,
            "shipped": False,
            "customFields": {},
        }
        apply_order(c, conn, order, data, customer, stamp)
        conn.execute("UPDATE orders SET body = ? WHERE id = ?", (json.dumps(order, ensure_ascii=False), order_id))
    return ok({"id": order_id, "order": entity(c, order)}, 201)


async def edit_order(request: Request) -> Response:
    c = await call(request)
    by, site = by_param(c), site_param(c)
    data = nested_json(c.form, "order", lenient=c.has("errors.bad-body")) or {}
    validate_order(data, STATUSES)
    row = find(c, "orders", request.path_params["externalId"], by, site)
    if row is None:
        raise not_found(c, "Order")
    order = json.loads(row["body"])
    with c.db.transaction() as conn:
        customer = order_customer(c, data, order["site"])
        unique_external_id(c, "orders", data.get("externalId"), "Order", except_id=order["id"])
        apply_order(c, conn, order, data, customer, now())
        conn.execute(
            "UPDATE orders SET external_id = ?, body = ? WHERE id = ?",
            (order.get("externalId"), json.dumps(order, ensure_ascii=False), order["id"]),
        )
    return ok({"id": order["id"], "order": entity(c, order)})


def order_customer(c: Call, data: dict[str, Any], site: str) -> dict[str, Any] | None:
    """The customer an `order` JSON references (by id or externalId, on the order's site)."""
    ref = data.get("customer")
    if not isinstance(ref, dict) or ("id" not in ref and "externalId" not in ref):
        return None
    if "id" in ref:
        customer_id = int(ref["id"])
        row = c.db.one(
            "SELECT body, site FROM customers WHERE id = ?", (customer_id if customer_id <= SQLITE_MAX else -1,)
        )
    else:
        row = c.db.one("SELECT body, site FROM customers WHERE external_id = ?", (ref["externalId"],))
    if row is None or row["site"] != site:
        raise ApiError(400, ENTITY_ERROR, details={"customer": "Customer not found."})
    customer: dict[str, Any] = json.loads(row["body"])
    return customer


ORDER_FIELDS = (*(key for key in ORDER_STRINGS if key != "status"), "createdAt", "shipmentDate")
"""The fields an order takes as sent: the strings validate_order checks and the two dates (status is
set on its own, since a change stamps statusUpdatedAt)."""


def apply_order(
    c: Call,
    conn: sqlite3.Connection,
    order: dict[str, Any],
    data: dict[str, Any],
    customer: dict[str, Any] | None,
    stamp: str,
) -> None:
    """Writes the fields of a validated `order` JSON onto the stored order and recomputes its sums."""
    for key in ORDER_FIELDS:
        if key in data:
            order[key] = data[key]
    if "status" in data and data["status"] != order.get("status"):
        order["status"] = data["status"]
        order["statusUpdatedAt"] = stamp
    if customer is not None:
        order["customer"] = order["contact"] = customer
    if "items" in data:
        order["items"] = [order_line(c, conn, item, stamp) for item in data["items"]]
    if "delivery" in data:
        delivery = {**order.get("delivery", {}), **data["delivery"]}
        delivery.setdefault("cost", 0)
        delivery.setdefault("netCost", 0)
        order["delivery"] = delivery
    if "customFields" in data:
        existing = order.get("customFields")
        order["customFields"] = {**(existing if isinstance(existing, dict) else {}), **data["customFields"]}
    order["summ"] = sum(item["initialPrice"] * item["quantity"] for item in order["items"])
    order["totalSumm"] = order["summ"] + order.get("delivery", {}).get("cost", 0)
    if not _finite(order["totalSumm"]):
        raise ApiError(400, ENTITY_ERROR, details={"items": "The order total is out of range."})


def order_line(c: Call, conn: sqlite3.Connection, item: dict[str, Any], stamp: str) -> dict[str, Any]:
    conn.execute("UPDATE counters SET value = value + 1 WHERE name = 'order_item'")
    item_id = int(conn.execute("SELECT value FROM counters WHERE name = 'order_item'").fetchone()[0])
    offers = c.request.app.state.offers
    ref = item.get("offer") or {}
    found = None
    for key in ("id", "externalId", "xmlId"):
        if key in ref:
            found = offers.get((key, int(ref[key]) if key == "id" else ref[key]))
            break
    offer, product = found if found else (None, None)
    price = item.get("initialPrice", offer["price"] if offer else 0)
    name = item.get("productName") if offer is None else None
    return order_item(
        item_id,
        offer,
        product,
        price,
        item.get("quantity", 1),
        stamp,
        name if name is not None else (None if offer else "Custom item"),
    )


def _finite(value: float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer beyond any float
        return False
