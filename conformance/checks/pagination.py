"""Judging list walks: duplicates, completeness, totals, page sizes, the last page, order.

A `Walk` is what the pagination scenario records while following a list from its first page
to its end (bounded, so a cycling or endless list cannot hang the suite).

Other tests may create things while a list is walked, so a list can grow during a walk (never
shrink: none of the six APIs documents a delete). The judges that compare walks or totals only
flag what such growth cannot explain: an item missed by a walk although walks before and after it
returned it, a total that disagrees with two complete walks while it stayed the same on every
page, a page whose total differs from the first page's when re-read back to back.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from conformance.client import Exchange
from conformance.findings import Finding, finding
from conformance.profile import resolve_pointer
from conformance.rules import Rule, register

__all__ = [
    "Page",
    "Walk",
    "item_key",
    "judge_complete",
    "judge_header_echo",
    "judge_last_page",
    "judge_no_duplicates",
    "judge_page_sizes",
    "judge_sort_order",
    "judge_stable_order",
    "judge_total_count",
    "judge_total_drift",
    "judge_totals",
    "main_limit",
    "next_link",
    "other_kind",
    "read_page",
    "total_drift",
]

register(
    Rule(
        "pagination.no-duplicates",
        "No item appears twice in a walk",
        "Walking a list from its first page to its end never returns an item twice.",
        passive="sequence",
        reads=("pagination", "pagination.items", "pagination.item_id"),
    )
)
register(
    Rule(
        "pagination.complete",
        "A walk returns every item",
        "Every item is reachable: walks at different page sizes (or stepping an offset) return the same items.",
        reads=("pagination", "pagination.items", "pagination.item_id", "pagination.limit", "pagination.offset"),
    )
)
register(
    Rule(
        "pagination.default-limit",
        "The default page size is honored",
        "Without a limit the list returns the documented default number of items.",
        reads=("pagination", "pagination.limit", "pagination.page"),
    )
)
register(
    Rule(
        "pagination.max-limit",
        "The maximum page size is honored",
        "A page never holds more than the documented maximum; above it the server refuses or clamps.",
        passive="sequence",
        reads=("pagination", "pagination.limit"),
    )
)
register(
    Rule(
        "pagination.invalid-limit",
        "Invalid page parameters are refused",
        "A zero, negative or non-integer limit/page/offset answers 400 with the envelope.",
        reads=("pagination", "pagination.limit", "pagination.page", "pagination.offset"),
    )
)
register(
    Rule(
        "pagination.totals",
        "Totals and page counts are consistent",
        "Reported totals, echoes and page counts agree with each other and with the items.",
        passive="sequence",
        reads=("pagination", "pagination.total", "pagination.page_count", "pagination.echo"),
    )
)
register(
    Rule(
        "pagination.last-page",
        "The last page is detected",
        "The end of a list is signalled as documented and a page past the end is empty.",
        passive="sequence",
        reads=("pagination", "pagination.style", "pagination.cursor", "pagination.page"),
    )
)
register(
    Rule(
        "pagination.bad-cursor",
        "Unknown cursors are refused",
        "An unknown or malformed cursor answers 400 with the error envelope.",
        reads=("pagination", "pagination.cursor"),
    )
)
register(
    Rule(
        "pagination.stable-order",
        "Order is stable across pages",
        "Two walks over an unchanged list return the same items in the same order.",
        reads=("pagination", "pagination.items", "pagination.item_id"),
    )
)
register(
    Rule(
        "pagination.includes-created",
        "Created items are listed and counted",
        "After a create, the list holds the new item on some page and its total counts it.",
        reads=("pagination", "pagination.created_by", "pagination.total"),
    )
)
register(
    Rule(
        "pagination.sort-order",
        "Items come in the documented order",
        "A list documented as sorted (newest first, ascending id) returns its items in that order.",
        passive="sequence",
        reads=("pagination", "pagination.sort"),
    )
)
register(
    Rule(
        "pagination.headers",
        "Pagination headers are present and true",
        "Lists that document pagination headers send them with values matching the request.",
        passive="sequence",
        reads=("pagination", "pagination.header_echo"),
    )
)


@dataclass
class Page:
    """One page of a walk: what was asked, and what the server said."""

    exchange: Exchange
    params: dict[str, Any]
    items: list[Any]
    next: Any = None
    total: int | None = None
    page_count: int | None = None
    echo: dict[str, Any] = field(default_factory=dict)


@dataclass
class Walk:
    """A walk over one list at one page size."""

    operation: str
    listing: dict[str, Any]
    limit: int | None
    pages: list[Page] = field(default_factory=list)
    ended: str = "end"  # "end" (the server said so), "bounded" (gave up), "error" (a page failed)
    past_end: Exchange | None = None
    past_end_items: list[Any] | None = None
    # "follow": the list's own next pointer (cursor) or page/offset arithmetic; "steps": a cursor that is
    # a record offset, stepped by the number of items received instead of following the next pointer.
    mode: str = "follow"
    started: float = 0.0  # when the first page was asked for (monotonic clock)
    finished: float = 0.0  # when the last answer arrived

    @property
    def keys(self) -> list[str]:
        return [key for page in self.pages for key in item_keys(page.items, self.listing["item_id"])]

    @property
    def total(self) -> int | None:
        return self.pages[0].total if self.pages else None

    @property
    def stable_total(self) -> int | None:
        """The total when every page reported the same one (the list did not change meanwhile), else None."""
        totals = {page.total for page in self.pages}
        if len(totals) != 1 or None in totals:
            return None
        return self.pages[0].total

    @property
    def kind(self) -> tuple[int | None, str]:
        """Walks of one kind (page size and mode) must lose the same items if they lose any."""
        return self.limit, self.mode

    def describe(self) -> str:
        if self.mode == "steps":
            param = (self.listing.get("cursor") or {}).get("param", "the offset")
            return f"a walk stepping {param} by the number of items received"
        follow = ""
        if self.listing.get("style") == "cursor":
            follow = f" following {(self.listing.get('cursor') or {}).get('next', 'the next cursor')}"
        size = f"page size {self.limit}" if self.limit else "the default page size"
        return f"a walk at {size}{follow}"


LINK_PART = re.compile(r"<([^>]*)>((?:\s*;\s*[^;,]+)*)")


def next_link(header: str | None) -> str | None:
    """The target of the `rel="next"` link in an RFC 8288 Link header, else None."""
    for match in LINK_PART.finditer(header or ""):
        for param in match.group(2).split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "rel" and "next" in value.strip().strip('"').lower().split():
                return match.group(1)
    return None


def read_page(listing: dict[str, Any], exchange: Exchange, params: dict[str, Any], *, body: Any = None) -> Page:
    """Reads one list answer: its items, next pointer (body, header or Link), total and echoes.

    `body`: the answer's body when already parsed. Raises ValueError saying why the answer is no page of the list.
    """
    try:
        body = exchange.json() if body is None else body
        items = resolve_pointer(body, listing["items"])
    except (ValueError, KeyError) as exc:
        raise ValueError(f"has no item list at {listing['items'] or 'the body'} ({exc})") from None
    if not isinstance(items, list):
        raise ValueError(f"has {type(items).__name__} at {listing['items'] or 'the body'}, not a list")
    page = Page(exchange=exchange, params=dict(params), items=items)
    if "cursor" in listing:
        cursor = listing["cursor"]
        if "next_header" in cursor:
            page.next = exchange.header(cursor["next_header"]) or None  # absent or empty: the last page
        else:
            page.next = _maybe(body, cursor["next"])
    elif listing["style"] == "link":
        page.next = next_link(exchange.header("Link"))
    total = listing.get("total") or {}
    if total.get("in") == "body":
        value = _maybe(body, total["pointer"])
        page.total = value if isinstance(value, int) else None
    elif total.get("in") == "header":
        value = exchange.header(total["name"])
        page.total = int(value) if value and value.strip().isdigit() else None
    if listing.get("page_count"):
        value = _maybe(body, listing["page_count"])
        page.page_count = value if isinstance(value, int) else None
    page.echo = {name: _maybe(body, pointer) for name, pointer in (listing.get("echo") or {}).items()}
    return page


def _maybe(body: Any, pointer: str) -> Any:
    try:
        return resolve_pointer(body, pointer)
    except KeyError:
        return None


def item_key(item: Any, pointer: str) -> str:
    """Returns an item's identity: the value at `item_id`, or the whole item when that is ''."""
    if isinstance(item, dict) and pointer.count("/") == 1 and "~" not in pointer and pointer[1:] in item:
        value = item[pointer[1:]]  # the usual `/id`, without walking a pointer
    else:
        try:
            value = resolve_pointer(item, pointer)
        except KeyError:
            value = item
    if isinstance(value, str):  # the usual id: what json.dumps gives, without its overhead (walks hold many)
        return str(json.encoder.encode_basestring_ascii(value))
    return json.dumps(value, sort_keys=True)


def item_keys(items: list[Any], pointer: str) -> list[str]:
    """`[item_key(item, pointer) for item in items]`, the usual `/id` pointer read once for all (drift: millions)."""
    if pointer.count("/") != 1 or "~" in pointer:
        return [item_key(item, pointer) for item in items]
    name, encode = pointer[1:], json.encoder.encode_basestring_ascii
    return [
        encode(value)
        if type(item) is dict and name in item and type(value := item[name]) is str
        else item_key(item, pointer)
        for item in items
    ]


def _f(rule_id: str, walk: Walk, message: str, exchange: Exchange | None, secrets: tuple[str, ...]) -> Finding:
    return finding(rule_id, walk.operation, message, rule=walk.listing, exchange=exchange, secrets=secrets)


def judge_no_duplicates(walk: Walk, secrets: tuple[str, ...] = ()) -> list[Finding]:
    """Fails when an item appears twice in one walk."""
    seen: dict[str, int] = {}
    for number, page in enumerate(walk.pages, start=1):
        for key in item_keys(page.items, walk.listing["item_id"]):
            if key in seen:
                return [
                    _f(
                        "pagination.no-duplicates",
                        walk,
                        f"item {key} appeared on page {seen[key]} and again on page {number} of a walk at "
                        f"page size {walk.limit or 'default'}.\n\nPages must not overlap: each item once per walk.",
                        page.exchange,
                        secrets,
                    )
                ]
            seen[key] = number
    return []


def judge_complete(walks: list[Walk], secrets: tuple[str, ...] = ()) -> list[Finding]:
    """Fails when walks of one kind (page size, mode) lose items that walks of another kind return.

    `walks` are in the order they were made, one after the other, over the same list. An item counts
    as lost by a kind when every walk of that kind lacks it and at least one of them lacks it although
    a walk that ended before it and a walk that started after it both returned it: the item existed
    all along, so neither a list growing meanwhile nor a one-off reordering explains the loss.
    """
    done = [w for w in walks if w.ended == "end" and w.pages]
    if len({w.kind for w in done}) < 2:
        return []
    sets = [set(w.keys) for w in done]
    everything = set().union(*sets)
    for kind in dict.fromkeys(w.kind for w in done):
        mine = [i for i, w in enumerate(done) if w.kind == kind]
        lost = everything - set().union(*(sets[i] for i in mine))
        confirmed = set()
        for i in mine:
            before = set().union(*(sets[j] for j in range(len(done)) if done[j].finished <= done[i].started))
            after = set().union(*(sets[j] for j in range(len(done)) if done[j].started >= done[i].finished))
            confirmed |= lost & before & after
        if not confirmed:
            continue
        walk = done[mine[-1]]
        example = sorted(confirmed)[0]
        witness = next(done[j] for j in range(len(done)) if example in sets[j])
        again = f" (all {len(mine)} walks made this way missed them)" if len(mine) > 1 else ""
        return [
            _f(
                "pagination.complete",
                walk,
                f"{walk.describe()} missed {len(confirmed)} item(s){again}, e.g. {example}, that "
                f"{witness.describe()} returned; walks made before and after it returned them, so they were "
                "in the list all along.\n\nEvery item must be reachable exactly once, whatever the page size.",
                _page_at(walk, witness.keys.index(example)),
                secrets,
            )
        ]
    return []


def _page_at(walk: Walk, position: int) -> Exchange:
    """The exchange of the page of `walk` that covers `position` in the list (the last page past the end)."""
    seen = 0
    for page in walk.pages:
        seen += len(page.items)
        if position < seen:
            return page.exchange
    return walk.pages[-1].exchange


def _count_range(walk: Walk) -> tuple[int, int]:
    """How many items the walk saw: distinct ones, and all (a list identified by whole items may repeat one)."""
    keys = walk.keys
    return len(set(keys)), len(keys)


def judge_total_count(walk: Walk, other: Walk, secrets: tuple[str, ...] = ()) -> list[Finding]:
    """Fails when a total that stayed the same on every page of two walks disagrees with what both returned.

    The two walks (different page sizes) must have returned the same items, so the walk is complete
    and the list did not change; a total that also did not change must then equal the item count.
    """
    total = walk.stable_total
    if walk.ended != "end" or other.ended != "end" or total is None or other.stable_total != total:
        return []
    if set(walk.keys) != set(other.keys):
        return []  # the walks disagree: a completeness question, not a totals one
    low, high = _count_range(walk)
    if low <= total <= high:
        return []
    name = _total_name(walk.listing)
    return [
        _f(
            "pagination.totals",
            walk,
            f"{name} is {total} on every page, but {walk.describe()} and {other.describe()} both returned the "
            f"same {low} item(s).\n\nThe total must count the items of the list.",
            walk.pages[0].exchange,
            secrets,
        )
    ]


def _total_name(listing: dict[str, Any]) -> str:
    total = listing.get("total") or {}
    return str(total.get("name") or f"the total ({total.get('pointer', '')})")


def total_drift(walk: Walk) -> int | None:
    """The index of the first page whose total differs from the first page's, else None."""
    if not walk.pages or walk.pages[0].total is None:
        return None
    first = walk.pages[0].total
    for index, page in enumerate(walk.pages):
        if page.total is not None and page.total != first:
            return index
    return None


def judge_total_drift(walk: Walk, rereads: list[Page], secrets: tuple[str, ...] = ()) -> list[Finding]:
    """Fails when pages of one list report different totals while the list stays the same.

    `rereads` are the first page, the page whose total differed, and the first page again, asked for
    back to back after the walk. A list that grows (or shrinks) moves every total the same way, so the
    differing page cannot disagree with the first page read before and after it.
    """
    index = total_drift(walk)
    if index is None or len(rereads) != 3:
        return []
    first, middle, last = (page.total for page in rereads)
    if first is None or middle is None or first != last or middle == first:
        return []
    name = _total_name(walk.listing)
    return [
        _f(
            "pagination.totals",
            walk,
            f"page {index + 1} of {walk.describe()} reports {name} {walk.pages[index].total}, page 1 reports "
            f"{walk.pages[0].total}; read again back to back, page 1 says {first}, page {index + 1} {middle}, "
            f"page 1 {last}.\n\nEvery page of one list must report the same total.",
            rereads[1].exchange,
            secrets,
        )
    ]


def judge_totals(walk: Walk, secrets: tuple[str, ...] = ()) -> list[Finding]:
    """Fails when page counts disagree with the total, or echoes differ from the request."""
    findings: list[Finding] = []
    # the page size: asked, or the largest echo (an echo may count the items of a short last page)
    page_size = walk.limit or max((_echoed_limit(page) or 0 for page in walk.pages), default=0)
    for page in walk.pages:
        for name, value in page.echo.items():
            asked = page.params.get(name)
            if asked is None or value is None:
                continue
            if name in ("limit", "page_size") and value == len(page.items):
                continue  # the number of items in this answer: RetailCRM's seed defines `limit` so
            if str(value) != str(asked):
                findings.append(
                    _f(
                        "pagination.totals",
                        walk,
                        f"the page echoes {name}={value!r} but the request asked for {name}={asked!r}.",
                        page.exchange,
                        secrets,
                    )
                )
                return findings
        if page.page_count is not None and page.total is not None:
            size = page_size or len(page.items)
            if size:
                expected = max(1, math.ceil(page.total / size))
                if page.page_count != expected:
                    findings.append(
                        _f(
                            "pagination.totals",
                            walk,
                            f"totalPageCount is {page.page_count}; with totalCount {page.total} and "
                            f"limit {size} it must be ceil({page.total} / {size}) = {expected}.",
                            page.exchange,
                            secrets,
                        )
                    )
                    return findings
    return findings


def _echoed_limit(page: Page) -> int | None:
    for name, value in page.echo.items():
        if name in ("limit", "page_size") and isinstance(value, int):
            return value
    return None


def judge_last_page(walk: Walk, secrets: tuple[str, ...] = ()) -> list[Finding]:
    """Fails when the end of the list is not signalled, or a page past the end is not an empty page."""
    findings: list[Finding] = []
    if walk.ended == "bounded":
        findings.append(
            _f(
                "pagination.last-page",
                walk,
                f"the walk did not end after {len(walk.pages)} pages; the list never signalled its "
                "last page (or cycles).",
                walk.pages[-1].exchange if walk.pages else None,
                secrets,
            )
        )
    elif walk.pages and walk.listing["style"] in ("cursor", "link"):
        last = walk.pages[-1]
        if len(walk.pages) > 1 and not last.items:
            findings.append(
                _f(
                    "pagination.last-page",
                    walk,
                    f"page {len(walk.pages) - 1} carried a next cursor that led to an empty page; the "
                    "last page with items must say there is no next one (null).",
                    last.exchange,
                    secrets,
                )
            )
        elif last.next is not None and not last.items:
            findings.append(
                _f(
                    "pagination.last-page",
                    walk,
                    f"an empty page still carried a next cursor ({last.next!r}); the last page must "
                    "say there is no next one (null).",
                    last.exchange,
                    secrets,
                )
            )
    if walk.past_end is not None:
        exchange = walk.past_end
        if exchange.status != 200 or walk.past_end_items is None:
            findings.append(
                _f(
                    "pagination.last-page",
                    walk,
                    f"a page past the end answered {exchange.status}; documented: an empty page (200).",
                    exchange,
                    secrets,
                )
            )
        elif walk.past_end_items:
            findings.append(
                _f(
                    "pagination.last-page",
                    walk,
                    f"a page past the end held {len(walk.past_end_items)} item(s); it must be empty.",
                    exchange,
                    secrets,
                )
            )
    return findings


def judge_sort_order(walk: Walk, secrets: tuple[str, ...] = ()) -> list[Finding]:
    """Fails when items are not in the documented order across the whole walk."""
    sort = walk.listing.get("sort")
    if not sort:
        return []
    previous: Any = None
    for page in walk.pages:
        for item in page.items:
            try:
                value = resolve_pointer(item, sort["pointer"])
            except KeyError:
                continue
            if previous is not None and value is not None:
                try:
                    wrong = value < previous if sort["direction"] == "asc" else value > previous
                except TypeError:
                    wrong = False
                if wrong:
                    order = "ascending" if sort["direction"] == "asc" else "descending (newest first)"
                    return [
                        _f(
                            "pagination.sort-order",
                            walk,
                            f"{sort['pointer']} {value!r} follows {previous!r}; documented order: {order}.",
                            page.exchange,
                            secrets,
                        )
                    ]
            previous = value
    return []


def judge_stable_order(first: Walk, second: Walk, secrets: tuple[str, ...] = ()) -> list[Finding]:
    """Fails when two walks over an unchanged list disagree on the items or their order."""
    a, b = first.keys, second.keys
    size = min(len(a), len(b))
    for index in range(size):
        if a[index] != b[index]:
            page_index = min(index // max(first.limit or 1, 1), len(second.pages) - 1)
            return [
                _f(
                    "pagination.stable-order",
                    first,
                    f"two walks disagree at position {index}: {a[index]} then {b[index]}; the order of an "
                    "unchanged list must be stable across requests.",
                    second.pages[page_index].exchange,
                    secrets,
                )
            ]
    return []


def judge_header_echo(walk: Walk, secrets: tuple[str, ...] = ()) -> list[Finding]:
    """Fails when documented pagination headers are missing or disagree with the request."""
    listing = walk.listing
    header_echo = listing.get("header_echo") or {}
    total = listing.get("total") or {}
    findings: list[Finding] = []
    for page in walk.pages:
        names = dict(header_echo)
        if total.get("in") == "header":
            names["total"] = total["name"]
        for param, header in names.items():
            value = page.exchange.header(header)
            if value is None:
                return [
                    _f(
                        "pagination.headers",
                        walk,
                        f"the list answer has no {header} header; documented on every list response.",
                        page.exchange,
                        secrets,
                    )
                ]
            if not value.strip().lstrip("-").isdigit():
                return [
                    _f("pagination.headers", walk, f"{header} is {value!r}, not an integer.", page.exchange, secrets)
                ]
            asked = page.params.get(_param_name(listing, param))
            if param != "total" and asked is not None and int(value) != int(asked):
                return [
                    _f(
                        "pagination.headers",
                        walk,
                        f"{header} is {value} but the request asked for {asked}.",
                        page.exchange,
                        secrets,
                    )
                ]
    return findings


def _param_name(listing: dict[str, Any], role: str) -> str:
    section = listing.get(role) or {}
    return str(section.get("param", role))


def judge_page_sizes(walk: Walk, maximum: int, secrets: tuple[str, ...] = ()) -> list[Finding]:
    """Fails when a page of the walk holds more items than the documented maximum page size."""
    for number, page in enumerate(walk.pages, start=1):
        if len(page.items) > maximum:
            return [
                _f(
                    "pagination.max-limit",
                    walk,
                    f"page {number} of {walk.describe()} held {len(page.items)} items; documented: at most "
                    f"{maximum} per page.",
                    page.exchange,
                    secrets,
                )
            ]
    return []


def main_limit(listing: dict[str, Any]) -> int | None:
    """The page size of the main walk: the maximum where it can be asked for (fewest requests).

    Without a documented maximum, the documented default (else None: the server's own page size).
    """
    spec = listing.get("limit") or {}
    if "param" not in spec:
        return None
    allowed = spec.get("allowed")
    if allowed:
        return int(max(allowed))
    return int(spec["max"]) if "max" in spec else spec.get("default")


def other_kind(listing: dict[str, Any]) -> tuple[int | None, bool] | None:
    """The second way to walk a list, (page size, steps), to compare with the main walk; None if there is none.

    A page size whose page boundaries mostly differ from the main walk's (two thirds of it, or the next
    smaller allowed size), so that an item lost at a page boundary is lost at one size only; for a
    fixed page size whose cursor is a record offset, stepping the offset by the items received.
    """
    spec = listing.get("limit") or {}
    main = main_limit(listing)
    if main is not None:
        allowed = sorted(size for size in spec.get("allowed") or [] if size < main)
        if spec.get("allowed"):
            return (allowed[-1], False) if allowed else None
        return (max(1, 2 * main // 3), False) if main > 1 else None
    if listing["style"] == "cursor" and (listing.get("cursor") or {}).get("offset"):
        return None, True
    return None
