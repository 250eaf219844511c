"""The catalog when things go wrong inside it: an internal failure is a 500 logged with its
traceback (and the next query is answered), and a refresh holding the index's write lock in
another process never blocks a search."""

from __future__ import annotations

import logging
import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from catalog_server import THOR, CatalogThread, answers_good_query, keys, lake
from cli import assert_one_line_error
from cli import t4 as run_t4
from servers import S3Server

from t4.catalog import inputs
from t4.search.sqlite_index import EmbeddedIndex

MB = 1024 * 1024


def test_internal_failure_is_500_logged_with_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    folder = lake(tmp_path, "alpha")
    with CatalogThread([str(folder)], refresh=0) as server:
        real = EmbeddedIndex._run

        def broken(self: EmbeddedIndex, *args: object) -> list[object]:
            raise sqlite3.DatabaseError("database disk image is malformed")

        monkeypatch.setattr(EmbeddedIndex, "_run", broken)
        with caplog.at_level(logging.ERROR):
            answer = requests.get(f"{server.url}/alpha/_search", params={"q": "thor"}, timeout=10)
        assert answer.status_code == 500
        payload = answer.json()
        assert payload["status"] == 500 and payload["error"]["type"] == "internal_server_error"
        assert "DatabaseError" in payload["error"]["reason"]
        assert "malformed" not in payload["error"]["reason"]  # the details are in the log
        logged = [r for r in caplog.records if r.exc_info]
        assert logged and "disk image is malformed" in str(logged[0].exc_info[1])
        monkeypatch.setattr(EmbeddedIndex, "_run", real)
        answers_good_query(server.url)


_WRITER = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("PRAGMA busy_timeout = 30000")
db.execute("BEGIN IMMEDIATE")
db.execute("DELETE FROM docs")  # mid-refresh: rows changing, nothing committed yet
print("holding", flush=True)
sys.stdin.readline()
db.execute("ROLLBACK")
"""


def test_a_write_in_progress_elsewhere_never_blocks_a_search(tmp_path: Path) -> None:
    folder = lake(tmp_path, "alpha")
    with CatalogThread([str(folder)], refresh=0) as server:
        path = server.catalog.buckets["alpha"].index_path
        writer = subprocess.Popen([sys.executable, "-c", _WRITER, str(path)], text=True,
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE)  # fmt: skip
        try:
            assert writer.stdout is not None and writer.stdout.readline() == "holding\n"
            started = time.monotonic()
            found = requests.get(f"{server.url}/alpha/_search", params={"q": "thor"}, timeout=10)
            assert time.monotonic() - started < 2.0
            assert keys(found.json()) == THOR  # the last committed state
        finally:
            assert writer.stdin is not None
            writer.stdin.write("\n")
            writer.stdin.close()
            writer.wait(timeout=30)
        answers_good_query(server.url)


def test_without_the_catalog_extra_serve_says_how_to_install(tmp_path: Path) -> None:
    shadow = tmp_path / "shadow" / "uvicorn"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('No module named uvicorn')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(shadow.parent), *filter(None, [os.environ.get("PYTHONPATH")])])}  # fmt: skip
    result = run_t4("catalog", "serve", "-b", str(lake(tmp_path, "alpha")), "--port", "0", env=env)
    assert_one_line_error(result, "catalog extra", "pip install 't4flows[catalog]'")


def _closed_within(sock: socket.socket, seconds: float) -> bytes:
    """What the server sends before it closes the connection; fails if it stays open."""
    sock.settimeout(seconds)
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def test_stalled_clients_are_timed_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Headers that never finish: the connection is closed after the header deadline; a body
    that never finishes: a 408. Neither holds its connection for ever."""
    monkeypatch.setattr(inputs, "BODY_SECONDS", 0.5)
    folder = lake(tmp_path, "alpha")
    with CatalogThread([str(folder)], refresh=0, header_seconds=0.5) as server:
        host, port = server.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port))) as headers_cut:
            headers_cut.sendall(b"GET /alpha/_search HTTP/1.1\r\nHost: x\r\nAcc")
            assert _closed_within(headers_cut, 10) == b""
        with socket.create_connection((host, int(port))) as idle:
            assert _closed_within(idle, 10) == b""  # connected, never a byte
        with socket.create_connection((host, int(port))) as body_cut:
            body_cut.sendall(b"POST /alpha/_search HTTP/1.1\r\nHost: x\r\n"
                             b"Content-Length: 100\r\n\r\n{")  # fmt: skip
            answer = _closed_within(body_cut, 10)
            assert answer.startswith(b"HTTP/1.1 408") and b"request_timeout" in answer
        answers_good_query(server.url)  # a keep-alive client answered in time is not cut


def _status_becomes(url: str, body: bytes, status: int, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while True:
        answer = requests.post(url, data=body, timeout=30)
        if answer.status_code == status:
            return
        assert time.monotonic() < deadline, f"still {answer.status_code}: {answer.text[:200]}"
        time.sleep(0.05)  # polling with a deadline


def test_bodies_held_at_once_are_bounded(tmp_path: Path) -> None:
    """Memory stays bounded: past the body budget, a request is a 429 until others let go
    (here a client that sent 5 MiB of a body and stalled, then went away)."""
    folder = lake(tmp_path, "alpha")
    with CatalogThread([str(folder)], refresh=0) as server:
        server.app.state.body_budget = inputs.BodyBudget(8 * MB)
        url = f"{server.url}/alpha/_search"
        host, port = server.url.removeprefix("http://").split(":")
        four = b"x" * (4 * MB)  # not JSON: a 400 when it fits, a 429 when it does not
        with socket.create_connection((host, int(port))) as holder:
            holder.sendall(b"POST /alpha/_search HTTP/1.1\r\nHost: x\r\n"
                           b"Content-Length: 6291456\r\n\r\n" + b" " * (5 * MB))  # fmt: skip
            budget = server.app.state.body_budget
            deadline = time.monotonic() + 30
            while budget.held < 5 * MB:  # the server has read what the stalled client sent
                assert time.monotonic() < deadline
                time.sleep(0.02)
            _status_becomes(url, four, 429)
            answer = requests.post(url, data=four, timeout=30)
            assert answer.json()["error"]["type"] == "es_rejected_execution_exception"
        _status_becomes(url, four, 400)  # the stalled client left: its bytes were given back
        assert server.app.state.body_budget.held == 0
        answers_good_query(server.url)


def test_a_bucket_that_cannot_be_indexed_fails_serve_with_its_error(s3_env: S3Server) -> None:
    result = run_t4("catalog", "serve", "-b", "s3://no-such-catalog-bucket", "--port", "0")
    assert result.returncode == 1 and result.stdout == ""  # never said it was serving
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("t4: error: ") and "no-such-catalog-bucket" in last, result.stderr
