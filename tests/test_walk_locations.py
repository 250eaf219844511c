"""The one folder walker and the one location parser, and what put_dir gets from them:
a missing source is an error, link loops are cut, reserved names never go up, and the
files' xattr metadata goes up as T4 sent it."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

import t4
from t4 import locations
from t4.meta import XATTR
from t4.walk import iter_walk, walk


def test_a_missing_source_is_an_error_naming_it(bucket: t4.Bucket, raw: Any, tmp_path: Path):
    bucket.put("keep/a.txt", "a")
    missing = tmp_path / "no" / "such" / "folder"
    with pytest.raises(t4.LocalPathError, match=str(missing)) as caught:
        bucket.put_dir("keep", missing)
    assert isinstance(caught.value, FileNotFoundError)
    with pytest.raises(t4.LocalPathError, match=str(missing)):
        walk(missing)
    assert walk(missing, missing_ok=True) == []
    assert raw.listing() == ["keep/a.txt"]


def test_walk_skips_reserved_names_and_parts_and_filters(tmp_path: Path):
    src = tmp_path / "src"
    for rel in ["a.csv", "b.tmp", "sub/c.csv", ".t4/meta/x.json", "sub/.d.csv.t4part-1-ab"]:
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text("x")
    assert [f.rel for f in walk(src)] == ["a.csv", "b.tmp", "sub/c.csv"]
    assert [f.rel for f in walk(src, exclude=["*.tmp"])] == ["a.csv", "sub/c.csv"]
    assert [f.rel for f in walk(src, include=["sub/*"])] == ["sub/c.csv"]


def test_walk_is_in_order_of_relative_path_though_found_folder_by_folder(tmp_path: Path):
    """``iter_walk`` sorts one folder at a time, a folder by its name and ``/``: the order is
    still that of the whole relative paths (``a-c`` before ``a/b``, ``a/b`` before ``a0``)."""
    rels = ["a-c.txt", "a/b.txt", "a/b/c.txt", "a.txt", "a0", "ab/x", "a/a", "b", "a/-"]
    src = tmp_path / "src"
    for rel in rels:
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text(rel)
    files = iter_walk(src)
    assert not isinstance(files, list)
    found = [(f.rel, f.path, f.size) for f in files]
    assert found == [(rel, src / rel, len(rel)) for rel in sorted(rels)]


def test_put_dir_follow_links_cuts_a_loop(bucket: t4.Bucket, raw: Any, tmp_path: Path):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("a")
    (src / "sub" / "b.txt").write_text("b")
    (src / "sub" / "loop").symlink_to(src)  # sub/loop -> src: a loop
    (src / "sub" / "self").symlink_to(src / "sub")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "o.txt").write_text("o")
    (src / "out").symlink_to(outside)
    done = bucket.put_dir("p", src, follow_links=True)
    assert sorted(done.transferred) == ["p/a.txt", "p/out/o.txt", "p/sub/b.txt"]
    assert raw.listing() == ["p/a.txt", "p/out/o.txt", "p/sub/b.txt"]


def test_put_dir_sends_the_xattr_helium_as_is(bucket: t4.Bucket, raw: Any, tmp_path: Path):
    bucket.put("data", {"a": 1})  # no extension: only the format in the metadata says json
    src = tmp_path / "src"
    bucket.fetch("data", src / "data")
    carried = json.loads(os.getxattr(src / "data", XATTR))
    assert carried["format"]["name"] == "json"
    (src / "plain.bin").write_bytes(b"raw")  # no xattr at all
    bucket.put_dir("copy", src)
    assert bucket.get_meta("copy/data") == carried  # format and target included
    assert bucket("copy/data") == {"a": 1}
    assert bucket.get_meta("copy/plain.bin") == {}
    if raw.client is not None:
        assert raw.helium("copy/plain.bin") == "{}"
    bucket.put_dir("meta", src, meta={"stage": "raw"})
    laid = bucket.get_meta("meta/data")
    assert laid["user_meta"] == {**carried.get("user_meta", {}), "stage": "raw"}
    assert laid["format"] == carried["format"]


@pytest.mark.parametrize(
    ("text", "bucket", "key", "folder"),
    [
        ("s3://lake/raw/2024", "s3://lake", "raw/2024", None),
        ("s3://lake", "s3://lake", "", None),
        ("file:///data/lake", "file:///data/lake", "", None),
        ("t4-bucket/prod/raw", "t4-bucket/prod", "raw", None),
        ("./x/y", None, "", Path("x/y")),
    ],
)
def test_locations_parse(text: str, bucket: str | None, key: str, folder: Path | None) -> None:
    loc = locations.parse(text)
    assert (loc.bucket, loc.key, loc.folder) == (bucket, key, folder)


def test_locations_refuse_what_they_cannot_name() -> None:
    for bad in ["", "gs://b/x", "t4-bucket/"]:
        with pytest.raises(t4.BucketURIError):
            locations.parse(bad)
    with pytest.raises(t4.BucketURIError, match="has a path"):
        locations.bucket_target("s3://b/with/path")
    assert locations.parse("s3://b/k").prefix == "k/"
    assert locations.parse("/tmp/x").as_bucket().bucket == "file:///tmp/x"
