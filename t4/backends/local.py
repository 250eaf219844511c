"""A local folder as a bucket: each object is a plain file under the folder.

Metadata and the search index live in the reserved folder ``.t4`` inside it, which never
shows up as keys: ``.t4/meta/<hash of key>.json`` holds the raw user metadata and a cached
MD5 (the object's ETag), ``.t4/tmp`` the temporary files of writes in flight. Every write
goes to a temporary file first and is renamed into place, so readers see the old object or
the new one, never half of one.

Every key resolves inside the folder, links included: a key that would lead out of it (or
into ``.t4``) through a symlink is refused before anything changes, and listings leave such
links out. Objects and records are created as any file is, so the umask decides who may
read them. A record describes the file as t4 wrote it (size and mtime): once another tool
replaces the file, its old metadata no longer applies, as on S3.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import secrets
import stat
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from t4.backends.base import Backend, ByteCallback, ObjectInfo
from t4.errors import BucketNotFoundError, InvalidKeyError, KeyNotFoundError, T4Error
from t4.keys import relative_parts
from t4.parts import clean_stale_parts
from t4.walk import PART_MARK, RESERVED

__all__ = ["RESERVED", "LocalBackend"]

_CHUNK = 1 << 20

log = logging.getLogger(__name__)


class LocalBackend(Backend):
    """Objects as files under ``root``."""

    def __init__(self, root: Path):
        self.root = root
        self.local_root = root
        self.uri = root.as_uri()
        self._meta_dir = root / RESERVED / "meta"
        self._tmp_dir = root / RESERVED / "tmp"
        self._tmp_checked = False
        #: folder -> whether it resolves inside the root, while a ``bulk()`` block runs.
        self._resolved: dict[Path, bool] | None = None
        self._resolving = threading.Lock()

    # -- paths --------------------------------------------------------------------------
    def path(self, key: str) -> Path:
        """The file that holds ``key``. Keys that are not safe file paths, and keys that a
        link would lead out of the bucket folder or into ``.t4/``, are refused."""
        parts = relative_parts(key, bucket=self.uri, key=key)
        if parts[0] == RESERVED:
            raise InvalidKeyError(
                f"key {key!r}: {RESERVED}/ is reserved for t4's metadata in {self.uri}; "
                "choose another name",
                bucket=self.uri,
                key=key,
            )
        path = self.root.joinpath(*parts)
        if not self._folder_inside(path.parent) or (
            os.path.islink(path) and not self._inside(os.path.realpath(path))
        ):
            raise self._escapes(key, path)
        return path

    @contextlib.contextmanager
    def bulk(self) -> Iterator[None]:
        """Within the block, each folder's links are resolved once, however many keys it holds.
        Nothing outlives the block: a link made afterwards is seen by the next operation."""
        if self._resolved is not None:  # already inside one (another thread's, maybe)
            yield
            return
        self._resolved = {}
        try:
            yield
        finally:
            self._resolved = None

    def _folder_inside(self, folder: Path) -> bool:
        if folder == self.root:
            return True
        cache = self._resolved
        if cache is None:
            return self._inside(os.path.realpath(folder))
        with self._resolving:  # transfer threads asking for one folder wait for one answer
            inside = cache.get(folder)
            if inside is None:
                inside = cache[folder] = self._inside(os.path.realpath(folder))
        return inside

    def _inside(self, real: str) -> bool:
        """Whether a resolved path is the root or under it, and not under ``.t4``."""
        rel = Path(real)
        if not rel.is_relative_to(self.root):
            return False
        return rel == self.root or rel.relative_to(self.root).parts[0] != RESERVED

    def _escapes(self, key: str, path: Path) -> InvalidKeyError:
        """Name the link that leads ``key`` out of the bucket folder."""
        link, here = path, self.root
        for part in path.relative_to(self.root).parts:
            here = here / part
            if os.path.islink(here) and not self._inside(os.path.realpath(here)):
                link = here
                break
        where = (
            "into t4's reserved .t4/ folder"
            if self._inside_reserved(link)
            else "outside the bucket folder"
        )
        return InvalidKeyError(
            f"key {key!r} in {self.uri} leads {where} through the link {link} -> "
            f"{os.path.realpath(link)}; nothing was changed. A folder bucket only reads and "
            "writes inside its folder: remove the link, or open the folder it points to as a "
            "bucket of its own",
            bucket=self.uri,
            key=key,
        )

    def _inside_reserved(self, path: Path) -> bool:
        return Path(os.path.realpath(path)).is_relative_to(self.root / RESERVED)

    def check_writable(self, key: str) -> None:
        self.path(key)

    def _meta_path(self, key: str) -> Path:
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
        return self._meta_dir / digest[:2] / f"{digest}.json"

    # -- reading ------------------------------------------------------------------------
    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        if not self.root.is_dir():
            raise self._no_root(prefix)
        start = self._walk_start(prefix)
        if start is None:
            return
        found: list[tuple[str, os.stat_result]] = []
        # os.walk never descends into a linked folder, so only ``start`` needed checking.
        for dirpath, dirnames, filenames in os.walk(start):
            if Path(dirpath) == self.root:
                dirnames[:] = [d for d in dirnames if d != RESERVED]
            rel_dir = os.path.relpath(dirpath, self.root).replace(os.sep, "/")
            base = "" if rel_dir == "." else rel_dir + "/"
            for name in filenames:
                key = base + name
                if key.startswith(prefix):
                    st = self._listed_stat(os.path.join(dirpath, name))
                    if st is not None:
                        found.append((key, st))
        # S3 lists in UTF-8 byte order; do the same so both backends page alike.
        found.sort(key=lambda item: item[0].encode("utf-8"))
        for key, st in found:
            yield self._info(key, st)

    def _walk_start(self, prefix: str) -> Path | None:
        """The folder to walk for ``prefix``; None when no key of this bucket can have it."""
        folder = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        if not folder:
            return self.root
        try:
            parts = relative_parts(folder, bucket=self.uri, key=prefix)
        except InvalidKeyError:
            return None  # '..', '//' and the like: never the path of a file in this folder
        if parts[0] == RESERVED:
            return None
        start = self.root.joinpath(*parts)
        if not self._folder_inside(start):
            raise self._escapes(prefix, start)
        return start if start.is_dir() else None

    def _listed_stat(self, path: str) -> os.stat_result | None:
        """A listed file's stat; None for what is not an object here: a link that leads out
        of the folder, a dangling link, a device or a pipe."""
        st = os.lstat(path)
        if stat.S_ISLNK(st.st_mode):
            if not self._inside(os.path.realpath(path)):
                log.warning("not listing %s: it links outside %s", path, self.root)
                return None
            try:
                st = os.stat(path)
            except OSError:
                return None
        return st if stat.S_ISREG(st.st_mode) else None

    def head(self, key: str) -> tuple[ObjectInfo, dict[str, str]]:
        st = self._stat(key)
        record = self._record(key, st)
        return self._info(key, st, record), dict(record.get("metadata", {}))

    def get_bytes(self, key: str) -> bytes:
        with self._open(key) as src:
            return src.read()

    def get(self, key: str) -> tuple[bytes, dict[str, str]]:
        with self._open(key) as src:
            data = src.read()
            record = self._record(key, os.fstat(src.fileno()))
        return data, dict(record.get("metadata", {}))

    def get_range(self, key: str, start: int, length: int) -> tuple[bytes, dict[str, str]]:
        with self._open(key) as src:
            src.seek(start)
            data = src.read(max(0, length))
            record = self._record(key, os.fstat(src.fileno()))
        return data, dict(record.get("metadata", {}))

    def download(
        self,
        key: str,
        path: Path,
        callback: ByteCallback | None = None,
        *,
        size: int | None = None,
    ) -> dict[str, str]:
        with self._open(key) as src, path.open("wb") as dst:  # the caller names dst's errors
            record = self._record(key, os.fstat(src.fileno()))
            _copy(src, dst, callback)
        return dict(record.get("metadata", {}))

    def _stat(self, key: str) -> os.stat_result:
        try:
            st = self.path(key).stat()
        except (FileNotFoundError, NotADirectoryError):
            raise self._missing(key) from None
        if not stat.S_ISREG(st.st_mode):
            raise self._missing(key)
        return st

    def _open(self, key: str) -> BinaryIO:
        try:
            return self.path(key).open("rb")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise self._missing(key) from None

    # -- writing ------------------------------------------------------------------------
    def put_bytes(self, key: str, data: bytes, metadata: dict[str, str]) -> ObjectInfo:
        target = self.path(key)
        with self._staged(key, target) as (tmp, tmp_path):
            tmp.write(data)
            md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
            return self._commit(key, tmp, tmp_path, target, md5, metadata)

    def get_tagged(self, key: str) -> tuple[bytes, str]:
        with self._open(key) as handle:
            data = handle.read()
        return data, hashlib.md5(data, usedforsecurity=False).hexdigest()

    def put_if(self, key: str, data: bytes, metadata: dict[str, str], etag: str | None) -> None:
        """Under the commit lock every t4 writer takes: create with ``link`` (which fails if
        anything is there, whoever wrote it), or compare the current bytes' MD5 and rename."""
        target = self.path(key)
        with self._staged(key, target) as (tmp, tmp_path):
            tmp.write(data)
            tmp.flush()
            md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
            record = _record_of(key, metadata, md5, os.fstat(tmp.fileno()))
            with self._commit_lock():
                if etag is not None:
                    try:
                        if self.get_tagged(key)[1] != etag:
                            raise self.precondition_failed(key, etag)
                    except KeyNotFoundError:
                        raise self.precondition_failed(key, etag) from None
                elif os.path.lexists(target):
                    raise self.precondition_failed(key, etag)
                self._write_record(key, record)
                try:
                    (os.link if etag is None else os.replace)(tmp_path, target)
                except FileExistsError:
                    raise self.precondition_failed(key, etag) from None

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
            st = self._stat(key)
            info = self._info(key, st)
            self._write_record(key, _record_of(key, metadata, info.etag, st))
        return info

    def delete_many(self, keys: Sequence[str]) -> dict[str, Exception]:
        failed: dict[str, Exception] = {}
        with self.bulk():
            paths = []  # all checked before any change; a key that is no safe path fails alone
            for key in keys:
                try:
                    paths.append((key, self.path(key)))
                except InvalidKeyError as err:
                    failed[key] = err
            for key, path in paths:
                try:
                    with self._commit_lock():
                        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
                            path.unlink()
                        with contextlib.suppress(FileNotFoundError):
                            self._meta_path(key).unlink()
                    self._prune(path.parent)
                except OSError as err:
                    failed[key] = err
        return failed

    def prepare_write(self) -> None:
        """The first write into a folder that does not exist yet creates it."""
        self.root.mkdir(parents=True, exist_ok=True)

    # -- helpers ------------------------------------------------------------------------
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
            name = os.path.join(folder, f".{kind}{PART_MARK}{os.getpid()}-{secrets.token_hex(8)}")
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
        st = os.fstat(tmp.fileno())  # a rename keeps size and mtime: the record's tie
        record = _record_of(key, meta, md5, st)
        with self._commit_lock():  # bytes and metadata of one write land together
            self._write_record(key, record)
            try:
                os.replace(tmp_path, target)
            except IsADirectoryError as err:
                raise self._conflict(key) from err
        return self._info(key, st, record)

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

    def _prune(self, folder: Path) -> None:
        """Remove ``folder`` and its parents while empty, up to the root; never through a link."""
        while folder != self.root and folder.is_relative_to(self.root):
            if folder.is_symlink():
                return
            try:
                folder.rmdir()
            except OSError as err:
                if err.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOENT, errno.ENOTDIR):
                    return
                raise
            folder = folder.parent

    def _missing(self, key: str) -> T4Error:
        return self.missing(key) if self.root.is_dir() else self._no_root(key)

    def _no_root(self, key: str) -> BucketNotFoundError:
        """The folder is created by the first write; until then, reads say it is not there."""
        return BucketNotFoundError(
            f"the folder {self.root} does not exist (yet: the first write creates it); "
            "check the path",
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


def _record_of(
    key: str, metadata: dict[str, str], md5: str | None, st: os.stat_result
) -> dict[str, Any]:
    """The sidecar record of one file: its metadata, its MD5, and what ties them to it."""
    return {"key": key, "metadata": metadata, "md5": md5, "size": st.st_size,
            "mtime_ns": st.st_mtime_ns}  # fmt: skip


def _copy(src: BinaryIO, dst: BinaryIO, callback: ByteCallback | None) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    while chunk := src.read(_CHUNK):
        dst.write(chunk)
        digest.update(chunk)
        if callback:
            callback(len(chunk))
    return digest.hexdigest()
