"""Reading recorded traffic: HAR 1.2 files and NDJSON request/response records, one exchange at a time.

A HAR is one JSON document that may weigh gigabytes, so it is never loaded whole: a small scanner walks the
document's structure by hand and hands each element of `log.entries` to a C parser, so memory holds one
entry at a time. The entries of one file are written alike, so the scanner learns from the first two what
separates them (`}` `,\n` `{"startedDateTime":` in most files) and cuts each next entry at the next such
separator, parsing the piece with orjson. A piece that is not exactly one JSON object (a separator inside
the entry, an entry written otherwise, a broken one), or whose fields could read otherwise than with the
standard library (`_loose`: orjson reads an integer past 64 bits as a float), is parsed again by the
standard library's `raw_decode`, which also says where a broken file breaks. NDJSON (docs/drift.md) is one record
per line. A broken file is a `TrafficError` naming the file and where (line, entry or record).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import chain
from operator import itemgetter
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlencode

import orjson

from conformance.drift.fastjson import loads as json_loads

__all__ = ["Record", "TrafficError", "read_traffic"]

CHUNK = 1 << 20  # characters read at a time
MAX_ENTRY = 256 << 20  # an entry larger than this is a broken file, not a recording
_WHITESPACE = " \t\n\r"
_DECODER = json.JSONDecoder()


class TrafficError(Exception):
    """A traffic file that cannot be read; the message names the file and the place."""


@dataclass
class Record:
    """One recorded exchange, as the file says it (secrets included: redacted only in evidence)."""

    where: str  # "entry 12" (HAR) or "line 5" (NDJSON)
    started: float | None  # Unix seconds, when the request was sent
    method: str
    url: str
    request_headers: list[tuple[str, str]]
    request_body: bytes | None
    status: int | None  # None: no response was recorded (HAR status 0)
    response_headers: list[tuple[str, str]]
    body: bytes
    client: str | None = None  # NDJSON `client`: who sent it, when the log says
    elapsed_s: float = 0.0  # from the request sent to the answer received (HAR `time`, NDJSON `duration_ms`)


def read_traffic(path: Path) -> Iterator[Record]:
    """Yields the exchanges of a HAR (`.har`, or any file whose first character is `{`) or NDJSON file."""
    try:
        handle = open(path, encoding="utf-8-sig", errors="surrogateescape", newline="")
    except OSError as exc:
        raise TrafficError(f"{path}: cannot open ({exc.strerror or exc}); check the path") from None
    with handle:
        first = handle.read(4096)
        handle.seek(0)
        stripped = first.lstrip("\ufeff" + _WHITESPACE)
        if not stripped:
            raise TrafficError(f"{path}: the file is empty; record some traffic first")
        ndjson = path.suffix.lower() in (".ndjson", ".jsonl") or (
            path.suffix.lower() != ".har" and stripped.startswith("{") and '"request"' in stripped.split("\n", 1)[0]
        )
        if ndjson:
            yield from _read_ndjson(handle, path)
        else:
            yield from _read_har(handle, path)


# --- HAR -------------------------------------------------------------------------------------------


class _Scanner:
    """Walks a JSON document held in a file, keeping only the part not yet consumed in memory."""

    def __init__(self, handle: IO[str], path: Path) -> None:
        self.handle = handle
        self.path = path
        self.buf = ""
        self.pos = 0
        self.eof = False
        self.lines_before = 0  # newlines in the text already dropped from `buf` (counted as dropped: see below)
        self.dropped = 0  # characters already dropped from `buf`
        # A regular file's dropped newlines are counted only for an error message, by reading it again
        # (`_lines_dropped`): counting every megabyte as it goes costs ~3 % of a drift run. A pipe is counted.
        self.count_lines = not _seekable(handle)
        self.where = ""  # the entry being read, for error messages
        self.fills = 0  # how often `buf` was refilled (positions before a refill are stale)
        self.separator: str | None = None  # what ends an entry and starts the next (learnt), see `entry`
        self.cut = self.missed = 0  # entries cut at the separator, and pieces that were not one entry
        self.checked = False  # the last entry was parsed by orjson and passed `_loose`

    def _fill(self, at_least: int = CHUNK) -> bool:
        if self.eof:
            return False
        if self.pos:
            if self.count_lines:
                self.lines_before += self.buf.count("\n", 0, self.pos)
            self.dropped += self.pos
            self.buf = self.buf[self.pos :]
            self.pos = 0
        more = self.handle.read(max(at_least, CHUNK))
        if not more:
            self.eof = True
            return False
        self.buf += more
        self.fills += 1
        return True

    def error(self, reason: str, pos: int | None = None) -> TrafficError:
        pos = self.pos if pos is None else pos
        line = self._lines_dropped() + self.buf.count("\n", 0, pos) + 1
        column = pos - (self.buf.rfind("\n", 0, pos) + 1) + 1
        where = f" ({self.where})" if self.where else ""
        return TrafficError(f"{self.path}: line {line} column {column}{where}: {reason}; not a valid HAR file")

    def _lines_dropped(self) -> int:
        """The newlines in the text dropped from `buf`: counted as it was dropped, or read again from the file."""
        if self.count_lines or not self.dropped:
            return self.lines_before
        count = left = 0
        try:
            encoding, errors = getattr(self.handle, "encoding", "utf-8-sig"), getattr(self.handle, "errors", None)
            with open(self.path, encoding=encoding, errors=errors, newline="") as again:
                left = self.dropped
                while left > 0:
                    text = again.read(min(left, CHUNK))
                    if not text:
                        break
                    count += text.count("\n")
                    left -= len(text)
        except OSError:
            return self.lines_before  # gone meanwhile: the lines of the part still held
        return count

    def peek(self) -> str:
        while True:
            buf, pos = self.buf, self.pos
            while pos < len(buf) and buf[pos] in _WHITESPACE:
                pos += 1
            self.pos = pos
            if pos < len(buf):
                return buf[pos]
            if not self._fill():
                return ""

    def expect(self, chars: str) -> str:
        char = self.peek()
        if not char or char not in chars:
            found = repr(char) if char else "the end of the file"
            raise self.error(f"expected {' or '.join(repr(c) for c in chars)}, found {found}")
        self.pos += 1
        return char

    def value(self) -> Any:
        """Parses the JSON value at the current position (reading more of the file as needed)."""
        self.peek()
        while True:
            try:
                value, end = _DECODER.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                truncated = exc.pos >= len(self.buf) - 8 or exc.msg.startswith("Unterminated string")
                if truncated and len(self.buf) - self.pos < MAX_ENTRY and self._fill(len(self.buf)):
                    continue
                if truncated and self.eof:
                    raise self.error("the file ends in the middle of a value (cut short?)", exc.pos) from None
                raise self.error(exc.msg, exc.pos) from None
            if end >= len(self.buf) and not self.eof and not isinstance(value, (dict, list, str)):
                self._fill()  # a number or literal may go on in the next chunk
                continue
            self.pos = end
            return value

    def entry(self) -> Any:
        """Parses the entry at the current position: cut at the learnt separator and parsed by orjson when
        the piece is exactly one JSON object, else by `value` (the standard library, which places errors)."""
        separator = self.separator
        self.checked = False
        if separator is not None:
            self.peek()
            buf, pos = self.buf, self.pos
            end = buf.find(separator, pos)
            if end < 0 and not self.eof and len(buf) - pos < CHUNK:  # the entry may go on in the next chunk
                self._fill()
                buf, pos = self.buf, self.pos
                end = buf.find(separator, pos)
            if end >= 0:
                piece = buf[pos : end + 1]
                try:
                    value = orjson.loads(piece)
                except orjson.JSONDecodeError:
                    value = None
                if type(value) is dict and not _loose(value):
                    self.pos = end + 1
                    self.cut += 1
                    self.checked = True
                    return value
                self.missed += 1
                if self.missed > 64 and self.missed * 4 > self.cut:
                    self.separator = None  # not how this file is written: the standard library alone
        return self.value()

    def learn(self, previous_end: int, fills: int) -> None:
        """Learns the separator from the end of one entry (`previous_end`, when `fills` was current) to the
        start of the next (the current position): the text between, and the next entry up to its first key."""
        if self.separator is not None or self.missed > 64 or self.peek() != "{" or fills != self.fills:
            return
        colon = self.buf.find(":", self.pos, self.pos + 256)
        if colon > 0 and self.buf[previous_end - 1] == "}":
            self.separator = self.buf[previous_end - 1 : colon + 1]

    def members(self) -> Iterator[str]:
        """Yields the keys of the object at the current position; the caller consumes each value."""
        self.expect("{")
        if self.peek() == "}":
            self.pos += 1
            return
        while True:
            key = self.value()
            if not isinstance(key, str):
                raise self.error("expected an object key")
            self.expect(":")
            yield key
            if self.expect(",}") == "}":
                return


def _seekable(handle: IO[str]) -> bool:
    try:
        return handle.seekable()
    except (OSError, ValueError):
        return False


def _read_har(handle: IO[str], path: Path) -> Iterator[Record]:
    scanner = _Scanner(handle, path)
    if scanner.peek() == "\ufeff":
        scanner.pos += 1
    found = False
    for key in scanner.members():
        if key != "log":
            scanner.value()
            continue
        for name in scanner.members():
            if name != "entries":
                scanner.value()
                continue
            found = True
            scanner.expect("[")
            if scanner.peek() == "]":
                scanner.pos += 1
                continue
            index = previous_end = fills = 0
            while True:
                scanner.where = f"entry {index}"
                if index and scanner.separator is None:
                    scanner.learn(previous_end, fills)
                entry = scanner.entry()
                previous_end, fills = scanner.pos, scanner.fills
                yield _har_record(entry, f"{path}: entry {index}", scanner.checked)
                index += 1
                if scanner.expect(",]") == "]":
                    break
            scanner.where = ""
    if scanner.peek():
        raise scanner.error("unexpected text after the document")
    if not found:
        raise TrafficError(f"{path}: no log.entries array; is this a HAR 1.2 file?")


_BIG = 2.0**63


def _loose(entry: dict[str, Any]) -> bool:
    """Whether orjson's parse of an entry may give another record than the standard library's: a field
    `_har_record` reads is a float of 2**63 or more (orjson's reading of an integer past 64 bits, where `json`
    keeps the int: their `str()` and `int()` differ), a text field is not a string, or the entry is not shaped
    as a HAR entry (then `json` parses it again, and `_har_record` says what is wrong as it always did)."""
    try:
        request, response = entry["request"], entry["response"]
        if type(request["method"]) is not str or type(request["url"]) is not str:
            return True
        for value in (response.get("status"), entry.get("startedDateTime"), entry.get("time")):
            if type(value) is float and not -_BIG < value < _BIG:
                return True
        for part in (request, response):  # every name and value a string, else TypeError (KeyError: none)
            "".join(chain.from_iterable(map(_NAME_VALUE, part.get("headers") or ())))
        post = request.get("postData")
        if post is not None and not (
            isinstance(post, dict)
            and type(post.get("text") or "") is str
            and all(
                type(q.get("name", "")) is str and type(q.get("value", "")) is str for q in post.get("params") or ()
            )
        ):
            return True
        content = response.get("content")
        return content is not None and not (isinstance(content, dict) and type(content.get("text") or "") is str)
    except (KeyError, TypeError, AttributeError):
        return True


_NAME_VALUE = itemgetter("name", "value")


def _har_record(entry: Any, where: str, checked: bool = False) -> Record:
    """The record of a HAR entry; `checked`: `_loose` found its header names and values all strings."""
    try:
        request, response = entry["request"], entry["response"]
        method, url = str(request["method"]).upper(), str(request["url"])
        status = int(response.get("status") or 0) or None
        if checked:  # the same pairs as below, without a str() per name and value
            request_headers = list(map(_NAME_VALUE, request.get("headers") or ()))
            response_headers = list(map(_NAME_VALUE, response.get("headers") or ()))
        else:
            request_headers = [(str(h["name"]), str(h["value"])) for h in request.get("headers") or ()]
            response_headers = [(str(h["name"]), str(h["value"])) for h in response.get("headers") or ()]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise TrafficError(
            f"{where}: not a HAR entry ({_why(exc)}); each needs request.method, request.url, response"
        ) from None
    post = request.get("postData") or None
    request_body: bytes | None = None
    if isinstance(post, dict):
        if post.get("text") is not None:
            request_body = _text_bytes(post["text"], post.get("encoding"), where)
        elif post.get("params"):
            request_body = urlencode([(p.get("name", ""), p.get("value", "")) for p in post["params"]]).encode()
    content = response.get("content") or {}
    text = content.get("text") if isinstance(content, dict) else None
    body = _text_bytes(text, content.get("encoding"), where) if text is not None else b""
    return Record(
        where=where,
        started=_time(entry.get("startedDateTime"), where),
        method=method,
        url=url,
        request_headers=request_headers,
        request_body=request_body,
        status=status,
        response_headers=response_headers,
        body=body,
        elapsed_s=_ms(entry.get("time"), where),
    )


def _ms(value: Any, where: str) -> float:
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TrafficError(f"{where}: time {value!r} is not a number of milliseconds")
    return max(float(value), 0.0) / 1000


def _why(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"no {exc.args[0]!r}"
    return str(exc) or type(exc).__name__


def _text_bytes(text: Any, encoding: Any, where: str) -> bytes:
    if not isinstance(text, str):
        raise TrafficError(f"{where}: a body text is {type(text).__name__}, not a string")
    if encoding == "base64":
        try:
            return base64.b64decode(text, validate=False)
        except ValueError:
            raise TrafficError(f"{where}: a body marked base64 does not decode") from None
    return text.encode("utf-8", errors="surrogateescape")


def _time(value: Any, where: str) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise TrafficError(f"{where}: time {value!r} is not ISO 8601 or Unix seconds") from None


# --- NDJSON ----------------------------------------------------------------------------------------


def _read_ndjson(handle: IO[str], path: Path) -> Iterator[Record]:
    for number, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        where = f"{path}: line {number}"
        try:
            data = json_loads(line)
        except json.JSONDecodeError as exc:
            raise TrafficError(f"{where} column {exc.colno}: {exc.msg}; each line must be one JSON record") from None
        yield _ndjson_record(data, where)


def _headers(value: Any) -> list[tuple[str, str]]:
    if isinstance(value, dict):
        return [(str(k), str(v)) for k, v in value.items()]
    return [(str(name), str(val)) for name, val in value or ()]


def _body(part: dict[str, Any], where: str) -> bytes | None:
    if part.get("body_base64") is not None:
        return _text_bytes(part["body_base64"], "base64", where)
    body = part.get("body")
    if body is None:
        return None
    if not isinstance(body, str):  # a JSON body given as JSON
        return json.dumps(body).encode()
    return body.encode("utf-8", errors="surrogateescape")


def _ndjson_record(data: Any, where: str) -> Record:
    try:
        request, response = data["request"], data.get("response") or {}
        method, url = str(request["method"]).upper(), str(request["url"])
        status = int(response.get("status") or 0) or None
        request_headers = _headers(request.get("headers"))
        response_headers = _headers(response.get("headers"))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise TrafficError(
            f"{where}: not a traffic record ({_why(exc)}); docs/drift.md gives the format "
            '({"time", "request": {"method", "url", ...}, "response": {"status", ...}})'
        ) from None
    return Record(
        where=where,
        started=_time(data.get("time"), where),
        method=method,
        url=url,
        request_headers=request_headers,
        request_body=_body(request, where),
        status=status,
        response_headers=response_headers,
        body=_body(response, where) or b"",
        client=str(data["client"]) if data.get("client") is not None else None,
        elapsed_s=_ms(data.get("duration_ms"), where),
    )
