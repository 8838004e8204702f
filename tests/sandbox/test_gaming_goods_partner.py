"""The gaming-goods-partner sandbox: every operation, its errors, persistence, limits and faults."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote

import pytest
import requests
from starlette.testclient import TestClient

import conformance.sandbox.gaming_goods_partner as partner
from conformance.profile import load_profile, resolve_pointer
from conformance.rules import RULES
from conformance.sandbox.base import SandboxSettings
from conformance.target import fill_variables
from tests.conftest import assert_conforms
from tests.sandbox.switches import probe_tests

API = "gaming-goods-partner"
KEY = partner.KEYS["full"]
BASE = partner.BASE_PATH
UNKNOWN_UUID = "00000000-0000-4000-8000-000000000000"
RATE_HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset")


def make_client(
    *faults: str, rate_limit: tuple[int, float] | None = None, db: str | None = None, key: str | None = KEY
) -> TestClient:
    settings = SandboxSettings(db=db, rate_limit=rate_limit, faults=frozenset(faults))
    headers = {"X-API-Key": key} if key is not None else {}
    return TestClient(partner.create_app(settings), headers=headers, raise_server_exceptions=False)


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    test_client = make_client()
    yield test_client
    test_client.app.state.db.close()  # type: ignore[attr-defined]


def conforms(path: str, method: str, response: Any, status: int | None = None) -> None:
    """The response has `status`, is documented and valid, and carries the rate-limit headers."""
    if status is not None:
        assert response.status_code == status, response.text
    assert_conforms(API, path, method, response)
    assert all(name in response.headers for name in RATE_HEADERS), dict(response.headers)


def assert_envelope(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert set(error) >= {"code", "message"} and error["message"]
    if code is not None:
        assert error["code"] == code
    return dict(error)


def first_product(client: TestClient) -> dict[str, Any]:
    item: dict[str, Any] = client.get(f"{BASE}/products").json()["items"][0]
    return item


def checkout_body(product_id: str, quantity: int = 1) -> dict[str, Any]:
    return {"source": "lines", "lines": [{"product_id": product_id, "quantity": quantity}]}


def walk(client: TestClient, path: str, limit: int = 100, id_key: str = "id") -> tuple[list[Any], int]:
    """Returns every item id of a list, walked page by page, and the reported total."""
    ids: list[Any] = []
    offset, total = 0, None
    while total is None or offset < total:
        body = client.get(path, params={"limit": limit, "offset": offset}).json()
        total = body["total"]
        if not body["items"]:
            break
        ids += [item[id_key] for item in body["items"]]
        offset += limit
    return ids, int(total)


# --- catalog ------------------------------------------------------------------------------


def test_list_brands_pages_through_every_brand_with_a_product_count(client: TestClient) -> None:
    response = client.get(f"{BASE}/brands")
    conforms("/brands", "GET", response, 200)
    body = response.json()
    assert (body["limit"], body["offset"], len(body["items"])) == (20, 0, 20)
    assert body["items"][0]["brand"] == "Steam"
    brands, total = walk(client, f"{BASE}/brands", id_key="brand")
    assert len(brands) == len(set(brands)) == total >= 201  # several pages even at limit 100


def test_list_brand_categories_counts_add_up_to_the_brand_count(client: TestClient) -> None:
    brand = client.get(f"{BASE}/brands").json()["items"][3]
    response = client.get(f"{BASE}/brands/{brand['brand']}/categories")
    conforms("/brands/{brand}/categories", "GET", response, 200)
    body = response.json()
    assert body["brand"] == brand["brand"]
    assert sum(c["product_count"] for c in body["categories"]) == brand["product_count"]


def test_list_brand_categories_accepts_an_encoded_brand_with_spaces(client: TestClient) -> None:
    response = client.get(f"{BASE}/brands/CD%20Projekt/categories")
    conforms("/brands/{brand}/categories", "GET", response, 200)
    assert response.json()["brand"] == "CD Projekt"


def test_list_brand_categories_of_an_unknown_brand_is_404(client: TestClient) -> None:
    response = client.get(f"{BASE}/brands/No Such Brand/categories")
    conforms("/brands/{brand}/categories", "GET", response, 404)
    assert_envelope(response, 404, "not_found")


def test_list_products_walks_the_whole_catalog_without_repeats(client: TestClient) -> None:
    response = client.get(f"{BASE}/products")
    conforms("/products", "GET", response, 200)
    assert len(response.json()["items"]) == 20
    ids, total = walk(client, f"{BASE}/products")
    assert len(ids) == len(set(ids)) == total >= 250
    assert walk(client, f"{BASE}/products")[0] == ids  # a second walk gives the same order


def test_list_products_filters_by_brand_and_category(client: TestClient) -> None:
    response = client.get(f"{BASE}/products", params={"brand": "Steam", "category": "Game Keys", "limit": 100})
    conforms("/products", "GET", response, 200)
    items = response.json()["items"]
    assert items and all(i["brand"] == "Steam" and i["category"] == "Game Keys" for i in items)
    empty = client.get(f"{BASE}/products", params={"brand": "No Such Brand"})
    conforms("/products", "GET", empty, 200)
    assert empty.json()["items"] == [] and empty.json()["total"] == 0


@pytest.mark.parametrize("path", ["/brands", "/products", "/orders"])
@pytest.mark.parametrize(
    "query", [{"limit": "0"}, {"limit": "-1"}, {"limit": "abc"}, {"limit": "1.5"}, {"offset": "-1"}, {"offset": "abc"}]
)
def test_lists_refuse_invalid_page_parameters_with_400(client: TestClient, path: str, query: dict[str, str]) -> None:
    response = client.get(BASE + path, params=query)
    conforms(path, "GET", response, 400)
    assert_envelope(response, 400, "invalid_request")


@pytest.mark.parametrize("path", ["/brands", "/products", "/orders"])
def test_lists_refuse_a_limit_above_100_and_serve_100(client: TestClient, path: str) -> None:
    for limit in ("101", "9" * 40):
        response = client.get(BASE + path, params={"limit": limit})
        conforms(path, "GET", response, 400)
        assert_envelope(response, 400, "invalid_request")
    response = client.get(BASE + path, params={"limit": "100"})
    conforms(path, "GET", response, 200)
    assert response.json()["limit"] == 100 and len(response.json()["items"]) == 100


@pytest.mark.parametrize("offset", ["100000", "9" * 40])
def test_a_page_past_the_end_is_empty(client: TestClient, offset: str) -> None:
    response = client.get(f"{BASE}/products", params={"offset": offset})
    conforms("/products", "GET", response, 200)
    assert response.json()["items"] == [] and response.json()["offset"] == int(offset)


def test_get_product_shows_the_detail_fields(client: TestClient) -> None:
    product = first_product(client)
    response = client.get(f"{BASE}/products/{product['id']}")
    conforms("/products/{product_id}", "GET", response, 200)
    detail = response.json()
    assert {**detail, "description": None, "specifications": None} == {
        **product,
        "description": None,
        "specifications": None,
    }
    assert detail["specifications"] and isinstance(detail["price"], int)
    upper = client.get(f"{BASE}/products/{product['id'].upper()}")
    assert upper.status_code == 200 and upper.json()["id"] == product["id"]


@pytest.mark.parametrize(("product_id", "status"), [(UNKNOWN_UUID, 404), ("not-a-uuid", 400), ("1234", 400)])
def test_get_product_refuses_unknown_and_malformed_ids(client: TestClient, product_id: str, status: int) -> None:
    response = client.get(f"{BASE}/products/{product_id}")
    conforms("/products/{product_id}", "GET", response, status)
    assert_envelope(response, status)


# --- checkout and orders ------------------------------------------------------------------


def test_checkout_creates_one_order_readable_back_without_codes(client: TestClient) -> None:
    product = first_product(client)
    before = client.get(f"{BASE}/orders").json()["total"]
    response = client.post(f"{BASE}/checkout", json=checkout_body(product["id"], 2))
    conforms("/checkout", "POST", response, 201)
    (order,) = response.json()["orders"]
    assert (order["status"], order["total"], order["currency"]) == ("created", 2 * product["price"], "EUR")
    detail = client.get(f"{BASE}/orders/{order['id']}")
    conforms("/orders/{order_id}", "GET", detail, 200)
    body = detail.json()
    assert body["status"] == "created" and body["delivery"]["codes"] == []
    assert body["items"] == [
        {"product_id": product["id"], "title": product["title"], "unit_price": product["price"], "quantity": 2}
    ]
    assert body["amounts"]["buyer_total"] == order["total"]
    assert client.get(f"{BASE}/orders").json()["total"] == before + 1


def test_checkout_puts_several_lines_into_one_order(client: TestClient) -> None:
    products = [p for p in client.get(f"{BASE}/products").json()["items"] if p["is_available"]][:3]
    lines = [{"product_id": p["id"], "quantity": 1} for p in products]
    response = client.post(f"{BASE}/checkout", json={"source": "lines", "lines": lines})
    conforms("/checkout", "POST", response, 201)
    (order,) = response.json()["orders"]
    assert order["total"] == sum(p["price"] for p in products)
    assert len(client.get(f"{BASE}/orders/{order['id']}").json()["items"]) == 3


def unavailable_product(client: TestClient) -> dict[str, Any]:
    items = client.get(f"{BASE}/products", params={"limit": 100}).json()["items"]
    return next(p for p in items if not p["is_available"])


@pytest.mark.parametrize(
    ("body", "code"),
    [
        pytest.param({"source": "cart"}, "cart_empty", id="cart-is-empty"),
        pytest.param({}, "invalid_request", id="no-source"),
        pytest.param({"source": "wishlist"}, "invalid_request", id="unknown-source"),
        pytest.param({"source": "lines"}, "invalid_request", id="no-lines"),
        pytest.param({"source": "lines", "lines": []}, "invalid_request", id="empty-lines"),
        pytest.param({"source": "lines", "lines": ["x"]}, "invalid_request", id="line-not-object"),
        pytest.param(checkout_body("not-a-uuid"), "invalid_request", id="malformed-product-id"),
        pytest.param(checkout_body(UNKNOWN_UUID), "invalid_request", id="unknown-product"),
        pytest.param(checkout_body("FIRST", 0), "invalid_request", id="quantity-zero"),
        pytest.param(checkout_body("FIRST", -2), "invalid_request", id="quantity-negative"),
        pytest.param(checkout_body("FIRST", True), "invalid_request", id="quantity-boolean"),
        pytest.param(checkout_body("FIRST", 13), "insufficient_stock", id="quantity-beyond-stock"),
        pytest.param(checkout_body("UNAVAILABLE"), "product_unavailable", id="unavailable-product"),
        pytest.param([checkout_body("FIRST")], "invalid_request", id="body-not-object"),
    ],
)
def test_checkout_refuses_bad_bodies_with_400_and_creates_nothing(client: TestClient, body: Any, code: str) -> None:
    text = json.dumps(body)
    text = text.replace("FIRST", first_product(client)["id"])  # stock 12: the seed's Cyberpunk 2077 key
    text = text.replace("UNAVAILABLE", unavailable_product(client)["id"])
    before = client.get(f"{BASE}/orders").json()["total"]
    response = client.post(f"{BASE}/checkout", content=text, headers={"Content-Type": "application/json"})
    conforms("/checkout", "POST", response, 400)
    assert_envelope(response, 400, code)
    assert client.get(f"{BASE}/orders").json()["total"] == before


def test_checkout_refuses_a_body_that_is_not_json(client: TestClient) -> None:
    response = client.post(
        f"{BASE}/checkout", content=b'{"source": "lines", ', headers={"Content-Type": "application/json"}
    )
    conforms("/checkout", "POST", response, 400)
    assert_envelope(response, 400, "invalid_request")


def test_list_orders_walks_every_order_oldest_first(client: TestClient) -> None:
    response = client.get(f"{BASE}/orders")
    conforms("/orders", "GET", response, 200)
    ids, total = walk(client, f"{BASE}/orders")
    assert len(ids) == len(set(ids)) == total >= 250
    items = client.get(f"{BASE}/orders", params={"limit": 100}).json()["items"]
    assert [i["created_at"] for i in items] == sorted(i["created_at"] for i in items)
    assert {i["status"] for i in items} >= {"created", "paid", "completed", "cancelled"}


def test_completed_orders_carry_delivery_codes_and_others_none(client: TestClient) -> None:
    items = client.get(f"{BASE}/orders", params={"limit": 40}).json()["items"]
    for item in items:
        response = client.get(f"{BASE}/orders/{item['id']}")
        conforms("/orders/{order_id}", "GET", response, 200)
        order = response.json()
        units = sum(line["quantity"] for line in order["items"])
        assert order["amounts"]["buyer_total"] == sum(li["unit_price"] * li["quantity"] for li in order["items"])
        assert len(order["delivery"]["codes"]) == (units if order["status"] == "completed" else 0)
        assert (order["status"], order["amounts"]["buyer_total"]) == (item["status"], item["total"])


@pytest.mark.parametrize(("order_id", "status"), [(UNKNOWN_UUID, 404), ("not-a-uuid", 400)])
def test_get_order_refuses_unknown_and_malformed_ids(client: TestClient, order_id: str, status: int) -> None:
    response = client.get(f"{BASE}/orders/{order_id}")
    conforms("/orders/{order_id}", "GET", response, status)
    assert_envelope(response, status)


# --- auth, routing ------------------------------------------------------------------------

OPERATIONS = [
    ("/brands", "GET", "/brands"),
    ("/brands/{brand}/categories", "GET", "/brands/Steam/categories"),
    ("/products", "GET", "/products"),
    ("/products/{product_id}", "GET", f"/products/{UNKNOWN_UUID}"),
    ("/checkout", "POST", "/checkout"),
    ("/orders", "GET", "/orders"),
    ("/orders/{order_id}", "GET", "/orders/not-a-uuid"),
]


@pytest.mark.parametrize("key", [None, "", "wrong-key"], ids=["missing", "empty", "invalid"])
@pytest.mark.parametrize(("template", "method", "path"), OPERATIONS)
def test_every_operation_needs_a_valid_key_before_anything_else(
    client: TestClient, key: str | None, template: str, method: str, path: str
) -> None:
    headers = {"X-API-Key": key} if key is not None else {}
    anonymous = TestClient(client.app, headers=headers)
    response = anonymous.request(method, BASE + path, content=b"{not json")
    conforms(template, method, response, 401)
    assert_envelope(response, 401, "unauthorized")


def test_unknown_routes_and_trailing_slashes_are_404_envelopes(client: TestClient) -> None:
    for path in ("/nothing-here", "/products/", "/brands/Steam", "/v1/products"):
        assert_envelope(client.get(BASE + path), 404, "not_found")
    assert_envelope(client.get("/api/v1/products"), 404, "not_found")


def test_profile_wrong_methods_answer_405_with_allow(client: TestClient) -> None:
    for case in load_profile(API).data["errors"]["method_not_allowed"]:
        response = client.request(case["method"], BASE + case["path"])
        assert_envelope(response, 405, "method_not_allowed")
        assert case["method"] not in response.headers["allow"]


def test_head_works_where_get_does(client: TestClient) -> None:
    response = client.head(f"{BASE}/products")
    assert response.status_code == 200 and response.content == b""
    assert response.headers["content-type"] == "application/json"


# --- the profile against the sandbox ------------------------------------------------------


def send_recipe(client: TestClient, operation_id: str, patch: dict[str, Any] | None = None) -> Any:
    """Builds the profile's request recipe the way the suite does (variables from other operations).

    `patch` replaces top-level body fields (the profile's `body_patch`; its "{name}" strings are variables).
    """
    profile = load_profile(API)
    op = profile.operation(operation_id)
    recipe = profile.recipe(operation_id)
    values = {
        name: resolve_pointer(client.get(BASE + profile.operation(v["operation"]).path).json(), v["pointer"])
        for name, v in recipe.get("variables", {}).items()
    }
    path = op.path
    for name, value in fill_variables(recipe.get("path_params", {}), values).items():
        path = path.replace("{" + name + "}", quote(str(value), safe=""))
    body = {**recipe["body"], **(patch or {})} if "body" in recipe else None
    return client.request(op.method, BASE + path, json=fill_variables(body, values))


@pytest.mark.parametrize("operation_id", ["checkout", "getProduct", "getOrder", "listBrandCategories"])
def test_profile_recipes_succeed_against_the_sandbox(client: TestClient, operation_id: str) -> None:
    response = send_recipe(client, operation_id)
    assert response.status_code in (200, 201), response.text


def test_profile_error_cases_hold_on_the_sandbox(client: TestClient) -> None:
    profile = load_profile(API)
    for case in profile.data["errors"]["not_found"] + profile.data["errors"]["bad_parameters"]:
        if "body_patch" in case:
            response = send_recipe(client, case["operation"], case["body_patch"])
            assert response.status_code in case["status"], (case, response.text)
            assert not profile.envelope_errors(response.json())
            continue
        op = profile.operation(case["operation"])
        path = op.path
        for name, value in case["path_params"].items():
            path = path.replace("{" + name + "}", quote(value, safe=""))
        response = client.get(BASE + path)
        assert response.status_code in case.get("status", [404]), (case, response.text)
        assert not profile.envelope_errors(response.json())


def test_profile_valid_requests_are_accepted_by_the_sandbox(client: TestClient) -> None:
    profile = load_profile(API)
    for case in profile.data["valid_requests"]:
        response = client.get(BASE + profile.operation(case["operation"]).path, params=case.get("query"))
        assert response.status_code == 200, (case, response.text)
        assert response.json()["items"], case  # documented values: the sandbox has such products


def test_checkout_link_leads_to_the_created_order(client: TestClient) -> None:
    link = load_profile(API).operation("checkout").definition["responses"]["201"]["links"]["GetFirstOrder"]
    created = send_recipe(client, "checkout").json()
    order_id = resolve_pointer(created, link["parameters"]["order_id"].split("#", 1)[1])
    assert client.get(f"{BASE}/orders/{order_id}").status_code == 200


# --- persistence, limits, concurrency -----------------------------------------------------


def test_orders_survive_a_restart_on_the_same_db_file(tmp_path: Any) -> None:
    path = str(tmp_path / "partner.db")
    first = make_client(db=path)
    created = first.post(f"{BASE}/checkout", json=checkout_body(first_product(first)["id"])).json()["orders"][0]
    catalog = first.get(f"{BASE}/products", params={"limit": 100}).json()
    first.app.state.db.close()  # type: ignore[attr-defined]

    second = make_client(db=path)
    response = second.get(f"{BASE}/orders/{created['id']}")
    conforms("/orders/{order_id}", "GET", response, 200)
    assert response.json()["status"] == "created"
    assert second.get(f"{BASE}/products", params={"limit": 100}).json() == catalog  # not seeded twice
    assert second.get(f"{BASE}/orders").json()["total"] == 261
    second.app.state.db.close()  # type: ignore[attr-defined]


def test_rate_limit_is_advertised_and_enforced_per_client_address() -> None:
    app = partner.create_app(SandboxSettings(rate_limit=(3, 60)))
    one = TestClient(app, headers={"X-API-Key": KEY}, client=("10.0.0.1", 1000))
    other = TestClient(app, headers={"X-API-Key": KEY}, client=("10.0.0.2", 1000))
    remaining = [int(one.get(f"{BASE}/brands").headers["x-ratelimit-remaining"]) for _ in range(3)]
    assert remaining == [2, 1, 0]
    throttled = one.get(f"{BASE}/brands")
    conforms("/brands", "GET", throttled, 429)
    assert_envelope(throttled, 429, "rate_limit_exceeded")
    assert throttled.headers["x-ratelimit-limit"] == "3" and int(throttled.headers["x-ratelimit-reset"]) >= time.time()
    assert other.get(f"{BASE}/brands").status_code == 200
    anonymous = TestClient(app, client=("10.0.0.1", 1000)).get(f"{BASE}/brands")
    assert anonymous.status_code == 429  # per address: unauthenticated requests count too


def test_default_rate_limit_is_generous() -> None:
    response = make_client().get(f"{BASE}/brands")
    assert int(response.headers["x-ratelimit-limit"]) == partner.DEFAULT_RATE_LIMIT[0] >= 10000


def test_twenty_parallel_checkouts_create_twenty_orders(sandbox_factory: Callable[..., Any]) -> None:
    sandbox = sandbox_factory(API)
    headers = {"X-API-Key": sandbox.api_key}
    product = requests.get(f"{sandbox.base_url}/products", headers=headers, timeout=10).json()["items"][0]
    before = requests.get(f"{sandbox.base_url}/orders", headers=headers, timeout=10).json()["total"]
    barrier = threading.Barrier(20)

    def buy(_: int) -> requests.Response:
        barrier.wait()
        return requests.post(
            f"{sandbox.base_url}/checkout", json=checkout_body(product["id"]), headers=headers, timeout=10
        )

    with ThreadPoolExecutor(20) as pool:
        responses = list(pool.map(buy, range(20)))
    assert [r.status_code for r in responses] == [201] * 20
    ids = {r.json()["orders"][0]["id"] for r in responses}
    assert len(ids) == 20
    listing = requests.get(f"{sandbox.base_url}/orders", params={"offset": before}, headers=headers, timeout=10)
    assert listing.json()["total"] == before + 20
    assert {item["id"] for item in listing.json()["items"]} == ids
    assert all(requests.get(f"{sandbox.base_url}/orders/{i}", headers=headers, timeout=10).ok for i in ids)


def test_summary_names_the_seed_sizes() -> None:
    assert partner.summary(make_client().app) == (  # type: ignore[arg-type]
        f"gaming-goods-partner: 720 products, 240 brands, 260 orders (X-API-Key: {KEY})"
    )


# --- faults: each one changes what it names -----------------------------------------------


def fault_response_schema(c: TestClient) -> None:
    response = c.get(f"{BASE}/products/{first_product(c)['id']}")
    assert response.json()["price"] == 19.99
    with pytest.raises(Exception):  # noqa: B017 - any schema failure will do
        assert_conforms(API, "/products/{product_id}", "GET", response)


def fault_status_code(c: TestClient) -> None:
    assert c.post(f"{BASE}/checkout", json=checkout_body(first_product(c)["id"])).status_code == 200


def fault_content_type(c: TestClient) -> None:
    response = c.get(f"{BASE}/products/{first_product(c)['id']}")
    assert response.headers["content-type"].startswith("text/plain") and response.json()["price"] == 1999


def fault_response_headers(c: TestClient) -> None:
    response = c.post(f"{BASE}/checkout", json=checkout_body(first_product(c)["id"]))
    assert response.status_code == 201 and "x-ratelimit-reset" not in response.headers
    assert "x-ratelimit-reset" in c.get(f"{BASE}/products").headers


def fault_server_error(c: TestClient) -> None:
    assert_envelope(c.get(f"{BASE}/products", params={"limit": "1"}), 500, "internal_error")
    assert c.get(f"{BASE}/products", params={"limit": "2"}).status_code == 200


def fault_negative_data(c: TestClient) -> None:
    response = c.post(f"{BASE}/checkout", json=checkout_body(first_product(c)["id"], 0))
    assert response.status_code == 201


def fault_positive_data(c: TestClient) -> None:
    assert_envelope(c.get(f"{BASE}/products", params={"category": "Game Keys"}), 400)


def fault_stateful(c: TestClient) -> None:
    order = c.post(f"{BASE}/checkout", json=checkout_body(first_product(c)["id"])).json()["orders"][0]
    assert_envelope(c.get(f"{BASE}/orders/{order['id']}"), 404)
    seeded = c.get(f"{BASE}/orders").json()["items"][0]
    assert c.get(f"{BASE}/orders/{seeded['id']}").status_code == 200


def fault_envelope(c: TestClient) -> None:
    response = c.get(f"{BASE}/products/{UNKNOWN_UUID}")
    assert response.status_code == 404 and "error" not in response.json() and response.json()["message"]


def fault_not_found(c: TestClient) -> None:
    assert_envelope(c.get(f"{BASE}/products/{UNKNOWN_UUID}"), 400)
    assert_envelope(c.get(f"{BASE}/orders/{UNKNOWN_UUID}"), 400)
    assert_envelope(c.get(f"{BASE}/brands/Nope/categories"), 400)


def fault_unknown_route(c: TestClient) -> None:
    response = c.get(f"{BASE}/nothing-here")
    assert (response.status_code, response.json()) == (200, {})


def fault_method_not_allowed(c: TestClient) -> None:
    response = c.post(f"{BASE}/products")
    assert_envelope(response, 405)
    assert "allow" not in response.headers


def fault_bad_parameter(c: TestClient) -> None:
    assert c.get(f"{BASE}/products/not-a-uuid").json()["id"] == first_product(c)["id"]
    assert c.get(f"{BASE}/orders/not-a-uuid").status_code == 200


def fault_bad_body(c: TestClient) -> None:
    before = c.get(f"{BASE}/orders").json()["total"]
    response = c.post(f"{BASE}/checkout", content=b"{nope", headers={"Content-Type": "application/json"})
    assert (response.status_code, response.json()) == (201, {"orders": []})
    assert c.get(f"{BASE}/orders").json()["total"] == before


def fault_code_convention(c: TestClient) -> None:
    assert_envelope(c.get(f"{BASE}/products/{UNKNOWN_UUID}"), 404, "NOT_FOUND")


def fault_no_duplicates(c: TestClient) -> None:
    first = c.get(f"{BASE}/products").json()["items"]
    second = c.get(f"{BASE}/products", params={"offset": 20}).json()["items"]
    assert second[0] == first[-1]


def fault_complete(c: TestClient) -> None:
    ids, total = walk(c, f"{BASE}/products")
    assert len(set(ids)) < total


def fault_default_limit(c: TestClient) -> None:
    body = c.get(f"{BASE}/orders").json()
    assert len(body["items"]) == body["limit"] == 10


def fault_max_limit(c: TestClient) -> None:
    assert len(c.get(f"{BASE}/products", params={"limit": 150}).json()["items"]) == 150


def fault_invalid_limit(c: TestClient) -> None:
    response = c.get(f"{BASE}/brands", params={"limit": 0})
    assert response.status_code == 200 and response.json()["items"] == []


def fault_totals(c: TestClient) -> None:
    ids, total = walk(c, f"{BASE}/brands", id_key="brand")
    assert total == len(set(ids)) + 1


def fault_last_page(c: TestClient) -> None:
    total = c.get(f"{BASE}/products").json()["total"]
    assert len(c.get(f"{BASE}/products", params={"offset": total}).json()["items"]) == 1


def fault_stable_order(c: TestClient) -> None:
    pages = [[i["id"] for i in c.get(f"{BASE}/products").json()["items"]] for _ in range(5)]
    assert len({tuple(p) for p in pages}) > 1 and len({frozenset(p) for p in pages}) == 1


def fault_rate_limit_headers(c: TestClient) -> None:
    assert not set(RATE_HEADERS) & set(c.get(f"{BASE}/brands").headers)


def fault_rate_limit_consistent(c: TestClient) -> None:
    remaining = {c.get(f"{BASE}/brands").headers["x-ratelimit-remaining"] for _ in range(3)}
    assert len(remaining) == 1


def fault_rate_limit_exceeded(c: TestClient) -> None:
    statuses = [c.get(f"{BASE}/brands").status_code for _ in range(5)]
    assert statuses == [200] * 5  # the limit is 3 (see FAULT_RATE_LIMITS)


def fault_rate_limit_recovery(c: TestClient) -> None:
    assert [c.get(f"{BASE}/brands").status_code for _ in range(2)] == [200, 429]
    time.sleep(0.25)  # past the 0.2 s window, short of the doubled one
    assert c.get(f"{BASE}/brands").status_code == 429


def fault_missing_credentials(c: TestClient) -> None:
    assert c.get(f"{BASE}/orders", headers={"X-API-Key": ""}).status_code == 200


def fault_invalid_credentials(c: TestClient) -> None:
    assert c.get(f"{BASE}/orders", headers={"X-API-Key": "made-up"}).status_code == 200


def fault_invalid_response(c: TestClient) -> None:
    response = c.get(f"{BASE}/brands/Steam/categories")
    assert response.headers["content-type"] == "application/json"
    with pytest.raises(ValueError):
        response.json()


def fault_business_rule(c: TestClient) -> None:
    response = c.post(f"{BASE}/checkout", json={"source": "cart"})
    assert response.status_code == 201 and response.json() == {"orders": []}


FAULT_CHECKS: dict[str, Callable[[TestClient], None]] = {
    "schema.response-schema": fault_response_schema,
    "schema.status-code": fault_status_code,
    "schema.content-type": fault_content_type,
    "schema.response-headers": fault_response_headers,
    "schema.server-error": fault_server_error,
    "schema.negative-data": fault_negative_data,
    "schema.positive-data": fault_positive_data,
    "schema.stateful": fault_stateful,
    "errors.envelope": fault_envelope,
    "errors.not-found": fault_not_found,
    "errors.unknown-route": fault_unknown_route,
    "errors.method-not-allowed": fault_method_not_allowed,
    "errors.bad-parameter": fault_bad_parameter,
    "errors.bad-body": fault_bad_body,
    "errors.code-convention": fault_code_convention,
    "pagination.no-duplicates": fault_no_duplicates,
    "pagination.complete": fault_complete,
    "pagination.default-limit": fault_default_limit,
    "pagination.max-limit": fault_max_limit,
    "pagination.invalid-limit": fault_invalid_limit,
    "pagination.totals": fault_totals,
    "pagination.last-page": fault_last_page,
    "pagination.stable-order": fault_stable_order,
    "rate-limit.headers": fault_rate_limit_headers,
    "rate-limit.consistent": fault_rate_limit_consistent,
    "rate-limit.exceeded": fault_rate_limit_exceeded,
    "rate-limit.recovery": fault_rate_limit_recovery,
    "auth.missing-credentials": fault_missing_credentials,
    "auth.invalid-credentials": fault_invalid_credentials,
    "transport.invalid-response": fault_invalid_response,
    "errors.business-rule": fault_business_rule,
}
FAULT_RATE_LIMITS = {"rate-limit.exceeded": (3, 60.0), "rate-limit.recovery": (1, 0.2)}


def test_every_fault_is_a_rule_id_and_has_a_check() -> None:
    assert set(partner.FAULTS) <= set(RULES)
    assert set(FAULT_CHECKS) == set(partner.FAULTS)


@pytest.mark.parametrize("fault", sorted(FAULT_CHECKS))
def test_fault_changes_the_behaviour_it_names(fault: str) -> None:
    FAULT_CHECKS[fault](make_client(fault, rate_limit=FAULT_RATE_LIMITS.get(fault)))


@pytest.mark.parametrize("fault", sorted(FAULT_CHECKS))
def test_fault_check_fails_on_the_conforming_sandbox(client: TestClient, fault: str) -> None:
    """Each fault check fails on the conforming sandbox, so it really observes the fault."""
    conforming = make_client(rate_limit=FAULT_RATE_LIMITS[fault]) if fault in FAULT_RATE_LIMITS else client
    with pytest.raises((AssertionError, ValueError, KeyError, StopIteration, pytest.fail.Exception)):
        FAULT_CHECKS[fault](conforming)


# --- conforming variations ---------------------------------------------------------------------


def make_varied(*variations: str, rate_limit: tuple[int, float] | None = None) -> TestClient:
    settings = SandboxSettings(rate_limit=rate_limit, variations=frozenset(variations))
    return TestClient(partner.create_app(settings), headers={"X-API-Key": KEY}, raise_server_exceptions=False)


def _allowed_before_429(c: TestClient) -> int:
    """How many /brands requests pass before the first 429 (at most 20)."""
    for count in range(20):
        if c.get(f"{BASE}/brands").status_code == 429:
            return count
    return 20


def _order_times(c: TestClient) -> list[str]:
    return [order["created_at"] for order in c.get(f"{BASE}/orders", params={"limit": 100}).json()["items"]]


def _a_product_id(c: TestClient) -> str:
    product_id: str = c.get(f"{BASE}/products", params={"limit": 1}).json()["items"][0]["id"]
    return product_id


def _checkout_two_lines(c: TestClient) -> list[dict[str, Any]]:
    """Checks out two available products; returns the orders the answer lists."""
    items = c.get(f"{BASE}/products", params={"limit": 100}).json()["items"]
    lines = [{"product_id": p["id"], "quantity": 1} for p in items if p["is_available"] and p["quantity"] > 0][:2]
    response = c.post(f"{BASE}/checkout", json={"source": "lines", "lines": lines})
    assert response.status_code == 201, response.text
    orders: list[dict[str, Any]] = response.json()["orders"]
    return orders


VARIATION_PROBES: dict[str, Callable[[TestClient], bool]] = {
    # each probe returns True when the sandbox shows the variation (and False on the plain sandbox)
    "higher-rate-limit": lambda c: (
        _allowed_before_429(c) == 10 and c.get(f"{BASE}/brands").headers.get("x-ratelimit-limit") == "10"
    ),
    "json-charset": lambda c: c.get(f"{BASE}/brands").headers["content-type"] == "application/json; charset=utf-8",
    "extra-fields": lambda c: (
        "slug" in c.get(f"{BASE}/brands").json()["items"][0]
        and "slug" in c.get(f"{BASE}/products/{_a_product_id(c)}").json()
        and "updated_at" in c.get(f"{BASE}/orders").json()["items"][0]
    ),
    "extra-headers": lambda c: c.get(f"{BASE}/brands").headers.get("cache-control") == "no-store",
    "trailing-slash": lambda c: c.get(f"{BASE}/products/").status_code == 200,
    "limit-clamped": lambda c: c.get(f"{BASE}/products", params={"limit": 150}).status_code == 200,
    "malformed-id-404": lambda c: (
        c.get(f"{BASE}/products/not-a-uuid").status_code == 404 and c.get(f"{BASE}/orders/42").status_code == 404
    ),
    "orders-newest-first": lambda c: _order_times(c) == sorted(_order_times(c), reverse=True),
    "brand-case-insensitive": lambda c: c.get(f"{BASE}/brands/steam/categories").json().get("brand") == "Steam",
    "order-per-line": lambda c: len(_checkout_two_lines(c)) == 2,
    "few-orders": lambda c: c.get(f"{BASE}/orders").json()["total"] == 3,
    "no-orders": lambda c: c.get(f"{BASE}/orders").json() == {"items": [], "total": 0, "limit": 20, "offset": 0},
    "negative-offset-as-zero": lambda c: c.get(f"{BASE}/products", params={"offset": -5}).json().get("offset") == 0,
    "empty-paging-as-absent": lambda c: (
        c.get(f"{BASE}/products", params={"limit": "", "offset": ""}).status_code == 200
    ),
}
VARIATION_OPTIONS: dict[str, dict[str, Any]] = {"higher-rate-limit": {"rate_limit": (2, 60)}}


test_every_variation_has_a_probe, test_each_variation_changes_the_sandbox = probe_tests(
    partner.VARIATIONS, VARIATION_PROBES, VARIATION_OPTIONS, make_varied
)


def test_a_clamped_limit_is_echoed_as_100() -> None:
    body = make_varied("limit-clamped").get(f"{BASE}/products", params={"limit": 150}).json()
    assert body["limit"] == 100 and len(body["items"]) == 100


def test_all_variations_together_still_answer_the_documented_basics() -> None:
    c = make_varied(*partner.VARIATIONS)
    assert c.get(f"{BASE}/products/{UNKNOWN_UUID}").status_code == 404
    assert c.get(f"{BASE}/brands/no-such-brand/categories").status_code == 404
    assert c.get(f"{BASE}/products", params={"limit": 0}).status_code == 400
    assert c.post(f"{BASE}/checkout", json={"source": "cart"}).status_code == 400


def test_each_order_of_a_split_checkout_is_readable_with_its_own_line() -> None:
    c = make_varied("order-per-line")
    for order in _checkout_two_lines(c):
        detail = c.get(f"{BASE}/orders/{order['id']}").json()
        assert detail["status"] == "created" and len(detail["items"]) == 1
        assert detail["amounts"]["buyer_total"] == order["total"]
