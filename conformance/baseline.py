"""Baselines: accepted deviations, so a pipeline gates on new failures only.

A baseline is a YAML file (`conformance-baseline.yaml` by convention):

    # Accepted deviations of our staging servers. Each needs a reason; expiries are optional.
    accepted:
      - rule: auth.invalid-credentials      # a rule id (conformance/rules.py)
        operation: listOrders               # an operationId, or "*" for API-wide rules
        reason: Staging accepts any key until SEC-42 lands
        expires: 2027-01-31                 # optional: from this day on the entry no longer matches
        api: goat                           # optional: only for this API (default: any API)

A finding matches an entry with the same rule and operation (and API, when the entry names one)
unless the entry has expired; it is then reported as accepted with the entry's reason, and no
longer fails the run. An expired entry matches nothing, so its findings fail again. Entries that
matched nothing are reported as unused: the deviation may be fixed.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from conformance.report.model import Result
from conformance.rules import RULES

__all__ = ["BaselineError", "Entry", "apply_baseline", "load_baseline", "write_baseline"]

FIELDS = ("rule", "operation", "reason", "expires", "api")
REQUIRED = ("rule", "operation", "reason")
TODO_REASON = "TODO: say why this deviation is accepted"


class BaselineError(ValueError):
    """The baseline file is unreadable or malformed; the message is `file:line: what; how to fix`."""


@dataclass(frozen=True)
class Entry:
    """One accepted deviation: a rule on an operation, why, and until when."""

    rule: str
    operation: str
    reason: str
    expires: date | None = None
    api: str | None = None
    location: str = field(default="", compare=False)  # "file:line", for messages

    def expired(self, today: date) -> bool:
        """True from the expiry day on: an entry that `expires: 2027-01-31` no longer matches that day."""
        return self.expires is not None and today >= self.expires

    def covers(self, api: str, rule: str, operation: str) -> bool:
        """True when this entry names this finding (expiry aside)."""
        return self.rule == rule and self.operation == operation and self.api in (None, api)

    def checked_by(self, result: Mapping[str, Any]) -> bool:
        """True when `result` checked this entry's rule where it applies (not skipped, not left out by --rule).

        Only then can an entry that matched nothing be called unused: a run of other rules says
        nothing about this deviation.
        """
        return any(
            check.get("rule") == self.rule
            and check.get("operation") in (self.operation, "*")
            and check.get("outcome") in ("passed", "failed")
            for check in result.get("checks") or []
        )

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"rule": self.rule, "operation": self.operation, "reason": self.reason}
        if self.expires:
            data["expires"] = self.expires
        if self.api:
            data["api"] = self.api
        return data

    def describe(self) -> dict[str, Any]:
        """The entry as the result's `baseline` section lists it (JSON-friendly)."""
        data = self.to_dict()
        if self.expires:
            data["expires"] = self.expires.isoformat()
        data["location"] = self.location
        return data


# --- reading --------------------------------------------------------------------------------


class _Mapping(dict[str, Any]):
    """A YAML mapping that remembers the line of itself and of each key."""

    line = 0
    key_lines: dict[str, int]


class _Sequence(list[Any]):
    """A YAML list that remembers the line of each item."""

    item_lines: list[int]


class _Loader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> _Mapping:
    mapping = _Mapping({str(key): value for key, value in loader.construct_mapping(node, deep=True).items()})
    mapping.line = node.start_mark.line + 1
    mapping.key_lines = {str(key.value): key.start_mark.line + 1 for key, _ in node.value}
    return mapping


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> _Sequence:
    sequence = _Sequence(loader.construct_sequence(node, deep=True))
    sequence.item_lines = [item.start_mark.line + 1 for item in node.value]
    return sequence


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def load_baseline(path: Path) -> list[Entry]:
    """Returns the entries of a baseline file.

    Raises BaselineError (`file:line: what; how to fix`) for a missing or unreadable file, bad
    YAML, an unknown key or rule id (naming the closest one), a missing reason, a bad date, or
    two entries for the same finding.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BaselineError(f"{path}: no such file; create it with --update-baseline") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BaselineError(f"{path}: cannot be read ({exc})") from None
    try:
        data = yaml.load(text, Loader=_Loader)  # a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise BaselineError(
            f"{where}: not valid YAML ({exc.problem or exc.context}); check the indentation and quoting there"
        ) from None
    except yaml.YAMLError as exc:
        raise BaselineError(f"{path}: not valid YAML ({exc})") from None
    if data is None:
        return []
    if not isinstance(data, _Mapping) or "accepted" not in data:
        raise BaselineError(
            f"{path}:1: expected a mapping with an 'accepted' list of entries "
            "(rule, operation, reason, optional expires and api)"
        )
    unknown = [key for key in data if key != "accepted"]
    if unknown:
        raise BaselineError(
            f"{path}:{data.key_lines[str(unknown[0])]}: unknown key {unknown[0]!r}; "
            "a baseline has only an 'accepted' list"
        )
    items = data["accepted"]
    if items is None:
        return []
    if not isinstance(items, _Sequence):
        raise BaselineError(
            f"{path}:{data.key_lines['accepted']}: 'accepted' must be a list of entries "
            "(each line starting with '- rule: ...')"
        )
    entries: list[Entry] = []
    seen: dict[tuple[str | None, str, str], Entry] = {}
    for index, item in enumerate(items):
        entry = _entry(item, path, line=items.item_lines[index])
        key = (entry.api, entry.rule, entry.operation)
        if key in seen:
            raise BaselineError(
                f"{entry.location}: a second entry for {entry.rule} on {entry.operation} "
                f"(the first is at {seen[key].location}); keep one"
            )
        seen[key] = entry
        entries.append(entry)
    return entries


def _entry(item: Any, path: Path, *, line: int) -> Entry:
    if not isinstance(item, _Mapping):
        raise BaselineError(
            f"{path}:{line}: each entry must be a mapping like "
            "'- rule: errors.envelope' with operation and reason below it"
        )
    location = f"{path}:{item.line}"

    def at(key: str) -> str:
        return f"{path}:{item.key_lines.get(key, item.line)}"

    for key in item:
        if key not in FIELDS:
            close = difflib.get_close_matches(str(key), FIELDS, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"the keys are {', '.join(FIELDS)}"
            raise BaselineError(f"{at(str(key))}: unknown key {key!r}; {hint}")
    for key in REQUIRED:
        value = item.get(key)
        if not isinstance(value, str) or not value.strip():
            what = "is missing" if key not in item else f"must be a non-empty string, not {value!r}"
            fix = {
                "rule": "give a rule id such as errors.envelope",
                "operation": "give an operationId, or '*' for an API-wide rule",
                "reason": "say why this deviation is accepted (a ticket, an owner)",
            }[key]
            raise BaselineError(f"{at(key) if key in item else location}: {key!r} {what}; {fix}")
    rule = item["rule"].strip()
    if rule not in RULES:
        close = difflib.get_close_matches(rule, RULES, n=1)
        hint = f"did you mean {close[0]!r}?" if close else "see conformance/rules.py for the rule ids"
        raise BaselineError(f"{at('rule')}: unknown rule id {rule!r}; {hint}")
    api = item.get("api")
    if api is not None and (not isinstance(api, str) or not api.strip()):
        raise BaselineError(f"{at('api')}: 'api' must be an API name such as goat, not {api!r}")
    return Entry(
        rule=rule,
        operation=item["operation"].strip(),
        reason=item["reason"].strip(),
        expires=_expiry(item.get("expires"), at("expires")),
        api=api.strip() if api else None,
        location=location,
    )


def _expiry(value: Any, where: str) -> date | None:
    if value is None:
        return None
    if isinstance(value, date):  # YAML reads an unquoted 2027-01-31 as a date
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise BaselineError(f"{where}: 'expires' must be a date written YYYY-MM-DD, not {value!r}")


# --- applying -------------------------------------------------------------------------------


def apply_baseline(result: Mapping[str, Any], entries: Iterable[Entry], today: date) -> dict[str, Any]:
    """Returns a copy of `result` with the baselined findings accepted and the summary recomputed.

    A finding covered by an unexpired entry gets `accepted: true` and the entry's reason as
    `baseline_reason`; every other finding is a failure (acceptances from an earlier baseline
    are cleared first). `summary` is recounted: `failed` counts only unaccepted failures, and
    `accepted` the rest. The copy's `baseline` section lists the entries that matched nothing
    (`unused`; only entries whose rule the run checked), those that expired (`expired`; their
    findings stay failures, marked `baseline_expired: DATE`), and those the run did not check
    (`unchecked`, e.g. left out by `--rule`).
    """
    data = copy.deepcopy(dict(result))
    api = str(data.get("api", ""))
    entries = list(entries)
    active = [entry for entry in entries if not entry.expired(today)]
    used: set[Entry] = set()
    expired_hits: set[Entry] = set()
    for item in data.get("findings") or []:
        item["accepted"], item["baseline_reason"] = False, None
        item.pop("baseline_expired", None)
        rule, operation = item.get("rule"), item.get("operation")
        match = next((entry for entry in active if entry.covers(api, rule, operation)), None)
        if match:
            item["accepted"], item["baseline_reason"] = True, match.reason
            used.add(match)
        for entry in entries:
            if entry.expired(today) and entry.covers(api, rule, operation):
                expired_hits.add(entry)
                if not match and entry.expires:
                    item["baseline_expired"] = entry.expires.isoformat()  # "accepted until DATE, expired"
    mine = [entry for entry in entries if entry.api in (None, api)]
    data["baseline"] = {
        "entries": len(mine),
        "matched": len(used),
        "expired": [entry.describe() for entry in mine if entry.expired(today)],
        "unused": [
            entry.describe()
            for entry in mine
            if entry not in used and entry not in expired_hits and not entry.expired(today) and entry.checked_by(data)
        ],
        "unchecked": [entry.describe() for entry in mine if entry not in used and not entry.checked_by(data)],
    }
    data["summary"] = Result.from_dict(data).summary()
    return data


# --- writing --------------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    """Indents list items under their key, as people write YAML by hand."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


HEADER = """\
# Accepted deviations: findings listed here are reported as accepted, not failures.
# Each entry: rule, operation ("*" = API-wide), reason; optional expires (YYYY-MM-DD) and api.
# Written by `conformance run --update-baseline`; give every entry a real reason.
"""


def write_baseline(path: Path, result: Mapping[str, Any]) -> list[Entry]:
    """Rewrites the baseline so it accepts exactly the current findings of `result`; returns the entries.

    Every finding of this API (accepted or failed) gets an entry, keeping the reason and expiry of
    an existing entry for it (even an expired one: updating never extends an expiry). New entries
    get `api: <this api>` and a TODO reason. Entries of this API that match nothing are dropped
    (the deviation is fixed); entries of other APIs, API-less entries that match nothing here, and
    entries whose rule this run did not check (`--rule`, a skipped check) are kept as they are.
    Comments are not preserved.
    """
    path = Path(path)
    existing = load_baseline(path) if path.exists() else []
    api = str(result.get("api", ""))
    keys = list(
        dict.fromkeys((str(item.get("rule")), str(item.get("operation"))) for item in result.get("findings") or [])
    )
    current: list[Entry] = []
    kept_existing: set[Entry] = set()
    for rule, operation in keys:
        old = next((entry for entry in existing if entry.covers(api, rule, operation)), None)
        if old:
            kept_existing.add(old)
            current.append(old)
        else:
            current.append(Entry(rule=rule, operation=operation, reason=TODO_REASON, api=api or None))
    # Kept as they are: other APIs' entries, and this API's whose rule this run did not check (`--rule`).
    others = [
        entry for entry in existing if entry not in kept_existing and (entry.api != api or not entry.checked_by(result))
    ]
    entries = others + current
    # Other APIs' entries first, as they were; then this API's, in the order of its findings.
    body = yaml.dump(
        {"accepted": [entry.to_dict() for entry in entries]},
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=100,
    )
    tmp = path.with_name(f".{path.name}.tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp.write_text(HEADER + body, encoding="utf-8")
    tmp.replace(path)
    return entries
