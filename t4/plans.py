"""Plans for the directory operations: list once, compare, decide what moves; then hand the
steps to ``t4.transfer.run_plan``. Written once for every backend.
"""

from __future__ import annotations

import logging
import os
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
    path: Path
    key: str
    size: int


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
            if not path.is_file() or PART_MARK in name:
                continue
            if not follow_links and not _inside(path, root):
                log.warning(
                    "not uploading %s: it links outside %s (follow_links=True to allow)",
                    path,
                    source,
                )
                continue
            key = check_key(prefix + posix_rel(path, source), bucket)
            found.append(LocalFile(path, key, path.stat().st_size))
    found.sort(key=lambda f: f.key)
    return found


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
    remembered = state.written(backend.uri, [f.key for f in files if f.key in listing])
    steps: list[Step] = []
    unchanged: list[str] = []
    for item in files:
        wanted = meta_for(item)
        remote = listing.get(item.key)
        same_bytes = (
            remote is not None
            and remote.size == item.size
            and remote.etag == state.file_etag(item.path, backend.etag_kind, backend.etag_of_file)
        )
        if remote and same_bytes and remembered.get(item.key) == (remote.etag, meta_digest(wanted)):
            unchanged.append(item.key)
        elif same_bytes:
            steps.append(Step(item.key, 0, _meta_step(backend, item, wanted, state, on_written)))
        else:
            steps.append(
                Step(item.key, item.size, _put_step(backend, item, wanted, state, on_written))
            )
    return steps, unchanged


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
        state.record_written(backend.uri, [(item.key, info.etag, meta_digest(wanted))])
        on_written(item.key, info, wanted, item.path)
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
        state.record_written(backend.uri, [(item.key, info.etag, meta_digest(wanted))])
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
    steps, unchanged = [], []
    for obj, path in targets:
        if _same_local(backend, obj, path, state):
            unchanged.append(obj.key)
        else:
            steps.append(Step(obj.key, obj.size, _get_step(backend, obj, path)))
    return steps, unchanged


def _same_local(backend: Backend, obj: ObjectInfo, path: Path, state: TransferState) -> bool:
    try:
        if not path.is_file() or path.stat().st_size != obj.size:
            return False
    except OSError:
        return False
    return obj.etag == state.file_etag(path, backend.etag_kind, backend.etag_of_file)


def _get_step(
    backend: Backend, obj: ObjectInfo, path: Path
) -> Callable[[Callable[[int], None]], int]:
    def run(progress: Callable[[int], None]) -> int:
        fetch_file(backend, obj.key, path, progress)
        return obj.size

    return run


def fetch_file(
    backend: Backend, key: str, path: Path, progress: Callable[[int], None] | None = None
) -> dict[str, Any]:
    """Download one object to ``path``, whole or not at all, with its helium xattr."""
    if path.is_dir():
        raise DestinationError(
            f"cannot write {key!r} from {backend.uri} to {path}: a folder is there",
            bucket=backend.uri,
            key=key,
        )
    try:
        with atomic_write_target(path) as tmp:
            raw = backend.download(key, tmp, progress)
            meta = helium.decode(raw, bucket=backend.uri, key=key)
            helium.write_xattr(tmp, meta)
    except (NotADirectoryError, FileExistsError, IsADirectoryError) as err:
        raise DestinationError(
            f"cannot write {key!r} from {backend.uri} to {path}: {err.strerror}",
            bucket=backend.uri,
            key=key,
        ) from err
    return meta
