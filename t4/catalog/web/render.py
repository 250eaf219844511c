"""What every page shares: the Jinja2 environment (autoescape on for every template), the
catalog's state from the app, error pages for ``T4Error``s, and the headers that keep a
hostile key or document from running anything in the page."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable
from functools import lru_cache, wraps
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from t4.bucket import Bucket
from t4.errors import (
    AccessDeniedError,
    CacheError,
    InvalidKeyError,
    KeyNotFoundError,
    PackageNotFoundError,
    QuerySyntaxError,
    T4Error,
    VersionsUnsupportedError,
)

__all__ = ["Catalog", "bucket_of", "catalog_of", "page", "safe_page"]

log = logging.getLogger(__name__)

HERE = Path(__file__).parent

#: Scripts and styles from this server only, no inline script, no plugin, no framing.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


class Catalog(Protocol):
    """What the pages need of ``request.app.state.catalog`` (the catalog service's state)."""

    buckets: dict[str, Bucket]

    def search(self, index_name: str, query: Any, *, size: int, from_: int) -> dict[str, Any]:
        """Elasticsearch-shaped hits of ``query`` in one index."""
        ...


def catalog_of(request: Request) -> Catalog:
    catalog: Catalog = request.app.state.catalog
    return catalog


def bucket_of(request: Request, index: str) -> Bucket:
    """The bucket served under ``index``; ``KeyNotFoundError`` (a 404 page) for another."""
    buckets = catalog_of(request).buckets
    if index not in buckets:
        raise KeyNotFoundError(
            f"no bucket {index!r} in this catalog; it serves {', '.join(buckets) or 'none'}",
            key=index,
        )
    return buckets[index]


def size(n: int | None) -> str:
    """``1234567`` -> ``"1.2 MB"``."""
    if n is None:
        return ""
    value = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def when(value: dt.datetime | str | float | None) -> str:
    """A time as ``2026-12-06 14:05 UTC``."""
    if value is None or value == "":
        return ""
    if isinstance(value, int | float):
        value = dt.datetime.fromtimestamp(value, tz=dt.UTC)
    elif isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return str(value)
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC)
    return value.strftime("%Y-%m-%d %H:%M UTC")


def pretty(value: Any) -> str:
    """JSON, indented, for metadata."""
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


def url(*parts: str) -> str:
    """A path of our own from segments; each is percent-encoded (its ``/`` kept), so a key
    with ``?``, ``#``, ``%`` or spaces comes back as itself."""
    return "/" + "/".join(quote(part, safe="/") for part in parts)


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,  # every template, whatever its name
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(size=size, when=when, pretty=pretty)
    env.globals.update(url=url, quote=quote)
    return env


def page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """Render ``template`` with the request and the catalog's buckets."""
    state = getattr(request.app.state, "catalog", None)
    context.setdefault("indexes", list(state.buckets) if state is not None else [])
    context.setdefault("index", None)
    context.setdefault("q", "")
    html = environment().get_template(template).render(request=request, **context)
    return HTMLResponse(html, status_code=status, headers=secure_headers())


def secure_headers() -> dict[str, str]:
    return {
        "Content-Security-Policy": CSP,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
    }


_STATUS: list[tuple[type[Exception], int]] = [
    (PackageNotFoundError, 404),
    (KeyNotFoundError, 404),
    (AccessDeniedError, 403),
    (InvalidKeyError, 400),
    (QuerySyntaxError, 400),
    (VersionsUnsupportedError, 400),
    (CacheError, 500),  # the server's own index or cache: logged, not shown
]


def error_page(request: Request, err: T4Error) -> HTMLResponse:
    """A ``T4Error`` as a page that says what failed and how to fix it."""
    status = next((code for kind, code in _STATUS if isinstance(err, kind)), 502)
    message = str(err)
    if status == 500:
        log.error("catalog page %s failed", request.url.path, exc_info=err)
        message = f"internal error ({type(err).__name__}); the server log has the details"
    return page(request, "error.html", status, message=message, code=status)


def safe_page(fn: Callable[..., Response]) -> Callable[..., Response]:
    """A page endpoint whose ``T4Error``s become error pages (a 4xx, or 502 when the bucket
    could not answer), never a traceback."""

    @wraps(fn)
    def endpoint(request: Request) -> Response:
        try:
            return fn(request)
        except T4Error as err:
            return error_page(request, err)

    return endpoint
