"""The store under a folder bucket's reserved ``.t4`` folder: one metadata record per object
(``.t4/meta/<hash of key>.json``: the raw user metadata, the MD5 that is its ETag, and the
size and mtime that tie it to the file), the temporary files of writes in flight
(``.t4/tmp``), and the commit that renames an object and its record into place together,
one writer at a time across threads and processes (``.t4/commit.lock``).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from t4.backends.base import Backend, ByteCallback, ObjectInfo
from t4.errors import InvalidKeyError, T4Error
from t4.parts import clean_stale_parts
from t4.walk import PART_MARK, RESERVED

__all__ = ["LocalStore", "copy_with_md5", "record_of"]

_CHUNK = 1 << 20


class LocalStore(Backend):
    """The records, temporary files and commits of ``t4.backends.local.LocalBackend``."""

    root: Path
    uri: str
    _meta_dir: Path
    _tmp_dir: Path
    _tmp_checked: bool

    def _meta_path(self, key: str) -> Path:
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
        return self._meta_dir / digest[:2] / f"{digest}.json"

    def _fresh_tmp_dir(self) -> Path:
        """The folder for writes in flight; on first use, clear what killed runs left there."""
        self._tmp_dir.mkdir(parents=True, exist_ok=True)
        if not self._tmp_checked:
            clean_stale_parts([self._tmp_dir])
            self._tmp_checked = True
        return self._tmp_dir

    def _new_temp(self, kind: str) -> tuple[int, str]:
        """A new file for a write in flight, created as any file is: the umask decides its
        mode, so a folder shared by a team stays readable (mkstemp would make it 0600)."""
        folder = self._fresh_tmp_dir()
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
        while True:
            name = os.path.join(folder, f".{kind}{PART_MARK}{os.getpid()}-{os.urandom(8).hex()}")
            try:
                return os.open(name, flags, 0o666), name
            except FileExistsError:  # pragma: no cover - 64 random bits
                continue

    @contextlib.contextmanager
    def _staged(self, key: str, target: Path) -> Iterator[tuple[BinaryIO, str]]:
        fd, name = self._new_temp("put")
        try:
            with os.fdopen(fd, "wb") as tmp:
                try:
                    target.parent.mkdir(parents=True, exist_ok=True)
                except (FileExistsError, NotADirectoryError, FileNotFoundError) as err:
                    if self._file_in_the_way(target):  # else a delete removed it: see below
                        raise self._conflict(key) from err
                yield tmp, name
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name)

    def _commit(
        self, key: str, tmp: BinaryIO, tmp_path: str, target: Path, md5: str, meta: dict[str, str]
    ) -> ObjectInfo:
        tmp.flush()
        st = os.fstat(tmp.fileno())  # a rename keeps size and mtime: the record's tie
        record = record_of(key, meta, md5, st)
        with self._commit_lock():  # bytes and metadata of one write land together
            self._write_record(key, record)
            try:
                self._into_place(os.replace, key, tmp_path, target)
            except IsADirectoryError as err:
                raise self._conflict(key) from err
        return self._info(key, st, record)

    def _file_in_the_way(self, target: Path) -> bool:
        """Whether a file (not a folder) is where a folder of ``target``'s path must be."""
        folder = target.parent
        while folder != self.root and folder.is_relative_to(self.root):
            if os.path.lexists(folder) and not folder.is_dir():
                return True
            folder = folder.parent
        return False

    def _into_place(
        self, move: Callable[[str, Path], None], key: str, tmp_path: str, target: Path
    ) -> None:
        """``move`` the staged file to ``target``, under the commit lock. A delete of the
        last key in its folder removes the folder (under the same lock) after this write
        made it: made again here, where no delete can come between."""
        try:
            move(tmp_path, target)
        except (FileNotFoundError, NotADirectoryError) as err:
            if not os.path.exists(tmp_path):
                raise
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
            except (FileExistsError, NotADirectoryError):
                raise self._conflict(key) from err
            move(tmp_path, target)

    @contextlib.contextmanager
    def _commit_lock(self) -> Iterator[None]:
        """One writer at a time, across threads and processes, for the short moment of
        renaming an object and its metadata record into place."""
        path = self.root / RESERVED / "commit.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as handle:  # a fresh open file description: excludes threads too
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    def _record(self, key: str, st: os.stat_result) -> dict[str, Any]:
        """The record t4 keeps for ``key``, if it still describes the file ``st`` is of: same
        size and mtime. A file replaced by another tool (``cp new.csv lake/x.csv``) has none,
        as an S3 object overwritten by another tool loses its metadata."""
        try:
            record = json.loads(self._meta_path(key).read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return {}
        if not isinstance(record, dict) or record.get("key") != key:
            return {}
        if (record.get("size"), record.get("mtime_ns")) != (st.st_size, st.st_mtime_ns):
            return {}
        return record

    def _write_record(self, key: str, record: dict[str, Any]) -> None:
        path = self._meta_path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = self._new_temp("meta")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(record, out)
        os.replace(name, path)

    def _info(
        self, key: str, st: os.stat_result, record: dict[str, Any] | None = None
    ) -> ObjectInfo:
        if record is None:
            record = self._record(key, st)
        # No record for this very file (written by another tool, or changed since): hash it.
        etag = record.get("md5") or self.etag_of_file(self.root / key)
        modified = datetime.fromtimestamp(st.st_mtime, tz=UTC)
        return ObjectInfo(key=key, size=st.st_size, etag=etag, last_modified=modified)

    def _conflict(self, key: str) -> T4Error:
        return InvalidKeyError(
            f"cannot write {key!r} in {self.uri}: a folder bucket cannot hold both a file and "
            "a folder of that name (an object is in the way of the path); delete one first",
            bucket=self.uri,
            key=key,
        )


def record_of(
    key: str, metadata: dict[str, str], md5: str | None, st: os.stat_result
) -> dict[str, Any]:
    """The sidecar record of one file: its metadata, its MD5, and what ties them to it."""
    return {"key": key, "metadata": metadata, "md5": md5, "size": st.st_size,
            "mtime_ns": st.st_mtime_ns}  # fmt: skip


def copy_with_md5(src: BinaryIO, dst: BinaryIO, callback: ByteCallback | None) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    while chunk := src.read(_CHUNK):
        dst.write(chunk)
        digest.update(chunk)
        if callback:
            callback(len(chunk))
    return digest.hexdigest()
