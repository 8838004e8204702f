"""Renders report views to HTML strings. Pure: templates in, text out, no I/O but reading them.

Every value goes through Jinja2's autoescape; only the page's own stylesheet and script (files
beside the templates) and fragments this module rendered itself are marked safe. The script is
allowed by its hash in the page's Content-Security-Policy, so even a value that slipped past
escaping could neither run code nor load anything from the network.
"""

from __future__ import annotations

import base64
import hashlib
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from conformance import __version__
from conformance.report.model import Counts, IndexEntry, Report, known_categories

__all__ = ["render_diff_fragment", "render_diff_page", "render_index", "render_report"]

TEMPLATES = Path(__file__).parent / "templates"


@cache
def _environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=False,
        keep_trailing_newline=True,
    )
    environment.filters["percent"] = percent
    return environment


@cache
def _assets() -> dict[str, Any]:
    css = (TEMPLATES / "style.css").read_text(encoding="utf-8")
    script = (TEMPLATES / "report.js").read_text(encoding="utf-8")
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    return {"css": Markup(css), "script": Markup(script), "script_hash": f"sha256-{digest}"}


def percent(score: float | None) -> str:
    """Returns a score as `73%`, the same whole percent the JSON result and `--fail-under` use."""
    from conformance.report.score import score_percent

    value = score_percent(score)
    return "—" if value is None else f"{value}%"


def _render(template: str, tool_version: str, **context: Any) -> str:
    return (
        _environment().get_template(template).render(**_assets(), tool_version=tool_version or __version__, **context)
    )


def render_report(report: Report) -> str:
    """Returns the self-contained HTML page of one API's run."""
    return _render("report.html.j2", report.run.tool_version, report=report)


def render_index(entries: list[IndexEntry]) -> str:
    """Returns the self-contained HTML index over the APIs of one run."""
    totals = Counts(
        passed=sum(e.report.counts.passed for e in entries),
        failed=sum(e.report.counts.failed for e in entries),
        accepted=sum(e.report.counts.accepted for e in entries),
        skipped=sum(e.report.counts.skipped for e in entries),
    )
    version = next((e.report.run.tool_version for e in entries if e.report.run.tool_version), "")
    seen = {score.category for entry in entries for score in entry.report.categories}
    categories = [category for category in known_categories(seen) if category in seen]
    return _render("index.html.j2", version, entries=entries, totals=totals, categories=categories)


def render_diff_fragment(diff: Any, *, regressed: bool) -> str:
    """Returns the HTML fragment (a <section>) of a run-to-run diff."""
    return _environment().get_template("diff.html.j2").render(diff=diff, regressed=regressed)


def render_diff_page(fragment: str) -> str:
    """Returns a self-contained page around a diff fragment this module rendered."""
    return _render("diff_page.html.j2", "", fragment=Markup(fragment))
