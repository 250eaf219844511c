"""Packages on each kind of registry (a local folder, S3 on moto's server): build, push,
browse, install, fetch, verify, diff and the listings, checked through ``raw`` (plain boto3
or ``os``) and against the format's published facts."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest
from files import PACKAGE_FILES as FILES

import t4
from t4.packages import default_local_registry
from t4.packages.hashing import hash_bytes

EMPTY_TOP_HASH = "7a67ff45a4a4c4814ea89d82bb9fb6fbf06caebc79d6507121b549213c747537"


def test_empty_package_top_hash_is_quilt3s():
    assert t4.Package().top_hash == EMPTY_TOP_HASH


def test_chunked_hashes_match_the_published_values():
    assert hash_bytes(b"# hello\n")["value"] == "+ult+DrAouXcuGgYfVaf3NWA+cwRRRomiJ3GX4nA6k4="
    assert hash_bytes(b"")["value"] == "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
    assert hash_bytes(b"x", "SHA256")["value"] == (
        "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"
    )


def test_push_writes_data_manifest_and_pointers_in_quilt3s_layout(registry, raw, source):
    pkg = t4.Package().set_dir("/", source).set_meta({"title": "T\u00ebst"})
    pushed = pkg.push("team/data", registry=registry, message="first version")
    top = pushed.top_hash
    listing = raw.listing()
    assert f".quilt/packages/{top}" in listing
    assert ".quilt/named_packages/team/data/latest" in listing
    stamps = [k for k in listing if re.fullmatch(r"\.quilt/named_packages/team/data/\d+", k)]
    assert len(stamps) == 1
    assert raw.read(".quilt/named_packages/team/data/latest") == top.encode()
    for key, data in FILES.items():
        assert raw.read(f"team/data/{key}") == data
    lines = raw.read(f".quilt/packages/{top}").decode().splitlines()
    assert json.loads(lines[0]) == {
        "version": "v0",
        "user_meta": {"title": "T\u00ebst"},
        "message": "first version",
    }
    assert "T\u00ebst" in lines[0]  # raw UTF-8, not \u escapes
    keys = [json.loads(line)["logical_key"] for line in lines[1:]]
    assert keys[:4] == ["README.md", "Z.txt", "data/a.csv", "data/odd #1 ?&%+=.txt"]
    assert keys.index("data/a.csv") < keys.index("data-x.txt") < keys.index("data.txt")
    readme = json.loads(lines[1])
    assert list(readme) == ["logical_key", "physical_keys", "size", "hash", "meta"]
    assert readme["hash"] == {
        "type": "sha2-256-chunked",
        "value": "+ult+DrAouXcuGgYfVaf3NWA+cwRRRomiJ3GX4nA6k4=",
    }


def test_physical_keys_are_quoted_s3_urls(s3_bucket_uri, source):
    pushed = t4.Package().set_dir("/", source).push("team/data", registry=s3_bucket_uri)
    bucket = s3_bucket_uri[5:]
    assert pushed.get("data/odd #1 ?&%+=.txt") == (
        f"s3://{bucket}/team/data/data/odd%20%231%20%3F%26%25%2B%3D.txt"
    )
    assert pushed.get("data/\u00fcn\u00ef c\u00f8d\u00e9 \u2713.txt").endswith(
        "/data/%C3%BCn%C3%AF%20c%C3%B8d%C3%A9%20%E2%9C%93.txt"
    )


def test_browse_latest_by_hash_and_by_prefix(registry, source):
    first = t4.Package().set_dir("/", source).push("team/data", registry=registry, message="1")
    again = t4.Package.browse("team/data", registry)
    again.set("extra.json", {"n": 2}, meta={"why": "second"})
    second = again.push("team/data", registry=registry, message="2")
    assert t4.Package.browse("team/data", registry).top_hash == second.top_hash
    old = t4.Package.browse("team/data", registry, top_hash=first.top_hash)
    assert old.top_hash == first.top_hash and old.message == "1"
    assert t4.Package.browse("team/data", registry, top_hash=first.top_hash[:6]).top_hash == (
        first.top_hash
    )
    with pytest.raises(t4.InvalidKeyError, match="invalid top hash"):
        t4.Package.browse("team/data", registry, top_hash=first.top_hash[:5])
    with pytest.raises(t4.PackageNotFoundError, match="zero matches"):
        t4.Package.browse("team/data", registry, top_hash="ffffff" if first.top_hash[0] != "f"
                          else "000000")  # fmt: skip
    latest = t4.Package.browse("team/data", registry)
    assert latest["extra.json"]() == {"n": 2}
    assert latest["extra.json"].meta == {"why": "second"}
    assert latest["data/a.csv"].get_bytes() == FILES["data/a.csv"]
    assert old.diff(latest) == (["extra.json"], [], [])
    assert latest.diff(old) == ([], [], ["extra.json"])


def test_listings(registry, source):
    t4.Package().set_dir("/", source).push("team/data", registry=registry)
    t4.Package().set("README.md", source / "README.md").push("team/other", registry=registry)
    assert t4.list_packages(registry) == ["team/data", "team/other"]
    versions = t4.list_package_versions("team/data", registry)
    latest = t4.Package.browse("team/data", registry).top_hash
    assert versions[-1] == ("latest", latest)
    assert all(h == latest for _, h in versions)
    assert re.fullmatch(r"\d+", versions[0][0])


def test_push_over_a_moved_latest_is_a_conflict_unless_forced(registry, source):
    t4.Package().set_dir("/", source).push("team/data", registry=registry)
    stale = t4.Package.browse("team/data", registry)
    fresh = t4.Package.browse("team/data", registry)
    fresh.delete("Z.txt")
    fresh.push("team/data", registry=registry, message="fresh")
    stale.set("more.json", [1])
    with pytest.raises(t4.PackageConflictError, match="force=True"):
        stale.push("team/data", registry=registry)
    with pytest.raises(t4.PackageConflictError):
        t4.Package().set("a.json", {"a": 1}).push("team/data", registry=registry)
    forced = stale.push("team/data", registry=registry, force=True)
    assert t4.Package.browse("team/data", registry).top_hash == forced.top_hash


def test_pushing_the_latest_again_does_nothing_and_says_so(registry, raw, source, caplog):
    pushed = t4.Package().set_dir("/", source).push("team/data", registry=registry, message="m")
    before = raw.listing()
    with caplog.at_level(logging.INFO, logger="t4.packages"):
        again = t4.Package.browse("team/data", registry).push(
            "team/data", registry=registry, message="m"
        )
        forced = t4.Package().set_dir("/", source)
        forced = forced.push("team/data", registry=registry, message="m", force=True)
    assert again.top_hash == forced.top_hash == pushed.top_hash
    assert raw.listing() == before
    assert "already latest" in caplog.text and "nothing pushed" in caplog.text


def test_install_copies_the_files_and_records_the_version_locally(registry, source, tmp_path):
    pushed = t4.Package().set_dir("/", source).push("team/data", registry=registry, message="m")
    dest = tmp_path / "installed"
    t4.Package.install("team/data", registry, dest=dest)
    for key, data in FILES.items():
        assert (dest / key).read_bytes() == data
    local = default_local_registry()
    assert (local / ".quilt/named_packages/team/data/latest").read_text() == pushed.top_hash
    assert t4.Package.browse("team/data").top_hash == pushed.top_hash
    assert pushed.verify(dest)
    (dest / "data.txt").write_bytes(b"changed")
    assert not pushed.verify(dest)


def test_fetch_returns_a_package_of_local_files(registry, source, tmp_path):
    pushed = t4.Package().set_dir("/", source).push("team/data", registry=registry)
    copy = pushed.fetch(tmp_path / "copy")
    assert copy.top_hash == pushed.top_hash
    assert copy.get("README.md") == (tmp_path / "copy" / "README.md").resolve().as_uri()
    assert (tmp_path / "copy" / "data/a.csv").read_bytes() == FILES["data/a.csv"]


def test_build_keeps_files_in_place_and_directory_metadata(tmp_path, source):
    pkg = t4.Package().set_dir("data", source / "data", meta={"dir": "meta"})
    top = pkg.build("team/local", message="built locally")
    manifest = (default_local_registry() / ".quilt/packages" / top).read_text().splitlines()
    assert json.loads(manifest[1]) == {"logical_key": "data/", "meta": {"dir": "meta"}}
    entry = json.loads(manifest[2])
    assert entry["physical_keys"][0].startswith("file:///")
    assert t4.Package.browse("team/local")["data"].meta == {"dir": "meta"}


def test_entries_and_package_api(tmp_path, source):
    pkg = t4.Package()
    pkg.set("one.json", {"a": 1}, meta={"k": "v"})
    pkg.set("two.txt", source / "README.md")
    pkg.set_dir("d", source / "data")
    assert pkg.keys() == ["d", "one.json", "two.txt"]
    assert pkg["one.json"]() == {"a": 1} and pkg["one.json"].meta == {"k": "v"}
    assert pkg["d"].keys() == [
        "a.csv",
        "odd #1 ?&%+=.txt",
        "\u00fcn\u00ef c\u00f8d\u00e9 \u2713.txt",
    ]
    assert "d/a.csv" in pkg and "nope" not in pkg
    pkg.delete("d")
    assert [k for k, _ in pkg.walk()] == ["one.json", "two.txt"]
    with pytest.raises(t4.KeyNotFoundError):
        pkg.delete("d")
    with pytest.raises(t4.InvalidKeyError):
        pkg.set("../escape.txt", source / "README.md")
    with pytest.raises(t4.LocalPathError):
        pkg.set("missing.txt", tmp_path / "nope.txt")


def test_a_changed_object_fails_its_hash_check(s3_bucket_uri, s3_env, source):
    pushed = t4.Package().set_dir("/", source).push("team/data", registry=s3_bucket_uri)
    s3_env.client().put_object(Bucket=s3_bucket_uri[5:], Key="team/data/data.txt", Body=b"evil")
    with pytest.raises(t4.HashMismatchError, match="changed since"):
        pushed["data.txt"].get_bytes()


def test_versioned_bucket_pins_versions_that_survive_an_overwrite(versioned_uri, s3_env, source,
                                                                  tmp_path):  # fmt: skip
    pushed = t4.Package().set_dir("/", source).push("team/data", registry=versioned_uri)
    url = pushed.get("data.txt")
    assert "?versionId=" in url
    s3_env.client().put_object(Bucket=versioned_uri[5:], Key="team/data/data.txt", Body=b"new")
    assert t4.Package.browse("team/data", versioned_uri)["data.txt"].get_bytes() == b"dot"
    t4.Package.install("team/data", versioned_uri, dest=tmp_path / "i")
    assert (tmp_path / "i" / "data.txt").read_bytes() == b"dot"


def test_set_s3_url_and_prefix_pin_the_current_version(versioned_uri, s3_env):
    client = s3_env.client()
    bucket = versioned_uri[5:]
    version = client.put_object(Bucket=bucket, Key="raw/in place.txt", Body=b"v1")["VersionId"]
    pkg = t4.Package().set("x.txt", f"{versioned_uri}/raw/in place.txt")
    assert pkg.get("x.txt") == f"{versioned_uri}/raw/in%20place.txt?versionId={version}"
    pkg.set_dir("all", f"{versioned_uri}/raw/")
    assert pkg.get("all/in place.txt") == pkg.get("x.txt")
    pushed = pkg.push("team/inplace", registry=versioned_uri)
    assert pushed.get("x.txt") == pkg.get("x.txt")  # left where it is, as quilt3 does
    client.put_object(Bucket=bucket, Key="raw/in place.txt", Body=b"v2")
    assert t4.Package.browse("team/inplace", versioned_uri)["x.txt"].get_bytes() == b"v1"


def test_bad_names_and_messages_are_named_errors(registry, source):
    with pytest.raises(t4.InvalidKeyError, match="user/package"):
        t4.Package().push("no-slash", registry=registry)
    with pytest.raises(t4.InvalidKeyError, match="message"):
        t4.Package().push("team/data", registry=registry, message=3)  # type: ignore[arg-type]
    with pytest.raises(t4.PackageNotFoundError, match="list_packages"):
        t4.Package.browse("team/none", registry)


def test_a_package_made_with_t4_0_1_4_sha256_hashes_reads(s3_bucket_uri, s3_env):
    """T4 0.1.4 wrote ``SHA256`` hex hashes and helium ``null`` on manifests and pointers;
    written here through raw boto3 as T4's ``push`` did."""
    client = s3_env.client()
    bucket = s3_bucket_uri[5:]
    data = b"legacy bytes\n"
    client.put_object(Bucket=bucket, Key="old/pkg/a.txt", Body=data,
                      Metadata={"helium": json.dumps({"n": 1})})  # fmt: skip
    header = {"version": "v0", "message": "from t4"}
    entry = {
        "logical_key": "a.txt",
        "physical_keys": [f"s3://{bucket}/old/pkg/a.txt"],
        "size": len(data),
        "hash": {"type": "SHA256", "value": hash_bytes(data, "SHA256")["value"]},
        "meta": {"user_meta": {"n": 1}},
    }
    import hashlib

    top = hashlib.sha256()
    for part in (header, {k: entry[k] for k in ("hash", "logical_key", "meta", "size")}):
        top.update(json.dumps(part, sort_keys=True, separators=(",", ":")).encode())
    body = "".join(json.dumps(obj, ensure_ascii=False) + "\n" for obj in (header, entry))
    null = {"helium": "null"}
    client.put_object(Bucket=bucket, Key=f".quilt/packages/{top.hexdigest()}",
                      Body=body.encode(), Metadata=null)  # fmt: skip
    client.put_object(Bucket=bucket, Key=".quilt/named_packages/old/pkg/latest",
                      Body=top.hexdigest().encode(), Metadata=null)  # fmt: skip
    pkg = t4.Package.browse("old/pkg", s3_bucket_uri)
    assert pkg.top_hash == top.hexdigest()
    assert pkg["a.txt"].get_bytes() == data and pkg["a.txt"].meta == {"n": 1}
    assert pkg.message == "from t4"


def test_large_package_builds_browses_and_diffs(tmp_path):
    """100,000 entries build, browse, push unchanged and diff; the manifest is the only large
    thing held (timings belong in bench/)."""
    registry = tmp_path / "reg"
    pkg = t4.Package()
    url = (tmp_path / "x").as_uri()
    from t4.packages.manifest import Record

    value = hash_bytes(b"x")
    for i in range(100_000):
        pkg._entries[f"d{i % 100}/f{i}.bin"] = Record(url, 1, dict(value), {})
    top = pkg.build("big/pkg", registry=registry, message="big")
    back = t4.Package.browse("big/pkg", registry)
    assert back.top_hash == top
    assert back.push("big/pkg", registry=registry, message="big").top_hash == top  # unchanged
    assert len(t4.list_package_versions("big/pkg", registry)) <= 2  # no new version written
    back.delete("d0")
    back.set("new.json", {"n": 1})
    added, modified, deleted = pkg.diff(back)
    assert added == ["new.json"] and modified == [] and len(deleted) == 1000
    assert len(Path(registry / ".quilt/packages" / top).read_bytes().splitlines()) == 100_001


def test_packages_are_searchable_in_the_registry(registry, source):
    pkg = t4.Package().set_dir("/", source).set_meta({"owner": "ada", "topic": "thunder"})
    pushed = pkg.push("team/data", registry=registry, message="quarterly figures")
    with t4.Bucket(registry) as b:
        hits = b.search("user_meta.package:'team/data'")
        assert [h["key"] for h in hits] == [f".quilt/packages/{pushed.top_hash}"]
        assert hits[0]["meta"]["top_hash"] == pushed.top_hash
        assert hits[0]["meta"]["user_meta"] == {"owner": "ada", "topic": "thunder"}
        assert [h["key"] for h in b.search("quarterly")] == [hits[0]["key"]]
        assert [h["key"] for h in b.search("user_meta.user_meta.owner:'ada'")] == [hits[0]["key"]]


def test_a_folder_registry_with_spaces_in_its_path(tmp_path, source):
    registry = tmp_path / "my registry ü"
    pushed = t4.Package().set_dir("/", source).push("team/data", registry=registry.as_uri())
    assert (registry / "team/data/README.md").read_bytes() == FILES["README.md"]
    assert pushed.get("README.md") == (registry / "team/data/README.md").as_uri()
    assert t4.Package.browse("team/data", registry)["README.md"].get_bytes() == FILES["README.md"]
