"""The embedded index's SQLite file: its tables (created, or rebuilt when their version
changes), its connections (read-write, or read-only where the folder cannot be written), its
write transactions, and what a failed search means: a query SQLite refuses, or an index that
cannot be read (locked, damaged, unreadable), each its own ``T4Error``.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

from t4.errors import CacheError, QuerySyntaxError, T4Error
from t4.surface import named

__all__ = ["SCHEMA_VERSION", "Transaction", "connect", "search_failure"]

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (
    id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, size INTEGER NOT NULL, etag TEXT,
    last_modified REAL NOT NULL, version_id TEXT, meta TEXT NOT NULL, text TEXT);
CREATE INDEX IF NOT EXISTS docs_time ON docs (last_modified, key);
CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5 (
    key, text, meta, tokenize = 'unicode61 remove_diacritics 2');
CREATE TABLE IF NOT EXISTS fields (
    path TEXT NOT NULL, str TEXT NOT NULL, doc_id INTEGER NOT NULL, tok INTEGER NOT NULL,
    PRIMARY KEY (path, str, doc_id, tok)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS nums (
    path TEXT NOT NULL, num REAL NOT NULL, doc_id INTEGER NOT NULL,
    PRIMARY KEY (path, num, doc_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS nums_doc ON nums (doc_id, path);
"""
#: Bumped when the tables change; an index of another version is rebuilt (it is a cache).
SCHEMA_VERSION = 1
#: Seconds a connection waits for another's lock before the statement fails.
BUSY_SECONDS = 30
#: How SQLite (as ``SQLITE_ERROR``) refuses a query it was given, not a file it cannot use:
#: FTS5's parser, and the limits a query's size can reach.
_REFUSED_QUERY = (
    "fts5: ",
    "unterminated string",
    "unknown special query",
    "Expression tree is too large",
    "too many SQL variables",
    "LIKE or GLOB pattern too complex",
    "parser stack overflow",
)


def connect(path: Path, *, read_only: bool = False) -> sqlite3.Connection:
    """A connection to the index file, for the catalog server's threads (the caller
    serialises them): WAL mode and a busy timeout, so that processes share the file; its
    tables made. ``read_only``: an existing file that is never written (see ``_read_only``).
    """
    if read_only:
        return _read_only(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute(f"PRAGMA busy_timeout = {BUSY_SECONDS * 1000}")
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    db.execute("PRAGMA cache_size = -65536")  # 64 MiB: index inserts stay in memory
    db.execute("PRAGMA wal_autocheckpoint = 8192")  # fewer, larger checkpoints
    _ensure_schema(db, path)
    return db


def search_failure(err: sqlite3.Error, path: Path, query: object) -> T4Error:
    """What a search that SQLite failed means: the query's fault (``QuerySyntaxError``: a
    400 from the catalog) only where SQLite refused the query itself; any other failure (the
    file locked past the busy timeout, a disk I/O error, a damaged file) is the index's,
    a ``CacheError`` naming the file and the fix."""
    said = str(err)
    if getattr(err, "sqlite_errorname", None) == "SQLITE_ERROR" and said.startswith(_REFUSED_QUERY):
        return QuerySyntaxError(f"cannot run search query {query!r}: {said}")
    if getattr(err, "sqlite_errorname", "").startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        fix = (f"another process held it locked for over {BUSY_SECONDS} s: search again once "
               f"that process (an {named('index()')} or crawl of this bucket) has "
               "finished")  # fmt: skip
    else:
        fix = (f"it is damaged or unreadable. It is a cache of the bucket: delete {path} (and "
               f"its -wal and -shm files beside it) and rebuild it with "
               f"{named('Bucket.index()')}")  # fmt: skip
    return CacheError(f"cannot search the index {path} ({said}): {fix}")


def _read_only(path: Path) -> sqlite3.Connection:
    """A connection that never writes: plain read-only first; where SQLite cannot even keep
    its WAL index beside the file (a read-only filesystem), as an immutable file."""
    failure: sqlite3.Error = sqlite3.OperationalError(f"cannot open {path}")
    for mode in ("mode=ro", "mode=ro&immutable=1"):
        db = sqlite3.connect(
            f"{path.as_uri()}?{mode}", uri=True, isolation_level=None, check_same_thread=False
        )
        try:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            db.execute("SELECT count(*) FROM docs").fetchone()
        except sqlite3.Error as err:
            db.close()
            failure = err
            continue
        if version != SCHEMA_VERSION:
            db.close()
            raise sqlite3.DatabaseError(f"{path} holds another index format ({version})")
        return db
    raise failure


def _ensure_schema(db: sqlite3.Connection, path: Path) -> None:
    """Create the tables, or recreate them when the file holds another schema version."""
    if db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
        return
    with Transaction(db):
        if db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
            return  # another process got there first
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master")}
        if "docs" in tables:
            log.warning(
                "search index %s has an older format: rebuilt empty; run %s", path, named("index()")
            )
        for table in ("docs", "fts", "fields", "nums"):
            db.execute(f"DROP TABLE IF EXISTS {table}")  # fixed names, no user input
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                db.execute(statement)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


class Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``: takes the write lock up front, so that two
    writers queue on the busy timeout instead of failing on a lock upgrade."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")
