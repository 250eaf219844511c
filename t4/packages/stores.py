"""Reading and copying the bytes behind physical keys, wherever they are: S3 objects (one
``t4.Bucket`` per bucket, opened on first use and closed with the ``Stores``) and local files.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from t4 import waits
from t4.backends.base import ObjectInfo
from t4.bucket import Bucket
from t4.config import concurrency_from_env
from t4.engine import threads_for
from t4.errors import LocalPathError, VersionsUnsupportedError
from t4.packages import hashing
from t4.packages.manifest import PhysicalKey
from t4.parts import atomic_write_target
from t4.surface import carried

__all__ = ["Stores"]

#: Objects up to this size are read by one GET, in memory; larger ones are copied by ranges
#: (``RANGES_HELD``), and hashed alone (``hash``) through a file.
_IN_MEMORY = 8 * 1024 * 1024
_READ = 1024 * 1024
#: A larger object comes as ranged GETs of one hash chunk each (8 MiB; more for objects past
#: 78 GiB), each hashed by the thread that read it: this many held at once for the whole
#: ``Stores`` (in flight or waiting to be written), whatever the number of files.
RANGES_HELD = 8


class Stores:
    """The buckets a package operation touches. ``given`` buckets are used, not closed."""

    def __init__(self, *given: Bucket):
        self._buckets: dict[str, Bucket] = {}
        self._owned: list[Bucket] = []
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._held = threading.BoundedSemaphore(RANGES_HELD)
        for bucket in given:
            if bucket.uri.startswith("s3://"):
                self._buckets[bucket.uri[5:]] = bucket

    def bucket(self, name: str) -> Bucket:
        with self._lock:
            if name not in self._buckets:
                opened = Bucket(f"s3://{name}")
                self._buckets[name] = opened
                self._owned.append(opened)
            return self._buckets[name]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        for bucket in self._owned:
            bucket.close()

    def __enter__(self) -> Stores:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading ------------------------------------------------------------------------
    def read(self, pk: PhysicalKey) -> bytes:
        """The whole content behind ``pk``."""
        if pk.bucket is None:
            return _local(pk).read_bytes()
        return self.bucket(pk.bucket).get_bytes(pk.path, pk.version_id)

    def size_and_version(self, pk: PhysicalKey) -> tuple[int, str | None]:
        """The size behind ``pk`` and, for an S3 object, its current version id if any."""
        if pk.bucket is None:
            return _local(pk).stat().st_size, None
        info, _ = self.bucket(pk.bucket).head(pk.path, pk.version_id)
        return info.size, info.version_id

    def copy(self, pk: PhysicalKey, dest: Path) -> None:
        """Copy the content behind ``pk`` to the file ``dest``, whole or not at all."""
        if pk.bucket is None:
            with atomic_write_target(dest) as tmp:
                shutil.copyfile(_local(pk), tmp)
            return
        self.bucket(pk.bucket).fetch(pk.path, dest, version_id=pk.version_id)

    def copy_hashed(
        self,
        pk: PhysicalKey,
        size: int,
        dest: Path,
        kind: str | None,
        progress: Callable[[int], None] | None = None,
    ) -> dict[str, str] | None:
        """Write the content behind ``pk`` to the file ``dest`` (a part file the caller
        renames) and return its ``kind`` hash (None for no ``kind``), computed from the bytes
        as they arrive, never read back: a local file streamed 1 MiB at a time, an S3 object
        up to 8 MiB from one GET, a larger one as parallel ranged GETs of one hash chunk
        each (``RANGES_HELD`` at a time), written in order."""
        progress = progress or (lambda moved: None)
        if pk.bucket is not None and size > _IN_MEMORY:
            bucket = self.bucket(pk.bucket)
            info, _ = bucket.head(pk.path, pk.version_id)  # an object, not a prefix
            return self._copy_ranges(bucket, info, pk.version_id, dest, kind, progress)
        hasher = hashing.Hasher(kind, size) if kind else None
        if pk.bucket is not None:
            chunks: Iterable[bytes] = [self.read(pk)]
        else:
            chunks = _chunks_of(_local(pk))
        with dest.open("wb") as out:
            for chunk in chunks:
                out.write(chunk)
                if hasher is not None:
                    hasher.update(chunk)
                progress(len(chunk))
        return None if hasher is None or kind is None else {"type": kind, "value": hasher.value()}

    def _copy_ranges(
        self,
        bucket: Bucket,
        info: ObjectInfo,
        version_id: str | None,
        dest: Path,
        kind: str | None,
        progress: Callable[[int], None],
    ) -> dict[str, str] | None:
        """``copy_hashed`` of a large S3 object: each hash chunk read (and, for
        ``sha2-256-chunked``, hashed) on the pool, appended to ``dest`` in order. A range
        is held from its GET until it is written; a file waits for a free one only when it
        holds none, so files sharing the ``Stores`` never wait on each other forever."""
        hasher = hashing.Hasher(kind, info.size) if kind else None
        step = hashing.chunk_size(info.size)
        starts = iter(range(0, info.size, step))
        pending: deque[Future[tuple[bytes, bytes | None]]] = deque()

        def read(start: int) -> tuple[bytes, bytes | None]:
            with bucket.open(info, read_ahead=_READ, version_id=version_id) as src:
                src.seek(start)
                data = src.read(min(step, info.size - start))
            return data, hashlib.sha256(data).digest() if kind == hashing.CHUNKED else None

        def take() -> bool:  # a slot for one more read: waited for when none is pending
            if pending:
                return self._held.acquire(blocking=False)
            waits.acquire(self._held)
            return True

        def ask() -> None:
            while len(pending) < RANGES_HELD and take():
                start = next(starts, None)
                if start is None:
                    self._held.release()
                    return
                pending.append(self._ranges().submit(read, start))

        try:
            with dest.open("wb") as out:
                ask()
                while pending:
                    future = pending.popleft()
                    try:
                        data, digest = waits.result(future)
                    finally:
                        self._held.release()
                    out.write(data)
                    if hasher is not None:
                        hasher.update_chunk(data, digest)
                    progress(len(data))
                    ask()
        finally:
            for future in pending:  # a failure or an interrupt: the rest are not wanted
                future.cancel()
                self._held.release()
        return None if hasher is None or kind is None else {"type": kind, "value": hasher.value()}

    def _ranges(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    max_workers=RANGES_HELD, thread_name_prefix="t4-pkg-ranges",
                    initializer=carried(),
                )  # fmt: skip
            return self._pool

    @contextmanager
    def local_copy(self, pk: PhysicalKey) -> Iterator[Path]:
        """A local file with the content behind ``pk`` (the file itself if it is local)."""
        if pk.bucket is None:
            yield _local(pk)
            return
        with tempfile.TemporaryDirectory(prefix="t4-pkg-") as folder:
            path = Path(folder) / "object"
            self.copy(pk, path)
            yield path

    def hash(self, pk: PhysicalKey, size: int, kind: str = hashing.CHUNKED) -> dict[str, str]:
        """The manifest hash of the content behind ``pk``, computed from its bytes."""
        if pk.bucket is not None and size <= _IN_MEMORY:
            return hashing.hash_bytes(self.read(pk), kind)
        with self.local_copy(pk) as path:
            return hashing.hash_file(path, kind)

    def latest_versions(self, bucket: Bucket, prefix: str) -> dict[str, str]:
        """key -> current version id under ``prefix``, or ``{}`` where there are none."""
        try:
            return {
                v.key: v.version_id
                for v in bucket.versions(prefix)
                if v.is_latest and not v.is_delete_marker and v.version_id != "null"
            }
        except VersionsUnsupportedError:
            return {}


def parallel(fn: Callable[[Any], object], items: Iterable[Any]) -> None:
    """``fn`` over ``items`` on a bounded pool (``T4_CONCURRENCY``); the first error raises."""
    items = list(items)
    if len(items) <= 1:
        for item in items:
            fn(item)
        return
    with ThreadPoolExecutor(
        max_workers=threads_for(concurrency_from_env(None)), initializer=carried()
    ) as pool:
        for _ in pool.map(fn, items):
            pass


def _chunks_of(path: Path) -> Iterator[bytes]:
    with path.open("rb") as src:
        while chunk := src.read(_READ):
            yield chunk


def _local(pk: PhysicalKey) -> Path:
    path = Path(pk.path)
    if not os.path.isfile(path):
        raise LocalPathError(f"package entry file {path} does not exist (from {pk})")
    return path
