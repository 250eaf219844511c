"""The bucket block as Prefect storage: task and flow results persisted in a bucket (S3 on
moto's server and a local folder), read back by a second process that only has Prefect's API;
a deployment's code pushed to a bucket and pulled by Prefect's own pull step; and Prefect's
own standard suite for blocks."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from prefect import flow, task
from prefect.deployments.steps import pull_with_block
from prefect.testing.standard_test_suites import BlockStandardTestSuite
from servers import Raw

import t4
from t4flows import T4BucketBlock


class TestT4BucketBlockStandard(BlockStandardTestSuite):
    @pytest.fixture
    def block(self) -> type[T4BucketBlock]:
        return T4BucketBlock

    def test_has_a_valid_image(self, block: type[T4BucketBlock]) -> None:  # type: ignore[override]
        pytest.skip("the logo check downloads an image; tests never reach outside the machine")


@pytest.fixture
def storage_block(bucket_uri: str, backend_kind: str, request: pytest.FixtureRequest) -> str:
    """A saved block on each backend, results under ``prefect/results/``; its slug."""
    endpoint = request.getfixturevalue("s3_env").endpoint if backend_kind == "s3" else None
    T4BucketBlock(uri=bucket_uri, endpoint_url=endpoint, bucket_folder="prefect/results").save(
        f"results-{backend_kind}", overwrite=True
    )
    return f"t4-bucket/results-{backend_kind}"


@task(persist_result=True)
def square(x: int) -> dict[str, int]:
    return {"square": x * x}


READ_BACK = """
import json, sys
from uuid import UUID
from prefect.client.orchestration import get_client

with get_client(sync_client=True) as client:
    run = client.read_flow_run(UUID(sys.argv[1]))
    print(json.dumps(run.state.result()))
"""


def test_results_persist_in_the_bucket_and_a_second_process_reads_them(  # type: ignore[no-untyped-def]
    storage_block, bucket_uri, raw: Raw, prefect_harness, tmp_path
):
    @flow(result_storage=storage_block, persist_result=True)
    def squares(n: int) -> list[dict[str, int]]:
        return [square(i) for i in range(n)]

    state = squares(3, return_state=True)
    assert state.is_completed()
    flow_run_id = str(state.state_details.flow_run_id)

    stored = [k for k in raw.listing() if k.startswith("prefect/results/")]
    assert len(stored) == 4  # three task results and the flow's
    with t4.Bucket(bucket_uri) as fresh:
        runs = [fresh.get_meta(k)["user_meta"]["prefect"] for k in stored]
    assert {r["flow_run_id"] for r in runs} == {flow_run_id}
    task_runs = [r for r in runs if "task_run_id" in r]
    assert len(task_runs) == 3 and all(r["task_run_name"].startswith("square") for r in task_runs)

    env = {**os.environ, "PREFECT_API_URL": prefect_harness, "PREFECT_HOME": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", READ_BACK, flow_run_id], env=env, capture_output=True, text=True,
        timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [{"square": 0}, {"square": 1}, {"square": 4}]


def test_the_saved_block_object_works_too(bucket_uri: str, backend_kind: str, raw: Raw) -> None:
    block = T4BucketBlock(uri=bucket_uri, bucket_folder="as-object")
    block.save(f"as-object-{backend_kind}", overwrite=True)  # Prefect refuses unsaved storage

    @flow(result_storage=block, persist_result=True)
    def one() -> dict[str, int]:
        return square(5)

    assert one() == {"square": 25}
    assert len([k for k in raw.listing() if k.startswith("as-object/")]) == 2


def test_deployment_code_is_pushed_and_pulled_by_prefects_step(  # type: ignore[no-untyped-def]
    tmp_path, monkeypatch
):
    lake, code, work = tmp_path / "lake", tmp_path / "code", tmp_path / "work"
    for folder in (lake, code / "flows", work):
        folder.mkdir(parents=True)
    (code / "flows" / "etl.py").write_text("print('etl')\n")
    (code / "secrets.env").write_text("TOKEN=x\n")
    (code / ".prefectignore").write_text("*.env\n")
    block = T4BucketBlock(uri=str(lake), bucket_folder="code/v1")
    block.put_directory(str(code), ignore_file=str(code / ".prefectignore"))
    block.save("code", overwrite=True)

    monkeypatch.chdir(work)
    pulled = asyncio.run(pull_with_block("code", "t4-bucket"))
    where = work / pulled["directory"]
    assert (where / "flows" / "etl.py").read_text() == "print('etl')\n"
    assert not (where / "secrets.env").exists()
    assert sorted(p.name for p in (lake / "code" / "v1").rglob("*") if p.is_file()) == [
        ".prefectignore",
        "etl.py",
    ]


def test_reading_a_missing_result_names_the_key(tmp_path: Path) -> None:
    (tmp_path / "lake").mkdir()
    block = T4BucketBlock(uri=str(tmp_path / "lake"), bucket_folder="results")
    block.write_path("abc", b"\x00bytes")
    assert block.read_path("abc") == b"\x00bytes"
    with pytest.raises(t4.KeyNotFoundError, match="results/missing"):
        block.read_path("missing")
