"""The HTTP path end to end: t4's client against the real catalog app (uvicorn on loopback,
serving the shared corpus's index as it is), and against small real servers that misbehave
(401/403, broken config.json, dead ports)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from catalog_server import CatalogThread
from search_corpus import DOCS, EXPECTED
from servers import free_port

import t4
from t4.errors import (
    AccessDeniedError,
    CatalogConfigError,
    CatalogError,
    CatalogUnreachableError,
    QuerySyntaxError,
)
from t4.search import EmbeddedIndex, search
from t4.search.elastic import resolve_endpoint, search_endpoint

BUCKET = "s3://heroes-bucket"


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder named like the bucket, whose index holds the corpus (no crawl touches it)."""
    path = tmp_path_factory.mktemp("catalog") / "heroes-bucket"
    path.mkdir()
    return path


@pytest.fixture(scope="module")
def index_path(folder: Path) -> Path:
    with t4.Bucket(folder) as bucket:
        path = bucket.index_path
    with EmbeddedIndex(path) as ix:
        ix.upsert(DOCS)
    return path


@pytest.fixture(scope="module")
def catalog(folder: Path, index_path: Path) -> Iterator[CatalogThread]:
    # The index as it is: a refresh would crawl the folder and forget the corpus.
    with CatalogThread([str(folder)], refresh=0, index_at_start=False) as server:
        yield server


class Canned:
    """A real HTTP server on loopback answering each path with a canned response, and
    keeping the headers it was sent."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, Any]] = {}
        self.seen: list[dict[str, str]] = []
        canned = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                canned.seen.append(dict(self.headers))
                status, payload = canned.routes.get(self.path, (404, {"error": "nope"}))
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def canned() -> Iterator[Canned]:
    server = Canned()
    yield server
    server.close()


def keys(hits: list[dict]) -> list[str]:
    return [h["key"] for h in hits]


def test_config_json_lists_the_bucket(catalog: CatalogThread) -> None:
    config = requests.get(f"{catalog.url}/config.json", timeout=10).json()
    (bucket,) = config["federations"][0]["buckets"]
    endpoint = f"{catalog.url}/heroes-bucket"
    assert bucket["name"] == "heroes-bucket" and bucket["searchEndpoint"] == endpoint
    assert resolve_endpoint(catalog.url, "heroes-bucket") == (endpoint, "us-east-1")


@pytest.mark.parametrize("query", sorted(EXPECTED))
def test_navigator_path_matches_embedded(
    catalog: CatalogThread, index_path: Path, query: str
) -> None:
    with EmbeddedIndex(index_path) as ix:
        embedded = ix.search(query, limit=50)
    t4.config(navigator_url=catalog.url)
    remote = search(BUCKET, None, query, limit=50)
    assert remote == embedded
    assert set(keys(remote)) == EXPECTED[query]


def test_elastic_search_url_path(catalog: CatalogThread) -> None:
    t4.config(elastic_search_url=f"{catalog.url}/heroes-bucket")
    assert (
        set(keys(search(BUCKET, None, "user_meta.name:'thor'")))
        == EXPECTED["user_meta.name:'thor'"]
    )
    raw = search(BUCKET, None, {"query": {"match_all": {}}, "size": 3})
    assert keys(raw) == ["data/c#d?.txt", "data/table.csv", "notes/readme.md"]


def test_elastic_search_url_naming_every_index(catalog: CatalogThread) -> None:
    t4.config(elastic_search_url=f"{catalog.url}/_all")
    assert set(keys(search(BUCKET, None, "key:heroes/*"))) == EXPECTED["key:heroes/*"]


def test_es_semantics_of_the_server(catalog: CatalogThread) -> None:
    # A raw body without default_operator gets Elasticsearch's OR; t4's client sends AND.
    body = {"query": {"query_string": {"query": "mighty shifter"}}}
    found = requests.post(f"{catalog.url}/heroes-bucket/_search", json=body, timeout=10).json()
    assert {h["_id"] for h in found["hits"]["hits"]} == {"notes/readme.md", "heroes/loki.json"}
    assert keys(search_endpoint(f"{catalog.url}/heroes-bucket", "mighty shifter")) == []
    by_q = requests.get(f"{catalog.url}/heroes-bucket/_search?q=key:heroes/*", timeout=10).json()
    assert len(by_q["hits"]["hits"]) == 2
    source = by_q["hits"]["hits"][0]["_source"]
    assert {"key", "version_id", "type", "user_meta", "size", "text", "updated"} <= set(source)


def test_bad_query_fails_before_sending_and_server_says_400(catalog: CatalogThread) -> None:
    t4.config(navigator_url=catalog.url)
    with pytest.raises(QuerySyntaxError) as caught:
        search(BUCKET, None, "thor AND (")
    assert caught.value.position == 10
    body = {"query": {"query_string": {"query": "nosuch:x"}}}
    response = requests.post(f"{catalog.url}/heroes-bucket/_search", json=body, timeout=10)
    assert response.status_code == 400 and response.json()["error"]["position"] == 0
    with pytest.raises(CatalogError, match="rejected the query"):
        search(BUCKET, None, body)


def test_unreachable_catalog() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused
        t4.config(navigator_url=f"http://127.0.0.1:{port}")
        with pytest.raises(CatalogUnreachableError, match="cannot reach") as caught:
            search(BUCKET, None, "thor")
    assert isinstance(caught.value, ConnectionError)


@pytest.mark.parametrize("status", [401, 403])
def test_denied(canned: Canned, status: int) -> None:
    canned.routes["/config.json"] = (status, {"message": "no"})
    t4.config(navigator_url=canned.url)
    with pytest.raises(AccessDeniedError, match=str(status)):
        search(BUCKET, None, "thor")


def test_denied_by_the_search_endpoint(canned: Canned) -> None:
    canned.routes["/drive/_search"] = (403, {"message": "forbidden"})
    with pytest.raises(AccessDeniedError):
        search_endpoint(canned.url, "thor")


@pytest.mark.parametrize(
    "payload, message",
    [
        (b"<html>not json</html>", "not valid JSON"),
        ([1, 2], "not a JSON object"),
        ({"defaultBucket": "x"}, "neither 'federations' nor 'buckets'"),
        ({"federations": {"buckets": []}}, "must be a list"),
        (
            {"federations": [{"buckets": [{"name": "other"}]}]},
            "does not list bucket 'heroes-bucket'",
        ),
        ({"federations": [{"buckets": [{"name": "heroes-bucket"}]}]}, "without a searchEndpoint"),
        ({"federations": [42]}, "not a JSON object"),
    ],
)
def test_malformed_config(canned: Canned, payload: Any, message: str) -> None:
    canned.routes["/config.json"] = (200, payload)
    t4.config(navigator_url=canned.url)
    with pytest.raises(CatalogConfigError, match=message):
        search(BUCKET, None, "thor")


def test_missing_config_json(canned: Canned) -> None:
    t4.config(navigator_url=canned.url)
    with pytest.raises(CatalogConfigError, match="404"):
        search(BUCKET, None, "thor")


def test_federations_by_url_and_signed_requests(
    canned: Canned, monkeypatch: pytest.MonkeyPatch
) -> None:
    canned.routes["/config.json"] = (200, {"federations": ["/federation.json"]})
    bucket = {"name": "heroes-bucket", "searchEndpoint": canned.url, "region": "eu-west-1"}
    canned.routes["/federation.json"] = (200, {"buckets": [bucket]})
    hit = {"_score": 2.0, "_source": {"key": "k", "version_id": None, "type": "Create",
           "user_meta": '{"a": 1}', "size": 3, "text": "t", "updated": "2024-01-01"}}  # fmt: skip
    canned.routes["/drive/_search"] = (200, {"hits": {"hits": [hit]}})
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE000000000")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "example-secret")
    t4.config(navigator_url=canned.url)
    (found,) = search(BUCKET, None, "thor")
    assert found == {"key": "k", "version_id": None, "size": 3, "last_modified": "2024-01-01",
                     "meta": {"a": 1}, "score": 2.0, "text": "t"}  # fmt: skip
    auth = canned.seen[-1]["Authorization"]
    assert auth.startswith("AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE000000000/")
    assert "/eu-west-1/es/aws4_request" in auth
    assert "Authorization" not in canned.seen[0]  # config.json is fetched unsigned


def test_unsigned_without_credentials(canned: Canned) -> None:
    canned.routes["/drive/_search"] = (200, {"hits": {"hits": []}})
    assert search_endpoint(canned.url, "thor") == []
    assert "Authorization" not in canned.seen[-1]


def test_garbage_search_response(canned: Canned) -> None:
    canned.routes["/drive/_search"] = (200, {"took": 1})
    with pytest.raises(CatalogError, match="not a search result"):
        search_endpoint(canned.url, "thor")


def test_server_error_is_unreachable(canned: Canned) -> None:
    canned.routes["/drive/_search"] = (503, {"error": "busy"})
    with pytest.raises(CatalogUnreachableError, match="503"):
        search_endpoint(canned.url, "thor")


def test_uvicorn_runs_the_app_from_the_environment(tmp_path: Path) -> None:
    """``uvicorn t4.catalog:app``, configured by T4_CATALOG_*, as the README says: it
    indexes the folder at start, and wants the token."""
    folder = tmp_path / "heroes-bucket"
    folder.mkdir()
    (folder / "tmp").mkdir()
    (folder / "tmp" / "scratch.tmp").write_bytes(b"scratch")
    port = free_port()
    env = {**os.environ, "T4_CATALOG_BUCKETS": str(folder), "T4_CATALOG_REFRESH": "0",
           "T4_CATALOG_TOKEN": "env-token",
           "T4_CATALOG_CORS_ORIGINS": "https://pages.example.com"}  # fmt: skip
    cmd = [sys.executable, "-m", "uvicorn", "t4.catalog:app", "--host", "127.0.0.1",
           "--port", str(port)]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                health = requests.get(f"{url}/healthz", timeout=2)
                break
            except requests.ConnectionError:
                assert proc.poll() is None and time.monotonic() < deadline, "server did not start"
                time.sleep(0.1)  # polling for start-up, with a deadline
        assert health.json()["status"] == "ok"
        assert requests.get(f"{url}/config.json", timeout=10).status_code == 401
        for origin, allowed in (("https://pages.example.com", True), ("https://x.example", False)):
            preflight = requests.options(f"{url}/heroes-bucket/_search", timeout=10, headers={
                "Origin": origin, "Access-Control-Request-Method": "POST"})  # fmt: skip
            assert (preflight.headers.get("access-control-allow-origin") == origin) is allowed
        t4.config(navigator_url=url)
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("T4_CATALOG_TOKEN", "env-token")
            assert keys(search(BUCKET, None, "key:*.tmp")) == ["tmp/scratch.tmp"]
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_catalog_token_goes_to_the_catalog_host_only(canned: Canned) -> None:
    elsewhere = Canned()
    try:
        bucket = {"name": "heroes-bucket", "searchEndpoint": elsewhere.url}
        canned.routes["/config.json"] = (200, {"federations": [{"buckets": [bucket]}]})
        elsewhere.routes["/drive/_search"] = (200, {"hits": {"hits": []}})
        t4.config(navigator_url=canned.url, catalog_token="catalog-only-token")
        assert search(BUCKET, None, "thor") == []
        assert canned.seen[-1]["Authorization"] == "Bearer catalog-only-token"
        assert "catalog-only-token" not in json.dumps(elsewhere.seen)
    finally:
        elsewhere.close()
