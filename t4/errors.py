"""The exception tree. Every error t4 raises is a ``T4Error`` and, where one fits, the builtin
a user would already catch::

    T4Error
     ├── BucketURIError           (ValueError)          the bucket URI is not one we accept
     ├── InvalidKeyError          (ValueError)          empty, directory-like, escaping, too long
     ├── FormatError              (ValueError)          unknown format, or one that cannot hold it
     ├── DeserializationError     (ValueError)          the bytes do not parse as their format
     ├── MetadataError            (ValueError)          not JSON-serialisable, or over S3's 2 KiB
     ├── UnsafeOperationError     (ValueError)          deleting a whole bucket without opt-in
     ├── QuerySyntaxError         (ValueError)          a search query that does not parse
     ├── KeyNotFoundError         (KeyError, FileNotFoundError)  no such key in the bucket
     ├── BucketNotFoundError      (FileNotFoundError)   no such bucket
     ├── LocalPathError           (FileNotFoundError)   a local file or folder that is not there
     ├── DestinationError         (ValueError)          a local destination that cannot be written
     ├── AccessDeniedError        (PermissionError)     credentials refused, or not allowed
     ├── TransientError           (ConnectionError)     5xx, throttling, timeouts: worth retrying
     ├── CatalogError                                   the search catalog answered badly
     ├── TransferError                                  some files of a bulk transfer failed
     ├── VersionsUnsupportedError (ValueError)          a store without object versions
     ├── PackageNotFoundError     (KeyError, FileNotFoundError)  no such package or version
     ├── PackageConflictError                           ``latest`` moved since the browse
     └── HashMismatchError        (ValueError)          bytes that do not match their hash

Each error carries ``bucket`` and ``key`` (``None`` where they do not apply) so callers can
act on them without parsing the message.
"""

from __future__ import annotations

__all__ = [
    "AccessDeniedError",
    "BucketNotFoundError",
    "BucketURIError",
    "CatalogError",
    "DeserializationError",
    "DestinationError",
    "FormatError",
    "HashMismatchError",
    "InvalidKeyError",
    "KeyNotFoundError",
    "LocalPathError",
    "MetadataError",
    "PackageConflictError",
    "PackageNotFoundError",
    "QuerySyntaxError",
    "T4Error",
    "TransferError",
    "TransientError",
    "UnsafeOperationError",
    "VersionsUnsupportedError",
]


class T4Error(Exception):
    """Base of every error t4 raises.

    Args:
        message: what failed and how to fix it.
        bucket: the bucket URI involved, if any.
        key: the object key involved, if any.
    """

    def __init__(self, message: str, *, bucket: str | None = None, key: str | None = None):
        super().__init__(message)
        self.message = message
        self.bucket = bucket
        self.key = key

    def __str__(self) -> str:
        # KeyError would otherwise print repr(message), quotes and all.
        return self.message

    def __reduce__(self) -> tuple[object, ...]:  # keep pickling (Prefect, Dask) intact
        return (_rebuild, (type(self), self.message, self.bucket, self.key))


def _rebuild(cls: type[T4Error], message: str, bucket: str | None, key: str | None) -> T4Error:
    return cls(message, bucket=bucket, key=key)


class BucketURIError(T4Error, ValueError):
    """The bucket URI is not one t4 accepts."""


class InvalidKeyError(T4Error, ValueError):
    """A key that cannot be used for this operation."""


class FormatError(T4Error, ValueError):
    """An unknown format, or a format that cannot hold the object."""


class DeserializationError(T4Error, ValueError):
    """The object's bytes are not valid for its format."""


class MetadataError(T4Error, ValueError):
    """Metadata that is not JSON-serialisable or too large for S3."""


class UnsafeOperationError(T4Error, ValueError):
    """An operation refused because it would destroy more than a user would expect."""


class QuerySyntaxError(T4Error, ValueError):
    """A search query that does not parse. ``position`` is the offset of the problem."""

    def __init__(self, message: str, *, position: int | None = None, **kw: str | None):
        super().__init__(message, **kw)
        self.position = position


class KeyNotFoundError(T4Error, KeyError, FileNotFoundError):
    """No object with this key in the bucket."""


class BucketNotFoundError(T4Error, FileNotFoundError):
    """The bucket does not exist."""


class LocalPathError(T4Error, FileNotFoundError):
    """A local file or folder that should exist does not."""


class DestinationError(T4Error, ValueError):
    """A local destination that cannot be written as asked."""


class AccessDeniedError(T4Error, PermissionError):
    """The credentials were refused or do not allow the operation."""


class TransientError(T4Error, ConnectionError):
    """A failure that may pass: a 5xx, throttling, a timeout, a dropped connection."""


class CatalogError(T4Error):
    """The search catalog or Elasticsearch endpoint could not answer the query."""


class TransferError(T4Error):
    """Some files of a bulk transfer failed; ``failures`` maps each key to its error."""

    def __init__(
        self,
        message: str,
        *,
        failures: dict[str, BaseException] | None = None,
        **kw: str | None,
    ):
        super().__init__(message, **kw)
        self.failures = failures or {}


class VersionsUnsupportedError(T4Error, ValueError):
    """Object versions asked of a store that keeps none (a local folder)."""


class PackageNotFoundError(T4Error, KeyError, FileNotFoundError):
    """No package of that name, or no version with that top hash, in the registry."""


class PackageConflictError(T4Error):
    """The package's ``latest`` moved since it was browsed: pushing would hide that version."""


class HashMismatchError(T4Error, ValueError):
    """Bytes whose hash is not the one the package manifest records for them."""
