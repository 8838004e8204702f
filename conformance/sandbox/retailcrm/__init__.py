"""Sandbox of RetailCRM API v5 (seed 004 "Rules for working with API"; apis.md `retailcrm`).

Served under `/api` (`/api/api-versions`, `/api/credentials`, `/api/v5/...`). The key goes in the
`apiKey` query parameter, the `apiKey` form field or the `X-API-KEY` header. Two keys: `full`
reaches the sites `main` and `outlet` (so creates must name `site`), `single` reaches `main`
only. Success bodies are `{"success": true, ...}`, errors `{"success": false, "errorMsg", "errors"?}`.
POST bodies are application/x-www-form-urlencoded with entities as JSON strings (`order=<json>`).
Lists are in ascending id order, `limit` one of 20/50/100, `page` from 1. The documented limit of
10 requests per second per client address (40 for telephony) is enforced, answered with 503 and
no rate-limit headers.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response

from conformance.sandbox.base import (
    ApiError,
    Database,
    RateLimitMiddleware,
    ResponseVariationMiddleware,
    SandboxSettings,
    client_address,
    error_handlers,
)
from conformance.sandbox.retailcrm import handlers
from conformance.sandbox.retailcrm.data import SITES, create_tables, seed
from conformance.sandbox.retailcrm.handlers import SMALL_CATALOG

__all__ = ["BASE_PATH", "DEFAULT_RATE_LIMIT", "FAULTS", "KEYS", "VARIATIONS", "create_app", "summary"]

BASE_PATH = "/api"
KEYS = {
    "full": "X2EDxEta9U3lcsSV0dwdF38UvtSCxIuGh",  # the seed's example key
    "single": "mA1nOnLy7Qp4Rw9Tz2Xc5Vb8Nm3Lk6Jh",
}
KEY_SITES = {KEYS["full"]: ("main", "outlet"), KEYS["single"]: ("main",)}
DEFAULT_RATE_LIMIT = (10, 1.0)
"""Documented: "it cannot address more than 10 requests per second from one IP"."""
HIGHER_RATE_LIMIT = (50, 1.0)
"""The limit of the `higher-rate-limit-no-headers` variation (unless one is configured)."""
TELEPHONY_PREFIXES = ("/api/v5/telephony", "/api/telephony")
"""Telephony methods get four times the general limit (40 per second); the seed writes /api/telephony/*."""

# Conforming variations: reasonable behaviours the documents leave open; the suite must stay silent on each.
VARIATIONS: dict[str, str] = {
    "higher-rate-limit-no-headers": f"enforces {HIGHER_RATE_LIMIT[0]} requests per second (503 past it), more than the"
    " documented 10, and sends no rate-limit headers: an account may be allowed more than the documented figure",
    "empty-site-as-absent": "`site=` (an empty value) is read as no `site` (GET order/customer answer 200), as PHP's"
    " `if ($site)` does; seen on real servers",
    "empty-maps-as-arrays": "empty maps in answers (customFields, payments, properties) are `[]`, as PHP's json_encode"
    " writes an empty array; the spec allows both",
    "extra-response-fields": "orders, customers and products carry undocumented fields (privilegeType, managerId,"
    " contragentType): real RetailCRM answers far more fields than the subset the spec lists",
    "errors-as-array": "`errors` is an array of strings (`field: text`) instead of an object: apis.md allows"
    " (array of strings | object field→text)",
    "auth-errors-403": 'a missing or wrong key answers 403 (same envelope and messages): apis.md: "the check accepts'
    ' 401 or 403 with this envelope"',
    "json-charset": "JSON answers say `application/json; charset=utf-8` (the same media type, with its charset)",
    "trailing-slash": "a path with a trailing slash (`/api/v5/orders/`) is served like the path without it:"
    " the seed says nothing about other spellings of its paths",
    "limit-counts-items": "`pagination.limit` is the number of items in the answer (less than the page size on the"
    ' last page), as the seed defines it: "limit - the number of items in the current response"',
    "empty-account": "a new account: no orders and no customers yet (lists are empty until the suite creates some);"
    " the seed promises no data",
    "small-catalog": f"the store's catalog holds {SMALL_CATALOG} products, one page only (the seed promises no amount"
    " of data)",
}

FAULTS = {
    "schema.response-schema": "listSites answers `sites` as an array instead of an object keyed by code",
    "schema.status-code": "createCustomer answers 200 instead of 201",
    "schema.content-type": "listStatuses answers its JSON body as text/plain",
    "schema.server-error": "listOrders answers 500 whenever filter[numbers][] is given",
    "schema.negative-data": "getOrderStatuses ignores non-integer ids[] values instead of refusing them",
    "schema.positive-data": "getOrderStatuses refuses the documented externalIds[] parameter with 400",
    "schema.stateful": "orders created through the API answer 404 on getOrder",
    "errors.envelope": "every error body carries `errors` as a plain string (neither a list nor an object)",
    "errors.not-found": "an unknown order or customer answers 400 instead of 404",
    "errors.unknown-route": "an unknown route answers 400 instead of 404",
    "errors.method-not-allowed": "a wrong method answers 405 without an Allow header",
    "errors.bad-parameter": "a `by` other than externalId/id answers 404 Not found instead of 400",
    "errors.bad-body": "a nested field that is not valid JSON is read as {} (create 201, edit/telephony 200)",
    "errors.code-convention": "an unknown order or customer answers 404 with `Order not found` instead of `Not found`",
    "pagination.no-duplicates": "the last (partial) page repeats the previous page's last item",
    "pagination.complete": "pages after the first start one item late (one item skipped per page boundary)",
    "pagination.default-limit": "without `limit` a page holds 50 items, not 20",
    "pagination.max-limit": "a `limit` above 100 (up to 1000, except 250) is honoured instead of refused",
    "pagination.invalid-limit": "`limit=0` is accepted (served as 20)",
    "pagination.totals": "`pagination.limit` always echoes 20 whatever page size was asked for",
    "pagination.last-page": "a page past the end repeats the last page instead of being empty",
    "pagination.stable-order": "items come in a random order within each page (necessarily out of id order too)",
    "pagination.sort-order": "lists come in descending id order",
    "rate-limit.exceeded": "requests past the limit are served, never 503",
    "rate-limit.recovery": "after the limit was exceeded, requests stay refused one window too long",
    "auth.missing-credentials": "a request without a key is served (as the full key)",
    "auth.invalid-credentials": "any key is accepted (as the full key)",
    "auth.key-locations": "the `apiKey` form field is ignored (only the query and the header work)",
}


def render_for(settings: SandboxSettings):  # type: ignore[no-untyped-def]
    """Returns the renderer of RetailCRM's error envelope for this instance."""

    def render(exc: ApiError) -> dict[str, Any]:
        body: dict[str, Any] = {"success": False, "errorMsg": exc.message}
        if exc.details is not None:
            body["errors"] = exc.details
        if isinstance(exc.details, dict) and settings.varies("errors-as-array"):
            body["errors"] = [f"{field}: {text}" for field, text in exc.details.items()]
        if settings.has("errors.envelope"):
            body["errors"] = exc.message
        return body

    return render


def create_app(settings: SandboxSettings) -> Starlette:
    """Returns a fresh RetailCRM sandbox (state on `app.state`: db, settings, key_sites, offers)."""
    db = Database(settings.db)
    create_tables(db)
    seed(db, empty_account=settings.varies("empty-account"))
    render = render_for(settings)
    exception_handlers = error_handlers(render)
    on_api_error = exception_handlers[ApiError]
    on_http_exception = exception_handlers[HTTPException]

    async def on_router_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 404:
            status = 400 if settings.has("errors.unknown-route") else 404
            return await on_api_error(request, ApiError(status, "API method not found"))
        if exc.status_code == 405 and settings.has("errors.method-not-allowed"):
            return await on_api_error(request, ApiError(405, "Method not allowed"))
        return await on_http_exception(request, exc)

    exception_handlers[HTTPException] = on_router_error
    default = HIGHER_RATE_LIMIT if settings.varies("higher-rate-limit-no-headers") else DEFAULT_RATE_LIMIT
    requests, window_s = settings.rate_limit or default
    limiter = Middleware(
        RateLimitMiddleware,
        requests=requests,
        window_s=window_s,
        client_key=client_address,
        exceeded_status=503,
        exceeded_body=lambda: render(ApiError(503, "Service Temporarily Unavailable")),
        send_headers=False,  # none are documented
        retry_after=False,
        overrides=tuple((prefix, requests * 4, window_s) for prefix in TELEPHONY_PREFIXES),
        faults=settings.faults,
    )
    variations = Middleware(
        ResponseVariationMiddleware,
        trailing_slash=settings.varies("trailing-slash"),
        json_charset=settings.varies("json-charset"),
    )
    app = Starlette(routes=handlers.routes(), middleware=[limiter, variations], exception_handlers=exception_handlers)
    app.router.redirect_slashes = False
    app.state.db = db
    app.state.settings = settings
    app.state.key_sites = dict(KEY_SITES)
    app.state.offers = offer_index(db)
    return app


def offer_index(db: Database) -> dict[tuple[str, Any], tuple[dict[str, Any], dict[str, Any]]]:
    """Maps ("id", 10001), ("externalId", ...), ("xmlId", ...) to (offer, product) for order lines."""
    index: dict[tuple[str, Any], tuple[dict[str, Any], dict[str, Any]]] = {}
    for row in db.all("SELECT body FROM products"):
        product = json.loads(row["body"])
        for offer in product["offers"]:
            for key in ("id", "externalId", "xmlId"):
                index[(key, offer[key])] = (offer, product)
    return index


def summary(app: Starlette) -> str:
    """One line about the seed data and keys."""
    db: Database = app.state.db
    counts = {table: db.scalar(f"SELECT COUNT(*) FROM {table}") for table in ("orders", "customers", "products")}
    settings: SandboxSettings = app.state.settings
    requests, window_s = settings.rate_limit or DEFAULT_RATE_LIMIT
    return (
        f"retailcrm: {counts['orders']} orders, {counts['customers']} customers, {counts['products']} products on "
        f"sites {', '.join(SITES)}; keys: full (both sites), single (main only); "
        f"limit {requests} per {window_s:g} s per address (telephony {requests * 4}), answered 503"
    )
