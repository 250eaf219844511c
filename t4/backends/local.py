"""A local folder as a bucket: each object is a plain file under the folder.

Metadata and the search index live in the reserved folder ``.t4`` inside it, which never
shows up as keys: ``.t4/meta/<hash of key>.json`` holds the raw user metadata and a cached
MD5 (the object's ETag), ``.t4/tmp`` the temporary files of writes in flight. Every write
goes to a temporary file first and is renamed into place, so readers see the old object or
the new one, never half of one.

Every key resolves inside the folder, links included: a key that would lead out of it (or
into ``.t4``, or round a loop) through a symlink is refused before anything changes, and
listings leave such links out. Reads, writes, deletes and ``list`` walk each key from the folder by
descriptor (``local_paths``), so a link swapped in while t4 works is refused as well, never
gone through. Objects and records are created as any file is, so the umask decides who may
read them. A record describes the file as t4 wrote it (size and mtime): once another tool
replaces the file, its old metadata no longer applies, as on S3.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
import stat
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from t4.backends.base import ByteCallback, FolderPage, ObjectInfo, ObjectStream
from t4.backends.local_folder import list_folder
from t4.backends.local_paths import Place, Walker
from t4.backends.local_store import (
    CHUNK,
    Listed,
    LocalStore,
    copy_with_md5,
    record_of,
    rename_into,
    write_with_md5,
)
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
        self._walker = Walker(root)

    # -- paths --------------------------------------------------------------------------
    def _parts(self, key: str) -> Sequence[str]:
        """The path parts of ``key``'s file. Keys that are not safe file paths, and keys of
        t4's own files, are refused."""
        parts = relative_parts(key, bucket=self.uri, key=key, in_bucket_folder=True)
        if parts[0] == RESERVED or is_part_file(parts[-1]):
            what = f"{RESERVED}/ is" if parts[0] == RESERVED else f"a name with {PART_MARK} is"
            raise InvalidKeyError(
                f"key {key!r}: {what} reserved for t4's own files in {self.uri} (metadata, "
                "partial downloads, never listed); choose another name",
                bucket=self.uri,
                key=key,
            )
        return parts

    def _check(self, key: str, parts: Sequence[str]) -> None:
        """Refuse ``key`` if a link (of a folder, or the file itself) leads it out, before a
        write or delete changes anything; what does not exist yet leads nowhere."""
        try:
            with self._place(key, parts) as place:
                self._walker.check(place)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            pass

    def _inside(self, real: str) -> bool:
        """Whether a resolved path is the root or under it, and not under ``.t4``."""
        rel = Path(real)
        if not rel.is_relative_to(self.root):
            return False
        return rel == self.root or rel.relative_to(self.root).parts[0] != RESERVED

    def check_writable(self, key: str) -> None:
        self._check(key, self._parts(key))

    # -- reading ------------------------------------------------------------------------
    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        if not self.root.is_dir():
            raise self._no_root(prefix)
        start = self._walk_start(prefix)
        if start is None:
            return
        found: list[Listed] = []  # sorted before the first is told: small, no stat result
        folder = start.relative_to(self.root).parts
        try:
            with self._place(prefix, [*folder, "-"]) as place:  # by descriptor, as keys are
                # fwalk never follows a link: a linked folder below ``start`` is left out.
                for dirpath, dirnames, filenames, dir_fd in os.fwalk(".", dir_fd=place.fd):
                    if dirpath == "." and not folder:
                        dirnames[:] = [d for d in dirnames if d != RESERVED]
                    base = "".join(f"{part}/" for part in (*folder, *Path(dirpath).parts))
                    for name in filenames:
                        key = base + name
                        if key.startswith(prefix) and not is_part_file(name):
                            st = self._fwalk_stat(key, name, dir_fd)
                            if st is not None:
                                found.append(Listed(key, st.st_size, st.st_mtime_ns, st.st_mtime))
        except (FileNotFoundError, NotADirectoryError):
            return  # gone since _walk_start looked: nothing to list
        # S3 lists in UTF-8 byte order; do the same so both backends page alike.
        found.sort(key=lambda item: item.key.encode("utf-8"))
        for listed in found:
            try:
                info = self._info(listed.key, listed)
            except KeyNotFoundError:
                continue  # deleted since it was listed (its MD5 was to be read): not there
            yield info

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
        try:
            with self._place(prefix, [*parts, "-"]):
                pass  # its folders are walked: no link leads out
        except (FileNotFoundError, NotADirectoryError):
            return None
        start = self.root.joinpath(*parts)  # by name: keys are named as the prefix is
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

    def _fwalk_stat(self, key: str, name: str, dir_fd: int) -> os.stat_result | None:
        """``_listed_stat`` of a file ``list`` found in the folder ``dir_fd``: a link is
        followed by the descriptor walk, so one that leads out is left out."""
        try:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            return None  # gone since it was listed
        if not stat.S_ISLNK(st.st_mode):
            return st if stat.S_ISREG(st.st_mode) else None
        try:
            return self._stat(key)
        except InvalidKeyError:
            log.warning("not listing %s: it links outside %s", key, self.root)
        except T4Error:
            pass  # a dangling link, a link to a folder
        return None

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

    def open_stream(self, key: str) -> ObjectStream:
        """The file, open by descriptor: what it holds once opened is what is read."""
        src = self._open(key)
        try:
            st = os.fstat(src.fileno())
            record = self._record(key, st)
        except BaseException:
            src.close()
            raise
        modified = datetime.fromtimestamp(st.st_mtime, tz=UTC)
        info = ObjectInfo(key, st.st_size, record.get("md5"), modified)
        chunks = iter(functools.partial(src.read, CHUNK), b"")
        return ObjectStream(info, dict(record.get("metadata", {})), chunks, src.close)

    def _stat(self, key: str) -> os.stat_result:
        try:
            with self._place(key, self._parts(key)) as place:
                st = self._walker.lstat(place)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise self._missing(key) from None
        if not stat.S_ISREG(st.st_mode):
            raise self._missing(key)
        return st

    def _open(self, key: str) -> BinaryIO:
        try:
            with self._place(key, self._parts(key)) as place:
                return os.fdopen(self._walker.open(place), "rb")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise self._missing(key) from None

    def _md5_of(self, key: str) -> str:
        try:
            self._parts(key)
        except InvalidKeyError:  # a name a listing found that no key can have (a\\b.txt)
            return self.etag_of_file(self.root / key)  # hashed as listed: by name
        with self._open(key) as src:
            return copy_with_md5(src, None, None)

    # -- writing ------------------------------------------------------------------------
    def put_bytes(self, key: str, data: bytes, metadata: dict[str, str]) -> ObjectInfo:
        parts = self._parts(key)
        with self._staged(key, parts) as (tmp, tmp_path, place):
            tmp.write(data)
            md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
            return self._commit(key, parts, (tmp, tmp_path, place), md5, metadata)

    def get_tagged(self, key: str) -> tuple[bytes, str]:
        with self._open(key) as handle:
            data = handle.read()
        return data, hashlib.md5(data, usedforsecurity=False).hexdigest()

    def put_if(self, key: str, data: bytes, metadata: dict[str, str], etag: str | None) -> None:
        """Under the commit lock every t4 writer takes: create with ``link`` (which fails if
        anything is there, whoever wrote it), or compare the current bytes' MD5 and rename."""
        parts = self._parts(key)
        with self._staged(key, parts) as (tmp, tmp_path, place):
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
                elif _lexists(place):
                    raise self.precondition_failed(key, etag)
                self._write_record(key, record)
                move = _link_into if etag is None else rename_into
                try:
                    self._into_place(move, key, parts, tmp_path, place)
                except FileExistsError:
                    raise self.precondition_failed(key, etag) from None

    def upload(
        self,
        key: str,
        path: Path,
        metadata: dict[str, str],
        callback: ByteCallback | None = None,
    ) -> ObjectInfo:
        with path.open("rb") as src:  # the caller names its errors
            chunks = iter(functools.partial(src.read, CHUNK), b"")
            return self.put_stream(key, chunks, os.fstat(src.fileno()).st_size, metadata, callback)

    def put_stream(
        self,
        key: str,
        chunks: Iterable[bytes],
        size: int,
        metadata: dict[str, str],
        callback: ByteCallback | None = None,
    ) -> ObjectInfo:
        """Written to a staged file a chunk at a time, renamed into place once all are in
        (removed if ``chunks`` raises)."""
        parts = self._parts(key)
        with self._staged(key, parts) as staged:
            md5 = write_with_md5(chunks, staged[0], callback)
            return self._commit(key, parts, staged, md5, metadata)

    def set_metadata(self, key: str, metadata: dict[str, str]) -> ObjectInfo:
        with self._commit_lock():
            st = self._stat(key)
            info = self._info(key, st)
            self._write_record(key, record_of(key, metadata, info.etag, st))
        return info

    def delete_many(self, keys: Sequence[str]) -> dict[str, Exception]:
        failed: dict[str, Exception] = {}
        checked: dict[str, Sequence[str]] = {}  # all checked before any change; a key
        # that is no safe path fails alone
        for key in keys:
            try:
                parts = self._parts(key)
                self._check(key, parts)
                checked[key] = parts
            except InvalidKeyError as err:
                failed[key] = err
        for key, parts in checked.items():
            try:
                with self._commit_lock():
                    self._delete(key, parts)
            except (InvalidKeyError, OSError) as err:
                failed[key] = err
        return failed

    def _delete(self, key: str, parts: Sequence[str]) -> None:
        """Unlink ``key``'s file (a link itself, never what it leads to) by its name in its
        folder's descriptor, then its record, then the folders it leaves empty."""
        try:
            with self._place(key, parts) as place:
                self._walker.check(place)
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(place.name, dir_fd=place.fd)
                with contextlib.suppress(FileNotFoundError):
                    self._meta_path(key).unlink()
                place.prune()  # under the lock: see _into_place
        except (FileNotFoundError, NotADirectoryError):  # no folder: no file either
            with contextlib.suppress(FileNotFoundError):
                self._meta_path(key).unlink()

    def prepare_write(self) -> None:
        """The first write into a folder that does not exist yet creates it."""
        self.root.mkdir(parents=True, exist_ok=True)

    # -- helpers ------------------------------------------------------------------------
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


def _lexists(place: Place) -> bool:
    try:
        os.stat(place.name, dir_fd=place.fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def _link_into(tmp_path: str, place: Place) -> None:
    os.link(tmp_path, place.name, dst_dir_fd=place.fd, follow_symlinks=False)
