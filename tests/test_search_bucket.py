"""Bucket.search and Bucket.index on both backends (a local folder and S3 on moto): writes
through Bucket update the index; objects written by others are found after index()."""

from __future__ import annotations

import json
from typing import Any

import pytest
from catalog_server import CatalogThread

import t4
from t4.errors import QuerySyntaxError


def keys(hits: list[dict[str, Any]]) -> set[str]:
    return {h["key"] for h in hits}


@pytest.fixture
def heroes(bucket: t4.Bucket) -> t4.Bucket:
    bucket.put(
        "heroes/thor.json", {"weapon": "hammer"}, meta={"name": "Thor", "stage": "raw", "rows": 150}
    )
    bucket.put(
        "heroes/loki.txt", "a shape shifter", meta={"name": "Loki", "stage": "clean", "rows": 4999}
    )
    bucket.put("tmp/scratch.tmp", b"xx", meta={"stage": "raw", "rows": 100})
    bucket.put("notes/readme.md", "The mighty Thor wields Mjolnir", meta={"owner": {"team": "ops"}})
    bucket.put("data/c#d?.txt", "50% off", meta={"name": "o'brien", "created": "2023-11-20"})
    return bucket


QUERIES = {
    "thor": {"heroes/thor.json", "notes/readme.md"},
    "hammer": {"heroes/thor.json"},
    "mighty thor": {"notes/readme.md"},
    '"shape shifter"': {"heroes/loki.txt"},
    "user_meta.name:'thor'": {"heroes/thor.json"},
    'user_meta.name:"Thor"': {"heroes/thor.json"},
    "user_meta.stage:raw AND NOT key:*.tmp": {"heroes/thor.json"},
    "user_meta.stage:raw OR user_meta.owner.team:ops": {
        "heroes/thor.json", "tmp/scratch.tmp", "notes/readme.md",
    },
    "user_meta.rows:[100 TO 5000]": {"heroes/thor.json", "heroes/loki.txt", "tmp/scratch.tmp"},
    "user_meta.rows:{100 TO 5000}": {"heroes/thor.json", "heroes/loki.txt"},
    "user_meta.created:[2023-01-01 TO 2023-12-31]": {"data/c#d?.txt"},
    "key:heroes/*": {"heroes/thor.json", "heroes/loki.txt"},
    'key:"data/c#d?.txt"': {"data/c#d?.txt"},
    "size:<3": {"tmp/scratch.tmp"},
    "last_modified:[2000-01-01 TO now]": {
        "heroes/thor.json", "heroes/loki.txt", "tmp/scratch.tmp", "notes/readme.md",
        "data/c#d?.txt",
    },
}  # fmt: skip


@pytest.mark.parametrize("query", sorted(QUERIES))
def test_query_forms(heroes: t4.Bucket, query: str) -> None:
    assert keys(heroes.search(query, limit=50)) == QUERIES[query]


def test_hits_carry_what_was_written(heroes: t4.Bucket, raw: Any) -> None:
    (hit,) = heroes.search("user_meta.name:'thor'")
    assert hit["key"] == "heroes/thor.json" and hit["meta"]["rows"] == 150
    assert hit["size"] == len(raw.read("heroes/thor.json"))
    assert "hammer" in hit["text"] and hit["last_modified"].endswith("Z")


def test_bad_query(heroes: t4.Bucket) -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        heroes.search("user_meta.rows:[1 TO")
    assert caught.value.position is not None


def test_delete_and_overwrite_update_the_index(heroes: t4.Bucket) -> None:
    heroes.delete("heroes/thor.json")
    assert keys(heroes.search("hammer")) == set()
    heroes.put("notes/readme.md", "now about Odin", meta={"owner": {"team": "dev"}})
    assert keys(heroes.search("thor")) == set()
    assert keys(heroes.search("odin AND user_meta.owner.team:dev")) == {"notes/readme.md"}


def test_index_catches_objects_written_by_others(
    bucket: t4.Bucket, raw: Any, backend_kind: str
) -> None:
    bucket.put("mine.txt", "first words", meta={"by": "t4"})
    bucket.index()  # indexed once: later foreign writes wait for the next index()
    helium = json.dumps({"user_meta": {"by": "someone"}, "format": {"name": "utf-8"}})
    raw.write(
        "theirs/report.md", b"quarterly thunder report", helium if backend_kind == "s3" else None
    )
    assert keys(bucket.search("thunder")) == set()
    summary = bucket.index()
    assert summary["added"] == 1 and summary["unchanged"] == 1 and summary["removed"] == 0
    assert keys(bucket.search("thunder")) == {"theirs/report.md"}
    if backend_kind == "s3":
        assert keys(bucket.search("user_meta.by:someone")) == {"theirs/report.md"}
    again = bucket.index()
    assert again["added"] == again["updated"] == 0 and again["unchanged"] == 2
    full = bucket.index(reindex=True)
    assert full["updated"] == 2 and full["unchanged"] == 0
    assert keys(bucket.search("thunder")) == {"theirs/report.md"}


def test_catalog_serves_the_bucket_index(heroes: t4.Bucket, backend_kind: str) -> None:
    embedded = {q: heroes.search(q, limit=50) for q in QUERIES}
    with CatalogThread([heroes], refresh=0) as server:
        t4.config(navigator_url=server.url)
        for query, hits in embedded.items():
            assert heroes.search(query, limit=50) == hits, query


def test_first_search_indexes_objects_written_by_others(bucket, raw):
    raw.write("others/notes.txt", b"written by another tool about valhalla")
    bucket.put("mine.txt", "mine")  # a write through t4 alone does not make the index whole
    assert [h["key"] for h in bucket.search("valhalla")] == ["others/notes.txt"]


def test_what_the_index_covers_is_what_the_readme_and_help_say(bucket: t4.Bucket) -> None:
    """Per format, which bytes are indexed: the README and ``t4 search --help`` say it."""
    import gzip
    import subprocess
    import sys
    from pathlib import Path

    import pandas as pd

    from t4.search.documents import CSV_ROWS, TEXT_BYTES

    pad = "filler " * (TEXT_BYTES // 7 + 10)  # past the indexed head of the object
    bucket.put("notes/long.txt", f"nearword {pad} farword")
    rows = "\n".join(f"cell{i},x" for i in range(1, CSV_ROWS + 3))
    bucket.put("tables/t.csv", f"name,v\n{rows}\n".encode())
    bucket.put("notes/zipped.txt.gz", gzip.compress(b"gzword inside"))
    frame = pd.DataFrame({"c": ["parquetword"]})
    bucket.put("tables/p.parquet", frame, meta={"topic": "parquetmeta"})
    found = {q: keys(bucket.search(q)) for q in
             ["nearword", "farword", f"cell{CSV_ROWS}", f"cell{CSV_ROWS + 1}", "gzword",
              "parquetword", "parquetmeta"]}  # fmt: skip
    assert found == {
        "nearword": {"notes/long.txt"}, "farword": set(),
        f"cell{CSV_ROWS}": {"tables/t.csv"}, f"cell{CSV_ROWS + 1}": set(),
        "gzword": {"notes/zipped.txt.gz"},
        "parquetword": set(), "parquetmeta": {"tables/p.parquet"},
    }  # fmt: skip
    t4_command = str(Path(sys.executable).parent / "t4")
    shown = subprocess.run([t4_command, "search", "--help"], capture_output=True, text=True)
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    for said in (" ".join(shown.stdout.split()), " ".join(readme.split())):
        assert f"first {TEXT_BYTES // 1024} KiB" in said
        assert f"first {CSV_ROWS} rows" in said
        assert "key and metadata only" in said
        assert "t4 index --reindex" in said or "index(reindex=True)" in said
