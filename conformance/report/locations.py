"""Where things are defined in a spec file: the line of an operation or of a profile section.

SARIF points each finding at a line of the spec, so code scanning annotates the spec in a pull
request. `yaml.compose` keeps every node's position (JSON specs parse as YAML too); plain
`safe_load` would lose it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from conformance.profile import HTTP_METHODS
from conformance.rules import get_rule

__all__ = ["SpecLines", "profile_section", "spec_lines"]

PROFILE = "x-conformance"


def profile_section(rule: str) -> tuple[str, ...]:
    """Returns the keys under `x-conformance` of the section `rule` reads: the first of its `Rule.reads`."""
    try:
        reads = get_rule(rule).reads
    except KeyError:
        return ()
    return tuple(reads[0].split(".")) if reads else ()


@dataclass(frozen=True)
class SpecLines:
    """1-based line numbers of a spec's operations (by operationId) and of its mapping keys."""

    operations: dict[str, int] = field(default_factory=dict)
    keys: dict[tuple[str, ...], int] = field(default_factory=dict)

    def operation(self, operation_id: str) -> int | None:
        return self.operations.get(operation_id)

    def rule(self, rule: str) -> int | None:
        """The line of the profile section `rule` reads, else of its parent sections, else of `x-conformance`."""
        section = profile_section(rule)
        for depth in range(len(section), -1, -1):
            line = self.keys.get((PROFILE, *section[:depth]))
            if line is not None:
                return line
        return None


def spec_lines(path: Path) -> SpecLines:
    """Returns the lines of `path`'s operations and profile sections; empty when it cannot be read."""
    try:
        root = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return SpecLines()
    lines = SpecLines()
    if not isinstance(root, yaml.MappingNode):
        return lines
    paths = _child(root, "paths")
    if isinstance(paths, yaml.MappingNode):
        for path_key, item in paths.value:
            if not isinstance(item, yaml.MappingNode):
                continue
            for method_key, operation in item.value:
                if method_key.value not in HTTP_METHODS or not isinstance(operation, yaml.MappingNode):
                    continue
                # named as conformance.profile.iter_operations names it: its operationId, else `GET /path`
                operation_id = _child(operation, "operationId")
                name = operation_id.value if isinstance(operation_id, yaml.ScalarNode) else None
                name = name or f"{str(method_key.value).upper()} {path_key.value}"
                lines.operations[str(name)] = method_key.start_mark.line + 1
    _collect_keys(root, (), lines.keys, depth=3, only=PROFILE)
    return lines


def _child(node: yaml.MappingNode, key: str) -> yaml.Node | None:
    for key_node, value in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
            return value
    return None


def _collect_keys(
    node: yaml.Node, prefix: tuple[str, ...], out: dict[tuple[str, ...], int], *, depth: int, only: str
) -> None:
    if depth == 0 or not isinstance(node, yaml.MappingNode):
        return
    for key_node, value in node.value:
        if not isinstance(key_node, yaml.ScalarNode) or (not prefix and key_node.value != only):
            continue
        keys = (*prefix, str(key_node.value))
        out.setdefault(keys, key_node.start_mark.line + 1)
        _collect_keys(value, keys, out, depth=depth - 1, only=only)
