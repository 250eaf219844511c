"""Faults on a real server: t4 talks to moto through a proxy that answers 500, 503 SlowDown,
resets connections, stalls past the read timeout or cuts response bodies short.

At 10 % of requests faulted, directory uploads, fetches and deletes end exact (every byte
and every metadata dict, read from moto directly). At 100 % they fail with a clear error
after a bounded number of attempts, leaving nothing half-written.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from files import read_tree, write_tree
from proxy import FaultProxy
from servers import Raw

import t4
from faults.conftest import READ_TIMEOUT
from t4.parts import PART_MARK

pytestmark = pytest.mark.usefixtures("short_budget")

MULTIPART = 9 * 1024 * 1024  # just over t4's 8 MiB threshold: two parts


def make_tree(root: Path, seed: int, *, big: bool) -> dict[str, bytes]:
    """A folder of small files (some empty, some nested, odd names) and maybe a large one."""
    rng = __import__("random").Random(seed)
    files: dict[str, bytes] = {}
    names = ["a.txt", "b.json", "empty.bin", "sub/c.csv", "sub/deep/d e.txt", "ü/ñ#?%.dat"]
    names += [f"many/f{i:03d}.bin" for i in range(30)]
    for name in names:
        size = 0 if name == "empty.bin" else rng.randrange(1, 48 * 1024)
        files[name] = rng.randbytes(size)
    if big:
        files["big/large.bin"] = rng.randbytes(MULTIPART)
    write_tree(root, files)
    return files


def bucket_via(proxy: FaultProxy, raw: Raw) -> t4.Bucket:
    return t4.Bucket(raw.uri, endpoint_url=proxy.url, concurrency=4)


@pytest.mark.parametrize("seed", [1, 2])
def test_ten_percent_faults_end_exact(fault_proxy, s3_raw, tmp_path, seed):
    source = tmp_path / "src"
    files = make_tree(source, seed, big=seed == 1)
    meta = {"run": seed, "note": "fault run ✓"}
    proxy = fault_proxy(rate=0.10, seed=seed)
    with bucket_via(proxy, s3_raw) as bucket:
        summary = bucket.put_dir("data", source, meta=meta)
        assert not summary.failed
        # Checked on moto directly: every byte and every metadata dict.
        assert s3_raw.listing() == sorted(f"data/{name}" for name in files)
        for name, data in files.items():
            assert s3_raw.read(f"data/{name}") == data, name
            assert json.loads(s3_raw.helium(f"data/{name}") or "{}") == {"user_meta": meta}
        assert s3_raw.client.list_multipart_uploads(Bucket=s3_raw.name).get("Uploads", []) == []

        dest = tmp_path / "dest"
        fetched = bucket.fetch("data", dest)
        assert not fetched.failed
        assert read_tree(dest) == files

        deleted = bucket.delete_dir("data")
        assert sorted(deleted.deleted) == sorted(f"data/{name}" for name in files)
        assert s3_raw.listing() == []
    assert proxy.faulted > 0, proxy.counts
    assert {"500", "503", "reset", "stall", "truncate"} & set(proxy.counts)


def test_truncated_bodies_are_read_again(fault_proxy, s3_raw, tmp_path):
    """A GET whose body is cut short is fetched again, not reported as lost."""
    for i in range(10):
        s3_raw.write(f"t/{i}.json", json.dumps({"i": i}).encode())
    proxy = fault_proxy(rate=0.5, faults=("truncate",), seed=3)
    with bucket_via(proxy, s3_raw) as bucket:
        assert [bucket(f"t/{i}.json") for i in range(10)] == [{"i": i} for i in range(10)]
        bucket.fetch("t", tmp_path / "out")
    expected = {f"{i}.json": s3_raw.read(f"t/{i}.json") for i in range(10)}
    assert read_tree(tmp_path / "out") == expected
    assert proxy.counts["truncate"] > 0


def expect_clear_failure(call: Callable[[], object], raw: Raw, limit: float) -> t4.T4Error:
    started = time.monotonic()
    with pytest.raises((t4.TransientError, t4.TransferError)) as err:
        call()
    assert time.monotonic() - started < limit, "did not give up in bounded time"
    assert raw.uri in str(err.value) and err.value.bucket == raw.uri
    return err.value


@pytest.mark.parametrize("fault", ["500", "503", "reset", "stall", "truncate"])
def test_total_failure_is_a_clear_error_not_a_hang(
    fault_proxy, s3_raw, tmp_path, monkeypatch, fault
):
    monkeypatch.setenv("T4_S3_MAX_ATTEMPTS", "2")
    source = tmp_path / "src"
    make_tree(source, 5, big=False)
    s3_raw.write("there/x.json", b'{"x": 1}')
    proxy = fault_proxy(rate=1.0, faults=(fault,), seed=4)
    # Two attempts, each at most a stall plus backoff: well under this.
    limit = 30 * (READ_TIMEOUT + 1)
    with bucket_via(proxy, s3_raw) as bucket:
        expect_clear_failure(lambda: bucket.put_dir("data", source), s3_raw, limit)
        dest = tmp_path / "dest"
        expect_clear_failure(lambda: bucket.fetch("there", dest), s3_raw, limit)
        expect_clear_failure(lambda: bucket.delete_dir("there"), s3_raw, limit)
        if fault != "truncate":  # a PUT's empty body cannot be cut short
            expect_clear_failure(lambda: bucket.put("y.json", {"y": 2}), s3_raw, limit)
    # Nothing half-written: the bucket holds what it held, the destination no partial files.
    assert s3_raw.listing() == ["there/x.json"]
    assert not dest.exists() or not [p for p in dest.rglob("*") if PART_MARK in p.name]


def test_failed_multipart_upload_is_aborted(fault_proxy, s3_raw, tmp_path, monkeypatch):
    """Parts that keep failing end the upload with an error and no orphaned upload left."""
    path = tmp_path / "large.bin"
    path.write_bytes(os.urandom(MULTIPART))
    monkeypatch.setenv("T4_S3_MAX_ATTEMPTS", "2")
    proxy = fault_proxy(rate=1.0, faults=("500",), only=lambda m, p: "partNumber=2" in p)
    with bucket_via(proxy, s3_raw) as bucket, pytest.raises(t4.T4Error) as err:
        bucket.put_file("large.bin", path)
    assert s3_raw.uri in str(err.value)
    assert s3_raw.listing() == []
    assert s3_raw.client.list_multipart_uploads(Bucket=s3_raw.name).get("Uploads", []) == []


def test_an_upload_begun_twice_leaves_none_pending(fault_proxy, s3_raw, tmp_path):
    """A CreateMultipartUpload the server carried out but whose answer never arrived is asked
    again; the upload the lost attempt began is aborted, not left pending (and billed) on
    the bucket. Another writer's upload of the same key, begun while this one sends its
    parts, is left alone."""
    path = tmp_path / "large.bin"
    path.write_bytes(os.urandom(MULTIPART))
    theirs: list[str] = []

    def faulted(method: str, path: str) -> bool:
        if "partNumber=" in path and not theirs:  # ours has begun: another writer begins
            begun = s3_raw.client.create_multipart_upload(Bucket=s3_raw.name, Key="large.bin")
            theirs.append(begun["UploadId"])
        return method == "POST" and path.endswith("?uploads")

    proxy = fault_proxy(faults=("truncate",), fail_first=1, only=faulted)
    with bucket_via(proxy, s3_raw) as bucket:
        bucket.put_file("large.bin", path)
    assert proxy.counts["truncate"] == 1 and proxy.counts["POST"] >= 3, proxy.counts
    assert s3_raw.read("large.bin") == path.read_bytes()
    pending = s3_raw.client.list_multipart_uploads(Bucket=s3_raw.name).get("Uploads", [])
    assert [upload["UploadId"] for upload in pending] == theirs
