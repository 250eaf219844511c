"""Storage backends, chosen from the bucket URI's scheme (parsed by ``t4.locations``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from t4.backends.base import Backend, ObjectInfo
from t4.backends.local import LocalBackend
from t4.backends.s3_settings import S3Settings
from t4.errors import BucketURIError
from t4.locations import FORMS, bucket_target

if TYPE_CHECKING:
    from t4.backends.s3 import S3Backend

__all__ = ["Backend", "LocalBackend", "ObjectInfo", "S3Backend", "S3Settings", "open_backend"]


def _local(uri: str, path: str) -> Backend:
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise BucketURIError(f"bucket URI {uri!r} is a file, not a folder; use {FORMS}")
    if not folder.exists() and _bare_name(uri):
        raise BucketURIError(
            f"there is no folder {uri!r} in {Path.cwd()}: for the S3 bucket write "
            f"'s3://{uri}'; for a new local folder, './{uri}' (the first write creates it)",
            bucket=uri,
        )
    # A folder that does not exist yet is created by the first write; reads say it is missing.
    return LocalBackend(folder.resolve())


def _bare_name(text: str) -> bool:
    """``my-bucket``, not ``./my-bucket``, ``/data/lake``, ``~/lake`` or ``file:///lake``."""
    return not text.startswith(("file:", ".", "~")) and "/" not in text and os.sep not in text


def open_backend(uri: object, settings: S3Settings | None = None) -> Backend:
    """The backend for a bucket URI (parsed by ``t4.locations.bucket_target``).

    Example:
        >>> open_backend("s3://my-bucket").uri  # doctest: +SKIP
        's3://my-bucket'
    """
    scheme, target = bucket_target(uri)
    if scheme == "s3":
        # imported here: obstore and the S3 modules are for S3 buckets only
        from t4.backends.s3 import S3Backend

        return S3Backend(target, settings)
    return _local(str(uri), target)


def __getattr__(name: str) -> Any:
    if name == "S3Backend":  # loaded on first use, as ``open_backend`` loads it
        from t4.backends.s3 import S3Backend

        return S3Backend
    raise AttributeError(f"module 't4.backends' has no attribute {name!r}")
