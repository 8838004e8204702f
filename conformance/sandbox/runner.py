"""Starting a sandbox: on a free loopback port in a thread, or in the foreground."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn

from conformance.sandbox import load_sandbox
from conformance.sandbox.base import SandboxSettings

__all__ = ["RunningSandbox", "build_app", "running_sandbox"]


@dataclass(frozen=True)
class RunningSandbox:
    """A sandbox serving on loopback: where it is and which keys it accepts."""

    api: str
    base_url: str
    keys: dict[str, str]
    faults: frozenset[str]
    variations: frozenset[str] = frozenset()

    @property
    def api_key(self) -> str:
        return self.keys["full"]


def build_app(
    api: str,
    *,
    faults: Sequence[str] = (),
    rate_limit: tuple[int, float] | None = None,
    db: str | None = None,
    variations: Sequence[str] = (),
):  # type: ignore[no-untyped-def]
    """Returns (module, app) for `api`; an unknown fault or variation is a ValueError naming the known ones."""
    module = load_sandbox(api)
    for kind, asked, known in (("fault", faults, module.FAULTS), ("variation", variations, module.VARIATIONS)):
        unknown = sorted(set(asked) - set(known))
        if unknown:
            raise ValueError(f"unknown {kind} {unknown[0]!r} for {api}; known: {', '.join(sorted(known)) or 'none'}")
    settings = SandboxSettings(db=db, rate_limit=rate_limit, faults=frozenset(faults), variations=frozenset(variations))
    return module, module.create_app(settings)


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # the thread is not the main thread
        pass


@contextmanager
def running_sandbox(
    api: str,
    *,
    faults: Sequence[str] = (),
    rate_limit: tuple[int, float] | None = None,
    db: str | None = None,
    host: str = "127.0.0.1",
    variations: Sequence[str] = (),
) -> Iterator[RunningSandbox]:
    """Serves the sandbox of `api` on a free port of `host` while the block runs.

    Example::

        with running_sandbox("goat", faults=["pagination.no-duplicates"]) as sandbox:
            requests.get(sandbox.base_url + "/health")
    """
    module, app = build_app(api, faults=faults, rate_limit=rate_limit, db=db, variations=variations)
    # IPPROTO_TCP so that asyncio sets TCP_NODELAY on each connection (no 40 ms delayed-ACK stalls)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="error", access_log=False, lifespan="off", timeout_keep_alive=30)
    server = _Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"the {api} sandbox did not start")
        time.sleep(0.01)
    try:
        yield RunningSandbox(
            api=api,
            base_url=f"http://{host}:{port}{module.BASE_PATH.rstrip('/')}",
            keys=dict(module.KEYS),
            faults=frozenset(faults),
            variations=frozenset(variations),
        )
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        db_handle = getattr(app.state, "db", None)
        if db_handle is not None:
            db_handle.close()
