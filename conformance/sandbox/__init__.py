"""Sandbox servers: a conforming reference implementation of each API, plus faults.

Each API package (`conformance.sandbox.<module>`, the slug with `-` as `_`) provides:

- `BASE_PATH`: the path the API is served under (`/v1`, `/api/v1`, ...);
- `KEYS`: role -> demo key (`"full"` always; `"limited"` where the API has permissions);
- `FAULTS`: fault name -> what breaks; fault names are rule ids (`conformance.rules`);
- `VARIATIONS`: variation name -> a reasonable behaviour the documents leave open, which the
  suite must not flag (the mirror of FAULTS: the self-test requires zero findings on each);
- `DEFAULT_RATE_LIMIT`: (requests, window seconds) the sandbox enforces and advertises;
- `create_app(settings: SandboxSettings) -> Starlette`: a fresh app, its state on `app.state`;
- `summary(app) -> str`: one line about the seed data, printed at start.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

__all__ = ["SANDBOXES", "load_sandbox"]

# Every sub-package here is the sandbox of the API its name spells (`gaming_goods` serves `gaming-goods`):
# a new sandbox is a new folder, listed nowhere else.
SANDBOXES = {
    module.name.replace("_", "-"): f"{__name__}.{module.name}"
    for module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name)
    if module.ispkg
}


def load_sandbox(api: str) -> ModuleType:
    """Returns the sandbox module of `api`; a KeyError names the closest slug."""
    if api not in SANDBOXES:
        import difflib

        close = difflib.get_close_matches(api, SANDBOXES, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(SANDBOXES)}"
        raise KeyError(f"unknown API {api!r}{hint}")
    return importlib.import_module(SANDBOXES[api])
