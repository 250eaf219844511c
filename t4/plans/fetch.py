"""The fetch plan (``fetch``, ``fetch_keys``, the mirror's downloads): each object's local
path checked before anything moves, unchanged files skipped by ETag, every download written
whole or not at all, and the error that names a destination that cannot be written.
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from t4 import meta as helium
from t4.backends.base import Backend, ObjectInfo, PendingDownload, SmallObjects
from t4.engine import Step
from t4.errors import DestinationError, InvalidKeyError, T4Error
from t4.keys import Destination
from t4.parts import Folders, atomic_write_target, clean_stale_parts, write_whole
from t4.plans.common import Refused, identical_files, keys_under, regular_stat

if TYPE_CHECKING:
    from t4.state import TransferState


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
    for obj, rel in keys_under(backend, objects, prefix):
        try:
            targets.append((obj, out.join(rel, bucket=backend.uri, key=obj.key)))
        except InvalidKeyError as err:
            refused(obj.key, err)
    return targets


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
    st = regular_stat(path)
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
