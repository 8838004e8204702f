"""The goat API sandbox (seed 000; apis.md "goat (000)").

Bearer keys, cursor-paginated products, idempotent order creation with a pending payment,
payments, a webhook test, and `{"error": {"code", "message", "request_id"}}` errors. Two demo
keys: `full` (with `orders:write`) and `limited` (without, so `PATCH /orders/{id}` gets 403).
Module contract: see `conformance.sandbox`.
"""

from __future__ import annotations

from .app import BASE_PATH, DEFAULT_RATE_LIMIT, create_app, summary
from .data import FULL_KEY, LIMITED_KEY

__all__ = ["BASE_PATH", "DEFAULT_RATE_LIMIT", "FAULTS", "KEYS", "VARIATIONS", "create_app", "summary"]

KEYS = {"full": FULL_KEY, "limited": LIMITED_KEY}

# Conforming variations: reasonable behaviours the documents leave open; the suite must stay silent on each.
VARIATIONS = {
    "higher-rate-limit": "Enforces and advertises (X-RateLimit-*) five times the configured limit: the seed gives no"
    " figure and says limits 'may vary depending on account type'.",
    "higher-rate-limit-no-headers": "Enforces five times the configured limit and sends no X-RateLimit-* headers:"
    " the seed sends them only 'when available' (429 still carries Retry-After).",
    "json-charset": "Answers JSON as `application/json; charset=utf-8`: the seed says 'UTF-8 encoded JSON'.",
    "extra-fields": "Responses carry undocumented fields (`object` on every resource, a product's `price` and"
    " `currency`, `has_more` on lists): nothing promises the documented fields are the only ones.",
    "extra-headers": "Every answer carries undocumented headers (Cache-Control: no-store, X-Api-Version): nothing"
    " forbids them.",
    "trailing-slash": "Serves `/v1/products/` like `/v1/products`: no document says a trailing slash is another route.",
    "limit-above-max-refused": "`limit` above 100 answers 400 instead of being clamped: apis.md allows either.",
    "newest-first": "Lists products in descending id order: the seed promises no order, only a stable cursor walk.",
    "empty-category-as-absent": "An empty `category=` is read as no filter (all products): an empty value is"
    " 'not given', not a category.",
    "null-as-absent": "PATCH /orders/{id} reads a null `metadata`, `customer` or `notes` as not given (unchanged):"
    " null for an optional input means 'not given'.",
    "auth-before-routing": "An unknown route without a valid key answers 401, not 404: apis.md allows 401 there"
    " ('with valid credentials; without them 401 is also fine').",
    "whole-decimal-limit": "`limit=10.0` is read as 10 (`2.5` is still refused): JSON Schema counts 10.0 as an"
    " integer, and apis.md refuses only limits that are 'not an integer'.",
    "health-checks-a-sent-key": "GET /health works without a key but answers 401 to an invalid one: the documents"
    " make it public, and say nothing of a bad key sent to it.",
    "small-catalog": "Seeds 40 products in four categories (none in `in_game_currency`): the catalogue's size and"
    " shape are the account's, not the documents'.",
}

FAULTS = {
    # schema
    "schema.response-schema": "GET /products/{product_id} returns `metadata` as a JSON-encoded string, not an object.",
    "schema.status-code": "POST /orders answers 200 instead of 201.",
    "schema.content-type": "GET /health answers its JSON body as text/plain.",
    "schema.server-error": "GET /products answers 500 when `category` holds anything but a-z and '_'.",
    "schema.negative-data": "POST /orders accepts a `quantity` above 1000 (up to 1,000,000).",
    "schema.positive-data": "GET /products refuses an unknown `category` with 400 instead of an empty page.",
    "schema.stateful": "GET /payments/{payment_id} answers 404 for the payment of an order created through the API.",
    # errors
    "errors.envelope": 'Errors come as {"message", "status"} instead of {"error": {"code", "message", "request_id"}}.',
    "errors.not-found": "An unknown product, order or payment id answers 400 instead of 404.",
    "errors.unknown-route": "An unknown route answers 200 {} instead of a 404 envelope.",
    "errors.method-not-allowed": "A wrong method answers 405 without the Allow header.",
    "errors.bad-parameter": "A decimal `limit` (2.5, 10.0) is truncated and served instead of refused with 400.",
    "errors.bad-body": "A body that is not JSON is read as {}: PATCH /orders/{id} answers 200, the webhook test 202.",
    "errors.code-convention": "Error codes are UPPER_SNAKE (INVALID_REQUEST) instead of lower snake_case"
    " (idempotency_conflict excepted).",
    "errors.request-id": "request_id (body and X-Request-Id) is a UUID instead of req_ + upper-case letters/digits.",
    # pagination (listProducts)
    "pagination.no-duplicates": "Every page after the first starts with the previous page's last item.",
    "pagination.complete": "Every page after the first skips one item.",
    "pagination.default-limit": "Without `limit` a page holds 20 items, not 25.",
    "pagination.max-limit": "`limit` above 100 is honoured (limit=150 returns 150 items).",
    "pagination.invalid-limit": "`limit=0` and negative limits are served with the default page size.",
    "pagination.last-page": "The last page has a next_cursor (leading to an empty page) instead of null.",
    "pagination.bad-cursor": "An unknown or malformed cursor restarts the list (200) instead of a 400.",
    "pagination.stable-order": "Each walk (first page without cursor) gets its own random order of products.",
    # idempotency (implemented in base.IdempotencyStore; key-required here)
    "idempotency.replay-same-resource": "POST /orders ignores Idempotency-Key: a replay creates a new order.",
    "idempotency.replay-same-response": "A replay with the same Idempotency-Key answers the order with another"
    " payment_id.",
    "idempotency.conflict": "A reused Idempotency-Key with another body replays the first order (no 409).",
    "idempotency.concurrent": "Parallel POST /orders with one Idempotency-Key each create an order.",
    "idempotency.key-required": "POST /orders without Idempotency-Key creates an order instead of answering 400.",
    # rate limits (implemented in base.RateLimitMiddleware)
    "rate-limit.headers": "X-RateLimit-Limit and -Remaining without X-RateLimit-Reset (the headers are optional,"
    " but come all together or not at all).",
    "rate-limit.consistent": "X-RateLimit-Remaining never falls.",
    "rate-limit.exceeded": "Requests past the limit are served (never 429).",
    "rate-limit.recovery": "After the reset, a key that went over the limit stays blocked one more window.",
    # auth
    # transport
    "transport.invalid-response": "GET /products/{product_id} labels its JSON body text/html.",
    "auth.missing-credentials": "A request without Authorization is served as the full demo account.",
    "auth.invalid-credentials": "Any Bearer token is accepted (as the full demo account).",
    "auth.public-operations": "GET /health needs a key (401 without one).",
    "auth.permissions": "The limited key (no orders:write) may PATCH /orders/{order_id}.",
}
