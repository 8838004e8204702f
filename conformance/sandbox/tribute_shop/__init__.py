"""Sandbox of the Tribute Shop API (seed 003): two shops, their orders and transactions.

The "full" key owns a recurrent shop whose newest order is paid and has several pages of
transactions; the "limited" key owns a shop that is not recurrent (one-time payments only), so the
recurrent rule (`savePaymentMethod`, `period`) can be checked with either key. Errors use
Tribute's envelope `{"error": code, "message": text}` everywhere. `store.py` holds the tables
and seed data, `validation.py` the create-order rules.
"""

from __future__ import annotations

import json
import random
import re
import uuid
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Scope

from conformance.sandbox.base import (
    ApiError,
    Database,
    RateLimitMiddleware,
    ResponseVariationMiddleware,
    SandboxSettings,
    error_handlers,
    header_value,
    read_json,
)
from conformance.sandbox.tribute_shop.store import SCHEMA, iso, order_json, payment_url, seed, transaction_json
from conformance.sandbox.tribute_shop.validation import DIGITS_RE, INT64_MAX, start_from, valid_order

__all__ = ["BASE_PATH", "DEFAULT_RATE_LIMIT", "FAULTS", "KEYS", "VARIATIONS", "create_app", "summary"]

BASE_PATH = "/api/v1"
KEYS = {"full": "tribute-demo-recurrent-7f3a", "limited": "tribute-demo-onetime-5c1e"}
# The seed documents no limit and no headers: generous enough that a conformance run is never throttled.
DEFAULT_RATE_LIMIT = (10000, 60.0)
SMALL_PAGE = 20
"""Transactions per page of the `smaller-transaction-pages` variation."""

# Conforming variations: reasonable behaviours the documents leave open; the suite must stay silent on each.
VARIATIONS: dict[str, str] = {
    "null-as-unspecified": 'a create-order body with an optional field set to null (`"period": null`) is taken as'
    ' without it: "Defaults to onetime if not specified" (seen on real servers)',
    "json-charset": "JSON answers say `application/json; charset=utf-8` (the same media type, with its charset)",
    "extra-response-headers": "answers carry undocumented headers (Cache-Control, X-Request-Id, CORS); the page"
    " documents none, and clients ignore headers they do not know",
    "extra-response-fields": "the shop, orders and transactions carry undocumented fields (currency, id, customerId,"
    " orderUuid, fee...): the page lists fields, it does not close the objects",
    "smaller-transaction-pages": f"transaction pages hold {SMALL_PAGE} items, not 50: pages are 'at most 50' and"
    " nextFrom still says where the next one starts",
    "milliseconds": "order createdAt carries milliseconds (`2025-01-06T10:00:00.000Z`), still RFC 3339 in UTC,"
    " so orders created within a second keep their order",
    "malformed-uuid-not-found": "an orderUuid that is not a UUID answers 404 error_not_found (no such order) instead"
    " of 400: the page documents no answer for it",
    "trailing-slash": "a path with a trailing slash (`/shop/`) is served like the path without it: the page"
    " says nothing about other spellings of its paths",
    "extra-error-fields": "error bodies carry an undocumented `statusCode` beside `error` and `message`: Tribute's"
    " model names its fields, it does not forbid others",
    "different-error-messages": "error messages are worded differently (`Request refused (404): ...`): only the"
    " `error` code of Tribute's model is fixed",
}

FAULTS = {
    "pagination.includes-created": "GET /shop/orders lists only the seeded orders, never one created through the API.",
    "errors.business-rule": "Cancelling a one-time order answers 200 and cancels it"
    " (only recurring orders can be cancelled).",
    "errors.envelope": 'errors are {"message": text} without the "error" code',
    "errors.not-found": "an unknown order UUID answers 400 error_bad_request instead of 404",
    "errors.unknown-route": "an unknown route answers 400 error_bad_request instead of 404",
    "errors.method-not-allowed": "a wrong method answers 405 without the Allow header",
    "errors.bad-parameter": "a negative startFrom is taken as 0 instead of 400",
    "errors.bad-body": "a create-order body that is not JSON answers 422 instead of 400",
    "errors.code-convention": "404 answers carry the code not_found instead of error_not_found",
    "pagination.no-duplicates": "nextFrom points one transaction back, so pages overlap by one",
    "pagination.complete": "nextFrom points one transaction ahead, so one is skipped per page",
    "pagination.max-limit": "transaction pages after the first hold 51 items",
    "pagination.last-page": "the last transaction page still carries a nextFrom (pointing past the end)",
    "pagination.bad-cursor": "a startFrom that is not an integer is taken as 0 instead of 400",
    "pagination.stable-order": "the transactions of each page come in a new random order per request",
    "pagination.sort-order": "GET /shop/orders lists the oldest order first",
    "auth.missing-credentials": "a request without Api-Key is served as the full key's shop",
    "auth.invalid-credentials": "an unknown Api-Key is served as the full key's shop",
    "auth.permissions": "a shop that is not recurrent may save payment methods and create recurring orders",
    "schema.response-schema": "GET /shop answers the shop id as a string",
    "schema.status-code": "create order answers 201 instead of the documented 200",
    "schema.server-error": "create order answers 500 when the body has a customerId",
    "schema.content-type": "GET /shop answers with Content-Type text/plain",
    "schema.stateful": "orders created through the API answer 404 when read by UUID",
    "schema.negative-data": "length limits count code points, so a title of 101 UTF-16 units is accepted",
    "schema.positive-data": "an amount above 99,999,999 minor units is refused with 400 (int64 is documented)",
}

CODES = {
    400: "error_bad_request",
    401: "no_access",
    403: "error_not_permitted",
    404: "error_not_found",
    405: "error_bad_request",
    429: "error_too_many_requests",
    500: "error_internal",
}
PAGE_SIZE = 50
EXTRA_HEADERS = {
    "Cache-Control": "no-store",
    "X-Request-Id": "sandbox",
    "Access-Control-Allow-Origin": "*",
}
"""Headers of the `extra-response-headers` variation: common ones the page does not mention."""
UINT64_MAX = 2**64 - 1
UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def create_app(settings: SandboxSettings) -> Starlette:
    """Returns a fresh Tribute Shop sandbox; its store is on `app.state.db`."""
    db = Database(settings.db)
    db.conn.executescript(SCHEMA)
    if db.is_empty("shops"):
        seed(db, KEYS)
    has, varies = settings.has, settings.varies

    def render(exc: ApiError) -> dict[str, Any]:
        if has("errors.envelope"):
            return {"message": exc.message}
        code = exc.code or CODES.get(exc.status, "error_bad_request" if exc.status < 500 else "error_internal")
        if exc.status == 404 and has("errors.code-convention"):
            code = "not_found"
        body: dict[str, Any] = {"error": code, "message": exc.message}
        if varies("different-error-messages"):
            body["message"] = f"Request refused ({exc.status}): {exc.message}"
        if varies("extra-error-fields"):
            body["statusCode"] = exc.status
        return body

    def authenticate(request: Request) -> Any:
        key = request.headers.get("api-key", "").strip()
        if not key and not has("auth.missing-credentials"):
            raise ApiError(401, "Api-Key header is required")
        shop = db.one("SELECT * FROM shops WHERE api_key = ?", (key,)) if key else None
        if shop is None:
            if key and not has("auth.invalid-credentials"):
                raise ApiError(401, "Invalid API key")
            shop = db.one("SELECT * FROM shops WHERE api_key = ?", (KEYS["full"],))
        return shop

    def find_order(request: Request, shop: Any) -> Any:
        raw = request.path_params["orderUuid"]
        if not UUID_RE.match(raw):
            if varies("malformed-uuid-not-found"):
                raise ApiError(404, "Order not found")
            raise ApiError(400, "orderUuid must be a UUID")
        order = db.one("SELECT * FROM orders WHERE uuid = ?", (raw.lower(),))
        if order is not None and order["via_api"] and has("schema.stateful"):
            order = None
        if order is None:
            if has("errors.not-found"):
                raise ApiError(400, "Bad order reference")
            raise ApiError(404, "Order not found")
        if order["shop_id"] != shop["id"]:
            raise ApiError(403, "The order belongs to another shop")
        return order

    async def get_shop(request: Request) -> Response:
        shop = authenticate(request)
        body = {
            "id": str(shop["id"]) if has("schema.response-schema") else shop["id"],
            "name": shop["name"],
            "link": shop["link"],
            "callbackUrl": shop["callback_url"],
            "recurrent": bool(shop["recurrent"]),
            "status": shop["status"],
        }
        if varies("extra-response-fields"):
            body.update(currency="rub", ownerId=shop["id"] * 10)
        if has("schema.content-type"):
            return Response(json.dumps(body), media_type="text/plain")
        return JSONResponse(body)

    async def shop_orders(request: Request) -> Response:
        shop = authenticate(request)
        if request.method == "POST":
            return await create_order(request, shop)
        direction = "ASC" if has("pagination.sort-order") else "DESC"
        hidden = " AND via_api = 0" if has("pagination.includes-created") else ""  # the fault: only seeded orders
        rows = db.all(f"SELECT * FROM orders WHERE shop_id = ?{hidden} ORDER BY id {direction}", (shop["id"],))
        extra, milliseconds = varies("extra-response-fields"), varies("milliseconds")
        return JSONResponse([order_json(row, extra_fields=extra, milliseconds=milliseconds) for row in rows])

    async def create_order(request: Request, shop: Any) -> Response:
        try:
            body = await read_json(request)
        except ApiError:
            if has("errors.bad-body"):
                raise ApiError(422, "Unprocessable body", code="error_bad_request") from None
            raise
        except RecursionError:
            raise ApiError(400, "Request body is not valid JSON") from None
        fields = valid_order(body, shop, settings)
        if fields["customerId"] is not None and has("schema.server-error"):
            raise ApiError(500, "Internal server error")
        order_uuid = str(uuid.uuid4())
        db.execute(
            "INSERT INTO orders (uuid, shop_id, amount, currency, title, description, status, period, email,"
            " success_url, fail_url, comment, customer_id, save_payment_method, payment_url, created_at,"
            " via_api) VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)",
            (
                order_uuid,
                shop["id"],
                fields["amount"],
                fields["currency"],
                fields["title"],
                fields["description"],
                fields["period"],
                fields["email"],
                fields["successUrl"],
                fields["failUrl"],
                fields["comment"],
                fields["customerId"],
                int(fields["savePaymentMethod"]),
                payment_url(order_uuid),
                iso(datetime.now(UTC), milliseconds=varies("milliseconds")),
            ),
        )
        status = 201 if has("schema.status-code") else 200
        return JSONResponse({"uuid": order_uuid, "paymentUrl": payment_url(order_uuid)}, status_code=status)

    async def order_status(request: Request) -> Response:
        order = find_order(request, authenticate(request))
        return JSONResponse({"status": order["status"]})

    async def cancel_order(request: Request) -> Response:
        order = find_order(request, authenticate(request))
        if order["period"] == "onetime" and not has("errors.business-rule"):
            raise ApiError(400, "Only recurring orders can be cancelled")
        if order["status"] == "cancelled":
            raise ApiError(400, "The order is already cancelled")
        db.execute("UPDATE orders SET status = 'cancelled' WHERE id = ?", (order["id"],))
        return JSONResponse({"success": True, "message": "Order cancelled", "status": "cancelled"})

    async def order_transactions(request: Request) -> Response:
        order = find_order(request, authenticate(request))
        start = start_from(request.query_params.get("startFrom"), settings)
        total = db.scalar("SELECT COUNT(*) FROM transactions WHERE order_id = ?", (order["id"],))
        size = SMALL_PAGE if varies("smaller-transaction-pages") else PAGE_SIZE
        if has("pagination.max-limit") and start > 0:
            size += 1
        rows = db.all(
            "SELECT * FROM transactions WHERE order_id = ? ORDER BY id LIMIT ? OFFSET ?",
            (order["id"], size, min(start, INT64_MAX)),
        )
        end = start + len(rows)
        next_from: int | None = end if end < total else None
        if next_from is not None and has("pagination.no-duplicates"):
            next_from -= 1
        if next_from is not None and has("pagination.complete"):
            next_from += 1
        if next_from is None and rows and has("pagination.last-page"):
            next_from = total
        items = [transaction_json(row, order, extra_fields=varies("extra-response-fields")) for row in rows]
        if has("pagination.stable-order"):
            random.shuffle(items)
        return JSONResponse({"transactions": items, "nextFrom": next_from})

    async def refund_transaction(request: Request) -> Response:
        order = find_order(request, authenticate(request))
        raw = request.path_params["txId"]
        if not DIGITS_RE.match(raw) or int(raw) > UINT64_MAX:
            raise ApiError(400, "txId must be an unsigned integer")
        if int(raw) > INT64_MAX:  # a valid uint64 no transaction has (SQLite stores int64)
            raise ApiError(404, "Transaction not found")
        tx = db.one("SELECT * FROM transactions WHERE id = ? AND order_id = ?", (int(raw), order["id"]))
        if tx is None:
            raise ApiError(404, "Transaction not found")
        if tx["type"] != "sell":
            raise ApiError(400, "Only sell transactions can be refunded")
        if order["status"] != "paid":
            raise ApiError(400, "Only transactions of paid orders can be refunded")
        if tx["is_refunded"]:
            raise ApiError(400, "The transaction is already refunded")
        with db.transaction() as conn:
            conn.execute("UPDATE transactions SET is_refunded = 1 WHERE id = ?", (tx["id"],))
            conn.execute(
                "INSERT INTO transactions VALUES ((SELECT MAX(id) + 1 FROM transactions), ?, 'refund', ?, ?, ?, ?, 0)",
                (order["id"], tx["amount"], tx["currency"], tx["amount"], int(datetime.now(UTC).timestamp())),
            )
        return JSONResponse({"success": True, "message": "Refund initiated", "status": "pending"})

    handlers = error_handlers(render)
    on_api_error = handlers[ApiError]

    async def on_http_exception(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 404:
            if has("errors.unknown-route"):
                return await on_api_error(request, ApiError(400, "Bad request"))
            return await on_api_error(request, ApiError(404, f"Unknown route {request.url.path}"))
        if exc.status_code == 405:
            headers = {} if has("errors.method-not-allowed") else dict(exc.headers or {})
            return await on_api_error(request, ApiError(405, "Method not allowed", headers=headers))
        return await on_api_error(request, ApiError(exc.status_code, str(exc.detail)))

    handlers[HTTPException] = on_http_exception

    def client_key(scope: Scope) -> str | None:
        return header_value(scope, "api-key") or None

    requests, window_s = settings.rate_limit or DEFAULT_RATE_LIMIT
    limiter = Middleware(
        RateLimitMiddleware,
        requests=requests,
        window_s=window_s,
        client_key=client_key,
        exceeded_status=429,
        exceeded_body=lambda: render(ApiError(429, "Too many requests")),
        send_headers=False,  # the seed documents no rate-limit headers
        faults=settings.faults,
    )
    variations = Middleware(
        ResponseVariationMiddleware,
        trailing_slash=varies("trailing-slash"),
        json_charset=varies("json-charset"),
        extra_headers=EXTRA_HEADERS if varies("extra-response-headers") else None,
    )
    orders_path = f"{BASE_PATH}/shop/orders"
    app = Starlette(
        routes=[
            Route(f"{BASE_PATH}/shop", get_shop, methods=["GET"]),
            Route(orders_path, shop_orders, methods=["GET", "POST"]),
            Route(orders_path + "/{orderUuid}/status", order_status, methods=["GET"]),
            Route(orders_path + "/{orderUuid}/cancel", cancel_order, methods=["POST"]),
            Route(orders_path + "/{orderUuid}/transactions", order_transactions, methods=["GET"]),
            Route(orders_path + "/{orderUuid}/transactions/{txId}/refund", refund_transaction, methods=["POST"]),
        ],
        exception_handlers=handlers,
        middleware=[limiter, variations],
    )
    app.router.redirect_slashes = False
    app.state.db = db
    app.state.settings = settings
    return app


def summary(app: Starlette) -> str:
    """Returns one line about the seed data of a running sandbox."""
    db: Database = app.state.db
    counts = {
        row["api_key"]: row["n"]
        for row in db.all(
            "SELECT s.api_key, COUNT(o.id) AS n FROM shops s LEFT JOIN orders o ON o.shop_id = s.id GROUP BY s.id"
        )
    }
    newest = db.one(
        "SELECT o.uuid, COUNT(t.id) AS n FROM orders o LEFT JOIN transactions t ON t.order_id = o.id"
        " WHERE o.id = (SELECT MAX(id) FROM orders WHERE shop_id = 1042 AND via_api = 0)"
    )
    return (
        f"tribute-shop: {counts.get(KEYS['full'], 0)} orders in the recurrent shop (key 'full'), "
        f"{counts.get(KEYS['limited'], 0)} in the one-time shop (key 'limited'); "
        f"seed order {newest['uuid'] if newest else '-'} has {newest['n'] if newest else 0} transactions"
    )
