"""The catalog app served by uvicorn on a free loopback port (a socket bound before the
server thread starts, so no wait), over a seeded folder bucket, with and without a token;
and headless Chromium driven by Playwright, where one is installed."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn

import t4
from web import seed

TOKEN = "web-test-token-0123456789abcdef"
CHROMIUM = os.environ.get("T4_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@dataclass
class Site:
    url: str
    folder: Path
    bucket: t4.Bucket
    hashes: tuple[str, str]
    token: str | None


def make_app(uris: list[str], token: str | None) -> Any:
    """The catalog service's own app (API and pages), no background refresh."""
    from t4.catalog import create_app

    return create_app(uris, token=token, refresh=0)


@contextlib.contextmanager
def serve(app: Any) -> Iterator[str]:
    """``app`` on uvicorn in a thread, on a socket already listening on 127.0.0.1."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, tuple[str, str]]:
    """A folder bucket named ``lake`` with everything the pages show."""
    work = tmp_path_factory.mktemp("web")
    folder = work / "lake"
    with t4.Bucket(folder) as bucket:
        seed.seed_objects(bucket)
        seed.seed_many(bucket, work / "src")
        hashes = seed.seed_package(bucket, work)
    return folder, hashes


def _site(seeded: tuple[Path, tuple[str, str]], token: str | None) -> Iterator[Site]:
    folder, hashes = seeded
    app = make_app([str(folder)], token)
    with serve(app) as url, t4.Bucket(folder) as bucket:
        yield Site(url, folder, bucket, hashes, token)


@pytest.fixture(scope="module")
def site(seeded: tuple[Path, tuple[str, str]]) -> Iterator[Site]:
    """The catalog over the seeded bucket, no token."""
    yield from _site(seeded, None)


@pytest.fixture(scope="module")
def locked_site(seeded: tuple[Path, tuple[str, str]]) -> Iterator[Site]:
    """The catalog over the seeded bucket, behind ``TOKEN``."""
    yield from _site(seeded, TOKEN)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium (Debian's package; Playwright never downloads one)."""
    if not (shutil.which(CHROMIUM) or os.path.exists(CHROMIUM)):
        pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install -y chromium (make test does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        chromium = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where a browser test saves its screenshots (kept with pytest's temporary folders)."""
    return tmp_path_factory.mktemp("screenshots")
