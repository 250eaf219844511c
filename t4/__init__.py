"""t4: read, write, annotate and search data in S3 buckets and local folders.

Example:
    >>> import t4
    >>> b = t4.Bucket("./lake")  # doctest: +SKIP
    >>> b.put("hello.json", {"a": 1}, meta={"stage": "raw"})  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

from t4.backends.base import ObjectInfo
from t4.bucket import Bucket
from t4.config import config
from t4.errors import (
    AccessDeniedError,
    BucketNotFoundError,
    BucketURIError,
    CacheError,
    CatalogError,
    ConditionalWritesUnsupportedError,
    ConfigError,
    DeserializationError,
    DestinationError,
    ExternalKeyError,
    FormatError,
    HashMismatchError,
    InvalidKeyError,
    KeyNotFoundError,
    LocalPathError,
    MetadataError,
    PackageConflictError,
    PackageNotFoundError,
    QuerySyntaxError,
    T4Error,
    TransferError,
    TransientError,
    UnsafeOperationError,
    VersionsUnsupportedError,
    WorkflowValidationError,
)
from t4.transfer import TransferSummary

if TYPE_CHECKING:
    from t4.packages import Package, PackageEntry, list_package_versions, list_packages

#: Imported on first use (``t4.Package``...), so ``import t4`` stays fast: name -> module.
_LAZY = dict.fromkeys(
    ("Package", "PackageEntry", "list_package_versions", "list_packages"), "t4.packages"
)

__all__ = [
    "AccessDeniedError",
    "Bucket",
    "BucketNotFoundError",
    "BucketURIError",
    "CacheError",
    "CatalogError",
    "ConditionalWritesUnsupportedError",
    "ConfigError",
    "DeserializationError",
    "DestinationError",
    "ExternalKeyError",
    "FormatError",
    "HashMismatchError",
    "InvalidKeyError",
    "KeyNotFoundError",
    "LocalPathError",
    "MetadataError",
    "ObjectInfo",
    "Package",
    "PackageConflictError",
    "PackageEntry",
    "PackageNotFoundError",
    "QuerySyntaxError",
    "T4Error",
    "TransferError",
    "TransferSummary",
    "TransientError",
    "UnsafeOperationError",
    "VersionsUnsupportedError",
    "WorkflowValidationError",
    "config",
    "list_package_versions",
    "list_packages",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 't4' has no attribute {name!r}")
