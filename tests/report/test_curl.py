"""curl commands: the key becomes $API_KEY, everything else is quoted so the shell changes nothing."""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

import pytest

from conformance.report import curl_command


def _finding(**request: Any) -> dict[str, Any]:
    return {
        "rule": "errors.envelope",
        "operation": "getProduct",
        "request": {"method": "GET", "url": "http://127.0.0.1:8123/v1/x", "headers": {}, "body": None, **request},
    }


def _argv_in_bash(command: str, api_key: str = "sk-secret") -> list[str]:
    """Returns the arguments bash passes to curl for `command` (curl replaced by a printer)."""
    assert command.startswith("curl ")
    script = 'curl() { printf "%s\\0" "$@"; }\n' + command
    out = subprocess.run(
        ["bash", "-c", script], capture_output=True, check=True, env={"API_KEY": api_key, "PATH": "/usr/bin:/bin"}
    ).stdout
    return out.decode().split("\0")[:-1]


pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash to expand the commands")


def test_curl_quotes_a_body_with_a_single_quote_so_bash_sends_it_unchanged() -> None:
    body = '{"customer": "O\'Brien", "note": "$HOME `id` \\\\ !x"}'
    command = curl_command(_finding(method="POST", body=body, headers={"Content-Type": "application/json"}))
    argv = _argv_in_bash(command)
    assert argv[argv.index("--data-binary") + 1] == body
    assert argv[argv.index("-X") + 1] == "POST"
    assert "Content-Type: application/json" in argv


def test_curl_writes_the_redacted_key_as_api_key_in_double_quotes() -> None:
    command = curl_command(_finding(headers={"Authorization": "Bearer [REDACTED]"}))
    assert '-H "Authorization: Bearer $API_KEY"' in command
    assert "[REDACTED]" not in command
    assert "Authorization: Bearer sk-secret" in _argv_in_bash(command)


def test_curl_expands_the_key_in_a_query_string_and_keeps_the_rest_literal() -> None:
    url = "http://127.0.0.1:8123/v1/orders?api_key=[REDACTED]&q=$(rm -rf x)'"
    argv = _argv_in_bash(curl_command(_finding(url=url)))
    assert "http://127.0.0.1:8123/v1/orders?api_key=sk-secret&q=$(rm -rf x)'" in argv


def test_curl_braces_the_key_when_a_name_character_follows() -> None:
    command = curl_command(_finding(headers={"X-Key": "[REDACTED]_v2"}))
    assert "${API_KEY}_v2" in command
    assert "X-Key: sk-secret_v2" in _argv_in_bash(command)


def test_curl_leaves_out_headers_curl_sets_itself() -> None:
    command = curl_command(
        _finding(headers={"Host": "x", "Content-Length": "3", "Accept-Encoding": "gzip", "Accept": "application/json"})
    )
    argv = _argv_in_bash(command)
    assert argv == ["-sS", "-i", "http://127.0.0.1:8123/v1/x", "-H", "Accept: application/json"]


def test_curl_uses_head_for_head_requests() -> None:
    assert _argv_in_bash(curl_command(_finding(method="HEAD")))[:3] == ["-sS", "-i", "--head"]


def test_curl_is_empty_when_the_finding_has_no_request() -> None:
    assert curl_command({"rule": "rate-limit.headers", "request": None}) == ""
