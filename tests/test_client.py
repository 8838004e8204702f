"""The client against hostile loopback servers: each test starts its own raw-socket server on port 0."""

from __future__ import annotations

import gzip
import json
import socket
import socketserver
import ssl
import struct
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from conformance.client import UNSET, AuthLocation, Client, Exchange, RatePolicy
from tests.hostile_servers import read_raw_request, self_signed_cert

KEY = "s3cr3t-Key/+="  # characters that change under URL and JSON encoding
BEARER = (AuthLocation("header", "Authorization", "Bearer "),)


@dataclass
class Received:
    method: str
    target: str
    headers: dict[str, str]  # names lowercased
    body: bytes
    at: float

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> dict[str, str]:
        return dict(parse_qsl(urlsplit(self.target).query))


Behaviour = Callable[["Server", socket.socket, Received], None]


@dataclass
class Server:
    behaviour: Behaviour
    host: str = "127.0.0.1"
    tls: ssl.SSLContext | None = None
    received: list[Received] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    state: dict[str, Any] = field(default_factory=dict)

    def start(self) -> Server:
        server = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                sock: socket.socket = self.request
                try:
                    if server.tls is not None:
                        sock = server.tls.wrap_socket(sock, server_side=True)
                    request = read_request(sock)
                    if request is not None:
                        server.received.append(request)
                        server.behaviour(server, sock, request)
                except (OSError, ssl.SSLError):
                    pass

        class TCPServer(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True
            request_queue_size = 64  # the default 5 drops parallel connects (a 1 s SYN retry)
            block_on_close = False

        self._server = TCPServer((self.host, 0), Handler)
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def origin(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    def close(self) -> None:
        self.stop.set()
        self._server.shutdown()
        self._server.server_close()


def read_request(sock: socket.socket) -> Received | None:
    """Reads one request and parses it; None when the client closed before the end of the head."""
    head, found, body = read_raw_request(sock).partition(b"\r\n\r\n")
    if not found:
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Received(method, target, headers, body, time.monotonic())


def respond(
    sock: socket.socket,
    status: int = 200,
    body: bytes | str | Any = b"",
    *,
    content_type: str | None = "application/json",
    headers: dict[str, str] | None = None,
) -> None:
    if not isinstance(body, bytes | str):
        body = json.dumps(body)
    payload = body.encode() if isinstance(body, str) else body
    lines = [f"HTTP/1.1 {status} Whatever", f"Content-Length: {len(payload)}", "Connection: close"]
    if content_type:
        lines.append(f"Content-Type: {content_type}")
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload)


@pytest.fixture
def serve() -> Iterator[Callable[..., Server]]:
    """Starts loopback servers for behaviours; `serve(fn, host="127.0.0.2")`. All stop at the test's end."""
    servers: list[Server] = []

    def start(behaviour: Behaviour, **options: Any) -> Server:
        servers.append(Server(behaviour, **options).start())
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def echo(server: Server, sock: socket.socket, request: Received) -> None:
    respond(
        sock,
        200,
        {
            "method": request.method,
            "path": request.path,
            "query": request.query,
            "headers": request.headers,
            "body": request.body.decode("latin-1"),
        },
    )


def never_answers(server: Server, sock: socket.socket, request: Received) -> None:
    server.stop.wait(10)


# --- happy path and bodies ----------------------------------------------------------------------------


def test_json_answer_is_recorded_with_request_and_response(serve: Callable[..., Server]) -> None:
    server = serve(echo)
    with Client(server.origin + "/v1/", api_key=KEY, auth=BEARER) as client:
        exchange = client.request("GET", "/products", operation="listProducts", params={"limit": 5, "on": True})
    assert exchange.error is None and exchange.error_kind is None
    assert exchange.status == 200 and exchange.operation == "listProducts"
    assert exchange.url == f"{server.origin}/v1/products?limit=5&on=true"
    assert exchange.json()["path"] == "/v1/products"
    assert exchange.json()["headers"]["authorization"] == f"Bearer {KEY}"
    assert exchange.content_type == "application/json"
    assert exchange.header("CONTENT-length") == str(len(exchange.body))
    assert exchange.request_headers["Authorization"] == f"Bearer {KEY}"
    assert exchange.request_headers["User-Agent"].startswith("api-conformance/")
    assert exchange.request_body is None and 0 < exchange.elapsed_s < 2
    assert client.requests_sent == 1


def test_json_body_and_form_body_are_encoded_with_their_content_type(serve: Callable[..., Server]) -> None:
    server = serve(echo)
    with Client(server.origin) as client:
        as_json = client.request("POST", "/orders", json={"quantity": 2, "note": "é"}).json()
        as_form = client.request("POST", "/orders", data={"a": "1 2", "tags": ["x", "y"], "flag": False}).json()
        null = client.request("POST", "/orders", json=None).json()
        empty = client.request("POST", "/orders", json=UNSET).json()
    assert json.loads(as_json["body"].encode("latin-1")) == {"quantity": 2, "note": "é"}
    assert as_json["headers"]["content-type"] == "application/json"
    assert as_form["body"] == "a=1+2&tags=x&tags=y&flag=false"
    assert as_form["headers"]["content-type"] == "application/x-www-form-urlencoded"
    assert null["body"] == "null"
    assert empty["body"] == "" and "content-type" not in empty["headers"]


def test_invalid_json_with_json_content_type_is_an_exchange_whose_json_raises(serve: Callable[..., Server]) -> None:
    server = serve(lambda s, sock, r: respond(sock, 200, b'{"id": 1,', content_type="application/json"))
    with Client(server.origin) as client:
        exchange = client.request("GET", "/broken")
    assert exchange.status == 200 and exchange.error is None
    with pytest.raises(ValueError, match="not valid JSON"):
        exchange.json()


def test_html_answer_has_text_html_content_type(serve: Callable[..., Server]) -> None:
    server = serve(lambda s, sock, r: respond(sock, 200, "<html>hi</html>", content_type="Text/HTML; charset=utf-8"))
    with Client(server.origin) as client:
        exchange = client.request("GET", "/")
    assert exchange.content_type == "text/html"
    with pytest.raises(ValueError):
        exchange.json()


def test_parallel_requests_from_threads_share_one_client(serve: Callable[..., Server]) -> None:
    server = serve(echo)
    with Client(server.origin, api_key=KEY, auth=BEARER) as client:
        threads = [
            threading.Thread(target=lambda: results.append(client.request("POST", "/orders", json={})))
            for _ in range(20)
        ]
        results: list[Exchange] = []
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert [e.status for e in results] == [200] * 20
    assert client.requests_sent == 20 and len(server.received) == 20


# --- deadlines, sizes, broken connections -----------------------------------------------------------


def test_server_that_never_answers_times_out_at_the_deadline(serve: Callable[..., Server]) -> None:
    server = serve(never_answers)
    started = time.monotonic()
    with Client(server.origin, timeout=1.0) as client:
        exchange = client.request("GET", "/slow")
    assert time.monotonic() - started < 2.0
    assert exchange.error_kind == "timeout" and exchange.status is None
    assert exchange.error is not None and exchange.error.startswith("timed out after 1.0 s")
    with pytest.raises(ValueError, match="timed out"):
        exchange.json()


def drip(head: bytes, body: bytes) -> Behaviour:
    def behaviour(server: Server, sock: socket.socket, request: Received) -> None:
        sock.sendall(head)
        for byte in body:
            if server.stop.wait(1.0):
                return
            sock.sendall(bytes([byte]))

    return behaviour


@pytest.mark.parametrize(
    "head, body",
    [
        (b"", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
        (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 30\r\n\r\n",
            b'{"x": "' + b"a" * 21 + b'"}',
        ),
    ],
    ids=["status-line", "body"],
)
def test_server_dripping_one_byte_a_second_times_out_at_the_total_deadline(
    serve: Callable[..., Server], head: bytes, body: bytes
) -> None:
    server = serve(drip(head, body))
    started = time.monotonic()
    with Client(server.origin, timeout=2.0) as client:
        exchange = client.request("GET", "/drip")
    assert time.monotonic() - started < 2.8
    assert exchange.error_kind == "timeout" and exchange.status is None


def test_fifty_megabyte_body_stops_at_the_cap_with_bounded_memory(serve: Callable[..., Server]) -> None:
    size = 50_000_000
    sent = []

    def huge(server: Server, sock: socket.socket, request: Received) -> None:
        sock.sendall(f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {size}\r\n\r\n".encode())
        chunk, total = b"[" + b"0," * 32767 + b"0", 0
        while total < size and not server.stop.is_set():
            total += sock.send(chunk)
        sent.append(total)

    server = serve(huge)
    tracemalloc.start()
    started = time.monotonic()
    try:
        with Client(server.origin) as client:
            exchange = client.request("GET", "/dump")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.monotonic() - started < 5
    assert exchange.error_kind == "oversize" and exchange.status == 200
    assert exchange.error == "response body exceeds 10 MiB"
    assert len(exchange.body) == 10 * 2**20
    assert peak < 32 * 2**20


@pytest.mark.parametrize(
    "encoding, encode",
    [("gzip", gzip.compress), ("deflate", zlib.compress), ("deflate", lambda b: zlib.compress(b)[2:-4])],
    ids=["gzip", "deflate", "raw-deflate"],
)
def test_compressed_body_is_decoded(serve: Callable[..., Server], encoding: str, encode: Any) -> None:
    payload = encode(json.dumps({"items": list(range(100))}).encode())
    server = serve(lambda s, sock, r: respond(sock, 200, payload, headers={"Content-Encoding": encoding}))
    with Client(server.origin) as client:
        exchange = client.request("GET", "/zipped")
    assert exchange.error is None and exchange.json() == {"items": list(range(100))}


def test_gzip_bomb_stops_at_the_cap_with_bounded_memory(serve: Callable[..., Server]) -> None:
    squeeze = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # gzip framing
    bomb = b"".join(squeeze.compress(b"0" * 2**20) for _ in range(32)) + squeeze.flush()  # 32 MiB in ~150 KB
    server = serve(lambda s, sock, r: respond(sock, 200, bomb, headers={"Content-Encoding": "gzip"}))
    tracemalloc.start()
    try:
        with Client(server.origin, max_response_bytes=2**20) as client:
            exchange = client.request("GET", "/bomb")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert exchange.error_kind == "oversize" and exchange.error == "response body exceeds 1 MiB"
    assert len(exchange.body) == 2**20 and peak < 8 * 2**20


def test_connection_reset_mid_response_is_reset(serve: Callable[..., Server]) -> None:
    def reset(server: Server, sock: socket.socket, request: Received) -> None:
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 10)
        time.sleep(0.1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close with RST
        sock.close()

    server = serve(reset)
    with Client(server.origin) as client:
        exchange = client.request("GET", "/reset")
    assert exchange.error_kind == "reset" and exchange.status is None
    assert exchange.error is not None and exchange.error.startswith("connection reset by peer")


def test_connection_closed_before_the_body_ends_is_reset(serve: Callable[..., Server]) -> None:
    server = serve(lambda s, sock, r: sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nxx"))
    with Client(server.origin) as client:
        exchange = client.request("GET", "/short")
    assert exchange.error_kind == "reset"
    assert exchange.error is not None and "closed by peer" in exchange.error


def test_garbage_instead_of_http_is_a_protocol_error(serve: Callable[..., Server]) -> None:
    server = serve(lambda s, sock, r: sock.sendall(b"SSH-2.0-OpenSSH\r\n\r\n"))
    with Client(server.origin) as client:
        exchange = client.request("GET", "/")
    assert exchange.error_kind == "protocol" and exchange.status is None


def test_closed_port_is_unreachable_at_once() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.monotonic()
    with Client(f"http://127.0.0.1:{port}/api") as client:
        exchange = client.request("GET", "/x")
    assert time.monotonic() - started < 1
    assert exchange.error_kind == "unreachable" and exchange.status is None
    assert exchange.error == f"connection refused by 127.0.0.1:{port}"


# --- redirects ---------------------------------------------------------------------------------------


def redirect_to(location: Callable[[], str], status: int = 302) -> Behaviour:
    return lambda server, sock, request: respond(sock, status, b"", headers={"Location": location()})


@pytest.mark.parametrize("in_", ["header", "query"])
def test_redirect_to_another_host_is_not_followed_and_gets_no_credentials(
    serve: Callable[..., Server], in_: str
) -> None:
    try:
        elsewhere = serve(echo, host="127.0.0.2")
    except OSError:
        pytest.skip("127.0.0.2 is not a loopback address here")
    auth = (AuthLocation(in_, "apiKey"),)
    target = f"http://127.0.0.2:{elsewhere.port}/x?apiKey={KEY}"
    server = serve(redirect_to(lambda: target))
    with Client(server.origin, api_key=KEY, auth=auth) as client:
        exchange = client.request("GET", "/moved")
    assert exchange.status == 302 and exchange.error_kind == "redirect"
    assert (
        exchange.error
        == f"redirect to another host (http://127.0.0.2:{elsewhere.port}/x?apiKey=[REDACTED]) not followed"
    )
    assert elsewhere.received == [] and client.requests_sent == 1


def test_redirect_to_another_port_is_not_followed(serve: Callable[..., Server]) -> None:
    elsewhere = serve(echo)
    server = serve(redirect_to(lambda: f"{elsewhere.origin}/x", status=307))
    with Client(server.origin, api_key=KEY, auth=BEARER) as client:
        exchange = client.request("GET", "/moved")
    assert exchange.error_kind == "redirect" and "another port" in (exchange.error or "")
    assert elsewhere.received == []


def test_same_origin_redirect_is_followed_with_credentials(serve: Callable[..., Server]) -> None:
    def moved(server: Server, sock: socket.socket, request: Received) -> None:
        if request.path == "/v1/old":
            respond(sock, 303, b"", headers={"Location": "/v1/new?page=2"})
        else:
            echo(server, sock, request)

    server = serve(moved)
    with Client(server.origin + "/v1", api_key=KEY, auth=BEARER) as client:
        exchange = client.request("POST", "/old", json={"a": 1})
    assert exchange.status == 200 and exchange.error is None
    assert exchange.url == f"{server.origin}/v1/new?page=2"
    assert exchange.method == "GET" and exchange.request_body is None  # 303 turns POST into GET
    assert server.received[1].headers["authorization"] == f"Bearer {KEY}"
    assert client.requests_sent == 2


def test_redirect_loop_stops_after_five_hops(serve: Callable[..., Server]) -> None:
    server = serve(redirect_to(lambda: "/again", status=301))
    with Client(server.origin) as client:
        exchange = client.request("GET", "/again")
    assert exchange.error_kind == "redirect" and exchange.status == 301
    assert "more than 5 redirects" in (exchange.error or "")
    assert len(server.received) == 6


# --- TLS -------------------------------------------------------------------------------------------------


def test_self_signed_certificate_is_a_tls_error_unless_trusted(serve: Callable[..., Server], tmp_path: Path) -> None:
    cert, key = self_signed_cert(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = serve(echo, tls=context)
    with Client(server.origin, api_key=KEY, auth=BEARER) as client:
        refused = client.request("GET", "/secure")
    assert refused.error_kind == "tls" and refused.status is None
    assert refused.error is not None and refused.error.startswith("TLS certificate verify failed: self")
    assert "signed certificate" in refused.error
    with Client(server.origin, verify_tls=ssl.create_default_context(cafile=str(cert))) as client:
        assert client.request("GET", "/secure").status == 200
    with Client(server.origin, verify_tls=False) as client:
        assert client.request("GET", "/secure").status == 200


# --- pacing and throttling ---------------------------------------------------------------------------


def max_per_window(times: list[float], window_s: float) -> int:
    return max(sum(1 for t in times if start <= t < start + window_s) for start in times)


def test_pacing_keeps_every_window_within_the_rate(serve: Callable[..., Server]) -> None:
    server = serve(echo)
    started = time.monotonic()
    with Client(server.origin, rate=RatePolicy(requests=5, window_s=1.0)) as client:
        threads = [threading.Thread(target=lambda: [client.request("GET", "/p") for _ in range(5)]) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(server.received) == 10
    assert max_per_window([r.at for r in server.received], 1.0) <= 5
    assert time.monotonic() - started >= 0.95


def test_pacing_gives_each_worker_its_share(serve: Callable[..., Server]) -> None:
    server = serve(echo)
    with Client(server.origin, rate=RatePolicy(requests=4, window_s=1.0), share=2) as client:
        for _ in range(4):
            client.request("GET", "/p")
    assert max_per_window([r.at for r in server.received], 1.0) <= 2
    assert server.received[-1].at - server.received[0].at >= 0.95


def test_set_rate_changes_the_pace_from_then_on(serve: Callable[..., Server]) -> None:
    server = serve(echo)
    with Client(server.origin, rate=RatePolicy(requests=1, window_s=5.0)) as client:
        client.set_rate(RatePolicy(requests=100, window_s=1.0))
        started = time.monotonic()
        for _ in range(5):
            client.request("GET", "/p")
        assert time.monotonic() - started < 1.0
        client.set_rate(None)
        assert client.rate is None


class FakeClock:
    """Monotonic time that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.0)


def test_a_minute_window_is_spent_at_once_then_waited_for() -> None:
    """Pace by the window (issue 13): 100 per 60 s lets 95 go at once (a 5 % margin), then waits for
    the window to pass; never more than 95 in any 60 s."""
    from conformance.client import _Limiter, window_allowance

    clock = FakeClock()
    limiter = _Limiter(window_allowance(100), 60.0, clock=clock, sleep=clock.sleep)
    sent = []
    for _ in range(250):
        limiter.acquire()
        sent.append(clock.now)
    assert window_allowance(100) == 95
    assert sent[94] == sent[0]  # the first 95 at once, without waiting
    assert 60.0 <= sent[95] - sent[0] <= 61.0  # the 96th after the window, not 0.6 s later
    assert max_per_window(sent, 60.0) <= 95
    assert sent[-1] - sent[0] < 2 * 61.0  # 250 requests in three windows, not 250 × 0.63 s


def test_a_task_for_the_window_end_runs_once_when_the_window_is_spent() -> None:
    """The burst probe's slot: where the window has only its margin left, before the wait for the next."""
    ran: list[int] = []
    with Client(
        "http://api.test", rate=RatePolicy(3, 0.2), transport=httpx.MockTransport(lambda r: httpx.Response(200))
    ) as client:
        client.at_window_end(lambda: ran.append(client.requests_sent))
        for _ in range(7):
            client.request("GET", "/a")
    assert ran == [3]  # after the window's three requests, once


def test_small_limits_keep_every_request_of_the_window() -> None:
    from conformance.client import window_allowance

    assert [window_allowance(n) for n in (1, 10, 19, 20, 100, 10_000)] == [1, 10, 19, 19, 95, 9_500]


def test_remaining_down_to_the_margin_waits_for_reset() -> None:
    """The server's count wins: Remaining 5 of 100 (the margin) means wait for Reset, even when the
    client's own log has room (another client used the window)."""
    reset = time.time() + 1

    def handler(request: httpx.Request) -> httpx.Response:
        headers = {"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "5", "X-RateLimit-Reset": f"{reset:.3f}"}
        return httpx.Response(200, json={}, headers=headers)

    rate = RatePolicy(100, 60.0, remaining_header="X-RateLimit-Remaining", reset_header="X-RateLimit-Reset")
    with Client("http://api.test", rate=rate, transport=httpx.MockTransport(handler)) as client:
        client.request("GET", "/a")
        waited = client._resume_at - time.monotonic()
    assert 0.5 < waited < 1.5


def test_the_margin_is_that_of_the_limit_the_server_states() -> None:
    """--pace 10000/60 against a server stating 100: Remaining 40 is no reason to wait (its margin is 5)."""

    def handler(request: httpx.Request) -> httpx.Response:
        reset = f"{time.time() + 30:.0f}"
        headers = {"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "40", "X-RateLimit-Reset": reset}
        return httpx.Response(200, json={}, headers=headers)

    rate = RatePolicy(
        10_000,
        60.0,
        limit_header="X-RateLimit-Limit",
        remaining_header="X-RateLimit-Remaining",
        reset_header="X-RateLimit-Reset",
    )
    with Client("http://api.test", rate=rate, transport=httpx.MockTransport(handler)) as client:
        client.request("GET", "/a")
        assert client._resume_at <= time.monotonic()


def test_the_engine_takes_its_turns_from_the_clients_window() -> None:
    """Schemathesis' requests and the suite's share one window: neither spends the other's share."""
    from pyrate_limiter import Limiter

    from conformance.client import engine_limiter

    with Client(
        "http://api.test", rate=RatePolicy(3, 60.0), transport=httpx.MockTransport(lambda r: httpx.Response(200))
    ) as client:
        limiter = engine_limiter(client)
        assert isinstance(limiter, Limiter)  # Schemathesis only calls try_acquire on a Limiter
        for _ in range(2):
            assert limiter.try_acquire("api.test")
        client.request("GET", "/a")
        started = time.monotonic()
        clock = FakeClock()
        assert client._limiter is not None
        client._limiter._clock, client._limiter._sleep = clock, clock.sleep
        client._limiter._sent = type(client._limiter._sent)(clock.now for _ in range(3))
        limiter.try_acquire("api.test")  # the fourth in the window waits a window
    assert clock.now - 1000.0 >= 60.0
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize("unit", ["unix-seconds", "seconds"])
def test_remaining_zero_makes_the_next_request_wait_for_reset(serve: Callable[..., Server], unit: str) -> None:
    def limited(server: Server, sock: socket.socket, request: Received) -> None:
        reset = time.time() + 1 if unit == "unix-seconds" else 1
        respond(sock, 200, {}, headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": f"{reset:.3f}"})

    server = serve(limited)
    rate = RatePolicy(
        1000, 1.0, remaining_header="X-RateLimit-Remaining", reset_header="X-RateLimit-Reset", reset_unit=unit
    )
    with Client(server.origin, rate=rate) as client:
        client.request("GET", "/a")
        client.request("GET", "/b")
        client.request("GET", "/c", pace=False)
    first, second, third = (r.at for r in server.received)
    assert 0.9 <= second - first < 2.0
    assert third - second < 0.5


def throttled_then_ok(throttled: int, status: int = 429, headers: dict[str, str] | None = None) -> Behaviour:
    def behaviour(server: Server, sock: socket.socket, request: Received) -> None:
        if len(server.received) <= throttled:
            respond(sock, status, {"error": "slow down"}, headers=headers)
        else:
            respond(sock, 200, {"ok": True})

    return behaviour


def test_429_with_retry_after_is_retried_after_waiting(serve: Callable[..., Server]) -> None:
    server = serve(throttled_then_ok(1, headers={"Retry-After": "1"}))
    with Client(server.origin, rate=RatePolicy(100, 1.0)) as client:
        exchange = client.request("GET", "/x")
    assert exchange.status == 200 and client.requests_sent == 2
    assert server.received[1].at - server.received[0].at >= 0.95


def test_retry_throttled_false_returns_the_429_at_once(serve: Callable[..., Server]) -> None:
    server = serve(throttled_then_ok(1, headers={"Retry-After": "1"}))
    with Client(server.origin, rate=RatePolicy(100, 1.0)) as client:
        exchange = client.request("GET", "/x", retry_throttled=False)
    assert exchange.status == 429 and exchange.error is None and client.requests_sent == 1


def test_503_without_hints_backs_off_for_an_api_that_throttles_with_503(serve: Callable[..., Server]) -> None:
    server = serve(throttled_then_ok(1, status=503))
    with Client(server.origin, rate=RatePolicy(10, 1.0, exceeded_status=503)) as client:
        exchange = client.request("GET", "/x")
    assert exchange.status == 200 and client.requests_sent == 2
    assert 0.45 <= server.received[1].at - server.received[0].at < 1.0


def test_throttling_waits_are_capped_and_retries_counted(serve: Callable[..., Server]) -> None:
    server = serve(throttled_then_ok(99, headers={"Retry-After": "Wed, 21 Oct 2099 07:28:00 GMT"}))
    started = time.monotonic()
    with Client(server.origin, max_retries=2, max_wait_s=0.1) as client:
        exchange = client.request("GET", "/x")
    assert exchange.status == 429 and client.requests_sent == 3
    assert time.monotonic() - started < 1.0


# --- credentials and evidence ------------------------------------------------------------------------


def test_credentials_none_invalid_and_explicit_header(serve: Callable[..., Server]) -> None:
    server = serve(echo)
    with Client(server.origin, api_key=KEY, auth=BEARER) as client:
        none = client.request("GET", "/me", credentials="none").json()
        invalid = client.request("GET", "/me", credentials="invalid").json()
        explicit = client.request("GET", "/me", headers={"authorization": "Bearer mine"}).json()
        dropped = client.request("GET", "/me", headers={"User-Agent": None, "Authorization": None}).json()
    assert "authorization" not in none["headers"]
    assert invalid["headers"]["authorization"].startswith("Bearer invalid-")
    assert KEY not in invalid["headers"]["authorization"]
    assert explicit["headers"]["authorization"] == "Bearer mine"
    assert "user-agent" not in dropped["headers"] and "authorization" not in dropped["headers"]


def test_query_and_form_locations(serve: Callable[..., Server]) -> None:
    server = serve(echo)
    auth = (AuthLocation("query", "apiKey"), AuthLocation("form", "apiKey"), AuthLocation("header", "X-API-KEY"))
    with Client(server.origin + "/api", api_key=KEY, auth=auth) as client:
        query = client.request("GET", "/v5/orders", params={"page": 1}).json()
        form = client.request("POST", "/v5/orders/create", data={"order": "{}"}, auth_location=auth[1]).json()
        bare_form = client.request("POST", "/v5/ping", auth_location=auth[1]).json()
        form_on_get = client.request("GET", "/v5/orders", auth_location=auth[1]).json()
        header = client.request("GET", "/v5/orders", auth_location=auth[2]).json()
        invalid_form = client.request("POST", "/v5/x", data="a=1", credentials="invalid", auth_location=auth[1]).json()
    assert query["query"] == {"page": "1", "apiKey": KEY}
    assert dict(parse_qsl(form["body"])) == {"order": "{}", "apiKey": KEY} and form["query"] == {}
    assert dict(parse_qsl(bare_form["body"])) == {"apiKey": KEY}
    assert bare_form["headers"]["content-type"] == "application/x-www-form-urlencoded"
    assert form_on_get["query"] == {"apiKey": KEY}
    assert header["headers"]["x-api-key"] == KEY and header["query"] == {}
    assert dict(parse_qsl(invalid_form["body"]))["apiKey"].startswith("invalid-")


def test_credentials_are_not_sent_to_a_full_url_on_another_origin(serve: Callable[..., Server]) -> None:
    base, other = serve(echo), serve(echo)
    with Client(base.origin, api_key=KEY, auth=BEARER) as client:
        exchange = client.request("GET", f"{other.origin}/x")
    assert exchange.status == 200 and "authorization" not in exchange.json()["headers"]


def test_evidence_redacts_the_key_everywhere(serve: Callable[..., Server]) -> None:
    def echo_key(server: Server, sock: socket.socket, request: Received) -> None:
        respond(
            sock,
            200,
            {"you_sent": request.target, "body": request.body.decode(), "padding": "z" * 5000},
            headers={"X-Echo": request.headers.get("x-api-key", ""), "Set-Cookie": "session=abc"},
        )

    server = serve(echo_key)
    auth = (AuthLocation("query", "apiKey"), AuthLocation("header", "X-API-Key"), AuthLocation("form", "apiKey"))
    dumps = []
    with Client(server.origin, api_key=KEY, auth=auth) as client:
        for location in auth:
            exchange = client.request("POST", "/echo", data={"n": "1"}, auth_location=location)
            assert exchange.status == 200
            evidence = exchange.evidence(client.secrets)
            dumps.append(json.dumps(evidence))
        invalid = client.request("GET", "/echo", credentials="invalid", auth_location=auth[1]).evidence(client.secrets)
    for dump in dumps:
        for form in (KEY, "s3cr3t-Key%2F%2B%3D", "s3cr3t-Key/+", "s3cr3t-Key"):
            assert form not in dump
        assert "[REDACTED]" in dump
    request, response = json.loads(dumps[1])["request"], json.loads(dumps[1])["response"]
    assert request["headers"]["X-API-Key"] == "[REDACTED]"
    assert response["headers"]["x-echo"] == "[REDACTED]" and response["headers"]["set-cookie"] == "[REDACTED]"
    assert response["body"].endswith(" bytes in all]") and "… [truncated, " in response["body"]
    assert response["status"] == 200 and "error" not in response
    assert invalid["request"]["headers"]["X-API-Key"] == "[REDACTED]"


def test_evidence_of_a_failed_exchange_carries_the_error() -> None:
    exchange = Exchange(
        operation=None,
        method="GET",
        url="http://h/x?apiKey=k3y",
        request_headers={},
        request_body=None,
        status=None,
        response_headers=httpx.Headers(),
        body=b"",
        error="timed out after 1.0 s waiting for the response",
        error_kind="timeout",
    )
    evidence = exchange.evidence(["k3y"])
    assert evidence["request"]["url"] == "http://h/x?apiKey=[REDACTED]"
    assert evidence["response"] == {
        "status": None,
        "headers": {},
        "body": "",
        "error": "timed out after 1.0 s waiting for the response",
    }


def test_mock_transport_can_replace_the_network() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(201, json={"path": request.url.path}))
    with Client("http://api.test/v1", transport=transport) as client:
        exchange = client.request("POST", "orders", json={})
    assert exchange.status == 201 and exchange.json() == {"path": "/v1/orders"}


def test_a_server_that_stops_answering_costs_a_few_timeouts_not_one_per_request() -> None:
    """After MAX_SILENT_IN_A_ROW timeouts in a row the client answers at once, without sending."""
    from conformance.client import MAX_SILENT_IN_A_ROW

    calls = []

    def silent(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise httpx.ReadTimeout("no answer", request=request)

    client = Client("http://127.0.0.1:9/v1", timeout=0.5, transport=httpx.MockTransport(silent))
    answers = [client.request("GET", "/products") for _ in range(MAX_SILENT_IN_A_ROW + 3)]
    assert len(calls) == MAX_SILENT_IN_A_ROW
    assert all(a.error_kind == "timeout" for a in answers)
    assert "not sent" in (answers[-1].error or "")


@pytest.mark.parametrize("key", ["x", "test", "max", "v1"])
def test_a_short_key_is_redacted_where_it_travels_and_nowhere_else(key: str) -> None:
    """`--api-key x` once turned `pagination.max-limit` into `pagination.ma[REDACTED]-limit` (and crashed)."""
    from conformance.exchange import redact

    ours = "pagination.max-limit testWebhook POST /webhooks/test GET /v1/products?limit=10 maximum text"
    assert redact(ours, [key]) == ours
    for carrier in (f"Bearer {key}", f"?apiKey={key}&limit=1", f'{{"key": "{key}"}}', f"key {key} refused"):
        shown = redact(carrier, [key])
        assert "[REDACTED]" in shown and key not in shown.replace("[REDACTED]", "").split()


def test_a_short_key_is_redacted_in_evidence_without_mangling_the_rest() -> None:
    exchange = Exchange(
        operation="listProducts",
        method="GET",
        url="http://127.0.0.1:9/v1/products?apiKey=x&max=5",
        request_headers={"X-Echo": "x", "Accept": "application/json"},
        request_body=None,
        status=200,
        response_headers=httpx.Headers({"X-Seen-Key": "x"}),
        body=b'{"key": "x", "max_limit": "xx"}',
    )
    evidence = exchange.evidence(["x"])
    assert evidence["request"]["url"] == "http://127.0.0.1:9/v1/products?apiKey=[REDACTED]&max=5"
    assert evidence["request"]["headers"] == {"X-Echo": "[REDACTED]", "Accept": "application/json"}
    assert evidence["response"]["headers"] == {"x-seen-key": "[REDACTED]"}
    assert evidence["response"]["body"] == '{"key": "[REDACTED]", "max_limit": "xx"}'


@pytest.mark.parametrize("key", ["sk_short1", "x1"])
def test_a_short_key_the_server_echoes_is_redacted_in_the_evidence(key: str) -> None:
    """A key quoted at the end of a sentence or a path in a response is still a key (a leak once)."""
    exchange = Exchange(
        operation="getMe",
        method="GET",
        url=f"http://127.0.0.1:9/v1/me?apiKey={key}",
        request_headers={},
        request_body=None,
        status=404,
        response_headers=httpx.Headers({"X-Detail": f"/keys/{key}"}),
        body=f'{{"message": "invalid key {key}.", "path": "/v1/keys/{key}"}}'.encode(),
    )
    evidence = exchange.evidence([key])
    assert key not in str(evidence)
    assert evidence["response"]["body"] == '{"message": "invalid key [REDACTED].", "path": "/v1/keys/[REDACTED]"}'
