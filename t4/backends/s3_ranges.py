"""Large downloads on S3: the object's first range read from the GET that told its size and
metadata, the rest as parallel ranged GETs through obstore, each written in place with
``os.pwrite`` as its chunks arrive.

Every ranged GET carries ``If-Match`` with the ETag of that first answer, so the bytes are
all of one version: an object replaced meanwhile fails the download (``TransientError``,
nothing left behind by the caller's temporary file). Memory stays bounded whatever the
sizes: at most ``concurrency`` ranges in flight for the whole bucket object, each holding
one chunk of ``CHUNK`` bytes at a time.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import TYPE_CHECKING

from t4.backends.base import ByteCallback
from t4.backends.s3_fast import write_at

if TYPE_CHECKING:
    from t4.backends.s3_fast import FastPath

__all__ = ["RANGE", "RangedDownloads"]

#: Ranges this large: fewer, longer GETs were a third faster than 8 MiB ones against
#: SeaweedFS on loopback (they need not match the upload's part layout).
RANGE = 16 * 1024 * 1024


class RangedDownloads:
    """The ranged GETs of one bucket's large downloads, on one pool of ``concurrency``
    threads shared by every file (started on first use)."""

    def __init__(self, concurrency: int):
        self.concurrency = max(1, concurrency)
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None

    def download(
        self,
        fast: FastPath,
        key: str,
        path: Path,
        size: int,
        etag: str,
        first: Iterable[bytes],
        callback: ByteCallback | None,
    ) -> None:
        """Write the object (``size`` bytes, ``etag``) to ``path``: ``first`` (its opening
        GET's body, read up to ``RANGE`` bytes and then dropped) here, the rest on the
        pool. The first error stops the other ranges at their next chunk and is raised."""
        stop = threading.Event()

        def progress(moved: int) -> None:
            if stop.is_set():
                raise _Stopped
            if callback:
                callback(moved)

        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        try:
            pool = self._started()
            rest = [
                pool.submit(
                    fast.write_range, key, fd, (start, min(RANGE, size - start)), etag, progress
                )
                for start in range(RANGE, size, RANGE)
            ]
            try:
                end = write_at(fd, _up_to(first, min(RANGE, size)), 0, progress)
                if end != min(RANGE, size):
                    raise fast.broke_off(key, end, min(RANGE, size))
            except BaseException:
                stop.set()
                wait(rest)
                raise
            self._finish(rest, stop)
        finally:
            os.close(fd)

    @staticmethod
    def _finish(futures: list[Future[None]], stop: threading.Event) -> None:
        wait(futures, return_when=FIRST_EXCEPTION)
        if any(f.done() and f.exception() is not None for f in futures):
            stop.set()
            wait(futures)
            errors = [f.exception() for f in futures if f.exception() is not None]
            # the error that stopped the others, not the _Stopped they answered with
            raise next((e for e in errors if not isinstance(e, _Stopped)), errors[0])  # type: ignore[misc]

    def _started(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="t4-range")
            return self._pool

    def close(self) -> None:
        """Stop the pool's threads (ranges not started are dropped)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


class _Stopped(Exception):
    """Raised in a range's progress once another range failed: it stops there."""


def _up_to(chunks: Iterable[bytes], limit: int) -> Iterable[bytes]:
    """``chunks`` until ``limit`` bytes, the last one cut to fit."""
    left = limit
    for chunk in chunks:
        if left <= 0:
            return
        piece = chunk if len(chunk) <= left else memoryview(chunk)[:left]
        left -= len(piece)
        yield piece  # type: ignore[misc]
        if left <= 0:
            return
