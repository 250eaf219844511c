"""The bucket pages: the list of buckets, a folder (one page of at most 1,000 entries), an
object (metadata, versions, download, preview), its bytes, and search."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse

from t4.backends.base import ObjectInfo, ObjectVersion
from t4.bucket import Bucket
from t4.catalog.web.previews import IMAGES, preview
from t4.catalog.web.render import bucket_of, catalog_of, page, safe_page, secure_headers
from t4.errors import QuerySyntaxError, T4Error, VersionsUnsupportedError

__all__ = ["browse", "download", "home", "object_page", "search"]

#: Versions an object page lists, newest first.
MAX_VERSIONS = 50
#: Hits a search page shows.
HITS = 20
#: The deepest hit a page may start at (Elasticsearch's window: from + size <= 10,000).
MAX_FROM = 10_000 - HITS
_CHUNK = 1 << 20


def crumbs(prefix: str) -> list[tuple[str, str]]:
    """``"a/b/c"`` -> ``[("a", "a/"), ("b", "a/b/"), ("c", "a/b/c")]``."""
    parts = prefix.rstrip("/").split("/") if prefix else []
    out, here = [], ""
    for i, part in enumerate(parts):
        here += part + ("/" if i < len(parts) - 1 or prefix.endswith("/") else "")
        out.append((part, here))
    return out


@safe_page
def home(request: Request) -> Response:
    buckets = catalog_of(request).buckets
    return page(request, "home.html", buckets=[(name, b.uri) for name, b in buckets.items()])


@safe_page
def browse(request: Request) -> Response:
    index = request.path_params["index"]
    prefix = request.path_params.get("prefix", "")
    bucket = bucket_of(request, index)
    token = request.query_params.get("after") or None
    listing = bucket.ls_folder(prefix, token)
    return page(
        request,
        "browse.html",
        index=index,
        uri=bucket.uri,
        prefix=prefix,
        crumbs=crumbs(prefix),
        folders=listing.folders,
        objects=listing.objects,
        next_token=listing.next_token,
        first_page=token is None,
    )


@safe_page
def object_page(request: Request) -> Response:
    index, key = request.path_params["index"], request.path_params["key"]
    bucket = bucket_of(request, index)
    version = request.query_params.get("version") or None
    info, meta = bucket.head(key, version)
    versions = _versions(bucket, key)
    shown = None
    preview_error = ""
    try:
        shown = preview(bucket, key, info.size, version)
    except T4Error as err:
        preview_error = str(err)
    user_meta = meta.get("user_meta") if isinstance(meta, dict) else None
    return page(
        request,
        "object.html",
        index=index,
        key=key,
        crumbs=crumbs(key),
        info=info,
        meta=meta,
        user_meta=user_meta,
        helium={k: v for k, v in meta.items() if k != "user_meta"},
        versions=versions,
        version=version,
        download=bucket.download_url(key, version) or _own_download(index, key, version),
        preview=shown,
        preview_error=preview_error,
        image_src=_own_download(index, key, version, inline=True),
    )


def _own_download(index: str, key: str, version: str | None, inline: bool = False) -> str:
    link = f"/b/{quote(index, safe='')}/download/{quote(key, safe='/')}"
    params = {"version": version} if version else {}
    if inline:
        params["inline"] = "1"
    return link + ("?" + urlencode(params, quote_via=quote) if params else "")


def _versions(bucket: Bucket, key: str) -> list[ObjectVersion]:
    """This key's versions, newest first (none for a folder bucket or an S3 bucket that
    never had versioning: its only version is ``null``)."""
    try:
        found = (v for v in bucket.versions(key) if v.key == key)
        versions = list(itertools.islice(found, MAX_VERSIONS))
    except VersionsUnsupportedError:
        return []
    if all(v.version_id == "null" for v in versions):
        return []
    return versions


@safe_page
def download(request: Request) -> Response:
    """A folder bucket's object streamed from its file (the key resolved inside the bucket
    folder, never outside); an S3 object by a redirect to its presigned URL. ``?inline=1``
    (images the object page shows) streams it with its image type, on both."""
    index, key = request.path_params["index"], request.path_params["key"]
    bucket = bucket_of(request, index)
    version = request.query_params.get("version") or None
    inline = request.query_params.get("inline") == "1"
    if not inline:
        presigned = bucket.download_url(key, version)
        if presigned is not None:
            return RedirectResponse(presigned, status_code=303)
    info, _ = bucket.head(key, version)  # a folder bucket: VersionsUnsupportedError, a 400
    name = key.rpartition("/")[2] or "download"
    kind = IMAGES.get("." + name.lower().rpartition(".")[2]) if inline else None
    headers = {
        **secure_headers(),
        "Content-Length": str(info.size),
        "Content-Disposition": ("inline" if kind else "attachment")
        + f"; filename*=UTF-8''{quote(name, safe='')}",
    }
    headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
    return StreamingResponse(
        _chunks(bucket, info, version), media_type=kind or "application/octet-stream",
        headers=headers,
    )  # fmt: skip


def _chunks(bucket: Bucket, info: ObjectInfo, version: str | None) -> Iterator[bytes]:
    with bucket.open(info, _CHUNK, version) as src:
        while chunk := src.read(_CHUNK):
            yield chunk


@safe_page
def search(request: Request) -> Response:
    """``?q=`` in ``Bucket.search``'s language over one index (``?index=``, default the
    first); ``?fragment=1`` answers the results alone, for search-as-you-type."""
    catalog = catalog_of(request)
    q = request.query_params.get("q", "").strip()
    index = request.query_params.get("index") or next(iter(catalog.buckets), "")
    bucket_of(request, index)
    start = min(_int(request.query_params.get("from"), 0), MAX_FROM)
    hits: list[dict[str, Any]] = []
    total, error = 0, ""
    if q:
        try:
            answer = catalog.search(index, q, size=HITS, from_=start)
        except QuerySyntaxError as err:  # the query's fault; others are the server's
            error = str(err)
        else:
            found = answer.get("hits", {})
            hits = [h.get("_source", {}) for h in found.get("hits", [])]
            total = int(found.get("total", {}).get("value", len(hits)))
    template = "search_results.html" if request.query_params.get("fragment") else "search.html"
    return page(
        request,
        template,
        400 if error else 200,
        index=index,
        q=q,
        hits=hits,
        total=total,
        start=start,
        step=HITS,
        error=error,
    )


def _int(text: str | None, default: int) -> int:
    try:
        return max(0, int(text)) if text else default
    except ValueError:
        return default
