"""One fixture per real component: moto's standalone S3 server (a separate process on a free
loopback port, reset between tests) and local-folder buckets in temporary directories.

``bucket`` runs a test once per backend; ``raw`` is the independent path (plain boto3 or
``os``) through which tests check what the code under test did.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
import requests

TEST_KEY_ID = "AKIATESTT4FLOWS00001"
TEST_SECRET = "t4flows-test-secret-do-not-leak-0123456789"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class S3Server:
    endpoint: str
    process: subprocess.Popen[bytes]

    def reset(self) -> None:
        requests.post(f"{self.endpoint}/moto-api/reset", timeout=10).raise_for_status()

    def client(self):  # type: ignore[no-untyped-def]
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=TEST_KEY_ID,
            aws_secret_access_key=TEST_SECRET,
            region_name="us-east-1",
        )


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """moto's S3 server in its own process, on a free port of 127.0.0.1."""
    port = free_port()
    log = (tmp_path_factory.mktemp("moto") / "server.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            requests.get(f"{endpoint}/moto-api/", timeout=1)
            break
        except requests.ConnectionError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("moto server did not start") from None
            time.sleep(0.1)
    yield S3Server(endpoint, proc)
    proc.terminate()
    proc.wait(timeout=10)
    log.close()


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


@pytest.fixture
def s3_env(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    """Point boto3 (and so t4) at the test server with the test credentials."""
    s3_server.reset()
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server.endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", TEST_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", TEST_SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return s3_server


class Raw:
    """The independent path to a bucket's content: plain boto3 for S3, ``os`` for folders."""

    def __init__(self, uri: str, root: Path | None, client=None):  # type: ignore[no-untyped-def]
        self.uri = uri
        self.root = root
        self.client = client
        self.name = uri.removeprefix("s3://") if client else None

    def listing(self) -> list[str]:
        if self.client is not None:
            pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.name)
            return sorted(o["Key"] for p in pages for o in p.get("Contents", []))
        assert self.root is not None
        found = []
        for dirpath, _dirnames, filenames in os.walk(self.root):
            rel = Path(dirpath).relative_to(self.root)
            if rel.parts[:1] == (".t4",):
                continue
            for name in filenames:
                found.append((rel / name).as_posix())
        return sorted(found)

    def read(self, key: str) -> bytes:
        if self.client is not None:
            return bytes(self.client.get_object(Bucket=self.name, Key=key)["Body"].read())
        assert self.root is not None
        return (self.root / key).read_bytes()

    def write(self, key: str, data: bytes, helium: str | None = None) -> None:
        """Write an object the way another tool (or the original T4) would."""
        if self.client is not None:
            meta = {"helium": helium} if helium is not None else {}
            self.client.put_object(Bucket=self.name, Key=key, Body=data, Metadata=meta)
            return
        assert self.root is not None and helium is None, "raw local writes carry no metadata"
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def helium(self, key: str) -> str | None:
        assert self.client is not None, "only S3 exposes raw metadata headers"
        return self.client.head_object(Bucket=self.name, Key=key)["Metadata"].get("helium")


@pytest.fixture
def s3_bucket_uri(s3_env: S3Server) -> str:
    name = f"t4-test-{uuid.uuid4().hex[:12]}"
    s3_env.client().create_bucket(Bucket=name)
    return f"s3://{name}"


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
