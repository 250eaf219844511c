"""Writes of large objects to an S3 bucket: a file (``upload``) or a stream of chunks
(``put_stream``, what a copy between two endpoints sends), each above
``MULTIPART_THRESHOLD`` as a multipart upload, so memory holds a bounded number of parts
whatever the size. A failed upload is aborted, and an interrupted one at once, and so is one
that a retried request began: no pending multipart upload stays on the bucket.

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
from typing import TYPE_CHECKING, Any

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

#: The name ``_on_begun`` is registered under on a client's events (so, once).
_ON_BEGUN = "t4-upload-begun"


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
        """Through the TransferManager; aborted by boto3 if it fails, here if interrupted.
        An upload begun by a request that was asked again is seen to (``_on_begun``)."""
        with self._writing(key):
            large = self._large_transfers()
            self.client.meta.events.register(
                "after-call.s3.CreateMultipartUpload", self._on_begun, unique_id=_ON_BEGUN
            )
            try:
                self._call(large.upload(source, key, {"Metadata": metadata}, callback), key)
            except T4Error:  # failed: boto3 aborted the upload already
                raise
            except BaseException:  # interrupted: cancelled, so abort it here, at once
                with contextlib.suppress(T4Error):
                    self._abort_unfinished(key)
                raise
        return self.head(key)[0]

    def _on_begun(self, parsed: dict[str, Any], **kwargs: Any) -> None:
        """When a CreateMultipartUpload was answered only on a retry, an attempt whose answer
        was lost may still have begun an upload on the server, which nothing would ever
        complete or abort (and the store bills its parts): abort the uploads of the key
        still pending that began no later than the one that answered. One that another
        writer begins after it is left alone."""
        retried = parsed.get("ResponseMetadata", {}).get("RetryAttempts")
        key, ours = parsed.get("Key"), parsed.get("UploadId")
        if not retried or not key or not ours:
            return
        pending: list[dict[str, Any]] = []
        with contextlib.suppress(T4Error):  # best effort: raised here, it would end the upload
            pending = self._pending(key)
        began = next((u["Initiated"] for u in pending if u["UploadId"] == ours), None)
        for upload in pending if began is not None else []:
            if upload["UploadId"] != ours and upload["Initiated"] <= began:
                with contextlib.suppress(T4Error):
                    self._abort(key, upload["UploadId"])

    def _abort_unfinished(self, key: str) -> None:
        """Abort multipart uploads of ``key`` that a killed run left behind (best effort:
        boto3 aborts its own on failure, but not when the process dies)."""
        for upload in self._pending(key):
            self._abort(key, upload["UploadId"])

    def _pending(self, key: str) -> list[dict[str, Any]]:
        """The multipart uploads of ``key`` begun and not completed nor aborted."""
        try:
            resp = self._call(self.client.list_multipart_uploads, key, Bucket=self.name, Prefix=key)
        except AccessDeniedError as err:  # allowed to upload but not to list uploads
            log.debug("cannot list unfinished uploads of %r: %s", key, err)
            return []
        return [dict(u) for u in resp.get("Uploads", []) if u.get("Key") == key]

    def _abort(self, key: str, upload_id: str) -> None:
        self._call(self._abort_upload, key, upload_id=upload_id, target=key)
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
