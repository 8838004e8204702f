"""Settings of `conformance run` from `[tool.conformance]` in pyproject.toml or from conformance.toml:
the command line overrides them, a secret or an unknown key is refused with the file and the key.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from conformance.cli import _apply_config, build_parser, main
from conformance.config import SETTINGS, ConfigError, load_config

RUN_ARGS = {
    action.dest
    for action in next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    .choices["run"]
    ._actions
}


def parsed(argv: list[str]) -> argparse.Namespace:
    """`run ARGV` parsed, then completed from the config file of the current directory."""
    args = build_parser().parse_args(["run", *argv])
    _apply_config(args, argv)
    return args


def test_every_setting_is_a_run_option() -> None:
    assert {setting.dest for setting in SETTINGS} <= RUN_ARGS


def test_pyproject_settings_fill_what_the_command_line_leaves_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\n\n[tool.conformance]\napi = "goat"\nbase_url = "https://staging.example/v1"\n'
        'report_dir = "reports"\nworkers = 2\nrules = ["errors.envelope"]\nfail_under = {total = 90, errors = 95}\n'
        "timeout = 5\nallow_writes = true\n",
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    args = parsed([])
    assert args.api == ["goat"] and args.base_url == "https://staging.example/v1"
    assert args.report_dir == "reports"
    assert (args.workers, args.rule, args.timeout, args.allow_writes) == (2, ["errors.envelope"], 5.0, True)
    assert args.fail_under == ["90", "errors=95"]

    args = parsed(["storefront", "--workers", "1", "--rule", "auth.permissions", "--fail-under", "50"])
    assert (args.api, args.workers, args.rule, args.fail_under) == (["storefront"], 1, ["auth.permissions"], ["50"])
    assert args.base_url == "https://staging.example/v1"  # not given: still from the file


def test_an_api_on_the_command_line_replaces_the_files_spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "conformance.toml").write_text('spec = "openapi.yaml"\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert parsed([]).spec == "openapi.yaml"
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    assert parsed(["--config", "../conformance.toml"]).spec == "../openapi.yaml"  # relative to the file's folder
    args = parsed(["goat"])
    assert (args.api, args.spec) == (["goat"], None)


def test_a_key_in_a_config_file_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.conformance]\napi_key = "sk_live_123"\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert main(["run", "goat"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: pyproject.toml: [tool.conformance]: api_key: a secret is never read")
    assert "CONFORMANCE_API_KEY" in err and "sk_live_123" not in err and "Traceback" not in err


def test_an_unknown_key_is_named_with_a_close_match(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "conformance.toml").write_text('api = "goat"\nbase-url = "http://x"\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert main(["run"]) == 2
    assert capsys.readouterr().err == ("error: conformance.toml: unknown key 'base-url'; did you mean 'base_url'?\n")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('workers = "two"\n', "conformance.toml: workers must be a whole number, not a string"),
        ("fail_under = {errs = 90}\n", "conformance.toml: fail_under: 'errs=90': unknown category 'errs'; did you"),
        ("rules = [1]\n", "conformance.toml: rules must be a list of strings, not a list holding a whole number"),
        ("api = \n", "conformance.toml: not valid TOML: "),
        ('pace = "abc"\n', "conformance.toml: pace: must be N/SECONDS requests per window, e.g. 50/60"),
        ('pace = "0/60"\n', "conformance.toml: pace: must be N/SECONDS requests per window, e.g. 50/60"),
    ],
)
def test_a_wrong_value_says_file_key_and_what_is_expected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, message: str
) -> None:
    (tmp_path / "conformance.toml").write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as caught:
        load_config()
    assert str(caught.value).startswith(message)


def test_settings_in_both_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / "conformance.toml").write_text('api = "goat"\n', encoding="utf-8")
    (tmp_path / "pyproject.toml").write_text('[tool.conformance]\napi = "goat"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="keep them in one place"):
        load_config(folder=tmp_path)
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n', encoding="utf-8")
    config = load_config(folder=tmp_path)
    assert config is not None and config.values == {"api": ["goat"]}


def test_no_file_means_no_settings(tmp_path: Path) -> None:
    assert load_config(folder=tmp_path) is None
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "missing.toml")


def test_run_help_says_which_settings_a_file_can_give(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "[tool.conformance] in ./pyproject.toml" in out and "conformance.toml" in out
    squeezed = out.replace(" ", "")  # argparse wraps lines at hyphens too
    for setting in SETTINGS:
        assert f"{setting.key}({setting.option})" in squeezed
    assert "--fail-under" in out and "$CONFORMANCE_API_KEY" in out


def test_a_run_takes_its_report_dir_and_rules_from_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "conformance.toml").write_text(
        'api = "goat"\nreport_dir = "out"\nrules = ["errors.unknown-route"]\nkeyword = "not test_schema"\n',
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    assert main(["run", "-q", "--fault", "errors.unknown-route"]) == 1
    result = json.loads((tmp_path / "out" / "goat.json").read_text(encoding="utf-8"))
    assert {item["rule"] for item in result["findings"]} == {"errors.unknown-route"}
    assert {check["category"] for check in result["checks"]} == {"errors"}  # only the tests of that rule ran
    assert (tmp_path / "out" / "goat.sarif").is_file()


@pytest.mark.parametrize(
    ("text", "echoed"),
    [
        ('rules = ["sk_live_4f9a8b7c6d"]\n', None),  # a list of strings: fine, and nothing to refuse
        ('workers = "sk_live_4f9a8b7c6d"\n', "sk_live_4f9a8b7c6d"),
        ('seed = ["sk_live_4f9a8b7c6d"]\n', "sk_live_4f9a8b7c6d"),
        ('allow_writes = "hunter2pw"\n', "hunter2pw"),
    ],
)
def test_a_wrong_value_is_never_echoed(tmp_path: Path, text: str, echoed: str | None) -> None:
    """A value in the wrong key may be a secret pasted there: the message says its kind, not its content."""
    (tmp_path / "conformance.toml").write_text(text, encoding="utf-8")
    if echoed is None:
        assert load_config(folder=tmp_path) is not None
        return
    with pytest.raises(ConfigError) as caught:
        load_config(folder=tmp_path)
    assert echoed not in str(caught.value) and " not a " in str(caught.value)


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("keywords", "unknown key 'keywords'; did you mean 'keyword'?"),
        ("monkey_patch", "unknown key 'monkey_patch'; known keys: "),
        ("keyword_x", "unknown key 'keyword_x'; did you mean 'keyword'?"),
        ("api_key", "api_key: a secret is never read from a config file"),
        ("token", "token: a secret is never read from a config file"),
        ("auth-token", "auth-token: a secret is never read from a config file"),
        ("apiKey", "apiKey: a secret is never read from a config file"),
        ("password", "password: a secret is never read from a config file"),
        ("client_secret", "client_secret: a secret is never read from a config file"),
        ("key", "key: a secret is never read from a config file"),
    ],
)
def test_only_a_secret_name_is_refused_as_one_and_a_typo_gets_its_did_you_mean(
    tmp_path: Path, key: str, message: str
) -> None:
    (tmp_path / "conformance.toml").write_text(f'{key} = "x"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(folder=tmp_path)
    assert str(caught.value).startswith(f"{tmp_path / 'conformance.toml'}: {message}")


@pytest.mark.parametrize("tool", ["3", '"x"', "[1, 2]"])
def test_a_tool_that_is_not_a_table_is_one_error_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tool: str
) -> None:
    (tmp_path / "pyproject.toml").write_text(f'tool = {tool}\n\n[project]\nname = "x"\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert main(["run", "goat"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: pyproject.toml: tool must be a table ([tool.conformance]), not ")
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert main(["run", "goat", "--config", "pyproject.toml"]) == 2
    assert capsys.readouterr().err.startswith("error: pyproject.toml: tool must be a table")


def test_a_bad_pace_in_the_file_names_the_file_and_key_not_the_option(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "conformance.toml").write_text('api = "goat"\npace = "abc"\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert main(["run"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: conformance.toml: pace: must be N/SECONDS") and "--pace" not in err
    (tmp_path / "conformance.toml").write_text('api = "goat"\npace = "50/60"\n', encoding="utf-8")
    config = load_config()
    assert config is not None and config.values["pace"] == "50/60"


@pytest.mark.parametrize("url", ["https://bob:hunter2pw@staging.example/v1", "https://hunter2pw@staging.example/v1"])
def test_a_base_url_with_credentials_in_a_file_is_refused_without_echoing_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], url: str
) -> None:
    (tmp_path / "conformance.toml").write_text(f'api = "goat"\nbase_url = "{url}"\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert main(["run"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: conformance.toml: base_url: holds credentials (user:password@); a secret is never")
    assert "CONFORMANCE_API_KEY" in err and "hunter2pw" not in err and len(err.splitlines()) == 1
    (tmp_path / "conformance.toml").write_text('base_url = "https://staging.example/v1"\n', encoding="utf-8")
    config = load_config()
    assert config is not None and config.values["base_url"] == "https://staging.example/v1"


def test_a_budget_can_come_from_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A new user's CI wanted its `--budget` beside its other settings: `unknown key 'budget'`."""
    monkeypatch.chdir(tmp_path)
    for value, parsed_as in (("180", "180"), ('"300req"', "300req")):
        (tmp_path / "conformance.toml").write_text(f'api = "goat"\nbudget = {value}\n', encoding="utf-8")
        assert parsed([]).budget == parsed_as
    assert parsed(["--budget", "60"]).budget == "60"  # the command line wins
    (tmp_path / "conformance.toml").write_text('api = "goat"\nbudget = "soon"\n', encoding="utf-8")
    assert main(["run"]) == 2
    assert capsys.readouterr().err.startswith("error: conformance.toml: budget: must be seconds")
