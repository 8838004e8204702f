"""The Partner API's operations, one `async def` each (one event loop: each handler's DB work is atomic)."""

from __future__ import annotations

import json
import random
import re
import sqlite3
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from conformance.sandbox.base import ApiError, SandboxSettings, db_of, read_json, settings_of
from conformance.sandbox.gaming_goods_partner.seed import timestamp

__all__ = [
    "checkout",
    "get_order",
    "get_product",
    "list_brand_categories",
    "list_brands",
    "list_orders",
    "list_products",
]

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_LINES = 100
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_INTEGER = re.compile(r"-?[0-9]+")
_HUGE = 10**15  # SQLite's LIMIT/OFFSET are int64: larger figures are read as this one


# --- pagination ---------------------------------------------------------------------------


def _integer(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or (raw == "" and settings_of(request).varies("empty-paging-as-absent")):
        return default
    if not _INTEGER.fullmatch(raw):
        raise ApiError(400, f"Parameter '{name}' must be an integer")
    if len(raw) > 1000:  # past Python's int() digit limit: the same as any other huge figure
        return -_HUGE if raw.startswith("-") else _HUGE
    return int(raw)


def _window(request: Request) -> tuple[int, int]:
    """Returns (limit, offset): limit 1..100 (default 20), offset ≥ 0; anything else is a 400."""
    settings = settings_of(request)
    limit = _integer(request, "limit", 10 if settings.has("pagination.default-limit") else DEFAULT_LIMIT)
    if limit < 1 and not (limit == 0 and settings.has("pagination.invalid-limit")):
        raise ApiError(400, f"Parameter 'limit' must be an integer between 1 and {MAX_LIMIT}")
    if limit > MAX_LIMIT and settings.varies("limit-clamped"):
        limit = MAX_LIMIT  # apis.md: "400 or clamped (echoed as 100)"
    if limit > MAX_LIMIT and not settings.has("pagination.max-limit"):
        # apis.md allows "400 or clamped"; refusing matches the spec's `maximum: 100`
        raise ApiError(400, f"Parameter 'limit' must be an integer between 1 and {MAX_LIMIT}")
    offset = _integer(request, "offset", 0)
    if offset < 0 and settings.varies("negative-offset-as-zero"):
        offset = 0  # the documents do not say how a negative offset is answered
    if offset < 0:
        raise ApiError(400, "Parameter 'offset' must be a non-negative integer")
    return limit, offset


Fetch = Callable[[int, int], list[dict[str, Any]]]


def _page(request: Request, total: int, fetch: Fetch) -> dict[str, Any]:
    """Returns the list body `{"items", "total", "limit", "offset"}`; `fetch(limit, start)` reads rows."""
    settings = settings_of(request)
    limit, offset = _window(request)
    start = offset
    if offset > 0 and settings.has("pagination.no-duplicates"):
        start = offset - 1
    if offset > 0 and settings.has("pagination.complete"):
        start = offset + 1
    if start >= total:  # apis.md: "A page past the end of a list is an empty page"
        items = fetch(1, total - 1) if total and limit and settings.has("pagination.last-page") else []
    else:
        items = fetch(min(limit, _HUGE), start) if limit else []
    if settings.has("pagination.stable-order"):
        random.shuffle(items)
    reported = total + 1 if settings.has("pagination.totals") else total
    return {"items": items, "total": reported, "limit": limit, "offset": offset}


# --- catalog ------------------------------------------------------------------------------


async def list_brands(request: Request) -> Response:
    db = db_of(request)
    total = db.scalar("SELECT COUNT(DISTINCT brand) FROM products")

    def fetch(limit: int, start: int) -> list[dict[str, Any]]:
        rows = db.all(
            "SELECT brand, SUM(is_available) AS product_count FROM products GROUP BY brand"
            " ORDER BY product_count DESC, brand LIMIT ? OFFSET ?",
            (limit, start),
        )
        brands = [{"brand": row["brand"], "product_count": row["product_count"]} for row in rows]
        if settings_of(request).varies("extra-fields"):
            for brand in brands:
                brand["slug"] = _slug(brand["brand"])
        return brands

    return JSONResponse(_page(request, total, fetch))


async def list_brand_categories(request: Request) -> Response:
    brand = request.path_params["brand"]
    db = db_of(request)
    if settings_of(request).varies("brand-case-insensitive"):
        brand = db.scalar("SELECT brand FROM products WHERE lower(brand) = lower(?) LIMIT 1", (brand,)) or brand
    rows = db.all(
        "SELECT category, SUM(is_available) AS product_count FROM products WHERE brand = ?"
        " GROUP BY category ORDER BY product_count DESC, category",
        (brand,),
    )
    if not rows:
        _not_found(request, f"Brand '{brand}' not found")
    body = {
        "brand": brand,
        "categories": [{"category": row["category"], "product_count": row["product_count"]} for row in rows],
    }
    if settings_of(request).has("transport.invalid-response"):
        return Response(json.dumps(body)[:-2], media_type="application/json")
    return JSONResponse(body)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _product(row: sqlite3.Row, *, detail: bool = False, extra: bool = False) -> dict[str, Any]:
    product = {
        "id": row["id"],
        "title": row["title"],
        "brand": row["brand"],
        "category": row["category"],
        "price": row["price"],
        "currency": row["currency"],
        "quantity": row["quantity"],
        "is_available": bool(row["is_available"]),
        "delivery_type": row["delivery_type"],
        "product_type": row["product_type"],
        "images": json.loads(row["images"]),
        "short_description": row["short_description"],
    }
    if detail:
        product["description"] = row["description"]
        product["specifications"] = json.loads(row["specifications"])
    if extra:
        product["slug"] = _slug(row["title"])
    return product


async def list_products(request: Request) -> Response:
    db = db_of(request)
    settings = settings_of(request)
    where, params = [], []
    for name in ("brand", "category"):
        value = request.query_params.get(name)
        if value:  # an empty filter is no filter
            if name == "category" and settings.has("schema.positive-data"):
                raise ApiError(400, "Parameter 'category' is not supported")
            where.append(f"{name} = ?")
            params.append(value)
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    total = db.scalar(f"SELECT COUNT(*) FROM products{clause}", params)
    if request.query_params.get("limit") == "1" and settings.has("schema.server-error"):
        raise ApiError(500, "Internal server error")

    def fetch(limit: int, start: int) -> list[dict[str, Any]]:
        rows = db.all(f"SELECT * FROM products{clause} ORDER BY seq LIMIT ? OFFSET ?", [*params, limit, start])
        return [_product(row, extra=settings.varies("extra-fields")) for row in rows]

    return JSONResponse(_page(request, total, fetch))


def _uuid_param(request: Request, name: str, fallback: str, *params: Any) -> str:
    """Returns the path parameter as a lower-case UUID; a malformed one is a 400.

    `fallback` (SQL) names the row fault `errors.bad-parameter` serves instead.
    """
    value = request.path_params[name]
    if _UUID.fullmatch(value):
        return value.lower()
    if settings_of(request).has("errors.bad-parameter"):
        found: str | None = db_of(request).scalar(fallback, params)
        if found is not None:
            return found
    if settings_of(request).varies("malformed-id-404"):
        raise ApiError(404, f"No resource with id '{value}'")  # apis.md: "a malformed UUID → 400 or 404"
    raise ApiError(400, f"Parameter '{name}' must be a UUID")


def _not_found(request: Request, message: str) -> None:
    if settings_of(request).has("errors.not-found"):
        raise ApiError(400, message)
    raise ApiError(404, message)


async def get_product(request: Request) -> Response:
    product_id = _uuid_param(request, "product_id", "SELECT id FROM products ORDER BY seq LIMIT 1")
    row = db_of(request).one("SELECT * FROM products WHERE id = ?", (product_id,))
    if row is None:
        _not_found(request, f"Product {product_id} not found")
    assert row is not None
    settings = settings_of(request)
    product = _product(row, detail=True, extra=settings.varies("extra-fields"))
    if settings.has("schema.response-schema"):
        product["price"] = row["price"] / 100
    if settings.has("schema.content-type"):
        return Response(json.dumps(product), media_type="text/plain")
    return JSONResponse(product)


# --- orders -------------------------------------------------------------------------------


async def checkout(request: Request) -> Response:
    settings = settings_of(request)
    try:
        body = await read_json(request)
    except ApiError:
        if settings.has("errors.bad-body"):
            return JSONResponse({"orders": []}, status_code=201)
        raise
    lines = _checkout_lines(body, settings)
    db = db_of(request)
    products = []
    for index, line in enumerate(lines):
        row = db.one("SELECT * FROM products WHERE id = ?", (line["product_id"],))
        where = f"lines[{index}]"
        if row is None:
            raise ApiError(400, f"{where}.product_id: unknown product {line['product_id']}")
        if not row["is_available"]:
            raise ApiError(400, f"{where}: product {row['id']} is not available", "product_unavailable")
        if line["quantity"] > row["quantity"]:
            raise ApiError(400, f"{where}: only {row['quantity']} in stock", "insufficient_stock")
        products.append(row)
    if not lines:  # only under the fault `errors.business-rule`: an empty cart "checks out" nothing
        return JSONResponse({"orders": []}, status_code=201)
    if settings.varies("order-per-line"):
        orders = [_create_order(request, [line], [product]) for line, product in zip(lines, products, strict=True)]
    else:
        orders = [_create_order(request, lines, products)]
    return JSONResponse({"orders": orders}, status_code=200 if settings.has("schema.status-code") else 201)


def _checkout_lines(body: Any, settings: SandboxSettings) -> list[dict[str, Any]]:
    """Returns the validated `lines` of a checkout body (product ids lower-cased)."""
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object")
    source = body.get("source")
    if source == "cart" and settings.has("errors.business-rule"):
        return []  # the fault: an empty cart checks out (no order) instead of being refused
    if source == "cart":
        raise ApiError(
            400, "The cart is empty: the Partner API has no cart operations; use source 'lines'", "cart_empty"
        )
    if source != "lines":
        raise ApiError(400, "Field 'source' must be 'cart' or 'lines'")
    lines = body.get("lines")
    if not isinstance(lines, list) or not 1 <= len(lines) <= MAX_LINES:
        raise ApiError(400, f"Field 'lines' must be an array of 1 to {MAX_LINES} lines")
    checked = []
    for index, line in enumerate(lines):
        where = f"lines[{index}]"
        if not isinstance(line, dict):
            raise ApiError(400, f"{where} must be an object with product_id and quantity")
        product_id, quantity = line.get("product_id"), line.get("quantity", None)
        if not isinstance(product_id, str) or not _UUID.fullmatch(product_id):
            raise ApiError(400, f"{where}.product_id must be a UUID")
        if not isinstance(quantity, int) or isinstance(quantity, bool):
            raise ApiError(400, f"{where}.quantity must be an integer")
        if quantity < 1:
            if not settings.has("schema.negative-data"):
                raise ApiError(400, f"{where}.quantity must be at least 1")
            quantity = 1
        checked.append({"product_id": product_id.lower(), "quantity": quantity})
    return checked


def _create_order(request: Request, lines: list[dict[str, Any]], products: list[sqlite3.Row]) -> dict[str, Any]:
    partner = request.scope["partner"]
    order_id = str(uuid.uuid4())
    now = timestamp(datetime.now(UTC))
    total = sum(p["price"] * line["quantity"] for p, line in zip(products, lines, strict=True))
    with db_of(request).transaction() as conn:
        conn.execute(
            "INSERT INTO orders (id, partner, origin, buyer_id, status, total, currency, platform_fee,"
            " payment_method, payment_state, delivery_type, codes, created_at, updated_at)"
            " VALUES (?, ?, 'checkout', ?, 'created', ?, 'EUR', 0, 'balance', 'pending', ?, '[]', ?, ?)",
            (order_id, partner, request.app.state.buyers[partner], total, products[0]["delivery_type"], now, now),
        )
        conn.executemany(
            "INSERT INTO order_items VALUES (?, ?, ?, ?, ?, ?)",
            [
                (order_id, index, p["id"], p["title"], p["price"], line["quantity"])
                for index, (p, line) in enumerate(zip(products, lines, strict=True))
            ],
        )
    order = {"id": order_id, "status": "created", "total": total, "currency": "EUR"}
    if settings_of(request).varies("extra-fields"):
        order["created_at"] = now
    return order


async def list_orders(request: Request) -> Response:
    db = db_of(request)
    partner = request.scope["partner"]
    total = db.scalar("SELECT COUNT(*) FROM orders WHERE partner = ?", (partner,))

    settings = settings_of(request)
    order = "seq DESC" if settings.varies("orders-newest-first") else "seq"
    columns = "id, status, total, currency, created_at" + (", updated_at" if settings.varies("extra-fields") else "")

    def fetch(limit: int, start: int) -> list[dict[str, Any]]:
        rows = db.all(
            f"SELECT {columns} FROM orders WHERE partner = ? ORDER BY {order} LIMIT ? OFFSET ?",
            (partner, limit, start),
        )
        return [dict(row) for row in rows]

    return JSONResponse(_page(request, total, fetch))


async def get_order(request: Request) -> Response:
    partner = request.scope["partner"]
    first = "SELECT id FROM orders WHERE partner = ? ORDER BY seq LIMIT 1"
    order_id = _uuid_param(request, "order_id", first, partner)
    db = db_of(request)
    row = db.one("SELECT * FROM orders WHERE id = ? AND partner = ?", (order_id, partner))
    if row is None or (row["origin"] == "checkout" and settings_of(request).has("schema.stateful")):
        _not_found(request, f"Order {order_id} not found")
    assert row is not None
    items = db.all("SELECT * FROM order_items WHERE order_id = ? ORDER BY line", (order_id,))
    return JSONResponse(
        {
            "id": row["id"],
            "buyer_id": row["buyer_id"],
            "status": row["status"],
            "items": [
                {
                    "product_id": item["product_id"],
                    "title": item["title"],
                    "unit_price": item["unit_price"],
                    "quantity": item["quantity"],
                }
                for item in items
            ],
            "amounts": {"buyer_total": row["total"], "platform_fee": row["platform_fee"]},
            "payment": {"method": row["payment_method"], "state": row["payment_state"]},
            "delivery": {"type": row["delivery_type"], "codes": json.loads(row["codes"])},
            "created_at": row["created_at"],
            "updated_at": row["updated_at"],
        }
    )
