"""The pytest route is a first-class way in, and installing us breaks nobody else's pytest.

pytest-base-url (pulled in by pytest-playwright and pytest-selenium) owns `--base-url`; with both
installed every pytest run failed at start-up ("option dest 'base_url' already used"). Here it is
installed from PyPI beside us (into a folder put on PYTHONPATH), then an unrelated test file runs,
and the suite runs reading pytest-base-url's option.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.sandbox.runner import running_sandbox

GUARD_S = 120


@pytest.fixture(scope="module")
def with_base_url_plugin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The environment of a pytest that also has pytest-base-url."""
    target = tmp_path_factory.mktemp("site")
    install = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target)]
    done = subprocess.run([*install, "pytest-base-url==2.1.0"], capture_output=True, text=True, timeout=GUARD_S)
    if done.returncode != 0:
        pytest.skip(f"cannot install pytest-base-url from PyPI: {done.stderr.strip().splitlines()[-1:]}")
    env = {k: v for k, v in os.environ.items() if k != "CONFORMANCE_API_KEY" and not k.lower().endswith("_proxy")}
    env["PYTHONPATH"] = str(target)
    yield env


def pytest_in(directory: Path, env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *argv]
    return subprocess.run(command, cwd=directory, env=env, capture_output=True, text=True, timeout=GUARD_S)


@pytest.mark.slow
def test_an_unrelated_test_file_runs_beside_pytest_base_url(
    with_base_url_plugin: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "test_other.py").write_text(
        "def test_uses_the_base_url_fixture(base_url):\n    assert base_url == 'http://example.test'\n"
    )
    done = pytest_in(tmp_path, with_base_url_plugin, "test_other.py", "--base-url", "http://example.test", "-q")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
    listed = pytest_in(tmp_path, with_base_url_plugin, "--help").stdout
    assert "--conformance-api" in listed and "--conformance-api-key" in listed  # ours, under one prefix


@pytest.mark.slow
def test_the_suite_reads_pytest_base_urls_option(with_base_url_plugin: dict[str, str], tmp_path: Path) -> None:
    args = ["--pyargs", "conformance.suite", "--conformance-api", "goat", "--conformance-rule", "errors.unknown-route"]
    with running_sandbox("goat") as sandbox:
        env = {**with_base_url_plugin, "CONFORMANCE_API_KEY": sandbox.api_key}
        reports = tmp_path / "reports"
        done = pytest_in(tmp_path, env, *args, "--base-url", sandbox.base_url, "--conformance-report-dir", str(reports))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f'"base_url": "{sandbox.base_url}"' in (reports / "goat.json").read_text(encoding="utf-8")


def test_the_pytest_route_writes_the_same_reports_and_summary(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "CONFORMANCE_API_KEY"}
    args = ["--pyargs", "conformance.suite", "--conformance-api", "goat", "--conformance-rule", "errors.envelope"]
    args += ["--conformance-sandbox-fault", "errors.envelope", "--conformance-report-dir", str(tmp_path / "r")]
    done = pytest_in(tmp_path, env, *args)
    assert done.returncode == pytest.ExitCode.TESTS_FAILED, done.stdout + done.stderr
    summary = done.stdout.split(" conformance ", 1)[1].splitlines()
    assert summary[1].startswith("goat at http://127.0.0.1:") and " finding(s); " in summary[1]
    assert any(line.startswith("  FAIL  errors.envelope ") for line in summary)
    assert {p.name for p in (tmp_path / "r").iterdir()} == {
        *("goat.json", "goat.junit.xml", "goat.html", "index.html"),
        *("goat.sarif", "goat.wfc.json", "goat.wfc.sh"),
    }
