"""The connection half of an S3 bucket: the boto3 session and client (built on first use),
obstore's fast path configured like them, and the one door every boto3 call goes through
(``S3Connection._call``), where one table turns S3's error codes into the ``t4.errors``
tree; the original error is chained, never shown bare. ``t4.backends.s3.S3Backend`` builds
the bucket's operations on it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from t4.backends.aws_config import settings_error
from t4.backends.base import ObjectInfo
from t4.backends.s3_credentials import SessionCredentials, StaticCredentials
from t4.backends.s3_fast import (
    FastPath,
    Unsupported,
)
from t4.backends.s3_parts import MULTIPART_THRESHOLD
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
    from t4.backends.s3_list import Lister
    from t4.backends.s3_ranges import RangedDownloads

__all__ = ["S3Connection", "read_all", "reraise", "utc_now", "version_or_none"]

log = logging.getLogger(__name__)

T = TypeVar("T")


class S3Connection:
    """The clients of the S3 bucket ``name`` and the translation of their errors."""

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
        self._listing: Lister | None = None
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
            # keys given outright: the region and endpoint resolved with them, so boto3
            # and obstore go to the same place; else the session's settings decide
            endpoint = self._reach.endpoint if keys else self.settings.endpoint_url
            client: S3Client = session.client(
                "s3",
                endpoint_url=endpoint,
                region_name=self._reach.region if keys else self.settings.region,
                config=Config(
                    max_pool_connections=self.settings.concurrency + 4,
                    retries={"mode": "standard", "max_attempts": self.settings.max_attempts},
                    s3=s3_opts,  # type: ignore[arg-type]  # the stubs type this dict too narrowly
                    signature_version="s3v4",  # presigned URLs too (boto3's default: v2)
                    connect_timeout=self.settings.connect_timeout,
                    read_timeout=self.settings.read_timeout,
                    **checksums_for(endpoint, session),
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
                    return self._call(reraise(err), key)
                log.debug("reading %r from %s broke off (%s); again", key, self.uri, err)
        raise AssertionError("unreachable: max_attempts >= 1")

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

    def _next_page(self, pages: Iterator[Any]) -> Any:
        try:
            return self._call(lambda: next(pages))
        except StopIteration:
            return None

    @property
    def identity(self) -> str:
        if self._reach.keys is None:  # the settings files may name the endpoint
            return f"{self.uri}@{self.client.meta.endpoint_url}"
        return f"{self.uri}@{self._reach.endpoint_url}"

    def _same_place(self, other: S3Connection) -> bool:
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

    def close(self) -> None:
        with self._lock:
            large, ranges, connected = self._large, self._ranges, self._boto
            listing = self._listing
        if listing is not None:
            listing.close()
        if large is not None:
            large.close()
        if ranges is not None:
            ranges.close()
        if connected is not None:
            connected[1].close()

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
            last_modified=resp.get("LastModified") or utc_now(),
            version_id=version_or_none(resp.get("VersionId")),
        )


def reraise(err: Exception) -> Callable[[], Any]:
    """A call that raises ``err`` again, so ``_call`` translates it like any other."""

    def again() -> Any:
        raise err

    return again


def read_all(backend: S3Connection, key: str, chunks: Iterator[bytes]) -> Iterator[bytes]:
    """A body's chunks, a connection broken mid-way raised as ``t4.errors``."""
    while True:
        try:
            chunk = backend._call(lambda: next(chunks), key)
        except StopIteration:
            return
        yield chunk


def version_or_none(version: str | None) -> str | None:
    """S3 says ``null`` for an object written while the bucket was not versioned."""
    return None if version in (None, "", "null") else version


def utc_now() -> datetime:
    return datetime.now(UTC)


def checksums_for(endpoint: str | None, session: Any) -> dict[str, Any]:
    """boto3's checksum setting for uploads to ``endpoint``: on AWS (``None``, or an
    ``amazonaws.com`` address), boto3's own (a CRC32 with every upload). Elsewhere (MinIO,
    SeaweedFS, Ceph...), ``when_required``, as every S3 client sent before boto3 1.36:
    servers other than AWS may refuse the CRC trailer, and where they take it, it cost 0.14 s
    of t4's CPU and 0.14 s of the server's on 256 MiB (SeaweedFS, W2 up, t4 put-dir).
    The bytes are still checked: over HTTP their SHA-256 is signed, over HTTPS TLS checks
    them. ``AWS_REQUEST_CHECKSUM_CALCULATION`` or a profile's
    ``request_checksum_calculation`` decides instead when set."""
    import os
    from urllib.parse import urlsplit

    host = (urlsplit(endpoint).hostname or "") if endpoint else "amazonaws.com"
    if host == "amazonaws.com" or host.endswith((".amazonaws.com", ".amazonaws.com.cn")):
        return {}
    chosen = os.environ.get("AWS_REQUEST_CHECKSUM_CALCULATION")
    if chosen or session._session.get_scoped_config().get("request_checksum_calculation"):
        return {}
    return {"request_checksum_calculation": "when_required"}
