"""Both ways against real quilt3 8.0.0 on moto's server: quilt3 reads what t4 writes and t4
reads what quilt3 writes, with the same manifest bytes and top hashes, byte-exact files,
metadata and messages, versions by hash and prefix, pinned versions in a versioned bucket,
and a 9 MiB entry's chunked hash."""

from __future__ import annotations

import os

from files import PACKAGE_FILES as FILES
from files import read_tree, write_tree

import t4

META = {"title": "T\u00ebst", "tags": ["a", "b"], "nested": {"z": 1, "a": 2}}


def _raw_manifest(s3_env, uri: str, top_hash: str) -> bytes:  # type: ignore[no-untyped-def]
    body = s3_env.client().get_object(Bucket=uri[5:], Key=f".quilt/packages/{top_hash}")["Body"]
    return bytes(body.read())


def test_quilt3_reads_what_t4_pushes(q3, s3_env, s3_bucket_uri, source, tmp_path):
    pkg = t4.Package().set_dir("/", source).set_meta(META)
    pkg.set("table.json", {"rows": [1, 2]}, meta={"kind": "json"})
    first = pkg.push("team/data", registry=s3_bucket_uri, message="first version")
    second = t4.Package.browse("team/data", s3_bucket_uri)
    second.delete("Z.txt")
    second = second.push("team/data", registry=s3_bucket_uri, message="second")
    dest = tmp_path / "by-quilt3"
    seen = q3.run(
        """
        reg = args["registry"]
        latest = quilt3.Package.browse("team/data", registry=reg)
        old = quilt3.Package.browse("team/data", registry=reg, top_hash=args["first"])
        short = quilt3.Package.browse("team/data", registry=reg, top_hash=args["first"][:6])
        buf = io.StringIO()
        old.dump(buf)
        quilt3.Package.install("team/data", registry=reg, dest=args["dest"], top_hash=args["first"])
        result = {
            "latest": latest.top_hash, "old": old.top_hash, "short": short.top_hash,
            "manifest": buf.getvalue(), "meta": old.meta, "message": old._meta["message"],
            "entry_meta": old["table.json"].meta, "table": old["table.json"](),
            "verify": old.verify(args["dest"]),
            "versions": [list(v) for v in quilt3.list_package_versions("team/data", reg)],
            "packages": list(quilt3.list_packages(reg)),
        }
        """,
        registry=s3_bucket_uri,
        first=first.top_hash,
        dest=str(dest),
    )
    assert seen["latest"] == second.top_hash
    assert seen["old"] == seen["short"] == first.top_hash
    assert seen["manifest"].encode() == _raw_manifest(s3_env, s3_bucket_uri, first.top_hash)
    assert seen["manifest"].encode() == first.manifest_bytes()
    assert seen["meta"] == META and seen["message"] == "first version"
    assert seen["entry_meta"] == {"kind": "json"} and seen["table"] == {"rows": [1, 2]}
    assert seen["verify"] is True
    installed = read_tree(dest)
    assert installed == {**FILES, "table.json": installed["table.json"]}
    assert [tuple(v) for v in seen["versions"]] == t4.list_package_versions(
        "team/data", s3_bucket_uri
    )
    assert seen["packages"] == ["team/data"]


def test_t4_reads_what_quilt3_pushes(q3, s3_env, s3_bucket_uri, source, tmp_path):
    pushed = q3.run(
        """
        p = quilt3.Package().set_dir("/", args["source"], meta=args["meta"])
        p.set("extra.txt", args["source"] + "/README.md", meta={"rows": 1})
        p.set("obj.json", {"a": 1})
        top = p.push("team/data", registry=args["registry"], message="from quilt3").top_hash
        p2 = quilt3.Package.browse("team/data", registry=args["registry"])
        p2.set_meta({"v": 2})
        top2 = p2.push("team/data", registry=args["registry"], message="again").top_hash
        result = {"top": top, "top2": top2}
        """,
        source=str(source),
        registry=s3_bucket_uri,
        meta=META,
    )
    latest = t4.Package.browse("team/data", s3_bucket_uri)
    assert latest.top_hash == pushed["top2"] and latest.meta == {"v": 2}
    first = t4.Package.browse("team/data", s3_bucket_uri, top_hash=pushed["top"][:7])
    assert first.top_hash == pushed["top"]
    assert first.manifest_bytes() == _raw_manifest(s3_env, s3_bucket_uri, pushed["top"])
    assert first.meta == META and first.message == "from quilt3"
    assert first["extra.txt"].meta == {"rows": 1}
    assert first["obj.json"]() == {"a": 1}
    t4.Package.install("team/data", s3_bucket_uri, dest=tmp_path / "i", top_hash=pushed["top"])
    got = read_tree(tmp_path / "i")
    assert {k: got[k] for k in FILES} == FILES
    assert got["extra.txt"] == FILES["README.md"]
    assert first.verify(tmp_path / "i")
    assert t4.list_package_versions("team/data", s3_bucket_uri)[-1] == ("latest", pushed["top2"])


def test_the_same_package_gets_the_same_top_hash_and_bytes(q3, s3_bucket_uri, source):
    ours = t4.Package().set_dir("/", source).set_meta(META)
    ours.build("team/same", message="same")
    theirs = q3.run(
        """
        p = quilt3.Package().set_dir("/", args["source"]).set_meta(args["meta"])
        top = p.build("team/same", message="same")
        buf = io.StringIO()
        p.dump(buf)
        result = {"top": top, "manifest": buf.getvalue()}
        """,
        source=str(source),
        meta=META,
    )
    assert ours.top_hash == theirs["top"]
    assert ours.manifest_bytes() == theirs["manifest"].encode()
    # one default local registry for both: each sees the other's builds
    assert t4.Package.browse("team/same").top_hash == theirs["top"]


def test_versioned_bucket_pins_survive_an_overwrite_both_ways(q3, s3_env, versioned_uri, tmp_path):
    client = s3_env.client()
    bucket = versioned_uri[5:]
    src = write_tree(tmp_path / "src", {"a.txt": b"version one", "b/c.txt": b"sea"})
    # different messages: the same content and message would be one manifest for both names
    ours = t4.Package().set_dir("/", src).push("team/ours", registry=versioned_uri, message="t4")
    theirs = q3.run(
        """
        p = quilt3.Package().set_dir("/", args["source"])
        result = p.push("team/theirs", registry=args["registry"], message="q").get("a.txt")
        """,
        source=str(src),
        registry=versioned_uri,
    )
    assert "?versionId=" in ours.get("a.txt") and "?versionId=" in theirs
    client.put_object(Bucket=bucket, Key="team/ours/a.txt", Body=b"overwritten")
    client.put_object(Bucket=bucket, Key="team/theirs/a.txt", Body=b"overwritten")
    read = q3.run(
        """
        p = quilt3.Package.browse("team/ours", registry=args["registry"])
        quilt3.Package.install("team/ours", registry=args["registry"], dest=args["dest"])
        result = {"bytes": p["a.txt"].get_bytes().decode(), "url": p.get("a.txt")}
        """,
        registry=versioned_uri,
        dest=str(tmp_path / "q"),
    )
    assert read == {"bytes": "version one", "url": ours.get("a.txt")}
    assert (tmp_path / "q" / "a.txt").read_bytes() == b"version one"
    mine = t4.Package.browse("team/theirs", versioned_uri)
    assert mine.get("a.txt") == theirs and mine["a.txt"].get_bytes() == b"version one"


def test_a_9_mib_entry_has_quilt3s_chunked_hash(q3, s3_bucket_uri, tmp_path):
    big = tmp_path / "src" / "big.bin"
    big.parent.mkdir()
    big.write_bytes(os.urandom(9 * 1024 * 1024 + 512))
    theirs = q3.run(
        """
        p = quilt3.Package().set("big.bin", args["path"])
        p.build("team/big", registry=args["local"])
        result = p["big.bin"].hash
        """,
        path=str(big),
        local=(tmp_path / "q3reg").as_uri(),
    )
    pushed = t4.Package().set("big.bin", big).push("team/big", registry=s3_bucket_uri)
    assert pushed["big.bin"].hash == theirs
    assert theirs["type"] == "sha2-256-chunked"
    checked = q3.run(
        """
        p = quilt3.Package.browse("team/big", registry=args["registry"])
        quilt3.Package.install("team/big", registry=args["registry"], dest=args["dest"])
        result = p.verify(args["dest"])
        """,
        registry=s3_bucket_uri,
        dest=str(tmp_path / "q"),
    )
    assert checked is True
