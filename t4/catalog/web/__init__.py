"""The catalog's web pages: server-rendered HTML (Jinja2, autoescaped) over the catalog
service's buckets, working with JavaScript off; one small script adds search-as-you-type.

Paths: ``/`` (the buckets), ``/b/<index>/`` and ``/b/<index>/tree/<prefix>`` (a folder),
``/b/<index>/object/<key>`` (an object), ``/b/<index>/download/<key>``, ``/search``,
``/packages/<index>/...``, ``/login``, ``/favicon.ico`` and ``/static/...``.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from t4.catalog.web import browse, login, packages
from t4.catalog.web.render import HERE

__all__ = ["routes"]


def favicon(request: Request) -> Response:
    """The icon every page links to, also where browsers look for one unasked."""
    return FileResponse(HERE / "static" / "favicon.svg", media_type="image/svg+xml")


def routes() -> list[BaseRoute]:
    """The pages, to add to the catalog app's own routes."""
    pkg = "/packages/{index}/{user}/{package}"
    return [
        Route("/", browse.home, name="home"),
        Route("/b/{index}/", browse.browse),
        Route("/b/{index}/tree/{prefix:path}", browse.browse),
        Route("/b/{index}/object/{key:path}", browse.object_page),
        Route("/b/{index}/download/{key:path}", browse.download),
        Route("/search", browse.search),
        Route("/packages/{index}/", packages.package_list),
        Route(pkg + "/", packages.package_versions),
        Route(pkg + "/{top_hash}/", packages.package_version),
        Route(pkg + "/{top_hash}/diff", packages.version_diff),
        Route("/login", login.login_form, methods=["GET"]),
        Route("/login", login.login, methods=["POST"]),
        Route("/favicon.ico", favicon),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
