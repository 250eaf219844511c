"""What t4 remembers between runs so a re-run does no repeated work, in one SQLite file in the
cache folder (safe to delete: everything in it is rebuilt on demand).

- ``hashes``: a local file's ETag, by path, size and mtime, so unchanged files are not re-hashed.
- ``written``: the ETag and metadata digest of each object t4 last wrote, so an unchanged
  upload is skipped from the listing alone, without asking the server for its metadata.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from t4.config import cache_dir

__all__ = ["TransferState", "meta_digest"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS hashes (
    path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, kind TEXT, etag TEXT);
CREATE TABLE IF NOT EXISTS written (
    bucket TEXT, key TEXT, etag TEXT, meta TEXT, PRIMARY KEY (bucket, key));
"""


def meta_digest(meta: dict[str, Any]) -> str:
    """A short, stable digest of a helium dict."""
    text = json.dumps(meta, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


class TransferState:
    """The cache; one per bucket object, shared by its threads."""

    def __init__(self, path: Path | None = None):
        self.path = path or cache_dir() / "transfer-state.sqlite"
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)
            self._db = db
        return self._db

    def file_etag(self, path: Path, kind: str, compute: Callable[[Path], str]) -> str:
        """The ETag of a local file as ``kind`` of backend computes it, cached by size and mtime."""
        st = path.stat()
        key = str(path.resolve())
        with self._lock:
            row = (
                self._conn()
                .execute(
                    "SELECT etag FROM hashes WHERE path=? AND size=? AND mtime_ns=? AND kind=?",
                    (key, st.st_size, st.st_mtime_ns, kind),
                )
                .fetchone()
            )
        if row:
            return str(row[0])
        etag = compute(path)
        with self._lock, self._conn() as db:
            db.execute(
                "INSERT OR REPLACE INTO hashes VALUES (?, ?, ?, ?, ?)",
                (key, st.st_size, st.st_mtime_ns, kind, etag),
            )
        return etag

    def written(self, bucket: str, keys: Iterable[str]) -> dict[str, tuple[str, str]]:
        """For each key t4 wrote to ``bucket``: (etag, metadata digest)."""
        wanted = list(keys)
        out: dict[str, tuple[str, str]] = {}
        with self._lock:
            db = self._conn()
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = db.execute(
                    f"SELECT key, etag, meta FROM written WHERE bucket=? AND key IN ({marks})",
                    (bucket, *chunk),
                )
                out.update({k: (e, m) for k, e, m in rows})
        return out

    def record_written(self, bucket: str, items: Iterable[tuple[str, str | None, str]]) -> None:
        """Remember (key, etag, metadata digest) of objects just written."""
        rows = [(bucket, k, e, m) for k, e, m in items if e]
        if not rows:
            return
        with self._lock, self._conn() as db:
            db.executemany("INSERT OR REPLACE INTO written VALUES (?, ?, ?, ?)", rows)

    def forget(self, bucket: str, keys: Iterable[str]) -> None:
        with self._lock, self._conn() as db:
            db.executemany(
                "DELETE FROM written WHERE bucket=? AND key=?", [(bucket, k) for k in keys]
            )

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
