"""Hostile and bad input, table-driven, through the API on both backends and through the
``t4`` command line: each row names the error class it must raise, and nothing may change
(every bucket's listing, bytes and metadata, and the local tree, compared before and after).

Simpler single-purpose cases live in ``tests/test_bucket_errors.py``; this table covers the
reliability issue's list: escaping keys, symlinks, a destination that is a file, unreadable
files, corrupt objects, metadata at 2 KiB + 1, a missing bucket, the bucket root.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from servers import Raw

import t4
from t4.meta import MAX_USER_METADATA_BYTES, encode, helium

T4 = str(Path(sys.executable).parent / "t4")
EVIL = {  # prefix -> the object key under it that would leave a fetch destination
    "esc-dotdot": "esc-dotdot/../../outside.txt",
    "esc-abs": "esc-abs//etc/passwd-copy",
    "esc-backslash": "esc-backslash/a\\..\\..\\b.txt",
    "esc-drive": "esc-drive/c:\\windows\\x.txt",
    "esc-long": "esc-long/" + "y" * 300 + ".txt",
    "esc-dot": "esc-dot/./x.txt",
}
JSON = {"name": "json"}
CORRUPT = {"bad.json": b"{not json", "bad.parquet": b"PAR1 nope", "bad.csv": b'a,b\n"1,2\n\xff'}


@dataclass
class World:
    root: Path
    lake: Path
    src: Path
    afile: Path
    s3: Raw | None

    def uri(self, backend: str) -> str:
        if backend == "local":
            return str(self.lake)
        assert self.s3 is not None
        return self.s3.uri

    def snapshot(self) -> tuple[Any, ...]:
        """Everything a bad call could have touched, through os and plain boto3."""
        tree = {}
        for dirpath, dirnames, names in os.walk(self.root):
            dirnames[:] = [d for d in dirnames if d != ".t4"]  # t4's index may be opened
            for name in [*names, *dirnames]:
                path = Path(dirpath) / name
                rel = path.relative_to(self.root).as_posix()
                tree[rel] = _digest(path)
        objects: dict[str, Any] = {}
        if self.s3 is None:
            return tree, objects
        client = self.s3.client
        for key in self.s3.listing():
            head = client.head_object(Bucket=self.s3.name, Key=key)
            objects[key] = (head["ETag"], head["Metadata"])
        return tree, objects


def _digest(path: Path) -> str:
    if path.is_symlink():
        return "link:" + os.readlink(path)
    if path.is_dir():
        return "dir"
    try:
        return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()
    except PermissionError:
        return "unreadable"


@pytest.fixture
def world(request: pytest.FixtureRequest, tmp_path: Path) -> World:
    """A local bucket, a source folder with links out of it, a file, and (for S3 rows and the
    command line) an S3 bucket holding keys that would escape a destination."""
    root = tmp_path / "world"
    lake, src = root / "lake", root / "src"
    for folder in (lake, src / "sub", root / "outside"):
        folder.mkdir(parents=True)
    (src / "a.txt").write_text("a")
    (src / "sub" / "b.txt").write_text("b")
    (root / "secret.txt").write_text("not for the bucket")
    (root / "outside" / "x.txt").write_text("x")
    (src / "link-out.txt").symlink_to(root / "secret.txt")
    (src / "link-dir").symlink_to(root / "outside")
    afile = root / "afile"
    afile.write_text("keep me")
    seeds = [(str(lake), Raw(str(lake), lake, None))]
    s3 = None
    params = getattr(request.node, "callspec", None)
    if params is None or params.params.get("backend", "s3") == "s3":
        request.getfixturevalue("s3_env")
        client = request.getfixturevalue("moto_client")
        name = f"t4-hostile-{os.urandom(4).hex()}"
        client.create_bucket(Bucket=name)
        s3 = Raw(f"s3://{name}", None, client)
        for key in EVIL.values():
            s3.write(key, b"evil")
        s3.write("good.json", b'{"ok":true}', helium=HELIUM_JSON)
        s3.write("dir/a.txt", b"a", helium='{"user_meta":{}}')
        for key, data in CORRUPT.items():
            s3.write(key, data)
    with t4.Bucket(lake) as b:
        b.put("good.json", {"ok": True}, meta={"m": 1})
        b.put("dir/a.txt", "a")
    for key, data in CORRUPT.items():
        seeds[0][1].write(key, data)
    return World(root, lake, src, afile, s3)


HELIUM_JSON = '{"user_meta":{"m":1},"format":{"name":"json"},"target":"json"}'


def meta_of_size(total: int, fmt: dict[str, str] | None = None) -> dict[str, str]:
    """User metadata whose helium encoding (for an object of format ``fmt``) is ``total`` bytes."""
    empty = encode(helium({"a": ""}, fmt, bucket="b", key="k"), bucket="b", key="k")
    overhead = len("helium") + len(empty["helium"])
    return {"a": "x" * (total - overhead)}


Call = Callable[[t4.Bucket, World], object]
BOTH = ("local", "s3")
LOCAL = ("local",)  # validation before any backend call: one backend is enough
ROWS: list[tuple[str, tuple[str, ...], Call, type[Exception]]] = [
    # keys that would leave a fetch destination, or are not keys at all
    *[
        (
            f"fetch-{prefix}",
            ("s3",),
            (lambda p: lambda b, w: b.fetch(p, w.root / "out"))(prefix),
            t4.TransferError,  # the one key fails alone (an InvalidKeyError), writing nothing
        )
        for prefix in EVIL
    ],
    (
        "fetch-file-dotdot",
        ("local",),
        lambda b, w: b.fetch("../secret.txt", w.root / "o"),
        t4.InvalidKeyError,
    ),
    ("put-dotdot", ("local",), lambda b, w: b.put("../escape.txt", "x"), t4.InvalidKeyError),
    ("put-abs", ("local",), lambda b, w: b.put("/tmp/abs.txt", "x"), t4.InvalidKeyError),
    ("put-backslash", ("local",), lambda b, w: b.put("a\\..\\..\\b.txt", "x"), t4.InvalidKeyError),
    ("put-reserved", ("local",), lambda b, w: b.put(".t4/meta/x.json", {}), t4.InvalidKeyError),
    ("put-nul", LOCAL, lambda b, w: b.put("a\x00b.txt", "x"), t4.InvalidKeyError),
    ("put-1025-bytes", LOCAL, lambda b, w: b.put("é" * 512 + "x", "x"), t4.InvalidKeyError),
    ("put-long-segment", ("local",), lambda b, w: b.put("z" * 256, "x"), t4.InvalidKeyError),
    (
        "put-file-nul",
        LOCAL,
        lambda b, w: b.put_file("n\x00.txt", w.src / "a.txt"),
        t4.InvalidKeyError,
    ),
    ("get-meta-nul", LOCAL, lambda b, w: b.get_meta("x\x00"), t4.InvalidKeyError),
    ("delete-dir-key", LOCAL, lambda b, w: b.delete("dir/"), t4.InvalidKeyError),
    ("put-over-folder", ("local",), lambda b, w: b.put("dir", "x"), t4.InvalidKeyError),
    # destinations
    ("fetch-dir-into-file", BOTH, lambda b, w: b.fetch("dir", w.afile), t4.DestinationError),
    (
        "fetch-under-a-file",
        BOTH,
        lambda b, w: b.fetch("good.json", w.afile / "x.json"),
        t4.DestinationError,
    ),
    # local sources
    (
        "put-file-missing",
        LOCAL,
        lambda b, w: b.put_file("m.txt", w.root / "nope"),
        t4.LocalPathError,
    ),
    ("put-file-folder", LOCAL, lambda b, w: b.put_file("m.txt", w.src), t4.LocalPathError),
    ("put-dir-a-file", LOCAL, lambda b, w: b.put_dir("d", w.afile), t4.LocalPathError),
    # corrupt objects
    *[
        (f"corrupt-{key}", BOTH, (lambda k: lambda b, w: b(k))(key), t4.DeserializationError)
        for key in CORRUPT
    ],
    # metadata
    (
        "meta-2KiB+1",
        BOTH,
        lambda b, w: b.put("m.json", {}, meta=meta_of_size(MAX_USER_METADATA_BYTES + 1, JSON)),
        t4.MetadataError,
    ),
    (
        "put-dir-meta-2KiB+1",
        LOCAL,
        lambda b, w: b.put_dir("d", w.src, meta=meta_of_size(MAX_USER_METADATA_BYTES + 1)),
        t4.MetadataError,
    ),
    (
        "meta-not-json",
        LOCAL,
        lambda b, w: b.put("m.json", {}, meta={"f": {1, 2}}),
        t4.MetadataError,
    ),
    (
        "meta-nan",
        LOCAL,
        lambda b, w: b.put("m.json", {}, meta={"f": float("nan")}),
        t4.MetadataError,
    ),
    (
        "set-meta-2KiB+1",
        BOTH,
        lambda b, w: b.set_meta("good.json", meta_of_size(MAX_USER_METADATA_BYTES + 1)),
        t4.MetadataError,
    ),
    # formats
    ("dict-as-parquet", LOCAL, lambda b, w: b.put("d.parquet", {"a": 1}), t4.FormatError),
    ("object-no-format", LOCAL, lambda b, w: b.put("o.bin2", object()), t4.FormatError),
    # the bucket root
    ("delete-dir-root", BOTH, lambda b, w: b.delete_dir(""), t4.UnsafeOperationError),
    ("delete-dir-slash", LOCAL, lambda b, w: b.delete_dir("/"), t4.UnsafeOperationError),
    # missing things
    ("missing-key", BOTH, lambda b, w: b.get_meta("nope.json"), t4.KeyNotFoundError),
    ("delete-missing", BOTH, lambda b, w: b.delete("nope.json"), t4.KeyNotFoundError),
]


@pytest.mark.parametrize(
    ("backend", "call", "error"),
    [pytest.param(be, call, err, id=f"{name}-{be}") for name, bes, call, err in ROWS for be in bes],
)
def test_bad_input_through_the_api(world: World, backend: str, call: Call, error: type) -> None:
    before = world.snapshot()
    with t4.Bucket(world.uri(backend)) as bucket, pytest.raises(error) as raised:
        call(bucket, world)
    assert isinstance(raised.value, t4.T4Error)
    assert raised.value.bucket == bucket.uri
    if isinstance(raised.value, t4.TransferError):
        assert all(isinstance(e, t4.InvalidKeyError) for e in raised.value.failures.values())
    assert world.snapshot() == before


def test_missing_bucket_changes_nothing(world: World, s3_env: object) -> None:
    before = world.snapshot()
    b = t4.Bucket("s3://no-such-bucket-t4")
    calls: list[Callable[[], object]] = [
        b.keys,
        lambda: b.put("x.json", {}),
        lambda: b.put_dir("d", world.src),
        lambda: b.fetch("d", world.root / "out"),
        lambda: b.get_meta("x.json"),
    ]
    for call in calls:
        with pytest.raises(t4.BucketNotFoundError, match="no-such-bucket-t4"):
            call()
    assert world.snapshot() == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file(world: World) -> None:
    (world.src / "a.txt").chmod(0)
    before = world.snapshot()
    with t4.Bucket(world.lake) as b, pytest.raises((t4.TransferError, PermissionError)):
        b.put_file("a.txt", world.src / "a.txt")
    assert world.snapshot() == before


@pytest.mark.parametrize("backend", BOTH)
def test_links_out_of_a_put_dir_source_are_not_followed(world: World, backend: str) -> None:
    with t4.Bucket(world.uri(backend)) as b:
        b.put_dir("up", world.src)
        assert sorted(b.keys("up/")) == ["up/a.txt", "up/sub/b.txt"]
        b.put_dir("followed", world.src, follow_links=True)
        assert sorted(b.keys("followed/")) == [
            "followed/a.txt", "followed/link-dir/x.txt", "followed/link-out.txt",
            "followed/sub/b.txt",
        ]  # fmt: skip


def test_metadata_at_exactly_the_limit_is_accepted(world: World) -> None:
    assert world.s3 is not None
    with t4.Bucket(world.s3.uri) as b:
        b.put("edge.json", {}, meta=meta_of_size(MAX_USER_METADATA_BYTES, JSON))
    assert len("helium") + len(world.s3.helium("edge.json") or "") == MAX_USER_METADATA_BYTES


# -- the command line ----------------------------------------------------------------------
CLI_ROWS: list[tuple[str, list[str], str]] = [
    (
        "fetch-dotdot",
        ["fetch", "--bucket", "{lake}", "../secret.txt", "{root}/o"],
        "InvalidKeyError",
    ),
    ("fetch-escaping-key", ["fetch", "{s3}/esc-dotdot", "{root}/o"], "TransferError"),
    ("fetch-into-file", ["fetch", "--bucket", "{lake}", "dir", "{afile}"], "DestinationError"),
    ("put-reserved", ["put", "--bucket", "{lake}", "{src}/a.txt", ".t4/x.txt"], "InvalidKeyError"),
    (
        "put-missing-file",
        ["put", "--bucket", "{lake}", "{root}/nope.txt", "x.txt"],
        "LocalPathError",
    ),
    ("put-dir-a-file", ["put-dir", "--bucket", "{lake}", "{afile}", "d"], "LocalPathError"),
    (
        "put-dir-meta-2KiB+1",
        ["put-dir", "--bucket", "{lake}", "--meta", "{bigmeta}", "{src}", "d"],
        "MetadataError",
    ),
    ("cat-corrupt-json", ["cat", "--bucket", "{lake}", "bad.json"], "DeserializationError"),
    ("cat-corrupt-parquet", ["cat", "{s3}/bad.parquet"], "DeserializationError"),
    ("rm-dir-root", ["rm-dir", "--bucket", "{lake}", ""], "UnsafeOperationError"),
    ("rm-dir-root-s3", ["rm-dir", "{s3}/"], "UnsafeOperationError"),
    ("rm-directory-key", ["rm", "{s3}/dir/"], "InvalidKeyError"),
    ("missing-bucket", ["ls", "s3://no-such-bucket-t4/"], "BucketNotFoundError"),
    ("bad-bucket-uri", ["ls", "--bucket", "s3://bad_bucket!"], "BucketURIError"),
]


@pytest.mark.parametrize(("args", "error"), [pytest.param(a, e, id=n) for n, a, e in CLI_ROWS])
def test_bad_input_through_the_command_line(world: World, args: list[str], error: str) -> None:
    import json

    values = {
        "lake": str(world.lake), "root": str(world.root), "afile": str(world.afile),
        "src": str(world.src), "s3": world.s3.uri if world.s3 else "",
        "bigmeta": json.dumps(meta_of_size(MAX_USER_METADATA_BYTES + 1)),
    }  # fmt: skip
    argv = [T4, "--debug", *[a.format(**values) for a in args]]
    before = world.snapshot()
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=os.environ.copy())
    assert result.returncode == 1, result.stderr
    last = result.stderr.strip().splitlines()
    assert last[-1].startswith("t4: error: "), result.stderr
    assert f"t4.errors.{error}:" in result.stderr, result.stderr
    assert world.snapshot() == before
