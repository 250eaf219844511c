"""Every task on both backends (a local folder and moto's S3 server), checked through the
independent path (``raw``: boto3 or ``os``), including what a second run does."""

from __future__ import annotations

import json

import pytest
from files import write_tree
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterTaskRunId
from proxy import wait_until

import t4
from t4flows import (
    delete_dir,
    delete_object,
    deserialize,
    fetch,
    get_meta,
    list_keys,
    put_dir,
    put_file,
    put_object,
    search,
    set_meta,
)


def test_object_and_metadata_tasks(bucket_uri, raw):  # type: ignore[no-untyped-def]
    info = put_object(bucket_uri, "conf/a.json", {"a": 1}, {"stage": "raw"})
    json.dumps(info)  # JSON-friendly
    assert info["key"] == "conf/a.json" and raw.listing() == ["conf/a.json"]
    assert json.loads(raw.read("conf/a.json")) == {"a": 1}
    assert get_meta(bucket_uri, "conf/a.json")["user_meta"] == {"stage": "raw"}
    set_meta(bucket_uri, "conf/a.json", {"stage": "clean"})
    set_meta(bucket_uri, "conf/a.json", {"stage": "clean"})  # twice: same end state
    assert get_meta(bucket_uri, "conf/a.json")["user_meta"] == {"stage": "clean"}
    assert list_keys(bucket_uri, "conf/") == ["conf/a.json"]
    assert search(bucket_uri, "user_meta.stage:'clean'")[0]["key"] == "conf/a.json"


def test_deserialize_is_cached_on_the_etag(bucket_uri, raw):  # type: ignore[no-untyped-def]
    put_object(bucket_uri, "v.json", {"version": 1})
    assert deserialize(bucket_uri, "v.json") == {"version": 1}
    again = deserialize(bucket_uri, "v.json", return_state=True)
    assert again.is_completed() and again.name == "Cached"
    put_object(bucket_uri, "v.json", {"version": 2, "changed": True})
    fresh = deserialize(bucket_uri, "v.json", return_state=True)
    assert fresh.name != "Cached" and fresh.result() == {"version": 2, "changed": True}


def test_deserialize_cache_covers_the_format_not_just_the_bytes(bucket_uri, tmp_path):  # type: ignore[no-untyped-def]
    """Same bytes, same ETag, another format in the helium metadata: a new answer."""
    body = b"a,b\n1,2\n"
    put_object(bucket_uri, "t.csv", body)  # stored with format "bytes"
    assert deserialize(bucket_uri, "t.csv") == body
    assert deserialize(bucket_uri, "t.csv", return_state=True).name == "Cached"
    src = tmp_path / "t.csv"
    src.write_bytes(body)
    put_file(bucket_uri, "t.csv", str(src))  # the same bytes, now read by their extension
    fresh = deserialize(bucket_uri, "t.csv", return_state=True)
    assert fresh.name != "Cached"
    assert fresh.result().to_dict("list") == {"a": [1], "b": [2]}


def test_directory_tasks_skip_what_is_unchanged(bucket_uri, raw, tmp_path):  # type: ignore[no-untyped-def]
    src = write_tree(tmp_path / "src", {"a.txt": "alpha", "sub/b.csv": "x,y\n1,2\n"})
    first = put_dir(bucket_uri, "d", str(src), {"origin": "test"})
    assert sorted(first["transferred"]) == ["d/a.txt", "d/sub/b.csv"]
    assert raw.listing() == ["d/a.txt", "d/sub/b.csv"]
    second = put_dir(bucket_uri, "d", str(src), {"origin": "test"})
    assert second["transferred"] == [] and len(second["skipped"]) == 2
    down = tmp_path / "down"
    assert len(fetch(bucket_uri, "d", str(down))["transferred"]) == 2
    assert fetch(bucket_uri, "d", str(down))["transferred"] == []
    assert (down / "sub/b.csv").read_text() == "x,y\n1,2\n"
    put_file(bucket_uri, "one.txt", str(src / "a.txt"), {"n": 1})
    assert put_file(bucket_uri, "one.txt", str(src / "a.txt"), {"n": 1})["key"] == "one.txt"
    assert raw.read("one.txt") == b"alpha"


def test_delete_tasks_succeed_on_what_is_gone(bucket_uri, raw):  # type: ignore[no-untyped-def]
    put_object(bucket_uri, "x/1.json", [1])
    put_object(bucket_uri, "x/2.json", [2])
    put_object(bucket_uri, "keep.json", [0])
    assert delete_object(bucket_uri, "x/1.json") == {"key": "x/1.json", "deleted": True}
    assert delete_object(bucket_uri, "x/1.json")["deleted"]  # already gone: still fine
    assert delete_dir(bucket_uri, "x/")["deleted"] == ["x/2.json"]
    assert delete_dir(bucket_uri, "x/")["deleted"] == []
    assert raw.listing() == ["keep.json"]
    for root in ("", "/"):
        with pytest.raises(t4.UnsafeOperationError, match="pass a prefix such as") as err:
            delete_dir(bucket_uri, root)
        assert "allow_root" not in str(err.value)  # the task has no such parameter
    assert raw.listing() == ["keep.json"]


def test_missing_key_fails_at_once_with_the_core_error(bucket_uri):  # type: ignore[no-untyped-def]
    state = get_meta(bucket_uri, "nope.json", return_state=True)
    with pytest.raises(t4.KeyNotFoundError):
        state.result()
    run_id = state.state_details.task_run_id
    with get_client(sync_client=True) as client:  # states reach the API as events: wait
        assert wait_until(lambda: client.read_task_run(run_id).state.is_final(), timeout=60)
        assert client.read_task_run(run_id).run_count == 1


def test_bulk_task_publishes_table_and_progress(tmp_path):  # type: ignore[no-untyped-def]
    lake = tmp_path / "lake"
    lake.mkdir()
    src = write_tree(tmp_path / "src", {f"f{i}.txt": str(i) for i in range(5)})
    state = put_dir(str(lake), "p", str(src), return_state=True)
    run_id = state.state_details.task_run_id
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(task_run_id=ArtifactFilterTaskRunId(any_=[run_id]))
        )
    kinds = {a.type: a for a in found}
    assert set(kinds) == {"table", "progress"}
    assert kinds["progress"].data == 100.0
    assert "5 transferred" in (kinds["table"].description or "")
    assert "p/f0.txt" in str(kinds["table"].data)
