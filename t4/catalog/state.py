"""What the catalog serves: its buckets, one embedded index each, kept fresh in the background.

Searches read each index through a connection of their own while a refresh writes through
the bucket's: the index runs in SQLite's WAL mode, so a search reads the last committed
state and never waits for a refresh (which commits in batches) to finish.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from t4.bucket import Bucket
from t4.errors import ConfigError
from t4.search import bucket_name
from t4.search.sqlite_index import EmbeddedIndex
from t4.search.upkeep import check_folder

__all__ = ["MAX_RESULT_WINDOW", "Catalog", "UnknownIndexError"]

log = logging.getLogger(__name__)

#: Elasticsearch's ``index.max_result_window``: ``from + size`` may not exceed it.
MAX_RESULT_WINDOW = 10_000


class UnknownIndexError(ConfigError, KeyError):
    """A search named an index the catalog does not serve."""


class Catalog:
    """The buckets a catalog serves, by index name (the bucket's name), in order.

    Args:
        buckets: ``s3://name`` or folder URIs (opened and closed by the catalog), or ``Bucket``
            objects (the caller's: left open).
        refresh: seconds between background incremental ``index()`` runs; 0 turns them off.
        index_at_start: bring every index up to date in ``start()`` (else serve each as it
            is until a refresh: a prepared index, or one ``POST /_refresh`` will update).

    Example:
        >>> catalog = Catalog(["s3://my-bucket"], refresh=30).start()  # doctest: +SKIP
        >>> catalog.search("my-bucket", "thor")["hits"]["hits"][0]["_id"]  # doctest: +SKIP
        'heroes/thor.json'
    """

    def __init__(
        self, buckets: Sequence[str | Bucket], *, refresh: float = 30.0, index_at_start: bool = True
    ):
        if not buckets:
            raise ConfigError("a catalog needs at least one bucket (--bucket / T4_CATALOG_BUCKETS)")
        if refresh < 0:
            raise ConfigError(
                f"the refresh interval must be 0 (off) or more seconds, not {refresh}"
            )
        self.refresh_interval = float(refresh)
        self.index_at_start = index_at_start
        self.buckets: dict[str, Bucket] = {}
        self._opened: list[Bucket] = []  # the ones to close
        for item in buckets:
            bucket = item if isinstance(item, Bucket) else Bucket(item, progress=False)
            if bucket is not item:
                self._opened.append(bucket)
            check_folder(bucket.backend)  # before serving anything: one clear error
            name = bucket_name(bucket.uri)
            if name in self.buckets:
                raise ConfigError(
                    f"two buckets share the index name {name!r} ({self.buckets[name].uri} and "
                    f"{bucket.uri}): serve them from two catalogs"
                )
            self.buckets[name] = bucket
        self._readers: dict[str, EmbeddedIndex] = {}
        self._refreshed: dict[str, tuple[float, float]] = {}  # name -> (monotonic, epoch)
        self._locks = {name: threading.Lock() for name in self.buckets}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- lifetime ---------------------------------------------------------------------------
    def start(self) -> Catalog:
        """Index every bucket once (incrementally), open the readers, start refreshing."""
        for name in self.buckets:
            if self.index_at_start:
                self.refresh(name)
            if name not in self._readers:
                self._readers[name] = EmbeddedIndex(self.buckets[name].index_path)
        if self.refresh_interval > 0 and self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._refresh_loop, name="t4-catalog-refresh", daemon=True
            )
            self._thread.start()
        return self

    def close(self) -> None:
        """Stop refreshing; close the readers and the buckets the catalog opened."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
            self._thread = None
        for reader in self._readers.values():
            reader.close()
        self._readers.clear()
        for bucket in self._opened:
            bucket.close()

    # -- freshness --------------------------------------------------------------------------
    def refresh(self, index_name: str) -> dict[str, int]:
        """Bring one index up to date with its bucket now (an incremental ``index()``)."""
        bucket = self._bucket(index_name)
        with self._locks[index_name]:  # one refresh of a bucket at a time
            started = (time.monotonic(), time.time())
            summary = bucket.index()
            self._refreshed[index_name] = started  # the index holds the bucket as of then
        log.info("catalog refreshed %s: %s", bucket.uri, summary)
        return summary

    def age(self, index_name: str) -> float:
        """Seconds since the listing of the last refresh that completed (``inf``: none yet)."""
        self._bucket(index_name)
        done = self._refreshed.get(index_name)
        return float("inf") if done is None else time.monotonic() - done[0]

    def refreshed_at(self, index_name: str) -> str | None:
        """When the last completed refresh listed the bucket (ISO 8601, UTC)."""
        done = self._refreshed.get(index_name)
        if done is None:
            return None
        return datetime.fromtimestamp(done[1], UTC).isoformat().replace("+00:00", "Z")

    def _refresh_loop(self) -> None:
        while not self._stop.wait(self.refresh_interval):
            for name in self.buckets:
                if self._stop.is_set():
                    return
                try:
                    self.refresh(name)
                except Exception:  # keep refreshing the others; the age shows it is stale
                    log.exception("catalog refresh of %s failed", self.buckets[name].uri)

    # -- searching --------------------------------------------------------------------------
    def search(
        self, index_name: str, query_or_body: str | dict[str, Any], size: int = 10, from_: int = 0
    ) -> dict[str, Any]:
        """An Elasticsearch-shaped answer: ``took``, ``timed_out``, ``hits`` (``total``,
        ``max_score``, ``hits`` with ``_index``, ``_id``, ``_score``, ``_source``), plus
        ``_t4`` (the index's name, age in seconds and last refresh).

        Raises:
            UnknownIndexError: no such index.
            QuerySyntaxError: the query does not parse or cannot run.
            ValueError: ``size``/``from_`` outside 0..10,000 (together at most 10,000).
        """
        if from_ < 0 or size < 0 or from_ + size > MAX_RESULT_WINDOW:
            raise ValueError(
                f"from and size must be 0 or more and from + size at most {MAX_RESULT_WINDOW},"
                f" not from={from_}, size={size}"
            )
        reader = self._reader(index_name)
        started = time.perf_counter()
        query = (
            {**query_or_body, "size": from_ + size}
            if isinstance(query_or_body, dict)
            else (query_or_body)
        )
        hits = reader.search(query, limit=from_ + size)
        took = int((time.perf_counter() - started) * 1000)
        page = hits[from_:]
        return {
            "took": took,
            "timed_out": False,
            "hits": {
                "total": {
                    "value": len(hits),
                    "relation": "gte" if len(hits) >= from_ + size else "eq",
                },
                "max_score": max((h["score"] for h in page), default=None),
                "hits": [_es_hit(index_name, hit) for hit in page],
            },
            "_t4": self.about(index_name),
        }

    def about(self, index_name: str) -> dict[str, Any]:
        """The index's name, age (seconds) and last refresh, as answers carry them."""
        age = self.age(index_name)
        return {
            "index": index_name,
            "index_age": None if age == float("inf") else round(age, 3),
            "refreshed": self.refreshed_at(index_name),
        }

    def _bucket(self, index_name: str) -> Bucket:
        try:
            return self.buckets[index_name]
        except KeyError:
            served = ", ".join(self.buckets)
            raise UnknownIndexError(
                f"no such index {index_name!r}: this catalog serves {served}"
            ) from None

    def _reader(self, index_name: str) -> EmbeddedIndex:
        self._bucket(index_name)
        reader = self._readers.get(index_name)
        if reader is None:
            raise RuntimeError("the catalog is not started; call start() first")
        return reader


def _es_hit(index_name: str, hit: dict[str, Any]) -> dict[str, Any]:
    """A hit in Elasticsearch's shape, ``_source`` as T4's indexer wrote it."""
    source = {
        "key": hit["key"],
        "version_id": hit["version_id"],
        "type": "Create",
        "size": hit["size"],
        "user_meta": hit["meta"],
        "text": hit["text"],
        "updated": hit["last_modified"],
        "last_modified": hit["last_modified"],
    }
    return {"_index": index_name, "_id": hit["key"], "_score": hit["score"], "_source": source}
