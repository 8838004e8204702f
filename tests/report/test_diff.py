"""Run-to-run diffs and the `report` and `diff` commands."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conformance.diff import diff_results, regressed, render_html, render_text
from conformance.report.commands import diff_main, report_main

Make = Callable[..., dict[str, Any]]


def _set_outcome(result: dict[str, Any], rule: str, operation: str, outcome: str) -> None:
    for check in result["checks"]:
        if (check["rule"], check["operation"]) == (rule, operation):
            check["outcome"] = outcome


def _fixed_and_regressed(make_result: Make) -> tuple[dict[str, Any], dict[str, Any]]:
    """Returns (old, new): errors.envelope on getProduct fixed, pagination.complete broken."""
    old, new = make_result(started_at="2026-11-22T10:00:00Z"), make_result()
    new["findings"] = [f for f in new["findings"] if f["rule"] != "errors.envelope"]
    _set_outcome(new, "errors.envelope", "getProduct", "passed")
    _set_outcome(new, "pagination.complete", "listProducts", "failed")
    new["findings"].append(
        {
            "rule": "pagination.complete",
            "operation": "listProducts",
            "title": "A walk returns every item",
            "message": "p-0050 was skipped <b>.",
        }
    )
    return old, new


def test_diff_shows_a_fix_and_a_regression(make_result: Make) -> None:
    diff = diff_results(*_fixed_and_regressed(make_result))
    assert [(e.rule, e.operation) for e in diff.fixed] == [("errors.envelope", "getProduct")]
    assert [(e.rule, e.operation, e.status) for e in diff.new] == [("pagination.complete", "listProducts", "failed")]
    assert len(diff.unchanged) == 4 and not diff.unverified
    assert regressed(diff)


def test_diff_text_lists_each_change(make_result: Make) -> None:
    assert (
        render_text(diff_results(*_fixed_and_regressed(make_result)))
        == """\
old: goat at 2026-11-22 10:00:00 UTC against http://127.0.0.1:8123/v1
new: goat at 2026-11-23 10:00:00 UTC against http://127.0.0.1:8123/v1
Regressed: 1 new failing finding (1 fixed, 1 new, 4 unchanged)

New findings (1):
  + pagination.complete               listProducts  A walk returns every item

Fixed (1):
  - errors.envelope                   getProduct    Errors use the documented envelope

Unchanged (4):
  = pagination.no-duplicates          listProducts  No item appears twice in a walk
  = idempotency.replay-same-resource  createOrder   A replay returns the same resource
  = auth.invalid-credentials          listOrders    Invalid credentials are refused  [accepted]
  = rate-limit.headers                API-wide      Rate-limit headers are present
"""
    )


def test_diff_ignores_wording_changes(make_result: Make) -> None:
    new = make_result()
    for finding in new["findings"]:
        finding["message"] = "Better words. " + finding["message"]
    diff = diff_results(make_result(), new)
    assert not diff.new and not diff.fixed and not regressed(diff)


def test_diff_does_not_call_a_skipped_check_fixed(make_result: Make) -> None:
    new = make_result()
    new["findings"] = [f for f in new["findings"] if f["rule"] != "errors.envelope"]
    _set_outcome(new, "errors.envelope", "getProduct", "skipped")
    diff = diff_results(make_result(), new)
    assert not diff.fixed
    assert [(e.rule, e.note) for e in diff.unverified] == [("errors.envelope", "skipped in the new run")]


def test_diff_new_accepted_finding_is_not_a_regression(make_result: Make) -> None:
    old, new = _fixed_and_regressed(make_result)
    new["findings"][-1]["accepted"] = True
    assert not regressed(diff_results(old, new))


def test_diff_notes_a_finding_whose_acceptance_changed(make_result: Make) -> None:
    new = make_result()
    new["findings"][3]["accepted"] = False  # auth.invalid-credentials: its baseline entry expired
    diff = diff_results(make_result(), new)
    changed = [e for e in diff.unchanged if e.note]
    assert [(e.rule, e.status, e.note) for e in changed] == [("auth.invalid-credentials", "failed", "was accepted")]


def test_diff_html_fragment_escapes_and_marks_sections(make_result: Make) -> None:
    html = render_html(diff_results(*_fixed_and_regressed(make_result)))
    assert html.startswith('<section class="conformance-diff">') and "<html" not in html
    assert "p-0050 was skipped &lt;b&gt;." in html
    assert html.count('data-diff="new"') == 1 and html.count('data-diff="fixed"') == 1


# --- commands -------------------------------------------------------------------------------


def _save(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data))
    return path


def test_diff_main_exits_1_on_regression_and_writes_html(
    make_result: Make, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old, new = _fixed_and_regressed(make_result)
    code = diff_main(
        [
            str(_save(tmp_path / "old.json", old)),
            str(_save(tmp_path / "new.json", new)),
            "--html",
            str(tmp_path / "diff.html"),
        ]
    )
    assert code == 1
    assert "Regressed: 1 new failing finding" in capsys.readouterr().out
    page = (tmp_path / "diff.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "Content-Security-Policy" in page


def test_diff_main_exits_0_when_only_fixed(
    make_result: Make, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    new = make_result()
    new["findings"] = [f for f in new["findings"] if f["rule"] != "errors.envelope"]
    _set_outcome(new, "errors.envelope", "getProduct", "passed")
    code = diff_main([str(_save(tmp_path / "old.json", make_result())), str(_save(tmp_path / "new.json", new))])
    assert code == 0
    assert "No regression (1 fixed, 0 new, 4 unchanged)" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(None, "missing.json: no such file", id="missing"),
        pytest.param("{not json", "bad.json:1:2: not valid JSON (Expecting property name", id="not-json"),
        pytest.param('{"checks": []}', "bad.json: not a conformance result: 'api' is missing", id="not-a-result"),
    ],
)
def test_commands_exit_2_with_one_line_error_on_a_bad_file(
    make_result: Make, tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, message: str
) -> None:
    good = _save(tmp_path / "good.json", make_result())
    bad = tmp_path / ("missing.json" if content is None else "bad.json")
    if content is not None:
        bad.write_text(content)
    assert diff_main([str(good), str(bad)]) == 2
    assert report_main([str(bad)]) == 2
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 2 and all(line.startswith("error: ") and message in line for line in errors)


def test_commands_exit_2_on_usage_errors_and_0_on_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert diff_main(["only-one.json"]) == 2
    assert report_main([]) == 2
    assert diff_main(["--help"]) == 0
    assert "exit status: 0 no regression, 1" in capsys.readouterr().out.lower()


def test_report_main_regenerates_the_html_beside_the_json(
    make_result: Make, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = _save(tmp_path / "goat.json", make_result())
    assert report_main([str(result)]) == 0
    assert (tmp_path / "goat.html").read_text().startswith("<!DOCTYPE html>")
    assert report_main([str(result), "--out", str(tmp_path / "out" / "x.html")]) == 0
    assert (tmp_path / "out" / "x.html").exists()
    assert capsys.readouterr().out.splitlines() == [
        f"wrote {tmp_path / 'goat.html'}",
        f"wrote {tmp_path / 'out' / 'x.html'}",
    ]


# --- the same commands through `conformance` itself (the top-level parser once swallowed their options) ----


@pytest.mark.parametrize(
    ("argv", "shown"),
    [
        (["diff", "--help"], "usage: conformance diff"),
        (["diff", "-h"], "usage: conformance diff"),
        (["report", "--help"], "usage: conformance report"),
        (["report", "-h"], "usage: conformance report"),
    ],
)
def test_help_of_report_and_diff_reaches_their_own_parser(
    capsys: pytest.CaptureFixture[str], argv: list[str], shown: str
) -> None:
    from conformance.cli import main

    assert main(argv) == 0
    assert capsys.readouterr().out.startswith(shown)


def test_diff_takes_its_options_before_the_files(make_result: Make, tmp_path: Path) -> None:
    from conformance.cli import main

    old, new = _fixed_and_regressed(make_result)
    files = [str(_save(tmp_path / "old.json", old)), str(_save(tmp_path / "new.json", new))]
    assert main(["diff", "--html", str(tmp_path / "diff.html"), *files]) == 1
    assert (tmp_path / "diff.html").read_text().startswith("<!DOCTYPE html>")


def test_diff_of_two_different_apis_is_a_usage_error(
    make_result: Make, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from conformance.cli import main

    other = {**make_result(), "api": "storefront"}
    old, new = _save(tmp_path / "goat.json", make_result()), _save(tmp_path / "storefront.json", other)
    assert main(["diff", str(old), str(new)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "No regression" not in out
    assert err == f"error: {old} is a result of 'goat', {new} of 'storefront'; diff two runs of the same API\n"
