"""`conformance init SPEC`: draft an x-conformance profile for a spec that has none.

Everything is read from the spec alone: security schemes, the error schema 4xx answers share, list
operations and their page/cursor/offset/limit parameters, rate-limit and idempotency headers. Each
guess is a rule marked `tier: inferred` with `source: "guessed by conformance init: review"`, so the
user knows what to read before trusting a finding. The draft validates against the profile schema.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import yaml

from conformance.presets import effective_security
from conformance.profile import Operation, iter_operations, profile_schema, resolve_ref
from conformance.speccheck import read_spec_file

__all__ = ["GUESSED", "draft_profile", "init_main", "skipped_operations"]

GUESSED = "guessed by conformance init: review"
RULE = {"tier": "inferred", "source": GUESSED}

CURSOR_PARAMS = ("cursor", "after", "starting_after", "page_token", "pageToken", "next", "_next", "next_token")
PAGE_PARAMS = ("page", "_page", "page_number", "pageNumber")
OFFSET_PARAMS = ("offset", "skip", "start", "_start", "startFrom")
LIMIT_PARAMS = ("limit", "per_page", "perPage", "page_size", "pageSize", "size", "_size", "_limit", "max_results")
NEXT_FIELDS = ("next_cursor", "nextCursor", "next_page_token", "nextPageToken", "next", "cursor", "nextFrom")
TOTAL_FIELDS = ("total", "total_count", "totalCount", "count", "totalItems")
ITEM_FIELDS = ("data", "items", "results", "rows", "records", "entries")
CODE_FIELDS = ("code", "error_code", "errorCode", "type", "status")
MESSAGE_FIELDS = ("message", "detail", "title", "error_description", "errorMsg", "error", "msg")
# The profile schema's operationId pattern: an operation without one (or with another spelling) cannot be named.
OPERATION_ID = re.compile(profile_schema()["$defs"]["operationId"]["pattern"])
NIL_UUID = "00000000-0000-0000-0000-000000000000"


def _usable(spec: dict[str, Any]) -> list[Operation]:
    """The operations a profile can name: those whose operationId fits the profile schema."""
    return [op for op in iter_operations(spec) if OPERATION_ID.match(str(op.definition.get("operationId") or ""))]


def skipped_operations(spec: dict[str, Any]) -> list[str]:
    """One line for each operation the draft leaves out, saying why and what to do."""
    lines = []
    for op in iter_operations(spec):
        op_id = op.definition.get("operationId")
        if not op_id:
            lines.append(f"{op.label}: no operationId; add one to check it")
        elif not OPERATION_ID.match(str(op_id)):
            lines.append(f"{op.label}: operationId {op_id!r} is not a name the profile takes (letters, digits, _)")
    return lines


def _absent_value(spec: dict[str, Any], parameter: dict[str, Any] | None) -> Any:
    """A value of the parameter's type that names no resource: the nil UUID, a large number, or a word."""
    schema = resolve_ref(spec, (parameter or {}).get("schema")) or {}
    kind, form = schema.get("type"), schema.get("format")
    if form == "uuid":
        return NIL_UUID
    if kind in ("integer", "number"):
        return 999999999
    return "conformance-does-not-exist"


def _base_path(spec: dict[str, Any]) -> str:
    """The path of the first server's URL, its variables given their defaults."""
    server = ((spec.get("servers") or [{}])[0]) or {}
    variables = server.get("variables") or {}

    def default(match: re.Match[str]) -> str:
        return str((variables.get(match.group(1)) or {}).get("default", ""))

    url = re.sub(r"{([^}]*)}", default, str(server.get("url", "")))
    path = urlsplit(url).path if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", url) else url.split("?", 1)[0]
    return "/" + re.sub(r"/+", "/", path).strip("/")


def _slug(text: str) -> str:
    slug = "-".join(re.sub(r"[^a-z0-9]+", " ", text.lower()).split()[:3])
    return slug if re.match(r"^[a-z]", slug) else f"api-{slug}".rstrip("-")


def _json_schema(spec: dict[str, Any], response: Any) -> tuple[str | None, Any]:
    """The media type and schema of a response's JSON content (None, None without one)."""
    response = resolve_ref(spec, response)
    for media, content in ((response or {}).get("content") or {}).items():
        if "json" in media:
            return media, (content or {}).get("schema")
    return None, None


def _props(spec: dict[str, Any], schema: Any) -> dict[str, Any]:
    schema = resolve_ref(spec, schema) or {}
    props = dict(schema.get("properties") or {})
    for part in schema.get("allOf") or []:
        props.update(_props(spec, part))
    return {name: resolve_ref(spec, value) or {} for name, value in props.items()}


def _first(names: tuple[str, ...], available: Any) -> str | None:
    return next((name for name in names if name in available), None)


def _auth(spec: dict[str, Any], operations: list[Operation]) -> dict[str, Any]:
    """Key locations from the security schemes the operations use; `public: all` when none demands one."""
    schemes = (spec.get("components") or {}).get("securitySchemes") or {}
    used = [name for op in operations for req in effective_security(spec, op.definition) for name in req]
    if not used:
        return {**RULE, "public": "all"}
    locations = []
    for name in dict.fromkeys(used):
        scheme = resolve_ref(spec, schemes.get(name)) or {}
        kind, where = scheme.get("type"), scheme.get("in")
        if kind == "apiKey" and where in ("header", "query"):
            location = {"in": where, "name": scheme.get("name", name)}
        elif kind == "apiKey" and where == "cookie":
            location = {"in": "header", "name": "Cookie", "prefix": f"{scheme.get('name', name)}="}
        elif kind == "http" and str(scheme.get("scheme", "")).lower() == "basic":
            location = {"in": "header", "name": "Authorization", "prefix": "Basic "}
        else:  # http bearer, oauth2, openIdConnect: a bearer token
            location = {"in": "header", "name": "Authorization", "prefix": "Bearer "}
        if location not in locations:
            locations.append(location)
    public = [op.operation_id for op in operations if not effective_security(spec, op.definition)]
    return {
        **RULE,
        "locations": locations,
        "public": public,
        "missing_status": [401, 403],
        "invalid_status": [401, 403],
    }


def _errors(spec: dict[str, Any], operations: list[Operation]) -> dict[str, Any]:
    """The schema most 4xx answers share, with its code and message members; a problem+json API gets the preset."""
    refs: Counter[str] = Counter()
    statuses: set[int] = set()
    problem = False
    for op in operations:
        for status, response in (op.definition.get("responses") or {}).items():
            if not re.fullmatch(r"[45]\d\d", str(status)):
                continue
            media, schema = _json_schema(spec, response)
            problem |= media == "application/problem+json"
            if isinstance(schema, dict) and "$ref" in schema:
                refs[schema["$ref"]] += 1
                statuses.add(int(status))
    errors: dict[str, Any] = {**RULE}
    if problem and not refs:
        errors["preset"] = "problem-details"
    elif refs:
        ref = refs.most_common(1)[0][0]
        props = _props(spec, {"$ref": ref})
        prefix = ""
        nested = next((n for n in ("error", "errors") if props.get(n, {}).get("type") == "object"), None)
        if nested:  # {"error": {"code", "message"}}
            prefix, props = f"/{nested}", _props(spec, props[nested])
        code = _first(CODE_FIELDS, props)
        message = _first(tuple(f for f in MESSAGE_FIELDS if props.get(f, {}).get("type") in (None, "string")), props)
        errors.update(
            envelope={"$ref": ref},
            statuses=sorted(statuses),
            code_pointer=f"{prefix}/{code}" if code else "",
            message_pointer=f"{prefix}/{message}" if message else "",
        )
    else:  # no error schema in the spec: any JSON object
        errors.update(envelope={"schema": {"type": "object"}}, statuses=[400, 404], code_pointer="", message_pointer="")
    not_found = []
    for op in operations:
        if op.method == "GET" and op.path_params and "404" in (op.definition.get("responses") or {}):
            values = {name: _absent_value(spec, op.param(name, "path")) for name in op.path_params}
            not_found.append({"operation": op.operation_id, "path_params": values})
    errors["not_found"] = not_found
    return errors


def _items(spec: dict[str, Any], schema: Any) -> tuple[str, Any, dict[str, Any]] | None:
    """Where a list answer holds its items (pointer, item schema) and the answer's top-level members."""
    schema = resolve_ref(spec, schema) or {}
    for alternative in schema.get("oneOf") or schema.get("anyOf") or []:  # the first that is a list answer
        if found := _items(spec, alternative):
            return found
    if schema.get("type") == "array":
        return "", schema.get("items"), {}
    props = _props(spec, schema)
    arrays = [name for name, value in props.items() if value.get("type") == "array"]
    name = _first(ITEM_FIELDS, arrays) or (arrays[0] if arrays else None)
    return (f"/{name}", props[name].get("items"), props) if name else None


def _listing(spec: dict[str, Any], op: Operation) -> dict[str, Any] | None:
    """A pagination rule for a GET whose answer is a list and that takes page parameters."""
    if op.method != "GET":
        return None
    query = {p["name"]: p for p in op.parameters if p.get("in") == "query"}
    ok = (op.definition.get("responses") or {}).get("200") or (op.definition.get("responses") or {}).get("201")
    _, schema = _json_schema(spec, ok)
    found = _items(spec, schema) if schema else None
    if found is None:
        return None
    items, item_schema, members = found
    headers = {h.lower() for h in ((resolve_ref(spec, ok) or {}).get("headers") or {})}
    listing: dict[str, Any] = {**RULE, "operation": op.operation_id}
    cursor, page, offset = _first(CURSOR_PARAMS, query), _first(PAGE_PARAMS, query), _first(OFFSET_PARAMS, query)
    nxt = _first(NEXT_FIELDS, members)
    if "link" in headers:
        listing["style"] = "link"
    elif cursor and nxt:
        listing.update(style="cursor", cursor={"param": cursor, "next": f"/{nxt}"})
    elif page:
        listing.update(style="page", page={"param": page})
    elif offset:
        listing.update(style="offset", offset={"param": offset})
    else:
        return None
    listing["items"] = items
    listing["item_id"] = "/id" if "id" in _props(spec, item_schema) else ""
    limit = _first(LIMIT_PARAMS, query)
    if limit:
        bounds = resolve_ref(spec, query[limit].get("schema")) or {}
        for alternative in bounds.get("oneOf") or bounds.get("anyOf") or []:  # integer or "max" (Datasette)
            if "maximum" in (resolve_ref(spec, alternative) or {}):
                bounds = {**resolve_ref(spec, alternative), **{k: v for k, v in bounds.items() if k == "default"}}
        section: dict[str, Any] = {"param": limit}
        if isinstance(bounds.get("maximum"), int):  # no documented maximum: none is invented
            section["max"] = bounds["maximum"]
        if isinstance(bounds.get("default"), int):
            section["default"] = bounds["default"]
        listing["limit"] = section
    total = _first(TOTAL_FIELDS, members)
    if total and members[total].get("type") == "integer":
        listing["total"] = {"in": "body", "pointer": f"/{total}"}
    elif "x-total-count" in headers:
        listing["total"] = {"in": "header", "name": "X-Total-Count"}
    return listing


def _rate_limit(spec: dict[str, Any], operations: list[Operation], public: bool) -> dict[str, Any] | None:
    """The rate-limit headers the spec names; the figures are not in a spec, so the limit is not `documented`.

    `documented: false` makes `requests`/`window_s` only the pace the suite keeps (no check expects a 429 at
    them); the user writes the documented figures and sets `documented: true`. A public API is limited by client
    address (`scope: ip`), else by key.
    """
    headers: set[str] = set()
    throttled = False
    for op in operations:
        for status, response in (op.definition.get("responses") or {}).items():
            headers |= {h.lower() for h in ((resolve_ref(spec, response) or {}).get("headers") or {})}
            throttled |= str(status) == "429"
    presets = {"ratelimit-policy": "ietf-ratelimit-policy", "ratelimit-limit": "ietf-ratelimit-headers"}
    presets["x-ratelimit-limit"] = "x-ratelimit"
    preset = next((name for header, name in presets.items() if header in headers), None)
    if not preset and not throttled:
        return None
    scope = "ip" if public else "key"
    section: dict[str, Any] = {**RULE, "documented": False, "requests": 10, "window_s": 1, "scope": scope}
    if preset:
        section["preset"] = preset
    section["exceeded_status"] = 429
    return section


def _idempotency(operations: list[Operation]) -> list[dict[str, Any]]:
    rules = []
    for op in operations:
        header = next(
            (p for p in op.parameters if p.get("in") == "header" and "idempotency" in str(p.get("name", "")).lower()),
            None,
        )
        if header is None:
            continue
        rule: dict[str, Any] = {**RULE, "operation": op.operation_id}
        if header["name"].lower() == "idempotency-key":
            rule["preset"] = "idempotency-key-draft"
            if header.get("required"):
                rule["required"] = True
        else:
            rule.update(header=header["name"], required=bool(header.get("required")), conflict_status=[409, 422])
        rule["resource_id"] = "/id"
        rules.append(rule)
    return rules


def _requests(spec: dict[str, Any], operations: list[Operation], lists: list[dict[str, Any]]) -> dict[str, Any]:
    """Recipes for operations with path parameters: the value read from the parent path's list."""
    by_path = {op.path: op for op in operations if op.method == "GET"}
    recipes: dict[str, Any] = {}
    for op in operations:
        if not op.path_params:
            continue
        parent = by_path.get(op.path.rsplit("/{", 1)[0])
        listing = next((entry for entry in lists if parent and entry["operation"] == parent.operation_id), None)
        if listing is None or len(op.path_params) != 1 or not listing["item_id"]:
            continue
        name = op.path_params[0]
        pointer = f"{listing['items']}/0{listing['item_id']}"
        recipes[op.operation_id] = {
            "path_params": {name: "{" + name + "}"},
            "variables": {name: {"operation": listing["operation"], "pointer": pointer}},
        }
    return recipes


def draft_profile(spec: dict[str, Any], *, name: str = "api") -> dict[str, Any]:
    """Returns a profile for `spec`, every rule a guess to review; it validates against the profile schema.

    Operations without a usable operationId are left out (`skipped_operations` says which).
    """
    operations = _usable(spec)
    info = spec.get("info") or {}
    lists = [entry for op in operations if (entry := _listing(spec, op))]
    profile: dict[str, Any] = {
        "api": _slug(str(info.get("title") or name)),
        "source": f"{info.get('title') or name} {info.get('version') or ''}".strip() + f" ({GUESSED})",
        "base_path": _base_path(spec),
        "auth": _auth(spec, operations),
        "errors": _errors(spec, operations),
        "requests": _requests(spec, operations, lists),
        "pagination": lists,
        "idempotency": _idempotency(operations),
    }
    rate_limit = _rate_limit(spec, operations, public=profile["auth"]["public"] == "all")
    if rate_limit:
        profile["rate_limit"] = rate_limit
    jsonschema.validate(profile, profile_schema())
    return profile


HEADER = """\
# Drafted by `conformance init` from {spec}. Every rule is a guess (tier: inferred, source: "{guessed}"):
# read each against your API's documentation, fix it, and quote the document in `source` (tier: documented).
# The keys are explained in docs/profile.md; `conformance specs FILE` checks the result.
"""


def _error(message: str) -> int:
    sys.stderr.write(f"error: {message}\n")
    return 2


def _refusal(path: Path, spec: dict[str, Any]) -> str | None:
    """Why `spec` cannot be drafted for (`file: pointer: reason`), or None."""
    version = str(spec.get("openapi", ""))
    if not version.startswith("3."):
        if "swagger" in spec:
            return f"{path}: /swagger: Swagger {spec['swagger']} is not OpenAPI 3.x; convert it to OpenAPI 3 first"
        if not isinstance(spec.get("paths"), dict):
            return f"{path}: /paths: not an OpenAPI spec (no paths)"
        return f"{path}: /openapi: {version or 'no version'}: conformance init reads OpenAPI 3.0 and 3.1 only"
    if not isinstance(spec.get("paths"), dict) or not iter_operations(spec):
        return f"{path}: /paths: the spec has no operations to check"
    return None


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (b.exists() and a.exists() and a.samefile(b))
    except OSError:
        return False


def init_main(argv: list[str]) -> int:
    """`conformance init SPEC [--output FILE] [--force]`: prints the draft (or writes the spec with it added)."""
    parser = argparse.ArgumentParser(
        prog="conformance init",
        description="Drafts an x-conformance profile for an OpenAPI spec; every guessed rule is marked for review.",
    )
    parser.add_argument("spec", metavar="SPEC", help="OpenAPI 3.0/3.1 file (YAML or JSON)")
    parser.add_argument(
        "--output",
        metavar="FILE",
        help="write the spec with the draft profile added, as JSON for a .json FILE (else: print the profile)",
    )
    parser.add_argument(
        "--force", action="store_true", help="let --output replace an existing file (the input spec itself included)"
    )
    args = parser.parse_args(argv)
    path = Path(args.spec)
    spec, problems = read_spec_file(path)  # the reader `conformance specs` uses: `file: pointer: reason`
    if spec is None or problems:
        more = f" (and {len(problems) - 1} more; `conformance specs {path}` lists them)" if len(problems) > 1 else ""
        return _error(f"{problems[0]}{more}")
    refusal = _refusal(path, spec)
    if refusal:
        return _error(refusal)
    output = Path(args.output) if args.output else None
    if output is not None:
        if _same_file(path, output) and not args.force:
            return _error(f"{output}: --output is the input spec; write elsewhere, or add --force to replace it")
        if output.exists() and not args.force:  # an edited draft is work: never lost to a second init
            return _error(f"{output}: the file exists; write elsewhere, or add --force to replace it")
        if not output.parent.is_dir():
            return _error(f"{output}: the folder {output.parent} does not exist")
    try:
        profile = draft_profile({k: v for k, v in spec.items() if k != "x-conformance"}, name=path.stem)
    except jsonschema.ValidationError as exc:  # a guess the schema refuses: a bug here, not in the spec
        where = "/".join(map(str, exc.absolute_path))
        return _error(f"{path}: /x-conformance/{where}: the draft is not a valid profile ({exc.message}); a bug")
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        return _error(f"{path}: cannot draft a profile from this spec ({type(exc).__name__}: {exc})")
    skipped = skipped_operations(spec)
    header = HEADER.format(spec=path.name, guessed=GUESSED) + "".join(f"# {line}\n" for line in skipped)
    if output is None:
        sys.stdout.write(header + yaml.safe_dump({"x-conformance": profile}, sort_keys=False, allow_unicode=True))
        return 0
    spec["x-conformance"] = profile
    if output.suffix.lower() == ".json":  # JSON has no comments: the notes go to the terminal
        text = json.dumps(spec, indent=2, ensure_ascii=False, default=str) + "\n"
        for line in skipped:
            sys.stderr.write(f"note: {line}\n")
    else:
        text = header + yaml.safe_dump(spec, sort_keys=False, allow_unicode=True)
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        return _error(f"{output}: cannot write the file: {exc.strerror or exc}")
    sys.stdout.write(f"wrote {output}: draft profile for {path.name}; review it, then `conformance specs {output}`\n")
    return 0
