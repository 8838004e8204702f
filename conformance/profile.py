"""A spec and its `x-conformance` profile, loaded for the checks.

The profile says what an API promises beyond its schemas; `Profile` gives the checks typed
access to it and to the spec's operations, and `resolve_request` turns a profile request
recipe into a concrete request against any server.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from conformance.specfiles import load_spec, spec_path

__all__ = [
    "HTTP_METHODS",
    "Operation",
    "Profile",
    "ProfileError",
    "load_profile",
    "profile_schema",
    "resolve_pointer",
    "schema_validator",
]

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


class ProfileError(Exception):
    """A spec or profile the suite cannot use; the message names the file and JSON pointer."""


@dataclass(frozen=True)
class Operation:
    """One operation of the spec."""

    operation_id: str
    method: str  # upper case
    path: str  # template, relative to the base URL
    definition: dict[str, Any]
    parameters: tuple[dict[str, Any], ...]

    def param(self, name: str, location: str | None = None) -> dict[str, Any] | None:
        for parameter in self.parameters:
            if parameter.get("name") == name and (location is None or parameter.get("in") == location):
                return parameter
        return None

    @property
    def path_params(self) -> list[str]:
        return re.findall(r"{([^}]+)}", self.path)

    @property
    def is_public(self) -> bool:
        return self.definition.get("security") == []

    @property
    def request_media_types(self) -> list[str]:
        body = self.definition.get("requestBody") or {}
        return list((body.get("content") or {}).keys())

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"


@cache
def profile_schema() -> dict[str, Any]:
    """Returns the JSON Schema of x-conformance profiles."""
    path = Path(__file__).with_name("profile.schema.yaml")
    with open(path, encoding="utf-8") as handle:
        schema: dict[str, Any] = yaml.safe_load(handle)
    return schema


SPEC_URI = "urn:conformance:spec"


def schema_validator(spec: dict[str, Any], pointer: str) -> Any:
    """Returns a JSON Schema validator for the schema at `pointer` inside `spec` (refs resolved)."""
    import jsonschema
    from referencing import Registry
    from referencing.jsonschema import DRAFT202012

    registry: Registry[Any] = Registry().with_resource(SPEC_URI, DRAFT202012.create_resource(spec))
    return jsonschema.Draft202012Validator(
        {"$ref": f"{SPEC_URI}#{pointer}"},
        registry=registry,
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )


def resolve_pointer(document: Any, pointer: str) -> Any:
    """Returns the value at a JSON pointer; raises KeyError naming the missing part."""
    if pointer == "":
        return document
    if not pointer.startswith("/"):
        raise KeyError(f"{pointer!r} is not a JSON pointer")
    current = document
    for raw in pointer[1:].split("/"):
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(current, list):
            try:
                current = current[int(part)]
            except (ValueError, IndexError):
                raise KeyError(f"no item {part!r} at {pointer!r}") from None
        elif isinstance(current, dict):
            if part not in current:
                raise KeyError(f"no key {part!r} at {pointer!r}")
            current = current[part]
        else:
            raise KeyError(f"cannot descend into a {type(current).__name__} at {pointer!r}")
    return current


def resolve_ref(spec: dict[str, Any], value: Any) -> Any:
    """Follows a local `$ref` (repeatedly) and returns the target."""
    seen = 0
    while isinstance(value, dict) and "$ref" in value and seen < 20:
        ref = value["$ref"]
        if not isinstance(ref, str) or not ref.startswith("#"):
            return value
        value = resolve_pointer(spec, ref[1:])
        seen += 1
    return value


def iter_operations(spec: dict[str, Any]) -> list[Operation]:
    """Returns every operation of the spec, path-level parameters merged in."""
    operations = []
    for path, item in (spec.get("paths") or {}).items():
        if not isinstance(item, dict):
            continue
        shared = [resolve_ref(spec, p) for p in item.get("parameters", [])]
        for method in HTTP_METHODS:
            definition = item.get(method)
            if not isinstance(definition, dict):
                continue
            own = [resolve_ref(spec, p) for p in definition.get("parameters", [])]
            names = {(p.get("name"), p.get("in")) for p in own}
            merged = tuple(own + [p for p in shared if (p.get("name"), p.get("in")) not in names])
            op_id = definition.get("operationId") or f"{method.upper()} {path}"
            operations.append(Operation(op_id, method.upper(), path, definition, merged))
    return operations


class Profile:
    """A spec plus its x-conformance profile."""

    def __init__(self, spec: dict[str, Any], *, path: Path | None = None) -> None:
        if "x-conformance" not in spec:
            raise ProfileError(f"{path or 'spec'}: /x-conformance: the spec has no conformance profile")
        self.spec = spec
        self.path = path
        self.data: dict[str, Any] = spec["x-conformance"]
        self.operations = {op.operation_id: op for op in iter_operations(spec)}
        self._envelope_validator: Any = None

    @property
    def api(self) -> str:
        return str(self.data["api"])

    @property
    def source(self) -> str:
        return str(self.data.get("source", ""))

    def section(self, name: str) -> Any:
        return self.data.get(name)

    def operation(self, operation_id: str) -> Operation:
        try:
            return self.operations[operation_id]
        except KeyError:
            raise ProfileError(f"{self.path}: the profile names unknown operation {operation_id!r}") from None

    def recipe(self, operation_id: str) -> dict[str, Any]:
        return dict((self.data.get("requests") or {}).get(operation_id) or {})

    @property
    def envelope_schema(self) -> dict[str, Any]:
        ref = self.data["errors"]["envelope"]["$ref"]
        schema: dict[str, Any] = resolve_pointer(self.spec, ref[1:])
        return schema

    def envelope_errors(self, body: Any) -> list[str]:
        """Returns why `body` is not the API's error envelope (empty: it is)."""
        if self._envelope_validator is None:
            self._envelope_validator = schema_validator(self.spec, self.data["errors"]["envelope"]["$ref"][1:])
        return [
            f"{'/'.join(map(str, e.absolute_path)) or 'body'}: {e.message}"
            for e in self._envelope_validator.iter_errors(body)
        ]

    @property
    def write_operations(self) -> list[Operation]:
        return [op for op in self.operations.values() if op.method in ("POST", "PUT", "PATCH", "DELETE")]


def load_profile(api_or_path: str | Path) -> Profile:
    """Returns the Profile of an API slug or a spec file."""
    is_path = str(api_or_path).endswith((".yaml", ".yml", ".json"))
    path = Path(api_or_path) if is_path else spec_path(str(api_or_path))
    try:
        spec = load_spec(path)
    except FileNotFoundError:
        raise ProfileError(f"{path}: no such spec file") from None
    except yaml.YAMLError as exc:
        raise ProfileError(f"{path}: invalid YAML: {exc}") from None
    return Profile(spec, path=path)
