"""Fixtures for the reliability suite: a fault-injecting proxy in front of moto's server, a
short retry budget so a run under total failure ends quickly, and subprocess helpers for
the crash tests; and a second moto server that checks signatures, for wrong credentials.

The bucket under test talks to moto through the proxy; every check reads moto directly
with plain boto3 (``Raw``), never through the proxy or t4.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from proxy import FaultProxy
from servers import Raw, S3Server

#: The retry budget t4 gets in these tests (through the T4_S3_* environment).
READ_TIMEOUT = 1.0
MAX_ATTEMPTS = 6
#: A stall outlasts the client's read timeout.
STALL_SECONDS = READ_TIMEOUT + 1.0


@pytest.fixture
def short_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """Short timeouts and a bounded number of attempts, for t4 and for its subprocesses."""
    monkeypatch.setenv("T4_S3_CONNECT_TIMEOUT", "1")
    monkeypatch.setenv("T4_S3_READ_TIMEOUT", str(READ_TIMEOUT))
    monkeypatch.setenv("T4_S3_MAX_ATTEMPTS", str(MAX_ATTEMPTS))


@pytest.fixture(scope="session")
def moto_client(s3_server: S3Server) -> Any:
    """One plain boto3 client to the test server for the session (building one is slow)."""
    return s3_server.client()


@pytest.fixture
def s3_raw(s3_env: S3Server, moto_client: Any) -> Iterator[Raw]:
    """A fresh S3 bucket on moto, read directly with plain boto3."""
    name = f"t4-fault-{uuid.uuid4().hex[:12]}"
    client = moto_client
    client.create_bucket(Bucket=name)
    yield Raw(f"s3://{name}", None, client)


@pytest.fixture
def fault_proxy(s3_env: S3Server) -> Iterator[Callable[..., FaultProxy]]:
    """Start proxies to the test server: ``fault_proxy(rate=0.1, seed=1)``; all stop after."""
    started: list[FaultProxy] = []

    def start(**options: Any) -> FaultProxy:
        options.setdefault("stall_seconds", STALL_SECONDS)
        options.setdefault("max_seconds", 240.0)
        proxy = FaultProxy(s3_env.endpoint, **options).start()
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        proxy.stop()


def spawn(code: str, *, cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Run ``code`` in a fresh Python with this test's environment; output to files in cwd."""
    script = cwd / f"child-{uuid.uuid4().hex[:6]}.py"
    script.write_text(textwrap.dedent(code))
    return subprocess.Popen(
        [sys.executable, str(script)],
        cwd=cwd,
        env=env or os.environ.copy(),
        stdout=(cwd / f"{script.stem}.out").open("wb"),
        stderr=subprocess.STDOUT,
    )
