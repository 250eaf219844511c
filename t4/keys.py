"""Key validation, and joining a key under a local destination without ever leaving it."""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath

from t4.errors import InvalidKeyError
from t4.surface import named

__all__ = [
    "MAX_KEY_BYTES",
    "Destination",
    "as_prefix",
    "check_file_key",
    "check_key",
    "safe_join",
]

#: S3's limit on a key, in UTF-8 bytes.
MAX_KEY_BYTES = 1024
_DRIVE = re.compile(r"^[A-Za-z]:")


def check_key(key: object, bucket: str) -> str:
    """Return ``key`` if S3 could store it: a non-empty string of at most 1,024 UTF-8 bytes."""
    if not isinstance(key, str):
        raise InvalidKeyError(
            f"keys are strings, got {type(key).__name__} {key!r} for {bucket}", bucket=bucket
        )
    if not key:
        raise InvalidKeyError(
            f"empty key for {bucket}: name the object, e.g. 'data/x.csv'", bucket=bucket, key=key
        )
    if "\x00" in key:
        raise InvalidKeyError(
            f"key {key!r} in {bucket} contains a NUL character, which S3 cannot store; remove it",
            bucket=bucket,
            key=key,
        )
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError as err:
        raise InvalidKeyError(
            f"key {key!r} in {bucket} is not valid UTF-8 text: {err}", bucket=bucket, key=key
        ) from err
    if size > MAX_KEY_BYTES:
        raise InvalidKeyError(
            f"key {key[:60]!r}... in {bucket} is {size} bytes; S3 keys are at most "
            f"{MAX_KEY_BYTES} bytes of UTF-8: shorten it",
            bucket=bucket,
            key=key,
        )
    return key


def check_file_key(key: object, bucket: str, *, hint: str | None = None) -> str:
    """Like ``check_key``, and also refuse a directory-like key (ending in ``/``); ``hint``
    names what does a whole directory, as the user calls it (default: ``put_dir``'s name)."""
    key = check_key(key, bucket)
    if key.endswith("/"):
        raise InvalidKeyError(
            f"key {key!r} in {bucket} ends in '/', which names a directory, not a file: "
            f"name a file, or use {hint or named('put_dir')} for a whole directory",
            bucket=bucket,
            key=key,
        )
    return key


def as_prefix(prefix: str) -> str:
    """``"a/b"`` and ``"a/b/"`` both become ``"a/b/"``; ``""`` and ``"/"`` stay the root ``""``."""
    if prefix in ("", "/"):
        return ""
    return prefix if prefix.endswith("/") else prefix + "/"


def relative_parts(
    rel: str, *, bucket: str, key: str, in_bucket_folder: bool = False
) -> tuple[str, ...]:
    """Split a key's relative path into segments that are safe as local file names;
    ``in_bucket_folder``: the key of a folder bucket itself (read or written), not a file
    that a fetch writes."""
    problem = None
    if rel.startswith("/") or _DRIVE.match(rel):
        problem = "is an absolute path"
    elif "\\" in rel:
        problem = "contains a backslash, which some systems read as a separator"
    elif "\x00" in rel:
        problem = "contains a NUL character"
    parts = tuple(rel.split("/"))
    if problem is None and any(p in ("", ".", "..") for p in parts):
        problem = "has an empty, '.' or '..' segment"
    if problem is None and any(len(p.encode("utf-8")) > 255 for p in parts):
        problem = "has a segment longer than the 255 bytes a file name may have"
    if problem and in_bucket_folder:
        raise InvalidKeyError(
            f"key {key!r} {problem}, so no object of the folder bucket {bucket} can have it; "
            "use the key as it is listed (relative, '/'-separated, no '.' or '..' segment)",
            bucket=bucket,
            key=key,
        )
    if problem:
        raise InvalidKeyError(
            f"key {key!r} in {bucket} {problem}, so it cannot be written as a local file; "
            "nothing was written for it. Rename the object, or fetch the keys you need one by "
            "one.",
            bucket=bucket,
            key=key,
        )
    return parts


def safe_join(dest: Path, rel: str, *, bucket: str, key: str) -> Path:
    """The local path for ``rel`` under ``dest``, refusing anything that would leave ``dest``.

    Example:
        >>> safe_join(Path("/tmp/out"), "a/b.csv", bucket="s3://b", key="x/a/b.csv")
        PosixPath('/tmp/out/a/b.csv')
    """
    return Destination(dest).join(rel, bucket=bucket, key=key)


class Destination:
    """A local folder that many keys are written under (one plan): each distinct parent
    folder's links are resolved once, not once per key.

    Example:
        >>> out = Destination(Path("/tmp/out"))
        >>> out.join("a/b.csv", bucket="s3://b", key="a/b.csv")
        PosixPath('/tmp/out/a/b.csv')
    """

    def __init__(self, dest: Path):
        self.dest = dest
        self._root = os.path.realpath(dest)
        #: relative parent folder -> whether it really is inside ``dest`` (links resolved)
        self._inside: dict[str, bool] = {}

    def join(self, rel: str, *, bucket: str, key: str) -> Path:
        """The local path for ``rel``, refusing anything that would leave the folder."""
        parts = relative_parts(rel, bucket=bucket, key=key)
        path = self.dest.joinpath(*parts)
        parent = rel.rpartition("/")[0]
        inside = self._inside.get(parent)
        if inside is None:
            # A symlinked folder inside dest could still lead out: check where it really is.
            real = os.path.realpath(path.parent)
            inside = real == self._root or real.startswith(self._root.rstrip(os.sep) + os.sep)
            self._inside[parent] = inside
        if not inside:
            raise InvalidKeyError(
                f"key {key!r} in {bucket} would be written outside {self.dest} (through a "
                "link); nothing was written for it",
                bucket=bucket,
                key=key,
            )
        return path


def posix_rel(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` as a key fragment with ``/`` separators."""
    return PurePosixPath(*path.relative_to(root).parts).as_posix()
