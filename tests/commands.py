"""Command lines the tests start as real processes: one spelling of each, so a renamed option is renamed once."""

from __future__ import annotations

import sys

# The pytest route against goat's embedded sandbox, without pytest's cache (tests run in parallel).
PYTEST_ROUTE_GOAT = [
    sys.executable,
    "-m",
    "pytest",
    "--pyargs",
    "conformance.suite",
    "--conformance-api",
    "goat",
    "-p",
    "no:cacheprovider",
]
