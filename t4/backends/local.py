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
import hashlib
import logging
import os
import stat
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from t4.backends.base import ByteCallback, FolderPage, ObjectInfo
from t4.backends.local_folder import list_folder
from t4.backends.local_store import LocalStore, copy_with_md5, record_of
from t4.errors import BucketNotFoundError, InvalidKeyError, KeyNotFoundError, T4Error
from t4.keys import relative_parts
from t4.walk import PART_MARK, RESERVED, is_part_file

__all__ = ["RESERVED", "LocalBackend"]


log = logging.getLogger(__name__)


class LocalBackend(LocalStore):
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
        parts = relative_parts(key, bucket=self.uri, key=key, in_bucket_folder=True)
        if parts[0] == RESERVED or is_part_file(parts[-1]):
            what = f"{RESERVED}/ is" if parts[0] == RESERVED else f"a name with {PART_MARK} is"
            raise InvalidKeyError(
                f"key {key!r}: {what} reserved for t4's own files in {self.uri} (metadata, "
                "partial downloads, never listed); choose another name",
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
                if key.startswith(prefix) and not is_part_file(name):
                    st = self._listed_stat(os.path.join(dirpath, name))
                    if st is not None:
                        found.append((key, st))
        # S3 lists in UTF-8 byte order; do the same so both backends page alike.
        found.sort(key=lambda item: item[0].encode("utf-8"))
        for key, st in found:
            yield self._info(key, st)

    def list_folder(self, prefix: str, token: str | None = None, limit: int = 1000) -> FolderPage:
        if not self.root.is_dir():
            raise self._no_root(prefix)
        folder = self._walk_start(prefix)
        if folder is None:
            return FolderPage([], [], None)
        return list_folder(self.root, folder, prefix, token, limit, self._listed_stat)

    def _walk_start(self, prefix: str) -> Path | None:
        """The folder to walk for ``prefix``; None when no key of this bucket can have it."""
        folder = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        if not folder:
            return self.root
        try:
            parts = relative_parts(folder, bucket=self.uri, key=prefix, in_bucket_folder=True)
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
            copy_with_md5(src, dst, callback)
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
            record = record_of(key, metadata, md5, os.fstat(tmp.fileno()))
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
                    self._into_place(os.link if etag is None else os.replace, key,
                                     tmp_path, target)  # fmt: skip
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
            md5 = copy_with_md5(src, tmp, callback)
            return self._commit(key, tmp, tmp_path, target, md5, metadata)

    def set_metadata(self, key: str, metadata: dict[str, str]) -> ObjectInfo:
        with self._commit_lock():
            st = self._stat(key)
            info = self._info(key, st)
            self._write_record(key, record_of(key, metadata, info.etag, st))
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
                        self._prune(path.parent)  # under the lock: see _into_place
                except OSError as err:
                    failed[key] = err
        return failed

    def prepare_write(self) -> None:
        """The first write into a folder that does not exist yet creates it."""
        self.root.mkdir(parents=True, exist_ok=True)

    # -- helpers ------------------------------------------------------------------------
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
