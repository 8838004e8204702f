"""Profile keys for what real APIs do, each proven both ways against a tiny server written here.

A public API (no security anywhere, no `auth` section), Link-header (RFC 8288) and header-cursor
pagination, a default page size that applies only when a page is asked for (json-server's `_page`),
RFC 9457 problem details by preset, no 405 cases: a conforming server must leave the suite silent,
and a server breaking each feature must be found under that feature's rule.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import uvicorn
import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from conformance.cli import main
from conformance.profile import Profile, ProfileError, profile_schema
from conformance.speccheck import check_spec_file

ITEMS = [{"id": n, "name": f"item {n}"} for n in range(1, 26)]
RULES = (
    "pagination.last-page",
    "pagination.no-duplicates",
    "pagination.default-limit",
    "errors.not-found",
    "auth.public-operations",
)


def make_app(broken: bool) -> Starlette:
    """25 items behind three pagination styles; `broken` breaks each feature once."""

    def size(request: Request, default: int) -> int:
        return min(int(request.query_params.get("limit", default)), 50)

    async def link_items(request: Request) -> Response:
        after, limit = int(request.query_params.get("after", 0)), size(request, 10)
        page = [item for item in ITEMS if item["id"] > after][:limit]
        headers = {}
        if page and (page[-1]["id"] < len(ITEMS) or broken):  # broken: the last page links to an empty one
            headers["Link"] = f'</link-items?limit={limit}&after={page[-1]["id"]}>; rel="next"'
        return JSONResponse(page, headers=headers)

    async def header_items(request: Request) -> Response:
        after, limit = int(request.query_params.get("cursor", 0)), size(request, 10)
        page = [item for item in ITEMS if item["id"] > after][:limit]
        headers = {}
        if page and page[-1]["id"] < len(ITEMS):
            headers["X-Next-Cursor"] = str(page[-1]["id"] - (1 if broken else 0))  # broken: pages overlap
        return JSONResponse({"data": page}, headers=headers)

    async def json_server_items(request: Request) -> Response:
        if "_page" not in request.query_params:
            return JSONResponse(ITEMS)  # json-server: everything, unless a page is asked for
        limit = int(request.query_params.get("_limit", 11 if broken else 10))
        start = (int(request.query_params["_page"]) - 1) * limit
        return JSONResponse(ITEMS[start : start + limit], headers={"X-Total-Count": str(len(ITEMS))})

    async def problem(request: Request) -> Response:
        if broken:
            return Response("<h1>Not Found</h1>", 404, media_type="text/html")
        body = {"type": "about:blank", "title": "Not Found", "status": 404}
        return JSONResponse(body, 404, media_type="application/problem+json")

    async def status(request: Request) -> Response:
        return JSONResponse({"error": "key needed"}, 401) if broken else JSONResponse({"ok": True})

    return Starlette(
        routes=[
            Route("/link-items", link_items),
            Route("/header-items", header_items),
            Route("/json-server-items", json_server_items),
            Route("/problems/{id}", problem),
            Route("/status", status),
        ]
    )


def _list(op: str, path: str, params: list[str], *, array: bool = True) -> dict[str, Any]:
    item = {"type": "object", "required": ["id"], "properties": {"id": {"type": "integer"}}}
    schema: dict[str, Any] = {"type": "array", "items": item}
    if not array:
        schema = {"type": "object", "properties": {"data": schema}}
    return {
        path: {
            "get": {
                "operationId": op,
                "parameters": [{"name": p, "in": "query", "schema": {"type": "string"}} for p in params],
                "responses": {"200": {"description": "A page.", "content": {"application/json": {"schema": schema}}}},
            }
        }
    }


SOURCE = {"tier": "documented", "source": "the test's own server"}
SPEC: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "features", "version": "1"},
    "paths": {
        **_list("listLinked", "/link-items", ["limit", "after"]),
        **_list("listByHeader", "/header-items", ["limit", "cursor"], array=False),
        **_list("listJsonServer", "/json-server-items", ["_page", "_limit"]),
        "/problems/{id}": {
            "get": {
                "operationId": "getProblem",
                "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {"404": {"description": "RFC 9457 problem details."}},
            }
        },
        "/status": {"get": {"operationId": "getStatus", "responses": {"200": {"description": "Up."}}}},
    },
    "x-conformance": {
        "api": "features",
        "errors": {**SOURCE, "preset": "problem-details",
                   "not_found": [{"operation": "getProblem", "path_params": {"id": "x"}}]},
        "pagination": [
            {**SOURCE, "operation": "listLinked", "style": "link", "items": "", "item_id": "/id",
             "limit": {"param": "limit", "default": 10, "max": 50}},
            {**SOURCE, "operation": "listByHeader", "style": "cursor", "items": "/data", "item_id": "/id",
             "cursor": {"param": "cursor", "next_header": "X-Next-Cursor"}, "limit": {"param": "limit", "max": 10}},
            {**SOURCE, "operation": "listJsonServer", "style": "page", "items": "", "item_id": "/id",
             "page": {"param": "_page"}, "total": {"in": "header", "name": "X-Total-Count"},
             "limit": {"param": "_limit", "default": 10, "max": 50, "default_applies": "when_paging"}},
        ],
        "rate_limit": {"tier": "inferred", "source": "none", "documented": False, "requests": 200, "window_s": 1,
                       "scope": "ip"},
    },
}  # fmt: skip


@contextmanager
def serving(app: Starlette) -> Iterator[str]:
    """The app on a free loopback port while the block runs; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="error", lifespan="off"))
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def run(tmp_path: Path, broken: bool) -> tuple[int, dict[str, Any], str]:
    spec = tmp_path / "features.yaml"
    spec.write_text(yaml.safe_dump(SPEC, sort_keys=False), encoding="utf-8")
    reports = tmp_path / ("broken" if broken else "clean")
    with serving(make_app(broken)) as base_url:
        argv = ["run", "--spec", str(spec), "--base-url", base_url, "--report-dir", str(reports), "-q"]
        code = main([*argv, *[arg for rule in (*RULES, "auth.missing-credentials") for arg in ("--rule", rule)]])
    return code, json.loads((reports / "features.json").read_text(encoding="utf-8")), str(spec)


def test_the_feature_profile_is_valid(tmp_path: Path) -> None:
    spec = tmp_path / "features.yaml"
    spec.write_text(yaml.safe_dump(SPEC, sort_keys=False), encoding="utf-8")
    assert check_spec_file(spec) == []
    profile = Profile(SPEC)
    assert all(op.is_public for op in profile.operations.values())
    assert profile.data["errors"]["method_not_allowed"] == []


def test_a_conforming_server_is_silent(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, result, _ = run(tmp_path, broken=False)
    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert result["findings"] == []
    passed = {c["rule"] for c in result["checks"] if c["outcome"] == "passed"}
    assert set(RULES) <= passed
    assert "auth.missing-credentials" not in passed  # a public API: no key is demanded anywhere


def test_a_server_breaking_each_feature_is_found(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, result, _ = run(tmp_path, broken=True)
    capsys.readouterr()
    assert code == 1
    found = {(f["rule"], f["operation"]) for f in result["findings"]}
    assert {
        ("pagination.last-page", "listLinked"),
        ("pagination.no-duplicates", "listByHeader"),
        ("pagination.default-limit", "listJsonServer"),
        ("errors.envelope", "getProblem"),
        ("auth.public-operations", "getStatus"),
    } <= found


def test_the_default_page_size_of_json_server_is_judged_only_when_paging() -> None:
    """Without `default_applies: when_paging` the first page is asked for without `_page`: all 25 items."""
    from conformance.suite.test_pagination import _first_page_params

    listing = SPEC["x-conformance"]["pagination"][2]
    assert _first_page_params(listing) == {"_page": 1}
    assert _first_page_params({**listing, "limit": {"param": "_limit", "default": 10, "max": 50}}) == {}


def test_a_protected_operation_without_key_locations_is_a_profile_error() -> None:
    spec = json.loads(json.dumps(SPEC))
    spec["security"] = [{"key": []}]
    spec["components"] = {"securitySchemes": {"key": {"type": "apiKey", "in": "header", "name": "X-Key"}}}
    with pytest.raises(ProfileError, match=r"/x-conformance/auth: .*need a key.*auth.locations"):
        Profile(spec)


def test_presets_fill_their_section_and_written_keys_win() -> None:
    spec = json.loads(json.dumps(SPEC))
    profile = spec["x-conformance"]
    profile["rate_limit"] = {**SOURCE, "preset": "ietf-ratelimit-headers", "documented": True, "requests": 100,
                             "window_s": 60, "scope": "key", "retry_after": False}  # fmt: skip
    profile["errors"]["message_pointer"] = "/detail"
    spec["paths"]["/status"]["post"] = {
        "operationId": "createStatus",
        "parameters": [{"name": "Idempotency-Key", "in": "header", "schema": {"type": "string"}}],
        "responses": {"201": {"description": "Created."}},
    }
    profile["idempotency"] = [
        {**SOURCE, "preset": "idempotency-key-draft", "operation": "createStatus", "resource_id": "/id"}
    ]
    jsonschema.validate(profile, profile_schema())
    data = Profile(spec).data
    assert data["rate_limit"]["headers"]["remaining"] == "RateLimit-Remaining"
    assert data["rate_limit"]["reset_unit"] == "seconds" and data["rate_limit"]["retry_after"] is False
    assert data["errors"]["code_pointer"] == "/type" and data["errors"]["message_pointer"] == "/detail"
    assert data["idempotency"][0]["header"] == "Idempotency-Key"
    assert data["idempotency"][0]["conflict_status"] == [409, 422]
    assert Profile(spec).envelope_errors({"status": "404"})  # status must be an integer
    assert not Profile(spec).envelope_errors({"type": "about:blank", "title": "Not Found", "status": 404})


def rate_limited_app(broken: bool) -> Starlette:
    """IETF structured rate-limit headers on every answer; `broken` reports more remaining than the quota."""
    used = [0]

    async def status(request: Request) -> Response:
        used[0] += 1
        remaining = 1000 - used[0] + (5000 if broken else 0)
        headers = {"RateLimit-Policy": '"default";q=1000;w=60', "RateLimit": f'"default";r={remaining};t=30'}
        return JSONResponse({"ok": True}, headers=headers)

    return Starlette(routes=[Route("/status", status)])


def test_the_ietf_structured_rate_limit_headers_are_read_both_ways(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = {
        "openapi": "3.1.0",
        "info": {"title": "limited", "version": "1"},
        "paths": {"/status": {"get": {"operationId": "getStatus", "responses": {"200": {"description": "Up."}}}}},
        "x-conformance": {
            "api": "limited",
            "errors": {**SOURCE, "preset": "problem-details"},
            "rate_limit": {**SOURCE, "preset": "ietf-ratelimit-policy", "documented": True, "requests": 1000,
                           "window_s": 60, "scope": "ip", "headers_required": True},
        },
    }  # fmt: skip
    path = tmp_path / "limited.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    assert check_spec_file(path) == []
    codes = {}
    for broken in (False, True):
        with serving(rate_limited_app(broken)) as base_url:
            argv = [
                "run",
                "--spec",
                str(path),
                "--base-url",
                base_url,
                "-q",
                "--report-dir",
                str(tmp_path / str(broken)),
            ]
            codes[broken] = main([*argv, "--rule", "rate-limit.headers", "--rule", "rate-limit.consistent"])
    out = capsys.readouterr().out
    assert codes == {False: 0, True: 1}, out
    findings = json.loads((tmp_path / "True" / "limited.json").read_text(encoding="utf-8"))["findings"]
    assert {f["rule"] for f in findings} == {"rate-limit.consistent"}
    assert "RateLimit;r" in findings[0]["message"]


def keyed(spec: dict[str, Any]) -> dict[str, Any]:
    """SPEC with a root API-key requirement and the key's location in the profile."""
    spec = json.loads(json.dumps(spec))
    spec["security"] = [{"key": []}]
    spec["components"] = {"securitySchemes": {"key": {"type": "apiKey", "in": "header", "name": "X-Key"}}}
    spec["x-conformance"]["auth"] = {**SOURCE, "locations": [{"in": "header", "name": "X-Key"}], "public": [],
                                     "missing_status": [401], "invalid_status": [401]}  # fmt: skip
    return spec


def test_an_empty_security_requirement_allows_anonymous_requests() -> None:
    """OpenAPI: `{}` among the requirements means no key is needed (`[{}]`, or optional auth `[{}, {key: []}]`)."""
    spec = keyed(SPEC)
    spec["paths"]["/status"]["get"]["security"] = [{}]
    spec["paths"]["/problems/{id}"]["get"]["security"] = [{}, {"key": []}]
    operations = Profile(spec).operations
    assert operations["getStatus"].is_public and operations["getProblem"].is_public
    assert not operations["listLinked"].is_public
    spec["security"] = [{}, {"key": []}]  # at the root: every operation without its own is public
    del spec["x-conformance"]["auth"]
    assert all(op.is_public for op in Profile(spec).operations.values())


def test_one_protected_operation_without_key_locations_needs_a_key() -> None:
    spec = json.loads(json.dumps(SPEC))
    spec["paths"]["/status"]["get"]["security"] = [{"key": []}]
    spec["components"] = {"securitySchemes": {"key": {"type": "apiKey", "in": "header", "name": "X-Key"}}}
    with pytest.raises(ProfileError, match=r"/x-conformance/auth: getStatus needs a key but"):
        Profile(spec)


def test_errors_statuses_and_message_pointer_are_optional() -> None:
    """No check reads them (docs/profile.md: informational); a profile without them is valid."""
    spec = json.loads(json.dumps(SPEC))
    spec["x-conformance"]["errors"] = {
        **SOURCE,
        "envelope": {"schema": {"type": "object"}},
        "code_pointer": "/type",
        "not_found": [{"operation": "getProblem", "path_params": {"id": "x"}}],
    }
    jsonschema.validate(spec["x-conformance"], profile_schema())
    assert Profile(spec).data["errors"]["code_pointer"] == "/type"


def test_a_page_size_without_a_maximum_skips_the_max_limit_check(tmp_path: Path) -> None:
    """`limit.max` may be left out where no maximum is documented: the walks use the default, max-limit skips."""
    from conformance.checks.pagination import main_limit

    spec = json.loads(json.dumps(SPEC))
    del spec["x-conformance"]["pagination"][0]["limit"]["max"]
    jsonschema.validate(spec["x-conformance"], profile_schema())
    assert main_limit(spec["x-conformance"]["pagination"][0]) == 10
    path, reports = tmp_path / "features.yaml", tmp_path / "out"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    with serving(make_app(False)) as base_url:
        argv = ["run", "--spec", str(path), "--base-url", base_url, "--report-dir", str(reports), "-q"]
        main([*argv, "--rule", "pagination.max-limit", "--rule", "pagination.complete"])
    result = json.loads((reports / "features.json").read_text(encoding="utf-8"))
    assert [f for f in result["findings"] if f["operation"] == "listLinked"] == []
    outcomes = {c["test"].split("::")[1]: c for c in result["checks"] if c["rule"] == "pagination.max-limit"}
    linked = next(c for test, c in outcomes.items() if "listLinked" in test)
    assert linked["outcome"] == "skipped" and "limit.max" in json.dumps(linked)
    complete = [c for c in result["checks"] if c["rule"] == "pagination.complete" and "listLinked" in c["test"]]
    assert complete and all(c["outcome"] == "passed" for c in complete)
