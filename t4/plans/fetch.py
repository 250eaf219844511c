"""The fetch plan (``fetch``, ``fetch_keys``, the mirror's downloads): each object's local
path checked before anything moves, unchanged files skipped by ETag, every download written
whole or not at all, and the error that names a destination that cannot be written. A plan
holds little per object (``FetchPlan``): the listing streams through it.
"""

from __future__ import annotations

import errno
import itertools
from array import array
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from t4 import meta as helium
from t4.backends.base import Backend, ObjectInfo, PendingDownload, SmallObjects
from t4.engine import Step
from t4.errors import DestinationError, InvalidKeyError, T4Error
from t4.keys import Destination
from t4.parts import Folders, atomic_write_target, clean_stale_parts, write_whole
from t4.plans.common import Refused, identical_files, keys_under, regular_stat

_BATCH = 500  # files compared per state-cache query

if TYPE_CHECKING:
    from t4.state import TransferState


def check_destination(backend: Backend, dest: Path, prefix: str) -> None:
    """Refuse a fetch into ``dest`` when it is a file."""
    if dest.exists() and not dest.is_dir():
        raise DestinationError(
            f"cannot fetch {prefix!r} from {backend.uri} into {dest}: it is a file; "
            "choose a folder",
            bucket=backend.uri,
            key=prefix,
        )


class FetchPlan:
    """The downloads of one fetch, added one by one (``add``: each key checked before
    anything is written) and compared with the local files as they come, 500 at a time;
    then run as ``steps``, each made as the engine takes it.

    Per object it holds the key (the string the summary lists), its size and whether it is
    unchanged: no ``ObjectInfo``, no ``Path``, no step. ``dest``: each object lands at
    ``dest`` joined with its key less the first ``cut`` characters (``fetch_keys``);
    without it, each path is kept as given (one file).
    """

    def __init__(
        self, backend: Backend, state: TransferState, dest: Path | None = None, cut: int = 0
    ):
        self.backend, self.state = backend, state
        self._dest, self._cut = dest, cut
        self._paths: list[str] = []
        self.keys: list[str] = []
        self.sizes = array("q")
        self._versions: dict[int, str] = {}
        self.unchanged_at = bytearray()  # 1 where the local file is already identical
        self._pending: list[tuple[int, ObjectInfo, Path]] = []
        self._cleaned: set[Path] = set()
        self.folders = Folders()  # each destination folder made once, when its first file lands

    def add_under(self, objects: Iterable[ObjectInfo], prefix: str, refused: Refused) -> None:
        """Add each object at its key less ``prefix`` under ``dest`` (see ``fetch_keys``):
        a key that cannot be a file there (``..``, an absolute path, a link out) goes to
        ``refused`` and is left out, as are directory markers (the folder itself will
        exist); a key not under ``prefix`` (the caller's mistake, not the data's) is
        refused before anything moves."""
        assert self._dest is not None
        check_destination(self.backend, self._dest, prefix)
        out = Destination(self._dest)  # each folder's links resolved once
        uri = self.backend.uri
        for obj, rel in keys_under(self.backend, objects, prefix):
            try:
                path = out.join(rel, bucket=uri, key=obj.key)
            except InvalidKeyError as err:
                refused(obj.key, err)
            else:
                self.add(obj, path)
        self.compared()

    def add(self, obj: ObjectInfo, path: Path) -> None:
        """Plan to download ``obj`` to ``path`` (with ``dest``: ``dest`` joined with its key
        less ``cut``); call ``compared`` once every object is added."""
        i = len(self.keys)
        if self._dest is None:
            self._paths.append(str(path))
        self.keys.append(obj.key)
        self.sizes.append(obj.size)
        if obj.version_id is not None:
            self._versions[i] = obj.version_id
        self.unchanged_at.append(0)
        if path.parent not in self._cleaned:  # partial downloads of killed runs go first
            clean_stale_parts([path.parent])
            self._cleaned.add(path.parent)
        if _size_of(path) == obj.size:
            self._pending.append((i, obj, path))
            if len(self._pending) == _BATCH:
                self.compared()

    def compared(self) -> None:
        """Compare the files added since the last call with the local files, by ETag (the
        state cache opened even for none: an unwritable one is told before any transfer)."""
        pending, self._pending = self._pending, []
        same = identical_files(self.backend, self.state, [(o, p) for _, o, p in pending])
        for i, obj, _ in pending:
            if obj.key in same:
                self.unchanged_at[i] = 1

    def __len__(self) -> int:
        return len(self.keys)

    def path(self, i: int) -> Path:
        """Where object ``i`` lands."""
        if self._dest is None:
            return Path(self._paths[i])
        return Path(self._dest, self.keys[i][self._cut :])

    def unchanged(self) -> list[str]:
        """The keys whose local file is already identical."""
        return list(itertools.compress(self.keys, self.unchanged_at))

    def steps(self) -> FetchSteps:
        """The downloads of the objects that are not unchanged, each made as it is taken."""
        return FetchSteps(self)

    def step(self, i: int) -> FetchStep:
        """The download of object ``i``."""
        return FetchStep(
            self.backend,
            self.keys[i],
            self.sizes[i],
            self.path(i),
            self.folders,
            version_id=self._versions.get(i),
        )


class FetchSteps:
    """A fetch plan's steps: counted, and made one at a time as they are taken."""

    def __init__(self, plan: FetchPlan):
        self._plan = plan
        self._count = len(plan.unchanged_at) - sum(plan.unchanged_at)

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[Step]:
        plan = self._plan
        todo = itertools.compress(range(len(plan)), (not u for u in plan.unchanged_at))
        return map(plan.step, todo)


def _size_of(path: Path) -> int | None:
    st = regular_stat(path)
    return None if st is None else st.st_size


class FetchStep(Step):
    """Download ``key`` (``size`` bytes; that version, if given) to ``path`` (see
    ``fetch_file``); a small current object can come as one async GET, written by
    descriptor. ``opened``: the download already started (its GET answered), which the step
    finishes on a thread."""

    __slots__ = ("backend", "folders", "opened", "path", "version_id")

    def __init__(
        self,
        backend: Backend,
        key: str,
        size: int,
        path: Path,
        folders: Folders,
        *,
        version_id: str | None = None,
        opened: PendingDownload | None = None,
    ):
        super().__init__(key, size)
        self.small = version_id is None and opened is None
        self.backend, self.path, self.folders = backend, path, folders
        self.version_id, self.opened = version_id, opened

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
