"""deployments/: every entrypoint imports and its parameters fit the flow; a served
deployment runs end to end against the real local Prefect server of the test harness."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.deployments import run_deployment
from prefect.exceptions import SignatureMismatchError
from prefect.flows import load_flow_from_entrypoint

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "deployments"))
import serve  # noqa: E402  # deployments/ is a folder of scripts, not a package

SPECS = serve.deployment_specs()


@pytest.mark.parametrize("spec", SPECS, ids=[s["name"] for s in SPECS])
def test_entrypoint_imports_and_parameters_validate(spec) -> None:  # type: ignore[no-untyped-def]
    flow = load_flow_from_entrypoint(str(ROOT / spec["entrypoint"]))
    validated = flow.validate_parameters(spec["parameters"])
    assert {k: validated[k] for k in spec["parameters"]} == spec["parameters"]
    with pytest.raises(SignatureMismatchError):
        flow.validate_parameters({**spec["parameters"], "no_such_parameter": 1})
    assert spec["work_pool"]["name"]


def test_mirror_has_a_cron_schedule_and_serve_builds_all() -> None:
    mirror = next(s for s in SPECS if s["entrypoint"].endswith(":mirror_directory"))
    assert mirror["schedules"][0]["cron"]
    built = serve.to_deployments(SPECS)
    assert {d.name for d in built} == {s["name"] for s in SPECS}
    assert next(d.schedules for d in built if d.name == mirror["name"])


def _wait_for_deployment(name: str, proc: subprocess.Popen[bytes], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    with get_client(sync_client=True) as client:
        while True:
            try:
                client.read_deployment_by_name(name)
                return
            except Exception:  # not registered yet: the server answers 404
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError("serve.py did not register the deployment") from None
                time.sleep(0.5)


@pytest.mark.timeout(240)
def test_served_deployment_runs_end_to_end(prefect_harness, tmp_path):  # type: ignore[no-untyped-def]
    src, lake = tmp_path / "src", tmp_path / "lake"
    src.mkdir()
    lake.mkdir()
    (src / "a.txt").write_text("served")
    env = {
        **os.environ,
        "PREFECT_API_URL": prefect_harness,
        "PREFECT_HOME": str(tmp_path / "serve-home"),
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",
    }
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "deployments/serve.py", "--only", "mirror-nightly"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_for_deployment("mirror_directory/mirror-nightly", proc, 90)
        run = run_deployment(
            "mirror_directory/mirror-nightly",
            parameters={"source": str(src), "destination": lake.as_uri(), "exclude": []},
            timeout=150,
        )
        assert run.state is not None and run.state.is_completed(), (
            tmp_path / "serve.log"
        ).read_text()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
    assert (lake / "a.txt").read_text() == "served"
