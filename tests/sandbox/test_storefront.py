"""The storefront sandbox: every operation's success and error paths, persistence, concurrency, faults."""

from __future__ import annotations

import copy
import json
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from starlette.testclient import TestClient

from conformance.profile import resolve_pointer
from conformance.rules import RULES
from conformance.sandbox.base import SandboxSettings
from conformance.sandbox.storefront import FAULTS, KEYS, VARIATIONS, create_app
from conformance.speccheck import check_spec_file
from conformance.specfiles import spec_path
from conformance.target import fill_variables
from tests.conftest import assert_conforms
from tests.sandbox.switches import variation_tests

API = "storefront"
AUTH = {"Authorization": f"Bearer {KEYS['full']}"}
ADDRESS = {"street": "123 Main St", "city": "Anytown", "zipCode": "12345", "country": "USA"}
ORDER = {"userId": "usr_123abc", "items": [{"productId": "prod_xyz789", "quantity": 2}], "shippingAddress": ADDRESS}
NOTIFICATION = {"userId": "usr_123abc", "type": "email", "subject": "Hi", "message": "Your order has shipped."}
LISTS = [("/users", "id"), ("/products", "id"), ("/logs", None)]


def make_client(*faults: str, **options: Any) -> TestClient:
    return TestClient(create_app(SandboxSettings(faults=frozenset(faults), **options)), raise_server_exceptions=False)


@pytest.fixture(scope="module")
def client() -> TestClient:
    return make_client()


def error_code(response: Any) -> str:
    return str(response.json()["error"]["code"])


def post(client: TestClient, path: str, body: Any, headers: dict[str, str] = AUTH) -> Any:
    """POSTs `body` as ASCII JSON (httpx refuses to encode lone surrogates; a server must not crash on them)."""
    return client.post(path, headers={**headers, "Content-Type": "application/json"}, content=json.dumps(body))


def create_order(client: TestClient, **changes: Any) -> Any:
    return post(client, "/orders", {**ORDER, **changes})


def walk(client: TestClient, path: str, limit: int, **query: Any) -> tuple[list[Any], int]:
    items: list[Any] = []
    offset = 0
    while True:
        response = client.get(path, headers=AUTH, params={**query, "limit": limit, "offset": offset})
        assert response.status_code == 200, response.text
        page = response.json()
        items += page
        offset += limit
        if len(page) < limit:
            return items, int(response.headers["X-Total-Count"])


# --- the spec ----------------------------------------------------------------------------------


def test_spec_is_clean() -> None:
    assert [str(problem) for problem in check_spec_file(spec_path(API))] == []


def test_faults_are_named_after_rules() -> None:
    assert set(FAULTS) <= set(RULES)


def test_profile_recipes_give_successful_requests(client: TestClient) -> None:
    profile = yaml.safe_load(spec_path(API).read_text())["x-conformance"]
    operations = {
        "listUsers": ("GET", "/users"),
        "listProducts": ("GET", "/products"),
        "getProduct": ("GET", "/products/{productId}"),
        "createOrder": ("POST", "/orders"),
        "createPayment": ("POST", "/payments"),
        "sendNotification": ("POST", "/notifications/send"),
    }
    answers: dict[str, Any] = {}

    def send(op_id: str) -> Any:
        recipe = copy.deepcopy(profile["requests"].get(op_id, {}))
        variables = recipe.pop("variables", {})
        values = {name: resolve_pointer(answer(spec["operation"]), spec["pointer"]) for name, spec in variables.items()}
        method, path = operations[op_id]
        for name, value in fill_variables(recipe.get("path_params", {}), values).items():
            path = path.replace("{" + name + "}", value)
        response = client.request(method, path, headers=AUTH, json=fill_variables(recipe.get("body"), values))
        assert response.status_code < 300, (op_id, response.text)
        assert_conforms(API, operations[op_id][1], method, response)
        return response

    def answer(op_id: str) -> Any:
        if op_id not in answers:
            answers[op_id] = send(op_id).json()
        return answers[op_id]

    for op_id in profile["requests"]:
        send(op_id)
    assert answer("createPayment")["status"] == "succeeded"


# --- lists -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "key"), LISTS)
def test_list_answers_a_bare_array_with_page_headers(client: TestClient, path: str, key: str | None) -> None:
    response = client.get(path, headers=AUTH)
    assert_conforms(API, path, "GET", response)
    assert response.headers["content-type"] == "application/json"
    assert len(response.json()) == 20
    assert (response.headers["X-Limit"], response.headers["X-Offset"]) == ("20", "0")
    assert int(response.headers["X-Total-Count"]) >= 250


@pytest.mark.parametrize(("path", "key"), LISTS)
def test_walk_returns_every_item_once(client: TestClient, path: str, key: str | None) -> None:
    items, total = walk(client, path, 100)
    identities = [item[key] if key else repr(sorted(item.items())) for item in items]
    assert len(identities) == len(set(identities)) == total
    again, _ = walk(client, path, 100)
    assert again == items


@pytest.mark.parametrize(
    "query",
    [
        {"limit": 101},
        {"limit": 0},
        {"limit": -1},
        {"limit": "abc"},
        {"limit": ""},
        {"offset": -1},
        {"offset": "abc"},
        {"limit": "9" * 40},
    ],
)
@pytest.mark.parametrize(("path", "key"), LISTS)
def test_bad_page_parameters_answer_400(client: TestClient, path: str, key: str | None, query: dict[str, Any]) -> None:
    response = client.get(path, headers=AUTH, params=query)
    assert response.status_code == 400
    assert error_code(response) == "INVALID_PARAMETER"
    assert_conforms(API, path, "GET", response)


def test_limit_100_and_a_page_past_the_end(client: TestClient) -> None:
    assert len(client.get("/products", headers=AUTH, params={"limit": 100}).json()) == 100
    response = client.get("/products", headers=AUTH, params={"offset": 10**30})
    assert response.status_code == 200 and response.json() == []
    assert response.headers["X-Offset"] == str(10**18)  # saturated, still an integer


def test_user_status_filter_counts_the_filtered_collection(client: TestClient) -> None:
    inactive, total = walk(client, "/users", 100, status="inactive")
    assert total == len(inactive) > 0 and {user["status"] for user in inactive} == {"inactive"}
    active = client.get("/users", headers=AUTH, params={"status": "active"})
    assert int(active.headers["X-Total-Count"]) + total == 263
    unknown = client.get("/users", headers=AUTH, params={"status": "banned"})
    assert unknown.json() == [] and unknown.headers["X-Total-Count"] == "0"


def test_log_dates_are_inclusive_and_utc_without_an_offset(client: TestClient) -> None:
    logs, _ = walk(client, "/logs", 100)
    stamp = logs[40]["timestamp"]
    exact = client.get("/logs", headers=AUTH, params={"startDate": stamp, "endDate": stamp.rstrip("Z")})
    assert_conforms(API, "/logs", "GET", exact)
    assert exact.json() == [logs[40]] and exact.headers["X-Total-Count"] == "1"
    shifted = client.get("/logs", headers=AUTH, params={"startDate": stamp[:-1] + "+01:00"})
    hour_earlier = (datetime.fromisoformat(stamp) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert int(shifted.headers["X-Total-Count"]) == sum(1 for log in logs if log["timestamp"] >= hour_earlier)
    day = stamp[:10]
    whole_day, total = walk(client, "/logs", 100, startDate=day, endDate=day)
    assert total == len(whole_day) == sum(1 for log in logs if log["timestamp"][:10] == day)
    backwards = client.get("/logs", headers=AUTH, params={"startDate": logs[50]["timestamp"], "endDate": stamp})
    assert backwards.status_code == 200 and backwards.json() == []


def test_log_level_filter(client: TestClient) -> None:
    errors, total = walk(client, "/logs", 100, level="error")
    assert total == len(errors) > 0 and {log["level"] for log in errors} == {"error"}
    assert client.get("/logs", headers=AUTH, params={"level": "trace"}).json() == []


@pytest.mark.parametrize(
    "value",
    [
        "not-a-date",
        "2023-13-01",
        "2023-02-30T00:00:00Z",
        "2023-10-27T25:00:00Z",
        "2023-10-27T10:00:00+25:00",
        "27/10/2023",
        "",
    ],
)
@pytest.mark.parametrize("name", ["startDate", "endDate"])
def test_bad_log_dates_answer_400(client: TestClient, name: str, value: str) -> None:
    response = client.get("/logs", headers=AUTH, params={name: value})
    assert response.status_code == 400 and error_code(response) == "INVALID_PARAMETER"
    assert_conforms(API, "/logs", "GET", response)


# --- products ----------------------------------------------------------------------------------


def test_get_product_reads_a_listed_product(client: TestClient) -> None:
    listed = client.get("/products", headers=AUTH, params={"offset": 7, "limit": 1}).json()[0]
    response = client.get(f"/products/{listed['id']}", headers=AUTH)
    assert_conforms(API, "/products/{productId}", "GET", response)
    assert response.json() == listed


@pytest.mark.parametrize("product_id", ["prod_does_not_exist", "%F0%9F%98%80", "a b"])
def test_unknown_product_answers_404(client: TestClient, product_id: str) -> None:
    response = client.get(f"/products/{product_id}", headers=AUTH)
    assert response.status_code == 404 and error_code(response) == "NOT_FOUND"
    assert_conforms(API, "/products/{productId}", "GET", response)


# --- orders, payments, notifications -----------------------------------------------------------


def test_create_order_answers_201_pending(client: TestClient) -> None:
    seed_example = {
        **ORDER,
        "items": [{"productId": "prod_xyz789", "quantity": 2}, {"productId": "prod_abc123", "quantity": 1}],
        "extra": True,
    }
    response = post(client, "/orders", seed_example)
    assert_conforms(API, "/orders", "POST", response)
    order = response.json()
    assert response.status_code == 201 and order["status"] == "pending" and order["id"].startswith("ord_")
    assert order["items"] == seed_example["items"] and order["shippingAddress"] == ADDRESS


@pytest.mark.parametrize(
    "changes",
    [
        {"userId": None},
        {"userId": 7},
        {"userId": "usr_unknown"},
        {"userId": "\ud800"},
        {"items": []},
        {"items": "prod_xyz789"},
        {"items": [{"productId": "prod_unknown", "quantity": 1}]},
        {"items": [{"productId": "prod_xyz789", "quantity": 0}]},
        {"items": [{"productId": "prod_xyz789", "quantity": 1.5}]},
        {"items": [{"productId": "prod_xyz789"}]},
        {"shippingAddress": {"street": "1 Main St", "city": "Anytown", "zipCode": "1"}},
        {"shippingAddress": "1 Main St"},
    ],
)
def test_invalid_order_answers_400(client: TestClient, changes: dict[str, Any]) -> None:
    body = {key: value for key, value in {**ORDER, **changes}.items() if value is not None}
    response = post(client, "/orders", body)
    assert response.status_code == 400 and error_code(response) == "INVALID_REQUEST"
    assert_conforms(API, "/orders", "POST", response)


@pytest.mark.parametrize("path", ["/orders", "/payments", "/notifications/send"])
@pytest.mark.parametrize("content", [b"{", b"", b"[]", b'"text"'])
def test_malformed_bodies_answer_400(client: TestClient, path: str, content: bytes) -> None:
    response = client.post(path, headers={**AUTH, "Content-Type": "application/json"}, content=content)
    assert response.status_code == 400 and error_code(response) == "INVALID_REQUEST"
    assert_conforms(API, path, "POST", response)


def test_strange_but_valid_strings_are_echoed(client: TestClient) -> None:
    address = {"street": "\ud800\x00", "city": "", "zipCode": "😀", "country": "USA"}
    response = create_order(client, shippingAddress=address, items=[{"productId": "prod_xyz789", "quantity": 10**40}])
    assert response.status_code == 201 and response.json()["shippingAddress"] == address
    payment = post(client, "/payments", {"orderId": response.json()["id"], "paymentMethodId": "pm_x"})
    assert payment.status_code == 200 and payment.json()["amount"] > 0


def test_payment_succeeds_and_charges_the_order_total(client: TestClient) -> None:
    order = create_order(client).json()
    response = post(client, "/payments", {"orderId": order["id"], "paymentMethodId": "pm_card_visa"})
    assert_conforms(API, "/payments", "POST", response)
    payment = response.json()
    assert response.status_code == 200 and payment["status"] == "succeeded" and payment["id"].startswith("pay_")
    assert (payment["orderId"], payment["amount"], payment["currency"]) == (order["id"], 99.98, "USD")
    given = post(
        client,
        "/payments",
        {"orderId": order["id"], "paymentMethodId": "pm_ Stripe_12345", "amount": 12.5, "currency": "EUR"},
    )
    assert given.status_code == 200 and (given.json()["amount"], given.json()["currency"]) == (12.5, "EUR")


def test_declined_payment_answers_402(client: TestClient) -> None:
    order = create_order(client).json()
    response = post(client, "/payments", {"orderId": order["id"], "paymentMethodId": "card_visa"})
    assert response.status_code == 402 and error_code(response) == "PAYMENT_FAILED"
    assert_conforms(API, "/payments", "POST", response)


@pytest.mark.parametrize(
    "body",
    [
        {"orderId": "ord_unknown", "paymentMethodId": "pm_card_visa"},
        {"paymentMethodId": "pm_card_visa"},
        {"orderId": "{order}"},
        {"orderId": "{order}", "paymentMethodId": "pm_card_visa", "amount": -1},
        {"orderId": "{order}", "paymentMethodId": "pm_card_visa", "amount": "12.00"},
        {"orderId": "{order}", "paymentMethodId": "pm_card_visa", "amount": 10**400},
        {"orderId": "{order}", "paymentMethodId": 5},
    ],
)
def test_invalid_payment_answers_400(client: TestClient, body: dict[str, Any]) -> None:
    order_id = create_order(client).json()["id"]
    body = {key: order_id if value == "{order}" else value for key, value in body.items()}
    response = post(client, "/payments", body)
    assert response.status_code == 400 and error_code(response) == "INVALID_REQUEST"
    assert_conforms(API, "/payments", "POST", response)


def test_payment_amount_nan_is_refused(client: TestClient) -> None:
    order_id = create_order(client).json()["id"]
    content = b'{"orderId": "%s", "paymentMethodId": "pm_x", "amount": NaN}' % order_id.encode()
    response = client.post("/payments", headers={**AUTH, "Content-Type": "application/json"}, content=content)
    assert response.status_code == 400


def test_notification_is_accepted(client: TestClient) -> None:
    for body in (NOTIFICATION, {"userId": "usr_123abc", "type": "sms", "message": "Hi"}):
        response = post(client, "/notifications/send", body)
        assert_conforms(API, "/notifications/send", "POST", response)
        assert response.status_code == 202 and response.json()["status"] == "accepted"
        assert response.json()["id"].startswith("ntf_")


@pytest.mark.parametrize(
    "changes",
    [
        {"userId": "usr_unknown"},
        {"userId": None},
        {"type": "fax"},
        {"type": None},
        {"message": None},
        {"message": 3},
        {"subject": 3},
    ],
)
def test_invalid_notification_answers_400(client: TestClient, changes: dict[str, Any]) -> None:
    body = {key: value for key, value in {**NOTIFICATION, **changes}.items() if value is not None}
    response = post(client, "/notifications/send", body)
    assert response.status_code == 400 and error_code(response) == "INVALID_REQUEST"
    assert_conforms(API, "/notifications/send", "POST", response)


# --- auth, routing -----------------------------------------------------------------------------

CALLS = [
    ("GET", "/users", None),
    ("GET", "/products", None),
    ("GET", "/products/prod_xyz789", None),
    ("POST", "/orders", ORDER),
    ("POST", "/payments", {"orderId": "x", "paymentMethodId": "pm_x"}),
    ("POST", "/notifications/send", NOTIFICATION),
    ("GET", "/logs?limit=abc", None),
]
TEMPLATES = {"/products/prod_xyz789": "/products/{productId}", "/logs?limit=abc": "/logs"}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": KEYS["full"]},
        {"Authorization": "Basic " + KEYS["full"]},
    ],
)
@pytest.mark.parametrize(("method", "path", "body"), CALLS)
def test_every_operation_needs_a_valid_bearer_key(
    client: TestClient, method: str, path: str, body: Any, headers: dict[str, str]
) -> None:
    response = client.request(method, path, headers=headers, json=body)
    assert response.status_code == 401 and error_code(response) == "UNAUTHORIZED"  # before any parameter check
    assert_conforms(API, TEMPLATES.get(path, path), method, response)


def test_bearer_scheme_is_case_insensitive(client: TestClient) -> None:
    assert client.get("/users", headers={"Authorization": "bearer " + KEYS["full"]}).status_code == 200


@pytest.mark.parametrize("path", ["/nope", "/users/", "/products/a/b", "/v1/products"])
def test_unknown_route_answers_404_envelope(client: TestClient, path: str) -> None:
    response = client.get(path, headers=AUTH)
    assert response.status_code == 404 and error_code(response) == "NOT_FOUND"
    assert response.headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("GET", "/orders", "POST"),
        ("DELETE", "/users", "GET, HEAD"),
        ("POST", "/logs", "GET, HEAD"),
        ("PUT", "/notifications/send", "POST"),
    ],
)
def test_wrong_method_answers_405_with_allow(client: TestClient, method: str, path: str, allow: str) -> None:
    response = client.request(method, path, headers=AUTH)
    assert response.status_code == 405 and error_code(response) == "METHOD_NOT_ALLOWED"
    assert set(response.headers["Allow"].split(", ")) == set(allow.split(", "))


def test_head_works_where_get_does(client: TestClient) -> None:
    response = client.head("/products/prod_xyz789", headers=AUTH)
    assert response.status_code == 200 and response.content == b""


def test_rate_limit_is_off_by_default_and_configurable() -> None:
    limited = make_client(rate_limit=(3, 60.0))
    answers = [limited.get("/products", headers=AUTH) for _ in range(4)]
    assert [answer.status_code for answer in answers] == [200, 200, 200, 429]
    assert error_code(answers[3]) == "RATE_LIMIT_EXCEEDED" and int(answers[3].headers["Retry-After"]) >= 1
    assert_conforms(API, "/products", "GET", answers[3])
    assert not any(name.lower().startswith("x-ratelimit") for name in answers[0].headers)
    unlimited = make_client()
    assert all(unlimited.get("/products", headers=AUTH).status_code == 200 for _ in range(60))


# --- state -------------------------------------------------------------------------------------


def test_orders_persist_across_a_restart(tmp_path: Path) -> None:
    db = str(tmp_path / "storefront.sqlite")
    first = create_app(SandboxSettings(db=db))
    order = create_order(TestClient(first)).json()
    first.state.db.close()
    second = create_app(SandboxSettings(db=db))
    payment = TestClient(second).post(
        "/payments", headers=AUTH, json={"orderId": order["id"], "paymentMethodId": "pm_card_visa"}
    )
    assert payment.status_code == 200
    assert second.state.db.scalar("SELECT COUNT(*) FROM products") == 257  # seeded once, not twice
    assert second.state.db.scalar("SELECT COUNT(*) FROM orders") == 1
    second.state.db.close()


def test_parallel_order_creates_lose_nothing(sandbox_factory: Any, tmp_path: Path) -> None:
    db = str(tmp_path / "parallel.sqlite")
    sandbox = sandbox_factory(API, db=db)
    headers = {"Authorization": f"Bearer {sandbox.api_key}"}

    def create(_: int) -> requests.Response:
        return requests.post(f"{sandbox.base_url}/orders", headers=headers, json=ORDER, timeout=10)

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(create, range(20)))
    assert [answer.status_code for answer in answers] == [201] * 20
    ids = {answer.json()["id"] for answer in answers}
    assert len(ids) == 20
    with sqlite3.connect(db) as conn:
        stored = {row[0] for row in conn.execute("SELECT id FROM orders")}
    assert stored == ids


# --- faults ------------------------------------------------------------------------------------


def _page_ids(client: TestClient, **query: Any) -> list[str]:
    response = client.get("/products", headers=AUTH, params=query)
    assert response.status_code == 200
    return [product["id"] for product in response.json()]


@cache
def reference_client() -> TestClient:
    """A fault-free sandbox for read-only comparisons."""
    return make_client()


def check_fault(fault: str, client: TestClient) -> None:
    if fault == "schema.response-schema":
        assert isinstance(client.get("/products/prod_xyz789", headers=AUTH).json()["price"], str)
    elif fault == "schema.status-code":
        assert create_order(client).status_code == 200
    elif fault == "schema.server-error":
        assert client.get("/logs", headers=AUTH, params={"level": "info"}).status_code == 500
        assert client.get("/logs", headers=AUTH).status_code == 200
    elif fault == "schema.content-type":
        assert client.get("/users", headers=AUTH).headers["content-type"].startswith("text/plain")
    elif fault == "schema.response-headers":
        assert "X-Offset" not in client.get("/users", headers=AUTH).headers
        assert client.get("/users", headers=AUTH, params={"offset": 3}).headers["X-Offset"] == "3"
    elif fault == "schema.negative-data":
        assert post(client, "/notifications/send", {**NOTIFICATION, "type": "fax"}).status_code == 202
    elif fault == "schema.positive-data":
        body = {key: value for key, value in NOTIFICATION.items() if key != "subject"}
        assert post(client, "/notifications/send", body).status_code == 400
        assert post(client, "/notifications/send", NOTIFICATION).status_code == 202
    elif fault == "schema.stateful":
        order = create_order(client).json()
        payment = post(client, "/payments", {"orderId": order["id"], "paymentMethodId": "pm_x"})
        assert payment.status_code == 400
    elif fault == "errors.envelope":
        body = client.get("/products/nope", headers=AUTH).json()
        assert "error" not in body and body["code"] == "NOT_FOUND"
    elif fault == "errors.not-found":
        response = client.get("/products/nope", headers=AUTH)
        assert response.status_code == 400 and error_code(response) == "INVALID_PARAMETER"
    elif fault == "errors.unknown-route":
        assert client.get("/nope", headers=AUTH).status_code == 400
        assert client.get("/orders", headers=AUTH).status_code == 405
    elif fault == "errors.method-not-allowed":
        response = client.get("/orders", headers=AUTH)
        assert response.status_code == 405 and "Allow" not in response.headers
    elif fault == "errors.bad-parameter":
        response = client.get("/logs", headers=AUTH, params={"startDate": "not-a-date"})
        assert response.status_code == 200 and response.headers["X-Total-Count"] == "311"
    elif fault == "errors.business-rule":
        order = create_order(client).json()
        payment = post(client, "/payments", {"orderId": order["id"], "paymentMethodId": "card_x"})
        assert payment.status_code == 200 and payment.json()["status"] == "succeeded"
    elif fault == "errors.bad-body":
        response = client.post("/orders", headers={**AUTH, "Content-Type": "application/json"}, content=b"{")
        assert response.status_code == 422
    elif fault == "errors.code-convention":
        assert error_code(client.get("/products/nope", headers=AUTH)) == "not_found"
    elif fault == "pagination.no-duplicates":
        assert _page_ids(client, limit=5)[-1] == _page_ids(client, limit=5, offset=5)[0]
    elif fault == "pagination.complete":
        assert _page_ids(client, limit=5, offset=5)[0] == _page_ids(reference_client(), limit=5, offset=6)[0]
    elif fault == "pagination.default-limit":
        response = client.get("/products", headers=AUTH)
        assert len(response.json()) == 10 and response.headers["X-Limit"] == "10"
    elif fault == "pagination.max-limit":
        assert len(_page_ids(client, limit=150)) == 150
    elif fault == "pagination.invalid-limit":
        response = client.get("/products", headers=AUTH, params={"limit": "abc"})
        assert response.status_code == 200 and response.headers["X-Limit"] == "20"
    elif fault == "pagination.totals":
        assert client.get("/products", headers=AUTH).headers["X-Total-Count"] == "258"
    elif fault == "pagination.last-page":
        assert client.get("/products", headers=AUTH, params={"offset": 257}).status_code == 400
        assert len(_page_ids(client, offset=250)) == 7
    elif fault == "pagination.stable-order":
        pages = [_page_ids(client, limit=50) for _ in range(3)]
        assert len({tuple(page) for page in pages}) > 1 and {frozenset(page) for page in pages} == {
            frozenset(_page_ids(reference_client(), limit=50))
        }
    elif fault == "pagination.headers":
        assert client.get("/products", headers=AUTH, params={"offset": 40}).headers["X-Offset"] == "0"
    elif fault == "auth.missing-credentials":
        assert client.get("/users").status_code == 200
        assert client.get("/users", headers={"Authorization": "Bearer wrong"}).status_code == 401
    elif fault == "auth.invalid-credentials":
        assert client.get("/users", headers={"Authorization": "Bearer wrong"}).status_code == 200
        assert client.get("/users").status_code == 401
    else:
        raise AssertionError(f"no check for fault {fault!r}")


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_fault_changes_what_it_names(fault: str) -> None:
    check_fault(fault, make_client(fault))


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_fault_check_passes_without_the_fault(fault: str) -> None:
    with pytest.raises(AssertionError):
        check_fault(fault, make_client())


# --- conforming variations ------------------------------------------------------------------------


def variation_client(*names: str) -> TestClient:
    return make_client(variations=frozenset(names))


def check_variation(name: str, client: TestClient) -> None:
    """Asserts that the sandbox shows the variation `name` (each branch fails on a plain sandbox)."""
    if name == "json-charset":
        assert client.get("/users", headers=AUTH).headers["content-type"] == "application/json; charset=utf-8"
        assert client.get("/nope", headers=AUTH).headers["content-type"] == "application/json; charset=utf-8"
    elif name == "extra-response-headers":
        response = client.get("/products", headers=AUTH)
        assert response.headers.get("cache-control") == "no-store" and "x-request-id" in response.headers
    elif name == "extra-response-fields":
        assert {"sku", "active"} <= set(client.get("/products", headers=AUTH).json()[0])
        assert "displayName" in client.get("/users", headers=AUTH).json()[0]
        assert "updatedAt" in create_order(client).json()
    elif name == "trailing-slash":
        response = client.get("/users/", headers=AUTH, params={"limit": 3})
        assert response.status_code == 200
        assert response.json() == client.get("/users", headers=AUTH, params={"limit": 3}).json()
    elif name == "null-as-absent":
        assert post(client, "/notifications/send", {**NOTIFICATION, "subject": None}).status_code == 202
    elif name == "logs-newest-first":
        stamps = [entry["timestamp"] for entry in client.get("/logs", headers=AUTH).json()]
        assert stamps == sorted(stamps, reverse=True) and stamps[0] > stamps[-1]
    elif name == "one-page-of-logs":
        response = client.get("/logs", headers=AUTH)
        assert len(response.json()) == 15 and response.headers["X-Total-Count"] == "15"
    elif name == "extra-error-fields":
        error = client.get("/products/prod_nope", headers=AUTH).json()["error"]
        assert error.get("status") == 404 and error["code"] == "NOT_FOUND" and "requestId" in error
    elif name == "lenient-paging":
        for params in ({"limit": 0}, {"limit": -3}, {"offset": -1}):
            response = client.get("/products", headers=AUTH, params=params)
            assert response.status_code == 200 and response.headers["X-Limit"] == "20", params
        assert client.get("/products", headers=AUTH, params={"offset": -1}).headers["X-Offset"] == "0"
    elif name == "different-error-messages":
        error = client.get("/products/prod_nope", headers=AUTH).json()["error"]
        assert error["code"] == "NOT_FOUND" and error["message"].startswith("Request failed: ")
    else:
        raise AssertionError(f"no check for variation {name!r}")


(
    test_variation_changes_what_it_names,
    test_variation_check_fails_without_the_variation,
    test_all_variations_show_together,
) = variation_tests(VARIATIONS, check_variation, make_client, variation_client)
