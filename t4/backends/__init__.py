"""Storage backends, chosen from the bucket URI's scheme through one small registry."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urlparse

from t4.backends.base import Backend, ObjectInfo
from t4.backends.local import LocalBackend
from t4.backends.s3 import S3Backend, S3Settings
from t4.errors import BucketURIError

__all__ = ["Backend", "LocalBackend", "ObjectInfo", "S3Backend", "S3Settings", "open_backend"]

_FORMS = "'s3://bucket-name', 'file:///absolute/folder' or a local folder path"


def _bad(uri: object, why: str) -> BucketURIError:
    return BucketURIError(f"bucket URI {uri!r} {why}; use {_FORMS}", bucket=str(uri))


def _s3(uri: str, settings: S3Settings | None) -> Backend:
    parsed = urlparse(uri)
    if parsed.query or parsed.fragment or "?" in uri:
        raise _bad(uri, "has a query or fragment (a version id is not a bucket)")
    if parsed.path.strip("/"):
        raise _bad(uri, "has a path; a bucket URI names only the bucket. Use a key instead")
    name = parsed.netloc
    if not (3 <= len(name) <= 63) or not all(c.isalnum() or c in ".-_" for c in name):
        raise _bad(uri, "does not name a valid bucket (3-63 letters, digits, '.', '-')")
    return S3Backend(name, settings)


def _local(uri: str, settings: S3Settings | None) -> Backend:
    if uri.startswith("file://"):
        parsed = urlparse(uri)
        if parsed.netloc not in ("", "localhost"):
            raise _bad(uri, "names a remote host; file URIs must be local")
        path = Path(unquote(parsed.path))
    else:
        path = Path(uri).expanduser()
    if path.exists() and not path.is_dir():
        raise _bad(uri, "is a file, not a folder")
    if not path.exists() and _bare_name(uri):
        raise BucketURIError(
            f"there is no folder {uri!r} in {Path.cwd()}: for the S3 bucket write "
            f"'s3://{uri}'; for a new local folder, './{uri}' (the first write creates it)",
            bucket=uri,
        )
    # A folder that does not exist yet is created by the first write; reads say it is missing.
    return LocalBackend(path.resolve())


def _bare_name(text: str) -> bool:
    """``my-bucket``, not ``./my-bucket``, ``/data/lake``, ``~/lake`` or ``file:///lake``."""
    return not text.startswith(("file:", ".", "~")) and "/" not in text and os.sep not in text


#: URI scheme -> backend factory. A plain path (no scheme) is a local folder.
_REGISTRY = {"s3": _s3, "file": _local, "": _local}


def open_backend(uri: object, settings: S3Settings | None = None) -> Backend:
    """The backend for a bucket URI.

    Example:
        >>> open_backend("s3://my-bucket").uri  # doctest: +SKIP
        's3://my-bucket'
    """
    if not isinstance(uri, str | Path):
        raise _bad(uri, f"is a {type(uri).__name__}, not a string")
    text = str(uri)
    if not text.strip():
        raise _bad(uri, "is empty")
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    factory = _REGISTRY.get(scheme)
    if factory is None:
        raise _bad(uri, f"has the unsupported scheme {scheme!r}")
    return factory(text, settings)
