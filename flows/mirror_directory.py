"""Mirror a folder to a bucket, a bucket to a folder, or a bucket to a bucket, incrementally.

Each side is listed once (a folder walked as ``put_dir`` walks it); only what differs (by size
and ETag) is copied, in chunk tasks of up to 2,000 files, at most ``parallel`` at a time,
each one call of the core's ``put_files`` / ``fetch_keys`` / ``copy_to`` given the plan's
listing. A second run with no changes lists once and transfers nothing. ``delete=True`` also
removes what the source no longer has, in batches, only ever under the destination; a source
that does not exist fails the run and deletes nothing, and a source that lists no files is
refused with ``delete=True`` unless ``allow_empty_source=True``. Every delete is reported in
the return value, the log line and the table artifact.

Example:
    >>> mirror_directory("./data", "s3://lake/raw")  # doctest: +SKIP
    >>> mirror_directory("s3://lake/raw", "./copy", delete=True)  # doctest: +SKIP

Command line::

    python -m flows.mirror_directory ./data s3://lake/raw --delete --exclude '*.tmp'
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from prefect import flow

from flows._cli import parser_for, run_from_cli
from t4flows import report
from t4flows.bulk import copy_chunk, delete_chunk, run_chunks
from t4flows.plan import CHUNK_FILES, Side, chunked, plan_mirror

__all__ = ["main", "mirror_directory"]

#: Deletes per chunk task (a bucket deletes them 1,000 keys a request).
DELETE_CHUNK = 10_000


@flow(name="mirror_directory")
def mirror_directory(
    source: str,
    destination: str,
    delete: bool = False,
    dry_run: bool = False,
    include: list[str] | None = None,
    exclude: list[str] | None = None,
    chunk_size: int = CHUNK_FILES,
    parallel: int = 4,
    concurrency: int | None = None,
    report_key: str | None = "mirror-directory",
    allow_empty_source: bool = False,
) -> dict[str, Any]:
    """Make ``destination`` hold what ``source`` holds.

    Example:
        >>> mirror_directory("./data", "s3://lake/raw", exclude=["*.tmp"])  # doctest: +SKIP
        {'operation': 'mirror', 'transferred': ['a.csv'], 'skipped': [], 'deleted': [], ...}

    Args:
        source: a folder, ``s3://bucket/prefix``, ``file:///abs/bucket`` or
            ``t4-bucket/BLOCK/prefix``. A source that does not exist is an error.
        destination: the same forms; at least one side must be a bucket.
        delete: also delete destination files the source does not have. Refused when the
            source lists no files at all, unless ``allow_empty_source``.
        dry_run: only plan: return what would be copied and deleted.
        include: glob patterns (on the path relative to the source) to keep; default all.
        exclude: glob patterns to leave out (neither copied nor deleted).
        chunk_size: files per chunk task.
        parallel: chunk tasks in flight at once.
        concurrency: transfers at once inside one chunk task; default the bucket's
            (``T4_CONCURRENCY``, else ``t4.config``, else 64), as the core's.
        report_key: the key of the report artifact (versioned across runs).
        allow_empty_source: with ``delete``, let an empty source empty the destination.

    Returns:
        The summary: ``transferred``, ``skipped``, ``deleted``, ``failed``, ``bytes``,
        ``seconds`` (relative paths), and ``listed`` (files found on each side).
        Raises ``TransferError`` after publishing the report if any file failed.
    """
    src, dst = Side.of(source), Side.of(destination)  # a saved block is loaded here, once
    # planned in the flow itself: a task run of its own cost the API more than the plan
    plan = plan_mirror(
        src,
        dst,
        delete=delete,
        include=include or (),
        exclude=exclude or (),
        allow_empty_source=allow_empty_source,
        concurrency=concurrency,
    )
    label = f"{source} -> {destination}"
    if dry_run:
        return {"operation": "mirror (dry run)", "bucket": label, **plan.as_dict()}
    copies = chunked(plan.copy, chunk_size)
    removals = [plan.delete[i : i + DELETE_CHUNK] for i in range(0, len(plan.delete), DELETE_CHUNK)]
    # one chunk moves in one task run, whose state says how it went: no progress artifact
    progress = None
    if len(copies) + len(removals) > 1:
        progress = report.Progress(len(plan.copy) + len(plan.delete), f"mirror {label}")
    summary = run_chunks(
        copy_chunk,
        copies,
        label=label,
        parallel=parallel,
        progress=progress,
        source=src,
        destination=dst,
        concurrency=concurrency,
    )
    summary.merge(
        run_chunks(
            delete_chunk,
            removals,
            label=label,
            parallel=parallel,
            progress=progress,
            destination=dst,
        )
    )
    if progress is not None:
        progress.finish()
    summary.skipped.extend(plan.unchanged)
    for done in (summary.transferred, summary.skipped, summary.deleted):
        done.sort()
    report.publish(summary, key=report_key)
    error = summary.error()
    if error is not None:
        raise error
    return {**summary.as_dict(), "listed": plan.listed}


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m flows.mirror_directory SOURCE DESTINATION [--delete] [--dry-run] ...``"""
    parser = parser_for(mirror_directory)
    parser.epilog = (
        "Without PREFECT_API_URL, Prefect first starts a temporary local API (11 s on an "
        "idle 2-core machine with a fresh PREFECT_HOME) before the mirror itself runs. "
        "Point PREFECT_API_URL at a running server to skip it."
    )
    parser.add_argument("source", help="folder, s3://bucket/prefix, file:///bucket, t4-bucket/NAME")
    parser.add_argument("destination", help="the same forms; one side must be a bucket")
    parser.add_argument("--delete", action="store_true", help="remove what the source lacks")
    parser.add_argument("--dry-run", action="store_true", help="only show the plan")
    parser.add_argument("--include", action="append", metavar="GLOB", help="keep only these")
    parser.add_argument("--exclude", action="append", metavar="GLOB", help="leave these out")
    parser.add_argument(
        "--allow-empty-source", action="store_true", help="with --delete, allow an empty source"
    )
    parser.add_argument("--chunk-size", type=int, default=CHUNK_FILES, help="files per chunk task")
    parser.add_argument("--parallel", type=int, default=4, help="chunk tasks at once")
    return run_from_cli(mirror_directory, parser, argv)


if __name__ == "__main__":
    sys.exit(main())
