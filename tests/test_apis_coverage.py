"""docs/apis-coverage.md: every pinned behaviour of apis.md has a check or a written reason, and names only
things that exist (rule ids, profile keys, spec pointers, suite tests)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from conformance.profile import resolve_pointer
from conformance.rules import RULES
from conformance.specfiles import API_SLUGS, load_spec

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "apis-coverage.md"
SUITE = ROOT / "conformance" / "suite"
# apis.md lives beside the repository; CI runs on a fresh clone without it, so its API sections are also
# listed here.
APIS_MD = ROOT.parent / "shared" / "design" / "apis.md"
API_SECTIONS = {
    "goat (000)": "goat",
    "gaming-goods (001, public API)": "gaming-goods",
    "gaming-goods-partner (001, Partner API)": "gaming-goods-partner",
    "storefront (002)": "storefront",
    "tribute-shop (003)": "tribute-shop",
    "retailcrm (004)": "retailcrm",
}
GENERAL_SECTIONS = ("Everywhere", "Rate limits as advertised", "Rate limits, documented", "Idempotency, documented")
NONE = ("", "—", "-")
COLUMNS = 4  # pinned behaviour | rule ids | where the case lives | not checked, or left out


def _cells(line: str) -> list[str]:
    """The cells of a Markdown table row; `\\|` inside a cell is not a separator."""
    parts = re.split(r"(?<!\\)\|", line.strip())
    return [cell.strip() for cell in parts[1:-1]]


def parse(text: str) -> dict[str, list[list[str]]]:
    """Section heading (without `## `) -> its table rows (header and separator rows left out)."""
    sections: dict[str, list[list[str]]] = {}
    current: list[list[str]] | None = None
    for line in text.splitlines():
        if line.startswith("## "):
            current = sections.setdefault(line[3:].strip(), [])
        elif line.startswith("|") and current is not None:
            cells = _cells(line)
            if cells and (cells[0].startswith("pinned behaviour") or set("".join(cells)) <= set("-: ")):
                continue
            current.append(cells)
    return sections


SECTIONS = parse(DOC.read_text(encoding="utf-8"))
ROWS = [(heading, row) for heading, rows in SECTIONS.items() for row in rows]


def _ids(row: list[str]) -> str:
    return row[0][:60]


def _tokens(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def test_every_section_of_apis_md_has_its_table() -> None:
    headings = set(API_SECTIONS) | set(GENERAL_SECTIONS)
    if APIS_MD.exists():
        headings |= {
            line[3:].strip() for line in APIS_MD.read_text(encoding="utf-8").splitlines() if line.startswith("## ")
        }
    missing = sorted(heading for heading in headings if not SECTIONS.get(heading))
    assert not missing, f"docs/apis-coverage.md has no table for: {missing}"


@pytest.mark.parametrize(("heading", "row"), ROWS, ids=[f"{h}: {_ids(r)}" for h, r in ROWS])
def test_row_has_a_rule_or_a_reason(heading: str, row: list[str]) -> None:
    assert len(row) == COLUMNS, f"{heading}: a row needs {COLUMNS} cells: {row}"
    pinned, rules, _, reason = row
    assert pinned not in NONE
    if not _tokens(rules):
        assert rules in NONE, f"{heading}: rule ids must be in backticks: {rules!r}"
        assert reason not in NONE, f"{heading}: {pinned!r} has neither a rule id nor a reason"


def test_every_rule_id_named_exists() -> None:
    unknown = sorted({token for _, row in ROWS for token in _tokens(row[1]) if token not in RULES})
    assert not unknown, f"unknown rule ids: {unknown}"


def _profile_value(profile: dict[str, Any], key: str) -> Any:
    """`errors.bad_parameters[3]`, `pagination[listOrders].limit.max`: a key path into the profile."""
    current: Any = profile
    for part in key.split("."):
        match = re.fullmatch(r"([A-Za-z_]+)((?:\[[^\]]+\])*)", part)
        if match is None:
            raise KeyError(f"{key!r}: cannot read {part!r}")
        name, selectors = match.groups()
        if not isinstance(current, dict) or name not in current:
            raise KeyError(f"{key!r}: no {name!r}")
        current = current[name]
        for selector in re.findall(r"\[([^\]]+)\]", selectors):
            if not isinstance(current, list):
                raise KeyError(f"{key!r}: {name!r} is not a list")
            if selector.isdigit():
                if int(selector) >= len(current):
                    raise KeyError(f"{key!r}: {name!r} has {len(current)} entries")
                current = current[int(selector)]
            else:
                found = [entry for entry in current if isinstance(entry, dict) and entry.get("operation") == selector]
                if not found:
                    raise KeyError(f"{key!r}: no {name!r} entry for {selector!r}")
                current = found[0]
    return current


def _suite_functions() -> dict[str, set[str]]:
    return {
        path.name: set(re.findall(r"^def (test_\w+)\(", path.read_text(), re.M)) for path in SUITE.glob("test_*.py")
    }


WHERE = [(heading, token) for heading, row in ROWS if len(row) == COLUMNS for token in _tokens(row[2])]


@pytest.mark.parametrize(("heading", "token"), WHERE, ids=[f"{h}: {t[:50]}" for h, t in WHERE])
def test_every_case_named_exists(heading: str, token: str) -> None:
    """Each `where` names a suite test, a spec pointer or a profile key of the section's API (or `slug:`)."""
    if "::" in token:
        file, function = token.split("::", 1)
        assert function in _suite_functions().get(file, set()), f"no test {token} in conformance/suite"
        return
    api = API_SECTIONS.get(heading)
    prefix, _, rest = token.partition(":")
    if rest and prefix in API_SLUGS:
        api, token = prefix, rest
    assert api is not None, f"{heading}: {token!r} must name its API (`slug:{token}`)"
    spec = load_spec(api)
    if token.startswith("#/"):
        resolve_pointer(spec, token[1:])
    else:
        _profile_value(spec["x-conformance"], token)


def test_the_specs_readme_links_this_page() -> None:
    assert "docs/apis-coverage.md" in (ROOT / "specs" / "README.md").read_text(encoding="utf-8")
