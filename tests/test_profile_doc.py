"""docs/profile.md explains exactly the keys of the profile's JSON Schema, each with an example.

The schema (conformance/profile.schema.yaml) is the reference; the page is what a user reads. A key
added to one and not the other fails here, naming it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from conformance.profile import profile_schema

DOC = Path(__file__).resolve().parent.parent / "docs" / "profile.md"
ROW = re.compile(r"^\| `([^`]+)` \|(.*)\|(.*)\|\s*$")


def schema_keys(root: dict[str, Any]) -> set[str]:
    """Every key path of the schema: `a.b` for objects, `a[]` for array items, `a.*` for maps."""
    keys: set[str] = set()

    def walk(node: Any, prefix: str, stack: tuple[str, ...]) -> None:
        while isinstance(node, dict) and str(node.get("$ref", "")).startswith("#/$defs/"):
            name = node["$ref"].split("/")[-1]
            if name in stack:
                return  # a recursive definition (a variable's fallback): its keys are listed once
            stack, node = (*stack, name), root["$defs"][name]
        if not isinstance(node, dict):
            return
        for sub in [*node.get("allOf", []), *node.get("oneOf", []), *node.get("anyOf", [])]:
            walk(sub, prefix, stack)
        for branch in ("if", "then", "else"):
            if branch in node:
                walk(node[branch], prefix, stack)
        for name, value in (node.get("properties") or {}).items():
            path = f"{prefix}.{name}" if prefix else name
            keys.add(path)
            walk(value, path, stack)
        if isinstance(node.get("items"), dict):
            walk(node["items"], prefix + "[]", stack)
        if isinstance(node.get("additionalProperties"), dict):
            walk(node["additionalProperties"], prefix + ".*", stack)

    walk(root, "", ())
    return keys


def doc_rows() -> dict[str, tuple[str, str]]:
    """The key tables of the page: key → (what, example)."""
    rows = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if match := ROW.match(line):
            rows[match.group(1)] = (match.group(2).strip(), match.group(3).strip())
    return rows


def test_every_schema_key_is_documented_and_every_documented_key_exists() -> None:
    documented, schema = set(doc_rows()), schema_keys(profile_schema())
    assert sorted(schema - documented) == [], "keys of the schema missing from docs/profile.md"
    assert sorted(documented - schema) == [], "keys in docs/profile.md that the schema does not have"


def test_every_key_has_an_explanation_and_a_yaml_example() -> None:
    for key, (what, example) in doc_rows().items():
        assert what, f"{key}: no explanation"
        assert re.fullmatch(r"`[^`]+`( / `[^`]+`)?", example), f"{key}: the example is not `code`: {example}"
        for code in re.findall(r"`([^`]+)`", example):
            yaml.safe_load(code.replace("…", "x"))  # parses as YAML


def test_the_walk_finds_nested_and_recursive_keys() -> None:
    schema = {
        "type": "object",
        "properties": {"a": {"type": "array", "items": {"$ref": "#/$defs/v"}}},
        "$defs": {"v": {"properties": {"x": {}, "next": {"$ref": "#/$defs/v"}}}},
    }
    assert schema_keys(schema) == {"a", "a[].x", "a[].next"}
