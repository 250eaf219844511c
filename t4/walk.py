"""The one local folder walker: what ``put_dir``, the mirror, annotate and the tasks upload.

Rules, the same for every caller:

- the folder must exist and be a folder (``LocalPathError`` naming it otherwise: a missing
  source is never an empty listing);
- t4's reserved ``.t4`` folders and partial downloads (``*.t4part-*``) are never listed;
- a link that leads outside the folder is skipped (and logged) unless ``follow_links``;
  with ``follow_links``, a link back to a folder the walk is already inside (a loop) is
  skipped and logged, not followed again and again;
- ``include`` / ``exclude`` are shell globs (``fnmatch``) matched against the relative path:
  a file is kept when it matches some ``include`` (or there are none) and no ``exclude``.

Example:
    >>> [f.rel for f in walk(Path("data"), exclude=["*.tmp"])]  # doctest: +SKIP
    ['a.csv', 'sub/b.csv']
"""

from __future__ import annotations

import fnmatch
import logging
import os
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

from t4.errors import LocalPathError
from t4.surface import named

__all__ = ["PART_MARK", "RESERVED", "LocalFile", "is_part_file", "iter_walk", "walk", "wanted"]

log = logging.getLogger(__name__)

#: The folder t4 keeps its own state in (inside a local-folder bucket).
RESERVED = ".t4"
#: Marks a partial download's temporary name.
PART_MARK = ".t4part-"


def is_part_file(name: str) -> bool:
    """Whether a file name is a partial download's (``t4.parts``): never an object of a
    folder bucket, nor a file to upload; what every listing of a local folder leaves out.

    Example:
        >>> is_part_file(".a.csv.t4part-123-0"), is_part_file("a.csv")
        (True, False)
    """
    return PART_MARK in name


class LocalFile(NamedTuple):  # one per walked file: a tuple, no __dict__, no Path held
    """A regular file found by ``walk``: its ``/``-separated path relative to the walked
    folder, its size and mtime when listed, and the walked folder (``path`` joins them)."""

    rel: str
    size: int
    mtime_ns: int
    root: Path

    @property
    def path(self) -> Path:
        """Where the file is: the walked folder (as given) joined with ``rel``."""
        return self.root / self.rel


def wanted(rel: str, include: Sequence[str] = (), exclude: Sequence[str] = ()) -> bool:
    """Whether ``rel`` passes the ``include`` / ``exclude`` globs.

    Example:
        >>> wanted("a/b.csv", include=["*.csv"]), wanted("a/b.tmp", exclude=["*.tmp"])
        (True, False)
    """
    if include and not any(fnmatch.fnmatchcase(rel, p) for p in include):
        return False
    return not any(fnmatch.fnmatchcase(rel, p) for p in exclude)


def walk(
    source: str | Path,
    *,
    follow_links: bool = False,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    skip: Path | None = None,
    missing_ok: bool = False,
    bucket: str | None = None,
) -> list[LocalFile]:
    """Every regular file under ``source``, sorted by relative path (see the module rules):
    ``iter_walk``'s files, as a list."""
    return list(
        iter_walk(
            source,
            follow_links=follow_links,
            include=include,
            exclude=exclude,
            skip=skip,
            missing_ok=missing_ok,
            bucket=bucket,
        )
    )


def iter_walk(
    source: str | Path,
    *,
    follow_links: bool = False,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    skip: Path | None = None,
    missing_ok: bool = False,
    bucket: str | None = None,
) -> Iterator[LocalFile]:
    """Every regular file under ``source``, in order of relative path (see the module
    rules), found as it is taken: only the folders being walked are held, one listing each,
    so a walk of 100,000 files never holds 100,000 of anything.

    Args:
        source: the folder to walk.
        follow_links: follow links that lead outside ``source`` (loops are still cut).
        include, exclude: shell globs on the relative path.
        skip: a folder never to descend into (a local bucket's own root, so that a bucket is
            not uploaded into itself).
        missing_ok: a ``source`` that does not exist is empty instead of an error (for a
            destination that a mirror will create).
        bucket: named in errors, when the walk is for a bucket operation.

    Raises:
        LocalPathError: ``source`` does not exist (unless ``missing_ok``), is a file (both
            before the first file), or a folder under it cannot be read (when reached).
    """
    source = Path(source).expanduser()
    if not source.exists():
        if missing_ok:
            return iter(())
        raise LocalPathError(
            f"local folder {source} does not exist: check the path; nothing was done",
            bucket=bucket,
        )
    if not source.is_dir():
        raise LocalPathError(
            f"{source} is a file, not a folder: use {named('put_file')} for one file",
            bucket=bucket,
        )
    walker = _Walker(source, follow_links, skip.resolve() if skip else None, bucket)
    found = walker.folder(source, "", (_identity(source),))
    return (f for f in found if wanted(f.rel, include, exclude))


def _identity(path: Path) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_dev, st.st_ino


class _Walker:
    def __init__(self, source: Path, follow_links: bool, skip: Path | None, bucket: str | None):
        self.source = source
        self.root = source.resolve()
        self.follow_links = follow_links
        self.skip = skip
        self.bucket = bucket

    def folder(
        self, here: Path, rel: str, ancestors: tuple[tuple[int, int], ...]
    ) -> Iterator[LocalFile]:
        """The files under ``here`` in order of relative path: a folder sorts by its name
        and ``/``, as its files' paths do, so each folder's listing is sorted once, alone."""
        for name, st in self._entries(here):
            child = rel + name
            if stat.S_ISDIR(st.st_mode):
                yield from self._descend(here / name, child, name, st, ancestors)
            else:
                yield LocalFile(child, st.st_size, st.st_mtime_ns, self.source)

    def _entries(self, here: Path) -> list[tuple[str, os.stat_result]]:
        """The folders and regular files in ``here`` (links followed where allowed), sorted
        as their paths will be."""
        try:
            listed = list(os.scandir(here))
        except OSError as err:
            raise LocalPathError(
                f"cannot read the folder {here} ({err.strerror}): check its permissions",
                bucket=self.bucket,
            ) from err
        kept: list[tuple[str, str, os.stat_result]] = []
        for entry in listed:
            if entry.is_symlink() and not self._may_follow(Path(entry.path)):
                continue
            try:
                st = os.stat(entry.path)
            except OSError:
                continue  # a dangling link, or gone since it was listed
            if stat.S_ISDIR(st.st_mode):
                kept.append((entry.name + "/", entry.name, st))
            elif stat.S_ISREG(st.st_mode) and not is_part_file(entry.name):
                kept.append((entry.name, entry.name, st))
        kept.sort(key=lambda item: item[0])
        return [(name, st) for _, name, st in kept]

    def _descend(
        self,
        path: Path,
        rel: str,
        name: str,
        st: os.stat_result,
        ancestors: tuple[tuple[int, int], ...],
    ) -> Iterator[LocalFile]:
        if name == RESERVED or (self.skip is not None and path.resolve() == self.skip):
            return
        ident = (st.st_dev, st.st_ino)
        if ident in ancestors:
            log.warning("not following %s: it links back to a folder above it (a loop)", path)
            return
        yield from self.folder(path, rel + "/", (*ancestors, ident))

    def _may_follow(self, path: Path) -> bool:
        if self.follow_links or path.resolve().is_relative_to(self.root):
            return True
        log.warning(
            "not uploading %s: it links outside %s (follow_links=True to allow)", path, self.root
        )
        return False
