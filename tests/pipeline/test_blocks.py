"""The bucket block: saved and loaded by name through the real Prefect API; secrets masked."""

from __future__ import annotations

import logging

import pytest

import t4
from t4flows import T4BucketBlock, list_keys, open_bucket, put_object
from t4flows.blocks import bucket_label

SECRET = "block-secret-value-that-must-never-appear"


def test_saved_block_names_a_bucket(tmp_path):  # type: ignore[no-untyped-def]
    (tmp_path / "lake").mkdir()
    T4BucketBlock(uri=str(tmp_path / "lake"), concurrency=2).save("test-lake", overwrite=True)
    put_object("t4-bucket/test-lake", "a.json", {"a": 1})
    assert list_keys("t4-bucket/test-lake") == ["a.json"]
    with open_bucket("t4-bucket/test-lake") as b:
        assert b.concurrency == 2 and b("a.json") == {"a": 1}


def test_block_credentials_are_used_and_never_shown(auth_server, monkeypatch, caplog):  # type: ignore[no-untyped-def]
    """Against a server that checks signatures, with no credentials in the environment: the
    block's own credentials work, a wrong secret is refused, and neither secret shows."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    caplog.set_level(logging.DEBUG)
    uri = f"s3://{auth_server.bucket}"
    T4BucketBlock(
        uri=uri,
        endpoint_url=auth_server.endpoint,
        aws_access_key_id=auth_server.key_id,
        aws_secret_access_key=auth_server.secret,
    ).save("signed", overwrite=True)
    loaded = T4BucketBlock.load("signed")
    put_object("t4-bucket/signed", "a.json", {"a": 1})
    assert "a.json" in list_keys("t4-bucket/signed")
    wrong = T4BucketBlock(
        uri=uri, endpoint_url=auth_server.endpoint, aws_access_key_id=auth_server.key_id,
        aws_secret_access_key=SECRET,
    )  # fmt: skip
    state = list_keys(wrong, return_state=True)
    with pytest.raises(t4.AccessDeniedError) as err:
        state.result()
    shown = f"{loaded!r} {loaded} {bucket_label(loaded)} {loaded.model_dump_json()} {err.value}"
    for secret in (auth_server.secret, SECRET):
        assert secret not in shown and secret not in caplog.text


def test_plain_uri_needs_no_block(tmp_path):  # type: ignore[no-untyped-def]
    (tmp_path / "a-file").write_text("not a folder")
    with pytest.raises(t4.BucketURIError), open_bucket(str(tmp_path / "a-file")):
        pass
    (tmp_path / "lake").mkdir()
    with open_bucket(str(tmp_path / "lake")) as first, open_bucket(str(tmp_path / "lake")) as again:
        assert first is again  # built once per process: tasks do not pay for it each time


def test_a_changed_block_gets_a_new_bucket(tmp_path):  # type: ignore[no-untyped-def]
    (tmp_path / "lake").mkdir()
    T4BucketBlock(uri=str(tmp_path / "lake"), concurrency=2).save("changing", overwrite=True)
    with open_bucket("t4-bucket/changing") as before:
        assert before.concurrency == 2
    T4BucketBlock(uri=str(tmp_path / "lake"), concurrency=3).save("changing", overwrite=True)
    with open_bucket("t4-bucket/changing") as after:
        assert after.concurrency == 3 and after is not before
