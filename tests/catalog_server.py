"""The catalog app served by uvicorn, with the settings ``t4 catalog serve`` uses, on a free
loopback port in a thread of the test process: shared by the catalog tests."""

from __future__ import annotations

import socket
import threading
from collections.abc import Sequence
from typing import Any

import uvicorn

import t4
from t4.catalog import create_app
from t4.catalog.serve import server_config

__all__ = ["CatalogThread"]


class CatalogThread:
    """``create_app(buckets, **options)`` under uvicorn until ``stop()``; ``url`` is its base.

    Example:
        >>> with CatalogThread(["./lake"]) as server:  # doctest: +SKIP
        ...     requests.get(server.url + "/config.json")
    """

    def __init__(self, buckets: Sequence[str | t4.Bucket], **options: Any):
        self.app = create_app(buckets, **options)
        self.catalog = self.app.state.catalog
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self.server = uvicorn.Server(server_config(self.app))
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
