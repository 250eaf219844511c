"""A local folder as a bucket: each object is a plain file under the folder.

Metadata and the search index live in the reserved folder ``.t4`` inside it, which never
shows up as keys: ``.t4/meta/<hash of key>.json`` holds the raw user metadata and a cached
MD5 (the object's ETag), ``.t4/tmp`` the temporary files of writes in flight. Every write
goes to a temporary file first and is renamed into place, so readers see the old object or
the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from t4.backends.base import Backend, ByteCallback, ObjectInfo
from t4.errors import DestinationError, InvalidKeyError, KeyNotFoundError, T4Error
from t4.keys import relative_parts
from t4.transfer import PART_MARK, clean_stale_parts

__all__ = ["RESERVED", "LocalBackend"]

RESERVED = ".t4"
_CHUNK = 1 << 20


class LocalBackend(Backend):
    """Objects as files under ``root``."""

    def __init__(self, root: Path):
        self.root = root
        self.uri = root.as_uri()
        self._meta_dir = root / RESERVED / "meta"
        self._tmp_dir = root / RESERVED / "tmp"
        self._tmp_checked = False

    # -- paths --------------------------------------------------------------------------
    def path(self, key: str) -> Path:
        """The file that holds ``key``; keys that are not safe file paths are refused."""
        parts = relative_parts(key, bucket=self.uri, key=key)
        if parts[0] == RESERVED:
            raise InvalidKeyError(
                f"key {key!r}: {RESERVED}/ is reserved for t4's metadata in {self.uri}; "
                "choose another name",
                bucket=self.uri,
                key=key,
            )
        return self.root.joinpath(*parts)

    def _meta_path(self, key: str) -> Path:
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
        return self._meta_dir / digest[:2] / f"{digest}.json"

    # -- reading ------------------------------------------------------------------------
    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        start = self._walk_start(prefix)
        if start is None:
            return
        found: list[tuple[str, os.stat_result]] = []
        for dirpath, dirnames, filenames in os.walk(start):
            if Path(dirpath) == self.root:
                dirnames[:] = [d for d in dirnames if d != RESERVED]
            rel_dir = os.path.relpath(dirpath, self.root).replace(os.sep, "/")
            base = "" if rel_dir == "." else rel_dir + "/"
            for name in filenames:
                key = base + name
                if key.startswith(prefix):
                    found.append((key, os.stat(os.path.join(dirpath, name))))
        # S3 lists in UTF-8 byte order; do the same so both backends page alike.
        found.sort(key=lambda item: item[0].encode("utf-8"))
        for key, st in found:
            yield self._info(key, st)

    def _walk_start(self, prefix: str) -> Path | None:
        folder = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        start = self.root / folder if folder else self.root
        if not start.is_dir():
            return None
        return start

    def head(self, key: str) -> tuple[ObjectInfo, dict[str, str]]:
        path = self.path(key)
        try:
            st = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            raise self._missing(key) from None
        if not path.is_file():
            raise self._missing(key)
        record = self._record(key)
        return self._info(key, st, record), dict(record.get("metadata", {}))

    def get_bytes(self, key: str) -> bytes:
        path = self.path(key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise self._missing(key) from None

    def get(self, key: str) -> tuple[bytes, dict[str, str]]:
        return self.get_bytes(key), dict(self._record(key).get("metadata", {}))

    def download(
        self,
        key: str,
        path: Path,
        callback: ByteCallback | None = None,
        *,
        size: int | None = None,
    ) -> dict[str, str]:
        source = self.path(key)
        try:
            with source.open("rb") as src, path.open("wb") as dst:
                _copy(src, dst, callback)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as err:
            if not source.is_file():
                raise self._missing(key) from None
            raise DestinationError(f"cannot write {path}: {err}", bucket=self.uri, key=key) from err
        return dict(self._record(key).get("metadata", {}))

    # -- writing ------------------------------------------------------------------------
    def put_bytes(self, key: str, data: bytes, metadata: dict[str, str]) -> ObjectInfo:
        target = self.path(key)
        with self._staged(key, target) as (tmp, tmp_path):
            tmp.write(data)
            md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
            return self._commit(key, tmp, tmp_path, target, md5, metadata)

    def upload(
        self,
        key: str,
        path: Path,
        metadata: dict[str, str],
        callback: ByteCallback | None = None,
    ) -> ObjectInfo:
        target = self.path(key)
        with self._staged(key, target) as (tmp, tmp_path), path.open("rb") as src:
            md5 = _copy(src, tmp, callback)
            return self._commit(key, tmp, tmp_path, target, md5, metadata)

    def set_metadata(self, key: str, metadata: dict[str, str]) -> ObjectInfo:
        with self._commit_lock():
            info, _ = self.head(key)
            self._write_record(key, {**self._record(key), "key": key, "metadata": metadata})
        return info

    def delete_many(self, keys: Iterable[str]) -> None:
        for key in keys:
            path = self.path(key)
            with self._commit_lock():
                with contextlib.suppress(FileNotFoundError, NotADirectoryError):
                    path.unlink()
                with contextlib.suppress(FileNotFoundError):
                    self._meta_path(key).unlink()
            self._prune(path.parent)

    # -- helpers ------------------------------------------------------------------------
    def _fresh_tmp_dir(self) -> Path:
        """The folder for writes in flight; on first use, clear what killed runs left there."""
        self._tmp_dir.mkdir(parents=True, exist_ok=True)
        if not self._tmp_checked:
            clean_stale_parts([self._tmp_dir])
            self._tmp_checked = True
        return self._tmp_dir

    @contextlib.contextmanager
    def _staged(self, key: str, target: Path) -> Iterator[tuple[BinaryIO, str]]:
        fd, name = tempfile.mkstemp(
            dir=self._fresh_tmp_dir(), prefix=f".put{PART_MARK}{os.getpid()}-"
        )
        try:
            with os.fdopen(fd, "wb") as tmp:
                try:
                    target.parent.mkdir(parents=True, exist_ok=True)
                except (FileExistsError, NotADirectoryError) as err:
                    raise self._conflict(key) from err
                yield tmp, name
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name)

    def _commit(
        self, key: str, tmp: BinaryIO, tmp_path: str, target: Path, md5: str, meta: dict[str, str]
    ) -> ObjectInfo:
        tmp.flush()
        st = os.fstat(tmp.fileno())
        record = {"key": key, "metadata": meta, "md5": md5, "size": st.st_size,
                  "mtime_ns": st.st_mtime_ns}  # fmt: skip
        with self._commit_lock():  # bytes and metadata of one write land together
            self._write_record(key, record)
            try:
                os.replace(tmp_path, target)
            except IsADirectoryError as err:
                raise self._conflict(key) from err
        return self._info(key, st, {"md5": md5, "size": st.st_size, "mtime_ns": st.st_mtime_ns})

    @contextlib.contextmanager
    def _commit_lock(self) -> Iterator[None]:
        """One writer at a time, across threads and processes, for the short moment of
        renaming an object and its metadata record into place."""
        path = self.root / RESERVED / "commit.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as handle:  # a fresh open file description: excludes threads too
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    def _record(self, key: str) -> dict[str, Any]:
        try:
            record = json.loads(self._meta_path(key).read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return {}
        return record if isinstance(record, dict) and record.get("key") == key else {}

    def _write_record(self, key: str, record: dict[str, Any]) -> None:
        path = self._meta_path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(
            dir=self._fresh_tmp_dir(), prefix=f".meta{PART_MARK}{os.getpid()}-"
        )
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(record, out)
        os.replace(name, path)

    def _info(
        self, key: str, st: os.stat_result, record: dict[str, Any] | None = None
    ) -> ObjectInfo:
        if record is None:
            record = self._record(key)
        if record.get("size") == st.st_size and record.get("mtime_ns") == st.st_mtime_ns:
            etag = record.get("md5")
        else:  # written by something other than t4, or changed since: hash it now
            etag = self.etag_of_file(self.root / key)
        modified = datetime.fromtimestamp(st.st_mtime, tz=UTC)
        return ObjectInfo(key=key, size=st.st_size, etag=etag, last_modified=modified)

    def _prune(self, folder: Path) -> None:
        while folder != self.root and folder.is_relative_to(self.root):
            try:
                folder.rmdir()
            except OSError as err:
                if err.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOENT):
                    return
                raise
            folder = folder.parent

    def _missing(self, key: str) -> KeyNotFoundError:
        return KeyNotFoundError(
            f"no object {key!r} in {self.uri}; list what is there with keys()",
            bucket=self.uri,
            key=key,
        )

    def _conflict(self, key: str) -> T4Error:
        return InvalidKeyError(
            f"cannot write {key!r} in {self.uri}: a folder bucket cannot hold both a file and "
            "a folder of that name (an object is in the way of the path); delete one first",
            bucket=self.uri,
            key=key,
        )


def _copy(src: BinaryIO, dst: BinaryIO, callback: ByteCallback | None) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    while chunk := src.read(_CHUNK):
        dst.write(chunk)
        digest.update(chunk)
        if callback:
            callback(len(chunk))
    return digest.hexdigest()
