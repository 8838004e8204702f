"""Reading RetailCRM requests: PHP bracket parameters, form bodies, JSON-string fields, validation.

RetailCRM is a PHP application: `filter[ids][]=1&filter[ids][]=2` and the indexed form the PHP
client sends (`filter[ids][0]=1`) build the same tree, and POST bodies are
application/x-www-form-urlencoded with nested entities as JSON strings (`order=<json>`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl

from conformance.sandbox.base import ApiError

__all__ = [
    "DATE",
    "DATETIME",
    "bracket_tree",
    "form_tree",
    "integers",
    "invalid_parameter",
    "nested_json",
    "scalar",
    "strings",
    "validate_call_event",
    "validate_customer",
    "validate_order",
]

DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
INTEGER = re.compile(r"^-?\d+$")
SQLITE_MAX = 2**63 - 1
INPUT_ERROR = "Errors in the input parameters"
ENTITY_ERROR = "Errors in the entity format"

Tree = dict[str, Any]


def _key_parts(key: str) -> list[str]:
    match = re.fullmatch(r"([^\[\]]+)((?:\[[^\[\]]*\])*)", key)
    if match is None:
        return [key]
    return [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))]


def bracket_tree(pairs: Iterable[tuple[str, str]]) -> Tree:
    """Returns the parameter tree PHP builds from `pairs` (`a[b][]=1` → {"a": {"b": {"0": "1"}}})."""
    root: Tree = {}
    for key, value in pairs:
        node = root
        parts = _key_parts(key)
        for position, part in enumerate(parts):
            if part == "":
                part = str(len(node))  # `[]` appends
            if position == len(parts) - 1:
                node[part] = value
            else:
                child = node.get(part)
                if not isinstance(child, dict):
                    child = node[part] = {}
                node = child
    return root


def form_tree(body: bytes, content_type: str | None) -> Tree:
    """Returns the tree of an application/x-www-form-urlencoded body.

    Like PHP's `$_POST`, other media types (JSON, multipart) leave the form empty.
    """
    media_type = (content_type or "application/x-www-form-urlencoded").split(";")[0].strip().lower()
    if media_type != "application/x-www-form-urlencoded" or not body:
        return {}
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "The request body is not valid UTF-8") from None
    return bracket_tree(parse_qsl(text, keep_blank_values=True))


def scalar(tree: Tree, name: str) -> str | None:
    """Returns a plain parameter; a bracketed one under that name is a 400."""
    value = tree.get(name)
    if value is None or isinstance(value, str):
        return value
    raise invalid_parameter(name, "This value should be a plain string.")


def strings(tree: Tree, *path: str) -> list[str]:
    """Returns the values of a list parameter (`filter[ids][]`, `ids[]`), empty when absent."""
    node: Any = tree
    for part in path:
        if not isinstance(node, dict):
            return []
        node = node.get(part)
    if node is None:
        return []
    if isinstance(node, str):
        return [node]
    return [value for value in node.values() if isinstance(value, str)]


def integers(tree: Tree, *path: str, lenient: bool = False) -> list[int]:
    """Returns the values of a list parameter of integers; a non-integer is a 400 (or skipped if lenient)."""
    values = []
    for value in strings(tree, *path):
        if INTEGER.match(value.strip()):
            number = int(value)
            values.append(number if abs(number) <= SQLITE_MAX else -1)  # beyond SQLite's range: matches nothing
        elif not lenient:
            name = path[0] + "".join(f"[{part}]" for part in path[1:])
            raise invalid_parameter(name, f'"{value}" is not an integer.')
    return values


def invalid_parameter(name: str, text: str) -> ApiError:
    return ApiError(400, INPUT_ERROR, details={name: text})


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # PHP's json_decode refuses NaN and Infinity too


def nested_json(form: Tree, name: str, *, lenient: bool = False) -> dict[str, Any] | None:
    """Returns the entity a form field holds as a JSON string.

    A missing field or one that is not a JSON object is a 400; `lenient` (the errors.bad-body
    fault) reads text that is not JSON as `{}` and returns None to say so.
    """
    raw = form.get(name)
    if raw is None or raw == "":
        raise ApiError(400, f"Parameter '{name}' is missing")
    if not isinstance(raw, str):
        raise ApiError(
            400,
            f"Parameter '{name}' must be a JSON string",
            details={name: "Nested data is passed as a JSON string, not as form brackets."},
        )
    try:
        value = json.loads(raw, parse_constant=_no_constants)
    except ValueError:
        if lenient:
            return None
        raise ApiError(400, f"Parameter '{name}' is not valid JSON", details={name: "Invalid JSON."}) from None
    if not isinstance(value, dict):
        raise ApiError(400, f"Parameter '{name}' must be a JSON object", details={name: "A JSON object is expected."})
    return value


# --- entity validation --------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_integer(value: Any) -> bool:
    return _is_number(value) and float(value).is_integer()


class _Errors(dict[str, str]):
    def string(self, data: dict[str, Any], key: str, prefix: str = "") -> None:
        if key in data and not isinstance(data[key], str):
            self[prefix + key] = "This value should be of type string."

    def boolean(self, data: dict[str, Any], key: str) -> None:
        if key in data and not isinstance(data[key], bool):
            self[key] = "This value should be of type bool."

    def number(self, data: dict[str, Any], key: str, prefix: str = "") -> None:
        if key in data and not _is_number(data[key]):
            self[prefix + key] = "This value should be of type numeric."

    def pattern(self, data: dict[str, Any], key: str, pattern: re.Pattern[str], what: str) -> None:
        if key in data and not (isinstance(data[key], str) and pattern.match(data[key])):
            self[key] = f"This value is not a valid {what}."

    def object(self, data: dict[str, Any], key: str, prefix: str = "") -> bool:
        if key not in data:
            return False
        if not isinstance(data[key], dict):
            self[prefix + key] = "This value should be of type object."
            return False
        return True

    def raise_if_any(self) -> None:
        if self:
            raise ApiError(400, ENTITY_ERROR, details=dict(self))


ORDER_STRINGS = (
    "externalId",
    "number",
    "status",
    "orderMethod",
    "orderType",
    "firstName",
    "lastName",
    "patronymic",
    "phone",
    "additionalPhone",
    "email",
    "managerComment",
    "customerComment",
    "countryIso",
)


def validate_order(data: dict[str, Any], statuses: Iterable[str]) -> None:
    """Raises a 400 naming every field of an `order` JSON that breaks its documented type."""
    errors = _Errors()
    for key in ORDER_STRINGS:
        errors.string(data, key)
    errors.pattern(data, "createdAt", DATETIME, "datetime (Y-m-d H:i:s)")
    errors.pattern(data, "shipmentDate", DATE, "date (Y-m-d)")
    if isinstance(data.get("status"), str) and data["status"] not in set(statuses):
        errors["status"] = f'Status "{data["status"]}" does not exist.'
    if errors.object(data, "customer"):
        customer = data["customer"]
        if "id" in customer and not _is_integer(customer["id"]):
            errors["customer[id]"] = "This value should be of type integer."
        errors.string(customer, "externalId", "customer[")
    if "items" in data:
        if not isinstance(data["items"], list):
            errors["items"] = "This value should be of type array."
        else:
            for position, item in enumerate(data["items"]):
                where = f"items[{position}]"
                if not isinstance(item, dict):
                    errors[where] = "This value should be of type object."
                    continue
                errors.number(item, "initialPrice", where + ".")
                errors.string(item, "productName", where + ".")
                if "quantity" in item and not (_is_number(item["quantity"]) and item["quantity"] > 0):
                    errors[where + ".quantity"] = "This value should be greater than 0."
                if errors.object(item, "offer", where + "."):
                    offer = item["offer"]
                    if "id" in offer and not _is_integer(offer["id"]):
                        errors[where + ".offer.id"] = "This value should be of type integer."
                    errors.string(offer, "externalId", where + ".offer.")
                    errors.string(offer, "xmlId", where + ".offer.")
    if errors.object(data, "delivery"):
        errors.string(data["delivery"], "code", "delivery.")
        errors.number(data["delivery"], "cost", "delivery.")
        errors.object(data["delivery"], "address", "delivery.")
    _php_map(data, "customFields")
    errors.object(data, "customFields")
    errors.raise_if_any()


def _php_map(data: dict[str, Any], key: str) -> None:
    """Reads an empty array as an empty map: PHP cannot tell `[]` from `{}` (the official clients send `[]`)."""
    if data.get(key) == []:
        data[key] = {}


def validate_customer(data: dict[str, Any]) -> None:
    """Raises a 400 naming every field of a `customer` JSON that breaks its documented type."""
    errors = _Errors()
    for key in ("externalId", "firstName", "lastName", "patronymic", "email"):
        errors.string(data, key)
    for key in ("vip", "bad"):
        errors.boolean(data, key)
    if "sex" in data and data["sex"] not in ("male", "female"):
        errors["sex"] = "The value you selected is not a valid choice (male, female)."
    errors.pattern(data, "birthday", DATE, "date (Y-m-d)")
    errors.pattern(data, "createdAt", DATETIME, "datetime (Y-m-d H:i:s)")
    if "phones" in data:
        phones = data["phones"]
        if not isinstance(phones, list) or not all(isinstance(p, dict) for p in phones):
            errors["phones"] = "This value should be a list of objects."
        else:
            for position, phone in enumerate(phones):
                errors.string(phone, "number", f"phones[{position}].")
    errors.object(data, "address")
    _php_map(data, "customFields")
    errors.object(data, "customFields")
    errors.raise_if_any()


def validate_call_event(data: dict[str, Any]) -> None:
    """Raises a 400 unless the event has a phone and a known type (and well-typed extras)."""
    errors = _Errors()
    if not isinstance(data.get("phone"), str) or not data["phone"]:
        errors["phone"] = "This value should not be blank."
    if data.get("type") not in ("in", "out", "hangup"):
        errors["type"] = "The value you selected is not a valid choice (in, out, hangup)."
    for key in ("site", "callExternalId", "hangupStatus", "externalPhone"):
        errors.string(data, key)
    if "codes" in data and not (isinstance(data["codes"], list) and all(isinstance(c, str) for c in data["codes"])):
        errors["codes"] = "This value should be a list of strings."
    if "userIds" in data and not (isinstance(data["userIds"], list) and all(_is_integer(u) for u in data["userIds"])):
        errors["userIds"] = "This value should be a list of integers."
    errors.raise_if_any()
