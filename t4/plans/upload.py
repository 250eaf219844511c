"""The upload plan (``put_file``, ``put_files``, ``put_dir``): each file compared with the
bucket's listing and the state cache, then put, given new metadata in place, or skipped.
The metadata an upload carries is shaped here, once per distinct value (``Meta``).

A plan of 100,000 files holds little per file (``UploadPlan``): its key (the string the
summary lists), size, mtime and what to do, in arrays; no ``Path``, no step object, no
listing entry. The listing is compared as it streams in, 500 objects at a time, and each
step is made as the engine takes it (``UploadPlan.steps``).
"""

from __future__ import annotations

import itertools
import os
from array import array
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from t4 import meta as helium
from t4.backends.base import Backend, ObjectInfo, SmallObjects
from t4.engine import SKIPPED, Step
from t4.errors import LocalPathError
from t4.plans.common import identical_files, regular_stat
from t4.surface import named

if TYPE_CHECKING:
    from t4.state import TransferState

#: What the plan does with a file: put its bytes, replace its metadata only, nothing.
PUT, META, UNCHANGED = 0, 1, 2
#: Listed objects compared with the local files per batch (one state-cache query each).
_BATCH = 500


class Upload(NamedTuple):  # made for a step as it runs, or to check one file
    """A local file to upload: where it is, its key, and its size and mtime when listed."""

    path: Path
    key: str
    size: int
    mtime_ns: int = 0

    @classmethod
    def of(cls, path: Path, key: str, *, bucket: str) -> Upload:
        """The upload of the file at ``path``; a missing file or a folder is refused."""
        st = regular_stat(path)
        if st is None:
            what = f"is a folder: use {named('put_dir')}" if path.is_dir() else "does not exist"
            raise LocalPathError(f"{path} {what}; nothing was uploaded", bucket=bucket, key=key)
        return cls(path, key, st.st_size, st.st_mtime_ns)


class Meta(NamedTuple):
    """The helium metadata an upload carries: the dict, its S3 user metadata and its digest
    (what the state cache compares), computed once per distinct value, not once per file."""

    wanted: dict[str, Any]
    encoded: dict[str, str]
    digest: str

    @classmethod
    def of(cls, wanted: dict[str, Any], *, bucket: str, key: str) -> Meta:
        """``wanted`` encoded; refused (``MetadataError`` naming ``key``) if S3 could not
        store it."""
        return cls(
            wanted, helium.encode(wanted, bucket=bucket, key=key), helium.meta_digest(wanted)
        )

    @classmethod
    def given(cls, meta: Any, fmt: dict[str, Any] | None = None, *, bucket: str, key: str) -> Meta:
        """The metadata of an object written with user metadata ``meta`` (and ``fmt``, for
        ``put``), encoded."""
        return cls.of(helium.helium(meta, fmt, bucket=bucket, key=key), bucket=bucket, key=key)


class UploadPlan:
    """The files of one upload, added one by one (``add``), compared with the bucket
    (``compare``), then run as ``steps``; what was written is read back by ``written``.

    ``meta`` is every object's user metadata (laid over each file's xattr with
    ``from_xattr``); ``root``: the files' paths are ``root`` joined with their key less its
    first ``cut`` characters (``put_dir``: no path is held), else each path is kept as given.
    """

    def __init__(
        self,
        backend: Backend,
        state: TransferState,
        meta: dict[str, Any] | None,
        *,
        from_xattr: bool,
        root: Path | None = None,
        cut: int = 0,
    ):
        self.backend, self.state = backend, state
        self._meta, self._from_xattr = meta, from_xattr
        self._root, self._cut = (None if root is None else str(root)), cut
        self._paths: list[str] = []
        self.keys: list[str] = []
        self.sizes, self.mtimes = array("q"), array("q")
        self.metas: list[Meta] = []  # each distinct value once
        self._meta_of = array("I")  # index into ``metas``, per file
        self._known: dict[bytes | None, int] = {}
        self.todo = bytearray()  # PUT, META or UNCHANGED, per file
        self.etags: list[str | None] = []  # what was written, per file: ``stored``
        self._times: list[datetime | None] = []
        self._versions: dict[int, str] = {}

    def __len__(self) -> int:
        return len(self.keys)

    def path(self, i: int) -> Path:
        """The local path of file ``i``."""
        if self._root is None:
            return Path(self._paths[i])
        return Path(self._root, self.keys[i][self._cut :])

    def add(self, path: Path, key: str, size: int, mtime_ns: int) -> None:
        """Plan to upload the file at ``path`` (listed with ``size`` and ``mtime_ns``) as
        ``key``; bad metadata is refused (``MetadataError``) before anything is written."""
        raw = helium.xattr_bytes(path) if self._from_xattr else None
        found = self._known.get(raw)
        if found is None:
            bucket = self.backend.uri
            if self._from_xattr:
                xattr = helium.parse_xattr(raw, path)
                wanted = helium.carried(xattr, self._meta, bucket=bucket, key=key)
                self.metas.append(Meta.of(wanted, bucket=bucket, key=key))
            else:
                self.metas.append(Meta.given(self._meta, bucket=bucket, key=key))
            found = self._known[raw] = len(self.metas) - 1
        if self._root is None:
            self._paths.append(str(path))
        self.keys.append(key)
        self.sizes.append(size)
        self.mtimes.append(mtime_ns)
        self._meta_of.append(found)
        self.todo.append(PUT)
        self.etags.append(None)
        self._times.append(None)

    def meta(self, i: int) -> Meta:
        """The metadata file ``i`` goes up with."""
        return self.metas[self._meta_of[i]]

    def compare(self, listing: Iterable[ObjectInfo]) -> None:
        """Mark the files that differ from the bucket in nothing as unchanged, and those that
        differ in metadata alone as needing only that.

        ``listing`` is what the bucket has (at least) at the files' keys, read once as it
        comes. Unchanged means: same size and ETag there, and the metadata t4 last wrote is
        what would be written now. Only when t4 has no record of the object (a fresh cache,
        another machine) does a step ask the server for the metadata (one HEAD, no bytes):
        the same metadata makes it skipped; other metadata is replaced in place, bytes not
        re-sent."""
        where: dict[str, int] | None = None
        same_size = []
        for obj in listing:
            if where is None:  # an empty listing (a fresh prefix) costs no lookup table
                where = {key: i for i, key in enumerate(self.keys)}
            i = where.get(obj.key)
            if i is not None and self.sizes[i] == obj.size:
                same_size.append((i, obj))
                if len(same_size) == _BATCH:
                    self._compare_batch(same_size)
                    same_size = []
        self._compare_batch(same_size)

    def _compare_batch(self, same_size: list[tuple[int, ObjectInfo]]) -> None:
        # called even with none: an unwritable state cache is told before any transfer
        backend, state = self.backend, self.state
        identical = identical_files(backend, state, [(obj, self.path(i)) for i, obj in same_size])
        remembered = state.written(backend.identity, [obj.key for _, obj in same_size])
        for i, obj in same_size:
            if obj.key in identical:
                same = remembered.get(obj.key) == (obj.etag, self.meta(i).digest)
                self.todo[i] = UNCHANGED if same else META

    def unchanged(self) -> list[str]:
        """The keys of the files already in the bucket as they would be written."""
        return [key for key, todo in zip(self.keys, self.todo, strict=True) if todo == UNCHANGED]

    def steps(self) -> PlanSteps:
        """The steps of the files that are not unchanged, each made as it is taken."""
        return PlanSteps(self)

    def step(self, i: int) -> Step:
        """The step of file ``i``."""
        item = Upload(self.path(i), self.keys[i], self.sizes[i], self.mtimes[i])
        if self.todo[i] == META:
            return Step(item.key, 0, _meta_step(self, i, item))
        return PutStep(self, i, item)

    def stored(self, i: int, info: ObjectInfo) -> None:
        """File ``i`` was written: ``info`` is what the bucket said (kept for the index)."""
        self.etags[i] = info.etag or ""
        self.sizes[i] = info.size
        self._times[i] = info.last_modified
        if info.version_id is not None:
            self._versions[i] = info.version_id

    def info(self, i: int) -> ObjectInfo | None:
        """What the bucket said of file ``i`` when it was written; None if it was not."""
        etag, when = self.etags[i], self._times[i]
        if etag is None or when is None:
            return None
        return ObjectInfo(self.keys[i], self.sizes[i], etag or None, when, self._versions.get(i))

    def written(self) -> Iterator[tuple[ObjectInfo, dict[str, Any], Path]]:
        """Each file written, as the index takes it: its info, helium dict and path."""
        for i in range(len(self.keys)):
            info = self.info(i)
            if info is not None:
                yield info, self.meta(i).wanted, self.path(i)


class PlanSteps:
    """An upload plan's steps: counted, and made one at a time as they are taken (the
    engine goes through them more than once: nothing of a step is kept between)."""

    def __init__(self, plan: UploadPlan):
        self._plan = plan
        self._count = len(plan.todo) - plan.todo.count(UNCHANGED)

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[Step]:
        plan = self._plan
        todo = itertools.compress(range(len(plan.todo)), (t != UNCHANGED for t in plan.todo))
        return map(plan.step, todo)


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
    """Upload one file of a plan; a small one can go as one async PUT."""

    __slots__ = ("index", "item", "plan")

    def __init__(self, plan: UploadPlan, index: int, item: Upload):
        super().__init__(item.key, item.size)
        self.small = True
        self.plan, self.index, self.item = plan, index, item

    def run(self, progress: Callable[[int], None]) -> int:
        item = self.item
        encoded = self.plan.meta(self.index).encoded
        self._stored(self.plan.backend.upload(item.key, item.path, encoded, progress))
        return item.size

    async def run_small(self, objects: SmallObjects, progress: Callable[[int], None]) -> int:
        item = self.item
        with open(item.path, "rb") as src:
            data = src.read()
        if len(data) > objects.max_size:  # grew since the walk: it goes in parts
            import asyncio

            return await asyncio.to_thread(self.run, progress)
        self._stored(await objects.put(item.key, data, self.plan.meta(self.index).encoded))
        progress(len(data))
        return item.size

    def _stored(self, info: ObjectInfo) -> None:
        plan, item = self.plan, self.item
        backend, state = plan.backend, plan.state
        state.defer_written(backend.identity, [(item.key, info.etag, plan.meta(self.index).digest)])
        plan.stored(self.index, info)
        if item.mtime_ns and info.etag:
            # the ETag the server gave the bytes just read: no need to read them again
            _remember_hash(backend, state, item, info.etag)


def _meta_step(plan: UploadPlan, i: int, item: Upload) -> Callable[[Callable[[int], None]], int]:
    def run(progress: Callable[[int], None]) -> int:
        backend, wanted = plan.backend, plan.meta(i)
        info, raw = backend.head(item.key)
        same = helium.decode(raw, bucket=backend.uri, key=item.key) == wanted.wanted
        if not same:
            info = backend.set_metadata(item.key, wanted.encoded)._replace(size=info.size)
            plan.stored(i, info)
        plan.state.defer_written(backend.identity, [(item.key, info.etag, wanted.digest)])
        return SKIPPED if same else 0

    return run
