"""Serving the catalog app with uvicorn, as ``t4 catalog serve`` does: the bind check and the
server's limits in one place.

Limits (uvicorn's): a listen backlog of ``BACKLOG`` (a burst of clients queues, never
resets); at most ``LIMIT_CONCURRENCY`` connections and requests at once (past it, a 503);
idle keep-alive connections closed after ``KEEP_ALIVE`` seconds; request headers of at most
``MAX_HEADER_BYTES`` buffered per connection, and complete within ``HEADER_SECONDS`` of the
connection (or of the previous answer), else the connection is closed (uvicorn has no such
timeout of its own: without one, stalled clients could fill ``LIMIT_CONCURRENCY``). A body
must arrive within ``t4.catalog.inputs.BODY_SECONDS`` (else a 408). A client that stalls
half-way through a request holds one connection and no thread: the others are answered
meanwhile.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Callable

import uvicorn
from starlette.applications import Starlette
from uvicorn.protocols.http.h11_impl import H11Protocol

from t4.errors import ConfigError

__all__ = ["BACKLOG", "LIMIT_CONCURRENCY", "Server", "check_bind", "server_config"]

BACKLOG = 2048
LIMIT_CONCURRENCY = 1000
KEEP_ALIVE = 5
MAX_HEADER_BYTES = 64 * 1024
GRACEFUL_SHUTDOWN = 10
HEADER_SECONDS = 10.0


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) only ever binds the local machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, None)
        except OSError:
            return False
        return bool(infos) and all(ipaddress.ip_address(info[4][0]).is_loopback for info in infos)


def check_bind(host: str, token: str | None, insecure: bool) -> None:
    """Refuse to serve beyond the machine without a token, unless told ``insecure``.

    Raises:
        ConfigError: ``host`` is not a loopback address and there is no token.
    """
    if token or insecure or is_loopback(host):
        return
    raise ConfigError(
        f"refusing to serve the catalog on {host} without a token: anyone who can reach it "
        "could search it. Set --token (or T4_CATALOG_TOKEN), bind to 127.0.0.1 behind a "
        "proxy, or pass --insecure to serve it open anyway"
    )


class HeaderDeadline(H11Protocol):
    """uvicorn's h11 protocol, closing a connection whose request headers are not complete
    within ``header_seconds`` of the connection or of the previous answer (slowloris)."""

    header_seconds = HEADER_SECONDS

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._deadline: asyncio.TimerHandle | None = None
        self._arm()

    def _waiting_for_headers(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def _arm(self) -> None:
        if self._deadline is None:
            self._deadline = self.loop.call_later(self.header_seconds, self._overdue)

    def _overdue(self) -> None:
        self._deadline = None
        if self._waiting_for_headers() and not self.transport.is_closing():
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self._waiting_for_headers():
            self._arm()
        super().data_received(data)
        if not self._waiting_for_headers() and self._deadline is not None:
            self._deadline.cancel()  # the headers are in: the app's own limits take over
            self._deadline = None

    def connection_lost(self, exc: Exception | None) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        super().connection_lost(exc)


def server_config(
    app: Starlette, host: str = "127.0.0.1", port: int = 8080, header_seconds: float | None = None
) -> uvicorn.Config:
    """uvicorn's settings for the catalog (see the module for the limits)."""
    protocol = type("CatalogH11", (HeaderDeadline,),
                    {"header_seconds": header_seconds or HEADER_SECONDS})  # fmt: skip
    return uvicorn.Config(
        app,
        http=protocol,
        host=host,
        port=port,
        backlog=BACKLOG,
        limit_concurrency=LIMIT_CONCURRENCY,
        timeout_keep_alive=KEEP_ALIVE,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN,
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,
        lifespan="on",
        log_config=None,  # the caller's logging (the CLI sets it up)
        server_header=False,
    )


class Server(uvicorn.Server):
    """uvicorn's server, calling ``on_started`` once it answers (the lifespan has run: the
    indexes are up to date)."""

    def __init__(self, config: uvicorn.Config, on_started: Callable[[], None] | None = None):
        super().__init__(config)
        self._on_started = on_started

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and self._on_started is not None:
            self._on_started()
