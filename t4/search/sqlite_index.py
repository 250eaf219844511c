"""The embedded index: one SQLite file with an FTS5 table, from the standard library.

Tables::

    docs    id, key (unique), size, etag, last_modified (epoch seconds), version_id,
            meta (user_meta as JSON), text (the indexed excerpt)
    fts     FTS5 over key, text, meta (the words of user_meta's paths and values);
            rowid = docs.id
    fields  path, str, doc_id, tok: one row per user_meta leaf value (``tok`` 0, its
            lower-cased text in ``str``) and one per word of a many-word value (``tok`` 1)
    nums    path, num, doc_id: leaf values that are numbers or dates (as epoch seconds)

Both are clustered on (path, value), so ``user_meta.x:word`` and ranges are index range
scans; a document's rows are found again (to delete them) from its stored ``meta``.

The file runs in WAL mode with a busy timeout, so that two processes (or a writer and the
catalog server) can share it.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from t4.errors import QuerySyntaxError
from t4.search.documents import Document
from t4.search.flatten import field_rows, leaves, meta_text
from t4.search.sqlite_file import Transaction, connect, search_failure

if TYPE_CHECKING:  # the query compiler (and luqum) load on the first search
    from t4.search.sqlgen import SqlQuery

__all__ = ["EmbeddedIndex"]

log = logging.getLogger(__name__)

_COLUMNS = "d.key, d.version_id, d.size, d.last_modified, d.meta, d.text"
#: Characters of ``text`` a hit carries.
EXCERPT_CHARS = 200


def _delete(db: sqlite3.Connection, keys: list[str]) -> None:
    """Delete these keys' rows from every table (inside the caller's transaction)."""
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        marks = ", ".join("?" * len(chunk))
        found = db.execute(f"SELECT id, meta FROM docs WHERE key IN ({marks})", chunk).fetchall()
        strings: list[tuple[str, str, int, int]] = []
        numbers: list[tuple[str, float, int]] = []
        for doc_id, meta in found:
            field_rows(doc_id, list(leaves(json.loads(meta), "")), strings, numbers)
        ids = [(doc_id,) for doc_id, _ in found]
        db.executemany("DELETE FROM docs WHERE id = ?", ids)
        db.executemany("DELETE FROM fts WHERE rowid = ?", ids)
        db.executemany(
            "DELETE FROM fields WHERE path = ? AND str = ? AND doc_id = ? AND tok = ?", strings
        )
        db.executemany("DELETE FROM nums WHERE path = ? AND num = ? AND doc_id = ?", numbers)


def _epoch(moment: datetime) -> float:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


class EmbeddedIndex:
    """A bucket's search index in one SQLite file.

    Args:
        path: the index file; created (with its folder) when missing.
        read_only: open an existing file for searching only (its folder cannot be written);
            writes then fail with ``sqlite3.OperationalError``.

    Example:
        >>> import tempfile
        >>> from datetime import datetime, timezone
        >>> now = datetime(2024, 1, 1, tzinfo=timezone.utc)
        >>> index = EmbeddedIndex(Path(tempfile.mkdtemp()) / "index.sqlite")
        >>> index.upsert([Document("a.txt", 3, "e1", now, None, {"name": "Thor"}, "hi")])
        >>> [h["key"] for h in index.search("user_meta.name:'thor'")]
        ['a.txt']
        >>> index.close()
    """

    def __init__(self, path: Path, *, read_only: bool = False):
        self.path = Path(path)
        self.read_only = read_only
        # One connection shared by the catalog server's threads, serialised by a lock.
        self._lock = threading.Lock()
        self._db = connect(self.path, read_only=read_only)

    def __enter__(self) -> EmbeddedIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the file. The index cannot be used afterwards."""
        self._db.close()

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM docs").fetchone()[0])

    # -- writing ----------------------------------------------------------------------------

    def upsert(self, docs: Iterable[Document]) -> None:
        """Add or replace documents, all in one transaction (the last wins for a key twice).

        Example:
            >>> index.upsert([doc_a, doc_b])  # doctest: +SKIP
        """
        batch = list({doc.key: doc for doc in docs}.values())
        if not batch:
            return
        with self._lock, self._transaction() as db:
            _delete(db, [doc.key for doc in batch])
            # Ids are ours to give while the write lock is held; rows of a replaced id are gone.
            first = db.execute("SELECT coalesce(max(id), 0) + 1 FROM docs").fetchone()[0]
            rows, texts = [], []
            strings: list[tuple[str, str, int, int]] = []
            numbers: list[tuple[str, float, int]] = []
            for doc_id, doc in enumerate(batch, start=first):
                flat = list(leaves(doc.user_meta, ""))
                meta = json.dumps(doc.user_meta, sort_keys=True, default=str)
                epoch = _epoch(doc.last_modified)
                rows.append((doc_id, doc.key, doc.size, doc.etag, epoch, doc.version_id, meta))
                texts.append((doc_id, doc.key, doc.text or "", meta_text(flat)))
                field_rows(doc_id, flat, strings, numbers)
            db.executemany(
                "INSERT INTO docs (id, key, size, etag, last_modified, version_id, meta, text)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(*row, doc.text) for row, doc in zip(rows, batch, strict=True)],
            )
            db.executemany("INSERT INTO fts (rowid, key, text, meta) VALUES (?, ?, ?, ?)", texts)
            db.executemany("INSERT INTO fields VALUES (?, ?, ?, ?)", strings)
            db.executemany("INSERT INTO nums VALUES (?, ?, ?)", numbers)

    def remove(self, keys: Iterable[str]) -> None:
        """Forget these keys (keys not in the index are ignored), in one transaction."""
        with self._lock, self._transaction() as db:
            _delete(db, list(keys))

    def clear(self) -> None:
        """Forget every document (before a full rebuild)."""
        with self._lock, self._transaction() as db:
            db.execute("DELETE FROM docs")
            db.execute("DELETE FROM fts")
            db.execute("DELETE FROM fields")
            db.execute("DELETE FROM nums")

    def etags(self) -> dict[str, str | None]:
        """Every indexed key with the ETag it was indexed at."""
        with self._lock:
            return dict(self._db.execute("SELECT key, etag FROM docs"))

    def stamps(self) -> dict[str, tuple[str | None, float]]:
        """Every indexed key with the ETag and modification time (epoch seconds) it was
        indexed at: what an incremental crawl compares a listing with."""
        with self._lock:
            rows = self._db.execute("SELECT key, etag, last_modified FROM docs")
            return {key: (etag, modified) for key, etag, modified in rows}

    def _transaction(self) -> Transaction:
        return Transaction(self._db)

    # -- reading ----------------------------------------------------------------------------

    def search(self, query: str | dict[str, Any], limit: int = 10) -> list[dict[str, Any]]:
        """Search the index with T4's query language (Lucene ``query_string``).

        Words search keys, text and metadata, and combine with AND unless an operator says
        otherwise. Hits come best first when the query has words (bm25), else newest first.
        A dict is an Elasticsearch body; only ``query_string`` and ``match_all`` queries
        (and ``size``) are understood here.

        Raises:
            QuerySyntaxError: the query does not parse, or names an unknown field.
            CacheError: the index file cannot be read (locked past the busy timeout, a disk
                I/O error, damaged): the message names the file and the fix.

        Example:
            >>> index.search("user_meta.rows:[100 TO 5000] AND NOT key:*.tmp")  # doctest: +SKIP
            [{'key': 'a.csv', 'version_id': None, 'size': 10, ...}]
        """
        compiled, limit = _compile(query, limit)
        with self._lock:
            try:
                rows = self._run(compiled, limit)
            except sqlite3.Error as err:
                raise search_failure(err, self.path, query) from err
        return [_hit(row) for row in rows]

    def _run(self, compiled: SqlQuery, limit: int) -> list[Any]:
        """Run a compiled query with the plan that suits it.

        A filter without words can be answered two ways: gather the ids each condition
        matches then sort them (fast when few match), or walk the documents newest first
        and stop at ``limit`` (fast when many match). Which one wins is unknown until
        tried, so the first gets a few milliseconds, the second a few more, and then the
        first runs to the end. Both give the same hits in the same order.
        """
        sql, params = _select(compiled, limit)
        if compiled.match or compiled.rank or compiled.where == "1":
            return self._execute(sql, params, None)
        for attempt, budget in ((sql, 0.002), (_scan_select(compiled), 0.03)):
            try:
                return self._execute(attempt, params, budget)
            except _OutOfTime:
                continue
        return self._execute(sql, params, None)

    def _execute(self, sql: str, params: tuple[Any, ...], budget: float | None) -> list[Any]:
        if budget is None:
            return self._db.execute(sql, params).fetchall()
        deadline = time.perf_counter() + budget
        expired = []

        def tick() -> int:
            if time.perf_counter() > deadline:
                expired.append(True)
                return 1  # interrupts the statement
            return 0

        self._db.set_progress_handler(tick, 2000)
        try:
            return self._db.execute(sql, params).fetchall()
        except sqlite3.OperationalError:
            if expired:
                raise _OutOfTime() from None
            raise
        finally:
            self._db.set_progress_handler(None, 0)


class _OutOfTime(Exception):
    """A query plan ran past its time budget and was interrupted."""


def _compile(query: str | dict[str, Any], limit: int) -> tuple[SqlQuery, int]:
    """A query string or an Elasticsearch body -> compiled SQL and the limit to use."""
    from t4.search.sqlgen import SqlQuery, to_sql

    if isinstance(query, dict):
        limit = query.get("size", limit)
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
        raise QuerySyntaxError(f"the number of hits to return must be 0 or more, not {limit!r}")
    if isinstance(query, str):
        return to_sql(query), limit
    if not isinstance(query, dict):
        raise QuerySyntaxError(f"a search query is a string or a dict, not {type(query).__name__}")
    inner = query.get("query", {"match_all": {}})
    if isinstance(inner, dict) and "match_all" in inner:
        return SqlQuery(None, "1", (), None), limit
    body = inner.get("query_string") if isinstance(inner, dict) else None
    if not isinstance(body, dict) or not isinstance(body.get("query"), str):
        raise QuerySyntaxError(
            "the embedded index understands only query_string and match_all bodies; "
            "set t4.config(elastic_search_url=...) to send other Elasticsearch queries"
        )
    field = body.get("default_field", "content")
    compiled = to_sql(body["query"], body.get("default_operator", "OR"), field)
    return compiled, limit


def _select(q: SqlQuery, limit: int) -> tuple[str, tuple[Any, ...]]:
    if q.match:
        sql = (
            f"SELECT {_COLUMNS}, bm25(fts) AS rank FROM fts JOIN docs d ON d.id = fts.rowid"
            f" WHERE fts MATCH ? AND ({q.where})"
            " ORDER BY rank, d.last_modified DESC, d.key DESC LIMIT ?"
        )
        return sql, (q.match, *q.params, limit)
    if q.rank:
        sql = (
            f"SELECT {_COLUMNS}, coalesce(r.rank, 0.0) FROM docs d LEFT JOIN"
            " (SELECT rowid, bm25(fts) AS rank FROM fts WHERE fts MATCH ?) r ON r.rowid = d.id"
            f" WHERE {q.where} ORDER BY r.rank IS NULL, r.rank, d.last_modified DESC, d.key DESC"
            " LIMIT ?"
        )
        return sql, (q.rank, *q.params, limit)
    sql = (
        f"SELECT {_COLUMNS}, NULL FROM docs d WHERE {q.where}"
        " ORDER BY d.last_modified DESC, d.key DESC LIMIT ?"
    )
    return sql, (*q.params, limit)


def _scan_select(q: SqlQuery) -> str:
    """A filter-only query as a newest-first walk (same parameters as ``_select``)."""
    return (
        f"SELECT {_COLUMNS}, NULL FROM docs d INDEXED BY docs_time WHERE {q.scan_where}"
        " ORDER BY d.last_modified DESC, d.key DESC LIMIT ?"
    )


def _hit(row: tuple[Any, ...]) -> dict[str, Any]:
    key, version_id, size, last_modified, meta, text, rank = row
    return {
        "key": key,
        "version_id": version_id,
        "size": int(size),
        "last_modified": _iso(last_modified),
        "meta": json.loads(meta),
        "score": (-float(rank) or 0.0) if rank is not None else 1.0,
        "text": (text or "")[:EXCERPT_CHARS],
    }
