"""Progress of a conformance run on the terminal, in place of pytest's dots.

`conformance run` passes `--conformance-progress lines` (or `quiet` with `-q`). Then pytest's own
per-test letters, headers and summaries are off, and this plugin writes, through pytest's terminal
reporter:

* one line when the run starts: the API, the target, how many tests, the seed;
* one line per scenario (a test function of a module, e.g. `auth  missing credentials`) when
  all its tests are done: the findings it added and the running total, its time, and each
  operation it judged with its outcome (`✓ getMe  ✗ listProducts  – getHealth`);
* for the Schemathesis engine (schema tests), one line per engine phase (examples, coverage,
  fuzzing, stateful), each operation written as soon as the engine is done with it;
* a test that crashed (failed without a finding) right below its scenario's line.

In `quiet` mode it writes only collection errors; the CLI prints the summary either way. Lines are
written whole, so xdist workers finishing tests in any order cannot interleave them.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest

__all__ = ["MODES", "Progress", "engine_listener"]

MODES = ("lines", "quiet")
PLUGIN_NAME = "conformance-progress"
# Scenario outcomes, worst first; an operation judged by several tests shows the worst.
_ORDER = ("error", "failed", "skipped", "passed")
_ENGINE_PHASES = ("examples", "coverage", "fuzzing", "stateful")


def engine_listener(config: pytest.Config) -> Progress | None:
    """Returns the progress plugin when it writes engine phases (on the controller, not quiet), else None."""
    plugin = config.pluginmanager.get_plugin(PLUGIN_NAME)
    return plugin if isinstance(plugin, Progress) and not plugin.quiet else None


@dataclass
class _Scenario:
    """One test function's tests: what has finished so far."""

    label: str
    expected: int = 0
    done: int = 0
    operations: dict[str, str] = field(default_factory=dict)  # operation -> worst outcome
    new_findings: int = 0
    repeated: int = 0  # findings an earlier scenario had already reported
    seconds: float = 0.0
    crashes: list[str] = field(default_factory=list)
    printed: bool = False


class Progress:
    """The pytest plugin that writes the run's progress (registered by `conformance.plugin`)."""

    def __init__(self, config: pytest.Config, *, api: str, base_url: str, quiet: bool) -> None:
        self.config = config
        self.api = api
        self.base_url = base_url
        self.quiet = quiet
        self.scenarios: dict[str, _Scenario] = {}
        self.findings: set[tuple[str, str, str]] = set()
        self.started = False
        self.marks = _marks()
        self._engine_line: dict[str, Any] | None = None
        self.width = 38  # of the scenario labels: the longest one, once the tests are collected

    @property
    def reporter(self) -> Any:
        """pytest's terminal reporter (registered after this plugin, so looked up when writing)."""
        return self.config.pluginmanager.get_plugin("terminalreporter")

    # --- writing ----------------------------------------------------------------------------

    def _write(self, parts: list[tuple[str, dict[str, bool]]]) -> None:
        """Writes one whole line (with capturing suspended, so it shows even inside a fixture)."""
        if self.reporter is None:
            return
        capture = self.config.pluginmanager.get_plugin("capturemanager")
        with capture.global_and_fixture_disabled() if capture is not None else contextlib.nullcontext():
            self.reporter.ensure_newline()
            for text, markup in parts:
                self.reporter.write(text, **markup)
            self.reporter.write("\n", flush=True)

    def _write_partial(self, text: str, **markup: bool) -> None:
        if self.reporter is None:
            return
        capture = self.config.pluginmanager.get_plugin("capturemanager")
        with capture.global_and_fixture_disabled() if capture is not None else contextlib.nullcontext():
            self.reporter.write(text, flush=True, **markup)

    # --- collection -------------------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        """Silences xdist's worker status ("bringing up nodes..."): it would break these lines and `-q`."""
        reporter = self.config.pluginmanager.get_plugin("terminaldistreporter")
        if reporter is not None:
            self.config.pluginmanager.unregister(reporter)
            reporter.ensure_show_status = lambda: None  # also called by xdist directly, not as a hook

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:  # shown even in quiet mode: without it a broken spec would be silent
            self._write([(f"error collecting {report.nodeid or 'the suite'}:", {"red": True, "bold": True})])
            self._write([(report.longreprtext.rstrip(), {})])

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self._expect([item.nodeid for item in session.items])

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        if not self.started:  # every worker collects the same tests
            self._expect(ids)

    def _expect(self, nodeids: list[str]) -> None:
        self.started = True
        for nodeid in nodeids:
            key = _scenario_key(nodeid)
            self.scenarios.setdefault(key, _Scenario(_scenario_label(key))).expected += 1
        self.width = min(max((len(s.label) for s in self.scenarios.values()), default=38), 50)
        if self.quiet:
            return
        seed = self.config.getoption("conformance_seed")
        faults = self.config.getoption("conformance_sandbox_fault") or []
        where = f"{self.base_url}" + (f" (embedded sandbox, faults: {', '.join(faults)})" if faults else "")
        count = f"{len(nodeids)} test{'s' * (len(nodeids) != 1)} in {len(self.scenarios)} scenarios"
        self._write(
            [
                (f"{self.api}: ", {"bold": True}),
                (f"{count} against {where}", {}),
                (f"; seed {seed}" if seed is not None else "", {}),
            ]
        )
        self._write([(pace_line(self.config, self.api), {})])

    # --- tests ------------------------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_report_teststatus(self, report: pytest.TestReport, config: pytest.Config) -> tuple[str, str, str]:
        """Keeps pytest's statistics but writes no letter per test: the scenario lines replace them."""
        if report.when in ("setup", "teardown"):
            if report.failed:
                return "error", "", ""
            return ("skipped", "", "") if report.skipped else ("", "", "")
        return report.outcome, "", ""

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        from conformance.plugin import FINDINGS_PROPERTY, OPERATION_PROPERTY

        scenario = self.scenarios.setdefault(_scenario_key(report.nodeid), _Scenario(_scenario_label(report.nodeid)))
        scenario.seconds += report.duration
        found = []
        for key, value in report.user_properties:
            if key == FINDINGS_PROPERTY:
                found.extend(json.loads(str(value)))
        for item in found:
            identity = (item["rule"], item["operation"], item["message"])
            if identity not in self.findings:
                self.findings.add(identity)
                scenario.new_findings += 1
            else:
                scenario.repeated += 1
        outcome = _outcome(report)
        if outcome is None:
            return
        operation = str(dict(report.user_properties).get(OPERATION_PROPERTY, "*"))
        scenario.operations[operation] = _worst(scenario.operations.get(operation, outcome), outcome)
        if report.failed and not found:
            lines = report.longreprtext.strip().splitlines() or ["(no details)"]
            scenario.crashes.append(f"{report.nodeid.rsplit('::', 1)[-1]} ({report.when}): {lines[-1][:300]}")

    def pytest_runtest_logfinish(self, nodeid: str, location: Any) -> None:
        scenario = self.scenarios.get(_scenario_key(nodeid))
        if scenario is None:
            return
        scenario.done += 1
        if scenario.done >= scenario.expected:
            self._scenario_line(scenario)

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self._close_engine_line()
        for scenario in self.scenarios.values():  # interrupted runs: what did finish
            if scenario.done and not scenario.printed:
                self._scenario_line(scenario)

    def _scenario_line(self, scenario: _Scenario) -> None:
        if scenario.printed or self.quiet:
            return
        scenario.printed = True
        self._close_engine_line()
        total = len(self.findings)
        if scenario.new_findings:
            findings = (f"+{scenario.new_findings} finding{'s' * (scenario.new_findings != 1)}", {"red": True})
        elif scenario.repeated:
            findings = (f"{scenario.repeated} seen before", {})
        else:
            findings = ("no finding", {})
        parts: list[tuple[str, dict[str, bool]]] = [
            (f"{scenario.label:<{self.width}} ", {}),
            (f"{findings[0]:<16}", findings[1]),
            (f"{total:>4} in all {scenario.seconds:6.1f} s ", {}),
        ]
        for operation, outcome in scenario.operations.items():
            mark, markup = self.marks[outcome]
            parts.append((f" {mark} {_operation(operation)}", markup))
        self._write(parts)
        for crash in scenario.crashes:
            self._write([(f"    crashed: {crash}", {"red": True})])

    # --- the Schemathesis engine (conformance/engine.py) ---------------------------------------

    def engine_phase_started(self, phase: str) -> None:
        if phase not in _ENGINE_PHASES:
            return
        self._close_engine_line()
        self._engine_line = {"phase": phase, "started": time.monotonic(), "seen": set(), "stateful": Counter()}
        label = f"{'schema':<12}engine: {phase}"
        self._write_partial(f"{label:<{self.width}}")

    def engine_scenario(self, phase: str, operation: str | None, status: str) -> None:
        line = self._engine_line
        if line is None or line["phase"] != phase:
            return
        outcome = {"success": "passed", "failure": "failed", "skip": "skipped"}.get(status, "error")
        if operation is None:  # stateful scenarios chain several operations
            line["stateful"][outcome] += 1
            return
        if operation in line["seen"]:
            return
        line["seen"].add(operation)
        mark, markup = self.marks[outcome]
        self._write_partial(f" {mark} {operation}", **markup)

    def engine_phase_finished(self, phase: str, status: str) -> None:
        line = self._engine_line
        if line is None or line["phase"] != phase:
            return
        counts = line["stateful"]
        if counts:
            ordered = sorted(counts.items(), key=lambda item: _ORDER.index(item[0]))
            text = ", ".join(f"{n} {outcome}" for outcome, n in ordered)
            self._write_partial(f" {sum(counts.values())} scenarios: {text}")
        elif not line["seen"]:
            self._write_partial(f" {status}")
        self._write_partial(f"  ({time.monotonic() - line['started']:.1f} s)\n")
        self._engine_line = None

    def _close_engine_line(self) -> None:
        if self._engine_line is not None:
            self._write_partial("\n")
            self._engine_line = None


def pace_line(config: pytest.Config, api: str) -> str:
    """Says at the start how fast the suite will go and why: a slow default pace is otherwise a mystery."""
    from conformance.profile import load_profile

    def per(rate: str) -> str:
        count, _, seconds = rate.partition("/")
        return f"{count} requests per {float(seconds or 1):g} s"

    if config.getoption("conformance_pace"):
        return f"  pace: {per(config.getoption('conformance_pace'))} (--pace)"
    sandbox = getattr(config.option, "sandbox_pace", None)
    if sandbox:
        return f"  pace: {per(sandbox)}, the embedded sandbox's limit"
    section = load_profile(config.getoption("conformance_spec") or api).data["rate_limit"]
    rate = per(f"{section['requests']}/{section['window_s']}")
    if section.get("tier") == "documented":
        return f"  pace: {rate}, the documented limit (or the one the server advertises); --pace N/SECONDS to change"
    return (
        f"  pace: {rate}, the suite's default: the documents give no figure; --pace N/SECONDS if the server allows more"
    )


def _scenario_key(nodeid: str) -> str:
    """`conformance/suite/test_auth.py::test_missing_credentials[getMe]` → the part before `[`."""
    return nodeid.split("[", 1)[0]


def _scenario_label(key: str) -> str:
    """`…/test_rate_limit.py::test_headers` → `rate-limit  headers`."""
    path, _, function = key.partition("::")
    module = path.rsplit("/", 1)[-1].removesuffix(".py").removeprefix("test_").replace("_", "-")
    name = function.removeprefix("test_").replace("_", " ")
    if name == module:  # test_schema.py::test_schema: what the engine found, per operation
        name = "engine findings"
    return f"{module:<12}{name}"


def _outcome(report: pytest.TestReport) -> str | None:
    if report.when == "call":
        return str(report.outcome)
    if report.failed:
        return "error"
    if report.skipped:
        return "skipped"
    return None


def _worst(a: str, b: str) -> str:
    return a if _ORDER.index(a) <= _ORDER.index(b) else b


def _operation(operation: str) -> str:
    return "API-wide" if operation == "*" else operation


def _marks() -> dict[str, tuple[str, dict[str, bool]]]:
    """The mark of each outcome: ✓ ✗ – ! where the terminal can show them, else ASCII."""
    encoding = (getattr(sys.stdout, "encoding", None) or "").lower()
    fancy = encoding.replace("-", "") in ("utf8", "utf16", "utf32")
    symbols = ("✓", "✗", "–", "!") if fancy else ("ok", "FAIL", "skip", "ERROR")
    return {
        "passed": (symbols[0], {"green": True}),
        "failed": (symbols[1], {"red": True, "bold": True}),
        "skipped": (symbols[2], {"yellow": True}),
        "error": (symbols[3], {"red": True, "bold": True}),
    }
