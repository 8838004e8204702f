"""The storefront sandbox (seed 002): users, products, orders, payments, notifications, logs.

Lists are bare arrays paged with `limit`/`offset` and described by `X-Total-Count`, `X-Limit` and
`X-Offset`; errors are `{"error": {"code", "message", "details"}}` with UPPER_SNAKE codes. The seed
documents no rate limit: the limiter is there so that a test can configure one, its default never
throttles a conformance run, and it sends no rate-limit headers (none are documented).

`data.py` holds the tables and seed data, `parsing.py` reads requests (key, page parameters,
bodies, dates) and carries the pagination faults, `handlers.py` has one handler per operation.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

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
from conformance.sandbox.storefront.data import SCHEMA, seed_data
from conformance.sandbox.storefront.handlers import (
    FEW_LOGS,
    create_order,
    create_payment,
    get_product,
    list_logs,
    list_products,
    list_users,
    send_notification,
)

__all__ = ["BASE_PATH", "DEFAULT_RATE_LIMIT", "FAULTS", "KEYS", "VARIATIONS", "create_app", "summary"]

BASE_PATH = "/"
KEYS = {"full": "sf_test_5e0c1d7a9b34"}
DEFAULT_RATE_LIMIT = (10_000, 60.0)  # undocumented: generous, so that only a configured limit throttles

# Conforming variations: reasonable behaviours the documents leave open; the suite must stay silent on each.
VARIATIONS: dict[str, str] = {
    "json-charset": "JSON answers say `application/json; charset=utf-8` (the same media type, with its charset)",
    "extra-response-headers": "answers carry undocumented headers (Cache-Control, X-Request-Id, CORS): the seed lists"
    " only the page headers, and clients ignore headers they do not know",
    "extra-response-fields": "users, products, orders and log entries carry undocumented fields (displayName, sku,"
    " active, updatedAt, id): the seed shows example objects, not closed ones",
    "trailing-slash": "a path with a trailing slash (`/users/`) is served like the path without it: the seed says"
    " nothing about other spellings of its paths",
    "null-as-absent": "a notification's optional `subject: null` is read as no subject (200/202) rather than refused:"
    " the seed only says subject is optional",
    "logs-newest-first": "GET /logs lists the newest entries first: the seed gives /logs no order",
    "one-page-of-logs": f"the account is young: /logs holds only its {FEW_LOGS} newest entries, less than one default"
    " page (the seed promises no amount of data)",
    "extra-error-fields": "error objects carry undocumented fields (`status`, `requestId`) beside code, message and"
    " details: the seed shows an example payload, not a closed one",
    "lenient-paging": "`limit` 0 or negative is served with the default page size and a negative `offset` as 0:"
    " the seed says only that limit and offset are integers (default 20, maximum 100; default 0)",
    "different-error-messages": "error messages and details are worded differently (`Request failed: ...`): the"
    " seed's message is an example; only the envelope and the codes are pinned",
}

FAULTS = {
    "errors.business-rule": "A paymentMethodId that does not start with pm_ is charged (200 succeeded)"
    " instead of declined with 402.",
    "schema.response-schema": 'product objects carry `price` as a string ("49.99"), not a number',
    "schema.status-code": "POST /orders answers 200 instead of 201",
    "schema.server-error": "GET /logs with a `level` filter crashes with a 500",
    "schema.content-type": "GET /users answers its JSON array as text/plain",
    "schema.response-headers": "list answers leave out X-Offset when the request has no `offset`",
    "schema.negative-data": "POST /notifications/send accepts any `type`, not only email or sms",
    "schema.positive-data": "POST /notifications/send refuses a body without the optional `subject`",
    "schema.stateful": "POST /orders answers 201 but keeps nothing: paying for the new order is a 400",
    "errors.envelope": 'errors are a flat {"code", "message"} object, without the `error` wrapper',
    "errors.not-found": "an unknown product id answers 400 INVALID_PARAMETER instead of 404",
    "errors.unknown-route": "an unknown route answers 400 INVALID_REQUEST instead of 404",
    "errors.method-not-allowed": "a wrong method answers 405 without an Allow header",
    "errors.bad-parameter": "GET /logs ignores a `startDate`/`endDate` that does not parse (200)",
    "errors.bad-body": "a body that is not valid JSON answers 422 instead of 400",
    "errors.code-convention": "error codes are lower case (`not_found`, `invalid_parameter`)",
    "pagination.no-duplicates": "every page after the first starts one item early (pages overlap by one)",
    "pagination.complete": "every page after the first starts one item late (one item skipped per page)",
    "pagination.default-limit": "without `limit` a page holds 10 items (X-Limit: 10), not 20",
    "pagination.max-limit": "`limit` above 100 is served in full (up to 1000 items) instead of a 400",
    "pagination.invalid-limit": "`limit=abc` (not an integer) is served with the default page size instead of"
    " refused with 400",
    "pagination.totals": "X-Total-Count is one more than the number of items",
    "pagination.last-page": "an offset at or past the end answers 400 instead of an empty page",
    "pagination.stable-order": "the items of each page come in a random order on every request",
    "pagination.headers": "X-Offset is always 0, whatever `offset` was asked for",
    "auth.missing-credentials": "a request without an Authorization header is served",
    "auth.invalid-credentials": "any Authorization header is accepted as a valid key",
}

EXTRA_HEADERS = {
    "Cache-Control": "no-store",
    "X-Request-Id": "req_sandbox",
    "Access-Control-Allow-Origin": "*",
    "X-Api-Version": "2023-10-01",
}
"""Headers of the `extra-response-headers` variation: common ones the seed does not mention."""

CODES = {
    400: "INVALID_REQUEST",
    401: "UNAUTHORIZED",
    402: "PAYMENT_FAILED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    429: "RATE_LIMIT_EXCEEDED",
    500: "INTERNAL_ERROR",
}


def _renderer(settings: SandboxSettings) -> Callable[[ApiError], dict[str, Any]]:
    def render(exc: ApiError) -> dict[str, Any]:
        code = exc.code or CODES.get(exc.status) or HTTPStatus(exc.status).phrase.upper().replace(" ", "_")
        if settings.has("errors.code-convention"):
            code = code.lower()
        if settings.has("errors.envelope"):
            return {"code": code, "message": exc.message}
        details = exc.details if isinstance(exc.details, str) else HTTPStatus(exc.status).phrase
        message = exc.message
        if settings.varies("different-error-messages"):
            message, details = f"Request failed: {message[:1].lower()}{message[1:]}", f"See {details}."
        error: dict[str, Any] = {"code": code, "message": message, "details": details}
        if settings.varies("extra-error-fields"):
            error.update(status=exc.status, requestId="req_sandbox")
        return {"error": error}

    return render


def create_app(settings: SandboxSettings) -> Starlette:
    """Returns a fresh storefront sandbox; its state lives in `app.state.db`."""
    db = Database(settings.db)
    with db.lock:
        db.conn.executescript(SCHEMA)
    if db.is_empty("products"):
        seed_data(db)
    render = _renderer(settings)
    handlers = error_handlers(render)
    if settings.has("errors.method-not-allowed"):
        enveloped = handlers[HTTPException]

        async def without_allow(request: Request, exc: Exception) -> Response:
            response = await enveloped(request, exc)
            if response.status_code == 405 and "allow" in response.headers:
                del response.headers["allow"]
            return response

        handlers[HTTPException] = without_allow
    requests, window_s = settings.rate_limit or DEFAULT_RATE_LIMIT
    middleware = [
        Middleware(
            RateLimitMiddleware,
            requests=requests,
            window_s=window_s,
            client_key=lambda scope: header_value(scope, "authorization") or client_address(scope),
            exceeded_status=429,
            exceeded_body=lambda: render(ApiError(429, "Too many requests: slow down.", details="Retry-After")),
            send_headers=False,
            faults=settings.faults,
        ),
        Middleware(
            ResponseVariationMiddleware,
            trailing_slash=settings.varies("trailing-slash"),
            json_charset=settings.varies("json-charset"),
            extra_headers=EXTRA_HEADERS if settings.varies("extra-response-headers") else None,
        ),
    ]
    routes = [
        Route("/users", list_users, methods=["GET"]),
        Route("/products", list_products, methods=["GET"]),
        Route("/products/{productId}", get_product, methods=["GET"]),
        Route("/orders", create_order, methods=["POST"]),
        Route("/payments", create_payment, methods=["POST"]),
        Route("/notifications/send", send_notification, methods=["POST"]),
        Route("/logs", list_logs, methods=["GET"]),
    ]
    app = Starlette(routes=routes, middleware=middleware, exception_handlers=handlers)
    app.router.redirect_slashes = False  # "/users/" is an unknown route, not a 307

    async def unknown_route(scope: Scope, receive: Receive, send: Send) -> None:
        if settings.has("errors.unknown-route"):
            raise ApiError(400, "The request is not valid.", "INVALID_REQUEST")
        raise ApiError(404, "No such route.", "NOT_FOUND", details="path")

    app.router.default = unknown_route
    app.state.db = db
    app.state.settings = settings
    app.state.keys = frozenset(KEYS.values())
    app.state.random = random.Random()
    return app


def summary(app: Starlette) -> str:
    """Returns one line about the sandbox's data."""
    db: Database = app.state.db
    counts = {table: db.scalar(f"SELECT COUNT(*) FROM {table}") for table in ("products", "users", "logs", "orders")}
    return (
        f"storefront: {counts['products']} products, {counts['users']} users, {counts['logs']} log entries, "
        f"{counts['orders']} orders; key (full): {KEYS['full']}"
    )
