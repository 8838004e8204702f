"""SARIF 2.1.0 log of a run, so code scanning shows each finding on the spec line it breaks.

One result per finding, `ruleId` the rule id. Level by tier: a `documented` promise broken is an
`error`, an `inferred` one a `warning`. Findings the baseline accepts stay in the log with an
external suppression (the baseline file), so code scanning shows them as dismissed, not as new.
Notes are left out: they break no promise, and a code-scanning alert is a to-do that stays open
until the code changes, which a note never asks for (they stay in the JSON and HTML reports).

The location is the line of the spec where the finding's operation is defined
(`paths./orders.post`), or, for an API-wide finding, the line of the profile section its rule
reads (`x-conformance.errors`). Paths under `root` (the repository checkout) are written relative
to `%SRCROOT%`, which is how GitHub matches them to files in a pull request.

An upload to code scanning replaces the open alerts of its category (`automationDetails.id` up to
its last `/`): an alert missing from the new log is closed as fixed. So a log is written only for a
run that judged what its category covers (`withheld` says why not): none for a server that was
unusable (the pre-flight probe stopped the run), an interrupted run, or a run that tested nothing.
A run that judged part of the API (`--rule`, `-k`, tests named on the pytest command line, groups a
`--budget` skipped) gets a category of its own (`api-conformance/goat/rules=errors.envelope/`), so
it replaces only the alerts of an earlier run with the same selection.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from conformance import __version__
from conformance.report.locations import spec_lines
from conformance.rules import RULES

__all__ = ["LEVELS", "SARIF_SCHEMA", "category", "sarif_log", "withheld"]

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
LEVELS = {"documented": "error", "inferred": "warning"}


def withheld(result: Mapping[str, Any]) -> str | None:
    """Why no SARIF log is written for `result` (an upload would close alerts the run never judged), else None."""
    if result.get("unusable"):
        return "the server was unusable, so the run judged nothing"
    if result.get("incomplete"):
        return "the run was interrupted"
    checks = [item for item in result.get("checks") or [] if isinstance(item, Mapping)]
    if not result.get("findings") and not any(item.get("outcome") != "skipped" for item in checks):
        return "nothing was tested"
    return None


def category(result: Mapping[str, Any]) -> str:
    """`automationDetails.id`: one code-scanning category per API and selection, e.g. `api-conformance/goat/`.

    A partial run (rules, a keyword, named tests, groups a budget skipped) gets its selection in the
    id, readable where it can be and with a short hash of what it says, so two selections never share one.
    """
    parts = []
    selection: Mapping[str, Any] = result["selection"] if isinstance(result.get("selection"), Mapping) else {}
    plan: Mapping[str, Any] = result["plan"] if isinstance(result.get("plan"), Mapping) else {}
    for name, value in (
        ("rules", selection.get("rules")),
        ("k", selection.get("keyword")),
        ("m", selection.get("markers")),
        ("tests", selection.get("tests")),
        ("budget-skipped", sorted(plan.get("skipped") or ())),
    ):
        values = [str(item) for item in (value if isinstance(value, list | tuple) else [value]) if item]
        if not values:
            continue
        text = "+".join(sorted(values)) if name in ("rules", "budget-skipped") else " ".join(values)
        readable = re.sub(r"[^A-Za-z0-9.+_-]+", "_", text).strip("_")[:60]
        digest = hashlib.sha256(text.encode()).hexdigest()[:8]
        exact = name in ("rules", "budget-skipped") and readable == text
        parts.append(f"{name}={readable}" if exact else f"{name}={readable}~{digest}")
    return f"api-conformance/{result['api']}/" + (";".join(parts) + "/" if parts else "")


def sarif_log(result: Mapping[str, Any], spec: Path | None, *, root: Path | None = None) -> dict[str, Any]:
    """Returns the SARIF log of one API's result; `spec` is the spec file the run read, `root` the checkout."""
    root = (root or Path.cwd()).resolve()
    lines = spec_lines(spec) if spec is not None else None
    artifact = _artifact(spec, root) if spec is not None else None
    findings = [item for item in result.get("findings") or [] if isinstance(item, Mapping)]
    rule_ids = list(dict.fromkeys(str(item["rule"]) for item in findings))
    sources = _profile_sources(spec, rule_ids) if spec is not None else {}
    rules = [_rule(rule_id, [item for item in findings if item["rule"] == rule_id], sources) for rule_id in rule_ids]
    results = [_result(item, rule_ids.index(str(item["rule"])), lines, artifact) for item in findings]
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "api-conformance",
                "version": str(result.get("tool_version") or __version__),
                "rules": rules,
            }
        },
        # one upload category per API and selection: the runs of a matrix, or a partial run, do not close
        # each other's alerts (an upload replaces its category's)
        "automationDetails": {"id": category(result)},
        "results": results,
        "properties": {"api": result["api"], "baseUrl": result.get("base_url", ""), "seed": result.get("seed")},
    }
    if artifact is not None and "uriBaseId" in artifact:
        run["originalUriBaseIds"] = {"%SRCROOT%": {"uri": root.as_uri() + "/"}}
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}


def _profile_sources(spec: Path, rule_ids: list[str]) -> dict[str, str]:
    """The `source` of the profile section each rule reads (`x-conformance.errors.source`), where there is one."""
    import yaml

    from conformance.report.locations import PROFILE, profile_section

    try:
        document = yaml.safe_load(spec.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}
    sources = {}
    for rule_id in rule_ids:
        node: Any = document.get(PROFILE) if isinstance(document, dict) else None
        for key in profile_section(rule_id):
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict) and isinstance(node.get("source"), str) and node["source"].strip():
            sources[rule_id] = node["source"].strip()
    return sources


def _artifact(spec: Path, root: Path) -> dict[str, str]:
    path = spec.resolve()
    try:
        return {"uri": path.relative_to(root).as_posix(), "uriBaseId": "%SRCROOT%"}
    except ValueError:  # a bundled spec in site-packages: no file of the repository to annotate
        return {"uri": path.as_uri()}


def _rule(rule_id: str, findings: list[Mapping[str, Any]], sources: Mapping[str, str]) -> dict[str, Any]:
    """The rule's metadata: its help is the rule's description and the profile section it reads,
    never one finding's operation-specific source (the rule is shared by every result)."""
    rule = RULES[rule_id]
    first = findings[0]
    tier = str(first.get("tier") or "documented")
    source = sources.get(rule_id, "")
    help_text = rule.description + (f"\n\nSource ({tier}): {source}" if source else "")
    return {
        "id": rule_id,
        "name": "".join(word.capitalize() for word in rule_id.replace(".", "-").split("-")),  # ErrorsEnvelope
        "shortDescription": {"text": rule.title},
        "fullDescription": {"text": rule.description},
        "help": {"text": help_text},
        "defaultConfiguration": {"level": LEVELS.get(tier, "warning")},
        "properties": {"category": rule.category, "tier": tier, "tags": ["api-conformance", rule.category, tier]},
    }


def _result(item: Mapping[str, Any], rule_index: int, lines: Any, artifact: dict[str, str] | None) -> dict[str, Any]:
    rule, operation = str(item["rule"]), str(item.get("operation") or "*")
    tier = str(item.get("tier") or "documented")
    label = "API-wide" if operation == "*" else operation
    message = str(item.get("message") or RULES[rule].title)
    result: dict[str, Any] = {
        "ruleId": rule,
        "ruleIndex": rule_index,
        "level": LEVELS.get(tier, "warning"),
        "message": {"text": f"{label}: {message}"},
        # a finding's identity: its rule, operation and signature (what it is about, not how it is worded this
        # time), so the API-wide findings of one rule stay apart and a reworded message keeps its alert
        "partialFingerprints": {
            "conformanceFinding/v2": hashlib.sha256(f"{rule}|{operation}|{_signature(item)}".encode()).hexdigest()
        },
        "properties": {"operation": operation, "category": RULES[rule].category, "tier": tier},
    }
    if artifact is not None:
        line = (lines.rule(rule) if operation == "*" else lines.operation(operation)) if lines else None
        physical: dict[str, Any] = {"artifactLocation": dict(artifact)}
        if line is not None:
            physical["region"] = {"startLine": line}
        location: dict[str, Any] = {"physicalLocation": physical}
        if operation != "*":
            location["logicalLocations"] = [{"name": operation}]
        result["locations"] = [location]
    if item.get("accepted"):
        reason = item.get("baseline_reason")
        suppression: dict[str, Any] = {"kind": "external", "status": "accepted"}
        if reason:
            suppression["justification"] = str(reason)
        result["suppressions"] = [suppression]
    return result


def _signature(item: Mapping[str, Any]) -> str:
    """What tells one finding of a rule and operation from another: its message, with what changes between
    runs of the same fault (numbers, ids, random hex tokens) left out, so a re-run keeps its fingerprint."""
    message = str(item.get("message") or "")
    return re.sub(r"\b[0-9a-fA-F-]{8,}\b|\d+", "#", message)
