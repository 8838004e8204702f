"""Pagination: walk each list to its end and judge what came back."""

from __future__ import annotations

import json
import math
import threading
import time
from collections import Counter
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from conformance.checks.errors import judge_error
from conformance.checks.pagination import (
    Page,
    Walk,
    item_key,
    judge_complete,
    judge_header_echo,
    judge_last_page,
    judge_no_duplicates,
    judge_page_sizes,
    judge_sort_order,
    judge_stable_order,
    judge_total_count,
    judge_total_drift,
    judge_totals,
    main_limit,
    other_kind,
    read_page,
    total_drift,
)
from conformance.checks.transport import judge_transport
from conformance.client import Exchange
from conformance.findings import Finding, finding
from conformance.profile import resolve_pointer
from conformance.suite.conftest import Verdict, require_writes
from conformance.target import RecipeError, Target

MAX_PAGES = 200
MAX_ITEMS = 20_000


class PageError(Exception):
    """A page of the walk did not come back as a list page."""

    def __init__(self, exchange: Exchange, reason: str) -> None:
        super().__init__(reason)
        self.exchange = exchange
        self.reason = reason


def fetch_page(target: Target, listing: dict[str, Any], params: dict[str, Any]) -> Page:
    """Requests one page and reads its items, next pointer (body, header or Link), total and echoes."""
    try:
        exchange = target.send(listing["operation"], query={**(listing.get("query") or {}), **params})
    except RecipeError as exc:
        pytest.skip(f"cannot request {listing['operation']}: {exc}")
    if exchange.error or exchange.status != 200:
        raise PageError(exchange, f"answered {exchange.status or exchange.error}")
    try:
        return read_page(listing, exchange, params)
    except ValueError as exc:
        raise PageError(exchange, str(exc)) from None


def _list_finding(
    listing: dict[str, Any], rule_id: str, message: str, exchange: Exchange, secrets: tuple[str, ...]
) -> Finding:
    """A finding about the list's operation; the listing gives its tier and source."""
    return finding(rule_id, listing["operation"], message, rule=listing, exchange=exchange, secrets=secrets)


def _maybe(body: Any, pointer: str) -> Any:
    try:
        return resolve_pointer(body, pointer)
    except KeyError:
        return None


def page_size(listing: dict[str, Any], limit: int | None) -> int | None:
    spec = listing.get("limit") or {}
    return limit or spec.get("default") or (spec.get("max") if "param" not in spec else None)


def walk(
    target: Target, listing: dict[str, Any], limit: int | None, *, max_pages: int = MAX_PAGES, steps: bool = False
) -> Walk:
    """Follows the list from its first page to its end (bounded), then asks for a page past the end.

    `steps` (a cursor that is a record offset): the cursor is set to the number of items received so
    far instead of the next pointer the server returned; the walk ends where the server says the list
    ends (no next pointer) or at an empty page.
    """
    record = Walk(
        operation=listing["operation"],
        listing=listing,
        limit=limit,
        mode="steps" if steps else "follow",
        started=time.monotonic(),
    )
    try:
        return _walk(target, listing, limit, record, max_pages)
    finally:
        record.finished = time.monotonic()


def _walk(target: Target, listing: dict[str, Any], limit: int | None, record: Walk, max_pages: int) -> Walk:
    style = listing["style"]
    params: dict[str, Any] = {}
    limit_param = (listing.get("limit") or {}).get("param")
    if limit is not None and limit_param:
        params[limit_param] = limit
    size = page_size(listing, limit)
    number = first_page(listing)
    if style == "page":
        params[listing["page"]["param"]] = number
    elif style == "offset":
        params[listing["offset"]["param"]] = 0
    cursors: set[str] = set()
    try:
        while True:
            page = fetch_page(target, listing, params)
            record.pages.append(page)
            if style == "none":
                return record
            count = sum(len(p.items) for p in record.pages)
            if len(record.pages) >= max_pages or count > MAX_ITEMS:
                record.ended = "bounded"
                return record
            if style == "link":  # the next page is the Link URL's query, whatever it holds
                if page.next is None or not page.items:
                    return record
                if page.next in cursors:
                    record.ended = "bounded"
                    return record
                cursors.add(page.next)
                params = dict(parse_qsl(urlsplit(page.next).query, keep_blank_values=True))
                continue
            if style == "cursor":
                if page.next is None or not page.items:
                    return record
                if record.mode == "steps":
                    params[listing["cursor"]["param"]] = count
                    continue
                marker = json.dumps(page.next)
                if marker in cursors:
                    record.ended = "bounded"  # the cursor came back: the list cycles
                    return record
                cursors.add(marker)
                params[listing["cursor"]["param"]] = page.next
                continue
            total = page.total
            last = (
                not page.items
                or (size is not None and len(page.items) < size)
                or (total is not None and count >= total)
            )
            number += 1
            if style == "page":
                params[listing["page"]["param"]] = number
            else:
                params[listing["offset"]["param"]] = params[listing["offset"]["param"]] + (size or len(page.items))
            if last:
                if page.items:
                    past = fetch_page_exchange(target, listing, params)
                    record.past_end = past[0]
                    record.past_end_items = past[1]
                return record
    except PageError as exc:
        record.ended = "error"
        record.past_end = None
        raise WalkFailed(record, exc) from None


def fetch_page_exchange(target: Target, listing: dict[str, Any], params: dict[str, Any]) -> tuple[Exchange, Any]:
    try:
        page = fetch_page(target, listing, params)
        return page.exchange, page.items
    except PageError as exc:
        return exc.exchange, None


class WalkFailed(Exception):
    def __init__(self, walk: Walk, error: PageError) -> None:
        super().__init__(error.reason)
        self.walk = walk
        self.error = error


class Walks:
    """Walks cached for the session: each list is walked once per page size."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.cache: dict[tuple[str, str, int | None, int, bool], Walk | WalkFailed] = {}
        self.lock = threading.Lock()

    def get(self, listing: dict[str, Any], limit: int | None, *, copy: int = 0, steps: bool = False) -> Walk:
        key = (listing["operation"], json.dumps(listing.get("query"), sort_keys=True), limit, copy, steps)
        with self.lock:
            if key not in self.cache:
                try:
                    self.cache[key] = walk(self.target, listing, limit, steps=steps)
                except WalkFailed as exc:
                    self.cache[key] = exc
        value = self.cache[key]
        if isinstance(value, WalkFailed):
            raise value
        return value


@pytest.fixture(scope="session")
def walks(target: Target) -> Walks:
    return Walks(target)


def _walk_or_fail(
    walks: Walks,
    listing: dict[str, Any],
    limit: int | None,
    verdict: Verdict,
    rule_id: str,
    copy: int = 0,
    steps: bool = False,
) -> Walk | None:
    try:
        return walks.get(listing, limit, copy=copy, steps=steps)
    except WalkFailed as exc:
        number = len(exc.walk.pages) + 1
        transport = judge_transport(exc.error.exchange, listing["operation"], verdict.target.secrets)
        verdict.add(
            transport
            or [
                _list_finding(
                    listing,
                    rule_id,
                    f"page {number} of a walk at page size {limit or 'default'} "
                    f"{exc.error.reason}; every page of a list must be a list page.",
                    exc.error.exchange,
                    verdict.target.secrets,
                )
            ]
        )
        verdict.conclude()
        return None


def _judge_walk(walks: Walks, listing: dict[str, Any], verdict: Verdict, rule_id: str, judge: Any) -> None:
    record = _walk_or_fail(walks, listing, main_limit(listing), verdict, rule_id)
    if record is not None:
        verdict.add(judge(record, verdict.target.secrets))
    verdict.conclude()


@pytest.mark.rules("pagination.no-duplicates")
@pytest.mark.sends_valid_requests
def test_no_duplicates(walks: Walks, listing: dict[str, Any], verdict: Verdict) -> None:
    """Fails when an item appears twice while walking the list to its end.

    Where items have no id (whole entries, e.g. log lines), two equal entries may both be real: a
    repeat counts only when a walk at another page size returns that entry a different number of times.
    """
    rule = "pagination.no-duplicates"
    main = _walk_or_fail(walks, listing, main_limit(listing), verdict, rule)
    assert main is not None
    findings = judge_no_duplicates(main, verdict.target.secrets)
    other = other_kind(listing)
    if findings and listing["item_id"] == "" and other is not None:
        second = _walk_or_fail(walks, listing, other[0], verdict, rule, steps=other[1])
        assert second is not None
        counts, again = Counter(main.keys), Counter(second.keys)
        if all(again[key] == n for key, n in counts.items() if n > 1):
            findings = []  # the same entries repeat at both page sizes: they repeat in the data
    verdict.add(findings)
    verdict.conclude()


@pytest.mark.rules("pagination.complete")
@pytest.mark.sends_valid_requests
def test_complete(walks: Walks, listing: dict[str, Any], verdict: Verdict) -> None:
    """Fails when walks at one page size lose items that walks at another page size return.

    When the main walk's count matches a total that stayed the same throughout, nothing is missing;
    otherwise the list is walked a second way (another page size, or stepping an offset cursor). Only
    when the two disagree are both walked once more, so that a loss must show twice, between walks that
    return the item, before it is reported.
    """
    if listing["style"] == "none":
        pytest.skip("the list is not paginated")
    rule = "pagination.complete"
    main = _walk_or_fail(walks, listing, main_limit(listing), verdict, rule)
    assert main is not None
    if main.ended != "end":
        pytest.skip(f"the main walk did not reach the end ({main.ended})")
    total = main.stable_total
    distinct, seen = len(set(main.keys)), len(main.keys)
    if total is not None and distinct <= total <= seen:
        verdict.conclude()  # every item the total counts was returned
        return
    other = other_kind(listing)
    if other is None:
        if total is None:
            pytest.skip("the list reports no total and there is no second way to walk it")
        verdict.conclude()  # a total that disagrees is judged under pagination.totals
        return
    second = _walk_or_fail(walks, listing, other[0], verdict, rule, steps=other[1])
    assert second is not None
    found = [main, second]
    if main.ended == "end" and second.ended == "end" and set(main.keys) != set(second.keys):
        again = _walk_or_fail(walks, listing, main.limit, verdict, rule, copy=2)
        assert again is not None
        second_again = _walk_or_fail(walks, listing, other[0], verdict, rule, copy=2, steps=other[1])
        assert second_again is not None
        found += [again, second_again]
    verdict.add(judge_complete(sorted(found, key=lambda w: w.started), verdict.target.secrets))
    verdict.conclude()


@pytest.mark.rules("pagination.totals")
@pytest.mark.sends_valid_requests
def test_totals(walks: Walks, listing: dict[str, Any], verdict: Verdict) -> None:
    """Fails when totals, page counts or echoed page parameters disagree.

    Totals that differ between pages are read again back to back (a growing list moves them all); a
    total that disagrees with the items walked is checked against a walk at another page size.
    """
    if not (listing.get("total") or listing.get("echo") or listing.get("page_count")):
        pytest.skip("the list reports no totals or echoes")
    rule = "pagination.totals"
    record = _walk_or_fail(walks, listing, main_limit(listing), verdict, rule)
    assert record is not None
    secrets = verdict.target.secrets
    verdict.add(judge_totals(record, secrets))
    index = total_drift(record)
    if index is not None:
        rereads = _reread(verdict.target, listing, [record.pages[0], record.pages[index], record.pages[0]])
        verdict.add(judge_total_drift(record, rereads, secrets))
    elif record.ended == "end" and (total := record.stable_total) is not None:
        keys = record.keys
        other = other_kind(listing)
        if not len(set(keys)) <= total <= len(keys) and other is not None:
            second = _walk_or_fail(walks, listing, other[0], verdict, rule, steps=other[1])
            if second is not None:
                verdict.add(judge_total_count(record, second, secrets))
    verdict.conclude()


def _reread(target: Target, listing: dict[str, Any], pages: list[Page]) -> list[Page]:
    """Asks for the same pages again, back to back; an empty list when one of them fails."""
    try:
        return [fetch_page(target, listing, page.params) for page in pages]
    except PageError:
        return []


@pytest.mark.rules("pagination.last-page")
@pytest.mark.sends_valid_requests
def test_last_page(walks: Walks, listing: dict[str, Any], verdict: Verdict) -> None:
    """Fails when the list's end is not signalled or a page past the end is not empty."""
    if listing["style"] == "none":
        pytest.skip("the list is not paginated")
    _judge_walk(walks, listing, verdict, "pagination.last-page", judge_last_page)


@pytest.mark.rules("pagination.sort-order")
@pytest.mark.sends_valid_requests
def test_sort_order(walks: Walks, listing: dict[str, Any], verdict: Verdict) -> None:
    """Fails when the items are not in the documented order."""
    if not listing.get("sort"):
        pytest.skip("the list documents no order")
    _judge_walk(walks, listing, verdict, "pagination.sort-order", judge_sort_order)


@pytest.mark.rules("pagination.headers")
@pytest.mark.sends_valid_requests
def test_headers(walks: Walks, listing: dict[str, Any], verdict: Verdict) -> None:
    """Fails when documented pagination headers are missing or disagree with the request."""
    if not (listing.get("header_echo") or (listing.get("total") or {}).get("in") == "header"):
        pytest.skip("the list documents no pagination headers")
    _judge_walk(walks, listing, verdict, "pagination.headers", judge_header_echo)


@pytest.mark.rules("pagination.stable-order")
@pytest.mark.sends_valid_requests
def test_stable_order(walks: Walks, listing: dict[str, Any], verdict: Verdict) -> None:
    """Fails when two walks over the unchanged list disagree on order."""
    first = _walk_or_fail(walks, listing, main_limit(listing), verdict, "pagination.stable-order")
    second = _walk_or_fail(walks, listing, main_limit(listing), verdict, "pagination.stable-order", copy=1)
    if first is not None and second is not None:
        verdict.add(judge_stable_order(first, second, verdict.target.secrets))
    verdict.conclude()


@pytest.mark.rules("pagination.default-limit")
@pytest.mark.sends_valid_requests
def test_default_limit(target: Target, listing: dict[str, Any], verdict: Verdict) -> None:
    """Fails when a first page without a limit does not hold the documented default number of items."""
    default = (listing.get("limit") or {}).get("default")
    if not default:
        pytest.skip("the list documents no default page size")
    params = _first_page_params(listing)
    try:
        page = fetch_page(target, listing, params)
    except PageError as exc:
        verdict.add(
            judge_transport(exc.exchange, listing["operation"], target.secrets)
            or [
                _list_finding(
                    listing, "pagination.default-limit", f"the first page {exc.reason}.", exc.exchange, target.secrets
                )
            ]
        )
        verdict.conclude()
        return
    count = len(page.items)
    more = (
        page.next is not None
        if listing["style"] in ("cursor", "link")
        else (page.total is not None and page.total > count)
    )
    if count > default or (more and count != default):
        verdict.add(
            [
                _list_finding(
                    listing,
                    "pagination.default-limit",
                    f"without a limit the first page held {count} items; documented default: {default}.",
                    page.exchange,
                    target.secrets,
                )
            ]
        )
    verdict.conclude()


def first_page(listing: dict[str, Any]) -> int:
    """The number of a page-style list's first page (documented, else 1)."""
    return int((listing.get("page") or {}).get("first", 1))


def _first_page_params(listing: dict[str, Any]) -> dict[str, Any]:
    """The first page without a page size: no parameter at all, unless the default applies only when paging.

    json-server returns the whole list without `_page`, and its default page size once `_page` is given.
    """
    if (listing.get("limit") or {}).get("default_applies") != "when_paging":
        return {}
    if listing["style"] == "page":
        return {listing["page"]["param"]: first_page(listing)}
    if listing["style"] == "offset":
        return {listing["offset"]["param"]: 0}
    return {}


@pytest.mark.rules("pagination.includes-created")
@pytest.mark.sends_valid_requests
def test_includes_created(target: Target, listing: dict[str, Any], verdict: Verdict) -> None:
    """Fails when an item created during the run is missing from its list, or the list's total does not count it."""
    created_by = listing.get("created_by")
    if not created_by:
        pytest.skip("the profile names no operation that adds to this list")
    require_writes(target)
    try:
        before = fetch_page(target, listing, _first_page_params(listing))
        exchange = target.send(created_by["operation"])
        created = _maybe(exchange.json(), created_by["pointer"]) if 200 <= (exchange.status or 0) < 300 else None
    except PageError as exc:
        pytest.skip(f"the list's first page {exc.reason}: the list cannot be judged")
    except RecipeError as exc:
        pytest.skip(f"cannot build a request for {created_by['operation']}: {exc}")
    except ValueError:
        created = None
    if created is None:
        pytest.skip(f"{created_by['operation']} answered {exchange.status or exchange.error}: nothing was created")
    size = (listing.get("limit") or {}).get("max") if (listing.get("limit") or {}).get("param") else None
    after = walk(target, listing, size)
    operation = listing["operation"]
    if after.ended == "error":
        pytest.skip(f"the walk after the create failed: {after.pages[-1].exchange.status if after.pages else '?'}")
    if item_key(created, "") not in after.keys:
        if after.ended == "bounded":
            pytest.skip(f"the list is longer than {MAX_PAGES} pages: the new item could not be looked for")
        last = after.pages[-1].exchange if after.pages else exchange
        verdict.add(
            [
                _list_finding(
                    listing,
                    "pagination.includes-created",
                    f"{created_by['operation']} created {created!r}, but a walk over {operation} "
                    f"({len(after.keys)} items in {len(after.pages)} pages) does not hold it.",
                    last,
                    target.secrets,
                )
            ]
        )
    elif before.total is not None and after.total is not None and after.total < before.total + 1:
        verdict.add(
            [
                _list_finding(
                    listing,
                    "pagination.includes-created",
                    f"the total of {operation} was {before.total} before {created_by['operation']} created "
                    f"{created!r} and is {after.total} after it; it must count the new item.",
                    after.pages[0].exchange,
                    target.secrets,
                )
            ]
        )
    verdict.conclude()


@pytest.mark.rules("pagination.max-limit", "errors.envelope")
def test_max_limit(target: Target, walks: Walks, listing: dict[str, Any], verdict: Verdict) -> None:
    """Fails when a page holds more than the maximum, or a limit above it is neither refused nor clamped.

    Every page of the main walk is held to the maximum too (the only check for a fixed page size).
    """
    spec = listing.get("limit") or {}
    if not spec:
        pytest.skip("the list documents no page size")
    if "max" not in spec:
        pytest.skip("the profile gives no maximum page size (limit.max): there is no bound to hold pages to")
    maximum = int(spec["max"])
    if "param" not in spec:  # a fixed page size: the walk is the only check, so its failure is reported here
        if listing["style"] != "none":
            record = _walk_or_fail(walks, listing, None, verdict, "pagination.max-limit")
            if record is not None:
                verdict.add(judge_page_sizes(record, maximum, target.secrets))
        verdict.conclude()
        return
    try:  # a failing walk is reported by the walk's own tests
        verdict.add(judge_page_sizes(walks.get(listing, main_limit(listing)), maximum, target.secrets))
    except WalkFailed:
        pass
    over = maximum + 1
    reactions = spec.get("over_max", ["reject", "clamp"])
    try:
        page = fetch_page(target, listing, {spec["param"]: over})
    except PageError as exc:
        if "reject" in reactions:
            what = f"{spec['param']}={over} (above the maximum {maximum})"
            verdict.add(_judge_refused(target, listing, exc.exchange, "pagination.max-limit", what))
        else:
            verdict.add(
                [
                    _list_finding(
                        listing,
                        "pagination.max-limit",
                        f"{spec['param']}={over} {exc.reason}; documented: clamped to {maximum}.",
                        exc.exchange,
                        target.secrets,
                    )
                ]
            )
        verdict.conclude()
        return
    if "clamp" not in reactions:
        verdict.add(
            [
                _list_finding(
                    listing,
                    "pagination.max-limit",
                    f"{spec['param']}={over} was accepted (200); documented: refused with 400 above {maximum}.",
                    page.exchange,
                    target.secrets,
                )
            ]
        )
    elif len(page.items) > maximum:
        verdict.add(
            [
                _list_finding(
                    listing,
                    "pagination.max-limit",
                    f"{spec['param']}={over} returned {len(page.items)} items; at most {maximum} are allowed "
                    "(refuse with 400 or clamp).",
                    page.exchange,
                    target.secrets,
                )
            ]
        )
    verdict.conclude()


def _invalid_cases(listing: dict[str, Any], keys: tuple[str, ...]) -> list[tuple[str, Any]]:
    cases = []
    for key in keys:
        section = listing.get(key) or {}
        for value in section.get("invalid", []):
            if "param" in section:
                cases.append((section["param"], value))
    return cases


@pytest.mark.rules("pagination.invalid-limit", "errors.envelope", "errors.code-convention")
def test_invalid_page_parameters(target: Target, listing: dict[str, Any], verdict: Verdict) -> None:
    """Fails when a zero, negative or non-integer limit/page/offset is not refused with 400."""
    cases = _invalid_cases(listing, ("limit", "page", "offset"))
    if not cases:
        pytest.skip("the profile lists no invalid page parameters")
    _expect_refused(target, listing, verdict, "pagination.invalid-limit", cases)


@pytest.mark.rules("pagination.bad-cursor", "errors.envelope", "errors.code-convention")
def test_bad_cursor(target: Target, listing: dict[str, Any], verdict: Verdict) -> None:
    """Fails when an unknown or malformed cursor is not refused with 400."""
    cases = _invalid_cases(listing, ("cursor",))
    if not cases:
        pytest.skip("the profile lists no invalid cursors")
    _expect_refused(target, listing, verdict, "pagination.bad-cursor", cases)


def _expect_refused(
    target: Target, listing: dict[str, Any], verdict: Verdict, rule_id: str, cases: list[tuple[str, Any]]
) -> None:
    """Sends each invalid (param, value) on its own and judges every answer as a refusal."""
    for param, value in cases:
        exchange = _send_params(target, listing, {param: value})
        verdict.add(_judge_refused(target, listing, exchange, rule_id, f"{param}={value!r}"))
    verdict.conclude()


def _judge_refused(
    target: Target, listing: dict[str, Any], exchange: Exchange, rule_id: str, what: str
) -> list[Finding]:
    """A page parameter the list must refuse: 400 with the documented error envelope."""
    return judge_error(
        target.profile,
        exchange,
        rule_id=rule_id,
        operation=listing["operation"],
        expected=[400],
        what=what,
        secrets=target.secrets,
        rule=listing,
    )


def _send_params(target: Target, listing: dict[str, Any], params: dict[str, Any]) -> Exchange:
    """One bad page parameter; errors.bad-parameter may have asked the same already (Target.ask)."""
    try:
        return target.ask(target.build(listing["operation"], query={**(listing.get("query") or {}), **params}))
    except RecipeError as exc:
        pytest.skip(f"cannot request {listing['operation']}: {exc}")


def expected_pages(total: int, size: int) -> int:
    return max(1, math.ceil(total / size))


__all__ = ["Finding", "expected_pages"]
