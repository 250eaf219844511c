"""The catalog service over HTTP: the real app under uvicorn on loopback, real buckets
(local folders), requests from real clients."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from catalog_server import CatalogThread

import t4

TOKEN = "catalog-test-token-0123456789"


def _lake(root: Path, name: str) -> Path:
    folder = root / name
    folder.mkdir()
    with t4.Bucket(folder) as bucket:
        bucket.put("heroes/thor.json", {"weapon": "hammer"}, meta={"name": "thor"})
        bucket.put("heroes/loki.json", {"weapon": "tricks"}, meta={"name": "loki"})
        bucket.put("notes/readme.md", "the mighty thor of asgard")
    return folder


@pytest.fixture(scope="module")
def lakes(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("lakes")
    return [_lake(root, "alpha"), _lake(root, "beta")]


@pytest.fixture(scope="module")
def server(lakes: list[Path]) -> Iterator[CatalogThread]:
    with CatalogThread([str(p) for p in lakes], refresh=0) as running:
        yield running


@pytest.fixture(scope="module")
def guarded(lakes: list[Path]) -> Iterator[CatalogThread]:
    with CatalogThread([str(lakes[0])], token=TOKEN, refresh=0) as running:
        yield running


def _keys(answer: dict) -> set[str]:  # type: ignore[type-arg]
    return {hit["_id"] for hit in answer["hits"]["hits"]}


def _good(server: CatalogThread, headers: dict[str, str] | None = None) -> None:
    """The server still answers a good query with the right hits."""
    found = requests.get(f"{server.url}/alpha/_search", params={"q": "thor"}, headers=headers,
                         timeout=10)  # fmt: skip
    assert found.status_code == 200, found.text
    assert _keys(found.json()) == {"heroes/thor.json", "notes/readme.md"}


def test_config_json_lists_every_bucket(server: CatalogThread) -> None:
    config = requests.get(f"{server.url}/config.json", timeout=10).json()
    buckets = config["federations"][0]["buckets"]
    assert [b["name"] for b in buckets] == ["alpha", "beta"]
    assert [b["searchEndpoint"] for b in buckets] == [f"{server.url}/alpha", f"{server.url}/beta"]
    _good(server)


def test_unknown_index_is_404(server: CatalogThread) -> None:
    answer = requests.get(f"{server.url}/gamma/_search", params={"q": "thor"}, timeout=10)
    assert answer.status_code == 404
    error = answer.json()
    assert error["status"] == 404 and error["error"]["type"] == "index_not_found_exception"
    assert "gamma" in error["error"]["reason"] and "alpha, beta" in error["error"]["reason"]
    _good(server)


def test_missing_token_is_401(guarded: CatalogThread) -> None:
    answer = requests.get(f"{guarded.url}/alpha/_search", params={"q": "thor"}, timeout=10)
    assert answer.status_code == 401
    assert answer.json()["error"]["type"] == "security_exception"
    assert TOKEN not in answer.text
    _good(guarded, {"Authorization": f"Bearer {TOKEN}"})
