"""A real third-party server: Datasette, checked against a spec written from its documentation.

Nothing here was written for the suite: `datasette serve` (PyPI `datasette` 0.65) serves a SQLite file
the test generates, and `conformance run --spec examples/datasette/datasette.yaml` must find nothing
(keyset pagination by `next` and by Link header, JSON errors, a public API). A finding here is either a
real deviation from Datasette's docs or a false alarm of ours; both need a person to look.
"""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conformance.cli import main

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "examples" / "datasette" / "datasette.yaml"
ROWS = 2345  # three pages at the largest page size (1000), 24 at the default (100)
# A fixed seed, so that a finding can be reproduced (`conformance run ... --seed 981855719`). This one once gave a
# false schema.negative-data: `?_size=&_size=K…` (a repeated parameter, first value empty) answered 200.
SEED = 981855719

pytestmark = pytest.mark.slow


def make_shop(path: Path) -> None:
    """The `items` table the example spec describes; every seventh price is NULL."""
    with sqlite3.connect(path) as db:
        db.execute("create table items (id integer primary key, name text not null, price real)")
        db.executemany(
            "insert into items (name, price) values (?, ?)",
            [(f"item {i}", None if i % 7 == 0 else round(i * 1.25, 2)) for i in range(1, ROWS + 1)],
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def datasette(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`datasette serve shop.db` on a free loopback port; yields its base URL."""
    folder = tmp_path_factory.mktemp("datasette")
    make_shop(folder / "shop.db")
    port = free_port()
    log = (folder / "datasette.log").open("w")
    command = [sys.executable, "-m", "datasette", "serve", "shop.db", "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(command, cwd=folder, stdout=log, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(base_url + "/-/versions.json", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"datasette did not start: {(folder / 'datasette.log').read_text()}")
            time.sleep(0.2)
        yield base_url
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def test_the_example_spec_is_valid() -> None:
    assert main(["specs", str(SPEC)]) == 0


def test_datasette_conforms_to_its_documentation(
    datasette: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["run", "--spec", str(SPEC), "--base-url", datasette, "--report-dir", str(tmp_path), "-q"]
    code = main([*argv, "--seed", str(SEED)])
    out, err = capsys.readouterr()
    result = json.loads((tmp_path / "datasette.json").read_text(encoding="utf-8"))
    assert code == 0, out + err
    assert result["findings"] == []
    assert (tmp_path / "datasette.html").is_file()
    passed = {(c["rule"], c["test"].split("::")[1]) for c in result["checks"] if c["outcome"] == "passed"}
    # the walks really ran, in both pagination styles of listItems (by `next`, and by Link header)
    for rule in ("pagination.complete", "pagination.last-page", "pagination.default-limit", "pagination.max-limit"):
        tests = {test for r, test in passed if r == rule}
        assert len(tests) == 2, f"{rule}: {sorted(tests)}"
    assert {("errors.not-found", "test_not_found[getItem]"), ("errors.unknown-route", "test_unknown_route")} <= passed
    assert {test for r, test in passed if r == "auth.public-operations"} == {
        f"test_public_operation[{op}]" for op in ("listDatabases", "getVersions", "getDatabase", "listItems", "getItem")
    }
    assert "needs an API key" not in out + err


def test_a_page_size_datasette_does_not_clamp_is_found(datasette: str, tmp_path: Path) -> None:
    """The other direction against the same server: a profile promising a default of 50 rows is wrong."""
    import yaml

    spec = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    spec["x-conformance"]["pagination"][0]["limit"]["default"] = 50
    wrong = tmp_path / "datasette-wrong.yaml"
    wrong.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    code = main(["run", "--spec", str(wrong), "--base-url", datasette, "--rule", "pagination.default-limit", "-q"])
    assert code == 1


def test_init_then_run_reaches_a_report(datasette: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The user's path with the CLI alone: draft a profile for the bare spec, then run its pagination checks."""
    import yaml

    spec = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    del spec["x-conformance"]
    bare, drafted = tmp_path / "bare.yaml", tmp_path / "drafted.yaml"
    bare.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    assert main(["init", str(bare), "--output", str(drafted)]) == 0
    argv = ["run", "--spec", str(drafted), "--base-url", datasette, "--report-dir", str(tmp_path / "out"), "-q"]
    code = main([*argv, "--rule", "pagination.no-duplicates", "--rule", "pagination.last-page"])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert (tmp_path / "out" / "datasette-json-api.html").is_file()
