"""The gaming-goods public API sandbox (seed 001 up to "Partner API"; apis.md "gaming-goods").

Catalog, search, categories and brands are public; orders need a JWT Bearer token. The catalog
shows prices in decimal euros, orders in integer cents, as the seed does. Module contract: see
`conformance.sandbox`.
"""

from __future__ import annotations

from .app import BASE_PATH, DEFAULT_RATE_LIMIT, create_app, summary
from .tokens import DEMO_TOKEN

__all__ = ["BASE_PATH", "DEFAULT_RATE_LIMIT", "FAULTS", "KEYS", "VARIATIONS", "create_app", "summary"]

KEYS = {"full": DEMO_TOKEN}
"""A JWT (HS256, no expiry) of the demo user; the sandbox verifies every token's signature."""

# Conforming variations: reasonable behaviours the documents leave open; the suite must stay silent on each.
VARIATIONS = {
    "higher-rate-limit": "Enforces and advertises (X-RateLimit-*) five times the configured limit: apis.md lets a"
    " server advertise another limit than the documented 100/minute.",
    "json-charset": "Answers JSON as `application/json; charset=utf-8`: the seed only says 'JSON responses'.",
    "extra-fields": "Search hits carry the catalog's fields too (category, brand, currency, image_url) and"
    " categories and brands a `slug`: nothing promises the documented fields are the only ones.",
    "extra-headers": "Every answer carries undocumented headers (Cache-Control: no-store, X-Api-Version): nothing"
    " forbids them.",
    "trailing-slash": "Serves `/api/v1/products/` like `/api/v1/products`: no document makes it another route.",
    "page-size-clamped": "`page_size` above 100 is served as 100 (echoed as 100) instead of refused: apis.md accepts"
    " 'a 400 with the error envelope, or at most 100 items'.",
    "empty-paging-as-absent": "An empty `page=` or `page_size=` is read as not given (the default): an empty value"
    " is 'not given'; apis.md pins 400 only for `page=0` and `page=abc`.",
    "search-catalog-order": "Search hits come in catalog order, not names first: the seed promises no ranking.",
    "empty-category": "GET /categories also lists a category with no products (`product_count: 0`), whose product"
    " list is empty: the seed says 'all categories with the number of products in each'.",
    "malformed-order-id-400": "GET /orders/{order_id} answers 400 for an id that is not a UUID (404 stays for an"
    " unknown UUID): the documents do not say how a malformed id is refused.",
    "alphabetical-lists": "GET /categories and GET /brands list by name, not by product count: the seed promises"
    " no order.",
    "case-sensitive-filters": "The `category` and `brand` filters match exactly (`steam` finds nothing, `Steam`"
    " finds the Steam products): the seed does not say filters ignore case.",
    "invalid-token-403": "A token that is sent but not valid (bad signature, expired, malformed) answers 403; a"
    " missing one still 401: the seed names no status for either.",
    "foreign-order-403": "Another user's order answers 403 (it exists, but is not yours) instead of 404: the"
    " seed does not say how a foreign order is refused.",
}

FAULTS = {
    "errors.business-rule": "POST /orders with an unknown product_id orders the first catalogue product instead of"
    " answering 400.",
    # schema
    "schema.response-schema": 'GET /products/{slug} returns `price` as a string ("19.99").',
    "schema.status-code": "POST /orders answers 200 instead of 201.",
    "schema.content-type": "GET /categories answers its JSON body as text/plain.",
    "schema.server-error": "GET /search answers 500 when `q` holds anything but letters, digits, spaces, '-'.",
    "schema.negative-data": "POST /orders accepts any `payment_method` (outside balance/card, or missing).",
    "schema.positive-data": "GET /products refuses a `brand` of more than one word (the seed's `CD Projekt`,"
    " `Electronic Arts`) with 400.",
    "schema.stateful": "GET /orders/{order_id} answers 404 for every order created through POST /orders.",
    # errors
    "errors.envelope": 'Errors come as {"message", "status"} instead of {"error": {"code", "message"}}.',
    "errors.not-found": "GET /orders/{order_id} answers 400 (not 404) for an unknown well-formed UUID.",
    "errors.unknown-route": 'An unknown route answers 200 {"data": {}} instead of a 404 envelope.',
    "errors.method-not-allowed": "A wrong method answers 405 without the Allow header.",
    "errors.bad-parameter": "GET /search without `q` (or with a blank one) answers 200 with an empty page.",
    "errors.bad-body": "POST /orders with a body that is not JSON answers 422 instead of 400.",
    "errors.code-convention": "Error codes are UPPER_SNAKE (INVALID_REQUEST) instead of lower snake_case.",
    # pagination (listProducts and searchProducts)
    "pagination.no-duplicates": "Every page after the first starts with the previous page's last item.",
    "pagination.complete": "Every page after the first skips one item.",
    "pagination.default-limit": "Without `page_size` a page holds 10 items, not 20.",
    "pagination.max-limit": "`page_size` above 100 is honoured (page_size=150 returns 150 items).",
    "pagination.invalid-limit": "`page_size=0` is accepted (as the default) instead of refused with 400.",
    "pagination.totals": "`total` is one more than the real count on every page after the first.",
    "pagination.last-page": "A page past the end repeats the last page instead of being empty.",
    "pagination.stable-order": "The items of each page come in a random order on every request.",
    # idempotency (implemented in base.IdempotencyStore)
    "idempotency.replay-same-resource": "POST /orders ignores Idempotency-Key: a replay creates a new order.",
    "idempotency.replay-same-response": "A replay with the same Idempotency-Key answers the order with another"
    " payment_url.",
    "idempotency.conflict": "A reused Idempotency-Key with another body replays the first order (no 409).",
    "idempotency.concurrent": "Parallel POST /orders with one Idempotency-Key each create an order.",
    # rate limits (implemented in base.RateLimitMiddleware)
    "rate-limit.headers": "No X-RateLimit-* headers.",
    "rate-limit.consistent": "X-RateLimit-Remaining never falls.",
    "rate-limit.exceeded": "Requests past the limit are served (never 429).",
    "rate-limit.recovery": "After the reset, a client that went over the limit stays blocked one more window.",
    # auth
    "auth.missing-credentials": "POST /orders and GET /orders/{order_id} work without a token (as the demo user).",
    "auth.invalid-credentials": "Any Bearer token is accepted (as the demo user).",
    "auth.public-operations": "GET /brands needs a token (401 without one).",
}
