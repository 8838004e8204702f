"""The gaming-goods sandbox: every operation against its spec, and every fault against its rule."""

from __future__ import annotations

import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from conformance.rules import RULES
from conformance.sandbox import gaming_goods
from conformance.sandbox.base import SandboxSettings
from conformance.sandbox.gaming_goods.tokens import DEMO_TOKEN, OTHER_USER, issue_token
from conformance.sandbox.runner import running_sandbox
from tests.conftest import assert_conforms
from tests.sandbox.switches import probe_tests

API = "gaming-goods"
BASE = gaming_goods.BASE_PATH
AUTH = {"Authorization": f"Bearer {DEMO_TOKEN}"}
OTHER_AUTH = {"Authorization": f"Bearer {issue_token(OTHER_USER)}"}
Response = Any  # an httpx response (TestClient's httpx flavour, or httpx's own)
UNKNOWN_UUID = "00000000-0000-4000-8000-000000000000"


def client(*faults: str, rate_limit: tuple[int, float] | None = None, db: str | None = None) -> TestClient:
    app = gaming_goods.create_app(SandboxSettings(db=db, rate_limit=rate_limit, faults=frozenset(faults)))
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture
def api() -> TestClient:
    return client()


def state(c: TestClient) -> Any:
    """Returns the sandbox app's state (its database and catalog)."""
    return cast(Starlette, c.app).state


def first_product(c: TestClient) -> dict[str, Any]:
    product: dict[str, Any] = c.get(f"{BASE}/products").json()["data"]["products"][0]
    return product


def order_body(c: TestClient, **extra: Any) -> dict[str, Any]:
    return {"items": [{"product_id": first_product(c)["id"], "quantity": 1}], "payment_method": "balance", **extra}


def create(c: TestClient, body: Any = None, *, key: str | None = None, auth: dict[str, str] = AUTH) -> Response:
    headers = dict(auth) | ({"Idempotency-Key": key} if key else {})
    return c.post(f"{BASE}/orders", json=order_body(c) if body is None else body, headers=headers)


def walk(c: TestClient, path: str, **query: Any) -> tuple[list[str], int]:
    """Returns every item id of a list walked page by page, and the total it reports."""
    ids: list[str] = []
    page = 1
    while True:
        body = c.get(f"{BASE}{path}", params={**query, "page": page}).json()["data"]
        ids += [item["id"] for item in body["products"]]
        if not body["products"]:
            return ids, body["total"]
        page += 1


def substitute(value: Any, names: dict[str, str]) -> Any:
    """Returns `value` with every string equal to a key of `names` replaced by its value."""
    if isinstance(value, dict):
        return {key: substitute(item, names) for key, item in value.items()}
    if isinstance(value, list):
        return [substitute(item, names) for item in value]
    return names.get(value, value) if isinstance(value, str) else value


def seeded_orders(status: str) -> list[str]:
    """Returns the ids of the demo user's seeded orders in `status`."""
    rows = state(client()).db.all("SELECT id FROM orders WHERE status = ? AND user_id != ?", (status, OTHER_USER))
    return [row["id"] for row in rows]


def assert_error(response: Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error: dict[str, Any] = response.json()["error"]
    assert isinstance(error["message"], str) and error["message"]
    if code is not None:
        assert error["code"] == code
    return error


# --- catalog ---------------------------------------------------------------------------------


def test_list_products_defaults_to_twenty_and_echoes_the_page(api: TestClient) -> None:
    response = api.get(f"{BASE}/products")
    assert_conforms(API, "/products", "GET", response)
    body = response.json()["data"]
    assert (len(body["products"]), body["page"], body["page_size"]) == (20, 1, 20)
    assert body["total"] >= 250
    assert all(isinstance(p["price"], float | int) for p in body["products"])  # decimal euros


def test_list_products_walk_returns_every_product_once(api: TestClient) -> None:
    ids, total = walk(api, "/products", page_size=100)
    assert len(ids) == len(set(ids)) == total
    assert ids == walk(api, "/products", page_size=100)[0]  # stable order


def test_list_products_filters_by_category_and_brand(api: TestClient) -> None:
    categories = {c["name"]: c["product_count"] for c in api.get(f"{BASE}/categories").json()["data"]}
    response = api.get(f"{BASE}/products", params={"category": "Steam", "page_size": 100})
    assert_conforms(API, "/products", "GET", response)
    body = response.json()["data"]
    assert body["total"] == categories["Steam"]
    assert {p["category"] for p in body["products"]} == {"Steam"}
    body = api.get(f"{BASE}/products", params={"brand": "CD Projekt", "category": "Xbox"}).json()["data"]
    assert body["total"] >= 1 and {(p["brand"], p["category"]) for p in body["products"]} == {("CD Projekt", "Xbox")}


def test_unknown_filter_and_page_past_the_end_are_empty_pages(api: TestClient) -> None:
    for params in ({"category": "Atari 2600"}, {"brand": "Nobody"}, {"page": 999}):
        response = api.get(f"{BASE}/products", params=params)
        assert_conforms(API, "/products", "GET", response)
        assert response.json()["data"]["products"] == []


@pytest.mark.parametrize(
    "params",
    [
        {"page": "0"},
        {"page": "-1"},
        {"page": "abc"},
        {"page": ""},
        {"page": "1.5"},
        {"page_size": "0"},
        {"page_size": "-1"},
        {"page_size": "abc"},
        {"page_size": "101"},
    ],
    ids=lambda p: "&".join(f"{k}={v}" for k, v in p.items()),
)
def test_bad_page_parameters_answer_400(api: TestClient, params: dict[str, str]) -> None:
    for path in ("/products", "/search"):
        response = api.get(f"{BASE}{path}", params={"q": "a", **params})
        assert_conforms(API, path, "GET", response)
        error = assert_error(response, 400, "invalid_request")
        if "page" in params:
            assert error["message"] == "Parameter 'page' must be a positive integer"  # the seed's example


def test_get_product_by_slug_adds_description_and_meta(api: TestClient) -> None:
    listed = first_product(api)
    response = api.get(f"{BASE}/products/{listed['slug']}")
    assert_conforms(API, "/products/{slug}", "GET", response)
    detail = response.json()["data"]
    assert {k: detail[k] for k in listed} == listed
    assert detail["description"] and detail["meta"]["activation_details"]
    assert api.head(f"{BASE}/products/{listed['slug']}").status_code == 200


def test_get_product_unknown_slug_is_404(api: TestClient) -> None:
    response = api.get(f"{BASE}/products/no-such-product-slug-0000")
    assert_conforms(API, "/products/{slug}", "GET", response)
    assert_error(response, 404, "not_found")


def test_search_finds_products_by_text(api: TestClient) -> None:
    response = api.get(f"{BASE}/search", params={"q": "Cyberpunk steam"})
    assert_conforms(API, "/search", "GET", response)
    body = response.json()["data"]
    assert body["total"] >= 1 and body["products"][0]["slug"] == "cyberpunk-2077-steam-key"
    assert set(body["products"][0]) == {"id", "name", "slug", "price", "stock_quantity", "is_active"}
    assert api.get(f"{BASE}/search", params={"q": "zzzz-nothing"}).json()["data"]["total"] == 0


def test_search_for_the_profile_term_spans_several_pages(api: TestClient) -> None:
    ids, total = walk(api, "/search", q="a", page_size=100)
    assert total > 200 and len(ids) == len(set(ids)) == total


@pytest.mark.parametrize("params", [{}, {"q": ""}, {"q": "   "}], ids=["missing", "empty", "blank"])
def test_search_without_a_non_blank_q_is_400(api: TestClient, params: dict[str, str]) -> None:
    response = api.get(f"{BASE}/search", params=params)
    assert_conforms(API, "/search", "GET", response)
    assert_error(response, 400, "invalid_request")


@pytest.mark.parametrize(("path", "key"), [("/categories", "category"), ("/brands", "brand")])
def test_counts_add_up_to_the_catalog(api: TestClient, path: str, key: str) -> None:
    response = api.get(f"{BASE}{path}")
    assert_conforms(API, path, "GET", response)
    counts = response.json()["data"]
    total = api.get(f"{BASE}/products").json()["data"]["total"]
    assert len(counts) >= 4 and sum(c["product_count"] for c in counts) == total
    for item in counts[:3]:
        listed = api.get(f"{BASE}/products", params={key: item["name"]}).json()["data"]["total"]
        assert listed == item["product_count"]


@pytest.mark.parametrize("headers", [{}, AUTH, {"Authorization": "Bearer not-a-jwt"}, {"Authorization": "Basic x"}])
def test_public_operations_ignore_authorization(api: TestClient, headers: dict[str, str]) -> None:
    slug = first_product(api)["slug"]
    paths = {"/products": "/products", f"/products/{slug}": "/products/{slug}", "/search?q=a": "/search"}
    for path, template in (paths | {"/categories": "/categories", "/brands": "/brands"}).items():
        response = api.get(f"{BASE}{path}", headers=headers)
        assert response.status_code == 200, (path, headers)
        assert_conforms(API, template, "GET", response)


# --- orders ----------------------------------------------------------------------------------


def test_create_order_is_pending_payment_with_cent_prices(api: TestClient) -> None:
    product = first_product(api)
    response = create(api, {"items": [{"product_id": product["id"], "quantity": 3}], "payment_method": "card"})
    assert_conforms(API, "/orders", "POST", response)
    assert response.status_code == 201
    order = response.json()["data"]
    assert order["status"] == "pending_payment" and order["currency"] == "EUR"
    assert order["items"] == [
        {
            "product_id": product["id"],
            "product_name": product["name"],
            "price": round(product["price"] * 100),
            "quantity": 3,
        }
    ]
    assert order["total"] == round(product["price"] * 100) * 3
    assert order["payment_url"].startswith("https://") and "completed_at" not in order
    read = api.get(f"{BASE}/orders/{order['id']}", headers=AUTH)
    assert_conforms(API, "/orders/{order_id}", "GET", read)
    assert read.json()["data"] == order


@pytest.mark.parametrize(("promo", "percent"), [("SALE10", 10), ("sale10", 10), ("NOPE", 0), (None, 0)], ids=str)
def test_promo_code_sale10_takes_ten_percent_rounded_down(api: TestClient, promo: str | None, percent: int) -> None:
    products = api.get(f"{BASE}/products", params={"page_size": 5}).json()["data"]["products"]
    items = [{"product_id": p["id"], "quantity": n} for n, p in enumerate(products[:3], start=1)]
    body: dict[str, Any] = {"items": items, "payment_method": "balance"}
    if promo is not None:
        body["promo_code"] = promo
    order = create(api, body).json()["data"]
    subtotal = sum(line["price"] * line["quantity"] for line in order["items"])
    assert order["total"] == subtotal * (100 - percent) // 100


def test_sale10_matches_the_seed_example() -> None:
    # the seed: one item at 1999 cents with SALE10 gives a total of 1799
    assert 1999 * 90 // 100 == 1799


@pytest.mark.parametrize(
    "body",
    [
        [],
        "order",
        {},
        {"items": [], "payment_method": "balance"},
        {"items": "x", "payment_method": "balance"},
        {"items": [{"product_id": UNKNOWN_UUID, "quantity": 1}], "payment_method": "balance"},
        {"items": [{"product_id": "not-a-uuid", "quantity": 1}], "payment_method": "balance"},
        {"items": [{"quantity": 1}], "payment_method": "balance"},
        {"items": [{"product_id": "{id}", "quantity": 0}], "payment_method": "balance"},
        {"items": [{"product_id": "{id}", "quantity": 101}], "payment_method": "balance"},
        {"items": [{"product_id": "{id}", "quantity": "1"}], "payment_method": "balance"},
        {"items": [{"product_id": "{id}", "quantity": True}], "payment_method": "balance"},
        {"items": [{"product_id": "{id}", "quantity": 1}] * 101, "payment_method": "balance"},
        {"items": [{"product_id": "{id}", "quantity": 1}]},
        {"items": [{"product_id": "{id}", "quantity": 1}], "payment_method": "bitcoin"},
        {"items": [{"product_id": "{id}", "quantity": 1}], "payment_method": "balance", "promo_code": 10},
        {"items": [{"product_id": "{inactive}", "quantity": 1}], "payment_method": "balance"},
    ],
    ids=lambda body: str(body)[:60],
)
def test_create_order_refuses_invalid_bodies_with_400(api: TestClient, body: Any) -> None:
    inactive = next(p for p in state(api).catalog if not p.is_active).id
    names = {"{id}": first_product(api)["id"], "{inactive}": inactive}
    before = state(api).db.scalar("SELECT COUNT(*) FROM orders")
    response = api.post(f"{BASE}/orders", json=substitute(body, names), headers=AUTH)
    assert_conforms(API, "/orders", "POST", response)
    assert_error(response, 400, "invalid_request")
    assert state(api).db.scalar("SELECT COUNT(*) FROM orders") == before


@pytest.mark.parametrize("payload", [b"{not json", b"", b"\xff\xfe"], ids=["broken", "empty", "binary"])
def test_create_order_with_a_body_that_is_not_json_is_400(api: TestClient, payload: bytes) -> None:
    response = api.post(f"{BASE}/orders", content=payload, headers=AUTH | {"Content-Type": "application/json"})
    assert_conforms(API, "/orders", "POST", response)
    assert_error(response, 400, "invalid_request")


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer not-a-jwt"},
        {"Authorization": f"Bearer {DEMO_TOKEN[:-2]}xx"},
        {"Authorization": f"Token {DEMO_TOKEN}"},
        {"Authorization": f"Bearer {issue_token(OTHER_USER, exp=1_000_000_000)}"},
    ],
    ids=["missing", "empty", "garbage", "bad-signature", "wrong-scheme", "expired"],
)
def test_orders_refuse_missing_or_invalid_tokens_with_401(api: TestClient, headers: dict[str, str]) -> None:
    order_id = seeded_orders("completed")[0]
    for response, template in [
        (api.post(f"{BASE}/orders", content=b"{not json", headers=headers), "/orders"),  # credentials first
        (api.post(f"{BASE}/orders", json=order_body(api), headers=headers), "/orders"),
        (api.get(f"{BASE}/orders/{order_id}", headers=headers), "/orders/{order_id}"),
        (api.get(f"{BASE}/orders/not-a-uuid", headers=headers), "/orders/{order_id}"),
    ]:
        assert_conforms(API, template, response.request.method, response)
        assert_error(response, 401, "unauthorized")


def test_seeded_orders_show_keys_only_once_completed(api: TestClient) -> None:
    seen = set()
    for status in ("completed", "paid", "pending_payment", "cancelled"):
        for order_id in seeded_orders(status):
            response = api.get(f"{BASE}/orders/{order_id}", headers=AUTH)
            assert_conforms(API, "/orders/{order_id}", "GET", response)
            order = response.json()["data"]
            seen.add(order["status"])
            has_keys = [len(item.get("keys", [])) == item["quantity"] for item in order["items"]]
            assert all(has_keys) if status == "completed" else not any("keys" in i for i in order["items"])
            assert ("completed_at" in order) == (status == "completed")
            assert ("payment_url" in order) == (status == "pending_payment")
    assert seen == {"completed", "paid", "pending_payment", "cancelled"}


@pytest.mark.parametrize(
    "order_id", [UNKNOWN_UUID, "not-a-uuid", "{other}"], ids=["unknown", "malformed", "other-user"]
)
def test_get_order_not_found(api: TestClient, order_id: str) -> None:
    if order_id == "{other}":
        order_id = create(api, auth=OTHER_AUTH).json()["data"]["id"]
        assert api.get(f"{BASE}/orders/{order_id}", headers=OTHER_AUTH).status_code == 200
    response = api.get(f"{BASE}/orders/{order_id}", headers=AUTH)
    assert_conforms(API, "/orders/{order_id}", "GET", response)
    assert_error(response, 404, "not_found")


# --- idempotency -----------------------------------------------------------------------------


def test_idempotency_key_replays_the_same_order(api: TestClient) -> None:
    first, again = create(api, key="k-1"), create(api, key="k-1")
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert create(api).json()["data"]["id"] != create(api).json()["data"]["id"]  # no key: two orders


def test_idempotency_key_with_another_body_is_409_and_creates_nothing(api: TestClient) -> None:
    create(api, key="k-2")
    before = state(api).db.scalar("SELECT COUNT(*) FROM orders")
    response = create(api, order_body(api, promo_code="SALE10"), key="k-2")
    assert_conforms(API, "/orders", "POST", response)
    assert_error(response, 409, "idempotency_conflict")
    assert state(api).db.scalar("SELECT COUNT(*) FROM orders") == before


def test_idempotency_keys_are_scoped_per_user(api: TestClient) -> None:
    mine, theirs = create(api, key="shared"), create(api, key="shared", auth=OTHER_AUTH)
    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["data"]["id"] != theirs.json()["data"]["id"]


def concurrent_creates(sandbox: Any, n: int = 24) -> list[Response]:
    """Sends `n` POST /orders with one Idempotency-Key at once to a running sandbox."""
    headers = {"Authorization": f"Bearer {sandbox.keys['full']}", "Idempotency-Key": "parallel-1"}
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
    with httpx.Client(base_url=sandbox.base_url, timeout=10, limits=limits) as http:
        product_id = http.get("/products").json()["data"]["products"][0]["id"]
        body = {"items": [{"product_id": product_id, "quantity": 1}], "payment_method": "balance"}
        start = threading.Barrier(n)

        def post(_: int) -> Response:
            start.wait()
            return http.post("/orders", json=body, headers=headers)

        with ThreadPoolExecutor(max_workers=n) as pool:
            return list(pool.map(post, range(n)))


def created_orders(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM orders WHERE seeded = 0").fetchone()[0])


def test_concurrent_requests_with_one_key_create_one_order(sandbox_factory: Any, tmp_path: Path) -> None:
    db = tmp_path / "gg.db"
    responses = concurrent_creates(sandbox_factory(API, db=str(db)))
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["data"]["id"] for r in responses}) == 1
    assert created_orders(db) == 1


# --- persistence, rate limits, routing -------------------------------------------------------


def test_orders_and_idempotency_keys_survive_a_restart(tmp_path: Path) -> None:
    db = str(tmp_path / "gg.db")
    first = client(db=db)
    order = create(first, key="restart").json()["data"]
    products = state(first).db.scalar("SELECT COUNT(*) FROM products")
    state(first).db.close()
    second = client(db=db)
    assert second.get(f"{BASE}/orders/{order['id']}", headers=AUTH).json()["data"] == order
    assert create(second, key="restart").json()["data"]["id"] == order["id"]
    assert state(second).db.scalar("SELECT COUNT(*) FROM products") == products  # seeded once


def test_rate_limit_headers_count_down_then_429(api: TestClient) -> None:
    limited = client(rate_limit=(3, 60))
    remaining = []
    for path in ("/products", "/orders/not-a-uuid", "/nope"):  # public, private and unknown all count
        response = limited.get(f"{BASE}{path}", headers=AUTH)
        assert response.headers["X-RateLimit-Limit"] == "3"
        assert int(response.headers["X-RateLimit-Reset"]) >= time.time()
        remaining.append(int(response.headers["X-RateLimit-Remaining"]))
    assert remaining == [2, 1, 0]
    response = limited.get(f"{BASE}/categories")
    assert_conforms(API, "/categories", "GET", response)
    assert_error(response, 429, "rate_limit_exceeded")
    assert int(response.headers["Retry-After"]) >= 1
    other = TestClient(limited.app, client=("10.0.0.2", 50000))  # the limit is per client address
    assert other.get(f"{BASE}/categories").status_code == 200
    assert api.get(f"{BASE}/brands").headers["X-RateLimit-Limit"] == str(gaming_goods.DEFAULT_RATE_LIMIT[0])


def test_rate_limit_recovers_after_the_window() -> None:
    limited = client(rate_limit=(1, 0.3))
    assert limited.get(f"{BASE}/brands").status_code == 200
    assert limited.get(f"{BASE}/brands").status_code == 429
    time.sleep(0.35)
    assert limited.get(f"{BASE}/brands").status_code == 200


@pytest.mark.parametrize("url", [f"{BASE}/nope", f"{BASE}/products/", f"{BASE}/categories/", "/api/v2/products", "/"])
def test_unknown_routes_answer_404_envelope(api: TestClient, url: str) -> None:
    response = api.get(url, headers=AUTH, follow_redirects=False)  # a trailing slash is no 307
    assert_error(response, 404, "not_found")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/products"),
        ("DELETE", "/categories"),
        ("PUT", "/search"),
        ("DELETE", f"/orders/{UNKNOWN_UUID}"),
        ("GET", "/orders"),
    ],
)
def test_wrong_methods_answer_405_with_allow(api: TestClient, method: str, path: str) -> None:
    response = api.request(method, BASE + path, headers=AUTH)
    assert_error(response, 405, "method_not_allowed")
    allowed = {method.strip() for method in response.headers["Allow"].split(",")}
    assert allowed == ({"POST"} if path == "/orders" else {"GET", "HEAD"})


# --- faults ----------------------------------------------------------------------------------


def _rate(c: TestClient) -> list[str | None]:
    return [c.get(f"{BASE}/brands").headers.get("X-RateLimit-Remaining") for _ in range(2)]


Faults = tuple[str, ...]
FAULT_CHECKS: dict[str, Callable[[Faults], None]] = {}


def fault(name: str) -> Callable[[Callable[[Faults], None]], Callable[[Faults], None]]:
    """Registers the check that shows fault `name`: it passes with the fault on, fails without."""

    def register(check: Callable[[Faults], None]) -> Callable[[Faults], None]:
        FAULT_CHECKS[name] = check
        return check

    return register


@fault("schema.response-schema")
def _(faults: Faults) -> None:
    c = client(*faults)
    response = c.get(f"{BASE}/products/{first_product(c)['slug']}")
    assert isinstance(response.json()["data"]["price"], str)
    with pytest.raises(AssertionError):
        assert_conforms(API, "/products/{slug}", "GET", response)


@fault("schema.status-code")
def _(faults: Faults) -> None:
    assert create(client(*faults)).status_code == 200


@fault("schema.content-type")
def _(faults: Faults) -> None:
    assert client(*faults).get(f"{BASE}/categories").headers["content-type"].startswith("text/plain")


@fault("schema.server-error")
def _(faults: Faults) -> None:
    assert client(*faults).get(f"{BASE}/search", params={"q": "half-life: alyx"}).status_code == 500


@fault("schema.negative-data")
def _(faults: Faults) -> None:
    c = client(*faults)
    assert create(c, order_body(c) | {"payment_method": "bitcoin"}).status_code == 201


@fault("schema.positive-data")
def _(faults: Faults) -> None:
    assert client(*faults).get(f"{BASE}/products", params={"brand": "CD Projekt"}).status_code == 400


@fault("schema.stateful")
def _(faults: Faults) -> None:
    c = client(*faults)
    order_id = create(c).json()["data"]["id"]
    assert c.get(f"{BASE}/orders/{order_id}", headers=AUTH).status_code == 404
    assert c.get(f"{BASE}/orders/{seeded_orders('paid')[0]}", headers=AUTH).status_code == 200


@fault("errors.envelope")
def _(faults: Faults) -> None:
    response = client(*faults).get(f"{BASE}/products/nope")
    assert response.status_code == 404 and "error" not in response.json()


@fault("errors.not-found")
def _(faults: Faults) -> None:
    assert client(*faults).get(f"{BASE}/orders/{UNKNOWN_UUID}", headers=AUTH).status_code == 400


@fault("errors.unknown-route")
def _(faults: Faults) -> None:
    assert client(*faults).get(f"{BASE}/nope").status_code == 200


@fault("errors.method-not-allowed")
def _(faults: Faults) -> None:
    response = client(*faults).post(f"{BASE}/products")
    assert response.status_code == 405 and "Allow" not in response.headers


@fault("errors.bad-parameter")
def _(faults: Faults) -> None:
    assert client(*faults).get(f"{BASE}/search").status_code == 200


@fault("errors.bad-body")
def _(faults: Faults) -> None:
    assert client(*faults).post(f"{BASE}/orders", content=b"{not json", headers=AUTH).status_code == 422


@fault("errors.code-convention")
def _(faults: Faults) -> None:
    assert client(*faults).get(f"{BASE}/products", params={"page": 0}).json()["error"]["code"] == "INVALID_REQUEST"


@fault("pagination.no-duplicates")
def _(faults: Faults) -> None:
    ids, _ = walk(client(*faults), "/products", page_size=100)
    assert len(ids) > len(set(ids))


@fault("pagination.complete")
def _(faults: Faults) -> None:
    ids, total = walk(client(*faults), "/search", q="a", page_size=100)
    assert len(ids) == len(set(ids)) < total


@fault("pagination.default-limit")
def _(faults: Faults) -> None:
    assert len(client(*faults).get(f"{BASE}/products").json()["data"]["products"]) == 10


@fault("pagination.max-limit")
def _(faults: Faults) -> None:
    response = client(*faults).get(f"{BASE}/products", params={"page_size": 150})
    assert response.status_code == 200 and len(response.json()["data"]["products"]) == 150


@fault("pagination.invalid-limit")
def _(faults: Faults) -> None:
    assert client(*faults).get(f"{BASE}/products", params={"page_size": 0}).status_code == 200


@fault("pagination.totals")
def _(faults: Faults) -> None:
    c = client(*faults)
    totals = [c.get(f"{BASE}/products", params={"page": n}).json()["data"]["total"] for n in (1, 2)]
    assert totals[1] == totals[0] + 1


@fault("pagination.last-page")
def _(faults: Faults) -> None:
    assert client(*faults).get(f"{BASE}/products", params={"page": 999}).json()["data"]["products"]


@fault("pagination.stable-order")
def _(faults: Faults) -> None:
    c = client(*faults)
    orders = {tuple(p["id"] for p in c.get(f"{BASE}/products").json()["data"]["products"]) for _ in range(3)}
    assert len(orders) > 1


@fault("idempotency.replay-same-resource")
def _(faults: Faults) -> None:
    c = client(*faults)
    assert create(c, key="r").json()["data"]["id"] != create(c, key="r").json()["data"]["id"]


@fault("idempotency.conflict")
def _(faults: Faults) -> None:
    c = client(*faults)
    first = create(c, key="c").json()["data"]["id"]
    response = create(c, order_body(c, promo_code="SALE10"), key="c")
    assert response.status_code == 201 and response.json()["data"]["id"] == first


@fault("idempotency.concurrent")
def _(faults: Faults) -> None:
    with tempfile.TemporaryDirectory() as tmp, running_sandbox(API, faults=faults, db=f"{tmp}/gg.db") as sandbox:
        concurrent_creates(sandbox, n=8)
        assert created_orders(Path(tmp) / "gg.db") > 1


@fault("rate-limit.headers")
def _(faults: Faults) -> None:
    assert _rate(client(*faults)) == [None, None]


@fault("rate-limit.consistent")
def _(faults: Faults) -> None:
    first, second = _rate(client(*faults))
    assert first == second is not None


@fault("rate-limit.exceeded")
def _(faults: Faults) -> None:
    c = client(*faults, rate_limit=(1, 60))
    assert [c.get(f"{BASE}/brands").status_code for _ in range(3)] == [200, 200, 200]


@fault("rate-limit.recovery")
def _(faults: Faults) -> None:
    c = client(*faults, rate_limit=(1, 0.3))
    assert [c.get(f"{BASE}/brands").status_code for _ in range(2)] == [200, 429]
    time.sleep(0.35)
    assert c.get(f"{BASE}/brands").status_code == 429


@fault("auth.missing-credentials")
def _(faults: Faults) -> None:
    assert create(client(*faults), auth={}).status_code == 201


@fault("auth.invalid-credentials")
def _(faults: Faults) -> None:
    assert create(client(*faults), auth={"Authorization": "Bearer not-a-jwt"}).status_code == 201


@fault("auth.public-operations")
def _(faults: Faults) -> None:
    assert client(*faults).get(f"{BASE}/brands").status_code == 401


def test_every_fault_is_a_rule_and_has_a_check() -> None:
    assert set(gaming_goods.FAULTS) <= set(RULES)
    assert set(FAULT_CHECKS) == set(gaming_goods.FAULTS)


@pytest.mark.parametrize("name", sorted(FAULT_CHECKS))
def test_fault_changes_the_behaviour_it_names(name: str) -> None:
    FAULT_CHECKS[name]((name,))
    with pytest.raises(AssertionError):  # the healthy sandbox does not show it
        FAULT_CHECKS[name](())


# --- conforming variations ---------------------------------------------------------------------


def varied(*variations: str, rate_limit: tuple[int, float] | None = None) -> TestClient:
    app = gaming_goods.create_app(SandboxSettings(rate_limit=rate_limit, variations=frozenset(variations)))
    return TestClient(app, raise_server_exceptions=False)


def _allowed_before_429(c: TestClient) -> int:
    """How many /categories requests pass before the first 429 (at most 20)."""
    for count in range(20):
        if c.get(f"{BASE}/categories").status_code == 429:
            return count
    return 20


def _search_order(c: TestClient) -> list[str]:
    body = c.get(f"{BASE}/search", params={"q": "microsoft", "page_size": 100}).json()["data"]
    return [hit["slug"] for hit in body["products"]]


def _names(c: TestClient, path: str) -> list[str]:
    return [row["name"] for row in c.get(f"{BASE}{path}").json()["data"]]


def _catalog_order(c: TestClient) -> list[str]:
    return [p.slug for p in state(c).catalog]


VARIATION_PROBES: dict[str, Callable[[TestClient], bool]] = {
    # each probe returns True when the sandbox shows the variation (and False on the plain sandbox)
    "higher-rate-limit": lambda c: (
        _allowed_before_429(c) == 10 and c.get(f"{BASE}/brands").headers.get("x-ratelimit-limit") == "10"
    ),
    "json-charset": lambda c: c.get(f"{BASE}/brands").headers["content-type"] == "application/json; charset=utf-8",
    "extra-fields": lambda c: (
        "brand" in c.get(f"{BASE}/search", params={"q": "the"}).json()["data"]["products"][0]
        and "slug" in c.get(f"{BASE}/categories").json()["data"][0]
    ),
    "extra-headers": lambda c: c.get(f"{BASE}/brands").headers.get("cache-control") == "no-store",
    "trailing-slash": lambda c: c.get(f"{BASE}/products/").status_code == 200,
    "page-size-clamped": lambda c: c.get(f"{BASE}/products", params={"page_size": 150}).status_code == 200,
    "empty-paging-as-absent": lambda c: (
        c.get(f"{BASE}/products", params={"page": "", "page_size": ""}).status_code == 200
    ),
    "search-catalog-order": lambda c: (
        _search_order(c) == [slug for slug in _catalog_order(c) if slug in set(_search_order(c))]
    ),
    "empty-category": lambda c: (
        {"name": "Epic Games", "product_count": 0} in c.get(f"{BASE}/categories").json()["data"]
        and c.get(f"{BASE}/products", params={"category": "Epic Games"}).json()["data"]["total"] == 0
    ),
    "malformed-order-id-400": lambda c: c.get(f"{BASE}/orders/not-a-uuid", headers=AUTH).status_code == 400,
    "alphabetical-lists": lambda c: _names(c, "/brands") == sorted(_names(c, "/brands")),
    "case-sensitive-filters": lambda c: (
        c.get(f"{BASE}/products", params={"category": "steam"}).json()["data"]["total"] == 0
        and c.get(f"{BASE}/products", params={"category": "Steam"}).json()["data"]["total"] > 0
    ),
    "invalid-token-403": lambda c: (
        c.post(f"{BASE}/orders", json={}, headers={"Authorization": "Bearer not-a-jwt"}).status_code == 403
        and c.post(f"{BASE}/orders", json={}).status_code == 401
    ),
    "foreign-order-403": lambda c: (
        c.get(f"{BASE}/orders/{create(c, auth=OTHER_AUTH).json()['data']['id']}", headers=AUTH).status_code == 403
    ),
}
VARIATION_OPTIONS: dict[str, dict[str, Any]] = {"higher-rate-limit": {"rate_limit": (2, 60)}}


test_every_variation_has_a_probe, test_each_variation_changes_the_sandbox = probe_tests(
    gaming_goods.VARIATIONS, VARIATION_PROBES, VARIATION_OPTIONS, varied
)


def test_all_variations_together_still_answer_the_documented_basics() -> None:
    c = varied(*gaming_goods.VARIATIONS)
    assert create(c).status_code == 201
    assert c.get(f"{BASE}/orders/{UNKNOWN_UUID}", headers=AUTH).status_code == 404
    assert c.get(f"{BASE}/products", params={"page": 0}).status_code == 400


def test_a_clamped_page_size_is_echoed_as_100() -> None:
    body = varied("page-size-clamped").get(f"{BASE}/products", params={"page_size": 150}).json()["data"]
    assert body["page_size"] == 100 and len(body["products"]) == 100


@fault("errors.business-rule")
def _(faults: Faults) -> None:
    c = client(*faults)
    assert (
        create(c, {"items": [{"product_id": UNKNOWN_UUID, "quantity": 1}], "payment_method": "card"}).status_code == 201
    )


@fault("idempotency.replay-same-response")
def _(faults: Faults) -> None:
    c = client(*faults)
    first, second = create(c, key="replay-1").json()["data"], create(c, key="replay-1").json()["data"]
    assert first["id"] == second["id"] and first["payment_url"] != second["payment_url"]
