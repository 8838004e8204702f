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

__all__ = [
    "load_result",
    "write_html",
    "write_folder_index",
    "write_index",
    "write_json",
    "write_junit",
    "write_reports",
    "write_sarif",
    "write_text",
    "write_wfc",
]


def write_reports(result: dict[str, Any], report_dir: Path, spec: str | Path | None = None) -> str | None:
    """Writes the JSON, SARIF and WFC results, the HTML page and the folder's index of every result in it.

    `spec` is the spec file the run read, which the SARIF locations point into (default: the bundled
    spec of the result's API). The JSON gets the score the HTML shows (conformance/report/score.py).
    No SARIF is written for a run that an upload to code scanning must not stand for (unusable server,
    interrupted, nothing tested; conformance/report/sarif.py `withheld`), and one left by an earlier
    run is removed, so the upload step finds none: returns why, else None.
    """
    from conformance.report.sarif import withheld
    from conformance.report.score import scores
    from conformance.specfiles import API_SLUGS, spec_path

    result["score"] = scores(result)
    write_json(result, report_dir)

    spec_file = Path(spec) if spec else spec_path(result["api"]) if result["api"] in API_SLUGS else None
    sarif_path = report_dir / f"{result['api']}.sarif"
    reason = withheld(result)
    if reason is None:
        write_sarif(result, spec_file, sarif_path)
    else:
        sarif_path.unlink(missing_ok=True)
    write_wfc(result, spec_file, report_dir)
    write_html(result, report_dir / f"{result['api']}.html")
    write_folder_index(report_dir)
    return reason


def write_folder_index(report_dir: Path) -> None:
    """Writes DIR/index.html over every result in the folder (this run's and earlier ones')."""
    results = []
    for path in sorted(report_dir.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and "findings" in data and "api" in data:
            results.append(data)
    if results:
        write_index(results, report_dir / "index.html")


def write_json(result: dict[str, Any], report_dir: Path) -> Path:
    """Writes `DIR/<api>.json`, the result every other report is made from."""
    path = report_dir / f"{result['api']}.json"
    write_text(path, json.dumps(result, indent=2, ensure_ascii=False))
    return path


def write_junit(result: dict[str, Any], path: Path, name: str = "conformance") -> None:
    """Writes one JUnit case per rule and operation: failed with its findings, skipped with why not.

    For what pytest does not write itself: a run the pre-flight probe stopped, and `conformance drift`.
    """
    from xml.etree import ElementTree

    root = ElementTree.Element("testsuites")
    checks = result["checks"]
    findings: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for item in result["findings"]:
        if not item.get("accepted"):
            findings.setdefault((item["rule"], item["operation"]), []).append(item)
    suite = ElementTree.SubElement(
        root,
        "testsuite",
        name=name,
        tests=str(len(checks)),
        failures=str(sum(1 for c in checks if (c["rule"], c["operation"]) in findings)),
        errors="0",
        skipped=str(sum(1 for c in checks if c["outcome"] == "skipped")),
    )
    for check in checks:
        case = ElementTree.SubElement(
            suite, "testcase", classname=f"{result['api']}.{check['rule']}", name=check["operation"]
        )
        found = findings.get((check["rule"], check["operation"]))
        if found:
            text = "\n\n".join(item["message"] for item in found)
            ElementTree.SubElement(case, "failure", message=found[0]["message"].splitlines()[0]).text = text
        elif check["outcome"] == "skipped":
            ElementTree.SubElement(case, "skipped", message=check["reason"])
    path.write_bytes(ElementTree.tostring(root, encoding="utf-8", xml_declaration=True))


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


def write_sarif(result: dict[str, Any], spec: Path | None, path: Path) -> None:
    """Writes the SARIF 2.1.0 log of a result; `spec` is the spec file its locations point into."""
    from conformance.report.sarif import sarif_log

    write_text(path, json.dumps(sarif_log(result, spec), indent=2, ensure_ascii=False) + "\n")


def write_wfc(result: dict[str, Any], spec: Path | None, report_dir: Path) -> None:
    """Writes the WFC report `<api>.wfc.json` and its reproduction script `<api>.wfc.sh`."""
    from conformance.profile import iter_operations
    from conformance.report.wfc import wfc_report
    from conformance.specfiles import load_spec

    operations: dict[str, tuple[str, str]] = {}
    if spec is not None and spec.is_file():
        operations = {op.operation_id: (op.method, op.path) for op in iter_operations(load_spec(spec))}
    script_name = f"{result['api']}.wfc.sh"
    document, script = wfc_report(result, operations, script_name)
    write_text(report_dir / script_name, script)
    write_text(report_dir / f"{result['api']}.wfc.json", json.dumps(document, indent=2, ensure_ascii=False) + "\n")


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
