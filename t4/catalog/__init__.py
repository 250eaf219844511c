"""The T4 catalog as a service: an ASGI app (Starlette) over embedded indexes, one per bucket.

It speaks what T4's client expects (``/config.json``, Elasticsearch ``/{index}/_search``),
refreshes each index in the background, and checks a bearer token when one is set. Start it
with ``t4 catalog serve``, or run the app under a server of your own::

    T4_CATALOG_BUCKETS=s3://a,s3://b T4_CATALOG_TOKEN=secret uvicorn t4.catalog:app

Environment of ``t4.catalog:app``: ``T4_CATALOG_BUCKETS`` (comma-separated URIs, required),
``T4_CATALOG_TOKEN`` (unset: no token checked), ``T4_CATALOG_REFRESH`` (seconds, default 30;
0 turns background refreshes off), ``T4_CATALOG_CORS_ORIGINS`` (comma-separated, default
``*``).

Nothing in the core imports this package; it sits above ``t4.search`` and ``t4.packages``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware

from t4.bucket import Bucket
from t4.catalog import api, web
from t4.catalog.auth import TokenAuth
from t4.catalog.inputs import BodyBudget
from t4.catalog.options import AnswerOptions
from t4.catalog.state import Catalog
from t4.errors import ConfigError

__all__ = ["Catalog", "create_app", "from_env"]


def create_app(
    buckets: Sequence[str | Bucket],
    *,
    token: str | None = None,
    refresh: float = 30.0,
    cors_origins: Sequence[str] = ("*",),
    index_at_start: bool = True,
) -> Starlette:
    """The catalog app: the API, the web pages, token check, CORS, and ``app.state.catalog``.

    Args:
        buckets: the buckets to serve (URIs or ``Bucket`` objects), one index each, named by
            the bucket's name.
        token: the bearer token every request must carry (``None``: none is checked).
        refresh: seconds between background incremental ``index()`` runs; 0: never.
        cors_origins: origins a browser may call the API from.
        index_at_start: bring every index up to date before answering (else serve each as
            it is until a refresh).

    Example:
        >>> app = create_app(["s3://my-bucket"], token="s3cret")  # doctest: +SKIP
        >>> uvicorn.run(app, host="127.0.0.1", port=8080)  # doctest: +SKIP
    """
    catalog = Catalog(buckets, refresh=refresh, index_at_start=index_at_start)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        from starlette.concurrency import run_in_threadpool

        try:
            await run_in_threadpool(catalog.start)
        except Exception as err:
            # The server logs it and exits; whoever started it can say why (t4 catalog serve).
            app.state.startup_error = err
            await run_in_threadpool(catalog.close)
            raise
        try:
            yield
        finally:
            await run_in_threadpool(catalog.close)

    middleware = [
        Middleware(CORSMiddleware, allow_origins=list(cors_origins),
                   allow_methods=["GET", "HEAD", "POST", "OPTIONS"],
                   allow_headers=["Authorization", "Content-Type"],
                   expose_headers=[api.AGE_HEADER], max_age=600),
        Middleware(AnswerOptions),
        Middleware(TokenAuth, token=token or None),
        Middleware(api.InternalErrors),
    ]  # fmt: skip
    app = Starlette(
        routes=[*api.routes(), *web.routes()],
        middleware=middleware,
        exception_handlers=api.HANDLERS,
        lifespan=lifespan,
    )
    app.state.catalog = catalog
    app.state.body_budget = BodyBudget()
    app.state.token = token or None  # what the web pages' /login checks a form against
    return app


def _listed(value: str | None) -> list[str]:
    return [item.strip() for item in (value or "").split(",") if item.strip()]


def from_env(environ: dict[str, str] | None = None) -> Starlette:
    """The app as ``T4_CATALOG_*`` environment variables configure it (see the module)."""
    env = os.environ if environ is None else environ
    buckets = _listed(env.get("T4_CATALOG_BUCKETS"))
    if not buckets:
        raise ConfigError(
            "set T4_CATALOG_BUCKETS to the buckets to serve, comma-separated "
            "(e.g. T4_CATALOG_BUCKETS=s3://a,s3://b uvicorn t4.catalog:app)"
        )
    raw_refresh = env.get("T4_CATALOG_REFRESH", "30")
    try:
        refresh = float(raw_refresh)
    except ValueError:
        raise ConfigError(
            f"T4_CATALOG_REFRESH must be a number of seconds (0: off), not {raw_refresh!r}"
        ) from None
    return create_app(
        buckets,
        token=env.get("T4_CATALOG_TOKEN") or None,
        refresh=refresh,
        cors_origins=_listed(env.get("T4_CATALOG_CORS_ORIGINS")) or ["*"],
    )


def __getattr__(name: str) -> Any:
    # ``uvicorn t4.catalog:app`` builds the app from the environment when it asks for it, so
    # that importing the package (for create_app) needs no environment.
    if name == "app":
        return from_env()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
