"""The bundled specs are clean and complete; broken specs are rejected with file, pointer and reason."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from conformance.cli import main
from conformance.profile import iter_operations
from conformance.rules import CATEGORIES, RULES
from conformance.speccheck import check_spec_file
from conformance.specfiles import API_SLUGS, load_spec, spec_path, specs_dir

# Every operation apis.md lists, per API it pins (paths relative to the base URL). Only those APIs must
# cover apis.md and have a table in specs/README.md; another bundled spec needs neither.
APIS_MD_OPERATIONS = {
    "goat": [
        "GET /health",
        "GET /me",
        "GET /products",
        "GET /products/{product_id}",
        "POST /orders",
        "GET /orders/{order_id}",
        "PATCH /orders/{order_id}",
        "GET /payments/{payment_id}",
        "POST /webhooks/test",
    ],
    "gaming-goods": [
        "GET /products",
        "GET /products/{slug}",
        "GET /search",
        "GET /categories",
        "GET /brands",
        "POST /orders",
        "GET /orders/{order_id}",
    ],
    "gaming-goods-partner": [
        "GET /brands",
        "GET /brands/{brand}/categories",
        "GET /products",
        "GET /products/{product_id}",
        "POST /checkout",
        "GET /orders",
        "GET /orders/{order_id}",
    ],
    "storefront": [
        "GET /users",
        "GET /products",
        "GET /products/{productId}",
        "POST /orders",
        "POST /payments",
        "POST /notifications/send",
        "GET /logs",
    ],
    "tribute-shop": [
        "GET /shop",
        "GET /shop/orders",
        "POST /shop/orders",
        "GET /shop/orders/{orderUuid}/status",
        "POST /shop/orders/{orderUuid}/cancel",
        "GET /shop/orders/{orderUuid}/transactions",
        "POST /shop/orders/{orderUuid}/transactions/{txId}/refund",
    ],
    "retailcrm": [
        "GET /api-versions",
        "GET /credentials",
        "GET /v5/orders",
        "POST /v5/orders/create",
        "GET /v5/orders/{externalId}",
        "POST /v5/orders/{externalId}/edit",
        "GET /v5/orders/statuses",
        "GET /v5/customers",
        "POST /v5/customers/create",
        "GET /v5/customers/{externalId}",
        "POST /v5/customers/{externalId}/edit",
        "GET /v5/reference/sites",
        "GET /v5/reference/statuses",
        "GET /v5/store/products",
        "POST /v5/telephony/call/event",
    ],
}


@pytest.mark.parametrize("api", API_SLUGS)
def test_bundled_spec_is_clean(api: str) -> None:
    assert [str(p) for p in check_spec_file(spec_path(api))] == []


@pytest.mark.parametrize("api", APIS_MD_OPERATIONS)
def test_every_apis_md_operation_is_in_the_spec(api: str) -> None:
    present = {f"{op.method} {op.path}" for op in iter_operations(load_spec(api))}
    assert sorted(set(APIS_MD_OPERATIONS[api]) - present) == []


@pytest.mark.parametrize("api", API_SLUGS)
def test_every_operation_has_an_id_tags_and_error_responses(api: str) -> None:
    for op in iter_operations(load_spec(api)):
        assert op.definition.get("operationId"), op.label
        assert op.definition.get("tags"), op.label
        statuses = {str(s) for s in op.definition["responses"]}
        assert any(s.startswith("2") for s in statuses), op.label
        assert any(s.startswith("4") for s in statuses), op.label


# An operation in a README table: `operationId` `METHOD /path`.
README_OPERATION = re.compile(r"`(\w+)` `(GET|PUT|POST|DELETE|OPTIONS|HEAD|PATCH|TRACE) (/[^`]*)`")


def readme_tables() -> dict[str, list[list[str]]]:
    """The table rows (cells) of each `## <slug> …` section of specs/README.md."""
    sections: dict[str, list[list[str]]] = {}
    current: str | None = None
    for line in (specs_dir() / "README.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            current = line[3:].split()[0]
            sections.setdefault(current, [])
        elif current is not None and line.startswith("|") and not set(line) <= set("|-: "):
            sections[current].append([cell.strip() for cell in line.strip().strip("|").split(" | ")])
    return sections


@pytest.mark.parametrize("api", APIS_MD_OPERATIONS)
def test_every_operation_is_in_the_readme_table_of_its_api(api: str) -> None:
    rows = readme_tables().get(api)
    assert rows, f"specs/README.md has no table under '## {api}'"
    named = {match for row in rows for match in README_OPERATION.findall(" | ".join(row))}
    in_spec = {(op.operation_id, op.method, op.path) for op in iter_operations(load_spec(api))}
    assert sorted(in_spec - named) == [], "operations missing from the README table"
    assert sorted(named - in_spec) == [], "the README table names operations the spec does not have"


@pytest.mark.parametrize("api", APIS_MD_OPERATIONS)
def test_the_readme_tables_name_only_known_rule_ids(api: str) -> None:
    rows = readme_tables()[api]
    header, *body = rows
    assert header == ["seed section", "spec operation", "profile (`x-conformance`)", "rule ids"]
    for row in body:
        assert len(row) == 4, row
        for token in re.findall(r"`([^`]+)`", row[3]):
            category, _, name = token.rpartition(".")
            if not category:  # a pagination rule named after "pagination.* except"
                assert f"pagination.{token}" in RULES, (token, row[0])
            elif name == "*":
                assert category in CATEGORIES, (token, row[0])
            else:
                assert token in RULES, (token, row[0])


def test_every_api_apis_md_pins_is_bundled() -> None:
    assert set(APIS_MD_OPERATIONS) <= set(API_SLUGS)


def test_conformance_specs_command_reports_all_bundled_specs_clean(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["specs"]) == 0
    n = len(API_SLUGS)
    assert f"{n} spec(s) checked: 0 problem(s); {n} clean" in capsys.readouterr().err


def _goat() -> dict[str, Any]:
    return copy.deepcopy(load_spec("goat"))


def _first_json_response(spec: dict[str, Any]) -> dict[str, Any]:
    return spec["paths"]["/health"]["get"]["responses"]["200"]["content"]["application/json"]


def _dangling_ref(spec: dict[str, Any]) -> None:
    _first_json_response(spec)["schema"] = {"$ref": "#/components/schemas/NoSuchSchema"}


def _bad_example(spec: dict[str, Any]) -> None:
    media = _first_json_response(spec)
    media.pop("examples", None)
    media["example"] = {"status": 42}


def _unknown_operation(spec: dict[str, Any]) -> None:
    spec["x-conformance"]["pagination"][0]["operation"] = "listWidgets"


def _wrong_pagination_param(spec: dict[str, Any]) -> None:
    spec["x-conformance"]["pagination"][0]["limit"]["param"] = "page_size"


def _bad_tier(spec: dict[str, Any]) -> None:
    spec["x-conformance"]["rate_limit"]["tier"] = "maybe"


def _no_profile(spec: dict[str, Any]) -> None:
    del spec["x-conformance"]


def _public_with_security(spec: dict[str, Any]) -> None:
    del spec["paths"]["/health"]["get"]["security"]


def _documented_wrong_method(spec: dict[str, Any]) -> None:
    spec["x-conformance"]["errors"]["method_not_allowed"] = [{"path": "/products", "method": "GET"}]


def _invalid_openapi(spec: dict[str, Any]) -> None:
    spec["paths"]["/health"]["get"]["responses"] = "none"


BROKEN: list[tuple[str, Callable[[dict[str, Any]], None], str, str]] = [
    (
        "dangling-ref",
        _dangling_ref,
        "/paths/~1health/get/responses/200/content/application~1json/schema/$ref",
        "unresolvable reference '#/components/schemas/NoSuchSchema'",
    ),
    (
        "example-violates-schema",
        _bad_example,
        "/paths/~1health/get/responses/200/content/application~1json/example",
        "example does not match its schema",
    ),
    (
        "unknown-operation",
        _unknown_operation,
        "/x-conformance/pagination/0/operation",
        "unknown operationId 'listWidgets'",
    ),
    (
        "wrong-pagination-param",
        _wrong_pagination_param,
        "/x-conformance/pagination/0/limit/param",
        "has no query parameter 'page_size'",
    ),
    ("bad-tier", _bad_tier, "/x-conformance/rate_limit/tier", "invalid profile"),
    ("no-profile", _no_profile, "/x-conformance", "the spec has no conformance profile"),
    (
        "public-without-security-override",
        _public_with_security,
        "/x-conformance/auth/public/0",
        "listed as public but its spec has no `security: []`",
    ),
    (
        "documented-method-as-wrong",
        _documented_wrong_method,
        "/x-conformance/errors/method_not_allowed/0/method",
        "GET is documented for /products",
    ),
    ("invalid-openapi", _invalid_openapi, "/paths/~1health/get/responses", "invalid OpenAPI"),
]


@pytest.mark.parametrize(("mutate", "pointer", "reason"), [b[1:] for b in BROKEN], ids=[b[0] for b in BROKEN])
def test_broken_spec_is_rejected_with_pointer_and_reason(
    tmp_path: Path, mutate: Callable[[dict[str, Any]], None], pointer: str, reason: str
) -> None:
    spec = _goat()
    mutate(spec)
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    problems = check_spec_file(path)
    assert any(p.pointer == pointer and reason in p.reason for p in problems), [str(p) for p in problems]
    assert all(p.file == str(path) for p in problems)


def test_invalid_yaml_is_rejected_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("openapi: 3.1.0\ninfo: {title: x\npaths: {}\n")
    [problem] = check_spec_file(path)
    assert problem.pointer == "" and "invalid YAML: line" in problem.reason
    assert str(problem).startswith(f"{path}: /: invalid YAML")


def test_specs_command_prints_problems_and_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = _goat()
    _unknown_operation(spec)
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    assert main(["specs", str(path)]) == 1
    assert f"{path}: /x-conformance/pagination/0/operation: unknown operationId" in capsys.readouterr().out


def test_specs_command_missing_file_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["specs", "no/such/spec.yaml"]) == 2
    assert capsys.readouterr().err.startswith("error: no/such/spec.yaml: no such file")


def test_stray_key_in_a_schema_is_reported(tmp_path: Path) -> None:
    """An unquoted comma in a `{...}` flow mapping splits a description into a stray key."""
    stray = yaml.safe_load("{type: integer, description: Amount after fees, in minor units.}")
    assert "in minor units." in stray  # the YAML bug this check exists for
    spec = _goat()
    schema = spec["components"]["schemas"]["Error"]
    schema["properties"] = {**schema.get("properties", {}), "total": stray}
    _first_json_response(spec)["schema"] = {"type": "object", "nullabel": True, "x-note": "extensions are fine"}
    path = tmp_path / "stray.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    problems = {p.pointer: p.reason for p in check_spec_file(path)}
    assert "unknown key 'in minor units.'" in problems["/components/schemas/Error/properties/total/in minor units."]
    pointer = "/paths/~1health/get/responses/200/content/application~1json/schema/nullabel"
    assert "unknown key 'nullabel'" in problems[pointer]
    assert not any(pointer.endswith("/x-note") for pointer in problems)
    assert all(str(p).startswith(f"{path}: /") for p in check_spec_file(path))


@pytest.mark.parametrize(
    ("key", "value"), [("pahts", None), ("openapi", "3.0.3")], ids=["misspelt-paths", "3.1-schemas-as-3.0"]
)
def test_an_openapi_problem_is_one_short_line(tmp_path: Path, key: str, value: Any) -> None:
    """A new user's `pahts:` once printed the validator's whole report, the entire spec quoted as JSON."""
    spec = _goat()
    if value is None:
        spec[key] = spec.pop("paths")
    else:
        spec[key] = value
    path = tmp_path / "typo.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    problems = [str(p) for p in check_spec_file(path) if "invalid OpenAPI" in str(p)]
    assert problems
    for problem in problems:
        assert "\n" not in problem and len(problem) < 400 and "On instance" not in problem, problem[:500]
