"""An S3 bucket through boto3: the standard credential chain, ``AWS_ENDPOINT_URL`` or an
explicit endpoint for S3-compatible servers, path-style addressing when asked.

Every boto3 call goes through ``S3Backend._call``, where one table turns S3's error codes
into the ``t4.errors`` tree; the original error is chained, never shown bare.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from t4.backends.aws_config import settings_error
from t4.backends.base import Backend, ByteCallback, ObjectInfo, ObjectVersion, PendingDownload
from t4.backends.s3_fast import (
    AsyncObjects,
    FastPath,
    SessionCredentials,
    StaticCredentials,
    Unsupported,
    write_body,
)
from t4.backends.s3_ranges import RANGE
from t4.backends.s3_settings import S3Settings, resolve
from t4.errors import (
    AccessDeniedError,
    BucketNotFoundError,
    KeyNotFoundError,
    T4Error,
    TransientError,
    s3_error,
)

if TYPE_CHECKING:
    import boto3
    from botocore.exceptions import ClientError
    from mypy_boto3_s3 import S3Client

    from t4.backends.s3_large import LargeTransfers
    from t4.backends.s3_ranges import RangedDownloads

__all__ = ["S3Backend", "S3Settings", "part_size_for"]

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Objects up to this size move in one request; larger ones in parallel parts.
MULTIPART_THRESHOLD = 8 * 1024 * 1024
_MAX_PARTS = 10_000

#: Part sizes other S3 tools upload with, tried when an object's multipart ETag is not t4's.
OTHER_PART_SIZES_MIB = (5, 10, 15, 16, 25, 32, 50, 64, 100, 128, 256, 512)


def multipart_etag(path: Path, part: int) -> str:
    """S3's ETag for ``path`` uploaded in parts of ``part`` bytes: MD5 of part MD5s, ``-N``."""
    digests = []
    with path.open("rb") as src:
        while chunk := src.read(part):
            digests.append(hashlib.md5(chunk, usedforsecurity=False).digest())
    joined = hashlib.md5(b"".join(digests), usedforsecurity=False).hexdigest()
    return f"{joined}-{len(digests)}"


def part_size_for(size: int) -> int:
    """The multipart part size for a file: 8 MiB, doubled until it needs at most 10,000 parts."""
    part = MULTIPART_THRESHOLD
    while part * _MAX_PARTS < size:
        part *= 2
    return part


class S3Backend(Backend):
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

    def __init__(self, name: str, settings: S3Settings | None = None):
        self.name = name
        self.uri = f"s3://{name}"
        self.settings = settings or S3Settings()
        self._reach = resolve(self.settings, self.uri)
        self._lock = threading.RLock()
        self._boto: tuple[boto3.session.Session, S3Client] | None = None
        self._fast: FastPath | bool | None = False  # False: not built yet
        self._large: LargeTransfers | None = None
        self._ranges: RangedDownloads | None = None
        if self._reach.keys is None:
            self._connect()

    @property
    def session(self) -> boto3.session.Session:
        """The boto3 session (built on first use)."""
        return self._connect()[0]

    @property
    def client(self) -> S3Client:
        """The boto3 client (built on first use)."""
        return self._connect()[1]

    def _connect(self) -> tuple[boto3.session.Session, S3Client]:
        with self._lock:
            if self._boto is None:
                self._boto = self._boto3()
            return self._boto

    def _boto3(self) -> tuple[boto3.session.Session, S3Client]:
        import boto3
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError

        keys, given = self._reach.keys, self.settings.credentials
        s3_opts = {"addressing_style": "path"} if self.settings.path_style else {}
        try:
            session = boto3.session.Session(
                aws_access_key_id=keys.access_key_id if keys else given.get("aws_access_key_id"),
                aws_secret_access_key=(
                    keys.secret_access_key if keys else given.get("aws_secret_access_key")
                ),
                aws_session_token=keys.session_token if keys else given.get("aws_session_token"),
                profile_name=self.settings.profile,
            )
            client: S3Client = session.client(
                "s3",
                # keys given outright: the region and endpoint resolved with them, so boto3
                # and obstore go to the same place; else the session's settings decide
                endpoint_url=self._reach.endpoint if keys else self.settings.endpoint_url,
                region_name=self._reach.region if keys else self.settings.region,
                config=Config(
                    max_pool_connections=self.settings.concurrency + 4,
                    retries={"mode": "standard", "max_attempts": self.settings.max_attempts},
                    s3=s3_opts,  # type: ignore[arg-type]  # the stubs type this dict too narrowly
                    connect_timeout=self.settings.connect_timeout,
                    read_timeout=self.settings.read_timeout,
                ),
            )
        except BotoCoreError as err:
            raise self._settings_error(err) from err
        return session, client

    def _ranged_downloads(self) -> RangedDownloads:
        from t4.backends.s3_ranges import RangedDownloads

        with self._lock:
            if self._ranges is None:
                self._ranges = RangedDownloads(self.settings.concurrency)
            return self._ranges

    def _large_transfers(self) -> LargeTransfers:
        from t4.backends.s3_large import LargeTransfers

        with self._lock:
            if self._large is None:
                self._large = LargeTransfers(
                    self.client, self.name, self.settings.concurrency, MULTIPART_THRESHOLD
                )
            return self._large

    def _settings_error(self, err: Exception) -> T4Error:
        """A bad AWS setting (profile, region, settings file) as a ``ConfigError``; any other
        botocore error as a ``T4Error`` naming the bucket."""
        found = settings_error(err, self.uri, self.settings.profile, self.settings.region)
        return found or T4Error(f"{self.uri}: {err}", bucket=self.uri)

    # -- the one door every boto3 call goes through ----------------------------------------
    def _call(self, fn: Callable[..., T], key: str | None = None, **kwargs: Any) -> T:
        try:
            return fn(**kwargs)
        except Exception as err:
            found = self._boto_error(err, key)
            if found is None:
                raise
            raise found from err

    def _boto_error(self, err: Exception, key: str | None) -> T4Error | None:
        """The ``t4.errors`` error for a boto3 or botocore error; ``None`` for any other."""
        from boto3.exceptions import S3UploadFailedError
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            HTTPClientError,
            NoCredentialsError,
            PartialCredentialsError,
            ReadTimeoutError,
        )
        from botocore.exceptions import ConnectionError as BotoConnectionError
        from urllib3.exceptions import HTTPError as Urllib3Error

        if isinstance(err, ClientError):
            return self._translate(err, key)
        if isinstance(err, S3UploadFailedError):  # boto3 wraps the ClientError of a failed part
            cause = err.__context__
            if isinstance(cause, ClientError):
                return self._translate(cause, key)
            return T4Error(f"{self.uri}: {err}", bucket=self.uri, key=key)
        if isinstance(err, (NoCredentialsError, PartialCredentialsError)):
            return AccessDeniedError(
                f"no usable AWS credentials for {self.uri}: set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY, a profile, or an instance role",
                bucket=self.uri,
                key=key,
            )
        # urllib3's own: an error answer whose body broke off, which botocore reads outside
        # its retry loop
        if isinstance(err, (BotoConnectionError, HTTPClientError, ReadTimeoutError, Urllib3Error)):
            return TransientError(
                f"could not reach {self.uri} ({type(err).__name__}); check the endpoint and "
                "network, then retry",
                bucket=self.uri,
                key=key,
            )
        if isinstance(err, BotoCoreError):
            found = settings_error(err, self.uri, self.settings.profile, self.settings.region)
            return found or T4Error(f"{self.uri}: {err}", bucket=self.uri, key=key)
        return None

    def _translate(self, err: ClientError, key: str | None) -> T4Error:
        error = err.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        return s3_error(code, status, bucket=self.uri, key=key, detail=error.get("Message", ""))

    def _missing_or_no_bucket(self, err: T4Error, key: str) -> T4Error:
        """HEAD's 404 carries no code: ask whether the bucket itself is there."""
        if isinstance(err, KeyNotFoundError):
            with contextlib.suppress(KeyNotFoundError):
                self._call(self.client.head_bucket, Bucket=self.name)
                return err
            return BucketNotFoundError(
                f"bucket {self.uri} does not exist (or the endpoint is wrong): check the name",
                bucket=self.uri,
                key=key,
            )
        return err

    # -- primitives ---------------------------------------------------------------------
    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        paginator = self.client.get_paginator("list_objects_v2")
        pages = iter(paginator.paginate(Bucket=self.name, Prefix=prefix))
        while True:
            page = self._next_page(pages)
            if page is None:
                return
            for obj in page.get("Contents", []):
                yield ObjectInfo(
                    key=obj["Key"],
                    size=int(obj["Size"]),
                    etag=obj.get("ETag", "").strip('"') or None,
                    last_modified=obj["LastModified"],
                )

    def _next_page(self, pages: Iterator[Any]) -> Any:
        try:
            return self._call(lambda: next(pages))
        except StopIteration:
            return None

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

    def _get_object(self, key: str, **extra: str) -> tuple[bytes, dict[str, str]]:
        """One GET through boto3. botocore retries a request, not a body cut short
        mid-stream: GET again for that."""
        from botocore.exceptions import HTTPClientError, IncompleteReadError

        for attempt in range(1, self.settings.max_attempts + 1):
            resp = self._call(self.client.get_object, key, Bucket=self.name, Key=key, **extra)
            try:
                return resp["Body"].read(), dict(resp.get("Metadata", {}))
            except (HTTPClientError, IncompleteReadError) as err:
                if attempt == self.settings.max_attempts:
                    return self._call(_reraise(err), key)
                log.debug("reading %r from %s broke off (%s); again", key, self.uri, err)
        raise AssertionError("unreachable: max_attempts >= 1")

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
                chunks = _read_all(self, key, resp["Body"].iter_chunks(1 << 20))
                return write_body(path, chunks, metadata, callback)
            try:
                data = resp["Body"].read()
            except (HTTPClientError, IncompleteReadError):
                data, _ = self._get_object(key)  # cut short: again, as get() does
            return write_body(path, data, metadata, callback)

        return PendingDownload(info, metadata, write)

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

    @staticmethod
    def _stored(key: str, size: int, etag: str | None, version: str | None) -> ObjectInfo:
        return ObjectInfo(key, size, etag, _now(), _version(version))

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
            large = self._large_transfers()
            self._call(large.upload(str(path), key, {"Metadata": metadata}, callback), key)
        return self.head(key)[0]

    @contextlib.contextmanager
    def _writing(self, key: str) -> Iterator[None]:
        """A 404 answering a write never means a missing key (the write creates it): the
        bucket is not there, or the endpoint sends its writes elsewhere. Say that."""
        try:
            yield
        except KeyNotFoundError as err:
            raise BucketNotFoundError(
                f"bucket {self.uri} does not exist, or the endpoint takes no writes for it: "
                f"the server answered 404 Not Found to writing {key!r}; check the bucket name "
                "and the endpoint",
                bucket=self.uri,
                key=key,
            ) from err

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

    def set_metadata(self, key: str, metadata: dict[str, str]) -> ObjectInfo:
        """One CopyObject onto itself; its answer tells the new ETag and time (the size is
        the same), so no HEAD follows. A copy above 5 GiB goes through the managed copy."""
        info = self.copy_from(self, key, key, metadata)
        assert info is not None
        return info

    @property
    def identity(self) -> str:
        if self._reach.keys is None:  # the settings files may name the endpoint
            return f"{self.uri}@{self.client.meta.endpoint_url}"
        return f"{self.uri}@{self._reach.endpoint_url}"

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
        moment = result.get("LastModified") or _now()
        return ObjectInfo(key, -1, etag, moment, resp.get("VersionId"))

    def _same_place(self, other: S3Backend) -> bool:
        if other is self:
            return True
        return other.identity.partition("@")[2] == self.identity.partition("@")[2] and (
            other._access_key() == self._access_key()
        )

    def _access_key(self) -> str | None:
        if self._reach.keys is not None:
            return self._reach.keys.access_key_id
        credentials = self.session.get_credentials()
        return credentials.access_key if credentials else None

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

    # -- object versions ----------------------------------------------------------------
    def versions(self, prefix: str = "") -> Iterator[ObjectVersion]:
        paginator = self.client.get_paginator("list_object_versions")
        pages = iter(paginator.paginate(Bucket=self.name, Prefix=prefix))
        while (page := self._next_page(pages)) is not None:
            found = [(v, False) for v in page.get("Versions", [])]
            found += [(m, True) for m in page.get("DeleteMarkers", [])]
            found.sort(key=lambda item: (item[0]["Key"], -item[0]["LastModified"].timestamp()))
            for item, marker in found:
                yield ObjectVersion(
                    key=item["Key"],
                    version_id=item["VersionId"],
                    size=int(item.get("Size", 0)),
                    last_modified=item["LastModified"],
                    is_latest=bool(item.get("IsLatest")),
                    is_delete_marker=marker,
                    etag=item.get("ETag", "").strip('"') or None,
                )

    def head_version(self, key: str, version_id: str) -> tuple[ObjectInfo, dict[str, str]]:
        resp = self._call(
            self.client.head_object, key, Bucket=self.name, Key=key, VersionId=version_id
        )
        return self._info(key, resp), dict(resp.get("Metadata", {}))

    def get_version(self, key: str, version_id: str) -> tuple[bytes, dict[str, str]]:
        resp = self._call(
            self.client.get_object, key, Bucket=self.name, Key=key, VersionId=version_id
        )
        return self._call(resp["Body"].read, key), dict(resp.get("Metadata", {}))

    def download_version(
        self, key: str, version_id: str, path: Path, callback: ByteCallback | None = None
    ) -> dict[str, str]:
        resp = self._call(
            self.client.get_object, key, Bucket=self.name, Key=key, VersionId=version_id
        )
        chunks = resp["Body"].iter_chunks(1 << 20)
        metadata = dict(resp.get("Metadata", {}))
        return write_body(path, _read_all(self, key, chunks), metadata, callback)

    def close(self) -> None:
        with self._lock:
            large, ranges, connected = self._large, self._ranges, self._boto
        if large is not None:
            large.close()
        if ranges is not None:
            ranges.close()
        if connected is not None:
            connected[1].close()

    # -- helpers ------------------------------------------------------------------------
    def _fast_path(self) -> FastPath | None:
        with self._lock:
            if self._fast is False:
                self._fast = self._build_fast_path()
            return self._fast if isinstance(self._fast, FastPath) else None

    def _build_fast_path(self) -> FastPath | None:
        """obstore's store, configured like boto3: from the keys and settings resolved here,
        or from the boto3 session and client when boto3 resolves them (no credentials:
        None, and boto3 reports the problem)."""
        keys, reach = self._reach.keys, self._reach
        if keys is not None:
            return FastPath.for_settings(
                self.name,
                self.uri,
                endpoint=reach.endpoint,
                region=reach.region,
                credentials=StaticCredentials(keys),
            )
        from botocore.exceptions import BotoCoreError

        try:
            credentials = self.session.get_credentials()
        except BotoCoreError as err:  # reading the credentials, say: a broken file
            raise self._settings_error(err) from err
        if credentials is None:
            return None
        meta = self.client.meta
        return FastPath.for_settings(
            self.name,
            self.uri,
            endpoint=meta.endpoint_url,
            region=meta.region_name or "us-east-1",
            credentials=SessionCredentials(credentials),
        )

    def _on_fast_path(self, key: str, call: Callable[[FastPath], T]) -> T | None:
        """``call(fast path)``, or None when there is no fast path or it cannot do this
        request (``Unsupported``): the caller then goes through boto3. obstore's 404 may mean
        the bucket is missing: that is told apart as ``head`` does."""
        fast = self._fast_path()
        if fast is None:
            return None
        try:
            return call(fast)
        except Unsupported:
            return None
        except KeyNotFoundError as err:
            raise self._missing_or_no_bucket(err, key) from err.__cause__

    def _info(self, key: str, resp: Any) -> ObjectInfo:
        return ObjectInfo(
            key=key,
            size=int(resp.get("ContentLength", 0)),
            etag=resp.get("ETag", "").strip('"') or None,
            last_modified=resp.get("LastModified") or _now(),
            version_id=_version(resp.get("VersionId")),
        )


def _reraise(err: Exception) -> Callable[[], Any]:
    """A call that raises ``err`` again, so ``_call`` translates it like any other."""

    def again() -> Any:
        raise err

    return again


def _read_all(backend: S3Backend, key: str, chunks: Iterator[bytes]) -> Iterator[bytes]:
    """A body's chunks, a connection broken mid-way raised as ``t4.errors``."""
    while True:
        try:
            chunk = backend._call(lambda: next(chunks), key)
        except StopIteration:
            return
        yield chunk


def _version(version: str | None) -> str | None:
    """S3 says ``null`` for an object written while the bucket was not versioned."""
    return None if version in (None, "", "null") else version


def _now() -> datetime:
    return datetime.now(UTC)
