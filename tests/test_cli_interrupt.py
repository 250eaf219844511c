"""Ctrl-C stops ``t4`` at once: one SIGINT to a real ``t4 fetch`` / ``t4 put-dir`` of many
files, slowed down by the proxy, cancels what is queued, lets what runs finish, leaves no
part file, prints one line and exits 130.

Each test runs twice: the SIGINT sent to the process (the kernel hands it to the main
thread, as a rule) and sent to one of its other threads, as the kernel may hand a Ctrl-C
(``t4.waits``): before, a main thread blocked in its wait never saw that one."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator

import pytest
from cli import T4, ctrl_c_as_on_a_terminal
from proxy import FaultProxy, wait_until
from servers import S3Server

FILES = 400
#: Each request waits this long at the proxy: the whole job would take FILES * DELAY / 4
#: seconds (40 s) at --concurrency 4, far longer than the exit is given below.
DELAY = 0.4


_LIBC = ctypes.CDLL(None, use_errno=True)
Send = Callable[[subprocess.Popen[str]], None]


@pytest.fixture(params=["process", "thread"])
def send(request: pytest.FixtureRequest) -> Send:
    """How the SIGINT is sent: to the process, or to a thread of it other than the main."""
    if request.param == "process":
        return lambda proc: proc.send_signal(signal.SIGINT)
    return sigint_another_thread


def sigint_another_thread(proc: subprocess.Popen[str]) -> None:
    others = sorted(int(t) for t in os.listdir(f"/proc/{proc.pid}/task") if int(t) != proc.pid)
    assert others, "the process has no thread but its main one"
    if _LIBC.tgkill(proc.pid, others[0], signal.SIGINT) != 0:
        raise OSError(ctypes.get_errno(), "tgkill")


@pytest.fixture
def slow(s3_env: S3Server) -> Iterator[FaultProxy]:
    with FaultProxy(s3_env.endpoint, rate=0.0, delay=DELAY) as proxy:
        yield proxy


def interrupt(args: list[str], started: object, send: Send) -> tuple[int, str]:
    """Run ``t4 ARGS``; once ``started()`` holds, one SIGINT (``send``); the exit code and
    stderr."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([T4, *args], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=ctrl_c_as_on_a_terminal)  # fmt: skip
    try:
        assert wait_until(started, timeout=60), "the transfer never started"
        send(proc)
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


def test_ctrl_c_stops_a_fetch(slow, send, s3_env, s3_bucket_uri, tmp_path) -> None:  # type: ignore[no-untyped-def]
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
    code, stderr = interrupt(args, lambda: out.is_dir() and any(out.glob("*.bin")), send)
    assert_stopped(code, stderr)
    fetched = list(out.glob("*.bin"))
    assert 0 < len(fetched) < FILES // 2
    assert [p.name for p in out.rglob("*.t4part-*")] == []
    assert all(p.stat().st_size == 4096 for p in fetched)  # each whole or not at all


def test_ctrl_c_stops_a_put_dir(slow, send, s3_env, s3_bucket_uri, tmp_path) -> None:  # type: ignore[no-untyped-def]
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
    code, stderr = interrupt(args, lambda: slow.counts["PUT"] > before, send)
    assert_stopped(code, stderr)
    listed = s3_env.client().list_objects_v2(Bucket=s3_bucket_uri.removeprefix("s3://"))
    assert 0 < listed.get("KeyCount", 0) < FILES // 2
    assert [p.name for p in src.rglob("*.t4part-*")] == []


# -- one large object ----------------------------------------------------------------------
BIG = 48 * 1024 * 1024
#: The proxy's bandwidth for each request: the object's 16 MiB ranges (and 8 MiB upload
#: parts) would take over 60 s each, a 1 MiB chunk of one arrives every 8 s, and the proxy
#: takes an upload's bytes 64 KiB every 0.5 s: far past the exit's bound, so a transfer
#: that only stops at its next chunk, or waits for its parts, fails it.
RATE = 128 * 1024
#: From SIGINT to exit: the 1 s the issue allows (0.02 s and 0.3 s measured on a loaded
#: 2-core machine; 8 s and 1.25 s before the fix).
EXIT_WITHIN = 1.0


@pytest.fixture
def narrow(s3_env: S3Server) -> Iterator[FaultProxy]:
    with FaultProxy(s3_env.endpoint, bandwidth=RATE) as proxy:
        yield proxy


def interrupt_timed(args: list[str], started: object, send: Send) -> tuple[int, str, float]:
    """Like ``interrupt``; also the seconds from the SIGINT to the process's exit."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([T4, *args], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=ctrl_c_as_on_a_terminal)  # fmt: skip
    try:
        assert wait_until(started, timeout=60), "the transfer never started"
        assert proc.poll() is None, proc.communicate()
        sent = time.monotonic()
        send(proc)
        _, stderr = proc.communicate(timeout=60)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, stderr, took


def test_ctrl_c_stops_one_large_download_at_once(
    narrow, send, s3_env, s3_bucket_uri, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    client, name = s3_env.client(), s3_bucket_uri.removeprefix("s3://")
    client.put_object(Bucket=name, Key="big.bin", Body=os.urandom(BIG))
    out = tmp_path / "out"
    out.mkdir()
    args = ["fetch", "--concurrency", "4", "--endpoint-url", narrow.url,
            f"{s3_bucket_uri}/big.bin", str(out / "big.bin")]  # fmt: skip

    def moving() -> bool:  # a part file with bytes in it: ranges are in flight
        return any(p.stat().st_size > 0 for p in out.glob("*.t4part-*"))

    code, stderr, took = interrupt_timed(args, moving, send)
    assert_stopped(code, stderr)
    print(f"SIGINT to exit: {took:.2f} s")
    assert took < EXIT_WITHIN, f"{took:.2f} s from SIGINT to exit"
    assert list(out.iterdir()) == []  # no part file, no partial big.bin


def test_ctrl_c_stops_one_large_upload_and_aborts_it(
    narrow, send, s3_env, s3_bucket_uri, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(BIG))
    name = s3_bucket_uri.removeprefix("s3://")
    client = s3_env.client()
    args = ["put", "--concurrency", "4", "--endpoint-url", narrow.url, str(src),
            f"{s3_bucket_uri}/big.bin"]  # fmt: skip

    def moving() -> bool:  # the multipart upload is created and a part's bytes are arriving
        return narrow.counts["POST"] > 0 and narrow.counts["received"] > 0

    code, stderr, took = interrupt_timed(args, moving, send)
    assert_stopped(code, stderr)
    print(f"SIGINT to exit: {took:.2f} s")
    assert took < EXIT_WITHIN, f"{took:.2f} s from SIGINT to exit"
    assert client.list_multipart_uploads(Bucket=name).get("Uploads", []) == []
    assert client.list_objects_v2(Bucket=name).get("KeyCount", 0) == 0
