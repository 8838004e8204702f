"""Every dependency in pyproject.toml is one we use, and every package we import is declared.

An unrelated package once sat in the dev extra (`httpx2`, which nothing imports): a typo or a
squatted name installs someone else's code on every developer's machine. Each declared
distribution must be imported by our code or tests, or be a tool or plugin named below with why.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Declared but never imported by name, each for a reason.
NOT_IMPORTED = {
    "pytest-xdist": "loaded by pytest as a plugin for `-n` (conformance run --workers)",
    "uvloop": "picked by uvicorn's loop='auto' for the sandboxes (bench/sandbox_throughput.py)",
    "httptools": "picked by uvicorn's http='auto' for the sandboxes",
    "ruff": "the linter (tox.ini lint)",
    "mypy": "the type checker (tox.ini types)",
    "tox": "runs tests, lint and types (tox.ini)",
    "types-pyyaml": "type stubs of yaml, for mypy",
    "datasette": "the third-party server tests/test_datasette.py starts (`python -m datasette serve`)",
}
# Imported when present, with a fallback: not a dependency.
OPTIONAL = {"cryptography": "tests/hostile_servers.py makes certificates with the openssl CLI without it"}


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[@]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _declared() -> tuple[set[str], set[str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    runtime = {_name(r) for r in project["dependencies"]}
    dev = {_name(r) for r in project["optional-dependencies"]["dev"]}
    return runtime, dev


def _imported(*folders: str) -> set[str]:
    """The distributions our files in `folders` import (the standard library and our own code left out)."""
    modules: set[str] = set()
    for folder in folders:
        for path in (ROOT / folder).rglob("*.py"):
            if any(part.startswith(".") or part == "node_modules" for part in path.relative_to(ROOT).parts):
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    modules |= {alias.name.split(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    modules.add(node.module.split(".")[0])
                elif (  # pytest.importorskip("x"): an import too
                    isinstance(node, ast.Call)
                    and getattr(node.func, "attr", getattr(node.func, "id", None)) == "importorskip"
                    and node.args
                    and isinstance(node.args[0], ast.Constant)
                ):
                    modules.add(str(node.args[0].value).split(".")[0])
    distributions = packages_distributions()
    found = set()
    for module in modules - set(sys.stdlib_module_names) - {"conformance", "tests", "bench"}:
        found |= {d.lower().replace("_", "-") for d in distributions.get(module, [module])}
    return found


def test_every_declared_dependency_is_used_or_has_a_reason() -> None:
    runtime, dev = _declared()
    used = _imported("conformance") | _imported("tests", "bench", "scripts")
    unused = sorted(name for name in runtime | dev if name not in used and name not in NOT_IMPORTED)
    assert unused == [], f"declared in pyproject.toml but used nowhere: {unused}"


def test_every_package_the_suite_imports_is_declared() -> None:
    runtime, dev = _declared()
    assert sorted(_imported("conformance") - runtime) == []
    assert sorted(_imported("tests") - runtime - dev - set(OPTIONAL)) == []
