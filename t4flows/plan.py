"""Planning a mirror: name both sides, list each once, compare, and cut the work into chunks.

No Prefect runs here, so a plan can be computed, printed (``dry_run``) and tested on its own.
Locations are parsed by ``t4.locations`` (a folder, ``s3://bucket/prefix``, ``file:///abs``
or ``t4-bucket/BLOCK/prefix``); a folder is walked by ``t4.walk`` (the walker ``put_dir``
uses, with its rules); a bucket is listed once with ``Bucket.ls``. A source that does not
exist is an error, never an empty listing.

Example:
    >>> plan = plan_mirror(Side.of("./data"), Side.of("s3://lake/raw"))  # doctest: +SKIP
    >>> [e.rel for e in plan.copy]  # doctest: +SKIP
    ['a.csv']
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from t4.backends import ObjectInfo
from t4.errors import BucketURIError, UnsafeOperationError
from t4.locations import BLOCK_PREFIX, Location, parse
from t4.walk import walk, wanted
from t4flows.blocks import BucketRef, T4BucketBlock, open_bucket

__all__ = ["Entry", "MirrorPlan", "Side", "chunked", "plan_mirror"]

#: A chunk closes at this many files or bytes, whichever comes first.
CHUNK_FILES = 2000
CHUNK_BYTES = 2 * 1024**3


@dataclass(frozen=True)
class Side:
    """One end of a mirror: its location, and how to open it when it is a bucket (a URI,
    or the saved block, loaded once here so that no chunk loads it again)."""

    location: Location
    ref: BucketRef | None = None

    @classmethod
    def of(cls, text: str, *, bucket: bool = False) -> Side:
        """Parse ``text``; load the block it names, if any. With ``bucket``, a plain folder
        is a local-folder bucket at its root (as ``t4.Bucket`` takes it).

        Example:
            >>> Side.of("s3://lake/raw").location.prefix
            'raw/'
        """
        loc = parse(text).as_bucket() if bucket else parse(text)
        if loc.bucket is None:
            return cls(loc)
        if loc.is_block:
            block = T4BucketBlock.load(loc.bucket.removeprefix(BLOCK_PREFIX))
            return cls(loc, cast(T4BucketBlock, block))
        return cls(loc, loc.bucket)

    @property
    def text(self) -> str:
        return self.location.text

    @property
    def is_bucket(self) -> bool:
        return self.ref is not None

    @property
    def prefix(self) -> str:
        return self.location.prefix

    def key(self, rel: str) -> str:
        return self.location.key_for(rel)

    def rel(self, key: str) -> str:
        return key[len(self.location.prefix) :]

    def path(self, rel: str) -> Path:
        """The local path of ``rel``; refuses anything that would leave the folder."""
        return self.location.path_for(rel)


@dataclass(frozen=True)
class Entry:
    """One file to act on: its path relative to both locations, its size, what each side's
    single listing said of it (``None`` for a folder, or where it is absent), and for a
    folder source the file its walk found (already checked by the walk's rules, so a chunk
    does not resolve every path again)."""

    rel: str
    size: int
    source: ObjectInfo | None = None
    target: ObjectInfo | None = None
    path: str | None = None


@dataclass
class MirrorPlan:
    """What a mirror must do, from one listing of each side: ``copy`` and ``delete``
    (entries), and the relative paths left ``unchanged``."""

    source: str
    destination: str
    copy: list[Entry] = field(default_factory=list)
    delete: list[Entry] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    listed: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The plan as JSON-friendly values (what ``dry_run`` returns).

        Example:
            >>> MirrorPlan("./d", "s3://b", copy=[Entry("a", 3)]).as_dict()["copy"]
            [['a', 3]]
        """
        return {
            "source": self.source,
            "destination": self.destination,
            "copy": [[e.rel, e.size] for e in self.copy],
            "delete": [e.rel for e in self.delete],
            "unchanged": list(self.unchanged),
            "listed": dict(self.listed),
        }


@dataclass(frozen=True)
class _Found:
    size: int
    obj: ObjectInfo | None = None
    path: Path | None = None

    @property
    def etag(self) -> str | None:
        return self.obj.etag if self.obj else None


def _list(
    side: Side,
    include: Sequence[str],
    exclude: Sequence[str],
    *,
    missing_ok: bool,
    concurrency: int | None,
) -> dict[str, _Found]:
    """Every file at ``side`` that the filters keep, by relative path: one listing of the
    bucket prefix, or one walk of the folder (a missing folder is an error unless
    ``missing_ok``: a destination the mirror will create)."""
    if side.ref is None:
        folder = side.location.folder
        assert folder is not None
        files = walk(folder, include=include, exclude=exclude, missing_ok=missing_ok)
        return {f.rel: _Found(f.size, path=f.path) for f in files}
    found: dict[str, _Found] = {}
    with open_bucket(side.ref, concurrency=concurrency) as b:
        for obj in b.ls(side.prefix):
            rel = side.rel(obj.key)
            if rel and not rel.endswith("/") and wanted(rel, include, exclude):
                found[rel] = _Found(obj.size, obj=obj)
    return found


def _differing(
    src: Side,
    dst: Side,
    source: dict[str, _Found],
    target: dict[str, _Found],
    concurrency: int | None,
) -> set[str]:
    """Of the files both sides hold at the same size, those whose ETags differ. A local file
    is compared as ``put_dir`` and ``fetch`` compare it (``Bucket.same_files``: its ETag from
    the bucket's hash cache, hashed once, not on every run)."""
    same_size = [r for r, f in source.items() if r in target and target[r].size == f.size]
    if src.is_bucket and dst.is_bucket:
        return {r for r in same_size if not source[r].etag or source[r].etag != target[r].etag}
    remote, objects, files = (src, source, target) if src.is_bucket else (dst, target, source)
    pairs = [(o, p) for r in same_size if (o := objects[r].obj) and (p := files[r].path)]
    assert remote.ref is not None
    with open_bucket(remote.ref, concurrency=concurrency) as bucket:
        matching = {remote.rel(key) for key in bucket.same_files(pairs)}
    return set(same_size) - matching


def plan_mirror(
    src: Side,
    dst: Side,
    *,
    delete: bool = False,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    allow_empty_source: bool = False,
    concurrency: int | None = None,
) -> MirrorPlan:
    """What a mirror from ``src`` to ``dst`` must do.

    Each side is listed once; a file is unchanged when sizes and ETags (the local file's
    ETag as the bucket computes it, cached) agree. Deletions only ever name files found under
    the destination location, so nothing outside it can be touched.

    Raises:
        LocalPathError: the source folder does not exist (nothing is listed or deleted).
        UnsafeOperationError: ``delete=True`` and the source lists nothing, unless
            ``allow_empty_source``: an empty source would empty the destination.
        BucketURIError: neither side is a bucket (also a ``ValueError``).
        UnsafeOperationError: the two overlap (also a ``ValueError``).
    """
    if not (src.is_bucket or dst.is_bucket):
        raise BucketURIError(
            f"mirror from {src.text} to {dst.text}: one side must be a bucket "
            "(s3://..., file:///..., or t4-bucket/NAME)"
        )
    if (
        src.location.bucket is not None
        and src.location.bucket == dst.location.bucket
        and (src.prefix.startswith(dst.prefix) or dst.prefix.startswith(src.prefix))
    ):
        raise UnsafeOperationError(
            f"mirror from {src.text} to {dst.text}: the two overlap; "
            "choose prefixes where neither contains the other",
            bucket=src.location.bucket,
        )
    source = _list(src, include, exclude, missing_ok=False, concurrency=concurrency)
    if delete and not source and not allow_empty_source:
        raise UnsafeOperationError(
            f"mirror from {src.text} to {dst.text} with delete=True: the source lists no "
            "files, so every file under the destination would be deleted; nothing was done. "
            "Check the source, or pass allow_empty_source=True if emptying it is intended",
            bucket=src.location.bucket,
            key=src.location.key or None,
        )
    target = _list(dst, include, exclude, missing_ok=True, concurrency=concurrency)
    changed = _differing(src, dst, source, target, concurrency)
    same = {r for r in source if r in target and target[r].size == source[r].size} - changed
    return MirrorPlan(
        source=src.text,
        destination=dst.text,
        copy=[
            Entry(
                r,
                f.size,
                f.obj,
                target[r].obj if r in target else None,
                str(f.path) if f.path is not None else None,
            )
            for r, f in sorted(source.items())
            if r not in same
        ],
        delete=[Entry(r, f.size, None, f.obj) for r, f in sorted(target.items()) if r not in source]
        if delete
        else [],
        unchanged=sorted(same),
        listed={"source": len(source), "destination": len(target)},
    )


def chunked(
    entries: Iterable[Entry], files: int = CHUNK_FILES, size: int = CHUNK_BYTES
) -> list[list[Entry]]:
    """Cut ``entries`` (already sorted) into chunks of at most ``files`` files and about
    ``size`` bytes, so each chunk is one task run."""
    chunks: list[list[Entry]] = []
    current: list[Entry] = []
    total = 0
    for entry in entries:
        if current and (len(current) >= files or total + entry.size > size):
            chunks.append(current)
            current, total = [], 0
        current.append(entry)
        total += entry.size
    if current:
        chunks.append(current)
    return chunks
