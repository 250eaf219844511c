"""The upload plan (``put_file``, ``put_files``, ``put_dir``): each file compared with the
bucket's listing and the state cache, then put, given new metadata in place, or skipped.
The metadata an upload carries is shaped here, once per distinct value (``Meta``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
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

#: Called after each upload with (key, info, helium dict, local path).
Written = Callable[[str, ObjectInfo, dict[str, Any], Path], None]


class Upload(NamedTuple):  # one per file of the plan: a tuple, no __dict__
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


def upload_metas(
    items: list[Upload],
    meta: dict[str, Any] | None,
    *,
    from_xattr: bool,
    bucket: str,
) -> list[Meta]:
    """Each file's metadata (``meta``, laid over its xattr's with ``from_xattr``), encoded
    once per distinct value."""
    known: dict[bytes | None, Meta] = {}
    metas = []
    for item in items:
        raw = helium.xattr_bytes(item.path) if from_xattr else None
        found = known.get(raw)
        if found is None:
            if from_xattr:
                xattr = helium.parse_xattr(raw, item.path)
                wanted = helium.carried(xattr, meta, bucket=bucket, key=item.key)
                found = Meta.of(wanted, bucket=bucket, key=item.key)
            else:
                found = Meta.given(meta, bucket=bucket, key=item.key)
            known[raw] = found
        metas.append(found)
    return metas


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
            info = backend.set_metadata(item.key, wanted.encoded)._replace(size=info.size)
            on_written(item.key, info, wanted.wanted, item.path)
        state.defer_written(backend.identity, [(item.key, info.etag, wanted.digest)])
        return SKIPPED if same else 0

    return run
