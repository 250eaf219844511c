"""A folder bucket never reads, writes or deletes outside its folder, even while another
process swaps a folder inside it for a link to an outside folder and back, again and again,
between t4 checking a key's path and using it. Each key is walked from the root by
descriptor (``t4.backends.local_paths``), so there is no check-then-use gap to hit."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from files import write_tree
from test_local_bucket import tree

import t4

#: Swaps ``lake/d`` for a link to ``outside`` and back until ``stop`` exists, each swap one
#: atomic exchange of names (Linux's renameat2 RENAME_EXCHANGE), so ``d`` is always either
#: the folder or the link; prints "ready" after the first swap, its count when it stops.
SWAPPER = textwrap.dedent(
    """
    import ctypes, os, sys
    lake, outside, stop = sys.argv[1:4]
    d, spare = os.path.join(lake, "d").encode(), os.path.join(lake, "d.spare").encode()
    os.symlink(outside, spare)
    libc = ctypes.CDLL(None, use_errno=True)
    swaps = 0
    while not os.path.exists(stop):
        for _ in range(2):  # d becomes the link, then the folder again
            if libc.renameat2(-100, d, -100, spare, 2) != 0:
                raise OSError(ctypes.get_errno(), "renameat2")
        if swaps == 0:
            print("ready", flush=True)
        swaps += 1
    print(swaps, flush=True)
    """
)

NAMES = [f"k{i}.txt" for i in range(8)]
OUTSIDE = b"OUTSIDE, never to be read or changed by t4"


@pytest.fixture
def swapping(tmp_path: Path) -> Iterator[tuple[Path, Path, Callable[[], bool], Callable[[], int]]]:
    """``lake/d`` (in-root files of the names in ``NAMES``) swapped with a link to
    ``outside`` (files of the same names and one more) by a second process; the third item
    tells whether the swapper still runs, the fourth stops it and returns how many swaps it
    made."""
    lake = write_tree(tmp_path / "lake", {f"d/{n}": b"inside " + n.encode() for n in NAMES})
    outside = write_tree(tmp_path / "outside", {n: OUTSIDE for n in [*NAMES, "only-out.txt"]})
    stop = tmp_path / "stop"
    swapper = subprocess.Popen(
        [sys.executable, "-c", SWAPPER, str(lake), str(outside), str(stop)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert swapper.stdout is not None
    assert swapper.stdout.readline() == "ready\n"  # it has swapped once: it is running

    def running() -> bool:
        return swapper.poll() is None

    def finish() -> int:
        stop.touch()
        out, _ = swapper.communicate(timeout=60)
        assert swapper.returncode == 0, out
        return int(out)

    try:
        yield lake, outside, running, finish
    finally:
        if swapper.poll() is None:
            finish()


def _operations(b: t4.Bucket, src: Path, dest: Path) -> list[Callable[[str], object]]:
    """Reads, writes and deletes of one key, as users make them."""
    return [
        lambda key: b.get_bytes(key),
        lambda key: b.put(key, b"inside, written by t4"),
        lambda key: b.head(key),
        lambda key: b.fetch(key, dest / "got.txt"),
        lambda key: b.put_file(key, src),
        lambda key: b.deserialize(key),
        lambda key: b.delete(key, missing_ok=True),
        lambda key: b.set_meta(key, {"m": 1}),
        lambda key: b.put(key.replace(".txt", "/new.txt"), b"a new folder, inside"),
        lambda key: b.delete(key.replace(".txt", "/new.txt"), missing_ok=True),
        lambda key: [info.key for info in b.ls("d/")],
    ]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="renameat2 is Linux's")
def test_a_folder_swapped_for_an_outside_link_is_never_gone_through(
    tmp_path: Path, swapping: tuple[Path, Path, Callable[[], bool], Callable[[], int]]
) -> None:
    """Thousands of reads, writes, deletes and listings under ``d/`` while ``d`` flips
    between a folder and a link out: each succeeds on in-root data or raises a T4Error; the
    outside folder is never changed, its bytes are never returned, its files never listed."""
    lake, outside, running, finish = swapping
    before = tree(outside)
    src = write_tree(tmp_path / "src", {"up.txt": b"inside, uploaded by t4"}) / "up.txt"
    dest = tmp_path / "dest"
    dest.mkdir()
    seen = {True: 0, False: 0}  # times d was seen as a link, and as a folder
    outcomes: dict[str, int] = {}
    with t4.Bucket(lake) as b:
        ops = _operations(b, src, dest)
        i = 0
        while i < 2000 or min(seen.values()) < 50:  # both states seen many times
            assert running(), "the swapper stopped"
            seen[os.path.islink(lake / "d")] += 1
            key = f"d/{NAMES[i % len(NAMES)]}"
            try:
                got = ops[i % len(ops)](key)
            except t4.T4Error as err:
                outcomes[type(err).__name__] = outcomes.get(type(err).__name__, 0) + 1
            else:
                outcomes["ok"] = outcomes.get("ok", 0) + 1
                assert not (isinstance(got, list) and "d/only-out.txt" in got), (i, got)
                assert OUTSIDE.decode() not in (
                    got.decode() if isinstance(got, bytes) else str(got)
                ), (i, key)
                fetched = dest / "got.txt"
                if fetched.exists():
                    assert OUTSIDE not in fetched.read_bytes(), (i, key)
                    fetched.unlink()
            i += 1
    swaps = finish()
    assert swaps > 0 and outcomes.get("ok", 0) > 0, (swaps, outcomes)
    assert tree(outside) == before, outcomes


def test_links_that_stay_inside_are_followed_however_they_are_written(tmp_path: Path) -> None:
    """t4 resolves each link itself: absolute, relative, chained, out of the folder's name
    and back in; reads go through them, writes replace no link and land where they lead."""
    lake = write_tree(tmp_path / "lake", {"data/a.txt": "a", "deep/keep.txt": "k"})
    links = {
        "abs": str(lake / "data"),
        "alias": "data",
        "chain": "alias",
        "back": "../lake/data",
        "deep/up": "../data",
        "a-file.txt": str(lake / "data" / "a.txt"),
    }
    for name, target in links.items():
        (lake / name).symlink_to(target)
    with t4.Bucket(lake) as b:
        for folder in ("abs", "alias", "chain", "back", "deep/up"):
            assert b.get_bytes(f"{folder}/a.txt") == b"a", folder
            b.put(f"{folder}/new/b.txt", folder)
            assert (lake / "data" / "new" / "b.txt").read_text() == folder
            b.delete(f"{folder}/new/b.txt")  # prunes data/new, never the link or data
            assert not (lake / "data" / "new").exists() and (lake / "data").is_dir()
        assert b.head("a-file.txt")[0].size == 1 and b.get_bytes("a-file.txt") == b"a"
    assert {name: os.readlink(lake / name) for name in links} == links


def test_a_loop_of_links_is_a_named_error(tmp_path: Path) -> None:
    """``a -> b``, ``b -> a``: reads, writes and deletes through them raise InvalidKeyError
    naming the key and a link of the loop, never a bare OSError (ELOOP)."""
    lake = write_tree(tmp_path / "lake", {"data/x.txt": "x"})
    (lake / "a").symlink_to("b")
    (lake / "b").symlink_to("a")
    before = tree(lake)
    with t4.Bucket(lake) as b:
        for call in (
            lambda: b.get_bytes("a/x.txt"),
            lambda: b.head("a/x.txt"),
            lambda: b.put("a/x.txt", "y"),
            lambda: b.delete("a/x.txt"),
            lambda: b.keys("a/"),
        ):
            with pytest.raises(t4.InvalidKeyError, match="a loop of links") as err:
                call()
            assert "'a/x.txt'" in str(err.value) or "'a/'" in str(err.value)
            assert f"through the link {lake / 'a'}" in str(err.value) or (
                f"through the link {lake / 'b'}" in str(err.value)
            )
    assert tree(lake) == before


def test_an_absolute_link_into_the_reserved_folder_is_refused(tmp_path: Path) -> None:
    lake = write_tree(tmp_path / "lake", {"a.txt": "a"})
    with t4.Bucket(lake) as b:
        b.put("b.txt", "b", meta={"m": 1})
        (lake / "peek").symlink_to(lake / ".t4" / "meta")
        with pytest.raises(t4.InvalidKeyError, match=r"into t4's reserved \.t4/ folder"):
            b.get_bytes("peek/x.json")
        with pytest.raises(t4.InvalidKeyError, match=r"into t4's reserved \.t4/ folder"):
            b.put("peek/x.json", {"a": 1})
