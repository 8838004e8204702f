"""A run must never pass by accident: an interrupted run, or one that tested nothing, is not green.

Real processes (`conformance run goat`, `pytest --pyargs conformance.suite`) and real signals: CI
services cancel a job with SIGINT or SIGTERM. `--pace 20/1` keeps the run long enough (about 20 s
of requests) that the signal always lands in the middle of it.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest

from tests.commands import PYTEST_ROUTE_GOAT

ROOT = Path(__file__).resolve().parent.parent
CONFORMANCE = str(Path(sys.executable).parent / "conformance")
GUARD_S = 120  # a hang guard, not a speed target


def interrupt(argv: list[str], sig: signal.Signals, when: str = "auth ") -> tuple[int, str]:
    """Starts `argv`, waits for a progress line starting with `when`, sends `sig`; returns code and output."""
    process = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    seen = []
    for line in process.stdout:
        seen.append(line)
        if line.startswith(when) or (when == "auth " and "test_auth.py" in line):  # the tests are running
            break
    process.send_signal(sig)
    rest, _ = process.communicate(timeout=GUARD_S)
    return process.returncode, "".join(seen) + rest


def incomplete_reports(directory: Path, sig: str) -> dict[str, Any]:
    result = json.loads((directory / "goat.json").read_text(encoding="utf-8"))
    block = result["incomplete"]
    assert block["signal"] == sig and block["reason"] == f"interrupted by {sig}"
    assert block["not_run"] and 0 < block["tests_run"] < block["tests_selected"]
    assert len(block["not_run"]) == block["tests_selected"] - block["tests_run"]
    junit = ElementTree.parse(directory / "goat.junit.xml").getroot()
    errors = [case for case in junit.iter("testcase") if case.find("error") is not None]
    assert any(case.get("name") == "run incomplete" for case in errors)
    return result  # type: ignore[no-any-return]


@pytest.mark.slow
@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupted_run_exits_non_zero_and_marks_every_report_incomplete(
    tmp_path: Path, sig: signal.Signals, code: int
) -> None:
    argv = [CONFORMANCE, "run", "goat", "--pace", "20/1", "--report-dir", str(tmp_path)]
    returncode, output = interrupt(argv, sig)
    assert returncode == code, output
    assert f"interrupted by {sig.name}: " in output and "the reports are incomplete" in output
    incomplete_reports(tmp_path, sig.name)
    html = (tmp_path / "goat.html").read_text(encoding="utf-8")
    assert f"Incomplete: interrupted by {sig.name}" in html and "No failures" not in html
    assert 'text-anchor="middle">so far</text>' in html  # the score ring says its figure is partial
    assert "incomplete" in (tmp_path / "index.html").read_text(encoding="utf-8")


@pytest.mark.slow
@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupt_during_the_schemathesis_engine_is_not_swallowed(
    tmp_path: Path, sig: signal.Signals, code: int
) -> None:
    """Schemathesis catches Ctrl-C itself and reports it as an event: the run once went on to exit 0."""
    argv = [CONFORMANCE, "run", "goat", "-k", "test_schema", "--pace", "20/1", "--report-dir", str(tmp_path)]
    returncode, output = interrupt(argv, sig, when="schema      engine: examples")
    assert returncode == code, output
    assert f"interrupted by {sig.name}: " in output
    block = json.loads((tmp_path / "goat.json").read_text(encoding="utf-8"))["incomplete"]
    assert block["signal"] == sig.name and block["not_run"]


@pytest.mark.slow
def test_sigterm_in_the_pytest_route_writes_incomplete_reports_and_fails(tmp_path: Path) -> None:
    argv = list(PYTEST_ROUTE_GOAT)
    argv += ["--conformance-pace", "20/1", "--conformance-report-dir", str(tmp_path), "-v"]
    returncode, output = interrupt(argv, signal.SIGTERM)
    assert returncode == pytest.ExitCode.INTERRUPTED, output  # pytest's own code for an interrupted session
    assert "conformance: interrupted by SIGTERM" in output
    incomplete_reports(tmp_path, "SIGTERM")


def run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=GUARD_S)


def test_a_selection_of_nothing_is_a_usage_error() -> None:
    done = run([CONFORMANCE, "run", "goat", "-k", "nosuchthing", "-q"])
    assert done.returncode == 2, done.stdout + done.stderr
    assert "error: nothing was tested: -k 'nosuchthing' selects no test" in done.stderr


def test_a_selection_whose_every_check_is_skipped_is_a_usage_error() -> None:
    # rate-limit.exceeded needs --probe-rate-limit: its one check is skipped
    done = run([CONFORMANCE, "run", "goat", "--rule", "rate-limit.exceeded", "-q"])
    assert done.returncode == 2, done.stdout + done.stderr
    assert "error: nothing was tested: every check selected by --rule rate-limit.exceeded was skipped" in done.stderr
    assert "--probe-rate-limit" in done.stderr


def test_the_pytest_route_says_nothing_was_tested_with_pytests_code() -> None:
    argv = list(PYTEST_ROUTE_GOAT)
    done = run([*argv, "--conformance-rule", "rate-limit.exceeded"])
    assert done.returncode == pytest.ExitCode.NO_TESTS_COLLECTED, done.stdout + done.stderr
    assert "conformance: nothing was tested" in done.stdout


def test_a_failing_account_of_an_interrupt_still_ends_the_run_as_interrupted(monkeypatch: pytest.MonkeyPatch) -> None:
    """pytest's terminal once raised SystemError (CPython 3.11's ast.parse) while reporting a SIGTERM: the CLI
    printed a traceback and exited 1 instead of 143."""
    from conformance import interrupt, run

    def interrupted_main(*args: Any, **kwargs: Any) -> int:
        interrupt._SIGTERM_SEEN.set()
        raise SystemError("AST constructor recursion depth mismatch")

    monkeypatch.setattr(pytest, "main", interrupted_main)
    try:
        _result, code, signal_seen = run._run_pytest([], None, quiet=True)
    finally:
        interrupt._SIGTERM_SEEN.clear()
    assert (code, signal_seen) == (int(pytest.ExitCode.INTERRUPTED), "SIGTERM")


def test_an_error_without_an_interrupt_is_not_taken_for_one(monkeypatch: pytest.MonkeyPatch) -> None:
    from conformance import run

    def broken_main(*args: Any, **kwargs: Any) -> int:
        raise SystemError("a real bug")

    monkeypatch.setattr(pytest, "main", broken_main)
    with pytest.raises(SystemError, match="a real bug"):
        run._run_pytest([], None, quiet=True)
