"""Interrupted runs: SIGTERM handled like Ctrl-C, and the exit codes of both.

CI services cancel a job with SIGINT or SIGTERM. Python's default for SIGTERM kills the process
on the spot (no report, or worse a stale green one); raising `Terminated`, a KeyboardInterrupt,
lets pytest stop the same way as on Ctrl-C, so the reports are written and marked incomplete.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

__all__ = [
    "EXIT_CODES",
    "Terminated",
    "incomplete",
    "install_sigterm",
    "interrupted_by",
    "mark_junit_incomplete",
    "reraise_swallowed",
    "signal_name",
]

# The shell's convention, 128 + the signal's number: 130 for SIGINT (as Schemathesis), 143 for SIGTERM.
EXIT_CODES = {"SIGINT": 128 + signal.SIGINT, "SIGTERM": 128 + signal.SIGTERM}


class Terminated(KeyboardInterrupt):
    """Raised in the main thread on SIGTERM."""


_SIGTERM_SEEN = threading.Event()
_SIGINT_SEEN = threading.Event()


def _raise_terminated(signum: int, frame: Any) -> None:
    _SIGTERM_SEEN.set()
    raise Terminated()


def _raise_interrupt(signum: int, frame: Any) -> None:
    _SIGINT_SEEN.set()
    raise KeyboardInterrupt()


def reraise_swallowed() -> None:
    """Raises again an interrupt that a library caught (Schemathesis catches Ctrl-C and our `Terminated`).

    Schemathesis may report it as an event, or only skip the phase it was in and go on: either way the run
    must stop as interrupted, not carry on as if the engine had finished. Does nothing when no signal came.
    """
    if _SIGTERM_SEEN.is_set():
        raise Terminated()
    if _SIGINT_SEEN.is_set():
        raise KeyboardInterrupt()


def interrupted_by() -> str | None:
    """The signal that interrupted this run ("SIGTERM" or "SIGINT"), or None."""
    if _SIGTERM_SEEN.is_set():
        return "SIGTERM"
    return "SIGINT" if _SIGINT_SEEN.is_set() else None


def install_sigterm() -> Callable[[], None]:
    """Makes SIGTERM raise `Terminated` and notes SIGINT (still a KeyboardInterrupt) so that a swallowed one is
    seen; returns the function that restores the previous handlers."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    _SIGTERM_SEEN.clear()
    _SIGINT_SEEN.clear()
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    previous_int = signal.signal(signal.SIGINT, _raise_interrupt)

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)

    return restore


def signal_name(exc: BaseException) -> str:
    """The signal an interrupt came from: SIGTERM for `Terminated`, else SIGINT (Ctrl-C)."""
    return "SIGTERM" if isinstance(exc, Terminated) else "SIGINT"


def incomplete(sig: str, selected: list[str], ran: set[str]) -> dict[str, Any]:
    """The result's `incomplete` block: why the run stopped, what ran and what did not."""
    not_run = [nodeid for nodeid in selected if nodeid not in ran]
    done = len(selected) - len(not_run) if selected else len(ran)
    total = len(selected) or len(ran)
    summary = (
        f"interrupted by {sig}: {done} of {total} tests ran, {len(not_run)} did not"
        if total
        else f"interrupted by {sig} before the tests were collected: nothing ran"
    )
    return {
        "reason": f"interrupted by {sig}",
        "signal": sig,
        "tests_run": done,
        "tests_selected": total,
        "not_run": not_run,
        "summary": f"{summary}; the reports are incomplete",
    }


def mark_junit_incomplete(path: Path, block: dict[str, Any]) -> None:
    """Adds an erroring test case to a JUnit file, so a CI dashboard never shows a cut run as green."""
    try:
        tree = ElementTree.parse(path)
    except (OSError, ElementTree.ParseError):
        return
    root = tree.getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    if suite is None:
        return
    case = ElementTree.SubElement(suite, "testcase", classname="conformance", name="run incomplete")
    error = ElementTree.SubElement(case, "error", message=block["summary"], type="interrupted")
    error.text = "\n".join([block["summary"], "not run:", *block["not_run"]])
    suite.set("errors", str(int(suite.get("errors", "0")) + 1))
    suite.set("tests", str(int(suite.get("tests", "0")) + 1))
    tree.write(path, encoding="utf-8", xml_declaration=True)
