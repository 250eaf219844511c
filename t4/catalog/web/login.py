"""``/login``: a form for the catalog's token; the right one is kept in an HttpOnly,
SameSite=Strict cookie (``t4_catalog_token``), which the service's middleware accepts as
it accepts ``Authorization: Bearer``, then the browser goes back where it was going."""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from t4.catalog.web.render import page

__all__ = ["COOKIE", "local_path", "login", "login_form"]

COOKIE = "t4_catalog_token"


def local_path(target: str | None) -> str:
    """``target`` if it is a path on this server, else ``/``: never a redirect elsewhere
    (``//evil.example``, ``https://...``, ``/\\evil``)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or any(ord(c) < 32 for c in target):
        return "/"
    return target


def _token(request: Request) -> str | None:
    token: str | None = getattr(request.app.state, "token", None)
    return token


def login_form(request: Request) -> Response:
    target = local_path(request.query_params.get("next"))
    return page(request, "login.html", target=target, needed=_token(request) is not None)


async def login(request: Request) -> Response:
    form = await request.form()
    target = local_path(str(form.get("next", "/")))
    given = str(form.get("token", ""))
    expected = _token(request)
    if expected is None:
        return RedirectResponse(target, status_code=303)
    if not hmac.compare_digest(given.encode(), expected.encode()):
        return page(
            request, "login.html", 401, target=target, needed=True, error="That token is wrong."
        )
    answer = RedirectResponse(target, status_code=303)
    answer.set_cookie(
        COOKIE,
        expected,
        httponly=True,
        samesite="strict",
        path="/",
        secure=request.url.scheme == "https",
    )
    return answer
