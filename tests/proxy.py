"""A small fault-injecting HTTP proxy for the tests, between boto3 and moto's server.

It listens on 127.0.0.1 only, forwards each request to the upstream server, and for a set
fraction of requests answers with a fault instead:

- ``500``: an S3 ``InternalError`` XML body with status 500;
- ``503``: S3's ``SlowDown`` XML body with status 503;
- ``reset``: the connection is closed with a TCP reset, no answer;
- ``stall``: nothing is sent until ``stall_seconds`` have passed (past the client's read
  timeout), then the connection is closed;
- ``truncate``: the request is forwarded, but the response body is cut short (the
  ``Content-Length`` promises more than is sent) and the connection closed;
- ``404`` (only when asked for by name, never among the random defaults): S3's
  ``NoSuchBucket`` XML body with status 404, as for a bucket deleted meanwhile;
- ``403`` (likewise only by name): S3's ``AccessDenied`` XML body with status 403, a
  permanent refusal.

``peak_in_flight`` is the most requests it was answering at once. ``kinds`` counts every
request by kind (``listing``, ``listing-page``, ``GET``, ``HEAD``,
``PUT``, ``POST``, ``DELETE``), for tests that pin how many requests an operation makes.

It is bounded: it serves at most ``max_requests`` requests and stops by itself after
``max_seconds``. ``fail_first`` faults the next N requests whatever the rate (for retry
tests); ``delay`` slows every request down (for the crash tests, which need an operation to
be mid-way when they kill it); ``drop_headers`` removes request headers, as a store that
ignores them would (``If-None-Match``, ``If-Match``: no conditional writes); ``bandwidth``
(bytes a second, per request) throttles every request body read and every answer body sent,
as a slow link would (for the interrupt tests, which need one large transfer to be
mid-way; ``counts["received"]`` is how many body bytes it has read of them). ``dropped``
counts the requests whose client hung up before its answer was all sent (a cancelled GET).
``headers_seen`` counts request header names by method (``"PUT x-amz-trailer"``).
"""

from __future__ import annotations

import contextlib
import http.client
import random
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import parse_qs, urlparse

__all__ = ["FAULTS", "FaultProxy"]

FAULTS = ("500", "503", "reset", "stall", "truncate")
_ON_REQUEST = ("404", "403")  # not a transient fault: only where a test names it

#: Throttled bodies move in slices this large.
_SLICE = 64 * 1024

_XML = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
    "<Message>{message}</Message><RequestId>fault-proxy</RequestId></Error>"
)
_BODIES = {
    "500": (500, "InternalError", "We encountered an internal error. Please try again."),
    "503": (503, "SlowDown", "Please reduce your request rate."),
    "404": (404, "NoSuchBucket", "The specified bucket does not exist"),
    "403": (403, "AccessDenied", "Access Denied"),
}
# Hop-by-hop headers, and ones http.client sets itself.
_DROP = {"connection", "keep-alive", "transfer-encoding", "expect", "proxy-connection"}


class FaultProxy:
    """Forward to ``upstream`` with faults on ``rate`` of the requests (0.0 to 1.0).

    Example:
        >>> with FaultProxy("http://127.0.0.1:5000", rate=0.1) as proxy:  # doctest: +SKIP
        ...     boto3.client("s3", endpoint_url=proxy.url)
    """

    def __init__(
        self,
        upstream: str,
        *,
        rate: float = 0.0,
        faults: tuple[str, ...] = FAULTS,
        seed: int = 0,
        stall_seconds: float = 3.0,
        delay: float = 0.0,
        max_requests: int = 20_000,
        max_seconds: float = 300.0,
        only: Callable[[str, str], bool] | None = None,
        fail_first: int = 0,
        drop_headers: tuple[str, ...] = (),
        bandwidth: float | None = None,
    ):
        unknown = set(faults) - set(FAULTS + _ON_REQUEST)
        if unknown or not faults:
            raise ValueError(
                f"unknown faults {sorted(unknown)}; choose from {FAULTS + _ON_REQUEST}"
            )
        parsed = urlparse(upstream)
        self.upstream = (parsed.hostname or "127.0.0.1", parsed.port or 80)
        self.rate = rate
        self.faults = faults
        self.stall_seconds = stall_seconds
        self.delay = delay
        self.bandwidth = bandwidth
        self.max_requests = max_requests
        self.max_seconds = max_seconds
        self.only = only
        #: The next this many requests (that ``only`` lets through) all get a fault.
        self.fail_first = fail_first
        #: Request headers removed before forwarding (a store that ignores them).
        self.drop_headers = {h.lower() for h in drop_headers}
        self.counts: Counter[str] = Counter()
        #: Every request by kind (see the module docstring); ``kinds.clear()`` starts again.
        self.kinds: Counter[str] = Counter()
        #: Requests being answered now, and the most there ever were at once.
        self.in_flight = 0
        #: request header names seen, by method: ``headers_seen["PUT x-amz-trailer"]``
        self.headers_seen: Counter[str] = Counter()
        self.peak_in_flight = 0
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.proxy = self
        self._thread = threading.Thread(target=self._serve, name="fault-proxy", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=10)
        self._server.server_close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def seen(self) -> int:
        """How many requests reached the proxy (``counts.clear()`` starts again)."""
        return self.counts["requests"]

    @property
    def bytes_sent(self) -> int:
        """How many body bytes the proxy answered with (``counts.clear()`` starts again)."""
        return self.counts["bytes"]

    @property
    def dropped(self) -> int:
        """How many answers the client hung up on before they were all sent."""
        return self.counts["dropped"]

    def throttle(self, size: int) -> None:
        """Wait as long as ``size`` bytes take at ``bandwidth`` (at once when stopping)."""
        if self.bandwidth:
            self._stopping.wait(size / self.bandwidth)

    @property
    def faulted(self) -> int:
        """How many requests got a fault so far."""
        return sum(n for name, n in self.counts.items() if name in FAULTS + _ON_REQUEST)

    def _serve(self) -> None:
        stopper = threading.Timer(self.max_seconds, self._server.shutdown)
        stopper.daemon = True
        stopper.start()
        try:
            self._server.serve_forever(poll_interval=0.05)
        finally:
            stopper.cancel()

    def _decide(self, method: str, path: str) -> str | None:
        """The fault for the next request, ``None`` to forward it, or ``"over"`` when spent."""
        with self._lock:
            self.counts["requests"] += 1
            self.counts[method] += 1  # e.g. counts["GET"]
            self.kinds[_kind(method, path)] += 1
            if self.counts["requests"] > self.max_requests:
                return "over"
            if self.only is not None and not self.only(method, path):
                return None
            if self.fail_first > 0:
                self.fail_first -= 1
            elif self._random.random() >= self.rate:
                return None
            fault = self._random.choice(self.faults)
            self.counts[fault] += 1
            return fault

    def _forward(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        conn = http.client.HTTPConnection(*self.upstream, timeout=60)
        try:
            conn.request(method, path, body=body or None, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, resp.getheaders(), data
        finally:
            conn.close()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    proxy: FaultProxy


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # stdlib's name
        pass  # quiet: the tests read the proxy's counts instead

    def _handle(self) -> None:
        proxy = self.server.proxy
        with proxy._lock:
            proxy.in_flight += 1
            proxy.peak_in_flight = max(proxy.peak_in_flight, proxy.in_flight)
        try:
            self._serve_one(proxy)
        except ConnectionError:  # the client hung up mid-request (an interrupted upload)
            with proxy._lock:
                proxy.counts["dropped"] += 1
            self.close_connection = True
        finally:
            with proxy._lock:
                proxy.in_flight -= 1

    def _serve_one(self, proxy: FaultProxy) -> None:
        with proxy._lock:
            proxy.headers_seen.update(f"{self.command} {name.lower()}" for name in self.headers)
        body = self._read_body()
        if proxy.delay:
            proxy._stopping.wait(proxy.delay)
        fault = proxy._decide(self.command, self.path)
        if self.command == "GET" and self.headers.get("Range"):
            with proxy._lock:
                proxy.counts["GET range"] += 1
        if fault == "over":
            self._reset()
            return
        if fault in _BODIES:
            status, code, message = _BODIES[fault]
            self._answer(status, [("Content-Type", "application/xml")], _xml(code, message))
            return
        if fault == "reset":
            self._reset()
            return
        if fault == "stall":
            proxy._stopping.wait(proxy.stall_seconds)
            self._reset()
            return
        dropped = _DROP | proxy.drop_headers
        headers = {k: v for k, v in self.headers.items() if k.lower() not in dropped}
        try:
            status, resp_headers, data = proxy._forward(self.command, self.path, headers, body)
        except OSError:
            self._reset()
            return
        if fault == "truncate" and len(data) > 1 and self.command != "HEAD":
            self._answer(status, resp_headers, data, cut=len(data) // 2)
            return
        self._answer(status, resp_headers, data)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle  # stdlib's names

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        proxy = self.server.proxy
        if not proxy.bandwidth:
            return self.rfile.read(length) if length else b""
        parts: list[bytes] = []
        while length > 0:
            part = self.rfile.read(min(length, _SLICE))
            if not part:
                break
            parts.append(part)
            length -= len(part)
            with proxy._lock:
                proxy.counts["received"] += len(part)
            proxy.throttle(len(part))
        return b"".join(parts)

    def _answer(
        self,
        status: int,
        headers: list[tuple[str, str]],
        data: bytes,
        cut: int | None = None,
    ) -> None:
        self.send_response_only(status)
        for name, value in headers:
            if name.lower() not in _DROP and name.lower() != "content-length":
                self.send_header(name, value)
        if self.command == "HEAD":
            length = dict((k.lower(), v) for k, v in headers).get("content-length", "0")
            self.send_header("Content-Length", length)
        else:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            sent = data if cut is None else data[:cut]
            with self.server.proxy._lock:
                self.server.proxy.counts["bytes"] += len(sent)
            if not self._send(sent):
                return
        self.wfile.flush()
        if cut is not None:
            self._reset()

    def _send(self, data: bytes) -> bool:
        """Write ``data``, throttled to the proxy's bandwidth; ``False`` when the client hung
        up midway (counted in ``dropped``)."""
        proxy = self.server.proxy
        if not proxy.bandwidth:
            self.wfile.write(data)
            return True
        view = memoryview(data)
        try:
            for start in range(0, len(view), _SLICE):
                proxy.throttle(min(_SLICE, len(view) - start))
                self.wfile.write(view[start : start + _SLICE])
        except OSError:  # the client went away (cancelled): nothing more to send
            with proxy._lock:
                proxy.counts["dropped"] += 1
            self.close_connection = True
            return False
        return True

    def _reset(self) -> None:
        """Drop the connection with a TCP reset (SO_LINGER 0), as a crashed server would."""
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        with contextlib.suppress(OSError):
            self.connection.close()


def _kind(method: str, path: str) -> str:
    query = parse_qs(urlparse(path).query, keep_blank_values=True)
    if method == "GET" and query.get("list-type") == ["2"]:
        return "listing-page" if "continuation-token" in query else "listing"
    return method


def _xml(code: str, message: str) -> bytes:
    return _XML.format(code=code, message=message).encode("utf-8")


def wait_until(predicate: object, timeout: float, interval: float = 0.02) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` seconds pass; say which."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(predicate) and predicate():
            return True
        time.sleep(interval)
    return False
