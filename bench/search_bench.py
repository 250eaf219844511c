"""Search benchmark: build an embedded index of synthetic objects, then time mixed queries
embedded and through the catalog server on loopback.

Run: ``python -m bench.search_bench [--objects 100000] [--queries 200]``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from t4.search.catalog import CatalogServer

from t4.search import Document, EmbeddedIndex
from t4.search.elastic import search_endpoint

STAGES = ["raw", "clean", "curated", "archive"]
TEAMS = ["genomics", "imaging", "finance", "ops", "ml"]
EXTENSIONS = ["csv", "json", "md", "txt", "parquet", "tmp"]
START = datetime(2020, 1, 1, tzinfo=UTC)


def _vocabulary(rng: random.Random, size: int = 5000) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(letters) for _ in range(rng.randint(3, 9))))
    return sorted(words)


def _documents(n: int, rng: random.Random, vocab: list[str]) -> Iterator[Document]:
    cumulative = list(itertools.accumulate(1 / (rank + 1) for rank in range(len(vocab))))
    for i in range(n):
        ext = rng.choice(EXTENSIONS)
        name = rng.choice(vocab)
        meta = {
            "name": f"{name} {rng.choice(vocab)}",
            "stage": rng.choice(STAGES),
            "rows": rng.randint(0, 100_000),
            "date": (START + timedelta(days=rng.randint(0, 1500))).date().isoformat(),
            "owner": {"team": rng.choice(TEAMS)},
            "tags": rng.sample(vocab[:200], 2),
        }
        words = rng.choices(vocab, cum_weights=cumulative, k=60) if ext != "parquet" else []
        yield Document(
            key=f"{rng.choice(TEAMS)}/{meta['stage']}/{name}_{i}.{ext}",
            size=rng.randint(10, 10_000_000),
            etag=f"{i:032x}",
            last_modified=START + timedelta(seconds=rng.randint(0, 4 * 365 * 86400)),
            version_id=None,
            user_meta=meta,
            text=" ".join(words) or None,
        )


def _queries(n: int, rng: random.Random, vocab: list[str]) -> list[str]:
    """A third words, a third structured, a third ranges."""
    forms: list[Callable[[], str]] = [
        lambda: rng.choice(vocab[:2000]),
        lambda: f"{rng.choice(vocab[:300])} {rng.choice(vocab[:300])}",
        lambda: f'"{rng.choice(vocab[:50])} {rng.choice(vocab[:50])}"',
        lambda: f"user_meta.name:'{rng.choice(vocab)}'",
        lambda: f"user_meta.stage:{rng.choice(STAGES)} AND NOT key:*.tmp",
        lambda: f"user_meta.owner.team:{rng.choice(TEAMS)} AND user_meta.stage:raw",
        lambda: f"user_meta.rows:[{(lo := rng.randint(0, 90_000))} TO {lo + 5000}]",
        lambda: f"user_meta.date:[2021-0{rng.randint(1, 9)}-01 TO 2021-12-31]",
        lambda: f"size:>={rng.randint(1, 9)}000000 AND {rng.choice(vocab[:2000])}",
    ]
    return [forms[i % len(forms)]() for i in range(n)]


def _percentiles(samples: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(samples, n=100)
    return {"p50_ms": round(cuts[49] * 1000, 2), "p95_ms": round(cuts[94] * 1000, 2)}


def _time(run: Callable[[str], Any], queries: list[str]) -> dict[str, float]:
    samples = []
    for query in queries:
        started = time.perf_counter()
        run(query)
        samples.append(time.perf_counter() - started)
    return _percentiles(samples)


def run(n_objects: int = 100_000, n_queries: int = 200, seed: int = 4) -> dict[str, Any]:
    """Build an index of ``n_objects`` synthetic documents and time ``n_queries`` queries.

    Returns build time, index size, and p50/p95 latency embedded and through the catalog
    server (HTTP on loopback, the same path ``t4.config(navigator_url=...)`` takes).

    Example:
        >>> run(1000, 20)["embedded"]["p50_ms"] < 100  # doctest: +SKIP
        True
    """
    rng = random.Random(seed)
    vocab = _vocabulary(rng)
    with tempfile.TemporaryDirectory(prefix="t4-search-bench-") as tmp:
        path = Path(tmp) / "index.sqlite"
        docs = list(_documents(n_objects, rng, vocab))
        started, cpu = time.perf_counter(), time.process_time()
        with EmbeddedIndex(path) as index:
            for start in range(0, len(docs), 1000):
                index.upsert(docs[start : start + 1000])
            build = time.perf_counter() - started
            build_cpu = time.process_time() - cpu
            queries = _queries(n_queries, rng, vocab)
            embedded = _time(lambda q: index.search(q), queries)
        with CatalogServer("bench", path) as server:
            catalog = _time(lambda q: search_endpoint(server.url, q), queries)
        size_mb = path.stat().st_size / 1e6
    return {
        "objects": n_objects,
        "queries": n_queries,
        "build_s": round(build, 2),
        "build_cpu_s": round(build_cpu, 2),
        "index_mb": round(size_mb, 1),
        "embedded": embedded,
        "catalog": catalog,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    print(json.dumps(run(args.objects, args.queries), indent=2))


if __name__ == "__main__":
    main()
