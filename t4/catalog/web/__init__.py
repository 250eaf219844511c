"""The catalog's web pages (issue 24): routes added to the catalog app by ``create_app``."""

from __future__ import annotations

from starlette.routing import BaseRoute

__all__ = ["routes"]


def routes() -> list[BaseRoute]:
    """The web pages' routes (``/``, ``/b/...``, ``/search``, ``/packages/...``, ``/login``,
    ``/static/...``)."""
    return []
