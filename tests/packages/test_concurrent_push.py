"""No version is ever lost: 8 real processes push distinct contents to one package name at
once, 3 rounds, on a folder registry, on moto and on SeaweedFS. Every push is listed as a
version afterwards or raised ``PackageConflictError``; each listed push has its own pointer
(quilt3's unix-time names, even within one second); ``latest`` names a listed version."""

from __future__ import annotations

import multiprocessing

import pytest

import t4
from packages.pushers import NAME, pusher

PUSHERS = 8
ROUNDS = 3


def _run_pushers(uri: str) -> list[tuple[int, int, bool, str, str | None]]:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(PUSHERS)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=pusher, args=(i, uri, ROUNDS, barrier, results)) for i in range(PUSHERS)
    ]
    for proc in procs:
        proc.start()
    outcomes = [results.get(timeout=240) for _ in range(PUSHERS * ROUNDS)]
    for proc in procs:
        proc.join(timeout=60)
        assert proc.exitcode == 0
    return outcomes


@pytest.mark.timeout(600)
def test_concurrent_pushes_are_each_listed_or_a_conflict(registry_store):
    outcomes = _run_pushers(registry_store)
    errors = [o for o in outcomes if o[3] == "error"]
    assert not errors, errors
    assert all(o[3] == "pushed" for o in outcomes if o[2]), "a force push may never conflict"
    pushed = [o[4] for o in outcomes if o[3] == "pushed"]
    assert len(set(pushed)) == len(pushed)  # distinct contents, distinct versions

    versions = t4.list_package_versions(NAME, registry_store)
    pointers = [(p, h) for p, h in versions if p != "latest"]
    latest = dict(versions)["latest"]
    assert all(p.isdigit() for p, _ in pointers), pointers  # names quilt3 reads as times
    assert sorted(h for _, h in pointers) == sorted(pushed)  # each push its own pointer
    assert latest in pushed
    assert t4.Package.browse(NAME, registry_store).top_hash == latest
