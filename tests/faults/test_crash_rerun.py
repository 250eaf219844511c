"""Crash and rerun: a process is killed with SIGKILL in the middle of a directory upload, a
multipart upload and a directory fetch; the same call is run again.

The end state must be exact, with no temporary files left in the destination, no orphaned
multipart uploads in the bucket, and no bytes sent again for files that had finished. The
child talks to moto through a proxy that slows each request down, so the kill lands mid-way.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from proxy import wait_until
from servers import Raw

import t4
from faults.conftest import spawn
from t4.parts import PART_MARK

MiB = 1024 * 1024


def kill(child: subprocess.Popen[bytes]) -> None:
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)


def settled_listing(raw: Raw) -> set[str]:
    """The bucket's keys once requests the killed child left in flight have landed."""
    before = raw.listing()
    for _ in range(20):
        time.sleep(0.3)
        now = raw.listing()
        if now == before:
            break
        before = now
    return set(before)


def outcomes(records: list[tuple[str, str, int]]) -> dict[str, tuple[str, int]]:
    return {key: (outcome, moved) for key, outcome, moved in records}


def assert_no_rework(done_before: set[str], records: list[tuple[str, str, int]]) -> None:
    """No bytes are sent again for files finished before the kill: each is skipped, or (when
    the killed run had not yet recorded it in t4's state cache) only checked with a HEAD."""
    seen = outcomes(records)
    assert all(seen[k] in {("skipped", 0), ("transferred", 0)} for k in done_before), seen


def test_put_dir_killed_then_rerun(fault_proxy, s3_raw: Raw, tmp_path: Path) -> None:
    source = tmp_path / "src"
    files = {f"part{i // 10}/f{i:03d}.bin": os.urandom(2048 + i) for i in range(60)}
    for name, data in files.items():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_bytes(data)
    slow = fault_proxy(delay=0.08)
    child = spawn(
        f"""
        import t4
        b = t4.Bucket({s3_raw.uri!r}, endpoint_url={slow.url!r}, concurrency=2)
        b.put_dir("up", {str(source)!r}, meta={{"k": "v"}})
        """,
        cwd=tmp_path,
    )
    try:
        assert wait_until(lambda: len(s3_raw.listing()) >= 5, timeout=60), "child made no progress"
    finally:
        kill(child)
    done_before = settled_listing(s3_raw)
    assert 5 <= len(done_before) < len(files), "the kill did not land mid-way"

    records: list[tuple[str, str, int]] = []
    with t4.Bucket(s3_raw.uri, callback=lambda *r: records.append(r), concurrency=4) as b:
        summary = b.put_dir("up", source, meta={"k": "v"})
    assert s3_raw.listing() == sorted(f"up/{n}" for n in files)
    for name, data in files.items():
        assert s3_raw.read(f"up/{name}") == data
        assert s3_raw.helium(f"up/{name}") == '{"user_meta":{"k":"v"}}'
    assert_no_rework(done_before, records)
    assert set(summary.skipped) <= done_before
    redone = set(s3_raw.listing()) - done_before
    assert summary.bytes == sum(len(files[k.removeprefix("up/")]) for k in redone)


def test_multipart_upload_killed_then_rerun(fault_proxy, s3_raw: Raw, tmp_path: Path) -> None:
    path = tmp_path / "large.bin"
    data = os.urandom(17 * MiB)  # three parts of 8 MiB
    path.write_bytes(data)
    slow = fault_proxy(delay=0.4)
    child = spawn(
        f"""
        import t4
        b = t4.Bucket({s3_raw.uri!r}, endpoint_url={slow.url!r}, concurrency=1)
        b.put_file("large.bin", {str(path)!r})
        """,
        cwd=tmp_path,
    )
    client, name = s3_raw.client, s3_raw.name

    def a_part_is_up() -> bool:
        uploads = client.list_multipart_uploads(Bucket=name).get("Uploads", [])
        return any(
            client.list_parts(Bucket=name, Key=u["Key"], UploadId=u["UploadId"]).get("Parts")
            for u in uploads
        )

    try:
        assert wait_until(a_part_is_up, timeout=60), "no part was uploaded"
    finally:
        kill(child)
    assert client.list_multipart_uploads(Bucket=name).get("Uploads"), "nothing left to clean"
    assert s3_raw.listing() == []

    with t4.Bucket(s3_raw.uri) as b:
        b.put_file("large.bin", path)
    assert s3_raw.read("large.bin") == data
    assert client.list_multipart_uploads(Bucket=name).get("Uploads", []) == []


def part_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if PART_MARK in p.name]


def test_directory_fetch_killed_then_rerun(fault_proxy, s3_raw: Raw, tmp_path: Path) -> None:
    files = {"a-big.bin": os.urandom(9 * MiB)}
    files.update({f"d{i % 3}/s{i:02d}.bin": os.urandom(4096 + i) for i in range(30)})
    for name, data in files.items():
        s3_raw.write(f"dir/{name}", data)
    dest = tmp_path / "dest"
    slow = fault_proxy(delay=0.1)
    child = spawn(
        f"""
        import t4
        b = t4.Bucket({s3_raw.uri!r}, endpoint_url={slow.url!r}, concurrency=2)
        b.fetch("dir", {str(dest)!r})
        """,
        cwd=tmp_path,
    )

    def complete() -> set[str]:
        found = set()
        for p in dest.rglob("*") if dest.exists() else []:
            rel = p.relative_to(dest).as_posix()
            if p.is_file() and rel in files and p.read_bytes() == files[rel]:
                found.add(rel)
        return found

    try:
        mid_way = wait_until(
            lambda: part_files(dest) or len(complete()) >= 3, timeout=60, interval=0.005
        )
        assert mid_way, "child made no progress"
    finally:
        kill(child)
    done_before = complete()
    assert len(done_before) < len(files), "the kill did not land mid-way"

    records: list[tuple[str, str, int]] = []
    with t4.Bucket(s3_raw.uri, callback=lambda *r: records.append(r)) as b:
        b.fetch("dir", dest)
    assert part_files(dest) == []
    got = {p.relative_to(dest).as_posix(): p.read_bytes() for p in dest.rglob("*") if p.is_file()}
    assert got == files
    seen = outcomes(records)
    assert all(seen[f"dir/{k}"] == ("skipped", 0) for k in done_before), seen


def test_local_put_dir_killed_then_rerun(tmp_path: Path) -> None:
    """The same for a local-folder bucket: no temporary files left in the bucket folder."""
    source, lake = tmp_path / "src", tmp_path / "lake"
    lake.mkdir()
    files = {f"f{i:04d}.bin": os.urandom(256 * 1024) for i in range(120)}
    for name, data in files.items():
        source.mkdir(exist_ok=True)
        (source / name).write_bytes(data)
    child = spawn(
        f"""
        import t4
        b = t4.Bucket({str(lake)!r}, concurrency=1)
        b.put_dir("", {str(source)!r})
        """,
        cwd=tmp_path,
    )
    try:
        assert wait_until(lambda: len(list(lake.glob("f*.bin"))) >= 3, 60, interval=0.002)
    finally:
        kill(child)
    assert len(list(lake.glob("f*.bin"))) < len(files), "the kill did not land mid-way"
    with t4.Bucket(lake) as b:
        b.put_dir("", source)
    got = {p.name: p.read_bytes() for p in lake.iterdir() if p.is_file()}
    assert got == files
    assert list((lake / ".t4" / "tmp").iterdir()) == []
