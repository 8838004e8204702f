"""Judging list walks: duplicates, completeness, totals, the last page, order.

A `Walk` is what the pagination scenario records while following a list from its first page
to its end (bounded, so a cycling or endless list cannot hang the suite).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from conformance.client import Exchange
from conformance.findings import Finding, finding
from conformance.profile import resolve_pointer

__all__ = ["Page", "Walk", "item_key", "judge_complete", "judge_header_echo", "judge_last_page",
           "judge_no_duplicates", "judge_sort_order", "judge_stable_order", "judge_totals"]


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

    @property
    def keys(self) -> list[str]:
        return [item_key(item, self.listing["item_id"]) for page in self.pages for item in page.items]

    @property
    def total(self) -> int | None:
        return self.pages[0].total if self.pages else None


def item_key(item: Any, pointer: str) -> str:
    """Returns an item's identity: the value at `item_id`, or the whole item when that is ''."""
    try:
        value = resolve_pointer(item, pointer)
    except KeyError:
        value = item
    return json.dumps(value, sort_keys=True)


def _f(rule_id: str, walk: Walk, message: str, exchange: Exchange | None, secrets: tuple[str, ...]) -> Finding:
    return finding(rule_id, walk.operation, message, rule=walk.listing, exchange=exchange, secrets=secrets)


def judge_no_duplicates(walk: Walk, secrets: tuple[str, ...] = ()) -> list[Finding]:
    """Fails when an item appears twice in one walk."""
    seen: dict[str, int] = {}
    for number, page in enumerate(walk.pages, start=1):
        for item in page.items:
            key = item_key(item, walk.listing["item_id"])
            if key in seen:
                return [_f("pagination.no-duplicates", walk,
                           f"item {key} appeared on page {seen[key]} and again on page {number} of a walk at "
                           f"page size {walk.limit or 'default'}.\n\nPages must not overlap: each item once per walk.",
                           page.exchange, secrets)]
            seen[key] = number
    return []


def judge_complete(walk: Walk, other: Walk | None = None, secrets: tuple[str, ...] = ()) -> list[Finding]:
    """Fails when the walk misses items: against the reported total, or against a walk at another page size."""
    if walk.ended != "end" or not walk.pages:
        return []
    unique = set(walk.keys)
    total = walk.total
    if total is not None and len(unique) != total:
        return [_f("pagination.complete", walk,
                   f"a walk at page size {walk.limit or 'default'} returned {len(unique)} distinct items; "
                   f"the list reports a total of {total}.\n\nEvery item must be reachable exactly once.",
                   walk.pages[-1].exchange, secrets)]
    if other is not None and other.ended == "end" and other.pages and total is None:
        missing = set(other.keys) - unique
        if missing:
            return [_f("pagination.complete", walk,
                       f"a walk at page size {walk.limit or 'default'} missed {len(missing)} item(s) that a walk at "
                       f"page size {other.limit or 'default'} returned (e.g. {sorted(missing)[0]}).",
                       walk.pages[-1].exchange, secrets)]
    return []


def judge_totals(walk: Walk, secrets: tuple[str, ...] = ()) -> list[Finding]:
    """Fails when totals change during the walk, page counts disagree, or echoes differ from the request."""
    findings: list[Finding] = []
    totals = {page.total for page in walk.pages if page.total is not None}
    if len(totals) > 1:
        findings.append(_f("pagination.totals", walk, f"the reported total changed during one walk: {sorted(totals)}.",
                           walk.pages[-1].exchange, secrets))
    for page in walk.pages:
        for name, value in page.echo.items():
            asked = page.params.get(name)
            if asked is None or value is None:
                continue
            if str(value) != str(asked):
                findings.append(_f("pagination.totals", walk,
                                   f"the page echoes {name}={value!r} but the request asked for {name}={asked!r}.",
                                   page.exchange, secrets))
                return findings
        if page.page_count is not None and page.total is not None:
            size = walk.limit or _echoed_limit(page) or len(page.items)
            if size:
                expected = max(1, math.ceil(page.total / size))
                if page.page_count != expected:
                    findings.append(_f("pagination.totals", walk,
                                       f"totalPageCount is {page.page_count}; with totalCount {page.total} and "
                                       f"limit {size} it must be ceil({page.total} / {size}) = {expected}.",
                                       page.exchange, secrets))
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
        findings.append(_f("pagination.last-page", walk,
                           f"the walk did not end after {len(walk.pages)} pages; the list never signalled its "
                           "last page (or cycles).", walk.pages[-1].exchange if walk.pages else None, secrets))
    elif walk.pages and walk.listing["style"] == "cursor":
        last = walk.pages[-1]
        if len(walk.pages) > 1 and not last.items:
            findings.append(_f("pagination.last-page", walk,
                               f"page {len(walk.pages) - 1} carried a next cursor that led to an empty page; the "
                               "last page with items must say there is no next one (null).", last.exchange, secrets))
        elif last.next is not None and not last.items:
            findings.append(_f("pagination.last-page", walk,
                               f"an empty page still carried a next cursor ({last.next!r}); the last page must "
                               "say there is no next one (null).", last.exchange, secrets))
    if walk.past_end is not None:
        exchange = walk.past_end
        if exchange.status != 200 or walk.past_end_items is None:
            findings.append(_f("pagination.last-page", walk,
                               f"a page past the end answered {exchange.status}; documented: an empty page (200).",
                               exchange, secrets))
        elif walk.past_end_items:
            findings.append(_f("pagination.last-page", walk,
                               f"a page past the end held {len(walk.past_end_items)} item(s); it must be empty.",
                               exchange, secrets))
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
                    return [_f("pagination.sort-order", walk,
                               f"{sort['pointer']} {value!r} follows {previous!r}; documented order: {order}.",
                               page.exchange, secrets)]
            previous = value
    return []


def judge_stable_order(first: Walk, second: Walk, secrets: tuple[str, ...] = ()) -> list[Finding]:
    """Fails when two walks over an unchanged list disagree on the items or their order."""
    a, b = first.keys, second.keys
    size = min(len(a), len(b))
    for index in range(size):
        if a[index] != b[index]:
            page_index = min(index // max(first.limit or 1, 1), len(second.pages) - 1)
            return [_f("pagination.stable-order", first,
                       f"two walks disagree at position {index}: {a[index]} then {b[index]}; the order of an "
                       "unchanged list must be stable across requests.", second.pages[page_index].exchange, secrets)]
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
                return [_f("pagination.headers", walk, f"the list answer has no {header} header; documented on "
                           "every list response.", page.exchange, secrets)]
            if not value.strip().lstrip("-").isdigit():
                return [_f("pagination.headers", walk, f"{header} is {value!r}, not an integer.", page.exchange,
                           secrets)]
            asked = page.params.get(_param_name(listing, param))
            if param != "total" and asked is not None and int(value) != int(asked):
                return [_f("pagination.headers", walk, f"{header} is {value} but the request asked for {asked}.",
                           page.exchange, secrets)]
    return findings


def _param_name(listing: dict[str, Any], role: str) -> str:
    section = listing.get(role) or {}
    return str(section.get("param", role))
