"""Large uploads on S3: a boto3 ``TransferManager`` per bucket object, shared by every file of
a bulk transfer, so the whole operation makes at most ``concurrency`` requests at once and
holds a bounded number of parts in memory, whatever the number or size of the files.

Uploads are multipart, parts starting at ``MULTIPART_THRESHOLD`` and doubled to stay under
10,000 (exactly as ``part_size_for`` computes them, so ``etag_of_file`` predicts the ETag).
Large downloads are obstore's (``s3_ranges``). While an upload runs, its caller's callback
is asked every ``POLL`` seconds whether to stop (an interrupted run's raises): the upload is
then cancelled at once, and the caller aborts the multipart upload, rather than waiting for
parts whose requests are stuck on a slow link.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from boto3.s3.transfer import ProgressCallbackInvoker
from s3transfer.manager import TransferConfig
from s3transfer.subscribers import BaseSubscriber

from t4.backends.base import ByteCallback

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from s3transfer.manager import TransferManager

__all__ = ["POLL", "LargeTransfers"]

#: Seconds between two questions to the callback while an upload runs: what an interrupt
#: waits for, at most, before the upload is cancelled.
POLL = 0.05


class LargeTransfers:
    """Multipart uploads through a lazily started TransferManager."""

    def __init__(self, client: S3Client, bucket: str, concurrency: int, threshold: int):
        self.client = client
        self.bucket = bucket
        self.config = TransferConfig(
            multipart_threshold=threshold + 1,  # objects up to the threshold go in one PUT
            multipart_chunksize=threshold,
            max_request_concurrency=concurrency,
            # Memory: at most 8 parts read ahead.
            max_io_queue_size=min(4 * concurrency, 64),
            max_in_memory_upload_chunks=min(concurrency, 8),
        )
        self._lock = threading.Lock()
        self._manager: TransferManager | None = None

    def upload(
        self, filename: str, key: str, extra: dict[str, Any], callback: ByteCallback | None
    ) -> Callable[[], Any]:
        """Start the upload; returns the call that waits for it (and raises its error, or
        the callback's, having cancelled the upload)."""
        done = _Done()
        future = self._get().upload(
            filename, self.bucket, key, extra_args=extra, subscribers=[*_progress(callback), done]
        )

        def wait() -> Any:
            try:
                while not done.event.wait(POLL):
                    if callback:
                        callback(0)
            except BaseException:
                future.cancel()
                raise
            return future.result()

        return wait

    def close(self) -> None:
        """Stop the manager's threads (transfers still running are cancelled)."""
        with self._lock:
            manager, self._manager = self._manager, None
        if manager is not None:
            manager.shutdown()

    def _get(self) -> TransferManager:
        with self._lock:
            if self._manager is None:
                from s3transfer.manager import TransferManager

                self._manager = TransferManager(self.client, self.config)
            return self._manager


def _progress(callback: ByteCallback | None) -> list[Any]:
    return [ProgressCallbackInvoker(callback)] if callback else []


class _Done(BaseSubscriber):
    """Tells when the transfer is over, whichever way."""

    def __init__(self) -> None:
        self.event = threading.Event()

    def on_done(self, future: Any, **kwargs: Any) -> None:
        self.event.set()
