"""Serving the catalog app with uvicorn, as ``t4 catalog serve`` does: the bind check and the
server's limits in one place.

Limits (uvicorn's): a listen backlog of ``BACKLOG`` (a burst of clients queues, never
resets); at most ``LIMIT_CONCURRENCY`` connections and requests at once (past it, a 503);
idle keep-alive connections closed after ``KEEP_ALIVE`` seconds; request headers of at most
``MAX_HEADER_BYTES`` buffered per connection. A client that stalls half-way through a
request holds one connection and no thread: the others are answered meanwhile.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable

import uvicorn
from starlette.applications import Starlette

from t4.errors import ConfigError

__all__ = ["BACKLOG", "LIMIT_CONCURRENCY", "Server", "check_bind", "server_config"]

BACKLOG = 2048
LIMIT_CONCURRENCY = 1000
KEEP_ALIVE = 5
MAX_HEADER_BYTES = 64 * 1024
GRACEFUL_SHUTDOWN = 10


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


def server_config(app: Starlette, host: str = "127.0.0.1", port: int = 8080) -> uvicorn.Config:
    """uvicorn's settings for the catalog (see the module for the limits)."""
    return uvicorn.Config(
        app,
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
