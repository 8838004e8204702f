"""The goat sandbox: every operation's success and error paths, conformance to specs/goat.yaml,
idempotency under concurrency, persistence across restarts, rate limits, and its faults."""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from starlette.testclient import TestClient

from conformance.rules import RULES
from conformance.sandbox import goat
from conformance.sandbox.base import SandboxSettings
from tests.conftest import assert_conforms
from tests.sandbox.switches import probe_tests

FULL, LIMITED = goat.KEYS["full"], goat.KEYS["limited"]
EXAMPLE_PRODUCT, EXAMPLE_ORDER, EXAMPLE_PAYMENT = "prod_01HX9R2Q2C", "ord_01HX9R8NQ4", "pay_01HX9S0H5Y"
REQUEST_ID = re.compile(r"^req_[A-Z0-9]+$")


def make_client(*faults: str, rate_limit: tuple[int, float] | None = None, db: str | None = None) -> TestClient:
    settings = SandboxSettings(db=db, rate_limit=rate_limit, faults=frozenset(faults))
    return TestClient(goat.create_app(settings), base_url="http://testserver/v1")


def auth(key: str = FULL) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def order_body(product_id: str = EXAMPLE_PRODUCT, quantity: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "product_id": product_id,
        "quantity": quantity,
        "customer": {"external_id": "user_12345", "contact": "customer@example.com"},
        **extra,
    }


def create(client: TestClient, body: Any = None, *, key: str | None = "order_9f3a2d", api_key: str = FULL) -> Any:
    headers = {**auth(api_key), **({"Idempotency-Key": key} if key else {})}
    return client.post("/orders", headers=headers, json=order_body() if body is None else body)


def walk(client: TestClient, **query: Any) -> list[list[str]]:
    """Returns the ids of every page of GET /products, following next_cursor to the end."""
    pages, cursor = [], None
    for _ in range(100):
        params = {**query, **({"cursor": cursor} if cursor else {})}
        response = client.get("/products", headers=auth(), params=params)
        assert response.status_code == 200, response.text
        pages.append([item["id"] for item in response.json()["data"]])
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return pages
    raise AssertionError("the walk did not end")


def orders_in(db_file: Path) -> int:
    with sqlite3.connect(db_file) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM orders WHERE origin = 'api'").fetchone()[0])


@pytest.fixture
def client() -> TestClient:
    return make_client()


# --- health, account, credentials ---------------------------------------------------------


def test_health_answers_without_a_key_and_ignores_an_invalid_one(client: TestClient) -> None:
    for headers in ({}, auth("not-a-key"), auth()):
        response = client.get("/health", headers=headers)
        assert_conforms("goat", "/health", "GET", response)
        assert response.status_code == 200 and response.json()["status"] == "ok"
    assert client.head("/health").status_code == 200


def test_me_shows_the_account_and_permissions_of_each_key(client: TestClient) -> None:
    full, limited = client.get("/me", headers=auth()), client.get("/me", headers=auth(LIMITED))
    for response in (full, limited):
        assert_conforms("goat", "/me", "GET", response)
    assert full.json()["id"] == "acc_01HX9Q9D7P" and "orders:write" in full.json()["permissions"]
    assert "orders:write" not in limited.json()["permissions"]


PROTECTED = [
    ("GET", "/me", "/me"),
    ("GET", "/products", "/products"),
    ("GET", "/products/{product_id}", f"/products/{EXAMPLE_PRODUCT}"),
    ("POST", "/orders", "/orders"),
    ("GET", "/orders/{order_id}", f"/orders/{EXAMPLE_ORDER}"),
    ("PATCH", "/orders/{order_id}", f"/orders/{EXAMPLE_ORDER}"),
    ("GET", "/payments/{payment_id}", f"/payments/{EXAMPLE_PAYMENT}"),
    ("POST", "/webhooks/test", "/webhooks/test"),
]


@pytest.mark.parametrize("method,template,path", PROTECTED, ids=[f"{m} {t}" for m, t, _ in PROTECTED])
@pytest.mark.parametrize("headers", [{}, auth("wrong")], ids=["missing", "unknown-key"])
def test_protected_operations_refuse_missing_or_invalid_keys_with_401(
    client: TestClient, method: str, template: str, path: str, headers: dict[str, str]
) -> None:
    response = client.request(method, path, headers={**headers, "Idempotency-Key": "k"}, json={})
    assert_conforms("goat", template, method, response)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert "x-ratelimit-limit" not in response.headers  # only authenticated requests are counted


@pytest.mark.parametrize("header", [f"Basic {FULL}", "Bearer", FULL, f"Token {FULL}"])
def test_only_the_bearer_scheme_carries_a_key(client: TestClient, header: str) -> None:
    response = client.get("/me", headers={"Authorization": header})
    assert_conforms("goat", "/me", "GET", response)
    assert response.status_code == 401
    assert client.get("/me", headers={"Authorization": f"bearer {FULL}"}).status_code == 200


def test_credentials_are_checked_before_parameters(client: TestClient) -> None:
    assert client.get("/products", params={"limit": 0}).status_code == 401
    assert client.post("/orders", content=b"{not json").status_code == 401


# --- products -----------------------------------------------------------------------------


def test_list_products_default_page_holds_25_items_and_a_next_cursor(client: TestClient) -> None:
    response = client.get("/products", headers=auth())
    assert_conforms("goat", "/products", "GET", response)
    body = response.json()
    assert len(body["data"]) == 25 and isinstance(body["next_cursor"], str)
    assert client.head("/products", headers=auth()).status_code == 200


def test_walking_products_at_the_max_page_size_returns_each_product_once_in_id_order(client: TestClient) -> None:
    pages = walk(client, limit=100)
    ids = [item for page in pages for item in page]
    assert len(pages) >= 3 and [len(page) for page in pages[:-1]] == [100] * (len(pages) - 1)
    assert len(ids) == len(set(ids)) >= 250 and ids == sorted(ids)
    assert walk(client, limit=100) == pages  # a second walk sees the same order
    assert [item for page in walk(client, limit=30) for item in page] == ids


def test_category_filter_walks_only_that_category(client: TestClient) -> None:
    ids = [item for page in walk(client, category="games", limit=10) for item in page]
    assert len(ids) > 10
    for product_id in ids[:12]:
        assert client.get(f"/products/{product_id}", headers=auth()).json()["category"] == "games"


def test_unknown_category_gives_an_empty_last_page(client: TestClient) -> None:
    response = client.get("/products", headers=auth(), params={"category": "board_games"})
    assert_conforms("goat", "/products", "GET", response)
    assert response.json() == {"data": [], "next_cursor": None}


@pytest.mark.parametrize("limit", ["101", "8802853902", "9" * 5000])
def test_limit_above_the_maximum_is_clamped_to_100(client: TestClient, limit: str) -> None:
    response = client.get("/products", headers=auth(), params={"limit": limit})
    assert_conforms("goat", "/products", "GET", response)
    assert len(response.json()["data"]) == 100


@pytest.mark.parametrize("limit", ["0", "-1", "abc", "2.5", "10.0", "", "1e3", "-" + "9" * 5000])
def test_invalid_limits_are_refused_with_400(client: TestClient, limit: str) -> None:
    response = client.get("/products", headers=auth(), params={"limit": limit})
    assert_conforms("goat", "/products", "GET", response)
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_request"


def test_unknown_or_malformed_cursors_are_refused_with_400(client: TestClient) -> None:
    cursor = client.get("/products", headers=auth()).json()["next_cursor"]
    body, _, signature = cursor.partition(".")
    forged = goat.paging.Paging.encode({"after": "prod_ZZZZZZZZZZ"}).split(".")[0] + "." + signature
    for bad in ["not-a-cursor", body, cursor + "x", forged, "e30.0000000000000000"]:
        response = client.get("/products", headers=auth(), params={"cursor": bad})
        assert_conforms("goat", "/products", "GET", response)
        assert response.status_code == 400, bad


def test_an_empty_cursor_is_no_cursor(client: TestClient) -> None:
    first = client.get("/products", headers=auth()).json()
    assert client.get("/products", headers=auth(), params={"cursor": ""}).json() == first


def test_get_product_answers_the_product_and_404_for_unknown_ids(client: TestClient) -> None:
    response = client.get(f"/products/{EXAMPLE_PRODUCT}", headers=auth())
    assert_conforms("goat", "/products/{product_id}", "GET", response)
    assert response.json()["id"] == EXAMPLE_PRODUCT and isinstance(response.json()["metadata"], dict)
    for unknown in ["prod_ZZZZZZZZZZ", "nothing", "PROD_01HX9R2Q2C"]:
        missing = client.get(f"/products/{unknown}", headers=auth())
        assert_conforms("goat", "/products/{product_id}", "GET", missing)
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


# --- orders -------------------------------------------------------------------------------


def test_create_order_answers_201_with_a_pending_payment(client: TestClient) -> None:
    response = create(client, order_body(quantity=2))
    assert_conforms("goat", "/orders", "POST", response)
    order = response.json()
    assert response.status_code == 201
    assert (order["status"], order["payment_status"], order["delivery_status"]) == (
        "processing",
        "pending",
        "not_started",
    )
    assert order["quantity"] == 2 and order["customer"]["contact"] == "customer@example.com"
    payment = client.get(f"/payments/{order['payment_id']}", headers=auth())
    assert_conforms("goat", "/payments/{payment_id}", "GET", payment)
    assert payment.json()["order_id"] == order["id"]
    assert (payment.json()["amount"], payment.json()["currency"], payment.json()["status"]) == (2980, "RUB", "pending")
    read = client.get(f"/orders/{order['id']}", headers=auth())
    assert_conforms("goat", "/orders/{order_id}", "GET", read)
    assert read.json() == order


def test_create_order_accepts_a_whole_number_written_as_a_float(client: TestClient) -> None:
    response = create(client, order_body(quantity=2.0))  # type: ignore[arg-type]
    assert (response.status_code, response.json()["quantity"]) == (201, 2)


def test_create_order_replays_the_first_answer_for_the_same_key_and_body(client: TestClient) -> None:
    first, second = create(client, key="same"), create(client, key="same")
    assert_conforms("goat", "/orders", "POST", second)
    assert (second.status_code, second.json()) == (201, first.json())
    assert create(client, key="other").json()["id"] != first.json()["id"]


def test_create_order_refuses_a_key_reused_with_another_body_with_409(client: TestClient) -> None:
    create(client, key="reused")
    response = create(client, order_body(quantity=3), key="reused")
    assert_conforms("goat", "/orders", "POST", response)
    assert response.status_code == 409 and response.json()["error"]["code"] == "idempotency_conflict"


def test_idempotency_keys_are_scoped_per_api_key(client: TestClient) -> None:
    mine, theirs = create(client, key="shared"), create(client, key="shared", api_key=LIMITED)
    assert theirs.status_code == 201 and theirs.json()["id"] != mine.json()["id"]
    assert client.get(f"/orders/{theirs.json()['id']}", headers=auth()).status_code == 404  # not my order


@pytest.mark.parametrize("key", [None, ""], ids=["absent", "empty"])
def test_create_order_without_an_idempotency_key_is_refused_with_400(client: TestClient, key: str | None) -> None:
    headers = {**auth(), **({"Idempotency-Key": key} if key is not None else {})}
    response = client.post("/orders", headers=headers, json=order_body())
    assert_conforms("goat", "/orders", "POST", response)
    assert response.status_code == 400


BAD_ORDER_BODIES = {
    "not-json": b"{not json",
    "empty": b"",
    "array": [order_body()],
    "no-product": {k: v for k, v in order_body().items() if k != "product_id"},
    "unknown-product": order_body(product_id="prod_ZZZZZZZZZZ"),
    "product-not-string": order_body(product_id=7),
    "quantity-0": order_body(quantity=0),
    "quantity-1001": order_body(quantity=1001),
    "quantity-string": order_body(quantity="1"),  # type: ignore[arg-type]
    "quantity-bool": order_body(quantity=True),
    "quantity-float": order_body(quantity=1.5),  # type: ignore[arg-type]
    "no-customer": {k: v for k, v in order_body().items() if k != "customer"},
    "customer-string": {**order_body(), "customer": "customer@example.com"},
    "no-contact": {**order_body(), "customer": {"external_id": "u1"}},
    "empty-external-id": {**order_body(), "customer": {"external_id": "", "contact": "c"}},
}


@pytest.mark.parametrize("body", list(BAD_ORDER_BODIES.values()), ids=list(BAD_ORDER_BODIES))
def test_create_order_refuses_invalid_bodies_with_400_and_creates_nothing(client: TestClient, body: Any) -> None:
    headers = {**auth(), "Idempotency-Key": "bad-body"}
    if isinstance(body, bytes):
        response = client.post("/orders", headers=headers, content=body)
    else:
        response = client.post("/orders", headers=headers, json=body)
    assert_conforms("goat", "/orders", "POST", response)
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_request"
    assert create(client, key="bad-body").status_code == 201  # the key was not used up


def test_get_order_answers_404_for_unknown_orders_and_other_accounts_orders(client: TestClient) -> None:
    seeded = client.get(f"/orders/{EXAMPLE_ORDER}", headers=auth())
    assert_conforms("goat", "/orders/{order_id}", "GET", seeded)
    assert seeded.json()["payment_id"] == EXAMPLE_PAYMENT
    for path, key in [("/orders/ord_ZZZZZZZZZZ", FULL), (f"/orders/{EXAMPLE_ORDER}", LIMITED)]:
        response = client.get(path, headers=auth(key))
        assert_conforms("goat", "/orders/{order_id}", "GET", response)
        assert response.status_code == 404


def test_patch_with_an_empty_object_changes_nothing(client: TestClient) -> None:
    order = create(client).json()
    response = client.patch(f"/orders/{order['id']}", headers=auth(), json={})
    assert_conforms("goat", "/orders/{order_id}", "PATCH", response)
    assert (response.status_code, response.json()) == (200, order)


def test_patch_updates_metadata_customer_fields_and_notes(client: TestClient) -> None:
    order = create(client).json()
    change = {"metadata": {"crm": "T-1"}, "customer": {"contact": "+7 900 000-00-00"}, "notes": "call first"}
    response = client.patch(f"/orders/{order['id']}", headers=auth(), json=change)
    assert_conforms("goat", "/orders/{order_id}", "PATCH", response)
    updated = response.json()
    assert updated["metadata"] == {"crm": "T-1"} and updated["notes"] == "call first"
    assert updated["customer"] == {"external_id": "user_12345", "contact": "+7 900 000-00-00"}
    assert client.get(f"/orders/{order['id']}", headers=auth()).json() == updated
    cleared = client.patch(f"/orders/{order['id']}", headers=auth(), json={"notes": None}).json()
    assert cleared["notes"] is None


@pytest.mark.parametrize("order_id", [EXAMPLE_ORDER, "ord_ZZZZZZZZZZ"])
def test_patch_with_a_key_lacking_orders_write_is_refused_with_403(client: TestClient, order_id: str) -> None:
    response = client.patch(f"/orders/{order_id}", headers=auth(LIMITED), json={"notes": "x"})
    assert_conforms("goat", "/orders/{order_id}", "PATCH", response)
    assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden"


BAD_PATCHES = {
    "not-json": b"{not json",
    "array": [],
    "metadata-string": {"metadata": "x"},
    "notes-number": {"notes": 5},
    "customer-null": {"customer": None},
    "empty-contact": {"customer": {"contact": ""}},
}


@pytest.mark.parametrize("body", list(BAD_PATCHES.values()), ids=list(BAD_PATCHES))
def test_patch_refuses_invalid_bodies_with_400(client: TestClient, body: Any) -> None:
    path = f"/orders/{EXAMPLE_ORDER}"
    if isinstance(body, bytes):
        response = client.patch(path, headers=auth(), content=body)
    else:
        response = client.patch(path, headers=auth(), json=body)
    assert_conforms("goat", "/orders/{order_id}", "PATCH", response)
    assert response.status_code == 400


def test_patch_of_an_unknown_order_is_404(client: TestClient) -> None:
    response = client.patch("/orders/ord_ZZZZZZZZZZ", headers=auth(), json={})
    assert_conforms("goat", "/orders/{order_id}", "PATCH", response)
    assert response.status_code == 404


# --- payments and webhooks ----------------------------------------------------------------


def test_get_payment_answers_the_payment_and_404_for_unknown_or_foreign_ones(client: TestClient) -> None:
    response = client.get(f"/payments/{EXAMPLE_PAYMENT}", headers=auth())
    assert_conforms("goat", "/payments/{payment_id}", "GET", response)
    assert response.json()["amount"] == 1490 and response.json()["currency"] == "RUB"
    for path, key in [("/payments/pay_ZZZZZZZZZZ", FULL), (f"/payments/{EXAMPLE_PAYMENT}", LIMITED)]:
        missing = client.get(path, headers=auth(key))
        assert_conforms("goat", "/payments/{payment_id}", "GET", missing)
        assert missing.status_code == 404


@pytest.mark.parametrize("body", [None, {}, {"event": "order.created", "extra": [1]}], ids=["none", "empty", "fields"])
def test_webhook_test_answers_202_with_the_event_it_sent(client: TestClient, body: Any) -> None:
    response = client.post("/webhooks/test", headers=auth(), json=body)
    assert_conforms("goat", "/webhooks/test", "POST", response)
    assert response.status_code == 202 and response.json()["event"] == "payment.succeeded"
    assert set(response.json()["data"]) >= {"order_id", "payment_id", "amount", "currency"}


@pytest.mark.parametrize("content", [b"{not json", b"[1]", b"42"])
def test_webhook_test_refuses_a_body_that_is_not_a_json_object(client: TestClient, content: bytes) -> None:
    response = client.post("/webhooks/test", headers=auth(), content=content)
    assert_conforms("goat", "/webhooks/test", "POST", response)
    assert response.status_code == 400


# --- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "method,path,allow",
    [
        ("DELETE", "/products", "GET"),
        ("POST", "/health", "GET"),
        ("GET", "/orders", "POST"),
        ("PUT", f"/orders/{EXAMPLE_ORDER}", "PATCH"),
    ],
)
def test_a_wrong_method_answers_405_with_allow_and_the_envelope(
    client: TestClient, method: str, path: str, allow: str
) -> None:
    response = client.request(method, path, headers=auth())
    assert response.status_code == 405 and allow in response.headers["allow"]
    assert response.json()["error"]["code"] == "method_not_allowed"


@pytest.mark.parametrize("path", ["/nothing", "/products/", "/orders/x/items", "http://testserver/"])
def test_an_unknown_route_answers_404_with_the_envelope(client: TestClient, path: str) -> None:
    response = client.get(path, headers=auth(), follow_redirects=False)
    assert response.status_code == 404 and response.headers["content-type"] == "application/json"
    assert response.json()["error"]["code"] == "not_found"


def test_every_error_carries_its_request_id_in_the_body_and_x_request_id(client: TestClient) -> None:
    responses = [
        client.get("/me"),
        client.get("/products", headers=auth(), params={"limit": 0}),
        client.get("/products/nope", headers=auth()),
        client.delete("/me", headers=auth()),
    ]
    for response in responses:
        request_id = response.json()["error"]["request_id"]
        assert REQUEST_ID.match(request_id) and response.headers["x-request-id"] == request_id
    assert len({r.json()["error"]["request_id"] for r in responses}) == len(responses)


# --- rate limits --------------------------------------------------------------------------


def test_authenticated_responses_carry_consistent_rate_limit_headers() -> None:
    client = make_client(rate_limit=(50, 60))
    first, second = client.get("/me", headers=auth()), client.get("/health", headers=auth())
    assert first.headers["x-ratelimit-limit"] == second.headers["x-ratelimit-limit"] == "50"
    assert int(first.headers["x-ratelimit-remaining"]) - 1 == int(second.headers["x-ratelimit-remaining"])
    assert int(first.headers["x-ratelimit-reset"]) >= time.time()
    assert "x-ratelimit-limit" not in client.get("/health").headers  # no key: not counted


def test_exceeding_the_rate_limit_answers_429_with_retry_after_per_key() -> None:
    client = make_client(rate_limit=(3, 60))
    statuses = [client.get("/me", headers=auth()).status_code for _ in range(3)]
    response = client.get("/me", headers=auth())
    assert statuses == [200] * 3 and response.status_code == 429
    assert_conforms("goat", "/me", "GET", response)
    assert response.json()["error"]["code"] == "rate_limit_exceeded" and int(response.headers["retry-after"]) >= 1
    assert response.headers["x-ratelimit-remaining"] == "0"
    assert client.get("/me", headers=auth(LIMITED)).status_code == 200  # another key has its own window


# --- the real server: concurrency and persistence -----------------------------------------


@pytest.mark.parametrize("faults", [[], ["idempotency.concurrent"]], ids=["clean", "fault"])
def test_concurrent_creates_with_one_key_make_one_order(
    sandbox_factory: Callable[..., Any], tmp_path: Path, faults: list[str]
) -> None:
    db_file = tmp_path / "goat.db"
    sandbox = sandbox_factory("goat", db=str(db_file), faults=faults)
    headers = {**auth(sandbox.keys["full"]), "Idempotency-Key": "parallel-1"}

    def post(_: int) -> requests.Response:
        return requests.post(f"{sandbox.base_url}/orders", headers=headers, json=order_body(), timeout=10)

    with ThreadPoolExecutor(max_workers=24) as pool:
        responses = list(pool.map(post, range(24)))
    assert {r.status_code for r in responses} == {201}
    orders = len({r.json()["id"] for r in responses})
    assert orders_in(db_file) == orders
    assert orders == 1 if not faults else orders > 1  # the fault: the race of a server without a lock


def test_orders_keys_and_cursors_survive_a_restart_on_the_same_db_file(tmp_path: Path) -> None:
    db_file = str(tmp_path / "goat.db")
    before = make_client(db=db_file)
    order = create(before, key="persisted").json()
    cursor = before.get("/products", headers=auth()).json()["next_cursor"]
    before.app.state.db.close()  # type: ignore[attr-defined]
    after = make_client(db=db_file)
    assert after.get(f"/orders/{order['id']}", headers=auth()).json() == order
    assert create(after, key="persisted").json()["id"] == order["id"]
    assert after.get("/products", headers=auth(), params={"cursor": cursor}).status_code == 200
    assert goat.summary(after.app).startswith("goat: 300 products")  # seeded once, not twice


# --- faults: each changes what it names ---------------------------------------------------


def _walk_ids(client: TestClient) -> list[str]:
    return [item for page in walk(client, limit=100) for item in page]


def _partial_rate_limit_headers(client: TestClient) -> bool:
    """Some of the optional rate-limit headers but not all (sending none would conform)."""
    headers = client.get("/me", headers=auth()).headers
    sent = {name for name in ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset") if name in headers}
    return 0 < len(sent) < 3


def _last_page_has_next(client: TestClient) -> bool:
    cursor = None
    while True:
        body = client.get("/products", headers=auth(), params={"limit": 100, **({"cursor": cursor} if cursor else {})})
        if not body.json()["data"]:
            return cursor is not None
        cursor = body.json()["next_cursor"]
        if cursor is None:
            return False


def _rate_limited(client: TestClient, count: int) -> list[Any]:
    return [client.get("/me", headers=auth()) for _ in range(count)]


def _recovers(client: TestClient) -> bool:
    _rate_limited(client, 3)
    time.sleep(0.6)
    return client.get("/me", headers=auth()).status_code == 200


def _error(response: Any) -> dict[str, Any]:
    return response.json().get("error") or {}


FAULT_PROBES: dict[str, tuple[Callable[[TestClient], bool], dict[str, Any]]] = {
    # each probe returns True when the rule its fault names is broken
    "schema.response-schema": (
        lambda c: not isinstance(c.get(f"/products/{EXAMPLE_PRODUCT}", headers=auth()).json()["metadata"], dict),
        {},
    ),
    "schema.status-code": (lambda c: create(c).status_code == 200, {}),
    "schema.content-type": (lambda c: c.get("/health").headers["content-type"].startswith("text/plain"), {}),
    "schema.server-error": (
        lambda c: c.get("/products", headers=auth(), params={"category": "Games!"}).status_code == 500,
        {},
    ),
    "schema.negative-data": (lambda c: create(c, order_body(quantity=1001)).status_code == 201, {}),
    "schema.positive-data": (
        lambda c: c.get("/products", headers=auth(), params={"category": "board_games"}).status_code == 400,
        {},
    ),
    "schema.stateful": (
        lambda c: c.get(f"/payments/{create(c).json()['payment_id']}", headers=auth()).status_code == 404,
        {},
    ),
    "errors.envelope": (lambda c: "error" not in c.get("/me").json(), {}),
    "errors.not-found": (lambda c: c.get("/products/prod_ZZZZZZZZZZ", headers=auth()).status_code != 404, {}),
    "errors.unknown-route": (lambda c: c.get("/nothing", headers=auth()).status_code == 200, {}),
    "errors.method-not-allowed": (lambda c: "allow" not in c.delete("/products", headers=auth()).headers, {}),
    "errors.bad-parameter": (
        lambda c: c.get("/products", headers=auth(), params={"limit": "2.5"}).status_code == 200,
        {},
    ),
    "errors.bad-body": (
        lambda c: c.patch(f"/orders/{EXAMPLE_ORDER}", headers=auth(), content=b"{no").status_code == 200,
        {},
    ),
    "errors.code-convention": (lambda c: not re.match(r"^[a-z][a-z0-9_]*$", _error(c.get("/me"))["code"]), {}),
    "errors.request-id": (lambda c: not REQUEST_ID.match(_error(c.get("/me"))["request_id"]), {}),
    "pagination.no-duplicates": (lambda c: len(_walk_ids(c)) != len(set(_walk_ids(c))), {}),
    "pagination.complete": (lambda c: len(set(_walk_ids(c))) != 300, {}),
    "pagination.default-limit": (lambda c: len(c.get("/products", headers=auth()).json()["data"]) != 25, {}),
    "pagination.max-limit": (
        lambda c: len(c.get("/products", headers=auth(), params={"limit": 150}).json()["data"]) > 100,
        {},
    ),
    "pagination.invalid-limit": (
        lambda c: c.get("/products", headers=auth(), params={"limit": 0}).status_code == 200,
        {},
    ),
    "pagination.last-page": (_last_page_has_next, {}),
    "pagination.bad-cursor": (
        lambda c: c.get("/products", headers=auth(), params={"cursor": "not-a-cursor"}).status_code == 200,
        {},
    ),
    "pagination.stable-order": (lambda c: _walk_ids(c) != _walk_ids(c), {}),
    "idempotency.replay-same-resource": (lambda c: create(c).json()["id"] != create(c).json()["id"], {}),
    "idempotency.conflict": (
        lambda c: create(c).status_code == 201 and create(c, order_body(quantity=2)).status_code != 409,
        {},
    ),
    "idempotency.key-required": (lambda c: create(c, key=None).status_code == 201, {}),
    "rate-limit.headers": (_partial_rate_limit_headers, {}),
    "rate-limit.consistent": (
        lambda c: len({r.headers["x-ratelimit-remaining"] for r in _rate_limited(c, 2)}) == 1,
        {"rate_limit": (9, 60)},
    ),
    "rate-limit.exceeded": (lambda c: _rate_limited(c, 3)[-1].status_code == 200, {"rate_limit": (2, 60)}),
    "rate-limit.recovery": (lambda c: not _recovers(c), {"rate_limit": (2, 0.5)}),
    "auth.missing-credentials": (lambda c: c.get("/me").status_code == 200, {}),
    "auth.invalid-credentials": (lambda c: c.get("/me", headers=auth("made-up")).status_code == 200, {}),
    "auth.public-operations": (lambda c: c.get("/health").status_code == 401, {}),
    "auth.permissions": (
        lambda c: (
            c.patch(f"/orders/{create(c, api_key=LIMITED).json()['id']}", headers=auth(LIMITED), json={}).status_code
            == 200
        ),
        {},
    ),
}


def test_every_fault_is_a_rule_id_and_has_a_probe() -> None:
    assert set(goat.FAULTS) <= set(RULES)
    probed_elsewhere = {"idempotency.concurrent", "idempotency.replay-same-response", "transport.invalid-response"}
    assert set(goat.FAULTS) == set(FAULT_PROBES) | probed_elsewhere  # the real-server test, the test below


@pytest.mark.parametrize("fault", sorted(FAULT_PROBES))
def test_each_fault_breaks_the_rule_it_names(fault: str) -> None:
    probe, options = FAULT_PROBES[fault]
    assert not probe(make_client(**options)), "the clean sandbox already breaks the rule"
    assert probe(make_client(fault, **options)), f"{fault}: {goat.FAULTS[fault]}"


def test_the_spec_is_valid_and_its_examples_match_their_schemas() -> None:
    from conformance.speccheck import check_spec_file
    from conformance.specfiles import spec_path

    assert [str(problem) for problem in check_spec_file(spec_path("goat"))] == []


# --- conforming variations ---------------------------------------------------------------------


def make_varied(*variations: str, rate_limit: tuple[int, float] | None = None) -> TestClient:
    settings = SandboxSettings(rate_limit=rate_limit, variations=frozenset(variations))
    return TestClient(goat.create_app(settings), base_url="http://testserver/v1")


def _allowed_before_429(client: TestClient) -> int:
    """How many /me requests pass before the first 429 (at most 20)."""
    for count in range(20):
        if client.get("/me", headers=auth()).status_code == 429:
            return count
    return 20


def _patch_with_nulls_keeps_the_order(client: TestClient) -> bool:
    order = create(client).json()
    body = {"metadata": None, "customer": None, "notes": None}
    response = client.patch(f"/orders/{order['id']}", headers=auth(), json=body)
    return response.status_code == 200 and response.json()["updated_at"] == order["updated_at"]


VARIATION_PROBES: dict[str, Callable[[TestClient], bool]] = {
    # each probe returns True when the sandbox shows the variation (and False on the plain sandbox)
    "higher-rate-limit": lambda c: (
        _allowed_before_429(c) == 10 and c.get("/me", headers=auth()).headers.get("x-ratelimit-limit") == "10"
    ),
    "higher-rate-limit-no-headers": lambda c: (
        _allowed_before_429(c) == 10 and "x-ratelimit-limit" not in c.get("/me", headers=auth()).headers
    ),
    "json-charset": lambda c: c.get("/me", headers=auth()).headers["content-type"] == "application/json; charset=utf-8",
    "extra-fields": lambda c: (
        {"price", "currency", "object"} <= set(c.get("/products", headers=auth()).json()["data"][0])
    ),
    "extra-headers": lambda c: c.get("/health").headers.get("cache-control") == "no-store",
    "trailing-slash": lambda c: c.get("/products/", headers=auth()).status_code == 200,
    "limit-above-max-refused": lambda c: c.get("/products", headers=auth(), params={"limit": 150}).status_code == 400,
    "newest-first": lambda c: _walk_ids(c) == sorted(_walk_ids(c), reverse=True),
    "empty-category-as-absent": lambda c: (
        len(c.get("/products", headers=auth(), params={"category": "", "limit": 5}).json()["data"]) == 5
    ),
    "null-as-absent": _patch_with_nulls_keeps_the_order,
    "small-catalog": lambda c: len(_walk_ids(c)) == 40,
    "whole-decimal-limit": lambda c: (
        len(c.get("/products", headers=auth(), params={"limit": "10.0"}).json().get("data", [])) == 10
        and c.get("/products", headers=auth(), params={"limit": "2.5"}).status_code == 400
    ),
    "health-checks-a-sent-key": lambda c: (
        c.get("/health").status_code == 200 and c.get("/health", headers=auth("made-up")).status_code == 401
    ),
    "auth-before-routing": lambda c: (
        c.get("/nothing").status_code == 401 and c.get("/nothing", headers=auth()).status_code == 404
    ),
}
VARIATION_OPTIONS: dict[str, dict[str, Any]] = {
    "higher-rate-limit": {"rate_limit": (2, 60)},
    "higher-rate-limit-no-headers": {"rate_limit": (2, 60)},
}


test_every_variation_has_a_probe, test_each_variation_changes_the_sandbox = probe_tests(
    goat.VARIATIONS, VARIATION_PROBES, VARIATION_OPTIONS, make_varied
)


def test_newest_first_walks_every_product_once() -> None:
    ids = [item for page in walk(make_varied("newest-first"), limit=7) for item in page]
    assert ids == sorted(set(ids), reverse=True) and len(ids) == 300


def test_all_variations_together_still_answer_the_documented_basics() -> None:
    client = make_varied(*goat.VARIATIONS)
    assert create(client).status_code == 201
    assert client.get("/products/prod_ZZZZZZZZZZ", headers=auth()).status_code == 404
    assert client.get("/products", headers=auth(), params={"limit": 0}).status_code == 400


def test_new_faults_break_the_rules_they_name() -> None:
    """The faults without a probe above: a replay with another payment_id, a JSON body labelled text/html."""
    for client, broken in ((make_client(), False), (make_client("idempotency.replay-same-response"), True)):
        assert (create(client).json()["payment_id"] != create(client).json()["payment_id"]) is broken
    for client, broken in ((make_client(), False), (make_client("transport.invalid-response"), True)):
        content_type = client.get(f"/products/{EXAMPLE_PRODUCT}", headers=auth()).headers["content-type"]
        assert content_type.startswith("text/html") is broken
