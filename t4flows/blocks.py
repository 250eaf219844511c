"""A Prefect Block that names a bucket and how to reach it, so deployments say ``lake``
instead of repeating an endpoint, a profile or credentials.

Credentials are ``SecretStr``: Prefect stores them encrypted-at-rest in its database, shows
them masked in the UI and in parameters, and this module never logs them.

Example:
    >>> block = T4BucketBlock(uri="s3://lake", endpoint_url="http://localhost:8333")
    >>> block.save("lake")  # doctest: +SKIP
    >>> with open_bucket("t4-bucket/lake") as b:  # doctest: +SKIP
    ...     b.keys()
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any, ClassVar

from prefect.blocks.core import Block
from pydantic import Field, SecretStr

import t4
from t4.transfer import ProgressCallback

__all__ = ["BLOCK_PREFIX", "BucketRef", "T4BucketBlock", "bucket_label", "open_bucket"]

#: ``"t4-bucket/NAME"`` names a saved block; any other string is a bucket URI or folder.
BLOCK_PREFIX = "t4-bucket/"


class T4BucketBlock(Block):
    """A bucket's URI and connection settings.

    Attributes:
        uri: ``s3://name``, ``file:///abs/folder`` or a local folder.
        endpoint_url: an S3-compatible endpoint (MinIO, SeaweedFS, moto...).
        profile: an AWS profile name from the shared config files.
        region: the AWS region.
        path_style: address the bucket in the path, as most S3-compatible servers want.
        concurrency: transfers at once inside one task.
        aws_access_key_id, aws_secret_access_key, aws_session_token: explicit credentials,
            when neither a profile nor the environment provides them.

    Example:
        >>> block = T4BucketBlock(uri="s3://lake", profile="analytics")
        >>> block.save("lake", overwrite=True)  # doctest: +SKIP
    """

    _block_type_name: ClassVar[str] = "T4 Bucket"
    _block_type_slug: ClassVar[str] = "t4-bucket"
    _description: ClassVar[str] = "An S3 bucket or local folder for t4flows tasks."

    uri: str = Field(description="s3://name, file:///abs/folder or a local folder path")
    endpoint_url: str | None = Field(default=None, description="S3-compatible endpoint URL")
    profile: str | None = Field(default=None, description="AWS profile name")
    region: str | None = Field(default=None, description="AWS region")
    path_style: bool = Field(default=False, description="path-style addressing")
    concurrency: int | None = Field(default=None, description="transfers at once per task")
    aws_access_key_id: SecretStr | None = Field(default=None)
    aws_secret_access_key: SecretStr | None = Field(default=None)
    aws_session_token: SecretStr | None = Field(default=None)

    def bucket(
        self,
        *,
        concurrency: int | None = None,
        callback: ProgressCallback | None = None,
    ) -> t4.Bucket:
        """Open the bucket this block names (progress bars off: tasks report through Prefect).

        Example:
            >>> with T4BucketBlock.load("lake").bucket() as b:  # doctest: +SKIP
            ...     b.keys("raw/")
        """
        kwargs: dict[str, Any] = {
            "endpoint_url": self.endpoint_url,
            "profile": self.profile,
            "region": self.region,
            "path_style": self.path_style,
            "concurrency": concurrency or self.concurrency,
            "progress": False,
            "callback": callback,
        }
        return t4.Bucket(self.uri, credentials=self._credentials() or None, **kwargs)

    def _credentials(self) -> dict[str, str]:
        pairs = {
            "aws_access_key_id": self.aws_access_key_id,
            "aws_secret_access_key": self.aws_secret_access_key,
            "aws_session_token": self.aws_session_token,
        }
        return {name: value.get_secret_value() for name, value in pairs.items() if value}


#: What tasks accept for a bucket: a URI or folder, ``"t4-bucket/NAME"``, or a block.
BucketRef = str | T4BucketBlock


#: Buckets opened without a callback, kept per process: building one (a boto3 session and
#: client) costs a few hundred ms of CPU, which chunk tasks would otherwise pay every time.
_SHARED: OrderedDict[str, t4.Bucket] = OrderedDict()
_SHARED_MAX = 8
_SHARED_LOCK = threading.Lock()


@contextlib.contextmanager
def open_bucket(
    ref: BucketRef,
    *,
    concurrency: int | None = None,
    callback: ProgressCallback | None = None,
) -> Iterator[t4.Bucket]:
    """A ``t4.Bucket`` from a URI, a saved block's name or a block, for a ``with`` block.

    Without a callback the bucket is shared by the tasks of this process (a ``t4.Bucket``
    is safe to use from many threads), keyed by everything that configures it, so a changed
    block gets a new one; with a callback it is the caller's own and closed after use.

    Example:
        >>> with open_bucket("s3://lake") as b:  # doctest: +SKIP
        ...     b.keys("raw/")
    """
    if isinstance(ref, str) and ref.startswith(BLOCK_PREFIX):
        ref = T4BucketBlock.load(ref.removeprefix(BLOCK_PREFIX))  # type: ignore[assignment]
    if callback is not None:
        with _build(ref, concurrency, callback) as own:
            yield own
        return
    yield _shared(ref, concurrency)


def _build(ref: BucketRef, concurrency: int | None, callback: ProgressCallback | None) -> t4.Bucket:
    if isinstance(ref, T4BucketBlock):
        return ref.bucket(concurrency=concurrency, callback=callback)
    return t4.Bucket(ref, concurrency=concurrency, progress=False, callback=callback)


def _shared(ref: BucketRef, concurrency: int | None) -> t4.Bucket:
    settings = (
        ref.model_dump_json(context={"reveal": True}) if isinstance(ref, T4BucketBlock) else ref
    )
    for secret in ref._credentials().values() if isinstance(ref, T4BucketBlock) else ():
        settings += secret  # SecretStr dumps masked: the key must change when a secret does
    key = hashlib.sha256(f"{settings}\x00{concurrency}".encode()).hexdigest()
    with _SHARED_LOCK:
        bucket = _SHARED.get(key)
        if bucket is not None:
            _SHARED.move_to_end(key)
            return bucket
    bucket = _build(ref, concurrency, None)
    with _SHARED_LOCK:
        kept = _SHARED.setdefault(key, bucket)
        _SHARED.move_to_end(key)
        evicted = [_SHARED.popitem(last=False)[1] for _ in range(len(_SHARED) - _SHARED_MAX)]
    for spare in ([bucket] if kept is not bucket else []) + evicted:
        spare.close()
    return kept


def _identity(ref: BucketRef, concurrency: int | None) -> str:
    """Everything that configures the bucket (secrets too: only its hash is kept)."""
    if not isinstance(ref, T4BucketBlock):
        return json.dumps([ref, concurrency])
    fields = ("uri", "endpoint_url", "profile", "region", "path_style", "concurrency")
    settings = {name: getattr(ref, name) for name in fields}
    return json.dumps([settings, ref._credentials(), concurrency], sort_keys=True)


@atexit.register
def _close_shared() -> None:
    with _SHARED_LOCK:
        buckets = list(_SHARED.values())
        _SHARED.clear()
    for bucket in buckets:
        with contextlib.suppress(Exception):
            bucket.close()


def bucket_label(ref: BucketRef) -> str:
    """How logs and reports name a bucket: its URI or block name, never its credentials."""
    if isinstance(ref, T4BucketBlock):
        return ref.uri
    return str(ref)
