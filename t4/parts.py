"""Part files: a download is written to a hidden temporary file beside its target and
renamed onto it whole, so a reader never sees half a file; the temporary name carries the
writer's process id, so a later run removes the parts a killed process left
(``clean_stale_parts``) and never one still being written.

Below both ``t4.transfer`` (whose plans write through it) and ``t4.backends`` (the local
backend cleans its own temporary folder with it; the S3 backend writes downloads with
``write_at``).
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from t4 import meta as helium
from t4.walk import PART_MARK

__all__ = [
    "PART_MARK",
    "Folders",
    "atomic_write_target",
    "clean_stale_parts",
    "part_name",
    "write_at",
    "write_whole",
]

#: Bytes handed to the kernel per write. The page cache sizes a file's folios by the writes
#: that fill it: 1 MiB writes take 1 MiB folios, which the kernel carves from its large free
#: blocks, the very ones a virtual machine's balloon hands back to the host (free page
#: reporting), so each of their pages costs the host a fault as it is first written again.
#: 32 KiB folios come from the per-CPU lists of recently freed pages. On a 2-core Firecracker
#: guest, a fetch of 4 x 64 MiB right after an upload took 1.00 s with 1 MiB writes and
#: 0.59 s with these (s5cmd, whose Go copies also write 32 KiB: 0.36 s); with warm pages,
#: both sizes took 0.42-0.46 s. See docs/performance.md, "W2 down".
WRITE = 32 * 1024


class Folders:
    """The destination folders of one plan known to exist: each is made (or found) once,
    when the first file lands in it, not checked again for every file."""

    def __init__(self) -> None:
        self._known: set[Path] = set()

    def ensure(self, folder: Path) -> None:
        """Make ``folder`` (and its parents) unless this plan has already seen it."""
        if folder not in self._known:
            folder.mkdir(parents=True, exist_ok=True)
            self._known.add(folder)  # a set add: safe from many threads under the GIL


#: Numbers the temporary files of this process (with its pid: unique, no random source).
_PART_NUMBERS = itertools.count()


def part_name(name: str) -> str:
    """The temporary name a download of ``name`` is written under, beside it: hidden, with
    this process's id, so a later run can tell a part left by a killed process from one
    still being written (see ``clean_stale_parts``)."""
    return f".{name}{PART_MARK}{os.getpid()}-{next(_PART_NUMBERS)}"


@contextlib.contextmanager
def atomic_write_target(path: Path, folders: Folders | None = None) -> Iterator[Path]:
    """A temporary path beside ``path``, renamed onto it if the block succeeds (its folder
    made first; ``folders``: the plan's folders already made).

    The temporary name carries the process id, so a later run can tell a part left by a
    killed process from one still being written (see ``clean_stale_parts``).
    """
    if folders is not None:
        folders.ensure(path.parent)
    elif not os.path.isdir(path.parent):  # one stat in the common case, not a failed mkdir
        path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(part_name(path.name))
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def write_at(fd: int, data: Any, offset: int) -> int:
    """Write all of ``data`` (a bytes-like object) to ``fd`` from ``offset`` on, ``WRITE``
    bytes at a time; the offset after the last byte."""
    view = memoryview(data).cast("B")
    done = 0
    while done < len(view):
        done += os.pwrite(fd, view[done : done + WRITE], offset + done)
    return offset + done


def write_whole(path: Path, data: bytes, meta: dict[str, Any], folders: Folders) -> None:
    """Write ``data`` to ``path`` whole or not at all, by descriptor: an exclusive temporary
    file beside it, written, its helium attribute set on the descriptor (where the
    filesystem allows), then renamed onto ``path``. A folder at ``path`` is an
    ``IsADirectoryError``; on any error nothing is left behind."""
    folders.ensure(path.parent)
    folder, name = str(path.parent), path.name
    while True:
        tmp = os.path.join(folder, part_name(name))
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        except FileExistsError:  # left by an earlier process of this pid: take the next
            continue
        break
    try:
        try:
            write_at(fd, data, 0)
            helium.write_xattr(fd, meta)
        finally:
            os.close(fd)
        os.rename(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def clean_stale_parts(folders: Iterable[Path]) -> int:
    """Remove partial downloads left in ``folders`` by processes that no longer run."""
    removed = 0
    for folder in set(folders):
        try:
            entries = list(os.scandir(folder))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for entry in entries:
            pid = _part_owner(entry.name)
            if pid is not None and not _alive(pid):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
                    removed += 1
    return removed


def _part_owner(name: str) -> int | None:
    if not name.startswith(".") or PART_MARK not in name:
        return None
    tail = name.rsplit(PART_MARK, 1)[1]
    pid = tail.split("-", 1)[0]
    return int(pid) if pid.isdigit() else None


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
