"""`conformance specs`: is a spec usable as the single source of truth of its API?

Checks, in order: the file parses; every local `$ref` resolves; the document is valid
OpenAPI (openapi-spec-validator); the x-conformance profile is valid against its JSON Schema;
every example validates against its own schema; and every operation, parameter and pointer the
profile names exists in the spec. Each problem is reported as `file: JSON pointer: reason`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from conformance.presets import effective_security
from conformance.profile import (
    Profile,
    ProfileError,
    iter_operations,
    profile_schema,
    resolve_pointer,
    schema_validator,
)

__all__ = ["Problem", "check_spec_file", "read_spec_file"]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a spec, located by file and JSON pointer."""

    file: str
    pointer: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: {self.pointer or '/'}: {self.reason}"


def pointer_of(parts: Any) -> str:
    """Returns the JSON pointer of a path given as a sequence of keys and indexes."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in parts)


def read_spec_file(path: str | Path) -> tuple[dict[str, Any] | None, list[Problem]]:
    """Reads the spec at `path`: (the document, []) or (None, [why it cannot be read]).

    A document that parses but holds a dangling or external `$ref` is returned with those problems.
    """
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        return None, [Problem(name, "", f"cannot read the file: {exc.strerror or exc}")]
    except UnicodeDecodeError as exc:
        return None, [
            Problem(
                name, "", f"not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start}); save it as UTF-8"
            )
        ]
    try:
        spec = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        return None, [Problem(name, "", f"invalid YAML: {where}{problem}")]
    if not isinstance(spec, dict):
        return None, [Problem(name, "", "the document is not a mapping (an OpenAPI spec is a YAML object)")]
    return spec, [Problem(name, pointer, reason) for pointer, reason in _dangling_refs(spec)]


def check_spec_file(path: str | Path) -> list[Problem]:
    """Returns every problem of the spec at `path` (empty: the spec is clean)."""
    name = str(path)
    spec, problems = read_spec_file(path)
    if spec is None or problems:
        return problems  # the validators below cannot follow a broken reference
    problems += [Problem(name, pointer, reason) for pointer, reason in _unknown_schema_keys(spec)]
    problems += [Problem(name, pointer, reason) for pointer, reason in _openapi_errors(spec)]
    profile = spec.get("x-conformance")
    if profile is None:
        problems.append(Problem(name, "/x-conformance", "the spec has no conformance profile"))
    else:
        profile_problems = list(_profile_schema_errors(profile))
        problems += [Problem(name, pointer, reason) for pointer, reason in profile_problems]
        if not profile_problems:
            try:
                loaded = Profile(spec, path=Path(name))
            except ProfileError as exc:  # "<file>: <pointer>: <reason>"
                pointer, _, reason = str(exc).removeprefix(f"{name}: ").partition(": ")
                problems.append(Problem(name, pointer, reason))
            else:
                problems += [Problem(name, p, r) for p, r in _profile_references(loaded)]
    problems += [Problem(name, pointer, reason) for pointer, reason in _example_errors(spec)]
    return problems


def _walk(node: Any, parts: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    yield parts, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, (*parts, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, (*parts, index))


def _dangling_refs(spec: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for parts, node in _walk(spec):
        if isinstance(node, dict) and isinstance(node.get("$ref"), str) and parts[:1] != ("x-conformance",):
            ref = node["$ref"]
            if not ref.startswith("#"):
                yield pointer_of((*parts, "$ref")), f"external reference {ref!r}: specs must be self-contained"
                continue
            try:
                resolve_pointer(spec, ref[1:])
            except KeyError as exc:
                yield pointer_of((*parts, "$ref")), f"unresolvable reference {ref!r} ({exc.args[0]})"


SCHEMA_KEYWORDS = frozenset(
    # JSON Schema 2020-12 (core, applicator, validation, meta-data, format, content, unevaluated)
    "$schema $id $ref $anchor $dynamicRef $dynamicAnchor $vocabulary $comment $defs allOf anyOf oneOf not if then"
    " else dependentSchemas prefixItems items contains properties patternProperties additionalProperties"
    " propertyNames unevaluatedItems unevaluatedProperties type enum const multipleOf maximum exclusiveMaximum"
    " minimum exclusiveMinimum maxLength minLength pattern maxItems minItems uniqueItems maxContains minContains"
    " maxProperties minProperties required dependentRequired format contentEncoding contentMediaType contentSchema"
    " title description default deprecated readOnly writeOnly examples"
    # OpenAPI 3.1 additions, and older drafts' names that validators still read
    " discriminator xml externalDocs example definitions dependencies".split()
)
_ONE_SCHEMA = frozenset(
    "not if then else contains additionalProperties propertyNames items unevaluatedItems unevaluatedProperties"
    " contentSchema".split()
)
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems", "items")
_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")


def _unknown_schema_keys(spec: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """Keys of schema objects that are no schema keyword nor `x-` extension: most often a stray key
    left by an unquoted comma in a `{...}` flow mapping (`description: a, b` makes a key `b`)."""

    def roots(node: Any, parts: tuple[Any, ...]) -> Iterator[tuple[tuple[Any, ...], Any]]:
        if isinstance(node, list):
            for index, value in enumerate(node):
                yield from roots(value, (*parts, index))
        if not isinstance(node, dict):
            return
        for key, value in node.items():
            if str(key).startswith("x-") or key in ("example", "examples"):
                continue
            if parts == ("components",) and key == "schemas" and isinstance(value, dict):
                yield from (((*parts, key, name), schema) for name, schema in value.items())
            elif key == "schema":
                yield (*parts, key), value
            else:
                yield from roots(value, (*parts, key))

    def check(schema: Any, parts: tuple[Any, ...]) -> Iterator[tuple[str, str]]:
        if not isinstance(schema, dict):
            return
        for key, value in schema.items():
            if key not in SCHEMA_KEYWORDS and not str(key).startswith("x-"):
                yield (
                    pointer_of((*parts, key)),
                    f"unknown key {key!r} in a schema object (not a JSON Schema or OpenAPI keyword; "
                    "a comma inside a {...} flow mapping splits a value into a stray key: quote the value)",
                )
            if key in _ONE_SCHEMA:
                yield from check(value, (*parts, key))
            if key in _SCHEMA_LISTS and isinstance(value, list):
                for index, item in enumerate(value):
                    yield from check(item, (*parts, key, index))
            if key in _SCHEMA_MAPS and isinstance(value, dict):
                for name, item in value.items():
                    yield from check(item, (*parts, key, name))

    for parts, schema in roots({k: v for k, v in spec.items() if k != "x-conformance"}, ()):
        yield from check(schema, parts)


def _openapi_errors(spec: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """The spec judged by the OpenAPI version it declares: 3.0 (a user's own spec) or 3.1 (ours)."""
    from openapi_spec_validator import OpenAPIV30SpecValidator, OpenAPIV31SpecValidator
    from openapi_spec_validator.schemas import schema_v30, schema_v31

    spec_validator: type[Any]
    if str(spec.get("openapi", "")).startswith("3.0"):
        spec_validator, fallback = OpenAPIV30SpecValidator, jsonschema.Draft4Validator(dict(schema_v30))
    else:
        spec_validator, fallback = OpenAPIV31SpecValidator, jsonschema.Draft202012Validator(dict(schema_v31))
    try:
        errors = list(spec_validator(spec).iter_errors())
    except Exception:  # the validator trips over some malformed documents: fall back to the JSON Schema
        errors = sorted(fallback.iter_errors(spec), key=lambda e: len(e.absolute_path), reverse=True)[:1]
        if not errors:
            yield "", "invalid OpenAPI: the validator could not read this document"
            return
    for error in errors:
        parts = getattr(error, "absolute_path", None) or getattr(error, "path", ())
        yield pointer_of(parts), f"invalid OpenAPI: {_short(str(getattr(error, 'message', error)))}"


def _short(message: str) -> str:
    """A validator's message as one line: its first line, the instance it quotes (often the whole
    document or a whole schema) named instead of printed."""
    line = message.strip().splitlines()[0] if message.strip() else "invalid"
    line = re.sub(r"^(\{.*\}|\[.*\]) (is|was|does) ", r"the value \2 ", line)
    return line if len(line) <= 300 else line[:299] + "…"


def _profile_schema_errors(profile: Any) -> Iterator[tuple[str, str]]:
    validator = jsonschema.Draft202012Validator(
        profile_schema(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    for error in sorted(validator.iter_errors(profile), key=lambda e: list(map(str, e.absolute_path))):
        yield pointer_of(("x-conformance", *error.absolute_path)), f"invalid profile: {error.message}"


def _example_errors(spec: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """Every `example`/`examples` beside a `schema` must validate against that schema."""
    for parts, node in _walk(spec):
        if not isinstance(node, dict) or "schema" not in node or parts[:1] == ("x-conformance",):
            continue
        if not isinstance(node["schema"], dict) and not isinstance(node["schema"], bool):
            continue
        examples: list[tuple[tuple[Any, ...], Any]] = []
        if "example" in node:
            examples.append(((*parts, "example"), node["example"]))
        for key, example in (node.get("examples") or {}).items() if isinstance(node.get("examples"), dict) else []:
            if isinstance(example, dict) and "$ref" in example:
                example = resolve_pointer(spec, example["$ref"][1:])
            if isinstance(example, dict) and "value" in example:
                examples.append(((*parts, "examples", key, "value"), example["value"]))
        if not examples:
            continue
        validator = schema_validator(spec, pointer_of((*parts, "schema")))
        for where, value in examples:
            for error in validator.iter_errors(value):
                inner = pointer_of(error.absolute_path)
                at = f" at {inner}" if inner else ""
                yield pointer_of(where), f"example does not match its schema{at}: {error.message}"
    for parts, node in _walk(spec.get("components", {}).get("schemas", {}), ("components", "schemas")):
        if isinstance(node, dict) and "examples" in node and isinstance(node["examples"], list) and len(parts) >= 3:
            validator = schema_validator(spec, pointer_of(parts))
            for index, value in enumerate(node["examples"]):
                for error in validator.iter_errors(value):
                    yield pointer_of((*parts, "examples", index)), f"example does not match its schema: {error.message}"


def _profile_references(profile: Profile) -> Iterator[tuple[str, str]]:
    """Operations, parameters and paths the profile names must exist in the spec."""
    data = profile.data
    base = "/x-conformance"

    def op_missing(op_id: str, where: str) -> Iterator[tuple[str, str]]:
        if op_id not in profile.operations:
            yield where, f"unknown operationId {op_id!r} (the spec has: {', '.join(sorted(profile.operations))})"

    listed = (profile.raw.get("auth") or {}).get("public", [])
    for index, op_id in enumerate(listed if isinstance(listed, list) else []):
        yield from op_missing(op_id, f"{base}/auth/public/{index}")
        op = profile.operations.get(op_id)
        if op is not None and effective_security(profile.spec, op.definition):
            yield f"{base}/auth/public/{index}", f"{op_id} is listed as public but its spec has no `security: []`"
    permission = data["auth"].get("permission")
    if permission:
        yield from op_missing(permission["operation"], f"{base}/auth/permission/operation")
        yield from op_missing(permission["granted_by"]["operation"], f"{base}/auth/permission/granted_by/operation")
    errors = data["errors"]
    try:
        if "$ref" in errors["envelope"]:
            resolve_pointer(profile.spec, errors["envelope"]["$ref"][1:])
    except KeyError:
        yield f"{base}/errors/envelope/$ref", f"unresolvable reference {errors['envelope']['$ref']!r}"
    for key in ("not_found", "bad_parameters", "business_rules"):
        for index, case in enumerate(errors.get(key, [])):
            where = f"{base}/errors/{key}/{index}"
            yield from op_missing(case["operation"], f"{where}/operation")
            for name, variable in (case.get("variables") or {}).items():
                yield from op_missing(variable["operation"], f"{where}/variables/{name}/operation")
            op = profile.operations.get(case["operation"])
            if op is None:
                continue
            for name in case.get("path_params", {}):
                if name not in op.path_params:
                    yield f"{where}/path_params/{name}", f"{op.operation_id} has no path parameter {name!r}"
            for name in case.get("query", {}):
                if op.param(name, "query") is None:
                    yield f"{where}/query/{name}", f"{op.operation_id} has no query parameter {name!r}"
    for index, op_id in enumerate(errors.get("bad_body", [])):
        yield from op_missing(op_id, f"{base}/errors/bad_body/{index}")
    paths = profile.spec.get("paths") or {}
    for index, case in enumerate(errors["method_not_allowed"]):
        where = f"{base}/errors/method_not_allowed/{index}"
        if case["path"] not in paths:
            yield f"{where}/path", f"the spec has no path {case['path']!r}"
        elif case["method"].lower() in paths[case["path"]]:
            yield f"{where}/method", f"{case['method']} is documented for {case['path']}: it cannot be a wrong method"
    for op_id, recipe in (data.get("requests") or {}).items():
        where = f"{base}/requests/{op_id}"
        yield from op_missing(op_id, where)
        for name, variable in (recipe.get("variables") or {}).items():
            at = f"{where}/variables/{name}"
            while variable:  # the variable and its fallbacks
                yield from op_missing(variable["operation"], f"{at}/operation")
                variable, at = variable.get("fallback"), f"{at}/fallback"
        op = profile.operations.get(op_id)
        if op is not None:
            for name in recipe.get("path_params", {}):
                if name not in op.path_params:
                    yield f"{where}/path_params/{name}", f"{op_id} has no path parameter {name!r}"
    for index, listing in enumerate(data.get("pagination", [])):
        where = f"{base}/pagination/{index}"
        yield from op_missing(listing["operation"], f"{where}/operation")
        if listing.get("created_by"):
            yield from op_missing(listing["created_by"]["operation"], f"{where}/created_by/operation")
        op = profile.operations.get(listing["operation"])
        if op is None:
            continue
        for key in ("limit", "cursor", "page", "offset"):
            param = (listing.get(key) or {}).get("param")
            if param and op.param(param, "query") is None:
                known = ", ".join(p["name"] for p in op.parameters if p.get("in") == "query") or "none"
                yield f"{where}/{key}/param", f"{op.operation_id} has no query parameter {param!r} (it has: {known})"
        total = listing.get("total") or {}
        if total.get("in") == "header" and not total.get("name"):
            yield f"{where}/total", "a header total needs `name`"
        if total.get("in") == "body" and "pointer" not in total:
            yield f"{where}/total", "a body total needs `pointer`"
        style = listing["style"]
        for name in listing.get("query") or {}:
            if op.param(name, "query") is None:
                yield f"{where}/query/{name}", f"{op.operation_id} has no query parameter {name!r}"
        needed = {"cursor": "cursor", "page": "page", "offset": "offset"}.get(style)
        if needed and needed not in listing:
            yield where, f"a {style}-style list needs a `{needed}` section"
    for index, rule in enumerate(data.get("idempotency", [])):
        where = f"{base}/idempotency/{index}"
        yield from op_missing(rule["operation"], f"{where}/operation")
        op = profile.operations.get(rule["operation"])
        if op is not None and op.param(rule["header"], "header") is None:
            yield f"{where}/header", f"{op.operation_id} does not declare the header parameter {rule['header']!r}"
        if "read" in rule:
            yield from op_missing(rule["read"]["operation"], f"{where}/read/operation")
    for op in iter_operations(profile.spec):
        if not op.definition.get("operationId"):
            yield (
                f"/paths/{op.path.replace('~', '~0').replace('/', '~1')}/{op.method.lower()}",
                "operation has no operationId",
            )
