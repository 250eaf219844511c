"""Writes of large objects to an S3 bucket: a file (``upload``) or a stream of chunks
(``put_stream``, what a copy between two endpoints sends), each above
``MULTIPART_THRESHOLD`` as a multipart upload, so memory holds a bounded number of parts
whatever the size. A failed upload is aborted, and an interrupted one at once: no pending
multipart upload stays on the bucket.

A file goes through the bucket's shared boto3 TransferManager (``s3_large``), which also
aborts what a killed run left of the same key. A stream goes through obstore on the
bucket's event loop (``s3_ranges``): no boto3 to load, and ``STREAMED_PARTS`` parts of
``part_size_for(size)`` bytes in flight, the ETag as a file upload's; a key obstore cannot
say, through the TransferManager too.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from t4.backends.base import Backend, ByteCallback, ObjectInfo
from t4.backends.s3_connection import S3Connection, utc_now, version_or_none
from t4.backends.s3_fast import Unsupported, put_async
from t4.backends.s3_parts import MULTIPART_THRESHOLD, part_size_for
from t4.errors import AccessDeniedError, T4Error, TransientError

if TYPE_CHECKING:
    from t4.backends.s3_fast import FastPath
    from t4.backends.s3_large import ChunkReader

__all__ = ["S3Uploads"]

log = logging.getLogger(__name__)


class S3Uploads(S3Connection, Backend):
    """``Backend.upload`` and ``Backend.put_stream`` for S3."""

    def upload(
        self,
        key: str,
        path: Path,
        metadata: dict[str, str],
        callback: ByteCallback | None = None,
    ) -> ObjectInfo:
        size = path.stat().st_size
        if size <= MULTIPART_THRESHOLD:
            info = self.put_bytes(key, path.read_bytes(), metadata)
            if callback:
                callback(size)
            return info
        with self._writing(key):
            self._abort_unfinished(key)
        return self._multipart(key, str(path), metadata, callback)

    def put_stream(
        self,
        key: str,
        chunks: Iterable[bytes],
        size: int,
        metadata: dict[str, str],
        callback: ByteCallback | None = None,
    ) -> ObjectInfo:
        """Up to ``MULTIPART_THRESHOLD``: one PUT. Larger: a multipart upload of the parts as
        they are read from ``chunks``, ``STREAMED_PARTS`` in memory at a time (and one
        being filled); an error from ``chunks`` (a source that broke off) aborts it and is
        raised as it was."""
        if size <= MULTIPART_THRESHOLD:
            data = b"".join(chunks)
            info = self.put_bytes(key, data, metadata)
            if callback:
                callback(len(data))
            return info
        fast = self._fast_path()
        if fast is not None:
            pull = _Pull(iter(chunks), callback)
            try:
                return self._streamed(fast, key, pull, size, metadata)
            except Unsupported as err:
                if pull.started:  # obstore aborted it; what was read cannot be read again
                    raise TransientError(
                        f"writing {key!r} to {self.uri} failed ({err}); copy it again",
                        bucket=self.uri,
                        key=key,
                    ) from err
        from t4.backends.s3_large import ChunkReader

        return self._multipart(key, ChunkReader(chunks, size), metadata, callback)

    def _streamed(
        self, fast: FastPath, key: str, pull: _Pull, size: int, metadata: dict[str, str]
    ) -> ObjectInfo:
        job = put_async(fast, key, pull.chunks(), metadata, part=part_size_for(size))
        try:
            with self._writing(key):
                etag, version = self._ranged_downloads().run(job, pull.callback)
        except BaseException as err:
            if pull.error is not None:
                raise pull.error from None  # the source's (or the interrupt's), as it was
            if not isinstance(err, (T4Error, Unsupported)):  # interrupted: dropped, so
                with contextlib.suppress(T4Error):  # not aborted by obstore
                    self._abort_unfinished(key)
            raise
        return ObjectInfo(key, size, etag, utc_now(), version_or_none(version))

    def _multipart(
        self,
        key: str,
        source: str | ChunkReader,
        metadata: dict[str, str],
        callback: ByteCallback | None,
    ) -> ObjectInfo:
        """Through the TransferManager; aborted by boto3 if it fails, here if interrupted."""
        with self._writing(key):
            large = self._large_transfers()
            try:
                self._call(large.upload(source, key, {"Metadata": metadata}, callback), key)
            except T4Error:  # failed: boto3 aborted the upload already
                raise
            except BaseException:  # interrupted: cancelled, so abort it here, at once
                with contextlib.suppress(T4Error):
                    self._abort_unfinished(key)
                raise
        return self.head(key)[0]

    def _abort_unfinished(self, key: str) -> None:
        """Abort multipart uploads of ``key`` that a killed run left behind (best effort:
        boto3 aborts its own on failure, but not when the process dies)."""
        try:
            resp = self._call(self.client.list_multipart_uploads, key, Bucket=self.name, Prefix=key)
        except AccessDeniedError as err:  # allowed to upload but not to list uploads
            log.debug("cannot list unfinished uploads of %r: %s", key, err)
            return
        for upload in resp.get("Uploads", []):
            if upload.get("Key") != key:
                continue
            self._call(self._abort_upload, key, upload_id=upload["UploadId"], target=key)
            log.info("aborted an unfinished upload of %r in %s", key, self.uri)

    def _abort_upload(self, upload_id: str, target: str) -> None:
        from botocore.exceptions import ClientError

        try:
            self.client.abort_multipart_upload(Bucket=self.name, Key=target, UploadId=upload_id)
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") != "NoSuchUpload":
                raise  # an upload that is already gone is what we wanted


class _Pull:
    """A stream's chunks for obstore on the event loop: each read in a worker thread (the
    source blocks: a GET's body, a file), told to ``callback``; the error that stopped
    them kept, to be raised as it was."""

    def __init__(self, chunks: Iterator[bytes], callback: ByteCallback | None):
        self._chunks, self.callback = chunks, callback
        self.started = False
        self.error: BaseException | None = None

    async def chunks(self) -> AsyncIterator[bytes]:
        import asyncio

        self.started = True
        try:
            while (chunk := await asyncio.to_thread(next, self._chunks, None)) is not None:
                if self.callback:
                    self.callback(len(chunk))
                yield chunk
        except BaseException as err:
            if not isinstance(err, (asyncio.CancelledError, GeneratorExit)):
                self.error = err
            raise
