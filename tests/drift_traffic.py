"""Recording sandbox traffic as HAR 1.2 and NDJSON, for the drift tests and the benchmark.

The sandbox runs in-process (Starlette's TestClient): recording needs no server socket either.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from starlette.testclient import TestClient

from conformance.sandbox import load_sandbox
from conformance.sandbox.base import SandboxSettings

__all__ = ["Recorder", "goat_script", "storefront_script", "write_har", "write_ndjson"]


class Recorder:
    """A TestClient on a sandbox that keeps every exchange it makes."""

    def __init__(self, api: str, *faults: str) -> None:
        module = load_sandbox(api)
        settings = SandboxSettings(faults=frozenset(faults))
        self.keys: dict[str, str] = dict(module.KEYS)
        base_url = f"http://testserver{module.BASE_PATH.rstrip('/')}"
        self.client = TestClient(module.create_app(settings), base_url=base_url, raise_server_exceptions=False)
        self.entries: list[dict[str, Any]] = []

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        started = time.time()
        response = self.client.request(method, path, **kwargs)
        took = time.time() - started
        self.entries.append(_entry(response, started, took))
        return response


def _entry(response: httpx.Response, started: float, took: float) -> dict[str, Any]:
    request = response.request
    body = request.content
    entry: dict[str, Any] = {
        "startedDateTime": datetime.fromtimestamp(started, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z"),
        "time": round(took * 1000, 3),
        "request": {
            "method": request.method,
            "url": str(request.url),
            "httpVersion": "HTTP/1.1",
            "headers": [{"name": k, "value": v} for k, v in request.headers.multi_items()],
            "queryString": [{"name": k, "value": v} for k, v in request.url.params.multi_items()],
            "cookies": [],
            "headersSize": -1,
            "bodySize": len(body),
        },
        "response": {
            "status": response.status_code,
            "statusText": response.reason_phrase,
            "httpVersion": "HTTP/1.1",
            "headers": [{"name": k, "value": v} for k, v in response.headers.multi_items()],
            "cookies": [],
            "content": {
                "size": len(response.content),
                "mimeType": response.headers.get("content-type", ""),
                "text": response.text,
            },
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": len(response.content),
        },
        "cache": {},
        "timings": {"send": 0, "wait": round(took * 1000, 3), "receive": 0},
    }
    if body:
        entry["request"]["postData"] = {"mimeType": request.headers.get("content-type", ""), "text": body.decode()}
    return entry


def write_har(entries: list[dict[str, Any]], path: Path) -> Path:
    har = {
        "log": {
            "version": "1.2",
            "creator": {"name": "api-conformance tests", "version": "1"},
            "pages": [],
            "entries": entries,
        }
    }
    path.write_text(json.dumps(har, indent=1), encoding="utf-8")
    return path


def write_ndjson(entries: list[dict[str, Any]], path: Path) -> Path:
    """The same exchanges in the NDJSON format of docs/drift.md (bodies base64 where asked, to cover both)."""
    with path.open("w", encoding="utf-8") as handle:
        for number, entry in enumerate(entries):
            request, response = entry["request"], entry["response"]
            text = response["content"].get("text", "")
            record: dict[str, Any] = {
                "time": entry["startedDateTime"],
                "duration_ms": entry["time"],
                "request": {
                    "method": request["method"],
                    "url": request["url"],
                    "headers": [[h["name"], h["value"]] for h in request["headers"]],
                    "body": (request.get("postData") or {}).get("text"),
                },
                "response": {
                    "status": response["status"],
                    "headers": {h["name"]: h["value"] for h in response["headers"]},
                },
            }
            if number % 2:
                record["response"]["body_base64"] = base64.b64encode(text.encode()).decode()
            else:
                record["response"]["body"] = text
            handle.write(json.dumps(record) + "\n")
    return path


def goat_script(recorder: Recorder) -> None:
    """A session of goat traffic: a list walked to its end, reads, errors, creates and their replays."""
    full = {"Authorization": f"Bearer {recorder.keys['full']}"}
    go: Callable[..., httpx.Response] = recorder.request
    go("GET", "/health")
    go("GET", "/me", headers=full)
    go("GET", "/me")  # no credentials: 401
    cursor = None
    first_product = None
    for _ in range(20):
        params = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        page = go("GET", "/products", headers=full, params=params)
        if page.status_code != 200:
            break
        data = page.json()
        first_product = first_product or (data["data"][0]["id"] if data["data"] else None)
        cursor = data.get("next_cursor")
        if not cursor:
            break
    go("GET", "/products", headers=full, params={"limit": 5, "category": "games"})
    go("GET", "/products", headers=full, params={"limit": 150})  # above the maximum: 400 or at most 100
    go("GET", "/products", headers=full, params={"category": "Board-Games"})  # no such category: an empty page
    if first_product:
        go("GET", f"/products/{first_product}", headers=full)
    go("GET", "/products/prod_ZZZZZZZZZZ", headers=full)  # 404
    go("GET", "/products", headers=full, params={"limit": "abc"})  # 400
    body = {
        "product_id": first_product,
        "quantity": 1,
        "customer": {"external_id": "user_1", "contact": "customer@example.com"},
    }
    created = go("POST", "/orders", headers={**full, "Idempotency-Key": "drift-key-1"}, json=body)
    go("POST", "/orders", headers={**full, "Idempotency-Key": "drift-key-1"}, json=body)  # replay
    go("POST", "/orders", headers={**full, "Idempotency-Key": "drift-key-1"}, json={**body, "quantity": 2})  # conflict
    go("POST", "/orders", headers=full, json=body)  # no key: 400
    if created.status_code in (200, 201):
        order = created.json()
        go("GET", f"/orders/{order['id']}", headers=full)
        if order.get("payment_id"):
            go("GET", f"/payments/{order['payment_id']}", headers=full)
    for _ in range(3):
        go("GET", "/me", headers=full)


def storefront_script(recorder: Recorder) -> None:
    """A session of storefront traffic: offset lists walked to their end, a read and an error."""
    full = {"Authorization": f"Bearer {recorder.keys['full']}"}
    for path in ("/products", "/users"):
        offset = 0
        for _ in range(50):
            page = recorder.request("GET", path, headers=full, params={"limit": 100, "offset": offset})
            if page.status_code != 200 or len(page.json()) < 100:
                break
            offset += 100
    recorder.request("GET", "/products/nope", headers=full)
    recorder.request("GET", "/products", headers=full, params={"limit": 10})  # no offset: X-Offset still due
    recorder.request("GET", "/products", params={"limit": 10})  # no credentials: 401
    recorder.request("GET", "/logs", headers=full, params={"level": "error", "limit": 5})
    recorder.request("GET", "/products", headers=full, params={"limit": 500})
