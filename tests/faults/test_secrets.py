"""Credentials never show: not in errors, not in t4's or Prefect's logs, not in artifacts or
task results. A wrong secret is a named ``AccessDeniedError`` that changes nothing.

The wrong-secret cases run against a moto server that checks signatures (``auth_server``);
the rest capture everything t4 and t4flows say during real work, failures included, and
grep it for the test credentials.
"""

from __future__ import annotations

import logging
import traceback
from pathlib import Path

import pytest
from files import write_tree
from servers import TEST_KEY_ID, TEST_SECRET

import t4

WRONG = "wrong-secret-that-must-never-appear-0000"
TOKEN = "session-token-that-must-never-appear-1111"


def _tree(root: Path) -> Path:
    return write_tree(root, {"a.txt": "a", "sub/b.json": "{}"})


def _shown(err: BaseException) -> str:
    """Everything a user could see of an error: message, repr, traceback, causes."""
    return "".join(traceback.format_exception(err)) + repr(err) + repr(vars(err))


@pytest.fixture
def wrong_env(auth_server, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("AWS_ENDPOINT_URL", auth_server.endpoint)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", auth_server.key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", WRONG)
    monkeypatch.setenv("AWS_SESSION_TOKEN", TOKEN)
    return auth_server


def _listing(auth_server) -> list[str]:  # type: ignore[no-untyped-def]
    with t4.Bucket(
        f"s3://{auth_server.bucket}",
        endpoint_url=auth_server.endpoint,
        credentials={
            "aws_access_key_id": auth_server.key_id,
            "aws_secret_access_key": auth_server.secret,
        },
    ) as right:
        return right.keys()


CALLS = {
    "keys": lambda b, tmp: b.keys(),
    "get_meta": lambda b, tmp: b.get_meta("a.txt"),
    "deserialize": lambda b, tmp: b("a.txt"),
    "put": lambda b, tmp: b.put("new.json", {"a": 1}),
    "put_file": lambda b, tmp: b.put_file("f.txt", _tree(tmp / "src") / "a.txt"),
    "put_dir": lambda b, tmp: b.put_dir("d", _tree(tmp / "src")),
    "fetch": lambda b, tmp: b.fetch("d/", tmp / "out"),
    "delete": lambda b, tmp: b.delete("a.txt"),
    "delete_dir": lambda b, tmp: b.delete_dir("d/"),
    "search": lambda b, tmp: b.search("a"),
}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_wrong_secret_is_access_denied_and_changes_nothing(
    name: str, wrong_env, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:  # type: ignore[no-untyped-def]
    before = _listing(wrong_env)
    caplog.set_level(logging.DEBUG, logger="t4")
    with t4.Bucket(f"s3://{wrong_env.bucket}") as bucket, pytest.raises(Exception) as caught:
        CALLS[name](bucket, tmp_path)
    err = caught.value
    if isinstance(err, t4.TransferError):  # bulk: every file failed for the same reason
        assert err.failures and all(
            isinstance(e, t4.AccessDeniedError) for e in err.failures.values()
        ), err.failures
    else:
        assert isinstance(err, t4.AccessDeniedError) and isinstance(err, PermissionError)
    assert wrong_env.bucket in str(err) and "credentials" in str(err)
    for secret in (WRONG, TOKEN, wrong_env.secret):
        assert secret not in _shown(err) and secret not in caplog.text
    assert _listing(wrong_env) == before
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*"))


def test_nothing_t4_or_prefect_shows_holds_a_credential(
    s3_bucket_uri: str,
    prefect_harness: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Real work and real failures through t4 and its Prefect tasks, with a session token
    in the environment: logs, errors, artifacts, task results and run logs are grepped."""
    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        LogFilter,
        LogFilterFlowRunId,
    )

    from t4flows import delete_dir, fetch, get_meta, list_keys, put_dir, put_object

    monkeypatch.setenv("AWS_SESSION_TOKEN", TOKEN)
    caplog.set_level(logging.DEBUG, logger="t4")
    caplog.set_level(logging.DEBUG, logger="t4flows")
    caplog.set_level(logging.DEBUG, logger="prefect")
    src = _tree(tmp_path / "src")

    @flow
    def work(uri: str) -> list[object]:
        out: list[object] = [
            put_dir(uri, "d", str(src), {"k": "v"}),
            put_object(uri, "o.json", {"a": 1}),
            get_meta(uri, "o.json"),
            list_keys(uri),
            fetch(uri, "d/", str(tmp_path / "out")),
            delete_dir(uri, "d/"),
        ]
        for bad in (lambda: get_meta(uri, "missing.json"), lambda: put_dir(uri, "x", "/nope")):
            try:
                bad()
            except t4.T4Error as err:
                out.append(_shown(err))
        return out

    state = work(s3_bucket_uri, return_state=True)
    results = state.result()
    with get_client(sync_client=True) as client:
        run_id = state.state_details.flow_run_id
        logs = client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])))
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]))
        )
    seen = "\n".join(
        [
            repr(results),
            caplog.text,
            *(entry.message for entry in logs),
            *(f"{a.description} {a.data}" for a in artifacts),
        ]
    )
    assert len(results) == 8 and "missing.json" in seen  # the failures were seen too
    assert any(a.type == "table" for a in artifacts)
    for secret in (TEST_SECRET, TOKEN):
        assert secret not in seen
    assert TEST_KEY_ID not in seen
