"""What every plan shares: the file test, the comparison of local files with objects by
ETag, the keys under a prefix, and one listing's worth of keys (``shared_prefix``,
``resolve``).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from t4.backends.base import Backend, ObjectInfo
from t4.errors import InvalidKeyError, KeyNotFoundError
from t4.keys import check_key
from t4.surface import named
from t4.transfer import TransferSummary

if TYPE_CHECKING:
    from t4.state import TransferState

#: Told of each key refused while planning (it fails alone; the rest are planned).
Refused = Callable[[str, InvalidKeyError], None]


def regular_stat(path: Path) -> os.stat_result | None:
    """The file's stat if it is a regular file (through links), else None."""
    try:
        st = os.stat(path)
    except OSError:
        return None  # a dangling link, or gone since the walk saw it
    return st if stat.S_ISREG(st.st_mode) else None


def identical_files(
    backend: Backend, state: TransferState, pairs: list[tuple[ObjectInfo, Path]]
) -> set[str]:
    """Keys of the objects whose local file (same size, checked by the caller) holds the same
    bytes, by ETag: the file's ETag as ``backend`` computes it (cached, one batch), else as
    another tool's part size would give it (for objects that tool uploaded)."""
    local = state.file_etags([path for _, path in pairs], backend.etag_kind, backend.etag_of_file)
    same = set()
    for (obj, path), etag in zip(pairs, local, strict=True):
        if not obj.etag:
            continue
        if etag == obj.etag or any(
            state.file_etag(path, kind, compute) == obj.etag
            for kind, compute in backend.other_etag_kinds(obj.size, obj.etag)
        ):
            same.add(obj.key)
    return same


def keys_under(
    backend: Backend, objects: Iterable[ObjectInfo], prefix: str
) -> Iterator[tuple[ObjectInfo, str]]:
    """Each object (directory markers left out) with its key relative to ``prefix``, as
    ``objects`` come; a key not under ``prefix`` is refused (plans take every object before
    anything moves)."""
    for obj in objects:
        if obj.key.endswith("/"):
            continue
        if not obj.key.startswith(prefix):
            raise InvalidKeyError(
                f"key {obj.key!r} is not under the prefix {prefix!r} in {backend.uri}; "
                "give a prefix that every key starts with",
                bucket=backend.uri,
                key=obj.key,
            )
        yield obj, obj.key[len(prefix) :]


def shared_prefix(keys: list[str]) -> str:
    """The longest folder prefix every key shares: what one listing must cover.

    Example:
        >>> shared_prefix(["raw/a/x.csv", "raw/b.csv"])
        'raw/'
    """
    if not keys:
        return ""
    shared = os.path.commonprefix(keys)  # noqa: RUF071  # a string prefix is what S3 lists by
    return shared[: shared.rfind("/") + 1]


def resolve(
    backend: Backend,
    objects: Iterable[ObjectInfo | str],
    listing: Iterable[ObjectInfo] | None,
    summary: TransferSummary,
) -> list[ObjectInfo]:
    """``ObjectInfo`` as given; keys looked up in ``listing`` (else in one listing of their
    shared prefix). A key not found is a failure of its own in ``summary``."""
    given = list(objects)
    keys = [check_key(o, backend.uri) for o in given if not isinstance(o, ObjectInfo)]
    if not keys:
        return [o for o in given if isinstance(o, ObjectInfo)]
    if listing is None:
        listing = backend.list(shared_prefix(keys))
    known = {o.key: o for o in listing}
    found: list[ObjectInfo] = []
    for obj in given:
        if isinstance(obj, ObjectInfo):
            found.append(obj)
        elif obj in known:
            found.append(known[obj])
        else:
            summary.failed[obj] = KeyNotFoundError(
                f"no object {obj!r} in {backend.uri}; list what is there with {named('keys()')}",
                bucket=backend.uri,
                key=obj,
            )
    return found
