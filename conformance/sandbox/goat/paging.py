"""Cursor pagination of the goat sandbox: the `limit` parameter, opaque cursors, pages.

A cursor is `base64url(JSON position) + "." + HMAC`: opaque to clients, and any cursor this API
did not hand out (edited, truncated, invented) is refused with 400. The key is fixed, so cursors
survive a restart on the same `--db` file. Items are in ascending id order.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import hmac
import json
import re
import secrets
from typing import Any

from conformance.sandbox.base import ApiError, SandboxSettings

__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "Paging"]

DEFAULT_LIMIT, MAX_LIMIT = 25, 100  # "Default is 25. Maximum is 100."
_SECRET = b"goat-sandbox-cursor-v1"
_LIMIT_ERROR = f"limit must be an integer between 1 and {MAX_LIMIT}"


def _signature(raw: bytes) -> str:
    return hmac.new(_SECRET, raw, hashlib.sha256).hexdigest()[:16]


class Paging:
    """Reads `limit` and `cursor` and cuts pages, breaking the rules its faults name."""

    def __init__(self, settings: SandboxSettings) -> None:
        self.settings = settings

    def limit(self, raw: str | None) -> int:
        """Returns the page size; 0, negative or non-integer → 400, above 100 → clamped."""
        if raw is None:
            return 20 if self.settings.has("pagination.default-limit") else DEFAULT_LIMIT
        raw = raw.strip()
        if self.settings.has("errors.bad-parameter") and re.fullmatch(r"-?\d+\.\d+", raw):
            raw = raw.split(".")[0]  # a decimal limit is truncated instead of refused
        if self.settings.varies("whole-decimal-limit") and re.fullmatch(r"-?\d+\.0+", raw):
            raw = raw.split(".")[0]  # 10.0 is a whole number: read as 10 (2.5 is still refused)
        if not re.fullmatch(r"-?\d+", raw):
            raise ApiError(400, _LIMIT_ERROR)
        value = int(raw) if len(raw) < 19 else (-1 if raw.startswith("-") else 10**18)  # no 4300-digit ints
        if value < 1:
            if self.settings.has("pagination.invalid-limit"):
                return DEFAULT_LIMIT
            raise ApiError(400, _LIMIT_ERROR)
        if value > MAX_LIMIT and self.settings.varies("limit-above-max-refused"):
            raise ApiError(400, _LIMIT_ERROR)  # apis.md: "above 100 → 400 or clamped to 100"
        return value if self.settings.has("pagination.max-limit") else min(value, MAX_LIMIT)

    @staticmethod
    def encode(position: dict[str, Any]) -> str:
        raw = json.dumps(position, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=") + "." + _signature(raw)

    def decode(self, token: str | None) -> dict[str, Any] | None:
        """Returns the position a cursor stands for (None: the first page); unknown cursors → 400."""
        if not token:  # an empty cursor is no cursor: the first page
            return None
        body, _, signature = token.partition(".")
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            position = json.loads(raw)
            valid = hmac.compare_digest(signature, _signature(raw)) and isinstance(position, dict)
        except (ValueError, UnicodeError, TypeError):
            valid = False
        if valid and (isinstance(position.get("after"), str) or isinstance(position.get("offset"), int)):
            return dict(position)
        if self.settings.has("pagination.bad-cursor"):
            return None  # an unknown cursor restarts the list
        raise ApiError(400, "cursor is not a cursor this API returned")

    def page(
        self, ids: list[str], position: dict[str, Any] | None, limit: int, *, descending: bool = False
    ) -> tuple[list[str], str | None]:
        """Returns the ids of the page at `position` of `ids` (sorted either way) and the next cursor."""
        seed = None
        if self.settings.has("pagination.stable-order"):  # each walk gets its own order, kept in the cursor
            seed = position.get("seed") if position else None
            seed = seed if isinstance(seed, int) else secrets.randbelow(2**31)
            ids = sorted(ids, key=lambda value: hashlib.sha256(f"{seed}:{value}".encode()).digest())
        if position is None:
            start = 0
        elif "after" in position and seed is None and descending:
            start = next((i for i, value in enumerate(ids) if value < position["after"]), len(ids))
        elif "after" in position and seed is None:
            start = bisect.bisect_right(ids, position["after"])
        else:
            start = max(int(position.get("offset", 0)), 0)

        def cursor_at(index: int) -> str:  # the cursor of the page starting at ids[index]
            if seed is not None:
                return self.encode({"seed": seed, "offset": index})
            return self.encode({"after": ids[index - 1]})

        page = ids[start : start + limit]
        more = start + limit < len(ids)
        next_cursor = cursor_at(start + limit) if more else None
        if more and len(page) > 1 and self.settings.has("pagination.no-duplicates"):
            next_cursor = cursor_at(start + limit - 1)  # the next page repeats this page's last item
        if self.settings.has("pagination.complete"):  # the next page skips one item
            next_cursor = cursor_at(start + limit + 1) if start + limit + 1 < len(ids) else None
        if not more and page and self.settings.has("pagination.last-page"):
            next_cursor = cursor_at(start + len(page))  # a cursor on the last page, leading to an empty one
        return page, next_cursor
