"""The Schemathesis engine: examples, coverage, fuzzing and stateful links over every operation.

It runs once per session (with several workers, once per scope of conformance/scheduling.py), and
maps each failure Schemathesis finds to a stable rule id, or to a note where the documents leave the
behaviour open (conformance/checks/schema.py). `conformance/suite/test_schema.py` reports its runs,
one test per operation.
"""

from __future__ import annotations

import copy
import threading
from dataclasses import dataclass, field
from typing import Any

import httpx

from conformance.checks.schema import infrastructure_refusal, paging_parameters, tolerated_input
from conformance.client import engine_limiter
from conformance.findings import Finding, finding
from conformance.interrupt import reraise_swallowed
from conformance.profile import resolve_pointer
from conformance.scheduling import ENGINE, STATEFUL, engine_scope, scope_operations
from conformance.target import Target

__all__ = ["SCHEMA_RULES", "EngineRun", "EngineRuns", "engine_config", "run_engine"]

# Schemathesis check name -> rule id. Checks the suite does better itself are switched off.
CHECK_RULES = {
    "not_a_server_error": "schema.server-error",
    "status_code_conformance": "schema.status-code",
    "content_type_conformance": "schema.content-type",
    "response_headers_conformance": "schema.response-headers",
    "response_schema_conformance": "schema.response-schema",
    "negative_data_rejection": "schema.negative-data",
    "use_after_free": "schema.stateful",
    "ensure_resource_availability": "schema.stateful",
}
DISABLED_CHECKS = (
    "positive_data_acceptance",  # valid-by-schema ids of resources that do not exist are rightly refused
    "ignored_auth",  # test_auth judges credentials with the documented statuses
    "unsupported_method",  # test_errors judges 405 and Allow
    "missing_required_header",  # test_idempotency judges a missing Idempotency-Key
)
SCHEMA_RULES = tuple(dict.fromkeys(CHECK_RULES.values()))
DEFAULT_MAX_EXAMPLES = 8
MALFORMED = {"MalformedJson": "transport.invalid-response"}
PACING_MARGIN = 0.8


@dataclass
class EngineRun:
    """What one Schemathesis run found, per operationId."""

    findings: dict[str, list[Finding]] = field(default_factory=dict)
    notes: dict[str, list[Finding]] = field(default_factory=dict)
    requests: int = 0
    errors: list[str] = field(default_factory=list)
    counted: bool = False


def rate_string(requests: int, window_s: float) -> str:
    """Schemathesis' rate-limit syntax for `requests` per `window_s` (rounded down, at least 1)."""
    per_second = requests / window_s
    if per_second >= 1:
        return f"{int(per_second)}/s"
    return f"{max(int(per_second * 60), 1)}/m"


def engine_config(target: Target, spec: dict[str, Any], scope: str = ENGINE) -> dict[str, Any]:
    """Returns the Schemathesis configuration of a run against `target` (the stateful phase only in its scope)."""
    requests, window = target.pacing()
    # A margin under the limit: the engine's limiter and the server's window need not line up.
    requests = max(int(requests * PACING_MARGIN) // max(target.options.workers, 1), 1)
    headers: dict[str, str] = {}
    location = (target.profile.data["auth"]["locations"] or [{"in": "none", "name": ""}])[0]  # none: a public API
    if target.api_key and location["in"] == "header":
        headers[location["name"]] = location.get("prefix", "") + target.api_key
    config: dict[str, Any] = {
        "base-url": target.base_url,
        "request-timeout": target.options.timeout,
        "rate-limit": rate_string(requests, window),
        "generation": {"max-examples": target.options.max_examples or DEFAULT_MAX_EXAMPLES, "database": "none"},
        "checks": {name: {"enabled": False} for name in DISABLED_CHECKS},
        # Wrong methods are test_errors' job (405, Allow, envelope); the engine would only repeat them.
        "phases": {"coverage": {"unexpected-methods": []}, "stateful": {"enabled": scope in (ENGINE, STATEFUL)}},
        "max-redirects": 0,
        "suppress-health-check": ["all"],
    }
    if headers:
        config["headers"] = headers
    # The key's query parameter carries the key, never a generated value (which would only be a wrong key,
    # the auth rules' job): otherwise most cases test the key check instead of the operation.
    query_keys = [loc["name"] for loc in target.profile.data["auth"]["locations"] if loc["in"] == "query"]
    if target.api_key and query_keys:
        config["parameters"] = {name: target.api_key for name in query_keys}
    if target.options.seed is not None:
        config["seed"] = target.options.seed
    return config


def readable_spec(target: Target) -> dict[str, Any]:
    """The spec to fuzz: without write operations when writes to this host are off."""
    spec = copy.deepcopy(target.profile.spec)
    spec.pop("x-conformance", None)
    if target.writes_allowed:
        return spec
    for item in spec.get("paths", {}).values():
        for method in ("post", "put", "patch", "delete"):
            item.pop(method, None)
    return spec


def coverage_filter(target: Target) -> Any:
    """A `filter_case` hook that leaves out the coverage phase's cases that repeat a question (issue 13).

    Why: those cases were about 40 % of the engine's requests. Left out:
    - of the wrong-type cases of a value (a string, a number, a boolean, an array, an object: five
      requests) and of its unexpected-member cases, all but the first: whether the server refuses a
      wrong type, or an unexpected member, is one question per value; but a null in a JSON body is
      asked too, since a null where a value belongs is what most often crashes a server;
    - the Content-Type probes of an operation without a request body: no server reads the Content-Type
      of a request that has no body;
    - a page parameter's value past its bounds: the profile says which refusals are promised, and
      pagination.invalid-limit and pagination.max-limit send those very requests and judge them (here
      they could only be notes: conformance/checks/schema.py `tolerated_input`);
    - cases that drop or change the API key (`Authorization`, retailcrm's `apiKey`): a credential's
      presence and value are the auth rules' job (missing-credentials, invalid-credentials,
      key-locations), with the documented statuses; here a generated key is only a wrong one.
    Positive cases and every other negative scenario (bounds, enums, patterns, missing members) are kept
    whole, and the fuzzing phase still draws every type.
    """
    from schemathesis.generation.meta import CONTENT_TYPE_PROBES, CoveragePhaseData, CoverageScenario

    repeated = {CoverageScenario.INCORRECT_TYPE, CoverageScenario.OBJECT_UNEXPECTED_PROPERTIES}
    bounds = {CoverageScenario.VALUE_ABOVE_MAXIMUM, CoverageScenario.VALUE_BELOW_MINIMUM}
    profile = target.profile
    operations = {op.label: op for op in profile.operations.values()}
    key_names = {str(location["name"]).lower() for location in profile.data["auth"]["locations"]}
    key_names |= {name.lower() for name in _security_header_names(profile.spec)}
    seen: set[tuple[Any, ...]] = set()
    lock = threading.Lock()

    def filter_case(context: Any, case: Any) -> bool:
        data = getattr(getattr(getattr(case, "meta", None), "phase", None), "data", None)
        if not isinstance(data, CoveragePhaseData):
            return True
        op = operations.get(case.operation.label)
        if data.scenario in CONTENT_TYPE_PROBES and op is not None and not op.definition.get("requestBody"):
            return False
        if str(data.parameter or "").lower() in key_names:
            return False
        location = str(getattr(data.parameter_location, "value", data.parameter_location) or "").lower()
        if data.scenario in bounds and location == "query" and op is not None:
            if data.parameter in paging_parameters(profile.spec, op.operation_id):
                return False
        if data.scenario not in repeated:
            return True
        null = location == "body" and _value_at(case.body, data.location) is None
        key = (case.operation.label, data.parameter_location, data.parameter, data.location, data.scenario, null)
        with lock:
            if key in seen:
                return False
            seen.add(key)
        return True

    return filter_case


def _value_at(body: Any, schema_pointer: str | None) -> Any:
    """The body's value at a schema pointer (`/properties/items/items/properties/quantity/type`: the first
    item's quantity); a missing value is not None."""
    value, parts = body, iter((schema_pointer or "").strip("/").split("/"))
    for part in parts:
        if part == "items":
            value = value[0] if isinstance(value, list) and value else ...
        elif part == "properties":
            name = next(parts, "")
            value = value.get(name, ...) if isinstance(value, dict) else ...
    return value


def _security_header_names(spec: dict[str, Any]) -> set[str]:
    """The headers and parameters the spec's security schemes read a credential from (`Authorization` for
    HTTP schemes)."""
    names = set()
    for scheme in ((spec.get("components") or {}).get("securitySchemes") or {}).values():
        if isinstance(scheme, dict):
            names.add("Authorization" if scheme.get("type") in ("http", "oauth2", "openIdConnect") else "")
            names.add(str(scheme.get("name") or ""))
    return names - {""}


def run_engine(target: Target, progress: Any = None, scope: str = ENGINE) -> EngineRun:
    """Runs Schemathesis against the target, on the operations of `scope`.

    `progress` (conformance.progress.Progress) hears of each phase.
    """
    import schemathesis
    from schemathesis.engine import events

    spec = readable_spec(target)
    config = schemathesis.Config.from_dict(engine_config(target, spec, scope))
    schema: Any = schemathesis.openapi.from_dict(spec, config=config)
    if scope != ENGINE:
        schema = schema.include(operation_id=scope_operations(target.profile, scope, target.options.workers))
    schema.config.rate_limit = engine_limiter(target.client)  # the suite's window, shared (issue 13)
    schema.hook(coverage_filter(target))
    labels = {op.label: op.operation_id for op in target.profile.operations.values()}
    throttled = int(target.profile.data["rate_limit"]["exceeded_status"])
    result = EngineRun()
    seen: set[tuple[str, str, bool]] = set()
    for event in schemathesis.engine.from_schema(schema).execute():
        if progress is not None:
            _report_progress(progress, event, labels)
        if isinstance(event, events.ScenarioFinished):
            recorder = event.recorder
            result.requests += len(recorder.interactions)
            _judge_valid_answers(target, recorder, labels, result, seen)
            for case_id, nodes in recorder.checks.items():
                for node in nodes:
                    if node.failure_info is None:
                        continue
                    failure = node.failure_info.failure
                    rule_id = MALFORMED.get(type(failure).__name__) or CHECK_RULES.get(node.name)
                    if rule_id is None:
                        continue
                    operation = labels.get(str(failure.operation), str(failure.operation))
                    interaction = recorder.interactions.get(case_id)
                    status = interaction.response.status_code if interaction and interaction.response else None
                    if status == throttled:
                        continue  # a throttled answer is "wait and retry", not a failure
                    case_node = recorder.cases.get(case_id)
                    case = case_node.value if case_node else None
                    leniency = _leniency(target, rule_id, operation, status, case, interaction)
                    if (rule_id, operation, bool(leniency)) in seen:
                        continue  # a note never hides a later finding of the same rule
                    seen.add((rule_id, operation, bool(leniency)))
                    message = _message(failure, node.failure_info.code_sample, target)
                    outcome = result.notes if leniency else result.findings
                    outcome.setdefault(operation, []).append(
                        finding(
                            rule_id,
                            operation,
                            f"Not a failure: {leniency}.\n\n{message}" if leniency else message,
                            rule={"source": spec_source(target, operation, status)},
                            tier="documented",
                            exchange=_exchange(interaction),
                            secrets=target.secrets,
                        )
                    )
        elif isinstance(event, events.NonFatalError):
            label = getattr(event, "label", "") or ""
            result.errors.append(f"{label}: {_error_text(event, target.secrets)}")
        elif isinstance(event, events.FatalError):
            result.errors.append(f"Schemathesis stopped: {_error_text(event, target.secrets)}")
        if isinstance(event, events.Interrupted | events.PhaseFinished):
            # Ctrl-C or SIGTERM during the engine: the run was interrupted, not finished (the engine may have
            # swallowed it and only skipped a phase)
            reraise_swallowed()
    reraise_swallowed()
    return result


# The rules of any response that Schemathesis' own checks do not judge (conformance/checks/passive.py).
ANSWER_RULES = frozenset({"errors.envelope", "errors.code-convention", "errors.request-id", "rate-limit.headers"})


def _judge_valid_answers(
    target: Target, recorder: Any, labels: dict[str, str], result: EngineRun, seen: set[tuple[str, str, bool]]
) -> None:
    """Judges the answers to the engine's valid (positive-mode) requests by the rules of any response.

    Why (issue 13): every response is judged by every rule that can judge it; the engine's valid requests are
    the most numerous answers of a run. Its negative cases are left to the rules that judge wrong requests on
    purpose (errors.*, with their leniencies): a refusal of a malformed request may rightly come from a proxy
    or framework without the API's envelope. One finding per rule and operation, as for Schemathesis' checks.
    """
    from schemathesis.generation import GenerationMode

    from conformance.checks.passive import judge_recorded

    exchanges = []
    for case_id, interaction in recorder.interactions.items():
        node = recorder.cases.get(case_id)
        meta = getattr(node.value, "meta", None) if node else None
        if interaction.response is None or getattr(getattr(meta, "generation", None), "mode", None) != (
            GenerationMode.POSITIVE
        ):
            continue
        exchanges.append(_exchange(interaction, labels.get(node.value.operation.label)))
    findings, _ = judge_recorded(target.profile, exchanges, target.secrets, ANSWER_RULES)
    for item in findings:
        if (item.rule_id, item.operation, False) not in seen:
            seen.add((item.rule_id, item.operation, False))
            result.findings.setdefault(item.operation, []).append(item)


def _leniency(
    target: Target, rule_id: str, operation_id: str, status: int | None, case: Any, interaction: Any
) -> str | None:
    """Why this engine failure breaks no documented promise (then it is a note), or None."""
    op = target.profile.operations.get(operation_id)
    if rule_id == "schema.status-code" and interaction is not None:
        request = interaction.request
        headers = {k: ", ".join(v) if isinstance(v, list) else str(v) for k, v in dict(request.headers).items()}
        body = request.body.encode() if isinstance(request.body, str) else request.body
        types = op.request_media_types if op is not None else []
        return infrastructure_refusal(status, str(request.uri), headers, body, types)
    if rule_id == "schema.negative-data" and case is not None and op is not None:
        return tolerated_input(case, op, target.profile.spec)
    return None


def spec_source(target: Target, operation_id: str | None, status: int | None) -> str:
    """Where the spec documents what this response broke: the operation, and the status's description.

    Schema findings come from the OpenAPI document itself, so this is their `source` sentence.
    """
    op = target.profile.operations.get(operation_id or "")
    if op is None:
        return ""
    where = f"OpenAPI spec, {op.method} {op.path}"
    responses = op.definition.get("responses") or {}
    code = str(status) if status is not None else ""
    response = responses.get(code) or responses.get(f"{code[:1]}XX") or responses.get("default")
    if not isinstance(response, dict):
        listed = ", ".join(str(key) for key in responses)
        return f"{where}: the documented responses are {listed}." if listed else where
    if "$ref" in response:
        try:
            response = resolve_pointer(target.profile.spec, str(response["$ref"]).removeprefix("#"))
        except KeyError:
            response = {}
    description = " ".join(str(response.get("description") or "").split())
    return f"{where}, response {code}: {description}" if description else f"{where}, response {code}"


def _report_progress(progress: Any, event: Any, labels: dict[str, str]) -> None:
    from schemathesis.engine import events

    def value(thing: Any) -> str:
        return str(getattr(thing, "value", thing))

    if isinstance(event, events.PhaseStarted):
        progress.engine_phase_started(value(event.phase.name))
    elif isinstance(event, events.ScenarioFinished):
        label = event.label
        progress.engine_scenario(value(event.phase), labels.get(label, label) if label else None, value(event.status))
    elif isinstance(event, events.PhaseFinished):
        progress.engine_phase_finished(value(event.phase.name), value(event.status))


def _error_text(event: Any, secrets: tuple[str, ...]) -> str:
    """The first line of an engine error, the key hidden (a URL in it may carry the key in its query)."""
    from conformance.exchange import redact

    info = getattr(event, "info", None)
    text = getattr(info, "message", None) or str(getattr(event, "exception", "") or info or event)
    return redact(str(text).splitlines()[0][:300], secrets) if text else "unknown error"


def _message(failure: Any, code_sample: str, target: Target) -> str:
    from conformance.exchange import redact

    return redact(f"{failure.title}: {failure.message}".strip(), target.secrets)[:4000]


def _exchange(interaction: Any, operation: str | None = None) -> Any:
    """Returns the interaction as a client Exchange, so evidence is redacted in one place."""
    if interaction is None:
        return None
    from conformance.client import Exchange

    request, response = interaction.request, interaction.response

    def flat(headers: Any) -> dict[str, str]:
        return {k: ", ".join(v) if isinstance(v, list) else str(v) for k, v in dict(headers).items()}

    sent: dict[str, Any] = {
        "operation": operation,
        "method": request.method,
        "url": request.uri,
        "request_headers": flat(request.headers),
        "request_body": request.body,
    }
    if response is None:
        return Exchange(
            **sent,
            status=None,
            response_headers=httpx.Headers(),
            body=b"",
            error="no response",
            error_kind="unreachable",
            elapsed_s=0.0,
        )
    return Exchange(
        **sent,
        status=response.status_code,
        response_headers=httpx.Headers(flat(response.headers)),
        body=response.content or b"",
        error=None,
        error_kind=None,
        elapsed_s=float(response.elapsed or 0),
    )


_RUN_LOCK = threading.Lock()


class EngineRuns:
    """The engine's runs of this session, each started by the first test that needs it."""

    def __init__(self, target: Target, progress: Any) -> None:
        self.target = target
        self.progress = progress
        self.runs: dict[str, EngineRun] = {}
        self.trouble: str | None = None
        self.probed = False

    def for_operation(self, operation_id: str) -> EngineRun:
        scope = engine_scope(self.target.profile, operation_id, self.target.options.workers)
        with _RUN_LOCK:
            if not self.probed:
                self.trouble, self.probed = preflight(self.target), True
            if scope not in self.runs:
                trouble = self.trouble
                run = EngineRun(errors=[trouble]) if trouble else run_engine(self.target, self.progress, scope)
                self.runs[scope] = run
            return self.runs[scope]


def preflight(target: Target) -> str | None:
    """Returns why the engine must not run (a target that hangs, drips or floods), or None.

    Schemathesis' transport has per-read timeouts and no size cap; the suite's client has both,
    so one request through it tells whether the engine would hang.
    """
    from conformance.target import RecipeError

    for op in target.profile.operations.values():
        if op.method == "GET":
            try:
                exchange = target.answer(op.operation_id)
            except RecipeError:
                continue
            if exchange.error:
                return f"property tests skipped: {op.method} {op.path}: {exchange.error}"
            return None
    return None
