"""Memory grows with the number of files only by what the plan must hold (docs/performance.md,
"Memory"): a bulk write does not build every file's search-index document at once, and the
objects held per file carry no ``__dict__``. Checked by structure, not by size;
``bench/memory.py`` measures whole processes at 100,000 files on S3 and a folder bucket.
"""

from __future__ import annotations

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
