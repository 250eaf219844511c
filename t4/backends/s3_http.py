"""The listing's HTTP: GETs over the standard library's ``http.client``, connections kept
alive from page to page, through the environment's proxy, checked against ``AWS_CA_BUNDLE``.

urllib3 cost every process that lists about 30 ms of CPU to import on top of ``http.client``
(``bench.startup``); this costs about 4. Proxies are found as boto3 finds them
(``HTTPS_PROXY``/``HTTP_PROXY``, ``NO_PROXY`` honoured, ``user:password@`` sent as basic
proxy authorization); an HTTPS endpoint is reached through a proxy by ``CONNECT``. A proxy
spoken to over TLS itself (``https://`` in the variable) is not supported: that is a
``ConfigError`` saying so.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import os
import select
import ssl
import threading
from email.message import Message
from urllib.parse import SplitResult, unquote, urlsplit

from t4.errors import ConfigError

__all__ = ["Getter"]

#: How a connection the server closed before answering fails (``RemoteDisconnected`` is a
#: ``ConnectionResetError``); a timeout is not among them: it is not sent again at once.
_UNANSWERED = (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)

#: Idle connections kept for the next page (a listing asks one page at a time per thread).
_KEPT = 4


class Getter:
    """GETs to one ``scheme://host``, from any thread; ``timeouts`` is (connect, read)."""

    def __init__(self, scheme: str, host: str, timeouts: tuple[float, float], uri: str):
        self._https = scheme == "https"
        self._host = host
        self._uri = uri
        self._timeouts = timeouts
        self._proxy = _proxy_for(f"{scheme}://{host}/")
        if self._proxy is not None and self._proxy.scheme not in ("http", ""):
            raise ConfigError(
                f"the proxy for {uri} is named {self._proxy.scheme}://...: t4's listing "
                "speaks to proxies over plain HTTP (an HTTPS endpoint through it still uses "
                "TLS, by CONNECT); name it http://host:port in HTTPS_PROXY/HTTP_PROXY",
                bucket=uri,
                key=None,
            )
        self._free: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self._tls: ssl.SSLContext | None = None

    def get(self, target: str, headers: dict[str, str]) -> tuple[int, Message, bytes]:
        """GET ``target`` (the path and query): its status, headers and whole body. An idle
        connection the server has closed is not used, and one it closes as it is used (no
        answer at all) is replaced at once, the GET sent again (it is idempotent); what
        else fails is raised (``OSError``, ``http.client.HTTPException``) for the caller to
        try again or name."""
        sent = dict(headers)
        if self._proxy is not None and not self._https:
            target = f"http://{self._host}{target}"  # a plain proxy is asked for the whole URL
            sent.update(_proxy_auth(self._proxy))
        conn, resp = self._idle(), None
        if conn is not None:
            # closed by the server as it was reused, the GET not answered: on a new one
            with contextlib.suppress(*_UNANSWERED):
                resp = _ask(conn, target, sent)
        if resp is None:
            conn = self._connect()
            resp = _ask(conn, target, sent)
        assert conn is not None
        try:
            body = resp.read()
        except BaseException:
            conn.close()
            raise
        if not resp.will_close:
            with self._lock:
                if len(self._free) < _KEPT:
                    self._free.append(conn)
                    return resp.status, resp.headers, body
        conn.close()
        return resp.status, resp.headers, body

    def close(self) -> None:
        with self._lock:
            free, self._free = self._free, []
        for conn in free:
            conn.close()

    def _idle(self) -> http.client.HTTPConnection | None:
        while True:
            with self._lock:
                if not self._free:
                    return None
                conn = self._free.pop()
            if not _dropped(conn):
                return conn
            conn.close()

    def _connect(self) -> http.client.HTTPConnection:
        connect_timeout, read_timeout = self._timeouts
        target = urlsplit(f"//{self._host}")
        host, port = target.hostname or "", target.port
        conn: http.client.HTTPConnection
        if self._proxy is not None:
            proxy_host, proxy_port = self._proxy.hostname or "", self._proxy.port or 80
            if self._https:
                conn = http.client.HTTPSConnection(
                    proxy_host, proxy_port, timeout=connect_timeout, context=self._context()
                )
                conn.set_tunnel(host, port or 443, headers=_proxy_auth(self._proxy))
            else:
                conn = http.client.HTTPConnection(proxy_host, proxy_port, timeout=connect_timeout)
        elif self._https:
            conn = http.client.HTTPSConnection(
                host, port, timeout=connect_timeout, context=self._context()
            )
        else:
            conn = http.client.HTTPConnection(host, port, timeout=connect_timeout)
        try:
            conn.connect()
            if conn.sock is not None:
                conn.sock.settimeout(read_timeout)
        except BaseException:
            conn.close()
            raise
        return conn

    def _context(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = ssl.create_default_context(cafile=_trusted_cas())
        return self._tls


def _ask(
    conn: http.client.HTTPConnection, target: str, headers: dict[str, str]
) -> http.client.HTTPResponse:
    """Send the GET on ``conn`` and read its answer's status and headers (closed if not)."""
    try:
        conn.request("GET", target, headers=headers)
        return conn.getresponse()
    except BaseException:
        conn.close()
        raise


def _trusted_cas() -> str | None:
    """The CA file botocore trusts: ``AWS_CA_BUNDLE``, else certifi's bundle when installed,
    else (None) the system's."""
    named = os.environ.get("AWS_CA_BUNDLE")
    if named:
        return named
    try:
        import certifi
    except ImportError:
        return None
    return str(certifi.where())


def _proxy_for(url: str) -> SplitResult | None:
    """The proxy the environment names for ``url`` (``NO_PROXY`` honoured), split, or None."""
    if not any(k.lower().endswith("_proxy") for k in os.environ):
        return None  # the usual case: urllib.request is not imported for nothing
    import urllib.request

    parts = urlsplit(url)
    if urllib.request.proxy_bypass(parts.netloc):
        return None
    proxy = urllib.request.getproxies().get(parts.scheme)
    if not proxy:
        return None
    return urlsplit(proxy if "://" in proxy else f"http://{proxy}")


def _proxy_auth(proxy: SplitResult) -> dict[str, str]:
    if proxy.username is None:
        return {}
    pair = f"{unquote(proxy.username)}:{unquote(proxy.password or '')}"
    return {"Proxy-Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}


def _dropped(conn: http.client.HTTPConnection) -> bool:
    """Whether an idle kept connection was closed by the server: it has something to read
    (its end of stream), as urllib3 checks before it reuses one."""
    if conn.sock is None:
        return True
    try:
        readable, _, _ = select.select([conn.sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)
