"""`conformance run` end to end against the embedded goat sandbox with faults: what the terminal
shows (progress lines, `-q`), the JSON result and its HTML report agreeing, baselines, and
`conformance diff` of two real runs.

Each run is limited to a few rules (`--rule`, no Schemathesis engine) so it takes about a second.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from conformance.cli import main
from conformance.profile import load_profile
from conformance.report.commands import diff_main
from conformance.report.model import Result
from conformance.rules import RULES
from conformance.sandbox import load_sandbox

KEYS = tuple(load_sandbox("goat").KEYS.values())
FAST = ("-k", "not test_schema", "--seed", "7")
# the engine alone, briefly, against a sandbox whose getProduct breaks its response schema
ENGINE_ON_A_BROKEN_SCHEMA = (
    *("--fault", "schema.response-schema", "--rule", "schema.response-schema"),
    *("-k", "test_schema", "--max-examples", "3"),
)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    """Runs `conformance run goat ARGV…` in-process; returns the exit code and everything printed."""
    code = main(["run", "goat", *FAST, *argv])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def result_of(directory: Path) -> dict[str, Any]:
    return json.loads((directory / "goat.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def test_run_prints_a_line_per_scenario_with_operations_and_running_counts(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, text = run(capsys, "--fault", "errors.envelope", "--rule", "errors.envelope", "--report-dir", str(tmp_path))
    assert code == 1
    lines = text.splitlines()
    assert re.match(
        r"goat: \d+ tests in \d+ scenarios against http://127\.0\.0\.1:\d+/v1 "
        r"\(embedded sandbox, faults: errors\.envelope\); seed 7$",
        lines[0],
    )
    not_found = next(line for line in lines if line.startswith("errors      not found"))
    assert re.search(r"\+3 findings +\d+ in all +\d+\.\d s +✗ getProduct ✗ getOrder ✗ getPayment$", not_found)
    missing = next(line for line in lines if line.startswith("auth        missing credentials"))
    assert "+8 findings" in missing and "✗ getMe" in missing and "✗ testWebhook" in missing
    # running totals never go down, and the last one is the result's number of findings
    totals = [int(m.group(1)) for line in lines if (m := re.search(r" (\d+) in all ", line))]
    assert totals == sorted(totals) and totals[-1] == len(result_of(tmp_path)["findings"])
    # pytest's own dots, headers and FAILURES sections are gone; the summary follows the lines
    assert not any(re.fullmatch(r"[.FsE]+", line.strip()) for line in lines if line.strip())
    assert "test session starts" not in text and "FAILURES" not in text
    summary = next(i for i, line in enumerate(lines) if line.startswith("goat at "))
    assert lines[summary + 1].startswith("  FAIL  errors.envelope")
    assert lines[-1] == f"report: {tmp_path / 'goat.html'} (all APIs: {tmp_path / 'index.html'})"
    assert not any(key in text for key in KEYS)


def test_quiet_run_prints_only_the_summary(capsys: pytest.CaptureFixture[str]) -> None:
    code, text = run(capsys, "-q", "--fault", "errors.envelope", "--rule", "errors.envelope")
    assert code == 1
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines[0].startswith("goat at http://127.0.0.1:")
    assert "failed" in lines[0] and "seed 7" in lines[0]
    assert all(line.startswith("  FAIL  errors.envelope ") for line in lines[1:])
    assert not any(key in text for key in KEYS)


def test_clean_run_exits_0_and_its_json_summary_matches_the_report(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, text = run(
        capsys, "-q", "--rule", "errors.envelope", "--rule", "pagination.complete", "--report-dir", str(tmp_path)
    )
    assert code == 0, text
    result = result_of(tmp_path)
    assert {"api", "base_url", "started_at", "duration_s", "requests_sent", "summary", "findings"} <= set(result)
    assert result["findings"] == [] and result["seed"] == 7
    # one outcome per rule and operation, as the HTML report counts them
    assert result["summary"] == Result.from_dict(result).summary()
    assert result["summary"]["failed"] == 0 and result["summary"]["passed"] > 0
    html = (tmp_path / "goat.html").read_text(encoding="utf-8")
    assert f"{result['summary']['passed']} passed" in html
    # where the requests went (issue 13): every request charged to one rule, the families shown in the report
    assert sum(result["requests_by_rule"].values()) == result["requests_sent"] > 0
    assert all(rule in RULES for rule in result["requests_by_rule"])  # each test's under its first rule
    assert 'id="requests"' in html


def test_faulty_run_counts_one_outcome_per_rule_and_operation(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _ = run(
        capsys, "-q", "--fault", "errors.envelope", "--rule", "errors.envelope", "--report-dir", str(tmp_path)
    )
    assert code == 1
    result = result_of(tmp_path)
    failing = {(item["rule"], item["operation"]) for item in result["findings"]}
    assert result["summary"]["failed"] == len(failing)
    html = (tmp_path / "goat.html").read_text(encoding="utf-8")
    assert f'<strong class="failed">{len(failing)} failed</strong>' in html


def test_baseline_accepts_findings_until_an_entry_expires(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    baseline = tmp_path / "baseline.yaml"
    faulty = ("-q", "--fault", "errors.envelope", "--rule", "errors.envelope")
    code, text = run(capsys, *faulty, "--baseline", str(baseline), "--update-baseline")
    assert code == 0, text  # writing the baseline is what was asked: a success, its findings now accepted
    assert "baseline written" in text and "FAIL" not in text
    entries = yaml.safe_load(baseline.read_text(encoding="utf-8"))["accepted"]
    assert {entry["operation"] for entry in entries} >= {"getMe", "getProduct", "*"}
    assert all(entry["rule"] == "errors.envelope" and entry["api"] == "goat" for entry in entries)

    for entry in entries:
        entry["reason"] = "legacy envelope until API-7 ships"
    baseline.write_text(yaml.safe_dump({"accepted": entries}), encoding="utf-8")
    code, text = run(capsys, *faulty, "--baseline", str(baseline), "--report-dir", str(tmp_path / "accepted"))
    assert code == 0, text
    result = result_of(tmp_path / "accepted")
    assert result["findings"] and all(item["accepted"] for item in result["findings"])
    assert {item["baseline_reason"] for item in result["findings"]} == {"legacy envelope until API-7 ships"}
    assert result["summary"]["failed"] == 0 and result["summary"]["accepted"] == len(entries)
    assert "FAIL" not in text

    getme = next(entry for entry in entries if entry["operation"] == "getMe")
    getme["expires"] = "2020-01-31"
    baseline.write_text(yaml.safe_dump({"accepted": entries}), encoding="utf-8")
    code, text = run(capsys, *faulty, "--baseline", str(baseline), "--report-dir", str(tmp_path / "expired"))
    assert code == 1
    result = result_of(tmp_path / "expired")
    assert {item["operation"] for item in result["findings"] if not item["accepted"]} == {"getMe"}
    assert [entry["operation"] for entry in result["baseline"]["expired"]] == ["getMe"]
    assert re.search(r"^  FAIL  errors\.envelope +getMe +\(accepted until 2020-01-31, expired\) ", text, re.M)
    html = (tmp_path / "expired" / "goat.html").read_text(encoding="utf-8")
    assert "expired on 2020-01-31" in html

    baseline.write_text("accepted:\n  - rule: errors.envelop\n    operation: getMe\n    reason: x\n", encoding="utf-8")
    code, text = run(capsys, *faulty, "--baseline", str(baseline))
    assert code == 2
    assert "did you mean 'errors.envelope'?" in text


def test_diff_of_two_real_runs_shows_the_fix_and_the_regression(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    rules = ("-q", "--rule", "errors.envelope", "--rule", "pagination.no-duplicates", "--rule", "idempotency.conflict")
    old, new = tmp_path / "old", tmp_path / "new"
    run(capsys, *rules, "--fault", "errors.envelope", "--fault", "pagination.no-duplicates", "--report-dir", str(old))
    run(capsys, *rules, "--fault", "errors.envelope", "--fault", "idempotency.conflict", "--report-dir", str(new))
    fragment = tmp_path / "diff-fragment.html"
    code = diff_main(
        [
            str(old / "goat.json"),
            str(new / "goat.json"),
            "--html",
            str(tmp_path / "diff.html"),
            "--html-fragment",
            str(fragment),
        ]
    )
    text = capsys.readouterr().out
    assert code == 1
    assert re.search(r"^  \+ idempotency\.conflict +createOrder ", text, re.M)
    assert re.search(r"^  - pagination\.no-duplicates +listProducts ", text, re.M)
    assert re.search(r"^  = errors\.envelope +getMe ", text, re.M)
    assert fragment.read_text(encoding="utf-8").startswith('<section class="conformance-diff">')
    assert "<!DOCTYPE html>" in (tmp_path / "diff.html").read_text(encoding="utf-8")
    # the fix alone is no regression
    assert diff_main([str(old / "goat.json"), str(old / "goat.json")]) == 0
    capsys.readouterr()


@pytest.mark.slow
def test_run_with_workers_reaches_the_embedded_sandbox(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, text = run(
        capsys,
        "--workers",
        "2",
        "--fault",
        "errors.envelope",
        "--rule",
        "errors.envelope",
        "--report-dir",
        str(tmp_path),
    )
    assert code == 1, text
    result = result_of(tmp_path)
    assert result["seed"] == 7
    assert {item["operation"] for item in result["findings"]} >= {"getMe", "getProduct"}
    assert "errors      not found" in text
    assert "bringing up nodes" not in text  # xdist's status lines would break the progress lines


@pytest.mark.slow
def test_run_with_workers_splits_the_engine_and_keeps_its_findings(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, text = run(capsys, "--workers", "2", *ENGINE_ON_A_BROKEN_SCHEMA, "--report-dir", str(tmp_path))
    assert code == 1, text
    result = result_of(tmp_path)
    assert {(f["rule"], f["operation"]) for f in result["findings"]} == {("schema.response-schema", "getProduct")}
    judged = [c["operation"] for c in result["checks"] if c["rule"] == "schema.response-schema"]
    assert sorted(judged) == sorted(load_profile("goat").operations)  # each operation once, on one worker or the other
    assert result["requests_sent"] > 0


@pytest.mark.slow
def test_run_shows_the_engine_phases_per_operation(capsys: pytest.CaptureFixture[str]) -> None:
    code, text = run(capsys, *ENGINE_ON_A_BROKEN_SCHEMA)
    assert code == 1
    phases = {m.group(1): m.group(0) for m in re.finditer(r"^schema +engine: (\w+) .*$", text, re.M)}
    assert {"examples", "coverage", "fuzzing"} <= set(phases)
    assert "✗ getProduct" in phases["examples"] and "✓ listProducts" in phases["examples"]
    assert re.search(r"\(\d+\.\d s\)$", phases["coverage"])
    assert re.search(r"^schema +engine findings +\+1 finding .* ✗ getProduct", text, re.M)


def test_a_baseline_entry_for_a_rule_that_did_not_run_is_neither_unused_nor_dropped(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    baseline = tmp_path / "baseline.yaml"
    other = {"rule": "pagination.no-duplicates", "operation": "listProducts", "reason": "PAG-9", "api": "goat"}
    fixed = {"rule": "errors.envelope", "operation": "getMe", "reason": "API-7", "api": "goat"}
    baseline.write_text(yaml.safe_dump({"accepted": [other, fixed]}), encoding="utf-8")
    only = ("-q", "--rule", "errors.envelope")  # no fault: the envelope entry matches nothing, it is fixed
    code, text = run(capsys, *only, "--baseline", str(baseline), "--report-dir", str(tmp_path))
    assert code == 0, text
    note = result_of(tmp_path)["baseline"]
    assert [entry["rule"] for entry in note["unused"]] == ["errors.envelope"]
    assert [entry["rule"] for entry in note["unchecked"]] == ["pagination.no-duplicates"]
    assert "BASELINE errors.envelope on getMe" in text and "pagination.no-duplicates" not in text
    html = (tmp_path / "goat.html").read_text(encoding="utf-8")
    assert "<code>errors.envelope</code> on <code>getMe</code> matched nothing" in html
    assert "<code>pagination.no-duplicates</code> on <code>listProducts</code> matched nothing" not in html

    code, text = run(capsys, *only, "--baseline", str(baseline), "--update-baseline")
    assert code == 0, text
    kept = yaml.safe_load(baseline.read_text(encoding="utf-8"))["accepted"]
    assert kept == [other]  # the fixed entry goes; the one for a rule this run left out stays


def test_the_run_says_its_pace_and_why_at_the_start(capsys: pytest.CaptureFixture[str]) -> None:
    """A storefront run at the old default of 20 requests/s took 37 s with nothing saying why."""
    from conformance.sandbox.runner import running_sandbox

    with running_sandbox("storefront", rate_limit=(1000, 1)) as sandbox:
        target = ["--base-url", sandbox.base_url, "--api-key", sandbox.api_key, "--rule", "errors.unknown-route"]
        assert main(["run", "storefront", *target]) == 0
        default = capsys.readouterr().out.splitlines()[1]
        assert main(["run", "storefront", *target, "--pace", "200/1"]) == 0
        chosen = capsys.readouterr().out.splitlines()[1]
    assert default == (
        "  pace: 1200 requests per 60 s, the suite's default: the documents give no figure; "
        "--pace N/SECONDS if the server allows more"
    )
    assert chosen == "  pace: 200 requests per 1 s (--pace)"
    code, text = run(capsys, "--rule", "errors.unknown-route")
    assert code == 0 and text.splitlines()[1].startswith("  pace: ") and "the embedded sandbox's limit" in text
