"""A folder bucket's keys walked from its root by descriptor, so that no link can lead a read,
write or delete out of the folder, even one made between t4 looking and t4 acting.

Each folder of a key's path is opened relative to its parent's descriptor with
``O_NOFOLLOW``; a folder that is a link is read (``readlink``) and resolved here: one that
stays inside the root is walked from the root again, one that leads out (or into ``.t4``)
is an ``Escape``. The object's file is then opened, made, renamed or unlinked by its name
in its folder's descriptor, never by a path the kernel would resolve again. A link swapped
in after a folder was opened changes nothing: the descriptor is of the folder t4 checked.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from t4.walk import RESERVED

__all__ = ["Escape", "Place", "Walker"]

_ROOT = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_DIR = _ROOT | os.O_NOFOLLOW
#: A file to read: never through a link, nor blocking on a pipe put where a file was.
_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
#: As the kernel's own limit on links in one path (MAXSYMLINKS).
_MAX_LINKS = 40


class Escape(Exception):
    """The link ``link`` leads a key to ``target``, where t4 does not go: ``why`` is "out"
    (of the root), "reserved" (into ``.t4``) or "loop" (one of too many links, a circle)."""

    def __init__(self, link: Path, target: str, why: str):
        super().__init__(f"{link} -> {target}")
        self.link, self.target, self.why = link, target, why


class Place:
    """Where a key's file is: the folders walked to it (name, open descriptor), from the
    root down, and the file's ``name`` in the last. Close it when done (``with``)."""

    __slots__ = ("folders", "linked", "name")

    def __init__(self, root_fd: int):
        self.folders: list[tuple[str, int]] = [("", root_fd)]
        self.name = ""
        #: How many of ``folders`` (the root, and those a link leads to) a delete keeps.
        self.linked = 1

    @property
    def fd(self) -> int:
        """The descriptor of the folder the file is in."""
        return self.folders[-1][1]

    def names(self) -> list[str]:
        """The folders below the root, by name: the file's real path, as walked."""
        return [name for name, _ in self.folders[1:]]

    def back_to_root(self) -> None:
        for _, fd in self.folders[1:]:
            os.close(fd)
        del self.folders[1:]

    def prune(self) -> None:
        """Remove the folders walked to the file while empty, deepest first, by name in
        their parent's descriptor; never the root, a folder a link leads to, nor a link."""
        for at in range(len(self.folders) - 1, self.linked - 1, -1):
            try:
                os.rmdir(self.folders[at][0], dir_fd=self.folders[at - 1][1])
            except OSError as err:
                if err.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOENT, errno.ENOTDIR):
                    return
                raise

    def close(self) -> None:
        for _, fd in self.folders:
            os.close(fd)
        self.folders.clear()

    def __enter__(self) -> Place:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()


class Walker:
    """Walks keys (as path parts) under ``root`` (a resolved path) by descriptor."""

    def __init__(self, root: Path):
        self.root = root
        self._real = str(root)

    def place(self, parts: Sequence[str], *, create: bool = False) -> Place:
        """The folder of the file ``parts`` names, open; its folders made when ``create``.
        The file's own name is not followed: see ``follow``.

        Raises:
            Escape: a link leads out of the root, or into ``.t4``.
            FileNotFoundError: a folder is missing (and not ``create``), or the root is.
            NotADirectoryError: a file is where a folder of the path must be.
        """
        try:
            place = Place(os.open(self.root, _ROOT))
        except FileNotFoundError:
            if not create:
                raise
            self.root.mkdir(parents=True, exist_ok=True)  # the first write makes the folder
            place = Place(os.open(self.root, _ROOT))
        try:
            for attempt in range(_MAX_LINKS):
                try:
                    self._walk(place, list(reversed(parts)), create, 0)
                    return place
                except FileNotFoundError:  # a folder went (a delete pruned it) as it was
                    if not create or attempt == _MAX_LINKS - 1:  # made: walk it again
                        raise
                    place.back_to_root()
                    place.linked = 1
        except BaseException:
            place.close()
            raise
        raise AssertionError("unreachable")  # pragma: no cover

    def follow(self, place: Place, links: int = 0) -> int:
        """If ``place.name`` is a link, walk ``place`` to where it leads (or raise
        ``Escape``); the number of links followed so far, or -1 when it is no link."""
        try:
            target = os.readlink(place.name, dir_fd=place.fd)
        except OSError as err:
            if err.errno in (errno.EINVAL, errno.ENOENT, errno.ENOTDIR):
                return -1  # a file, a folder, or nothing: no link
            raise
        pending: list[str] = []
        links = self._resolve(place, place.name, target, pending, links)
        self._walk(place, pending, False, links)
        return links

    def check(self, place: Place) -> None:
        """Raise ``Escape`` if ``place.name`` is a link that leads out, as a write or delete,
        which replaces or removes the link itself, refuses it; ``place`` is left as it is."""
        if not _is_link(place):
            return
        try:
            with self.place([*place.names(), place.name]) as other:
                self.follow(other)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            pass  # a link to nothing (yet) inside the root

    def open(self, place: Place) -> int:
        """Open ``place``'s file for reading, following links as ``follow`` does; only a
        regular file (``IsADirectoryError`` for a folder, ``FileNotFoundError`` for a pipe or
        device)."""
        links = 0
        while True:
            try:
                fd = os.open(place.name, _FILE, dir_fd=place.fd)
            except OSError as err:
                if err.errno != errno.ELOOP:
                    raise
                links = self.follow(place, links)
                if links < 0:  # pragma: no cover - ELOOP from something else than a link
                    raise
                continue
            mode = os.fstat(fd).st_mode
            if stat.S_ISREG(mode):
                return fd
            os.close(fd)
            raise (IsADirectoryError if stat.S_ISDIR(mode) else FileNotFoundError)(
                errno.ENOENT, "not a regular file", place.name
            )

    def lstat(self, place: Place) -> os.stat_result:
        """The stat of ``place``'s file, links followed as ``follow`` does."""
        links = 0
        while stat.S_ISLNK(
            (st := os.stat(place.name, dir_fd=place.fd, follow_symlinks=False)).st_mode
        ):
            links = self.follow(place, links)
        return st

    def _walk(self, place: Place, pending: list[str], create: bool, links: int) -> None:
        """Open the folders of ``pending`` (a path's parts, last first) from ``place`` on,
        leaving the last part as ``place.name``."""
        made = 0
        while len(pending) > 1:
            name = pending.pop()
            try:
                fd = os.open(name, _DIR, dir_fd=place.fd)
            except FileNotFoundError:
                if not create or made > _MAX_LINKS:  # made, and removed again and again
                    raise
                made += 1
                with contextlib.suppress(FileExistsError):  # another writer's, or a link:
                    os.mkdir(name, dir_fd=place.fd)  # opening it again tells which
                pending.append(name)
                continue
            except OSError as err:
                if err.errno not in (errno.ELOOP, errno.ENOTDIR):
                    raise
                target = self._link(place, name)
                if target is None:  # a folder again (swapped back): open it again
                    if made > _MAX_LINKS:
                        raise FileNotFoundError(
                            errno.ENOENT, "a folder that keeps changing", name
                        ) from None
                    made += 1
                    pending.append(name)
                    continue
                links = self._resolve(place, name, target, pending, links)
                continue
            place.folders.append((name, fd))
        if not pending:  # a link to the root itself
            raise IsADirectoryError(errno.EISDIR, "the bucket folder itself", self._real)
        place.name = pending[0]

    def _link(self, place: Place, name: str) -> str | None:
        """What the link ``name`` holds; None when it is a folder now (it was swapped back),
        NotADirectoryError when it is a file."""
        try:
            return os.readlink(name, dir_fd=place.fd)
        except OSError as err:
            if err.errno != errno.EINVAL:
                raise
        if stat.S_ISDIR(os.stat(name, dir_fd=place.fd, follow_symlinks=False).st_mode):
            return None
        raise NotADirectoryError(errno.ENOTDIR, "a file is in the way", name)

    def _resolve(self, place: Place, name: str, target: str, pending: list[str], links: int) -> int:
        """Put where the link ``name`` (in ``place``'s folder) leads before ``pending``,
        relative to the root, and take ``place`` back to the root to walk it."""
        link = Path(self._real, *place.names(), name)
        if links >= _MAX_LINKS:
            raise Escape(link, target, "loop")
        # Lexically: every part is then walked by descriptor, links in it checked in turn.
        full = os.path.normpath(os.path.join(link.parent, target))
        if full != self._real and not full.startswith(self._real + os.sep):
            raise Escape(link, full, "out")
        rel = full[len(self._real) + 1 :].split(os.sep) if full != self._real else []
        if rel and rel[0] == RESERVED:
            raise Escape(link, full, "reserved")
        place.back_to_root()
        place.linked = 1 + len(rel) - (0 if pending else 1)
        pending.extend(reversed(rel))
        return links + 1


def _is_link(place: Place) -> bool:
    try:
        st = os.stat(place.name, dir_fd=place.fd, follow_symlinks=False)
    except (FileNotFoundError, NotADirectoryError):
        return False
    return stat.S_ISLNK(st.st_mode)
