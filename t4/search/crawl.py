"""Bring an embedded index up to date with a bucket: list once, compare ETags, fetch only
what changed (metadata by ``head``, text by reading the start of text-like objects)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from t4.backends.base import Backend, ObjectInfo
from t4.config import config
from t4.errors import KeyNotFoundError
from t4.search.documents import TEXT_BYTES, Document, is_text_like, text_of
from t4.search.sqlite_index import EmbeddedIndex

__all__ = ["crawl", "document_for", "user_meta_of"]

log = logging.getLogger(__name__)

#: Documents written to the index per transaction during a crawl.
BATCH = 500


def user_meta_of(metadata: Mapping[str, str]) -> dict[str, Any]:
    """The ``user_meta`` inside an object's raw metadata (``{"helium": "<json>"}``).

    Metadata that is missing or not T4's JSON gives ``{}`` (logged): a foreign object is
    still indexed by key, size and text.

    Example:
        >>> user_meta_of({"helium": '{"user_meta": {"name": "thor"}, "target": "json"}'})
        {'name': 'thor'}
        >>> user_meta_of({})
        {}
    """
    raw = metadata.get("helium")
    if not raw:
        return {}
    try:
        helium = json.loads(raw)
    except ValueError:
        log.warning("ignoring metadata that is not JSON: %.80s", raw)
        return {}
    meta = helium.get("user_meta") if isinstance(helium, dict) else None
    return meta if isinstance(meta, dict) else {}


def document_for(info: ObjectInfo, user_meta: Mapping[str, Any], head: bytes | None) -> Document:
    """The one builder of index documents: an object's info, its ``user_meta`` and its first
    bytes (``None`` when not read). ``IndexKeeper`` calls it after a write, the crawler after
    a read.

    Example:
        >>> from datetime import datetime, timezone
        >>> info = ObjectInfo("a.md", 5, "e", datetime(2024, 1, 1, tzinfo=timezone.utc))
        >>> document_for(info, {}, b"hello").text
        'hello'
    """
    text = text_of(info.key, head[:TEXT_BYTES]) if head is not None else None
    return Document(
        key=info.key,
        size=info.size,
        etag=info.etag,
        last_modified=info.last_modified,
        version_id=info.version_id,
        user_meta=dict(user_meta),
        text=text,
    )


def _fetch(backend: Backend, listed: ObjectInfo) -> Document | None:
    """Read what the index needs of one object, in one request: the first ``TEXT_BYTES``
    (with the metadata, from one ranged GET) of a text-like object, else a HEAD. None when
    it vanished since the listing. The document keeps the listing's ETag and time, which the
    next crawl compares with."""
    try:
        if is_text_like(listed.key) and listed.size > 0:
            head, metadata = backend.get_range(listed.key, 0, TEXT_BYTES)
        else:
            head, (_, metadata) = None, backend.head(listed.key)
    except KeyNotFoundError:
        log.debug("%s vanished while indexing", listed.key)
        return None
    return document_for(listed, user_meta_of(metadata), head)


def _batches(
    results: Iterator[tuple[str, Document | None]], vanished: list[str]
) -> Iterator[list[Document]]:
    """Group fetched documents for the index; note the keys that vanished."""
    batch: list[Document] = []
    for key, doc in results:
        if doc is None:
            vanished.append(key)
        else:
            batch.append(doc)
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _compare(
    backend: Backend, known: dict[str, tuple[str | None, float]], full: bool
) -> tuple[list[ObjectInfo], set[str], int]:
    """List the bucket once: what to (re)index, every key seen, how many are unchanged.

    Unchanged means the same ETag *and* the same modification time as indexed: a metadata
    change (S3 CopyObject onto itself, as ``set_meta`` from another machine does) keeps the
    ETag but not the time."""
    todo: list[ObjectInfo] = []
    seen: set[str] = set()
    unchanged = 0
    for info in backend.list():
        if info.key.endswith("/"):
            continue
        seen.add(info.key)
        stamp = (info.etag, info.last_modified.timestamp())
        if not full and info.etag is not None and known.get(info.key) == stamp:
            unchanged += 1
        else:
            todo.append(info)
    return todo, seen, unchanged


def crawl(index: EmbeddedIndex, backend: Backend, full: bool = False) -> dict[str, int]:
    """Bring ``index`` up to date with the bucket behind ``backend``.

    Lists the bucket once. Keys whose ETag and modification time match the index are left
    alone (unless ``full``); new and changed objects are read (one ranged GET of the start of
    a text-like object, else one HEAD) a few at a time in parallel; keys no longer in the
    bucket are removed.
    Directory markers (``dir/``) are not indexed.

    Returns:
        Counts: ``added``, ``updated``, ``removed``, ``unchanged``, ``vanished`` (listed,
        then gone before they could be read).

    Example:
        >>> crawl(index, backend)  # doctest: +SKIP
        {'added': 3, 'updated': 0, 'removed': 1, 'unchanged': 120, 'vanished': 0}
    """
    known = index.stamps()
    todo, seen, unchanged = _compare(backend, known, full)
    workers = int(config().get("default_concurrency", 16))
    vanished: list[str] = []
    with ThreadPoolExecutor(max_workers=max(1, min(workers, 32))) as pool:
        results = pool.map(lambda i: (i.key, _fetch(backend, i)), todo)
        for batch in _batches(results, vanished):
            index.upsert(batch)
    gone = [key for key in known if key not in seen]
    index.remove([*gone, *vanished])
    written = {info.key for info in todo}.difference(vanished)
    updated = sum(1 for key in written if key in known)
    summary = {
        "added": len(written) - updated,
        "updated": updated,
        "removed": len(gone) + sum(1 for key in vanished if key in known),
        "unchanged": unchanged,
        "vanished": len(vanished),
    }
    log.info("indexed %s: %s", backend.uri, summary)
    return summary
