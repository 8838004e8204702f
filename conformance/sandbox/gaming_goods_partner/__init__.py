"""Sandbox of the Gaming Goods Partner API (seed 001, "Partner API"; apis.md `gaming-goods-partner`).

Served under `/api/partner/v1`; every operation needs the `X-API-Key` header. Lists answer
`{"items", "total", "limit", "offset"}` (limit 1..100, default 20; a larger limit is refused with 400),
oldest first; errors answer `{"error": {"code", "message"}}`. Checkout puts all lines into one
new order (`status: created`); the Partner API has no cart operations, so `{"source": "cart"}`
finds an empty cart (400). The rate limit is per client address with `X-RateLimit-*` headers.
"""

from __future__ import annotations

from typing import Any

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
    RateLimitMiddleware,
    ResponseVariationMiddleware,
    SandboxSettings,
    client_address,
    error_handlers,
    header_value,
)
from conformance.sandbox.gaming_goods_partner import handlers
from conformance.sandbox.gaming_goods_partner.seed import ORDER_COUNT, create_tables, seed

__all__ = ["BASE_PATH", "DEFAULT_RATE_LIMIT", "FAULTS", "KEYS", "VARIATIONS", "create_app", "summary"]

BASE_PATH = "/api/partner/v1"
KEYS = {"full": "ggp_sandbox_7c1e4b9a2f6d4e0b"}
DEFAULT_RATE_LIMIT = (10000, 60.0)
"""Generous, so a full conformance run is never throttled; the documented figure is 100 / 60 s."""
EXTRA_HEADERS = {"Cache-Control": "no-store", "X-Api-Version": "1"}

BUYERS = {KEYS["full"]: "c3d4e5f6-a7b8-4c9d-8e0f-1a2b3c4d5e6f"}
"""The buyer account behind each partner key (`buyer_id` of its orders)."""

# Conforming variations: reasonable behaviours the documents leave open; the suite must stay silent on each.
VARIATIONS = {
    "higher-rate-limit": "Enforces and advertises (X-RateLimit-*) five times the configured limit: apis.md lets a"
    " server advertise another limit than the documented 100/minute.",
    "json-charset": "Answers JSON as `application/json; charset=utf-8`: the seed promises JSON, no charset rule.",
    "extra-fields": "Responses carry undocumented fields (a brand's `slug`, a product's `slug`, `created_at` on"
    " checkout's orders, `updated_at` on listed orders): nothing promises the documented fields are the only ones.",
    "extra-headers": "Every answer carries undocumented headers (Cache-Control: no-store, X-Api-Version): nothing"
    " forbids them.",
    "trailing-slash": "Serves `/api/partner/v1/products/` like `/api/partner/v1/products`: no document makes it"
    " another route.",
    "limit-clamped": "`limit` above 100 is served as 100 (echoed as 100) instead of refused: apis.md allows"
    " '400 or clamped (echoed as 100)'.",
    "malformed-id-404": "A product or order id that is not a UUID answers 404 instead of 400: apis.md allows"
    " '400 or 404'.",
    "orders-newest-first": "GET /orders lists the newest order first: the seed promises no order.",
    "brand-case-insensitive": "GET /brands/{brand}/categories matches the brand case-insensitively (`steam` finds"
    " Steam, echoed as `Steam`): the seed does not say brand names are case-sensitive.",
    "empty-paging-as-absent": "An empty `limit=` or `offset=` is read as not given (the default): an empty value"
    " is 'not given', not a malformed number.",
    "order-per-line": 'Checkout creates one order per line (`{"orders": [...]}` holds several): the seed answers an'
    " array of orders and does not say how lines are split.",
    "negative-offset-as-zero": "A negative `offset` is served as 0 (echoed as 0), not refused: the documents say"
    " nothing about offsets below 0.",
    "no-orders": "The partner account has no orders yet (GET /orders is an empty page until checkout): a new"
    " partner's history is empty, which no document rules out.",
    "few-orders": "The partner account has only 3 orders, so GET /orders is one short page: the account's history"
    " is its own, not the documents'.",
}

FAULTS = {
    "errors.business-rule": 'POST /checkout with {"source": "cart"} answers 201 with no orders instead of refusing'
    " the empty cart.",
    "schema.response-schema": "getProduct answers `price` as decimal euros (19.99), not integer cents",
    "schema.status-code": "checkout answers 200 instead of 201",
    "schema.content-type": "getProduct answers its JSON body as text/plain",
    "schema.response-headers": "checkout's 201 answer lacks the X-RateLimit-Reset header",
    "schema.server-error": "listProducts answers 500 for a page of one item (limit=1)",
    "schema.negative-data": "checkout accepts a line quantity below 1 (treated as 1)",
    "schema.positive-data": "listProducts refuses the documented category filter with 400",
    "schema.stateful": "orders created by checkout answer 404 on getOrder",
    "errors.envelope": 'errors (except 429) answer {"message": ...} instead of {"error": {"code", "message"}}',
    "errors.not-found": "an unknown product/order UUID or brand answers 400 instead of 404",
    "errors.unknown-route": "an unknown route answers 200 with {}",
    "errors.method-not-allowed": "a wrong method answers 405 without an Allow header",
    "errors.bad-parameter": "a malformed product/order id answers 200 with the first product/order",
    "errors.bad-body": 'a checkout body that is not JSON answers 201 {"orders": []}',
    "errors.code-convention": "error codes are UPPER_SNAKE (NOT_FOUND) instead of snake_case",
    "pagination.no-duplicates": "pages after the first start one item early (overlap by one)",
    "pagination.complete": "pages after the first start one item late (one item skipped)",
    "pagination.default-limit": "without `limit` a page holds 10 items, not 20",
    "pagination.max-limit": "`limit` above 100 is neither refused nor clamped",
    "pagination.invalid-limit": "`limit=0` is accepted (an empty page)",
    "pagination.totals": "`total` is one more than the number of items",
    "pagination.last-page": "a page at or past the end repeats the last item instead of being empty",
    "pagination.stable-order": "items come in a random order within each page",
    "rate-limit.headers": "no X-RateLimit-* headers",
    "rate-limit.consistent": "X-RateLimit-Remaining never falls",
    "rate-limit.exceeded": "requests past the limit are served, never 429",
    "rate-limit.recovery": "after the limit was exceeded, requests stay refused one window too long",
    "auth.missing-credentials": "a request without X-API-Key is served",
    "auth.invalid-credentials": "any X-API-Key value is accepted",
    "transport.invalid-response": "listBrandCategories answers a truncated JSON body as application/json",
}

CODES = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    429: "rate_limit_exceeded",
    500: "internal_error",
}


def _envelope(settings: SandboxSettings, status: int, message: str, code: str | None) -> dict[str, Any]:
    code = code or CODES.get(status, "error")
    if settings.has("errors.code-convention"):
        code = code.upper()
    return {"error": {"code": code, "message": message}}


def make_render(settings: SandboxSettings) -> Any:
    """Returns the ApiError → body function: the seed's `{"error": {"code", "message"}}`."""

    def render(exc: ApiError) -> dict[str, Any]:
        if settings.has("errors.envelope"):
            return {"message": exc.message}
        return _envelope(settings, exc.status, exc.message, exc.code)

    return render


class PartnerKeyMiddleware:
    """Checks `X-API-Key` before anything else ("Authentication uses the X-API-Key header").

    Puts the partner's key in `scope["partner"]`; a missing or unknown key answers 401.
    """

    def __init__(self, app: ASGIApp, *, keys: frozenset[str], render: Any, faults: frozenset[str]) -> None:
        self.app = app
        self.keys = keys
        self.render = render
        self.faults = faults
        self.fallback = KEYS["full"]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        key = (header_value(scope, "x-api-key") or "").strip()
        problem = None
        if not key:
            problem = None if "auth.missing-credentials" in self.faults else "Missing API key: send it in X-API-Key"
        elif key not in self.keys:
            problem = None if "auth.invalid-credentials" in self.faults else "Invalid API key"
        if problem is not None:
            response = JSONResponse(self.render(ApiError(401, problem)), status_code=401)
            await response(scope, receive, send)
            return
        scope["partner"] = key if key in self.keys else self.fallback
        await self.app(scope, receive, send)


class DropHeaderMiddleware:
    """Fault `schema.response-headers`: removes X-RateLimit-Reset from checkout's 201 answers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].endswith("/checkout"):
            await self.app(scope, receive, send)
            return

        async def strip(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 201:
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-ratelimit-reset"]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, strip)


def _exception_handlers(settings: SandboxSettings, render: Any) -> dict[Any, Any]:
    handlers_ = error_handlers(render)
    on_http = handlers_[HTTPException]

    async def on_router_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 404 and settings.has("errors.unknown-route"):
            return JSONResponse({}, status_code=200)
        if exc.status_code == 405 and settings.has("errors.method-not-allowed"):
            kept = {k: v for k, v in (exc.headers or {}).items() if k.lower() != "allow"}
            exc = HTTPException(405, exc.detail, headers=kept)
        return await on_http(request, exc)

    return {**handlers_, HTTPException: on_router_error}


def create_app(settings: SandboxSettings) -> Starlette:
    """Returns a fresh Partner API sandbox; its state (db, settings) lives on `app.state`."""
    render = make_render(settings)
    requests, window_s = settings.rate_limit or DEFAULT_RATE_LIMIT
    if settings.varies("higher-rate-limit"):
        requests *= 5  # apis.md: a server may advertise another limit than the documented one
    middleware = [
        Middleware(
            RateLimitMiddleware,
            requests=requests,
            window_s=window_s,
            client_key=client_address,
            exceeded_status=429,
            exceeded_body=lambda: _envelope(settings, 429, "Too many requests: retry after the reset", None),
            faults=settings.faults,
        ),
        Middleware(PartnerKeyMiddleware, keys=frozenset(KEYS.values()), render=render, faults=settings.faults),
    ]
    if settings.has("schema.response-headers"):
        middleware.insert(0, Middleware(DropHeaderMiddleware))
    varied = Middleware(
        ResponseVariationMiddleware,
        trailing_slash=settings.varies("trailing-slash"),
        json_charset=settings.varies("json-charset"),
        extra_headers=EXTRA_HEADERS if settings.varies("extra-headers") else None,
    )
    middleware.insert(0, varied)
    routes = [
        Route(f"{BASE_PATH}/brands", handlers.list_brands, methods=["GET"]),
        Route(f"{BASE_PATH}/brands/{{brand}}/categories", handlers.list_brand_categories, methods=["GET"]),
        Route(f"{BASE_PATH}/products", handlers.list_products, methods=["GET"]),
        Route(f"{BASE_PATH}/products/{{product_id}}", handlers.get_product, methods=["GET"]),
        Route(f"{BASE_PATH}/checkout", handlers.checkout, methods=["POST"]),
        Route(f"{BASE_PATH}/orders", handlers.list_orders, methods=["GET"]),
        Route(f"{BASE_PATH}/orders/{{order_id}}", handlers.get_order, methods=["GET"]),
    ]
    app = Starlette(routes=routes, middleware=middleware, exception_handlers=_exception_handlers(settings, render))
    app.router.redirect_slashes = False  # `/products/` is an unknown route (404), not a 307
    app.state.settings = settings
    app.state.buyers = dict(BUYERS)
    app.state.db = Database(settings.db)
    create_tables(app.state.db)
    order_count = 0 if settings.varies("no-orders") else 3 if settings.varies("few-orders") else ORDER_COUNT
    seed(app.state.db, BUYERS, order_count=order_count)
    return app


def summary(app: Starlette) -> str:
    """Returns one line about the seed data."""
    db: Database = app.state.db
    products = db.scalar("SELECT COUNT(*) FROM products")
    brands = db.scalar("SELECT COUNT(DISTINCT brand) FROM products")
    orders = db.scalar("SELECT COUNT(*) FROM orders")
    return f"gaming-goods-partner: {products} products, {brands} brands, {orders} orders (X-API-Key: {KEYS['full']})"
