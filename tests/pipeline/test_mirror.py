"""mirror_directory in every direction, incremental and safe, on real files and moto's S3
server; once on a small local Dask cluster."""

from __future__ import annotations

import pytest
from files import read_tree, write_tree
from prefect_dask import DaskTaskRunner
from proxy import FaultProxy

import t4
from flows.mirror_directory import mirror_directory
from t4flows import T4BucketBlock
from t4flows.plan import Location, chunked, plan_mirror

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
    second = mirror_directory(str(src), dest, chunk_size=5, parallel=2)
    assert second["transferred"] == [] and sorted(second["skipped"]) == sorted(SAMPLE)
    assert faulty_proxy.seen == 1  # one listing page, nothing else


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
        plan_mirror(Location.parse(str(tmp_path)), Location.parse(str(tmp_path / "b")))
    with pytest.raises(ValueError, match="overlap"):
        plan_mirror(Location.parse("s3://b/a"), Location.parse("s3://b/a/sub"))
    with pytest.raises(t4.InvalidKeyError):
        Location.parse(str(tmp_path)).path("../escape.txt")


def test_chunks_close_on_files_or_bytes() -> None:
    items = [[f"f{i}", 10] for i in range(7)]
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
