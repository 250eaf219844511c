"""Package tasks and the publish_package flow on the session's real Prefect API: versions
pushed from a folder and from a bucket prefix (helium user_meta as entry meta), reruns that
push nothing, the report artifact, browse and install."""

from __future__ import annotations

import json

from files import write_tree
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

import flows.publish_package as publish_module
import t4
from flows.publish_package import publish_package
from t4flows.packages import browse_package, build_package, install_package, push_package
from t4flows.policy import retry_on_transient


def test_tasks_retry_only_transient_failures():
    for task in (build_package, push_package, browse_package, install_package):
        assert task.retry_condition_fn is retry_on_transient and task.retries


def test_push_twice_pushes_once_and_reports_the_diff(tmp_path):
    src = write_tree(tmp_path / "src", {"a.txt": "a", "d/b.txt": "b"})
    registry = tmp_path / "reg"
    registry.mkdir()
    first = push_package(str(src), "team/data", str(registry), message="one")
    assert first["pushed"] and first["previous"] is None
    assert first["added"] == ["a.txt", "d/b.txt"] and first["entries"] == 2
    again = push_package(str(src), "team/data", str(registry), message="one")
    assert again["pushed"] is False and again["top_hash"] == first["top_hash"]
    assert again["added"] == again["modified"] == again["deleted"] == []
    (src / "a.txt").write_text("changed")
    (src / "d/b.txt").unlink()
    (src / "c.txt").write_text("new")
    third = push_package(str(src), "team/data", str(registry), message="one")
    assert third["pushed"] and third["previous"] == first["top_hash"]
    assert (third["added"], third["modified"], third["deleted"]) == (
        ["c.txt"],
        ["a.txt"],
        ["d/b.txt"],
    )
    listing = browse_package("team/data", str(registry))
    assert listing["top_hash"] == third["top_hash"]
    assert [e["logical_key"] for e in listing["listing"]] == ["a.txt", "c.txt"]
    dest = tmp_path / "out"
    installed = install_package("team/data", str(registry), str(dest))
    assert installed["top_hash"] == third["top_hash"] and installed["entries"] == 2
    assert (dest / "a.txt").read_text() == "changed" and (dest / "c.txt").read_text() == "new"
    assert install_package("team/data", str(registry), str(dest)) == installed


def test_build_package_keeps_files_in_place(tmp_path):
    src = write_tree(tmp_path / "src", {"a.txt": "a"})
    registry = tmp_path / "reg"
    registry.mkdir()
    built = build_package(str(src), "team/local", str(registry), message="m", meta={"k": 1})
    pkg = t4.Package.browse("team/local", registry)
    assert pkg.top_hash == built["top_hash"] and pkg.meta == {"k": 1}
    assert pkg.get("a.txt") == (src / "a.txt").resolve().as_uri()


def test_publish_package_from_a_bucket_prefix_with_helium_meta(s3_bucket_uri, s3_env):
    with t4.Bucket(s3_bucket_uri) as b:
        b.put("published/a.json", {"a": 1}, meta={"owner": "ada"})
        b.put("published/t/b.txt", "bee")
        b.put("elsewhere.txt", "not in the package")
    state = publish_package(
        f"{s3_bucket_uri}/published/",
        "team/published",
        s3_bucket_uri,
        message="nightly",
        meta={"run": 1},
        return_state=True,
    )
    result = state.result()
    assert result["pushed"] and result["entries"] == 2
    assert result["ref"] == f"team/published@{result['top_hash'][:7]}"
    pkg = t4.Package.browse("team/published", s3_bucket_uri)
    assert pkg["a.json"].meta == {"owner": "ada"} and pkg.meta == {"run": 1}
    assert pkg["t/b.txt"].get_bytes() == b"bee"
    run_id = state.state_details.flow_run_id
    with get_client(sync_client=True) as client:  # this run's own: the session holds many
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]))
        )
    report = next(a for a in found if a.key == "publish-package")
    assert result["ref"] in str(report.data) and "| 2 |" in str(report.data)


def test_publish_package_command_line(tmp_path, capsys):
    src = write_tree(tmp_path / "src", {"a.txt": "a"})
    registry = tmp_path / "reg"
    registry.mkdir()
    argv = [str(src), "team/cli", str(registry), "--message", "m", "--meta", '{"k": 1}']
    assert publish_module.main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["pushed"] and out["meta"] == {"k": 1}
