"""One fixture per real component: moto's standalone S3 server (a separate process on a free
loopback port, reset between tests), SeaweedFS (``weed mini``, started once per session on
free loopback ports) and local-folder buckets in temporary directories.

``bucket`` runs a test once per backend; ``store_uri`` once per store a team may share a
registry on (folder, moto, seaweed); ``raw`` is the independent path (plain boto3 or ``os``)
through which tests check what the code under test did.
"""

from __future__ import annotations

import json
import os
import uuid

# Prefect's SDK telemetry is decided when prefect is first imported (below), from the
# environment: so it is turned off here, for this process and every child it starts; the
# harness's server turns its own analytics off in ``prefect_harness``.
os.environ["DO_NOT_TRACK"] = "1"
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
import requests
from prefect.settings import (
    PREFECT_API_URL,
    PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
    PREFECT_HOME,
    PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW,
    PREFECT_SERVER_ANALYTICS_ENABLED,
    get_current_settings,
    temporary_settings,
)
from prefect.testing.utilities import prefect_test_harness
from servers import (
    TEST_KEY_ID,
    TEST_SECRET,
    Raw,
    S3Server,
    SeaweedServer,
    start_moto,
    start_seaweed,
)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """moto's S3 server in its own process, on a free port of 127.0.0.1."""
    server = start_moto(tmp_path_factory.mktemp("moto"))
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _isolated_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """No test reads the developer's AWS settings, t4 settings or caches."""
    home = tmp_path_factory.mktemp("home")
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(home / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / "aws-credentials"))
    monkeypatch.setenv("T4_CONFIG_DIR", str(home / "t4-config"))
    monkeypatch.setenv("T4_CACHE_DIR", str(home / "t4-cache"))
    monkeypatch.setenv("TQDM_DISABLE", "1")
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))  # the local package registry


@pytest.fixture
def s3_env(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    """Point boto3 (and so t4) at the test server with the test credentials."""
    s3_server.reset()
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server.endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", TEST_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", TEST_SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return s3_server


@pytest.fixture
def s3_bucket_uri(s3_env: S3Server) -> str:
    name = f"t4-test-{uuid.uuid4().hex[:12]}"
    s3_env.client().create_bucket(Bucket=name)
    return f"s3://{name}"


@pytest.fixture(scope="session")
def seaweed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedServer]:
    """SeaweedFS in its own process group, on free ports of 127.0.0.1, telemetry off. If it
    cannot start, every test using it fails with the reason (it is never skipped)."""
    server = start_seaweed(tmp_path_factory.mktemp("seaweed"))
    yield server
    server.stop()


@pytest.fixture
def seaweed_env(seaweed_server: SeaweedServer, monkeypatch: pytest.MonkeyPatch) -> SeaweedServer:
    """Point boto3 (and so t4, and every child process) at SeaweedFS."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", seaweed_server.endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", TEST_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", TEST_SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return seaweed_server


@pytest.fixture(params=["folder", "moto", "seaweed"])
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store_uri(store_kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty bucket on each store: a local folder, moto, SeaweedFS. The S3 ones
    leave AWS_ENDPOINT_URL and the test credentials in the environment for child processes."""
    if store_kind == "folder":
        root = tmp_path / "store"
        root.mkdir()
        return str(root)
    server = request.getfixturevalue("s3_env" if store_kind == "moto" else "seaweed_env")
    name = f"t4-test-{uuid.uuid4().hex[:12]}"
    server.client().create_bucket(Bucket=name)
    return f"s3://{name}"


@pytest.fixture
def store_raw(store_uri: str, store_kind: str, request: pytest.FixtureRequest) -> Raw:
    """The independent path to ``store_uri``'s content."""
    if store_kind == "folder":
        return Raw(store_uri, Path(store_uri), None)
    server = request.getfixturevalue("s3_env" if store_kind == "moto" else "seaweed_env")
    return Raw(store_uri, None, server.client())


@pytest.fixture(params=["local", "s3"])
def backend_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def bucket_uri(backend_kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty bucket of each kind: a local folder, then an S3 bucket on moto."""
    if backend_kind == "s3":
        return str(request.getfixturevalue("s3_bucket_uri"))
    root = tmp_path / "lake"
    root.mkdir()
    return str(root)


@pytest.fixture
def raw(bucket_uri: str, backend_kind: str, request: pytest.FixtureRequest) -> Raw:
    if backend_kind == "s3":
        server: S3Server = request.getfixturevalue("s3_env")
        return Raw(bucket_uri, None, server.client())
    return Raw(bucket_uri, Path(bucket_uri), None)


@pytest.fixture
def bucket(bucket_uri: str):  # type: ignore[no-untyped-def]
    """A ``t4.Bucket`` on each backend."""
    import t4

    b = t4.Bucket(bucket_uri)
    yield b
    b.close()


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    """An empty local-folder bucket."""
    root = tmp_path / "lake"
    root.mkdir()
    return root


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    """A small CSV file to upload."""
    path = tmp_path / "foo.csv"
    path.write_text("name,power\nthor,9\nloki,7\n")
    return path


@pytest.fixture(scope="session")
def prefect_harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Prefect API (a server in a subprocess with a temporary database) for the rest
    of the session, under a temporary PREFECT_HOME, flow-run heartbeats off; yields its URL."""
    home = tmp_path_factory.mktemp("prefect-home")
    updates = {
        PREFECT_HOME: str(home),
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None,
        PREFECT_SERVER_ANALYTICS_ENABLED: False,
        PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW: "ignore",  # tasks called outside a flow
    }
    with temporary_settings(updates=updates), prefect_test_harness(server_startup_timeout=180):
        assert get_current_settings().home == Path(str(home))
        yield str(PREFECT_API_URL.value())


@dataclass(frozen=True)
class AuthServer:
    """A moto server that checks signatures, with one IAM user allowed ``s3:*``."""

    endpoint: str
    key_id: str
    secret: str
    bucket: str


@pytest.fixture(scope="session")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthServer]:
    """Its own moto process on a free loopback port. Authentication stays off while the user,
    its policy, its access key and a bucket are made (moto counts requests against
    ``INITIAL_NO_AUTH_ACTION_COUNT``); then ``/moto-api/reset-auth`` with 0 turns it on for
    every request after, whatever the exact number of setup calls was."""
    server = start_moto(
        tmp_path_factory.mktemp("moto-auth"), env={"INITIAL_NO_AUTH_ACTION_COUNT": "1000"}
    )
    endpoint = server.endpoint
    try:
        setup = {
            "endpoint_url": endpoint,
            "region_name": "us-east-1",
            "aws_access_key_id": "AKIASETUP00000000000",
            "aws_secret_access_key": "setup-only",
        }
        iam = boto3.client("iam", **setup)
        iam.create_user(UserName="t4-tester")
        policy = iam.create_policy(
            PolicyName="t4-s3-all",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
                }
            ),
        )
        iam.attach_user_policy(UserName="t4-tester", PolicyArn=policy["Policy"]["Arn"])
        key = iam.create_access_key(UserName="t4-tester")["AccessKey"]
        name = f"t4-auth-{uuid.uuid4().hex[:8]}"
        boto3.client("s3", **setup).create_bucket(Bucket=name)
        requests.post(f"{endpoint}/moto-api/reset-auth", data=b"0", timeout=10).raise_for_status()
        yield AuthServer(endpoint, key["AccessKeyId"], key["SecretAccessKey"], name)
    finally:
        server.stop()
