"""The store under a folder bucket's reserved ``.t4`` folder: one metadata record per object
(``.t4/meta/<hash of key>.json``: the raw user metadata, the MD5 that is its ETag, and the
size and mtime that tie it to the file), the temporary files of writes in flight
(``.t4/tmp``), and the commit that renames an object and its record into place together,
one writer at a time across threads and processes (``.t4/commit.lock``).
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple, Protocol

from t4.backends.base import Backend, ByteCallback, ObjectInfo
from t4.backends.local_paths import Escape, Place, Walker
from t4.errors import InvalidKeyError, T4Error
from t4.parts import clean_stale_parts
from t4.walk import PART_MARK, RESERVED

__all__ = [
    "CHUNK",
    "FileStat",
    "Listed",
    "LocalStore",
    "copy_with_md5",
    "record_of",
    "rename_into",
    "write_with_md5",
]

#: Bytes read or written at a time.
CHUNK = 1 << 20


class FileStat(Protocol):
    """What t4 reads of a file's stat: a record's tie to it, and a listing's size and time
    (an ``os.stat_result``, or a ``Listed`` file's)."""

    @property
    def st_size(self) -> int: ...

    @property
    def st_mtime_ns(self) -> int: ...

    @property
    def st_mtime(self) -> float: ...


class Listed(NamedTuple):  # what a listing holds of each file until it is sorted: no stat
    """A file found by a listing: its key, and what its ``ObjectInfo`` is made from."""

    key: str
    st_size: int
    st_mtime_ns: int
    st_mtime: float


#: A write in flight: its temporary file, that file's path, and the folder it goes to.
Staged = tuple[BinaryIO, str, Place]
#: How a staged file goes into place: a rename, or a link that fails if a file is there.
Move = Callable[[str, Place], None]


class LocalStore(Backend):
    """The records, temporary files and commits of ``t4.backends.local.LocalBackend``."""

    root: Path
    uri: str
    _meta_dir: Path
    _tmp_dir: Path
    _tmp_checked: bool
    _walker: Walker
    #: The MD5 of ``key``'s bytes, read by descriptor (``LocalBackend._open``).
    _md5_of: Callable[[str], str]

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
    def _place(self, key: str, parts: Sequence[str], *, create: bool = False) -> Iterator[Place]:
        """``key``'s folder, open, walked by descriptor (``local_paths``); a link that leads
        out of the folder, or into ``.t4``, is refused with the key and the link named."""
        try:
            place = self._walker.place(parts, create=create)
        except Escape as err:
            raise self._escapes(key, err) from None
        with place:
            try:
                yield place
            except Escape as err:
                raise self._escapes(key, err) from None

    def _escapes(self, key: str, err: Escape) -> InvalidKeyError:
        """Name the link that leads ``key`` out of the bucket folder (or round in a loop)."""
        if err.why == "loop":
            return InvalidKeyError(
                f"key {key!r} in {self.uri} goes round a loop of links (through the link "
                f"{err.link} -> {err.target}); nothing was changed: remove or fix the link",
                bucket=self.uri,
                key=key,
            )
        where = {"out": "outside the bucket folder", "reserved": "into t4's reserved .t4/ folder"}
        return InvalidKeyError(
            f"key {key!r} in {self.uri} leads {where[err.why]} through the link {err.link} -> "
            f"{os.path.realpath(err.target)}; nothing was changed. A folder bucket only reads "
            "and writes inside its folder: remove the link, or open the folder it points to "
            "as a bucket of its own",
            bucket=self.uri,
            key=key,
        )

    @contextlib.contextmanager
    def _staged(self, key: str, parts: Sequence[str]) -> Iterator[Staged]:
        """A temporary file for a write of ``key``, and the folder it goes to, made and open
        (``_place``): a link out or a file in the way is refused before anything is written."""
        try:
            with self._place(key, parts, create=True) as place:
                self._walker.check(place)
                fd, name = self._new_temp("put")
                try:
                    with os.fdopen(fd, "wb") as tmp:
                        yield tmp, name, place
                finally:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(name)
        except NotADirectoryError as err:
            raise self._conflict(key) from err

    def _commit(
        self, key: str, parts: Sequence[str], staged: Staged, md5: str, meta: dict[str, str]
    ) -> ObjectInfo:
        tmp, tmp_path, place = staged
        tmp.flush()
        st = os.fstat(tmp.fileno())  # a rename keeps size and mtime: the record's tie
        record = record_of(key, meta, md5, st)
        with self._commit_lock():  # bytes and metadata of one write land together
            self._write_record(key, record)
            try:
                self._into_place(rename_into, key, parts, tmp_path, place)
            except IsADirectoryError as err:
                raise self._conflict(key) from err
        return self._info(key, st, record)

    def _into_place(
        self, move: Move, key: str, parts: Sequence[str], tmp_path: str, place: Place
    ) -> None:
        """``move`` the staged file into ``place``, under the commit lock. A delete of the
        last key in its folder removes the folder (under the same lock) after this write
        made it: walked and made again here, where no delete can come between."""
        try:
            move(tmp_path, place)
        except FileNotFoundError:
            if not os.path.exists(tmp_path):
                raise
            try:
                with self._place(key, parts, create=True) as again:
                    move(tmp_path, again)
            except NotADirectoryError as err:
                raise self._conflict(key) from err

    @contextlib.contextmanager
    def _commit_lock(self) -> Iterator[None]:
        """One writer at a time, across threads and processes, for the short moment of
        renaming an object and its metadata record into place."""
        path = self.root / RESERVED / "commit.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as handle:  # a fresh open file description: excludes threads too
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    def _record(self, key: str, st: FileStat) -> dict[str, Any]:
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

    def _info(self, key: str, st: FileStat, record: dict[str, Any] | None = None) -> ObjectInfo:
        if record is None:
            record = self._record(key, st)
        # No record for this very file (written by another tool, or changed since): hash it.
        etag = record.get("md5") or self._md5_of(key)
        modified = datetime.fromtimestamp(st.st_mtime, tz=UTC)
        return ObjectInfo(key=key, size=st.st_size, etag=etag, last_modified=modified)

    def _conflict(self, key: str) -> T4Error:
        return InvalidKeyError(
            f"cannot write {key!r} in {self.uri}: a folder bucket cannot hold both a file and "
            "a folder of that name (an object is in the way of the path); delete one first",
            bucket=self.uri,
            key=key,
        )


def record_of(key: str, metadata: dict[str, str], md5: str | None, st: FileStat) -> dict[str, Any]:
    """The sidecar record of one file: its metadata, its MD5, and what ties them to it."""
    return {"key": key, "metadata": metadata, "md5": md5, "size": st.st_size,
            "mtime_ns": st.st_mtime_ns}  # fmt: skip


def copy_with_md5(src: BinaryIO, dst: BinaryIO | None, callback: ByteCallback | None) -> str:
    """Copy ``src`` to ``dst`` (or only read it) ``CHUNK`` bytes at a time; their MD5."""
    return write_with_md5(iter(functools.partial(src.read, CHUNK), b""), dst, callback)


def write_with_md5(
    chunks: Iterable[bytes], dst: BinaryIO | None, callback: ByteCallback | None
) -> str:
    """Write ``chunks`` to ``dst`` (if any), telling ``callback`` each; their MD5."""
    digest = hashlib.md5(usedforsecurity=False)
    for chunk in chunks:
        if dst is not None:
            dst.write(chunk)
        digest.update(chunk)
        if callback:
            callback(len(chunk))
    return digest.hexdigest()


def rename_into(tmp_path: str, place: Place) -> None:
    os.rename(tmp_path, place.name, dst_dir_fd=place.fd)
