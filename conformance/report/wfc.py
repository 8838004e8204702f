"""Web Fuzzing Commons (WFC) report of a run, the format Schemathesis and EvoMaster also write.

With it, this suite's findings open in the WFC web report beside theirs. The report follows the
WFC report schema of release 0.6.0 (github.com/WebFuzzing/Commons,
`src/main/resources/wfc/schemas/report.yaml`):

* each finding is a found fault: operation `GET:/orders/{order_id}` (method and spec path, as
  Schemathesis writes it; an API-wide finding names the request it made), its test case, and a fault
  category. WFC has categories for server errors (100), responses off the schema (101), invalid
  input accepted (102) and a missed authorization check (206); every other rule gets the
  tool-specific code of its category (901-907, in the 900-999 range the schema leaves to tools),
  with the rule id in the fault's context. Findings the baseline accepts are still faults found.
* schema 0.6.0 names a found fault's operation `operationId` but requires `endpointId`: both are
  written, with the same value, so the document is valid and every reader finds its field.
* a test case is a finding's reproduction: its `curl` in `<api>.wfc.sh` beside the report (the key
  written as `$API_KEY`, never its value), with its lines. `totalTests` counts the checks that
  reached a verdict (a rule on an operation).
* `coveredHttpStatus` holds the statuses seen in the findings' evidence only: the result does not
  keep every response, so it is a lower bound of what the run covered.
* notes and an interrupted run's summary are `warnings`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from conformance import __version__
from conformance.report.curl import curl_command
from conformance.report.model import Result

__all__ = ["SCHEMA_VERSION", "TOOL_CODES", "WFC_CODES", "fault_code", "wfc_report"]

SCHEMA_VERSION = "0.6.0"
# WFC 0.6.0 fault categories our rules are instances of.
WFC_CODES = {
    "schema.server-error": 100,  # F100 HTTP Status 500
    "schema.response-schema": 101,  # F101 response not matching its schema
    "schema.status-code": 101,
    "schema.content-type": 101,
    "schema.response-headers": 101,
    "schema.negative-data": 102,  # F102 success response when sending wrong data
    "auth.permissions": 206,  # F206 allowed to modify a resource that should be protected
}
# Tool-specific codes, one per category, for the rules WFC has no category for.
TOOL_CODES = {
    "schema": 901,
    "errors": 902,
    "pagination": 903,
    "idempotency": 904,
    "rate-limit": 905,
    "auth": 906,
    "transport": 907,
}


def fault_code(rule: str) -> int:
    """Returns the WFC fault code of a rule: WFC's own category where one fits, else its category's tool code."""
    return WFC_CODES.get(rule) or TOOL_CODES.get(rule.split(".", 1)[0], 999)


def wfc_report(
    result: Mapping[str, Any], operations: Mapping[str, tuple[str, str]], script_name: str
) -> tuple[dict[str, Any], str]:
    """Returns the WFC report of one API's result and the text of its reproduction script.

    `operations` maps each operation id of the spec to its (METHOD, path); `script_name` is the
    script's file name, which the report names relative to itself.
    """
    endpoints = {op_id: f"{method.upper()}:{path}" for op_id, (method, path) in operations.items()}
    script = ["#!/usr/bin/env bash", f"# Reproduces the findings of api-conformance on {result['api']}."]
    script.append("# Set API_KEY first: the key is never written here.")
    faults: list[dict[str, Any]] = []
    cases: list[dict[str, Any]] = []
    covered: list[dict[str, Any]] = []
    distinct: set[tuple[int, str]] = set()
    calls = 0
    findings = [item for item in result.get("findings") or [] if isinstance(item, Mapping)]
    for index, item in enumerate(findings, 1):
        rule = str(item["rule"])
        endpoint = endpoints.get(str(item.get("operation"))) or _request_endpoint(item, str(result.get("base_url")))
        case_id = f"{script_name}#finding_{index}"
        context = f"{endpoint} -> {rule}: {item.get('title') or rule}"
        code = fault_code(rule)
        distinct.add((code, context))
        faults.append(
            {
                "operationId": endpoint,
                "endpointId": endpoint,
                "testCaseId": case_id,
                "faultCategories": [{"code": code, "context": context}],
            }
        )
        script.append("")
        start = len(script) + 1
        message = str(item.get("message") or "").splitlines() or [""]
        script.append(f"# finding {index}: {rule} on {item.get('operation')}")
        script.extend(f"# {line}" if line else "#" for line in message)
        curl = curl_command(item)
        if curl:
            script.extend(_replay_warnings(item, curl))
            script.extend(curl.splitlines())  # one entry per line: the test case's lines are counted here
            calls += 1
        else:
            script.append("# (no request to replay)")
        cases.append(
            {
                "id": case_id,
                "filePath": script_name,
                "name": f"{rule} on {item.get('operation')}",
                "startLine": start,
                "endLine": len(script),
            }
        )
        response = item.get("response")
        if isinstance(response, Mapping) and endpoint in endpoints.values():
            status = response.get("status")
            covered.append(
                {
                    "endpointId": endpoint,
                    "testCaseId": case_id,
                    "httpStatus": [status] if isinstance(status, int) else [],
                }
            )
    document = {
        "schemaVersion": SCHEMA_VERSION,
        "toolName": "api-conformance",
        "toolVersion": str(result.get("tool_version") or __version__),
        "creationTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "faults": {"totalNumber": len(distinct), "foundFaults": faults},
        "problemDetails": {
            "rest": {
                "outputHttpCalls": calls,
                "evaluatedHttpCalls": int(result.get("requests_sent") or 0),
                "endpointIds": sorted(set(endpoints.values())),
                "coveredHttpStatus": covered,
            }
        },
        "totalTests": _verdicts(result),
        "testFilePaths": [script_name],
        "testCases": cases,
        "executionTimeInSeconds": round(float(result.get("duration_s") or 0)),
        "warnings": _warnings(result),
    }
    return document, "\n".join(script) + "\n"


# Rules whose request deliberately carried a wrong key: the evidence hides it as it hides the real one,
# so the replay's `$API_KEY` is not what was sent.
INVALID_KEY_RULES = frozenset({"auth.invalid-credentials", "auth.public-operations"})
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _replay_warnings(item: Mapping[str, Any], curl: str) -> list[str]:
    """Comments a reader needs before running a replay: a different key was sent, or the request writes."""
    lines = []
    request: Mapping[str, Any] = item["request"] if isinstance(item.get("request"), Mapping) else {}
    if str(item.get("rule")) in INVALID_KEY_RULES and "API_KEY" in curl:
        lines.append(
            "# NOTE: the original request used a different (invalid) key, hidden in the report like the real one;"
        )
        lines.append("# $API_KEY below is yours, so put any wrong key in its place to reproduce the finding.")
    method = str(request.get("method") or "GET").upper()
    if method in WRITE_METHODS:
        lines.append(f"# WARNING: this replays a write ({method}): it changes data on the server it is sent to.")
    return lines


def _request_endpoint(item: Mapping[str, Any], base_url: str) -> str:
    """`GET:/unknown-route` from the finding's request (relative to the base URL), else `*` (API-wide)."""
    request = item.get("request")
    if not isinstance(request, Mapping) or not request.get("url"):
        return "*"
    path = urlsplit(str(request["url"])).path
    base = urlsplit(base_url).path.rstrip("/")
    if base and path.startswith(base):
        path = path[len(base) :] or "/"
    return f"{str(request.get('method') or 'GET').upper()}:{path}"


def _verdicts(result: Mapping[str, Any]) -> int:
    """Rule × operation pairs that reached a verdict, counted as the HTML report counts them."""
    return sum(1 for outcome in Result.from_dict(result).outcomes() if outcome.status != "skipped")


def _warnings(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Notes and an interrupted run's summary: general remarks, not faults (WFC's `warnings`)."""
    warnings: list[dict[str, Any]] = []
    incomplete = result.get("incomplete")
    if isinstance(incomplete, Mapping):
        summary = str(incomplete.get("summary") or "run incomplete")
        warnings.append({"message": summary, "category": "incomplete", "displayPriority": 1})
    for note in result.get("notes") or []:
        if isinstance(note, Mapping):
            message = str(note.get("message") or "").splitlines()[:1] or [""]
            warnings.append(
                {
                    "message": f"{note.get('rule')} on {note.get('operation')}: {message[0]}",
                    "category": "note",
                    "displayPriority": 2,
                }
            )
    return warnings
