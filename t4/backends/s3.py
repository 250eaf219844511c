"""An S3 bucket through boto3: the standard credential chain, ``AWS_ENDPOINT_URL`` or an
explicit endpoint for S3-compatible servers, path-style addressing when asked.

Every boto3 call goes through ``S3Backend._call``, where one table turns S3's error codes
into the ``t4.errors`` tree; the original error is chained, never shown bare.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    HTTPClientError,
    NoCredentialsError,
    PartialCredentialsError,
    ReadTimeoutError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from t4.backends.base import Backend, ByteCallback, ObjectInfo
from t4.errors import (
    AccessDeniedError,
    BucketNotFoundError,
    KeyNotFoundError,
    T4Error,
    TransientError,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["S3Backend", "S3Settings", "part_size_for"]

T = TypeVar("T")

#: Objects up to this size move in one request; larger ones in parallel parts.
MULTIPART_THRESHOLD = 8 * 1024 * 1024
_MAX_PARTS = 10_000

_NOT_FOUND = {"NoSuchKey", "404", "NotFound"}
_NO_BUCKET = {"NoSuchBucket"}
_DENIED = {
    "AccessDenied",
    "403",
    "Forbidden",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
    "AllAccessDisabled",
}
_TRANSIENT = {
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "RequestTimeout",
    "RequestTimeTooSkewed",
    "InternalError",
    "ServiceUnavailable",
    "503",
    "500",
    "502",
    "504",
}


def part_size_for(size: int) -> int:
    """The multipart part size for a file: 8 MiB, doubled until it needs at most 10,000 parts."""
    part = MULTIPART_THRESHOLD
    while part * _MAX_PARTS < size:
        part *= 2
    return part


class S3Settings:
    """How to reach S3: all optional, the standard boto3 chain fills the rest."""

    def __init__(
        self,
        endpoint_url: str | None = None,
        profile: str | None = None,
        region: str | None = None,
        path_style: bool = False,
        concurrency: int = 16,
    ):
        self.endpoint_url = endpoint_url
        self.profile = profile
        self.region = region
        self.path_style = path_style
        self.concurrency = concurrency


class S3Backend(Backend):
    """Objects in the S3 bucket ``name``."""

    def __init__(self, name: str, settings: S3Settings | None = None):
        self.name = name
        self.uri = f"s3://{name}"
        self.settings = settings or S3Settings()
        self.session = boto3.session.Session(profile_name=self.settings.profile)
        s3_opts = {"addressing_style": "path"} if self.settings.path_style else {}
        self.client: S3Client = self.session.client(
            "s3",
            endpoint_url=self.settings.endpoint_url,
            region_name=self.settings.region,
            config=Config(
                max_pool_connections=self.settings.concurrency + 4,
                retries={"mode": "standard", "max_attempts": 5},
                s3=s3_opts,  # type: ignore[arg-type]  # the stubs type this dict too narrowly
                connect_timeout=10,
                read_timeout=60,
            ),
        )

    # -- the one door every call goes through -----------------------------------------
    def _call(self, fn: Callable[..., T], key: str | None = None, **kwargs: Any) -> T:
        try:
            return fn(**kwargs)
        except ClientError as err:
            raise self._translate(err, key) from err
        except (NoCredentialsError, PartialCredentialsError) as err:
            raise AccessDeniedError(
                f"no usable AWS credentials for {self.uri}: set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY, a profile, or an instance role",
                bucket=self.uri,
                key=key,
            ) from err
        except (BotoConnectionError, HTTPClientError, ReadTimeoutError) as err:
            raise TransientError(
                f"could not reach {self.uri} ({type(err).__name__}); check the endpoint and "
                "network, then retry",
                bucket=self.uri,
                key=key,
            ) from err
        except BotoCoreError as err:
            raise T4Error(f"{self.uri}: {err}", bucket=self.uri, key=key) from err

    def _translate(self, err: ClientError, key: str | None) -> T4Error:
        error = err.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        what = f"{key!r} in {self.uri}" if key else self.uri
        if code in _NO_BUCKET:
            return BucketNotFoundError(
                f"bucket {self.uri} does not exist (or the endpoint is wrong): check the name",
                bucket=self.uri,
                key=key,
            )
        if code in _NOT_FOUND:
            return KeyNotFoundError(
                f"no object {what}; list what is there with keys()", bucket=self.uri, key=key
            )
        if code in _DENIED or status == 403:
            return AccessDeniedError(
                f"access denied to {what} ({code}): check the credentials and the bucket policy",
                bucket=self.uri,
                key=key,
            )
        if code in _TRANSIENT or status >= 500:
            return TransientError(
                f"{self.uri} failed for {what} with {code or status}, which may pass: retry",
                bucket=self.uri,
                key=key,
            )
        return T4Error(
            f"{what}: {code} {error.get('Message', '')}".strip(), bucket=self.uri, key=key
        )

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
        try:
            resp = self._call(self.client.head_object, key, Bucket=self.name, Key=key)
        except T4Error as err:
            raise self._missing_or_no_bucket(err, key) from err.__cause__
        return self._info(key, resp), dict(resp.get("Metadata", {}))

    def get_bytes(self, key: str) -> bytes:
        resp = self._call(self.client.get_object, key, Bucket=self.name, Key=key)
        return self._call(resp["Body"].read, key)

    def get(self, key: str) -> tuple[bytes, dict[str, str]]:
        resp = self._call(self.client.get_object, key, Bucket=self.name, Key=key)
        return self._call(resp["Body"].read, key), dict(resp.get("Metadata", {}))

    etag_kind = "s3-parts-8MiB"

    def etag_of_file(self, path: Path) -> str:
        """S3's ETag for the file as t4 uploads it: MD5, or MD5 of part MD5s and ``-N``."""
        size = path.stat().st_size
        if size <= MULTIPART_THRESHOLD:
            return super().etag_of_file(path)
        part = part_size_for(size)
        digests = []
        with path.open("rb") as src:
            while chunk := src.read(part):
                digests.append(hashlib.md5(chunk, usedforsecurity=False).digest())
        joined = hashlib.md5(b"".join(digests), usedforsecurity=False).hexdigest()
        return f"{joined}-{len(digests)}"

    def download(
        self, key: str, path: Path, callback: ByteCallback | None = None
    ) -> dict[str, str]:
        info, metadata = self.head(key)
        if info.size <= MULTIPART_THRESHOLD:
            data = self.get_bytes(key)
            path.write_bytes(data)
            if callback:
                callback(len(data))
            return metadata
        config = self._transfer_config(info.size)
        self._call(
            self.client.download_file,
            key,
            Bucket=self.name,
            Key=key,
            Filename=str(path),
            Callback=callback,
            Config=config,
        )
        return metadata

    def put_bytes(self, key: str, data: bytes, metadata: dict[str, str]) -> ObjectInfo:
        resp = self._call(
            self.client.put_object, key, Bucket=self.name, Key=key, Body=data, Metadata=metadata
        )
        return ObjectInfo(key, len(data), resp.get("ETag", "").strip('"') or None, _now())

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
        self._call(
            self.client.upload_file,
            key,
            Filename=str(path),
            Bucket=self.name,
            Key=key,
            ExtraArgs={"Metadata": metadata},
            Callback=callback,
            Config=self._transfer_config(size),
        )
        return self.head(key)[0]

    def set_metadata(self, key: str, metadata: dict[str, str]) -> ObjectInfo:
        self._call(
            self.client.copy_object,
            key,
            Bucket=self.name,
            Key=key,
            CopySource={"Bucket": self.name, "Key": key},
            Metadata=metadata,
            MetadataDirective="REPLACE",
        )
        return self.head(key)[0]

    def delete_many(self, keys: Iterable[str]) -> None:
        batch: list[str] = []
        for key in keys:
            batch.append(key)
            if len(batch) == 1000:
                self._delete_batch(batch)
                batch = []
        if batch:
            self._delete_batch(batch)

    def _delete_batch(self, keys: Sequence[str]) -> None:
        resp = self._call(
            self.client.delete_objects,
            keys[0],
            Bucket=self.name,
            Delete={"Objects": [{"Key": k} for k in keys], "Quiet": True},
        )
        errors = resp.get("Errors", [])
        if errors:
            first = errors[0]
            fake = ClientError(
                {"Error": {"Code": first.get("Code", ""), "Message": first.get("Message", "")}},
                "DeleteObjects",
            )
            raise self._translate(fake, first.get("Key"))

    def close(self) -> None:
        self.client.close()

    # -- helpers ------------------------------------------------------------------------
    def _transfer_config(self, size: int) -> TransferConfig:
        part = part_size_for(size)
        return TransferConfig(
            multipart_threshold=MULTIPART_THRESHOLD,
            multipart_chunksize=part,
            max_concurrency=self.settings.concurrency,
            use_threads=True,
        )

    def _info(self, key: str, resp: Any) -> ObjectInfo:
        return ObjectInfo(
            key=key,
            size=int(resp.get("ContentLength", 0)),
            etag=resp.get("ETag", "").strip('"') or None,
            last_modified=resp.get("LastModified") or _now(),
            version_id=resp.get("VersionId"),
        )


def _now() -> datetime:
    return datetime.now(UTC)
