"""Large uploads on S3: a boto3 ``TransferManager`` per bucket object, shared by every file of
a bulk transfer, so the whole operation makes at most ``concurrency`` requests at once and
holds a bounded number of parts in memory, whatever the number or size of the files.

Uploads are multipart, parts starting at ``MULTIPART_THRESHOLD`` and doubled to stay under
10,000 (exactly as ``part_size_for`` computes them, so ``etag_of_file`` predicts the ETag),
from a file or from a stream of chunks (a copy between two endpoints: ``ChunkReader``).
Large downloads are obstore's (``s3_ranges``). While an upload runs, its caller's callback
is asked every ``waits.TICK`` seconds whether to stop (an interrupted run's raises): the upload is
then cancelled at once, and the caller aborts the multipart upload, rather than waiting for
parts whose requests are stuck on a slow link.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from boto3.s3.transfer import ProgressCallbackInvoker
from s3transfer.manager import TransferConfig
from s3transfer.subscribers import BaseSubscriber

from t4 import waits
from t4.backends.base import ByteCallback
from t4.backends.s3_parts import STREAMED_PARTS

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from s3transfer.manager import TransferManager

__all__ = ["ChunkReader", "LargeTransfers"]


class LargeTransfers:
    """Multipart uploads through a lazily started TransferManager."""

    def __init__(self, client: S3Client, bucket: str, concurrency: int, threshold: int):
        self.client = client
        self.bucket = bucket
        self.config = TransferConfig(
            multipart_threshold=threshold + 1,  # objects up to the threshold go in one PUT
            multipart_chunksize=threshold,
            max_request_concurrency=concurrency,
            max_io_queue_size=min(4 * concurrency, 64),
            # Memory: a stream's parts (``ChunkReader``) are held while sent, a file's read
            # from it as sent: a few parts in flight for the whole bucket object.
            max_in_memory_upload_chunks=min(concurrency, STREAMED_PARTS),
        )
        self._lock = threading.Lock()
        self._manager: TransferManager | None = None
        self._interrupted = False

    def upload(
        self,
        source: str | ChunkReader,
        key: str,
        extra: dict[str, Any],
        callback: ByteCallback | None,
    ) -> Callable[[], Any]:
        """Start the upload of a file (its name) or of a stream's ``size`` bytes; returns
        the call that waits for it (and raises its error, or the callback's, having
        cancelled the upload)."""
        done = _Done(source.size if isinstance(source, ChunkReader) else None)
        fileobj: Any = source  # s3transfer reads what has ``read``, not only an ``IO``
        future = self._get().upload(
            fileobj, self.bucket, key, extra_args=extra, subscribers=[*_progress(callback), done]
        )

        def wait() -> Any:
            try:
                while not done.event.wait(waits.TICK):
                    if callback:
                        callback(0)
            except BaseException:
                self._interrupted = True
                future.cancel()
                raise
            return future.result()

        return wait

    def close(self) -> None:
        """Stop the manager's threads. After an interrupt, not waiting for them: a part
        still being sent ends when its request does (on a slow link, a minute), and its
        upload has been aborted already; so Ctrl-C returns at once."""
        with self._lock:
            manager, self._manager = self._manager, None
        if manager is None:
            return
        if self._interrupted:
            threading.Thread(target=manager.shutdown, name="t4-uploads-end", daemon=True).start()
        else:
            manager.shutdown()

    def _get(self) -> TransferManager:
        with self._lock:
            if self._manager is None:
                from s3transfer.manager import TransferManager

                self._manager = TransferManager(self.client, self.config)
            return self._manager


def _progress(callback: ByteCallback | None) -> list[Any]:
    return [ProgressCallbackInvoker(callback)] if callback else []


class ChunkReader:
    """The ``size`` bytes ``chunks`` yields as the non-seekable stream s3transfer reads
    parts from: ``read(n)`` gives ``n`` bytes but at the end (s3transfer sends what one read
    gives as one part: a short one would be refused). At most one part is held here."""

    def __init__(self, chunks: Iterable[bytes], size: int):
        self.size = size
        self._chunks = iter(chunks)
        self._rest = b""  # what the last read left of its last chunk

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def read(self, amount: int = -1) -> bytes:
        held, count = [self._rest], len(self._rest)
        while amount < 0 or count < amount:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            held.append(chunk)
            count += len(chunk)
        over = count - amount if 0 <= amount < count else 0
        if over:
            last = held.pop()
            held.append(last[: len(last) - over])
            self._rest = last[len(last) - over :]
        else:
            self._rest = b""
        return held[0] if len(held) == 1 else b"".join(held)


class _Done(BaseSubscriber):
    """Tells when the transfer is over, whichever way; tells s3transfer the size of a
    stream (which it could not know before reading it all), so that the part size is
    chosen as for a file (``part_size_for``)."""

    def __init__(self, size: int | None) -> None:
        self.event = threading.Event()
        self._size = size

    def on_queued(self, future: Any, **kwargs: Any) -> None:
        if self._size is not None:
            future.meta.provide_transfer_size(self._size)

    def on_done(self, future: Any, **kwargs: Any) -> None:
        self.event.set()
