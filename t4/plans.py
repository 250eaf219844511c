"""Plans for the directory operations: list once, compare, decide what moves; then hand the
steps to ``t4.transfer.run_plan``. Written once for every backend.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from t4 import meta as helium
from t4.backends.base import Backend, ObjectInfo
from t4.backends.local import RESERVED
from t4.errors import DestinationError, LocalPathError
from t4.keys import check_key, posix_rel, safe_join
from t4.state import TransferState, meta_digest
from t4.transfer import PART_MARK, Step, atomic_write_target, clean_stale_parts

__all__ = ["LocalFile", "fetch_steps", "local_files", "upload_steps"]

log = logging.getLogger(__name__)

#: Called after each upload with (key, info, helium dict, local path).
Written = Callable[[str, ObjectInfo, dict[str, Any], Path], None]


@dataclass(frozen=True)
class LocalFile:
    """A local file to upload: where it is, its key, and its size and mtime when listed."""

    path: Path
    key: str
    size: int
    mtime_ns: int = 0


def local_files(
    source: Path, prefix: str, *, bucket: str, follow_links: bool, skip: Path | None = None
) -> list[LocalFile]:
    """Every regular file under ``source`` with its key; links leading outside are skipped
    (and logged) unless ``follow_links``. Never included: the folder ``skip`` (a local
    bucket's own root, so a bucket is not uploaded into itself), t4's reserved ``.t4``
    folders, and partial downloads."""
    if not source.exists():
        raise LocalPathError(
            f"local folder {source} does not exist; nothing was uploaded", bucket=bucket
        )
    if not source.is_dir():
        raise LocalPathError(
            f"{source} is a file, not a folder: use put_file for one file", bucket=bucket
        )
    root = source.resolve()
    found = []
    for dirpath, dirnames, filenames in os.walk(source, followlinks=follow_links):
        here = Path(dirpath)
        dirnames[:] = [
            d
            for d in dirnames
            if d != RESERVED
            and (follow_links or _inside(here / d, root))
            and (skip is None or (here / d).resolve() != skip)
        ]
        for name in filenames:
            path = here / name
            st = _regular_stat(path)
            if st is None or PART_MARK in name:
                continue
            if not follow_links and not _inside(path, root):
                log.warning(
                    "not uploading %s: it links outside %s (follow_links=True to allow)",
                    path,
                    source,
                )
                continue
            key = check_key(prefix + posix_rel(path, source), bucket)
            found.append(LocalFile(path, key, st.st_size, st.st_mtime_ns))
    found.sort(key=lambda f: f.key)
    return found


def _regular_stat(path: Path) -> os.stat_result | None:
    """The file's stat if it is a regular file (through links), else None."""
    try:
        st = os.stat(path)
    except OSError:
        return None  # a dangling link, or gone since the walk saw it
    return st if stat.S_ISREG(st.st_mode) else None


def _inside(path: Path, root: Path) -> bool:
    return not path.is_symlink() or path.resolve().is_relative_to(root)


def upload_steps(
    backend: Backend,
    prefix: str,
    files: list[LocalFile],
    meta_for: Callable[[LocalFile], dict[str, Any]],
    state: TransferState,
    on_written: Written,
) -> tuple[list[Step], list[str]]:
    """Steps for the files that differ from the bucket, and the keys that are unchanged.

    Unchanged means: same size and ETag in the listing, and the metadata t4 last wrote there
    is what would be written now. Only when t4 has no record of the object does it ask the
    server for the metadata (one HEAD, no bytes); if only the metadata differs it is replaced
    in place, without sending the bytes again.
    """
    listing = {o.key: o for o in backend.list(prefix)}
    same_size = [f for f in files if f.key in listing and listing[f.key].size == f.size]
    identical = identical_files(backend, state, [(listing[f.key], f.path) for f in same_size])
    remembered = state.written(backend.uri, [f.key for f in same_size])
    steps: list[Step] = []
    unchanged: list[str] = []
    for item in files:
        wanted = meta_for(item)
        remote = listing.get(item.key)
        same_bytes = item.key in identical
        if remote and same_bytes and remembered.get(item.key) == (remote.etag, meta_digest(wanted)):
            unchanged.append(item.key)
        elif same_bytes:
            steps.append(Step(item.key, 0, _meta_step(backend, item, wanted, state, on_written)))
        else:
            steps.append(
                Step(item.key, item.size, _put_step(backend, item, wanted, state, on_written))
            )
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


def _remember_hash(backend: Backend, state: TransferState, item: LocalFile, etag: str) -> None:
    """Cache the ETag the server gave an uploaded file's bytes, if the file is still as it
    was listed (size, mtime) and old enough for its hash to be kept (see ``TransferState``).
    A fetched file is not cached here: it was just written, so it never is."""
    if not state.cacheable(item.mtime_ns):
        return
    st = os.stat(item.path)
    if (st.st_size, st.st_mtime_ns) == (item.size, item.mtime_ns):
        state.defer_hash(item.path, item.size, item.mtime_ns, backend.etag_kind, etag)


def _put_step(
    backend: Backend,
    item: LocalFile,
    wanted: dict[str, Any],
    state: TransferState,
    on_written: Written,
) -> Callable[[Callable[[int], None]], int]:
    def run(progress: Callable[[int], None]) -> int:
        encoded = helium.encode(wanted, bucket=backend.uri, key=item.key)
        info = backend.upload(item.key, item.path, encoded, progress)
        state.defer_written(backend.uri, [(item.key, info.etag, meta_digest(wanted))])
        on_written(item.key, info, wanted, item.path)
        if item.mtime_ns and info.etag:
            # the ETag the server gave the bytes just read: no need to read them again
            _remember_hash(backend, state, item, info.etag)
        return item.size

    return run


def _meta_step(
    backend: Backend,
    item: LocalFile,
    wanted: dict[str, Any],
    state: TransferState,
    on_written: Written,
) -> Callable[[Callable[[int], None]], int]:
    def run(progress: Callable[[int], None]) -> int:
        info, raw = backend.head(item.key)
        if helium.decode(raw, bucket=backend.uri, key=item.key) != wanted:
            encoded = helium.encode(wanted, bucket=backend.uri, key=item.key)
            info = backend.set_metadata(item.key, encoded)
            on_written(item.key, info, wanted, item.path)
        state.defer_written(backend.uri, [(item.key, info.etag, meta_digest(wanted))])
        return 0

    return run


def fetch_steps(
    backend: Backend,
    prefix: str,
    dest: Path,
    state: TransferState,
) -> tuple[list[Step], list[str]]:
    """Steps that download every object under ``prefix`` into ``dest``, and the keys already
    identical there. Every key is checked before anything is written."""
    if dest.exists() and not dest.is_dir():
        raise DestinationError(
            f"cannot fetch {prefix!r} from {backend.uri} into {dest}: it is a file; "
            "choose a folder",
            bucket=backend.uri,
            key=prefix,
        )
    targets: list[tuple[ObjectInfo, Path]] = []
    for obj in backend.list(prefix):
        if obj.key.endswith("/"):
            continue  # a directory marker: the folder itself will exist
        rel = obj.key[len(prefix) :]
        targets.append((obj, safe_join(dest, rel, bucket=backend.uri, key=obj.key)))
    clean_stale_parts(path.parent for _, path in targets)
    same_size = [(obj, path) for obj, path in targets if _size_of(path) == obj.size]
    identical = identical_files(backend, state, same_size)
    steps, unchanged = [], []
    for obj, path in targets:
        if obj.key in identical:
            unchanged.append(obj.key)
        else:
            steps.append(fetch_step(backend, obj, path))
    return steps, unchanged


def fetch_file_steps(
    backend: Backend,
    targets: dict[str, Path],
    versions: dict[str, str],
    state: TransferState,
) -> tuple[list[Step], list[str]]:
    """Steps that download each key to its own path (the version in ``versions``, if any),
    and the keys already identical there: one listing of the keys' common folder, then one
    GET per file that differs."""
    common = os.path.commonprefix(list(targets))  # noqa: RUF071  # cut to a folder below
    prefix = common.rpartition("/")[0] + "/" if "/" in common else ""
    listing = {o.key: o for o in backend.list(prefix) if o.key in targets}
    clean_stale_parts(path.parent for path in targets.values())
    current = [(listing[k], p) for k, p in targets.items() if k in listing and k not in versions]
    identical = identical_files(
        backend, state, [(obj, path) for obj, path in current if _size_of(path) == obj.size]
    )
    steps, unchanged = [], []
    for key, path in targets.items():
        if key in identical:
            unchanged.append(key)
            continue
        obj = listing.get(key)
        if obj is None and key not in versions:
            raise backend.missing(key)
        size = obj.size if obj is not None and key not in versions else None
        steps.append(Step(key, size or 0, _file_step(backend, key, path, size, versions.get(key))))
    return steps, unchanged


def _file_step(
    backend: Backend, key: str, path: Path, size: int | None, version_id: str | None
) -> Callable[[Callable[[int], None]], int]:
    def run(progress: Callable[[int], None]) -> int:
        fetch_file(backend, key, path, progress, size=size, version_id=version_id)
        return path.stat().st_size

    return run


def _size_of(path: Path) -> int | None:
    st = _regular_stat(path)
    return None if st is None else st.st_size


def fetch_step(
    backend: Backend, obj: ObjectInfo, path: Path, version_id: str | None = None
) -> Step:
    """The step that downloads ``obj`` (that version, if given) to ``path`` (see
    ``fetch_file``)."""

    def run(progress: Callable[[int], None]) -> int:
        fetch_file(backend, obj.key, path, progress, size=obj.size, version_id=version_id)
        return obj.size

    return Step(obj.key, obj.size, run)


def fetch_file(
    backend: Backend,
    key: str,
    path: Path,
    progress: Callable[[int], None] | None = None,
    *,
    size: int | None = None,
    version_id: str | None = None,
) -> dict[str, Any]:
    """Download one object (that version, if given) to ``path``, whole or not at all, with
    its helium xattr."""
    if path.is_dir():
        raise DestinationError(
            f"cannot write {key!r} from {backend.uri} to {path}: a folder is there",
            bucket=backend.uri,
            key=key,
        )
    try:
        with atomic_write_target(path) as tmp:
            if version_id is None:
                raw = backend.download(key, tmp, progress, size=size)
            else:
                raw = backend.download_version(key, version_id, tmp, progress)
            meta = helium.decode(raw, bucket=backend.uri, key=key)
            helium.write_xattr(tmp, meta)
    except (NotADirectoryError, FileExistsError, IsADirectoryError) as err:
        raise DestinationError(
            f"cannot write {key!r} from {backend.uri} to {path}: {err.strerror}",
            bucket=backend.uri,
            key=key,
        ) from err
    return meta
