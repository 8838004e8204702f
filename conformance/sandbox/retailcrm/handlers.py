"""Routes of the RetailCRM sandbox, and the operations on customers, references, products and telephony."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from conformance.sandbox.retailcrm.context import (
    by_param,
    call,
    entity,
    filtered_page,
    find,
    in_clause,
    not_found,
    now,
    ok,
    page_request,
    paginated,
    site_for_create,
    site_param,
    unique_external_id,
)
from conformance.sandbox.retailcrm.data import SITES, STATUSES, new_customer
from conformance.sandbox.retailcrm.orders import create_order, edit_order, get_order, list_orders, order_statuses
from conformance.sandbox.retailcrm.params import (
    integers,
    nested_json,
    strings,
    validate_call_event,
    validate_customer,
)

__all__ = ["SMALL_CATALOG", "routes"]

SMALL_CATALOG = 12
"""Products of the `small-catalog` variation: less than one default page."""


async def api_versions(request: Request) -> Response:
    await call(request)
    return ok({"versions": ["3.0", "4.0", "5.0"]})


async def credentials(request: Request) -> Response:
    c = await call(request)
    methods = [route.path for route in routes() if route.path != "/api/credentials"]
    return ok(
        {
            "credentials": methods,
            "siteAccess": "access_full" if set(c.sites) == set(SITES) else "access_selective",
            "sitesAvailable": list(c.sites),
        }
    )


# --- orders --------------------------------------------------------------------------------


async def list_customers(request: Request) -> Response:
    c = await call(request)
    limit, page = page_request(c)
    filters: list[tuple[str, list[Any]]] = [
        ("id", integers(c.query, "filter", "ids")),
        ("external_id", strings(c.query, "filter", "externalIds")),
    ]
    return filtered_page(c, "customers", filters, limit, page)


async def get_customer(request: Request) -> Response:
    c = await call(request)
    by, site = by_param(c), site_param(c)
    row = find(c, "customers", request.path_params["externalId"], by, site)
    if row is None:
        raise not_found(c, "Customer")
    return ok({"customer": entity(c, row["body"])})


CUSTOMER_FIELDS = (
    "externalId",
    "firstName",
    "lastName",
    "patronymic",
    "email",
    "sex",
    "birthday",
    "vip",
    "bad",
    "createdAt",
    "phones",
)


def apply_customer(customer: dict[str, Any], data: dict[str, Any]) -> None:
    for key in CUSTOMER_FIELDS:
        if key in data:
            customer[key] = data[key]
    if "address" in data:
        customer["address"] = {**customer.get("address", {}), **data["address"]}
    if "customFields" in data:
        existing = customer.get("customFields")
        customer["customFields"] = {**(existing if isinstance(existing, dict) else {}), **data["customFields"]}


async def create_customer(request: Request) -> Response:
    c = await call(request)
    site = site_for_create(c)
    data = nested_json(c.form, "customer", lenient=c.has("errors.bad-body")) or {}
    validate_customer(data)
    stamp = now()
    with c.db.transaction() as conn:
        unique_external_id(c, "customers", data.get("externalId"), "Customer")
        cursor = conn.execute(
            "INSERT INTO customers (external_id, site, from_api, body) VALUES (?, ?, 1, '{}')",
            (data.get("externalId"), site),
        )
        customer_id = int(cursor.lastrowid or 0)
        customer: dict[str, Any] = {**new_customer(customer_id, site, stamp), "segments": [], "phones": []}
        apply_customer(customer, data)
        conn.execute(
            "UPDATE customers SET body = ? WHERE id = ?", (json.dumps(customer, ensure_ascii=False), customer_id)
        )
    return ok({"id": customer_id}, 200 if c.has("schema.status-code") else 201)


async def edit_customer(request: Request) -> Response:
    c = await call(request)
    by, site = by_param(c), site_param(c)
    data = nested_json(c.form, "customer", lenient=c.has("errors.bad-body")) or {}
    validate_customer(data)
    row = find(c, "customers", request.path_params["externalId"], by, site)
    if row is None:
        raise not_found(c, "Customer")
    customer = json.loads(row["body"])
    with c.db.transaction() as conn:
        unique_external_id(c, "customers", data.get("externalId"), "Customer", except_id=customer["id"])
        apply_customer(customer, data)
        conn.execute(
            "UPDATE customers SET external_id = ?, body = ? WHERE id = ?",
            (customer.get("externalId"), json.dumps(customer, ensure_ascii=False), customer["id"]),
        )
    return ok({"id": customer["id"]})


# --- references, store, telephony ----------------------------------------------------------


async def list_sites(request: Request) -> Response:
    c = await call(request)
    sites = {code: SITES[code] for code in c.sites}
    return ok({"sites": list(sites.values()) if c.has("schema.response-schema") else sites})


async def list_statuses(request: Request) -> Response:
    c = await call(request)
    if c.has("schema.content-type"):
        return Response(json.dumps({"success": True, "statuses": STATUSES}), media_type="text/plain")
    return ok({"statuses": STATUSES})


async def list_products(request: Request) -> Response:
    c = await call(request)
    limit, page = page_request(c)
    ids = integers(c.query, "filter", "ids")
    where, params = in_clause("id", ids) if ids else ("1", [])
    if c.settings.varies("small-catalog"):
        where += f" AND id <= {SMALL_CATALOG}"
    rows = c.db.all(f"SELECT id, body FROM products WHERE {where} ORDER BY id", params)
    return paginated(c, "products", rows, limit, page)


async def telephony_call_event(request: Request) -> Response:
    c = await call(request)
    event = nested_json(c.form, "event", lenient=c.has("errors.bad-body"))
    if event is not None:
        validate_call_event(event)
        c.db.execute(
            "INSERT INTO call_events (created_at, body) VALUES (?, ?)", (now(), json.dumps(event, ensure_ascii=False))
        )
    return ok({})


def routes() -> list[Route]:
    """The sandbox's routes under /api; literal paths come before the `{externalId}` ones."""
    return [
        Route("/api/api-versions", api_versions, methods=["GET"]),
        Route("/api/credentials", credentials, methods=["GET"]),
        Route("/api/v5/orders", list_orders, methods=["GET"]),
        Route("/api/v5/orders/create", create_order, methods=["POST"]),
        Route("/api/v5/orders/statuses", order_statuses, methods=["GET"]),
        Route("/api/v5/orders/{externalId}", get_order, methods=["GET"]),
        Route("/api/v5/orders/{externalId}/edit", edit_order, methods=["POST"]),
        Route("/api/v5/customers", list_customers, methods=["GET"]),
        Route("/api/v5/customers/create", create_customer, methods=["POST"]),
        Route("/api/v5/customers/{externalId}", get_customer, methods=["GET"]),
        Route("/api/v5/customers/{externalId}/edit", edit_customer, methods=["POST"]),
        Route("/api/v5/reference/sites", list_sites, methods=["GET"]),
        Route("/api/v5/reference/statuses", list_statuses, methods=["GET"]),
        Route("/api/v5/store/products", list_products, methods=["GET"]),
        Route("/api/v5/telephony/call/event", telephony_call_event, methods=["POST"]),
    ]
