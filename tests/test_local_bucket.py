"""What only a local-folder bucket can get wrong: links that lead out of the folder, the mode
of the files it creates, and metadata of a file another tool replaced. Checked through ``os``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from files import write_tree

import t4


def tree(root: Path) -> dict[str, Any]:
    """Every entry under ``root`` as os sees it, links not followed: what a call may change."""
    found: dict[str, Any] = {}
    for dirpath, dirnames, names in os.walk(root):
        for name in [*names, *dirnames]:
            path = Path(dirpath, name)
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                found[rel] = ("link", os.readlink(path))
            elif path.is_file():
                found[rel] = path.read_bytes()
            else:
                found[rel] = "dir"
    return found


@pytest.fixture
def linked(tmp_path: Path) -> tuple[Path, Path]:
    """A bucket folder whose ``link`` leads to a sibling folder, and ``secret.txt`` to a file
    in it: ``lake/link -> ../outside``, ``lake/secret.txt -> ../outside/secret.txt``."""
    lake, outside = tmp_path / "lake", tmp_path / "outside"
    write_tree(outside, {"secret.txt": "keep", "sub/deep.txt": "keep too"})
    write_tree(lake, {"data/ok.txt": "fine"})
    (lake / "link").symlink_to("../outside")
    (lake / "secret.txt").symlink_to("../outside/secret.txt")
    return lake, outside


CALLS: dict[str, Callable[[t4.Bucket, Path], object]] = {
    "put": lambda b, src: b.put("link/new.txt", "x"),
    "put into a new folder": lambda b, src: b.put("link/made/new.txt", "x"),
    "put_file": lambda b, src: b.put_file("link/new.txt", src / "a.txt"),
    "put_dir": lambda b, src: b.put_dir("link/up", src),
    "put_dir to a file link": lambda b, src: b.put_dir("", src / "b"),
    "delete": lambda b, src: b.delete("link/secret.txt"),
    "delete missing_ok": lambda b, src: b.delete("link/secret.txt", missing_ok=True),
    "delete a file link": lambda b, src: b.delete("secret.txt"),
    "delete_dir": lambda b, src: b.delete_dir("link/"),
    "delete_dir deeper": lambda b, src: b.delete_dir("link/sub"),
    "deserialize": lambda b, src: b.deserialize("link/secret.txt"),
    "deserialize a file link": lambda b, src: b.deserialize("secret.txt"),
    "get_meta": lambda b, src: b.get_meta("link/secret.txt"),
    "set_meta": lambda b, src: b.set_meta("link/secret.txt", {"a": 1}),
    "set_meta on a file link": lambda b, src: b.set_meta("secret.txt", {"a": 1}),
    "fetch a file": lambda b, src: b.fetch("link/secret.txt", src.parent / "out/"),
    "fetch a file link": lambda b, src: b.fetch("secret.txt", src.parent / "out/"),
    "fetch a folder": lambda b, src: b.fetch("link/", src.parent / "out"),
    "keys": lambda b, src: b.keys("link/"),
}


@pytest.mark.parametrize("call", list(CALLS), ids=list(CALLS))
def test_keys_through_a_link_out_of_the_folder_are_refused(
    linked: tuple[Path, Path], tmp_path: Path, call: str
) -> None:
    lake, outside = linked
    src = write_tree(tmp_path / "src", {"a.txt": "a", "b/secret.txt": "overwrite?"})
    before = (tree(lake), tree(outside), tree(src))
    with t4.Bucket(lake) as b, pytest.raises((t4.InvalidKeyError, t4.TransferError)) as err:
        CALLS[call](b, src)
    if isinstance(err.value, t4.TransferError):  # bulk: the one key failed alone
        (only,) = err.value.failures.values()
        assert isinstance(only, t4.InvalidKeyError)
        err = pytest.ExceptionInfo.from_exc_info((type(only), only, only.__traceback__))
    message = str(err.value)
    links = [f"through the link {lake / name} -> {target}" for name, target in
             (("link", outside), ("secret.txt", outside / "secret.txt"))]  # fmt: skip
    assert any(link in message for link in links), message
    assert b.uri in message and "outside the bucket folder" in message
    assert "nothing was changed" in message
    assert err.value.key and repr(err.value.key) in message and err.value.bucket == b.uri
    assert (tree(lake), tree(outside), tree(src)) == before
    assert not (tmp_path / "out").exists()


def test_the_error_names_bucket_key_and_link(linked: tuple[Path, Path]) -> None:
    lake, outside = linked
    with t4.Bucket(lake) as b, pytest.raises(t4.InvalidKeyError) as err:
        b.put("link/sub/new.txt", "x")
    assert str(err.value) == (
        f"key 'link/sub/new.txt' in {lake.as_uri()} leads outside the bucket folder through "
        f"the link {lake / 'link'} -> {outside}; nothing was changed. A folder bucket only "
        "reads and writes inside its folder: remove the link, or open the folder it points "
        "to as a bucket of its own"
    )
    assert (err.value.bucket, err.value.key) == (lake.as_uri(), "link/sub/new.txt")


def test_links_leading_out_are_not_objects(linked: tuple[Path, Path]) -> None:
    """Listings leave them out, so a whole-bucket delete removes only what is inside."""
    lake, outside = linked
    before = tree(outside)
    with t4.Bucket(lake) as b:
        assert b.keys() == ["data/ok.txt"]
        b.delete_dir("", allow_root=True)
    assert tree(outside) == before
    assert sorted(k for k in tree(lake) if not k.startswith(".t4")) == ["link", "secret.txt"]


def test_a_link_into_the_reserved_folder_is_refused(tmp_path: Path) -> None:
    lake = write_tree(tmp_path / "lake", {"a.txt": "a"})
    with t4.Bucket(lake) as b:
        b.put("b.txt", "b", meta={"m": 1})
        (lake / "peek").symlink_to(".t4")
        before = tree(lake / ".t4" / "meta")
        with pytest.raises(t4.InvalidKeyError, match=r"into t4's reserved \.t4/ folder"):
            b.put("peek/meta/x.json", {"a": 1})
        with pytest.raises(t4.InvalidKeyError, match="reserved"):
            b.keys("peek/")
        assert b.keys(".t4/") == []
        assert sorted(b.keys()) == ["a.txt", "b.txt"]
    assert tree(lake / ".t4" / "meta") == before


def test_links_that_stay_inside_still_work(tmp_path: Path) -> None:
    lake = write_tree(tmp_path / "lake", {"data/a.txt": "a"})
    (lake / "alias").symlink_to("data")
    (lake / "same.txt").symlink_to("data/a.txt")
    with t4.Bucket(lake) as b:
        b.put("alias/b.txt", "b")
        assert (lake / "data" / "b.txt").read_text() == "b"
        assert b("same.txt") == "a"
        b.delete("alias/b.txt")  # the link itself is never pruned as if it were a folder
        assert (lake / "alias").is_symlink() and not (lake / "data" / "b.txt").exists()


def test_keys_that_are_no_path_in_the_folder_list_nothing(tmp_path: Path) -> None:
    """A prefix such as '../' names no file of the folder: nothing outside is listed."""
    write_tree(tmp_path, {"sibling/x.txt": "x"})
    lake = write_tree(tmp_path / "lake", {"a.txt": "a"})
    with t4.Bucket(lake) as b:
        assert b.keys("../") == [] and b.keys("../sibling/") == [] and b.keys("a//") == []


# --- file modes ----------------------------------------------------------------------------


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_objects_and_metadata_follow_the_umask(tmp_path: Path, umask: int) -> None:
    """Written by a second process whose umask is set as a shell's would be."""
    lake = tmp_path / "lake"
    lake.mkdir()
    (tmp_path / "up.csv").write_text("a\n1\n")
    script = (
        "import os, sys, t4\n"
        f"os.umask({umask})\n"
        "b = t4.Bucket(sys.argv[1])\n"
        "b.put('d/x.json', {'a': 1}, meta={'m': 1})\n"
        "b.put_file('d/up.csv', sys.argv[2], meta={'m': 2})\n"
        "b.set_meta('d/x.json', {'m': 3})\n"
    )
    subprocess.run([sys.executable, "-c", script, lake, tmp_path / "up.csv"], check=True)
    want = 0o666 & ~umask
    for rel in ("d/x.json", "d/up.csv"):
        assert stat.S_IMODE(os.stat(lake / rel).st_mode) == want, rel
    records = list((lake / ".t4" / "meta").rglob("*.json"))
    assert len(records) == 2
    assert {stat.S_IMODE(os.stat(r).st_mode) for r in records} == {want}


# --- metadata of a file replaced by another tool ------------------------------------------


def test_a_replaced_file_loses_its_old_metadata(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    lake.mkdir()
    (tmp_path / "new.csv").write_text("name,power\nthor,9\nloki,7\n")
    with t4.Bucket(lake) as b:
        b.put("report.csv", pd.DataFrame({"old": [1]}), meta={"owner": "odin"})
        assert b.get_meta("report.csv")["user_meta"] == {"owner": "odin"}
        assert [h["key"] for h in b.search("user_meta.owner:odin")] == ["report.csv"]
        shutil.copy(tmp_path / "new.csv", lake / "report.csv")  # cp new.csv lake/report.csv
        assert b.get_meta("report.csv") == {}
        assert b("report.csv").to_dict("list") == {"name": ["thor", "loki"], "power": [9, 7]}
        b.index()
        assert b.search("user_meta.owner:odin") == []
        hits = b.search("thor")
        assert [h["key"] for h in hits] == ["report.csv"] and hits[0]["meta"] == {}
        # and t4's own writes keep theirs: set_meta ties the record to the new file
        b.set_meta("report.csv", {"owner": "thor"})
        assert b.get_meta("report.csv") == {"user_meta": {"owner": "thor"}}
    with t4.Bucket(lake) as again:  # a fresh process would see the same
        assert again.get_meta("report.csv") == {"user_meta": {"owner": "thor"}}


def test_a_same_size_replacement_is_caught_by_its_mtime(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    lake.mkdir()
    with t4.Bucket(lake) as b:
        b.put("v.json", {"v": 1}, meta={"m": "old"})
        st = os.stat(lake / "v.json")
        (lake / "v.json").write_text('{"v":2}')  # the same 7 bytes
        # a later write by another tool: its mtime differs (set here, not waited for)
        os.utime(lake / "v.json", ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
        assert b.get_meta("v.json") == {}
        assert b("v.json") == {"v": 2}
        assert next(b.ls("v.json")).etag == hashlib.md5(b'{"v":2}').hexdigest()
    record = json.loads(next((lake / ".t4" / "meta").rglob("*.json")).read_text())
    assert record["size"] == 7  # the record is left as t4 wrote it: reads never write
