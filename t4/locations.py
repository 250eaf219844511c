"""The one parser of locations: where a command, a flow or a bucket reads or writes.

A location is one of::

    s3://bucket/optional/key        an S3 bucket, and a key or prefix inside it
    file:///abs/folder              a local-folder bucket, at its root
    t4-bucket/NAME/optional/key     a saved ``T4BucketBlock`` (resolved by ``t4flows``)
    ./folder, /abs/folder, ~/x      a plain local folder (or a local-folder bucket, where a
                                    bucket is expected: see ``as_bucket``)

Example:
    >>> loc = parse("s3://lake/raw/2024")
    >>> loc.bucket, loc.key, loc.prefix
    ('s3://lake', 'raw/2024', 'raw/2024/')
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple
from urllib.parse import unquote, urlparse

from t4.errors import BucketURIError
from t4.keys import as_prefix, safe_join

__all__ = ["BLOCK_PREFIX", "FORMS", "Location", "bucket_target", "parse"]

#: How a location names a saved ``T4BucketBlock``.
BLOCK_PREFIX = "t4-bucket/"
FORMS = "'s3://bucket-name', 'file:///absolute/folder' or a local folder path"


class Location(NamedTuple):
    """A parsed location.

    Attributes:
        text: what the caller wrote.
        bucket: ``"s3://name"``, ``"file:///abs/folder"`` or ``"t4-bucket/NAME"``; ``None``
            for a plain local folder.
        key: the key (or prefix) inside the bucket as written, without a leading ``/``.
        folder: the plain local folder, when the location is one.
    """

    text: str
    bucket: str | None = None
    key: str = ""
    folder: Path | None = None

    @property
    def is_bucket(self) -> bool:
        """Whether the location names a bucket (S3, a ``file://`` folder or a block)."""
        return self.bucket is not None

    @property
    def is_block(self) -> bool:
        """Whether the bucket is a saved ``T4BucketBlock`` (``t4-bucket/NAME``)."""
        return self.bucket is not None and self.bucket.startswith(BLOCK_PREFIX)

    @property
    def prefix(self) -> str:
        """``key`` as a directory prefix: ``""`` or ending in ``/``."""
        return as_prefix(self.key)

    def key_for(self, rel: str) -> str:
        """The key of ``rel`` (a path relative to this location) in the bucket."""
        return self.prefix + rel

    def path_for(self, rel: str) -> Path:
        """The local path of ``rel`` under the folder; refuses anything that would leave it.

        Example:
            >>> parse("./data").path_for("a/b.csv").as_posix()
            'data/a/b.csv'
        """
        if self.folder is None:
            raise ValueError(f"{self.text} is a bucket, not a local folder")
        return safe_join(self.folder, rel, bucket=self.text, key=rel)

    def as_bucket(self) -> Location:
        """This location as a bucket: a plain folder becomes a ``file://`` bucket at its root
        (as ``t4.Bucket`` accepts a plain path).

        Example:
            >>> parse("/tmp").as_bucket().bucket
            'file:///tmp'
        """
        if self.folder is None:
            return self
        return self._replace(bucket=self.folder.resolve().as_uri(), folder=None)


def parse(text: str | Path) -> Location:
    """Parse a location (see the module docstring for the forms).

    Example:
        >>> parse("t4-bucket/lake/raw").bucket, parse("./x").folder
        ('t4-bucket/lake', PosixPath('x'))
    """
    if isinstance(text, Path):
        return Location(str(text), folder=text.expanduser())
    if not isinstance(text, str) or not text.strip():
        raise BucketURIError(f"location {text!r} is empty or not a string; use {FORMS}")
    if text.startswith("s3://"):
        name, _, key = text.removeprefix("s3://").partition("/")
        return Location(text, bucket=f"s3://{name}", key=key)
    if text.startswith(BLOCK_PREFIX):
        name, _, key = text.removeprefix(BLOCK_PREFIX).partition("/")
        if not name:
            raise BucketURIError(f"location {text!r} names no block: write t4-bucket/NAME/key")
        return Location(text, bucket=BLOCK_PREFIX + name, key=key)
    if text.startswith("file://"):
        return Location(text, bucket=Path(_file_path(text)).as_uri())
    if "://" in text:
        scheme = text.split("://", 1)[0]
        raise BucketURIError(
            f"location {text!r} has the unsupported scheme {scheme!r}; use {FORMS}"
        )
    return Location(text, folder=Path(text).expanduser())


def bucket_target(uri: object) -> tuple[str, str]:
    """What a bucket URI names, validated: ``("s3", name)`` or ``("file", absolute path)``.

    Example:
        >>> bucket_target("s3://my-bucket/")
        ('s3', 'my-bucket')
    """
    if not isinstance(uri, str | Path):
        raise _bad(uri, f"is a {type(uri).__name__}, not a string")
    text = str(uri)
    if not text.strip():
        raise _bad(uri, "is empty")
    if text.startswith("s3://"):
        parsed = urlparse(text)
        if parsed.query or parsed.fragment or "?" in text:
            raise _bad(uri, "has a query or fragment (a version id is not a bucket)")
        if parsed.path.strip("/"):
            raise _bad(uri, "has a path; a bucket URI names only the bucket. Use a key instead")
        name = parsed.netloc
        if not (3 <= len(name) <= 63) or not all(c.isalnum() or c in ".-_" for c in name):
            raise _bad(uri, "does not name a valid bucket (3-63 letters, digits, '.', '-')")
        return "s3", name
    if text.startswith("file://"):
        if urlparse(text).netloc not in ("", "localhost"):
            raise _bad(uri, "names a remote host; file URIs must be local")
        return "file", _file_path(text)
    if "://" in text:
        raise _bad(uri, f"has the unsupported scheme {text.split('://', 1)[0].lower()!r}")
    return "file", str(Path(text).expanduser())


def _file_path(uri: str) -> str:
    return unquote(urlparse(uri).path)


def _bad(uri: object, why: str) -> BucketURIError:
    return BucketURIError(f"bucket URI {uri!r} {why}; use {FORMS}", bucket=str(uri))
