"""Shared building blocks of the sandbox servers.

Each sandbox is ordinary Starlette code written from its seed; what they share lives here:
settings, the SQLite store, the error-envelope plumbing, the rate limiter and the idempotency
store. Faults that break a cross-cutting rule (rate limits, idempotency) are implemented here
once, keyed by the rule id they break.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "ApiError",
    "Database",
    "IdempotencyStore",
    "RateLimitMiddleware",
    "ResponseVariationMiddleware",
    "SandboxSettings",
    "db_of",
    "error_handlers",
    "read_json",
    "settings_of",
]


@dataclass(frozen=True)
class SandboxSettings:
    """How one sandbox instance is built: where its state lives, its limit, its faults."""

    db: str | None = None
    """SQLite file path; None keeps the state in memory."""
    rate_limit: tuple[int, float] | None = None
    """(requests, window seconds) to enforce and advertise; None uses the API's default."""
    faults: frozenset[str] = field(default_factory=frozenset)
    """Names of the rules this instance breaks on purpose (see each module's FAULTS)."""
    variations: frozenset[str] = field(default_factory=frozenset)
    """Names of the conforming variations this instance shows (see each module's VARIATIONS): reasonable
    behaviours the documents leave open, on which the suite must stay silent."""

    def has(self, fault: str) -> bool:
        return fault in self.faults

    def varies(self, variation: str) -> bool:
        return variation in self.variations


class Database:
    """One SQLite connection shared by the app's handlers.

    Handlers are `async def` and run on one event loop thread, so a statement sequence without
    an `await` in between is atomic; the lock only guards use from other threads (tests).
    """

    def __init__(self, path: str | None) -> None:
        self.path = path or ":memory:"
        self.conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self.conn.row_factory = sqlite3.Row
        if path:
            self.conn.execute("PRAGMA journal_mode=WAL")
        self.lock = threading.RLock()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Runs the block in one transaction: all of its writes or none."""
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    def execute(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        with self.lock:
            return self.conn.execute(sql, params)

    def all(self, sql: str, params: Any = ()) -> list[sqlite3.Row]:
        with self.lock:
            return self.conn.execute(sql, params).fetchall()

    def one(self, sql: str, params: Any = ()) -> sqlite3.Row | None:
        with self.lock:
            row: sqlite3.Row | None = self.conn.execute(sql, params).fetchone()
            return row

    def scalar(self, sql: str, params: Any = ()) -> Any:
        row = self.one(sql, params)
        return None if row is None else row[0]

    def is_empty(self, table: str) -> bool:
        """True when `table` has no row yet (seed data goes in only once per file)."""
        return self.scalar(f"SELECT COUNT(*) FROM {table}") == 0

    def close(self) -> None:
        self.conn.close()


def settings_of(request: Request) -> SandboxSettings:
    """The settings of the sandbox serving `request`, typed (`app.state` holds anything)."""
    settings: SandboxSettings = request.app.state.settings
    return settings


def db_of(request: Request) -> Database:
    """The store of the sandbox serving `request`, typed (`app.state` holds anything)."""
    db: Database = request.app.state.db
    return db


class ApiError(Exception):
    """An error answer; each sandbox renders it in its own envelope.

    `code` None lets the sandbox pick its code for the status.
    """

    def __init__(
        self,
        status: int,
        message: str,
        code: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        details: Any = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = headers or {}
        self.details = details


Render = Callable[[ApiError], dict[str, Any]]

_DEFAULT_MESSAGES = {
    404: "Not found",
    405: "Method not allowed",
    500: "Internal server error",
}


def error_handlers(render: Render) -> dict[Any, Callable[[Request, Exception], Awaitable[Response]]]:
    """Returns Starlette `exception_handlers` that answer every error in the API's envelope.

    The router's own 404 and 405 (with its Allow header) arrive as HTTPException and are
    enveloped too; anything unexpected becomes a 500 envelope, never an HTML page.
    """

    async def on_api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return JSONResponse(render(exc), status_code=exc.status, headers=exc.headers)

    async def on_http_exception(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        message = exc.detail if exc.detail and exc.detail != _phrase(exc.status_code) else None
        error = ApiError(
            exc.status_code,
            message or _DEFAULT_MESSAGES.get(exc.status_code, _phrase(exc.status_code)),
            headers=dict(exc.headers or {}),
        )
        return await on_api_error(request, error)

    async def on_crash(request: Request, exc: Exception) -> Response:
        return await on_api_error(request, ApiError(500, "Internal server error"))

    return {ApiError: on_api_error, HTTPException: on_http_exception, Exception: on_crash}


def _phrase(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


async def read_json(request: Request, *, message: str = "Request body is not valid JSON") -> Any:
    """Returns the parsed JSON body; a body that does not parse is a 400 ApiError."""
    raw = await request.body()
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, message) from None


# --- rate limiting -----------------------------------------------------------------------


KeyFunc = Callable[[Scope], "str | None"]


class RateLimitMiddleware:
    """A fixed-window limiter per client, advertising the window in headers.

    `client_key(scope)` names the client (its key, or its address); None means the request is
    not counted (for example an unauthenticated one where the limit is per key). Faults:
    `rate-limit.headers` drops the headers (where they are optional, `headers_optional`, only
    X-RateLimit-Reset: dropping all of them would conform), `rate-limit.consistent` freezes Remaining,
    `rate-limit.exceeded` never blocks, `rate-limit.recovery` keeps blocking after the reset.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        requests: int,
        window_s: float,
        client_key: KeyFunc,
        exceeded_status: int,
        exceeded_body: Callable[[], dict[str, Any]],
        send_headers: bool = True,
        headers_optional: bool = False,
        retry_after: bool = True,
        overrides: tuple[tuple[str, int, float], ...] = (),
        faults: frozenset[str] = frozenset(),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.app = app
        self.requests = requests
        self.window_s = window_s
        self.client_key = client_key
        self.exceeded_status = exceeded_status
        self.exceeded_body = exceeded_body
        broken = "rate-limit.headers" in faults
        self.send_headers = send_headers and not (broken and not headers_optional)
        self.send_reset = self.send_headers and not broken
        self.retry_after = retry_after
        self.overrides = overrides
        self.faults = faults
        self.clock = clock
        self.windows: dict[tuple[str, str], list[float]] = {}  # (client, bucket) -> [start, count]

    def _limits(self, path: str) -> tuple[str, int, float]:
        for prefix, requests, window_s in self.overrides:
            if path.startswith(prefix):
                return prefix, requests, window_s
        return "", self.requests, self.window_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = self.client_key(scope)
        if client is None:
            await self.app(scope, receive, send)
            return
        bucket, limit, window_s = self._limits(scope.get("path", ""))
        now = self.clock()
        start, count = self.windows.get((client, bucket), [now, 0])
        expired = now >= start + window_s
        if expired and "rate-limit.recovery" in self.faults and count > limit:
            expired = now >= start + 2 * window_s  # keeps refusing one window too long
        if expired:
            start, count = now, 0
        count += 1
        self.windows[(client, bucket)] = [start, count]
        reset = start + window_s
        remaining = max(limit - count, 0)
        if "rate-limit.consistent" in self.faults:
            remaining = limit - 1
        headers: list[tuple[bytes, bytes]] = []
        if self.send_headers:
            headers = [
                (b"x-ratelimit-limit", str(limit).encode()),
                (b"x-ratelimit-remaining", str(remaining).encode()),
            ]
            if self.send_reset:
                headers.append((b"x-ratelimit-reset", str(math.ceil(reset)).encode()))
        if count > limit and "rate-limit.exceeded" not in self.faults:
            wait = max(math.ceil(reset - now), 1)
            extra = {"Retry-After": str(wait)} if self.retry_after else {}
            response = JSONResponse(self.exceeded_body(), status_code=self.exceeded_status, headers=extra)
            response.raw_headers.extend(headers)
            await response(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start" and headers:
                message = {**message, "headers": [*message.get("headers", []), *headers]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def client_address(scope: Scope) -> str | None:
    """The client's IP address: the key of per-IP limits."""
    client = scope.get("client")
    return client[0] if client else "unknown"


def header_value(scope: Scope, name: str) -> str | None:
    """Returns a request header from an ASGI scope (case-insensitive)."""
    wanted = name.lower().encode()
    for key, value in scope.get("headers", []):
        if key == wanted:
            return str(value.decode("latin-1"))
    return None


class ResponseVariationMiddleware:
    """Conforming variations of the HTTP layer, shared by the sandboxes that show them.

    `trailing_slash` serves `/path/` as `/path`; `json_charset` answers JSON as
    `application/json; charset=utf-8`; `extra_headers` adds undocumented response headers.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        trailing_slash: bool = False,
        json_charset: bool = False,
        extra_headers: dict[str, str] | None = None,
    ) -> None:
        self.app = app
        self.trailing_slash = trailing_slash
        self.json_charset = json_charset
        self.extra = [(name.lower().encode(), value.encode()) for name, value in (extra_headers or {}).items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        if self.trailing_slash and len(path) > 1 and path.endswith("/"):
            scope = {**scope, "path": path.rstrip("/") or "/", "raw_path": (path.rstrip("/") or "/").encode()}

        async def varied(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = []
                for name, value in message.get("headers", []):
                    if self.json_charset and name == b"content-type" and value == b"application/json":
                        value = b"application/json; charset=utf-8"
                    headers.append((name, value))
                message = {**message, "headers": [*headers, *self.extra]}
            await send(message)

        await self.app(scope, receive, varied)


# --- idempotency -------------------------------------------------------------------------


def _rebuilt(value: Any) -> Any:
    """The `idempotency.replay-same-response` fault: the replayed resource with a fresh payment id or link."""
    if isinstance(value, list):
        return [_rebuilt(item) for item in value]
    if not isinstance(value, dict):
        return value
    rebuilt = {key: _rebuilt(item) for key, item in value.items()}
    for key in ("payment_id", "payment_url", "paymentUrl"):
        if isinstance(rebuilt.get(key), str):
            rebuilt[key] += "&replay=1" if key != "payment_id" else "R"
    return rebuilt


class IdempotencyStore:
    """Remembers (scope, key) → the request's body hash and the answer it got.

    Faults: `idempotency.replay-same-resource` ignores keys, `idempotency.replay-same-response` rebuilds the
    replayed answer with a fresh payment id or link, `idempotency.conflict` replays
    the stored answer for a different body, `idempotency.concurrent` yields between the
    look-up and the write so parallel requests each create, `idempotency.key-required`
    accepts a missing key.
    """

    def __init__(self, db: Database, faults: frozenset[str] = frozenset()) -> None:
        self.db = db
        self.faults = faults
        db.execute(
            "CREATE TABLE IF NOT EXISTS idempotency (scope TEXT, key TEXT, body_hash TEXT,"
            " status INTEGER, response TEXT, PRIMARY KEY (scope, key))"
        )
        self.pending: dict[tuple[str, str], asyncio.Future[tuple[int, Any]]] = {}

    @staticmethod
    def body_hash(body: Any) -> str:
        return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()

    async def run(
        self,
        scope: str,
        key: str | None,
        body: Any,
        create: Callable[[], Awaitable[tuple[int, Any]]],
        *,
        conflict: Callable[[], ApiError],
    ) -> tuple[int, Any]:
        """Returns (status, body): a replay of the first answer for this key, or a new one.

        Raises `conflict()` when the key was used with another body.
        """
        if key is None or "idempotency.replay-same-resource" in self.faults:
            return await create()
        digest = self.body_hash(body)
        if "idempotency.concurrent" not in self.faults:
            waiting = self.pending.get((scope, key))
            if waiting is not None:  # a same-key request is in flight: wait for its answer
                await asyncio.wait([waiting])
        row = self.db.one("SELECT * FROM idempotency WHERE scope = ? AND key = ?", (scope, key))
        if row is not None:
            if row["body_hash"] != digest and "idempotency.conflict" not in self.faults:
                raise conflict()
            stored = json.loads(row["response"])
            if "idempotency.replay-same-response" in self.faults:
                stored = _rebuilt(stored)
            return int(row["status"]), stored
        if "idempotency.concurrent" in self.faults:
            # the race a server without a lock would have: nothing found, the write comes later
            # (sleeping before the look-up would not race when `create` never awaits)
            await asyncio.sleep(0.05)
        future: asyncio.Future[tuple[int, Any]] = asyncio.get_running_loop().create_future()
        self.pending[(scope, key)] = future
        try:
            status, response = await create()
            if status < 400:
                self.db.execute(
                    "INSERT OR REPLACE INTO idempotency VALUES (?, ?, ?, ?, ?)",
                    (scope, key, digest, status, json.dumps(response)),
                )
            future.set_result((status, response))
            return status, response
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved
            raise
        finally:
            self.pending.pop((scope, key), None)
