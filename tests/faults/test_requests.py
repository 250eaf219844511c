"""The requests a user pays for, counted by the project's proxy in front of moto's server:
one file's fetch, put_file, set_meta, the crawler, a re-run of put_dir from a fresh cache,
and the list-shaped bulk methods."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

import t4


@pytest.fixture
def counted(s3_raw: Any, fault_proxy: Any) -> tuple[Any, t4.Bucket]:
    """A proxy that only counts (no faults), and a bucket that goes through it."""
    proxy = fault_proxy(rate=0.0)
    bucket = t4.Bucket(s3_raw.uri, endpoint_url=proxy.url)
    yield proxy, bucket
    bucket.close()


def _methods(proxy: Any) -> dict[str, int]:
    return {m: proxy.counts[m] for m in ("HEAD", "GET", "PUT", "POST", "DELETE", "GET range")
            if proxy.counts[m]}  # fmt: skip


def test_fetch_of_one_key_is_one_get(counted, s3_raw, tmp_path: Path) -> None:
    proxy, b = counted
    s3_raw.write("data/a.csv", b"x,y\n1,2\n", '{"user_meta": {"n": 1}}')
    proxy.counts.clear()
    b.fetch("data/a.csv", tmp_path / "a.csv")
    # its answer tells the size and the metadata; it asks for the first range only (a large
    # object's rest comes in parallel ranges)
    assert _methods(proxy) == {"GET": 1, "GET range": 1}
    assert (tmp_path / "a.csv").read_bytes() == b"x,y\n1,2\n"
    helium = os.getxattr(tmp_path / "a.csv", "user.com.quiltdata.helium")
    assert json.loads(helium) == {"user_meta": {"n": 1}}
    proxy.counts.clear()
    again = b.fetch("data/a.csv", tmp_path / "a.csv")  # a file there: a HEAD tells it is the same
    assert _methods(proxy) == {"HEAD": 1} and again.skipped == ["data/a.csv"]


def test_fetch_of_a_folder_key_is_a_get_then_a_listing(counted, s3_raw, tmp_path: Path) -> None:
    proxy, b = counted
    s3_raw.write("data/a.csv", b"a")
    proxy.counts.clear()
    assert b.fetch("data", tmp_path / "out").transferred == ["data/a.csv"]
    # the key's 404 (a ranged GET, as any one-key fetch), the listing, the object
    assert _methods(proxy) == {"GET": 3, "GET range": 1}
    assert (tmp_path / "out" / "a.csv").read_bytes() == b"a"


def test_put_file_heads_the_key_instead_of_listing(counted, s3_raw, tmp_path: Path) -> None:
    proxy, b = counted
    for i in range(5):  # keys that share the name as a prefix: none of them is listed
        s3_raw.write(f"a.csv.{i}", b"other")
    src = tmp_path / "a.csv"
    src.write_bytes(b"x,y\n")
    proxy.counts.clear()
    info = b.put_file("a.csv", src)
    assert _methods(proxy) == {"HEAD": 1, "PUT": 1}
    assert info.size == 4 and s3_raw.read("a.csv") == b"x,y\n"
    proxy.counts.clear()
    b.put_file("a.csv", src)  # unchanged: the HEAD alone
    assert _methods(proxy) == {"HEAD": 1}


def test_set_meta_reads_at_most_the_bytes_it_indexes(counted, s3_raw) -> None:
    proxy, b = counted
    s3_raw.write("big.txt", b"word " * 200_000)  # 1 MB: far more than the index reads
    proxy.counts.clear()
    info = b.set_meta("big.txt", {"stage": "clean"})
    assert _methods(proxy) == {"HEAD": 1, "PUT": 1, "GET": 1, "GET range": 1}
    assert info.size == 1_000_000
    assert json.loads(s3_raw.helium("big.txt"))["user_meta"] == {"stage": "clean"}
    assert [h["key"] for h in b.search("user_meta.stage:clean")] == ["big.txt"]


def test_crawler_reads_a_range_or_a_head_per_object(counted, s3_raw) -> None:
    proxy, b = counted
    s3_raw.write("notes.txt", b"thunder " * 100_000)
    s3_raw.write("image.png", b"\x89PNG" * 1000)
    proxy.counts.clear()
    assert b.index()["added"] == 2
    assert _methods(proxy) == {"GET": 2, "GET range": 1, "HEAD": 1}  # a listing, a range, a HEAD
    assert [h["key"] for h in b.search("thunder")] == ["notes.txt"]


def test_put_dir_from_a_fresh_cache_sends_nothing(
    s3_raw: Any, fault_proxy: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for i in range(6):
        (src / f"f{i}.txt").write_text(f"file {i}")
    proxy = fault_proxy(rate=0.0)
    with t4.Bucket(s3_raw.uri, endpoint_url=proxy.url) as b:
        assert len(b.put_dir("raw", src, meta={"k": 1}).transferred) == 6
    monkeypatch.setenv("T4_CACHE_DIR", str(tmp_path / "new-machine-cache"))
    proxy.counts.clear()
    with t4.Bucket(s3_raw.uri, endpoint_url=proxy.url) as b:
        again = b.put_dir("raw", src, meta={"k": 1})
    assert again.transferred == [] and sorted(again.skipped) == [f"raw/f{i}.txt" for i in range(6)]
    assert _methods(proxy) == {"GET": 1, "HEAD": 6}  # one listing, the metadata checked
    assert "0 transferred, 6 skipped" in again.line()


def test_index_catches_a_metadata_only_change(counted, s3_raw) -> None:
    _proxy, b = counted
    b.put("a.txt", "hello", meta={"v": 1})
    b.index()
    listed = s3_raw.client.head_object(Bucket=s3_raw.name, Key="a.txt")["LastModified"]
    while time.time() < listed.timestamp() + 1:  # S3 lists times to the second
        time.sleep(0.05)
    s3_raw.client.copy_object(  # set_meta from another machine: same bytes, same ETag
        Bucket=s3_raw.name, Key="a.txt", CopySource={"Bucket": s3_raw.name, "Key": "a.txt"},
        Metadata={"helium": '{"user_meta": {"v": 2}}'}, MetadataDirective="REPLACE",
    )  # fmt: skip
    summary = b.index()
    assert summary["updated"] == 1
    assert [h["key"] for h in b.search("user_meta.v:2")] == ["a.txt"]
    assert b.search("user_meta.v:1") == []


def test_copy_to_within_one_endpoint_sends_no_bytes_through_here(counted, s3_raw) -> None:
    proxy, a = counted
    s3_raw.client.create_bucket(Bucket=s3_raw.name + "-copy")
    s3_raw.write("x/one.bin", b"1" * 50_000, '{"user_meta": {"n": 1}}')
    s3_raw.write("x/two.bin", b"2" * 50_000)
    with t4.Bucket(f"{s3_raw.uri}-copy", endpoint_url=proxy.url) as b:
        objs = list(a.ls("x/"))
        proxy.counts.clear()
        done = a.copy_to(b, objs, prefix="x/", to_prefix="y/")
    assert sorted(done.transferred) == ["x/one.bin", "x/two.bin"]
    assert _methods(proxy) == {"GET": 1, "PUT": 2}  # the target's listing, two CopyObjects
    head = s3_raw.client.head_object(Bucket=s3_raw.name + "-copy", Key="y/one.bin")
    assert head["Metadata"] == {"helium": '{"user_meta": {"n": 1}}'}


def test_delete_many_is_one_request_per_thousand_keys(counted, s3_raw) -> None:
    proxy, b = counted
    keys = [f"d/{i:04d}" for i in range(1500)]
    for key in keys[:20]:
        s3_raw.write(key, b"x")
    proxy.counts.clear()
    done = b.delete_many(keys)
    assert len(done.deleted) == 1500 and _methods(proxy) == {"POST": 2}
    assert s3_raw.listing() == []
