"""The Web Fuzzing Commons report `conformance run --report-dir` writes (`<api>.wfc.json` and its
reproduction script `<api>.wfc.sh`): valid against the WFC 0.6.0 report schema (vendored in
tests/schemas/ with its licence), one found fault per finding, fault codes WFC defines or the
tool range it leaves open, test cases that point at their lines of the script.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from conformance.cli import main
from conformance.report.wfc import TOOL_CODES, WFC_CODES, fault_code, wfc_report
from conformance.rules import RULES

SCHEMAS = Path(__file__).parent / "schemas"
SCHEMA = yaml.safe_load((SCHEMAS / "wfc-report.yaml").read_text(encoding="utf-8"))
CATALOGUE = {item["code"]: item for item in json.loads((SCHEMAS / "wfc-fault-categories.json").read_text())}


def errors_of(document: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("reports")
    argv = ["run", "goat", "-q", "--seed", "7", "-k", "not test_schema", "--report-dir", str(folder)]
    assert main([*argv, "--fault", "errors.unknown-route", "--fault", "errors.not-found"]) == 1
    return folder


def test_the_wfc_schema_accepts_the_report_of_a_faulty_run(reports: Path) -> None:
    document = json.loads((reports / "goat.wfc.json").read_text(encoding="utf-8"))
    assert errors_of(document) == []
    assert document["schemaVersion"] == "0.6.0" and document["toolName"] == "api-conformance"
    broken = dict(document, faults={"totalNumber": -1, "foundFaults": []})
    assert errors_of(broken)  # the check can fail


def test_each_finding_is_a_found_fault_on_its_endpoint(reports: Path) -> None:
    document = json.loads((reports / "goat.wfc.json").read_text(encoding="utf-8"))
    result = json.loads((reports / "goat.json").read_text(encoding="utf-8"))
    faults = document["faults"]["foundFaults"]
    assert len(faults) == len(result["findings"])
    by_operation = {
        (f["faultCategories"][0]["context"].split(" -> ")[1].split(":")[0], f["operationId"]) for f in faults
    }
    assert ("errors.not-found", "GET:/products/{product_id}") in by_operation  # METHOD:path of the spec
    assert all(f["operationId"] == f["endpointId"] for f in faults)
    unknown = next(f for f in faults if "errors.unknown-route" in f["faultCategories"][0]["context"])
    assert unknown["faultCategories"][0]["code"] == TOOL_CODES["errors"]
    assert unknown["operationId"] not in document["problemDetails"]["rest"]["endpointIds"]  # an undocumented route
    rest = document["problemDetails"]["rest"]
    assert "GET:/products/{product_id}" in rest["endpointIds"]
    assert rest["evaluatedHttpCalls"] == result["requests_sent"] > 0
    assert document["totalTests"] == result["summary"]["passed"] + result["summary"]["failed"]


def test_each_test_case_points_at_its_reproduction_in_the_script(reports: Path) -> None:
    document = json.loads((reports / "goat.wfc.json").read_text(encoding="utf-8"))
    assert document["testFilePaths"] == ["goat.wfc.sh"]
    script = (reports / "goat.wfc.sh").read_text(encoding="utf-8").splitlines()
    assert document["testCases"]
    for index, case in enumerate(document["testCases"], 1):
        lines = script[case["startLine"] - 1 : case["endLine"]]
        assert lines[0].startswith(f"# finding {index}: ")
        assert any(line.startswith("curl ") for line in lines) or lines[-1] == "# (no request to replay)"
        assert not lines[-1].endswith("\\")  # the whole command, not cut at a continuation
    assert document["problemDetails"]["rest"]["outputHttpCalls"] == sum(line.startswith("curl ") for line in script)


def test_every_rule_has_a_fault_code_the_schema_allows() -> None:
    for code in WFC_CODES.values():
        assert code in CATALOGUE  # a category WFC defines
    assert all(900 <= code <= 999 for code in TOOL_CODES.values())  # the range WFC leaves to tools
    for rule in RULES:
        document = {
            "schemaVersion": "0.6.0",
            "toolName": "t",
            "toolVersion": "1",
            "creationTime": "2026-12-04T10:00:00Z",
            "faults": {
                "totalNumber": 1,
                "foundFaults": [
                    {"endpointId": "*", "testCaseId": "c", "faultCategories": [{"code": fault_code(rule)}]}
                ],
            },
            "problemDetails": {},
            "totalTests": 1,
            "testFilePaths": [],
            "testCases": [],
            "executionTimeInSeconds": 1,
        }
        assert errors_of(document) == [], rule


def test_notes_become_warnings_and_an_api_wide_finding_names_its_request() -> None:
    result = {
        "api": "goat",
        "base_url": "http://127.0.0.1:1/v1",
        "findings": [
            {
                "rule": "errors.unknown-route",
                "operation": "*",
                "message": "404 expected",
                "request": {"method": "GET", "url": "http://127.0.0.1:1/v1/no-such-route", "headers": {}},
            }
        ],
        "notes": [{"rule": "schema.response-schema", "operation": "getMe", "message": "null optional field\nmore"}],
    }
    document, _ = wfc_report(result, {"getMe": ("GET", "/me")}, "goat.wfc.sh")
    assert errors_of(document) == []
    assert document["faults"]["foundFaults"][0]["operationId"] == "GET:/no-such-route"
    assert document["warnings"] == [
        {"message": "schema.response-schema on getMe: null optional field", "category": "note", "displayPriority": 2}
    ]


def test_the_script_warns_before_a_write_and_marks_a_replay_whose_key_differs() -> None:
    """`auth.invalid-credentials` sent a wrong key, hidden like the real one: `$API_KEY` in its replay is not
    what was sent, and a comment says so; a replayed POST/PUT/PATCH/DELETE changes data: a comment warns."""
    base = "http://127.0.0.1:1/v1"
    findings = [
        {"rule": "auth.invalid-credentials", "operation": "getMe", "message": "answered 200 to a wrong key",
         "request": {"method": "GET", "url": f"{base}/me", "headers": {"Authorization": "Bearer [REDACTED]"}},
         "response": {"status": 200}},
        {"rule": "errors.envelope", "operation": "createOrder", "message": "not the envelope",
         "request": {"method": "POST", "url": f"{base}/orders", "headers": {"X-API-Key": "[REDACTED]"},
                     "body": "{}"},
         "response": {"status": 400}},
        {"rule": "errors.envelope", "operation": "getMe", "message": "not the envelope",
         "request": {"method": "GET", "url": f"{base}/me", "headers": {"X-API-Key": "[REDACTED]"}},
         "response": {"status": 400}},
    ]  # fmt: skip
    operations = {"getMe": ("get", "/me"), "createOrder": ("post", "/orders")}
    document, script = wfc_report({"api": "goat", "base_url": base, "findings": findings}, operations, "goat.wfc.sh")
    assert not errors_of(document)
    lines = script.splitlines()
    cases = [lines[case["startLine"] - 1 : case["endLine"]] for case in document["testCases"]]
    invalid, write, plain = ("\n".join(case) for case in cases)
    assert "different (invalid) key" in invalid and "$API_KEY" in invalid
    assert invalid.index("different (invalid) key") < invalid.index("curl ")
    assert "# WARNING: this replays a write (POST)" in write and write.index("# WARNING") < write.index("curl ")
    assert "WARNING" not in invalid + plain and "invalid) key" not in write + plain
