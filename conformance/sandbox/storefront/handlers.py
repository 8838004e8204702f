"""The storefront's operations, one handler each, in the order of the seed."""

from __future__ import annotations

import json
import math
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from conformance.sandbox.base import ApiError, Database, SandboxSettings, db_of, settings_of
from conformance.sandbox.storefront.data import iso
from conformance.sandbox.storefront.parsing import (
    ApiJSON,
    authenticate,
    bad_body,
    bad_param,
    date_param,
    encodable,
    exists,
    integer,
    now,
    page,
    page_params,
    read_body,
    shown,
    string_field,
)

__all__ = [
    "FEW_LOGS",
    "create_order",
    "create_payment",
    "get_product",
    "list_logs",
    "list_products",
    "list_users",
    "send_notification",
]

FEW_LOGS = 15
"""Log entries of the `one-page-of-logs` variation: fewer than one default page."""


def _user(row: Any, settings: SandboxSettings) -> dict[str, Any]:
    user = {
        "id": row["id"],
        "username": row["username"],
        "email": row["email"],
        "status": row["status"],
        "createdAt": row["created_at"],
    }
    if settings.varies("extra-response-fields"):
        user["displayName"] = row["username"]
    return user


def _product(row: Any, settings: SandboxSettings) -> dict[str, Any]:
    price = f"{row['price']:.2f}" if settings.has("schema.response-schema") else row["price"]
    product = {
        "id": row["id"],
        "name": row["name"],
        "description": row["description"],
        "price": price,
        "currency": row["currency"],
        "stock": row["stock"],
    }
    if settings.varies("extra-response-fields"):
        product.update(sku=f"SKU-{row['seq']:05d}", active=row["stock"] > 0)
    return product


def _log(row: Any, settings: SandboxSettings) -> dict[str, Any]:
    moment = datetime.fromtimestamp(row["ts"], UTC)
    entry = {
        "timestamp": iso(moment),
        "level": row["level"],
        "message": row["message"],
        "userId": row["user_id"],
        "ipAddress": row["ip"],
    }
    if settings.varies("extra-response-fields"):
        entry["id"] = f"log_{row['seq']:06d}"
    return entry


async def list_users(request: Request) -> Response:
    authenticate(request)
    limit, offset = page_params(request)
    status = request.query_params.get("status")
    where, args = ("WHERE status = ?", [status]) if status is not None else ("", [])
    db = db_of(request)
    total = db.scalar(f"SELECT COUNT(*) FROM users {where}", args)

    def fetch(count: int, skip: int) -> list[dict[str, Any]]:
        rows = db.all(f"SELECT * FROM users {where} ORDER BY seq LIMIT ? OFFSET ?", [*args, count, skip])
        return [_user(row, settings_of(request)) for row in rows]

    text = "text/plain" if settings_of(request).has("schema.content-type") else None
    return page(request, total, fetch, limit, offset, media_type=text)


async def list_products(request: Request) -> Response:
    authenticate(request)
    limit, offset = page_params(request)
    db, settings = db_of(request), settings_of(request)
    total = db.scalar("SELECT COUNT(*) FROM products")

    def fetch(count: int, skip: int) -> list[dict[str, Any]]:
        rows = db.all("SELECT * FROM products ORDER BY seq LIMIT ? OFFSET ?", (count, skip))
        return [_product(row, settings) for row in rows]

    return page(request, total, fetch, limit, offset)


async def get_product(request: Request) -> Response:
    authenticate(request)
    product_id = request.path_params["productId"]
    row = db_of(request).one("SELECT * FROM products WHERE id = ?", (product_id,)) if encodable(product_id) else None
    if row is None:
        if settings_of(request).has("errors.not-found"):
            raise bad_param("productId", "The 'productId' parameter is not valid.", "string")
        raise ApiError(404, f"Product '{shown(product_id)}' not found.", "NOT_FOUND", details="productId (string)")
    return ApiJSON(_product(row, settings_of(request)))


async def create_order(request: Request) -> Response:
    authenticate(request)
    body = await read_body(request)
    db, settings = db_of(request), settings_of(request)
    user_id = string_field(body, "userId")
    raw_items = body.get("items")
    if not isinstance(raw_items, list) or not raw_items:
        raise bad_body("items", "The 'items' field must be a non-empty array.", "array of {productId, quantity}")
    items: list[dict[str, Any]] = []
    for index, item in enumerate(raw_items):
        if not isinstance(item, dict):
            raise bad_body(f"items[{index}]", f"Item {index} must be an object.", "object")
        product_id = string_field(item, "productId", where=f"items[{index}].")
        quantity = integer(item.get("quantity"))
        if quantity is None or quantity < 1:
            raise bad_body(
                f"items[{index}].quantity",
                f"The quantity of item {index} must be an integer of at least 1.",
                "integer, >= 1",
            )
        items.append({"productId": product_id, "quantity": quantity})
    address = body.get("shippingAddress")
    if not isinstance(address, dict):
        raise bad_body("shippingAddress", "The 'shippingAddress' field is required.", "object")
    shipping = {
        name: string_field(address, name, where="shippingAddress.") for name in ("street", "city", "zipCode", "country")
    }
    assert user_id is not None
    if not exists(db, "users", user_id):
        raise bad_body("userId", f"User '{shown(user_id)}' does not exist.", "string")
    for index, item in enumerate(items):
        if not exists(db, "products", item["productId"]):
            raise bad_body(
                f"items[{index}].productId", f"Product '{shown(item['productId'])}' does not exist.", "string"
            )
    order = {
        "id": "ord_" + uuid.uuid4().hex[:12],
        "userId": user_id,
        "items": items,
        "shippingAddress": shipping,
        "status": "pending",
        "createdAt": now(),
    }
    if settings.varies("extra-response-fields"):
        order["updatedAt"] = order["createdAt"]
    if not settings.has("schema.stateful"):
        db.execute("INSERT INTO orders (id, data) VALUES (?, ?)", (order["id"], json.dumps(order)))
    return ApiJSON(order, status_code=200 if settings.has("schema.status-code") else 201)


def _order_total(db: Database, order: dict[str, Any]) -> tuple[float, str]:
    total, currency = Decimal(0), "USD"
    for item in order["items"]:
        row = db.one("SELECT price, currency FROM products WHERE id = ?", (item["productId"],))
        if row is not None:
            total += Decimal(str(row["price"])) * item["quantity"]
            currency = row["currency"]
    return float(total), currency


async def create_payment(request: Request) -> Response:
    authenticate(request)
    body = await read_body(request)
    db = db_of(request)
    order_id, method = string_field(body, "orderId"), string_field(body, "paymentMethodId")
    assert order_id is not None and method is not None
    amount: float | None = None
    if body.get("amount") is not None:
        raw = body["amount"]
        try:
            amount = float(raw) if isinstance(raw, int | float) and not isinstance(raw, bool) else None
        except OverflowError:
            amount = None
        if amount is None or not math.isfinite(amount) or amount <= 0:
            raise bad_body("amount", "The 'amount' field must be a positive number.", "number")
    currency = string_field(body, "currency", required=False) if body.get("currency") is not None else None
    row = db.one("SELECT data FROM orders WHERE id = ?", (order_id,)) if encodable(order_id) else None
    if row is None:
        raise bad_body("orderId", f"Order '{shown(order_id)}' does not exist.", "string")
    total, order_currency = _order_total(db, json.loads(row["data"]))
    if amount is None and not math.isfinite(total):
        raise bad_body("amount", "The order total is too large: give 'amount'.", "number")
    payment = {
        "id": "pay_" + uuid.uuid4().hex[:12],
        "orderId": order_id,
        "amount": total if amount is None else amount,
        "currency": currency or order_currency,
        "status": "succeeded",
        "createdAt": now(),
    }
    declined = not method.startswith("pm_") and not settings_of(request).has("errors.business-rule")
    if declined:
        payment["status"] = "failed"
    db.execute(
        "INSERT INTO payments (id, order_id, data) VALUES (?, ?, ?)",
        (payment["id"], order_id, json.dumps({**payment, "paymentMethodId": method})),
    )
    if declined:
        raise ApiError(402, "The payment was declined.", "PAYMENT_FAILED", details="paymentMethodId (string)")
    return ApiJSON(payment)


async def send_notification(request: Request) -> Response:
    authenticate(request)
    body = await read_body(request)
    db, settings = db_of(request), settings_of(request)
    user_id, kind = string_field(body, "userId"), string_field(body, "type")
    if kind not in ("email", "sms") and not settings.has("schema.negative-data"):
        raise bad_body("type", "The 'type' field must be 'email' or 'sms'.", "string: email, sms")
    if body.get("subject", "") is None and settings.varies("null-as-absent"):
        del body["subject"]  # null read as "not given"
    subject = string_field(body, "subject", required=settings.has("schema.positive-data"))
    message = string_field(body, "message")
    assert user_id is not None
    if not exists(db, "users", user_id):
        raise bad_body("userId", f"User '{shown(user_id)}' does not exist.", "string")
    accepted = {"id": "ntf_" + uuid.uuid4().hex[:12], "status": "accepted"}
    record = {**accepted, "userId": user_id, "type": kind, "subject": subject, "message": message, "createdAt": now()}
    db.execute("INSERT INTO notifications (id, data) VALUES (?, ?)", (accepted["id"], json.dumps(record)))
    return ApiJSON(accepted, status_code=202)


async def list_logs(request: Request) -> Response:
    authenticate(request)
    settings = settings_of(request)
    limit, offset = page_params(request)
    start, end = date_param(request, "startDate"), date_param(request, "endDate")
    level = request.query_params.get("level")
    clauses: list[str] = []
    args: list[Any] = []
    if settings.varies("one-page-of-logs"):
        clauses.append(f"seq > (SELECT MAX(seq) FROM logs) - {FEW_LOGS}")  # a young account: its newest entries
    if start is not None:
        clauses.append("ts >= ?")
        args.append(start[0])
    if end is not None:  # inclusive; a bare date as the end includes that whole day
        clauses.append("ts < ?" if end[1] else "ts <= ?")
        args.append(end[0] + 86400 if end[1] else end[0])
    if level is not None:
        if settings.has("schema.server-error"):
            raise RuntimeError("level index is corrupt")
        clauses.append("lower(level) = lower(?)")
        args.append(level)
    where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
    db = db_of(request)
    total = db.scalar(f"SELECT COUNT(*) FROM logs {where}", args)

    def fetch(count: int, skip: int) -> list[dict[str, Any]]:
        order = "ts DESC, seq DESC" if settings.varies("logs-newest-first") else "ts, seq"
        rows = db.all(f"SELECT * FROM logs {where} ORDER BY {order} LIMIT ? OFFSET ?", [*args, count, skip])
        return [_log(row, settings) for row in rows]

    return page(request, total, fetch, limit, offset)
