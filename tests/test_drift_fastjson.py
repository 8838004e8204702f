"""The fast path of `conformance drift` (orjson, entries cut at a learnt separator) reads exactly what the
standard library reads: the same values, the same records, the same errors, whatever the file's layout."""

from __future__ import annotations

import json
from dataclasses import astuple
from pathlib import Path
from typing import Any

import pytest

from conformance.drift import fastjson, traffic
from conformance.drift.traffic import TrafficError, read_traffic

DOCUMENTS = [
    b'{"id": 1, "price": 1.5, "tags": ["a", "\\u00e9"], "none": null}',
    b"12345678901234567890123",  # past 64 bits: orjson would give a float
    b'{"id": -9223372036854775809}',
    b'{"id": 18446744073709551615, "n": -9223372036854775808}',
    b'{"a": 1, "a": 2}',
    b"[1e400, -0.0, 1E5]",
    b"NaN",
    b'"\\ud800"',
    b"\xef\xbb\xbf{}",
    b'{"a": "\xff"}',
    b"[1,]",
    b"",
    b'{"n": 1} x',
]


def _outcome(parse: Any, data: Any) -> tuple[str, Any]:
    try:
        value = parse(data)
    except ValueError as exc:
        return "error", f"{type(exc).__name__}: {exc}"
    return "value", (repr(value), type(value).__name__)


@pytest.mark.parametrize("data", DOCUMENTS)
def test_fastjson_gives_what_the_standard_library_gives(data: bytes) -> None:
    assert _outcome(fastjson.loads, data) == _outcome(json.loads, data)
    assert _outcome(fastjson.loads, data.decode("utf-8", "surrogateescape")) == _outcome(
        json.loads, data.decode("utf-8", "surrogateescape")
    )


def _entry(number: int, body: Any, **extra: Any) -> dict[str, Any]:
    return {
        "startedDateTime": f"2026-12-04T17:00:{number:02d}.000Z",
        "time": 12.5,
        "request": {
            "method": "GET",
            "url": f"https://api.example/v1/products/{number}",
            "headers": [{"name": "Authorization", "value": "Bearer k"}],
        },
        "response": {
            "status": 200,
            "headers": [{"name": "Content-Type", "value": "application/json"}],
            "content": {"mimeType": "application/json", "text": body if isinstance(body, str) else json.dumps(body)},
        },
        **extra,
    }


ENTRIES = [
    _entry(0, {"id": "p0", "price": 3}),
    _entry(1, {"id": "p1", "big": 123456789012345678901234567890}),  # a long int inside the body
    _entry(2, '{"id": "p2", "note": "},\\n{\\"startedDateTime\\": 1"}'),  # the separator inside a string
    _entry(3, {"id": "p3", "name": "caf\u00e9 \u2603"}),
    _entry(4, {"id": "p4"}, time=98765432109876543210),  # a long int in the entry itself
    _entry(5, {"id": "p5"}, comment="\u0031\u0032"),
    {"request": {"method": "POST", "url": "https://api.example/v1/orders"}, "response": {"status": 0}},  # reordered
    _entry(7, {"id": "p7", "digits": "-1234567890123456789"}),
    {
        **_entry(8, {"id": "p8"}),
        "request": {
            "method": "GET",
            "url": "https://api.example/v1/products/8",
            "headers": [{"name": "X-Count", "value": 123456789012345678901234}],
        },
    },  # a long int where `str()` is taken
]
LAYOUTS = {
    "one entry a line": {"separators": (", ", ": ")},
    "compact": {"separators": (",", ":")},
    "indented": {"indent": 2},
    "ascii escapes": {"ensure_ascii": True, "indent": 1},
}


def _write(path: Path, entries: list[dict[str, Any]], layout: dict[str, Any]) -> Path:
    if "indent" in layout:
        path.write_text(json.dumps({"log": {"version": "1.2", "entries": entries}}, **layout), encoding="utf-8")
    else:
        lines = ",\n".join(json.dumps(e, ensure_ascii=False, **layout) for e in entries)
        path.write_text('{"log": {"version": "1.2", "entries": [\n' + lines + "\n]}}\n", encoding="utf-8")
    return path


def _slow(path: Path, monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    with monkeypatch.context() as patch:
        patch.setattr(traffic._Scanner, "learn", lambda *args: None)  # never cut: the standard library alone
        return [astuple(r) for r in read_traffic(path)]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_the_har_fast_path_reads_the_records_the_standard_library_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, layout: str
) -> None:
    entries = (ENTRIES + [_entry(n, {"id": f"q{n}"}) for n in range(30)]) * 10
    path = _write(tmp_path / "t.har", entries, LAYOUTS[layout])
    scanners: list[Any] = []
    start = traffic._Scanner.__init__
    monkeypatch.setattr(traffic._Scanner, "__init__", lambda self, *a: (start(self, *a), scanners.append(self))[0])
    fast = [astuple(r) for r in read_traffic(path)]
    assert scanners[0].cut > len(entries) // 2  # most entries took the fast path, the odd ones the slow one
    assert fast == _slow(path, monkeypatch)
    assert len(fast) == len(entries)
    assert fast[1][8] == json.dumps({"id": "p1", "big": 123456789012345678901234567890}).encode()
    assert fast[4][-1] == 98765432109876543.21  # the exact int, in seconds
    assert fast[8][4] == [("X-Count", "123456789012345678901234")]


def test_a_body_is_parsed_as_the_standard_library_parses_it(tmp_path: Path) -> None:
    from conformance.checks.passive import _json
    from conformance.client import Exchange

    path = _write(tmp_path / "t.har", ENTRIES, LAYOUTS["one entry a line"])
    for record in read_traffic(path):
        exchange = Exchange(None, record.method, record.url, {}, None, record.status, None, record.body)  # type: ignore[arg-type]
        if record.status is None:
            continue
        assert _outcome(lambda _, exchange=exchange: _json(exchange), None) == _outcome(json.loads, record.body)


@pytest.mark.parametrize("cut", [0.3, 0.6, 0.95])
def test_a_broken_har_says_the_same_place_on_the_fast_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cut: float
) -> None:
    path = _write(tmp_path / "t.har", ENTRIES * 40, LAYOUTS["one entry a line"])
    text = path.read_text(encoding="utf-8")
    at = text.index('"time": 12.5', int(len(text) * cut))
    path.write_text(text[:at] + '"time": 12.5.5' + text[at + len('"time": 12.5') :], encoding="utf-8")
    with pytest.raises(TrafficError) as fast:
        list(read_traffic(path))
    with pytest.raises(TrafficError) as slow:
        _slow(path, monkeypatch)
    assert str(fast.value) == str(slow.value)
