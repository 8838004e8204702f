"""Setup mistakes are setup errors: one line and exit 2 (4 in the pytest route), not findings about the server.

A wrong key once gave 42 findings on storefront; goat without `/v1`, 38; another API's server, 46.
The pre-flight probe (conformance/preflight.py) tells them apart with a handful of requests, in
`conformance run` and in `pytest --pyargs conformance.suite` alike.
"""

from __future__ import annotations

import http.server
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.cli import main
from conformance.preflight import preflight
from conformance.profile import load_profile
from conformance.sandbox.runner import RunningSandbox, running_sandbox
from tests.commands import PYTEST_ROUTE_GOAT

GUARD_S = 60


@pytest.fixture(scope="module")
def goat() -> Iterator[RunningSandbox]:
    with running_sandbox("goat") as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def storefront() -> Iterator[RunningSandbox]:
    with running_sandbox("storefront") as sandbox:
        yield sandbox


def fails_with(capsys: pytest.CaptureFixture[str], argv: list[str], expected: str) -> str:
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert expected in err and len(err.strip().splitlines()) == 1, out + err
    assert "FAIL" not in out and "Traceback" not in err
    return err


def test_a_refused_key_is_one_line_not_findings(
    capsys: pytest.CaptureFixture[str], goat: RunningSandbox, storefront: RunningSandbox
) -> None:
    fails_with(
        capsys,
        ["run", "goat", "--base-url", goat.base_url, "--api-key", "wrong-key"],
        "error: the key was refused (401 on GET /me, 401 on GET /products)",
    )
    fails_with(
        capsys,
        ["run", "storefront", "--base-url", storefront.base_url, "--api-key", "wrong-key"],
        "error: the key was refused (401 on GET /users, 401 on GET /products)",
    )


def test_a_refused_key_for_the_embedded_sandbox_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "goat", "--api-key", "x"]) == 2
    out, err = capsys.readouterr()
    assert "the key was refused (401 on GET /me" in err and "FAIL" not in out and "INTERNALERROR" not in err


def test_a_base_url_without_its_path_suggests_the_path(
    capsys: pytest.CaptureFixture[str], goat: RunningSandbox
) -> None:
    root = goat.base_url.removesuffix("/v1")
    fails_with(
        capsys,
        ["run", "goat", "--base-url", root, "--api-key", goat.api_key],
        f"error: no documented goat route answers at {root} (404 on GET /health, GET /me); "
        f"it answers at {root}/v1: pass --base-url {root}/v1",
    )


def test_another_apis_server_is_one_line(
    capsys: pytest.CaptureFixture[str], goat: RunningSandbox, storefront: RunningSandbox
) -> None:
    fails_with(
        capsys,
        ["run", "goat", "--base-url", storefront.base_url, "--api-key", goat.api_key],
        "is this the goat server? check --base-url",
    )
    fails_with(
        capsys,
        ["run", "storefront", "--base-url", goat.base_url, "--api-key", storefront.api_key],
        f"error: no documented storefront route answers at {goat.base_url} (404 on GET /users, GET /logs)",
    )


class _Fixed(http.server.BaseHTTPRequestHandler):
    """Answers every request with the server's `status`, and counts them."""

    def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
        self.server.seen += 1  # type: ignore[attr-defined]
        body = b'{"error": {"code": "x", "message": "x"}}'
        self.send_response(self.server.status)  # type: ignore[attr-defined]
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.parametrize("status", [404, 401])
def test_the_probe_costs_a_handful_of_requests(status: int) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Fixed)
    server.status, server.seen = status, 0  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        for api in ("goat", "storefront", "retailcrm", "gaming-goods"):
            server.seen = 0  # type: ignore[attr-defined]
            problem = preflight(load_profile(api), url, "some-key", 2.0)
            assert problem is not None and ("refused" in problem.message or "no documented" in problem.message)
            assert 1 <= server.seen <= 5, (api, server.seen)  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()


# --- the pytest route: the same guards, pytest's usage-error code ---------------------------------------


def pytest_route(*argv: str, key: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CONFORMANCE_API_KEY" and not k.lower().endswith("_proxy")}
    if key:
        env["CONFORMANCE_API_KEY"] = key
    command = list(PYTEST_ROUTE_GOAT)
    return subprocess.run(
        [*command, *argv], capture_output=True, text=True, timeout=GUARD_S, env=env, cwd=Path(__file__).parent
    )


@pytest.mark.parametrize(
    ("argv", "key", "expected"),
    [
        (["--base-url", "http://127.0.0.1:9/v1"], None, "goat needs an API key; set CONFORMANCE_API_KEY"),
        (["--base-url", "http://127.0.0.1:9/v1"], "k", "target unusable: GET http://127.0.0.1:9/v1/"),
        (["--base-url", "127.0.0.1:9/v1"], "k", "is not an http(s) URL with a host"),
        (["--conformance-api-key", "x"], None, "the key was refused (401 on GET /me"),
    ],
    ids=["no-key", "unreachable", "no-scheme", "refused-key"],
)
def test_the_pytest_route_has_the_same_guards(argv: list[str], key: str | None, expected: str) -> None:
    done = pytest_route(*argv, key=key)
    output = done.stdout + done.stderr
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, output
    assert expected in done.stderr and "Traceback" not in output and "def " not in output
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("ERROR: ") and not lines[0].startswith("ERROR: error"), done.stderr


def test_the_pytest_route_without_an_api_is_one_usage_line() -> None:
    """Without --conformance-api every suite module once failed to collect with a traceback (exit 2)."""
    argv = [arg for arg in PYTEST_ROUTE_GOAT if arg not in ("--conformance-api", "goat")]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=GUARD_S, cwd=Path(__file__).parent)
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, done.stdout + done.stderr
    assert "conformance.suite needs --conformance-api API" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr


def test_the_pytest_route_refuses_an_unknown_rule_as_the_cli_does() -> None:
    done = subprocess.run(
        [*PYTEST_ROUTE_GOAT, "--conformance-rule", "pagination.complet"],
        capture_output=True,
        text=True,
        timeout=GUARD_S,
        cwd=Path(__file__).parent,
    )
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, done.stdout + done.stderr
    assert "unknown rule id 'pagination.complet'; did you mean 'pagination.complete'?" in done.stderr


def test_a_malformed_keyword_expression_is_said_once(capsys: pytest.CaptureFixture[str]) -> None:
    """pytest names the syntax error; 'nothing was tested ... widen the selection' would mislead."""
    assert main(["run", "goat", "-k", "bad syntax(", "-q"]) == 2
    err = capsys.readouterr().err
    assert "Wrong expression passed to '-k'" in err and "nothing was tested" not in err


def test_the_refused_key_message_names_the_routes_own_option() -> None:
    done = pytest_route(key="not-the-key")
    assert "check --conformance-api-key or CONFORMANCE_API_KEY" in done.stderr, done.stderr
