"""Bad input gets a named error, a message that names the bucket, the key and the fix, and
changes nothing (checked through the raw path)."""

from __future__ import annotations

import json

import pytest

import t4


@pytest.mark.parametrize(
    "uri",
    [
        "s3://",
        "s3://a",
        "s3://bad_bucket!",
        "s3://b/with/path",
        "s3://b?versionId=1",
        "gs://bucket",
        "",
        "   ",
        42,
    ],
)
def test_bad_bucket_uris(uri):
    with pytest.raises(t4.BucketURIError) as err:
        t4.Bucket(uri)
    assert isinstance(err.value, ValueError)
    assert "s3://bucket-name" in str(err.value)


def test_a_file_is_not_a_bucket(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(t4.BucketURIError, match="is a file"):
        t4.Bucket(tmp_path / "f")


def test_a_bare_name_with_no_folder_suggests_s3(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(t4.BucketURIError, match="'s3://my-bucket'") as err:
        t4.Bucket("my-bucket")
    assert "'./my-bucket'" in str(err.value) and not (tmp_path / "my-bucket").exists()
    (tmp_path / "my-bucket").mkdir()
    assert t4.Bucket("my-bucket").keys() == []  # a folder of that name is the bucket


@pytest.mark.parametrize("form", ["path", "uri", "dot"])
def test_a_missing_folder_is_created_by_the_first_write(tmp_path, monkeypatch, form):
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "new" / "lake"
    b = t4.Bucket({"path": str(root), "uri": root.as_uri(), "dot": "./new/lake"}[form])
    reads = [
        b.keys,
        lambda: b.get_meta("a.json"),
        lambda: b.deserialize("a.json"),
        lambda: b.fetch("a.json", tmp_path / "out"),
        lambda: b.fetch("d/", tmp_path / "out"),
    ]
    for read in reads:
        with pytest.raises(t4.BucketNotFoundError, match=str(root)):
            read()
    assert not root.exists()  # reading creates nothing
    b.put("a.json", {"a": 1})
    assert json.loads((root / "a.json").read_text()) == {"a": 1}
    assert b.keys() == ["a.json"]


def test_file_uri_is_a_local_bucket(tmp_path):
    b = t4.Bucket(tmp_path.as_uri())
    b.put("x.txt", "hi")
    assert (tmp_path / "x.txt").read_text() == "hi"
    assert b.uri == tmp_path.as_uri()


@pytest.mark.parametrize("method", ["deserialize", "get_meta", "delete"])
def test_missing_key(bucket, method):
    with pytest.raises(t4.KeyNotFoundError) as err:
        getattr(bucket, method)("nope/missing.json")
    assert isinstance(err.value, KeyError) and isinstance(err.value, FileNotFoundError)
    assert "nope/missing.json" in str(err.value) and bucket.uri in str(err.value)
    assert err.value.key == "nope/missing.json" and err.value.bucket == bucket.uri


def test_missing_key_or_directory_on_fetch(bucket, tmp_path):
    with pytest.raises(t4.KeyNotFoundError, match="no object or directory"):
        bucket.fetch("nothing/here", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_delete_missing_ok_is_idempotent(bucket):
    bucket.delete("gone.txt", missing_ok=True)


@pytest.mark.parametrize("key", ["", None, "dir/", "x\x00y", "k" * 1025])
def test_bad_keys_for_put(bucket, raw, key):
    with pytest.raises(t4.InvalidKeyError):
        bucket.put(key, "x")
    assert raw.listing() == []


def test_delete_of_directory_key_points_to_delete_dir(bucket):
    with pytest.raises(t4.InvalidKeyError, match="delete_dir"):
        bucket.delete("foo/")


def test_format_that_cannot_hold_the_object(bucket, raw):
    with pytest.raises(t4.FormatError) as err:
        bucket.put("d.parquet", {"a": 1})
    assert "d.parquet" in str(err.value)
    assert raw.listing() == []


def test_unknown_format_on_read(bucket, raw):
    raw.write("blob.weird", b"\x00\x01")
    with pytest.raises(t4.FormatError, match=r"blob\.weird"):
        bucket.deserialize("blob.weird")


@pytest.mark.parametrize(
    ("key", "data"),
    [("bad.json", b"{not json"), ("bad.parquet", b"PAR1 nonsense"), ("bad.npy", b"\x93NUMPY??")],
)
def test_corrupt_objects(bucket, raw, key, data):
    raw.write(key, data)
    with pytest.raises(t4.DeserializationError) as err:
        bucket.deserialize(key)
    assert key in str(err.value)


def test_unserialisable_metadata_changes_nothing(bucket, raw):
    with pytest.raises(t4.MetadataError, match="JSON"):
        bucket.put("x.json", {"a": 1}, meta={"when": object()})
    assert raw.listing() == []


def test_oversized_metadata_changes_nothing(bucket, raw, tmp_path):
    big = {"blob": "x" * 2100}
    with pytest.raises(t4.MetadataError, match="2048"):
        bucket.put("x.json", {"a": 1}, meta=big)
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.txt").write_text("a")
    with pytest.raises(t4.MetadataError):
        bucket.put_dir("d", tmp_path / "src", meta=big)
    assert raw.listing() == []


def test_metadata_must_be_a_dict(bucket):
    with pytest.raises(t4.MetadataError, match="dict"):
        bucket.put("x.json", 1, meta=["not", "a", "dict"])  # type: ignore[arg-type]


def test_missing_local_paths(bucket, raw, tmp_path):
    with pytest.raises(t4.LocalPathError, match="does not exist"):
        bucket.put_file("x.csv", tmp_path / "nope.csv")
    with pytest.raises(t4.LocalPathError, match="does not exist"):
        bucket.put_dir("d", tmp_path / "nope")
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(t4.LocalPathError, match="put_file"):
        bucket.put_dir("d", tmp_path / "f.txt")
    with pytest.raises(t4.LocalPathError, match="put_dir"):
        bucket.put_file("d", tmp_path)
    assert raw.listing() == []


@pytest.mark.parametrize(
    "evil", ["../x", "/abs", "a/../../b", "a/./b", "a//b", "c:\\x", "a\\..\\b"]
)
def test_keys_escaping_the_destination_write_nothing(s3_bucket_uri, s3_env, tmp_path, evil):
    """The escaping key fails alone, writing nothing; the good one still arrives."""
    client = s3_env.client()
    name = s3_bucket_uri[5:]
    client.put_object(Bucket=name, Key="dir/fine.txt", Body=b"ok")
    client.put_object(Bucket=name, Key="dir/" + evil, Body=b"evil")
    dest = tmp_path / "dest"
    with pytest.raises(t4.TransferError) as raised:
        t4.Bucket(s3_bucket_uri).fetch("dir/", dest)
    refused = raised.value.failures["dir/" + evil]
    assert isinstance(refused, t4.InvalidKeyError) and "nothing was written" in str(refused)
    assert list(raised.value.failures) == ["dir/" + evil]
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == [
        "dest",
        "dest/fine.txt",
    ]


def test_local_bucket_refuses_keys_that_are_not_paths(tmp_path):
    b = t4.Bucket(tmp_path)
    for key in ["../escape.txt", "a/../../b.txt", ".t4/meta/x"]:
        with pytest.raises(t4.InvalidKeyError):
            b.put(key, "x")
    assert sorted(p.name for p in tmp_path.parent.iterdir() if p.name.endswith(".txt")) == []


def test_fetch_into_a_file_is_refused(bucket, tmp_path):
    bucket.put("d/a.txt", "a")
    (tmp_path / "file").write_text("keep")
    with pytest.raises(t4.DestinationError, match="is a file"):
        bucket.fetch("d/", tmp_path / "file")
    assert (tmp_path / "file").read_text() == "keep"


def test_missing_bucket(s3_env):
    b = t4.Bucket("s3://no-such-bucket-here")
    with pytest.raises(t4.BucketNotFoundError, match="no-such-bucket-here"):
        b.get_meta("x.json")
    with pytest.raises(t4.BucketNotFoundError):
        b.keys()


def test_unreachable_endpoint_is_transient(monkeypatch):
    from servers import free_port

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
    b = t4.Bucket("s3://some-bucket", endpoint_url=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(t4.TransientError, match="could not reach"):
        b.keys()


def test_errors_pickle_with_their_context():
    import pickle

    err = t4.KeyNotFoundError("no object 'k' in s3://b", bucket="s3://b", key="k")
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is t4.KeyNotFoundError and back.key == "k" and str(back) == str(err)


def test_transfer_error_carries_each_real_error(tmp_path):
    lake = tmp_path / "lake"
    (lake / "d").mkdir(parents=True)
    (lake / "d" / "a.txt").write_text("a")
    (lake / "d" / "b.txt").write_text("b")
    (tmp_path / "out" / "a.txt").mkdir(parents=True)  # a folder where a file must land
    with pytest.raises(t4.TransferError) as err:
        t4.Bucket(lake).fetch("d", tmp_path / "out")
    assert list(err.value.failures) == ["d/a.txt"]
    assert isinstance(err.value.failures["d/a.txt"], t4.DestinationError)
    assert "run it again" not in str(err.value)  # it would fail the same way again
    assert (tmp_path / "out" / "b.txt").read_text() == "b"
