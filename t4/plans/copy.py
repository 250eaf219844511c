"""The copy and delete plans (``copy_to``, ``delete_many``, ``delete_dir``, the mirror):
server-side where the two buckets allow it, else streamed through this process a part at a
time; deletes in batches.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator

from t4.backends.base import Backend, ObjectInfo
from t4.engine import Step
from t4.errors import InvalidKeyError, T4Error, TransientError
from t4.keys import check_file_key
from t4.plans.common import Refused, keys_under
from t4.surface import carried
from t4.transfer import ProgressCallback, TransferSummary


def copy_targets(
    source: Backend,
    target: Backend,
    objects: list[ObjectInfo],
    prefix: str,
    to_prefix: str,
    refused: Refused,
) -> list[tuple[ObjectInfo, str]]:
    """Each object (markers left out) with its key in ``target``: its key less ``prefix``,
    under ``to_prefix``; every key checked before anything is copied, one that ``target``
    cannot store goes to ``refused`` (under its source key) and is left out."""
    pairs: list[tuple[ObjectInfo, str]] = []
    for obj, rel in keys_under(source, objects, prefix):
        try:
            key = check_file_key(to_prefix + rel, target.uri)
            target.check_writable(key)
        except InvalidKeyError as err:
            refused(obj.key, err)
        else:
            pairs.append((obj, key))
    return pairs


#: Called after each copy with (key, info, raw metadata, first bytes): the first ``HEAD``
#: bytes of the content (all of it if shorter); the metadata and bytes are ``None`` when the
#: server copied (they never came through this process).
Copied = Callable[[str, ObjectInfo, dict[str, str] | None, bytes | None], None]

#: How much of a copied object's start ``Copied`` is told: what the search index reads.
HEAD = 64 * 1024


def copy_steps(
    source: Backend,
    target: Backend,
    pairs: list[tuple[ObjectInfo, str]],
    listing: Iterable[ObjectInfo],
    on_copied: Copied,
) -> tuple[list[Step], list[str]]:
    """Steps for the objects that ``target`` does not hold yet (same size and ETag there:
    unchanged), and the unchanged keys."""
    there = {o.key: o for o in listing}
    steps: list[Step] = []
    unchanged: list[str] = []
    for obj, key in pairs:
        have = there.get(key)
        if have is not None and have.size == obj.size and obj.etag and have.etag == obj.etag:
            unchanged.append(obj.key)
        else:
            steps.append(Step(obj.key, obj.size, _copy_step(source, target, obj, key, on_copied)))
    return steps, unchanged


def _copy_step(
    source: Backend, target: Backend, obj: ObjectInfo, key: str, on_copied: Copied
) -> Callable[[Callable[[int], None]], int]:
    def run(progress: Callable[[int], None]) -> int:
        info = target.copy_from(source, obj.key, key)
        if info is not None:
            on_copied(key, info._replace(size=obj.size), None, None)
            return obj.size
        return _stream(source, obj.key, target, key, progress, on_copied)

    return run


def _stream(
    source: Backend,
    src_key: str,
    target: Backend,
    key: str,
    progress: Callable[[int], None],
    on_copied: Copied,
) -> int:
    """Copy through this process (another endpoint, or a folder), a chunk at a time as it
    is read: memory holds a few parts, not the object (``Backend.put_stream``)."""
    stream = source.open_stream(src_key)
    body = _Body(stream.chunks, stream.info.size, source.uri, src_key)
    try:
        info = target.put_stream(key, body, stream.info.size, stream.metadata, progress)
    finally:
        stream.close()
    on_copied(key, info, stream.metadata, bytes(body.head))
    return stream.info.size


class _Body:
    """The source's chunks, checked to come to its size (a body that ends early, or a file
    that grows while read, fails the copy rather than landing cut or mixed); keeps the first
    ``HEAD`` bytes for ``Copied``."""

    def __init__(self, chunks: Iterator[bytes], size: int, uri: str, key: str):
        self._chunks, self._size, self._uri, self._key = chunks, size, uri, key
        self.head = bytearray()
        self._read = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._chunks:
            self._read += len(chunk)
            if self._read > self._size:
                break
            if len(self.head) < HEAD:
                self.head += chunk[: HEAD - len(self.head)]
            yield chunk
        if self._read != self._size:
            raise TransientError(
                f"{self._key!r} in {self._uri} changed while it was copied ({self._read} "
                f"bytes read{' at least' if self._read > self._size else ''} of "
                f"{self._size}); copy it again",
                bucket=self._uri,
                key=self._key,
            )


#: Keys one delete request carries at most (S3's DeleteObjects limit).
DELETE_BATCH = 1000


def delete_keys(
    backend: Backend,
    keys: list[str],
    summary: TransferSummary,
    concurrency: int,
    on_deleted: Callable[[list[str]], None],
    callback: ProgressCallback | None,
) -> None:
    """Delete ``keys`` in batches of ``DELETE_BATCH``, a few batches at once; record each key
    in ``summary`` (``deleted``, or ``failed`` with its own error)."""
    batches = [keys[i : i + DELETE_BATCH] for i in range(0, len(keys), DELETE_BATCH)]
    started = time.monotonic()

    def one(batch: list[str]) -> dict[str, BaseException]:
        try:
            return dict(backend.delete_many(batch))
        except T4Error as err:
            return dict.fromkeys(batch, err)

    from concurrent.futures import ThreadPoolExecutor  # not needed by ``import t4``

    with ThreadPoolExecutor(max_workers=max(1, concurrency), initializer=carried()) as pool:
        for batch, failed in zip(batches, pool.map(one, batches), strict=True):
            gone = [k for k in batch if k not in failed]
            summary.deleted.extend(gone)
            summary.failed.update(failed)
            on_deleted(gone)
            if callback:
                for k in batch:
                    callback(k, "failed" if k in failed else "deleted", 0)
    summary.seconds += time.monotonic() - started
