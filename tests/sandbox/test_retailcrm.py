"""The RetailCRM sandbox: every operation against the spec, fixtures, persistence, limits and faults."""

from __future__ import annotations

import datetime
import json
import os
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
from starlette.testclient import TestClient

from conformance.rules import RULES
from conformance.sandbox.base import RateLimitMiddleware, SandboxSettings
from conformance.sandbox.retailcrm import FAULTS, KEYS, SMALL_CATALOG, VARIATIONS, create_app
from conformance.specfiles import load_spec
from conformance.target import read_pointer
from tests.conftest import assert_conforms, openapi_schema

API = "retailcrm"
FULL, SINGLE = KEYS["full"], KEYS["single"]
UNLIMITED = (1_000_000, 1.0)
LIMITED = (3, 1.0)
DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
_SHARED = Path(__file__).resolve().parents[3] / "shared/fixtures/retailcrm"
_COPY = Path(__file__).resolve().parents[1] / "fixtures/retailcrm"  # a fresh clone has no ../shared
FIXTURES = Path(os.environ.get("RETAILCRM_FIXTURES", _SHARED if _SHARED.is_dir() else _COPY))


def client(*faults: str, db: str | None = None, rate_limit: tuple[int, float] | None = UNLIMITED) -> TestClient:
    """A TestClient on a fresh sandbox; unlimited unless a test is about the limit."""
    return TestClient(create_app(SandboxSettings(db=db, rate_limit=rate_limit, faults=frozenset(faults))))


def key(value: str = FULL) -> dict[str, str]:
    return {"X-API-KEY": value}


def form(**fields: Any) -> dict[str, str]:
    """A form body: nested structures as JSON strings, as RetailCRM wants them."""
    return {name: json.dumps(value) if isinstance(value, dict | list) else value for name, value in fields.items()}


def error_message(response: httpx.Response) -> str:
    body = response.json()
    assert body["success"] is False
    return str(body["errorMsg"])


# --- the recorded fixtures ------------------------------------------------------------------

COVERED_FIXTURES = {
    "OrdersTest__testList__1.json",
    "OrdersTest__testGet__1.json",
    "OrdersTest__testCreate__1.json",
    "OrdersTest__testEdit__1.json",
    "OrdersTest__testStatuses__1.json",
    "CustomersTest__testCustomersList__1.json",
    "CustomersTest__testCustomersGet__1.json",
    "CustomersTest__testCustomersCreate__1.json",
    "CustomersTest__testCustomersEdit__1.json",
    "CustomersTest__testCustomersEditTags__1.json",
}


def fixture_records() -> list[dict[str, Any]]:
    if not FIXTURES.is_dir():
        pytest.skip(f"the recorded RetailCRM responses are not at {FIXTURES} (set RETAILCRM_FIXTURES)")
    records = []
    for path in sorted(FIXTURES.glob("*__*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        record["name"] = path.name
        records.append(record)
    return records


def spec_operation(record: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    template = record["path_template"].removeprefix("/api")
    operation = load_spec(API)["paths"].get(template, {}).get(record["method"].lower())
    return (template, operation) if operation else None


def test_every_fixture_of_a_covered_operation_matches_its_success_schema() -> None:
    covered = set()
    for record in fixture_records():
        found = spec_operation(record)
        if found is None or record["body_format"] != "json":
            continue
        template, operation = found
        # The recorded statuses are the mock's (always 200): judge the body against the documented success.
        status = next(code for code in operation["responses"] if code.startswith("2"))
        request = httpx.Request(record["method"], "https://demo.retailcrm.ru/api" + record["path"])
        response = httpx.Response(int(status), json=record["body"], request=request)
        response.elapsed = datetime.timedelta(0)
        openapi_schema(API)[template][record["method"]].validate_response(response)
        covered.add(record["name"])
    assert covered == COVERED_FIXTURES


def test_the_fixture_check_rejects_an_iso_date() -> None:
    record = next(r for r in fixture_records() if r["name"] == "OrdersTest__testGet__1.json")
    body = json.loads(json.dumps(record["body"]))
    body["order"]["createdAt"] = "2020-12-29T17:35:08"
    response = httpx.Response(200, json=body, request=httpx.Request("GET", "https://demo.retailcrm.ru/api/v5/orders/1"))
    response.elapsed = datetime.timedelta(0)
    with pytest.raises(Exception, match="does not match"):
        openapi_schema(API)["/v5/orders/{externalId}"]["GET"].validate_response(response)


# --- every operation, success and errors ----------------------------------------------------


def test_api_versions_and_credentials() -> None:
    c = client()
    response = c.get("/api/api-versions", headers=key())
    assert_conforms(API, "/api-versions", "GET", response)
    assert "5.0" in response.json()["versions"]
    response = c.get("/api/credentials", headers=key())
    assert_conforms(API, "/credentials", "GET", response)
    assert response.json()["siteAccess"] == "access_full"
    assert response.json()["sitesAvailable"] == ["main", "outlet"]
    single = c.get("/api/credentials", headers=key(SINGLE)).json()
    assert (single["siteAccess"], single["sitesAvailable"]) == ("access_selective", ["main"])


@pytest.mark.parametrize("path", ["/api-versions", "/credentials", "/v5/orders", "/v5/reference/sites"])
def test_missing_and_wrong_keys_answer_401_with_the_documented_messages(path: str) -> None:
    c = client()
    missing = c.get("/api" + path)
    assert missing.status_code == 401
    assert error_message(missing) == '"apiKey" is missing.'
    assert_conforms(API, path, "GET", missing)
    wrong = c.get("/api" + path, params={"apiKey": "nope"})
    assert wrong.status_code == 401
    assert error_message(wrong) == 'Wrong "apiKey" value.'
    assert_conforms(API, path, "GET", wrong)
    assert c.get("/api" + path, params={"apiKey": ""}).status_code == 401


def test_the_key_works_in_the_header_the_query_and_the_form() -> None:
    c = client()
    assert c.get("/api/v5/orders", headers=key()).status_code == 200
    assert c.get("/api/v5/orders", params={"apiKey": FULL}).status_code == 200
    event = {"phone": "+79001234567", "type": "in"}
    assert c.post("/api/v5/telephony/call/event", data=form(apiKey=FULL, event=event)).status_code == 200
    assert c.post("/api/v5/telephony/call/event", params={"apiKey": FULL}, data=form(event=event)).status_code == 200
    assert c.post("/api/v5/telephony/call/event", headers=key(), data=form(event=event)).status_code == 200


def test_list_orders_pages_in_ascending_id_order() -> None:
    c = client()
    response = c.get("/api/v5/orders", headers=key())
    assert_conforms(API, "/v5/orders", "GET", response)
    body = response.json()
    assert body["pagination"] == {"limit": 20, "totalCount": 317, "currentPage": 1, "totalPageCount": 16}
    assert [o["id"] for o in body["orders"]] == sorted(o["id"] for o in body["orders"])
    assert all(DATETIME.match(o["createdAt"]) for o in body["orders"])
    ids = walk(c, "/api/v5/orders", "orders", 100)
    assert ids == sorted(ids) and len(ids) == len(set(ids)) == 317


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("limit=250", "limit"),
        ("limit=10", "limit"),
        ("limit=0", "limit"),
        ("limit=abc", "limit"),
        ("page=0", "page"),
        ("page=abc", "page"),
        ("filter[ids][]=abc", "filter[ids]"),
    ],
)
def test_bad_page_parameters_answer_400(query: str, param: str) -> None:
    response = client().get(f"/api/v5/orders?{query}", headers=key())
    assert response.status_code == 400
    assert param in response.json()["errors"]
    assert_conforms(API, "/v5/orders", "GET", response)


def test_a_page_past_the_end_is_empty() -> None:
    response = client().get("/api/v5/orders", params={"page": 99}, headers=key())
    assert response.status_code == 200
    assert response.json()["orders"] == []
    assert response.json()["pagination"]["currentPage"] == 99


def test_bracket_filters_in_both_spellings() -> None:
    c = client()
    listed = c.get("/api/v5/orders?filter[ids][]=7001&filter[ids][]=7002&filter[ids][]=7005", headers=key())
    assert [o["id"] for o in listed.json()["orders"]] == [7001, 7002, 7005]
    indexed = c.get("/api/v5/orders?filter%5Bids%5D%5B0%5D=7001", headers=key())
    assert [o["id"] for o in indexed.json()["orders"]] == [7001]
    numbers = c.get("/api/v5/orders?filter[numbers][]=7003A&filter[numbers][]=7002B", headers=key())
    assert [o["number"] for o in numbers.json()["orders"]] == ["7002B", "7003A"]
    external = c.get("/api/v5/orders?filter[externalIds][]=ord-7009", headers=key())
    assert [o["id"] for o in external.json()["orders"]] == [7009]
    outlet = c.get("/api/v5/customers?filter[sites][]=outlet&limit=100", headers=key()).json()
    assert {customer["site"] for customer in outlet["customers"]} == {"outlet"}


def test_a_single_site_key_sees_only_its_site() -> None:
    c = client()
    orders = c.get("/api/v5/orders", params={"limit": 100}, headers=key(SINGLE)).json()
    assert {o["site"] for o in orders["orders"]} == {"main"}
    assert orders["pagination"]["totalCount"] < 317
    sites = c.get("/api/v5/reference/sites", headers=key(SINGLE)).json()["sites"]
    assert list(sites) == ["main"]
    assert c.get("/api/v5/orders/7002?by=id", headers=key(SINGLE)).status_code == 404  # 7002 is on outlet
    denied = c.get("/api/v5/orders/7001?by=id&site=outlet", headers=key(SINGLE))
    assert (denied.status_code, error_message(denied)) == (403, "Access denied.")
    assert_conforms(API, "/v5/orders/{externalId}", "GET", denied)


def test_get_order_by_external_id_or_id() -> None:
    c = client()
    by_external = c.get("/api/v5/orders/ord-7001", headers=key())
    assert_conforms(API, "/v5/orders/{externalId}", "GET", by_external)
    by_id = c.get("/api/v5/orders/7001", params={"by": "id", "site": "main"}, headers=key())
    assert by_id.json()["order"] == by_external.json()["order"]
    for path in ("/api/v5/orders/ord-0", "/api/v5/orders/7001?site=outlet", "/api/v5/orders/abc?by=id"):
        missing = c.get(path, headers=key())
        assert (missing.status_code, error_message(missing)) == (404, "Not found")
        assert_conforms(API, "/v5/orders/{externalId}", "GET", missing)
    bad = c.get("/api/v5/orders/7001", params={"by": "number"}, headers=key())
    assert bad.status_code == 400
    assert_conforms(API, "/v5/orders/{externalId}", "GET", bad)
    assert c.get("/api/v5/orders/7001", params={"by": "id", "site": ""}, headers=key()).status_code == 400


def test_order_statuses() -> None:
    c = client()
    response = c.get("/api/v5/orders/statuses?ids[]=7001&externalIds[]=ord-7002&ids[]=1", headers=key())
    assert_conforms(API, "/v5/orders/statuses", "GET", response)
    assert [(o["id"], o["externalId"]) for o in response.json()["orders"]] == [(7001, "ord-7001"), (7002, "ord-7002")]
    assert c.get("/api/v5/orders/statuses", headers=key()).json()["orders"] == []
    bad = c.get("/api/v5/orders/statuses?ids[]=x", headers=key())
    assert bad.status_code == 400
    assert_conforms(API, "/v5/orders/statuses", "GET", bad)


def test_create_order_answers_201_and_reads_back() -> None:
    c = client()
    order = {
        "externalId": "web-1",
        "firstName": "Ann",
        "status": "assembling",
        "customer": {"externalId": "cust-4001"},
        "items": [{"offer": {"id": 10001}, "quantity": 2}, {"productName": "Gift wrap", "initialPrice": 50}],
    }
    response = c.post("/api/v5/orders/create", headers=key(), data=form(site="main", order=order))
    assert response.status_code == 201
    assert_conforms(API, "/v5/orders/create", "POST", response)
    created = response.json()
    assert created["order"]["id"] == created["id"] > 7317
    assert created["order"]["customer"]["id"] == 4001
    assert created["order"]["items"][0]["offer"]["id"] == 10001
    assert created["order"]["summ"] == created["order"]["items"][0]["initialPrice"] * 2 + 50
    assert DATETIME.match(created["order"]["createdAt"])
    read = c.get(f"/api/v5/orders/{created['id']}", params={"by": "id"}, headers=key())
    assert read.json()["order"] == created["order"]
    assert c.get("/api/v5/orders/web-1", headers=key()).json()["order"]["id"] == created["id"]


@pytest.mark.parametrize(
    ("fields", "status", "message"),
    [
        ({"order": {"firstName": "Ann"}}, 400, "Parameter 'site' is missing"),
        ({"site": "main"}, 400, "Parameter 'order' is missing"),
        ({"site": "main", "order": "{not json"}, 400, "Parameter 'order' is not valid JSON"),
        ({"site": "main", "order": "[1, 2]"}, 400, "Parameter 'order' must be a JSON object"),
        ({"site": "main", "order": {"createdAt": "2024-01-01T10:00:00"}}, 400, "Errors in the entity format"),
        ({"site": "main", "order": {"externalId": "ord-7001"}}, 400, "Errors in the entity format"),
        ({"site": "main", "order": {"customer": {"externalId": "cust-4003"}}}, 400, "Errors in the entity format"),
        ({"site": "nowhere", "order": {}}, 403, "Access denied."),
    ],
)
def test_create_order_refusals(fields: dict[str, Any], status: int, message: str) -> None:
    response = client().post("/api/v5/orders/create", headers=key(), data=form(**fields))
    assert (response.status_code, error_message(response)) == (status, message)
    assert_conforms(API, "/v5/orders/create", "POST", response)


def test_a_single_site_key_creates_without_naming_the_site() -> None:
    response = client().post("/api/v5/orders/create", headers=key(SINGLE), data=form(order={}))
    assert response.status_code == 201
    assert response.json()["order"]["site"] == "main"


def test_edit_order() -> None:
    c = client()
    response = c.post(
        "/api/v5/orders/ord-7001/edit", headers=key(), data=form(order={"status": "complete", "managerComment": "Done"})
    )
    assert_conforms(API, "/v5/orders/{externalId}/edit", "POST", response)
    assert response.json()["id"] == 7001
    read = c.get("/api/v5/orders/7001?by=id", headers=key()).json()["order"]
    assert (read["status"], read["managerComment"]) == ("complete", "Done")
    by_id = c.post("/api/v5/orders/7002/edit", headers=key(), data=form(by="id", site="outlet", order={"phone": "1"}))
    assert by_id.status_code == 200
    missing = c.post("/api/v5/orders/ord-0/edit", headers=key(), data=form(order={}))
    assert missing.status_code == 404
    assert_conforms(API, "/v5/orders/{externalId}/edit", "POST", missing)
    bad = c.post("/api/v5/orders/ord-7001/edit", headers=key(), data=form(order={"status": "lost"}))
    assert bad.status_code == 400 and "status" in bad.json()["errors"]
    assert_conforms(API, "/v5/orders/{externalId}/edit", "POST", bad)


def test_customers_list_create_get_edit() -> None:
    c = client()
    listed = c.get("/api/v5/customers", params={"limit": 50, "page": 2}, headers=key())
    assert_conforms(API, "/v5/customers", "GET", listed)
    assert listed.json()["pagination"] == {"limit": 50, "totalCount": 293, "currentPage": 2, "totalPageCount": 6}
    assert walk(c, "/api/v5/customers", "customers", 100) == sorted(range(4001, 4294))
    created = c.post(
        "/api/v5/customers/create",
        headers=key(),
        data=form(
            site="outlet",
            customer={
                "externalId": "bob",
                "firstName": "Bob",
                "birthday": "1990-05-01",
                "phones": [{"number": "+7900"}],
            },
        ),
    )
    assert created.status_code == 201
    assert_conforms(API, "/v5/customers/create", "POST", created)
    got = c.get("/api/v5/customers/bob", headers=key())
    assert_conforms(API, "/v5/customers/{externalId}", "GET", got)
    assert got.json()["customer"]["id"] == created.json()["id"]
    assert got.json()["customer"]["site"] == "outlet"
    edited = c.post(
        f"/api/v5/customers/{created.json()['id']}/edit",
        headers=key(),
        data=form(by="id", customer={"lastName": "Builder", "vip": True}),
    )
    assert_conforms(API, "/v5/customers/{externalId}/edit", "POST", edited)
    assert c.get("/api/v5/customers/bob", headers=key()).json()["customer"]["lastName"] == "Builder"
    for response, path, method in [
        (c.get("/api/v5/customers/nobody", headers=key()), "/v5/customers/{externalId}", "GET"),
        (
            c.post("/api/v5/customers/nobody/edit", headers=key(), data=form(customer={})),
            "/v5/customers/{externalId}/edit",
            "POST",
        ),
    ]:
        assert response.status_code == 404
        assert_conforms(API, path, method, response)
    for fields in (
        {"customer": {"firstName": "x"}},
        {"site": "main", "customer": {"sex": "other"}},
        {"site": "main", "customer": "{"},
        {"site": "main", "customer": {"externalId": "bob"}},
    ):
        refused = c.post("/api/v5/customers/create", headers=key(), data=form(**fields))
        assert refused.status_code == 400
        assert_conforms(API, "/v5/customers/create", "POST", refused)
    assert c.get("/api/v5/customers/1?by=email", headers=key()).status_code == 400


def test_references_are_objects_keyed_by_code() -> None:
    c = client()
    sites = c.get("/api/v5/reference/sites", headers=key())
    assert_conforms(API, "/v5/reference/sites", "GET", sites)
    assert list(sites.json()["sites"]) == ["main", "outlet"]
    statuses = c.get("/api/v5/reference/statuses", headers=key())
    assert_conforms(API, "/v5/reference/statuses", "GET", statuses)
    assert all(code == status["code"] for code, status in statuses.json()["statuses"].items())


def test_store_products_are_paginated() -> None:
    c = client()
    response = c.get("/api/v5/store/products", params={"limit": 100, "page": 3}, headers=key())
    assert_conforms(API, "/v5/store/products", "GET", response)
    assert response.json()["pagination"] == {"limit": 100, "totalCount": 263, "currentPage": 3, "totalPageCount": 3}
    assert len(response.json()["products"]) == 63
    assert c.get("/api/v5/store/products?limit=21", headers=key()).status_code == 400
    assert [p["id"] for p in c.get("/api/v5/store/products?filter[ids][]=5", headers=key()).json()["products"]] == [5]


def test_telephony_call_event() -> None:
    c = client()
    response = c.post(
        "/api/v5/telephony/call/event", headers=key(), data=form(event={"phone": "+79001234567", "type": "hangup"})
    )
    assert_conforms(API, "/v5/telephony/call/event", "POST", response)
    for event in ({"type": "in"}, {"phone": "+7", "type": "ringing"}, "{broken"):
        refused = c.post("/api/v5/telephony/call/event", headers=key(), data=form(event=event))
        assert refused.status_code == 400
        assert_conforms(API, "/v5/telephony/call/event", "POST", refused)


def test_unknown_routes_wrong_methods_and_trailing_slashes() -> None:
    c = client()
    for path in ("/api/v5/nothing", "/api/v5/orders/", "/elsewhere"):
        response = c.get(path, headers=key())
        assert (response.status_code, error_message(response)) == (404, "API method not found")
    wrong = c.post("/api/v5/orders", headers=key())
    assert wrong.status_code == 405
    assert {method.strip() for method in wrong.headers["allow"].split(",")} == {"GET", "HEAD"}
    assert error_message(wrong)
    assert c.delete("/api/v5/orders/create", headers=key()).headers["allow"] == "POST"
    assert c.head("/api/v5/orders", headers=key()).status_code == 200
    assert (
        c.post(
            "/api/v5/orders/create", headers={**key(), "Content-Type": "application/json"}, content=b'{"order": {}}'
        ).status_code
        == 400
    )  # like PHP's $_POST, only forms are read


# --- state ------------------------------------------------------------------------------------


def test_orders_survive_a_restart_on_the_same_db_file(tmp_path: Path) -> None:
    path = str(tmp_path / "retailcrm.sqlite")
    first = client(db=path)
    created = first.post("/api/v5/orders/create", headers=key(), data=form(site="outlet", order={"firstName": "Kept"}))
    order_id = created.json()["id"]
    first.app.state.db.close()  # type: ignore[attr-defined]
    second = client(db=path)
    read = second.get(f"/api/v5/orders/{order_id}", params={"by": "id"}, headers=key())
    assert read.json()["order"]["firstName"] == "Kept"
    assert second.get("/api/v5/orders", headers=key()).json()["pagination"]["totalCount"] == 318  # seeded once


def test_twenty_parallel_creates_make_twenty_orders(sandbox_factory: Any) -> None:
    sandbox = sandbox_factory(API, rate_limit=(1000, 1.0))
    url = sandbox.base_url + "/v5/orders/create"

    def create(number: int) -> int:
        response = requests.post(
            url, headers=key(), data=form(site="main", order={"externalId": f"par-{number}"}), timeout=10
        )
        assert response.status_code == 201, response.text
        return int(response.json()["id"])

    with ThreadPoolExecutor(max_workers=20) as pool:
        ids = list(pool.map(create, range(20)))
    assert len(set(ids)) == 20
    query = "&".join(f"filter[ids][]={order_id}" for order_id in ids)
    listed = requests.get(f"{sandbox.base_url}/v5/orders?limit=50&{query}", headers=key(), timeout=10).json()
    assert sorted(o["externalId"] for o in listed["orders"]) == sorted(f"par-{n}" for n in range(20))


# --- the rate limit ---------------------------------------------------------------------------


def test_the_documented_limit_is_the_default() -> None:
    limiter = next(m for m in create_app(SandboxSettings()).user_middleware if m.cls is RateLimitMiddleware)
    options = limiter.kwargs
    assert (options["requests"], options["window_s"], options["exceeded_status"]) == (10, 1.0, 503)
    assert options["send_headers"] is False and options["retry_after"] is False
    assert ("/api/v5/telephony", 40, 1.0) in options["overrides"]


def test_a_burst_past_the_limit_gets_503_without_headers_and_telephony_has_its_own_bucket() -> None:
    c = client(rate_limit=(10, 30.0))  # the documented count, a window no slow machine outlasts
    answers = [c.get("/api/api-versions", headers=key()) for _ in range(11)]
    assert [a.status_code for a in answers[:10]] == [200] * 10
    assert answers[10].status_code == 503
    assert error_message(answers[10]) == "Service Temporarily Unavailable"
    assert_conforms(API, "/api-versions", "GET", answers[10])
    assert not any(
        name.lower().startswith("x-ratelimit") or name.lower() == "retry-after" for a in answers for name in a.headers
    )
    event = form(event={"phone": "1", "type": "in"})
    events = [c.post("/api/v5/telephony/call/event", headers=key(), data=event) for _ in range(41)]
    assert [e.status_code for e in events] == [200] * 40 + [503]  # four times the general limit


def test_the_limit_recovers_after_the_window() -> None:
    c = client(rate_limit=LIMITED)
    assert limited_burst(c) == [200, 200, 200, 503]
    time.sleep(LIMITED[1] * 1.2)
    assert c.get("/api/api-versions", headers=key()).status_code == 200


# --- faults: each changes what it names ------------------------------------------------------


def walk(c: TestClient, path: str, items: str, limit: int | None) -> list[int]:
    """Returns the ids of a walk from page 1 until a short page (or the reported total)."""
    ids: list[int] = []
    page = 1
    while page < 50:
        params = {"page": page, **({"limit": limit} if limit else {})}
        body = c.get(path, params=params, headers=key()).json()
        ids += [item["id"] for item in body[items]]
        if len(body[items]) < (limit or 20) or len(ids) >= body["pagination"]["totalCount"]:
            break
        page += 1
    return ids


def orders_page(c: TestClient, **params: Any) -> dict[str, Any]:
    return dict(c.get("/api/v5/orders", params=params, headers=key()).json())


def unknown_order(c: TestClient) -> httpx.Response:
    return c.get("/api/v5/orders/ord-0", headers=key())


def created_order_read_back(c: TestClient) -> int:
    created = c.post("/api/v5/orders/create", headers=key(), data=form(site="main", order={})).json()
    return c.get(f"/api/v5/orders/{created['id']}?by=id", headers=key()).status_code


def limited_burst(c: TestClient) -> list[int]:
    return [c.get("/api/api-versions", headers=key()).status_code for _ in range(4)]


def recovery(c: TestClient) -> int:
    limited_burst(c)
    time.sleep(LIMITED[1] * 1.2)  # past the window, short of a second one
    return c.get("/api/api-versions", headers=key()).status_code


def envelope_is_valid(response: httpx.Response) -> bool:
    try:
        assert_conforms(API, "/v5/orders/{externalId}", "GET", response)
    except Exception:
        return False
    return True


def schema_valid_sites(c: TestClient) -> bool:
    response = c.get("/api/v5/reference/sites", headers=key())
    try:
        assert_conforms(API, "/v5/reference/sites", "GET", response)
    except Exception:
        return False
    return True


Probe = Callable[[TestClient], Any]

FAULT_PROBES: dict[str, tuple[Probe, Callable[[Any], bool]]] = {
    # fault: (what to observe, is the observation the fault's?)
    "schema.response-schema": (schema_valid_sites, lambda valid: valid is False),
    "schema.status-code": (
        lambda c: c.post("/api/v5/customers/create", headers=key(), data=form(site="main", customer={})).status_code,
        lambda s: s == 200,
    ),
    "schema.content-type": (
        lambda c: c.get("/api/v5/reference/statuses", headers=key()).headers["content-type"],
        lambda t: t.startswith("text/plain"),
    ),
    "schema.server-error": (
        lambda c: c.get("/api/v5/orders?filter[numbers][]=7001A", headers=key()).status_code,
        lambda s: s == 500,
    ),
    "schema.negative-data": (
        lambda c: c.get("/api/v5/orders/statuses?ids[]=x", headers=key()).status_code,
        lambda s: s == 200,
    ),
    "schema.positive-data": (
        lambda c: c.get("/api/v5/orders/statuses?externalIds[]=ord-7001", headers=key()).status_code,
        lambda s: s == 400,
    ),
    "schema.stateful": (created_order_read_back, lambda s: s == 404),
    "errors.envelope": (lambda c: envelope_is_valid(unknown_order(c)), lambda valid: valid is False),
    "errors.not-found": (lambda c: unknown_order(c).status_code, lambda s: s == 400),
    "errors.unknown-route": (lambda c: c.get("/api/v5/nothing", headers=key()).status_code, lambda s: s == 400),
    "errors.method-not-allowed": (
        lambda c: c.post("/api/v5/orders", headers=key()).headers.get("allow"),
        lambda allow: allow is None,
    ),
    "errors.bad-parameter": (
        lambda c: c.get("/api/v5/orders/1?by=number", headers=key()).status_code,
        lambda s: s == 404,
    ),
    "errors.bad-body": (
        lambda c: (
            c.post("/api/v5/orders/create", headers=key(), data={"site": "main", "order": "{not json"}).status_code
        ),
        lambda s: s == 201,
    ),
    "errors.code-convention": (lambda c: error_message(unknown_order(c)), lambda m: m == "Order not found"),
    "pagination.no-duplicates": (
        lambda c: walk(c, "/api/v5/orders", "orders", 100),
        lambda ids: len(ids) > len(set(ids)) == 317,
    ),
    "pagination.complete": (
        lambda c: walk(c, "/api/v5/orders", "orders", 100),
        lambda ids: len(set(ids)) < 317 and len(ids) == len(set(ids)),
    ),
    "pagination.default-limit": (lambda c: len(orders_page(c)["orders"]), lambda n: n == 50),
    "pagination.max-limit": (
        lambda c: (
            len(orders_page(c, limit=101).get("orders", [])),
            c.get("/api/v5/orders?limit=250", headers=key()).status_code,
        ),
        lambda seen: seen == (101, 400),
    ),
    "pagination.invalid-limit": (
        lambda c: c.get("/api/v5/orders?limit=0", headers=key()).status_code,
        lambda s: s == 200,
    ),
    "pagination.totals": (
        lambda c: (orders_page(c, limit=100)["pagination"], len(orders_page(c, limit=100)["orders"])),
        lambda seen: seen[0]["limit"] == 20 and seen[1] == 100 and seen[0]["totalCount"] == 317,
    ),
    "pagination.last-page": (lambda c: len(orders_page(c, limit=100, page=9)["orders"]), lambda n: n > 0),
    "pagination.stable-order": (
        lambda c: [[o["id"] for o in orders_page(c, limit=100)["orders"]] for _ in range(3)],
        lambda pages: any(p != sorted(p) for p in pages),
    ),
    "pagination.sort-order": (
        lambda c: walk(c, "/api/v5/orders", "orders", 100),
        lambda ids: ids == sorted(ids, reverse=True) and len(ids) == 317,
    ),
    "rate-limit.exceeded": (limited_burst, lambda codes: codes == [200] * 4),
    "rate-limit.recovery": (recovery, lambda s: s == 503),
    "auth.missing-credentials": (lambda c: c.get("/api/v5/orders").status_code, lambda s: s == 200),
    "auth.invalid-credentials": (
        lambda c: c.get("/api/v5/orders", params={"apiKey": "nope"}).status_code,
        lambda s: s == 200,
    ),
    "auth.key-locations": (
        lambda c: (
            c.post(
                "/api/v5/telephony/call/event", data=form(apiKey=FULL, event={"phone": "1", "type": "in"})
            ).status_code
        ),
        lambda s: s == 401,
    ),
}


def test_every_fault_is_a_known_rule_and_has_a_probe() -> None:
    assert set(FAULTS) <= set(RULES)
    assert set(FAULT_PROBES) == set(FAULTS)


@pytest.mark.parametrize("fault", sorted(FAULT_PROBES))
def test_each_fault_changes_what_it_names(fault: str) -> None:
    probe, is_faulty = FAULT_PROBES[fault]
    rate_limit = LIMITED if fault.startswith("rate-limit.") else UNLIMITED
    assert not is_faulty(probe(client(rate_limit=rate_limit))), f"{fault}: the clean sandbox already shows it"
    assert is_faulty(probe(client(fault, rate_limit=rate_limit))), f"{fault}: the fault changes nothing"


def test_the_profile_recipes_resolve_against_the_sandbox() -> None:
    """Every recipe's variables point at something the sandbox's lists answer."""
    c = client()
    profile = load_spec(API)["x-conformance"]
    answers = {
        "listOrders": c.get("/api/v5/orders", headers=key()).json(),
        "listCustomers": c.get("/api/v5/customers", headers=key()).json(),
        "listSites": c.get("/api/v5/reference/sites", headers=key()).json(),
    }
    for recipe in profile["requests"].values():
        for variable in recipe.get("variables", {}).values():
            assert read_pointer(answers[variable["operation"]], variable["pointer"]) is not None
    edit = profile["requests"]["editOrder"]
    first = answers["listOrders"]["orders"][0]
    fields = {k: (first["site"] if v == "{site}" else v) for k, v in edit["form"].items()}
    response = c.post(f"/api/v5/orders/{first['id']}/edit", headers=key(), data=form(**fields))
    assert response.status_code == 200


# --- customFields: [] ---------------------------------------------------------------------------


@pytest.mark.parametrize("entity", ["order", "customer"])
def test_an_empty_array_is_an_empty_custom_fields_map(entity: str) -> None:
    """PHP cannot tell [] from {}: the official clients send `customFields: []` for no custom fields."""
    c = client()
    path = f"/api/v5/{entity}s"
    created = c.post(f"{path}/create", headers=key(), data=form(site="main", **{entity: {"customFields": []}}))
    assert created.status_code == 201, created.text
    edit = {entity: {"customFields": []}, "by": "id", "site": "main"}
    assert c.post(f"{path}/{created.json()['id']}/edit", headers=key(), data=form(**edit)).status_code == 200
    refused = c.post(f"{path}/create", headers=key(), data=form(site="main", **{entity: {"customFields": [1]}}))
    assert refused.status_code == 400


# --- conforming variations ------------------------------------------------------------------------


def variation_client(*names: str, rate_limit: tuple[int, float] | None = UNLIMITED) -> TestClient:
    return TestClient(create_app(SandboxSettings(rate_limit=rate_limit, variations=frozenset(names))))


def check_variation(name: str, c: TestClient) -> None:
    """Asserts that the sandbox `c` shows the variation `name` (each branch fails on a plain sandbox)."""
    if name == "higher-rate-limit-no-headers":
        statuses = [c.get("/api/api-versions", headers=key()) for _ in range(30)]
        assert all(r.status_code == 200 and "x-ratelimit-limit" not in r.headers for r in statuses)
    elif name == "empty-site-as-absent":
        assert c.get("/api/v5/orders/7001?by=id&site=", headers=key()).status_code == 200
        assert c.get("/api/v5/customers/4001?by=id&site=", headers=key()).status_code == 200
    elif name == "empty-maps-as-arrays":
        assert c.get("/api/v5/orders/7001?by=id", headers=key()).json()["order"]["customFields"] == []
    elif name == "extra-response-fields":
        assert "privilegeType" in c.get("/api/v5/customers/4001?by=id", headers=key()).json()["customer"]
        assert "managerId" in orders_page(c)["orders"][0]
    elif name == "errors-as-array":
        body = c.get("/api/v5/orders?limit=7", headers=key()).json()
        assert body["errors"] == ["limit: The value you selected is not a valid choice (20, 50, 100)."]
    elif name == "auth-errors-403":
        assert c.get("/api/v5/orders").status_code == 403
        wrong = c.get("/api/v5/orders", headers=key("wrong"))
        assert wrong.status_code == 403 and wrong.json()["errorMsg"] == 'Wrong "apiKey" value.'
    elif name == "json-charset":
        assert c.get("/api/v5/orders", headers=key()).headers["content-type"] == "application/json; charset=utf-8"
    elif name == "trailing-slash":
        assert c.get("/api/v5/orders/", headers=key()).json() == orders_page(c)
    elif name == "limit-counts-items":
        last = orders_page(c, limit=100, page=4)
        assert last["pagination"]["limit"] == len(last["orders"]) == 17
        assert orders_page(c, page=99)["pagination"]["limit"] == 0
    elif name == "empty-account":
        assert orders_page(c)["pagination"]["totalCount"] == 0 and orders_page(c)["orders"] == []
        assert c.get("/api/v5/customers", headers=key()).json()["customers"] == []
        created = c.post("/api/v5/orders/create", headers=key(), data=form(site="main", order={})).json()
        assert [order["id"] for order in orders_page(c)["orders"]] == [created["id"]]
    elif name == "small-catalog":
        body = c.get("/api/v5/store/products", headers=key()).json()
        assert body["pagination"]["totalCount"] == len(body["products"]) == SMALL_CATALOG
    else:
        raise AssertionError(f"no check for variation {name!r}")


def rate_limit_for(name: str) -> tuple[int, float] | None:
    """The rate-limit variation is about the default limit: it gets none configured."""
    return None if name == "higher-rate-limit-no-headers" else UNLIMITED


@pytest.mark.parametrize("name", sorted(VARIATIONS))
def test_variation_changes_what_it_names(name: str) -> None:
    check_variation(name, variation_client(name, rate_limit=rate_limit_for(name)))


@pytest.mark.parametrize("name", sorted(VARIATIONS))
def test_variation_check_fails_without_the_variation(name: str) -> None:
    with pytest.raises(AssertionError):
        check_variation(name, client(rate_limit=rate_limit_for(name)))


def test_all_variations_show_together() -> None:
    together = set(VARIATIONS) - {"empty-account"}  # it removes the seeded data the other checks read
    for name in sorted(together):
        check_variation(name, variation_client(*together, rate_limit=rate_limit_for(name)))
