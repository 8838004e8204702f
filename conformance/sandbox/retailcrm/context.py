"""What every RetailCRM handler does first: read the request, check the key, read common parameters.

`call(request)` reads the query and form trees (PHP bracket syntax) and checks the key: credentials
come before parameters. Pagination (`page`, `limit` → `pagination{...}`) is shared by every list.
Faults are read from `settings.has(rule_id)` where the behaviour they break lives.
"""

from __future__ import annotations

import json
import math
import random
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from conformance.sandbox.base import ApiError, Database, SandboxSettings
from conformance.sandbox.retailcrm.data import format_datetime
from conformance.sandbox.retailcrm.params import (
    ENTITY_ERROR,
    INTEGER,
    Tree,
    bracket_tree,
    form_tree,
    invalid_parameter,
    scalar,
    strings,
)

__all__ = [
    "Call",
    "by_param",
    "call",
    "entity",
    "filtered_page",
    "find",
    "in_clause",
    "listing_rows",
    "not_found",
    "now",
    "ok",
    "page_request",
    "paginated",
    "site_for_create",
    "site_param",
    "unique_external_id",
]

PAGE_SIZES = (20, 50, 100)
DEFAULT_PAGE_SIZE = 20
MISSING_KEY = '"apiKey" is missing.'
WRONG_KEY = 'Wrong "apiKey" value.'
ACCESS_DENIED = "Access denied."
NOT_FOUND = "Not found"


@dataclass
class Call:
    """One authenticated request: its parameter trees, the sites its key reaches, the app's state."""

    request: Request
    query: Tree
    form: Tree
    sites: tuple[str, ...]
    settings: SandboxSettings
    db: Database

    def has(self, fault: str) -> bool:
        return self.settings.has(fault)

    def param(self, name: str) -> str | None:
        """A plain parameter from the form (POST) or the query string, as PHP's `$request->get` reads it."""
        value = scalar(self.form, name)
        return value if value is not None else scalar(self.query, name)


async def call(request: Request) -> Call:
    """Reads the request and checks its key; raises the 401 envelope when the key is missing or wrong."""
    state = request.app.state
    query = bracket_tree(request.query_params.multi_items())
    form: Tree = {}
    deferred: ApiError | None = None
    if request.method == "POST":
        try:
            form = form_tree(await request.body(), request.headers.get("content-type"))
        except ApiError as exc:  # reported after the key is checked
            deferred = exc
    sites = authenticate(request, query, form, state.settings, state.key_sites)
    if deferred is not None:
        raise deferred
    return Call(request, query, form, sites, state.settings, state.db)


def authenticate(
    request: Request, query: Tree, form: Tree, settings: SandboxSettings, key_sites: dict[str, tuple[str, ...]]
) -> tuple[str, ...]:
    """Returns the sites the request's key reaches.

    "Authorisation is performed using an API key, which is passed in the GET|POST - parameter
    apiKey" or "via the header X-API-KEY". The first present of query, form and header is used.
    """
    full = max(key_sites.values(), key=len)
    candidates = [query.get("apiKey"), request.headers.get("x-api-key")]
    if not settings.has("auth.key-locations"):  # the fault ignores the form field
        candidates.insert(1, form.get("apiKey"))
    key = next((value for value in candidates if isinstance(value, str) and value), None)
    status = 403 if settings.varies("auth-errors-403") else 401
    if key is None:
        if settings.has("auth.missing-credentials"):
            return full
        raise ApiError(status, MISSING_KEY)
    if key not in key_sites:
        if settings.has("auth.invalid-credentials"):
            return full
        raise ApiError(status, WRONG_KEY)
    return key_sites[key]


def ok(payload: dict[str, Any], status: int = 200) -> JSONResponse:
    return JSONResponse({"success": True, **payload}, status_code=status)


PHP_MAPS = ("customFields", "payments", "properties")
"""Maps that PHP's json_encode writes as `[]` when empty (the `empty-maps-as-arrays` variation)."""
EXTRA_FIELDS = {"privilegeType": "none", "managerId": 17, "contragentType": "individual"}
"""Undocumented fields of the `extra-response-fields` variation (real RetailCRM answers many more)."""


def entity(c: Call, stored: str | dict[str, Any]) -> dict[str, Any]:
    """An order, customer or product as answered: the stored JSON, shaped by this instance's variations."""
    value: dict[str, Any] = json.loads(stored) if isinstance(stored, str) else dict(stored)
    if c.settings.varies("extra-response-fields"):
        value = {**value, **{key: extra for key, extra in EXTRA_FIELDS.items() if key not in value}}
    if c.settings.varies("empty-maps-as-arrays"):
        value = _php_arrays(value)
    return value


def _php_arrays(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: [] if k in PHP_MAPS and v == {} else _php_arrays(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_php_arrays(item) for item in value]
    return value


def now() -> str:
    return format_datetime(datetime.now(UTC).replace(tzinfo=None))


def not_found(c: Call, what: str) -> ApiError:
    status = 400 if c.has("errors.not-found") else 404
    return ApiError(status, f"{what} not found" if c.has("errors.code-convention") else NOT_FOUND)


def by_param(c: Call) -> str:
    by = c.param("by")
    if by is None:
        return "externalId"
    if by not in ("externalId", "id"):
        if c.has("errors.bad-parameter"):
            raise ApiError(404, NOT_FOUND)
        raise invalid_parameter("by", "The value you selected is not a valid choice (externalId, id).")
    return by


def site_param(c: Call) -> str | None:
    site = c.param("site")
    if site is None:
        return None
    if site == "":
        if c.settings.varies("empty-site-as-absent"):
            return None  # PHP's `if ($site)` reads an empty value as no value
        raise invalid_parameter("site", "This value should not be blank.")
    if site not in c.sites:
        raise ApiError(403, ACCESS_DENIED)
    return site


def site_for_create(c: Call) -> str:
    """The site a new entity goes to: named, or the key's only site."""
    site = site_param(c)
    if site is not None:
        return site
    if len(c.sites) == 1:
        return c.sites[0]
    # "If the API key provides access to the data of several stores, then in some API methods it is
    # additionally required to specify the symbolic code of the store in the GET|POST parameter site."
    raise ApiError(400, "Parameter 'site' is missing")


def find(c: Call, table: str, ref: str, by: str, site: str | None) -> sqlite3.Row | None:
    if by == "id":
        if not INTEGER.match(ref) or len(ref) > 18:
            return None
        row = c.db.one(f"SELECT * FROM {table} WHERE id = ?", (int(ref),))
    else:
        row = c.db.one(f"SELECT * FROM {table} WHERE external_id = ?", (ref,))
    if row is None or row["site"] not in ((site,) if site else c.sites):
        return None
    return row


def in_clause(column: str, values: list[Any]) -> tuple[str, list[Any]]:
    return f"{column} IN ({', '.join('?' for _ in values)})", list(values)


# --- pagination ----------------------------------------------------------------------------


def page_request(c: Call) -> tuple[int, int]:
    """Returns (limit, page): limit one of 20, 50, 100 (default 20), page ≥ 1 (default 1)."""
    raw = scalar(c.query, "limit")
    if raw is None:
        limit = 50 if c.has("pagination.default-limit") else DEFAULT_PAGE_SIZE
    else:
        if not INTEGER.match(raw.strip()):
            raise invalid_parameter("limit", "This value should be of type integer.")
        limit = int(raw)
        if limit not in PAGE_SIZES:
            if c.has("pagination.invalid-limit") and limit == 0:
                limit = DEFAULT_PAGE_SIZE
            elif c.has("pagination.max-limit") and 100 < limit <= 1000 and limit != 250:
                pass  # honoured; 250 is still refused so that pagination.invalid-limit keeps passing
            else:
                raise invalid_parameter("limit", "The value you selected is not a valid choice (20, 50, 100).")
    raw = scalar(c.query, "page")
    page = 1
    if raw is not None:
        if not INTEGER.match(raw.strip()) or int(raw) < 1:
            raise invalid_parameter("page", "This value should be a positive integer.")
        page = int(raw)
    return limit, page


def paginated(c: Call, key: str, rows: list[sqlite3.Row], limit: int, page: int) -> JSONResponse:
    """Answers one page of `rows` (ascending id) with RetailCRM's pagination block."""
    rows = list(rows)
    if c.has("pagination.sort-order"):
        rows.reverse()
    total = len(rows)
    page_count = max(1, math.ceil(total / limit))
    start = (page - 1) * limit
    if c.has("pagination.complete"):
        start += page - 1  # one item skipped at every page boundary
    if c.has("pagination.last-page") and total and start >= total:
        start = (page_count - 1) * limit  # a page past the end repeats the last page
    chunk = rows[start : start + limit]
    if c.has("pagination.no-duplicates") and page > 1 and 0 < len(chunk) < limit:
        chunk = [rows[start - 1], *chunk]  # the last page repeats the previous page's last item
    items = [entity(c, row["body"]) for row in chunk]
    if c.has("pagination.stable-order"):
        random.Random().shuffle(items)
    # the seed's own words: "limit - the number of items in the current response"
    echoed = len(items) if c.settings.varies("limit-counts-items") else limit
    pagination = {
        "limit": DEFAULT_PAGE_SIZE if c.has("pagination.totals") else echoed,
        "totalCount": total,
        "currentPage": page,
        "totalPageCount": page_count,
    }
    return ok({"pagination": pagination, key: items})


def listing_rows(
    c: Call, table: str, conditions: list[str], params: list[Any], sites: list[str] | None = None
) -> list[sqlite3.Row]:
    reachable = [site for site in c.sites if not sites or site in sites]
    if not reachable:
        return []
    clause, values = in_clause("site", reachable)
    where = " AND ".join([clause, *conditions])
    return c.db.all(f"SELECT id, body FROM {table} WHERE {where} ORDER BY id", [*values, *params])


def filtered_page(c: Call, table: str, filters: list[tuple[str, list[Any]]], limit: int, page: int) -> JSONResponse:
    """Answers one page of `table` (also the list's key) in filter[sites], narrowed by each (column, values).

    customers and orders filter alike: a filter with no values is not given; every given one must hold.
    """
    conditions: list[str] = []
    params: list[Any] = []
    for column, values in filters:
        if values:
            clause, more = in_clause(column, values)
            conditions.append(clause)
            params += more
    rows = listing_rows(c, table, conditions, params, strings(c.query, "filter", "sites"))
    return paginated(c, table, rows, limit, page)


def unique_external_id(c: Call, table: str, external_id: Any, what: str, except_id: int | None = None) -> None:
    if external_id is None:
        return
    row = c.db.one(f"SELECT id FROM {table} WHERE external_id = ?", (external_id,))
    if row is not None and row["id"] != except_id:
        raise ApiError(
            400, ENTITY_ERROR, details={"externalId": f'{what} with externalId "{external_id}" already exists.'}
        )
