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
     ├── DestinationError         (ValueError, OSError) a local destination that cannot be written
     ├── CacheError               (OSError)             t4's cache or search index cannot be written
     ├── AccessDeniedError        (PermissionError)     credentials refused, or not allowed
     ├── TransientError           (ConnectionError)     5xx, throttling, timeouts: worth retrying
     ├── ConfigError              (ValueError)          a setting t4 does not know or cannot use
     ├── CatalogError                                   the search catalog answered badly
     │    ├── CatalogUnreachableError (ConnectionError) no answer, or a 5xx
     │    └── CatalogConfigError  (ValueError)          config.json missing, malformed, no bucket
     ├── TransferError                                  some files of a bulk transfer failed;
     │                                                  ``failures`` holds each file's own error
     ├── VersionsUnsupportedError (ValueError)          a store without object versions
     ├── PackageNotFoundError     (KeyError, FileNotFoundError)  no such package or version
     ├── PackageConflictError                           ``latest`` moved since the browse
     ├── PreconditionFailedError                        a conditional write found the key changed
     ├── ConditionalWritesUnsupportedError              a store that ignores conditional writes
     ├── WorkflowValidationError  (ValueError)          a push the registry's workflows refuse
     ├── HashMismatchError        (ValueError)          bytes that do not match their hash
     └── ExternalKeyError         (PermissionError)     a manifest names bytes outside its registry

Each error carries ``bucket`` and ``key`` (``None`` where they do not apply) so callers can
act on them without parsing the message. ``s3_error`` is the one table from S3's error codes
(and HTTP statuses) to this tree, shared by every S3 client t4 uses.
"""

from __future__ import annotations

from typing import Any, Protocol

from t4.surface import named

__all__ = [
    "AccessDeniedError",
    "BucketNotFoundError",
    "BucketURIError",
    "CacheError",
    "CatalogConfigError",
    "CatalogError",
    "CatalogUnreachableError",
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
    "PackageConflictError",
    "PackageNotFoundError",
    "PreconditionFailedError",
    "QuerySyntaxError",
    "Summary",
    "T4Error",
    "TransferError",
    "TransientError",
    "UnsafeOperationError",
    "VersionsUnsupportedError",
    "WorkflowValidationError",
    "s3_error",
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


class DestinationError(T4Error, ValueError, OSError):
    """A local destination that cannot be written as asked: a file where a folder should be,
    a full disk, a read-only folder. For the last two, ``errno`` and ``filename`` say which."""


class CacheError(T4Error, OSError):
    """A file t4 keeps for itself (its cache, a search index) that cannot be written."""


class AccessDeniedError(T4Error, PermissionError):
    """The credentials were refused or do not allow the operation."""


class TransientError(T4Error, ConnectionError):
    """A failure that may pass: a 5xx, throttling, a timeout, a dropped connection."""


class ConfigError(T4Error, ValueError):
    """A setting t4 does not know, or a value it cannot use."""


class CatalogError(T4Error):
    """The search catalog or Elasticsearch endpoint could not answer the query."""


class CatalogUnreachableError(CatalogError, ConnectionError):
    """The catalog or search endpoint did not answer, or answered with a server error."""


class CatalogConfigError(CatalogError, ValueError):
    """The catalog's config.json is missing or malformed, or does not list the bucket."""


class Summary(Protocol):
    """What ``TransferError.summary`` holds: a ``t4.TransferSummary``, described here by its
    shape so that this module, below every other, imports nothing from t4."""

    operation: str
    bucket: str
    transferred: list[str]
    skipped: list[str]
    deleted: list[str]
    failed: dict[str, BaseException]
    bytes: int
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        """The summary as JSON-friendly values."""
        ...

    def line(self) -> str:
        """A one-line summary for logs."""
        ...


class TransferError(T4Error):
    """Some files of a bulk transfer failed, after the rest were done.

    ``failures`` maps each failed key to the error that file raised (a ``TransientError``,
    an ``AccessDeniedError``, an ``OSError``...), so a caller can tell a failure worth
    retrying from one that is not; ``summary`` is the whole ``TransferSummary`` (what was
    transferred, skipped and deleted before the error was raised), when there is one.
    Both survive pickling (Prefect and Dask pickle exceptions between processes).

    Example:
        >>> try:  # doctest: +SKIP
        ...     b.put_dir("raw", "data/")
        ... except t4.TransferError as err:
        ...     {key: type(e).__name__ for key, e in err.failures.items()}
        {'raw/a.csv': 'TransientError'}
    """

    def __init__(
        self,
        message: str,
        *,
        failures: dict[str, BaseException] | None = None,
        summary: Summary | None = None,
        **kw: str | None,
    ):
        super().__init__(message, **kw)
        self.failures: dict[str, BaseException] = dict(failures or {})
        self.summary = summary

    def __reduce__(self) -> tuple[object, ...]:
        return (
            _rebuild_transfer,
            (type(self), self.message, self.bucket, self.key, self.failures, self.summary),
        )


def _rebuild_transfer(
    cls: type[TransferError],
    message: str,
    bucket: str | None,
    key: str | None,
    failures: dict[str, BaseException],
    summary: Summary | None,
) -> TransferError:
    return cls(message, bucket=bucket, key=key, failures=failures, summary=summary)


#: S3 error codes -> the error class, and the advice a user can act on. HTTP statuses (as
#: strings) stand in for the code where S3 sends none (a HEAD's answer has no body).
_S3_CODES: dict[str, tuple[type[T4Error], str]] = {}
for _codes, _cls, _advice in (
    (("NoSuchBucket",), BucketNotFoundError, "check the bucket name and the endpoint"),
    (
        ("NoSuchKey", "NoSuchVersion", "NotFound", "404"),
        KeyNotFoundError,
        "",  # worded in s3_error, as the user calls the listing (t4.surface)
    ),
    (
        ("AccessDenied", "403", "Forbidden", "InvalidAccessKeyId", "SignatureDoesNotMatch",
         "ExpiredToken", "InvalidToken", "AllAccessDisabled", "PermissionDenied",
         "Unauthenticated"),
        AccessDeniedError,
        "check the credentials and the bucket policy",
    ),
    (
        ("SlowDown", "Throttling", "ThrottlingException", "RequestTimeout",
         "RequestTimeTooSkewed", "InternalError", "ServiceUnavailable", "500", "502", "503",
         "504"),
        TransientError,
        "this may pass: retry",
    ),
):  # fmt: skip
    for _code in _codes:
        _S3_CODES[_code] = (_cls, _advice)


def s3_error(code: str, status: int, *, bucket: str, key: str | None, detail: str = "") -> T4Error:
    """The ``t4.errors`` error for an S3 error ``code`` and HTTP ``status`` (the one table,
    used by the boto3 and obstore paths alike). The caller raises it ``from`` the cause.

    Example:
        >>> type(s3_error("SlowDown", 503, bucket="s3://b", key="k")).__name__
        'TransientError'
        >>> type(s3_error("", 403, bucket="s3://b", key="k")).__name__
        'AccessDeniedError'
    """
    what = f"{key!r} in {bucket}" if key else bucket
    found = _S3_CODES.get(code) or _S3_CODES.get(str(status))
    if found is None and status >= 500:
        found = _S3_CODES["500"]
    if found is None and status == 400 and code in ("", "400"):  # a HEAD's refusal: no reason
        return AccessDeniedError(
            f"{bucket} refused the request for {what} (HTTP 400 with no reason): usually "
            "invalid or expired credentials or session token, or the wrong region; check them",
            bucket=bucket,
            key=key,
        )
    if found is None:
        text = f"{what}: {code or status} {detail}".strip()
        return T4Error(text, bucket=bucket, key=key)
    cls, advice = found
    if cls is BucketNotFoundError:
        text = f"bucket {bucket} does not exist (or the endpoint is wrong): {advice}"
    elif cls is KeyNotFoundError:
        text = f"no object {what}; list what is there with {named('keys()')}"
    elif cls is AccessDeniedError:
        text = f"access denied to {what} ({code or status}): {advice}"
    else:
        text = f"{bucket} failed for {what} with {code or status}, which may pass: retry"
    return cls(text, bucket=bucket, key=key)


class VersionsUnsupportedError(T4Error, ValueError):
    """Object versions asked of a store that keeps none (a local folder)."""


class PackageNotFoundError(T4Error, KeyError, FileNotFoundError):
    """No package of that name, or no version with that top hash, in the registry."""


class PackageConflictError(T4Error):
    """The package's ``latest`` moved since it was browsed: pushing would hide that version."""


class PreconditionFailedError(T4Error):
    """A conditional write refused: the key exists (create-if-absent) or no longer holds the
    object whose ETag was given (replace-if-unchanged). Nothing was written."""


class ConditionalWritesUnsupportedError(T4Error):
    """The store ignores conditional writes (``If-None-Match``/``If-Match``), so concurrent
    writers could overwrite each other unseen: refused rather than risk it."""


class WorkflowValidationError(T4Error, ValueError):
    """A push the registry's ``.quilt/workflows/config.yml`` refuses (or a config it cannot
    use): the message lists every failure."""


class HashMismatchError(T4Error, ValueError):
    """Bytes whose hash is not the one the package manifest records for them."""


class ExternalKeyError(T4Error, PermissionError):
    """A package entry whose bytes are outside the registry it was read from (another bucket,
    a local path): refused unless the caller allows external keys."""
