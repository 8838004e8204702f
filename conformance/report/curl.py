"""A copy-paste `curl` command that replays a finding's request.

Findings hold redacted evidence (the key appears as `[REDACTED]`); the command puts `$API_KEY`
there, inside double quotes so the shell expands it, and quotes every other part in single
quotes so nothing else in a hostile URL, header or body is expanded.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["REDACTED", "curl_command"]

REDACTED = "[REDACTED]"

# curl sets these itself; replaying a recorded value would only get in the way (a stale
# Content-Length, or Accept-Encoding: gzip printing compressed bytes to the terminal).
_SKIPPED_HEADERS = {"host", "content-length", "connection", "accept-encoding", "transfer-encoding", "user-agent"}
# Characters that mean something inside double quotes (or to interactive history expansion).
_DOUBLE_QUOTE_SPECIAL = re.compile(r'[\\"$`!]')


def curl_command(finding: Mapping[str, Any]) -> str:
    """Returns a shell command that replays the finding's request, or "" when it has none.

    The key, redacted as `[REDACTED]` in the evidence, is written as `$API_KEY` so the reader
    sets it once (`export API_KEY=...`) and pastes the command. Headers curl manages itself
    (Host, Content-Length, ...) are left out; the body is sent byte for byte (`--data-binary`).
    """
    request = finding.get("request")
    if not isinstance(request, Mapping) or not request.get("url"):
        return ""
    method = str(request.get("method") or "GET").upper()
    body = request.get("body")
    parts = ["curl -sS -i"]
    if method == "HEAD":
        parts[0] += " --head"
    elif method != "GET" or body is not None:
        parts[0] += f" -X {shell_quote(method)}"
    parts.append(shell_quote(str(request["url"])))
    for name, value in _header_pairs(request.get("headers")):
        if name.lower() not in _SKIPPED_HEADERS:
            parts.append(f"-H {shell_quote(f'{name}: {value}')}")
    if body is not None:
        parts.append(f"--data-binary {shell_quote(str(body))}")
    return " \\\n  ".join(parts)


def shell_quote(text: str) -> str:
    """Returns `text` quoted for a POSIX shell, with each `[REDACTED]` expanding to `$API_KEY`."""
    if REDACTED not in text:
        return shlex.quote(text)
    pieces = text.split(REDACTED)
    if not any(_DOUBLE_QUOTE_SPECIAL.search(piece) for piece in pieces):
        # The readable form: "Authorization: Bearer $API_KEY".
        return '"' + "".join(_join_key(pieces)) + '"'
    # Hostile literal parts: single-quote them and splice the key in, 'a'"$API_KEY"'b'.
    quoted = [shlex.quote(piece) if piece else "" for piece in pieces]
    return '"$API_KEY"'.join(quoted)


def _join_key(pieces: list[str]) -> Iterable[str]:
    for index, piece in enumerate(pieces):
        if index:
            # ${API_KEY} where the next character would otherwise extend the variable name.
            yield "${API_KEY}" if re.match(r"[A-Za-z0-9_]", piece) else "$API_KEY"
        yield piece


def _header_pairs(headers: Any) -> list[tuple[str, str]]:
    if isinstance(headers, Mapping):
        return [(str(k), str(v)) for k, v in headers.items()]
    if isinstance(headers, list):
        return [(str(pair[0]), str(pair[1])) for pair in headers if len(pair) == 2]
    return []
