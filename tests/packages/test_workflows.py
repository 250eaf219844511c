"""quilt3's workflows (``.quilt/workflows/config.yml``) honoured as quilt3 8.0.0 does: the
same pushes accepted and refused by the real quilt3 and by t4 on one moto bucket, the
accepted ones with the same top hash (the manifest records the same ``workflow``)."""

from __future__ import annotations

import json

import pytest

import t4

CONFIG = """
version: "1"
is_workflow_required: false
default_workflow: strict
workflows:
  strict:
    name: Strict
    is_message_required: true
    metadata_schema: meta
    entries_schema: entries
  loose:
    name: Loose
schemas:
  meta: {url: "s3://BUCKET/.quilt/workflows/meta.json"}
  entries: {url: "s3://BUCKET/.quilt/workflows/entries.json"}
"""
META_SCHEMA = {
    "type": "object",
    "required": ["owner"],
    "properties": {"owner": {"type": "string"}},
}
ENTRIES_SCHEMA = {"type": "array", "items": {"properties": {"size": {"maximum": 100}}}}

#: (case, workflow or "-" for omitted, message, package meta, entry size)
CASES = [
    ("all good", "-", "m", {"owner": "ada"}, 10),
    ("no message", "-", None, {"owner": "ada"}, 10),
    ("meta without owner", "-", "m", {"other": 1}, 10),
    ("owner not a string", "-", "m", {"owner": 3}, 10),
    ("entry too big", "-", "m", {"owner": "ada"}, 500),
    ("loose takes anything", "loose", None, {"other": 1}, 500),
    ("no workflow", None, None, {}, 10),
    ("unknown workflow", "nope", "m", {"owner": "ada"}, 10),
]

QUILT3 = """
import pathlib
result = []
for case, workflow, message, meta, size in args["cases"]:
    path = pathlib.Path(args["tmp"]) / f"q3-{size}.bin"
    path.write_bytes(b"x" * size)
    pkg = quilt3.Package().set("data.bin", str(path)).set_meta(meta)
    kw = {} if workflow == "-" else {"workflow": workflow}
    try:
        reg = args["registry"]
        pushed = pkg.push(args["name"], registry=reg, message=message, force=True, **kw)
        result.append([case, "pushed", pushed.top_hash])
    except Exception as err:
        result.append([case, "refused", type(err).__name__ + ": " + str(err)])
"""


def _t4(registry: str, name: str, tmp_path, cases) -> list[list[str]]:  # type: ignore[no-untyped-def]
    seen = []
    for case, workflow, message, meta, size in cases:
        path = tmp_path / f"t4-{size}.bin"
        path.write_bytes(b"x" * size)
        pkg = t4.Package().set("data.bin", path).set_meta(meta)
        kw = {} if workflow == "-" else {"workflow": workflow}
        try:
            pushed = pkg.push(name, registry=registry, message=message, force=True, **kw)
            seen.append([case, "pushed", pushed.top_hash])
        except t4.WorkflowValidationError as err:
            seen.append([case, "refused", str(err)])
    return seen


@pytest.fixture
def configured(s3_env, s3_bucket_uri):  # type: ignore[no-untyped-def]
    client, name = s3_env.client(), s3_bucket_uri[5:]
    put = lambda key, body: client.put_object(Bucket=name, Key=key, Body=body)  # noqa: E731
    put(".quilt/workflows/config.yml", CONFIG.replace("BUCKET", name).encode())
    put(".quilt/workflows/meta.json", json.dumps(META_SCHEMA).encode())
    put(".quilt/workflows/entries.json", json.dumps(ENTRIES_SCHEMA).encode())
    return s3_bucket_uri


def test_quilt3_and_t4_accept_and_refuse_the_same_pushes(q3, configured, tmp_path):
    theirs = q3.run(QUILT3, registry=configured, name="q3/data", cases=CASES, tmp=str(tmp_path))
    ours = _t4(configured, "t4/data", tmp_path, CASES)
    assert [c[:2] for c in ours] == [c[:2] for c in theirs], (ours, theirs)
    assert [c[1] for c in ours] == ["pushed"] + ["refused"] * 4 + ["pushed"] * 2 + ["refused"]
    for mine, quilt3s in zip(ours, theirs, strict=True):
        if mine[1] == "pushed":
            assert mine[2] == quilt3s[2], mine[0]  # same manifest, workflow record included
    refusals = dict((c[0], c[2]) for c in ours if c[1] == "refused")
    assert "message is required" in refusals["no message"]
    assert "'owner' is a required property" in refusals["meta without owner"]
    assert "['owner'] 3 is not of type 'string'" in refusals["owner not a string"]
    assert "500 is greater than the maximum of 100" in refusals["entry too big"]
    assert "'nope'" in refusals["unknown workflow"] and "--workflow" in refusals["no message"]
    latest = t4.Package.browse("t4/data", configured)
    assert latest._meta["workflow"] == {
        "id": None,
        "config": f"{configured}/.quilt/workflows/config.yml",
    }


def test_every_failure_is_listed_at_once(configured, tmp_path):
    path = tmp_path / "big.bin"
    path.write_bytes(b"x" * 500)
    pkg = t4.Package().set("data.bin", path).set_meta({"owner": 3})
    with pytest.raises(t4.WorkflowValidationError) as caught:
        pkg.push("team/data", registry=configured)
    text = str(caught.value)
    assert "message is required" in text and "not of type 'string'" in text
    assert "greater than the maximum" in text


def test_without_a_config_only_a_named_workflow_is_refused(q3, s3_bucket_uri, tmp_path):
    cases = [("omitted", "-", None, {}, 1), ("named", "loose", None, {}, 1)]
    theirs = q3.run(QUILT3, registry=s3_bucket_uri, name="q3/x", cases=cases, tmp=str(tmp_path))
    ours = _t4(s3_bucket_uri, "t4/x", tmp_path, cases)
    assert (
        [c[:2] for c in ours]
        == [c[:2] for c in theirs]
        == [
            ["omitted", "pushed"],
            ["named", "refused"],
        ]
    )
    assert ours[0][2] == theirs[0][2]
    assert "workflow" not in t4.Package.browse("t4/x", s3_bucket_uri)._meta


def test_the_cli_takes_a_workflow(configured, tmp_path):
    from t4.cli import main

    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.txt").write_text("a")
    assert main(["package", "push", "team/cli", str(tmp_path / "d"), "-r", configured,
                 "--workflow", "loose"]) == 0  # fmt: skip
    assert t4.Package.browse("team/cli", configured)._meta["workflow"]["id"] == "loose"
