"""False alarms first seen against `prism mock` (issue 10, item 4), each replayed without Prism.

A sandbox plays the server, changed the way the server that showed the false alarm differed: a free
first product, an empty account, a proxy refusing long URLs, an id looked up before the key, a list that
refuses every request. Each `conformance run` is a subprocess narrowed with `--rule`/`-k`, like a user's.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from conformance.sandbox.runner import build_app
from conformance.target import read_pointer

RUN_TIMEOUT_S = 240  # a hang guard on a busy 2-core machine, not a speed target


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # not the main thread
        pass


@contextmanager
def serving(app: Any) -> Iterator[int]:
    """Serves an ASGI app on a free loopback port while the block runs; yields the port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    server = _Server(uvicorn.Config(app, log_level="error", access_log=False, lifespan="off"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the test server did not start"
        time.sleep(0.01)
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def sandbox(api: str, prepare: Callable[[Any], None] | None = None) -> tuple[Any, Any, str]:
    """Returns (app, module, key) of a fresh sandbox; `prepare(db)` changes its data first."""
    module, app = build_app(api, rate_limit=(1_000_000, 1.0))  # no throttling: the checks, not the pace
    if prepare is not None:
        with app.state.db.transaction() as conn:
            prepare(conn)
    return app, module, module.KEYS["full"]


def wrap(app: Any, answer: Callable[[dict[str, Any]], tuple[int, bytes, str] | None]) -> Any:
    """An ASGI app that answers `answer(scope)` when it returns (status, body, content type), else `app`."""

    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        reply = answer(scope) if scope["type"] == "http" else None
        if reply is None:
            await app(scope, receive, send)
            return
        status, body, content_type = reply
        headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return wrapped


def run(api: str, port: int, base_path: str, key: str, report_dir: Path, *args: str) -> tuple[int, dict[str, Any]]:
    """`conformance run API` against the served app; returns the exit code and the JSON result."""
    argv = [
        sys.executable, "-m", "conformance.cli", "run", api,
        "--base-url", f"http://127.0.0.1:{port}{base_path.rstrip('/')}",
        "--api-key", key, "--report-dir", str(report_dir), "--pace", "1000/1", "--max-examples", "3",
        "--seed", "1", "-q", *args,
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONFORMANCE_") and not k.lower().endswith("_proxy")}
    done = subprocess.run(argv, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, env=env, cwd=report_dir)
    path = report_dir / f"{api}.json"
    assert path.exists(), f"no result (exit {done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done.returncode, json.loads(path.read_text(encoding="utf-8"))


def checks(result: dict[str, Any], rule: str, operation: str | None = None) -> list[dict[str, Any]]:
    return [c for c in result["checks"] if c["rule"] == rule and (operation is None or c["operation"] == operation)]


def findings(result: dict[str, Any], rule: str | None = None) -> list[dict[str, Any]]:
    return [f for f in result["findings"] if rule is None or f["rule"] == rule]


def _error(code: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message, "details": ""}}).encode()


# --- storefront: a payment for an order of a free product -----------------------------------------------


def test_a_free_first_product_does_not_break_the_payment_link(tmp_path: Path) -> None:
    """The createPayment recipe copied the first product's price (no minimum) into `amount` (> 0): a shop
    whose first product is free got a 400 on the PayOrder link, reported as `schema.stateful`."""
    app, module, key = sandbox(
        "storefront", lambda db: db.execute("UPDATE products SET price = 0 WHERE seq = (SELECT MIN(seq) FROM products)")
    )
    with serving(app) as port:
        code, result = run(
            "storefront", port, module.BASE_PATH, key, tmp_path, "-k", "test_created_resource_is_readable"
        )
    assert not findings(result), [f["message"] for f in findings(result)]
    assert [c["outcome"] for c in checks(result, "schema.stateful", "createOrder")] == ["passed"]
    assert code == 0


# --- a proxy's 431 to the fuzzer's long URL --------------------------------------------------------------


def test_431_to_an_ordinary_url_stays_a_status_finding(tmp_path: Path) -> None:
    """nginx answers 431/414 to a very long request line, and that is a note (conformance/checks/schema.py,
    tests/test_schema_judgement.py); but the same status to a URL of a few hundred bytes is no proxy's limit,
    so the engine's `schema.status-code` stays a finding."""
    app, module, key = sandbox("storefront")

    def proxy(scope: dict[str, Any]) -> tuple[int, bytes, str] | None:
        if scope["path"] == "/logs" and len(scope.get("query_string") or b"") > 20:
            return 431, b"<html><body><h1>431 Request Header Fields Too Large</h1></body></html>", "text/html"
        return None

    with serving(wrap(app, proxy)) as port:
        _code, result = run("storefront", port, module.BASE_PATH, key, tmp_path, "-k", "test_schema")
    assert [f for f in findings(result, "schema.status-code") if "431" in f["message"]]
    assert not [n for n in result["notes"] if n["rule"] == "schema.status-code"]


# --- auth: the key check must be made with an otherwise valid request ----------------------------------


def test_an_invalid_key_check_is_not_judged_on_a_request_that_is_itself_refused(tmp_path: Path) -> None:
    """An empty catalogue leaves getProduct without a valid request; the placeholder id is unknown, and this
    server looks the product up before the key (404 to anyone). That 404 says nothing about the key: the
    check skips saying so, instead of blaming auth for it."""
    app, module, key = sandbox("storefront", lambda db: db.execute("DELETE FROM products"))

    def lookup_first(scope: dict[str, Any]) -> tuple[int, bytes, str] | None:
        if scope["method"] == "GET" and scope["path"].startswith("/products/"):
            return 404, _error("NOT_FOUND", "No such product."), "application/json"
        return None

    with serving(wrap(app, lookup_first)) as port:
        code, result = run(
            "storefront", port, module.BASE_PATH, key, tmp_path,
            "--rule", "auth.invalid-credentials", "--rule", "auth.missing-credentials",
        )  # fmt: skip
    assert not findings(result), [f["message"] for f in findings(result)]
    for rule in ("auth.invalid-credentials", "auth.missing-credentials"):
        [check] = checks(result, rule, "getProduct")
        assert check["outcome"] == "skipped" and "placeholder" in check["reason"], check
        # the other operations still get their key checks
        assert [c["outcome"] for c in checks(result, rule, "listUsers")] == ["passed"]
    assert code == 0


def test_an_invalid_key_refused_with_another_status_is_still_a_finding(tmp_path: Path) -> None:
    """The control request does not excuse a server that refuses a valid request's wrong key with a 400."""
    app, module, key = sandbox("storefront")

    def bad_key_400(scope: dict[str, Any]) -> tuple[int, bytes, str] | None:
        headers = dict(scope["headers"])
        auth = headers.get(b"authorization", b"").decode()
        if scope["path"] == "/users" and auth and auth != f"Bearer {key}":
            return 400, _error("INVALID_PARAMETER", "Bad token."), "application/json"
        return None

    with serving(wrap(app, bad_key_400)) as port:
        code, result = run("storefront", port, module.BASE_PATH, key, tmp_path, "--rule", "auth.invalid-credentials")
    messages = [f["message"] for f in findings(result, "auth.invalid-credentials")]
    assert messages == ["GET /users with an invalid key: answered 400; documented: 401."], messages
    assert code == 1


# --- errors: a bad-parameter check needs a control request ---------------------------------------------


def test_a_bad_parameter_refusal_counts_only_when_the_request_without_it_succeeds(tmp_path: Path) -> None:
    """A list that refuses every request (here: a /logs that always answers 400) passed the bad-date checks
    without proving anything. The control request (the same request without the bad value) fails too, so
    the checks skip saying why."""
    app, module, key = sandbox("storefront")

    def refuse_logs(scope: dict[str, Any]) -> tuple[int, bytes, str] | None:
        if scope["path"] == "/logs":
            return 400, _error("INVALID_PARAMETER", "A filter is required."), "application/json"
        return None

    with serving(wrap(app, refuse_logs)) as port:
        _code, result = run(
            "storefront", port, module.BASE_PATH, key, tmp_path, "-k", "test_bad_parameter and listLogs"
        )
    bad = checks(result, "errors.bad-parameter", "listLogs")
    assert len(bad) == 2
    for check in bad:
        assert check["outcome"] == "skipped", check
        assert "control request" in check["reason"] and "400" in check["reason"], check


def test_a_bad_parameter_accepted_is_still_a_finding(tmp_path: Path) -> None:
    """With a control that succeeds, the check judges as before: the storefront's own fault is found."""
    module, app = build_app("storefront", faults=["errors.bad-parameter"])
    key = module.KEYS["full"]
    with serving(app) as port:
        code, result = run("storefront", port, module.BASE_PATH, key, tmp_path, "-k", "test_bad_parameter and listLogs")
    assert len(findings(result, "errors.bad-parameter")) == 2
    assert code == 1


# --- recipes on an account without orders --------------------------------------------------------------


def test_retailcrm_recipes_work_on_an_account_without_orders_or_customers(tmp_path: Path) -> None:
    """The order and customer recipes took `site` (and the ids) from the first listed order or customer: on
    a new account every check that needs them skipped. Now the site comes from the sites reference list
    and the ids from a create when the lists are empty."""

    def empty(db: Any) -> None:
        db.execute("DELETE FROM orders")
        db.execute("DELETE FROM customers")

    app, module, key = sandbox("retailcrm", empty)
    with serving(app) as port:
        _code, result = run(
            "retailcrm",
            port,
            module.BASE_PATH,
            key,
            tmp_path,
            "-k",
            "test_bad_body or test_created_resource_is_readable",
        )
    assert not findings(result), [f["message"] for f in findings(result)]
    for operation in ("createOrder", "editOrder", "createCustomer", "editCustomer"):
        assert [c["outcome"] for c in checks(result, "errors.bad-body", operation)] == ["passed"], operation
    for operation in ("createOrder", "createCustomer"):
        assert [c["outcome"] for c in checks(result, "schema.stateful", operation)] == ["passed"], operation


def test_tribute_shop_checks_run_on_an_account_without_orders(tmp_path: Path) -> None:
    """tribute-shop's recipes took every order from the first listed order, so a new account skipped all the
    checks of an order; and a malformed-id check still resolved the recipe's transaction id, which a new order
    does not have. Now the order comes from a create, and a check that replaces a path parameter resolves no
    variable only that parameter used."""
    app, module, key = sandbox("tribute-shop", lambda db: db.execute("DELETE FROM orders"))
    with serving(app) as port:
        code, result = run("tribute-shop", port, module.BASE_PATH, key, tmp_path, "-k", "not test_schema")
    assert not findings(result), [f["message"] for f in findings(result)]
    unbuilt = [c for c in result["checks"] if c["outcome"] == "skipped" and "cannot build" in c["reason"]]
    assert not unbuilt, unbuilt[0]
    for rule, operation in [
        ("auth.invalid-credentials", "getShopOrderStatus"),
        ("auth.invalid-credentials", "cancelShopOrder"),
        ("errors.bad-parameter", "refundShopOrderTransaction"),
        ("errors.bad-parameter", "getShopOrderStatus"),
    ]:
        outcomes = {c["outcome"] for c in checks(result, rule, operation)}
        assert outcomes == {"passed"}, (rule, operation, outcomes)
    assert code == 0


@pytest.mark.parametrize(
    ("document", "pointer", "value"),
    [
        ({"sites": {"shop-b": {"code": "shop-b"}, "shop-a": {"code": "shop-a"}}}, "/sites/*/code", "shop-b"),
        ([{"id": 7}], "/*/id", 7),
        ({"orders": [{"id": 1}]}, "/orders/0/id", 1),
    ],
)
def test_read_pointer(document: Any, pointer: str, value: Any) -> None:
    assert read_pointer(document, pointer) == value


@pytest.mark.parametrize(
    ("document", "pointer", "message"),
    [
        ({"orders": []}, "/orders/0/site", "an empty list at '/orders'"),
        ([], "/0/uuid", "an empty list at '/'"),
        ({"sites": {}}, "/sites/*/code", "nothing at '/sites'"),
        ({"orders": [{}]}, "/orders/0/site", "no key 'site'"),
    ],
)
def test_read_pointer_says_what_is_missing(document: Any, pointer: str, message: str) -> None:
    with pytest.raises(KeyError) as raised:
        read_pointer(document, pointer)
    assert message in str(raised.value.args[0])
