"""Object versions: read, fetch and list old versions of objects in a versioned bucket on
moto's server; put* say which version they wrote; a local folder says it keeps none."""

from __future__ import annotations

import uuid

import pytest

import t4


@pytest.fixture
def versioned(s3_env):
    """A versioned bucket on moto's server, and the raw boto3 client to check it with."""
    client = s3_env.client()
    name = f"t4-ver-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=name)
    client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    with t4.Bucket(f"s3://{name}") as b:
        yield b, client, name


def test_put_returns_the_version_it_wrote_and_old_versions_stay_readable(versioned, tmp_path):
    b, client, name = versioned
    first = b.put("a.json", {"v": 1}, meta={"n": 1})
    second = b.put("a.json", {"v": 2}, meta={"n": 2})
    assert first.version_id and second.version_id and first.version_id != second.version_id
    raw = client.get_object(Bucket=name, Key="a.json", VersionId=first.version_id)
    assert b"1" in raw["Body"].read()
    assert b.deserialize("a.json", version_id=first.version_id) == {"v": 1}
    assert b("a.json", version_id=first.version_id) == {"v": 1}
    assert b("a.json") == {"v": 2}
    assert b.get_meta("a.json", version_id=first.version_id)["user_meta"] == {"n": 1}
    assert b.get_meta("a.json")["user_meta"] == {"n": 2}
    assert b.get_bytes("a.json", version_id=first.version_id) == raw_bytes(client, name, first)
    b.fetch("a.json", tmp_path / "old.json", version_id=first.version_id)
    assert (tmp_path / "old.json").read_bytes() == raw_bytes(client, name, first)


def raw_bytes(client, name, info) -> bytes:
    return bytes(
        client.get_object(Bucket=name, Key=info.key, VersionId=info.version_id)["Body"].read()
    )


def test_put_file_returns_its_version(versioned, tmp_path):
    b, client, _ = versioned
    src = tmp_path / "x.txt"
    src.write_text("one")
    info = b.put_file("x.txt", src)
    assert info.version_id == client.head_object(Bucket=b.uri[5:], Key="x.txt")["VersionId"]


def test_versions_lists_versions_and_delete_markers(versioned):
    b, client, name = versioned
    v1 = b.put("d/a.txt", "one").version_id
    v2 = b.put("d/a.txt", "two").version_id
    b.put("d/b.txt", "bee")
    b.delete("d/b.txt")
    b.put("other.txt", "elsewhere")
    found = list(b.versions("d/"))
    expected = client.list_object_versions(Bucket=name, Prefix="d/")
    assert {(v.key, v.version_id) for v in found} == {
        (v["Key"], v["VersionId"]) for v in expected["Versions"] + expected["DeleteMarkers"]
    }
    a = [v for v in found if v.key == "d/a.txt"]
    assert [(v.version_id, v.is_latest, v.size) for v in a] == [(v2, True, 3), (v1, False, 3)]
    markers = [v for v in found if v.is_delete_marker]
    assert [(m.key, m.is_latest) for m in markers] == [("d/b.txt", True)]
    assert {"key", "version_id", "size", "last_modified", "is_latest", "is_delete_marker"} <= set(
        a[0].as_dict()
    )


def test_open_reads_an_old_version_by_ranges(versioned):
    b, client, name = versioned
    first = b.put("big.txt", b"0123456789" * 100)
    b.put("big.txt", b"abcdefghij" * 100)
    with b.open("big.txt", 64, version_id=first.version_id) as f:
        assert f.read(5) == b"01234"
        f.seek(-3, 2)
        assert f.read() == b"789"
    info, _ = b.head("big.txt", first.version_id)
    with b.open(info, version_id=first.version_id) as f:  # nothing asked before the reads
        assert f.read() == raw_bytes(client, name, first)
    with b.open("big.txt") as f:
        assert f.read(3) == b"abc"


def test_a_missing_version_is_key_not_found(versioned):
    b, _, _ = versioned
    b.put("a.txt", "x")
    with pytest.raises(t4.KeyNotFoundError, match=r"a\.txt"):
        b.deserialize("a.txt", version_id="nosuchversion")


def test_a_missing_version_is_named_with_its_key_bucket_and_how_to_list(versioned, tmp_path):
    """Issue 21 item 7: the error said only 'no object 'a.txt'', as if the key were gone."""
    b, _, _ = versioned
    real = b.put("a.txt", "x").version_id
    assert real
    bad = real[:-4] + "0000"
    for call in (
        lambda: b.head("a.txt", bad),
        lambda: b.get_meta("a.txt", bad),
        lambda: b.get_bytes("a.txt", bad),
        lambda: b.deserialize("a.txt", bad),
        lambda: b("a.txt", bad),
        lambda: b.fetch("a.txt", tmp_path / "out.txt", version_id=bad),
        lambda: b.get_bytes("gone.txt", bad),
    ):
        with pytest.raises(t4.KeyNotFoundError) as err:
            call()
        message = str(err.value)
        assert repr(bad) in message and repr(err.value.key) in message, message
        assert b.uri in message and "versions(" in message, message
    assert not (tmp_path / "out.txt").exists()


def test_local_folder_has_no_versions(tmp_path):
    b = t4.Bucket(tmp_path)
    b.put("a.txt", "x")
    assert b.put("b.txt", "y").version_id is None
    with pytest.raises(t4.VersionsUnsupportedError, match="keeps no object versions"):
        list(b.versions())
    for call in (
        lambda: b.deserialize("a.txt", version_id="v1"),
        lambda: b.get_meta("a.txt", version_id="v1"),
        lambda: b.get_bytes("a.txt", version_id="v1"),
        lambda: b.fetch("a.txt", tmp_path / "out.txt", version_id="v1"),
        lambda: b.open("a.txt", version_id="v1"),
    ):
        with pytest.raises(t4.VersionsUnsupportedError, match="keeps no object versions") as err:
            call()
        message = str(err.value)  # the version asked for, the key, the bucket, what lists them
        assert "version 'v1' of 'a.txt'" in message and b.uri in message, message
        assert "versions(key) lists a key's versions" in message, message


def test_unversioned_s3_bucket_reports_no_version(s3_bucket_uri):
    with t4.Bucket(s3_bucket_uri) as b:
        assert b.put("a.txt", "x").version_id is None
