"""The embedded index on real SQLite files: every query form, ordering, updates, errors,
injection attempts, and two processes writing at once."""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from search_corpus import DOCS, EXPECTED

from t4.errors import QuerySyntaxError
from t4.search import (
    TEXT_BYTES,
    Document,
    EmbeddedIndex,
    index_path_for,
    is_text_like,
    text_of,
)


@pytest.fixture
def index(tmp_path: Path) -> Iterator[EmbeddedIndex]:
    with EmbeddedIndex(tmp_path / "idx" / "index.sqlite") as ix:
        ix.upsert(DOCS)
        yield ix


def keys(hits: list[dict]) -> list[str]:
    return [h["key"] for h in hits]


@pytest.mark.parametrize("query", sorted(EXPECTED))
def test_query_forms(index: EmbeddedIndex, query: str) -> None:
    assert set(keys(index.search(query, limit=50))) == EXPECTED[query]


def test_hit_shape(index: EmbeddedIndex) -> None:
    (hit,) = index.search("key:heroes/thor.json")
    assert hit == {
        "key": "heroes/thor.json",
        "version_id": "v1",
        "size": 120,
        "last_modified": "2024-01-01T12:00:00Z",
        "meta": {"name": "Thor", "stage": "raw", "rows": 150, "created": "2023-05-01"},
        "score": 1.0,
        "text": '{"weapon": "hammer", "realm": "asgard"}',
    }


def test_filters_come_newest_first(index: EmbeddedIndex) -> None:
    found = index.search("user_meta.stage:raw")
    assert keys(found) == ["data/table.csv", "tmp/scratch.tmp", "heroes/thor.json"]


def test_words_rank_by_relevance(tmp_path: Path) -> None:
    now = datetime(2024, 1, 1, tzinfo=UTC)
    docs = [
        Document("a.txt", 1, "a", now + timedelta(days=2), text="thor " + "filler " * 50),
        Document("b.txt", 1, "b", now, text="thor thor thor hammer"),
        Document("c.txt", 1, "c", now + timedelta(days=1), text="nothing here"),
    ]
    with EmbeddedIndex(tmp_path / "i.sqlite") as ix:
        ix.upsert(docs)
        hits = ix.search("thor")
    assert keys(hits) == ["b.txt", "a.txt"]  # b is older but mentions thor more
    assert hits[0]["score"] > hits[1]["score"]


def test_limit(index: EmbeddedIndex) -> None:
    assert len(index.search("user_meta.stage:raw", limit=2)) == 2


@pytest.mark.parametrize("limit", [-1, "10", 2.5])
def test_bad_limits(index: EmbeddedIndex, limit: object) -> None:
    with pytest.raises(QuerySyntaxError, match="hits"):
        index.search("thor", limit=limit)  # type: ignore[arg-type]
    assert index.search("thor", limit=0) == []


def test_upsert_replaces_and_remove_forgets(index: EmbeddedIndex) -> None:
    later = datetime(2024, 2, 1, tzinfo=UTC)
    index.upsert([Document("heroes/thor.json", 5, "e9", later, None, {"name": "Odin"}, "spear")])
    assert keys(index.search("user_meta.name:odin")) == ["heroes/thor.json"]
    assert index.search("user_meta.name:thor") == [keys_only("data/table.csv", index)]
    assert index.search("hammer") == []
    assert index.etags()["heroes/thor.json"] == "e9"
    index.remove(["heroes/thor.json", "never/there"])
    assert "heroes/thor.json" not in index.etags()
    assert index.search("user_meta.name:odin") == []
    assert len(index) == len(DOCS) - 1


def keys_only(key: str, index: EmbeddedIndex) -> dict:
    (hit,) = index.search(f'key:"{key}"')
    return hit


def test_same_key_twice_in_a_batch_keeps_the_last(tmp_path: Path) -> None:
    now = datetime(2024, 1, 1, tzinfo=UTC)
    with EmbeddedIndex(tmp_path / "i.sqlite") as ix:
        ix.upsert(
            [Document("k", 1, "a", now, text="first"), Document("k", 2, "b", now, text="second")]
        )
        assert ix.etags() == {"k": "b"}
        assert keys(ix.search("second")) == ["k"]
        assert ix.search("first") == []


def test_persists_across_opens(tmp_path: Path) -> None:
    path = tmp_path / "i.sqlite"
    with EmbeddedIndex(path) as ix:
        ix.upsert(DOCS)
    with EmbeddedIndex(path) as ix:
        assert set(keys(ix.search("thor"))) == EXPECTED["thor"]


@pytest.mark.parametrize(
    "body, expected",
    [
        ({"query": {"match_all": {}}, "size": 2}, ["data/c#d?.txt", "data/table.csv"]),
        ({"query": {"query_string": {"query": "user_meta.name:'thor'"}}}, None),
        ({"query": {"query_string": {"query": "mighty shifter"}}}, None),  # ES: OR default
        ({"query": {"query_string": {"query": "mighty shifter", "default_operator": "AND"}}}, []),
    ],
)
def test_dict_bodies(index: EmbeddedIndex, body: dict, expected: list[str] | None) -> None:
    found = keys(index.search(body))
    if expected is not None:
        assert found == expected
    elif "mighty" in json.dumps(body):
        assert set(found) == {"notes/readme.md", "heroes/loki.json"}
    else:
        assert set(found) == EXPECTED["user_meta.name:'thor'"]


def test_unknown_dict_body_is_a_clear_error(index: EmbeddedIndex) -> None:
    with pytest.raises(QuerySyntaxError, match="query_string and match_all"):
        index.search({"query": {"term": {"key": "x"}}})


@pytest.mark.parametrize(
    "query, position",
    [
        ("thor AND", 8),
        ("(thor", 5),
        ("user_meta.name:'thor", 15),
        ("nosuchfield:x", 0),
        ("thor AND size:big", 14),
        ("last_modified:[yesterday TO now]", 14),
        ("  ", 0),
    ],
)
def test_bad_queries_point_at_the_problem(index: EmbeddedIndex, query: str, position: int) -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        index.search(query)
    assert caught.value.position == position
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    "query",
    [
        'key:"x\'); DROP TABLE docs; --"',
        'user_meta.name:"a\\" OR 1=1 --"',
        '"thor" OR 1=1; DELETE FROM docs',
        "user_meta.name:'; DROP TABLE fields; --'",
        'key:"*" OR size:[0 TO 1e309]',
    ],
)
def test_queries_cannot_run_sql(index: EmbeddedIndex, tmp_path: Path, query: str) -> None:
    with contextlib.suppress(QuerySyntaxError):
        index.search(query)
    check = sqlite3.connect(index.path)
    tables = {name for (name,) in check.execute("SELECT name FROM sqlite_master")}
    assert {"docs", "fts", "fields", "nums"} <= tables
    assert check.execute("SELECT count(*) FROM docs").fetchone()[0] == len(DOCS)
    check.close()


def _writer(path: str, prefix: str, n: int) -> None:
    now = datetime(2024, 1, 1, tzinfo=UTC)
    with EmbeddedIndex(Path(path)) as ix:
        for i in range(n):
            ix.upsert([Document(f"{prefix}/{i}", i, str(i), now, None, {"w": prefix}, "x")])


def test_two_processes_write_at_once(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite"
    EmbeddedIndex(path).close()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(path), p, 40)) for p in ("a", "b")]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=120)
        assert proc.exitcode == 0
    with EmbeddedIndex(path) as ix:
        assert len(ix) == 80
        assert len(ix.search("user_meta.w:a", limit=100)) == 40


def test_text_of_text_like_objects() -> None:
    assert text_of("a.md", b"# Title\nbody") == "# Title\nbody"
    assert text_of("A.TXT", "caf\u00e9".encode()) == "caf\u00e9"
    assert text_of("x.json", b'{"a": 1}') == '{"a": 1}'
    csv = b"name,age\n" + b"".join(b"row%d,%d\n" % (i, i) for i in range(100))
    excerpt = text_of("t.csv", csv)
    assert excerpt is not None and excerpt.startswith("name age\nrow0 0")
    assert "row19 19" in excerpt and "row20" not in excerpt
    assert text_of("t.tsv", b"a\tb\n1\t2\n") == "a b\n1 2"
    assert text_of("x.parquet", b"PAR1") is None
    assert text_of("fake.txt", b"\x00\x01binary") is None
    assert text_of("big.txt", b"word " * TEXT_BYTES) is not None


def test_text_of_gzip_and_cut_bytes() -> None:
    import gzip

    data = gzip.compress(b"name,age\nthor,1500\n" * 1000)
    assert (text_of("t.csv.gz", data[:200]) or "").startswith("name age\nthor 1500")
    assert text_of("x.txt", "\u00e9".encode()[:1] + b"ok") == "ok"  # a cut character is dropped


def test_is_text_like() -> None:
    assert is_text_like("a/b/readme.MD") and is_text_like("d.jsonl") and is_text_like("t.csv.gz")
    assert not is_text_like("t.csv.bz2") and not is_text_like("img.png") and not is_text_like("x")


def test_index_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert index_path_for(str(tmp_path), tmp_path) == tmp_path / ".t4" / "index.sqlite"
    monkeypatch.setenv("T4_CACHE_DIR", str(tmp_path / "cache"))
    a = index_path_for("s3://my-bucket@http://127.0.0.1:9", None)
    assert a.parent == tmp_path / "cache" / "index" and a.name.startswith("my-bucket-")
    assert index_path_for("s3://other@http://127.0.0.1:9", None) != a
    assert index_path_for("s3://my-bucket@http://127.0.0.1:10", None) != a


def _filter_only(query: str) -> bool:
    from t4.search.sqlgen import to_sql

    compiled = to_sql(query)
    return compiled.match is None and compiled.rank is None


@pytest.mark.parametrize("query", sorted(q for q in EXPECTED if _filter_only(q)))
def test_both_filter_plans_agree(index: EmbeddedIndex, query: str) -> None:
    """The id-list plan and the newest-first walk give the same hits in the same order
    (which one runs depends on timing, so both are run here directly)."""
    from t4.search.sqlgen import to_sql
    from t4.search.sqlite_index import _scan_select, _select

    compiled = to_sql(query)
    sql, params = _select(compiled, 50)
    db = sqlite3.connect(index.path)
    by_ids = db.execute(sql, params).fetchall()
    by_walk = db.execute(_scan_select(compiled), params).fetchall()
    db.close()
    assert by_ids == by_walk
    assert {row[0] for row in by_ids} == EXPECTED[query]


def test_many_documents_take_both_plans(tmp_path: Path) -> None:
    now = datetime(2024, 1, 1, tzinfo=UTC)
    docs = [
        Document(f"k{i:05d}", i, str(i), now + timedelta(seconds=i), None,
                 {"even": i % 2 == 0, "n": i, "rare": "yes" if i == 7 else "no"}, None)
        for i in range(20_000)
    ]  # fmt: skip
    with EmbeddedIndex(tmp_path / "i.sqlite") as ix:
        ix.upsert(docs)
        assert [h["key"] for h in ix.search("user_meta.even:true", limit=3)] == [
            "k19998", "k19996", "k19994",
        ]  # fmt: skip
        assert [h["key"] for h in ix.search("user_meta.rare:yes")] == ["k00007"]
        assert len(ix.search("user_meta.n:[100 TO 199] AND user_meta.even:false", limit=99)) == 50


def test_an_index_of_another_format_is_rebuilt(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    old = sqlite3.connect(path)
    old.execute("CREATE TABLE docs (key TEXT, whatever TEXT)")
    old.execute("INSERT INTO docs VALUES ('a', 'b')")
    old.commit()
    old.close()
    with EmbeddedIndex(path) as ix:
        assert len(ix) == 0
        ix.upsert(DOCS[:1])
        assert [h["key"] for h in ix.search("hammer")] == ["heroes/thor.json"]
