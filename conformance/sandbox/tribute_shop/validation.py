"""Request validation of the Tribute Shop sandbox: create-order bodies and page offsets.

Length limits count UTF-16 code units, as the seed says ("max 100 UTF-16 characters"):
one emoji outside the Basic Multilingual Plane counts 2.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from conformance.sandbox.base import ApiError, SandboxSettings

__all__ = [
    "CURRENCIES",
    "DIGITS_RE",
    "INT64_MAX",
    "PERIODS",
    "STATUSES",
    "is_url",
    "start_from",
    "utf16_length",
    "valid_order",
]

CURRENCIES = ("rub", "eur", "usd")
PERIODS = ("onetime", "weekly", "monthly", "yearly")
STATUSES = ("pending", "paid", "failed", "cancelled")
INT64_MAX = 2**63 - 1
OPTIONAL = ("successUrl", "failUrl", "email", "savePaymentMethod", "comment", "customerId", "period")
LIMITS = {"title": 100, "description": 300, "customerId": 256}  # UTF-16 code units
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+$")
DIGITS_RE = re.compile(r"^[0-9]+$")


def start_from(raw: str | None, settings: SandboxSettings) -> int:
    """Returns the offset of the page; a malformed or negative startFrom is a 400."""
    if raw is None:
        return 0
    if DIGITS_RE.match(raw):
        return int(raw)
    if re.match(r"^-[0-9]+$", raw):
        if settings.has("errors.bad-parameter"):
            return 0
        raise ApiError(400, "startFrom must not be negative")
    if settings.has("pagination.bad-cursor"):
        return 0
    raise ApiError(400, "startFrom must be a non-negative integer")


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def valid_order(body: Any, shop: Any, settings: SandboxSettings) -> dict[str, Any]:
    """Returns the create-order fields with defaults; anything the seed forbids is a 400."""
    if not isinstance(body, dict):
        raise ApiError(400, "The body must be a JSON object")
    if settings.varies("null-as-unspecified"):  # "Defaults to onetime if not specified": null is not specifying
        body = {name: value for name, value in body.items() if not (value is None and name in OPTIONAL)}
    for name in ("amount", "currency", "title", "description"):
        if name not in body:
            raise ApiError(400, f"{name} is required")
    amount = body["amount"]
    if isinstance(amount, float) and amount.is_integer():
        amount = int(amount)  # JSON Schema counts 100.0 as an integer
    if not isinstance(amount, int) or isinstance(amount, bool) or not 1 <= amount <= INT64_MAX:
        raise ApiError(400, "amount must be an integer from 1 to 9223372036854775807")
    if amount > 99_999_999 and settings.has("schema.positive-data"):
        raise ApiError(400, "amount is too large")
    if body["currency"] not in CURRENCIES:
        raise ApiError(400, "currency must be one of rub, eur, usd")
    fields: dict[str, Any] = {"amount": amount, "currency": body["currency"]}
    for name in ("title", "description", "successUrl", "failUrl", "email", "comment", "customerId"):
        value = body.get(name)
        if name not in body and name not in ("title", "description"):
            fields[name] = None
            continue
        if not isinstance(value, str):
            raise ApiError(400, f"{name} must be a string")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ApiError(400, f"{name} is not valid Unicode text") from None
        limit = LIMITS.get(name)
        length = len(value) if settings.has("schema.negative-data") else utf16_length(value)
        if limit is not None and length > limit:
            raise ApiError(400, f"{name} must be at most {limit} UTF-16 code units")
        if name in ("successUrl", "failUrl") and not is_url(value):
            raise ApiError(400, f"{name} must be a valid URL")
        if name == "email" and not EMAIL_RE.match(value):
            raise ApiError(400, "email must be a valid email address")
        fields[name] = value
    save = body.get("savePaymentMethod", False)
    if not isinstance(save, bool):
        raise ApiError(400, "savePaymentMethod must be a boolean")
    period = body.get("period", "onetime")
    if period not in PERIODS:
        raise ApiError(400, "period must be one of onetime, weekly, monthly, yearly")
    if not shop["recurrent"] and not settings.has("auth.permissions"):
        if save:
            raise ApiError(400, "savePaymentMethod requires a recurrent shop")
        if period != "onetime":
            raise ApiError(400, "Recurring periods require a recurrent shop")
    fields.update(savePaymentMethod=save, period=period)
    return fields


def is_url(value: str) -> bool:
    if any(char.isspace() for char in value):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return bool(parts.scheme and parts.netloc)
