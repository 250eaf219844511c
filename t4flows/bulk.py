"""Chunk tasks: bulk work in task runs of many files each.

A task run costs the Prefect API tens of milliseconds, so one task per file stops scaling at
a few hundred files. A flow plans once (``t4flows.plan``: one walk or listing per side), cuts
the work into chunks of thousands of files, and ``run_chunks`` submits them with bounded
concurrency to whatever task runner the flow has (threads, or a Dask cluster). Each chunk is
one call of the core's list-shaped ``Bucket`` methods (``put_files``, ``fetch_keys``,
``copy_to``, ``delete_many``), given what the plan's listing already says, so a chunk never
lists the whole destination again; the core moves its files in parallel and returns a
``TransferSummary``.

Example:
    >>> plan = plan_mirror(Side.of("./data"), Side.of("s3://lake/raw"))  # doctest: +SKIP
    >>> parts = run_chunks(copy_chunk, chunked(plan.copy), parallel=4,  # doctest: +SKIP
    ...                    source=plan_source, destination=plan_destination)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from prefect import Task, task
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext, TaskRunContext
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.utilities.annotations import quote

from t4.errors import LocalPathError, Summary, TransferError, TransientError
from t4.transfer import TransferSummary
from t4flows import lineage, report
from t4flows.blocks import BucketRef, open_bucket
from t4flows.plan import Entry, Side
from t4flows.policy import retry_options

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["bounded_map", "copy_chunk", "delete_chunk", "run_chunks"]

#: Bulk tasks take or return thousands of entries: hashing them for a cache key would cost
#: more than the task run, and a plan or a chunk's result is never to be reused.
_CHUNK = {**retry_options(), "cache_policy": NO_CACHE}


def _first_try() -> bool:
    """Whether this task run is on its first try: only then is the plan's listing current
    (a retry lets the core list again, to skip what the failed try did finish)."""
    context = TaskRunContext.get()
    return context is None or context.task_run.run_count <= 1


def _relative(summary: Summary, side: Side, label: str) -> TransferSummary:
    """``summary`` with ``side``'s keys made relative to its location, under ``label``."""
    return TransferSummary(
        "mirror",
        label,
        transferred=[side.rel(k) for k in summary.transferred],
        skipped=[side.rel(k) for k in summary.skipped],
        deleted=[side.rel(k) for k in summary.deleted],
        failed={side.rel(k): e for k, e in summary.failed.items()},
        bytes=summary.bytes,
        seconds=summary.seconds,
    )


def _settle(run: Callable[[], TransferSummary], side: Side, label: str) -> TransferSummary:
    """Run one chunk's core call. Files that failed for good are reported in the summary;
    if any failed transiently, the chunk raises so Prefect retries it (its rerun skips what
    is already done), carrying the summary so far."""
    try:
        return _relative(run(), side, label)
    except TransferError as err:
        if err.summary is None:
            raise
        summary = _relative(err.summary, side, label)
    transient: dict[str, BaseException] = {
        k: e for k, e in summary.failed.items() if isinstance(e, TransientError)
    }
    if transient:
        raise TransferError(
            f"{label}: {len(transient)} files failed transiently; retrying the chunk",
            bucket=side.location.bucket,
            failures=transient,
            summary=summary,
        )
    return summary


@task(name="copy_chunk", **_CHUNK)
def copy_chunk(
    source: Side, destination: Side, entries: list[Entry], concurrency: int | None = None
) -> TransferSummary:
    """Copy one chunk of planned ``entries`` from ``source`` to ``destination``: one
    ``put_files``, ``fetch_keys`` or ``copy_to`` call.

    Safe to run twice: whatever is already identical at the destination is skipped, so a
    retry after a transient failure sends only what is still missing.

    Example:
        >>> copy_chunk(Side.of("./d"), Side.of("s3://lake/raw"), plan.copy)  # doctest: +SKIP
    """
    summary = _copy(source, destination, entries, concurrency)
    lineage.mirrored(summary.as_dict(), _side(source), _side(destination))
    return summary


def _side(side: Side) -> tuple[BucketRef, str] | None:
    return (side.ref, side.prefix) if side.ref is not None else None


def _copy(
    source: Side, destination: Side, entries: list[Entry], concurrency: int | None
) -> TransferSummary:
    label = f"{source.text} -> {destination.text}"
    listing = [e.target for e in entries if e.target is not None] if _first_try() else None
    if source.ref is None:  # folder -> bucket
        assert destination.ref is not None
        files: list[tuple[str | Path, str]] = [
            (e.path or source.path(e.rel), destination.key(e.rel)) for e in entries
        ]
        with open_bucket(destination.ref, concurrency=concurrency) as b:
            return _settle(
                lambda: b.put_files(files, listing=listing, carry_xattr=True), destination, label
            )
    # objects the plan listed (or keys, looked up in one listing by the core)
    objects = [e.source or source.key(e.rel) for e in entries]
    with open_bucket(source.ref, concurrency=concurrency) as a:
        if destination.ref is None:  # bucket -> folder
            folder = destination.location.folder
            assert folder is not None
            return _settle(
                lambda: a.fetch_keys(objects, folder, prefix=source.prefix), source, label
            )
        with open_bucket(destination.ref, concurrency=concurrency) as b:  # bucket -> bucket
            return _settle(
                lambda: a.copy_to(
                    b, objects, prefix=source.prefix, to_prefix=destination.prefix, listing=listing
                ),
                source,
                label,
            )


@task(name="delete_chunk", **_CHUNK)
def delete_chunk(destination: Side, entries: list[Entry]) -> TransferSummary:
    """Delete ``entries`` under ``destination`` (a folder or a bucket prefix), nothing else:
    a bucket in batches of 1,000 keys a request (``Bucket.delete_many``).

    Safe to run twice: what is already gone counts as deleted.

    Example:
        >>> delete_chunk(Side.of("s3://lake/raw"), plan.delete)  # doctest: +SKIP
    """
    label = destination.text
    if destination.ref is not None:
        keys = [destination.key(e.rel) for e in entries]
        with open_bucket(destination.ref) as b:
            removed = _settle(lambda: b.delete_many(keys), destination, label)
        lineage.mirrored(removed.as_dict(), None, _side(destination), removed=True)
        return removed
    summary = TransferSummary("mirror", label)
    started = time.monotonic()
    for entry in entries:
        try:
            destination.path(entry.rel).unlink(missing_ok=True)
        except OSError as err:
            summary.failed[entry.rel] = LocalPathError(
                f"cannot delete {destination.path(entry.rel)}: {err.strerror}", key=entry.rel
            )
        else:
            summary.deleted.append(entry.rel)
    summary.seconds = time.monotonic() - started
    return summary


def bounded_map(
    chunk_task: Task[..., Any],
    chunks: list[Any],
    *,
    parallel: int,
    argument: str = "items",
    done: Callable[[list[Any]], None] | None = None,
    **kwargs: Any,
) -> list[Any]:
    """Submit ``chunk_task(<argument>=chunk, **kwargs)`` for every chunk, at most ``parallel``
    in flight, on the flow's task runner; return each result, or the exception of a chunk
    that still failed after its retries, in chunk order. ``done(chunk)`` is called as each
    chunk finishes (for progress)."""
    pending: list[tuple[Any, list[Any]]] = []
    results: list[Any] = []
    # Quoted, Prefect does not walk a chunk's thousands of entries (twice) for futures to
    # wait on: 0.07 s a chunk of 2,000, 0.003 s quoted. Only on the thread pool: Dask would
    # ship the quote as a tuple.
    context = FlowRunContext.get()
    quoted = context is not None and isinstance(context.task_runner, ThreadPoolTaskRunner)

    def collect() -> None:
        future, chunk = pending.pop(0)
        results.append(future.result(raise_on_failure=False))
        if done is not None:
            done(chunk)

    for chunk in chunks:
        if len(pending) >= max(1, parallel):
            collect()
        given = quote(chunk) if quoted else chunk
        pending.append((chunk_task.submit(**{argument: given}, **kwargs), chunk))
    while pending:
        collect()
    return results


def run_chunks(
    chunk_task: Task[..., TransferSummary],
    chunks: list[list[Entry]],
    *,
    label: str,
    parallel: int,
    progress: report.Progress | None = None,
    **kwargs: Any,
) -> TransferSummary:
    """``bounded_map`` for chunk tasks of ``entries``, merged into one summary: a chunk that
    still fails after its retries adds its summary so far, and each of its other files as
    failed with its error, so the other chunks' work is kept and reported."""
    results = bounded_map(
        chunk_task,
        chunks,
        parallel=parallel,
        argument="entries",
        done=(lambda chunk: progress.advance(len(chunk))) if progress else None,
        **kwargs,
    )
    total = TransferSummary("mirror", label)
    for chunk, out in zip(chunks, results, strict=True):
        total.merge(_chunk_failed(chunk, out, label) if isinstance(out, BaseException) else out)
    return total


def _chunk_failed(chunk: list[Entry], err: BaseException, label: str) -> TransferSummary:
    done = getattr(err, "summary", None)
    summary = TransferSummary("mirror", label)
    if isinstance(done, TransferSummary):
        summary.merge(done)
    accounted = {*summary.transferred, *summary.skipped, *summary.deleted, *summary.failed}
    for entry in chunk:
        if entry.rel not in accounted:
            summary.failed[entry.rel] = err
    return summary
