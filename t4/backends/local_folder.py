"""One folder of a folder bucket, a page at a time, as S3 lists with ``Delimiter="/"``:
what is directly in it, sub-folders as prefixes, in UTF-8 byte order (as S3), and only the
page's own files stat-ed."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from t4.backends.base import FolderPage, ObjectInfo
from t4.walk import RESERVED, is_part_file

__all__ = ["list_folder"]


Stat = Callable[[str], os.stat_result | None]


def list_folder(
    root: Path, folder: Path, prefix: str, token: str | None, limit: int, stat: Stat
) -> FolderPage:
    """``LocalBackend.list_folder`` of ``folder`` (the backend finds it for ``prefix``, and
    ``stat`` is its own, so links are judged as ``list`` judges them): the token is the last
    key of the previous page."""
    keys = sorted((prefix + name for name in _entries(folder, folder == root)), key=str.encode)
    if token is not None:
        keys = [key for key in keys if key.encode() > token.encode()]
    page = keys[:limit]
    folders, objects = [], []
    for key in page:
        if key.endswith("/"):
            folders.append(key)
        elif (info := _object(stat, root, key)) is not None:
            objects.append(info)
    more = len(keys) > limit
    return FolderPage(folders, objects, page[-1] if more else None)


def _entries(folder: os.PathLike[str] | str, at_root: bool) -> list[str]:
    """Names in ``folder``: files as they are, folders with a ``/`` (linked folders are
    left out, as ``list`` never descends into them, and so are part files and the root's
    ``.t4``, as ``list`` leaves them out)."""
    found = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if at_root and entry.name == RESERVED:
                continue
            if entry.is_dir(follow_symlinks=False):
                found.append(entry.name + "/")
            elif not entry.is_dir() and not is_part_file(entry.name):
                found.append(entry.name)
    return found


def _object(stat: Stat, root: Path, key: str) -> ObjectInfo | None:
    st = stat(str(root / key))
    if st is None:
        return None
    modified = datetime.fromtimestamp(st.st_mtime, tz=UTC)
    return ObjectInfo(key=key, size=st.st_size, etag=None, last_modified=modified)
