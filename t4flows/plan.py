"""Planning a mirror: name both sides, list each once, compare, and cut the work into chunks.

Pure functions with no Prefect in them, so a plan can be computed, printed (``dry_run``) and
tested on its own. A location is one of:

- a local folder: a plain path (``./data``, ``/abs/data``);
- a bucket: ``s3://bucket/optional/prefix``, ``file:///abs/folder`` (a local-folder bucket,
  at its root), or ``t4-bucket/BLOCK-NAME/optional/prefix`` for a saved ``T4BucketBlock``.

Example:
    >>> Location.parse("s3://lake/raw").prefix
    'raw/'
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from t4.backends import ObjectInfo
from t4.keys import as_prefix, posix_rel
from t4flows.blocks import BLOCK_PREFIX, open_bucket

__all__ = ["Entry", "Location", "chunked", "list_side", "plan_mirror"]

#: A chunk closes at this many files or bytes, whichever comes first.
CHUNK_FILES = 500
CHUNK_BYTES = 2 * 1024**3


@dataclass(frozen=True)
class Entry:
    """One file on one side: its path relative to the location, its size, and the object
    the listing returned when the side is a bucket."""

    rel: str
    size: int
    obj: ObjectInfo | None = None

    @property
    def etag(self) -> str | None:
        return self.obj.etag if self.obj else None


@dataclass(frozen=True)
class Location:
    """Where a mirror reads or writes: a local folder, or a prefix of a bucket."""

    text: str
    folder: Path | None = None
    bucket: str | None = None
    prefix: str = ""

    @classmethod
    def parse(cls, text: str) -> Location:
        """Split ``text`` into a folder, or a bucket reference and a key prefix."""
        if text.startswith("s3://"):
            name, _, prefix = text.removeprefix("s3://").partition("/")
            return cls(text, bucket=f"s3://{name}", prefix=as_prefix(prefix))
        if text.startswith(BLOCK_PREFIX):
            name, _, prefix = text.removeprefix(BLOCK_PREFIX).partition("/")
            return cls(text, bucket=BLOCK_PREFIX + name, prefix=as_prefix(prefix))
        if text.startswith("file://"):
            return cls(text, bucket=text)
        return cls(text, folder=Path(text).expanduser())

    @classmethod
    def of_bucket(cls, ref: str) -> Location:
        """``ref`` as a bucket even when it is a plain folder path (as ``t4.Bucket`` allows)."""
        loc = cls.parse(ref)
        if loc.folder is not None:
            return cls.parse(loc.folder.resolve().as_uri())
        return loc

    @property
    def is_bucket(self) -> bool:
        return self.bucket is not None

    def key(self, rel: str) -> str:
        return self.prefix + rel

    def path(self, rel: str) -> Path:
        """The local path of ``rel``; refuses anything that would leave the folder."""
        from t4.keys import safe_join

        assert self.folder is not None
        return safe_join(self.folder, rel, bucket=self.text, key=rel)


def _wanted(rel: str, include: Sequence[str], exclude: Sequence[str]) -> bool:
    if include and not any(fnmatch.fnmatchcase(rel, p) for p in include):
        return False
    return not any(fnmatch.fnmatchcase(rel, p) for p in exclude)


def list_side(
    loc: Location, include: Sequence[str] = (), exclude: Sequence[str] = ()
) -> dict[str, Entry]:
    """Every file at ``loc`` that the filters keep, by relative path: one bucket listing, or
    one walk of the folder (a folder that does not exist yet is empty)."""
    found: dict[str, Entry] = {}
    if loc.bucket is not None:
        with open_bucket(loc.bucket) as b:
            for obj in b.ls(loc.prefix):
                rel = obj.key[len(loc.prefix) :]
                if rel and not rel.endswith("/") and _wanted(rel, include, exclude):
                    found[rel] = Entry(rel, obj.size, obj)
        return found
    assert loc.folder is not None
    for dirpath, _dirs, files in os.walk(loc.folder):
        for name in files:
            path = Path(dirpath) / name
            rel = posix_rel(path, loc.folder)
            if path.is_file() and _wanted(rel, include, exclude):
                found[rel] = Entry(rel, path.stat().st_size)
    return found


def _differs_by_etag(
    src: Location, dst: Location, source: dict[str, Entry], target: dict[str, Entry]
) -> set[str]:
    """Of the files both sides hold at the same size, those whose ETags differ. A local file
    is compared as ``put_dir`` and ``fetch`` compare it (``Bucket.same_files``: its ETag from
    the bucket's hash cache, hashed once, not on every run)."""
    same_size = [r for r, e in source.items() if r in target and target[r].size == e.size]
    if src.is_bucket and dst.is_bucket:
        return {r for r in same_size if not source[r].etag or source[r].etag != target[r].etag}
    local, remote, objects = (dst, src, source) if src.is_bucket else (src, dst, target)
    pairs = [(obj, local.path(r)) for r in same_size if (obj := objects[r].obj) is not None]
    assert remote.bucket is not None
    with open_bucket(remote.bucket) as bucket:
        matching = {key[len(remote.prefix) :] for key in bucket.same_files(pairs)}
    return set(same_size) - matching


def plan_mirror(
    src: Location,
    dst: Location,
    *,
    delete: bool = False,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
) -> dict[str, Any]:
    """What a mirror from ``src`` to ``dst`` must do: ``copy`` (``[rel, size]`` pairs),
    ``delete`` (relative paths, only with ``delete=True``) and ``unchanged``.

    Each side is listed once; a file is unchanged when sizes and ETags (the local file's
    ETag as the bucket computes it, cached) agree. Deletions only ever name files found under the
    destination location, so nothing outside it can be touched.
    """
    if not (src.is_bucket or dst.is_bucket):
        raise ValueError(
            f"mirror from {src.text} to {dst.text}: one side must be a bucket "
            "(s3://..., file:///..., or t4-bucket/NAME)"
        )
    if (
        src.bucket is not None
        and src.bucket == dst.bucket
        and (src.prefix.startswith(dst.prefix) or dst.prefix.startswith(src.prefix))
    ):
        raise ValueError(
            f"mirror from {src.text} to {dst.text}: the two overlap; "
            "choose prefixes where neither contains the other"
        )
    source = list_side(src, include, exclude)
    target = list_side(dst, include, exclude)
    changed = _differs_by_etag(src, dst, source, target)
    same = {r for r in source if r in target and target[r].size == source[r].size} - changed
    return {
        "source": src.text,
        "destination": dst.text,
        "copy": [[r, source[r].size] for r in sorted(source) if r not in same],
        "unchanged": sorted(same),
        "delete": sorted(set(target) - set(source)) if delete else [],
        "listed": {"source": len(source), "destination": len(target)},
    }


def chunked(
    items: Iterable[list[Any]], files: int = CHUNK_FILES, size: int = CHUNK_BYTES
) -> list[list[list[Any]]]:
    """Cut ``[rel, size]`` items (already sorted) into chunks of at most ``files`` files and
    about ``size`` bytes, so each chunk is one task run."""
    chunks: list[list[list[Any]]] = []
    current: list[list[Any]] = []
    total = 0
    for item in items:
        if current and (len(current) >= files or total + int(item[1]) > size):
            chunks.append(current)
            current, total = [], 0
        current.append(item)
        total += int(item[1])
    if current:
        chunks.append(current)
    return chunks
