"""A listing of a folder bucket, and the versions of a package, while a second process keeps
writing and deleting files there: what is deleted between being listed and being read is
left out, as an S3 listing leaves out what is gone, never a ``KeyNotFoundError``."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import t4

#: Writes and deletes ``<folder>/f<i>`` (plain files: no t4 record, so a listing reads them
#: to hash them; each renamed into place whole, as t4 writes) until ``stop`` exists; prints
#: "ready" after the first round.
CHURNER = textwrap.dedent(
    """
    import os, sys
    folder, stop, body = sys.argv[1], sys.argv[2], sys.argv[3].encode()
    os.makedirs(folder, exist_ok=True)
    rounds = 0
    while not os.path.exists(stop):
        for i in range(20):
            with open(stop + ".tmp", "wb") as out:
                out.write(body)
            os.rename(stop + ".tmp", os.path.join(folder, f"f{i}"))
        for i in range(20):
            os.unlink(os.path.join(folder, f"f{i}"))
        if rounds == 0:
            print("ready", flush=True)
        rounds += 1
    """
)


@pytest.fixture
def churn(tmp_path: Path) -> Iterator[Callable[[Path, str], None]]:
    """Starts a churner in the folder given, writing the body given; all stop at teardown."""
    procs: list[subprocess.Popen[str]] = []
    stop = tmp_path / "stop"

    def start(folder: Path, body: str) -> None:
        proc = subprocess.Popen(
            [sys.executable, "-c", CHURNER, str(folder), str(stop), body],
            stdout=subprocess.PIPE,
            text=True,
        )
        procs.append(proc)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"

    yield start
    stop.touch()
    for proc in procs:
        proc.wait(timeout=30)


def test_a_listing_leaves_out_what_is_deleted_as_it_lists(
    tmp_path: Path, churn: Callable[[Path, str], None]
) -> None:
    lake = tmp_path / "lake"
    (lake / "keep.txt").parent.mkdir(parents=True)
    (lake / "keep.txt").write_bytes(b"kept")
    churn(lake / "churn", "x" * 4096)
    bucket = t4.Bucket(str(lake))
    for _ in range(300):
        keys = bucket.keys()
        assert "keep.txt" in keys
        assert all(k == "keep.txt" or k.startswith("churn/f") for k in keys)


def test_package_versions_leave_out_a_pointer_deleted_as_they_list(
    tmp_path: Path, churn: Callable[[Path, str], None]
) -> None:
    registry = tmp_path / "registry"
    pushed = t4.Package().set("a.json", {"a": 1}).push("team/churn", registry=str(registry))
    churn(registry / ".quilt/named_packages/team/churn", pushed.top_hash)
    for _ in range(300):
        versions = dict(t4.list_package_versions("team/churn", str(registry)))
        assert versions["latest"] == pushed.top_hash
        assert set(versions.values()) == {pushed.top_hash}
