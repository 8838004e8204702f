"""Shared fixtures of the project's own tests."""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from typing import Any

import pytest
import schemathesis

from conformance.specfiles import load_spec


@cache
def openapi_schema(api: str) -> Any:
    """Returns the Schemathesis schema of a bundled spec (for response validation)."""
    return schemathesis.openapi.from_dict(load_spec(api))


def assert_conforms(api: str, path: str, method: str, response: Any) -> None:
    """Fails unless `response` (httpx/requests) has a documented status and matches its schema.

    `path` is the spec's path template, e.g. "/products/{product_id}".
    """
    operation = openapi_schema(api)[path][method.upper()]
    documented = {str(code) for code in operation.definition.raw.get("responses", {})}
    status = str(response.status_code)
    assert status in documented or f"{status[0]}XX" in documented or "default" in documented, (
        f"{method} {path}: status {status} is not documented (documented: {sorted(documented)})"
    )
    operation.validate_response(response)


@pytest.fixture
def sandbox_factory() -> Iterator[Any]:
    """Starts sandboxes on free loopback ports; all stop when the test ends.

    Example: `sandbox = sandbox_factory("goat", faults=["errors.envelope"])`.
    """
    from contextlib import ExitStack

    from conformance.sandbox.runner import running_sandbox

    with ExitStack() as stack:
        yield lambda api, **options: stack.enter_context(running_sandbox(api, **options))
