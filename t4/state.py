"""What t4 remembers between runs so a re-run does no repeated work, in one SQLite file in the
cache folder (safe to delete: everything in it is rebuilt on demand).

- ``hashes``: a local file's ETag, by path, size and mtime, so unchanged files are not re-hashed
  (files modified in the last few seconds are not cached: see ``_settled``).
- ``written``: the ETag and metadata digest of each object t4 last wrote, so an unchanged
  upload is skipped from the listing alone, without asking the server for its metadata.

Bulk operations touch thousands of rows: lookups go in chunks of one query, and writes made
by transfer threads are queued (``defer_*``) and committed in one transaction by ``flush``,
which ``Bucket`` calls when a plan ends (reads flush first, so they always see them). The
queue is also committed at 1,000 rows and, by a timer, at most ``FLUSH_SECONDS`` after its
first row, so a process killed mid-transfer loses at most the last second of records (and
those only cost a re-check on the next run).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from t4.config import cache_dir, unwritable_cache
from t4.errors import T4Error

__all__ = ["TransferState"]

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS hashes (
    path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, kind TEXT, etag TEXT);
CREATE TABLE IF NOT EXISTS written (
    bucket TEXT, key TEXT, etag TEXT, meta TEXT, PRIMARY KEY (bucket, key));
"""
_CHUNK = 500  # below SQLite's limit on bound parameters
_AUTO_FLUSH = 1000
#: Queued rows wait at most this long before a timer commits them.
FLUSH_SECONDS = 0.5
_SETTLE_NS = 3_000_000_000  # files changed more recently than this: hash, do not cache

#: (absolute path, size, mtime_ns, kind, etag): one row of ``hashes``.
HashRow = tuple[str, int, int, str, str]


def _settled(mtime_ns: int) -> bool:
    """Whether a hash of a file modified at ``mtime_ns`` may be cached. A write in the same
    timestamp tick as the hashing (a few ms on ext4, 2 s on FAT) leaves size and mtime as
    they were: the cache would hide the change for good. So, as git does with its index,
    recent files are hashed again next time instead (cheap; it happens once)."""
    return time.time_ns() - mtime_ns > _SETTLE_NS


def _chunks(items: list[Any]) -> Iterable[list[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


class TransferState:
    """The cache; one per bucket object, shared by its threads."""

    def __init__(self, path: Path | None = None):
        self.path = path or cache_dir() / "transfer-state.sqlite"
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._hashes: list[HashRow] = []
        self._written: list[tuple[str, str, str, str]] = []
        self._timer: threading.Timer | None = None

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                db = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")  # a cache: losing the last commit is fine
                db.executescript(_SCHEMA)
            except (OSError, sqlite3.Error) as err:
                raise unwritable_cache(self.path, err) from err
            self._db = db
        return self._db

    # -- local file hashes --------------------------------------------------------------
    def file_etag(self, path: Path, kind: str, compute: Callable[[Path], str]) -> str:
        """The ETag of a local file as ``kind`` of backend computes it, cached by size and mtime."""
        return self.file_etags([path], kind, compute)[0]

    def file_etags(self, paths: list[Path], kind: str, compute: Callable[[Path], str]) -> list[str]:
        """``file_etag`` for many files: one query per 500 (only 500 files' stats held at
        once), new hashes stored in one commit."""
        with self._lock:
            self._conn()  # opened even for no file: an unwritable cache is told before any transfer
        out: list[str] = []
        fresh: list[HashRow] = []
        for chunk in _chunks(paths):
            names = [os.path.abspath(p) for p in chunk]
            cached = self._cached_hashes(names, kind)
            for path, name in zip(chunk, names, strict=True):
                st = os.stat(path)
                hit = cached.get(name)
                if hit is not None and hit[:2] == (st.st_size, st.st_mtime_ns):
                    out.append(hit[2])
                    continue
                etag = compute(path)
                if _settled(st.st_mtime_ns):
                    fresh.append((name, st.st_size, st.st_mtime_ns, kind, etag))
                out.append(etag)
        if fresh:
            with self._lock:
                self._hashes.extend(fresh)
            self.flush()
        return out

    def _cached_hashes(self, names: list[str], kind: str) -> dict[str, tuple[int, int, str]]:
        self.flush()
        found: dict[str, tuple[int, int, str]] = {}
        with self._lock:
            db = self._conn()
            for chunk in _chunks(names):
                marks = ",".join("?" * len(chunk))
                rows = db.execute(
                    "SELECT path, size, mtime_ns, etag FROM hashes "
                    f"WHERE kind=? AND path IN ({marks})",
                    (kind, *chunk),
                )
                found.update({p: (s, m, e) for p, s, m, e in rows})
        return found

    @staticmethod
    def cacheable(mtime_ns: int) -> bool:
        """Whether a hash of a file last modified at ``mtime_ns`` would be kept (``_settled``):
        callers skip computing one that would be dropped."""
        return _settled(mtime_ns)

    def defer_hash(self, path: Path, size: int, mtime_ns: int, kind: str, etag: str) -> None:
        """Queue a known hash of a local file (committed by the next ``flush``)."""
        if not _settled(mtime_ns):
            return
        with self._lock:
            self._hashes.append((os.path.abspath(path), size, mtime_ns, kind, etag))
            full = len(self._hashes) >= _AUTO_FLUSH
            timer = self._new_timer()
        if timer is not None:
            timer.start()
        if full:
            self.flush()

    # -- what t4 wrote ------------------------------------------------------------------
    def written(self, bucket: str, keys: Iterable[str]) -> dict[str, tuple[str, str]]:
        """For each key t4 wrote to ``bucket``: (etag, metadata digest)."""
        self.flush()
        out: dict[str, tuple[str, str]] = {}
        with self._lock:
            db = self._conn()
            for chunk in _chunks(list(keys)):
                marks = ",".join("?" * len(chunk))
                rows = db.execute(
                    f"SELECT key, etag, meta FROM written WHERE bucket=? AND key IN ({marks})",
                    (bucket, *chunk),
                )
                out.update({k: (e, m) for k, e, m in rows})
        return out

    def record_written(self, bucket: str, items: Iterable[tuple[str, str | None, str]]) -> None:
        """Remember (key, etag, metadata digest) of objects just written, now."""
        self.defer_written(bucket, items)
        self.flush()

    def defer_written(self, bucket: str, items: Iterable[tuple[str, str | None, str]]) -> None:
        """Like ``record_written``, committed by the next ``flush`` (for transfer threads)."""
        rows = [(bucket, k, e, m) for k, e, m in items if e]
        with self._lock:
            self._written.extend(rows)
            full = len(self._written) >= _AUTO_FLUSH
            timer = self._new_timer()
        if timer is not None:
            timer.start()
        if full:
            self.flush()

    def forget(self, bucket: str, keys: Iterable[str]) -> None:
        """Drop the records of deleted objects."""
        self.flush()
        with self._lock, self._conn() as db:
            db.executemany(
                "DELETE FROM written WHERE bucket=? AND key=?", [(bucket, k) for k in keys]
            )

    # -- housekeeping -------------------------------------------------------------------
    def _new_timer(self) -> threading.Timer | None:
        """The timer that will commit the queue, unless one is already waiting (called under
        the lock, started outside it: one short-lived thread a half-second at most)."""
        if self._timer is not None or not (self._hashes or self._written):
            return None
        self._timer = threading.Timer(FLUSH_SECONDS, self._flush_in_background)
        self._timer.daemon = True
        self._timer.name = "t4-state-flush"
        return self._timer

    def flush(self) -> None:
        """Commit queued rows in one transaction."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()  # harmless when this is the timer's own call
                self._timer = None
            hashes, written = self._hashes, self._written
            if not hashes and not written:
                return
            self._hashes, self._written = [], []
            try:
                with self._conn() as db:
                    db.executemany("INSERT OR REPLACE INTO hashes VALUES (?, ?, ?, ?, ?)", hashes)
                    db.executemany("INSERT OR REPLACE INTO written VALUES (?, ?, ?, ?)", written)
            except sqlite3.Error as err:  # a full disk, say
                raise unwritable_cache(self.path, err) from err

    def _flush_in_background(self) -> None:
        """The timer's flush: a cache that cannot be written is reported by the next call
        that needs it; here it is only logged, so no thread dies with a traceback."""
        try:
            self.flush()
        except T4Error as err:
            log.warning("%s", err)

    def close(self) -> None:
        """Flush and close the database."""
        self.flush()
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
