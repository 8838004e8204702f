"""JWT bearer tokens of the gaming-goods sandbox (HS256, signed with the sandbox's own secret).

The seed: "The API uses JWT Bearer tokens. Pass the token in the Authorization header on every
request. Tokens are issued after SMS authentication, or on request for integration scenarios."
The sandbox verifies the signature and `exp` (when present); the token's `sub` names the user.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

__all__ = ["DEMO_TOKEN", "DEMO_USER", "OTHER_USER", "TokenError", "issue_token", "verify_token"]

_SECRET = b"gaming-goods-sandbox-secret"
DEMO_USER = "c3d4e5f6-a7b8-4c9d-8e0f-1a2b3c4d5e6f"
"""The user behind the demo token (KEYS["full"])."""
OTHER_USER = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"
"""A second seeded customer, whose orders the demo user must not see."""


class TokenError(Exception):
    """The token is malformed, badly signed or expired."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue_token(sub: str, *, iat: int = 1773489600, exp: int | None = None) -> str:
    """Returns an HS256 JWT for user `sub` (no expiry unless `exp` is given)."""
    header = {"alg": "HS256", "typ": "JWT"}
    payload: dict[str, Any] = {"sub": sub, "iat": iat}
    if exp is not None:
        payload["exp"] = exp
    signing_input = ".".join(_b64(json.dumps(part, separators=(",", ":")).encode()) for part in (header, payload))
    signature = hmac.new(_SECRET, signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def verify_token(token: str, *, now: float | None = None) -> str:
    """Returns the user id (`sub`) of a valid token; raises TokenError otherwise."""
    parts = token.split(".")
    if len(parts) != 3 or not token.isascii():
        raise TokenError("Invalid token")
    try:
        header = json.loads(_unb64(parts[0]))
        payload = json.loads(_unb64(parts[1]))
        signature = _unb64(parts[2])
    except (ValueError, UnicodeDecodeError):
        raise TokenError("Invalid token") from None
    if not isinstance(header, dict) or header.get("alg") != "HS256":
        raise TokenError("Invalid token")
    expected = hmac.new(_SECRET, f"{parts[0]}.{parts[1]}".encode("ascii"), hashlib.sha256).digest()
    if not hmac.compare_digest(signature, expected):
        raise TokenError("Invalid token")
    if not isinstance(payload, dict) or not isinstance(payload.get("sub"), str) or not payload["sub"]:
        raise TokenError("Invalid token")
    exp = payload.get("exp")
    if exp is not None and (not isinstance(exp, int | float) or exp <= (time.time() if now is None else now)):
        raise TokenError("Token has expired")
    return str(payload["sub"])


DEMO_TOKEN = issue_token(DEMO_USER)
