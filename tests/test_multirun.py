"""`conformance run API API…`: several APIs at once, each in its own process (conformance/multirun.py).

Real processes and real signals: the runs, their reports, the combined exit code, and a Ctrl-C or a
CI cancel that must stop every run as an interrupted one, never leave one running or pass.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conformance.cli import _run_parser, main
from conformance.multirun import child_argv, start_order, worst

ROOT = Path(__file__).resolve().parent.parent
CONFORMANCE = str(Path(sys.executable).parent / "conformance")
GUARD_S = 180  # a hang guard, not a speed target


def test_the_shared_options_reach_each_run_and_the_api_names_do_not() -> None:
    argv = ["goat", "--seed", "goat", "-q", "retailcrm", "--report-dir=out", "--rule", "errors.envelope"]
    assert child_argv(_run_parser(), argv, ["goat", "retailcrm"]) == [
        "--seed",
        "goat",  # an option's value, whatever it spells
        "-q",
        "--report-dir=out",
        "--rule",
        "errors.envelope",
    ]


def test_an_abbreviated_option_keeps_its_value() -> None:
    assert child_argv(_run_parser(), ["goat", "--report", "goat", "retailcrm"], ["goat", "retailcrm"]) == [
        "--report",
        "goat",
    ]


def test_the_api_of_a_config_file_is_one_api(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "conformance.toml").write_text('api = "goat"\nbase_url = "http://127.0.0.1:9/v1"\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CONFORMANCE_API_KEY", raising=False)
    # one API from the file: the single-API checks run (here: the key it needs), not the several-APIs path
    assert main(["run", "-q"]) == 2
    assert capsys.readouterr().err == "error: goat needs an API key; pass --api-key KEY or set CONFORMANCE_API_KEY\n"


def test_a_config_files_one_api_setting_is_named_as_such(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "conformance.toml").write_text('base_url = "http://127.0.0.1:9/v1"\n')
    monkeypatch.chdir(tmp_path)
    assert main(["run", "goat", "retailcrm"]) == 2
    assert "--base-url (set by the config file) applies to one API" in capsys.readouterr().err


def test_the_api_with_the_tightest_documented_limit_starts_first() -> None:
    order = start_order(["goat", "storefront", "retailcrm", "goat"])
    assert order[0] == "retailcrm"  # 10 requests a second, not advertised (goat advertises its window)
    assert sorted(order) == ["goat", "retailcrm", "storefront"]  # each API once


@pytest.mark.parametrize(
    ("codes", "expected"),
    [
        ([0, 0], 0),
        ([0, 1], 1),
        ([1, 2, 0], 2),
        ([2, 130, 1], 130),
        ([143, 0], 143),
        ([], 0),
        ([0, -9], 137),  # a run killed by SIGKILL (an OOM killer) is no pass
        ([1, -11, 0], 139),
    ],
)
def test_the_exit_code_is_the_worst_of_the_runs(codes: list[int], expected: int) -> None:
    assert worst(codes) == expected


@pytest.mark.parametrize(
    "option",
    [
        ["--base-url", "http://127.0.0.1:9/v1"],
        ["--spec", "specs/goat.yaml"],
        ["--fault", "errors.envelope"],
        ["--variation", "trailing-slash"],
        ["--baseline", "b.yaml"],
    ],
)
def test_options_of_one_api_are_refused_with_several(option: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "goat", "tribute-shop", *option]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {option[0]} applies to one API") and err.count("\n") == 1


def test_an_unknown_api_among_several_is_refused_before_any_run(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "goat", "gaot-shop"]) == 2
    assert "unknown API 'gaot-shop'" in capsys.readouterr().err


@pytest.mark.slow
def test_two_apis_run_at_once_each_with_its_reports_and_one_index(tmp_path: Path) -> None:
    argv = [CONFORMANCE, "run", "goat", "tribute-shop", "-q", "--seed", "7", "--report-dir", str(tmp_path)]
    proc = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=GUARD_S)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for api in ("goat", "tribute-shop"):
        result = json.loads((tmp_path / f"{api}.json").read_text(encoding="utf-8"))
        assert result["api"] == api and result["seed"] == 7 and result["requests_sent"] > 100
        assert result["findings"] == [] and "incomplete" not in result
        assert f"== {api}: exit 0 after" in proc.stdout and f"{api} at http://127.0.0.1:" in proc.stdout
    index = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert "goat.html" in index and "tribute-shop.html" in index
    last = proc.stdout.rstrip().splitlines()[-1]
    assert last.startswith("exit codes: ") and {"goat 0", "tribute-shop 0"} == set(last[12:].split(", "))


@pytest.mark.slow
@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_stops_every_run_as_interrupted(tmp_path: Path, sig: signal.Signals, code: int) -> None:
    # --pace 10/1 keeps each run going for half a minute or more: the signal lands in the middle of both
    argv = [CONFORMANCE, "run", "goat", "tribute-shop", "--pace", "10/1", "--report-dir", str(tmp_path)]
    process = subprocess.Popen(argv, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    first = process.stdout.readline()
    assert first.startswith("running 2 APIs, 2 at a time")
    time.sleep(12)
    process.send_signal(sig)
    rest, _ = process.communicate(timeout=GUARD_S)
    assert process.returncode == code, first + rest
    assert f"interrupted by {sig.name}" in rest
    for api in ("goat", "tribute-shop"):
        assert f"== {api}: exit {code} after" in rest
        result = json.loads((tmp_path / f"{api}.json").read_text(encoding="utf-8"))
        assert result["incomplete"]["signal"] == sig.name
        assert not (tmp_path / f"{api}.sarif").exists()  # an interrupted run stands for nothing in code scanning
    assert "exit codes:" not in rest  # not the closing line of a finished run
