"""Large downloads on S3: the object's first range read from the GET that told its size and
metadata, the rest as parallel ranged GETs through obstore, each written in place with
``os.pwrite`` as its chunks arrive. The requests run on one event-loop thread, so an
interrupted download (Ctrl-C) cancels every one in flight at once, closing its connection,
instead of waiting for each range's next chunk.

Every ranged GET carries ``If-Match`` with the ETag of that first answer, so the bytes are
all of one version: an object replaced meanwhile fails the download (``TransientError``,
nothing left behind by the caller's temporary file). Memory stays bounded whatever the
sizes: at most ``concurrency`` ranges in flight for the whole bucket object, each holding
one chunk of ``CHUNK`` bytes at a time.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from t4 import waits
from t4.backends.base import ByteCallback
from t4.backends.s3_fast import write_async

if TYPE_CHECKING:
    from t4.backends.s3_fast import Body, FastPath

__all__ = ["RANGE", "RangedDownloads"]

T = TypeVar("T")

#: Ranges this large: fewer, longer GETs were a third faster than 8 MiB ones against
#: SeaweedFS on loopback (they need not match the upload's part layout).
RANGE = 16 * 1024 * 1024


class RangedDownloads:
    """The ranged GETs of one bucket's large downloads, as requests on one event-loop
    thread shared by every file (started on first use), ``concurrency`` in flight at most;
    streamed uploads' requests run on it too (``run``), to be cancelled alike."""

    def __init__(self, concurrency: int):
        self.concurrency = max(1, concurrency)
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._slots = asyncio.Semaphore(self.concurrency)

    def download(
        self,
        fast: FastPath,
        key: str,
        path: Path,
        size: int,
        etag: str,
        first: Body,
        callback: ByteCallback | None,
    ) -> None:
        """Write the object (``size`` bytes, ``etag``) to ``path``: ``first`` (its opening
        GET's body, read up to ``RANGE`` bytes and then dropped) and the other ranges, all
        at once on the loop. The first error cancels the other ranges and is raised; so
        does ``callback``'s (the engine's raises once the run is interrupted), asked every
        ``waits.TICK`` seconds even while no bytes arrive."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        try:
            started, finished = threading.Event(), threading.Event()
            ranges = self._all(fast, key, fd, size, etag, first, callback, started, finished)
            job = asyncio.run_coroutine_threadsafe(ranges, self._started())
            try:
                _wait(job, callback)
            except BaseException:
                job.cancel()  # every request in flight dropped, not left to its next chunk
                if started.is_set():  # its writes go to its own copy of fd: never elsewhere
                    finished.wait(timeout=1)
                raise
        finally:
            os.close(fd)

    def run(self, job: Coroutine[Any, Any, T], callback: ByteCallback | None) -> T:
        """Run ``job`` (another large transfer's requests: a streamed upload) on the loop,
        waited for as a download is: ``callback`` asked every ``waits.TICK`` seconds, the job
        cancelled at once (its requests dropped) when it raises."""
        future = asyncio.run_coroutine_threadsafe(job, self._started())
        try:
            return _wait(future, callback)
        except BaseException:
            future.cancel()
            raise

    async def _all(
        self,
        fast: FastPath,
        key: str,
        fd: int,
        size: int,
        etag: str,
        first: Body,
        callback: ByteCallback | None,
        started: threading.Event,
        finished: threading.Event,
    ) -> None:
        started.set()
        own = os.dup(fd)  # the caller may close fd once this is cancelled

        def progress(moved: int) -> None:
            if callback:
                callback(moved)

        async def opening() -> None:
            wanted = min(RANGE, size)
            end = await write_async(own, first.chunks(), 0, wanted, progress)
            if end != wanted:
                raise fast.broke_off(key, end, wanted)

        async def ranged(start: int) -> None:
            async with self._slots:
                await fast.write_range(key, own, (start, min(RANGE, size - start)), etag, progress)

        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(opening())
                for start in range(RANGE, size, RANGE):
                    group.create_task(ranged(start))
        except BaseExceptionGroup as errors:
            raise errors.exceptions[0] from None  # the first, which cancelled the others
        finally:
            os.close(own)
            finished.set()

    def _started(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                self._thread = threading.Thread(
                    target=loop.run_forever, name="t4-ranges", daemon=True
                )
                self._thread.start()
                self._loop = loop
            return self._loop

    def close(self) -> None:
        """Cancel what still runs and stop the loop's thread."""
        with self._lock:
            loop, thread, self._loop, self._thread = self._loop, self._thread, None, None
        if loop is None or thread is None:
            return
        asyncio.run_coroutine_threadsafe(_cancel_all(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


def _wait(job: Future[T], callback: ByteCallback | None) -> T:
    """``job``'s result; meanwhile ``callback(0)`` every ``waits.TICK`` seconds, so that an
    interrupted run's callback can raise here."""
    return waits.result(job, (lambda: callback(0)) if callback else None)


async def _cancel_all() -> None:
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
