"""The rule registry is the one home of each rule: every rule id the project names is registered, every rule
is declared next to its judge (`conformance/checks/<category>.py`), and what it says it reads exists."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from conformance import rules
from conformance.engine import CHECK_RULES, MALFORMED
from conformance.rules import CATEGORIES, RULES, get_rule, register
from conformance.sandbox import SANDBOXES, load_sandbox

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "conformance"
CHECKS = PACKAGE / "checks"
SUITE = PACKAGE / "suite"
PROFILE_SCHEMA = yaml.safe_load((PACKAGE / "profile.schema.yaml").read_text(encoding="utf-8"))


def _rule_calls(path: Path) -> list[ast.Call]:
    """The `Rule(...)` calls in a Python file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and (
            (isinstance(node.func, ast.Name) and node.func.id == "Rule")
            or (isinstance(node.func, ast.Attribute) and node.func.attr == "Rule")
        )
    ]


def _declared(path: Path) -> list[str]:
    ids = []
    for call in _rule_calls(path):
        first = call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "id"), None)
        assert isinstance(first, ast.Constant) and isinstance(first.value, str), f"{path}: Rule id not a literal"
        ids.append(first.value)
    return ids


def _marker_args(module: ast.Module, call: ast.Call) -> list[str]:
    """The string arguments of a `pytest.mark.rules(...)` call; `*NAME` is resolved where NAME is bound."""
    args: list[str] = []
    for arg in call.args:
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            args.append(arg.value)
            continue
        assert isinstance(arg, ast.Starred) and isinstance(arg.value, ast.Name), ast.unparse(arg)
        name = arg.value.id
        for node in module.body:
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
                args.extend(ast.literal_eval(node.value))
                break
            if isinstance(node, ast.ImportFrom) and any((a.asname or a.name) == name for a in node.names):
                original = next(a.name for a in node.names if (a.asname or a.name) == name)
                args.extend(getattr(importlib.import_module(node.module or ""), original))
                break
        else:
            raise AssertionError(f"cannot resolve *{name}")
    return args


def _marker_ids() -> dict[str, list[str]]:
    """Test (module::function) -> the ids of its `@pytest.mark.rules` (read from the source: importing the
    suite modules outside the suite's own pytest configuration would not know the marker)."""
    found: dict[str, list[str]] = {}
    for path in sorted(SUITE.glob("test_*.py")):
        module = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(module):
            if not isinstance(node, ast.FunctionDef):
                continue
            for decorator in node.decorator_list:
                if isinstance(decorator, ast.Call) and ast.unparse(decorator.func) == "pytest.mark.rules":
                    found.setdefault(f"{path.stem}::{node.name}", []).extend(_marker_args(module, decorator))
    return found


def test_the_registry_is_complete_and_ordered_by_category() -> None:
    assert len(RULES) == len({rule.id for rule in RULES.values()})
    order = [CATEGORIES.index(rule.category) for rule in RULES.values()]
    assert order == sorted(order)
    assert set(CATEGORIES) == {rule.category for rule in RULES.values()}


def test_every_rule_a_marker_names_is_registered() -> None:
    markers = _marker_ids()
    assert markers, "no @pytest.mark.rules found in conformance/suite"
    unknown = {node: [r for r in ids if r not in RULES] for node, ids in markers.items()}
    assert not {node: ids for node, ids in unknown.items() if ids}


def test_every_rule_has_a_test_that_acts() -> None:
    judged = {rule for ids in _marker_ids().values() for rule in ids}
    assert sorted(set(RULES) - judged) == []


@pytest.mark.parametrize("api", sorted(SANDBOXES))
def test_every_sandbox_fault_is_a_registered_rule(api: str) -> None:
    assert sorted(set(load_sandbox(api).FAULTS) - set(RULES)) == []


def test_every_rule_the_engine_maps_is_registered() -> None:
    assert sorted({*CHECK_RULES.values(), *MALFORMED.values()} - set(RULES)) == []


def test_every_rule_apis_coverage_names_is_registered() -> None:
    text = (ROOT / "docs" / "apis-coverage.md").read_text(encoding="utf-8")
    named = set()
    for line in text.splitlines():
        cells = re.split(r"(?<!\\)\|", line.strip())
        if line.startswith("|") and len(cells) > 2:
            named |= {t for t in re.findall(r"`([^`]+)`", cells[2]) if re.fullmatch(r"[a-z-]+\.[a-z-]+", t)}
    assert named, "no rule ids found in docs/apis-coverage.md"
    assert sorted(named - set(RULES)) == []


@pytest.mark.parametrize("category", CATEGORIES)
def test_each_rule_is_declared_in_the_checks_module_of_its_category(category: str) -> None:
    module = CHECKS / f"{category.replace('-', '_')}.py"
    declared = _declared(module)
    registered = [rule.id for rule in RULES.values() if rule.category == category]
    assert declared == registered
    assert {get_rule(rule_id).module for rule_id in declared} == {f"conformance.checks.{module.stem}"}


def test_no_module_outside_checks_declares_a_rule() -> None:
    declaring = []
    for folder in (PACKAGE, ROOT / "tests", ROOT / "bench"):
        for path in folder.rglob("*.py"):
            if path.parent != CHECKS and _rule_calls(path):
                declaring.append(str(path.relative_to(ROOT)))
    assert declaring == []


def _schema_node(node: dict[str, Any], key: str) -> dict[str, Any] | None:
    """The schema of property `key` of an object schema (through `$ref`, `allOf` and array items)."""
    while True:
        if "$ref" in node:
            node = PROFILE_SCHEMA["$defs"][node["$ref"].rsplit("/", 1)[-1]]
        elif "items" in node:
            node = node["items"]
        else:
            break
    candidates = [node, *node.get("allOf", []), *node.get("oneOf", []), *node.get("anyOf", [])]
    for candidate in candidates:
        if "$ref" in candidate:
            candidate = PROFILE_SCHEMA["$defs"][candidate["$ref"].rsplit("/", 1)[-1]]
        if key in (candidate.get("properties") or {}):
            found: dict[str, Any] = candidate["properties"][key]
            return found
    return None


@pytest.mark.parametrize("rule_id", sorted(RULES))
def test_what_a_rule_reads_is_in_the_profile_schema(rule_id: str) -> None:
    for dotted in get_rule(rule_id).reads:
        node: dict[str, Any] | None = PROFILE_SCHEMA
        for key in dotted.split("."):
            assert node is not None
            node = _schema_node(node, key)
            assert node is not None, f"{rule_id} reads {dotted!r}: {key!r} is not in conformance/profile.schema.yaml"


def test_register_refuses_duplicates_and_unknown_categories() -> None:
    rule = get_rule("errors.envelope")
    with pytest.raises(ValueError, match="duplicate rule id"):
        register(rule)
    with pytest.raises(ValueError, match="unknown category"):
        register(dataclasses.replace(rule, id="nowhere.rule"))
    with pytest.raises(ValueError, match="tier"):
        register(dataclasses.replace(rule, id="errors.not-a-rule", tier="guessed"))
    assert "nowhere.rule" not in RULES and "errors.not-a-rule" not in RULES


def test_an_unknown_id_in_a_marker_is_a_collection_error() -> None:
    from conformance.suite.conftest import pytest_generate_tests

    definition = SimpleNamespace(
        nodeid="conformance/suite/test_x.py::test_y",
        get_closest_marker=lambda name: SimpleNamespace(args=("errors.envelop",)),
    )
    with pytest.raises(pytest.fail.Exception, match=r"test_y: @pytest.mark.rules: .*'errors.envelope'"):
        pytest_generate_tests(SimpleNamespace(definition=definition, config=None))  # type: ignore[arg-type]


def test_rules_is_read_through_the_registry() -> None:
    assert rules.RULES is RULES
    with pytest.raises(KeyError, match="did you mean 'auth.permissions'"):
        get_rule("auth.permission")
