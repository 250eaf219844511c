"""Events and assets, read back from the real Prefect API of the session's harness: what a
write, a delete and a bulk task emit, what a flow that reads A and writes B shows as asset
lineage. ``watch_prefix``'s events are tests/pipeline/test_watch_prefix.py's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from api_events import by_resource, events_about
from prefect import flow
from prefect.events.schemas.events import ReceivedEvent
from prefect.types._datetime import now
from servers import Raw

import t4
from flows.mirror_directory import mirror_directory
from t4flows import (
    delete_dir,
    delete_object,
    deserialize,
    fetch,
    put_dir,
    put_file,
    put_object,
    set_meta,
)
from t4flows.bulk import copy_chunk
from t4flows.lineage import FEW, object_uri
from t4flows.plan import Side, plan_mirror


def test_writes_and_deletes_emit_events(bucket_uri: str, raw: Raw, tmp_path: Path) -> None:
    since = now("UTC")
    (tmp_path / "a.csv").write_text("x,y\n1,2\n")

    @flow
    def writes() -> str:
        put_file(bucket_uri, "in/a.csv", str(tmp_path / "a.csv"), {"owner": "ada"})
        put_object(bucket_uri, "in/b.json", {"b": 1})
        set_meta(bucket_uri, "in/b.json", {"stage": "raw"})
        delete_object(bucket_uri, "in/b.json")
        return t4.Bucket(bucket_uri).uri

    uri = writes()
    names = ["t4.object.written", "t4.object.deleted"]
    events = events_about(uri, names, lambda found: len(found) >= 4, since)
    written = [e for e in events if e.event == "t4.object.written"]
    a = by_resource(events, "t4.object.written")[object_uri(uri, "in/a.csv")]
    assert a.payload["size"] == len(raw.read("in/a.csv"))
    assert a.payload["user_meta"] == {"owner": "ada"} and a.payload["etag"]
    assert a.resource["t4.key"] == "in/a.csv" and a.resource["t4.bucket"] == uri
    assert any(r.role == "task-run" for r in a.related)  # Prefect ties it to the run
    b_meta = [e.payload["user_meta"] for e in written if e.resource["t4.key"] == "in/b.json"]
    assert sorted(map(str, b_meta)) == ["{'stage': 'raw'}", "{}"]
    assert object_uri(uri, "in/b.json") in by_resource(events, "t4.object.deleted")


def test_bulk_tasks_emit_one_event_past_the_limit(bucket_uri: str, tmp_path: Path) -> None:
    since = now("UTC")
    few, many = tmp_path / "few", tmp_path / "many"
    for folder, count in ((few, 3), (many, FEW + 5)):
        folder.mkdir()
        for i in range(count):
            (folder / f"f{i:02}.txt").write_text(f"file {i}")

    @flow
    def bulk() -> str:
        put_dir(bucket_uri, "few", str(few), {"batch": 1})
        put_dir(bucket_uri, "many", str(many))
        delete_dir(bucket_uri, "many/")
        return t4.Bucket(bucket_uri).uri

    uri = bulk()
    names = ["t4.object.written", "t4.object.deleted", "t4.bulk.completed",
             "prefect.asset.materialization.succeeded"]  # fmt: skip

    def all_arrived(found: list[ReceivedEvent]) -> bool:
        kinds = [e.event for e in found]
        return kinds.count("t4.bulk.completed") >= 3 and kinds.count(names[-1]) >= 5

    events = events_about(uri, names, all_arrived, since)
    assets = sorted(
        (e.resource.id.removeprefix(uri + "/"), e.payload.get("deleted"))
        for e in events
        if e.event == "prefect.asset.materialization.succeeded"
    )
    assert assets == [("few/f00.txt", None), ("few/f01.txt", None), ("few/f02.txt", None),
                      ("many/", False), ("many/", True)]  # fmt: skip
    per_object = [e for e in events if e.event.startswith("t4.object.")]
    assert sorted(e.resource["t4.key"] for e in per_object) == ["few/f00.txt", "few/f01.txt",
                                                                "few/f02.txt"]  # fmt: skip
    assert all(e.payload["user_meta"] == {"batch": 1} for e in per_object)
    bulk_events = sorted(
        (e.resource["t4.prefix"], e.payload["operation"], e.payload["transferred"],
         e.payload["deleted"])
        for e in events
        if e.event == "t4.bulk.completed"
    )  # fmt: skip
    assert bulk_events == [
        ("few/", "put_dir", 3, 0),
        ("many/", "delete_dir", 0, FEW + 5),
        ("many/", "put_dir", FEW + 5, 0),
    ]


def test_a_flow_that_reads_a_and_writes_b_shows_the_lineage(
    bucket_uri: str, raw: Raw, tmp_path: Path
) -> None:
    since = now("UTC")
    raw.write("raw/x.csv", b"a,b\n1,2\n3,4\n")
    raw.write("raw/y.txt", b"y")

    @flow
    def clean() -> str:
        table = deserialize(bucket_uri, "raw/x.csv")
        # kept alive: Prefect links a plain dict to the task that returned it by id(), so a
        # new dict at a freed one's address would look like that task's result
        wrote = put_object(bucket_uri, "clean/x.parquet", table, {"rows": 2})
        got = fetch(bucket_uri, "raw/y.txt", str(tmp_path / "y.txt"), return_state=True)
        put_object(bucket_uri, "clean/y.json", {"seen": True}, wait_for=[got])
        return f"{t4.Bucket(bucket_uri).uri}" if wrote else ""

    uri = clean()
    a, b = object_uri(uri, "raw/x.csv"), object_uri(uri, "clean/x.parquet")
    y, y_out = object_uri(uri, "raw/y.txt"), object_uri(uri, "clean/y.json")
    names = ["prefect.asset.materialization.succeeded", "prefect.asset.referenced"]
    events = events_about(uri, names, lambda found: len(found) >= 4, since)
    made = by_resource(events, "prefect.asset.materialization.succeeded")
    assert set(made) == {b, y_out}
    assert [r.id for r in made[b].related if r.role == "asset"] == [a]
    # clean/y.json lists both: the flow run read raw/x.csv before it as well
    assert sorted(r.id for r in made[y_out].related if r.role == "asset") == sorted([a, y])
    assert made[b].payload["user_meta"] == {"rows": 2}
    assert made[b].payload["size"] == len(raw.read("clean/x.parquet"))
    assert made[b].payload["etag"]
    assert {a, y} <= set(by_resource(events, "prefect.asset.referenced"))


def test_a_write_lists_what_its_flow_run_read_before_it(bucket_uri: str, raw: Raw) -> None:
    """The flow of issue 21 item 9: a value derived in the flow from what ``deserialize`` read
    is written (Prefect itself links a later task to an earlier one only when it is passed an
    object that task returned, or one inside it); a write before any read has no upstream."""
    since = now("UTC")
    raw.write("raw/a.json", b'{"a": 1, "b": 2}')

    @flow
    def clean_a() -> str:
        put_object(bucket_uri, "clean/first.json", {"first": True})
        value = deserialize(bucket_uri, "raw/a.json")
        put_object(bucket_uri, "clean/x.json", {"n": len(value)})
        return t4.Bucket(bucket_uri).uri

    uri = clean_a()
    name = "prefect.asset.materialization.succeeded"
    made = by_resource(events_about(uri, [name], lambda found: len(found) >= 2, since), name)
    x, first = made[object_uri(uri, "clean/x.json")], made[object_uri(uri, "clean/first.json")]
    assert [r.id for r in x.related if r.role == "asset"] == [object_uri(uri, "raw/a.json")]
    assert [r.id for r in first.related if r.role == "asset"] == []
    assert json.loads(raw.read("clean/x.json")) == {"n": 2}


def test_a_cached_read_keeps_its_upstream(bucket_uri: str, raw: Raw) -> None:
    raw.write("raw/z.json", b'{"z": 1}')

    @flow
    def copy_z() -> tuple[str, str]:
        read = deserialize(bucket_uri, "raw/z.json", return_state=True)
        value = read.result()
        put_object(bucket_uri, "out/z.json", value)
        return t4.Bucket(bucket_uri).uri, str(read.name)

    assert copy_z()[1] == "Completed"
    since = now("UTC")
    uri, second = copy_z()
    assert second == "Cached"  # the task body did not run
    name = "prefect.asset.materialization.succeeded"
    made = by_resource(events_about(uri, [name], lambda found: len(found) >= 1, since), name)
    out = made[object_uri(uri, "out/z.json")]
    assert [r.id for r in out.related if r.role == "asset"] == [object_uri(uri, "raw/z.json")]


def test_mirror_chunks_report_what_they_wrote_and_deleted(
    s3_bucket_uri: str, tmp_path: Path
) -> None:
    since = now("UTC")
    src = tmp_path / "src"
    src.mkdir()
    for name in ("a.txt", "b.txt", "c.txt"):
        (src / name).write_text(name)
    mirror_directory(str(src), f"{s3_bucket_uri}/m/")
    (src / "c.txt").unlink()
    mirror_directory(str(src), f"{s3_bucket_uri}/m/", delete=True)
    names = ["t4.object.written", "t4.object.deleted", "t4.bulk.completed"]
    events = events_about(s3_bucket_uri, names, lambda found: len(found) >= 6, since)
    seen = sorted((e.event, e.resource.get("t4.key") or e.resource["t4.prefix"]) for e in events)
    assert seen == [
        ("t4.bulk.completed", "m/"),
        ("t4.bulk.completed", "m/"),
        ("t4.object.deleted", "m/c.txt"),
        ("t4.object.written", "m/a.txt"),
        ("t4.object.written", "m/b.txt"),
        ("t4.object.written", "m/c.txt"),
    ]


def test_a_bucket_mirror_pairs_each_file_with_its_source(s3_bucket_uri: str) -> None:
    """Up to FEW files, each copy's upstream is its own source, not every file of its chunk
    (Prefect gives all of a task run's assets all of its inputs); past FEW, the prefixes."""
    b = t4.Bucket(s3_bucket_uri)
    for name in ("a.txt", "b.txt"):
        b.put(f"src/{name}", name)
    for i in range(FEW + 2):
        b.put(f"many/{i}.txt", str(i))
    since = now("UTC")
    mirror_directory(f"{s3_bucket_uri}/src/", f"{s3_bucket_uri}/m/")
    mirror_directory(f"{s3_bucket_uri}/many/", f"{s3_bucket_uri}/m2/")
    name = "prefect.asset.materialization.succeeded"
    made = by_resource(events_about(b.uri, [name], lambda found: len(found) >= 3, since), name)
    for key in ("a.txt", "b.txt"):
        ups = [r.id for r in made[object_uri(b.uri, "m/" + key)].related if r.role == "asset"]
        assert ups == [object_uri(b.uri, "src/" + key)]
    prefix = made[object_uri(b.uri, "m2/")]
    assert [r.id for r in prefix.related if r.role == "asset"] == [object_uri(b.uri, "many/")]


def test_a_task_after_a_mirror_chunk_lists_its_copies_upstream(s3_bucket_uri: str) -> None:
    """What a chunk task copied is what it passes on: a write that waits for it lists the
    copies (and, as every write, what the flow run read: the sources)."""
    b = t4.Bucket(s3_bucket_uri)
    for name in ("a.txt", "b.txt"):
        b.put(f"src/{name}", name)

    @flow
    def copy_then_note() -> None:
        src, dst = Side.of(f"{s3_bucket_uri}/src/"), Side.of(f"{s3_bucket_uri}/m/")
        done = copy_chunk(src, dst, plan_mirror(src, dst).copy, return_state=True)
        put_object(s3_bucket_uri, "notes/done.json", {"copied": 2}, wait_for=[done])

    since = now("UTC")
    copy_then_note()
    name = "prefect.asset.materialization.succeeded"
    made = by_resource(events_about(b.uri, [name], lambda found: len(found) >= 3, since), name)
    note = made[object_uri(b.uri, "notes/done.json")]
    ups = {r.id for r in note.related if r.role == "asset"}
    assert ups == {object_uri(b.uri, k) for k in ("src/a.txt", "src/b.txt", "m/a.txt", "m/b.txt")}


def test_a_package_push_reports_its_manifest_once(tmp_path: Path) -> None:
    """A pushed version is a written object (its manifest) with the package's name and size;
    pushing the same version again writes nothing and reports nothing."""
    from t4flows.packages import push_package

    since = now("UTC")
    registry = tmp_path / "registry"
    registry.mkdir()
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.txt").write_text("alpha")

    @flow
    def publish_twice() -> list[dict[str, Any]]:
        return [push_package(str(data), "team/data", str(registry)) for _ in range(2)]

    first, second = publish_twice()
    assert (first["pushed"], second["pushed"]) == (True, False)
    uri = t4.Bucket(registry).uri
    key = f".quilt/packages/{first['top_hash']}"
    events = events_about(uri, ["t4.object.written"], lambda found: len(found) >= 1, since)
    assert [e.resource.id for e in events] == [object_uri(uri, key)]
    assert events[0].payload["package"] == first["ref"]
    assert events[0].payload["entries"] == 1
