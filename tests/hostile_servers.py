"""Hostile HTTP servers on loopback, each misbehaving in one way a real server under test might.

A `Listener` accepts on `host` (port 0) and hands every connection to a behaviour in its own thread;
it keeps the raw bytes of every request it reads, so a test can tell whether credentials arrived.
Behaviours stop early when the listener closes, so no test waits on a server thread.
"""

from __future__ import annotations

import json
import shutil
import socket
import ssl
import struct
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

__all__ = [
    "Behaviour",
    "Listener",
    "drip",
    "echo_request",
    "html_page",
    "huge_json",
    "invalid_json",
    "never_answers",
    "ok_json",
    "read_raw_request",
    "redirect_to",
    "reset_mid_response",
    "self_signed_cert",
    "self_signed_context",
]

Behaviour = Callable[["Listener", socket.socket, bytes], None]


class Listener:
    """A raw-socket server on `host`, port 0; `tls` wraps each connection in that server context."""

    def __init__(self, behaviour: Behaviour, host: str = "127.0.0.1", tls: ssl.SSLContext | None = None) -> None:
        self.behaviour = behaviour
        self.tls = tls
        self.received: list[bytes] = []
        self.stop = threading.Event()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, 0))
        self._sock.listen(64)
        self._sock.settimeout(0.1)
        self.host, self.port = self._sock.getsockname()[:2]
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def url(self, path: str = "/v1") -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}{path}"

    def close(self) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self._sock.close()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        sock = conn
        try:
            conn.settimeout(5)
            if self.tls is not None:
                sock = self.tls.wrap_socket(conn, server_side=True)
            request = read_raw_request(sock)
            if request:
                self.received.append(request)
                self.behaviour(self, sock, request)
        except (OSError, ssl.SSLError):
            pass  # the client gave up or refused the certificate: both expected here
        finally:
            sock.close()


def read_raw_request(sock: socket.socket) -> bytes:
    """Reads one HTTP/1.1 request: the head, then as much body as Content-Length says (less at EOF).

    Every loopback test server reads requests this way; what comes back is the bytes as sent.
    """
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip() or 0)
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def _head(status: int, content_type: str, length: int, extra: str = "") -> bytes:
    return (
        f"HTTP/1.1 {status} Hostile\r\nContent-Type: {content_type}\r\nContent-Length: {length}\r\n"
        f"{extra}Connection: close\r\n\r\n"
    ).encode()


def _target(request: bytes) -> str:
    """The request target (path and query) of a raw request."""
    return request.split(b"\r\n", 1)[0].split(b" ")[1].decode("latin-1")


def ok_json(listener: Listener, sock: socket.socket, request: bytes) -> None:
    body = json.dumps({"status": "ok"}).encode()
    sock.sendall(_head(200, "application/json", len(body)) + body)


def never_answers(listener: Listener, sock: socket.socket, request: bytes) -> None:
    listener.stop.wait(60)


def drip(listener: Listener, sock: socket.socket, request: bytes) -> None:
    """A well-formed JSON answer, one byte a second from its status line on."""
    body = b'{"status": "ok"}'
    for byte in _head(200, "application/json", len(body)) + body:
        sock.sendall(bytes([byte]))
        if listener.stop.wait(1.0):
            return


def huge_json(listener: Listener, sock: socket.socket, request: bytes) -> None:
    """50 MB of valid JSON (an array of zeros) with an honest Content-Length."""
    size = 50_000_000
    sock.sendall(_head(200, "application/json", size) + b"[")
    chunk, left = b"0," * 32768, size - 1
    while left > len(chunk) + 2 and not listener.stop.is_set():
        sock.sendall(chunk)
        left -= len(chunk)
    sock.sendall(b" " * (left - 2) + b"0]")


def invalid_json(listener: Listener, sock: socket.socket, request: bytes) -> None:
    body = b'{"data": [{"id": "p1", "name": "truncated'
    sock.sendall(_head(200, "application/json", len(body)) + body)


def echo_request(listener: Listener, sock: socket.socket, request: bytes) -> None:
    """Echoes the request head, credentials included, as a one-item list and in a response header."""
    head = request.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    lines = head.split("\r\n")
    auth = next((line.split(":", 1)[1].strip() for line in lines if line.lower().startswith("authorization:")), "")
    body = json.dumps({"data": [{"id": head, "name": head}], "next_cursor": None, "echo": head}).encode()
    sock.sendall(_head(200, "application/json", len(body), f"X-Echo-Authorization: {auth}\r\n") + body)


def html_page(listener: Listener, sock: socket.socket, request: bytes) -> None:
    body = b"<!doctype html><html><head><title>Welcome</title></head><body><h1>It works!</h1></body></html>"
    sock.sendall(_head(200, "text/html; charset=utf-8", len(body)) + body)


def reset_mid_response(listener: Listener, sock: socket.socket, request: bytes) -> None:
    """Promises 1000 bytes of JSON, sends 20, then closes with a TCP reset."""
    sock.sendall(_head(200, "application/json", 1000) + b'{"data": [{"id": "p1')
    listener.stop.wait(0.05)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def redirect_to(elsewhere: Listener) -> Behaviour:
    """Redirects every request to the same path and query on `elsewhere` (another host).

    302 for reads, 307 for writes: 307 asks the client to send the body again, form credentials included.
    """

    def behaviour(listener: Listener, sock: socket.socket, request: bytes) -> None:
        status = 302 if request.startswith((b"GET ", b"HEAD ")) else 307
        location = f"http://{elsewhere.host}:{elsewhere.port}{_target(request)}"
        sock.sendall(_head(status, "application/json", 2, f"Location: {location}\r\n") + b"{}")

    return behaviour


def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """Returns (cert, key) PEM files for 127.0.0.1, made with `cryptography` if installed, else openssl.

    One maker for every TLS test, so the client and the CLI are refused the same certificate.
    """
    cert, key = directory / "cert.pem", directory / "key.pem"
    try:
        import datetime
        import ipaddress

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError:
        if shutil.which("openssl") is None:
            pytest.skip("neither the cryptography package nor the openssl CLI is available")
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                str(key),
                "-out",
                str(cert),
                "-days",
                "1",
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
            ],
            check=True,
            capture_output=True,
            timeout=30,
        )
        return cert, key
    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(private, hashes.SHA256())
    )
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert, key


def self_signed_context(directory: Path) -> ssl.SSLContext:
    """A server TLS context with a fresh self-signed certificate for 127.0.0.1 (see `self_signed_cert`)."""
    cert, key = self_signed_cert(directory)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context
