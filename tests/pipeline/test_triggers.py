"""The event-triggered deployment of ``deployments/prefect.yaml``, end to end on a real
``prefect server start`` (its own process, free port, temporary PREFECT_HOME, telemetry off):
``serve.py``'s way of serving it registers its trigger, a ``put_file`` in another process
emits ``t4.object.written``, and the server's automation runs the deployment to completion."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from servers import free_port

import t4

ROOT = Path(__file__).resolve().parents[2]
DEPLOYMENT = "annotate_and_publish/annotate-on-arrival"

pytestmark = pytest.mark.prefect_server

SERVE = """
import json, sys
sys.path[:0] = ["deployments", "."]
import serve
from prefect import serve as serve_all

spec = next(s for s in serve.deployment_specs() if s["name"] == "annotate-on-arrival")
spec["parameters"].update(json.loads(sys.argv[1]))
for trigger in spec["triggers"]:
    trigger["match"].update(json.loads(sys.argv[2]))
serve_all(*serve.to_deployments([spec]))
"""

LAND = """
import sys
from prefect import flow
from t4flows import put_file

@flow
def land() -> None:
    put_file(sys.argv[1], "incoming/a.csv", sys.argv[2], {"owner": "ada"})

land()
"""


def poll(
    what: str, check: Callable[[], Any], proc: subprocess.Popen[bytes] | None, seconds: float
) -> Any:
    """``check()``'s first truthy value; fails after ``seconds`` or if ``proc`` died."""
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found:
            return found
        if (proc and proc.poll() is not None) or time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.5)


@pytest.fixture(scope="module")
def prefect_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, dict[str, str]]]:
    """``prefect server start`` on a free loopback port; its API URL and a client env."""
    home = tmp_path_factory.mktemp("server-home")
    port = free_port()
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
        "DO_NOT_TRACK": "1",
    }
    env.pop("PREFECT_API_URL", None)
    log = (home / "server.log").open("wb")
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "prefect"), "server", "start",
         "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    api = f"http://127.0.0.1:{port}/api"

    def healthy() -> bool:
        try:
            return requests.get(f"{api}/health", timeout=2).ok
        except requests.ConnectionError:
            return False

    try:
        poll("the server to answer", healthy, proc, 180)
        yield api, {**env, "PREFECT_API_URL": api, "PREFECT_RUNNER_POLL_FREQUENCY": "1"}
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def api_json(method: str, url: str, body: Any = None) -> Any:
    response = requests.request(method, url, json=body, timeout=10)
    return response.json() if response.ok else None


@pytest.mark.timeout(600)
def test_an_object_landing_runs_the_triggered_deployment(prefect_server, tmp_path):  # type: ignore[no-untyped-def]
    api, env = prefect_server
    lake = tmp_path / "lake"
    lake.mkdir()
    uri = t4.Bucket(str(lake)).uri
    (tmp_path / "a.csv").write_text("x,y\n1,2\n")
    log = (tmp_path / "serve.log").open("wb")
    served = subprocess.Popen(
        [sys.executable, "-c", SERVE, json.dumps({"source_bucket": uri, "bucket": uri}),
         json.dumps({"t4.bucket": uri})],
        cwd=ROOT, env={**env, "PREFECT_HOME": str(tmp_path / "serve-home")},
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deployment = poll(
            "the deployment", lambda: api_json("GET", f"{api}/deployments/name/{DEPLOYMENT}"),
            served, 180,
        )  # fmt: skip

        def automation() -> bool:
            found = api_json("POST", f"{api}/automations/filter", {}) or []
            return any(
                action.get("deployment_id") == deployment["id"]
                for auto in found
                for action in auto["actions"]
            )

        poll("the trigger's automation", automation, served, 60)
        landed = subprocess.run(
            [sys.executable, "-c", LAND, uri, str(tmp_path / "a.csv")],
            env={**env, "PREFECT_HOME": str(tmp_path / "land-home")}, capture_output=True,
            text=True, timeout=180,
        )  # fmt: skip
        assert landed.returncode == 0, landed.stderr

        def completed_run() -> Any:
            query = {"deployments": {"id": {"any_": [deployment["id"]]}}}
            runs = api_json("POST", f"{api}/flow_runs/filter", query) or []
            failed = [r for r in runs if r["state_type"] in ("FAILED", "CRASHED")]
            assert not failed, (tmp_path / "serve.log").read_text()
            return next((r for r in runs if r["state_type"] == "COMPLETED"), None)

        run = poll("the triggered run to complete", completed_run, served, 240)
    finally:
        served.terminate()
        served.wait(timeout=30)
        log.close()
    assert run["parameters"]["source_dir"] == "incoming/"
    assert (lake / "published" / "a.csv").read_text() == "x,y\n1,2\n"

    def published_event() -> Any:  # the publish task announces what it wrote, in turn
        wanted = {"name": ["t4.object.written"]}, {"id": [f"{uri}/published/a.csv"]}
        query = {"filter": {"event": wanted[0], "resource": wanted[1]}, "limit": 10}
        page = api_json("POST", f"{api}/events/filter", query) or {"events": []}
        return page["events"]

    event = poll("the published object's event", published_event, None, 60)[0]
    assert event["payload"]["user_meta"]["media_type"] == "text/csv"
