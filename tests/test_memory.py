"""Memory grows with the number of files only by what the plan must hold (docs/performance.md,
"Memory"): a bulk write does not build every file's search-index document at once, and the
objects held per file carry no ``__dict__``; a fresh process's peak RSS grows little with the
number of files. ``bench/memory.py`` measures whole processes at 100,000 files on S3 and a
folder bucket.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import t4
from t4.plans.upload import Upload
from t4.walk import walk


def _tree(root: Path, n: int) -> Path:
    for i in range(n):
        path = root / f"d{i % 10}" / f"s{(i // 10) % 10}" / f"f{i:06d}.txt"
        if i < 100:
            path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"file {i}\n")
    return root


def test_what_a_plan_holds_per_file_has_no_dict(tmp_path: Path) -> None:
    """The objects held once per file of a plan, as the bucket gives them, are slotted."""
    src = _tree(tmp_path / "src", 3)
    bucket = t4.Bucket(tmp_path / "lake")
    bucket.put_dir("data", src)
    held = [next(iter(bucket.ls("data/"))), walk(src)[0]]
    held.append(Upload(held[1].path, "data/x", held[1].size))
    assert all(not hasattr(obj, "__dict__") for obj in held), held


def test_the_index_takes_a_bulk_write_a_batch_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Documents for the index are built ``BATCH`` at a time: the items are read lazily."""
    from t4.search import upkeep

    src = _tree(tmp_path / "src", upkeep.BATCH + 5)
    bucket = t4.Bucket(tmp_path / "lake")
    batches: list[int] = []
    original = upkeep.EmbeddedIndex.upsert

    def counting(self: object, docs: list[object]) -> None:
        batches.append(len(docs))
        original(self, docs)  # type: ignore[arg-type]

    monkeypatch.setattr(upkeep.EmbeddedIndex, "upsert", counting)
    bucket.put_dir("data", src)
    assert batches == [upkeep.BATCH, 5]
    assert len(bucket.search("file", limit=upkeep.BATCH + 10)) == upkeep.BATCH + 5


#: Files of the measured run, and of the baseline run it is compared with.
MANY, FEW = 10_000, 1_000
#: Most a fresh process's peak RSS may grow, MB, from ``FEW`` to ``MANY`` files. Measured
#: growth: put_dir 8.1, fetch 5.0 MB; 22.4 and 14.1 MB before the plans held arrays and made
#: each step as the engine took it.
PUT_DIR_GROWTH_MB = 14
FETCH_GROWTH_MB = 8

#: The child reads its peak RSS from VmHWM: ``ru_maxrss`` may start at its parent's (fork).
_CHILD = """
import sys, t4
lake, src, out, op = sys.argv[1:5]
bucket = t4.Bucket(lake)
summary = bucket.put_dir("data", src) if op == "put_dir" else bucket.fetch("data/", out)
assert not summary.failed and len(summary.skipped) == int(sys.argv[5]), summary.line()
with open("/proc/self/status") as status:
    print(next(line.split()[1] for line in status if line.startswith("VmHWM:")))
"""


def _peak_mb(root: Path, op: str, files: int) -> float:
    """Peak RSS of a fresh process that runs ``op`` over ``files`` files already in place."""
    code = Path(t4.__file__).resolve().parents[1]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(code), os.environ.get("PYTHONPATH", "")]),
    }
    args = [str(root / "lake"), str(root / "src"), str(root / "out"), op, str(files)]
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, *args], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return int(done.stdout.split()[-1]) / 1024


def test_a_fresh_process_grows_little_per_file(tmp_path: Path) -> None:
    """put_dir and fetch of 10,000 files, each in a fresh process, peak within a few MB of
    the same of 1,000 files: the plan holds a key and a few numbers per file, and makes
    each step as the engine takes it. Every file goes through the plan and the engine: the
    bucket holds the same bytes, written by another tool (so each file's metadata is
    checked by a step), and the fetch's folder holds them too (each file compared)."""
    peaks: dict[tuple[str, int], float] = {}
    for files in (FEW, MANY):
        root = tmp_path / str(files)
        _flat_tree(root / "src", files)
        shutil.copytree(root / "src", root / "lake" / "data")
        shutil.copytree(root / "src", root / "out")
        for op in ("put_dir", "fetch"):
            peaks[op, files] = _peak_mb(root, op, files)
    put_dir = peaks["put_dir", MANY] - peaks["put_dir", FEW]
    fetch = peaks["fetch", MANY] - peaks["fetch", FEW]
    print(
        f"peak RSS growth, {FEW:,} -> {MANY:,} files: put_dir {put_dir:.1f}, fetch {fetch:.1f} MB"
    )
    assert put_dir < PUT_DIR_GROWTH_MB, peaks
    assert fetch < FETCH_GROWTH_MB, peaks


def _flat_tree(root: Path, n: int) -> None:
    for i in range(n):
        path = root / f"d{i % 10}" / f"f{i:06d}.txt"
        if i < 10:
            path.parent.mkdir(parents=True)
        path.write_text(f"{i}\n")
