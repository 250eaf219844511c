"""The catalog when things go wrong inside it: an index file that cannot be read is a 500
logged with its traceback (and the other indexes still answer), and a refresh holding the
index's write lock in another process never blocks a search."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from catalog_server import THOR, CatalogThread, answers_good_query, keys, lake
from cli import assert_one_line_error
from cli import t4 as run_t4
from servers import S3Server

import t4
from t4.catalog import inputs

MB = 1024 * 1024


def _truncate_wal(index: Path) -> None:
    """Cut the write-ahead log under the server: the pages it held cannot be read back."""
    with open(f"{index}-wal", "r+b") as wal:
        wal.truncate(0)


def _overwrite(index: Path) -> None:
    """Overwrite the index file with bytes that are no SQLite database."""
    size = index.stat().st_size
    with open(index, "r+b") as file:
        file.write(b"\xa5" * size)


@pytest.mark.parametrize("damage", [_truncate_wal, _overwrite], ids=["disk-io", "corrupt"])
def test_an_index_that_cannot_be_read_is_a_500_logged_naming_the_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, damage: Callable[[Path], None]
) -> None:
    """A real internal failure of the index file (SQLite's disk I/O error, a damaged file) is
    no bad query: a 500, logged with its traceback, the error naming the file and the fix;
    the other bucket's index still answers."""
    good, bad = lake(tmp_path, "alpha"), lake(tmp_path, "beta")
    with CatalogThread([str(good), str(bad)], refresh=0) as server:
        bucket = server.catalog.buckets["beta"]
        bucket.put("heroes/thor2.json", {"weapon": "axe"}, meta={"name": "thor"})  # WAL pages
        damage(bucket.index_path)
        with caplog.at_level(logging.ERROR):
            answer = requests.get(f"{server.url}/beta/_search", params={"q": "thor"}, timeout=10)
        assert answer.status_code == 500, answer.text
        payload = answer.json()
        assert payload["status"] == 500 and payload["error"]["type"] == "internal_server_error"
        assert "CacheError" in payload["error"]["reason"]
        assert str(bucket.index_path) not in payload["error"]["reason"]  # the log has it
        logged = [r.exc_info[1] for r in caplog.records if r.exc_info]
        assert logged and isinstance(logged[0], t4.CacheError), logged
        said = str(logged[0])
        assert f"cannot search the index {bucket.index_path}" in said and "t4 index" in said
        caplog.clear()
        with caplog.at_level(logging.ERROR):  # the web search page alike
            shown = requests.get(f"{server.url}/search", params={"index": "beta", "q": "thor"},
                                 timeout=10)  # fmt: skip
        assert shown.status_code == 500 and "CacheError" in shown.text, shown.text[-400:]
        assert str(bucket.index_path) not in shown.text
        assert any(isinstance(r.exc_info[1], t4.CacheError) for r in caplog.records if r.exc_info)
        answers_good_query(server.url)


def test_a_query_sqlite_refuses_is_a_400(tmp_path: Path) -> None:
    """Only what SQLite's full-text parser refuses (here a NUL in a word) is the query's
    fault."""
    with CatalogThread([str(lake(tmp_path, "alpha"))], refresh=0) as server:
        answer = requests.get(f"{server.url}/alpha/_search", params={"q": "th\x00or"}, timeout=10)
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"]["type"] == "query_shard_exception"
        assert "unterminated string" in answer.json()["error"]["reason"]
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


def test_serve_refuses_a_folder_that_does_not_exist_and_creates_nothing(tmp_path: Path) -> None:
    result = run_t4("catalog", "serve", "--bucket", "./does-not-exist", "--port", "0",
                    cwd=tmp_path)  # fmt: skip
    assert_one_line_error(result, f"no such folder {tmp_path / 'does-not-exist'}")
    assert list(tmp_path.iterdir()) == []
