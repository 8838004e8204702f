"""Reading storefront requests: the Bearer key, page parameters, JSON bodies and ISO 8601 dates.

Every refusal is an ApiError: `INVALID_PARAMETER` for query and path parameters, `INVALID_REQUEST`
for bodies (apis.md). The page helper also carries the pagination faults.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from conformance.sandbox.base import ApiError, Database, read_json, settings_of
from conformance.sandbox.storefront.data import iso

__all__ = [
    "ApiJSON",
    "authenticate",
    "bad_body",
    "bad_param",
    "date_param",
    "encodable",
    "exists",
    "integer",
    "now",
    "page",
    "page_params",
    "read_body",
    "shown",
    "string_field",
]

DEFAULT_LIMIT, MAX_LIMIT = 20, 100


class ApiJSON(JSONResponse):
    """JSON with non-ASCII escaped, so echoed strings with lone surrogates still encode."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, allow_nan=False, separators=(",", ":")).encode("ascii")


def authenticate(request: Request) -> None:
    """Checks the Bearer key (before any parameter: apis.md)."""
    settings = settings_of(request)
    header = request.headers.get("authorization", "").strip()
    if not header:
        if settings.has("auth.missing-credentials"):
            return
        raise ApiError(
            401,
            "Authentication is missing: send the API key as a Bearer token in the Authorization header.",
            "UNAUTHORIZED",
            details="Authorization (Bearer token)",
        )
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip() in request.app.state.keys:
        return
    if not settings.has("auth.invalid-credentials"):
        raise ApiError(
            401,
            "Authentication failed: the API key is not valid.",
            "UNAUTHORIZED",
            details="Authorization (Bearer token)",
        )


def shown(value: str) -> str:
    """A client string made safe to quote in a message: short, and encodable."""
    return value[:64].encode("utf-8", "backslashreplace").decode("utf-8")


def bad_param(name: str, message: str, kind: str) -> ApiError:
    return ApiError(400, message, "INVALID_PARAMETER", details=f"{name} ({kind})")


def bad_body(name: str, message: str, kind: str) -> ApiError:
    return ApiError(400, message, "INVALID_REQUEST", details=f"{name} ({kind})")


def _int_param(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not re.fullmatch(r"-?[0-9]+", raw):
        raise bad_param(name, f"The '{name}' parameter must be an integer.", "integer")
    digits = raw.lstrip("-")
    value = int(digits) if len(digits) <= 18 else 10**18  # saturate huge values
    return -value if raw.startswith("-") else value


def page_params(request: Request) -> tuple[int, int]:
    settings = settings_of(request)
    default = 10 if settings.has("pagination.default-limit") else DEFAULT_LIMIT
    raw_limit = request.query_params.get("limit")
    if settings.has("pagination.invalid-limit") and raw_limit is not None and not re.fullmatch(r"-?[0-9]+", raw_limit):
        raw_limit = None  # the fault: a limit that is not an integer is ignored instead of refused
    limit = default if raw_limit is None else _int_param(request, "limit", default)
    if limit < 1:
        if settings.varies("lenient-paging"):
            limit = default
        else:
            raise bad_param("limit", "The 'limit' parameter must be at least 1.", "integer, 1-100")
    if limit > MAX_LIMIT:
        if not settings.has("pagination.max-limit"):
            raise bad_param("limit", f"The 'limit' parameter must not exceed {MAX_LIMIT}.", "integer, 1-100")
        limit = min(limit, 1000)
    offset = _int_param(request, "offset", 0)
    if offset < 0 and settings.varies("lenient-paging"):
        offset = 0
    if offset < 0:
        raise bad_param("offset", "The 'offset' parameter must not be negative.", "integer, >= 0")
    return limit, offset


def page(
    request: Request,
    total: int,
    fetch: Callable[[int, int], list[dict[str, Any]]],
    limit: int,
    offset: int,
    *,
    media_type: str | None = None,
) -> Response:
    """Answers one page of a list: a bare array plus X-Total-Count, X-Limit and X-Offset."""
    settings = settings_of(request)
    start = offset
    if offset > 0 and settings.has("pagination.no-duplicates"):
        start = offset - 1
    if offset > 0 and settings.has("pagination.complete"):
        start = offset + 1
    if settings.has("pagination.last-page") and 0 < total <= offset:
        raise bad_param("offset", "The 'offset' parameter is beyond the end of the list.", "integer")
    items = fetch(limit, min(start, 2**62)) if limit > 0 else []
    if settings.has("pagination.stable-order"):
        request.app.state.random.shuffle(items)
    headers = {
        "X-Total-Count": str(total + 1 if settings.has("pagination.totals") else total),
        "X-Limit": str(limit),
        "X-Offset": str(0 if settings.has("pagination.headers") else offset),
    }
    if settings.has("schema.response-headers") and "offset" not in request.query_params:
        del headers["X-Offset"]
    if media_type:
        return Response(json.dumps(items), media_type=media_type, headers=headers)
    return ApiJSON(items, headers=headers)


def encodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def exists(db: Database, table: str, key: str) -> bool:
    return encodable(key) and db.one(f"SELECT 1 FROM {table} WHERE id = ?", (key,)) is not None


async def read_body(request: Request) -> dict[str, Any]:
    try:
        body = await read_json(request)
    except ApiError:
        status = 422 if settings_of(request).has("errors.bad-body") else 400
        raise ApiError(
            status, "The request body is not valid JSON.", "INVALID_REQUEST", details="body (JSON object)"
        ) from None
    if not isinstance(body, dict):
        raise bad_body("body", "The request body must be a JSON object.", "JSON object")
    return body


def string_field(body: dict[str, Any], name: str, *, required: bool = True, where: str = "") -> str | None:
    value = body.get(name)
    label = f"{where}{name}"
    if value is None and name not in body and not required:
        return None
    if value is None and name not in body:
        raise bad_body(label, f"The '{label}' field is required.", "string")
    if not isinstance(value, str):
        raise bad_body(label, f"The '{label}' field must be a string.", "string")
    return value


def integer(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def now() -> str:
    return iso(datetime.now(UTC))


# --- dates of /logs ---------------------------------------------------------------------------

_DATE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?(Z|z|[+\- ]\d{2}(?::?\d{2})?)?)?"
)


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 in the proleptic Gregorian calendar (any year, no datetime limits)."""
    year -= month <= 2
    era = (year if year >= 0 else year - 399) // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468


def _parse_date(raw: str) -> tuple[float, bool] | None:
    """Returns (Unix seconds, whether only a date was given); None when it does not parse."""
    match = _DATE.fullmatch(raw.strip())
    if not match:
        return None
    year, month, day = int(match[1]), int(match[2]), int(match[3])
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    days_in_month = [31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    if not 1 <= month <= 12 or not 1 <= day <= days_in_month[month - 1]:
        return None
    seconds = float(_days_from_civil(year, month, day) * 86400)
    if match[4] is None:
        return seconds, True
    hour, minute, second = int(match[4]), int(match[5]), int(match[6] or 0)
    if hour > 23 or minute > 59 or second > 60:
        return None
    seconds += hour * 3600 + minute * 60 + second + (float("0." + match[7]) if match[7] else 0.0)
    zone = match[8]
    if zone and zone not in ("Z", "z"):
        zone_hours, zone_minutes = int(zone[1:3]), int(zone[-2:]) if len(zone) > 3 else 0
        if zone_hours > 23 or zone_minutes > 59:
            return None
        sign = -1 if zone[0] == "-" else 1  # "+" arrives as " " when a client forgets to encode it
        seconds -= sign * (zone_hours * 3600 + zone_minutes * 60)
    return seconds, False


def date_param(request: Request, name: str) -> tuple[float, bool] | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    parsed = _parse_date(raw)
    if parsed is None and not settings_of(request).has("errors.bad-parameter"):
        raise bad_param(name, f"The '{name}' parameter must be an ISO 8601 date or date-time.", "datetime, ISO 8601")
    return parsed
