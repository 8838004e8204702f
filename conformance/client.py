"""The one HTTP client every check uses: a request goes in, a recorded `Exchange` comes out, never an exception.

Built on httpx's transport seam over httpcore, not requests: our network backend (`transport.py`) clips
every socket connect, read and write to the request's total deadline, so a server dripping its status
line one byte a second ends at `timeout` (urllib3 has per-read timeouts only: requests with timeout=2
waited 19 s on such a server); the transport can be swapped (`httpx.MockTransport` in tests);
httpcore's pool is thread-safe, and with no `httpx.Client` on top there is no cookie jar and no proxy
taken from the environment.

Layers, one small method each: `request` (credentials, throttling retry) → `_follow` (redirect policy)
→ `_send_once` (pacing, deadline, size cap) → transport.
"""

from __future__ import annotations

import contextlib
import json as jsonlib
import secrets as secretslib
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, urlencode

import httpcore
import httpx

from conformance import __version__
from conformance.exchange import REDACTED, Exchange, redact
from conformance.transport import DEFAULT_PORTS, TRANSPORT_ERRORS, DeadlineTransport, Inflater, classify, deadline

__all__ = [
    "REDACTED",
    "UNSET",
    "AuthLocation",
    "Client",
    "Exchange",
    "RatePolicy",
    "engine_limiter",
    "redact",
    "window_allowance",
]

UNSET: Any = object()  # sentinel: "no body" (None is a JSON body: null)
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5
MAX_SILENT_IN_A_ROW = 5  # timeouts in a row after which the client stops sending


@dataclass(frozen=True)
class AuthLocation:
    """Where the API takes its key: `in_` is "header", "query" or "form"; `prefix` goes before the key."""

    in_: str
    name: str
    prefix: str = ""

    def __post_init__(self) -> None:
        if self.in_ not in ("header", "query", "form"):
            raise ValueError(f"AuthLocation.in_ must be 'header', 'query' or 'form', not {self.in_!r}")


@dataclass(frozen=True)
class RatePolicy:
    """How fast the client may go and how the server says it is throttling.

    Reset values are read by magnitude (≥ 1e9 is a Unix time, in ms when ≥ 1e11, else seconds from
    now), so a server using the other unit than `reset_unit` is still waited for correctly; judging
    the documented unit is the checks' job.
    """

    requests: int
    window_s: float
    exceeded_status: int = 429
    limit_header: str | None = None
    remaining_header: str | None = None
    reset_header: str | None = None
    reset_unit: str = "unix-seconds"

    def __post_init__(self) -> None:
        if self.requests < 1 or self.window_s <= 0:
            raise ValueError(f"RatePolicy needs requests >= 1 and window_s > 0, not {self.requests}/{self.window_s}")


def window_allowance(requests: int) -> int:
    """The requests the suite spends of a window of `requests`: all but a 5 % margin (rounded down).

    The margin leaves room for what the client does not see (another client on the same key, the server
    counting a retried or bunched arrival twice); 100 per minute gives 95, 10 per second all 10 (the
    limiter's wider window is the margin there).
    """
    return max(1, requests - requests // 20)


class _Limiter:
    """A sliding-window log: at most `capacity` sends in any `window_s` (shared by threads).

    It spends a window's allowance at once, at the server's speed, then waits for the window to pass:
    against 100 per minute a run of 150 requests takes about one minute, not 150 × 0.6 s. No span of
    `window_s` ever holds more than `capacity` sends, so a fixed window (whatever its phase) and a
    sliding one are both kept. `clock` and `sleep` are seams for tests.
    """

    def __init__(
        self,
        capacity: int,
        window_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        on_full: Callable[[], bool] | None = None,
    ) -> None:
        self.capacity = capacity
        self._on_full = on_full
        # A small margin: the server counts arrivals, which network jitter can bunch together.
        self.window_s = window_s + min(0.05 * window_s, 0.25)
        self._clock = clock
        self._sleep = sleep
        self._sent: deque[float] = deque()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        while True:
            with self._lock:
                now = self._clock()
                while self._sent and self._sent[0] <= now - self.window_s:
                    self._sent.popleft()
                if len(self._sent) < self.capacity:
                    self._sent.append(now)
                    return
                wait = self._sent[0] + self.window_s - now
            if self._on_full is not None and self._on_full():
                continue  # what ran at the window's end took time: look again
            self._sleep(wait)


@dataclass(frozen=True)
class _Draft:
    """A request as the caller asked for it, before credentials."""

    method: str
    url: httpx.URL
    headers: tuple[tuple[str, str | None], ...]
    body: bytes | None = None
    form: bool = False  # body is application/x-www-form-urlencoded: a form credential may join it

    def header_names(self) -> set[str]:
        return {name.lower() for name, _ in self.headers}

    def redirected(self, status: int, url: httpx.URL) -> _Draft:
        """The next hop: 303 (and 301/302 after POST) turn into a body-less GET, as browsers do."""
        method = self.method
        if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
            drop = {"content-type", "content-length", "transfer-encoding"}
            headers = tuple((n, v) for n, v in self.headers if n.lower() not in drop)
            return _Draft("GET", url, headers)
        return replace(self, url=url)


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host.lower(), url.port or DEFAULT_PORTS.get(url.scheme)


def _form_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass
class _Counter:
    value: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self) -> None:
        with self.lock:
            self.value += 1


class Client:
    """Talks to one server under test; safe to share between threads.

    `share` is the number of workers pacing against the same documented `rate` (each takes its
    share). `verify_tls` may also be an `ssl.SSLContext` (for a private CA); `transport` replaces the
    network (e.g. `httpx.MockTransport`). Without `rate`, requests are not paced, but a 429 is still
    retried.
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        auth: Sequence[AuthLocation] = (),
        timeout: float = 10.0,
        max_response_bytes: int = 10 * 2**20,
        rate: RatePolicy | None = None,
        max_retries: int = 3,
        max_wait_s: float = 30.0,
        share: int = 1,
        verify_tls: bool | ssl.SSLContext = True,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        base = httpx.URL(base_url)
        if base.scheme not in DEFAULT_PORTS or not base.host:
            raise ValueError(f"base_url must be an http:// or https:// URL with a host, not {base_url!r}")
        if timeout <= 0 or max_response_bytes < 0 or share < 1 or max_retries < 0 or max_wait_s < 0:
            raise ValueError("timeout must be > 0, share >= 1, max_response_bytes/max_retries/max_wait_s >= 0")
        self.base_url = str(base.copy_with(query=None, fragment=None)).rstrip("/")
        self.api_key = api_key
        self.auth = tuple(auth)
        self.timeout = timeout
        self.max_response_bytes = max_response_bytes
        self.rate = rate
        self.max_retries = max_retries
        self.max_wait_s = max_wait_s
        self.share = share
        self._origin = _origin(base)
        self._transport = transport or DeadlineTransport(verify=verify_tls)
        self._sent = _Counter()
        self._limiter: _Limiter | None = None
        self.set_rate(rate)
        self._resume_at = 0.0  # monotonic time before which the server said Remaining 0
        self._resume_lock = threading.Lock()
        self._window_end_tasks: list[Callable[[], object]] = []
        self._recordings: list[list[Exchange]] = []  # see `recording`
        self._recording_lock = threading.Lock()
        self._user_agent = f"api-conformance/{__version__}"
        # A server that stopped answering must not cost timeout × every remaining request.
        self._silent_in_a_row = _Counter()

    def at_window_end(self, task: Callable[[], object]) -> None:
        """Runs `task` once, the next time a paced request finds the window spent, before waiting for the next.

        For the burst probe: there the window has only its margin left, so the burst costs a few requests,
        and its wait for Reset is the wait the client had to do anyway.
        """
        with self._resume_lock:
            self._window_end_tasks.append(task)

    @contextlib.contextmanager
    def recording(self) -> Iterator[list[Exchange]]:
        """Collects every exchange `request` returns while the block runs, from any thread, in the order they came.

        The suite's verdict records a test's exchanges this way, to judge each by the rules of any response
        (conformance/suite/conftest.py). Throttled answers the client retried are not returned, so not recorded.
        """
        found: list[Exchange] = []
        with self._recording_lock:
            self._recordings = [*self._recordings, found]
        try:
            yield found
        finally:
            with self._recording_lock:
                self._recordings = [r for r in self._recordings if r is not found]

    def _record(self, exchange: Exchange) -> Exchange:
        recordings = self._recordings  # rebound, never changed in place: safe to read without the lock
        if recordings:
            with self._recording_lock:
                for found in recordings:
                    found.append(exchange)
        return exchange

    def _window_spent(self) -> bool:
        """Runs the tasks waiting for the window's end; True when there were any."""
        with self._resume_lock:
            tasks, self._window_end_tasks = self._window_end_tasks, []
        for task in tasks:
            task()
        return bool(tasks)

    def set_rate(self, rate: RatePolicy | None) -> None:
        """Paces to `rate` from now on (e.g. the limit the server advertises instead of the documented one)."""
        limiter = None
        if rate is not None:
            # A whole number of requests per window: 10 per 1 s split in 3 is 3 per 0.9 s.
            allowance = window_allowance(rate.requests)
            capacity = max(1, allowance // self.share)
            window_s = rate.window_s * capacity * self.share / allowance
            limiter = _Limiter(capacity, window_s, on_full=self._window_spent)
        # Swapped at once, so a request in another thread never finds no limiter in between.
        self.rate, self._limiter = rate, limiter

    @property
    def requests_sent(self) -> int:
        """How many requests were handed to the network (retries and redirect hops included)."""
        return self._sent.value

    @requests_sent.setter
    def requests_sent(self, value: int) -> None:
        with self._sent.lock:
            self._sent.value = value

    @property
    def secrets(self) -> tuple[str, ...]:
        """The API key and the encoded forms it may travel in, to redact from anything shown."""
        if not self.api_key:
            return ()
        key = self.api_key
        return tuple(dict.fromkeys([key, quote(key, safe=""), quote_plus(key), jsonlib.dumps(key)[1:-1]]))

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- layer 1: what the caller asked for, credentials, throttling retry ----------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        operation: str | None = None,
        params: Mapping[str, Any] | Sequence[tuple[str, Any]] | None = None,
        headers: Mapping[str, str | None] | None = None,
        json: Any = UNSET,
        data: Mapping[str, Any] | str | bytes | None = None,
        content: bytes | None = None,
        credentials: str = "default",
        auth_location: AuthLocation | None = None,
        retry_throttled: bool = True,
        timeout: float | None = None,
        pace: bool = True,
    ) -> Exchange:
        """Sends one request (following same-origin redirects) and returns its Exchange; never raises
        for transport problems.

        `credentials`: "default" sends the key at `auth_location` (else the first AuthLocation),
        "none" sends none, "invalid" sends "invalid-<random hex>" in the same place; a header,
        query parameter or form field the caller set under that name wins. A form location falls
        back to the query string when the request has no form body to join (GET, or a JSON body).
        A header value None means "do not send it", a default (User-Agent, Accept, Accept-Encoding) too.
        `pace=False` skips the limiter and Remaining/Reset waits (for rate-limit probes).
        """
        if credentials not in ("default", "none", "invalid"):
            raise ValueError(f"credentials must be 'default', 'none' or 'invalid', not {credentials!r}")
        draft = self._draft(method, path, params=params, headers=headers, json=json, data=data, content=content)
        key = {"default": self.api_key, "none": None}.get(credentials, f"invalid-{secretslib.token_hex(8)}")
        location = auth_location or (self.auth[0] if self.auth else None)
        timeout = self.timeout if timeout is None else timeout
        exceeded = self.rate.exceeded_status if self.rate else 429
        attempt = 0
        while True:
            exchange = self._follow(draft, operation, key, location, timeout, pace)
            if exchange.status != exceeded or not retry_throttled or attempt >= self.max_retries:
                return self._record(exchange)
            time.sleep(self._throttle_delay(exchange, attempt))
            attempt += 1

    def _draft(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | Sequence[tuple[str, Any]] | None,
        headers: Mapping[str, str | None] | None,
        json: Any,
        data: Mapping[str, Any] | str | bytes | None,
        content: bytes | None,
    ) -> _Draft:
        if sum(x is not None for x in (data, content)) + (json is not UNSET) > 1:
            raise ValueError("pass at most one of json, data and content")
        if path.startswith(("http://", "https://")):
            url = httpx.URL(path)
        elif not path:
            url = httpx.URL(self.base_url)
        else:
            url = httpx.URL(self.base_url + (path if path.startswith("/") else "/" + path))
        if params:
            url = url.copy_merge_params(httpx.QueryParams(params))  # type: ignore[arg-type]
        pairs: list[tuple[str, str | None]] = list((headers or {}).items())
        given = {name.lower() for name, _ in pairs}
        body: bytes | None = None
        content_type: str | None = None
        if json is not UNSET:
            body = jsonlib.dumps(json, ensure_ascii=False, separators=(",", ":")).encode()
            content_type = "application/json"
        elif data is not None:
            if isinstance(data, Mapping):
                items = [
                    (k, _form_value(v))
                    for k, values in data.items()
                    for v in (values if isinstance(values, list | tuple) else [values])
                ]
                body = urlencode(items).encode()
            else:
                body = data.encode() if isinstance(data, str) else bytes(data)
            content_type = "application/x-www-form-urlencoded"
        elif content is not None:
            body = bytes(content)
        if content_type and "content-type" not in given:
            pairs.append(("Content-Type", content_type))
        return _Draft(method.upper(), url, tuple(pairs), body, form=data is not None)

    def _with_credentials(self, draft: _Draft, key: str | None, location: AuthLocation | None) -> _Draft:
        """Adds the key where `location` says, only on the base URL's origin, unless the caller set it."""
        if key is None or location is None or _origin(draft.url) != self._origin:
            return draft
        value = location.prefix + key
        if location.in_ == "header":
            if location.name.lower() in draft.header_names():
                return draft
            return replace(draft, headers=(*draft.headers, (location.name, value)))
        if location.in_ == "form" and (draft.form or (draft.body is None and draft.method in ("POST", "PUT", "PATCH"))):
            body = draft.body or b""
            if any(name == location.name for name, _ in parse_qsl(body.decode("latin-1"), keep_blank_values=True)):
                return draft
            pair = urlencode([(location.name, value)]).encode()
            headers = draft.headers
            if "content-type" not in draft.header_names():
                headers = (*headers, ("Content-Type", "application/x-www-form-urlencoded"))
            return replace(draft, headers=headers, body=body + b"&" + pair if body else pair, form=True)
        if location.name in draft.url.params:
            return draft
        return replace(draft, url=draft.url.copy_add_param(location.name, value))

    def _throttle_delay(self, exchange: Exchange, attempt: int) -> float:
        """Retry-After (seconds or HTTP date), else the Reset header, else 0.5, 1, 2 s…; capped at max_wait_s."""
        delay = _retry_after(exchange.header("retry-after"))
        if delay is None and self.rate and self.rate.reset_header:
            delay = _reset_delay(exchange.header(self.rate.reset_header))
        if delay is None:
            delay = 0.5 * 2**attempt
        return min(max(delay, 0.0), self.max_wait_s)

    # --- layer 2: redirect policy ----------------------------------------------------------------------

    def _follow(
        self,
        draft: _Draft,
        operation: str | None,
        key: str | None,
        location: AuthLocation | None,
        timeout: float,
        pace: bool,
    ) -> Exchange:
        """Follows up to 5 same-origin redirects; a redirect elsewhere is returned, with error_kind "redirect"."""
        for hop in range(MAX_REDIRECTS + 1):
            exchange = self._send_once(self._with_credentials(draft, key, location), operation, timeout, pace)
            location_header = exchange.header("location")
            if exchange.error or exchange.status not in REDIRECT_STATUSES or not location_header:
                return exchange
            shown = redact(location_header, self.secrets)
            try:
                target = draft.url.join(location_header).copy_with(fragment=None)
            except (httpx.InvalidURL, ValueError):
                return replace(
                    exchange, error=f"redirect to an invalid URL ({shown}) not followed", error_kind="redirect"
                )
            if _origin(target) != self._origin:
                here, there = self._origin, _origin(target)
                what = "host" if here[1] != there[1] else "port" if here[2] != there[2] else "scheme"
                shown = redact(str(target), self.secrets)
                return replace(
                    exchange, error=f"redirect to another {what} ({shown}) not followed", error_kind="redirect"
                )
            if hop == MAX_REDIRECTS:
                return replace(
                    exchange, error=f"more than {MAX_REDIRECTS} redirects (the last to {shown})", error_kind="redirect"
                )
            assert exchange.status is not None
            draft = draft.redirected(exchange.status, target)
        raise AssertionError("unreachable")  # pragma: no cover

    # --- layer 3: one request on the wire: pacing, deadline, size cap ------------------------------

    def _send_once(self, draft: _Draft, operation: str | None, timeout: float, pace: bool) -> Exchange:
        if self._silent_in_a_row.value >= MAX_SILENT_IN_A_ROW:
            return self._not_sent(draft, operation)
        if pace:
            self._pace()
        request = self._build(draft, timeout)
        sent_headers: dict[str, str] = {}
        for raw_name, raw_value in request.headers.raw:
            name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
            sent_headers[name] = f"{sent_headers[name]}, {value}" if name in sent_headers else value

        def exchange(
            status: int | None, headers: httpx.Headers, body: bytes, error: str | None = None, kind: str | None = None
        ) -> Exchange:
            return Exchange(
                operation=operation,
                method=draft.method,
                url=str(request.url),
                request_headers=sent_headers,
                request_body=draft.body,
                status=status,
                response_headers=headers,
                body=body,
                error=redact(error, self.secrets) if error else None,
                error_kind=kind,
                elapsed_s=time.monotonic() - started,
            )

        started = time.monotonic()
        response: httpx.Response | None = None
        buffer = bytearray()
        self._sent.add()
        try:
            with deadline(started + timeout):
                response = self._transport.handle_request(request)
                response.request = request
                self._note_rate_headers(response.headers)
                inflater = Inflater(response.headers.get("content-encoding"))
                chunks: Iterable[bytes] = response.iter_raw()
                if response.is_stream_consumed:  # built in memory (MockTransport): read and decoded already
                    inflater, chunks = Inflater(None), [response.content]
                for chunk in chunks:
                    buffer += inflater.feed(chunk, self.max_response_bytes + 1 - len(buffer))
                    if len(buffer) > self.max_response_bytes:
                        del buffer[self.max_response_bytes :]
                        message = f"response body exceeds {_size(self.max_response_bytes)}"
                        return exchange(response.status_code, response.headers, bytes(buffer), message, "oversize")
                    if time.monotonic() > started + timeout:
                        raise httpcore.ReadTimeout("total deadline passed")
        except TRANSPORT_ERRORS as exc:
            got = (
                "waiting for the response"
                if response is None
                else f"reading the body of a {response.status_code} response, {len(buffer)} bytes received"
            )
            kind, message = classify(exc, url=request.url, timeout=timeout, got=got)
            if kind == "timeout":
                self._silent_in_a_row.add()
            headers = response.headers if response is not None else httpx.Headers()
            return exchange(None, headers, bytes(buffer), message, kind)
        finally:
            if response is not None:
                response.close()
        self._silent_in_a_row.value = 0
        return exchange(response.status_code, response.headers, bytes(buffer))

    def _not_sent(self, draft: _Draft, operation: str | None) -> Exchange:
        """The answer to a request the client does not send because the server stopped answering."""
        message = (
            f"not sent: the server did not answer the last {MAX_SILENT_IN_A_ROW} requests "
            f"within {self.timeout:g} s each"
        )
        return Exchange(
            operation=operation,
            method=draft.method,
            url=str(self._build(draft, self.timeout).url),
            request_headers={},
            request_body=draft.body,
            status=None,
            response_headers=httpx.Headers(),
            body=b"",
            error=message,
            error_kind="timeout",
            elapsed_s=0.0,
        )

    def _build(self, draft: _Draft, timeout: float) -> httpx.Request:
        names = draft.header_names()
        defaults = [
            ("User-Agent", self._user_agent),
            ("Accept", "application/json, */*;q=0.5"),
            ("Accept-Encoding", "gzip, deflate"),
        ]
        pairs = [(n, v) for n, v in defaults if n.lower() not in names]
        pairs += [(n, v) for n, v in draft.headers if v is not None]
        return httpx.Request(
            draft.method,
            draft.url,
            headers=pairs,
            content=draft.body,
            extensions={"timeout": {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout}},
        )

    def pace(self) -> None:
        """Waits until one more request fits the window (for requests another library sends, the engine's)."""
        self._pace()

    def _pace(self) -> None:
        with self._resume_lock:
            wait = self._resume_at - time.monotonic()
        if wait > 0 and self._window_spent():
            with self._resume_lock:
                wait = self._resume_at - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        if self._limiter is not None:
            self._limiter.acquire()

    def _note_rate_headers(self, headers: httpx.Headers) -> None:
        """Remembers "Remaining down to the margin until Reset" so that the next paced request waits for the reset.

        The server's count wins over the limiter's log: requests the client did not send (a burst probe,
        another client on the key) used the window too.
        """
        rate = self.rate
        if rate is None or not rate.remaining_header or not rate.reset_header:
            return
        try:
            remaining = float(headers.get(rate.remaining_header, ""))
        except ValueError:
            return
        delay = _reset_delay(headers.get(rate.reset_header))
        # The margin of the limit the server states (a --pace above it must not make every request wait).
        stated = headers.get(rate.limit_header or "", "").strip()
        limit = int(stated) if stated.isdigit() and int(stated) > 0 else rate.requests
        if remaining > limit - window_allowance(limit) or delay is None or delay <= 0:
            return
        with self._resume_lock:
            # A little past the reset: Reset is rounded to whole seconds by most servers.
            self._resume_at = max(self._resume_at, time.monotonic() + min(delay + 0.05, self.max_wait_s))


def engine_limiter(client: Client) -> Any:
    """A Schemathesis rate limiter that takes its turns from `client`'s window.

    Schemathesis' own limiter spaces requests evenly, and apart from the client's: one shared window
    lets the engine spend what the limit allows now, and never the client's share too. Schemathesis
    only calls `try_acquire` on an instance of pyrate_limiter's `Limiter`.
    """
    from pyrate_limiter import Limiter

    class _Shared(Limiter):  # type: ignore[misc]
        def __init__(self) -> None:  # no bucket of its own
            pass

        def try_acquire(self, *args: Any, **kwargs: Any) -> bool:
            client.pace()
            return True

    return _Shared()


def _size(n: int) -> str:
    for unit, factor in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= factor and n % factor == 0:
            return f"{n // factor} {unit}"
    return f"{n} bytes"


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return parsedate_to_datetime(value).timestamp() - time.time()
    except (TypeError, ValueError, IndexError):
        return None


def _reset_delay(value: str | None) -> float | None:
    """Seconds until a Reset header's moment: ≥ 1e9 is Unix time (ms when ≥ 1e11), else seconds from now."""
    if not value:
        return None
    try:
        reset = float(value)
    except ValueError:
        return None
    if reset >= 1e11:
        reset /= 1000
    return reset - time.time() if reset >= 1e9 else reset
