"""The recorded exchange: one request and what came back, and its redacted evidence.

`Exchange.evidence` is the only way an exchange leaves a check: every secret is replaced by
"[REDACTED]" there, so no finding or report writer has to remember to.
"""

from __future__ import annotations

import json as jsonlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, quote_plus, unquote, urlsplit

import httpx

__all__ = ["MASKED_HEADERS", "REDACTED", "Exchange", "hide_url_credentials", "redact", "url_secrets"]

REDACTED = "[REDACTED]"
MASKED_HEADERS = frozenset({"authorization", "proxy-authorization", "x-api-key", "api-key", "cookie", "set-cookie"})


# A secret form at least this long is no word of ours: every occurrence is redacted. A shorter one
# (`--api-key x`, `--api-key test`) is redacted only where it stands alone, as a value travels in a
# header, a query, a JSON body or a message quoting one: never inside a rule id, an operation or a path
# of our own text. In what a server sent or was sent (evidence), a dot or a slash ends a word too, so a
# key the server echoes at the end of a sentence or a path ("invalid key x1.", "/keys/x1") is redacted.
DISTINCT_LENGTH = 12
_WORD = r"A-Za-z0-9_./-"
_EVIDENCE_WORD = r"A-Za-z0-9_-"


def redact(text: str, secrets: Iterable[str], *, evidence: bool = False) -> str:
    """Returns `text` with every secret (raw, URL-encoded or JSON-escaped) replaced by "[REDACTED]".

    `evidence`: the text is a request or response (not our own words), so short secrets are looked for
    between dots and slashes as well.
    """
    word = _EVIDENCE_WORD if evidence else _WORD
    forms: set[str] = set()
    for secret in secrets:
        if secret:
            forms |= {secret, quote(secret, safe=""), quote_plus(secret), jsonlib.dumps(secret)[1:-1]}
    for form in sorted(forms, key=len, reverse=True):
        if len(form) >= DISTINCT_LENGTH:
            text = text.replace(form, REDACTED)
        else:
            text = re.sub(rf"(?<![{word}]){re.escape(form)}(?![{word}])", REDACTED, text)
    return text


def url_secrets(url: str) -> tuple[str, ...]:
    """The password of `url`'s `user:password@` (as written and decoded), a secret like the API key."""
    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    if not password:
        return ()
    return tuple(dict.fromkeys([password, unquote(password)]))


def hide_url_credentials(text: str, url: str, secrets: Iterable[str] = ()) -> str:
    """Returns `text` without the `user:password@` of `url` after any `://`, its password and `secrets` redacted.

    A base URL may carry credentials (`https://bob:pw@staging.example/v1`): the requests keep them, no
    output shows them (console, reports, evidence). Only `url`'s own userinfo is dropped, so a URL with
    another user in a response body stays as the server sent it.
    """
    match = re.match(r"(?i)[a-z][a-z0-9+.-]*://([^/?#]*@)", url.strip())
    if match:
        text = text.replace("://" + match[1], "://")
    return redact(text, (*url_secrets(url), *secrets))


def _redact_url(url: str, secrets: Sequence[str]) -> str:
    """The URL with secrets redacted: its path as our own text (our spec's paths), its query as evidence."""
    path, mark, query = url.partition("?")
    return redact(path, secrets) + mark + redact(query, secrets, evidence=True)


def _masked(name: str, value: str) -> str:
    if name.lower() not in MASKED_HEADERS or not value:
        return value
    scheme, _, credentials = value.partition(" ")
    # Keep the scheme ("Bearer [REDACTED]"): whether it was sent is evidence, the token is not.
    if credentials and scheme.isalpha():
        return f"{scheme} {REDACTED}"
    return REDACTED


def _body_text(body: bytes | None, secrets: Sequence[str], max_body: int) -> str | None:
    if body is None:
        return None
    text = redact(body.decode("utf-8", errors="replace"), secrets, evidence=True)
    if len(text) > max_body:
        text = f"{text[:max_body]}… [truncated, {len(body)} bytes in all]"
    return text


@dataclass(frozen=True)
class Exchange:
    """One request and what came back (or the transport error instead).

    `status` is None when no complete response arrived (timeout, unreachable, reset, tls, protocol);
    an oversize or unfollowed-redirect exchange keeps its status. `body` is capped at the client's
    `max_response_bytes`; `url` and headers are as sent, secrets not yet redacted: use `evidence`.
    """

    operation: str | None
    method: str
    url: str
    request_headers: dict[str, str]
    request_body: bytes | None
    status: int | None
    response_headers: httpx.Headers
    body: bytes
    error: str | None = None
    error_kind: str | None = None  # timeout | unreachable | oversize | reset | tls | redirect | protocol
    elapsed_s: float = 0.0

    def json(self) -> Any:
        """Returns the parsed body; raises ValueError saying why it is not JSON (never quoting the body)."""
        if self.status is None:
            raise ValueError(f"no response body to parse: {self.error}")
        if not self.body.strip():
            raise ValueError(f"response body is empty, not JSON (status {self.status})")
        try:
            return jsonlib.loads(self.body)
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
            reason = exc.msg if isinstance(exc, jsonlib.JSONDecodeError) else "not UTF-8"
            where = f" at line {exc.lineno} column {exc.colno}" if isinstance(exc, jsonlib.JSONDecodeError) else ""
            raise ValueError(
                f"response body is not valid JSON ({reason}{where}); "
                f"content type {self.content_type or 'missing'}, {len(self.body)} bytes"
            ) from None

    def header(self, name: str) -> str | None:
        """Returns a response header (case-insensitive; repeated headers joined by ", ") or None.

        `Name;key` is a parameter of a structured-field header (RFC 9651) instead: `RateLimit;r` of
        `RateLimit: "default";r=50;t=30` is "50" (the IETF RateLimit and RateLimit-Policy headers).
        """
        field, _, key = name.partition(";")
        value: str | None = self.response_headers.get(field)
        if key and value is not None:
            return _structured_param(value, key.strip())
        return value

    @property
    def content_type(self) -> str:
        """The response media type without parameters, lowercased ("" if none)."""
        return (self.header("content-type") or "").split(";", 1)[0].strip().lower()

    def evidence(self, secrets: Iterable[str], max_body: int = 4096) -> dict[str, Any]:
        """Returns the exchange as JSON-ready evidence, every secret replaced by "[REDACTED]".

        Secrets are redacted in the URL, header names and values and both bodies (raw, URL-encoded
        and JSON-escaped forms); credential headers (Authorization, X-API-Key, Api-Key, Cookie,
        Set-Cookie) are masked whatever they hold. Bodies are decoded as UTF-8 with replacement
        characters and cut at `max_body` characters with a note. `response.error` is present only
        when the exchange failed.
        """
        secrets = tuple(s for s in secrets if s)

        def headers(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
            out: dict[str, str] = {}
            for name, value in pairs:
                value = _masked(name, redact(value, secrets, evidence=True))
                key = redact(name, secrets)
                out[key] = f"{out[key]}, {value}" if key in out else value
            return out

        response: dict[str, Any] = {
            "status": self.status,
            "headers": headers(self.response_headers.multi_items()),
            "body": _body_text(self.body, secrets, max_body),
        }
        if self.error is not None:
            response["error"] = redact(self.error, secrets, evidence=True)
        return {
            "request": {
                "method": self.method,
                "url": _redact_url(self.url, secrets),
                "headers": headers(self.request_headers.items()),
                "body": _body_text(self.request_body, secrets, max_body),
            },
            "response": response,
        }


def _structured_param(value: str, key: str) -> str | None:
    """The parameter `key` of the first member of a structured-field list ("default";q=100;w=60 → q: "100")."""
    first = value.split(",", 1)[0]
    for param in first.split(";")[1:]:
        name, _, raw = param.strip().partition("=")
        if name.strip().lower() == key.lower():
            return raw.strip().strip('"') or None
    return None
