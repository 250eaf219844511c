"""The catalog served for tests, two ways: ``t4 catalog serve`` in its own process (as a team
runs it; its log in a file), or the app under uvicorn with the same settings in a thread of
the test process; and the folder buckets and checks the catalog tests share."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import uvicorn
from cli import T4

import t4
from t4.catalog import create_app
from t4.catalog.serve import server_config

__all__ = [
    "THOR",
    "TOKEN",
    "CatalogThread",
    "Served",
    "answers_good_query",
    "isolated_env",
    "keys",
    "lake",
    "serve",
]


class CatalogThread:
    """``create_app(buckets, **options)`` under uvicorn until ``stop()``; ``url`` is its base.

    Example:
        >>> with CatalogThread(["./lake"]) as server:  # doctest: +SKIP
        ...     requests.get(server.url + "/config.json")
    """

    def __init__(
        self, buckets: Sequence[str | t4.Bucket], header_seconds: float | None = None,
        **options: Any,
    ):  # fmt: skip
        self.app = create_app(buckets, **options)
        self.catalog = self.app.state.catalog
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self.server = uvicorn.Server(server_config(self.app, header_seconds=header_seconds))
        self._thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    def start(self) -> CatalogThread:
        self._thread.start()
        # Started: the lifespan (indexing at start) has run and the socket listens.
        while not self.server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the catalog server did not start (see the log)")
            self._thread.join(0.05)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=30)
        self._sock.close()

    def __enter__(self) -> CatalogThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


TOKEN = "catalog-test-token-0123456789abcdef"


@dataclass
class Served:
    url: str
    proc: subprocess.Popen[str]
    log: Path

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        assert self.proc.wait(timeout=30) == 0

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def isolated_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment a served catalog gets: no AWS settings, t4's settings and caches in
    ``home`` (module-scoped servers start before the per-test isolation applies)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "T4_"))}
    env.update(T4_CONFIG_DIR=str(home / "config"), T4_CACHE_DIR=str(home / "cache"), **extra)
    return env


def serve(*args: str, home: Path, env: dict[str, str] | None = None) -> Served:
    """``t4 catalog serve --json --port 0 ARGS``, once it answers (its first line says where)."""
    log = home / "catalog.log"
    with log.open("w") as err:
        proc = subprocess.Popen(
            [T4, "catalog", "serve", "--json", "--port", "0", *args],
            env=env or isolated_env(home), stdout=subprocess.PIPE, stderr=err, text=True,
        )  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline()  # written once the indexes are up and the port listens
    assert line, f"the catalog did not start: {log.read_text()}"
    return Served(json.loads(line)["url"], proc, log)


def lake(root: Path, name: str) -> Path:
    """A folder bucket with three objects; ``thor`` finds two of them."""
    folder = root / name
    folder.mkdir()
    with t4.Bucket(folder) as bucket:
        bucket.put("heroes/thor.json", {"weapon": "hammer"}, meta={"name": "thor"})
        bucket.put("heroes/loki.json", {"weapon": "tricks"}, meta={"name": "loki"})
        bucket.put("notes/readme.md", "the mighty thor of asgard")
    return folder


THOR = {"heroes/thor.json", "notes/readme.md"}


def keys(answer: dict) -> set[str]:  # type: ignore[type-arg]
    return {hit["_id"] for hit in answer["hits"]["hits"]}


def answers_good_query(url: str, headers: dict[str, str] | None = None) -> None:
    """The server still answers a good query with the right hits."""
    found = requests.get(f"{url}/alpha/_search", params={"q": "thor"}, headers=headers,
                         timeout=10)  # fmt: skip
    assert found.status_code == 200, found.text
    assert keys(found.json()) == THOR
