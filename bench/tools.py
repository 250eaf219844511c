"""The workloads and the three clients the benchmark compares: t4, boto3 in 16 threads (the
baseline) and s5cmd. Each client has an ``up(src, prefix)`` and a ``down(prefix, dest)``."""

from __future__ import annotations

import filecmp
import http.client
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import t4
from bench.seaweed import KEY_ID, SECRET, Seaweed, seaweed

__all__ = [
    "BUCKET",
    "RESULTS",
    "Boto3Client",
    "CountingProxy",
    "S5cmdClient",
    "T4Client",
    "bench_server",
    "make_w1",
    "make_w2",
    "same_tree",
]

#: Where ``make bench`` writes its figures, and the bucket they are measured in.
RESULTS = Path(__file__).with_name("RESULTS.md")
BUCKET = "t4bench"
THREADS = 16


def make_w1(root: Path, n: int = 2000, size: int = 4096) -> Path:
    """W1: ``n`` files of ``size`` random bytes in nested folders (10 x 10 x n/100)."""
    for i in range(n):
        path = root / f"d{i % 10}" / f"s{(i // 10) % 10}" / f"f{i:05d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(size))
    return root


def make_w2(root: Path, n: int = 4, size: int = 64 * 1024 * 1024) -> Path:
    """W2: ``n`` files of ``size`` random bytes."""
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        with (root / f"big{i}.bin").open("wb") as out:
            for _ in range(size // (1 << 20)):
                out.write(os.urandom(1 << 20))
    return root


def files_of(root: Path) -> list[Path]:
    """Every file under ``root``."""
    return sorted(p for p in root.rglob("*") if p.is_file())


def same_tree(src: Path, dest: Path) -> bool:
    """Whether ``dest`` holds exactly the files of ``src``, byte for byte."""
    a = [p.relative_to(src) for p in files_of(src)]
    b = [p.relative_to(dest) for p in files_of(dest)]
    if a != b:
        return False
    return all(filecmp.cmp(src / rel, dest / rel, shallow=False) for rel in a)


def env_for(server: Seaweed) -> dict[str, str]:
    """The environment every client runs with: the bench credentials, no user settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID=KEY_ID,
        AWS_SECRET_ACCESS_KEY=SECRET,
        AWS_REGION="us-east-1",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ENDPOINT_URL=server.endpoint,
        TQDM_DISABLE="1",
    )
    return env


class T4Client:
    """t4's ``Bucket.put_dir`` and ``Bucket.fetch``."""

    name = "t4"

    def __init__(self, server: Seaweed, bucket: str, endpoint: str | None = None):
        self.bucket = t4.Bucket(
            f"s3://{bucket}", endpoint_url=endpoint or server.endpoint, path_style=True
        )

    def up(self, src: Path, prefix: str) -> None:
        self.bucket.put_dir(prefix, src)

    def down(self, prefix: str, dest: Path) -> None:
        self.bucket.fetch(prefix + "/", dest)


class Boto3Client:
    """The baseline: boto3 ``put_object``/``get_object`` of whole files in 16 threads."""

    name = "boto3"

    def __init__(self, server: Seaweed, bucket: str):
        self.client = server.client(THREADS)
        self.bucket = bucket

    def up(self, src: Path, prefix: str) -> None:
        def put(path: Path) -> None:
            key = f"{prefix}/{path.relative_to(src).as_posix()}"
            self.client.put_object(Bucket=self.bucket, Key=key, Body=path.read_bytes())

        _each(put, files_of(src))

    def down(self, prefix: str, dest: Path) -> None:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix + "/"
        )
        keys = [o["Key"] for page in pages for o in page.get("Contents", [])]

        def get(key: str) -> None:
            path = dest / key[len(prefix) + 1 :]
            path.parent.mkdir(parents=True, exist_ok=True)
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
            path.write_bytes(body)

        _each(get, keys)


class S5cmdClient:
    """The Go tool ``s5cmd cp``, with its defaults."""

    name = "s5cmd"

    def __init__(self, server: Seaweed, bucket: str):
        self.exe = str(Path(sys.executable).parent / "s5cmd")
        if not Path(self.exe).exists():
            self.exe = shutil.which("s5cmd") or "s5cmd"
        self.endpoint = server.endpoint
        self.bucket = bucket
        self.env = env_for(server)

    def _run(self, *args: str) -> None:
        cmd = [self.exe, "--endpoint-url", self.endpoint, "cp", *args]
        subprocess.run(cmd, env=self.env, check=True, capture_output=True, timeout=600)

    def up(self, src: Path, prefix: str) -> None:
        self._run(f"{src}/*", f"s3://{self.bucket}/{prefix}/")

    def down(self, prefix: str, dest: Path) -> None:
        dest.mkdir(parents=True, exist_ok=True)
        self._run(f"s3://{self.bucket}/{prefix}/*", f"{dest}/")


def _each(fn: Callable[[Any], None], items: list[Any]) -> None:
    with ThreadPoolExecutor(THREADS) as pool:
        for _ in pool.map(fn, items):
            pass


class CountingProxy:
    """A loopback HTTP proxy in front of the server that counts every request it forwards,
    by kind, whoever makes it (boto3, obstore): the independent count of the re-run.

    Kinds: ``listing`` (the first page of a ListObjectsV2), ``listing-page`` (a following
    page), ``GET``, ``PUT``, ``HEAD``, ``POST``, ``DELETE``.
    """

    def __init__(self, upstream: str):
        target = urlparse(upstream)
        self.upstream = (target.hostname or "127.0.0.1", target.port or 80)
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _ProxyHandler)
        self._server.daemon_threads = True
        self._server.proxy = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> CountingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def note(self, method: str, path: str) -> None:
        query = parse_qs(urlparse(path).query, keep_blank_values=True)
        kind = method
        if method == "GET" and query.get("list-type") == ["2"]:
            kind = "listing-page" if "continuation-token" in query else "listing"
        with self._lock:
            self.counts[kind] += 1


_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length"})


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # stdlib's name
        pass

    def _forward(self) -> None:
        proxy: CountingProxy = self.server.proxy  # type: ignore[attr-defined]
        proxy.note(self.command, self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        conn = http.client.HTTPConnection(*proxy.upstream, timeout=60)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
            conn.request(self.command, self.path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        finally:
            conn.close()
        self.send_response_only(resp.status)
        for name, value in resp.getheaders():
            if name.lower() not in _HOP:
                self.send_header(name, value)
        length_out = resp.getheader("Content-Length") if self.command == "HEAD" else None
        self.send_header("Content-Length", length_out or str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward  # stdlib's names


@contextmanager
def bench_server(prefix: str = "t4bench-") -> Iterator[tuple[Seaweed, Path]]:
    """SeaweedFS with the bench bucket, the environment pointed at it, and a scratch folder;
    the environment restored and the folder removed afterwards."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    saved = dict(os.environ)
    try:
        with seaweed() as server:
            os.environ.update(env_for(server), T4_CACHE_DIR=str(work / "cache"))
            server.client().create_bucket(Bucket=BUCKET)
            yield server, work
    finally:
        os.environ.clear()
        os.environ.update(saved)
        shutil.rmtree(work, ignore_errors=True)
