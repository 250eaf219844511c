"""Chunk tasks: bulk work in task runs of many files each.

A task run costs the Prefect API tens of milliseconds, so one task per file stops scaling at
a few hundred files. A flow lists once (``t4flows.plan``), cuts the work into chunks of a few
hundred files, and ``run_chunks`` submits them with bounded concurrency to whatever task
runner the flow has (threads, or a Dask cluster). Inside a chunk, the files move in
parallel threads through one ``t4.Bucket``.

Example:
    >>> plan = mirror_plan("./data", "s3://lake/raw")  # doctest: +SKIP
    >>> parts = run_chunks(copy_chunk, chunked(plan["copy"]), parallel=4,  # doctest: +SKIP
    ...                    source="./data", destination="s3://lake/raw")
"""

from __future__ import annotations

import hashlib
import posixpath
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from prefect import Task, task

import t4
from t4.errors import T4Error, TransferError, TransientError
from t4flows import report
from t4flows.blocks import open_bucket
from t4flows.plan import Location, plan_mirror
from t4flows.policy import retry_options

__all__ = ["bounded_map", "copy_chunk", "delete_chunk", "mirror_plan", "run_chunks"]

#: Below this many files a chunk uploads file by file instead of staging a ``put_dir``.
_FEW = 4


def _each(
    operation: str, label: str, rels: list[str], work: Callable[[str], int], concurrency: int
) -> dict[str, Any]:
    """Run ``work(rel)`` (returns bytes moved, or -1 for unchanged) over ``rels`` in threads.

    A permanent failure is recorded and the rest go on; if any failure is transient, the
    chunk raises ``TransferError`` once the rest are done, so Prefect retries the chunk and
    the rerun skips what is already in place.
    """
    summary = report.empty(operation, label)
    started = time.monotonic()
    transient: dict[str, BaseException] = {}

    def one(rel: str) -> None:
        try:
            moved = work(rel)
        except TransientError as err:
            transient[rel] = err
        except (T4Error, OSError) as err:
            summary["failed"][rel] = f"{type(err).__name__}: {err}"
        else:
            summary["skipped" if moved < 0 else "transferred"].append(rel)
            summary["bytes"] += max(moved, 0)

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        list(pool.map(one, rels))
    summary["seconds"] = round(time.monotonic() - started, 3)
    if transient:
        first = next(iter(transient.items()))
        raise TransferError(
            f"{operation} {label}: {len(transient)} files failed transiently "
            f"(first: {first[0]!r}: {first[1]}); retrying the chunk",
            failures=transient,
        )
    return summary


def _upload(src: Location, dst: Location, rels: list[str], concurrency: int) -> dict[str, Any]:
    """Folder -> bucket. Links to the files, staged under their longest shared folder, go
    up in one ``put_dir`` (one listing of that folder's prefix, then parallel puts)."""
    assert dst.bucket is not None
    label = f"{src.text} -> {dst.text}"
    with open_bucket(dst.bucket, concurrency=concurrency) as b:
        if len(rels) < _FEW:
            return _each("mirror", label, rels, lambda r: _put_one(b, src, dst, r), 1)
        shared = posixpath.commonpath([posixpath.dirname(r) for r in rels])
        shared = shared + "/" if shared else ""
        with tempfile.TemporaryDirectory(prefix="t4flows-") as staging:
            for rel in rels:
                link = Path(staging, rel[len(shared) :])
                link.parent.mkdir(parents=True, exist_ok=True)
                link.symlink_to(src.path(rel).resolve())
            started = time.monotonic()
            try:
                done = b.put_dir(dst.key(shared), staging, follow_links=True)
            except TransferError as err:
                return _failed_summary(label, shared, err, time.monotonic() - started)
    summary = done.as_dict()
    summary.update(operation="mirror", bucket=label)
    summary["transferred"] = [k[len(dst.prefix) :] for k in summary["transferred"]]
    summary["skipped"] = [k[len(dst.prefix) :] for k in summary["skipped"]]
    return summary


def _put_one(b: t4.Bucket, src: Location, dst: Location, rel: str) -> int:
    b.put_file(dst.key(rel), src.path(rel))
    return src.path(rel).stat().st_size


def _failed_summary(label: str, shared: str, err: TransferError, seconds: float) -> dict[str, Any]:
    if any(isinstance(e, TransientError) for e in err.failures.values()):
        raise err
    summary = report.empty("mirror", label)
    summary["failed"] = {k: f"{type(e).__name__}: {e}" for k, e in err.failures.items()}
    summary["seconds"] = round(seconds, 3)
    return summary


def _download(src: Location, dst: Location, rels: list[str], concurrency: int) -> dict[str, Any]:
    """Bucket -> folder, file by file in threads; each appears whole or not at all."""
    assert src.bucket is not None
    with open_bucket(src.bucket, concurrency=concurrency) as b:

        def get(rel: str) -> int:
            done = b.fetch(src.key(rel), dst.path(rel))
            return done.bytes if done.transferred else -1

        return _each("mirror", f"{src.text} -> {dst.text}", rels, get, concurrency)


def _copy(src: Location, dst: Location, rels: list[str], concurrency: int) -> dict[str, Any]:
    """Bucket -> bucket through a temporary file, keeping each object's user metadata."""
    assert src.bucket is not None and dst.bucket is not None
    with (
        open_bucket(src.bucket, concurrency=concurrency) as a,
        open_bucket(dst.bucket, concurrency=concurrency) as b,
        tempfile.TemporaryDirectory(prefix="t4flows-") as tmp,
    ):

        def copy(rel: str) -> int:
            local = Path(tmp, hashlib.sha256(rel.encode("utf-8")).hexdigest())
            a.fetch(src.key(rel), local)
            meta = a.get_meta(src.key(rel)).get("user_meta")
            b.put_file(dst.key(rel), local, meta)
            size = local.stat().st_size
            local.unlink()
            return size

        return _each("mirror", f"{src.text} -> {dst.text}", rels, copy, concurrency)


@task(name="mirror_plan", **retry_options())
def mirror_plan(
    source: str,
    destination: str,
    delete: bool = False,
    include: list[str] | None = None,
    exclude: list[str] | None = None,
) -> dict[str, Any]:
    """List both sides once and decide what to copy, delete and leave (see ``plan_mirror``).

    Safe to run twice: it only reads.

    Example:
        >>> len(mirror_plan("./data", "s3://lake/raw")["copy"])  # doctest: +SKIP
        12
    """
    src, dst = Location.parse(source), Location.parse(destination)
    return plan_mirror(src, dst, delete=delete, include=include or (), exclude=exclude or ())


@task(name="copy_chunk", **retry_options())
def copy_chunk(
    source: str, destination: str, items: list[list[Any]], concurrency: int = 8
) -> dict[str, Any]:
    """Copy one chunk of ``[rel, size]`` items from ``source`` to ``destination``.

    Safe to run twice: whatever is already identical at the destination is skipped, so a
    retry after a transient failure sends only what is still missing.

    Example:
        >>> copy_chunk("./data", "s3://lake/raw", [["a.csv", 10]])  # doctest: +SKIP
    """
    src, dst = Location.parse(source), Location.parse(destination)
    rels = [str(item[0]) for item in items]
    if src.is_bucket and dst.is_bucket:
        return _copy(src, dst, rels, concurrency)
    if src.is_bucket:
        return _download(src, dst, rels, concurrency)
    return _upload(src, dst, rels, concurrency)


@task(name="delete_chunk", **retry_options())
def delete_chunk(destination: str, rels: list[str], concurrency: int = 8) -> dict[str, Any]:
    """Delete ``rels`` under ``destination`` (a folder or a bucket prefix), nothing else.

    Safe to run twice: what is already gone counts as deleted.

    Example:
        >>> delete_chunk("s3://lake/raw", ["old.csv"])  # doctest: +SKIP
    """
    dst = Location.parse(destination)
    if dst.bucket is None:

        def unlink(rel: str) -> int:
            dst.path(rel).unlink(missing_ok=True)
            return 0

        return _each("delete", destination, rels, unlink, concurrency)
    with open_bucket(dst.bucket, concurrency=concurrency) as b:

        def remove(rel: str) -> int:
            b.delete(dst.key(rel), missing_ok=True)
            return 0

        return _each("delete", destination, rels, remove, concurrency)


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

    def collect() -> None:
        future, chunk = pending.pop(0)
        results.append(future.result(raise_on_failure=False))
        if done is not None:
            done(chunk)

    for chunk in chunks:
        if len(pending) >= max(1, parallel):
            collect()
        pending.append((chunk_task.submit(**{argument: chunk}, **kwargs), chunk))
    while pending:
        collect()
    return results


def run_chunks(
    chunk_task: Task[..., dict[str, Any]],
    chunks: list[Any],
    *,
    parallel: int,
    progress: report.Progress | None = None,
    argument: str = "items",
    **kwargs: Any,
) -> list[dict[str, Any]]:
    """``bounded_map`` for tasks that return summaries: a chunk that still fails after its
    retries becomes a summary whose files all failed with its error, so the other chunks'
    work is kept and reported."""
    results = bounded_map(
        chunk_task,
        chunks,
        parallel=parallel,
        argument=argument,
        done=(lambda chunk: progress.advance(len(chunk))) if progress else None,
        **kwargs,
    )
    return [
        _chunk_failed(chunk, out, kwargs) if isinstance(out, BaseException) else out
        for chunk, out in zip(chunks, results, strict=True)
    ]


def _chunk_failed(chunk: list[Any], err: BaseException, kwargs: dict[str, Any]) -> dict[str, Any]:
    label = str(kwargs.get("destination", ""))
    summary = report.empty("mirror", label)
    failures = getattr(err, "failures", None) or {}
    for item in chunk:
        rel = item[0] if isinstance(item, list) else item
        why = failures.get(rel, err)
        summary["failed"][rel] = f"{type(why).__name__}: {why}"
    return summary
