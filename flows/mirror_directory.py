"""Mirror a folder to a bucket, a bucket to a folder, or a bucket to a bucket, incrementally.

Each side is listed once; only what differs (by size and ETag) is copied, in chunk tasks of
a few hundred files, at most ``parallel`` at a time. A second run with no changes lists once
and transfers nothing. ``delete=True`` also removes what the source no longer has, and only
ever under the destination.

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
from t4.errors import TransferError
from t4flows import report
from t4flows.bulk import copy_chunk, delete_chunk, mirror_plan, run_chunks
from t4flows.plan import chunked

__all__ = ["main", "mirror_directory"]


@flow(name="mirror_directory")
def mirror_directory(
    source: str,
    destination: str,
    delete: bool = False,
    dry_run: bool = False,
    include: list[str] | None = None,
    exclude: list[str] | None = None,
    chunk_size: int = 500,
    parallel: int = 4,
    concurrency: int = 8,
    report_key: str | None = "mirror-directory",
) -> dict[str, Any]:
    """Make ``destination`` hold what ``source`` holds.

    Example:
        >>> mirror_directory("./data", "s3://lake/raw", exclude=["*.tmp"])  # doctest: +SKIP
        {'operation': 'mirror', 'transferred': ['a.csv'], 'skipped': [], 'deleted': [], ...}

    Args:
        source: a folder, ``s3://bucket/prefix``, ``file:///abs/bucket`` or
            ``t4-bucket/BLOCK/prefix``.
        destination: the same forms; at least one side must be a bucket.
        delete: also delete destination files the source does not have.
        dry_run: only plan: return what would be copied and deleted.
        include: glob patterns (on the path relative to the source) to keep; default all.
        exclude: glob patterns to leave out (neither copied nor deleted).
        chunk_size: files per chunk task.
        parallel: chunk tasks in flight at once.
        concurrency: transfers at once inside one chunk task.
        report_key: the key of the report artifact (versioned across runs).

    Returns:
        The summary: ``transferred``, ``skipped``, ``deleted``, ``failed``, ``bytes``...
        Raises ``TransferError`` after publishing the report if any file failed.
    """
    plan = mirror_plan(source, destination, delete, include, exclude)
    label = f"{source} -> {destination}"
    if dry_run:
        return {"operation": "mirror (dry run)", "bucket": label, **plan}
    work: dict[str, Any] = {
        "source": source,
        "destination": destination,
        "concurrency": concurrency,
    }
    progress = report.Progress(len(plan["copy"]) + len(plan["delete"]), f"mirror {label}")
    parts = run_chunks(
        copy_chunk, chunked(plan["copy"], chunk_size), parallel=parallel, progress=progress, **work
    )
    rels = plan["delete"]
    removed = run_chunks(
        delete_chunk,
        [rels[i : i + 1000] for i in range(0, len(rels), 1000)],
        parallel=parallel,
        progress=progress,
        argument="rels",
        destination=destination,
        concurrency=concurrency,
    )
    progress.finish()
    summary = report.merge("mirror", label, parts)
    summary["skipped"] = sorted(plan["unchanged"] + summary["skipped"])
    summary["deleted"] = sorted(r for part in removed for r in part["transferred"])
    summary["failed"].update({r: why for part in removed for r, why in part["failed"].items()})
    summary["listed"] = plan["listed"]
    report.publish(summary, key=report_key)
    if summary["failed"]:
        raise TransferError(
            f"{report.line(summary)}; see the report artifact for each file", bucket=destination
        )
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m flows.mirror_directory SOURCE DESTINATION [--delete] [--dry-run] ...``"""
    parser = parser_for(mirror_directory)
    parser.add_argument("source", help="folder, s3://bucket/prefix, file:///bucket, t4-bucket/NAME")
    parser.add_argument("destination", help="the same forms; one side must be a bucket")
    parser.add_argument("--delete", action="store_true", help="remove what the source lacks")
    parser.add_argument("--dry-run", action="store_true", help="only show the plan")
    parser.add_argument("--include", action="append", metavar="GLOB", help="keep only these")
    parser.add_argument("--exclude", action="append", metavar="GLOB", help="leave these out")
    parser.add_argument("--chunk-size", type=int, default=500, help="files per chunk task")
    parser.add_argument("--parallel", type=int, default=4, help="chunk tasks at once")
    return run_from_cli(mirror_directory, parser, argv)


if __name__ == "__main__":
    sys.exit(main())
