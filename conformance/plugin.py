"""The pytest plugin: `pytest --pyargs conformance.suite --conformance-api goat --base-url URL`.

Registered through the `pytest11` entry point. Without `--api` it stays silent: it adds its
options and nothing else, so other projects' runs are not disturbed. With `--api` it loads the
spec, starts the embedded sandbox when no `--base-url` is given, collects every finding the
suite reports (on xdist workers too, through the reports' user properties), and writes the
reports (`DIR/<api>.json`, `.junit.xml`, `.html`, `.sarif`, `.wfc.json`, `.wfc.sh`, `DIR/index.html`)
with `--conformance-report-dir`.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import time
from collections.abc import Generator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from conformance import __version__
from conformance.findings import Finding
from conformance.rules import RULES

__all__ = ["FINDINGS_PROPERTY", "RunState", "run_state_key"]

FINDINGS_PROPERTY = "conformance_findings"
NOTES_PROPERTY = "conformance_notes"
REQUESTS_PROPERTY = "conformance_requests"
RULE_PROPERTY = "conformance_rule"
OPERATION_PROPERTY = "conformance_operation"
WORKER_INPUT = "conformance_options"


@dataclass
class RunState:
    """What one conformance run knows and collects (kept in `config.stash`)."""

    api: str
    base_url: str
    api_key: str | None
    report_dir: Path | None
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    started: float = field(default_factory=time.monotonic)
    findings: list[dict[str, Any]] = field(default_factory=list)
    notes: list[dict[str, Any]] = field(default_factory=list)
    """Differences from our reading of the documents that break no promise: shown, never failing the run."""
    checks: list[dict[str, Any]] = field(default_factory=list)
    requests_sent: int = 0
    requests_by_rule: dict[str, int] = field(default_factory=dict)
    plan: dict[str, Any] | None = None
    """The request plan of `--budget` (conformance/plan.py): what fits, what was skipped to fit."""
    """Requests each test sent, charged to its first rule (the engine's to the schema test that ran it)."""
    sandbox: contextlib.ExitStack | None = None
    result: dict[str, Any] | None = None
    interrupted: str | None = None
    """SIGINT or SIGTERM when the run was cut short: its reports are marked incomplete."""
    selected: list[str] = field(default_factory=list)
    ran: set[str] = field(default_factory=set)
    selection: dict[str, Any] = field(default_factory=dict)
    """What narrowed the run to part of the suite (rules, -k, -m, named tests): its SARIF category says it."""
    restore_sigterm: Any = None

    @property
    def secrets(self) -> tuple[str, ...]:
        """The key and the base URL's password: never shown (requests still carry both)."""
        from conformance.exchange import url_secrets

        return tuple(secret for secret in (self.api_key, *url_secrets(self.base_url)) if secret)

    @property
    def public_base_url(self) -> str:
        """The base URL as every output shows it: without `user:password@`."""
        from conformance.exchange import hide_url_credentials

        return hide_url_credentials(self.base_url, self.base_url)


run_state_key = pytest.StashKey[RunState]()


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    # Every option but --base-url carries the `--conformance-` prefix, so no other plugin's option collides.
    group = parser.getgroup("conformance", "API conformance (api-conformance)")
    group.addoption(
        "--conformance-api",
        default=None,
        help="API slug to check (goat, gaming-goods, …; default: the `api` of --conformance-spec's profile); "
        "without it or --conformance-spec the plugin does nothing.",
    )
    if not _base_url_is_owned(pluginmanager):
        group.addoption(
            "--base-url",
            default=None,
            help="Base URL of the server under test, including its path "
            "(e.g. https://api.example/v1). Default: start the API's sandbox on a free loopback port.",
        )
    group.addoption(
        "--conformance-api-key", default=None, help="API key (default: $CONFORMANCE_API_KEY, or the sandbox's key)."
    )
    group.addoption(
        "--conformance-spec",
        default=None,
        help="Spec file with an x-conformance profile: any API's, or one to use instead of the bundled one.",
    )
    group.addoption(
        "--conformance-report-dir",
        default=None,
        help="Write DIR/<api>.json, .junit.xml, .html, .sarif (not for an interrupted run or one that tested "
        "nothing), .wfc.json and .wfc.sh, and DIR/index.html.",
    )
    group.addoption(
        "--conformance-allow-writes",
        action="store_true",
        default=False,
        help="Send write requests to a non-loopback host (off by default).",
    )
    group.addoption(
        "--conformance-probe-rate-limit",
        action="store_true",
        default=False,
        help="Send a bounded burst past the rate limit to check the exceeded answer.",
    )
    group.addoption("--conformance-seed", type=int, default=None, help="Seed of the property tests.")
    group.addoption("--conformance-max-examples", type=int, default=None, help="Property-test examples per operation.")
    group.addoption(
        "--conformance-budget",
        default=None,
        metavar="SECONDS|Nreq",
        help="Bound the run: plan the requests and skip what does not fit (reported as skipped for budget).",
    )
    group.addoption(
        "--conformance-request-timeout", type=float, default=10.0, help="Timeout of each request, in seconds."
    )
    group.addoption(
        "--conformance-sandbox-fault",
        action="append",
        default=[],
        help="With the embedded sandbox: break this rule on purpose (self-tests).",
    )
    group.addoption(
        "--conformance-sandbox-variation",
        action="append",
        default=[],
        help="With the embedded sandbox: show this conforming variation (self-tests: no finding allowed).",
    )
    group.addoption("--conformance-sandbox-rate-limit", default=None, help="With the embedded sandbox: N/SECONDS.")
    group.addoption(
        "--conformance-pace",
        default=None,
        metavar="N/SECONDS",
        help="Requests per window the suite keeps to (default: the server's advertised or documented limit).",
    )
    group.addoption(
        "--conformance-rule",
        action="append",
        default=[],
        dest="conformance_rules",
        help="Only run the tests that judge this rule id (repeatable).",
    )
    group.addoption(
        "--conformance-no-preflight",
        action="store_true",
        default=False,
        help="Skip the pre-flight probe (a few GETs that stop a run whose key is refused or whose base URL "
        "answers no documented route; `conformance run` has made it already).",
    )
    group.addoption(
        "--conformance-progress",
        default=None,
        choices=("lines", "quiet"),
        help="Replace pytest's per-test output: 'lines' writes one line per scenario and engine "
        "phase, 'quiet' nothing but collection errors (what `conformance run` uses).",
    )


def _base_url_is_owned(pluginmanager: pytest.PytestPluginManager) -> bool:
    """True when pytest-base-url (pulled in by pytest-playwright, pytest-selenium) provides `--base-url`.

    It is the ecosystem's option: we read it rather than add a second one, which broke every pytest
    run of an environment that has both ("option dest 'base_url' already used").
    """
    if pluginmanager.has_plugin("base_url"):
        return True
    if pluginmanager.is_blocked("base_url") or os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
        return False
    from importlib.metadata import entry_points

    return any(ep.value.split(":")[0].startswith("pytest_base_url") for ep in entry_points(group="pytest11"))


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    api = config.getoption("conformance_api", None)
    if not api and not config.getoption("conformance_spec", None):
        if any(str(arg).split("::")[0].startswith("conformance.suite") for arg in config.args):
            # collecting the suite without an API would fail in every module: one line instead
            raise pytest.UsageError(
                "conformance.suite needs --conformance-api API (e.g. --conformance-api goat) or --conformance-spec FILE"
            )
        return
    from conformance.profile import ProfileError, load_profile
    from conformance.rules import get_rule

    for rule in config.getoption("conformance_rules") or ():
        try:
            get_rule(rule)
        except KeyError as exc:  # as `conformance run --rule` says: a typo is not "nothing was tested"
            raise pytest.UsageError(str(exc.args[0])) from None
    spec = config.getoption("conformance_spec") or api
    if config.getoption("conformance_spec") and not _is_worker(config):
        from conformance.speccheck import check_spec_file

        problems = check_spec_file(spec)  # as `conformance run` does: a bad spec is one line, not a traceback
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise pytest.UsageError(f"bad spec: {problems[0]}{more}")
    try:
        profile = load_profile(spec)
    except ProfileError as exc:
        raise pytest.UsageError(f"{exc}") from None
    api = api or profile.api  # any spec names its API in its profile
    if profile.api != api:
        raise pytest.UsageError(f"the spec {spec} describes {profile.api!r}, not {api!r}")
    handed = getattr(config, "workerinput", {}).get(WORKER_INPUT, {})  # from the controller, on xdist workers
    for name, value in handed.items():
        if getattr(config.option, name, None) is None:
            setattr(config.option, name, value)
    key = config.getoption("conformance_api_key") or os.environ.get("CONFORMANCE_API_KEY") or None
    base_url = config.getoption("base_url")
    sandbox_stack = None
    if not base_url and not _is_worker(config):
        from conformance.sandbox import SANDBOXES
        from conformance.sandbox.runner import running_sandbox

        if api not in SANDBOXES:
            raise pytest.UsageError(f"no sandbox serves {api!r}; pass --base-url URL of the server to check")

        rate = config.getoption("conformance_sandbox_rate_limit") or os.environ.get("CONFORMANCE_SANDBOX_RATE_LIMIT")
        rate_limit = None
        if rate:
            count, _, seconds = rate.partition("/")
            rate_limit = (int(count), float(seconds or 1))
        sandbox_stack = contextlib.ExitStack()
        try:
            sandbox = sandbox_stack.enter_context(
                running_sandbox(
                    api,
                    faults=config.getoption("conformance_sandbox_fault"),
                    variations=config.getoption("conformance_sandbox_variation"),
                    rate_limit=rate_limit,
                )
            )
        except ValueError as exc:  # an unknown fault or variation
            raise pytest.UsageError(f"{exc}") from None
        base_url = sandbox.base_url
        key = key or sandbox.api_key
        # The suite started this sandbox, so it knows its limit and paces to it rather than the documented one.
        if rate_limit is None:
            from conformance.sandbox import load_sandbox

            rate_limit = tuple(load_sandbox(api).DEFAULT_RATE_LIMIT)
        config.option.sandbox_pace = f"{rate_limit[0]}/{rate_limit[1]:g}"
        config.option.base_url = base_url  # for the workers: see pytest_configure_node
        config.option.conformance_api_key = key
    if not base_url:
        raise pytest.UsageError("no --base-url; pass the server's base URL (or omit it on the controller)")
    if not _is_worker(config) and (sandbox_stack is None or config.getoption("conformance_api_key")):
        _guard_target(config, profile, base_url, key, sandbox=sandbox_stack)
    if config.getoption("conformance_pace"):
        config.option.sandbox_pace = config.getoption("conformance_pace")  # the user's figure wins over any other
    if config.getoption("conformance_seed") is None and not _is_worker(config):
        # A seed for every run, so the report can say how to replay it (`--seed N`).
        config.option.conformance_seed = random.SystemRandom().randrange(1, 2**31)
    report_dir = config.getoption("conformance_report_dir")
    state = RunState(
        api=api,
        base_url=base_url.rstrip("/"),
        api_key=key,
        report_dir=Path(report_dir) if report_dir else None,
        sandbox=sandbox_stack,
    )
    state.selection = _selection(config)
    config.stash[run_state_key] = state
    if _is_worker(config):
        return
    config.pluginmanager.register(Collector(config, state), "conformance-collector")
    from conformance.interrupt import install_sigterm

    state.restore_sigterm = install_sigterm()  # a CI cancel writes incomplete reports, not none
    mode = config.getoption("conformance_progress")
    if mode:
        from conformance.progress import PLUGIN_NAME, Progress

        progress = Progress(config, api=api, base_url=state.public_base_url, quiet=mode == "quiet")
        config.pluginmanager.register(progress, PLUGIN_NAME)
    if state.report_dir and not config.option.xmlpath:
        state.report_dir.mkdir(parents=True, exist_ok=True)
        config.option.xmlpath = str(state.report_dir / f"{api}.junit.xml")


def _selection(config: pytest.Config) -> dict[str, Any]:
    """The options that ran part of the suite only: rules, `-k`, `-m`, test paths or ids other than the suite."""
    suite = Path(__file__).resolve().parent / "suite"
    selection: dict[str, Any] = {}
    rules = sorted(set(config.getoption("conformance_rules") or ()))
    if rules:
        selection["rules"] = rules
    if getattr(config.option, "keyword", ""):
        selection["keyword"] = config.option.keyword
    if getattr(config.option, "markexpr", ""):
        selection["markers"] = config.option.markexpr
    tests = [
        str(arg)
        for arg in config.args
        if str(arg) != "conformance.suite" and Path(str(arg)).resolve() != suite  # the whole suite
    ]
    tests += [f"not {item}" for item in config.getoption("deselect", None) or ()]
    if tests:
        selection["tests"] = sorted(tests)
    return selection


def _guard_target(
    config: pytest.Config, profile: Any, base_url: str, key: str | None, *, sandbox: contextlib.ExitStack | None
) -> None:
    """The guards of `conformance run`, for the pytest route too: a setup mistake is one line, not findings.

    A URL that is no http(s) URL, a missing key, and what the pre-flight probe finds (no answer, no
    documented route, the key refused) stop the run as a usage error before any test runs.
    """
    from conformance.cli import UsageError
    from conformance.preflight import preflight
    from conformance.run import check_base_url

    message = None
    try:
        if sandbox is None:
            check_base_url(base_url)
        if not key and any(not op.is_public for op in profile.operations.values()):
            raise UsageError(f"{profile.api} needs an API key; set CONFORMANCE_API_KEY (or --conformance-api-key KEY)")
    except UsageError as exc:
        message = str(exc)
    if message is None and not config.getoption("conformance_no_preflight"):
        timeout = config.getoption("conformance_request_timeout")
        # `conformance run` sets the progress mode; its users know the key option as --api-key
        key_option = "--api-key" if config.getoption("conformance_progress") else "--conformance-api-key"
        problem = preflight(profile, base_url, key, timeout, key_option=key_option)
        message = problem.message if problem is not None else None
    if message is not None:
        if sandbox is not None:
            sandbox.close()
        from conformance.exchange import hide_url_credentials

        raise pytest.UsageError(hide_url_credentials(message, base_url))


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """Hands the controller's sandbox URL, key and seed to an xdist worker.

    A worker parses the command line again and does not see options the controller set itself.
    """
    config = node.config
    if config.stash.get(run_state_key, None) is None:
        return
    node.workerinput[WORKER_INPUT] = {
        name: getattr(config.option, name, None)
        for name in ("base_url", "conformance_api_key", "conformance_seed", "sandbox_pace")
    }


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Spreads the suite over xdist workers: modules whole, the engine split (conformance/scheduling.py)."""
    if config.stash.get(run_state_key, None) is None or config.getvalue("dist") == "each":
        return None
    from conformance.profile import load_profile
    from conformance.scheduling import SuiteScheduling

    return SuiteScheduling(
        config, log, load_profile(config.getoption("conformance_spec") or config.getoption("conformance_api"))
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    """Redacts the key from everything a test report carries to the terminal, JUnit and JSON.

    Evidence is redacted where it is made, but a server that echoes the key back can put it in a
    message (an item id quoted in a finding, an exception's text): this is the one exit they all pass.
    """
    report = yield
    state = item.config.stash.get(run_state_key, None)
    if state is not None and (state.api_key or "@" in state.base_url):
        _redact_report(report, state.secrets, state.base_url)
    return report


def _redact_report(report: pytest.TestReport, secrets: tuple[str, ...], base_url: str = "") -> None:
    """Redacts `secrets` and drops the base URL's `user:password@` (conformance/exchange.py)."""
    from conformance.exchange import hide_url_credentials

    def redact(text: str, secrets: tuple[str, ...]) -> str:
        return hide_url_credentials(text, base_url, secrets)

    if isinstance(report.longrepr, tuple):  # a skip: (path, line, reason)
        path, line, reason = report.longrepr
        report.longrepr = (path, line, redact(reason, secrets))
    elif report.longrepr is not None:
        text = str(report.longrepr)
        if redact(text, secrets) != text:
            report.longrepr = redact(text, secrets)
    report.sections = [(title, redact(content, secrets)) for title, content in report.sections]
    ours = (RULE_PROPERTY, OPERATION_PROPERTY)  # our own ids: no secret travels there, and a redacted one breaks
    report.user_properties = [
        (name, redact(value, secrets) if isinstance(value, str) and name not in ours else value)
        for name, value in report.user_properties
    ]


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(run_state_key, None)
    if state is not None and state.sandbox is not None:
        state.sandbox.close()
    if state is not None and state.restore_sigterm is not None:
        state.restore_sigterm()
    if state is not None and state.result and state.result.get("incomplete") and config.option.xmlpath:
        from conformance.interrupt import mark_junit_incomplete

        mark_junit_incomplete(Path(config.option.xmlpath), state.result["incomplete"])


class Collector:
    """Collects findings and outcomes on the controller (from every xdist worker) and writes them."""

    def __init__(self, config: pytest.Config, state: RunState) -> None:
        self.config = config
        self.state = state
        self.nothing_tested = False

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.state.selected = [item.nodeid for item in session.items]

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        self.state.selected = list(ids)

    @pytest.hookimpl(tryfirst=True)  # before the terminal's report of it, which can itself fail
    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        from conformance.interrupt import signal_name

        self.state.interrupted = signal_name(excinfo.value)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        state = self.state
        if report.when == "call" or (report.when == "setup" and not report.passed):
            state.ran.add(report.nodeid)
        props = dict(report.user_properties)
        sent = sum(int(str(v)) for k, v in report.user_properties if k == REQUESTS_PROPERTY)
        state.requests_sent += sent
        if sent:
            first_rule = next((str(v) for k, v in report.user_properties if k == RULE_PROPERTY), "(no rule)")
            state.requests_by_rule[first_rule] = state.requests_by_rule.get(first_rule, 0) + sent
        found: list[dict[str, Any]] = []
        for key, value in report.user_properties:
            if key == FINDINGS_PROPERTY:
                found.extend(json.loads(str(value)))
        state.findings.extend(found)
        for key, value in report.user_properties:
            if key == NOTES_PROPERTY:
                state.notes.extend(json.loads(str(value)))
        rules = [str(value) for key, value in report.user_properties if key == RULE_PROPERTY]
        if not rules:
            return
        outcome = None
        if report.when == "call":
            outcome = "passed" if report.passed else "failed" if report.failed else "skipped"
        elif report.when == "setup" and not report.passed:
            outcome = "skipped" if report.skipped else "failed"
        if outcome is None:
            return
        reason = ""
        if report.skipped and isinstance(report.longrepr, tuple):
            reason = str(report.longrepr[2]).removeprefix("Skipped: ")
        elif report.failed and not found:
            reason = str(report.longrepr)[-500:]
        failing = {item["rule"] for item in found}
        for index, rule in enumerate(rules):
            rule_outcome = outcome
            if outcome == "failed" and found and rule not in failing:
                rule_outcome = "passed"
            elif outcome == "failed" and not found and index > 0:
                rule_outcome = "passed"  # a crash of the test is charged to its main rule
            state.checks.append(
                {
                    "rule": rule,
                    "category": RULES[rule].category,
                    "operation": props.get(OPERATION_PROPERTY, "*"),
                    "outcome": rule_outcome,
                    "reason": reason if rule_outcome != "passed" else "",
                    "test": report.nodeid,
                }
            )
        # A finding under a rule the test does not declare (the rules of any response its recorded exchanges
        # broke, conformance/suite/conftest.py) is a failed check of that rule on the finding's operation.
        undeclared = {(item["rule"], item["operation"]) for item in found if item["rule"] not in rules}
        for rule, operation in sorted(undeclared):
            state.checks.append(
                {
                    "rule": rule,
                    "category": RULES[rule].category,
                    "operation": operation,
                    "outcome": "failed",
                    "reason": "",
                    "test": report.nodeid,
                }
            )

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        self.state.result = build_result(self.state, seed=self.config.getoption("conformance_seed"))
        checks = self.state.result["checks"]
        ok = (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED)
        if exitstatus in ok and not any(c["outcome"] != "skipped" for c in checks):
            # no test selected, or every selected check skipped: nothing tested must not pass as conforming
            session.exitstatus = pytest.ExitCode.NO_TESTS_COLLECTED
            self.nothing_tested = True
        if self.state.report_dir:
            from conformance.report.writer import write_reports

            # JSON, SARIF (unless the run cannot stand for its category: conformance/report/sarif.py), WFC, HTML
            # and index, as `conformance run`
            write_reports(self.state.result, self.state.report_dir, self.config.getoption("conformance_spec"))

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """The pytest route's closing lines: the summary `conformance run` prints (which prints its own)."""
        result = self.state.result
        if result is None or self.config.getoption("conformance_progress"):
            return
        from conformance.report.console import summary_lines

        terminalreporter.section("conformance")
        failures = [item for item in result["findings"] if not item.get("accepted")]
        for line in summary_lines(result, failures, self.state.report_dir):
            terminalreporter.write_line(line)
        if result.get("incomplete"):
            terminalreporter.write_line(f"conformance: {result['incomplete']['summary']}", red=True, bold=True)
        elif self.nothing_tested:
            terminalreporter.write_line("conformance: nothing was tested (no test selected, or every one skipped)")


def build_result(state: RunState, *, seed: int | None) -> dict[str, Any]:
    """Returns the run's result document (the JSON report's shape)."""
    findings = _dedupe(state.findings)
    result = {
        "api": state.api,
        "base_url": state.public_base_url,
        "started_at": state.started_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "duration_s": round(time.monotonic() - state.started, 3),
        "requests_sent": state.requests_sent,
        "requests_by_rule": dict(sorted(state.requests_by_rule.items(), key=lambda item: (-item[1], item[0]))),
        "seed": seed,
        "tool_version": __version__,
        "summary": {"passed": 0, "failed": 0, "skipped": 0, "accepted": 0},
        "checks": state.checks,
        "findings": findings,
        "notes": _dedupe(state.notes),
    }
    if state.plan:
        result["plan"] = state.plan
    if state.selection:
        result["selection"] = state.selection
    if state.interrupted:
        from conformance.interrupt import incomplete

        result["incomplete"] = incomplete(state.interrupted, state.selected, state.ran)
    # Counted as every view counts: one outcome per rule and operation (conformance/report/model.py),
    # so the JSON summary, the HTML report and a baselined result agree.
    from conformance.report.model import Result

    result["summary"] = Result.from_dict(result).summary()
    return result


def _dedupe(findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One finding per (rule, operation, message): the same broken promise seen twice is one finding."""
    seen: set[tuple[str, str, str]] = set()
    unique = []
    for item in findings:
        key = (item["rule"], item["operation"], item["message"])
        if key not in seen:
            seen.add(key)
            unique.append(item)
    return unique


def record_findings(item: pytest.Item, findings: list[Finding], *, notes: bool = False) -> None:
    """Attaches findings (or, with `notes`, notes) to the test's report: they travel from xdist workers this way."""
    if findings:
        name = NOTES_PROPERTY if notes else FINDINGS_PROPERTY
        item.user_properties.append((name, json.dumps([f.to_dict() for f in findings])))
