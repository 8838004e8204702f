"""The pagination judges: each fails on a broken walk and passes on a conforming one (no server needed)."""

from __future__ import annotations

import json
from typing import Any

import httpx

from conformance.checks.pagination import (
    Page,
    Walk,
    judge_complete,
    judge_page_sizes,
    judge_total_count,
    judge_total_drift,
    judge_totals,
    other_kind,
    total_drift,
)
from conformance.exchange import Exchange

OFFSET_LIST: dict[str, Any] = {
    "operation": "listThings",
    "tier": "documented",
    "source": "test",
    "style": "offset",
    "items": "/items",
    "item_id": "/id",
    "limit": {"param": "limit", "default": 20, "max": 100},
    "offset": {"param": "offset"},
    "total": {"in": "body", "pointer": "/total"},
    "echo": {"limit": "/limit", "offset": "/offset"},
}
CURSOR_LIST: dict[str, Any] = {
    "operation": "listTransactions",
    "tier": "inferred",
    "source": "test",
    "style": "cursor",
    "items": "/transactions",
    "item_id": "/id",
    "limit": {"default": 50, "max": 50},
    "cursor": {"param": "startFrom", "next": "/nextFrom", "offset": True},
}


def exchange(body: Any = None, headers: dict[str, str] | None = None) -> Exchange:
    return Exchange(
        operation="listThings",
        method="GET",
        url="http://127.0.0.1/things",
        request_headers={},
        request_body=None,
        status=200,
        response_headers=httpx.Headers(headers or {}),
        body=json.dumps(body).encode(),
    )


def make_walk(
    ids: list[int],
    size: int,
    *,
    listing: dict[str, Any] = OFFSET_LIST,
    total: int | list[int] | None = None,
    limit: int | None = None,
    mode: str = "follow",
    at: float = 0.0,
) -> Walk:
    """A walk over `ids` in pages of `size`; `total` is every page's total, or one per page."""
    chunks = [ids[i : i + size] for i in range(0, len(ids), size)] or [[]]
    totals = total if isinstance(total, list) else [total] * len(chunks)
    record = Walk(operation=listing["operation"], listing=listing, limit=limit, mode=mode, started=at, finished=at + 1)
    for number, (chunk, page_total) in enumerate(zip(chunks, totals, strict=True)):
        params = {"limit": limit, "offset": number * size} if limit else {}
        items = [{"id": i} for i in chunk]
        record.pages.append(
            Page(
                exchange=exchange({"items": items}),
                params=params,
                items=items,
                total=page_total,
                echo={"limit": limit, "offset": number * size} if limit else {},
            )
        )
    return record


def skipping(ids: list[int], size: int) -> list[int]:
    """What a server returns that starts every page after the first one item late."""
    walked, offset = [], 0
    while True:
        start = offset + 1 if offset else 0
        page = ids[start : start + size]
        walked += page
        if len(page) < size:
            return walked
        offset += size


def cursor_skipping(ids: list[int], size: int) -> list[int]:
    """What a server returns whose next cursor points one item ahead: one item skipped per page."""
    walked, position = [], 0
    while position < len(ids):
        page = ids[position : position + size]
        walked += page
        position += len(page) + 1
    return walked


ITEMS = list(range(1, 258))  # 257 items: no page size divides them


# --- judge_complete ---------------------------------------------------------------------------------------------


def test_complete_fails_when_each_page_size_loses_its_own_items() -> None:
    walks = [make_walk(skipping(ITEMS, size), size, limit=size, at=at) for at, size in enumerate((100, 66, 100, 66))]
    findings = judge_complete(walks)
    assert [f.rule_id for f in findings] == ["pagination.complete"]
    assert "missed" in findings[0].message


def test_complete_fails_when_following_the_cursor_skips_what_stepping_the_offset_finds() -> None:
    followed = cursor_skipping(ITEMS, 50)
    walks = [
        make_walk(followed, 50, listing=CURSOR_LIST, at=0),
        make_walk(ITEMS, 50, listing=CURSOR_LIST, mode="steps", at=1),
        make_walk(followed, 50, listing=CURSOR_LIST, at=2),
        make_walk(ITEMS, 50, listing=CURSOR_LIST, mode="steps", at=3),
    ]
    findings = judge_complete(walks)
    assert [f.rule_id for f in findings] == ["pagination.complete"]
    assert "following /nextFrom missed 5 item(s)" in findings[0].message


def test_complete_passes_when_walks_agree() -> None:
    walks = [make_walk(ITEMS, size, limit=size, at=at) for at, size in enumerate((100, 66))]
    assert judge_complete(walks) == []


def test_complete_passes_when_the_list_grows_between_walks() -> None:
    grown = [*ITEMS, 258, 259]
    walks = [
        make_walk(ITEMS, 100, limit=100, at=0),
        make_walk(grown, 66, limit=66, at=1),
        make_walk(grown, 100, limit=100, at=2),
        make_walk([*grown, 260], 66, limit=66, at=3),
    ]
    assert judge_complete(walks) == []


def test_complete_passes_on_a_loss_that_does_not_repeat() -> None:
    """A one-off miss (a reordering during one walk) is not reported: the repeat walk found the item."""
    missing_once = [i for i in ITEMS if i != 70]
    walks = [
        make_walk(ITEMS, 100, limit=100, at=0),
        make_walk(missing_once, 66, limit=66, at=1),
        make_walk(ITEMS, 100, limit=100, at=2),
        make_walk(ITEMS, 66, limit=66, at=3),
    ]
    assert judge_complete(walks) == []


def test_complete_needs_a_walk_before_and_after_the_loss() -> None:
    """Two walks alone cannot tell a lost item from one added in between: no finding yet."""
    walks = [make_walk(skipping(ITEMS, 100), 100, limit=100, at=0), make_walk(ITEMS, 66, limit=66, at=1)]
    assert judge_complete(walks) == []


def test_complete_ignores_walks_that_did_not_end() -> None:
    broken = make_walk(ITEMS[:50], 50, limit=50, at=1)
    broken.ended = "bounded"
    assert judge_complete([make_walk(ITEMS, 100, limit=100, at=0), broken]) == []


# --- judge_total_count ------------------------------------------------------------------------------------------


def test_total_count_fails_when_a_steady_total_is_one_more_than_the_items() -> None:
    first = make_walk(ITEMS, 100, limit=100, total=len(ITEMS) + 1, at=0)
    second = make_walk(ITEMS, 66, limit=66, total=len(ITEMS) + 1, at=1)
    findings = judge_total_count(first, second)
    assert [f.rule_id for f in findings] == ["pagination.totals"]
    assert "258 on every page" in findings[0].message


def test_total_count_passes_when_the_total_counts_the_items() -> None:
    first = make_walk(ITEMS, 100, limit=100, total=len(ITEMS), at=0)
    assert judge_total_count(first, make_walk(ITEMS, 66, limit=66, total=len(ITEMS), at=1)) == []


def test_total_count_passes_when_the_list_grew_during_a_walk() -> None:
    grown = [*ITEMS, 258]
    first = make_walk(grown, 100, limit=100, total=[257, 258, 258], at=0)  # the total moved: not steady
    assert judge_total_count(first, make_walk(grown, 66, limit=66, total=258, at=1)) == []


def test_total_count_leaves_disagreeing_walks_to_the_complete_rule() -> None:
    first = make_walk(skipping(ITEMS, 100), 100, limit=100, total=len(ITEMS), at=0)
    assert judge_total_count(first, make_walk(ITEMS, 66, limit=66, total=len(ITEMS), at=1)) == []


def test_total_count_accepts_repeated_whole_items() -> None:
    """Items identified by their whole body (log entries) may repeat: the total may count the repeats."""
    listing = {**OFFSET_LIST, "item_id": ""}
    entries = [*ITEMS, 257]  # two identical entries
    first = make_walk(entries, 100, listing=listing, limit=100, total=len(entries), at=0)
    second = make_walk(entries, 66, listing=listing, limit=66, total=len(entries), at=1)
    assert judge_total_count(first, second) == []


# --- judge_total_drift ------------------------------------------------------------------------------------------


def drifting_walk() -> Walk:
    return make_walk(ITEMS, 100, limit=100, total=[257, 258, 258], at=0)


def test_total_drift_fails_when_pages_disagree_again_when_read_back_to_back() -> None:
    record = drifting_walk()
    assert total_drift(record) == 1
    rereads = [Page(exchange(), {}, [], total=t) for t in (257, 258, 257)]
    findings = judge_total_drift(record, rereads)
    assert [f.rule_id for f in findings] == ["pagination.totals"]


def test_total_drift_passes_when_the_list_grew() -> None:
    rereads = [Page(exchange(), {}, [], total=t) for t in (258, 258, 258)]
    assert judge_total_drift(drifting_walk(), rereads) == []
    rereads = [Page(exchange(), {}, [], total=t) for t in (258, 259, 259)]  # growing while re-read
    assert judge_total_drift(drifting_walk(), rereads) == []


def test_total_drift_passes_a_steady_walk() -> None:
    record = make_walk(ITEMS, 100, limit=100, total=257)
    assert total_drift(record) is None
    assert judge_total_drift(record, []) == []


# --- judge_totals (echoes and page counts) ----------------------------------------------------------------------


def test_totals_fails_on_a_wrong_echo_and_passes_a_true_one() -> None:
    record = make_walk(ITEMS, 100, limit=100, total=257)
    assert judge_totals(record) == []
    record.pages[1].echo["offset"] = 0
    assert [f.rule_id for f in judge_totals(record)] == ["pagination.totals"]


# --- judge_page_sizes -------------------------------------------------------------------------------------------


def test_page_sizes_fail_when_a_later_page_holds_more_than_the_maximum() -> None:
    record = make_walk(ITEMS[:50], 50, listing=CURSOR_LIST)
    record.pages.append(Page(exchange(), {"startFrom": 50}, [{"id": i} for i in ITEMS[50:101]]))
    findings = judge_page_sizes(record, 50)
    assert [f.rule_id for f in findings] == ["pagination.max-limit"]
    assert "page 2" in findings[0].message and "51 items" in findings[0].message


def test_page_sizes_pass_pages_up_to_the_maximum() -> None:
    assert judge_page_sizes(make_walk(ITEMS, 50, listing=CURSOR_LIST), 50) == []


# --- the second way to walk a list ------------------------------------------------------------------------------


def test_other_kind_picks_a_page_size_with_other_boundaries_or_offset_steps() -> None:
    assert other_kind(OFFSET_LIST) == (66, False)
    assert other_kind({**OFFSET_LIST, "limit": {"param": "limit", "max": 100, "allowed": [20, 50, 100]}}) == (50, False)
    assert other_kind(CURSOR_LIST) == (None, True)
    assert other_kind({**CURSOR_LIST, "cursor": {"param": "startFrom", "next": "/nextFrom"}}) is None
