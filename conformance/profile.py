"""A spec and its `x-conformance` profile, loaded for the checks.

The profile says what an API promises beyond its schemas; `Profile` gives the checks typed
access to it and to the spec's operations, and `resolve_request` turns a profile request
recipe into a concrete request against any server.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
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
    public: bool | None = None  # set by Profile: the profile's public operations and those the spec leaves open

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
        """Set by Profile; else whether the operation's own `security` allows anonymous requests ([] or [{}])."""
        if self.public is not None:
            return self.public
        from conformance.presets import effective_security

        return "security" in self.definition and not effective_security({}, self.definition)

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

    if str(spec.get("openapi", "")).startswith("3.0"):
        spec = _schemas_of_openapi_30(spec)
    registry: Registry[Any] = Registry().with_resource(SPEC_URI, DRAFT202012.create_resource(spec))
    return jsonschema.Draft202012Validator(
        {"$ref": f"{SPEC_URI}#{pointer}"},
        registry=registry,
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )


def _schemas_of_openapi_30(node: Any) -> Any:
    """An OpenAPI 3.0 document with its schema dialect spelled as JSON Schema 2020-12 (which 3.1 uses).

    3.0's `nullable: true` becomes a `"null"` type, and its boolean `exclusiveMinimum`/`exclusiveMaximum`
    the numeric form: else a null the spec allows, or a bound it excludes, would be judged wrongly.
    """
    if isinstance(node, list):
        return [_schemas_of_openapi_30(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _schemas_of_openapi_30(value) for key, value in node.items()}
    if out.get("nullable") is True:
        kind = out.get("type")
        if isinstance(kind, str):
            out["type"] = [kind, "null"]
        if isinstance(out.get("enum"), list) and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
    for flag, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(out.get(flag), bool):
            if out.pop(flag) and bound in out:
                out[flag] = out.pop(bound)
    return out


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
        from conformance.presets import expand

        self.spec = spec
        self.path = path
        self.raw: dict[str, Any] = spec["x-conformance"]
        operations = iter_operations(spec)
        try:
            self.data: dict[str, Any] = expand(spec, self.raw, operations)
        except (KeyError, TypeError, AttributeError) as exc:
            raise ProfileError(f"{path or 'spec'}: /x-conformance: incomplete profile ({exc})") from None
        public = set(self.data["auth"]["public"])
        self.operations = {
            op.operation_id: replace(op, public=op.is_public or op.operation_id in public) for op in operations
        }
        protected = sorted(op_id for op_id, op in self.operations.items() if not op.is_public)
        if protected and not self.data["auth"]["locations"]:
            named = ", ".join(protected[:3]) + (f" and {len(protected) - 3} more" if len(protected) > 3 else "")
            raise ProfileError(
                f"{path or 'spec'}: /x-conformance/auth: {named} {'needs' if len(protected) == 1 else 'need'} a key "
                "but the profile gives no `auth.locations` (or say `auth: {public: all, ...}` for an API that needs "
                "none)"
            )
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
        envelope = self.data["errors"]["envelope"]
        if "schema" in envelope:  # written in the profile (a preset's)
            return dict(envelope["schema"])
        schema: dict[str, Any] = resolve_pointer(self.spec, envelope["$ref"][1:])
        return schema

    def envelope_errors(self, body: Any) -> list[str]:
        """Returns why `body` is not the API's error envelope (empty: it is)."""
        if self._envelope_validator is None:
            envelope = self.data["errors"]["envelope"]
            if "schema" in envelope:
                import jsonschema

                self._envelope_validator = jsonschema.Draft202012Validator(envelope["schema"])
            else:
                self._envelope_validator = schema_validator(self.spec, envelope["$ref"][1:])
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
