"""The engine's negative-data failures are findings only where the documents promise the refusal."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from conformance.checks.schema import infrastructure_refusal, tolerated_input
from conformance.profile import load_profile


def coverage_case(scenario: str, location: str, pointer: str = "", parameter: str | None = None, **request: Any) -> Any:
    """A Schemathesis coverage-phase case, as far as the judgement reads it."""
    data = SimpleNamespace(
        scenario=scenario, parameter=parameter, parameter_location=location, location=pointer, mutations=()
    )
    return _case(data, **request)


def fuzzing_case(*mutations: Any, **request: Any) -> Any:
    data = SimpleNamespace(parameter=None, parameter_location=None, location=None, mutations=mutations)
    return _case(data, **request)


def mutation(location: str, pointer: str, *keywords: str, operator: str = "change_type", parameter: str | None = None):
    return SimpleNamespace(
        parameter_location=location, schema_pointer=pointer, keywords=keywords, operator=operator, parameter=parameter
    )


def _case(data: Any, body: Any = None, query: Any = None) -> Any:
    return SimpleNamespace(
        meta=SimpleNamespace(phase=SimpleNamespace(data=data)),
        body=body,
        query=query or {},
        path_parameters={},
        headers={},
        cookies={},
    )


def judge(api: str, operation_id: str, case: Any) -> str | None:
    profile = load_profile(api)
    return tolerated_input(case, profile.operations[operation_id], profile.spec)


TRIBUTE_ORDER = {"amount": 1000, "currency": "rub", "title": "T", "description": "D"}


def test_a_null_optional_body_field_accepted_is_a_note() -> None:
    case = coverage_case("incorrect_type", "body", "/properties/period/type", body={**TRIBUTE_ORDER, "period": None})
    assert "not given" in judge("tribute-shop", "createShopOrder", case)


def test_a_null_required_body_field_accepted_stays_a_finding() -> None:
    case = coverage_case("incorrect_type", "body", "/properties/amount/type", body={**TRIBUTE_ORDER, "amount": None})
    assert judge("tribute-shop", "createShopOrder", case) is None


def test_a_value_outside_a_documented_enum_stays_a_finding() -> None:
    case = coverage_case("invalid_enum_value", "body", "/properties/period/enum", body={**TRIBUTE_ORDER, "period": "x"})
    assert judge("tribute-shop", "createShopOrder", case) is None


def test_a_missing_required_field_stays_a_finding() -> None:
    case = coverage_case("object_missing_required_property", "body", "", body={"currency": "rub"})
    assert judge("tribute-shop", "createShopOrder", case) is None


def test_an_empty_optional_query_value_accepted_is_a_note() -> None:
    case = coverage_case("string_below_min_length", "query", "", parameter="site", query={"site": ""})
    assert judge("retailcrm", "getOrder", case) is not None


def test_a_wrong_type_in_an_optional_query_value_stays_a_finding() -> None:
    case = coverage_case("incorrect_type", "query", "", parameter="limit", query={"limit": "abc"})
    assert judge("retailcrm", "listOrders", case) is None


def test_a_null_inside_a_patch_is_a_note_even_where_create_requires_it() -> None:
    case = fuzzing_case(
        mutation("body", "/properties/customer/properties/contact/type", "type"),
        body={"customer": {"contact": None}},
    )
    assert judge("goat", "updateOrder", case) is not None


def test_a_removed_required_property_stays_a_finding_whatever_the_value() -> None:
    case = fuzzing_case(
        mutation("body", "/properties/period", "required", operator="remove_required_property"),
        body={**TRIBUTE_ORDER, "period": None},
    )
    assert judge("tribute-shop", "createShopOrder", case) is None


def test_an_unknown_field_ignored_is_a_note() -> None:
    case = coverage_case("object_unexpected_properties", "body", "", body={**TRIBUTE_ORDER, "x": 1})
    assert judge("tribute-shop", "createShopOrder", case) is not None


@pytest.mark.parametrize("status", [414, 431])
def test_a_proxy_refusing_a_huge_url_is_a_note_and_an_ordinary_url_a_finding(status: int) -> None:
    huge = "http://127.0.0.1/v1/products?q=" + "a" * 21_000
    assert infrastructure_refusal(status, huge, {}, None, []) is not None
    assert infrastructure_refusal(status, "http://127.0.0.1/v1/products", {}, None, []) is None


def test_415_is_a_note_only_for_an_undocumented_content_type() -> None:
    odd = {"Content-Type": "text/x-conformance"}
    documented = {"Content-Type": "application/json"}
    assert infrastructure_refusal(415, "http://h/v1/orders", odd, b"{}", ["application/json"]) is not None
    assert infrastructure_refusal(415, "http://h/v1/orders", documented, b"{}", ["application/json"]) is None
    assert infrastructure_refusal(415, "http://h/v1/me", {}, None, []) is None  # a GET without a body


def test_413_is_a_note_only_for_a_large_body() -> None:
    assert infrastructure_refusal(413, "http://h/v1/orders", {}, b"x" * 100_000, ["application/json"]) is not None
    assert infrastructure_refusal(413, "http://h/v1/orders", {}, b"{}", ["application/json"]) is None


def test_a_null_optional_body_is_a_note_and_a_null_required_body_a_finding() -> None:
    null_body = coverage_case("incorrect_type", "body", "", body=None)
    assert judge("goat", "testWebhook", null_body) is not None  # the webhook test takes an optional JSON object
    assert judge("tribute-shop", "createShopOrder", null_body) is None


def test_a_body_of_random_bytes_accepted_stays_a_finding() -> None:
    """Schemathesis marks such a body `syntax_fuzzing` with no keyword: it is no unknown field."""
    case = fuzzing_case(mutation("body", "", operator="syntax_fuzzing"), body=b"\x00{not json")
    assert judge("goat", "createOrder", case) is None
    assert judge("tribute-shop", "createShopOrder", case) is None


DATASETTE = str(Path(__file__).resolve().parent.parent / "examples" / "datasette" / "datasette.yaml")


@pytest.mark.parametrize(
    "sent",
    [{"": None, "K&\U000976d8": None}, ["", "K&\U000976d8"], ["12", "x"]],
    ids=["object-sent-as-its-keys", "list-empty-first", "list"],
)
def test_a_repeated_query_parameter_accepted_is_a_note(sent: Any) -> None:
    """Datasette (seed 981855719): `?_size=&_size=K…` is answered 200, reading the first `_size` as not given."""
    case = fuzzing_case(
        mutation("query", "/properties/_size/oneOf/0", "type", parameter="_size"),
        query={"_shape": "array", "_size": sent},
    )
    assert "repeated query parameter" in judge(DATASETTE, "listItems", case)


@pytest.mark.parametrize("sent", [["abc"], {"abc": 1}, "abc"], ids=["list-of-one", "object-of-one", "scalar"])
def test_a_query_parameter_sent_once_with_a_wrong_type_stays_a_finding(sent: Any) -> None:
    case = fuzzing_case(
        mutation("query", "/properties/_size/oneOf/0", "type", parameter="_size"), query={"_size": sent}
    )
    assert judge(DATASETTE, "listItems", case) is None


@pytest.mark.parametrize("sent", [{"": 1}, [""], []], ids=["object-of-an-empty-key", "list-of-empty", "empty-list"])
def test_a_query_parameter_sent_empty_or_not_at_all_as_a_list_is_a_note(sent: Any) -> None:
    """Datasette (seed 314159): `_size` became `{"": …}`, sent as `?_size=`, read as not given."""
    case = fuzzing_case(
        mutation("query", "/properties/_size/oneOf/0", "type", parameter="_size"), query={"_size": sent}
    )
    assert "not given" in judge(DATASETTE, "listItems", case)


@pytest.mark.parametrize(
    ("scenario", "value"), [("value_above_maximum", "101"), ("value_below_minimum", "0")], ids=["above", "below"]
)
def test_a_page_size_past_its_bounds_accepted_is_a_note(scenario: str, value: str) -> None:
    """A new user's server clamped `limit=51` (maximum 50): the profile's pagination section, not the engine,
    says which page sizes must be refused (pagination.invalid-limit, pagination.max-limit)."""
    case = coverage_case(scenario, "query", "", parameter="limit", query={"limit": value})
    assert "page parameter outside its documented bounds" in judge("goat", "listProducts", case)
    bound = fuzzing_case(mutation("query", "/properties/limit", "maximum", parameter="limit"), query={"limit": value})
    assert "page parameter" in judge("goat", "listProducts", bound)


def test_a_bound_broken_on_an_input_that_pages_nothing_stays_a_finding() -> None:
    body = {"items": [{"product_id": "p", "quantity": 1_000_000}]}
    case = coverage_case("value_above_maximum", "body", "/properties/items/items/properties/quantity", body=body)
    assert judge("goat", "createOrder", case) is None


def test_a_page_size_of_the_wrong_type_stays_a_finding() -> None:
    case = coverage_case("incorrect_type", "query", "", parameter="limit", query={"limit": "abc"})
    assert judge("goat", "listProducts", case) is None
