"""The pre-flight probe: a handful of requests that tell a setup mistake from a nonconforming server.

A wrong key, a base URL without its path, or another API's server made every check fail, and the
run reported dozens of findings about a server that was never really asked. Before the suite runs,
up to five GET requests find out: no HTTP answer at all (the transport finding, and a report), no
documented route answering (404 on each), or the key refused on every protected operation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from conformance.profile import Operation, Profile, load_profile
from conformance.specfiles import API_SLUGS

__all__ = ["Problem", "preflight"]

HINTS = {
    "timeout": "the server accepts connections but does not answer in time; check it, or raise --timeout",
    "tls": "serve a certificate this machine trusts",
}
ROUTE_PROBES = 2
KEY_PROBES = 2


@dataclass(frozen=True)
class Problem:
    """Why the target cannot be checked, in one line; `finding` is the transport finding, if that is why."""

    message: str
    finding: Any = None


def preflight(
    profile: Profile, base_url: str, key: str | None, timeout: float, *, key_option: str = "--api-key"
) -> Problem | None:
    """Returns the setup problem of this target, or None when the suite can run against it.

    `key_option` is how the user's route spells the key option (the pytest route: --conformance-api-key).
    """
    from conformance.checks.transport import judge_transport
    from conformance.client import Client
    from conformance.target import auth_locations

    gets = [
        op
        for op in profile.operations.values()
        if op.method == "GET" and not op.path_params and not any(p.get("required") for p in op.parameters)
    ]
    if not gets:
        return None
    routes = _distinctive(profile, gets)[:ROUTE_PROBES]
    # protected GETs; with a made-up id when none lacks one (a good key gets 404 there, a refused one 401)
    protected = [op for op in gets if not op.is_public] or [
        op
        for op in profile.operations.values()
        if op.method == "GET"
        and not op.is_public
        and not any(p.get("required") and p.get("in") != "path" for p in op.parameters)
    ]
    protected = protected[:KEY_PROBES]
    answers: dict[str, Any] = {}
    with Client(base_url, api_key=key, auth=auth_locations(profile), timeout=timeout) as client:

        def ask(op: Operation) -> Any:
            if op.operation_id not in answers:
                path = op.path
                for name in op.path_params:
                    path = path.replace(f"{{{name}}}", "conformance-preflight")
                answers[op.operation_id] = client.request(op.method, path, operation=op.operation_id)
            return answers[op.operation_id]

        first = ask(routes[0])
        if first.status is None:
            hint = HINTS.get(first.error_kind or "", "check --base-url and that the server runs")
            found = judge_transport(first, routes[0].operation_id, client.secrets)[0]
            return Problem(f"target unusable: {found.message}; {hint}", found)
        if all(ask(op).status == 404 for op in routes):
            return Problem(_no_route(profile, base_url, routes, client))
        refused = profile.data["auth"].get("invalid_status") or [401]
        if key and protected and all(ask(op).status in refused for op in protected):
            shown = ", ".join(f"{ask(op).status} on {op.label}" for op in protected)
            return Problem(
                f"the key was refused ({shown}): no check could get past authentication; "
                f"check {key_option} or CONFORMANCE_API_KEY (is it this server's key?)"
            )
    return None


def _distinctive(profile: Profile, gets: list[Operation]) -> list[Operation]:
    """The GETs no other API documents at the same path (another API's server answers none), else all."""
    others: set[str] = set()
    for api in API_SLUGS:
        if api != profile.api:
            others |= {op.path for op in load_profile(api).operations.values() if op.method == "GET"}
    return [op for op in gets if op.path not in others] or gets


def _no_route(profile: Profile, base_url: str, routes: list[Operation], client: Any) -> str:
    """Says that no documented route answered, and where the API's routes may be instead."""
    tried = ", ".join(op.label for op in routes)
    said = f"no documented {profile.api} route answers at {base_url} (404 on {tried})"
    documented = urlsplit(str((profile.spec.get("servers") or [{}])[0].get("url", ""))).path.rstrip("/")
    if documented and not urlsplit(base_url).path.rstrip("/").endswith(documented):
        suggestion = base_url.rstrip("/") + documented
        retry = client.request(routes[0].method, suggestion + routes[0].path, operation=routes[0].operation_id)
        if retry.status is not None and retry.status != 404:
            return f"{said}; it answers at {suggestion}: pass --base-url {suggestion}"
        return f"{said}, nor at {suggestion}; is this the {profile.api} server? check --base-url"
    example = f"https://host{documented}" if documented else "https://host"
    return f"{said}; is this the {profile.api} server? check --base-url (its documented form: {example})"
