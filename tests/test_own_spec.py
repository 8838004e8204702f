"""Bring your own spec: any spec with an x-conformance profile is checked, its slug taken from the profile.

The six bundled APIs are only the specs found in one folder: an API named nowhere in the code (here
`my-shop`, goat's spec under another name, served by goat's sandbox) runs with `--spec` alone.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conformance.cli import main
from conformance.sandbox import SANDBOXES
from conformance.sandbox.runner import running_sandbox
from conformance.specfiles import API_SLUGS, load_spec, specs_dir


@pytest.fixture
def my_shop(tmp_path: Path) -> Path:
    """goat's spec renamed to an API the project has never heard of."""
    spec = json.loads(json.dumps(load_spec("goat")))
    spec["x-conformance"]["api"] = "my-shop"
    path = tmp_path / "my-shop.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


def test_the_bundled_apis_are_the_spec_files_of_one_folder() -> None:
    assert API_SLUGS == tuple(sorted(p.stem for p in specs_dir().glob("*.yaml")))
    for api in API_SLUGS:
        assert load_spec(api)["x-conformance"]["api"] == api, "a bundled spec's file name is its slug"
    assert set(SANDBOXES) <= set(API_SLUGS), "every sandbox serves a bundled spec"


def test_a_spec_of_our_own_runs_with_its_slug_from_the_profile(
    my_shop: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reports = tmp_path / "reports"
    with running_sandbox("goat") as sandbox:
        argv = ["run", "--spec", str(my_shop), "--base-url", sandbox.base_url, "--api-key", sandbox.keys["full"]]
        code = main([*argv, "--rule", "errors.not-found", "--report-dir", str(reports), "-q"])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    result = json.loads((reports / "my-shop.json").read_text(encoding="utf-8"))
    assert result["api"] == "my-shop"
    assert result["summary"]["passed"] > 0 and not result["findings"]
    assert (reports / "my-shop.html").is_file()


def test_a_fault_in_a_server_is_found_through_a_spec_of_our_own(
    my_shop: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with running_sandbox("goat", faults=["errors.not-found"]) as sandbox:
        argv = ["run", "--spec", str(my_shop), "--base-url", sandbox.base_url, "--api-key", sandbox.keys["full"]]
        code = main([*argv, "--rule", "errors.not-found", "-q"])
    out, err = capsys.readouterr()
    assert code == 1, out + err
    assert "errors.not-found" in out + err


def _usage_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("error: ") and "Traceback" not in err
    return err


def test_a_spec_without_a_sandbox_needs_a_base_url(my_shop: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _usage_error(["run", "--spec", str(my_shop)], capsys)
    assert "no sandbox serves 'my-shop'; pass --base-url" in err


def test_the_api_named_must_be_the_one_the_spec_describes(my_shop: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _usage_error(["run", "goat", "--spec", str(my_shop)], capsys)
    assert "describes 'my-shop', not 'goat'" in err


def test_neither_api_nor_spec_says_what_to_pass(capsys: pytest.CaptureFixture[str]) -> None:
    err = _usage_error(["run"], capsys)
    assert "name a bundled API" in err and "--spec FILE" in err


def test_an_unknown_api_points_at_spec(capsys: pytest.CaptureFixture[str]) -> None:
    err = _usage_error(["run", "json-shop", "--base-url", "http://127.0.0.1:9"], capsys)
    assert "unknown API 'json-shop'" in err and "--spec FILE" in err


def test_a_missing_spec_file_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _usage_error(["run", "--spec", str(tmp_path / "nope.yaml")], capsys)
    assert "nope.yaml" in err and "cannot read the file" in err


def test_the_pytest_route_takes_the_slug_from_the_spec(my_shop: Path, tmp_path: Path) -> None:
    with running_sandbox("goat") as sandbox:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "--pyargs",
                "conformance.suite",
                "-p",
                "no:cacheprovider",
                "--conformance-spec",
                str(my_shop),
                "--base-url",
                sandbox.base_url,
                "--conformance-api-key",
                sandbox.keys["full"],
                "--conformance-rule",
                "errors.not-found",
                "--conformance-report-dir",
                str(tmp_path),
                "-q",
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads((tmp_path / "my-shop.json").read_text(encoding="utf-8"))["api"] == "my-shop"


def _openapi_problems(tmp_path: Path, spec: dict[str, object]) -> list[str]:
    from conformance.speccheck import check_spec_file

    path = tmp_path / "own.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return [str(p) for p in check_spec_file(path) if "invalid OpenAPI" in str(p)]


def test_an_openapi_3_0_spec_is_judged_as_3_0(tmp_path: Path) -> None:
    string = {"type": "string", "nullable": True}
    spec: dict[str, object] = {
        "openapi": "3.0.3",
        "info": {"title": "own", "version": "1"},
        "paths": {"/x": {"get": {"responses": {"200": {"description": "ok", "content": {"application/json": {}}}}}}},
        "components": {"schemas": {"Name": string}},
    }
    assert _openapi_problems(tmp_path, spec) == []
    spec["components"] = {"schemas": {"Name": {"type": ["string", "null"]}}}  # 3.1's spelling, not 3.0's
    assert _openapi_problems(tmp_path, spec) != []


def test_an_openapi_3_0_schema_is_read_in_its_own_dialect() -> None:
    from conformance.profile import schema_validator

    spec = {
        "openapi": "3.0.3",
        "components": {
            "schemas": {
                "Name": {"type": "string", "nullable": True},
                "Price": {"type": "number", "minimum": 0, "exclusiveMinimum": True},
            }
        },
    }
    assert schema_validator(spec, "/components/schemas/Name").is_valid(None)
    assert not schema_validator(spec, "/components/schemas/Name").is_valid(3)
    assert not schema_validator(spec, "/components/schemas/Price").is_valid(0)
    assert schema_validator(spec, "/components/schemas/Price").is_valid(0.5)
    spec["openapi"] = "3.1.0"  # 3.1 is JSON Schema 2020-12 already: `nullable` means nothing there
    assert not schema_validator(spec, "/components/schemas/Name").is_valid(None)
