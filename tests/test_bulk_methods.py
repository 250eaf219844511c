"""The list-shaped bulk methods and the one summary type, on both backends (a folder and
moto's server), checked through ``raw`` (plain boto3 or ``os``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import t4
from t4.transfer import TransferSummary


def _files(tmp_path: Path, names: list[str]) -> Path:
    src = tmp_path / "src"
    for name in names:
        path = src / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"content of {name}")
    return src


def test_put_files_then_fetch_keys_with_a_prefix(bucket: t4.Bucket, raw: Any, tmp_path: Path):
    src = _files(tmp_path, ["a.txt", "sub/b.txt"])
    pairs = [(src / "a.txt", "in/x/a.txt"), (src / "sub" / "b.txt", "in/x/sub/b.txt")]
    done = bucket.put_files(pairs, meta={"stage": "raw"})
    assert sorted(done.transferred) == ["in/x/a.txt", "in/x/sub/b.txt"] and done.failed == {}
    assert raw.read("in/x/sub/b.txt") == b"content of sub/b.txt"
    assert bucket.get_meta("in/x/a.txt")["user_meta"] == {"stage": "raw"}
    assert bucket.put_files(pairs, meta={"stage": "raw"}).skipped == [k for _, k in pairs]
    objs = list(bucket.ls("in/"))
    out = tmp_path / "out"
    got = bucket.fetch_keys(objs, out, prefix="in/")
    assert sorted(got.transferred) == ["in/x/a.txt", "in/x/sub/b.txt"]
    assert (out / "x" / "sub" / "b.txt").read_text() == "content of sub/b.txt"
    again = bucket.fetch_keys(["in/x/a.txt"], out, prefix="in/", listing=objs)
    assert again.skipped == ["in/x/a.txt"]


def test_fetch_keys_names_a_missing_key_and_does_the_rest(bucket: t4.Bucket, tmp_path: Path):
    bucket.put("d/a.txt", "a")
    with pytest.raises(t4.TransferError) as caught:
        bucket.fetch_keys(["d/a.txt", "d/gone.txt"], tmp_path / "out", prefix="d/")
    assert isinstance(caught.value.failures["d/gone.txt"], t4.KeyNotFoundError)
    assert (tmp_path / "out" / "a.txt").read_text() == "a"


def test_fetch_keys_refuses_a_key_outside_its_prefix(bucket: t4.Bucket, tmp_path: Path):
    bucket.put("other/a.txt", "a")
    with pytest.raises(t4.InvalidKeyError, match="prefix"):
        bucket.fetch_keys(list(bucket.ls("other/")), tmp_path / "out", prefix="d/")
    assert not (tmp_path / "out").exists()


def test_delete_many_reports_deletes(bucket: t4.Bucket, raw: Any):
    for i in range(5):
        bucket.put(f"k/{i}.txt", "x")
    done = bucket.delete_many([f"k/{i}.txt" for i in range(3)] + ["k/never.txt"])
    assert sorted(done.deleted) == ["k/0.txt", "k/1.txt", "k/2.txt", "k/never.txt"]
    assert done.transferred == [] and done.failed == {}
    assert raw.listing() == ["k/3.txt", "k/4.txt"]
    assert "4 deleted" in done.line()
    assert bucket.search("key:k/0.txt") == []


def test_copy_to_keeps_metadata(bucket: t4.Bucket, raw: Any, tmp_path: Path):
    bucket.put("src/a.json", {"a": 1}, meta={"who": "me"})
    bucket.put("src/sub/b.txt", "bee")
    folder = tmp_path / "other-lake"
    folder.mkdir()
    with t4.Bucket(folder) as other:
        done = bucket.copy_to(other, bucket.ls("src/"), prefix="src/", to_prefix="copy/")
        assert sorted(done.transferred) == ["src/a.json", "src/sub/b.txt"]
        assert other.get_meta("copy/a.json")["user_meta"] == {"who": "me"}
        assert other("copy/a.json") == {"a": 1}
        assert (folder / "copy" / "sub" / "b.txt").read_text() == "bee"
        assert bucket.copy_to(other, ["src/a.json"], prefix="src/", to_prefix="copy/").skipped == [
            "src/a.json"
        ]
        assert [h["key"] for h in other.search("user_meta.who:me")] == ["copy/a.json"]


def test_copy_within_one_s3_endpoint_is_done_by_the_server(s3_env: Any, s3_bucket_uri: str):
    client = s3_env.client()
    client.create_bucket(Bucket="t4-copy-target")
    with t4.Bucket(s3_bucket_uri) as a, t4.Bucket("s3://t4-copy-target") as b:
        a.put("x/big.bin", b"\0" * 100_000, meta={"n": 1})
        done = a.copy_to(b, a.ls("x/"), prefix="x/", to_prefix="y/")
        assert done.transferred == ["x/big.bin"] and done.bytes == 100_000
        head = client.head_object(Bucket="t4-copy-target", Key="y/big.bin")
        assert json.loads(head["Metadata"]["helium"])["user_meta"] == {"n": 1}
        assert [h["key"] for h in b.search("user_meta.n:1")] == ["y/big.bin"]


def test_summary_merge_as_dict_and_line() -> None:
    one = TransferSummary("mirror", "s3://b", transferred=["a"], bytes=3, seconds=1.0)
    two = TransferSummary("mirror", "s3://b", skipped=["b"], deleted=["c"], seconds=0.5)
    two.failed["d"] = t4.TransientError("503", bucket="s3://b", key="d")
    total = TransferSummary("mirror", "s3://b").merge(one, two)
    assert (total.transferred, total.skipped, total.deleted) == (["a"], ["b"], ["c"])
    assert total.as_dict()["failed"] == {"d": "TransientError: 503"}
    assert total.line() == (
        "mirror s3://b: 1 transferred, 1 skipped, 1 deleted, 1 failed, 3 bytes in 1.50s"
    )
    error = total.error()
    assert isinstance(error, t4.TransferError) and error.failures == total.failed
