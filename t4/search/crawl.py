"""Bring an embedded index up to date with a bucket: list once, compare ETags, fetch only
what changed (metadata by ``head``, text by reading the start of text-like objects)."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from collections import deque
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from t4 import waits
from t4.backends.base import Backend, ObjectInfo
from t4.errors import KeyNotFoundError, T4Error
from t4.search.documents import TEXT_BYTES, Document, is_text_like, text_of
from t4.search.sqlite_index import EmbeddedIndex
from t4.surface import carried, named

if TYPE_CHECKING:
    from concurrent.futures import Future

__all__ = ["crawl", "document_for", "user_meta_of"]

log = logging.getLogger(__name__)

#: Documents written to the index per transaction during a crawl.
BATCH = 500
#: Reads at once, unless the caller says (``Bucket`` passes its own concurrency).
DEFAULT_CONCURRENCY = 16
#: A crawl reading more objects than this shows a progress bar (on a terminal).
PROGRESS_FROM = 1000
#: Objects that could not be read, named one by one in the log; the rest are counted.
REPORTED = 10


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


_Read = tuple[str, Document | None, T4Error | None]


def _read(backend: Backend, listed: ObjectInfo) -> _Read:
    """``_fetch`` of one object, its failure returned rather than raised."""
    try:
        return listed.key, _fetch(backend, listed), None
    except T4Error as err:
        return listed.key, None, err


def _read_all(backend: Backend, todo: list[ObjectInfo], workers: int) -> Iterator[_Read]:
    """``_read`` every object, ``workers`` requests at once, in listing order. At most a few
    reads per worker wait in the pool, so memory does not grow with the bucket."""
    from concurrent.futures import ThreadPoolExecutor  # not needed by ``import t4``

    with ThreadPoolExecutor(max_workers=workers, initializer=carried()) as pool:
        window: deque[Future[_Read]] = deque()
        for info in todo:
            if len(window) >= 4 * workers:
                yield waits.result(window.popleft())
            window.append(pool.submit(_read, backend, info))
        while window:
            yield waits.result(window.popleft())


class _NoBar:
    def update(self, count: int) -> None:
        pass


def _show_progress(progress: bool | None, count: int) -> bool:
    if progress is not None:
        return progress
    if os.environ.get("TQDM_DISABLE"):
        return False
    return sys.stderr.isatty() and count > PROGRESS_FROM


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


def crawl(
    index: EmbeddedIndex,
    backend: Backend,
    full: bool = False,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: bool | None = None,
) -> dict[str, int]:
    """Bring ``index`` up to date with the bucket behind ``backend``.

    Lists the bucket once. Keys whose ETag and modification time match the index are left
    alone (unless ``full``); new and changed objects are read (one ranged GET of the start of
    a text-like object, else one HEAD), ``concurrency`` requests at once (the bucket's:
    ``T4_CONCURRENCY``, else 16); keys no longer in the bucket are removed. A progress bar
    counts the objects read (``progress``: forced on or off; by default on a terminal, for
    more than ``PROGRESS_FROM`` objects). Directory markers (``dir/``) are not indexed.

    An object that cannot be read (refused, say) is logged and counted in ``failed``, and the
    crawl goes on: it is not indexed (or keeps its old entry) and the next crawl tries it
    again. Only when no object could be read at all does the crawl raise the first error
    (the bucket cannot be read: credentials, network).

    Returns:
        Counts: ``added``, ``updated``, ``removed``, ``unchanged``, ``vanished`` (listed,
        then gone before they could be read), ``failed``.

    Example:
        >>> crawl(index, backend)  # doctest: +SKIP
        {'added': 3, 'updated': 0, 'removed': 1, 'unchanged': 120, 'vanished': 0, 'failed': 0}
    """
    known = index.stamps()
    todo, seen, unchanged = _compare(backend, known, full)
    workers = max(1, min(concurrency, 64))
    vanished: list[str] = []
    failed: dict[str, T4Error] = {}
    batch: list[Document] = []
    bar: Any = contextlib.nullcontext(_NoBar())
    if _show_progress(progress, len(todo)):  # tqdm costs 20-30 ms to import: only for a bar
        from tqdm import tqdm

        bar = tqdm(
            total=len(todo),
            unit=" objects",
            desc=f"indexing {backend.uri}",
            leave=False,
            disable=False,  # decided above; TQDM_DISABLE would otherwise override a forced bar
        )
    with bar as shown:
        for key, doc, err in _read_all(backend, todo, workers):
            if err is not None:
                failed[key] = err
            elif doc is None:
                vanished.append(key)
            else:
                batch.append(doc)
            if len(batch) >= BATCH:
                index.upsert(batch)
                batch = []
            shown.update(1)
    if batch:
        index.upsert(batch)
    if failed:
        _report(backend, failed, read=len(todo) - len(failed) - len(vanished))
    gone = [key for key in known if key not in seen]
    index.remove([*gone, *vanished])
    written = {info.key for info in todo}.difference(vanished, failed)
    updated = sum(1 for key in written if key in known)
    summary = {
        "added": len(written) - updated,
        "updated": updated,
        "removed": len(gone) + sum(1 for key in vanished if key in known),
        "unchanged": unchanged,
        "vanished": len(vanished),
        "failed": len(failed),
    }
    log.info("indexed %s: %s", backend.uri, summary)
    return summary


def _report(backend: Backend, failed: dict[str, T4Error], read: int) -> None:
    """Say which objects could not be read; raise the first error when none could."""
    first = next(iter(failed.values()))
    if read == 0:
        raise first
    for key, err in list(failed.items())[:REPORTED]:
        log.warning("not indexed: %s in %s: %s", key, backend.uri, err)
    log.warning(
        "%d objects of %s could not be read and are not indexed%s; the next %s tries them again",
        len(failed),
        backend.uri,
        f" (the first {REPORTED} named above)" if len(failed) > REPORTED else "",
        named("index()"),
    )
