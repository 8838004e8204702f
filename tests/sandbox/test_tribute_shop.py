"""The tribute-shop sandbox: every operation, its errors, persistence, concurrency and faults."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from functools import cache
from typing import Any

import httpx
import jsonschema
import pytest
import yaml
from openapi_spec_validator import validate
from starlette.testclient import TestClient

from conformance.rules import RULES
from conformance.sandbox.base import SandboxSettings
from conformance.sandbox.tribute_shop import FAULTS, KEYS, SMALL_PAGE, VARIATIONS, create_app
from conformance.specfiles import load_spec, spec_path
from tests.conftest import assert_conforms
from tests.sandbox.switches import variation_tests

API = "tribute-shop"
BASE = "/api/v1"
FULL = {"Api-Key": KEYS["full"]}
ONETIME = {"Api-Key": KEYS["limited"]}
UNKNOWN = "0d5b1f9e-7c3a-4e2b-9f61-000000000404"
ORDER = {"amount": 100000, "currency": "rub", "title": "Product X", "description": "Detailed product description"}
EMOJI = "\U0001f600"  # outside the BMP: 1 code point, 2 UTF-16 code units

STATUS = "/shop/orders/{orderUuid}/status"
CANCEL = "/shop/orders/{orderUuid}/cancel"
TRANSACTIONS = "/shop/orders/{orderUuid}/transactions"
REFUND = "/shop/orders/{orderUuid}/transactions/{txId}/refund"


def build(*faults: str, **options: Any) -> TestClient:
    return TestClient(create_app(SandboxSettings(faults=frozenset(faults), **options)))


@pytest.fixture
def client() -> Iterator[TestClient]:
    with build() as test_client:
        yield test_client


def url(template: str, **params: Any) -> str:
    return BASE + template.format(**params)


def seed_newest(client: TestClient) -> str:
    """The newest seed order of the full shop: paid, monthly, 176 transactions."""
    return str(
        client.app.state.db.scalar(  # type: ignore[attr-defined]
            "SELECT uuid FROM orders WHERE shop_id = 1042 AND via_api = 0 ORDER BY id DESC LIMIT 1"
        )
    )


def walk(client: TestClient, order_uuid: str) -> list[httpx.Response]:
    pages, start = [], None
    while len(pages) < 20:
        query = {} if start is None else {"startFrom": start}
        response = client.get(url(TRANSACTIONS, orderUuid=order_uuid), headers=FULL, params=query)
        pages.append(response)
        start = response.json()["nextFrom"]
        if start is None:
            break
    return pages


def walked_ids(pages: list[httpx.Response]) -> list[int]:
    return [tx["id"] for page in pages for tx in page.json()["transactions"]]


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"error": code, "message": response.json()["message"]}
    assert response.json()["message"]


# --- the spec ----------------------------------------------------------------------------


def test_spec_is_valid_openapi_with_a_valid_profile() -> None:
    spec = load_spec(API)
    validate(spec)
    profile_schema = yaml.safe_load((spec_path(API).parents[1] / "conformance/profile.schema.yaml").read_text())
    jsonschema.validate(spec["x-conformance"], profile_schema)


def test_spec_examples_validate_against_their_schemas() -> None:
    spec = load_spec(API)
    resolver_schema = {"components": spec["components"]}

    def check(instance: Any, schema: dict[str, Any]) -> None:
        jsonschema.Draft202012Validator({**schema, **resolver_schema}).validate(instance)

    body = spec["paths"]["/shop/orders"]["post"]["requestBody"]["content"]["application/json"]
    for example in body["examples"].values():
        check(example["value"], body["schema"])
    for schema in spec["components"]["schemas"].values():
        for sub in [schema, *schema.get("properties", {}).values()]:
            for value in sub.get("examples", []):
                check(value, sub)
    check(spec["x-conformance"]["requests"]["createShopOrder"]["body"], body["schema"])


# --- shop and orders ---------------------------------------------------------------------


@pytest.mark.parametrize(("headers", "recurrent"), [(FULL, True), (ONETIME, False)], ids=["full", "limited"])
def test_get_shop_describes_the_keys_shop(client: TestClient, headers: dict[str, str], recurrent: bool) -> None:
    response = client.get(BASE + "/shop", headers=headers)
    assert_conforms(API, "/shop", "GET", response)
    assert response.status_code == 200
    assert response.json()["recurrent"] is recurrent
    assert client.head(BASE + "/shop", headers=headers).status_code == 200


def test_list_orders_is_newest_first_and_covers_every_status_and_period(client: TestClient) -> None:
    response = client.get(BASE + "/shop/orders", headers=FULL)
    assert_conforms(API, "/shop/orders", "GET", response)
    orders = response.json()
    assert len(orders) >= 250
    created = [order["createdAt"] for order in orders]
    assert created == sorted(created, reverse=True)
    assert {order["status"] for order in orders} == {"pending", "paid", "failed", "cancelled"}
    assert {order["period"] for order in orders} == {"onetime", "weekly", "monthly", "yearly"}
    assert orders[0]["status"] == "paid" and orders[0]["uuid"] == seed_newest(client)
    assert any("successUrl" not in order for order in orders) and any("email" in order for order in orders)


def test_create_order_answers_200_and_the_order_is_listed_first(client: TestClient) -> None:
    response = client.post(BASE + "/shop/orders", headers=FULL, json=ORDER)
    assert_conforms(API, "/shop/orders", "POST", response)
    assert response.status_code == 200
    created = response.json()
    first = client.get(BASE + "/shop/orders", headers=FULL).json()[0]
    assert first["uuid"] == created["uuid"] and first["paymentUrl"] == created["paymentUrl"]
    assert first["status"] == "pending" and first["period"] == "onetime"
    assert not {"successUrl", "failUrl", "email"} & set(first)  # left out when not given
    assert datetime.fromisoformat(first["createdAt"]).tzinfo is not None
    status = client.get(url(STATUS, orderUuid=created["uuid"]), headers=FULL)
    assert_conforms(API, STATUS, "GET", status)
    assert status.json() == {"status": "pending"}


def test_create_order_keeps_optional_urls_and_email_when_given(client: TestClient) -> None:
    body = {**ORDER, "successUrl": "https://shop.com/success", "failUrl": "https://shop.com/fail", "email": "a@b.co"}
    assert client.post(BASE + "/shop/orders", headers=FULL, json=body).status_code == 200
    first = client.get(BASE + "/shop/orders", headers=FULL).json()[0]
    assert (first["successUrl"], first["failUrl"], first["email"]) == (body["successUrl"], body["failUrl"], "a@b.co")


@pytest.mark.parametrize(
    "change",
    [
        {"title": EMOJI * 50},
        {"title": "x" * 100},
        {"title": EMOJI * 49 + "xx"},
        {"description": EMOJI * 150},
        {"customerId": EMOJI * 128},
        {"amount": 1},
        {"amount": 2**63 - 1},
        {"amount": 500.0},
        {"currency": "usd", "period": "onetime", "savePaymentMethod": False, "comment": "Special request"},
        {"unknownField": 1},
    ],
    ids=lambda change: ",".join(change)[:30] + f"={str(list(change.values())[0])[:12]}",
)
def test_create_order_accepts_values_within_utf16_limits(client: TestClient, change: dict[str, Any]) -> None:
    response = client.post(BASE + "/shop/orders", headers=FULL, json={**ORDER, **change})
    assert_conforms(API, "/shop/orders", "POST", response)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "body",
    [
        {**ORDER, "title": EMOJI * 51},  # 51 code points, 102 UTF-16 units
        {**ORDER, "title": EMOJI * 50 + "x"},  # 101 UTF-16 units
        {**ORDER, "title": "x" * 101},
        {**ORDER, "description": EMOJI * 150 + "x"},
        {**ORDER, "customerId": "x" * 257},
        {**ORDER, "amount": 0},
        {**ORDER, "amount": 2**63},
        {**ORDER, "amount": "100"},
        {**ORDER, "amount": True},
        {**ORDER, "amount": 1.5},
        {**ORDER, "currency": "RUB"},
        {**ORDER, "successUrl": "not a url"},
        {**ORDER, "failUrl": "/relative"},
        {**ORDER, "email": "nobody"},
        {**ORDER, "email": None},
        {**ORDER, "savePaymentMethod": "yes"},
        {**ORDER, "period": "daily"},
        {key: value for key, value in ORDER.items() if key != "title"},
        {key: value for key, value in ORDER.items() if key != "amount"},
        [ORDER],
    ],
    ids=lambda body: json.dumps(body, ensure_ascii=True)[-40:],
)
def test_create_order_refuses_invalid_bodies_with_400(client: TestClient, body: Any) -> None:
    before = len(client.get(BASE + "/shop/orders", headers=FULL).json())
    response = client.post(BASE + "/shop/orders", headers=FULL, json=body)
    assert_conforms(API, "/shop/orders", "POST", response)
    assert_error(response, 400, "error_bad_request")
    assert len(client.get(BASE + "/shop/orders", headers=FULL).json()) == before


@pytest.mark.parametrize("raw", [b"{not json", b"", b'{"amount": 1,}'], ids=["garbage", "empty", "trailing-comma"])
def test_create_order_refuses_malformed_json_with_400(client: TestClient, raw: bytes) -> None:
    headers = {**FULL, "Content-Type": "application/json"}
    assert_error(client.post(BASE + "/shop/orders", headers=headers, content=raw), 400, "error_bad_request")


@pytest.mark.parametrize("change", [{"savePaymentMethod": True}, {"period": "monthly"}, {"period": "yearly"}])
def test_recurring_features_need_a_recurrent_shop(client: TestClient, change: dict[str, Any]) -> None:
    refused = client.post(BASE + "/shop/orders", headers=ONETIME, json={**ORDER, **change})
    assert_conforms(API, "/shop/orders", "POST", refused)
    assert_error(refused, 400, "error_bad_request")
    assert client.post(BASE + "/shop/orders", headers=FULL, json={**ORDER, **change}).status_code == 200
    assert client.post(BASE + "/shop/orders", headers=ONETIME, json={**ORDER, "period": "onetime"}).status_code == 200


# --- order by UUID -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "template"),
    [("GET", STATUS), ("POST", CANCEL), ("GET", TRANSACTIONS), ("POST", REFUND)],
    ids=["status", "cancel", "transactions", "refund"],
)
def test_order_operations_answer_404_400_and_403_as_documented(client: TestClient, method: str, template: str) -> None:
    cases = [
        (UNKNOWN, FULL, 404, "error_not_found"),
        ("not-a-uuid", FULL, 400, "error_bad_request"),
        (seed_newest(client), ONETIME, 403, "error_not_permitted"),
    ]
    for order_uuid, headers, status, code in cases:
        response = client.request(method, url(template, orderUuid=order_uuid, txId=1), headers=headers)
        assert_conforms(API, template, method, response)
        assert_error(response, status, code)


def test_order_status_reads_the_seed_order(client: TestClient) -> None:
    response = client.get(url(STATUS, orderUuid=seed_newest(client)), headers=FULL)
    assert_conforms(API, STATUS, "GET", response)
    assert response.json() == {"status": "paid"}


def test_transactions_walk_in_pages_of_50_until_next_from_is_null(client: TestClient) -> None:
    pages = walk(client, seed_newest(client))
    for page in pages:
        assert_conforms(API, TRANSACTIONS, "GET", page)
    assert [len(page.json()["transactions"]) for page in pages] == [50, 50, 50, 26]
    assert [page.json()["nextFrom"] for page in pages] == [50, 100, 150, None]
    ids = walked_ids(pages)
    assert len(ids) == len(set(ids)) == 176 and ids == sorted(ids)
    types = {tx["type"] for page in pages for tx in page.json()["transactions"]}
    assert types == {"sell", "refund", "charge"}
    past_end = client.get(url(TRANSACTIONS, orderUuid=seed_newest(client)), headers=FULL, params={"startFrom": 500})
    assert past_end.json() == {"transactions": [], "nextFrom": None}


def test_transactions_of_an_order_without_payments_are_an_empty_page(client: TestClient) -> None:
    created = client.post(BASE + "/shop/orders", headers=FULL, json=ORDER).json()
    response = client.get(url(TRANSACTIONS, orderUuid=created["uuid"]), headers=FULL)
    assert_conforms(API, TRANSACTIONS, "GET", response)
    assert response.json() == {"transactions": [], "nextFrom": None}


@pytest.mark.parametrize("start", ["abc", "1.5", "-1", ""])
def test_transactions_refuse_a_bad_start_from(client: TestClient, start: str) -> None:
    response = client.get(url(TRANSACTIONS, orderUuid=seed_newest(client)), headers=FULL, params={"startFrom": start})
    assert_conforms(API, TRANSACTIONS, "GET", response)
    assert_error(response, 400, "error_bad_request")


def test_refund_a_sell_once_then_400(client: TestClient) -> None:
    order_uuid = seed_newest(client)
    first = walk(client, order_uuid)[0].json()["transactions"][0]
    assert first["type"] == "sell" and first["isRefundable"]
    refund = client.post(url(REFUND, orderUuid=order_uuid, txId=first["id"]), headers=FULL)
    assert_conforms(API, REFUND, "POST", refund)
    assert refund.status_code == 200 and refund.json()["success"] is True
    again = client.post(url(REFUND, orderUuid=order_uuid, txId=first["id"]), headers=FULL)
    assert_conforms(API, REFUND, "POST", again)
    assert_error(again, 400, "error_bad_request")
    transactions = [tx for page in walk(client, order_uuid) for tx in page.json()["transactions"]]
    assert transactions[0]["isRefunded"] and not transactions[0]["isRefundable"]
    assert len(transactions) == 177 and transactions[-1]["type"] == "refund"


def test_refund_refuses_other_transaction_types_and_unknown_ids(client: TestClient) -> None:
    order_uuid = seed_newest(client)
    transactions = [tx for page in walk(client, order_uuid) for tx in page.json()["transactions"]]
    not_sell = next(tx["id"] for tx in transactions if tx["type"] != "sell")
    unknown = max(tx["id"] for tx in transactions) + 1000
    cases = [(not_sell, 400, "error_bad_request"), (unknown, 404, "error_not_found")]
    cases += [("abc", 400, "error_bad_request"), ("-1", 400, "error_bad_request"), (2**64, 400, "error_bad_request")]
    cases += [(2**64 - 1, 404, "error_not_found")]
    for tx_id, status, code in cases:
        response = client.post(url(REFUND, orderUuid=order_uuid, txId=tx_id), headers=FULL)
        assert_conforms(API, REFUND, "POST", response)
        assert_error(response, status, code)


def test_refund_refuses_a_sell_of_an_order_that_is_not_paid(client: TestClient) -> None:
    order_uuid = seed_newest(client)
    assert client.post(url(CANCEL, orderUuid=order_uuid), headers=FULL).status_code == 200
    sell = walk(client, order_uuid)[0].json()["transactions"][0]
    assert sell["type"] == "sell" and not sell["isRefundable"]
    response = client.post(url(REFUND, orderUuid=order_uuid, txId=sell["id"]), headers=FULL)
    assert_error(response, 400, "error_bad_request")


def test_cancel_a_recurring_order_once_then_400(client: TestClient) -> None:
    order_uuid = client.post(BASE + "/shop/orders", headers=FULL, json={**ORDER, "period": "weekly"}).json()["uuid"]
    cancel = client.post(url(CANCEL, orderUuid=order_uuid), headers=FULL)
    assert_conforms(API, CANCEL, "POST", cancel)
    assert cancel.status_code == 200
    assert client.get(url(STATUS, orderUuid=order_uuid), headers=FULL).json() == {"status": "cancelled"}
    again = client.post(url(CANCEL, orderUuid=order_uuid), headers=FULL)
    assert_conforms(API, CANCEL, "POST", again)
    assert_error(again, 400, "error_bad_request")


def test_cancel_refuses_a_one_time_order(client: TestClient) -> None:
    order_uuid = client.post(BASE + "/shop/orders", headers=FULL, json=ORDER).json()["uuid"]
    response = client.post(url(CANCEL, orderUuid=order_uuid), headers=FULL)
    assert_conforms(API, CANCEL, "POST", response)
    assert_error(response, 400, "error_bad_request")


# --- auth and errors everywhere ----------------------------------------------------------

OPERATIONS = [
    ("GET", "/shop"),
    ("GET", "/shop/orders"),
    ("POST", "/shop/orders"),
    ("GET", STATUS),
    ("POST", CANCEL),
    ("GET", TRANSACTIONS),
    ("POST", REFUND),
]


@pytest.mark.parametrize(("method", "template"), OPERATIONS, ids=[f"{m} {t}" for m, t in OPERATIONS])
@pytest.mark.parametrize("headers", [{}, {"Api-Key": "wrong"}, {"Api-Key": ""}], ids=["missing", "invalid", "empty"])
def test_every_operation_refuses_missing_or_invalid_keys_with_401(
    client: TestClient, method: str, template: str, headers: dict[str, str]
) -> None:
    # credentials come before parameters: a malformed UUID still gets 401
    response = client.request(method, url(template, orderUuid="not-a-uuid", txId="x"), headers=headers, json=[])
    assert_conforms(API, template, method, response)
    assert_error(response, 401, "no_access")


def test_unknown_routes_answer_404_in_the_envelope(client: TestClient) -> None:
    for path in ["/api/v1/nope", "/api/v1/shop/", "/api/v1/shop/orders/", "/", "/api/v2/shop"]:
        assert_error(client.get(path, headers=FULL), 404, "error_not_found")


def test_profile_method_not_allowed_entries_answer_405_with_allow(client: TestClient) -> None:
    for entry in load_spec(API)["x-conformance"]["errors"]["method_not_allowed"]:
        path = entry["path"].format(**entry.get("path_params", {}))
        response = client.request(entry["method"], BASE + path, headers=FULL)
        assert_error(response, 405, "error_bad_request")
        allowed = {method.strip() for method in response.headers["allow"].split(",")}
        assert entry["method"] not in allowed and allowed & {"GET", "POST"}


def resolve(client: TestClient, operation: str, recipe: dict[str, Any]) -> dict[str, Any]:
    """Substitutes "{name}" strings of a recipe through its variables (as the suite would)."""
    reads = {"listShopOrders": ("GET", "/shop/orders"), "listShopOrderTransactions": ("GET", TRANSACTIONS)}
    values: dict[str, Any] = {}
    for name, variable in recipe.get("variables", {}).items():
        method, template = reads[variable["operation"]]
        body = client.request(method, url(template, **values), headers=FULL).json()
        for part in variable["pointer"].strip("/").split("/"):
            body = body[int(part)] if isinstance(body, list) else body[part]
        values[name] = body

    def fill(value: Any) -> Any:
        if isinstance(value, str) and re.fullmatch(r"\{(\w+)\}", value):
            return values[value[1:-1]]
        return value

    return {key: fill(value) for key, value in recipe.get("path_params", {}).items()}


def test_profile_request_recipes_succeed_on_a_fresh_sandbox(client: TestClient) -> None:
    spec = load_spec(API)
    templates = {
        op["operationId"]: (method.upper(), path) for path, item in spec["paths"].items() for method, op in item.items()
    }
    recipes = spec["x-conformance"]["requests"]
    # create last: a new order becomes /0 of the list the other recipes read
    for operation in ["getShopOrderStatus", "listShopOrderTransactions", "refundShopOrderTransaction",
                      "cancelShopOrder", "createShopOrder"]:  # fmt: skip
        method, template = templates[operation]
        params = resolve(client, operation, recipes[operation])
        response = client.request(method, url(template, **params), headers=FULL, json=recipes[operation].get("body"))
        assert_conforms(API, template, method, response)
        assert response.status_code == 200, (operation, response.text)


def test_profile_not_found_and_bad_parameter_entries_hold(client: TestClient) -> None:
    profile = load_spec(API)["x-conformance"]
    templates = {
        op["operationId"]: (m.upper(), p) for p, item in load_spec(API)["paths"].items() for m, op in item.items()
    }
    for entry in profile["errors"]["not_found"]:
        method, template = templates[entry["operation"]]
        assert_error(
            client.request(method, url(template, **entry["path_params"]), headers=FULL), 404, "error_not_found"
        )
    for entry in profile["errors"]["bad_parameters"]:
        method, template = templates[entry["operation"]]
        recipe = resolve(client, entry["operation"], profile["requests"][entry["operation"]])
        params = {**recipe, **entry.get("path_params", {})}
        body = profile["requests"][entry["operation"]].get("body")
        if "body_patch" in entry:
            body = {**body, **entry["body_patch"]}
        response = client.request(method, url(template, **params), headers=FULL, params=entry.get("query"), json=body)
        assert response.status_code in entry["status"], (entry, response.text)
        assert set(response.json()) == {"error", "message"}


def test_profile_valid_requests_and_permission_hold(client: TestClient) -> None:
    profile = load_spec(API)["x-conformance"]
    order = profile["requests"]["createShopOrder"]["body"]
    for entry in profile["valid_requests"]:
        assert entry["operation"] == "createShopOrder"
        response = client.post(BASE + "/shop/orders", headers=FULL, json={**order, **entry["body_patch"]})
        assert response.status_code == 200, (entry, response.text)
    permission = profile["auth"]["permission"]
    assert permission["granted_by"] == {"operation": "getShop", "pointer": "/recurrent"}
    for headers, recurrent in ((FULL, True), (ONETIME, False)):
        assert client.get(BASE + "/shop", headers=headers).json()["recurrent"] is recurrent
        response = client.post(BASE + "/shop/orders", headers=headers, json={**order, **permission["body_patch"]})
        assert (response.status_code in permission["status"]) is not recurrent, response.text


# --- persistence, concurrency, rate limit ------------------------------------------------


def test_orders_survive_a_restart_with_a_db_file(tmp_path: Any) -> None:
    db = str(tmp_path / "tribute.db")
    with build(db=db) as first:
        created = first.post(BASE + "/shop/orders", headers=FULL, json={**ORDER, "period": "monthly"}).json()
        assert first.post(url(CANCEL, orderUuid=created["uuid"]), headers=FULL).status_code == 200
        count = len(first.get(BASE + "/shop/orders", headers=FULL).json())
        first.app.state.db.close()  # type: ignore[attr-defined]
    with build(db=db) as second:
        orders = second.get(BASE + "/shop/orders", headers=FULL).json()
        assert len(orders) == count  # the seed went in once
        assert orders[0]["uuid"] == created["uuid"]
        assert second.get(url(STATUS, orderUuid=created["uuid"]), headers=FULL).json() == {"status": "cancelled"}


def test_twenty_parallel_creates_make_twenty_orders(sandbox_factory: Any) -> None:
    sandbox = sandbox_factory(API)
    with httpx.Client(base_url=sandbox.base_url, headers={"Api-Key": sandbox.keys["full"]}, timeout=10) as http:
        before = http.get("/shop/orders").json()

        def create(index: int) -> httpx.Response:
            return http.post("/shop/orders", json={**ORDER, "title": f"Parallel {index}"})

        with ThreadPoolExecutor(max_workers=20) as pool:
            responses = list(pool.map(create, range(20)))
        after = http.get("/shop/orders").json()
    assert [response.status_code for response in responses] == [200] * 20
    created = {response.json()["uuid"] for response in responses}
    assert len(created) == 20 and len(after) == len(before) + 20
    assert {order["uuid"] for order in after[:20]} == created
    assert {order["title"] for order in after[:20]} == {f"Parallel {index}" for index in range(20)}


def test_rate_limit_answers_429_in_the_envelope_without_limit_headers() -> None:
    with build(rate_limit=(3, 60.0)) as client:
        answers = [client.get(BASE + "/shop", headers=FULL) for _ in range(4)]
        assert [answer.status_code for answer in answers] == [200, 200, 200, 429]
        assert_conforms(API, "/shop", "GET", answers[-1])
        assert_error(answers[-1], 429, "error_too_many_requests")
        assert int(answers[-1].headers["retry-after"]) >= 1
        assert not any(name.lower().startswith("x-ratelimit") for name in answers[0].headers)
        assert client.get(BASE + "/shop", headers=ONETIME).status_code == 200  # limits are per key


# --- faults ------------------------------------------------------------------------------


def observe(client: TestClient) -> dict[str, Any]:
    """Returns, per fault name, what that fault changes (and nothing else should)."""
    newest = seed_newest(client)
    pages = walk(client, newest)
    ids = walked_ids(pages)
    orders = client.get(BASE + "/shop/orders", headers=FULL).json()
    unknown_tx = client.post(url(REFUND, orderUuid=newest, txId=1), headers=FULL)
    shop = client.get(BASE + "/shop", headers=FULL)
    put = client.put(BASE + "/shop", headers=FULL)
    created = client.post(BASE + "/shop/orders", headers=FULL, json=ORDER)
    listed = {order["uuid"] for order in client.get(BASE + "/shop/orders", headers=FULL).json()}
    cancelled = client.post(url(CANCEL, orderUuid=created.json()["uuid"]), headers=FULL).status_code

    def create(headers: dict[str, str], **change: Any) -> str:
        status = client.post(BASE + "/shop/orders", headers=headers, json={**ORDER, **change}).status_code
        return f"{status // 100}xx"  # the class only: schema.status-code changes 200 to 201

    def start(value: str) -> int:
        return client.get(url(TRANSACTIONS, orderUuid=newest), headers=FULL, params={"startFrom": value}).status_code

    return {
        "errors.envelope": sorted(unknown_tx.json()),
        "errors.not-found": client.get(url(STATUS, orderUuid=UNKNOWN), headers=FULL).status_code,
        "errors.unknown-route": client.get(BASE + "/nope", headers=FULL).status_code,
        "errors.method-not-allowed": (put.status_code, "allow" in put.headers),
        "errors.bad-parameter": start("-1"),
        "errors.bad-body": client.post(BASE + "/shop/orders", headers=FULL, content=b"{").status_code,
        "errors.code-convention": unknown_tx.json().get("error"),
        "pagination.no-duplicates": len(ids) == len(set(ids)),
        "pagination.complete": len(set(ids)),
        "pagination.max-limit": max(len(page.json()["transactions"]) for page in pages) <= 50,
        "pagination.last-page": [page.json()["nextFrom"] for page in pages if page.json()["transactions"]][-1],
        "pagination.bad-cursor": start("abc"),
        "pagination.stable-order": ids == walked_ids(walk(client, newest)),
        "pagination.sort-order": orders[0]["createdAt"] >= orders[-1]["createdAt"],
        "auth.missing-credentials": client.get(BASE + "/shop").status_code,
        "auth.invalid-credentials": client.get(BASE + "/shop", headers={"Api-Key": "wrong"}).status_code,
        "auth.permissions": create(ONETIME, period="monthly"),
        "schema.response-schema": type(shop.json()["id"]).__name__,
        "schema.status-code": created.status_code,
        "schema.server-error": create(FULL, customerId="user_12345"),
        "schema.content-type": shop.headers["content-type"].split(";")[0],
        "schema.stateful": client.get(url(STATUS, orderUuid=created.json()["uuid"]), headers=FULL).status_code,
        "schema.negative-data": create(FULL, title=EMOJI * 50 + "x"),
        "schema.positive-data": create(FULL, amount=10**9),
        "pagination.includes-created": created.json()["uuid"] in listed,
        "errors.business-rule": cancelled,  # a one-time order cannot be cancelled
    }


@cache
def conforming_observation() -> dict[str, Any]:
    with build() as client:
        return observe(client)


def test_every_fault_is_a_rule_id_and_has_an_observation() -> None:
    assert set(FAULTS) <= set(RULES)
    assert set(FAULTS) == set(conforming_observation())


@pytest.mark.parametrize(
    ("fault", "method", "template", "request_"),
    [
        ("schema.response-schema", "GET", "/shop", {}),
        ("schema.status-code", "POST", "/shop/orders", {"json": ORDER}),
        ("errors.envelope", "GET", STATUS, {}),
    ],
)
def test_schema_faults_are_caught_by_response_validation(
    fault: str, method: str, template: str, request_: dict[str, Any]
) -> None:
    with build(fault) as client:
        response = client.request(method, url(template, orderUuid=UNKNOWN), headers=FULL, **request_)
    with pytest.raises(AssertionError):
        assert_conforms(API, template, method, response)


# Pairs where one fault necessarily shows in another's observation.
COUPLED = {("errors.envelope", "errors.code-convention"), ("schema.stateful", "errors.business-rule")}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_each_fault_changes_only_what_it_names(fault: str) -> None:
    expected = conforming_observation()
    with build(fault) as client:
        seen = observe(client)
    assert seen[fault] != expected[fault], f"{fault} changed nothing"
    others = {name: value for name, value in seen.items() if name != fault and (fault, name) not in COUPLED}
    assert others == {name: expected[name] for name in others}


# --- conforming variations ------------------------------------------------------------------------


def check_variation(name: str, client: TestClient) -> None:
    """Asserts that the sandbox shows the variation `name` (each branch fails on a plain sandbox)."""
    newest = seed_newest(client)
    if name == "null-as-unspecified":
        body = {**ORDER, "period": None, "email": None, "savePaymentMethod": None, "successUrl": None}
        created = client.post(BASE + "/shop/orders", headers=ONETIME, json=body)
        assert created.status_code == 200
        listed = client.get(BASE + "/shop/orders", headers=ONETIME).json()[0]
        assert listed["uuid"] == created.json()["uuid"] and listed["period"] == "onetime" and "email" not in listed
    elif name == "json-charset":
        assert client.get(BASE + "/shop", headers=FULL).headers["content-type"] == "application/json; charset=utf-8"
    elif name == "extra-response-headers":
        response = client.get(BASE + "/shop", headers=FULL)
        assert response.headers.get("cache-control") == "no-store" and "x-request-id" in response.headers
    elif name == "extra-response-fields":
        assert "currency" in client.get(BASE + "/shop", headers=FULL).json()
        assert "customerId" in client.get(BASE + "/shop/orders", headers=FULL).json()[0]
        assert "orderUuid" in client.get(url(TRANSACTIONS, orderUuid=newest), headers=FULL).json()["transactions"][0]
    elif name == "smaller-transaction-pages":
        pages = walk(client, newest)
        assert len(pages[0].json()["transactions"]) == SMALL_PAGE and pages[0].json()["nextFrom"] == SMALL_PAGE
        assert len(walked_ids(pages)) == len(walked_ids(walk(build(), newest)))
    elif name == "milliseconds":
        created = client.post(BASE + "/shop/orders", headers=FULL, json=ORDER).json()
        orders = client.get(BASE + "/shop/orders", headers=FULL).json()
        assert orders[0]["uuid"] == created["uuid"]
        assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", o["createdAt"]) for o in orders)
    elif name == "malformed-uuid-not-found":
        response = client.get(url(STATUS, orderUuid="not-a-uuid"), headers=FULL)
        assert response.status_code == 404 and response.json()["error"] == "error_not_found"
    elif name == "trailing-slash":
        assert client.get(BASE + "/shop/", headers=FULL).json() == client.get(BASE + "/shop", headers=FULL).json()
    elif name == "extra-error-fields":
        body = client.get(url(STATUS, orderUuid=UNKNOWN), headers=FULL).json()
        assert body["error"] == "error_not_found" and body.get("statusCode") == 404
    elif name == "different-error-messages":
        body = client.get(url(STATUS, orderUuid=UNKNOWN), headers=FULL).json()
        assert body["error"] == "error_not_found" and body["message"].startswith("Request refused (404)")
    else:
        raise AssertionError(f"no check for variation {name!r}")


def variation_client(*names: str) -> TestClient:
    return build(variations=frozenset(names))


(
    test_variation_changes_what_it_names,
    test_variation_check_fails_without_the_variation,
    test_all_variations_show_together,
) = variation_tests(VARIATIONS, check_variation, build, variation_client)
