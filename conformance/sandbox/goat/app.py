"""The goat sandbox's routes: health, account, products, orders, payments, webhook test.

Written from seed 000 and apis.md "goat (000)". Errors are `{"error": {"code", "message",
"request_id"}}`; the request id is repeated in an `X-Request-Id` header on every response.
"""

from __future__ import annotations

import json
import re
import sqlite3
import uuid
from contextvars import ContextVar
from typing import Any, cast

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from conformance.sandbox.base import (
    ApiError,
    Database,
    IdempotencyStore,
    RateLimitMiddleware,
    ResponseVariationMiddleware,
    SandboxSettings,
    error_handlers,
    header_value,
    read_json,
)

from .data import CATEGORIES, FULL_KEY, LIMITED_KEY, create_tables, new_id, seed, timestamp
from .paging import Paging

__all__ = ["BASE_PATH", "DEFAULT_RATE_LIMIT", "create_app", "summary"]

BASE_PATH = "/v1"
DEFAULT_RATE_LIMIT = (10000, 60.0)
"""Generous enough that a full conformance run is never throttled; tests pass a small one."""

MAX_QUANTITY = 1000
EXTRA_HEADERS = {"Cache-Control": "no-store", "X-Api-Version": "1.0.0"}
CODES = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "idempotency_conflict",
    429: "rate_limit_exceeded",
    500: "internal_error",
}
_request_id: ContextVar[str | None] = ContextVar("goat_request_id", default=None)


def new_request_id(settings: SandboxSettings) -> str:
    if settings.has("errors.request-id"):
        return str(uuid.uuid4())  # a UUID instead of the documented `req_` form
    return new_id("req_")


def bearer_token(header: str | None) -> str | None:
    """Returns the key of an `Authorization: Bearer KEY` header (scheme case-insensitive)."""
    scheme, _, token = (header or "").strip().partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


class RequestIdMiddleware:
    """Gives every request a `req_…` id: the error body's `request_id` and an `X-Request-Id` header."""

    def __init__(self, app: ASGIApp, *, settings: SandboxSettings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = new_request_id(self.settings)
        token = _request_id.set(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(name.lower() == b"x-request-id" for name, _ in headers):
                    headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            _request_id.reset(token)


def bad(message: str) -> ApiError:
    return ApiError(400, message)


class GoatApi:
    """The handlers, over one database; `settings.faults` switch on the deliberate breakages."""

    def __init__(self, settings: SandboxSettings) -> None:
        self.settings = settings
        self.db = Database(settings.db)
        create_tables(self.db)
        if settings.varies("small-catalog"):
            seed(self.db, product_count=40, categories=CATEGORIES[:4])
        else:
            seed(self.db)
        self.idempotency = IdempotencyStore(self.db, settings.faults)
        self.paging = Paging(settings)

    def fault(self, name: str) -> bool:
        return self.settings.has(name)

    def varies(self, name: str) -> bool:
        return self.settings.varies(name)

    # --- errors --------------------------------------------------------------------------

    def render(self, exc: ApiError) -> dict[str, Any]:
        request_id = _request_id.get() or new_request_id(self.settings)
        exc.headers.setdefault("X-Request-Id", request_id)
        code = exc.code or CODES.get(exc.status, "error")
        if self.fault("errors.code-convention") and code != "idempotency_conflict":
            code = code.upper()
        if self.fault("errors.envelope"):
            return {"message": exc.message, "status": exc.status}
        return {"error": {"code": code, "message": exc.message, "request_id": request_id}}

    def not_found(self, kind: str, value: str) -> ApiError:
        if self.fault("errors.not-found"):
            return bad(f"{kind} {value!r} is not valid")
        return ApiError(404, f"No {kind} with id {value!r}")

    # --- credentials ---------------------------------------------------------------------

    def account(self, request: Request) -> sqlite3.Row:
        """Returns the account of the request's key; 401 without a valid one."""
        header = request.headers.get("authorization")
        if header is None and self.fault("auth.missing-credentials"):
            header = f"Bearer {FULL_KEY}"
        if header is None:
            raise ApiError(401, "Missing API key: send 'Authorization: Bearer YOUR_API_KEY'")
        token = bearer_token(header)
        if token is None:
            raise ApiError(401, "The Authorization header must be 'Bearer YOUR_API_KEY'")
        row = self.db.one("SELECT * FROM accounts WHERE api_key = ?", (token,))
        if row is None and self.fault("auth.invalid-credentials"):
            row = self.db.one("SELECT * FROM accounts WHERE api_key = ?", (FULL_KEY,))
        if row is None:
            raise ApiError(401, "Invalid API key")
        return row

    def require(self, account: sqlite3.Row, permission: str) -> None:
        if permission not in json.loads(account["permissions"]) and not self.fault("auth.permissions"):
            raise ApiError(403, f"This API key lacks the {permission} permission")

    # --- bodies --------------------------------------------------------------------------

    async def body(self, request: Request, *, optional: bool = False) -> Any:
        if optional and not (await request.body()).strip():
            return {}
        try:
            return await read_json(request)
        except ApiError:
            if self.fault("errors.bad-body"):
                return {}  # reads a malformed body as {}
            raise

    @staticmethod
    def text(value: Any, name: str, *, empty: bool = False) -> str:
        if not isinstance(value, str) or not (value or empty):
            raise bad(f"{name} must be a {'' if empty else 'non-empty '}string")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise bad(f"{name} is not valid UTF-8 text") from None
        return value

    def customer(self, value: Any, *, partial: bool) -> dict[str, str]:
        if not isinstance(value, dict):
            raise bad("customer must be an object with external_id and contact")
        fields = {}
        for name in ("external_id", "contact"):
            if name in value:
                fields[name] = self.text(value[name], f"customer.{name}")
            elif not partial:
                raise bad(f"customer.{name} is required")
        return fields

    # --- status and account --------------------------------------------------------------

    async def health(self, request: Request) -> Response:
        if self.fault("auth.public-operations"):
            self.account(request)
        if self.varies("health-checks-a-sent-key") and "authorization" in request.headers:
            self.account(request)  # public without a key, but a key that is sent must be valid
        body = {"status": "ok", "version": "1.0.0", "timestamp": timestamp()}
        if self.fault("schema.content-type"):
            return Response(json.dumps(body), media_type="text/plain")
        return JSONResponse(body)

    async def me(self, request: Request) -> Response:
        account = self.account(request)
        return JSONResponse(
            {
                "id": account["id"],
                "name": account["name"],
                "environment": account["environment"],
                "permissions": json.loads(account["permissions"]),
            }
        )

    # --- products ------------------------------------------------------------------------

    def product_json(self, row: sqlite3.Row, *, detail: bool = False) -> dict[str, Any]:
        metadata: Any = json.loads(row["metadata"])
        if detail and self.fault("schema.response-schema"):
            metadata = row["metadata"]  # a JSON-encoded string instead of an object
        product = {
            "id": row["id"],
            "name": row["name"],
            "category": row["category"],
            "platform": row["platform"],
            "region": row["region"],
            "availability": row["availability"],
            "metadata": metadata,
        }
        if self.varies("extra-fields"):
            product.update(object="product", price=row["price"], currency=row["currency"])
        return product

    def category(self, value: str) -> None:
        if self.fault("schema.server-error") and not re.fullmatch(r"[a-z_]+", value):
            raise ApiError(500, "Internal server error")
        if self.fault("schema.positive-data") and value not in CATEGORIES:
            raise bad(f"Unknown category {value!r}")

    async def list_products(self, request: Request) -> Response:
        self.account(request)
        query = request.query_params
        limit = self.paging.limit(query.get("limit"))
        category = query.get("category")
        if category == "" and self.varies("empty-category-as-absent"):
            category = None  # an empty value is "not given"
        if category is not None:
            self.category(category)
        position = self.paging.decode(query.get("cursor"))
        sql, params = "SELECT id FROM products", cast(tuple[str, ...], ())
        if category is not None:
            sql, params = "SELECT id FROM products WHERE category = ?", (category,)
        descending = self.varies("newest-first")
        ids = sorted((row["id"] for row in self.db.all(sql, params)), reverse=descending)
        page_ids, next_cursor = self.paging.page(ids, position, limit, descending=descending)
        rows = {
            row["id"]: row
            for row in self.db.all(f"SELECT * FROM products WHERE id IN ({','.join('?' * len(page_ids))})", page_ids)
        }
        body: dict[str, Any] = {"data": [self.product_json(rows[i]) for i in page_ids], "next_cursor": next_cursor}
        if self.varies("extra-fields"):
            body["has_more"] = next_cursor is not None
        return JSONResponse(body)

    async def get_product(self, request: Request) -> Response:
        self.account(request)
        product_id = request.path_params["product_id"]
        row = self.db.one("SELECT * FROM products WHERE id = ?", (product_id,))
        if row is None:
            raise self.not_found("product", product_id)
        if self.fault("transport.invalid-response"):
            return Response(json.dumps(self.product_json(row, detail=True)), media_type="text/html")
        return JSONResponse(self.product_json(row, detail=True))

    # --- orders --------------------------------------------------------------------------

    def order_json(self, row: sqlite3.Row) -> dict[str, Any]:
        order = {
            "id": row["id"],
            "product_id": row["product_id"],
            "quantity": row["quantity"],
            "customer": {"external_id": row["external_id"], "contact": row["contact"]},
            "status": row["status"],
            "payment_status": row["payment_status"],
            "delivery_status": row["delivery_status"],
            "payment_id": row["payment_id"],
            "metadata": json.loads(row["metadata"]),
            "notes": row["notes"],
            "created_at": row["created_at"],
            "updated_at": row["updated_at"],
        }
        if self.varies("extra-fields"):
            order["object"] = "order"
        return order

    def find_order(self, account: sqlite3.Row, order_id: str) -> sqlite3.Row:
        row = self.db.one("SELECT * FROM orders WHERE id = ? AND account_id = ?", (order_id, account["id"]))
        if row is None:
            raise self.not_found("order", order_id)
        return row

    def unique_id(self, prefix: str, table: str) -> str:
        while True:
            value = new_id(prefix)
            probe = set(value[len(prefix) :]) == {"Z"}  # all-Z ids are the profile's "unknown id" probes
            if not probe and self.db.one(f"SELECT 1 FROM {table} WHERE id = ?", (value,)) is None:
                return value

    def new_order(self, account: sqlite3.Row, body: Any) -> tuple[int, dict[str, Any]]:
        if not isinstance(body, dict):
            raise bad("The request body must be a JSON object")
        product_id = self.text(body.get("product_id"), "product_id")
        quantity = body.get("quantity")
        if isinstance(quantity, float) and quantity.is_integer():
            quantity = int(quantity)  # JSON Schema counts 2.0 as an integer
        if isinstance(quantity, bool) or not isinstance(quantity, int):
            raise bad("quantity is required and must be an integer")
        most = 1_000_000 if self.fault("schema.negative-data") else MAX_QUANTITY
        if not 1 <= quantity <= most:
            raise bad(f"quantity must be between 1 and {MAX_QUANTITY}")
        if "customer" not in body:
            raise bad("customer is required")
        customer = self.customer(body["customer"], partial=False)
        product = self.db.one("SELECT * FROM products WHERE id = ?", (product_id,))
        if product is None:
            raise bad(f"product_id {product_id!r} is not an existing product")
        now = timestamp()
        order_id, payment_id = self.unique_id("ord_", "orders"), self.unique_id("pay_", "payments")
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO payments VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    payment_id,
                    account["id"],
                    order_id,
                    product["price"] * quantity,
                    product["currency"],
                    new_id("psp_"),
                    "pending",
                    now,
                ),
            )
            conn.execute(
                "INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    order_id,
                    account["id"],
                    product_id,
                    quantity,
                    customer["external_id"],
                    customer["contact"],
                    "processing",
                    "pending",
                    "not_started",
                    payment_id,
                    "{}",
                    None,
                    "api",
                    now,
                    now,
                ),
            )
        row = self.db.one("SELECT * FROM orders WHERE id = ?", (order_id,))
        assert row is not None
        return (200 if self.fault("schema.status-code") else 201), self.order_json(row)

    async def create_order(self, request: Request) -> Response:
        account = self.account(request)
        key = (request.headers.get("idempotency-key") or "").strip() or None
        if key is None and not self.fault("idempotency.key-required"):
            raise bad("The Idempotency-Key header is required on POST /orders")
        body = await self.body(request)

        async def create() -> tuple[int, dict[str, Any]]:
            return self.new_order(account, body)

        def conflict() -> ApiError:
            return ApiError(
                409, "This Idempotency-Key was used with a different request body", code="idempotency_conflict"
            )

        status, order = await self.idempotency.run(account["api_key"], key, body, create, conflict=conflict)
        return JSONResponse(order, status_code=status)

    async def order(self, request: Request) -> Response:
        account = self.account(request)
        if request.method == "PATCH":
            self.require(account, "orders:write")  # a permission is a credential: before parameters
        row = self.find_order(account, request.path_params["order_id"])
        if request.method == "PATCH":
            row = self.update_order(row, await self.body(request))
        return JSONResponse(self.order_json(row))

    def update_order(self, row: sqlite3.Row, body: Any) -> sqlite3.Row:
        if not isinstance(body, dict):
            raise bad("The request body must be a JSON object")
        if self.varies("null-as-absent"):
            body = {name: value for name, value in body.items() if value is not None}
        changes: dict[str, Any] = {}
        if "metadata" in body:
            if not isinstance(body["metadata"], dict):
                raise bad("metadata must be an object")
            changes["metadata"] = json.dumps(body["metadata"])
        if "customer" in body:
            changes.update(self.customer(body["customer"], partial=True))
        if "notes" in body:
            notes = body["notes"]
            changes["notes"] = None if notes is None else self.text(notes, "notes", empty=True)
        if not changes:
            return row  # `{}` changes nothing, updated_at included
        changes["updated_at"] = timestamp()
        assignments = ", ".join(f"{column} = ?" for column in changes)
        self.db.execute(f"UPDATE orders SET {assignments} WHERE id = ?", (*changes.values(), row["id"]))
        updated = self.db.one("SELECT * FROM orders WHERE id = ?", (row["id"],))
        assert updated is not None
        return updated

    # --- payments and webhooks -----------------------------------------------------------

    async def get_payment(self, request: Request) -> Response:
        account = self.account(request)
        payment_id = request.path_params["payment_id"]
        row = self.db.one(
            "SELECT p.*, o.origin FROM payments p JOIN orders o ON o.id = p.order_id"
            " WHERE p.id = ? AND p.account_id = ?",
            (payment_id, account["id"]),
        )
        if row is None or (self.fault("schema.stateful") and row["origin"] == "api"):
            raise self.not_found("payment", payment_id)
        payment = {
            "id": row["id"],
            "order_id": row["order_id"],
            "amount": row["amount"],
            "currency": row["currency"],
            "provider_reference": row["provider_reference"],
            "status": row["status"],
            "created_at": row["created_at"],
        }
        if self.varies("extra-fields"):
            payment["object"] = "payment"
        return JSONResponse(payment)

    async def test_webhook(self, request: Request) -> Response:
        account = self.account(request)
        body = await self.body(request, optional=True)
        if not isinstance(body, dict):
            raise bad("The request body, when given, must be a JSON object")
        row = self.db.one(
            "SELECT o.id AS order_id, p.id AS payment_id, p.amount, p.currency FROM orders o"
            " JOIN payments p ON p.id = o.payment_id WHERE o.account_id = ?"
            " ORDER BY o.created_at DESC, o.id DESC LIMIT 1",
            (account["id"],),
        )
        data = (
            dict(row)
            if row
            else {"order_id": "ord_01HX9R8NQ4", "payment_id": "pay_01HX9S0H5Y", "amount": 1490, "currency": "RUB"}
        )
        event = {"id": new_id("evt_"), "event": "payment.succeeded", "created_at": timestamp(), "data": data}
        return JSONResponse(event, status_code=202)


def create_app(settings: SandboxSettings) -> Starlette:
    """Returns a fresh goat sandbox; its state (`db`, `api`) is on `app.state`."""
    api = GoatApi(settings)
    valid_keys = {FULL_KEY, LIMITED_KEY}

    def rate_limit_client(scope: Scope) -> str | None:  # "Rate limits are applied per API key"
        token = bearer_token(header_value(scope, "authorization"))
        return token if token in valid_keys else None

    handlers: dict[Any, Any] = dict(error_handlers(api.render))
    if settings.has("errors.unknown-route"):

        async def unknown_route(request: Request, exc: Exception) -> Response:
            return JSONResponse({})

        handlers[404] = unknown_route  # the router's 404 only: ApiError 404s keep their handler
    if settings.has("errors.method-not-allowed"):

        async def without_allow(request: Request, exc: Exception) -> Response:
            return JSONResponse(api.render(ApiError(405, "Method not allowed")), status_code=405)

        handlers[405] = without_allow
    if settings.varies("auth-before-routing") and 404 not in handlers:
        on_api_error, on_router_error = handlers[ApiError], handlers[HTTPException]

        async def key_first(request: Request, exc: Exception) -> Response:
            try:
                api.account(request)  # an unknown route without a valid key: 401, as apis.md allows
            except ApiError as refused:
                return cast(Response, await on_api_error(request, refused))
            return cast(Response, await on_router_error(request, exc))

        handlers[404] = key_first  # the router's 404 only: ApiError 404s keep their handler
    requests, window_s = settings.rate_limit or DEFAULT_RATE_LIMIT
    no_headers = settings.varies("higher-rate-limit-no-headers")
    if no_headers or settings.varies("higher-rate-limit"):
        requests *= 5  # "may vary depending on account type"
    app = Starlette(
        routes=[
            Route(f"{BASE_PATH}/health", api.health, methods=["GET"]),
            Route(f"{BASE_PATH}/me", api.me, methods=["GET"]),
            Route(f"{BASE_PATH}/products", api.list_products, methods=["GET"]),
            Route(f"{BASE_PATH}/products/{{product_id}}", api.get_product, methods=["GET"]),
            Route(f"{BASE_PATH}/orders", api.create_order, methods=["POST"]),
            Route(f"{BASE_PATH}/orders/{{order_id}}", api.order, methods=["GET", "PATCH"]),
            Route(f"{BASE_PATH}/payments/{{payment_id}}", api.get_payment, methods=["GET"]),
            Route(f"{BASE_PATH}/webhooks/test", api.test_webhook, methods=["POST"]),
        ],
        middleware=[
            Middleware(
                ResponseVariationMiddleware,
                trailing_slash=settings.varies("trailing-slash"),
                json_charset=settings.varies("json-charset"),
                extra_headers=EXTRA_HEADERS if settings.varies("extra-headers") else None,
            ),
            Middleware(RequestIdMiddleware, settings=settings),
            Middleware(
                RateLimitMiddleware,
                requests=requests,
                window_s=window_s,
                client_key=rate_limit_client,
                exceeded_status=429,
                exceeded_body=lambda: api.render(ApiError(429, "Rate limit exceeded: wait for the reset")),
                send_headers=not no_headers,
                headers_optional=True,  # "Responses include rate-limit headers when available."
                faults=settings.faults,
            ),
        ],
        exception_handlers=handlers,
    )
    app.router.redirect_slashes = False  # `/v1/products/` is an unknown route (404), not a 307
    app.state.api = api
    app.state.db = api.db
    app.state.settings = settings
    return app


def summary(app: Starlette) -> str:
    """Returns one line about the seed data and the demo keys."""
    db: Database = app.state.db
    products = db.scalar("SELECT COUNT(*) FROM products")
    categories = db.scalar("SELECT COUNT(DISTINCT category) FROM products")
    orders = db.scalar("SELECT COUNT(*) FROM orders")
    pending = db.scalar("SELECT COUNT(*) FROM payments WHERE status = 'pending'")
    return (
        f"goat: {products} products in {categories} categories, {orders} orders ({pending} pending payments);"
        f" keys: full={FULL_KEY} (orders:write), limited={LIMITED_KEY} (read only)"
    )
