"""The catalog's JSON API: ``/config.json``, ``/{index}/_search`` and ``/_search``,
``/_refresh`` (and ``/{index}/_refresh``), ``/healthz``. Every error is Elasticsearch-shaped:
``{"error": {"type": ..., "reason": ...}, "status": N}``.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from t4.catalog.inputs import BodyBudget, Rejected, parse_json, read_body, search_request
from t4.catalog.state import Catalog, UnknownIndexError
from t4.errors import QuerySyntaxError
from t4.surface import command_line

__all__ = ["AGE_HEADER", "HANDLERS", "InternalErrors", "error_response", "routes"]

log = logging.getLogger(__name__)

#: The response header that says how old the index behind an answer is, in seconds.
AGE_HEADER = "X-T4-Index-Age"


def error_response(status: int, kind: str, reason: str, **extra: Any) -> JSONResponse:
    """An Elasticsearch-shaped error answer."""
    return JSONResponse({"error": {"type": kind, "reason": reason, **extra}, "status": status},
                        status_code=status)  # fmt: skip


def _catalog(request: Request) -> Catalog:
    catalog: Catalog = request.app.state.catalog
    return catalog


def _age_headers(catalog: Catalog, names: list[str]) -> dict[str, str]:
    oldest = max(catalog.age(name) for name in names)
    return {AGE_HEADER: "inf" if oldest == float("inf") else f"{oldest:.3f}"}


async def config_json(request: Request) -> Response:
    """T4's ``config.json``: one federation listing every bucket, each with its endpoint."""
    catalog = _catalog(request)
    base = str(request.base_url).rstrip("/")
    buckets = [
        {"name": name, "title": name, "searchEndpoint": f"{base}/{name}", "region": "us-east-1",
         "uri": bucket.uri, **{k: v for k, v in catalog.about(name).items() if k != "index"}}
        for name, bucket in catalog.buckets.items()
    ]  # fmt: skip
    document = {"federations": [{"buckets": buckets}], "defaultBucket": next(iter(catalog.buckets))}
    return JSONResponse(document)


async def search(request: Request) -> Response:
    """``GET|POST /{index}/_search`` (or ``/_search``: every index): a query_string or
    match_all body, or ``?q=``; ``size`` and ``from`` in either."""
    catalog = _catalog(request)
    index = request.path_params.get("index", "_all")
    names = list(catalog.buckets) if index in ("_all", "*") else [index]
    for name in names:
        catalog.age(name)  # an unknown index is a 404 before the body is read
    budget: BodyBudget = request.app.state.body_budget
    raw = await read_body(request.headers, request.stream(), budget)
    try:
        body = parse_json(raw)
    finally:
        budget.give(len(raw))
        del raw
    wanted = search_request(body, request.query_params)
    answer = await run_in_threadpool(_search_all, catalog, names, wanted.body, wanted.size,
                                     wanted.from_)  # fmt: skip
    return JSONResponse(answer, headers=_age_headers(catalog, names))


def _search_all(
    catalog: Catalog, names: list[str], body: dict[str, Any], size: int, from_: int
) -> dict[str, Any]:
    """One index's answer, or several merged best first (newest first on equal scores)."""
    if len(names) == 1:
        return catalog.search(names[0], body, size=size, from_=from_)
    answers = [catalog.search(name, body, size=size + from_) for name in names]
    hits = [hit for answer in answers for hit in answer["hits"]["hits"]]
    hits.sort(key=lambda h: h["_source"]["last_modified"], reverse=True)
    hits.sort(key=lambda h: h["_score"], reverse=True)
    page = hits[from_ : from_ + size]
    total = sum(a["hits"]["total"]["value"] for a in answers)
    full = any(a["hits"]["total"]["relation"] == "gte" for a in answers)
    return {
        "took": sum(a["took"] for a in answers),
        "timed_out": False,
        "hits": {
            "total": {"value": total, "relation": "gte" if full else "eq"},
            "max_score": max((h["_score"] for h in page), default=None),
            "hits": page,
        },
        "_t4": {"indexes": [a["_t4"] for a in answers]},
    }


async def refresh(request: Request) -> Response:
    """``POST /_refresh`` (every index) or ``/{index}/_refresh``: catch up now."""
    catalog = _catalog(request)
    index = request.path_params.get("index")
    names = [index] if index else list(catalog.buckets)
    for name in names:
        catalog.age(name)
    results = {}
    for name in names:
        summary = await run_in_threadpool(catalog.refresh, name)
        results[name] = {"summary": summary, **catalog.about(name)}
    return JSONResponse({"indexes": results}, headers=_age_headers(catalog, names))


async def healthz(request: Request) -> Response:
    """Liveness, without a token: whether the server answers, and each index's age."""
    catalog = _catalog(request)
    return JSONResponse(
        {"status": "ok", "indexes": {name: catalog.about(name) for name in catalog.buckets}}
    )


def routes() -> list[BaseRoute]:
    """The API's routes (the web pages add theirs)."""
    return [
        Route("/config.json", config_json, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/_search", search, methods=["GET", "POST"]),
        Route("/_refresh", refresh, methods=["POST"]),
        Route("/{index}/_search", search, methods=["GET", "POST"]),
        Route("/{index}/_refresh", refresh, methods=["POST"]),
    ]


async def _rejected(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Rejected)
    return error_response(exc.status, exc.kind, exc.reason)


async def _unknown_index(request: Request, exc: Exception) -> Response:
    return error_response(404, "index_not_found_exception", str(exc.args[0]))


async def _query_syntax(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, QuerySyntaxError)
    position = getattr(exc, "position", None)
    return error_response(400, "query_shard_exception", str(exc), position=position)


async def _recursion(request: Request, exc: Exception) -> Response:
    return error_response(400, "parsing_exception", "the query nests too deeply to run")


async def _http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    kinds = {404: "resource_not_found_exception", 405: "method_not_allowed_exception"}
    reason = exc.detail if exc.status_code != 404 else f"no such path {request.url.path}"
    response = error_response(exc.status_code, kinds.get(exc.status_code, "http_exception"),
                              str(reason))  # fmt: skip
    response.headers.update(exc.headers or {})
    return response


class InternalErrors:
    """ASGI middleware: an unexpected failure is a 500 with an Elasticsearch-shaped body (its
    type only; the server log has its traceback, written before the answer goes out). The
    catalog is served by ``t4 catalog serve``, so its log words each fix for the person who
    runs that command: ``t4 index``, not ``Bucket.index()``."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            with command_line():
                await self.app(scope, receive, sending)
        except Exception as exc:
            if scope["type"] != "http":
                raise
            log.error("catalog failed on %s %s", scope["method"], scope["path"], exc_info=exc)
            if started:  # too late for an answer of our own: the connection is closed
                return
            reason = f"internal error ({type(exc).__name__}); the server log has the details"
            await error_response(500, "internal_server_error", reason)(scope, receive, send)


#: Exception -> answer, in the app's handler table (most specific first).
HANDLERS: dict[Any, Any] = {
    Rejected: _rejected,
    UnknownIndexError: _unknown_index,
    QuerySyntaxError: _query_syntax,
    RecursionError: _recursion,
    HTTPException: _http,
}
