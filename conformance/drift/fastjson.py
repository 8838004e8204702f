"""JSON parsed by orjson where it gives exactly what the standard library gives, else by the standard library.

orjson parses recorded traffic several times faster than `json`, and agrees with it on every document
both accept, but for one case: an integer outside 64 bits, which orjson turns into a float where `json`
keeps the exact int. A text holding a run of 20 digits (or `-` and 19), inside a string or not, is
therefore parsed by `json`; so is every text orjson refuses (`NaN`, `Infinity`, a lone surrogate, a
UTF-16 body, ...), so the results and the error messages are the standard library's.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

__all__ = ["exact", "loads"]

# digits become "0", "-" stays, every other byte "x": a long integer is then a run of "0"
_DIGITS = bytes(0x30 if 0x30 <= i <= 0x39 else 0x2D if i == 0x2D else 0x78 for i in range(256))
_LONG = b"0" * 20
_LONG_NEGATIVE = b"-" + b"0" * 19


def exact(data: bytes) -> bool:
    """Whether orjson's parse of this text (when it has one) is the standard library's: no integer past 64 bits."""
    digits = data.translate(_DIGITS)
    return digits.find(_LONG) < 0 and digits.find(_LONG_NEGATIVE) < 0


def loads(data: bytes | str) -> Any:
    """`json.loads(data)`, the same value and the same errors, faster."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)
    if exact(data.encode() if isinstance(data, str) else data):
        return value
    return json.loads(data)
