"""The server under test, as the scenarios see it: profile, client, options and recipes.

A recipe (`x-conformance.requests.<operationId>`) says how to build a valid request against any
server; `Target.send` resolves its variables (calling other operations once, cached) and sends it.
"""

from __future__ import annotations

import copy
import ipaddress
import json
import threading
import uuid
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote, urlsplit

from conformance.client import UNSET, AuthLocation, Client, Exchange, RatePolicy
from conformance.profile import Operation, Profile, resolve_pointer

__all__ = [
    "Options",
    "RecipeError",
    "Target",
    "fill_variables",
    "is_loopback",
    "patched_body",
    "rate_policy",
    "read_pointer",
]


class RecipeError(Exception):
    """A request recipe could not be resolved against this server (the reason says why)."""


@dataclass(frozen=True)
class Options:
    """What the user asked for on the command line."""

    allow_writes: bool = False
    probe_rate_limit: bool = False
    seed: int | None = None
    max_examples: int = 10
    timeout: float = 10.0
    workers: int = 1
    known_limit: tuple[int, float] | None = None
    """The limit of an embedded sandbox the suite started itself (requests, window seconds)."""


def is_loopback(base_url: str) -> bool:
    """True when the URL's host is a loopback address (writes are allowed there by default)."""
    host = urlsplit(base_url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def rate_policy(profile: Profile, workers: int = 1) -> RatePolicy:
    """Returns how the client paces itself: the documented figure, split between workers."""
    section = profile.data["rate_limit"]
    headers = section.get("headers") or {}
    return RatePolicy(
        requests=int(section["requests"]),
        window_s=float(section["window_s"]),
        exceeded_status=int(section["exceeded_status"]),
        limit_header=headers.get("limit"),
        remaining_header=headers.get("remaining"),
        reset_header=headers.get("reset"),
        reset_unit=section.get("reset_unit", "unix-seconds"),
    )


def auth_locations(profile: Profile) -> list[AuthLocation]:
    return [
        AuthLocation(in_=loc["in"], name=loc["name"], prefix=loc.get("prefix", ""))
        for loc in profile.data["auth"]["locations"]
    ]


@dataclass
class Target:
    """One API under test at one base URL."""

    profile: Profile
    base_url: str
    api_key: str | None
    options: Options = field(default_factory=Options)
    client: Client = field(init=False)
    external_requests: int = field(default=0, init=False)
    """Requests sent by other clients on this target's behalf (Schemathesis, the rate-limit burst)."""
    _cache: dict[str, Any] = field(default_factory=dict, init=False)
    _lock: threading.RLock = field(default_factory=threading.RLock, init=False)

    def __post_init__(self) -> None:
        self.client = Client(
            self.base_url,
            api_key=self.api_key,
            auth=auth_locations(self.profile),
            timeout=self.options.timeout,
            rate=rate_policy(self.profile),
            share=max(self.options.workers, 1),
        )
        self.adapt_pacing()

    def adapt_pacing(self) -> None:
        """Paces to the limit the server advertises (or the embedded sandbox was given).

        apis.md: servers may advertise another limit; the documented one is for servers that send none.
        """
        policy = rate_policy(self.profile)
        if self.options.known_limit:
            requests, window_s = self.options.known_limit
            self.client.set_rate(replace(policy, requests=requests, window_s=window_s))
            return
        advertised = self.advertised_limit()
        if advertised:
            self.client.set_rate(replace(policy, requests=advertised))

    def pacing(self) -> tuple[int, float]:
        """The requests per window every client of this target keeps to (Schemathesis included)."""
        rate = self.client.rate
        if rate is None:
            section = self.profile.data["rate_limit"]
            return int(section["requests"]), float(section["window_s"])
        return rate.requests, rate.window_s

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(self.client.secrets)

    @property
    def requests_sent(self) -> int:
        return self.client.requests_sent + self.external_requests

    def advertised_limit(self) -> int | None:
        """Returns the limit the server advertises in its rate-limit headers (asked once), or None."""
        with self._lock:
            if "advertised_limit" not in self._cache:
                self._cache["advertised_limit"] = self._ask_limit()
            value: int | None = self._cache["advertised_limit"]
            return value

    def _ask_limit(self) -> int | None:
        names = self.profile.data["rate_limit"].get("headers") or {}
        if not names:
            return None
        public = set(self.profile.data["auth"]["public"])
        ops = sorted(self.profile.operations.values(), key=lambda op: op.operation_id in public)
        for op in ops:
            if op.method == "GET" and not op.path_params:
                exchange = self.answer(op.operation_id)
                value = exchange.header(names["limit"]) or ""
                return int(value) if value.strip().isdigit() and int(value) > 0 else None
        return None

    @property
    def writes_allowed(self) -> bool:
        return self.options.allow_writes or is_loopback(self.base_url)

    def close(self) -> None:
        self.client.close()

    # --- recipes ---------------------------------------------------------------------------

    def recipe(self, operation_id: str, *, without: tuple[str, ...] = ()) -> dict[str, Any]:
        """Returns the operation's recipe with its variables resolved (a deep copy).

        `without` names parts the caller replaces ("path_params.NAME", "body", "form"): they are left out, and
        a variable only they use is not resolved (a malformed-id check needs no existing transaction).
        """
        recipe = copy.deepcopy(self.profile.recipe(operation_id))
        variables = recipe.pop("variables", {}) or {}
        for part in without:
            section, _, key = part.partition(".")
            if key:
                (recipe.get(section) or {}).pop(key, None)
            else:
                recipe.pop(section, None)
        if without:
            text = json.dumps(recipe, default=str)
            variables = {name: spec for name, spec in variables.items() if "{" + name + "}" in text}
        values = self._values(variables)
        return {key: fill_variables(value, values) for key, value in recipe.items()}

    def substitute(self, operation_id: str, value: Any, variables: dict[str, Any] | None = None) -> Any:
        """Returns `value` (a patch for the operation's recipe) with "{name}" variables filled in.

        The variables are the recipe's plus `variables` (same form: an operation and a pointer); only those
        `value` uses are resolved (a malformed id in a patch needs no existing resource).
        """
        variables = {**(self.profile.recipe(operation_id).get("variables") or {}), **(variables or {})}
        text = json.dumps(value, default=str)
        used = {name: spec for name, spec in variables.items() if "{" + name + "}" in text}
        return fill_variables(copy.deepcopy(value), self._values(used))

    def _values(self, variables: dict[str, Any]) -> dict[str, Any]:
        values = {name: self.variable(name, spec) for name, spec in variables.items()}
        values["unique"] = uuid.uuid4().hex[:12]
        return values

    def variable(self, name: str, spec: dict[str, Any]) -> Any:
        """Returns a value read from another operation's answer (each operation called once).

        When it cannot be read there (an empty list on a new account, a write while writes are off), the
        variable's `fallback` (another operation and pointer: a create, a reference list) is tried next.
        """
        try:
            return self._read_variable(name, spec)
        except RecipeError as exc:
            if not spec.get("fallback"):
                raise
            try:
                return self.variable(name, spec["fallback"])
            except RecipeError as second:
                raise RecipeError(f"{exc}; then {second}") from None

    def answer(self, operation_id: str) -> Exchange:
        """The answer to the operation's plain recipe (`ask`); only a success is kept: a later caller asks again
        after a refusal (an account without orders yet may have one by then)."""
        return self.ask(self.build(operation_id), keep_refusals=False)

    def ask(self, request: dict[str, Any], *, keep_refusals: bool = True) -> Exchange:
        """Sends `request` (client.request's arguments); a read's answer is remembered and shared.

        Why (issue 13): several rules ask a read the same question: a bad-parameter check's control, a
        recipe variable, the advertised limit, the engine's pre-flight and the transport check all want
        the plain recipe's answer, and pagination.invalid-limit and errors.bad-parameter may send the very
        same bad page parameter. A polite run asks once. Only for questions whose answer does not change:
        never for walks that compare two answers. A write is sent every time; a server error, a timeout or
        throttled answer (408, 425, 429, the profile's), or a transport error is not remembered, so a passing
        hiccup is asked again. With several workers each asks once.
        """
        key = "ask:" + json.dumps(request, sort_keys=True, default=str)
        with self._lock:
            if key in self._cache:
                cached: Exchange = self._cache[key]
                return cached
        exchange = self.client.request(**request)
        passing = {408, 425, 429, self.profile.data["rate_limit"].get("exceeded_status")}
        status = exchange.status
        kept = status is not None and (200 <= status < 300 or keep_refusals and status < 500 and status not in passing)
        if request.get("method") == "GET" and kept:
            with self._lock:
                self._cache.setdefault(key, exchange)
        return exchange

    def _read_variable(self, name: str, spec: dict[str, Any]) -> Any:
        op_id = spec["operation"]
        with self._lock:
            if op_id not in self._cache:
                op = self.profile.operation(op_id)
                if op.method != "GET" and not self.writes_allowed:
                    raise RecipeError(f"{name!r} needs {op_id}, a write, and writes to this host are off")
                exchange = self.answer(op_id)
                if exchange.error or exchange.status is None or exchange.status >= 400:
                    raise RecipeError(
                        f"{name!r}: {op.label} answered {exchange.status or exchange.error}, not a success"
                    )
                try:
                    self._cache[op_id] = exchange.json()
                except ValueError:
                    raise RecipeError(f"{name!r}: {op.label} did not answer JSON") from None
            try:
                return read_pointer(self._cache[op_id], spec["pointer"])
            except KeyError as exc:
                raise RecipeError(f"{name!r}: {exc.args[0]} in the answer of {op_id}") from None

    def build(self, operation_id: str, **overrides: Any) -> dict[str, Any]:
        """Returns the keyword arguments of `client.request` for the operation's recipe.

        Overrides: `path_params`, `query` (merged; a value None drops the parameter), `headers`,
        `body`, `form` (replace the recipe's).
        """
        op = self.profile.operation(operation_id)
        replaced = tuple(f"path_params.{name}" for name in overrides.get("path_params", {})) + tuple(
            part for part in ("body", "form") if part in overrides
        )
        requests = self.profile.data.get("requests") or {}
        recipe = self.recipe(operation_id, without=replaced) if operation_id in requests else {}
        path_params = {**recipe.get("path_params", {}), **overrides.get("path_params", {})}
        query = {**recipe.get("query", {}), **overrides.get("query", {})}
        query = {k: v for k, v in query.items() if v is not None}
        missing = [name for name in op.path_params if name not in path_params]
        if missing:
            raise RecipeError(f"no value for path parameter {missing[0]!r} of {operation_id} (add a recipe)")
        path = op.path
        for name, value in path_params.items():
            path = path.replace("{" + name + "}", quote(str(value), safe=""))
        kwargs: dict[str, Any] = {"operation": operation_id, "params": query or None}
        headers = {**recipe.get("headers", {}), **overrides.get("headers", {})}
        if headers:
            kwargs["headers"] = {k: str(v) for k, v in headers.items()}
        body = overrides.get("body", recipe.get("body", UNSET))
        form = overrides.get("form", recipe.get("form"))
        if form is not None:
            kwargs["data"] = {k: json.dumps(v) if isinstance(v, dict | list) else v for k, v in form.items()}
        elif body is not UNSET:
            kwargs["json"] = body
        return {"method": op.method, "path": path, **kwargs}

    def send(
        self, operation_id: str, *, credentials: str = "default", retry_throttled: bool = True, **overrides: Any
    ) -> Exchange:
        """Sends the operation's recipe (with overrides) and returns the exchange."""
        kwargs = self.build(operation_id, **overrides)
        return self.client.request(credentials=credentials, retry_throttled=retry_throttled, **kwargs)

    def operation(self, operation_id: str) -> Operation:
        return self.profile.operation(operation_id)


def read_pointer(document: Any, pointer: str) -> Any:
    """Returns the value at a recipe variable's pointer: a JSON pointer where a `*` segment is the first
    member of an object or array (retailcrm's sites are keyed by their code: `/sites/*/code`).

    Raises KeyError naming the missing part; an index into an empty list says the list is empty (a new
    account has no orders yet), so that a skipped check says why.
    """
    parts = pointer.split("/")
    if "*" in parts:
        at = parts.index("*")
        head = "/".join(parts[:at])
        container = resolve_pointer(document, head)
        members = list(container.values()) if isinstance(container, dict) else container
        if not isinstance(members, list):
            raise KeyError(f"cannot take the first member of a {type(container).__name__} at {head or '/'!r}")
        if not members:
            raise KeyError(f"nothing at {head or '/'!r} (empty: an account without any yet?)")
        return read_pointer(members[0], "/".join(["", *parts[at + 1 :]]) if at + 1 < len(parts) else "")
    try:
        return resolve_pointer(document, pointer)
    except KeyError:
        for end in range(1, len(parts)):
            try:
                value = resolve_pointer(document, "/".join(parts[:end]))
            except KeyError:
                break
            if isinstance(value, list) and not value:
                prefix = "/".join(parts[:end]) or "/"
                raise KeyError(f"an empty list at {prefix!r} (an account without any yet?)") from None
        raise


def fill_variables(value: Any, values: dict[str, Any]) -> Any:
    """Returns `value` (JSON-like) with its "{name}" strings filled in from `values`.

    A string that is one whole "{name}" becomes the value itself (an id read as an integer stays one);
    a "{name}" inside a longer string is replaced by the value's text. Every recipe is filled this way.
    """
    if isinstance(value, str):
        if value.startswith("{") and value.endswith("}") and value[1:-1] in values:
            return values[value[1:-1]]
        for name, replacement in values.items():
            if "{" + name + "}" in value:
                value = value.replace("{" + name + "}", str(replacement))
        return value
    if isinstance(value, dict):
        return {k: fill_variables(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [fill_variables(v, values) for v in value]
    return value


def patched_body(
    target: Target, operation: str, patch: dict[str, Any], variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Returns the `body` (or `form`) override: the recipe's body with `patch` merged in.

    Strings of the form "{name}" in `patch` are the recipe's variables, or `variables` (an id read from
    another answer).
    """
    recipe = target.recipe(operation)
    patch = target.substitute(operation, patch, variables)
    if "form" in recipe:
        form = dict(recipe["form"])
        for key, value in patch.items():
            if isinstance(form.get(key), dict) and isinstance(value, dict):
                form[key] = {**form[key], **value}
            else:
                form[key] = value
        return {"form": form}
    body = recipe.get("body")
    if isinstance(body, dict):
        return {"body": _merge(body, patch)}
    return {"body": patch}


def _merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)  # JSON merge patch: null removes
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged
