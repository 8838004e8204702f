"""The HTML report: escaped, self-contained, with the right matrix, truncation and curl."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from conformance.report import write_html, write_index
from conformance.report.build import MAX_BODY_LINES, body_view, build_report, format_duration
from conformance.report.model import Body, Result
from conformance.report.render import percent, render_report

Make = Callable[..., dict[str, Any]]
HOSTILE = "<script>alert('xss')</script>"


class _Elements(HTMLParser):
    """Collects (tag, attributes) of every start tag."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))


def _elements(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Elements()
    parser.feed(html)
    return parser.elements


def _render(data: dict[str, Any]) -> str:
    return render_report(build_report(Result.from_dict(data)))


def test_report_escapes_hostile_strings_everywhere(make_result: Make) -> None:
    data = make_result(api=f"goat{HOSTILE}", base_url=f"http://127.0.0.1/{HOSTILE}")
    finding = data["findings"][1]
    finding.update(title=HOSTILE, source=HOSTILE, baseline_reason=HOSTILE, tier="inferred")
    finding["request"]["headers"]["X-Evil"] = '"><img src=x onerror=alert(1)>'
    finding["response"]["body"] = HOSTILE
    html = _render(data)
    assert html.count("<script>") == 1  # the page's own script only
    assert "alert('xss')</script>" not in html
    assert "&lt;script&gt;alert(&#39;xss&#39;)&lt;/script&gt;" in html
    assert not any(tag == "img" for tag, _ in _elements(html))


def test_report_loads_nothing_from_outside(make_result: Make) -> None:
    html = _render(make_result())
    for tag, attrs in _elements(html):
        assert "src" not in attrs, tag
        assert not (attrs.get("href") or "#").split("#")[0], (tag, attrs)
    assert "@import" not in html and "url(" not in html


def test_report_script_is_allowed_by_its_hash_only(make_result: Make) -> None:
    html = _render(make_result())
    script = re.search(r"<script>(.*?)</script>", html, re.S)
    assert script
    digest = base64.b64encode(hashlib.sha256(script.group(1).encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in html
    assert "default-src 'none'" in html


def test_report_matrix_has_a_cell_per_operation_and_category_with_counts(make_result: Make) -> None:
    html = _render(make_result())
    rows: dict[str, dict[str, dict[str, str | None]]] = {}
    operation = ""
    for tag, attrs in _elements(html):
        if tag == "tr" and attrs.get("data-operation"):
            operation = str(attrs["data-operation"])
            rows[operation] = {}
        elif tag == "td" and "cell" in (attrs.get("class") or ""):
            rows[operation][str(attrs["data-category"])] = attrs
    assert list(rows) == ["listProducts", "getProduct", "createOrder", "listOrders", "*"]
    assert all(len(cells) == 7 for cells in rows.values())
    pagination = rows["listProducts"]["pagination"]
    assert (pagination["data-status"], pagination["data-failed"], pagination["data-passed"]) == ("failed", "1", "2")
    assert rows["listOrders"]["auth"]["data-status"] == "accepted"
    assert rows["listOrders"]["pagination"]["data-skipped"] == "1"
    assert rows["*"]["rate-limit"]["data-status"] == "failed"
    assert rows["getProduct"]["transport"]["data-status"] == "n-a"


def test_report_shows_accepted_findings_as_accepted_not_failed(make_result: Make) -> None:
    report = build_report(Result.from_dict(make_result()))
    assert (report.counts.failed, report.counts.accepted) == (4, 1)
    html = render_report(report)
    assert "Accepted by the baseline: Staging accepts any key until SEC-42 lands" in html
    assert '<span class="badge accepted">accepted</span> <span class="rule">auth.invalid-credentials' in html


def test_report_truncates_large_bodies_with_a_note(make_result: Make) -> None:
    report = build_report(Result.from_dict(make_result()))
    big = next(f for f in report.findings if f.rule == "pagination.no-duplicates").response_body
    assert big and big.truncated and big.text.count("\n") == MAX_BODY_LINES - 1
    html = render_report(report)
    assert f"Response body truncated: showing the first {len(big.text):,} of {big.total:,} characters." in html


def test_body_view_reports_a_body_the_engine_already_cut_in_bytes() -> None:
    body = body_view('{"data": [{"id": 1}, {"id"… [truncated, 21494 bytes in all]')
    assert body == Body(text='{"data": [{"id": 1}, {"id"', total=21494, truncated=True, unit="bytes")
    assert "showing the first 26 characters of 21,494 bytes." in render_macro_body(body)


def render_macro_body(body: Body) -> str:
    from conformance.report.render import _environment

    module = _environment().get_template("_macros.html.j2").module
    return str(module.body(body, "Response body"))  # type: ignore[attr-defined]


def test_body_view_cuts_long_lines_by_characters() -> None:
    body = body_view("x" * 5000, limit=4000)
    assert body and (len(body.text), body.total, body.truncated) == (4000, 5000, True)
    assert body_view("short") == body_view("short", limit=5) and not body_view("short").truncated  # type: ignore[union-attr]
    assert body_view("") is None and body_view(None) is None


def test_report_pretty_prints_json_bodies_and_keeps_other_text(make_result: Make) -> None:
    report = build_report(Result.from_dict(make_result()))
    envelope = next(f for f in report.findings if f.rule == "errors.envelope").response_body
    assert envelope and envelope.text == '{\n  "message": "not found"\n}'


def test_report_has_a_curl_for_each_finding_with_a_request(make_result: Make) -> None:
    report = build_report(Result.from_dict(make_result()))
    curls = {f.rule: f.curl for f in report.findings}
    assert curls["rate-limit.headers"] == ""
    assert '\'{"customer": "O\'"\'"\'Brien"' in curls["idempotency.replay-same-resource"]
    assert '"Authorization: Bearer $API_KEY"' in curls["errors.envelope"]


def test_report_shows_run_facts(make_result: Make) -> None:
    html = _render(make_result(duration_s=754.2, requests_sent=12812, seed=7))
    for text in (
        "http://127.0.0.1:8123/v1",
        "2026-11-23 10:00:00 UTC",
        "12 min 34 s",
        "12,812",
        "4 failed</strong>, 1 accepted, 14 passed, 2 skipped",
    ):
        assert text in html


def test_report_shows_requests_per_rule_family_and_rule(make_result: Make) -> None:
    """Issue 13: where the requests go, so the next cut is visible; families first, most requests first."""
    by_rule = {"schema.server-error": 300, "pagination.complete": 60, "pagination.no-duplicates": 40}
    report = build_report(Result.from_dict(make_result(requests_sent=400, requests_by_rule=by_rule)))
    rows = [(r.category, r.rule, r.requests) for r in report.requests]
    assert rows == [
        ("schema", "", 300),
        ("schema", "schema.server-error", 300),
        ("pagination", "", 100),
        ("pagination", "pagination.complete", 60),
        ("pagination", "pagination.no-duplicates", 40),
    ]
    html = render_report(report)
    assert 'id="requests"' in html and "75 %" in html and "pagination.no-duplicates" in html
    assert 'id="requests"' not in _render(make_result())  # an older result without the figures


def test_report_expands_every_finding_when_printed(make_result: Make) -> None:
    html = _render(make_result())
    print_css = html[html.index("@media print") :]
    assert "details::details-content" in print_css and "beforeprint" in html


def test_write_html_and_index_link_each_api(make_result: Make, tmp_path: Path) -> None:
    results = [make_result(), make_result(api="billing", findings=[])]
    for data in results:
        write_html(data, tmp_path / f"{data['api']}.html")
    write_index(results, tmp_path / "index.html")
    index = (tmp_path / "index.html").read_text()
    hrefs = [attrs["href"] for tag, attrs in _elements(index) if tag == "a"]
    assert hrefs == ["goat.html", "billing.html"]
    assert all((tmp_path / str(href)).exists() for href in hrefs)


def test_percent_never_rounds_a_failure_up_to_a_perfect_score() -> None:
    assert [percent(s) for s in (None, 0.0, 0.001, 2 / 3, 0.999, 1.0)] == ["—", "0%", "1%", "67%", "99%", "100%"]


def test_format_duration_reads_naturally() -> None:
    assert [format_duration(s) for s in (None, 12.34, 125, 3725)] == ["-", "12.3 s", "2 min 05 s", "1 h 02 min"]


def test_notes_are_shown_apart_from_findings_and_change_no_count(make_result: Make) -> None:
    data = make_result()
    note = dict(data["findings"][0], rule="rate-limit.exceeded", message="the limit was not reached by a burst of 100")
    plain = build_report(Result.from_dict(data))
    noted = build_report(Result.from_dict({**data, "notes": [note]}))
    assert noted.counts == plain.counts and len(noted.findings) == len(plain.findings)
    html = render_report(noted)
    notes_part = html.split('id="notes"', 1)[1]
    assert "the limit was not reached by a burst of 100" in notes_part
    assert 'class="badge note"' in notes_part
    assert "the limit was not reached" not in html.split('id="notes"', 1)[0]
    assert "No notes." in _render(data)
