"""Large objects on S3: boto3 ``TransferManager``s (one per direction) per bucket object, shared
by every file of a bulk transfer, so the whole operation makes at most ``concurrency``
requests at once and holds a bounded number of parts in memory, whatever the number or size
of the files.

Uploads are multipart, parts starting at ``MULTIPART_THRESHOLD`` and doubled to stay under
10,000 (exactly as ``part_size_for`` computes them, so ``etag_of_file`` predicts the ETag);
downloads are parallel ranged GETs of 16 MiB written in place.
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

__all__ = ["LargeTransfers"]


#: Downloads read ranges this large (unlike upload parts, they need not match the ETag's part
#: layout): fewer, longer GETs were a third faster than 8 MiB ones against SeaweedFS on
#: loopback. Memory does not grow with it: ranges are written to the file in ``_IO_CHUNK``
#: pieces, at most ``_IO_CHUNKS`` of them queued.
_DOWNLOAD_PART = 16 * 1024 * 1024
_IO_CHUNK = 1024 * 1024
_IO_CHUNKS = 16


class LargeTransfers:
    """Multipart uploads and ranged downloads through lazily started TransferManagers, one
    per direction (their part sizes differ; a bulk operation goes one way, so it still has at
    most ``concurrency`` requests in flight)."""

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
        self.download_config = TransferConfig(
            multipart_threshold=threshold + 1,
            multipart_chunksize=max(threshold, _DOWNLOAD_PART),
            max_request_concurrency=concurrency,
            io_chunksize=_IO_CHUNK,
            max_io_queue_size=_IO_CHUNKS,
            max_in_memory_download_chunks=_IO_CHUNKS,
        )
        self._lock = threading.Lock()
        self._managers: dict[str, TransferManager] = {}

    def upload(
        self, filename: str, key: str, extra: dict[str, Any], callback: ByteCallback | None
    ) -> Callable[[], Any]:
        """Start the upload; returns the call that waits for it (and raises its error)."""
        future = self._get("up").upload(
            filename, self.bucket, key, extra_args=extra, subscribers=_progress(callback)
        )
        return future.result

    def download(
        self,
        key: str,
        filename: str,
        callback: ByteCallback | None,
        known: tuple[int, str] | None = None,
    ) -> Callable[[], Any]:
        """Start the download; returns the call that waits for it (and raises its error).

        ``known``: the object's (size, ETag) from the caller's HEAD, which spares the manager
        its own; every ranged GET then carries ``If-Match`` with that ETag, so the bytes are
        those of the object the caller took the metadata from.
        """
        subscribers = _progress(callback) or []
        if known is not None:
            subscribers.append(_KnownObject(*known))
        future = self._get("down").download(self.bucket, key, filename, subscribers=subscribers)
        return future.result

    def close(self) -> None:
        """Stop the managers' threads (transfers still running are cancelled)."""
        with self._lock:
            managers, self._managers = list(self._managers.values()), {}
        for manager in managers:
            manager.shutdown()

    def _get(self, direction: str) -> TransferManager:
        with self._lock:
            if direction not in self._managers:
                from s3transfer.manager import TransferManager

                config = self.config if direction == "up" else self.download_config
                self._managers[direction] = TransferManager(self.client, config)
            return self._managers[direction]


class _KnownObject(BaseSubscriber):
    """Gives the TransferManager the object's size and ETag, so it does not HEAD it again."""

    def __init__(self, size: int, etag: str):
        self.size = size
        self.etag = etag

    def on_queued(self, future: Any, **kwargs: Any) -> None:
        future.meta.provide_transfer_size(self.size)
        future.meta.provide_object_etag(f'"{self.etag}"')


def _progress(callback: ByteCallback | None) -> list[Any] | None:
    return [ProgressCallbackInvoker(callback)] if callback else None
