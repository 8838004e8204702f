"""The SARIF log `conformance run --report-dir` writes: valid against the official SARIF 2.1.0 schema
(vendored in tests/schemas/ with its licence), one result per finding, each on the spec line of its
operation (or of the profile section an API-wide rule reads), levels by tier, no secret.

One real run against goat's sandbox with a broken error envelope (`--rule`, no engine: a few seconds).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from conformance.cli import main
from conformance.interrupt import incomplete
from conformance.report.sarif import category, sarif_log
from conformance.report.writer import write_reports
from conformance.rules import RULES
from conformance.sandbox import load_sandbox
from conformance.specfiles import spec_path
from tests.commands import PYTEST_ROUTE_GOAT

SCHEMA = json.loads((Path(__file__).parent / "schemas" / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
SPEC = spec_path("goat")
SPEC_LINES = SPEC.read_text(encoding="utf-8").splitlines()


def validate(log: dict[str, Any]) -> None:
    validator = jsonschema.Draft4Validator(SCHEMA, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(log)]
    assert not errors, errors[:5]


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("reports")
    argv = ["run", "goat", "-q", "--seed", "7", "-k", "not test_schema"]
    code = main([*argv, "--fault", "errors.envelope", "--rule", "errors.envelope", "--report-dir", str(folder)])
    assert code == 1
    return folder


@pytest.fixture(scope="module")
def log(reports: Path) -> dict[str, Any]:
    return json.loads((reports / "goat.sarif").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def test_the_official_schema_accepts_the_log_of_a_faulty_run(log: dict[str, Any]) -> None:
    validate(log)
    assert log["version"] == "2.1.0"


def test_the_schema_check_itself_rejects_a_broken_log(log: dict[str, Any]) -> None:
    broken = json.loads(json.dumps(log))
    broken["runs"][0]["results"][0]["level"] = "fatal"
    with pytest.raises(AssertionError):
        validate(broken)


def test_one_result_per_finding_with_its_rule_and_level(reports: Path, log: dict[str, Any]) -> None:
    result = json.loads((reports / "goat.json").read_text(encoding="utf-8"))
    results = log["runs"][0]["results"]
    assert len(results) == len(result["findings"]) > 1
    assert [(r["ruleId"], r["properties"]["operation"]) for r in results] == [
        (f["rule"], f["operation"]) for f in result["findings"]
    ]
    assert {r["level"] for r in results} == {"error"}  # errors.envelope is a documented promise
    (rule,) = log["runs"][0]["tool"]["driver"]["rules"]
    assert rule["id"] == "errors.envelope" and rule["properties"]["category"] == "errors"
    assert "consistent JSON body" in rule["help"]["text"]  # the seed sentence of goat's profile


def test_every_result_points_at_the_spec_line_of_its_operation(log: dict[str, Any]) -> None:
    run = log["runs"][0]
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == Path.cwd().resolve().as_uri() + "/"
    operations = 0
    for item in run["results"]:
        (location,) = item["locations"]
        physical = location["physicalLocation"]
        assert physical["artifactLocation"] == {"uri": "specs/goat.yaml", "uriBaseId": "%SRCROOT%"}
        line = physical["region"]["startLine"]
        text = SPEC_LINES[line - 1]
        operation = item["properties"]["operation"]
        if operation == "*":  # API-wide: the profile section errors.envelope reads
            assert text == "  errors:"
            assert SPEC_LINES.index("x-conformance:") < line - 1
            continue
        operations += 1
        assert text.strip().rstrip(":") in ("get", "post", "put", "patch", "delete"), text
        following = SPEC_LINES[line : line + 12]
        assert any(row.strip() == f"operationId: {operation}" for row in following), (operation, text)
    assert operations >= 5


def test_levels_follow_the_tier_and_accepted_findings_are_suppressed() -> None:
    findings = [
        {"rule": "errors.request-id", "operation": "getMe", "tier": "inferred", "message": "no req_ prefix"},
        {
            "rule": "errors.envelope",
            "operation": "listProducts",
            "tier": "documented",
            "message": "not the envelope",
            "accepted": True,
            "baseline_reason": "legacy envelope until API-7",
        },
    ]
    log = sarif_log({"api": "goat", "findings": findings}, SPEC, root=SPEC.parent.parent)
    validate(log)
    inferred, accepted = log["runs"][0]["results"]
    assert inferred["level"] == "warning" and "suppressions" not in inferred
    assert accepted["level"] == "error"
    assert accepted["suppressions"] == [
        {"kind": "external", "status": "accepted", "justification": "legacy envelope until API-7"}
    ]


def test_a_spec_outside_the_checkout_gets_an_absolute_uri(tmp_path: Path) -> None:
    copy = tmp_path / "goat.yaml"
    copy.write_text(SPEC.read_text(encoding="utf-8"), encoding="utf-8")
    finding = {"rule": "errors.envelope", "operation": "getMe", "tier": "documented", "message": "m"}
    log = sarif_log({"api": "goat", "findings": [finding]}, copy, root=tmp_path / "elsewhere")
    validate(log)
    physical = log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
    assert physical["artifactLocation"] == {"uri": copy.resolve().as_uri()}
    assert "originalUriBaseIds" not in log["runs"][0]
    assert SPEC_LINES[physical["region"]["startLine"] - 1].strip() == "get:"


def test_no_report_holds_the_key_the_run_sent(reports: Path) -> None:
    keys = tuple(load_sandbox("goat").KEYS.values())
    result = (reports / "goat.json").read_text(encoding="utf-8")
    assert "[REDACTED]" in result  # a finding's request carried the key: there was a secret to leak
    for name in ("goat.sarif", "goat.wfc.json", "goat.wfc.sh", "goat.json", "goat.html"):
        text = (reports / name).read_text(encoding="utf-8")
        assert not any(key in text for key in keys), name
    assert "$API_KEY" in (reports / "goat.wfc.sh").read_text(encoding="utf-8")


def test_the_pytest_route_writes_the_same_log(tmp_path: Path) -> None:
    argv = [*PYTEST_ROUTE_GOAT, "-q", "--conformance-seed", "7", "-k", "not test_schema"]
    argv += ["--conformance-sandbox-fault", "errors.envelope", "--conformance-rule", "errors.envelope"]
    done = subprocess.run([*argv, "--conformance-report-dir", str(tmp_path)], capture_output=True, timeout=120)
    assert done.returncode == 1, done.stdout[-2000:]
    log = json.loads((tmp_path / "goat.sarif").read_text(encoding="utf-8"))
    validate(log)
    results = log["runs"][0]["results"]
    assert results and {r["ruleId"] for r in results} == {"errors.envelope"}
    assert all(r["locations"][0]["physicalLocation"]["region"]["startLine"] > 1 for r in results)
    # the same selection (--rule, -k) is the same code-scanning category, whichever route ran it
    assert log["runs"][0]["automationDetails"] == {"id": CATEGORY}


# The fixture's run selected one rule and a -k expression: a partial run, with a category of its own.
CATEGORY = "api-conformance/goat/rules=errors.envelope;k=not_test_schema~" + "6ca4f229/"


def test_a_partial_run_uploads_under_a_category_of_its_own(log: dict[str, Any]) -> None:
    """An upload replaces its category's alerts: a `--rule`/`-k` run must not close the full run's."""
    assert log["runs"][0]["automationDetails"]["id"] == CATEGORY
    assert category({"api": "goat"}) == "api-conformance/goat/"  # the full run
    narrowed = {"api": "goat", "selection": {"keyword": "not test_auth"}}
    assert category(narrowed) not in (CATEGORY, "api-conformance/goat/")
    assert category(narrowed).startswith("api-conformance/goat/k=not_test_auth~")
    rules = {"api": "goat", "selection": {"rules": ["b.y", "a.x"]}}
    assert category(rules) == "api-conformance/goat/rules=a.x+b.y/"
    budget = {"api": "goat", "plan": {"skipped": {"engine": "skipped for budget", "burst": "…"}}}
    assert category(budget) == "api-conformance/goat/budget-skipped=burst+engine/"
    assert category({"api": "goat", "plan": {"skipped": {}}}) == "api-conformance/goat/"


@pytest.fixture
def stale(tmp_path: Path) -> Path:
    """A report folder holding the SARIF file of an earlier, complete run."""
    folder = tmp_path / "reports"
    folder.mkdir()
    (folder / "goat.sarif").write_text('{"runs": []}', encoding="utf-8")
    return folder


def test_an_unreachable_server_writes_no_sarif_so_no_alert_is_closed(
    stale: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CONFORMANCE_API_KEY", "any-key-at-all")
    assert main(["run", "goat", "--base-url", "http://127.0.0.1:9/v1", "--report-dir", str(stale)]) == 2
    assert "no SARIF" in capsys.readouterr().err
    result = json.loads((stale / "goat.json").read_text(encoding="utf-8"))
    assert [item["rule"] for item in result["findings"]] == ["transport.unreachable"]  # the artifact says why
    assert not (stale / "goat.sarif").exists()  # the earlier run's file is gone: the action uploads nothing
    assert (stale / "goat.html").is_file() and (stale / "goat.wfc.json").is_file()


def test_an_interrupted_or_idle_run_writes_no_sarif(reports: Path, stale: Path) -> None:
    complete = json.loads((reports / "goat.json").read_text(encoding="utf-8"))
    assert write_reports(json.loads(json.dumps(complete)), stale) is None
    assert (stale / "goat.sarif").is_file()

    interrupted = {**json.loads(json.dumps(complete)), "incomplete": incomplete("SIGTERM", ["a", "b"], {"a"})}
    assert write_reports(interrupted, stale) == "the run was interrupted"
    assert not (stale / "goat.sarif").exists()

    idle = {**json.loads(json.dumps(complete)), "findings": []}
    idle["checks"] = [{**check, "outcome": "skipped"} for check in idle["checks"]]
    assert write_reports(idle, stale) == "nothing was tested"
    assert not (stale / "goat.sarif").exists()


def test_the_pytest_route_writes_no_sarif_when_nothing_was_tested(stale: Path) -> None:
    argv = [*PYTEST_ROUTE_GOAT, "-q", "-k", "no_test_has_this_name", "--conformance-report-dir", str(stale)]
    done = subprocess.run(argv, capture_output=True, timeout=120)
    assert done.returncode == 5, done.stdout[-2000:]
    assert (stale / "goat.json").is_file() and not (stale / "goat.sarif").exists()


def test_a_rules_help_is_its_description_and_profile_source_never_one_operations() -> None:
    findings = [
        {"rule": "errors.envelope", "operation": "getMe", "tier": "documented", "message": "m",
         "source": "GET /me, response 401"},
        {"rule": "errors.envelope", "operation": "*", "tier": "documented", "message": "n", "source": ""},
    ]  # fmt: skip
    log = sarif_log({"api": "goat", "findings": findings}, SPEC, root=SPEC.parent.parent)
    validate(log)
    (rule,) = log["runs"][0]["tool"]["driver"]["rules"]
    description = RULES["errors.envelope"].description
    assert rule["help"]["text"].startswith(description + "\n\nSource (documented): Errors use standard HTTP")
    assert "GET /me" not in rule["help"]["text"] and "response 401" not in rule["help"]["text"]


def test_findings_of_one_rule_and_operation_keep_apart_and_keep_their_fingerprint() -> None:
    messages = [
        "GET /nope-1 answered 404 without the error envelope",
        "DELETE /health answered 405 without the error envelope",
        "POST /orders answered 415 without the error envelope",
        "GET /nope-2 answered 404 without the error envelope",  # the same fault as the first, another run's path
    ]
    findings = [{"rule": "errors.envelope", "operation": "*", "tier": "documented", "message": m} for m in messages]
    log = sarif_log({"api": "goat", "findings": findings}, SPEC, root=SPEC.parent.parent)
    prints = [r["partialFingerprints"]["conformanceFinding/v2"] for r in log["runs"][0]["results"]]
    assert len(set(prints[:3])) == 3  # three alerts, not one
    assert prints[3] == prints[0]
