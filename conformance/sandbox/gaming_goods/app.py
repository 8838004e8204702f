"""Routes and handlers of the gaming-goods public API sandbox (seed 001, up to "Partner API")."""

from __future__ import annotations

import json
import random
import re
import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from conformance.sandbox.base import (
    ApiError,
    Database,
    IdempotencyStore,
    RateLimitMiddleware,
    ResponseVariationMiddleware,
    SandboxSettings,
    client_address,
    db_of,
    error_handlers,
    read_json,
    settings_of,
)

from .store import Product, create_tables, load_catalog, seed, timestamp
from .tokens import DEMO_USER, TokenError, verify_token

__all__ = ["BASE_PATH", "DEFAULT_RATE_LIMIT", "create_app", "summary"]

BASE_PATH = "/api/v1"
DEFAULT_RATE_LIMIT = (10000, 60.0)
"""Generous, so that a conformance run is never throttled; the seed documents 100/minute per IP."""

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
MAX_ORDER_LINES = 100
MAX_QUANTITY = 100
PAYMENT_METHODS = ("balance", "card")
PROMO_CODES = {"SALE10": 10}  # percent off the order total, rounded down

_CODES = {
    400: "invalid_request",  # the seed's own example
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "idempotency_conflict",
    422: "unprocessable_entity",
    429: "rate_limit_exceeded",
    500: "internal_error",
}
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_DIGITS = re.compile(r"^[0-9]+$")
EXTRA_HEADERS = {"Cache-Control": "no-store", "X-Api-Version": "1"}
EMPTY_CATEGORY = "Epic Games"
"""The category variation `empty-category` lists with no products in it."""


def _catalog(request: Request) -> list[Product]:
    products: list[Product] = request.app.state.catalog
    return products


# --- auth ----------------------------------------------------------------------------------


def _user(request: Request) -> str:
    """Returns the user id of the request's Bearer token; 401 envelope without a valid one."""
    settings = settings_of(request)
    header = request.headers.get("authorization", "").strip()
    if not header:
        if settings.has("auth.missing-credentials"):
            return DEMO_USER
        raise ApiError(
            401,
            "Authentication required: pass a Bearer token in the Authorization header",
            headers={"WWW-Authenticate": "Bearer"},
        )
    scheme, _, token = header.partition(" ")
    try:
        if scheme.lower() != "bearer":
            raise TokenError("Invalid token: use 'Authorization: Bearer <token>'")
        return verify_token(token.strip())
    except TokenError as exc:
        if settings.has("auth.invalid-credentials"):
            return DEMO_USER
        if settings.varies("invalid-token-403"):
            raise ApiError(403, str(exc)) from None  # a token was sent, but it is not accepted
        raise ApiError(401, str(exc), headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}) from None


# --- pagination ----------------------------------------------------------------------------


def _positive_int(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or (raw == "" and settings_of(request).varies("empty-paging-as-absent")):
        return default
    value = (int(raw) if len(raw) <= 18 else 10**18) if _DIGITS.match(raw) else 0
    if value < 1:
        raise ApiError(400, f"Parameter '{name}' must be a positive integer")  # the seed's example
    return value


def _page(request: Request, items: list[Any], key: str) -> dict[str, Any]:
    """Returns `{key: page of items, total, page, page_size}` for the request's page parameters."""
    settings = settings_of(request)
    page = _positive_int(request, "page", 1)
    default = 10 if settings.has("pagination.default-limit") else DEFAULT_PAGE_SIZE
    if settings.has("pagination.invalid-limit") and request.query_params.get("page_size") == "0":
        size = default
    else:
        size = _positive_int(request, "page_size", default)
    if size > MAX_PAGE_SIZE and settings.varies("page-size-clamped"):
        size = MAX_PAGE_SIZE
    if size > MAX_PAGE_SIZE and not settings.has("pagination.max-limit"):
        raise ApiError(400, f"Parameter 'page_size' must be between 1 and {MAX_PAGE_SIZE}")
    total = len(items)
    start = (page - 1) * size
    if page > 1 and settings.has("pagination.no-duplicates"):
        start -= 1  # each page repeats the previous page's last item
    if page > 1 and settings.has("pagination.complete"):
        start += 1  # each page skips one item
    if start >= total and total and settings.has("pagination.last-page"):
        start = (total - 1) // size * size  # a page past the end repeats the last page
    chunk = items[start : start + size] if start < total else []
    if settings.has("pagination.stable-order"):
        random.shuffle(chunk)
    reported = total + 1 if page > 1 and settings.has("pagination.totals") else total
    return {key: chunk, "total": reported, "page": page, "page_size": size}


def _ok(request: Request, data: Any, status: int = 200) -> Response:
    return JSONResponse({"data": data}, status_code=status)


# --- catalog -------------------------------------------------------------------------------


async def list_products(request: Request) -> Response:
    products = _catalog(request)
    for name in ("category", "brand"):
        wanted = request.query_params.get(name, "")
        if not wanted:
            continue
        if settings_of(request).has("schema.positive-data") and name == "brand" and " " in wanted:
            raise ApiError(400, f"Parameter 'brand' must be a single word, not '{wanted}'")
        if settings_of(request).varies("case-sensitive-filters"):
            products = [p for p in products if getattr(p, name) == wanted]
        else:
            products = [p for p in products if getattr(p, name).lower() == wanted.lower()]
    body = _page(request, [p.summary() for p in products], "products")
    return _ok(request, body)


async def get_product(request: Request) -> Response:
    slug = request.path_params["slug"]
    product = request.app.state.by_slug.get(slug)
    if product is None:
        raise ApiError(404, f"Product '{slug}' not found")
    body = product.detail()
    if settings_of(request).has("schema.response-schema"):
        body["price"] = f"{product.price_cents / 100:.2f}"
    return _ok(request, body)


async def search_products(request: Request) -> Response:
    settings = settings_of(request)
    q = request.query_params.get("q", "")
    if not q.strip():
        if settings.has("errors.bad-parameter"):
            return _ok(request, {"products": [], "total": 0, "page": 1, "page_size": DEFAULT_PAGE_SIZE})
        raise ApiError(400, "Parameter 'q' is required")
    if settings.has("schema.server-error") and re.search(r"[^A-Za-z0-9 \-]", q):
        raise ApiError(500, "Internal server error")  # a search backend that chokes on punctuation
    terms = q.lower().split()
    hits = [p for p in _catalog(request) if all(term in p.searchable for term in terms)]
    if settings.varies("search-catalog-order"):
        hits.sort(key=lambda p: p.position)
    else:  # products whose name holds every term first, then catalog order
        hits.sort(key=lambda p: (not all(term in p.name.lower() for term in terms), p.position))
    extra = settings.varies("extra-fields")
    return _ok(request, _page(request, [p.summary() if extra else p.search_hit() for p in hits], "products"))


def _counts(request: Request, attribute: str) -> list[dict[str, Any]]:
    counts = Counter(getattr(p, attribute) for p in _catalog(request))
    if attribute == "category" and settings_of(request).varies("empty-category"):
        counts[EMPTY_CATEGORY] = 0
    alphabetical = settings_of(request).varies("alphabetical-lists")
    ordered = sorted(counts.items(), key=lambda c: (c[0],) if alphabetical else (-c[1], c[0]))
    rows = [{"name": name, "product_count": n} for name, n in ordered]
    if settings_of(request).varies("extra-fields"):
        for row in rows:
            row["slug"] = re.sub(r"[^a-z0-9]+", "-", row["name"].lower()).strip("-")
    return rows


async def list_categories(request: Request) -> Response:
    body = {"data": _counts(request, "category")}
    if settings_of(request).has("schema.content-type"):
        return Response(json.dumps(body), media_type="text/plain")
    return JSONResponse(body)


async def list_brands(request: Request) -> Response:
    if settings_of(request).has("auth.public-operations"):
        _user(request)
    return _ok(request, _counts(request, "brand"))


# --- orders --------------------------------------------------------------------------------


def _order_json(db: Database, row: Any) -> dict[str, Any]:
    completed = row["status"] == "completed"
    items = []
    for item in db.all("SELECT * FROM order_items WHERE order_id = ? ORDER BY line", (row["id"],)):
        line: dict[str, Any] = {
            "product_id": item["product_id"],
            "product_name": item["product_name"],
            "price": item["price"],
            "quantity": item["quantity"],
        }
        if completed and item["keys"]:  # keys appear only once the order is completed
            line["keys"] = json.loads(item["keys"])
        items.append(line)
    order: dict[str, Any] = {
        "id": row["id"],
        "status": row["status"],
        "items": items,
        "total": row["total"],
        "currency": row["currency"],
    }
    if row["status"] == "pending_payment" and row["payment_url"]:
        order["payment_url"] = row["payment_url"]
    order["created_at"] = row["created_at"]
    if row["completed_at"]:
        order["completed_at"] = row["completed_at"]
    return order


def _order_lines(request: Request, body: Any) -> list[tuple[Product, int]]:
    if not isinstance(body, dict):
        raise ApiError(400, "Request body must be a JSON object")
    items = body.get("items")
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_ORDER_LINES:
        raise ApiError(400, f"Field 'items' must be a list of 1 to {MAX_ORDER_LINES} items")
    by_id: dict[str, Product] = request.app.state.by_id
    lines = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise ApiError(400, f"items[{index}] must be an object with 'product_id' and 'quantity'")
        product_id, quantity = item.get("product_id"), item.get("quantity")
        if not isinstance(product_id, str) or not product_id:
            raise ApiError(400, f"items[{index}].product_id is required")
        product = by_id.get(product_id.lower())
        if product is None and settings_of(request).has("errors.business-rule"):
            product = next(iter(by_id.values()))  # the fault: an unknown product id orders the first product
        if product is None:
            raise ApiError(400, f"items[{index}].product_id: unknown product '{product_id}'")
        if not product.is_active:
            raise ApiError(400, f"items[{index}].product_id: product '{product_id}' is not available")
        if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= MAX_QUANTITY:
            raise ApiError(400, f"items[{index}].quantity must be an integer from 1 to {MAX_QUANTITY}")
        lines.append((product, quantity))
    return lines


def _insert_order(request: Request, user: str, body: Any) -> dict[str, Any]:
    """Validates the create-order body and stores the order; returns its JSON."""
    settings = settings_of(request)
    lines = _order_lines(request, body)
    method = body.get("payment_method")
    if method not in PAYMENT_METHODS:
        if not settings.has("schema.negative-data"):
            raise ApiError(400, "Field 'payment_method' must be one of: " + ", ".join(PAYMENT_METHODS))
        method = str(method or "balance")
    promo = body.get("promo_code")
    if promo is not None and not isinstance(promo, str):
        raise ApiError(400, "Field 'promo_code' must be a string")
    subtotal = sum(product.price_cents * quantity for product, quantity in lines)
    discount = PROMO_CODES.get((promo or "").strip().upper(), 0)  # unknown codes are ignored
    total = subtotal * (100 - discount) // 100
    order_id = str(uuid.uuid4())
    db = db_of(request)
    with db.transaction() as conn:
        seq = conn.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM orders").fetchone()[0]
        conn.execute(
            "INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
            (
                order_id,
                seq,
                user,
                "pending_payment",
                total,
                "EUR",
                method,
                promo,
                f"https://gaming-goods.ru/pay/{order_id}",
                timestamp(datetime.now(UTC)),
                None,
            ),
        )
        conn.executemany(
            "INSERT INTO order_items VALUES (?, ?, ?, ?, ?, ?, NULL)",
            [(order_id, n, p.id, p.name, p.price_cents, quantity) for n, (p, quantity) in enumerate(lines)],
        )
    return _order_json(db, db.one("SELECT * FROM orders WHERE id = ?", (order_id,)))


async def create_order(request: Request) -> Response:
    settings = settings_of(request)
    user = _user(request)  # credentials before the body
    try:
        body = await read_json(request)
    except ApiError:
        if settings.has("errors.bad-body"):
            raise ApiError(422, "Unprocessable entity") from None
        raise
    key = request.headers.get("idempotency-key", "").strip() or None
    status = 200 if settings.has("schema.status-code") else 201

    async def create() -> tuple[int, Any]:
        return status, {"data": _insert_order(request, user, body)}

    def conflict() -> ApiError:
        return ApiError(409, "Idempotency-Key was already used with a different request body")

    store: IdempotencyStore = request.app.state.idempotency
    status, payload = await store.run(scope=user, key=key, body=body, create=create, conflict=conflict)
    return JSONResponse(payload, status_code=status)


async def get_order(request: Request) -> Response:
    settings = settings_of(request)
    user = _user(request)
    order_id = request.path_params["order_id"]
    if settings.varies("malformed-order-id-400") and not _UUID.match(order_id):
        raise ApiError(400, f"Parameter 'order_id' must be a UUID, not '{order_id}'")
    db = db_of(request)
    row = db.one("SELECT * FROM orders WHERE id = ?", (order_id.lower(),)) if _UUID.match(order_id) else None
    if row is not None and settings.has("schema.stateful") and not row["seeded"]:
        row = None  # orders created through the API are never found
    if row is not None and row["user_id"] != user and settings.varies("foreign-order-403"):
        raise ApiError(403, "This order belongs to another user")
    if row is None or row["user_id"] != user:  # another user's order does not exist for this one
        if settings.has("errors.not-found") and _UUID.match(order_id):
            raise ApiError(400, f"Order '{order_id}' could not be loaded")
        raise ApiError(404, f"Order '{order_id}' not found")
    return _ok(request, _order_json(db, row))


# --- the app -------------------------------------------------------------------------------


def create_app(settings: SandboxSettings) -> Starlette:
    """Returns a fresh gaming-goods sandbox app; its state lives on `app.state`."""

    def render(exc: ApiError) -> dict[str, Any]:
        code = exc.code or _CODES.get(exc.status, "error")
        if settings.has("errors.code-convention"):
            code = code.upper()
        if settings.has("errors.envelope"):
            return {"message": exc.message, "status": exc.status}
        return {"error": {"code": code, "message": exc.message}}

    handlers = error_handlers(render)
    on_http_exception = handlers[HTTPException]

    async def on_router_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 404 and settings.has("errors.unknown-route"):
            return JSONResponse({"data": {}})
        if exc.status_code == 405 and settings.has("errors.method-not-allowed"):
            exc = HTTPException(405, exc.detail)  # drops the Allow header
        return await on_http_exception(request, exc)

    handlers[HTTPException] = on_router_error
    requests, window_s = settings.rate_limit or DEFAULT_RATE_LIMIT
    if settings.varies("higher-rate-limit"):
        requests *= 5  # apis.md: a server may advertise another limit than the documented one
    limiter = Middleware(
        RateLimitMiddleware,
        requests=requests,
        window_s=window_s,
        client_key=client_address,  # the seed: "100 requests per minute per IP address"
        exceeded_status=429,
        exceeded_body=lambda: render(ApiError(429, f"Too many requests: {requests} per {window_s:g} seconds")),
        faults=settings.faults,
    )
    routes = [
        Route(f"{BASE_PATH}/products", list_products, methods=["GET"]),
        Route(f"{BASE_PATH}/products/{{slug}}", get_product, methods=["GET"]),
        Route(f"{BASE_PATH}/search", search_products, methods=["GET"]),
        Route(f"{BASE_PATH}/categories", list_categories, methods=["GET"]),
        Route(f"{BASE_PATH}/brands", list_brands, methods=["GET"]),
        Route(f"{BASE_PATH}/orders", create_order, methods=["POST"]),
        Route(f"{BASE_PATH}/orders/{{order_id}}", get_order, methods=["GET"]),
    ]
    varied = Middleware(
        ResponseVariationMiddleware,
        trailing_slash=settings.varies("trailing-slash"),
        json_charset=settings.varies("json-charset"),
        extra_headers=EXTRA_HEADERS if settings.varies("extra-headers") else None,
    )
    app = Starlette(routes=routes, middleware=[varied, limiter], exception_handlers=handlers)
    app.router.redirect_slashes = False  # /products/ is an unknown route, not a 307
    db = Database(settings.db)
    create_tables(db)
    seed(db)
    catalog = load_catalog(db)
    app.state.settings = settings
    app.state.db = db
    app.state.catalog = catalog
    app.state.by_slug = {p.slug: p for p in catalog}
    app.state.by_id = {p.id: p for p in catalog}
    app.state.idempotency = IdempotencyStore(db, settings.faults)
    return app


def summary(app: Starlette) -> str:
    """One line about the seed data."""
    catalog: list[Product] = app.state.catalog
    orders = app.state.db.scalar("SELECT COUNT(*) FROM orders")
    return (
        f"gaming-goods: {len(catalog)} products in {len({p.category for p in catalog})} categories and "
        f"{len({p.brand for p in catalog})} brands, {orders} orders; KEYS['full'] is a JWT of user {DEMO_USER}"
    )
