"""A re-install sends only what is missing or changed, on a folder registry, moto and
SeaweedFS: over the previous version, over a copy with a file changed by hand, and after an
install killed half-way (a real second process, SIGKILLed); requests counted through the
fault proxy; local files hashed only when their record (path, size, mtime) is missing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from files import read_tree, write_tree
from proxy import FaultProxy, wait_until

import t4
from t4.packages import hashing

FILES = {f"part/f{i:02d}.txt": f"file {i}\n".encode() for i in range(12)}


def _inodes(root: Path) -> dict[str, int]:
    return {p.relative_to(root).as_posix(): p.stat().st_ino for p in root.rglob("*") if p.is_file()}


def test_reinstall_over_the_previous_version_sends_only_what_changed(registry_store, tmp_path):
    src = write_tree(tmp_path / "src", FILES)
    t4.Package().set_dir("/", src).push("team/data", registry=registry_store)
    dest = tmp_path / "installed"
    first = t4.Package.install("team/data", registry_store, dest=dest)
    assert first.summary is not None and len(first.summary.transferred) == len(FILES)
    before = _inodes(dest)
    (src / "part/f03.txt").write_bytes(b"changed\n")
    (src / "new.txt").write_bytes(b"new\n")
    latest = t4.Package.browse("team/data", registry_store)
    latest.set_dir("/", src).push("team/data", registry=registry_store)
    second = t4.Package.install("team/data", registry_store, dest=dest)
    assert second.summary is not None
    assert sorted(second.summary.transferred) == ["new.txt", "part/f03.txt"]
    assert len(second.summary.skipped) == len(FILES) - 1
    assert "2 transferred, 11 skipped" in second.summary.line()
    after = _inodes(dest)
    assert all(after[k] == before[k] for k in FILES if k != "part/f03.txt")  # not rewritten
    assert read_tree(dest) == read_tree(src)


def test_a_changed_local_file_is_fetched_again(registry_store, tmp_path):
    src = write_tree(tmp_path / "src", FILES)
    t4.Package().set_dir("/", src).push("team/data", registry=registry_store)
    dest = tmp_path / "installed"
    t4.Package.install("team/data", registry_store, dest=dest)
    (dest / "part/f05.txt").write_bytes(b"FILE 5\n")  # same size, other bytes
    (dest / "part/f07.txt").unlink()
    again = t4.Package.install("team/data", registry_store, dest=dest)
    assert again.summary is not None
    assert sorted(again.summary.transferred) == ["part/f05.txt", "part/f07.txt"]
    assert read_tree(dest) == FILES


def test_a_local_file_is_hashed_only_when_its_record_is_missing(registry_store, tmp_path,
                                                                monkeypatch):  # fmt: skip
    src = write_tree(tmp_path / "src", FILES)
    t4.Package().set_dir("/", src).push("team/data", registry=registry_store)
    dest = tmp_path / "installed"
    t4.Package.install("team/data", registry_store, dest=dest)
    old = time.time() - 60  # settled files: their hash may be kept (see t4.state)
    for path in dest.rglob("*.txt"):
        os.utime(path, (old, old))
    hashed: list[Path] = []
    real = hashing.hash_file

    def counting(path: Path, kind: str = hashing.CHUNKED) -> dict[str, str]:
        hashed.append(path)
        return real(path, kind)

    monkeypatch.setattr(hashing, "hash_file", counting)
    t4.Package.install("team/data", registry_store, dest=dest)  # records stale: hashed
    assert len(hashed) == len(FILES)
    hashed.clear()
    third = t4.Package.install("team/data", registry_store, dest=dest)
    assert hashed == []  # every record fresh: nothing read
    assert third.summary is not None and len(third.summary.skipped) == len(FILES)


def test_reinstall_requests_only_the_changed_object(s3_env, s3_bucket_uri, tmp_path,
                                                    monkeypatch):  # fmt: skip
    src = write_tree(tmp_path / "src", FILES)
    t4.Package().set_dir("/", src).push("team/data", registry=s3_bucket_uri)
    dest = tmp_path / "installed"
    t4.Package.install("team/data", s3_bucket_uri, dest=dest)
    (src / "part/f09.txt").write_bytes(b"nine\n")
    t4.Package.browse("team/data", s3_bucket_uri).set_dir("/", src).push(
        "team/data", registry=s3_bucket_uri
    )
    data_gets: list[str] = []

    def record(method: str, path: str) -> bool:
        if method == "GET" and f"/{s3_bucket_uri[5:]}/team/data/" in path:
            data_gets.append(path)
        return False

    with FaultProxy(s3_env.endpoint, only=record) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        again = t4.Package.install("team/data", s3_bucket_uri, dest=dest)
    assert again.summary is not None and again.summary.transferred == ["part/f09.txt"]
    assert len(data_gets) == 1 and data_gets[0].endswith("/team/data/part/f09.txt")
    assert read_tree(dest) == read_tree(src)


_CHILD = """
import json, sys
import t4
args = json.loads(sys.argv[1])
t4.Package.install("team/data", args["registry"], dest=args["dest"])
"""


def test_an_install_killed_half_way_resumes_with_what_is_missing(s3_env, s3_bucket_uri,
                                                                 tmp_path):  # fmt: skip
    files = {**FILES, "zz-last.txt": b"the last file\n"}  # last in walk order
    src = write_tree(tmp_path / "src", files)
    t4.Package().set_dir("/", src).push("team/data", registry=s3_bucket_uri)
    dest = tmp_path / "installed"

    def stall_last(method: str, path: str) -> bool:
        return method == "GET" and path.split("?")[0].endswith("/zz-last.txt")

    with FaultProxy(s3_env.endpoint, rate=1.0, faults=("stall",), only=stall_last,
                    stall_seconds=120) as proxy:  # fmt: skip
        env = {**os.environ, "AWS_ENDPOINT_URL": proxy.url, "T4_CONCURRENCY": "1"}
        args = json.dumps({"registry": s3_bucket_uri, "dest": str(dest)})
        child = subprocess.Popen([sys.executable, "-c", _CHILD, args], env=env)
        try:
            assert wait_until(lambda: proxy.counts["stall"] >= 1, timeout=120)
            assert all((dest / k).is_file() for k in FILES)  # one at a time: all before it
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL
    assert not (dest / "zz-last.txt").exists()
    resumed = t4.Package.install("team/data", s3_bucket_uri, dest=dest)
    assert resumed.summary is not None
    assert resumed.summary.transferred == ["zz-last.txt"]
    assert sorted(resumed.summary.skipped) == sorted(FILES)
    assert read_tree(dest) == files


def test_cli_install_prints_what_it_transferred_and_skipped(registry_store, tmp_path):
    src = write_tree(tmp_path / "src", FILES)
    t4.Package().set_dir("/", src).push("team/data", registry=registry_store)
    dest = tmp_path / "cli"
    t4cmd = str(Path(sys.executable).parent / "t4")
    run = [t4cmd, "package", "install", "team/data", "-r", registry_store, "--dest", str(dest)]
    first = subprocess.run(run, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    assert "(12 transferred, 0 skipped)" in first.stdout
    (dest / "part/f00.txt").unlink()
    again = subprocess.run([*run, "--json"], capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    data = json.loads(again.stdout)
    assert (data["transferred"], data["skipped"]) == (1, 11)
