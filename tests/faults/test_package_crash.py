"""A package push killed (SIGKILL) while its data is uploading leaves ``latest`` and the
manifests as they were; running the same push again converges on the new version."""

from __future__ import annotations

import os
from pathlib import Path

from proxy import wait_until
from servers import Raw

import t4
from faults.conftest import spawn
from faults.test_crash_rerun import kill, settled_listing


def test_push_killed_mid_upload_then_rerun(fault_proxy, s3_raw: Raw, tmp_path: Path) -> None:
    first = tmp_path / "v1"
    first.mkdir()
    (first / "a.txt").write_text("one")
    v1 = t4.Package().set_dir("/", first).push("team/data", registry=s3_raw.uri, message="v1")
    more = tmp_path / "more"
    more.mkdir()
    for i in range(60):
        (more / f"f{i:02d}.bin").write_bytes(os.urandom(1024 + i))
    slow = fault_proxy(delay=0.08)
    child = spawn(
        f"""
        import t4
        b = t4.Bucket({s3_raw.uri!r}, endpoint_url={slow.url!r}, concurrency=2)
        p = t4.Package.browse("team/data", b)
        p.set_dir("more", {str(more)!r})
        p.push("team/data", registry=b, message="v2")
        """,
        cwd=tmp_path,
    )

    def uploaded() -> list[str]:
        return [k for k in s3_raw.listing() if k.startswith("team/data/more/")]

    try:
        assert wait_until(lambda: len(uploaded()) >= 5, timeout=60), "child made no progress"
    finally:
        kill(child)
    listing = settled_listing(s3_raw)
    assert 5 <= len(uploaded()) < 60, "the kill did not land mid-way"
    assert [k for k in listing if k.startswith(".quilt/packages/")] == [
        f".quilt/packages/{v1.top_hash}"
    ]
    assert s3_raw.read(".quilt/named_packages/team/data/latest") == v1.top_hash.encode()
    assert t4.Package.browse("team/data", s3_raw.uri).top_hash == v1.top_hash

    again = t4.Package.browse("team/data", s3_raw.uri)
    again.set_dir("more", more)
    v2 = again.push("team/data", registry=s3_raw.uri, message="v2")
    assert s3_raw.read(".quilt/named_packages/team/data/latest") == v2.top_hash.encode()
    latest = t4.Package.browse("team/data", s3_raw.uri)
    assert len([k for k, _ in latest.walk()]) == 61
    assert latest["more/f07.bin"].get_bytes() == (more / "f07.bin").read_bytes()
