"""One Prefect task per ``t4.Bucket`` operation.

Every task takes plain, serialisable arguments (a bucket URI or folder, ``"t4-bucket/NAME"``
for a saved ``T4BucketBlock``, or the block itself; keys; local paths), opens the bucket
inside, and returns JSON-friendly values. Transient failures are retried with exponential
backoff and jitter (``t4flows.policy``); a missing key, access denied or bad input fails at
once with the core's named error.

Prefect learns what each task touched (``t4flows.lineage``): writes and deletes emit
``t4.object.written`` / ``t4.object.deleted`` events and record the objects as materialized
assets, bulk tasks one ``t4.bulk.completed`` event; reads declare upstream assets.

Example:
    >>> from prefect import flow
    >>> @flow
    ... def copy_one(src: str, dst: str) -> None:
    ...     fetch("s3://raw", "a.csv", "/tmp/a.csv")
    ...     put_file("s3://clean", "a.csv", "/tmp/a.csv", meta={"checked": True})
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import task

from t4.errors import TransferError, UnsafeOperationError
from t4.keys import as_prefix
from t4.walk import walk
from t4flows import lineage, report
from t4flows.blocks import BucketRef, bucket_label, open_bucket
from t4flows.policy import CACHE_EXPIRATION, etag_cache_key, retry_options

__all__ = [
    "delete_dir",
    "delete_object",
    "deserialize",
    "fetch",
    "get_meta",
    "index_bucket",
    "list_keys",
    "put_dir",
    "put_file",
    "put_object",
    "search",
    "set_meta",
]

_RETRY = retry_options()


@task(name="list_keys", **_RETRY)
def list_keys(bucket: BucketRef, prefix: str = "") -> list[str]:
    """Every key under ``prefix``, all pages, directory markers included.

    Safe to run twice: it only reads.

    Example:
        >>> list_keys("s3://lake", "raw/")  # doctest: +SKIP
        ['raw/a.csv', 'raw/b.csv']
    """
    with open_bucket(bucket) as b:
        return b.keys(prefix)


@task(name="fetch", **_RETRY)
def fetch(bucket: BucketRef, key: str, dest: str) -> dict[str, Any]:
    """Download a file, or a whole directory key, to ``dest``; returns the transfer summary.

    Safe to run twice: files already identical locally are skipped, and each file appears
    whole or not at all, so a retried download never leaves a half-written file.

    Example:
        >>> fetch("s3://lake", "raw/", "/data/raw")["transferred"]  # doctest: +SKIP
        ['raw/a.csv']
    """
    with open_bucket(bucket) as b:
        summary = b.fetch(key, dest)
        lineage.read(b, summary.transferred + summary.skipped, as_prefix(key))
    report.publish(summary)
    return summary.as_dict()


@task(
    name="deserialize",
    cache_key_fn=etag_cache_key,
    cache_expiration=CACHE_EXPIRATION,
    persist_result=True,
    **_RETRY,
)
def deserialize(bucket: BucketRef, key: str) -> Any:
    """The object as a Python value (dict, str, bytes, DataFrame, ndarray...).

    Cached on the object's ETag and helium metadata: a second call for an unchanged object
    reads nothing but a HEAD, and new bytes or a new format get a new cache
    key, so it is never served stale.
    Safe to run twice: it only reads.

    Example:
        >>> deserialize("s3://lake", "tables/x.parquet").shape  # doctest: +SKIP
        (100, 4)
    """
    with open_bucket(bucket) as b:
        value = b.deserialize(key)
        lineage.read(b, [key], key)
    return value


@task(name="get_meta", **_RETRY)
def get_meta(bucket: BucketRef, key: str) -> dict[str, Any]:
    """The object's helium metadata: ``{"user_meta": ..., "format": ..., "target": ...}``.

    Safe to run twice: it only reads.

    Example:
        >>> get_meta("s3://lake", "a.csv")["user_meta"]  # doctest: +SKIP
        {'owner': 'ada'}
    """
    with open_bucket(bucket) as b:
        return b.get_meta(key)


@task(name="set_meta", **_RETRY)
def set_meta(bucket: BucketRef, key: str, meta: dict[str, Any]) -> dict[str, Any]:
    """Replace the object's user metadata, keeping its bytes and format.

    Safe to run twice: it sets the metadata to the given value, so the end state is the same.

    Example:
        >>> set_meta("s3://lake", "a.csv", {"owner": "ada"})["key"]  # doctest: +SKIP
        'a.csv'
    """
    with open_bucket(bucket) as b:
        info = b.set_meta(key, meta)
        lineage.written(b, info, meta)
    return info.as_dict()


@task(name="put_file", **_RETRY)
def put_file(
    bucket: BucketRef, key: str, path: str, meta: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Upload one local file with ``meta``; a key ending in ``/`` gets the file's name.

    Safe to run twice: an unchanged file is not sent again (only changed metadata is
    replaced in place).

    Example:
        >>> put_file("s3://lake", "raw/a.csv", "/data/a.csv", {"owner": "ada"})  # doctest: +SKIP
    """
    with open_bucket(bucket) as b:
        info = b.put_file(key, path, meta)
        lineage.written(b, info, meta)
    return info.as_dict()


@task(name="put_object", **_RETRY)
def put_object(
    bucket: BucketRef, key: str, obj: Any, meta: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Serialise a Python value (the key's extension, else its type, picks the format) and
    store it with ``meta``.

    Safe to run twice: the same value and metadata write the same object again.

    Example:
        >>> put_object("s3://lake", "conf.json", {"a": 1}, {"stage": "raw"})  # doctest: +SKIP
    """
    with open_bucket(bucket) as b:
        info = b.put(key, obj, meta)
        lineage.written(b, info, meta)
    return info.as_dict()


@task(name="put_dir", **_RETRY)
def put_dir(
    bucket: BucketRef,
    key: str,
    directory: str,
    meta: dict[str, Any] | None = None,
    follow_links: bool = False,
) -> dict[str, Any]:
    """Upload every file under ``directory`` to keys under ``key``, in parallel.

    Publishes a progress artifact while it runs and a table of what was transferred,
    skipped and failed. Safe to run twice: unchanged files are skipped, so a rerun after a
    partial failure sends only what is missing.

    Example:
        >>> put_dir("s3://lake", "raw", "/data/raw")["transferred"]  # doctest: +SKIP
        ['raw/a.csv', 'raw/b.csv']
    """
    files = walk(directory, follow_links=follow_links, bucket=bucket_label(bucket))
    progress = report.Progress(len(files), f"put_dir {bucket_label(bucket)}")
    try:
        with open_bucket(bucket, callback=progress) as b:
            summary = b.put_dir(key, directory, meta, follow_links=follow_links)
            lineage.written_many(b, summary.as_dict(), as_prefix(key), user_meta=meta)
    except TransferError as err:
        if err.summary is not None:
            report.publish(err.summary)
        raise
    finally:
        progress.finish()
    report.publish(summary)
    return summary.as_dict()


@task(name="delete_object", **_RETRY)
def delete_object(bucket: BucketRef, key: str) -> dict[str, Any]:
    """Delete one object; an object that is already gone counts as deleted.

    Safe to run twice: the second run finds nothing and succeeds.

    Example:
        >>> delete_object("s3://lake", "tmp/x.json")  # doctest: +SKIP
        {'key': 'tmp/x.json', 'deleted': True}
    """
    with open_bucket(bucket) as b:
        b.delete(key, missing_ok=True)
        lineage.deleted(b, key)
    return {"key": key, "deleted": True}


@task(name="delete_dir", **_RETRY)
def delete_dir(bucket: BucketRef, prefix: str) -> dict[str, Any]:
    """Delete every object under ``prefix`` (never the whole bucket: ``""`` is refused).

    Safe to run twice: the second run lists nothing and deletes nothing.

    Example:
        >>> delete_dir("s3://lake", "tmp/")["deleted"]  # doctest: +SKIP
        ['tmp/a', 'tmp/b']
    """
    with open_bucket(bucket) as b:
        if isinstance(prefix, str) and prefix in ("", "/"):
            raise UnsafeOperationError(
                f"the delete_dir task deletes under a prefix, never all of {b.uri}: "
                "pass a prefix such as 'tmp/'",
                bucket=b.uri,
                key=prefix,
            )
        summary = b.delete_dir(prefix)
        lineage.written_many(b, summary.as_dict(), as_prefix(prefix), removed=True)
    report.publish(summary)
    return summary.as_dict()


@task(name="search", **_RETRY)
def search(bucket: BucketRef, query: str | dict[str, Any], limit: int = 10) -> list[dict[str, Any]]:
    """Search the bucket (Lucene ``query_string``: words, ``user_meta.x:'y'``, AND/OR/NOT).

    Safe to run twice: it only reads.

    Example:
        >>> [h["key"] for h in search("s3://lake", "user_meta.owner:'ada'")]  # doctest: +SKIP
        ['raw/a.csv']
    """
    with open_bucket(bucket) as b:
        return [_jsonable(hit) for hit in b.search(query, limit)]


@task(name="index_bucket", **_RETRY)
def index_bucket(bucket: BucketRef, reindex: bool = False) -> dict[str, int]:
    """Bring the bucket's embedded search index up to date (by ETag), or rebuild it.

    Safe to run twice: objects already indexed at their current ETag are not read again.

    Example:
        >>> index_bucket("file:///data/lake")  # doctest: +SKIP
    """
    with open_bucket(bucket) as b:
        return b.index(reindex)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, Path):
        return str(value)
    return value.isoformat() if hasattr(value, "isoformat") else str(value)
