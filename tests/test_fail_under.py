"""`--fail-under [CATEGORY=]SCORE`: the score the HTML report shows, also in the JSON result and on the
console, gates the run (exit 1 under it), even when every finding is accepted by the baseline.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from conformance.cli import main
from conformance.report.score import Threshold, ThresholdError, failed_thresholds, parse_threshold, score_percent
from conformance.report.writer import write_reports

FAULTY = ["run", "goat", "-q", "--seed", "7", "-k", "not test_schema"]
FAULTY += ["--fault", "errors.envelope", "--rule", "errors.envelope"]


def result_with(passed: int, failed: int) -> dict[str, Any]:
    """A goat result of `passed + failed` checks (errors.envelope on made-up operations), `failed` with a finding."""
    checks, findings = [], []
    for index in range(passed + failed):
        outcome = "failed" if index < failed else "passed"
        checks.append({"rule": "errors.envelope", "category": "errors", "operation": f"op{index}", "outcome": outcome})
        if outcome == "failed":
            findings.append(
                {"rule": "errors.envelope", "category": "errors", "tier": "documented", "operation": f"op{index}",
                 "title": "t", "message": f"broken {index}", "source": "", "request": None, "response": None,
                 "accepted": False, "baseline_reason": None}
            )  # fmt: skip
    return {"api": "goat", "base_url": "http://127.0.0.1:1/v1", "started_at": "2026-01-01T00:00:00Z",
            "duration_s": 1.0, "requests_sent": 1, "seed": 7, "tool_version": "0", "checks": checks,
            "findings": findings, "notes": [], "summary": {}}  # fmt: skip


@pytest.mark.parametrize(("passed", "failed", "shown"), [(249, 1, 99), (1, 249, 1), (179, 21, 90), (2, 1, 67)])
def test_the_json_score_is_the_percent_the_html_ring_shows(
    tmp_path: Path, passed: int, failed: int, shown: int
) -> None:
    """The JSON result's score and the report's ring, each made by its own writer from one result, agree,
    also where plain rounding would not (99.6% is 99, never 100, with a failed check; 0.4% is 1)."""
    write_reports(result_with(passed, failed), tmp_path)
    written = json.loads((tmp_path / "goat.json").read_text(encoding="utf-8"))
    html = (tmp_path / "goat.html").read_text(encoding="utf-8")
    ring = re.findall(r'class="score-text"[^>]*>(\d+)%<', html)
    assert written["score"]["total"] == written["score"]["categories"]["errors"] == shown
    assert ring and set(ring) == {str(shown)}


def test_the_gate_reads_the_score_the_report_shows() -> None:
    assert score_percent(0.996) == 99 and score_percent(0.004) == 1 and score_percent(None) is None
    assert failed_thresholds({"total": 90, "categories": {}}, [Threshold(90)]) == []
    assert failed_thresholds({"total": 89, "categories": {}}, [Threshold(90)]) == [
        "score 89% is under --fail-under 90 (90%)"
    ]
    assert failed_thresholds({"total": 100, "categories": {"auth": None}}, [Threshold(50, "auth")]) == [
        "auth score: no check reached a verdict, under --fail-under auth=50"
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ninety", "'ninety' is not SCORE or CATEGORY=SCORE; e.g. 90, total=90 or errors=95 (a whole percent)"),
        ("9_0", "'9_0' is not SCORE or CATEGORY=SCORE; e.g. 90, total=90 or errors=95 (a whole percent)"),
        ("=90", "'=90' is not SCORE or CATEGORY=SCORE; e.g. 90, total=90 or errors=95 (a whole percent)"),
        ("+90", "'+90' is not SCORE or CATEGORY=SCORE; e.g. 90, total=90 or errors=95 (a whole percent)"),
        ("errors==90", "'errors==90' is not SCORE or CATEGORY=SCORE; e.g. 90, total=90 or errors=95 (a whole percent)"),
        ("101", "'101': the score is a percent, 0 to 100"),
        ("eror=90", "'eror=90': unknown category 'eror'; did you mean 'errors'?"),
        ("totl=90", "'totl=90': unknown category 'totl'; did you mean 'total'?"),
    ],
)
def test_a_bad_threshold_says_how_to_write_one(text: str, message: str) -> None:
    with pytest.raises(ThresholdError) as caught:
        parse_threshold(text)
    assert str(caught.value) == message
    assert parse_threshold("rate-limit=75") == Threshold(75, "rate-limit")


def test_total_is_the_whole_run_on_the_command_line_as_in_the_config_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert parse_threshold("total=90") == parse_threshold("90") == Threshold(90)
    assert main([*FAULTY, "--fail-under", "total=100"]) == 1
    assert "  FAIL  score " in capsys.readouterr().out


def test_a_bad_threshold_is_a_usage_error_before_anything_runs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "goat", "--fail-under", "errors=abc"]) == 2
    assert capsys.readouterr().err.startswith("error: --fail-under 'errors=abc' is not SCORE or CATEGORY=SCORE")


def test_a_run_whose_findings_are_all_accepted_still_fails_under_the_score(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    baseline = tmp_path / "baseline.yaml"
    assert main([*FAULTY, "--baseline", str(baseline), "--update-baseline", "--fail-under", "100"]) == 0
    capsys.readouterr()

    reports = tmp_path / "reports"
    code = main([*FAULTY, "--baseline", str(baseline), "--report-dir", str(reports), "--fail-under", "99"])
    out = capsys.readouterr().out
    result = json.loads((reports / "goat.json").read_text(encoding="utf-8"))
    assert result["findings"] and all(item["accepted"] for item in result["findings"])
    total, errors = result["score"]["total"], result["score"]["categories"]["errors"]
    assert code == 1 and total < 99
    lines = out.splitlines()
    assert f"  FAIL  score {total}% is under --fail-under 99 (99%)" in lines
    fail = lines.index(f"  FAIL  score {total}% is under --fail-under 99 (99%)")
    assert fail < next(i for i, line in enumerate(lines) if line.startswith("report: "))  # FAIL lines first
    assert f", score {total}%;" in out  # the console summary
    html = (reports / "goat.html").read_text(encoding="utf-8")
    assert re.search(rf'class="score-text"[^>]*>{total}%<', html)  # the report's ring

    code = main([*FAULTY, "--baseline", str(baseline), "--fail-under", str(total), "--fail-under", f"errors={errors}"])
    assert code == 0, capsys.readouterr().out
    code = main([*FAULTY, "--baseline", str(baseline), "--fail-under", f"errors={errors + 1}"])
    assert code == 1
    assert f"  FAIL  errors score {errors}% is under --fail-under errors={errors + 1}" in capsys.readouterr().out
