"""The behaviour suite: every test runs on a local-folder bucket and on S3 (moto's server),
and checks results through the independent ``raw`` path."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import t4
from t4.meta import XATTR

SPECIAL_KEYS = [
    "c#d.txt",
    "q?x=1.txt",
    "p%20q.txt",
    "sp ace/a b.txt",
    "ünï/cödé ☃.txt",
    "a+b&c.txt",
]


def test_put_then_read_back_json_with_meta(bucket, raw):
    bucket.put("my-dict.json", {"a": "b"}, meta={"how": "lazily"})
    assert json.loads(raw.read("my-dict.json")) == {"a": "b"}
    assert bucket.deserialize("my-dict.json") == {"a": "b"}
    assert bucket("my-dict.json") == {"a": "b"}
    assert bucket.get_meta("my-dict.json") == {
        "user_meta": {"how": "lazily"},
        "format": {"name": "json"},
        "target": "json",
    }


def test_helium_header_is_t4s_format(s3_bucket_uri, s3_env):
    b = t4.Bucket(s3_bucket_uri)
    b.put("x.txt", "hello", meta={"name": "thor"})
    head = s3_env.client().head_object(Bucket=s3_bucket_uri[5:], Key="x.txt")
    assert json.loads(head["Metadata"]["helium"]) == {
        "user_meta": {"name": "thor"},
        "format": {"name": "utf-8"},
        "target": "utf-8",
    }


def test_reads_objects_written_by_t4(s3_bucket_uri, s3_env):
    """An object with T4's helium says csv with ';' while its key says nothing: metadata wins."""
    client = s3_env.client()
    helium = {
        "user_meta": {"k": 1},
        "format": {"name": "csv", "opts": {"fieldsep": ";"}},
        "target": "csv",
    }
    client.put_object(
        Bucket=s3_bucket_uri[5:],
        Key="legacy/table",
        Body=b"a;b\n1;2\n",
        Metadata={"helium": json.dumps(helium)},
    )
    df = t4.Bucket(s3_bucket_uri).deserialize("legacy/table")
    assert list(df.columns) == ["a", "b"] and df.iloc[0].tolist() == [1, 2]


@pytest.mark.parametrize("key", SPECIAL_KEYS)
def test_any_valid_key_round_trips(bucket, raw, key):
    bucket.put(key, "content of " + key)
    assert raw.listing() == [key]
    assert bucket.keys() == [key]
    assert bucket(key) == "content of " + key
    bucket.delete(key)
    assert raw.listing() == []


def test_dataframes_and_arrays(bucket, raw):
    df = pd.DataFrame({"x": [1, 2, 3], "y": ["a", "b", "c"]})
    bucket.put("t/df.parquet", df)
    bucket.put("t/df.csv", df)
    bucket.put("t/arr.npy", np.arange(5))
    pd.testing.assert_frame_equal(bucket("t/df.parquet"), df)
    assert raw.read("t/df.csv").decode().splitlines()[0] == "x,y"
    pd.testing.assert_frame_equal(bucket("t/df.csv"), df)
    assert bucket("t/arr.npy").tolist() == [0, 1, 2, 3, 4]


def test_format_dicts_in_the_header_are_t4s(s3_bucket_uri, s3_env):
    """What T4 0.1.4 wrote for a DataFrame as parquet and as csv, read with plain boto3."""
    b = t4.Bucket(s3_bucket_uri)
    df = pd.DataFrame({"x": [1, 2]})
    b.put("t.parquet", df)
    b.put("t.csv", df)
    client, name = s3_env.client(), s3_bucket_uri[5:]

    def fmt(key):
        return json.loads(client.head_object(Bucket=name, Key=key)["Metadata"]["helium"])

    assert fmt("t.parquet")["format"] == {"compression": "snappy_columns", "name": "parquet"}
    assert fmt("t.csv")["format"] == {
        "opts": {
            "encoding": "utf-8",
            "index_names_are_keys": False,
            "na_values": ["", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN",
                          "-nan", "1.#IND", "1.#QNAN", "N/A", "NA", "NULL", "NaN", "n/a",
                          "nan", "null"],
            "use_header": True,
            "use_index": False,
            "fieldsep": ",",
        },
        "name": "csv",
    }  # fmt: skip


def test_a_dataframe_index_round_trips_through_csv(bucket, raw):
    df = pd.DataFrame({"power": [9, 7]}, index=pd.Index(["thor", "loki"], name="hero"))
    bucket.put("heroes.csv", df)
    assert raw.read("heroes.csv").decode().splitlines() == ["hero,power", "thor,9", "loki,7"]
    pd.testing.assert_frame_equal(bucket("heroes.csv"), df)


@pytest.mark.parametrize(
    ("key", "obj", "error"),
    [
        ("empty.csv", pd.DataFrame(), "no columns"),
        ("nan.json", {"a": float("nan")}, "NaN"),
        ("inf", [float("inf")], "Infinity"),
    ],
)
def test_what_cannot_round_trip_is_refused_before_writing(bucket, raw, key, obj, error):
    with pytest.raises(t4.FormatError, match=error) as err:
        bucket.put(key, obj)
    assert bucket.uri in str(err.value) and key in str(err.value)
    assert raw.listing() == []


def test_an_empty_dataframe_round_trips_as_parquet(bucket):
    bucket.put("empty.parquet", pd.DataFrame())
    pd.testing.assert_frame_equal(bucket("empty.parquet"), pd.DataFrame())


def test_keys_lists_everything_with_prefix_and_lazily(bucket):
    for key in ["a/1.txt", "a/b/2.txt", "c.txt", "ab.txt"]:
        bucket.put(key, key)
    assert bucket.keys() == ["a/1.txt", "a/b/2.txt", "ab.txt", "c.txt"]
    assert bucket.keys("a/") == ["a/1.txt", "a/b/2.txt"]
    assert bucket.keys("a") == ["a/1.txt", "a/b/2.txt", "ab.txt"]
    lazy = bucket.iter_keys("a/b")
    assert not isinstance(lazy, list)
    assert list(lazy) == ["a/b/2.txt"]


def test_keys_follows_every_page(s3_bucket_uri, s3_env):
    client = s3_env.client()
    name = s3_bucket_uri[5:]
    for i in range(1005):
        client.put_object(Bucket=name, Key=f"k/{i:05d}", Body=b"")
    keys = t4.Bucket(s3_bucket_uri).keys()
    assert len(keys) == 1005 and keys[-1] == "k/01004"


def test_keys_includes_directory_markers(s3_bucket_uri, s3_env):
    s3_env.client().put_object(Bucket=s3_bucket_uri[5:], Key="dir/", Body=b"")
    assert t4.Bucket(s3_bucket_uri).keys() == ["dir/"]


def test_put_file_with_meta_and_trailing_slash(bucket, raw, tmp_path):
    src = tmp_path / "foo.csv"
    src.write_text("a,b\n1,2\n")
    bucket.put_file("foo.csv", src, meta={"foo": "bar"})
    bucket.put_file("inbox/", src)
    assert raw.listing() == ["foo.csv", "inbox/foo.csv"]
    assert raw.read("inbox/foo.csv") == src.read_bytes()
    assert bucket.get_meta("foo.csv") == {"user_meta": {"foo": "bar"}}
    assert bucket("foo.csv").to_dict("list") == {"a": [1], "b": [2]}


def make_tree(root: Path) -> dict[str, bytes]:
    files = {
        "a.txt": b"alpha",
        "sub/b.json": b'{"b": 2}',
        "sub/deeper/c.bin": os.urandom(3000),
        "sub/deeper/empty.txt": b"",
    }
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return files


def test_put_dir_recursive_with_meta_then_fetch(bucket, raw, tmp_path):
    files = make_tree(tmp_path / "src")
    summary = bucket.put_dir("stuff", tmp_path / "src", meta={"origin": "unknown"})
    assert sorted(summary.transferred) == sorted(f"stuff/{k}" for k in files)
    assert raw.listing() == sorted(f"stuff/{k}" for k in files)
    for rel, data in files.items():
        assert raw.read(f"stuff/{rel}") == data
        assert bucket.get_meta(f"stuff/{rel}") == {"user_meta": {"origin": "unknown"}}

    out = tmp_path / "out"
    got = bucket.fetch("stuff", out)  # no trailing slash, as in the documentation
    assert sorted(got.transferred) == sorted(f"stuff/{k}" for k in files)
    for rel, data in files.items():
        assert (out / rel).read_bytes() == data


def test_rerun_of_put_dir_and_fetch_moves_nothing(bucket, tmp_path):
    make_tree(tmp_path / "src")
    bucket.put_dir("stuff/", tmp_path / "src", meta={"v": 1})
    again = bucket.put_dir("stuff/", tmp_path / "src", meta={"v": 1})
    assert again.transferred == [] and len(again.skipped) == 4
    bucket.fetch("stuff/", tmp_path / "out")
    again = bucket.fetch("stuff/", tmp_path / "out")
    assert again.transferred == [] and len(again.skipped) == 4


def test_put_dir_with_changed_meta_updates_meta(bucket, raw, tmp_path):
    make_tree(tmp_path / "src")
    bucket.put_dir("s", tmp_path / "src", meta={"v": 1})
    bucket.put_dir("s", tmp_path / "src", meta={"v": 2})
    assert bucket.get_meta("s/a.txt") == {"user_meta": {"v": 2}}
    assert raw.read("s/a.txt") == b"alpha"


def test_changed_file_is_uploaded_again(bucket, raw, tmp_path):
    make_tree(tmp_path / "src")
    bucket.put_dir("s", tmp_path / "src")
    (tmp_path / "src" / "a.txt").write_bytes(b"ALPHA!")
    again = bucket.put_dir("s", tmp_path / "src")
    assert again.transferred == ["s/a.txt"]
    assert raw.read("s/a.txt") == b"ALPHA!"


def xattrs_work(path: Path) -> bool:
    try:
        os.setxattr(path, "user.t4probe", b"1")
    except OSError:
        return False
    return True


def test_fetch_writes_xattr_and_put_dir_reads_it_back(bucket, tmp_path):
    probe = tmp_path / "probe"
    probe.write_bytes(b"")
    if not xattrs_work(probe):
        pytest.skip("this filesystem has no user extended attributes")
    bucket.put("orig/x.txt", "x", meta={"name": "thor"})
    bucket.fetch("orig/", tmp_path / "copy")
    stored = json.loads(os.getxattr(tmp_path / "copy" / "x.txt", XATTR))
    assert stored["user_meta"] == {"name": "thor"}
    bucket.put_dir("again", tmp_path / "copy")
    assert bucket.get_meta("again/x.txt")["user_meta"] == {"name": "thor"}
    bucket.put_dir("override", tmp_path / "copy", meta={"name": "loki"})
    assert bucket.get_meta("override/x.txt")["user_meta"] == {"name": "loki"}


def test_fetch_file_to_folder_and_to_path(bucket, tmp_path):
    bucket.put("path/to/file.txt", "hello")
    (tmp_path / "folder").mkdir()
    bucket.fetch("path/to/file.txt", tmp_path / "folder")
    bucket.fetch("path/to/file.txt", str(tmp_path / "new") + "/")
    bucket.fetch("path/to/file.txt", tmp_path / "renamed.txt")
    assert (tmp_path / "folder" / "file.txt").read_text() == "hello"
    assert (tmp_path / "new" / "file.txt").read_text() == "hello"
    assert (tmp_path / "renamed.txt").read_text() == "hello"
    assert not [p for p in tmp_path.rglob("*") if ".t4part-" in p.name]


def test_delete_and_delete_dir(bucket, raw):
    for key in ["foo.csv", "foo/a.txt", "foo/b/c.txt", "foobar.txt"]:
        bucket.put(key, b"x")
    bucket.delete("foo.csv")
    assert "foo.csv" not in raw.listing()
    summary = bucket.delete_dir("foo")
    assert sorted(summary.deleted) == ["foo/a.txt", "foo/b/c.txt"]
    assert summary.transferred == []
    assert raw.listing() == ["foobar.txt"]
    assert bucket.delete_dir("foo/").deleted == []  # already gone: fine


def test_delete_dir_removes_markers_in_batches(s3_bucket_uri, s3_env):
    client = s3_env.client()
    name = s3_bucket_uri[5:]
    client.put_object(Bucket=name, Key="foo/", Body=b"")
    client.put_object(Bucket=name, Key="foo/sub/", Body=b"")
    for i in range(1203):
        client.put_object(Bucket=name, Key=f"foo/sub/{i}", Body=b"")
    t4.Bucket(s3_bucket_uri).delete_dir("foo/")
    assert client.list_objects_v2(Bucket=name).get("KeyCount") == 0


def test_delete_dir_of_root_needs_opt_in(bucket, raw):
    bucket.put("keep.txt", "x")
    for root in ["", "/"]:
        with pytest.raises(t4.UnsafeOperationError, match="allow_root=True"):
            bucket.delete_dir(root)
    assert raw.listing() == ["keep.txt"]
    bucket.delete_dir("", allow_root=True)
    assert raw.listing() == []


def test_context_manager_closes(bucket_uri):
    with t4.Bucket(bucket_uri) as b:
        b.put("x.json", [1])
    assert repr(b).startswith("Bucket(")


def test_put_dir_skips_the_bucket_itself_and_t4_folders(tmp_path):
    src = tmp_path / "src"
    (src / "data").mkdir(parents=True)
    (src / "data" / "a.txt").write_text("a")
    (src / "other" / ".t4").mkdir(parents=True)
    (src / "other" / ".t4" / "index.sqlite").write_text("not data")
    (src / "data" / ".b.txt.t4part-1-abc").write_text("partial")
    (src / "lake").mkdir()
    b = t4.Bucket(src / "lake")  # the bucket lives inside the folder being uploaded
    b.put("existing.txt", "e")
    b.put_dir("copy", src)
    assert b.keys() == ["copy/data/a.txt", "existing.txt"]


def test_set_meta_keeps_format_and_works_on_foreign_objects(bucket, raw):
    raw.write("foreign.txt", b"written by another tool")
    bucket.set_meta("foreign.txt", {"owner": "ops"})
    assert bucket.get_meta("foreign.txt") == {"user_meta": {"owner": "ops"}}
    bucket.put("mine.json", {"a": 1}, meta={"v": 1})
    bucket.set_meta("mine.json", {"v": 2})
    assert bucket.get_meta("mine.json")["user_meta"] == {"v": 2}
    assert bucket.get_meta("mine.json")["format"] == {"name": "json"}
    assert bucket("mine.json") == {"a": 1}


def test_head_and_open_read_only_what_is_asked(bucket, raw):
    data = bytes(range(256)) * 4096  # 1 MiB
    raw.write("blob.bin", data)
    info, meta = bucket.head("blob.bin")
    assert (info.key, info.size, meta) == ("blob.bin", len(data), {})
    with bucket.open("blob.bin", read_ahead=1024) as f:
        assert f.read(3) == data[:3]
        f.seek(-5, io.SEEK_END)
        assert f.read() == data[-5:]
        f.seek(300_000)
        assert f.read(70_000) == data[300_000:370_000]
        f.seek(0)
        assert f.read() == data
    empty_info = bucket.put("empty.bin", b"")
    assert empty_info.size == 0 and bucket.open("empty.bin").read() == b""
    with pytest.raises(t4.KeyNotFoundError):
        bucket.open("missing.bin")
