"""The HTML report in a real browser: headless Chromium renders it, a click opens a finding,
the filters hide and show findings, and print mode shows everything.

Screenshots land in `reports/screenshots/` (not committed) for a person to look at.
Needs Debian's `chromium` package; the test skips, saying so, only when it is missing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conformance.report import write_html, write_index

from .chromium import Chromium, find_chromium

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parents[2] / "reports" / "screenshots"
Make = Callable[..., dict[str, Any]]


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chromium]:
    """A headless Chromium with a fresh profile, shared by this module's tests."""
    binary = find_chromium()
    if binary is None:
        pytest.skip("chromium is not installed (apt-get install chromium); the browser test needs it")
    with Chromium(binary, tmp_path_factory.mktemp("chromium-profile")) as chromium:
        yield chromium


@pytest.fixture
def report(browser: Chromium, make_result: Make, tmp_path: Path) -> Chromium:
    """The fake goat report, opened in the browser."""
    write_html(make_result(), tmp_path / "goat.html")
    browser.errors.clear()
    browser.page("Emulation.setEmulatedMedia", {"media": ""})
    browser.open((tmp_path / "goat.html").as_uri())
    return browser


def _visible_findings(browser: Chromium) -> list[str]:
    return browser.evaluate(  # type: ignore[no-any-return]
        "Array.from(document.querySelectorAll('details.finding'))"
        ".filter(d => d.checkVisibility()).map(d => d.dataset.rule)"
    )


def test_report_runs_its_script_without_errors(report: Chromium) -> None:
    assert report.evaluate("document.documentElement.classList.contains('js')")
    assert report.errors == []  # a script blocked by the page's CSP would show up here
    report.screenshot(SCREENSHOTS / "report.png")


def test_matrix_renders_with_the_right_counts(report: Chromium) -> None:
    cells = report.evaluate("""
        Object.fromEntries(Array.from(document.querySelectorAll('#conformance-matrix tbody tr')).map(row => [
            row.dataset.operation,
            Object.fromEntries(Array.from(row.querySelectorAll('td')).map(td => [
                td.dataset.category, td.innerText.replace(/\\s+/g, ' ').trim()]))]))
    """)
    assert list(cells) == ["listProducts", "getProduct", "createOrder", "listOrders", "*"]
    assert cells["listProducts"]["pagination"] == "✗ 1 failed 2 passed"
    assert cells["createOrder"]["schema"] == "✓ 2 passed"
    assert cells["listOrders"]["auth"] == "! 1 accepted 1 passed"
    assert cells["listOrders"]["pagination"] == "✓ 1 passed 1 skipped"
    assert cells["*"]["rate-limit"] == "✗ 1 failed 1 skipped"
    assert cells["getProduct"]["transport"] == "n/a"
    colour = report.evaluate(
        "getComputedStyle(document.querySelector('tr[data-operation=getProduct] td[data-category=errors]'))"
        ".backgroundColor"
    )
    assert colour == "rgb(255, 235, 233)"  # failed cells are red
    assert report.evaluate("document.getElementById('verdict').innerText").startswith("4 failed, 1 accepted")


def test_finding_expands_on_click_and_shows_its_curl(report: Chromium) -> None:
    selector = "details[data-rule='idempotency.replay-same-resource']"
    assert report.evaluate(f'document.querySelector("{selector}").open') is False
    assert not report.evaluate(f'document.querySelector("{selector} pre.curl").checkVisibility()')
    report.click(f"{selector} > summary")
    assert report.evaluate(f'document.querySelector("{selector}").open') is True
    curl = report.evaluate(f'document.querySelector("{selector} pre.curl")')
    assert curl is not None
    assert report.evaluate(f'document.querySelector("{selector} pre.curl").checkVisibility()')
    assert "$API_KEY" in report.evaluate(f'document.querySelector("{selector} pre.curl").textContent')
    report.screenshot(SCREENSHOTS / "report-finding-open.png")
    report.click(f"{selector} > summary")
    assert report.evaluate(f'document.querySelector("{selector}").open') is False


def test_matrix_cell_opens_its_finding(report: Chromium) -> None:
    report.click("tr[data-operation=getProduct] td[data-category=errors] a")
    assert report.evaluate("document.querySelector(\"details[data-rule='errors.envelope']\").open") is True


def test_filters_hide_and_show_findings(report: Chromium) -> None:
    every = [
        "errors.envelope",
        "pagination.no-duplicates",
        "idempotency.replay-same-resource",
        "rate-limit.headers",
        "auth.invalid-credentials",
    ]
    assert _visible_findings(report) == every
    report.click("input[data-filter=category][value=pagination]")
    assert _visible_findings(report) == [r for r in every if not r.startswith("pagination")]
    assert report.evaluate("document.querySelector('[data-shown=finding]').textContent") == "4 of 5"
    report.click("input[data-filter=status][value=failed]")
    assert _visible_findings(report) == ["auth.invalid-credentials"]
    report.screenshot(SCREENSHOTS / "report-filtered.png")
    report.click("input[data-filter=status][value=accepted]")
    assert _visible_findings(report) == []
    assert report.evaluate("document.querySelector('[data-empty=finding]').checkVisibility()")
    report.click("button[data-reset]")
    assert _visible_findings(report) == every


def test_expand_all_opens_every_finding(report: Chromium) -> None:
    report.click("button[data-expand=all]")
    assert report.evaluate("Array.from(document.querySelectorAll('details.finding')).every(d => d.open)")
    report.click("button[data-expand=none]")
    assert report.evaluate("Array.from(document.querySelectorAll('details.finding')).every(d => !d.open)")


def test_printed_report_shows_closed_findings_and_no_controls(report: Chromium) -> None:
    message = "document.querySelector(\"details[data-rule='errors.envelope'] .message\")"
    assert not report.evaluate(f"{message}.checkVisibility()")
    report.page("Emulation.setEmulatedMedia", {"media": "print"})
    assert report.evaluate(f"{message}.checkVisibility()")
    assert not report.evaluate("document.getElementById('filters').checkVisibility()")
    report.pdf(SCREENSHOTS / "report-printed.pdf")


def test_index_links_to_each_api_report(browser: Chromium, make_result: Make, tmp_path: Path) -> None:
    results = [make_result(), make_result(api="billing", findings=[], checks=make_result()["checks"][:5])]
    for data in results:
        write_html(data, tmp_path / f"{data['api']}.html")
    write_index(results, tmp_path / "index.html")
    browser.page("Emulation.setEmulatedMedia", {"media": ""})
    browser.open((tmp_path / "index.html").as_uri())
    rows = browser.evaluate(
        "Array.from(document.querySelectorAll('#apis tbody tr')).map(r => [r.dataset.api, r.dataset.status])"
    )
    assert rows == [["goat", "failed"], ["billing", "passed"]]
    browser.screenshot(SCREENSHOTS / "index.png")
    browser.click("tr[data-api=billing] a")
    browser.wait_for("location.pathname.endsWith('/billing.html') && document.readyState === 'complete'")
    assert browser.evaluate("document.title") == "billing: conformance report"
    assert browser.errors == []


def test_report_of_a_faulty_sandbox_run(browser: Chromium, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A real run against the goat sandbox that breaks the error envelope: the page shows what the JSON holds."""
    from conformance.cli import main

    code = main(
        [
            "run",
            "goat",
            "-q",
            "--seed",
            "3",
            "--fault",
            "errors.envelope",
            "--fault",
            "idempotency.conflict",
            "-k",
            "not test_schema",
            "--report-dir",
            str(tmp_path),
        ]
    )
    capsys.readouterr()
    assert code == 1
    result = json.loads((tmp_path / "goat.json").read_text(encoding="utf-8"))
    failing: dict[tuple[str, str], set[str]] = {}
    for item in result["findings"]:
        failing.setdefault((item["operation"], item["category"]), set()).add(item["rule"])
    browser.errors.clear()
    browser.page("Emulation.setEmulatedMedia", {"media": ""})
    browser.open((tmp_path / "goat.html").as_uri())
    cells = browser.evaluate("""
        Array.from(document.querySelectorAll('#conformance-matrix tbody td')).map(td => [
            td.parentElement.dataset.operation, td.dataset.category, td.dataset.status, Number(td.dataset.failed),
            td.innerText.replace(/\\s+/g, ' ').trim()])
    """)
    shown = {(operation, category): failed for operation, category, _, failed, _ in cells if failed}
    assert shown == {key: len(rules) for key, rules in failing.items()}
    for operation, category, status, failed, text in cells:
        if failed:
            assert status == "failed" and text.startswith(f"✗ {failed} failed"), (operation, category, text)
    assert ("createOrder", "idempotency") in shown and ("getMe", "errors") in shown
    verdict = browser.evaluate("document.getElementById('verdict').innerText")
    assert verdict.startswith(f"{len({(i['rule'], i['operation']) for i in result['findings']})} failed")
    assert browser.evaluate("document.querySelectorAll('details.finding').length") == len(result["findings"])
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.screenshot(SCREENSHOTS / "faulty-sandbox.png")

    # the failed idempotency cell links to its finding, which opens with the exchange and a curl
    browser.click("tr[data-operation=createOrder] td[data-category=idempotency] a")
    selector = "details[data-rule='idempotency.conflict']"
    assert browser.evaluate(f'document.querySelector("{selector}").open') is True
    text = browser.evaluate(f'document.querySelector("{selector} .body").innerText')
    assert "Idempotency-Key" in text and "POST" in text
    curl = browser.evaluate(f'document.querySelector("{selector} pre.curl").textContent')
    assert curl.startswith("curl ") and "$API_KEY" in curl
    assert not any(key in browser.evaluate("document.documentElement.outerHTML") for key in _sandbox_keys())
    browser.screenshot(SCREENSHOTS / "faulty-sandbox-finding.png")

    # filters: with only the idempotency category on, only its finding shows; with failures off, none
    for category in sorted({item["category"] for item in result["findings"]} - {"idempotency"}):
        browser.click(f"input[data-filter=category][value={category}]")
    assert _visible_findings(browser) == ["idempotency.conflict"]
    browser.click("input[data-filter=status][value=failed]")
    assert _visible_findings(browser) == []
    browser.click("button[data-reset]")
    assert len(_visible_findings(browser)) == len(result["findings"])
    assert browser.errors == []


def _sandbox_keys() -> tuple[str, ...]:
    from conformance.sandbox import load_sandbox

    return tuple(load_sandbox("goat").KEYS.values())
