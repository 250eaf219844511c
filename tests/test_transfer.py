"""The transfer engine on both backends: large files in parts, bounded memory, skipping on
re-runs from one listing, the concurrency setting and the per-file callback. Counts and
bytes are asserted, never times."""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from proxy import FaultProxy
from servers import Raw

import t4
from t4.backends.s3_parts import MULTIPART_THRESHOLD, part_size_for
from t4.errors import ConfigError
from t4.state import TransferState

MiB = 1024 * 1024


def _tree(root: Path, n: int = 12) -> Path:
    for i in range(n):
        path = root / f"d{i % 3}" / f"f{i}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(f"file {i}\n".encode() * (i + 1))
    return root


def test_large_file_round_trips_in_parts(bucket, raw, backend_kind, tmp_path):
    data = os.urandom(20 * MiB + 123)  # three 8 MiB parts on S3
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    bucket.put_file("big/big.bin", src, meta={"n": 1})
    assert hashlib.sha256(raw.read("big/big.bin")).digest() == hashlib.sha256(data).digest()
    info = next(bucket.ls("big/"))
    assert info.etag == bucket._backend.etag_of_file(src)
    if backend_kind == "s3":
        assert info.etag.endswith("-3")
        assert raw.helium("big/big.bin") is not None
    out = tmp_path / "out"
    bucket.fetch("big/", out)
    assert (out / "big.bin").read_bytes() == data
    assert bucket.get_meta("big/big.bin")["user_meta"] == {"n": 1}


def test_downloads_reach_the_disk_in_small_writes(s3_bucket_uri, s3_env, tmp_path, monkeypatch):
    """``t4.parts.WRITE``: a large object (its opening GET and its ranged GETs), one read
    whole by a bulk fetch and one fetched to a file all go to disk in writes of at most
    32 KiB (small page-cache folios), and arrive exact."""
    from t4.backends.s3_ranges import RANGE
    from t4.parts import WRITE

    large, small = os.urandom(RANGE + 3 * MiB + 7), os.urandom(5 * MiB + 3)
    for name, data in (("large.bin", large), ("small.bin", small)):
        (tmp_path / name).write_bytes(data)
    with t4.Bucket(s3_bucket_uri, endpoint_url=s3_env.endpoint) as bucket:
        bucket.put_file("w/large.bin", tmp_path / "large.bin")
        bucket.put_file("w/small.bin", tmp_path / "small.bin")
        sizes: list[int] = []
        pwrite, write = os.pwrite, os.write
        monkeypatch.setattr(os, "pwrite", lambda fd, b, o: sizes.append(len(b)) or pwrite(fd, b, o))
        monkeypatch.setattr(os, "write", lambda fd, b: sizes.append(len(b)) or write(fd, b))
        bucket.fetch("w/", tmp_path / "out")
        bucket.fetch("w/small.bin", tmp_path / "one.bin")
    assert (tmp_path / "out" / "large.bin").read_bytes() == large
    assert (tmp_path / "out" / "small.bin").read_bytes() == small
    assert (tmp_path / "one.bin").read_bytes() == small
    assert WRITE == 32 * 1024 and max(sizes) == WRITE
    assert sum(sizes) >= len(large) + 2 * len(small)


_UPLOAD_AND_REPORT_RSS = """
import pathlib, resource, sys, t4
peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
b = t4.Bucket(sys.argv[1])
small = pathlib.Path(sys.argv[2]).with_name("small.bin")
small.write_bytes(b"warm-up")
b.put_file("small.bin", small)  # imports, clients and caches all loaded
before = peak()
b.put_file("sparse.bin", sys.argv[2])
print(before, peak())
"""


def test_memory_does_not_grow_with_file_size(bucket_uri, raw, tmp_path):
    sparse = tmp_path / "sparse.bin"
    with sparse.open("wb") as out:
        out.truncate(200 * MiB)
    done = subprocess.run(
        [sys.executable, "-c", _UPLOAD_AND_REPORT_RSS, bucket_uri, str(sparse)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    before, after = (int(v) for v in done.stdout.split()[-2:])
    assert after - before < 100, f"peak RSS grew {before} -> {after} MB for a 200 MiB file"
    assert "sparse.bin" in raw.listing()


def test_rerun_skips_everything(bucket, tmp_path):
    src = _tree(tmp_path / "src")
    first = bucket.put_dir("data", src)
    assert len(first.transferred) == 12 and not first.skipped
    again = bucket.put_dir("data", src)
    assert not again.transferred and len(again.skipped) == 12
    dest = tmp_path / "dest"
    assert len(bucket.fetch("data", dest).transferred) == 12
    refetch = bucket.fetch("data", dest)
    assert not refetch.transferred and len(refetch.skipped) == 12


def test_changed_file_of_the_same_size_moves_again(bucket, raw, tmp_path):
    src = _tree(tmp_path / "src")
    bucket.put_dir("data", src)
    dest = tmp_path / "dest"
    bucket.fetch("data/", dest)
    edited = src / "d0" / "f0.txt"
    edited.write_bytes(edited.read_bytes().upper())  # same size, other bytes
    assert bucket.put_dir("data", src).transferred == ["data/d0/f0.txt"]
    assert raw.read("data/d0/f0.txt") == b"FILE 0\n"
    raw.write("data/d1/f1.txt", b"FILE 1\n" * 2)  # changed by another tool, same size
    assert sorted(bucket.fetch("data/", dest).transferred) == ["data/d0/f0.txt", "data/d1/f1.txt"]
    assert (dest / "d1" / "f1.txt").read_bytes() == b"FILE 1\n" * 2


def test_a_change_that_keeps_size_and_mtime_is_still_seen(bucket, raw, tmp_path):
    """A write in the same timestamp tick as t4's last look leaves size and mtime as they
    were; a recently modified file's hash is never trusted from the cache."""
    src = _tree(tmp_path / "src", n=3)
    edited = src / "d0" / "f0.txt"
    bucket.put_dir("data", src)
    before = edited.stat()
    edited.write_bytes(b"FILE 0\n")  # same size
    os.utime(edited, ns=(before.st_atime_ns, before.st_mtime_ns))  # and the same tick
    assert bucket.put_dir("data", src).transferred == ["data/d0/f0.txt"]
    assert raw.read("data/d0/f0.txt") == b"FILE 0\n"


def test_objects_another_tool_uploaded_in_other_parts_are_not_fetched_again(
    s3_env, s3_bucket_uri, tmp_path
):
    """s5cmd, rclone and others upload in parts of their own size, so their ETags are not
    what t4's 8 MiB parts give: t4 compares in their form too, and a re-run moves nothing."""
    from boto3.s3.transfer import TransferConfig

    data = os.urandom(12 * MiB + 7)  # 3 parts of 5 MiB; t4 would make 2 of 8 MiB
    (tmp_path / "src.bin").write_bytes(data)
    five = TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB)
    client, name = s3_env.client(), s3_bucket_uri.removeprefix("s3://")
    client.upload_file(str(tmp_path / "src.bin"), name, "other/big.bin", Config=five)
    assert client.head_object(Bucket=name, Key="other/big.bin")["ETag"].endswith('-3"')
    with t4.Bucket(s3_bucket_uri) as bucket:
        assert bucket.fetch("other", tmp_path / "out").transferred == ["other/big.bin"]
        again = bucket.fetch("other", tmp_path / "out")
        assert again.transferred == [] and again.skipped == ["other/big.bin"]
        assert bucket.fetch("other/big.bin", tmp_path / "out" / "big.bin").transferred == []
    assert (tmp_path / "out" / "big.bin").read_bytes() == data


class _Primitives:
    """Every call a folder bucket makes to its backend's primitives (it has no requests)."""

    def __init__(self, bucket: t4.Bucket, monkeypatch: pytest.MonkeyPatch):
        self.seen: list[str] = []
        for op in ("list", "head", "get", "download", "upload", "put_bytes", "set_metadata"):
            self._wrap(monkeypatch, bucket._backend, op)

    def _wrap(self, monkeypatch: pytest.MonkeyPatch, owner: object, op: str) -> None:
        original = getattr(owner, op)

        def counted(*args: object, **kwargs: object) -> object:
            self.seen.append(op)
            return original(*args, **kwargs)

        monkeypatch.setattr(owner, op, counted)


def _kind(method: str, path: str) -> str:
    """A request as the S3 API names it (enough of it for these tests)."""
    query = parse_qs(urlparse(path).query, keep_blank_values=True)
    if method == "GET" and query.get("list-type") == ["2"]:
        return "ListObjectsV2"
    if method == "POST" and "delete" in query:
        return "DeleteObjects"
    return method


def test_no_change_rerun_is_one_listing_and_no_transfers_on_s3(s3_env, s3_bucket_uri, tmp_path):
    src = _tree(tmp_path / "src", n=30)
    dest = tmp_path / "dest"
    seen: list[str] = []
    record = lambda method, path: seen.append(_kind(method, path)) or False  # noqa: E731  # a one-line hook
    # Both through one counting proxy (t4 keeps its records per endpoint); the second Bucket
    # is a new object: only the on-disk cache carries over.
    with FaultProxy(s3_env.endpoint, only=record) as proxy:
        with t4.Bucket(s3_bucket_uri, endpoint_url=proxy.url) as first:
            first.put_dir("data", src)
            first.fetch("data/", dest)
        seen.clear()
        again = t4.Bucket(s3_bucket_uri, endpoint_url=proxy.url)
        assert len(again.put_dir("data", src).skipped) == 30
        assert seen == ["ListObjectsV2"]
        seen.clear()
        assert len(again.fetch("data/", dest).skipped) == 30
        assert seen == ["ListObjectsV2"]
        again.close()


def test_no_change_rerun_is_one_listing_and_no_transfers_on_folders(tmp_path, monkeypatch):
    src, dest = _tree(tmp_path / "src", n=30), tmp_path / "dest"
    (tmp_path / "lake").mkdir()
    with t4.Bucket(str(tmp_path / "lake")) as first:
        first.put_dir("data", src)
        first.fetch("data/", dest)
    with t4.Bucket(str(tmp_path / "lake")) as again:
        calls = _Primitives(again, monkeypatch)
        assert len(again.put_dir("data", src).skipped) == 30
        assert len(again.fetch("data/", dest).skipped) == 30
        assert calls.seen == ["list", "list"]


def test_delete_dir_sends_a_thousand_keys_per_request(s3_env, s3_bucket_uri, tmp_path):
    src = _tree(tmp_path / "src", n=1001)
    seen: list[str] = []
    record = lambda method, path: seen.append(_kind(method, path)) or False  # noqa: E731  # a one-line hook
    with t4.Bucket(s3_bucket_uri) as b:
        b.put_dir("many", src)
    with (
        FaultProxy(s3_env.endpoint, only=record) as proxy,
        t4.Bucket(s3_bucket_uri, endpoint_url=proxy.url) as b,
    ):
        b.delete_dir("many/")
    assert seen.count("DeleteObjects") == 2
    assert Raw(s3_bucket_uri, None, s3_env.client()).listing() == []


@pytest.mark.parametrize(
    "size", [0, 1, MULTIPART_THRESHOLD + 1, 80_000 * MiB, 80_000 * MiB + 1, 5 * 1024**4]
)
def test_part_size_keeps_a_file_under_ten_thousand_parts(size):
    part = part_size_for(size)
    assert part >= MULTIPART_THRESHOLD
    assert math.ceil(size / part) <= 10_000
    smaller = part // 2  # the smallest such part: half of it would need too many
    assert part == MULTIPART_THRESHOLD or math.ceil(size / smaller) > 10_000


def test_state_commits_queued_records_without_waiting_for_the_plan(tmp_path):
    """A process killed mid-transfer keeps what it wrote until about a second before."""
    state = TransferState(tmp_path / "state.sqlite")
    state.defer_written("s3://b", [("k", "etag", "meta")])
    state._conn()  # the database exists; nothing flushed it

    def committed() -> list[tuple[str, str]]:
        with contextlib.closing(sqlite3.connect(tmp_path / "state.sqlite")) as other:
            return other.execute("SELECT key, etag FROM written").fetchall()

    for _ in range(100):  # polled for up to 10 s, far longer than it takes
        if committed():
            break
        threading.Event().wait(0.1)
    assert committed() == [("k", "etag")]
    state.close()


def test_concurrency_setting_is_respected(bucket_uri, backend_kind, tmp_path, monkeypatch):
    """A folder bucket's uploads run on threads, ``concurrency`` at once; S3's small objects
    are counted in flight at the server (the next test)."""
    monkeypatch.setenv("T4_CONCURRENCY", "3")
    assert t4.Bucket(bucket_uri).concurrency == 3
    b = t4.Bucket(bucket_uri, concurrency=2)  # per call wins over the environment
    assert b.concurrency == 2
    active, peak, lock = [0], [0], threading.Lock()
    original = b._backend.upload

    def upload(*args, **kwargs):  # type: ignore[no-untyped-def]
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        try:
            return original(*args, **kwargs)
        finally:
            with lock:
                active[0] -= 1

    monkeypatch.setattr(b._backend, "upload", upload)
    assert len(b.put_dir("c", _tree(tmp_path / "src", n=20)).transferred) == 20
    if backend_kind == "local":
        assert 1 <= peak[0] <= 2
    for bad in (0, -1, True, "many"):
        with pytest.raises(ConfigError, match="concurrency=") as refused:
            t4.Bucket(bucket_uri, concurrency=bad)
        assert isinstance(refused.value, ValueError)
    monkeypatch.setenv("T4_CONCURRENCY", "lots")
    with pytest.raises(ConfigError, match="T4_CONCURRENCY='lots'"):
        t4.Bucket(bucket_uri)


def test_concurrency_bounds_requests_in_flight_at_the_server(s3_env, s3_bucket_uri, tmp_path):
    """Small objects move as async requests on one event loop: ``concurrency`` of them in
    flight at once, counted at the server (each request held a while, so they overlap)."""
    src = _tree(tmp_path / "src", n=40)
    for concurrency in (2, 8):
        with (
            FaultProxy(s3_env.endpoint, delay=0.05) as proxy,
            t4.Bucket(s3_bucket_uri, endpoint_url=proxy.url, concurrency=concurrency) as b,
        ):
            proxy.peak_in_flight = 0
            up = b.put_dir(f"c{concurrency}", src)
            assert (len(up.transferred), proxy.peak_in_flight) == (40, concurrency)
            proxy.peak_in_flight = 0
            down = b.fetch(f"c{concurrency}/", tmp_path / f"out{concurrency}")
            assert (len(down.transferred), proxy.peak_in_flight) == (40, concurrency)


def test_callback_is_called_once_per_file(bucket_uri, tmp_path):
    calls: list[tuple[str, str, int]] = []
    src = _tree(tmp_path / "src", n=5)
    with t4.Bucket(bucket_uri, callback=lambda *c: calls.append(c), progress=False) as b:
        b.put_dir("cb", src)
        sizes = {
            f"cb/{p.relative_to(src).as_posix()}": p.stat().st_size for p in src.rglob("*.txt")
        }
        assert sorted(calls) == sorted((k, "transferred", n) for k, n in sizes.items())
        calls.clear()
        b.put_dir("cb", src)
        assert sorted(calls) == sorted((k, "skipped", 0) for k in sizes)


def test_a_folder_in_the_way_fails_that_file_alone(bucket, tmp_path):
    """A fetched file whose destination is a folder fails with a ``DestinationError`` naming
    it; the other files land whole, and no partial file is left (downloads are written to
    an exclusive temporary file and renamed)."""
    from t4.errors import DestinationError, TransferError

    for name in ("a.txt", "b.txt", "c.txt"):
        bucket.put(f"d/{name}", f"content of {name}")
    out = tmp_path / "out"
    (out / "b.txt").mkdir(parents=True)
    with pytest.raises(TransferError) as failed:
        bucket.fetch("d/", out)
    error = failed.value.failures["d/b.txt"]
    assert isinstance(error, DestinationError) and "a folder is there" in str(error)
    assert str(out / "b.txt") in str(error)
    assert sorted(failed.value.summary.transferred) == ["d/a.txt", "d/c.txt"]
    assert (out / "a.txt").read_text() == "content of a.txt"
    assert sorted(p.name for p in out.iterdir()) == ["a.txt", "b.txt", "c.txt"]
    assert list((out / "b.txt").iterdir()) == []
