"""`conformance init`: a draft profile from a spec alone, valid, and every guess marked for review."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from conformance.cli import main
from conformance.init import GUESSED, draft_profile
from conformance.profile import Profile, profile_schema
from conformance.speccheck import check_spec_file
from conformance.specfiles import API_SLUGS, load_spec

ROOT = Path(__file__).resolve().parent.parent


def bare(api: str) -> dict[str, Any]:
    spec = copy.deepcopy(load_spec(api))
    del spec["x-conformance"]
    return spec


def ruled_sections(profile: dict[str, Any]) -> list[dict[str, Any]]:
    sections = [profile["auth"], profile["errors"], *profile["pagination"], *profile["idempotency"]]
    return sections + ([profile["rate_limit"]] if "rate_limit" in profile else [])


@pytest.mark.parametrize("api", API_SLUGS)
def test_the_draft_of_every_bundled_spec_is_a_usable_profile(api: str, tmp_path: Path) -> None:
    spec = bare(api)
    spec["x-conformance"] = draft_profile(spec)
    jsonschema.validate(spec["x-conformance"], profile_schema())
    path = tmp_path / f"{api}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    assert check_spec_file(path) == []
    assert all(s["tier"] == "inferred" and s["source"] == GUESSED for s in ruled_sections(spec["x-conformance"]))


def test_goat_is_drafted_close_to_its_hand_written_profile() -> None:
    draft = draft_profile(bare("goat"))
    assert draft["auth"]["locations"] == [{"in": "header", "name": "Authorization", "prefix": "Bearer "}]
    assert draft["auth"]["public"] == ["getHealth"]
    assert draft["errors"]["envelope"] == {"$ref": "#/components/schemas/Error"}
    assert (draft["errors"]["code_pointer"], draft["errors"]["message_pointer"]) == ("/error/code", "/error/message")
    products = next(p for p in draft["pagination"] if p["operation"] == "listProducts")
    assert products["style"] == "cursor" and products["cursor"] == {"param": "cursor", "next": "/next_cursor"}
    assert (products["items"], products["item_id"], products["limit"]["param"]) == ("/data", "/id", "limit")
    assert [(i["operation"], i["preset"], i["required"]) for i in draft["idempotency"]] == [
        ("createOrder", "idempotency-key-draft", True)
    ]
    assert draft["rate_limit"]["preset"] == "x-ratelimit"
    assert draft["requests"]["getProduct"]["variables"]["product_id"] == {
        "operation": "listProducts",
        "pointer": "/data/0/id",
    }


def test_page_offset_and_header_totals_are_guessed() -> None:
    partner, storefront = draft_profile(bare("gaming-goods-partner")), draft_profile(bare("storefront"))
    assert {p["style"] for p in partner["pagination"]} <= {"offset", "page", "cursor"}
    assert any(p["style"] == "offset" for p in storefront["pagination"] + partner["pagination"])
    assert any(p.get("total") == {"in": "header", "name": "X-Total-Count"} for p in storefront["pagination"])


SMALL: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "Tiny Things", "version": "2"},
    "servers": [{"url": "https://api.example/v2"}],
    "paths": {
        "/things": {
            "get": {
                "operationId": "listThings",
                "parameters": [
                    {"name": "page", "in": "query", "schema": {"type": "integer"}},
                    {"name": "per_page", "in": "query", "schema": {"type": "integer", "default": 30, "maximum": 100}},
                ],
                "responses": {
                    "200": {
                        "description": "Things.",
                        "headers": {"Link": {"schema": {"type": "string"}}},
                        "content": {"application/json": {"schema": {"type": "array", "items": {"type": "object"}}}},
                    },
                    "404": {
                        "description": "None.",
                        "content": {"application/problem+json": {"schema": {"type": "object"}}},
                    },
                },
            }
        }
    },
}


def test_a_public_problem_details_api_with_link_pagination() -> None:
    draft = draft_profile(SMALL)
    assert draft["api"] == "tiny-things" and draft["base_path"] == "/v2"
    assert draft["auth"]["public"] == "all"
    assert draft["errors"]["preset"] == "problem-details"
    assert draft["pagination"] == [
        {
            "tier": "inferred",
            "source": GUESSED,
            "operation": "listThings",
            "style": "link",
            "items": "",
            "item_id": "",
            "limit": {"param": "per_page", "max": 100, "default": 30},
        }
    ]
    assert "rate_limit" not in draft
    assert Profile({**SMALL, "x-conformance": draft}).operations["listThings"].is_public


def test_a_cookie_key_is_sent_as_a_cookie_header() -> None:
    spec = copy.deepcopy(SMALL)
    spec["security"] = [{"session": []}]
    spec["components"] = {"securitySchemes": {"session": {"type": "apiKey", "in": "cookie", "name": "sid"}}}
    draft = draft_profile(spec)
    assert draft["auth"]["locations"] == [{"in": "header", "name": "Cookie", "prefix": "sid="}]
    assert not Profile({**spec, "x-conformance": draft}).operations["listThings"].is_public


def test_the_command_prints_a_profile_to_paste(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(SMALL), encoding="utf-8")
    assert main(["init", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# Drafted by `conformance init` from tiny.yaml")
    assert yaml.safe_load(out)["x-conformance"] == draft_profile(SMALL)


def test_the_command_writes_the_spec_with_the_profile(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, output = tmp_path / "tiny.yaml", tmp_path / "tiny-conformance.yaml"
    path.write_text(yaml.safe_dump(SMALL), encoding="utf-8")
    assert main(["init", str(path), "--output", str(output)]) == 0
    assert "review it" in capsys.readouterr().out
    written = yaml.safe_load(output.read_text(encoding="utf-8"))
    assert written["paths"] == SMALL["paths"] and written["x-conformance"]["api"] == "tiny-things"
    assert main(["specs", str(output)]) == 0


@pytest.mark.parametrize(
    ("content", "said"),
    [(None, "cannot read the file"), ("a: [", "invalid YAML"), ("just: text", "/paths: not an OpenAPI spec")],
)
def test_a_bad_input_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, said: str
) -> None:
    path = tmp_path / "spec.yaml"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    assert main(["init", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}") and said in err and "Traceback" not in err


def spec_file(tmp_path: Path, spec: Any, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


def one_error_line(capsys: pytest.CaptureFixture[str], path: Path) -> str:
    captured = capsys.readouterr()
    assert captured.err.startswith(f"error: {path}") and captured.err.count("\n") == 1, captured.err
    assert "Traceback" not in captured.err and captured.out == ""
    return captured.err


def test_operations_without_an_operation_id_are_left_out_with_a_comment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = copy.deepcopy(SMALL)
    spec["paths"]["/items"] = {"get": SMALL["paths"]["/things"]["get"] | {"operationId": None}}
    del spec["paths"]["/items"]["get"]["operationId"]
    spec["paths"]["/items/{id}"] = {
        "get": {
            "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": {"description": "One."}, "404": {"description": "None."}},
        }
    }
    draft = draft_profile(spec)
    assert [p["operation"] for p in draft["pagination"]] == ["listThings"]
    assert draft["errors"]["not_found"] == []
    assert main(["init", str(spec_file(tmp_path, spec))]) == 0
    out = capsys.readouterr().out
    assert "# GET /items: no operationId; add one to check it\n" in out
    assert "# GET /items/{id}: no operationId; add one to check it\n" in out


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b"openapi: 3.1.0\ninfo: {title: caf\xe9}\n", "not UTF-8 text"),
        (
            yaml.safe_dump(
                {**SMALL, "paths": {"/a": {"get": {"operationId": "a", "responses": {"200": {"$ref": "#/x"}}}}}}
            ),
            "/paths/~1a/get/responses/200/$ref: unresolvable reference",
        ),
        (yaml.safe_dump({**SMALL, "paths": {}}), "/paths: the spec has no operations to check"),
        (
            yaml.safe_dump({"swagger": "2.0", "info": {"title": "Old"}, "paths": SMALL["paths"]}),
            "/swagger: Swagger 2.0",
        ),
    ],
    ids=["not-utf8", "dangling-ref", "no-operations", "swagger-2"],
)
def test_a_spec_init_cannot_draft_for_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes | str, said: str
) -> None:
    path = tmp_path / "spec.yaml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    assert main(["init", str(path)]) == 2
    assert said in one_error_line(capsys, path)


def test_output_into_a_missing_folder_is_one_error_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, output = spec_file(tmp_path, SMALL), tmp_path / "nowhere" / "out.yaml"
    assert main(["init", str(path), "--output", str(output)]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {output}: the folder {output.parent} does not exist\n"


def test_output_over_the_input_needs_force(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = spec_file(tmp_path, SMALL)
    before = path.read_text(encoding="utf-8")
    assert main(["init", str(path), "--output", str(tmp_path / "." / path.name)]) == 2
    assert "--force" in capsys.readouterr().err and path.read_text(encoding="utf-8") == before
    assert main(["init", str(path), "--output", str(path), "--force"]) == 0
    assert yaml.safe_load(path.read_text(encoding="utf-8"))["x-conformance"]["api"] == "tiny-things"


def test_output_over_an_edited_draft_needs_force(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A new user lost an edited draft to a second `init --output` of the same name."""
    path, output = spec_file(tmp_path, SMALL), tmp_path / "mine.yaml"
    output.write_text("# my edits\n", encoding="utf-8")
    assert main(["init", str(path), "--output", str(output)]) == 2
    assert "exists" in capsys.readouterr().err and output.read_text(encoding="utf-8") == "# my edits\n"
    assert main(["init", str(path), "--output", str(output), "--force"]) == 0
    assert "x-conformance" in yaml.safe_load(output.read_text(encoding="utf-8"))


def test_a_json_output_is_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    path, output = spec_file(tmp_path, SMALL), tmp_path / "tiny.json"
    assert main(["init", str(path), "--output", str(output)]) == 0
    written = json.loads(output.read_text(encoding="utf-8"))
    assert written["x-conformance"] == draft_profile(SMALL)
    assert main(["specs", str(output)]) == 0


def test_a_rate_limit_is_drafted_undocumented_and_by_ip_for_a_public_api() -> None:
    spec = copy.deepcopy(SMALL)
    spec["paths"]["/things"]["get"]["responses"]["429"] = {"description": "Slow down."}
    rate = draft_profile(spec)["rate_limit"]
    assert (rate["documented"], rate["scope"]) == (False, "ip")
    keyed = draft_profile(bare("goat"))["rate_limit"]
    assert (keyed["documented"], keyed["scope"]) == (False, "key")


def test_a_page_size_without_a_documented_maximum_gets_none() -> None:
    spec = copy.deepcopy(SMALL)
    del spec["paths"]["/things"]["get"]["parameters"][1]["schema"]["maximum"]
    limit = draft_profile(spec)["pagination"][0]["limit"]
    assert limit == {"param": "per_page", "default": 30}


def test_not_found_values_fit_the_parameter_type() -> None:
    spec = copy.deepcopy(SMALL)
    for name, schema in (("uuid", {"type": "string", "format": "uuid"}), ("number", {"type": "integer"})):
        spec["paths"][f"/{name}/{{id}}"] = {
            "get": {
                "operationId": f"get_{name}",
                "parameters": [{"name": "id", "in": "path", "required": True, "schema": schema}],
                "responses": {"200": {"description": "One."}, "404": {"description": "None."}},
            }
        }
    cases = {case["operation"]: case["path_params"]["id"] for case in draft_profile(spec)["errors"]["not_found"]}
    assert cases == {"get_uuid": "00000000-0000-0000-0000-000000000000", "get_number": 999999999}


def test_server_variables_take_their_defaults_and_only_the_path_is_kept() -> None:
    spec = copy.deepcopy(SMALL)
    spec["servers"] = [
        {
            "url": "{scheme}://api.example.com/{version}/",
            "variables": {"scheme": {"default": "https"}, "version": {"default": "v1"}},
        }
    ]
    assert draft_profile(spec)["base_path"] == "/v1"
    spec["servers"] = [{"url": "/api/v3"}]
    assert draft_profile(spec)["base_path"] == "/api/v3"
    spec["servers"] = [{"url": "https://api.example.com"}]
    assert draft_profile(spec)["base_path"] == "/"
