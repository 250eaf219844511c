"""Search a bucket and download every hit, skipping what is already there.

Example:
    >>> search_then_fetch("s3://lake", "user_meta.owner:'ada'", "./hits")  # doctest: +SKIP

Command line::

    python -m flows.search_then_fetch s3://lake "user_meta.owner:'ada'" ./hits --limit 50
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from prefect import flow
from prefect.artifacts import create_table_artifact

from flows._cli import parser_for, run_from_cli
from t4.transfer import TransferSummary
from t4flows import report
from t4flows.bulk import copy_chunk, run_chunks
from t4flows.plan import Entry, Side, chunked
from t4flows.tasks import search

__all__ = ["main", "search_then_fetch"]


@flow(name="search_then_fetch")
def search_then_fetch(
    bucket: str,
    query: str,
    destination: str,
    limit: int = 100,
    chunk_size: int = 200,
    parallel: int = 4,
    report_key: str | None = "search-then-fetch",
) -> dict[str, Any]:
    """Fetch every object matching ``query`` into ``destination`` (keys become paths).

    Example:
        >>> found = search_then_fetch("s3://lake", "user_meta.owner:ada", "out")  # doctest: +SKIP
        >>> found["paths"]  # doctest: +SKIP
        ['/home/me/out/published/a.csv']

    Args:
        bucket: ``s3://name``, ``file:///abs/folder`` or ``t4-bucket/NAME``.
        query: T4's query language: words, ``user_meta.field:'value'``, AND/OR/NOT, ranges.
        destination: the local folder; no key can write outside it.
        limit: at most this many hits.
        chunk_size: files per download task; parallel: download tasks at once.
        report_key: the key of the report artifact.

    Returns:
        ``paths`` (the local file of every hit, in hit order), ``fetched`` and ``present``
        (keys downloaded now / already identical), ``failed``.
    """
    hits = search(bucket, query, limit)
    entries = sorted({h["key"]: Entry(h["key"], int(h.get("size") or 0)) for h in hits}.values(),
                     key=lambda e: e.rel)  # fmt: skip
    source = Side.of(bucket, bucket=True)
    folder = Side.of(str(Path(destination).expanduser()))
    summary = run_chunks(
        copy_chunk,
        chunked(entries, chunk_size),
        label=f"{bucket} -> {destination}",
        parallel=parallel,
        source=source,
        destination=folder,
    )
    summary.operation = "search_then_fetch"
    failed = summary.as_dict()["failed"]
    result = {
        "query": query,
        "paths": [str(folder.path(h["key"])) for h in hits if h["key"] not in failed],
        "fetched": sorted(summary.transferred),
        "present": sorted(summary.skipped),
        "failed": failed,
    }
    rows = [
        {
            "key": h["key"],
            "path": str(folder.path(h["key"])),
            "size": h.get("size"),
            "status": _status(h["key"], summary, failed),
        }
        for h in hits
    ]
    text = f"{len(hits)} hits for {query!r}; {summary.line()}"
    report.publish(summary, key=None)
    create_table_artifact(rows, key=report_key, description=text)
    error = summary.error()
    if error is not None:
        raise error
    return result


def _status(key: str, summary: TransferSummary, failed: dict[str, str]) -> str:
    if key in failed:
        return f"failed: {failed[key]}"
    return "fetched" if key in summary.transferred else "already present"


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m flows.search_then_fetch BUCKET QUERY DESTINATION [--limit N]``"""
    parser = parser_for(search_then_fetch)
    parser.add_argument("bucket", help="s3://name, file:///abs/folder or t4-bucket/NAME")
    parser.add_argument("query", help="e.g. \"user_meta.owner:'ada'\" or words")
    parser.add_argument("destination", help="the local folder to fetch into")
    parser.add_argument("--limit", type=int, default=100, help="at most this many hits")
    return run_from_cli(search_then_fetch, parser, argv)


if __name__ == "__main__":
    sys.exit(main())
