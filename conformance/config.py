"""Settings of `conformance run` from a file, so a repository says once how its API is checked.

Read from `--config FILE`, else `conformance.toml` (top-level keys), else the `[tool.conformance]`
table of `pyproject.toml`, in the current directory. Options given on the command line override
the file. Relative paths in the file are relative to the file's folder. A secret is refused: a
config file is committed, the key belongs in `$CONFORMANCE_API_KEY`.
"""

from __future__ import annotations

import argparse
import difflib
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["SETTINGS", "Config", "ConfigError", "given_options", "load_config"]


class ConfigError(ValueError):
    """A config file the suite cannot use; the message names the file and the key."""


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise TypeError("a non-empty string")
    return value


def _whole(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("a whole number")
    return value


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError("a number")
    return float(value)


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError("true or false")
    return value


def _texts(value: Any) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise TypeError("a list of strings")
    return list(value)


def _rate(value: Any) -> str:
    """`N/SECONDS`, as `--pace` takes it."""
    from conformance.cli import UsageError, parse_rate

    text = _text(value)
    try:
        parse_rate(text, "pace")
    except UsageError:
        raise ValueError("must be N/SECONDS requests per window, e.g. 50/60 (N >= 1, SECONDS > 0)") from None
    return text


def _budget(value: Any) -> str:
    """`180` (seconds), `"180s"` or `"300req"`, as `--budget` takes it."""
    from conformance.plan import parse_budget

    text = str(_whole(value)) if isinstance(value, int) and not isinstance(value, bool) else _text(value)
    try:
        parse_budget(text)
    except ValueError:
        raise ValueError('must be seconds (180, "180s") or a number of requests ("300req")') from None
    return text


def _url(value: Any) -> str:
    """A base URL without `user:password@`: a secret never comes from a committed file."""
    from urllib.parse import urlsplit

    text = _text(value)
    if "@" in urlsplit(text).netloc:
        raise ValueError(
            "holds credentials (user:password@); a secret is never read from a config file: drop them "
            "from the URL and pass the key in the environment variable CONFORMANCE_API_KEY"
        )
    return text


def _thresholds(value: Any) -> list[str]:
    """`90`, or a table `{total = 90, errors = 95}`: the same values `--fail-under` takes."""
    from conformance.report.score import parse_threshold

    if isinstance(value, dict):
        items = [str(_whole(score)) if name == "total" else f"{name}={_whole(score)}" for name, score in value.items()]
    else:
        items = [str(_whole(value))]
    for item in items:
        parse_threshold(item)  # a ThresholdError (a ValueError) names what is wrong
    return items


@dataclass(frozen=True)
class Setting:
    """A key of the file, the `run` option it stands for, and how its value is read."""

    key: str
    dest: str
    option: str
    read: Callable[[Any], Any]
    path: bool = False  # relative to the file's folder


SETTINGS = (
    Setting("api", "api", "API", _texts),  # one API, or a list: several side by side (conformance/multirun.py)
    Setting("spec", "spec", "--spec", _text, path=True),
    Setting("base_url", "base_url", "--base-url", _url),
    Setting("report_dir", "report_dir", "--report-dir", _text, path=True),
    Setting("baseline", "baseline", "--baseline", _text, path=True),
    Setting("pace", "pace", "--pace", _rate),
    Setting("workers", "workers", "--workers", _whole),
    Setting("rules", "rule", "--rule", _texts),
    Setting("keyword", "keyword", "-k", _text),
    Setting("max_examples", "max_examples", "--max-examples", _whole),
    Setting("budget", "budget", "--budget", _budget),
    Setting("seed", "seed", "--seed", _whole),
    Setting("timeout", "timeout", "--timeout", _number),
    Setting("allow_writes", "allow_writes", "--allow-writes", _flag),
    Setting("probe_rate_limit", "probe_rate_limit", "--probe-rate-limit", _flag),
    Setting("fail_under", "fail_under", "--fail-under", _thresholds),
)
_BY_KEY = {setting.key: setting for setting in SETTINGS}
# Names a secret goes by: refused whatever the value, with the way to pass it instead. A key is one of
# them when a word of it (split at `_`, `-`, `.`) is one of these: `api_key`, `auth-token`, `password`;
# not `keyword`, `keys_dir` or `monkey_patch`, which get the did-you-mean of an unknown key.
_SECRET_WORDS = frozenset(
    {"key", "apikey", "token", "secret", "secrets", "password", "passwd", "pwd", "credential", "credentials"}
)


def _is_secret_name(key: str) -> bool:
    import re

    words = re.split(r"[_.\-\s]+", re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", key).lower())  # authToken too
    return any(word in _SECRET_WORDS for word in words)


@dataclass(frozen=True)
class Config:
    """The settings read from one file (values already checked and paths resolved)."""

    path: Path
    values: dict[str, Any]

    def apply(self, args: argparse.Namespace, given: set[str]) -> None:
        """Sets each setting on `args` unless its option was given on the command line."""
        if given & {"api", "spec"}:
            given = given | {"api", "spec"}  # an API or spec named on the command line replaces both
        for key, value in self.values.items():
            setting = _BY_KEY[key]
            if setting.dest not in given:
                setattr(args, setting.dest, value)


def load_config(path: Path | None = None, *, folder: Path | None = None) -> Config | None:
    """Returns the settings of `path`, else of `conformance.toml` or `pyproject.toml` in `folder`; None if none."""
    if path is not None:
        if not path.is_file():
            raise ConfigError(f"--config {path}: no such file")
        table = _read(path)
        return _config(path, (_tool_table(path, table) or {}) if path.name == "pyproject.toml" else table)
    folder = folder or Path()  # the current directory, named as the user knows it in messages
    own, pyproject = folder / "conformance.toml", folder / "pyproject.toml"
    tool = _tool_table(pyproject, _read(pyproject)) if pyproject.is_file() else None
    if own.is_file():
        if tool:
            raise ConfigError(
                f"both {own.name} and {pyproject.name} [tool.conformance] hold settings; keep them in one place"
            )
        return _config(own, _read(own))
    return _config(pyproject, tool) if tool is not None else None


def _tool_table(path: Path, table: dict[str, Any]) -> Any:
    """The `[tool.conformance]` table of a pyproject.toml, None when there is none."""
    tool = table.get("tool")
    if tool is None:
        return None
    if not isinstance(tool, dict):
        raise ConfigError(f"{path}: tool must be a table ([tool.conformance]), not {_kind(tool)}")
    return tool.get("conformance")


def _read(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc.strerror or exc}") from None


def _config(path: Path, table: Any) -> Config:
    where = f"{path}: [tool.conformance]" if path.name == "pyproject.toml" else str(path)
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table of settings")
    values: dict[str, Any] = {}
    for key, raw in table.items():
        if key not in _BY_KEY and _is_secret_name(key):
            raise ConfigError(
                f"{where}: {key}: a secret is never read from a config file (it would be committed); "
                "set the environment variable CONFORMANCE_API_KEY instead (in CI, from a secret)"
            )
        setting = _BY_KEY.get(key)
        if setting is None:
            close = difflib.get_close_matches(key, list(_BY_KEY), n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(_BY_KEY)}"
            raise ConfigError(f"{where}: unknown key {key!r}; {hint}")
        try:
            value = setting.read(raw)
        except TypeError as exc:  # the value is not echoed: it may be a secret put in the wrong place
            raise ConfigError(f"{where}: {key} must be {exc}, not {_kind(raw)}") from None
        except ValueError as exc:
            raise ConfigError(f"{where}: {key}: {exc}") from None
        if setting.path:
            value = str(path.parent / value) if not Path(value).is_absolute() else value
        values[key] = value
    return Config(path, values)


def _kind(value: Any) -> str:
    """What a TOML value is, without its content: `a string`, `a list`, `a table`."""
    if isinstance(value, list):
        odd = next((item for item in value if not isinstance(item, str) or not item), None)
        return f"a list holding {_kind(odd)}" if odd is not None else "a list"
    kinds = {bool: "true/false", str: "a string", int: "a whole number", float: "a number", dict: "a table"}
    return next((name for kind, name in kinds.items() if isinstance(value, kind)), "a date or time")


def given_options(parser: argparse.ArgumentParser, argv: list[str]) -> set[str]:
    """Returns the destinations of the options `argv` sets explicitly (a default is not a choice)."""
    for action in parser._actions:
        action.default = argparse.SUPPRESS
    return set(vars(parser.parse_known_args(argv)[0]))


def help_text() -> str:
    """The `run --help` paragraph that says which settings a config file can give."""
    keys = ", ".join(f"{s.key} ({s.option})" for s in SETTINGS)
    return (
        "Settings may come from --config FILE, else ./conformance.toml, else [tool.conformance] in ./pyproject.toml; "
        f"options on the command line override them. Keys: {keys}; api is one API or a list (several run side by "
        "side); fail_under is a number or a table {total = 90, errors = 95}. The API key never comes from a file: "
        "set $CONFORMANCE_API_KEY."
    )
