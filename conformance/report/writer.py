"""Writes report pages to disk: the only module of the package that does I/O."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

from conformance.report.build import build_report
from conformance.report.model import IndexEntry, Result, ResultError
from conformance.report.render import render_index, render_report

__all__ = ["load_result", "write_html", "write_index", "write_text"]


def write_html(result: dict[str, Any], path: Path) -> None:
    """Writes the self-contained HTML report of one API's result dict to `path`.

    Raises ResultError when `result` is not a conformance result.
    """
    write_text(path, render_report(build_report(Result.from_dict(result))))


def write_index(results: list[dict[str, Any]], path: Path) -> None:
    """Writes the run's index page over several APIs, linking each to `<api>.html` beside it."""
    entries = []
    for data in results:
        report = build_report(Result.from_dict(data))
        entries.append(IndexEntry(report=report, href=quote(f"{report.run.api}.html")))
    write_text(path, render_index(entries))


def load_result(path: Path) -> dict[str, Any]:
    """Returns the result dict stored at `path`; raises ResultError with a one-line reason."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ResultError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ResultError(f"{path}: cannot be read ({exc})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ResultError(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON ({exc.msg})") from None
    try:
        Result.from_dict(data)
    except ResultError as exc:
        raise ResultError(f"{path}: not a conformance result: {exc}") from None
    return data  # type: ignore[no-any-return]


def write_text(path: Path, text: str) -> None:
    """Writes `text` to `path` atomically (a reader never sees half a page)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
