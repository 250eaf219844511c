"""One folder of a folder bucket, a page at a time, as S3 lists with ``Delimiter="/"``:
what is directly in it, sub-folders as prefixes, in UTF-8 byte order (as S3), and only the
page's own files stat-ed."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from t4.backends.base import FolderPage, ObjectInfo
from t4.walk import RESERVED

if TYPE_CHECKING:
    from t4.backends.local import LocalBackend

__all__ = ["list_folder"]


def list_folder(backend: LocalBackend, prefix: str, token: str | None, limit: int) -> FolderPage:
    """``LocalBackend.list_folder``: the token is the last key of the previous page. (The
    backend's own helpers find the folder and stat a file, so links are judged as ``list``
    judges them.)"""
    if not backend.root.is_dir():
        raise backend._no_root(prefix)
    folder = backend._walk_start(prefix)
    if folder is None:
        return FolderPage([], [], None)
    keys = sorted(
        (prefix + name for name in _entries(folder, folder == backend.root)), key=str.encode
    )
    if token is not None:
        keys = [key for key in keys if key.encode() > token.encode()]
    page = keys[:limit]
    folders, objects = [], []
    for key in page:
        if key.endswith("/"):
            folders.append(key)
        elif (info := _object(backend, key)) is not None:
            objects.append(info)
    more = len(keys) > limit
    return FolderPage(folders, objects, page[-1] if more else None)


def _entries(folder: os.PathLike[str] | str, at_root: bool) -> list[str]:
    """Names in ``folder``: files as they are, folders with a ``/`` (linked folders are
    left out, as ``list`` never descends into them)."""
    found = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if at_root and entry.name == RESERVED:
                continue
            if entry.is_dir(follow_symlinks=False):
                found.append(entry.name + "/")
            elif not entry.is_dir():
                found.append(entry.name)
    return found


def _object(backend: LocalBackend, key: str) -> ObjectInfo | None:
    st = backend._listed_stat(str(backend.root / key))
    if st is None:
        return None
    modified = datetime.fromtimestamp(st.st_mtime, tz=UTC)
    return ObjectInfo(key=key, size=st.st_size, etag=None, last_modified=modified)
