"""Plans for the bulk operations: list once, compare, decide what moves; then hand the
steps to ``t4.transfer.run_plan``. Written once for every backend, for every caller
(``put_dir``, ``put_files``, ``fetch``, ``fetch_keys``, ``copy_to``, the mirror).
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from t4 import meta as helium
from t4.backends.base import Backend, ObjectInfo, PendingDownload, SmallObjects
from t4.engine import SKIPPED, Step
from t4.errors import DestinationError, InvalidKeyError, KeyNotFoundError, LocalPathError, T4Error
from t4.keys import Destination, check_file_key, check_key
from t4.parts import Folders, atomic_write_target, clean_stale_parts, write_whole
from t4.state import TransferState, meta_digest
from t4.transfer import ProgressCallback, TransferSummary

__all__ = [
    "Meta",
    "Upload",
    "fetch_file",
    "fetch_steps",
    "fetch_targets",
    "identical_files",
    "upload_steps",
]

log = logging.getLogger(__name__)

#: Called after each upload with (key, info, helium dict, local path).
Written = Callable[[str, ObjectInfo, dict[str, Any], Path], None]


@dataclass(frozen=True)
class Upload:
    """A local file to upload: where it is, its key, and its size and mtime when listed."""

    path: Path
    key: str
    size: int
    mtime_ns: int = 0

    @classmethod
    def of(cls, path: Path, key: str, *, bucket: str) -> Upload:
        """The upload of the file at ``path``; a missing file or a folder is refused."""
        st = _regular_stat(path)
        if st is None:
            what = "is a folder: use put_dir" if path.is_dir() else "does not exist"
            raise LocalPathError(f"{path} {what}; nothing was uploaded", bucket=bucket, key=key)
        return cls(path, key, st.st_size, st.st_mtime_ns)


@dataclass(frozen=True)
class Meta:
    """The helium metadata an upload carries: the dict, its S3 user metadata and its digest
    (what the state cache compares), computed once per distinct value, not once per file."""

    wanted: dict[str, Any]
    encoded: dict[str, str]
    digest: str

    @classmethod
    def of(cls, wanted: dict[str, Any], *, bucket: str, key: str) -> Meta:
        """``wanted`` encoded; refused (``MetadataError`` naming ``key``) if S3 could not
        store it."""
        return cls(wanted, helium.encode(wanted, bucket=bucket, key=key), meta_digest(wanted))


def _regular_stat(path: Path) -> os.stat_result | None:
    """The file's stat if it is a regular file (through links), else None."""
    try:
        st = os.stat(path)
    except OSError:
        return None  # a dangling link, or gone since the walk saw it
    return st if stat.S_ISREG(st.st_mode) else None


def upload_steps(
    backend: Backend,
    listing: dict[str, ObjectInfo],
    files: list[Upload],
    metas: list[Meta],
    state: TransferState,
    on_written: Written,
) -> tuple[list[Step], list[str]]:
    """Steps for the files that differ from the bucket, and the keys that are unchanged.

    ``listing`` holds what the bucket has at the files' keys (one listing, or one HEAD for a
    single file). Unchanged means: same size and ETag there, and the metadata t4 last wrote
    is what would be written now. Only when t4 has no record of the object (a fresh cache,
    another machine) does a step ask the server for the metadata (one HEAD, no bytes): the
    same metadata makes it skipped; other metadata is replaced in place, bytes not re-sent.
    """
    same_size = [f for f in files if f.key in listing and listing[f.key].size == f.size]
    identical = identical_files(backend, state, [(listing[f.key], f.path) for f in same_size])
    remembered = state.written(backend.identity, [f.key for f in same_size])
    steps: list[Step] = []
    unchanged: list[str] = []
    for item, wanted in zip(files, metas, strict=True):
        remote = listing.get(item.key)
        same_bytes = item.key in identical
        if remote and same_bytes and remembered.get(item.key) == (remote.etag, wanted.digest):
            unchanged.append(item.key)
        elif same_bytes:
            steps.append(Step(item.key, 0, _meta_step(backend, item, wanted, state, on_written)))
        else:
            steps.append(PutStep(backend, item, wanted, state, on_written))
    return steps, unchanged


def identical_files(
    backend: Backend, state: TransferState, pairs: list[tuple[ObjectInfo, Path]]
) -> set[str]:
    """Keys of the objects whose local file (same size, checked by the caller) holds the same
    bytes, by ETag: the file's ETag as ``backend`` computes it (cached, one batch), else as
    another tool's part size would give it (for objects that tool uploaded)."""
    local = state.file_etags([path for _, path in pairs], backend.etag_kind, backend.etag_of_file)
    same = set()
    for (obj, path), etag in zip(pairs, local, strict=True):
        if not obj.etag:
            continue
        if etag == obj.etag or any(
            state.file_etag(path, kind, compute) == obj.etag
            for kind, compute in backend.other_etag_kinds(obj.size, obj.etag)
        ):
            same.add(obj.key)
    return same


def _remember_hash(backend: Backend, state: TransferState, item: Upload, etag: str) -> None:
    """Cache the ETag the server gave an uploaded file's bytes, if the file is still as it
    was listed (size, mtime) and old enough for its hash to be kept (see ``TransferState``).
    A fetched file is not cached here: it was just written, so it never is."""
    if not state.cacheable(item.mtime_ns):
        return
    st = os.stat(item.path)
    if (st.st_size, st.st_mtime_ns) == (item.size, item.mtime_ns):
        state.defer_hash(item.path, item.size, item.mtime_ns, backend.etag_kind, etag)


class PutStep(Step):
    """Upload one file (see ``upload_steps``); a small one can go as one async PUT."""

    __slots__ = ("backend", "item", "on_written", "state", "wanted")

    def __init__(
        self,
        backend: Backend,
        item: Upload,
        wanted: Meta,
        state: TransferState,
        on_written: Written,
    ):
        super().__init__(item.key, item.size)
        self.small = True
        self.backend, self.item, self.wanted = backend, item, wanted
        self.state, self.on_written = state, on_written

    def run(self, progress: Callable[[int], None]) -> int:
        item = self.item
        self._stored(self.backend.upload(item.key, item.path, self.wanted.encoded, progress))
        return item.size

    async def run_small(self, objects: SmallObjects, progress: Callable[[int], None]) -> int:
        item = self.item
        with open(item.path, "rb") as src:
            data = src.read()
        if len(data) > objects.max_size:  # grew since the walk: it goes in parts
            import asyncio

            return await asyncio.to_thread(self.run, progress)
        self._stored(await objects.put(item.key, data, self.wanted.encoded))
        progress(len(data))
        return item.size

    def _stored(self, info: ObjectInfo) -> None:
        backend, item, state = self.backend, self.item, self.state
        state.defer_written(backend.identity, [(item.key, info.etag, self.wanted.digest)])
        self.on_written(item.key, info, self.wanted.wanted, item.path)
        if item.mtime_ns and info.etag:
            # the ETag the server gave the bytes just read: no need to read them again
            _remember_hash(backend, state, item, info.etag)


def _meta_step(
    backend: Backend,
    item: Upload,
    wanted: Meta,
    state: TransferState,
    on_written: Written,
) -> Callable[[Callable[[int], None]], int]:
    def run(progress: Callable[[int], None]) -> int:
        info, raw = backend.head(item.key)
        same = helium.decode(raw, bucket=backend.uri, key=item.key) == wanted.wanted
        if not same:
            info = replace(backend.set_metadata(item.key, wanted.encoded), size=info.size)
            on_written(item.key, info, wanted.wanted, item.path)
        state.defer_written(backend.identity, [(item.key, info.etag, wanted.digest)])
        return SKIPPED if same else 0

    return run


#: Told of each key refused while planning (it fails alone; the rest are planned).
Refused = Callable[[str, InvalidKeyError], None]


def fetch_targets(
    backend: Backend, objects: Iterable[ObjectInfo], prefix: str, dest: Path, refused: Refused
) -> list[tuple[ObjectInfo, Path]]:
    """Where each object lands under ``dest``: its key less ``prefix``. Every key is checked
    (no ``..``, no absolute path, no way out through a link) before anything is written: a
    key that cannot be a file under ``dest`` goes to ``refused`` and is left out, as are
    directory markers (the folder itself will exist). A key not under ``prefix`` (the
    caller's mistake, not the data's) is refused before anything moves."""
    if dest.exists() and not dest.is_dir():
        raise DestinationError(
            f"cannot fetch {prefix!r} from {backend.uri} into {dest}: it is a file; "
            "choose a folder",
            bucket=backend.uri,
            key=prefix,
        )
    out = Destination(dest)  # each folder's links resolved once
    targets = []
    for obj, rel in _under(backend, objects, prefix):
        try:
            targets.append((obj, out.join(rel, bucket=backend.uri, key=obj.key)))
        except InvalidKeyError as err:
            refused(obj.key, err)
    return targets


def _under(
    backend: Backend, objects: Iterable[ObjectInfo], prefix: str
) -> list[tuple[ObjectInfo, str]]:
    """Each object (directory markers left out) with its key relative to ``prefix``; a key
    not under ``prefix`` is refused before anything moves."""
    found = []
    for obj in objects:
        if obj.key.endswith("/"):
            continue
        if not obj.key.startswith(prefix):
            raise InvalidKeyError(
                f"key {obj.key!r} is not under the prefix {prefix!r} in {backend.uri}; "
                "give a prefix that every key starts with",
                bucket=backend.uri,
                key=obj.key,
            )
        found.append((obj, obj.key[len(prefix) :]))
    return found


def fetch_steps(
    backend: Backend, targets: list[tuple[ObjectInfo, Path]], state: TransferState
) -> tuple[list[Step], list[str]]:
    """Steps that download each object to its path, and the keys already identical there."""
    clean_stale_parts(path.parent for _, path in targets)
    same_size = [(obj, path) for obj, path in targets if _size_of(path) == obj.size]
    identical = identical_files(backend, state, same_size)
    folders = Folders()  # each destination folder made once, when its first file lands
    steps: list[Step] = []
    unchanged: list[str] = []
    for obj, path in targets:
        if obj.key in identical:
            unchanged.append(obj.key)
        else:
            steps.append(FetchStep(backend, obj, path, folders))
    return steps, unchanged


def _size_of(path: Path) -> int | None:
    st = _regular_stat(path)
    return None if st is None else st.st_size


class FetchStep(Step):
    """Download ``obj`` (the version it names, if any) to ``path`` (see ``fetch_file``); a
    small current object can come as one async GET, written by descriptor. ``opened``: the
    download already started (its GET answered), which the step finishes on a thread."""

    __slots__ = ("backend", "folders", "opened", "path", "version_id")

    def __init__(
        self,
        backend: Backend,
        obj: ObjectInfo,
        path: Path,
        folders: Folders,
        opened: PendingDownload | None = None,
    ):
        super().__init__(obj.key, obj.size)
        self.small = obj.version_id is None and opened is None
        self.backend, self.path, self.folders = backend, path, folders
        self.version_id, self.opened = obj.version_id, opened

    def run(self, progress: Callable[[int], None]) -> int:
        fetch_file(
            self.backend,
            self.key,
            self.path,
            progress,
            size=self.size,
            version_id=self.version_id,
            folders=self.folders,
            opened=self.opened,
        )
        return self.size

    async def run_small(self, objects: SmallObjects, progress: Callable[[int], None]) -> int:
        backend, key, path = self.backend, self.key, self.path
        data, raw = await objects.get(key)
        meta = helium.decode(raw, bucket=backend.uri, key=key)
        try:
            write_whole(path, data, meta, self.folders)
        except IsADirectoryError as err:
            raise folder_in_the_way(backend, key, path) from err
        except OSError as err:  # the destination's: the object was read, the file not written
            raise unwritable_destination(path, err, bucket=backend.uri, key=key) from err
        progress(len(data))
        return self.size


def folder_in_the_way(backend: Backend, key: str, path: Path) -> DestinationError:
    """The error for a download whose destination is a folder."""
    return DestinationError(
        f"cannot write {key!r} from {backend.uri} to {path}: a folder is there",
        bucket=backend.uri,
        key=key,
    )


def fetch_file(
    backend: Backend,
    key: str,
    path: Path,
    progress: Callable[[int], None] | None = None,
    *,
    size: int | None = None,
    version_id: str | None = None,
    folders: Folders | None = None,
    opened: PendingDownload | None = None,
) -> dict[str, Any]:
    """Download one object (that version, if given; the one ``opened``, if given) to
    ``path``, whole or not at all, with its helium xattr."""
    if path.is_dir():
        raise folder_in_the_way(backend, key, path)
    try:
        with atomic_write_target(path, folders) as tmp:
            if opened is not None:
                raw = opened.write(tmp, progress)
            elif version_id is None:
                raw = backend.download(key, tmp, progress, size=size)
            else:
                raw = backend.download_version(key, version_id, tmp, progress)
            meta = helium.decode(raw, bucket=backend.uri, key=key)
            helium.write_xattr(tmp, meta)
    except T4Error:
        raise
    except OSError as err:  # the destination's: the object was read, the file not written
        raise unwritable_destination(path, err, bucket=backend.uri, key=key) from err
    return meta


#: errno -> what went wrong with a local destination, and what to do about it.
_WHY = {
    errno.ENOSPC: ("no space left on the device", "free some space, or fetch to another folder"),
    errno.EDQUOT: ("the disk quota is used up", "free some space, or fetch to another folder"),
    errno.EROFS: ("the folder is on a read-only filesystem", "fetch to a writable folder"),
    errno.EACCES: ("permission denied", "fetch to a folder you can write"),
    errno.EPERM: ("permission denied", "fetch to a folder you can write"),
}


def unwritable_destination(path: Path, err: OSError, *, bucket: str, key: str) -> DestinationError:
    """The error for a local file that could not be written: it names the destination (not
    the temporary file beside it), the reason and the fix; ``errno``/``filename`` as ``err``."""
    reason, fix = _WHY.get(err.errno or 0, (err.strerror or str(err), "choose another folder"))
    error = DestinationError(
        f"cannot write {path} (fetching {key!r} from {bucket}): {reason}; {fix}. "
        "Nothing partial was left there.",
        bucket=bucket,
        key=key,
    )
    error.errno, error.strerror, error.filename = err.errno, err.strerror, str(path)
    return error


def shared_prefix(keys: list[str]) -> str:
    """The longest folder prefix every key shares: what one listing must cover.

    Example:
        >>> shared_prefix(["raw/a/x.csv", "raw/b.csv"])
        'raw/'
    """
    if not keys:
        return ""
    shared = os.path.commonprefix(keys)  # noqa: RUF071  # a string prefix is what S3 lists by
    return shared[: shared.rfind("/") + 1]


def resolve(
    backend: Backend,
    objects: Iterable[ObjectInfo | str],
    listing: Iterable[ObjectInfo] | None,
    summary: TransferSummary,
) -> list[ObjectInfo]:
    """``ObjectInfo`` as given; keys looked up in ``listing`` (else in one listing of their
    shared prefix). A key not found is a failure of its own in ``summary``."""
    given = list(objects)
    keys = [check_key(o, backend.uri) for o in given if not isinstance(o, ObjectInfo)]
    if not keys:
        return [o for o in given if isinstance(o, ObjectInfo)]
    if listing is None:
        listing = backend.list(shared_prefix(keys))
    known = {o.key: o for o in listing}
    found: list[ObjectInfo] = []
    for obj in given:
        if isinstance(obj, ObjectInfo):
            found.append(obj)
        elif obj in known:
            found.append(known[obj])
        else:
            summary.failed[obj] = KeyNotFoundError(
                f"no object {obj!r} in {backend.uri}; list what is there with keys()",
                bucket=backend.uri,
                key=obj,
            )
    return found


def copy_targets(
    source: Backend,
    target: Backend,
    objects: list[ObjectInfo],
    prefix: str,
    to_prefix: str,
    refused: Refused,
) -> list[tuple[ObjectInfo, str]]:
    """Each object (markers left out) with its key in ``target``: its key less ``prefix``,
    under ``to_prefix``; every key checked before anything is copied, one that ``target``
    cannot store goes to ``refused`` (under its source key) and is left out."""
    pairs: list[tuple[ObjectInfo, str]] = []
    for obj, rel in _under(source, objects, prefix):
        try:
            key = check_file_key(to_prefix + rel, target.uri)
            target.check_writable(key)
        except InvalidKeyError as err:
            refused(obj.key, err)
        else:
            pairs.append((obj, key))
    return pairs


#: Called after each copy with (key, info, raw metadata, content); the metadata and content
#: are ``None`` when the server copied (they never came through this process).
Copied = Callable[[str, ObjectInfo, dict[str, str] | None, bytes | None], None]


def copy_steps(
    source: Backend,
    target: Backend,
    pairs: list[tuple[ObjectInfo, str]],
    listing: Iterable[ObjectInfo],
    on_copied: Copied,
) -> tuple[list[Step], list[str]]:
    """Steps for the objects that ``target`` does not hold yet (same size and ETag there:
    unchanged), and the unchanged keys."""
    there = {o.key: o for o in listing}
    steps: list[Step] = []
    unchanged: list[str] = []
    for obj, key in pairs:
        have = there.get(key)
        if have is not None and have.size == obj.size and obj.etag and have.etag == obj.etag:
            unchanged.append(obj.key)
        else:
            steps.append(Step(obj.key, obj.size, _copy_step(source, target, obj, key, on_copied)))
    return steps, unchanged


def _copy_step(
    source: Backend, target: Backend, obj: ObjectInfo, key: str, on_copied: Copied
) -> Callable[[Callable[[int], None]], int]:
    def run(progress: Callable[[int], None]) -> int:
        info = target.copy_from(source, obj.key, key)
        if info is not None:
            on_copied(key, replace(info, size=obj.size), None, None)
            return obj.size
        # another endpoint, or a folder: the bytes pass through memory, never a temp file
        data, metadata = source.get(obj.key)
        info = target.put_bytes(key, data, metadata)
        progress(len(data))
        on_copied(key, info, metadata, data)
        return len(data)

    return run


#: Keys one delete request carries at most (S3's DeleteObjects limit).
DELETE_BATCH = 1000


def delete_keys(
    backend: Backend,
    keys: list[str],
    summary: TransferSummary,
    concurrency: int,
    on_deleted: Callable[[list[str]], None],
    callback: ProgressCallback | None,
) -> None:
    """Delete ``keys`` in batches of ``DELETE_BATCH``, a few batches at once; record each key
    in ``summary`` (``deleted``, or ``failed`` with its own error)."""
    batches = [keys[i : i + DELETE_BATCH] for i in range(0, len(keys), DELETE_BATCH)]
    started = time.monotonic()

    def one(batch: list[str]) -> dict[str, BaseException]:
        try:
            return dict(backend.delete_many(batch))
        except T4Error as err:
            return dict.fromkeys(batch, err)

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        for batch, failed in zip(batches, pool.map(one, batches), strict=True):
            gone = [k for k in batch if k not in failed]
            summary.deleted.extend(gone)
            summary.failed.update(failed)
            on_deleted(gone)
            if callback:
                for k in batch:
                    callback(k, "failed" if k in failed else "deleted", 0)
    summary.seconds += time.monotonic() - started
