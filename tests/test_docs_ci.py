"""The CI recipes of docs/ci.md work as written.

The page once pinned `@v0.1.0`, a tag that never existed, and told users that writing a baseline
fails the job. Here every `conformance …` command of the page runs, in the page's order, in a
shell against a goat sandbox standing in for staging, and must succeed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conformance.sandbox.runner import running_sandbox

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "ci.md"


def commands(text: str) -> list[str]:
    """Every `conformance …` command in the page's code blocks, continuation lines joined, in order."""
    found = []
    for block in re.findall(r"```(?:sh|yaml)\n(.*?)```", text, re.S):
        lines = block.splitlines()
        index = 0
        while index < len(lines):
            command = lines[index].strip()
            index += 1
            if command in ("run: >-", "run: >"):  # a folded block: its lines, up to the next key
                folded = []
                while index < len(lines) and lines[index].strip() and not re.match(r"\s*-? ?[\w-]+:\s", lines[index]):
                    folded.append(lines[index].strip())
                    index += 1
                command = " ".join(folded)
            if command.startswith("- uses: OWNER/api-conformance@"):  # the action: the run its inputs make
                indent = len(lines[index - 1]) - len(lines[index - 1].lstrip()) + 2
                step = []
                while index < len(lines) and (not lines[index].strip() or lines[index].startswith(" " * indent)):
                    step.append(lines[index][indent:])
                    index += 1
                found.append(action_command(yaml.safe_load("\n".join(step))["with"]))
                continue
            command = re.sub(r"^(- |run: )", "", command)
            if not command.startswith("conformance "):
                continue
            while command.endswith("\\"):
                command = command[:-1] + " " + lines[index].strip()
                index += 1
            found.append(command)
    return found


def action_command(inputs: dict[str, str]) -> str:
    """The `conformance run` the action (action.yml) runs for these inputs; each is the option of its name.

    The key is an input the action puts in $CONFORMANCE_API_KEY, as the test's environment does; the score
    gate is left out: the faulty stand-in for staging falls under any threshold (tests/test_fail_under.py).
    """
    values = {name: re.sub(r"\$\{\{ (vars|secrets)\.(\w+) }}", r"$\2", str(value)) for name, value in inputs.items()}
    command = f"conformance run {values.pop('api')}"
    for name in ("api-key", "fail-under", "artifact-name"):
        values.pop(name, None)
    return command + "".join(f' --{name} "{value}"' for name, value in values.items())


def test_the_page_pins_no_tag_this_repository_lacks() -> None:
    text = DOC.read_text(encoding="utf-8")
    tags = set(subprocess.run(["git", "tag", "--list"], cwd=ROOT, capture_output=True, text=True).stdout.split())
    pinned = re.findall(r"git\+\S+?@(v?\d[\w.]*)", text)
    assert [tag for tag in pinned if tag not in tags] == []
    assert 'pip install "$CONFORMANCE_SUITE"' in text  # a commit pin the user sets, as for STAGING_URL


@pytest.mark.slow
def test_every_command_of_the_page_runs_as_written(tmp_path: Path) -> None:
    found = commands(DOC.read_text(encoding="utf-8"))
    assert len(found) >= 7, found  # update-baseline, two CI runs, three diffs, two reports
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["PYTEST_ADDOPTS"] = (
        "--conformance-rule errors.envelope"  # the page's commands, on one rule: seconds, not minutes
    )
    with running_sandbox("goat", faults=["errors.envelope"]) as staging:
        env.update(STAGING_URL=staging.base_url, CONFORMANCE_API_KEY=staging.api_key, API="goat")
        for command in found:
            command = command.replace("${{ matrix.api }}", "goat").replace("/tmp/", f"{tmp_path}/out/")
            if "conformance diff" in command:  # an earlier run to compare with, as CI would download it
                for earlier in ("previous", "last-week"):
                    shutil.copytree(tmp_path / "reports", tmp_path / earlier, dirs_exist_ok=True)
            done = subprocess.run(
                ["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
            )
            assert done.returncode == 0, f"{command}\n{done.stdout}{done.stderr}"
    assert (tmp_path / "conformance-baseline.yaml").is_file() and (tmp_path / "reports" / "goat.html").is_file()
    assert (tmp_path / "reports" / "diff.html").is_file() and (tmp_path / "out" / "goat.html").is_file()
