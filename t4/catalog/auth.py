"""The catalog's token check, as ASGI middleware in front of every route.

With a token set, a request carries it as ``Authorization: Bearer <token>`` or as the cookie
``t4_catalog_token`` (set by the web pages' ``/login``). Exempt: ``/login``, ``/static/...``,
``/favicon.ico``, ``/healthz`` and CORS preflights. Without it: a 401 with an
Elasticsearch-shaped error, or, for a browser's GET of a page (``Accept`` prefers
``text/html``), a 303 to ``/login?next=<path>``. The comparison takes constant time; the
token is never logged.
"""

from __future__ import annotations

import contextlib
import hmac
from http.cookies import CookieError, SimpleCookie
from urllib.parse import quote

from starlette.datastructures import Headers
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["COOKIE", "EXEMPT_PATHS", "TokenAuth", "prefers_html"]

#: The cookie the web pages' ``/login`` sets.
COOKIE = "t4_catalog_token"
#: Paths answered without a token (exactly, or as a prefix when they end with ``/``).
EXEMPT_PATHS = ("/login", "/static/", "/healthz", "/favicon.ico")


def prefers_html(headers: Headers) -> bool:
    """Whether ``Accept`` ranks ``text/html`` above JSON (what a browser sends for a page)."""
    best: dict[str, float] = {}
    for part in headers.get("accept", "").split(","):
        kind, *params = (p.strip() for p in part.split(";"))
        weight = 1.0
        for param in params:
            if param.startswith("q="):
                try:
                    weight = float(param[2:])
                except ValueError:
                    weight = 0.0
        best[kind.lower()] = max(weight, best.get(kind.lower(), 0.0))
    html = best.get("text/html", 0.0)
    return html > 0 and html > best.get("application/json", 0.0)


def _exempt(scope: Scope) -> bool:
    path: str = scope["path"]
    if any(path == p or (p.endswith("/") and path.startswith(p)) for p in EXEMPT_PATHS):
        return True
    headers = Headers(scope=scope)
    return scope["method"] == "OPTIONS" and "access-control-request-method" in headers


def _presented(headers: Headers) -> list[str]:
    """Every token the request offers: the bearer one, then the cookie's."""
    found = []
    scheme, _, value = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        found.append(value.strip())
    cookie = SimpleCookie()
    with contextlib.suppress(CookieError):  # a malformed Cookie header offers no token
        cookie.load(headers.get("cookie", ""))
    if COOKIE in cookie:
        found.append(cookie[COOKIE].value)
    return found


class TokenAuth:
    """Refuse HTTP requests that do not carry ``token`` (no check when it is ``None``)."""

    def __init__(self, app: ASGIApp, token: str | None):
        self.app = app
        self._token = token.encode() if token else None

    def _allowed(self, headers: Headers) -> bool:
        assert self._token is not None
        # Compare every candidate, in constant time each, so timing says nothing either.
        matches = [hmac.compare_digest(t.encode(), self._token) for t in _presented(headers)]
        return any(matches)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._token is None or _exempt(scope):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if self._allowed(headers):
            await self.app(scope, receive, send)
            return
        await self._refusal(scope, headers)(scope, receive, send)

    @staticmethod
    def _refusal(scope: Scope, headers: Headers) -> Response:
        if scope["method"] in ("GET", "HEAD") and prefers_html(headers):
            target = scope["path"] + (
                "?" + scope["query_string"].decode("latin-1") if scope["query_string"] else ""
            )
            return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
        offered = bool(_presented(headers))
        reason = (
            "the catalog token is wrong"
            if offered
            else "this catalog needs a token: send Authorization: Bearer <token> "
            "(t4.config(catalog_token=...) or T4_CATALOG_TOKEN)"
        )
        error = {"type": "security_exception", "reason": reason}
        return JSONResponse(
            {"error": error, "status": 401},
            status_code=401,
            headers={"WWW-Authenticate": 'Bearer realm="t4-catalog"'},
        )
