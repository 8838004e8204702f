"""The GitHub Action (`action.yml`), the Dockerfile and the pre-commit hook, as far as this machine
can exercise them without the network, GitHub or a Docker daemon: every action input is a real
option of `conformance run`, the action's run script really runs the suite (against goat's sandbox)
and tells the upload steps what it wrote, the image is slim, non-root and has the CLI as entrypoint
with everything `pip install .` needs, and the hook runs a real command on spec files only.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from conformance.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
ACTION = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
STEPS = ACTION["runs"]["steps"]
RUN_STEP = next(step for step in STEPS if step.get("id") == "run")
# inputs the action itself uses, not options of `conformance run`
ACTION_ONLY = {"python-version", "suite", "artifact-name", "upload-sarif", "args"}
SPEC = ROOT / "specs" / "goat.yaml"


def run_options() -> dict[str, argparse.Action]:
    parser = build_parser()
    run = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices["run"]
    options = {option: action for action in run._actions for option in action.option_strings}
    options.update({action.dest: action for action in run._actions if not action.option_strings})  # API
    return options


def test_every_input_is_an_option_of_conformance_run_passed_by_the_run_step() -> None:
    options = run_options()
    script = RUN_STEP["run"]
    for name in ACTION["inputs"]:
        if name in ACTION_ONLY:
            continue
        variable = "CONFORMANCE_API_KEY" if name == "api-key" else "INPUT_" + name.upper().replace("-", "_")
        assert RUN_STEP["env"][variable] == f"${{{{ inputs.{name} }}}}", name
        if name == "api-key":
            # the suite reads the variable itself; the script only drops it when empty (a sandbox run)
            assert "--api-key" in options
            mentions = [line.strip() for line in script.splitlines() if "CONFORMANCE_API_KEY" in line]
            assert mentions == ['if [ -z "$CONFORMANCE_API_KEY" ]; then unset CONFORMANCE_API_KEY; fi']
            continue
        if name == "api":
            assert "api" in options and 'args+=("$INPUT_API")' in script
            continue
        option = f"--{name}"
        assert option in options, f"input {name} has no option {option} in `conformance run`"
        assert re.search(
            rf'args\+=\({re.escape(option)} "\$(INPUT_{name.upper().replace("-", "_")}|threshold)"\)', script
        )
    assert "${{" not in script  # inputs reach the script by environment only: a value cannot become code


def test_the_key_travels_by_environment_and_is_never_echoed() -> None:
    script = RUN_STEP["run"]
    assert RUN_STEP["env"]["CONFORMANCE_API_KEY"] == "${{ inputs.api-key }}"
    assert "--api-key" not in script and "set -x" not in script and 'echo "$CONFORMANCE' not in script


def test_the_uploads_run_even_when_the_suite_failed() -> None:
    uses = {step["uses"].split("@")[0]: step for step in STEPS if "uses" in step}
    assert set(uses) == {"actions/setup-python", "actions/upload-artifact", "github/codeql-action/upload-sarif"}
    artifact, sarif = uses["actions/upload-artifact"], uses["github/codeql-action/upload-sarif"]
    assert artifact["if"].startswith("always()") and sarif["if"].startswith("always()")
    assert artifact["with"]["path"] == sarif["with"]["sarif_file"] == "${{ inputs.report-dir }}"
    assert "steps.run.outputs.sarif == 'true'" in sarif["if"]
    assert ACTION["runs"]["using"] == "composite"
    assert all(step.get("shell") == "bash" for step in STEPS if "run" in step)


def run_step(tmp_path: Path, key: str, **inputs: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Runs the run step's script as GitHub would (bash -eo pipefail), every input in its environment (unset
    ones empty, as GitHub passes them); returns the process and the lines it wrote to GITHUB_OUTPUT."""
    output = tmp_path / "github_output"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INPUT_", "CONFORMANCE_"))}
    env.update({name: "" for name in RUN_STEP["env"] if name.startswith("INPUT_")})
    env.update(inputs, PATH=f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}", GITHUB_OUTPUT=str(output))
    env["CONFORMANCE_API_KEY"] = key
    done = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", RUN_STEP["run"]],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done, output.read_text(encoding="utf-8").splitlines()


def test_the_run_script_runs_the_suite_and_says_what_it_wrote(tmp_path: Path) -> None:
    done, outputs = run_step(
        tmp_path,
        "",
        INPUT_API="goat",
        INPUT_REPORT_DIR="conformance-reports",
        INPUT_FAIL_UNDER="10 errors=10",
        INPUT_ARGS="-q --seed 7 --fault errors.envelope --rule errors.envelope",  # space-separated, no quotes
    )
    assert done.returncode == 1, done.stdout + done.stderr  # the findings fail the step
    assert outputs == ["artifact-name=conformance-goat", "exit-code=1", "sarif=true"]
    assert (tmp_path / "conformance-reports" / "goat.sarif").is_file()
    assert "FAIL  errors.envelope" in done.stdout


def test_an_unreachable_server_uploads_no_sarif_and_a_spec_names_the_artifact(tmp_path: Path) -> None:
    """A staging outage must not close every code-scanning alert: the run writes no SARIF (and removes
    a stale one), so the upload step's condition is false; with `spec:` the artifact is named after it."""
    (tmp_path / "api").mkdir()
    (tmp_path / "api" / "goat.yaml").write_text(SPEC.read_text(encoding="utf-8"), encoding="utf-8")
    stale = tmp_path / "conformance-reports" / "goat.sarif"
    stale.parent.mkdir()
    stale.write_text("{}", encoding="utf-8")
    done, outputs = run_step(
        tmp_path,
        "any-key",
        INPUT_SPEC="./api/goat.yaml",
        INPUT_BASE_URL="http://127.0.0.1:9/v1",
        INPUT_REPORT_DIR="conformance-reports",
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert outputs == ["artifact-name=conformance-api-goat", "exit-code=2"]
    assert not stale.exists() and (tmp_path / "conformance-reports" / "goat.json").is_file()
    uses = {step["uses"].split("@")[0]: step for step in STEPS if "uses" in step}
    assert uses["actions/upload-artifact"]["with"]["name"].startswith("${{ steps.run.outputs.artifact-name ||")
    assert RUN_STEP["env"]["INPUT_ARTIFACT_NAME"] == "${{ inputs.artifact-name }}"


def dockerfile() -> list[tuple[str, str]]:
    """The Dockerfile's instructions as (INSTRUCTION, arguments), continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", (ROOT / "Dockerfile").read_text(encoding="utf-8"))
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def test_the_image_is_slim_non_root_with_the_cli_as_entrypoint() -> None:
    instructions = dockerfile()
    assert re.fullmatch(r"python:3\.1[1-9]-slim", instructions[0][1])
    users = [args for name, args in instructions if name == "USER"]
    assert users and users[-1] not in ("root", "0")
    last_run = max(i for i, (name, _) in enumerate(instructions) if name == "RUN")
    assert instructions.index(("USER", users[-1])) > last_run  # nothing runs as root after the switch
    assert ("ENTRYPOINT", '["conformance"]') in instructions


def test_the_image_runs_as_any_uid_and_the_docs_say_to_pass_yours() -> None:
    """On Linux `-v "$PWD:/work"` is writable only by the host user: the docs pass `--user "$(id -u):$(id -g)"`,
    and the image must then work as a uid it does not know: HOME and caches in a folder every uid may write."""
    env: dict[str, str] = {}
    for name, args in dockerfile():
        if name == "ENV":
            env.update(dict(re.findall(r'(\w+)=("[^"]*"|\S+)', args)))
    assert env.get("HOME") == "/tmp"  # world-writable in python:*-slim (mode 1777)
    assert env.get("XDG_CACHE_HOME", "").startswith("/tmp/")
    user = '--user "$(id -u):$(id -g)"'
    texts = {
        "Dockerfile": (ROOT / "Dockerfile").read_text(encoding="utf-8"),
        "docs/ci.md": (ROOT / "docs" / "ci.md").read_text(encoding="utf-8"),
        "README.md": (ROOT / "README.md").read_text(encoding="utf-8"),
    }
    for where, text in texts.items():
        flat = " ".join(text.replace("\\\n", " ").replace("#", " ").split())  # continuation lines and comments joined
        runs = re.findall(r'docker run (.*?)-v "\$PWD:/work"', flat)
        assert runs and all(user in run for run in runs), where
    readme_ci = texts["README.md"].split("## CI", 1)[1].split("\n## ", 1)[0]
    assert user in readme_ci


def test_the_ci_docs_say_what_the_action_and_the_run_do() -> None:
    ci = (ROOT / "docs" / "ci.md").read_text(encoding="utf-8")
    readme_ci = (ROOT / "README.md").read_text(encoding="utf-8").split("## CI", 1)[1].split("\n## ", 1)[0]
    assert "actions: read" in readme_ci  # upload-sarif needs it in a private repository
    assert "ends its first line" not in ci  # the score sits in the middle of the summary line
    assert "no SARIF" in ci and "its own category" in ci
    assert ".wfc.sh" in " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    help_text = " ".join(run_options()["--report-dir"].help.split())
    assert ".wfc.sh" in help_text and ".sarif" in help_text
    shown = subprocess.run(
        [sys.executable, "-m", "pytest", "--help", "-p", "no:cacheprovider"], capture_output=True, text=True, timeout=60
    ).stdout
    option = " ".join(shown.split("--conformance-report-dir", 1)[1].split("--conformance-allow-writes", 1)[0].split())
    for suffix in (".json", ".junit.xml", ".html", ".sarif", ".wfc.json", ".wfc.sh", "index.html"):
        assert suffix in option, (suffix, option)


def test_the_image_copies_everything_pip_install_needs_and_dockerignore_keeps_it() -> None:
    copied = set()
    for name, args in dockerfile():
        if name == "COPY":
            copied.update(args.split()[:-1])
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    wheel = project["tool"]["hatch"]["build"]["targets"]["wheel"]
    needed = {"pyproject.toml", project["project"]["readme"], *wheel["packages"], *wheel["force-include"]}
    assert needed <= copied
    assert all((ROOT / path).exists() for path in copied)
    ignored = [line for line in (ROOT / ".dockerignore").read_text().splitlines() if line and not line.startswith("#")]
    assert not [path for path in needed if any(Path(path).match(pattern) for pattern in ignored)]
    assert ".venv" in ignored and ".git" in ignored


def test_the_pre_commit_hook_runs_conformance_specs_on_spec_files_only() -> None:
    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    assert hook["id"] == "conformance-specs" and hook["language"] == "python"
    program, *command = hook["entry"].split()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert program in project["project"]["scripts"]  # installed by the hook's `pip install .`
    assert build_parser().parse_args([*command, "specs/goat.yaml"]).paths == ["specs/goat.yaml"]
    files, exclude = re.compile(hook["files"]), re.compile(hook["exclude"])

    def matched(path: str) -> bool:  # as pre-commit filters: `files` searches, `exclude` does not
        return bool(files.search(path)) and not exclude.search(path)

    for path in ("specs/goat.yaml", "api/openapi.json", "openapi.yml", "docs/spec/v2.yaml", "spec/v1/orders.yaml"):
        assert matched(path), path
    for path in (
        ".github/workflows/ci.yml",
        "action.yml",
        ".pre-commit-hooks.yaml",
        "conformance-baseline.yaml",
        "spec/fixtures/users.yml",  # RSpec
        "spec/fixtures/files/payload.json",
        "spec/support/schemas/user.json",
        "openapitools.json",  # openapi-generator-cli's settings
        "openapi-generator-config.yaml",
        "api/openapi-generator-config.yml",
    ):
        assert not matched(path), path


@pytest.mark.parametrize("path", ["specs/goat.yaml"])
def test_the_hooks_command_passes_a_good_spec_and_fails_a_broken_one(path: str, tmp_path: Path) -> None:
    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    entry: list[Any] = [sys.executable, "-m", "conformance.cli", *hook["entry"].split()[1:]]
    assert subprocess.run([*entry, str(ROOT / path)], capture_output=True, timeout=60).returncode == 0
    broken = tmp_path / "specs" / "goat.yaml"
    broken.parent.mkdir()
    broken.write_text((ROOT / path).read_text(encoding="utf-8").replace("openapi: 3.1.0", "openapi: 9"), "utf-8")
    done = subprocess.run([*entry, str(broken)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and str(broken) in done.stdout


def test_the_hook_skips_a_yaml_or_json_file_that_is_no_openapi_document(tmp_path: Path) -> None:
    """A file the pattern catches that is not a spec (a fixture, a generator's config, unparsable ERB-YAML)
    is skipped with a note by the hook; named by hand, `conformance specs FILE` still reports it."""
    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    entry: list[Any] = [sys.executable, "-m", "conformance.cli", *hook["entry"].split()[1:]]
    others = {
        "spec/fixtures/users.yml": "alice:\n  name: Alice\n",
        "openapitools.json": '{"generator-cli": {"version": "7.4.0"}}',
        "spec/erb.yml": "<% 3.times do |i| %>\nuser_<%= i %>: {}\n<% end %>\n: [\n",
    }
    paths = []
    for name, text in others.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        paths.append(str(path))
    done = subprocess.run([*entry, *paths, str(SPEC)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    skipped = [line for line in done.stderr.splitlines() if "skipped: no top-level `openapi` key" in line]
    assert len(skipped) == 3 and done.stdout == ""
    assert "1 spec(s) checked: 0 problem(s); 1 clean" in done.stderr
    by_hand = subprocess.run(
        [sys.executable, "-m", "conformance.cli", "specs", paths[0]], capture_output=True, text=True, timeout=60
    )
    assert by_hand.returncode == 1 and "not an OpenAPI document" in by_hand.stdout
