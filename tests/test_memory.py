"""Memory grows with the number of files only by what the plan must hold (docs/performance.md,
"Memory"): a bulk write does not keep a second copy of every file as search-index documents,
and the objects held per file carry no ``__dict__``. Measured with ``tracemalloc`` in process
(allocation sizes, not timings: the same on a loaded machine), on a folder bucket, so it runs
everywhere; ``bench/memory.py`` measures whole processes at 100,000 files on S3 and a folder.
"""

from __future__ import annotations

import gc
import tracemalloc
from pathlib import Path

import pytest

import t4

FILES = 3000
#: Peak bytes allocated per file (3,000 files, warm bucket), measured: put_dir 2,377 (2,453
#: before this bound), fetch 2,055 (3,088 before: ``ObjectInfo`` with a ``__dict__``, every
#: file's stat held at once). A regression guard with room; the process figures are the bench's.
PUT_DIR_BYTES_PER_FILE = 2800
FETCH_BYTES_PER_FILE = 2500


def _tree(root: Path, n: int) -> Path:
    for i in range(n):
        path = root / f"d{i % 10}" / f"s{(i // 10) % 10}" / f"f{i:06d}.txt"
        if i < 100:
            path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"file {i}\n")
    return root


def _peak_per_file(run: object, n: int) -> float:
    gc.collect()
    tracemalloc.start()
    try:
        run()  # type: ignore[operator]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / n


def test_put_dir_and_fetch_hold_little_per_file(tmp_path: Path) -> None:
    src = _tree(tmp_path / "src", FILES)
    bucket = t4.Bucket(tmp_path / "lake")
    # warm: modules imported and databases opened on first use are not per file
    bucket.put_dir("warm", _tree(tmp_path / "warm", 2))
    bucket.fetch("warm/", tmp_path / "warm-out")
    up = _peak_per_file(lambda: bucket.put_dir("data", src), FILES)
    down = _peak_per_file(lambda: bucket.fetch("data/", tmp_path / "out"), FILES)
    assert len(bucket.keys("data/")) == FILES
    assert bucket.search("file", limit=1)  # every file was indexed, a batch at a time
    assert up < PUT_DIR_BYTES_PER_FILE, f"put_dir peaked at {up:.0f} bytes a file"
    assert down < FETCH_BYTES_PER_FILE, f"fetch peaked at {down:.0f} bytes a file"


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
