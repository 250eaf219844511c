"""mirror_directory in every direction, incremental and safe, on real files and moto's S3
server, on the session's real Prefect API (reports read back from it); once on a small local
Dask cluster. Request counts come from the proxy in front of the server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from files import read_tree, write_tree
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    LogFilter,
    LogFilterFlowRunId,
)
from prefect.logging.handlers import APILogHandler
from prefect_dask import DaskTaskRunner
from proxy import FaultProxy

import t4
from flows.mirror_directory import mirror_directory
from t4flows import T4BucketBlock
from t4flows.plan import Entry, Side, chunked, plan_mirror

SAMPLE = {f"f{i:02}.txt": f"file {i}" for i in range(12)} | {"deep/x.csv": "a,b\n1,2\n"}


def test_folder_to_s3_is_incremental_and_lists_once(tmp_path, s3_bucket_uri, faulty_proxy):  # type: ignore[no-untyped-def]
    T4BucketBlock(uri=s3_bucket_uri, endpoint_url=faulty_proxy.url).save("counted", overwrite=True)
    src = write_tree(tmp_path / "src", SAMPLE)
    dest = "t4-bucket/counted/mirror"
    first = mirror_directory(str(src), dest, chunk_size=5, parallel=2)
    assert sorted(first["transferred"]) == sorted(SAMPLE)
    with t4.Bucket(s3_bucket_uri) as b:
        assert b.keys() == sorted(f"mirror/{k}" for k in SAMPLE)
    faulty_proxy.counts.clear()
    faulty_proxy.kinds.clear()
    second = mirror_directory(str(src), dest, chunk_size=5, parallel=2)
    assert second["transferred"] == [] and sorted(second["skipped"]) == sorted(SAMPLE)
    assert faulty_proxy.seen == 1  # one listing page, nothing else
    assert faulty_proxy.kinds == {"listing": 1}


def test_changes_and_delete_stay_inside_the_destination(tmp_path, s3_bucket_uri, s3_env):  # type: ignore[no-untyped-def]
    src = write_tree(tmp_path / "src", SAMPLE)
    client = s3_env.client()
    name = s3_bucket_uri[5:]
    client.put_object(Bucket=name, Key="outside/keep.txt", Body=b"not mine")
    client.put_object(Bucket=name, Key="m/stale.txt", Body=b"old")
    mirror_directory(str(src), f"{s3_bucket_uri}/m")
    (src / "f01.txt").write_text("changed!")
    (src / "f02.txt").unlink()
    plan = mirror_directory(str(src), f"{s3_bucket_uri}/m", delete=True, dry_run=True)
    assert [r for r, _ in plan["copy"]] == ["f01.txt"]
    assert plan["delete"] == ["f02.txt", "stale.txt"]
    result = mirror_directory(str(src), f"{s3_bucket_uri}/m", delete=True)
    assert result["transferred"] == ["f01.txt"] and result["deleted"] == ["f02.txt", "stale.txt"]
    keys = sorted(o["Key"] for o in client.list_objects_v2(Bucket=name)["Contents"])
    assert "outside/keep.txt" in keys and "m/f02.txt" not in keys and "m/stale.txt" not in keys
    body = client.get_object(Bucket=name, Key="m/f01.txt")["Body"].read()
    assert body == b"changed!"


def test_bucket_to_folder_and_bucket_to_bucket(tmp_path, s3_bucket_uri):  # type: ignore[no-untyped-def]
    lake = tmp_path / "lake"
    lake.mkdir()
    with t4.Bucket(lake) as b:
        b.put_dir("raw", write_tree(tmp_path / "src", SAMPLE), {"owner": "ada"})
        b.put("raw/skip.tmp", "ignored")
    out = tmp_path / "out"
    got = mirror_directory(f"{lake.as_uri()}", str(out), exclude=["*.tmp"])
    assert read_tree(out, text=True) == {f"raw/{k}": v for k, v in SAMPLE.items()}
    assert mirror_directory(lake.as_uri(), str(out), exclude=["*.tmp"])["transferred"] == []
    assert len(got["transferred"]) == len(SAMPLE)
    back = mirror_directory(str(out), f"{s3_bucket_uri}/back")  # metadata rides the xattrs
    assert len(back["transferred"]) == len(SAMPLE)
    with t4.Bucket(s3_bucket_uri) as b:
        assert b.get_meta("back/raw/f03.txt")["user_meta"] == {"owner": "ada"}
    copied = mirror_directory(lake.as_uri(), f"{s3_bucket_uri}/copy", include=["raw/f0*"])
    assert len(copied["transferred"]) == 10
    with t4.Bucket(s3_bucket_uri) as b:
        assert b.get_meta("copy/raw/f03.txt")["user_meta"] == {"owner": "ada"}
        assert b("copy/raw/f03.txt") == "file 3"


def test_mirror_runs_on_a_dask_cluster(tmp_path):  # type: ignore[no-untyped-def]
    lake = tmp_path / "lake"
    lake.mkdir()
    src = write_tree(tmp_path / "src", SAMPLE)
    runner = DaskTaskRunner(
        cluster_kwargs={"n_workers": 1, "threads_per_worker": 2, "processes": False}
    )
    on_dask = mirror_directory.with_options(task_runner=runner)
    result = on_dask(str(src), lake.as_uri(), chunk_size=4, parallel=2)
    assert sorted(result["transferred"]) == sorted(SAMPLE)
    assert read_tree(lake, text=True) == SAMPLE


def test_plan_refuses_unsafe_or_meaningless_mirrors(tmp_path):  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="one side must be a bucket"):
        plan_mirror(Side.of(str(tmp_path)), Side.of(str(tmp_path / "b")))
    with pytest.raises(ValueError, match="overlap"):
        plan_mirror(Side.of("s3://b/a"), Side.of("s3://b/a/sub"))
    with pytest.raises(t4.InvalidKeyError):
        Side.of(str(tmp_path)).path("../escape.txt")


def test_chunks_close_on_files_or_bytes() -> None:
    items = [Entry(f"f{i}", 10) for i in range(7)]
    assert [len(c) for c in chunked(items, files=3)] == [3, 3, 1]
    assert [len(c) for c in chunked(items, files=100, size=25)] == [2, 2, 2, 1]


@pytest.mark.parametrize("seed", [1, 2])
def test_mirror_under_ten_percent_faults_ends_exact(tmp_path, s3_env, monkeypatch, seed):  # type: ignore[no-untyped-def]
    """Every kind of fault on 10 % of requests: both directions end exact, checked on moto
    directly and with ``os``; what a fault broke is retried, nothing is half-written."""
    monkeypatch.setenv("T4_S3_READ_TIMEOUT", "1")
    monkeypatch.setenv("T4_S3_MAX_ATTEMPTS", "6")
    client = s3_env.client()
    name = f"t4-mirror-faults-{seed}"
    client.create_bucket(Bucket=name)
    sample = {f"d{i % 3}/f{i:02}.txt": f"file {i} " * (i * 40) for i in range(30)}
    src = write_tree(tmp_path / "src", sample)
    with FaultProxy(s3_env.endpoint, rate=0.10, seed=seed, stall_seconds=2.0) as proxy:
        T4BucketBlock(uri=f"s3://{name}", endpoint_url=proxy.url).save("faulty", overwrite=True)
        up = mirror_directory(str(src), "t4-bucket/faulty/m", chunk_size=8, parallel=2)
        down = mirror_directory("t4-bucket/faulty/m", str(tmp_path / "out"), chunk_size=8)
    assert sorted(up["transferred"]) == sorted(sample) and not up["failed"]
    assert sorted(down["transferred"]) == sorted(sample) and not down["failed"]
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=name)
    listed = sorted(o["Key"] for p in pages for o in p.get("Contents", []))
    assert listed == sorted(f"m/{k}" for k in sample)
    for rel, text in sample.items():
        assert client.get_object(Bucket=name, Key=f"m/{rel}")["Body"].read() == text.encode()
    assert read_tree(tmp_path / "out", text=True) == sample
    assert proxy.faulted > 0, proxy.counts


def _flow_run_report(state: Any) -> tuple[str, list[str], list[dict[str, str]]]:
    """The flow run's table artifact (description and rows) and its log lines, read back
    from the API."""
    run_id = state.state_details.flow_run_id
    APILogHandler().flush()  # the run's logs reach the API in the background: wait for them
    with get_client(sync_client=True) as client:
        logs = client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])))
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]))
        )
    tables = [a for a in found if a.type == "table"]
    assert len(tables) == 1, found
    rows = tables[0].data
    rows = json.loads(rows) if isinstance(rows, str) else rows
    return tables[0].description or "", [entry.message for entry in logs], rows


DIRECTIONS = ["folder->bucket", "bucket->folder", "bucket->bucket"]


def _direction(kind: str, tmp_path: Path, s3_uri: str) -> tuple[str, str, Any, Any]:
    """A source and a destination for ``kind``, the source holding SAMPLE; and two
    functions: put one stray file at the destination, list the destination independently."""
    src_folder = write_tree(tmp_path / "src", SAMPLE)
    if kind == "folder->bucket":
        name = s3_uri[5:]
        client = t4.Bucket(s3_uri)

        def stray() -> None:
            client.put("m/stray.txt", "not in the source")

        def listing() -> list[str]:
            return sorted(k[2:] for k in client.keys("m/"))

        return str(src_folder), f"s3://{name}/m", stray, listing
    lake = tmp_path / "lake"
    lake.mkdir()
    with t4.Bucket(lake) as b:
        b.put_dir("raw", src_folder)
    if kind == "bucket->folder":
        out = tmp_path / "out"

        def stray_file() -> None:
            write_tree(out, {"stray.txt": "not in the source"})

        return f"{lake.as_uri()}/raw", str(out), stray_file, lambda: sorted(read_tree(out))
    target = t4.Bucket(s3_uri)

    def stray_obj() -> None:
        target.put("copy/stray.txt", "not in the source")

    return (
        f"{lake.as_uri()}/raw",
        f"{s3_uri}/copy",
        stray_obj,
        lambda: sorted(k[5:] for k in target.keys("copy/")),
    )


@pytest.mark.parametrize("kind", DIRECTIONS)
def test_every_direction_reports_deletes(kind, tmp_path, s3_bucket_uri):  # type: ignore[no-untyped-def]
    """A delete shows in the return value, the flow's log line and its table artifact."""
    source, dest, stray, listing = _direction(kind, tmp_path, s3_bucket_uri)
    mirror_directory(source, dest)
    stray()
    assert "stray.txt" in listing()
    state = mirror_directory(source, dest, delete=True, report_key=None, return_state=True)
    result = state.result()
    assert result["deleted"] == ["stray.txt"] and result["transferred"] == []
    assert sorted(result["skipped"]) == sorted(SAMPLE)
    assert listing() == sorted(SAMPLE)
    description, logs, rows = _flow_run_report(state)
    line = f"0 transferred, {len(SAMPLE)} skipped, 1 deleted, 0 failed"
    assert line in description
    assert any(line in message for message in logs), logs
    assert {"outcome": "deleted", "key": "stray.txt", "detail": ""} in rows


def test_a_missing_source_deletes_nothing(s3_bucket_uri, s3_env):  # type: ignore[no-untyped-def]
    """The nightly mirror whose source folder is gone fails, naming it, and leaves all 50
    objects of the destination in place."""
    client = s3_env.client()
    name = s3_bucket_uri[5:]
    for i in range(50):
        client.put_object(Bucket=name, Key=f"incoming/{i:02}.csv", Body=b"x")
    state = mirror_directory(
        "/no/such/folder", f"{s3_bucket_uri}/incoming", delete=True, return_state=True
    )
    assert state.is_failed()
    with pytest.raises(t4.LocalPathError, match="/no/such/folder"):
        state.result()
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=name)
    assert sum(len(p.get("Contents", [])) for p in pages) == 50


def test_an_empty_source_deletes_only_when_allowed(tmp_path, s3_bucket_uri, s3_env):  # type: ignore[no-untyped-def]
    client = s3_env.client()
    name = s3_bucket_uri[5:]
    for i in range(3):
        client.put_object(Bucket=name, Key=f"incoming/{i}.csv", Body=b"x")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(t4.UnsafeOperationError, match="allow_empty_source=True"):
        mirror_directory(str(empty), f"{s3_bucket_uri}/incoming", delete=True)
    assert client.list_objects_v2(Bucket=name)["KeyCount"] == 3
    done = mirror_directory(
        str(empty), f"{s3_bucket_uri}/incoming", delete=True, allow_empty_source=True
    )
    assert done["deleted"] == ["0.csv", "1.csv", "2.csv"]
    assert client.list_objects_v2(Bucket=name)["KeyCount"] == 0


W1_LIKE = {f"d{i % 4}/f{i:03}.bin": bytes([i % 251]) * 4096 for i in range(200)}


def test_requests_of_a_w1_like_mirror_in_each_direction(tmp_path, s3_env, faulty_proxy):  # type: ignore[no-untyped-def]
    """200 files of 4 KiB, every request counted by the proxy: one listing per bucket side,
    one request per file moved, no HEAD per file, deletes in one batch request."""
    client = s3_env.client()
    for name in ("w1-src", "w1-dst"):
        client.create_bucket(Bucket=name)
    for name in ("w1-src", "w1-dst"):
        T4BucketBlock(uri=f"s3://{name}", endpoint_url=faulty_proxy.url).save(name, overwrite=True)
    src = write_tree(tmp_path / "src", W1_LIKE)
    n = len(W1_LIKE)

    def counted(source: str, dest: str, **kw: Any) -> dict[str, Any]:
        faulty_proxy.kinds.clear()
        result = mirror_directory(source, dest, report_key=None, **kw)
        assert not result["failed"]
        return result

    up = counted(str(src), "t4-bucket/w1-src/w1")
    assert len(up["transferred"]) == n
    assert faulty_proxy.kinds == {"listing": 1, "PUT": n}
    down = counted("t4-bucket/w1-src/w1", str(tmp_path / "down"))
    assert len(down["transferred"]) == n and read_tree(tmp_path / "down") == W1_LIKE
    assert faulty_proxy.kinds == {"listing": 1, "GET": n}
    across = counted("t4-bucket/w1-src/w1", "t4-bucket/w1-dst/w1")
    assert len(across["transferred"]) == n
    assert faulty_proxy.kinds == {"listing": 2, "PUT": n}  # server-side copies: no GET
    assert (
        client.get_object(Bucket="w1-dst", Key="w1/d3/f003.bin")["Body"].read()
        == W1_LIKE["d3/f003.bin"]
    )
    for rel in list(W1_LIKE)[:120]:
        (src / rel).unlink()
    gone = counted(str(src), "t4-bucket/w1-src/w1", delete=True)
    assert len(gone["deleted"]) == 120
    assert faulty_proxy.kinds == {"listing": 1, "POST": 1}  # 120 keys, one batch request


def test_the_mirror_moves_as_many_files_at_once_as_the_core(  # type: ignore[no-untyped-def]
    tmp_path, s3_env, monkeypatch
):
    """Without ``concurrency=``, a chunk moves as many files at once as the bucket's own
    setting says (``T4_CONCURRENCY`` here), counted at the server: no lower default of its
    own."""
    s3_env.client().create_bucket(Bucket="mirror-conc")
    src = write_tree(tmp_path / "src", {f"d{i % 3}/f{i:02d}.bin": b"x" * 64 for i in range(30)})
    monkeypatch.setenv("T4_CONCURRENCY", "5")
    with FaultProxy(s3_env.endpoint, delay=0.05) as proxy:
        T4BucketBlock(uri="s3://mirror-conc", endpoint_url=proxy.url).save(
            "mirror-conc", overwrite=True
        )
        result = mirror_directory(str(src), "t4-bucket/mirror-conc/c", report_key=None)
        assert (len(result["transferred"]), proxy.peak_in_flight) == (30, 5)


def _flow_run_parts(state: Any) -> tuple[dict[str, Any], list[str]]:
    """The flow run's artifacts by type, and the names of its task runs, from the API."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    run_id = state.state_details.flow_run_id
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]))
        )
        tasks = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run_id]))
        )
    return {a.type: a for a in found}, sorted(t.name.rsplit("-", 1)[0] for t in tasks)


def test_one_chunk_is_one_task_run_and_no_progress_artifact(tmp_path, s3_bucket_uri):  # type: ignore[no-untyped-def]
    """The plan runs inside the flow (no task run of its own); a mirror of one chunk has its
    table artifact and no progress artifact (one task run's state says it all)."""
    src = write_tree(tmp_path / "src", SAMPLE)
    state = mirror_directory(str(src), f"{s3_bucket_uri}/one", return_state=True)
    assert sorted(state.result()["transferred"]) == sorted(SAMPLE)
    artifacts, tasks = _flow_run_parts(state)
    assert set(artifacts) == {"table"} and tasks == ["copy_chunk"]


def test_several_chunks_report_their_progress(tmp_path, s3_bucket_uri):  # type: ignore[no-untyped-def]
    src = write_tree(tmp_path / "src", SAMPLE)
    state = mirror_directory(str(src), f"{s3_bucket_uri}/many", chunk_size=5, return_state=True)
    assert sorted(state.result()["transferred"]) == sorted(SAMPLE)
    artifacts, tasks = _flow_run_parts(state)
    assert set(artifacts) == {"table", "progress"} and artifacts["progress"].data == 100.0
    assert tasks == ["copy_chunk"] * 3
