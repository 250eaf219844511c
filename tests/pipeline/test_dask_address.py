"""``--dask-address`` / ``T4_DASK_ADDRESS``: the flows' command lines run their tasks on a
running Dask cluster. The test starts ``dask scheduler`` and two ``dask worker`` processes on
free loopback ports, runs the real command lines in a second process, and compares their
results with the same command lines run in-process; the workers' own logs show the tasks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from files import read_tree, write_tree

ROOT = Path(__file__).resolve().parents[2]
DASK = str(Path(sys.executable).with_name("dask"))
SAMPLE = {f"f{i:02}.txt": f"file {i}" for i in range(9)} | {"deep/x.csv": "a,b\n1,2\n"}


@dataclass
class Cluster:
    address: str
    logs: list[Path]  # each worker's stderr

    def worker_text(self) -> str:
        return "".join(log.read_text() for log in self.logs)


def _env(prefect_api: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"T4_DASK_ADDRESS", "PREFECT_HOME"}}
    path = [str(ROOT), *filter(None, [env.get("PYTHONPATH")])]  # workers import flows, t4
    return {**env, "PREFECT_API_URL": prefect_api, "PYTHONPATH": os.pathsep.join(path), **extra}


@pytest.fixture
def cluster(tmp_path: Path, prefect_harness: str) -> Iterator[Cluster]:
    from distributed import Client

    env = _env(prefect_harness)
    info = tmp_path / "scheduler.json"
    common = ["--no-dashboard", "--scheduler-file", str(info)]
    procs = [_start([DASK, "scheduler", "--host", "127.0.0.1", "--port", "0", *common],
                    tmp_path / "scheduler.log", env)]  # fmt: skip
    logs = [tmp_path / f"worker{i}.log" for i in range(2)]
    for i, log in enumerate(logs):
        procs.append(_start([DASK, "worker", "--host", "127.0.0.1", "--nthreads", "2",
                             "--no-nanny", "--name", f"w{i}", *common], log, env))  # fmt: skip
    try:
        with Client(scheduler_file=str(info), timeout=180) as client:
            client.wait_for_workers(2, timeout=180)
            address = client.scheduler.address
        yield Cluster(address, logs)
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _start(argv: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def _flow(module: str, argv: list[str], env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", f"flows.{module}", *argv],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _comparable(result: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in result.items() if k not in ("seconds", "bucket")}


@pytest.mark.timeout(900)  # six flow command lines, each its own process, on a loaded machine
def test_mirror_on_a_running_cluster_matches_in_process(
    tmp_path: Path, prefect_harness: str, cluster: Cluster
) -> None:
    src = write_tree(tmp_path / "src", SAMPLE)
    env = _env(prefect_harness)
    args = ["--chunk-size", "2", "--parallel", "2"]
    results: dict[str, list[dict[str, Any]]] = {}
    for how, extra, via in (
        ("in-process", [], env),
        ("flag", ["--dask-address", cluster.address], env),
        ("variable", [], _env(prefect_harness, T4_DASK_ADDRESS=cluster.address)),
    ):
        lake = tmp_path / f"lake-{how}"
        lake.mkdir()
        argv = [str(src), lake.as_uri(), *args, *extra]
        results[how] = [_comparable(_flow("mirror_directory", argv, via)) for _ in range(2)]
        assert read_tree(lake, text=True) == SAMPLE
    assert sorted(results["in-process"][0]["transferred"]) == sorted(SAMPLE)
    assert results["in-process"][1]["transferred"] == []  # the second run has nothing to do
    assert results["flag"] == results["in-process"] == results["variable"]
    ran = cluster.worker_text()
    # 10 files in chunks of 2: 5 chunk tasks in each of the two first runs on the cluster,
    # run and logged by the workers (the plan is called in the flow's own process)
    assert ran.count("Task run 'copy_chunk-") == 10, ran


@pytest.mark.timeout(600)
def test_annotate_and_publish_on_a_running_cluster_matches_in_process(
    tmp_path: Path, prefect_harness: str, cluster: Cluster
) -> None:
    src = write_tree(tmp_path / "src", {"a.json": '{"x": 1}', "b.csv": "a,b\n1,2\n"})
    env = _env(prefect_harness)
    results = []
    for how, extra in (("in-process", []), ("flag", ["--dask-address", cluster.address])):
        lake = tmp_path / f"lake-{how}"
        lake.mkdir()
        results.append(_flow("annotate_and_publish", [str(src), lake.as_uri(), *extra], env))
    assert results[0] == results[1] and results[0]["published"] == ["a.json", "b.csv"]
    assert "Task run 'annotate_chunk-" in cluster.worker_text()


def test_dask_and_dask_address_are_one_or_the_other(prefect_harness: str) -> None:
    argv = ["--dask", "2", "--dask-address", "tcp://127.0.0.1:1", "src", "file:///lake"]
    done = subprocess.run(
        [sys.executable, "-m", "flows.mirror_directory", *argv],
        cwd=ROOT, env=_env(prefect_harness), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2 and "not allowed with argument" in done.stderr
