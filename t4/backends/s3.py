"""An S3 bucket through boto3: the standard credential chain, ``AWS_ENDPOINT_URL`` or an
explicit endpoint for S3-compatible servers, path-style addressing when asked.

The clients and the translation of their errors are ``t4.backends.s3_connection``'s (every
boto3 call goes through ``_call``); the part sizes and multipart ETags are
``t4.backends.s3_parts``'s.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from t4.backends import s3_conditional
from t4.backends.base import (
    Backend,
    ByteCallback,
    FolderPage,
    ObjectInfo,
    ObjectStream,
    PendingDownload,
)
from t4.backends.s3_connection import read_all, utc_now, version_or_none
from t4.backends.s3_fast import (
    AsyncObjects,
    FastPath,
    Unsupported,
    write_body,
)
from t4.backends.s3_parts import (
    MULTIPART_THRESHOLD,
    OTHER_PART_SIZES_MIB,
    multipart_etag,
    part_size_for,
)
from t4.backends.s3_ranges import RANGE
from t4.backends.s3_settings import S3Settings
from t4.backends.s3_uploads import S3Uploads
from t4.backends.s3_versions import S3Versions
from t4.errors import KeyNotFoundError, T4Error, TransientError, s3_error

if TYPE_CHECKING:
    from t4.backends.s3_list import Lister

__all__ = ["S3Backend", "S3Settings"]

T = TypeVar("T")


class S3Backend(S3Uploads, S3Versions, Backend):
    """Objects in the S3 bucket ``name``.

    Which client carries which bytes is decided here, in one place: objects up to
    ``MULTIPART_THRESHOLD`` move in one request through obstore (``s3_fast``: a fraction of
    boto3's CPU per request); larger downloads as obstore ranged GETs (``s3_ranges``), larger
    uploads through a shared boto3 TransferManager (``s3_large``); HEAD with metadata and
    ranged GETs through obstore too (a crawl of a bucket others wrote sends one per object);
    listing, copy and delete, and whatever obstore cannot do, through boto3. boto3 is
    imported and its client built on first use: with keys given outright
    (``t4.backends.s3_settings``), fetching an object by its key, or putting a small one,
    never pays for it. With a profile or an AWS settings file in play, the boto3 session is
    built here, as its errors (an unknown profile, a file that does not parse) belong to
    opening the bucket.
    """

    # -- primitives ---------------------------------------------------------------------
    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Every object under ``prefix``, through t4's own signed ListObjectsV2
        (``s3_list``): no boto3 with keys given outright."""
        return self._lister().objects(prefix)

    def list_folder(self, prefix: str, token: str | None = None, limit: int = 1000) -> FolderPage:
        """One ListObjectsV2 request with ``Delimiter="/"``; the token is S3's own."""
        return self._lister().folder(prefix, token, limit)

    def _lister(self) -> Lister:
        from t4.backends.s3_list import lister_for

        with self._lock:
            if self._listing is None:
                self._listing = lister_for(self)
            return self._listing

    def presign(self, key: str, version_id: str | None = None, expires: int = 3600) -> str | None:
        params = {"Bucket": self.name, "Key": key}
        if version_id is not None:
            params["VersionId"] = version_id
        url: str = self._call(
            self.client.generate_presigned_url,
            key,
            ClientMethod="get_object",
            Params=params,
            ExpiresIn=expires,
        )
        return url

    def head(self, key: str) -> tuple[ObjectInfo, dict[str, str]]:
        found = self._on_fast_path(key, lambda fast: fast.head_meta(key))
        if found is not None:
            return found
        try:
            resp = self._call(self.client.head_object, key, Bucket=self.name, Key=key)
        except T4Error as err:
            raise self._missing_or_no_bucket(err, key) from err.__cause__
        return self._info(key, resp), dict(resp.get("Metadata", {}))

    def lookup(self, key: str) -> ObjectInfo | None:
        fast = self._fast_path()
        if fast is not None:
            try:
                return fast.head(key)
            except KeyNotFoundError:
                return None
            except Unsupported:
                pass
        try:
            resp = self._call(self.client.head_object, key, Bucket=self.name, Key=key)
        except KeyNotFoundError:
            return None
        return self._info(key, resp)

    def get_bytes(self, key: str) -> bytes:
        return self.get(key)[0]

    def get(self, key: str) -> tuple[bytes, dict[str, str]]:

        def whole(fast: FastPath) -> tuple[bytes, dict[str, str]]:
            _, metadata, body = fast.open(key)
            return body if isinstance(body, bytes) else b"".join(body), metadata

        found = self._on_fast_path(key, whole)
        if found is not None:
            return found
        return self._get_object(key)

    def get_range(self, key: str, start: int, length: int) -> tuple[bytes, dict[str, str]]:
        if length <= 0:
            return b"", self.head(key)[1]
        found = self._on_fast_path(key, lambda fast: fast.get_range(key, start, length))
        if found is not None:
            return found
        return self._get_object(key, Range=f"bytes={start}-{start + length - 1}")

    etag_kind = "s3-parts-8MiB"

    def etag_of_file(self, path: Path) -> str:
        """S3's ETag for the file as t4 uploads it: MD5, or MD5 of part MD5s and ``-N``."""
        size = path.stat().st_size
        if size <= MULTIPART_THRESHOLD:
            return super().etag_of_file(path)
        return multipart_etag(path, part_size_for(size))

    def other_etag_kinds(self, size: int, etag: str) -> Sequence[tuple[str, Callable[[Path], str]]]:
        """An object another tool uploaded in parts of another size (s5cmd: 50 MiB; others 5,
        16, 64 MiB...) has an ETag t4's 8 MiB parts never give: the part sizes that would
        give its part count, to hash the local file with (each kind cached like t4's own)."""
        count = etag.rpartition("-")[2] if "-" in etag else ""
        if not count.isdigit():
            return []
        ours = part_size_for(size)
        kinds = []
        for mib in OTHER_PART_SIZES_MIB:
            part = mib * 1024 * 1024
            if part != ours and -(-size // part) == int(count):
                kinds.append((f"s3-parts-{mib}MiB", functools.partial(multipart_etag, part=part)))
        return kinds

    def download(
        self,
        key: str,
        path: Path,
        callback: ByteCallback | None = None,
        *,
        size: int | None = None,
    ) -> dict[str, str]:
        """Small objects (``size`` known from a listing): one GET. Large ones, or size
        unknown: see ``open_download`` (no HEAD either way)."""
        if size is None:
            return self.open_download(key).write(path, callback)
        if size <= MULTIPART_THRESHOLD:

            def to_file(fast: FastPath) -> dict[str, str]:
                _, metadata, body = fast.open(key)
                return write_body(path, body, metadata, callback)

            written = self._on_fast_path(key, to_file)
            if written is not None:
                return written
            data, metadata = self._get_object(key)  # through boto3, again if cut short
            return write_body(path, data, metadata, callback)
        return self.open_download(key).write(path, callback)

    def open_download(self, key: str) -> PendingDownload:
        """One GET of the first ``RANGE`` bytes (the server sends no more than is kept): its
        answer tells the size, ETag and metadata; ``write`` writes its body (a large object:
        that first range, the rest as parallel ranged GETs, see
        ``s3_ranges``). A missing key is ``KeyNotFoundError`` (the bucket may be missing
        too: a listing tells)."""
        fast = self._fast_path()
        if fast is not None:
            try:
                info, metadata, body = fast.open(key, first=RANGE)
            except Unsupported:
                pass
            else:

                def write_fast(path: Path, callback: ByteCallback | None) -> dict[str, str]:
                    try:
                        if isinstance(body, bytes) or not info.etag:
                            return write_body(path, body, metadata, callback)
                        ranges = self._ranged_downloads()
                        ranges.download(fast, key, path, info.size, info.etag, body, callback)
                        return metadata
                    except Unsupported:  # broke off in a way obstore cannot tell: boto3's turn
                        return self._open_boto3(key).write(path, callback)

                return PendingDownload(info, metadata, write_fast)
        return self._open_boto3(key)

    def _open_boto3(self, key: str) -> PendingDownload:
        from botocore.exceptions import HTTPClientError, IncompleteReadError

        resp = self._call(self.client.get_object, key, Bucket=self.name, Key=key)
        info, metadata = self._info(key, resp), dict(resp.get("Metadata", {}))

        def write(path: Path, callback: ByteCallback | None) -> dict[str, str]:
            if info.size > MULTIPART_THRESHOLD:  # streamed: rare (keys obstore cannot say)
                chunks = read_all(self, key, resp["Body"].iter_chunks(1 << 20))
                return write_body(path, chunks, metadata, callback)
            try:
                data = resp["Body"].read()
            except (HTTPClientError, IncompleteReadError):
                data, _ = self._get_object(key)  # cut short: again, as get() does
            return write_body(path, data, metadata, callback)

        return PendingDownload(info, metadata, write)

    def open_stream(self, key: str) -> ObjectStream:
        """One GET, its body read as it is consumed (obstore; boto3 for keys obstore cannot
        say). A body that breaks off raises ``TransientError`` from ``chunks``."""
        fast = self._fast_path()
        if fast is not None:
            try:
                info, metadata, body = fast.open(key)
            except Unsupported:
                pass
            except KeyNotFoundError as err:
                raise self._missing_or_no_bucket(err, key) from err.__cause__
            else:
                chunks = self._unbroken(key, [body] if isinstance(body, bytes) else body)
                return ObjectStream(info, metadata, chunks, functools.partial(_close, chunks))
        resp = self._call(self.client.get_object, key, Bucket=self.name, Key=key)
        info, metadata = self._info(key, resp), dict(resp.get("Metadata", {}))
        pieces = read_all(self, key, resp["Body"].iter_chunks(1 << 20))
        return ObjectStream(info, metadata, pieces, resp["Body"].close)

    def _unbroken(self, key: str, body: Iterable[bytes]) -> Generator[bytes]:
        try:
            yield from body
        except Unsupported as err:  # no second GET: what was read is in use already
            raise TransientError(
                f"reading {key!r} from {self.uri} broke off ({err}); copy it again",
                bucket=self.uri,
                key=key,
            ) from err

    def put_bytes(self, key: str, data: bytes, metadata: dict[str, str]) -> ObjectInfo:
        with self._writing(key):
            if len(data) <= MULTIPART_THRESHOLD:

                def put(fast: FastPath) -> ObjectInfo:
                    return self._stored(key, len(data), *fast.put(key, data, metadata))

                stored = self._on_fast_path(key, put)
                if stored is not None:
                    return stored
            return self._put_object(key, data, metadata)

    def _put_object(self, key: str, data: bytes, metadata: dict[str, str]) -> ObjectInfo:
        """One PUT through boto3."""
        with self._writing(key):
            resp = self._call(
                self.client.put_object, key, Bucket=self.name, Key=key, Body=data, Metadata=metadata
            )
        etag = resp.get("ETag", "").strip('"') or None
        return self._stored(key, len(data), etag, resp.get("VersionId"))

    def get_tagged(self, key: str) -> tuple[bytes, str]:
        return s3_conditional.get_tagged(self, key)

    def put_if(self, key: str, data: bytes, metadata: dict[str, str], etag: str | None) -> None:
        s3_conditional.put_if(self, key, data, metadata, etag)

    @staticmethod
    def _stored(key: str, size: int, etag: str | None, version: str | None) -> ObjectInfo:
        return ObjectInfo(key, size, etag, utc_now(), version_or_none(version))

    def small_objects(self) -> AsyncObjects | None:
        """Small objects through obstore's async requests, for ``t4.engine``."""
        fast = self._fast_path()
        if fast is None:
            return None
        return AsyncObjects(
            fast,
            MULTIPART_THRESHOLD,
            slow_get=self._get_object,
            slow_put=self._put_object,
            stored=self._stored,
            missing=self._missing_or_no_bucket,
            writing=self._writing,
        )

    def set_metadata(self, key: str, metadata: dict[str, str]) -> ObjectInfo:
        """One CopyObject onto itself; its answer tells the new ETag and time (the size is
        the same), so no HEAD follows. A copy above 5 GiB goes through the managed copy."""
        info = self.copy_from(self, key, key, metadata)
        assert info is not None
        return info

    def copy_from(
        self, source: Backend, src_key: str, key: str, metadata: dict[str, str] | None = None
    ) -> ObjectInfo | None:
        """Server-side copy when ``source`` is an S3 bucket on the same endpoint with the same
        credentials; ``metadata`` replaces the user metadata (else it is kept)."""
        if not isinstance(source, S3Backend) or not self._same_place(source):
            return None
        extra: dict[str, Any] = (
            {"Metadata": metadata, "MetadataDirective": "REPLACE"} if metadata is not None else {}
        )
        resp = self._call(
            self.client.copy_object,
            key,
            Bucket=self.name,
            Key=key,
            CopySource={"Bucket": source.name, "Key": src_key},
            **extra,
        )
        result = resp.get("CopyObjectResult", {})
        etag = result.get("ETag", "").strip('"') or None
        moment = result.get("LastModified") or utc_now()
        return ObjectInfo(key, -1, etag, moment, resp.get("VersionId"))

    def delete_many(self, keys: Sequence[str]) -> dict[str, Exception]:
        if not keys:
            return {}
        resp = self._call(
            self.client.delete_objects,
            keys[0],
            Bucket=self.name,
            Delete={"Objects": [{"Key": k} for k in keys], "Quiet": True},
        )
        return {
            e.get("Key", ""): s3_error(
                str(e.get("Code", "")), 0, bucket=self.uri, key=e.get("Key"),
                detail=e.get("Message", ""),
            )
            for e in resp.get("Errors", [])
        }  # fmt: skip


def _close(chunks: Generator[bytes]) -> None:
    """Drop a body being read (its request); one still read by another thread (a cancelled
    upload's) is dropped once that thread lets go of it."""
    with contextlib.suppress(ValueError):  # "generator already executing"
        chunks.close()
