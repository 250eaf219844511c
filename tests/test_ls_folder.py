"""``Bucket.ls_folder``: one folder a page at a time, alike on both backends (objects
written through the independent path), and ``Bucket.download_url``."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from servers import Raw

import t4
from t4.backends.base import FolderPage
from t4.parts import PART_MARK, atomic_write_target

KEYS = ["a.txt", "b/1.txt", "b/c/2.txt", "d/3.txt", "e.txt", "é.txt", "z/4.txt"]


def pages(bucket: t4.Bucket, prefix: str, limit: int) -> list[FolderPage]:
    found, token = [], None
    while True:
        page = bucket.ls_folder(prefix, token, limit)
        found.append(page)
        token = page.next_token
        if token is None:
            return found


def test_a_folder_lists_one_level_in_key_order(bucket: t4.Bucket, raw: Raw) -> None:
    for key in KEYS:
        raw.write(key, b"xy")
    page = bucket.ls_folder("")
    assert page.folders == ["b/", "d/", "z/"]
    assert [o.key for o in page.objects] == ["a.txt", "e.txt", "é.txt"]
    assert all(o.size == 2 for o in page.objects) and page.next_token is None
    sub = bucket.ls_folder("b")  # "b" and "b/" alike
    assert sub.folders == ["b/c/"] and [o.key for o in sub.objects] == ["b/1.txt"]
    assert bucket.ls_folder("nothing/") == FolderPage([], [], None)


def test_pages_cover_the_folder_once(bucket: t4.Bucket, raw: Raw) -> None:
    for key in KEYS:
        raw.write(key, b"x")
    found = pages(bucket, "", 2)
    assert len(found) == 3
    entries = [e for p in found for e in p.folders + [o.key for o in p.objects]]
    assert sorted(entries, key=str.encode) == ["a.txt", "b/", "d/", "e.txt", "z/", "é.txt"]
    assert len(entries) == len(set(entries))


def test_download_url_is_presigned_on_s3_and_none_for_a_folder(
    bucket: t4.Bucket, raw: Raw, backend_kind: str
) -> None:
    raw.write("x.bin", b"\x00\x01")
    found = bucket.download_url("x.bin", expires=60)
    if backend_kind == "local":
        assert found is None
        return
    assert found is not None and "X-Amz-Signature" in found
    assert httpx.get(found, timeout=30).content == b"\x00\x01"


def test_a_folder_bucket_lists_no_links_out_and_not_its_metadata(tmp_path) -> None:  # type: ignore[no-untyped-def]
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("s")
    lake = tmp_path / "lake"
    with t4.Bucket(lake) as bucket:
        bucket.put("in.txt", b"x")
        (lake / "out").symlink_to(outside)
        (lake / "out.txt").symlink_to(outside / "secret.txt")
        page = bucket.ls_folder("")
        assert page.folders == [] and [o.key for o in page.objects] == ["in.txt"]
        with pytest.raises(t4.InvalidKeyError):
            bucket.ls_folder("out/")


def test_part_files_of_a_download_in_progress_are_no_objects(tmp_path: Path) -> None:
    """A download into a folder bucket writes a part file beside its target (t4.parts): no
    listing shows it (keys, ls, ls_folder), search never finds it, and no key may take its
    name (it would be written and then never listed)."""
    lake = tmp_path / "lake"
    with t4.Bucket(lake) as bucket:
        bucket.put("data/a.txt", "alpha")
        with atomic_write_target(lake / "data" / "incoming.txt") as part:
            part.write_text("half of a download")
            assert part.name.startswith(".incoming.txt" + PART_MARK)
            assert bucket.keys() == ["data/a.txt"]
            assert [o.key for o in bucket.ls("data/")] == ["data/a.txt"]
            page = bucket.ls_folder("data/")
            assert page.folders == [] and [o.key for o in page.objects] == ["data/a.txt"]
            bucket.index()
            assert bucket.search("incoming") == [] and bucket.search("half") == []
            with pytest.raises(t4.InvalidKeyError, match="reserved"):
                bucket.put(f"data/{part.name}", "x")
        assert bucket.keys() == ["data/a.txt", "data/incoming.txt"]
