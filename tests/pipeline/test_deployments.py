"""deployments/: every entrypoint imports and its parameters fit the flow; a served
deployment runs end to end against the real local Prefect server of the test harness."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from datetime import timedelta
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


SCHEDULED_YAML = """
deployments:
  - name: every-form
    entrypoint: flows/search_then_fetch.py:search_then_fetch
    parameters: {bucket: ./lake, query: "*", destination: ./out}
    schedules:
      - cron: "0 2 * * *"
        timezone: Europe/Oslo
        day_or: false
      - interval: 3600
        anchor_date: "2026-01-01T00:30:00Z"
        timezone: America/Lima
        active: false
      - rrule: "FREQ=WEEKLY;BYDAY=MO"
        timezone: Asia/Kolkata
"""


def test_served_schedules_keep_timezone_form_and_active_flag(tmp_path):  # type: ignore[no-untyped-def]
    """What serve.py registers in the API, read back: each schedule as prefect.yaml says."""
    path = tmp_path / "prefect.yaml"
    path.write_text(SCHEDULED_YAML)
    (deployment,) = serve.to_deployments(serve.deployment_specs(path))
    deployment_id = deployment.apply()
    with get_client(sync_client=True) as client:
        stored = client.read_deployment(deployment_id).schedules
    by_zone = {s.schedule.timezone: s for s in stored}
    assert set(by_zone) == {"Europe/Oslo", "America/Lima", "Asia/Kolkata"}
    cron, interval, rrule = by_zone["Europe/Oslo"], by_zone["America/Lima"], by_zone["Asia/Kolkata"]
    assert cron.schedule.cron == "0 2 * * *" and cron.schedule.day_or is False and cron.active
    assert interval.schedule.interval == timedelta(hours=1) and not interval.active
    assert interval.schedule.anchor_date.minute == 30
    assert "FREQ=WEEKLY;BYDAY=MO" in rrule.schedule.rrule and rrule.active


def test_an_unknown_schedule_field_is_refused(tmp_path):  # type: ignore[no-untyped-def]
    path = tmp_path / "prefect.yaml"
    path.write_text(SCHEDULED_YAML.replace("day_or: false", "timezon: UTC"))
    with pytest.raises(ValueError, match="timezon"):
        serve.to_deployments(serve.deployment_specs(path))


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


def test_readme_saves_every_block_the_deployments_name() -> None:
    """The README's deploy section saves (in a tested block) each t4-bucket the specs use."""
    named = set(re.findall(r"t4-bucket/([\w-]+)", serve.PREFECT_YAML.read_text()))
    deploy = (ROOT / "README.md").read_text().split("## Deploying the flows", 1)[1]
    saved = set(re.findall(r'\.save\("([\w-]+)"', deploy.split("\n## ", 1)[0]))
    assert named and named <= saved
