"""The catalog service as a team runs it (issue 20): ``t4 catalog serve`` in its own process
over two folder buckets, hit by real clients with every bad shape the issue lists, under
load, with stalled clients, writes from a second process, and a token. After every test the
server still answers a good query with the right hits."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from catalog_server import THOR, Served, answers_good_query, keys, lake, serve
from cli import t4 as run_t4

MB = 1024 * 1024


@pytest.fixture(scope="module")
def server(lakes: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    home = tmp_path_factory.mktemp("served")
    running = serve("-b", str(lakes[0]), "-b", str(lakes[1]), "--refresh", "0.5", home=home)
    yield running
    running.stop()


@pytest.fixture(autouse=True)
def _still_answers(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "server" in request.fixturenames:
        answers_good_query(request.getfixturevalue("server").url)


def _post(server: Served, body: Any, path: str = "/alpha/_search", **kw: Any) -> requests.Response:
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    return requests.post(server.url + path, data=data, timeout=30,
                         headers={"Content-Type": "application/json"}, **kw)  # fmt: skip


def _error(response: requests.Response, status: int, *words: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    payload = response.json()
    assert payload["status"] == status and set(payload["error"]) >= {"type", "reason"}
    for word in words:
        assert word in payload["error"]["reason"], payload
    return payload


def _string_query(query: Any, **fields: Any) -> dict[str, Any]:
    return {"query": {"query_string": {"query": query, **fields}}}


# -- every request gets an answer -------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"size": None}, ["size", "whole number"]),
        ({"size": [1]}, ["size", "whole number"]),
        ({"size": 10**12}, ["size", "at most 10000"]),
        (b'{"size": 1e400}', ["size", "whole number"]),
        ({"size": 10_001}, ["size", "at most 10000"]),
        ({"size": True}, ["size"]),
        ({"from": -1}, ["from", "0 or more"]),
        ({"from": 9_995, "size": 10}, ["from + size", "10000"]),
        (_string_query("thor", default_operator=1), ["default_operator"]),
        (_string_query("thor", default_operator="XOR"), ["default_operator"]),
        (_string_query("thor", default_field=7), ["default_field"]),
        (_string_query(42), ["query.query_string.query", "string"]),
        (_string_query("NOT " * 3000), ["4,096"]),
        (b"[" * 5000 + b"]" * 5000, ["deeper than 64"]),
        (b'{"a":' * 5000 + b"1" + b"}" * 5000, ["deeper than 64"]),
        (b"{not json", ["not valid JSON"]),
        (b"\xff\xfe", ["not valid JSON"]),
        ([1], ["JSON object", "list"]),
        ({"query": {"match": {"key": "x"}}}, ["query.match", "not supported"]),
        ({"query": "thor"}, ["query must be an object"]),
        ({"aggs": {}}, ["unknown key", "aggs"]),
    ],
)
def test_bad_bodies_are_400_saying_what(server: Served, body: Any, words: list[str]) -> None:
    _error(_post(server, body), 400, *words)


def test_bad_query_is_400_with_its_position(server: Served) -> None:
    payload = _error(_post(server, _string_query("thor AND (")), 400)
    assert payload["error"]["type"] == "query_shard_exception"
    assert payload["error"]["position"] == 10


@pytest.mark.parametrize(
    ("params", "words"),
    [({"size": "ten"}, ["size"]), ({"size": "10001"}, ["size"]), ({"from": "-5"}, ["from"]),
     ({"size": "1e400"}, ["size"]), ({"q": "x" * 5000}, ["q", "4,096"]),
     ({"q": "thor", "default_operator": "7"}, ["default_operator"])],
)  # fmt: skip
def test_bad_url_parameters_are_400(
    server: Served, params: dict[str, str], words: list[str]
) -> None:
    _error(requests.get(f"{server.url}/alpha/_search", params=params, timeout=10), 400, *words)


def test_size_and_from_on_get_and_post(server: Served) -> None:
    everything = requests.get(f"{server.url}/alpha/_search", params={"size": 10}, timeout=10)
    order = [h["_id"] for h in everything.json()["hits"]["hits"]]
    assert len(order) == 3
    got = requests.get(f"{server.url}/alpha/_search", params={"size": 1, "from": 1}, timeout=10)
    assert [h["_id"] for h in got.json()["hits"]["hits"]] == order[1:2]
    posted = _post(server, {"size": 2, "from": 1}).json()
    assert [h["_id"] for h in posted["hits"]["hits"]] == order[1:3]
    assert _post(server, {"size": 0}).json()["hits"]["hits"] == []


def _raw(server: Served, request: bytes, timeout: float = 30) -> bytes:
    """Send bytes on a fresh connection; the whole answer (the server closes it)."""
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(request)
        answer = b""
        while b"\r\n\r\n" not in answer or not _complete(answer):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    return answer


def _complete(answer: bytes) -> bool:
    head, _, body = answer.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return False


def test_huge_declared_body_is_413_without_reading_it(server: Served) -> None:
    head = (b"POST /alpha/_search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100000000000\r\n\r\n{")  # fmt: skip
    answer = _raw(server, head)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"10,485,760" in answer


def test_body_over_10_mb_is_413_when_sent(server: Served) -> None:
    big = b" " * (10 * MB + 1)
    _error(_post(server, big), 413, "at most 10,485,760")


def test_chunked_body_over_10_mb_is_413(server: Served) -> None:
    def pieces() -> Iterator[bytes]:
        for _ in range(11):
            yield b" " * MB

    response = requests.post(f"{server.url}/alpha/_search", data=pieces(), timeout=60)
    _error(response, 413)


def test_body_just_under_the_limit_is_read(server: Served) -> None:
    body = json.dumps({"query": {"query_string": {"query": "thor"}}}).encode()
    padded = body + b" " * (10 * MB - len(body))
    assert keys(_post(server, padded).json()) == THOR


def test_unknown_paths_and_methods_are_json_errors(server: Served) -> None:
    _error(requests.get(f"{server.url}/nope/deeper/path", timeout=10), 404, "no such path")
    payload = _error(requests.delete(f"{server.url}/alpha/_search", timeout=10), 405)
    assert payload["error"]["type"] == "method_not_allowed_exception"


def test_head_and_options_are_answered(server: Served) -> None:
    head = requests.head(f"{server.url}/alpha/_search?q=thor", timeout=10)
    assert head.status_code == 200 and head.content == b""
    options = requests.options(f"{server.url}/alpha/_search", timeout=10)
    assert options.status_code == 204 and "POST" in options.headers["allow"]
    preflight = requests.options(
        f"{server.url}/alpha/_search", timeout=10,
        headers={"Origin": "https://pages.example.com", "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization, content-type"},
    )  # fmt: skip
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] in ("*", "https://pages.example.com")
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
    cors = requests.get(f"{server.url}/alpha/_search?q=thor", timeout=10,
                        headers={"Origin": "https://pages.example.com"})  # fmt: skip
    assert cors.headers["access-control-allow-origin"] == "*"
    assert "x-t4-index-age" in cors.headers["access-control-expose-headers"].lower()


# -- several buckets ---------------------------------------------------------------------
def test_config_json_lists_every_bucket(server: Served) -> None:
    config = requests.get(f"{server.url}/config.json", timeout=10).json()
    buckets = config["federations"][0]["buckets"]
    assert [b["name"] for b in buckets] == ["alpha", "beta"]
    assert [b["searchEndpoint"] for b in buckets] == [f"{server.url}/alpha", f"{server.url}/beta"]


def test_behind_a_tls_proxy_endpoints_are_https(server: Served) -> None:
    config = requests.get(f"{server.url}/config.json", timeout=10,
                          headers={"X-Forwarded-Proto": "https"}).json()  # fmt: skip
    endpoint = config["federations"][0]["buckets"][0]["searchEndpoint"]
    assert endpoint == server.url.replace("http://", "https://") + "/alpha"


def test_each_index_its_own_and_all_together(server: Served, lakes: list[Path]) -> None:
    (lakes[1] / "only-beta.txt").write_text("the bifrost bridge")
    requests.post(f"{server.url}/beta/_refresh", timeout=60).raise_for_status()
    beta = requests.get(f"{server.url}/beta/_search", params={"q": "bifrost"}, timeout=10)
    assert keys(beta.json()) == {"only-beta.txt"}
    assert {h["_index"] for h in beta.json()["hits"]["hits"]} == {"beta"}
    alpha = requests.get(f"{server.url}/alpha/_search", params={"q": "bifrost"}, timeout=10)
    assert keys(alpha.json()) == set()
    both = requests.get(f"{server.url}/_search", params={"q": "thor"}, timeout=10).json()
    assert sorted((h["_index"], h["_id"]) for h in both["hits"]["hits"]) == sorted(
        (index, key) for index in ("alpha", "beta") for key in THOR
    )


def test_unknown_index_is_404(server: Served) -> None:
    for response in (
        requests.get(f"{server.url}/gamma/_search", params={"q": "thor"}, timeout=10),
        _post(server, {"size": "bad, but the index is checked first"}, "/gamma/_search"),
        requests.post(f"{server.url}/gamma/_refresh", timeout=10),
    ):
        payload = _error(response, 404, "gamma", "alpha, beta")
        assert payload["error"]["type"] == "index_not_found_exception"


# -- freshness ---------------------------------------------------------------------------
def _found_within(url: str, query: str, seconds: float) -> float:
    """Poll the catalog until ``query`` finds something; how long it took (fails past it)."""
    started = time.monotonic()
    while True:
        answer = requests.get(f"{url}/alpha/_search", params={"q": query}, timeout=10)
        if answer.json()["hits"]["hits"]:
            return time.monotonic() - started
        assert time.monotonic() - started < seconds, f"{query} not found within {seconds} s"
        time.sleep(0.05)  # polling with a deadline, not waiting for a time to pass


def test_writes_by_another_process_are_found_by_the_background_refresh(
    server: Served, lakes: list[Path]
) -> None:
    note = lakes[0] / "incoming" / "valhalla.md"
    assert run_t4("put", "-q", "-b", str(lakes[0]), str(_text(lakes[0], "valhalla")),
                  "incoming/valhalla.md").returncode == 0  # fmt: skip
    assert note.exists()
    # Refreshed every 0.5 s: found well within the interval plus one refresh's work.
    _found_within(server.url, "valhalla", 30)
    answer = requests.get(f"{server.url}/alpha/_search", params={"q": "valhalla"}, timeout=10)
    age = float(answer.headers["x-t4-index-age"])
    assert 0 <= age < 30 and answer.json()["_t4"]["index"] == "alpha"
    assert answer.json()["_t4"]["index_age"] is not None and answer.json()["_t4"]["refreshed"]


def _text(root: Path, word: str) -> Path:
    source = root.parent / f"{word}.md"
    source.write_text(f"a note about {word}")
    return source


def test_post_refresh_catches_up_at_once(tmp_path: Path) -> None:
    folder = lake(tmp_path, "alpha")
    served = serve("-b", str(folder), "--refresh", "0", home=tmp_path)
    try:
        (folder / "fresh.txt").write_text("yggdrasil")
        missing = requests.get(f"{served.url}/alpha/_search", params={"q": "yggdrasil"}, timeout=10)
        assert keys(missing.json()) == set()  # --refresh 0: nothing in the background
        refreshed = requests.post(f"{served.url}/_refresh", timeout=60)
        assert refreshed.status_code == 200
        assert refreshed.json()["indexes"]["alpha"]["summary"]["added"] == 1
        found = requests.get(f"{served.url}/alpha/_search", params={"q": "yggdrasil"}, timeout=10)
        assert keys(found.json()) == {"fresh.txt"}
        answers_good_query(served.url)
    finally:
        served.stop()


# -- under load --------------------------------------------------------------------------
def test_20_clients_times_50_queries_all_answered(server: Served) -> None:
    def client(n: int) -> list[int]:
        statuses = []
        with requests.Session() as session:
            for i in range(50):
                query = "thor" if (n + i) % 2 else "user_meta.name:loki"
                answer = session.get(f"{server.url}/alpha/_search", params={"q": query},
                                     timeout=60)  # fmt: skip
                expected = THOR if query == "thor" else {"heroes/loki.json"}
                assert keys(answer.json()) == expected
                statuses.append(answer.status_code)
        return statuses

    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(client, range(20)))  # any reset raises here
    assert [s for statuses in results for s in statuses] == [200] * 1000


def test_stalled_half_requests_do_not_delay_a_query(server: Served) -> None:
    host, port = server.url.removeprefix("http://").split(":")
    stalled = []
    try:
        for i in range(50):
            sock = socket.create_connection((host, int(port)), timeout=10)
            if i % 2:  # headers cut short
                sock.sendall(b"POST /alpha/_search HTTP/1.1\r\nHost: x\r\nContent-Le")
            else:  # a body promised, one byte sent
                sock.sendall(b"POST /alpha/_search HTTP/1.1\r\nHost: x\r\n"
                             b"Content-Length: 1000\r\n\r\n{")  # fmt: skip
            stalled.append(sock)
        started = time.monotonic()
        answers_good_query(server.url)
        assert time.monotonic() - started < 2.0
    finally:
        for sock in stalled:
            sock.close()
