"""Where the bundled specs live, in a source checkout and in an installed wheel."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

__all__ = ["API_SLUGS", "bundled_apis", "load_spec", "spec_path", "specs_dir"]


def specs_dir() -> Path:
    """Returns the folder of bundled specs: `conformance/_specs` in a wheel, `specs/` in a checkout."""
    package = Path(__file__).resolve().parent
    bundled = package / "_specs"
    if bundled.is_dir():
        return bundled
    return package.parent / "specs"


def bundled_apis() -> tuple[str, ...]:
    """Returns the slug of every bundled spec: an API is bundled by dropping `<slug>.yaml` into the folder.

    The file name is the slug (tests/test_specs.py checks it equals the profile's `api`), so listing
    the APIs reads no YAML.
    """
    return tuple(sorted(path.stem for path in specs_dir().glob("*.yaml")))


def spec_path(api: str) -> Path:
    """Returns the path of the bundled spec of `api`."""
    return specs_dir() / f"{api}.yaml"


@cache
def _load(path: str, mtime: float) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: the spec is not a YAML mapping")
    return data


def load_spec(api_or_path: str | Path) -> dict[str, Any]:
    """Returns the parsed spec of an API slug or a spec file path (cached; treat as read-only)."""
    path = Path(api_or_path) if str(api_or_path).endswith((".yaml", ".yml", ".json")) else spec_path(str(api_or_path))
    return _load(str(path), path.stat().st_mtime)


API_SLUGS = bundled_apis()
