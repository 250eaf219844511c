"""Ctrl-C stops ``t4`` at once: one SIGINT to a real ``t4 fetch`` / ``t4 put-dir`` of many
files, slowed down by the proxy, cancels what is queued, lets what runs finish, leaves no
part file, prints one line and exits 130."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator

import pytest
from cli import T4
from proxy import FaultProxy, wait_until
from servers import S3Server

FILES = 400
#: Each request waits this long at the proxy: the whole job would take FILES * DELAY / 4
#: seconds (40 s) at --concurrency 4, far longer than the exit is given below.
DELAY = 0.4


@pytest.fixture
def slow(s3_env: S3Server) -> Iterator[FaultProxy]:
    with FaultProxy(s3_env.endpoint, rate=0.0, delay=DELAY) as proxy:
        yield proxy


def interrupt(args: list[str], started: object) -> tuple[int, str]:
    """Run ``t4 ARGS``; once ``started()`` holds, one SIGINT; the exit code and stderr."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([T4, *args], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert wait_until(started, timeout=60), "the transfer never started"
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=15)  # the queue alone would take 40 s
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, stderr


def assert_stopped(code: int, stderr: str) -> None:
    assert code == 130, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("t4: interrupted"), stderr


def test_ctrl_c_stops_a_fetch(slow, s3_env, s3_bucket_uri, tmp_path) -> None:  # type: ignore[no-untyped-def]
    client, name = s3_env.client(), s3_bucket_uri.removeprefix("s3://")
    for i in range(FILES):
        client.put_object(Bucket=name, Key=f"d/{i:04}.bin", Body=os.urandom(4096))
    out = tmp_path / "out"
    args = [
        "fetch",
        "--concurrency",
        "4",
        "--endpoint-url",
        slow.url,
        f"{s3_bucket_uri}/d",
        str(out),
    ]
    code, stderr = interrupt(args, lambda: out.is_dir() and any(out.glob("*.bin")))
    assert_stopped(code, stderr)
    fetched = list(out.glob("*.bin"))
    assert 0 < len(fetched) < FILES // 2
    assert [p.name for p in out.rglob("*.t4part-*")] == []
    assert all(p.stat().st_size == 4096 for p in fetched)  # each whole or not at all


def test_ctrl_c_stops_a_put_dir(slow, s3_env, s3_bucket_uri, tmp_path) -> None:  # type: ignore[no-untyped-def]
    src = tmp_path / "src"
    src.mkdir()
    for i in range(FILES):
        (src / f"{i:04}.bin").write_bytes(os.urandom(4096))
    before = slow.counts["PUT"]
    args = [
        "put-dir",
        "--concurrency",
        "4",
        "--endpoint-url",
        slow.url,
        str(src),
        f"{s3_bucket_uri}/up",
    ]
    code, stderr = interrupt(args, lambda: slow.counts["PUT"] > before)
    assert_stopped(code, stderr)
    listed = s3_env.client().list_objects_v2(Bucket=s3_bucket_uri.removeprefix("s3://"))
    assert 0 < listed.get("KeyCount", 0) < FILES // 2
    assert [p.name for p in src.rglob("*.t4part-*")] == []
