"""The rule registry: every rule the suite checks, under a stable id.

Ids are `<category>.<name>`, never renumbered or reused; a finding's identity is its rule id
and operation, never its wording. Sandbox faults are named after the rule they break, so the
self-test can prove each rule both fails and passes.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CATEGORIES", "RULES", "Rule", "get_rule"]

CATEGORIES = ("schema", "errors", "pagination", "idempotency", "rate-limit", "auth", "transport")


@dataclass(frozen=True)
class Rule:
    """One documented (or inferred) promise an API makes."""

    id: str
    title: str
    description: str

    @property
    def category(self) -> str:
        return self.id.split(".", 1)[0]


_RULES = [
    # schema: what Schemathesis checks against the spec
    Rule(
        "schema.response-schema",
        "Response body matches the documented schema",
        "A response body must validate against the schema documented for its status code.",
    ),
    Rule(
        "schema.status-code",
        "Status code is documented",
        "Every status code a server answers must be documented for that operation.",
    ),
    Rule(
        "schema.content-type",
        "Content type is documented",
        "Responses must carry a documented media type (JSON for this suite's APIs).",
    ),
    Rule(
        "schema.response-headers",
        "Documented response headers are present",
        "Headers the spec marks as required (X-Total-Count, rate-limit headers) must be sent.",
    ),
    Rule("schema.server-error", "No server errors", "No request, valid or not, may produce a 5xx answer."),
    Rule(
        "schema.negative-data",
        "Invalid input is rejected",
        "A request that breaks a documented constraint must get a 4xx answer.",
    ),
    Rule(
        "schema.positive-data",
        "Valid input is accepted",
        "A request that satisfies the documented schema must not be refused with 4xx.",
    ),
    Rule(
        "schema.stateful",
        "Created resources can be read back",
        "A resource returned by a create operation can be fetched by its read operation.",
    ),
    # errors
    Rule(
        "errors.envelope",
        "Errors use the documented envelope",
        "Every error response carries the API's error envelope with a JSON content type.",
    ),
    Rule(
        "errors.not-found",
        "Unknown resources answer 404",
        "An unknown resource id answers 404 with the error envelope.",
    ),
    Rule(
        "errors.unknown-route",
        "Unknown routes answer 404",
        "A path the API does not define answers 404 with the error envelope.",
    ),
    Rule(
        "errors.method-not-allowed",
        "Wrong methods answer 405 with Allow",
        "A method a path does not support answers 405 with the envelope and an Allow header.",
    ),
    Rule(
        "errors.bad-parameter",
        "Bad parameters answer 400",
        "A query or path parameter outside its documented range answers 400 with the envelope.",
    ),
    Rule(
        "errors.bad-body",
        "Malformed bodies answer 400",
        "A request body that is not valid JSON (or a nested JSON field that is not) answers 400.",
    ),
    Rule(
        "errors.business-rule",
        "Documented refusals are honoured",
        "A request a document says must be refused (checkout from an empty cart, cancelling a one-time order, a "
        "declined payment) is refused with the documented status and the envelope.",
    ),
    Rule(
        "errors.code-convention",
        "Error codes follow the documented convention",
        "Error codes follow the API's convention (case, per-status codes, messages).",
    ),
    Rule(
        "errors.request-id",
        "Errors carry a request id",
        "Where documented, error bodies carry a request id of the documented form.",
    ),
    # pagination
    Rule(
        "pagination.no-duplicates",
        "No item appears twice in a walk",
        "Walking a list from its first page to its end never returns an item twice.",
    ),
    Rule(
        "pagination.complete",
        "A walk returns every item",
        "Every item is reachable: walks at different page sizes (or stepping an offset) return the same items.",
    ),
    Rule(
        "pagination.default-limit",
        "The default page size is honored",
        "Without a limit the list returns the documented default number of items.",
    ),
    Rule(
        "pagination.max-limit",
        "The maximum page size is honored",
        "A page never holds more than the documented maximum; above it the server refuses or clamps.",
    ),
    Rule(
        "pagination.invalid-limit",
        "Invalid page parameters are refused",
        "A zero, negative or non-integer limit/page/offset answers 400 with the envelope.",
    ),
    Rule(
        "pagination.totals",
        "Totals and page counts are consistent",
        "Reported totals, echoes and page counts agree with each other and with the items.",
    ),
    Rule(
        "pagination.last-page",
        "The last page is detected",
        "The end of a list is signalled as documented and a page past the end is empty.",
    ),
    Rule(
        "pagination.bad-cursor",
        "Unknown cursors are refused",
        "An unknown or malformed cursor answers 400 with the error envelope.",
    ),
    Rule(
        "pagination.stable-order",
        "Order is stable across pages",
        "Two walks over an unchanged list return the same items in the same order.",
    ),
    Rule(
        "pagination.includes-created",
        "Created items are listed and counted",
        "After a create, the list holds the new item on some page and its total counts it.",
    ),
    Rule(
        "pagination.sort-order",
        "Items come in the documented order",
        "A list documented as sorted (newest first, ascending id) returns its items in that order.",
    ),
    Rule(
        "pagination.headers",
        "Pagination headers are present and true",
        "Lists that document pagination headers send them with values matching the request.",
    ),
    # idempotency
    Rule(
        "idempotency.replay-same-resource",
        "A replay returns the same resource",
        "The same key with the same body returns the same resource and status, creating nothing.",
    ),
    Rule(
        "idempotency.replay-same-response",
        "A replay returns the first response",
        "The same key with the same body answers the first response again: the same ids, payment link and "
        "timestamps, not a rebuilt one.",
    ),
    Rule(
        "idempotency.conflict",
        "Key reuse with another body is refused",
        "The same key with a different body is refused with a 4xx envelope and creates nothing.",
    ),
    Rule(
        "idempotency.concurrent",
        "Concurrent same-key requests create one resource",
        "Parallel requests sharing one idempotency key create exactly one resource.",
    ),
    Rule(
        "idempotency.key-required",
        "A missing key is refused",
        "Where the key is required, a write without it answers 400 with the envelope.",
    ),
    # rate limits
    Rule(
        "rate-limit.headers",
        "Rate-limit headers are present",
        "Responses carry the documented rate-limit headers (where optional: all or none).",
    ),
    Rule(
        "rate-limit.consistent",
        "Rate-limit headers are consistent",
        "Limit is constant, Remaining falls by one per request, Reset is in the documented unit and not past.",
    ),
    Rule(
        "rate-limit.exceeded",
        "Exceeding the limit gets the documented status",
        "A burst past the limit gets the documented status with the envelope and a wait hint.",
    ),
    Rule(
        "rate-limit.recovery", "The wait hint is honored", "After waiting as the server said, requests succeed again."
    ),
    # auth
    Rule(
        "auth.missing-credentials",
        "Missing credentials are refused",
        "Protected operations refuse a request without credentials with the documented status and envelope.",
    ),
    Rule(
        "auth.invalid-credentials",
        "Invalid credentials are refused",
        "Protected operations refuse an invalid key with the documented status and envelope.",
    ),
    Rule(
        "auth.public-operations",
        "Public operations need no credentials",
        "Operations documented as public answer without credentials (and ignore a bad one).",
    ),
    Rule(
        "auth.key-locations",
        "Every documented key location works",
        "Each documented way of passing the key (header, query, form field) authenticates.",
    ),
    Rule(
        "auth.permissions",
        "Permission-limited keys are refused",
        "A key lacking a documented permission (or account capability) is refused as documented (403, or"
        " the API's own status) on the operation that needs it, and a key that has it is not.",
    ),
    # transport
    Rule(
        "transport.unreachable", "The target answers", "The target accepts connections and answers within the timeout."
    ),
    Rule(
        "transport.invalid-response",
        "Responses are well-formed",
        "Responses declared as JSON parse as JSON, and fit in the size cap.",
    ),
    Rule(
        "transport.redirect",
        "Credentials never leave the host",
        "A redirect to another host is not followed with credentials.",
    ),
]

RULES: dict[str, Rule] = {rule.id: rule for rule in _RULES}
assert len(RULES) == len(_RULES), "duplicate rule id"
assert all(rule.category in CATEGORIES for rule in _RULES)


def get_rule(rule_id: str) -> Rule:
    """Returns the rule with this id; a KeyError names the closest known id."""
    try:
        return RULES[rule_id]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(rule_id, RULES, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise KeyError(f"unknown rule id {rule_id!r}{hint}") from None
