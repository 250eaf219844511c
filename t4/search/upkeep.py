"""A bucket's embedded search index and its upkeep, in one object: ``Bucket`` tells it what
it wrote or deleted, and asks it to search; it opens the index on first use (once, under a
lock), keeps it up to date, and crawls to catch up with what other tools wrote.

A failure to update the index never fails the write that caused it (the object is stored;
the next ``crawl`` repairs the index): it is logged as a warning.

Where the index's folder cannot be written (a read-only bucket folder, a read-only cache),
an existing index is searched read-only, as of its last update, and never crawled; with no
index to read, search raises a ``CacheError`` that says why.
"""

from __future__ import annotations

import errno
import itertools
import logging
import os
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from t4.backends.base import Backend, ObjectInfo
from t4.config import unwritable_cache
from t4.errors import BucketNotFoundError, CacheError, T4Error
from t4.search.crawl import crawl, document_for
from t4.search.documents import TEXT_BYTES, index_path_for, is_text_like
from t4.search.sqlite_index import EmbeddedIndex
from t4.surface import named

__all__ = ["BATCH", "IndexKeeper", "check_folder"]

#: Documents indexed per transaction after a bulk write.
BATCH = 2000

log = logging.getLogger(__name__)


class IndexKeeper:
    """The embedded index of the bucket behind ``backend``.

    Example:
        >>> keeper = IndexKeeper(backend)  # doctest: +SKIP
        >>> keeper.written([(info, {"name": "thor"}, b"first bytes")])  # doctest: +SKIP
        >>> keeper.crawled().search("thor")  # doctest: +SKIP
    """

    def __init__(self, backend: Backend, *, concurrency: int = 16, progress: bool | None = None):
        self.backend = backend
        self.concurrency = concurrency
        self.progress = progress  # a crawl's progress bar: forced on/off, or on a terminal
        self.path = index_path_for(backend.identity, backend.local_root)
        self._index: EmbeddedIndex | None = None
        self._lock = threading.Lock()

    def open(self) -> EmbeddedIndex:
        """The index, opened (and created) on first use; read-only where it cannot be written."""
        with self._lock:
            if self._index is None:
                self._index = self._opened()
            return self._index

    def _opened(self) -> EmbeddedIndex:
        check_folder(self.backend)
        try:
            _refuse_read_only_filesystem(self.path)
            return EmbeddedIndex(self.path)
        except (OSError, sqlite3.Error) as err:
            failure: Exception = err
        if self.path.is_file():
            try:
                index = EmbeddedIndex(self.path, read_only=True)
            except sqlite3.Error:
                pass
            else:
                log.warning(
                    "the search index %s of %s cannot be written (%s): searching it read-only, "
                    "as of its last update, without crawling for what changed since",
                    self.path,
                    self.backend.uri,
                    failure,
                )
                return index
        raise self._unwritable(failure) from failure

    def _unwritable(self, err: Exception) -> CacheError:
        """Why there is no index to search: t4's cache, or the bucket's own folder."""
        uri = self.backend.uri
        if self.backend.local_root is None:
            return unwritable_cache(self.path, err, bucket=uri)
        code = getattr(err, "errno", None)
        if code == errno.EROFS or not os.access(self.path.parent.parent, os.W_OK):
            why = "the bucket folder is read-only"
        elif code in (errno.EACCES, errno.EPERM):
            why = "permission denied"
        else:
            why = str(err)
        return CacheError(
            f"cannot search {uri}: its search index {self.path} cannot be created ({why}), "
            "and there is none to read yet. Index the folder once where it can be written "
            f"({named('Bucket.index()')}), or search a writable copy of it",
            bucket=uri,
        )

    def close(self) -> None:
        with self._lock:
            if self._index is not None:
                self._index.close()
                self._index = None

    # -- upkeep -----------------------------------------------------------------------------
    def written(self, items: Iterable[tuple[ObjectInfo, dict[str, Any], bytes | None]]) -> None:
        """Index what was just written: each object's info, its ``user_meta`` and its first
        bytes (``None`` when it is not text-like). ``items`` is read ``BATCH`` at a time,
        each batch one transaction: a bulk write of 100,000 files never holds 100,000
        documents at once."""
        rest = iter(items)
        while docs := [document_for(*item) for item in itertools.islice(rest, BATCH)]:
            if not self._safely(lambda index, docs=docs: index.upsert(docs)):
                return  # logged once: the next crawl catches up

    def removed(self, keys: list[str]) -> None:
        """Forget deleted keys."""
        if keys:
            self._safely(lambda index: index.remove(keys))

    @staticmethod
    def head_of_file(key: str, path: Path) -> bytes | None:
        """The first bytes of a local file uploaded as ``key`` that the index reads (text-like
        keys only), else ``None``."""
        if not is_text_like(key):
            return None
        with path.open("rb") as src:
            return src.read(TEXT_BYTES)

    def head_of_object(self, info: ObjectInfo) -> bytes | None:
        """The first bytes the index reads of a stored object (one ranged GET), or ``None``
        when it is not text-like."""
        if not is_text_like(info.key):
            return None
        return self.backend.get_range(info.key, 0, TEXT_BYTES)[0] if info.size else b""

    # -- catching up ------------------------------------------------------------------------
    def crawl(self, full: bool = False) -> dict[str, int]:
        """Bring the index up to date with the bucket (see ``t4.search.crawl``)."""
        index = self.open()
        if index.read_only:
            raise CacheError(
                f"cannot update the search index {self.path} of {self.backend.uri}: it can "
                "only be read here (its folder cannot be written); index where it can be",
                bucket=self.backend.uri,
            )
        summary = crawl(
            index, self.backend, full, concurrency=self.concurrency, progress=self.progress
        )
        self._crawled_mark().touch()
        return summary

    def stale(self) -> None:
        """Objects were written that the index was not told about (a server-side copy): the
        next search crawls first (one listing; only what changed is read)."""
        self._crawled_mark().unlink(missing_ok=True)

    def crawled(self) -> EmbeddedIndex:
        """The index, crawled once first if no crawl ever caught up with other tools' writes."""
        index = self.open()
        if not index.read_only and not self._crawled_mark().exists():
            self.crawl()
        return index

    def _crawled_mark(self) -> Path:
        """Beside the index: present once a crawl has caught up with objects others wrote."""
        return self.path.with_name(self.path.name + ".crawled")

    def _safely(self, change: Any) -> bool:
        # The write itself succeeded; a stale index is repaired by the next crawl.
        try:
            change(self.open())
        except (sqlite3.Error, OSError, T4Error) as err:
            log.warning(
                "search index of %s not updated (%s); run %s to catch up",
                self.backend.uri,
                err,
                named("index()"),
            )
            return False
        return True


def check_folder(backend: Backend) -> None:
    """Raise ``BucketNotFoundError`` naming a folder bucket's folder where there is none:
    indexing, searching or serving a folder never creates it (its first write does)."""
    root = backend.local_root
    if root is not None and not Path(root).is_dir():
        raise BucketNotFoundError(
            f"no such folder {root}: check the path (indexing, searching or serving a folder "
            "bucket never creates its folder; its first write does)",
            bucket=backend.uri,
        )


def _refuse_read_only_filesystem(path: Path) -> None:
    """Raise ``OSError(EROFS)`` where the index's folder is on a read-only filesystem. SQLite
    opens a file there read-only without a word (and with a writer's WAL files beside it, even
    reads it), so the crawl's first write, or its mark, failed later as a bare error."""
    folder = next((p for p in (path.parent, path.parent.parent) if p.is_dir()), None)
    if folder is not None and os.statvfs(folder).f_flag & os.ST_RDONLY:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(folder))
