"""Writers and deleters in separate processes on one folder bucket: deleting the last key
of a folder removes the folder, and a write into that folder from another process at the
same moment still lands (it failed with a bare FileNotFoundError when the folder went
between the write making it and moving the file in)."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

import t4

PROCESSES = 4
ROUNDS = 300


def churn(root: str, name: str, barrier: Any, results: Any) -> None:
    """Put and delete one key of a shared folder, ``ROUNDS`` times; report every failure."""
    bucket = t4.Bucket(root)
    barrier.wait()
    failures = []
    for _ in range(ROUNDS):
        try:
            bucket.put(f"shared/folder/{name}", b"x")
            bucket.delete(f"shared/folder/{name}")
        except Exception as err:  # reported to the test, which fails naming it
            failures.append(repr(err))
    results.put((name, failures))


def test_writes_land_while_other_processes_empty_and_remove_their_folder(tmp_path: Path):
    root = tmp_path / "lake"
    root.mkdir()
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(PROCESSES), ctx.Queue()
    procs = [
        ctx.Process(target=churn, args=(str(root), f"k{i}", barrier, results))
        for i in range(PROCESSES)
    ]
    for proc in procs:
        proc.start()
    outcomes = [results.get(timeout=240) for _ in procs]
    for proc in procs:
        proc.join(timeout=60)
        assert proc.exitcode == 0
    assert [(name, failures) for name, failures in outcomes if failures] == []
    assert t4.Bucket(str(root)).keys() == []
    assert not (root / "shared").exists()  # the last delete still removes the folder
