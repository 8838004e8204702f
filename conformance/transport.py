"""The network under the client: httpcore's pool on sockets clipped to a total deadline, and its errors.

httpcore passes one timeout to every socket connect, read and write; `_DeadlineStream` shortens it to
what is left of the calling thread's deadline (`deadline(at)`), so a server dripping its status line or
body one byte a second still ends on time. `classify` turns any transport exception into the client's
`(error_kind, one-line message)`. `Inflater` decodes gzip/deflate bodies no further than the size cap.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

import httpcore
import httpx

__all__ = ["TRANSPORT_ERRORS", "DeadlineTransport", "Inflater", "classify", "deadline"]

DEFAULT_PORTS = {"http": 80, "https": 443}

_deadline = threading.local()


@contextmanager
def deadline(at: float) -> Iterator[None]:
    """Clips every socket operation of this thread to end by `at` (a `time.monotonic()` value)."""
    _deadline.at = at
    try:
        yield
    finally:
        _deadline.at = None


def _clip(timeout: float | None) -> float | None:
    at: float | None = getattr(_deadline, "at", None)
    if at is None:
        return timeout
    remaining = max(at - time.monotonic(), 0.001)  # 0 would make the socket non-blocking
    return remaining if timeout is None else min(timeout, remaining)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _clip(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _clip(timeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        return _DeadlineStream(self._stream.start_tls(ssl_context, server_hostname, _clip(timeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self) -> None:
        self._backend = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        stream = self._backend.connect_tcp(host, port, _clip(timeout), local_address, socket_options)
        return _DeadlineStream(stream)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        return _DeadlineStream(self._backend.connect_unix_socket(path, _clip(timeout), socket_options))

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class _PoolStream(httpx.SyncByteStream):
    def __init__(self, response: httpcore.Response) -> None:
        self._response = response

    def __iter__(self) -> Iterator[bytes]:
        yield from self._response.iter_stream()

    def close(self) -> None:
        self._response.close()


@cache
def _ssl_context(verify: bool) -> ssl.SSLContext:
    # Loading the CA bundle takes ~0.1 s; a context is safe to share between connections and threads.
    return httpx.create_ssl_context(verify=verify)


class DeadlineTransport(httpx.BaseTransport):
    """Like httpx.HTTPTransport (HTTP/1.1, no proxy), with the deadline-clipping network backend."""

    def __init__(self, *, verify: bool | ssl.SSLContext, max_connections: int = 32) -> None:
        context = verify if isinstance(verify, ssl.SSLContext) else _ssl_context(verify)
        self._pool = httpcore.ConnectionPool(
            ssl_context=context,
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=5.0,
            network_backend=_DeadlineBackend(),
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        response = self._pool.handle_request(
            httpcore.Request(
                method=request.method,
                url=httpcore.URL(scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path),
                headers=request.headers.raw,
                content=request.read(),
                extensions=request.extensions,
            )
        )
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_PoolStream(response),
            extensions=response.extensions,
        )

    def close(self) -> None:
        self._pool.close()


class Inflater:
    """Decodes a gzip or deflate body a chunk at a time, never producing more than asked for.

    httpx's decoders inflate a whole chunk at once, so 50 KB of gzip could become 50 MB in memory
    before the size cap sees it. Other encodings (br, zstd: never asked for) are kept as received.
    """

    def __init__(self, content_encoding: str | None) -> None:
        self.encoding = (content_encoding or "").strip().lower()
        self._started = False
        self._zlib: Any = None
        if self.encoding in ("gzip", "x-gzip"):
            self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif self.encoding == "deflate":
            self._zlib = zlib.decompressobj(zlib.MAX_WBITS)

    def feed(self, data: bytes, max_bytes: int) -> bytes:
        """Returns the decoded bytes of `data`, at most `max_bytes` (more input is dropped past that)."""
        if self._zlib is None:
            return data
        try:
            decoded = bytes(self._zlib.decompress(data, max(max_bytes, 1)))
            self._started = True
            return decoded
        except zlib.error as exc:
            if self.encoding == "deflate" and not self._started:
                # Some servers send a raw deflate stream without the zlib header (httpx's decoder allows it).
                self._started = True
                self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
                return self.feed(data, max_bytes)
            raise httpx.DecodingError(f"invalid {self.encoding} body: {exc}") from exc


# --- errors ---------------------------------------------------------------------------------------------


def _seconds(value: float) -> str:
    return f"{value:.1f}" if round(value, 1) == value else f"{value:g}"


def _chain(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _first(chain: list[BaseException], kind: type[BaseException] | tuple[type[BaseException], ...]) -> Any:
    return next((exc for exc in chain if isinstance(exc, kind)), None)


_TIMEOUTS = (httpcore.TimeoutException, httpx.TimeoutException, TimeoutError)
_CONNECT = (httpcore.ConnectError, httpx.ConnectError, httpcore.ConnectTimeout, httpx.ConnectTimeout)
TRANSPORT_ERRORS = (
    httpcore.NetworkError,
    httpcore.TimeoutException,
    httpcore.ProtocolError,
    httpcore.UnsupportedProtocol,
    httpx.TransportError,
    httpx.DecodingError,
    OSError,
)


def classify(exc: BaseException, *, url: httpx.URL, timeout: float, got: str) -> tuple[str, str]:
    """Returns (error_kind, one-line message) for a transport exception.

    `got` says how far the exchange went ("waiting for the response", "reading the body of ...").
    """
    chain = _chain(exc)
    where = f"{url.host}:{url.port or DEFAULT_PORTS.get(url.scheme, '?')}"
    if _first(chain, _TIMEOUTS):
        doing = f"connecting to {where}" if isinstance(exc, _CONNECT) else got
        return "timeout", f"timed out after {_seconds(timeout)} s {doing}"
    if verify := _first(chain, ssl.SSLCertVerificationError):
        return "tls", f"TLS certificate verify failed: {verify.verify_message or verify.reason}"
    if tls := _first(chain, ssl.SSLError):
        return "tls", f"TLS handshake with {where} failed: {tls.reason or tls}"
    if _first(chain, socket.gaierror):
        return "unreachable", f"cannot resolve host {url.host} (port {where.rsplit(':', 1)[1]})"
    if _first(chain, ConnectionRefusedError):
        return "unreachable", f"connection refused by {where}"
    if isinstance(exc, _CONNECT):
        oserror = _first(chain, OSError)
        reason = oserror.strerror if oserror is not None and oserror.strerror else str(exc)
        return "unreachable", f"cannot connect to {where}: {reason}"
    if _first(chain, ConnectionResetError) or _first(chain, BrokenPipeError):
        return "reset", f"connection reset by peer while {got}"
    text = str(exc)
    if "without sending a response" in text or "peer closed connection" in text:
        return "reset", f"connection closed by peer while {got}"
    if isinstance(exc, httpx.DecodingError):
        return "protocol", f"cannot decode the response body: {text}"
    if isinstance(exc, httpcore.ProtocolError | httpx.ProtocolError):
        return "protocol", f"malformed HTTP exchange with {where}: {text}"
    if isinstance(exc, httpcore.NetworkError | httpx.NetworkError | OSError):
        oserror = _first(chain, OSError)
        reason = oserror.strerror if oserror is not None and oserror.strerror else text
        return "reset", f"connection lost while {got}: {reason}"
    return "protocol", f"{type(exc).__name__} talking to {where}: {text}"
