"""The catalog behind a token (issue 20, item 5): ``t4 catalog serve`` with
``T4_CATALOG_TOKEN``, reached by raw HTTP, by a browser's page request, and by
``Bucket.search`` with ``catalog_token``; the token never appears in the server's log."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from catalog_server import THOR, TOKEN, Served, answers_good_query, isolated_env, keys, serve
from cli import assert_one_line_error
from cli import t4 as run_t4

import t4
from t4.errors import AccessDeniedError

BEARER = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def guarded(lakes: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    home = tmp_path_factory.mktemp("guarded")
    env = isolated_env(home, T4_CATALOG_TOKEN=TOKEN)
    running = serve("--debug", "-b", str(lakes[0]), "--refresh", "0", home=home, env=env)
    yield running
    running.stop()
    assert TOKEN not in running.log_text()  # --debug logs every request: never the token


@pytest.fixture(autouse=True)
def _still_answers(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "guarded" in request.fixturenames:
        answers_good_query(request.getfixturevalue("guarded").url, BEARER)


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"},
     {"Authorization": f"Bearer {TOKEN}x"}, {"Cookie": "t4_catalog_token=wrong"},
     {"Authorization": "Bearer"}],
)  # fmt: skip
@pytest.mark.parametrize("path", ["/alpha/_search?q=thor", "/config.json", "/_search"])
def test_without_the_token_401(guarded: Served, headers: dict[str, str], path: str) -> None:
    answer = requests.get(guarded.url + path, headers=headers, timeout=10)
    assert answer.status_code == 401
    payload = answer.json()
    assert payload["status"] == 401 and payload["error"]["type"] == "security_exception"
    assert answer.headers["www-authenticate"].lower().startswith("bearer")
    assert TOKEN not in answer.text
    refresh = requests.post(f"{guarded.url}/_refresh", headers=headers, timeout=10)
    assert refresh.status_code == 401


def test_bearer_or_cookie_lets_in(guarded: Served) -> None:
    found = requests.get(f"{guarded.url}/alpha/_search", params={"q": "thor"}, headers=BEARER,
                         timeout=10)  # fmt: skip
    assert keys(found.json()) == THOR
    by_cookie = requests.get(f"{guarded.url}/alpha/_search", params={"q": "thor"}, timeout=10,
                             cookies={"t4_catalog_token": TOKEN})  # fmt: skip
    assert keys(by_cookie.json()) == THOR


def test_a_browser_page_is_sent_to_login(guarded: Served) -> None:
    browser = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    page = requests.get(f"{guarded.url}/b/alpha?x=1", allow_redirects=False, timeout=10,
                        headers=browser)  # fmt: skip
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=%2Fb%2Falpha%3Fx%3D1"
    api = requests.get(f"{guarded.url}/alpha/_search", headers={"Accept": "application/json"},
                       allow_redirects=False, timeout=10)  # fmt: skip
    assert api.status_code == 401


def test_health_and_preflight_need_no_token(guarded: Served) -> None:
    health = requests.get(f"{guarded.url}/healthz", timeout=10)
    assert health.status_code == 200 and health.json()["status"] == "ok"
    preflight = requests.options(f"{guarded.url}/alpha/_search", timeout=10,
                                 headers={"Origin": "https://x.example.com",
                                          "Access-Control-Request-Method": "POST"})  # fmt: skip
    assert preflight.status_code == 200


def test_bucket_search_sends_catalog_token(guarded: Served, lakes: list[Path]) -> None:
    t4.config(navigator_url=guarded.url)
    with t4.Bucket(lakes[0]) as bucket:
        with pytest.raises(AccessDeniedError, match="catalog_token") as denied:
            bucket.search("thor")
        assert "401" in str(denied.value)
        t4.config(catalog_token="wrong-token")
        with pytest.raises(AccessDeniedError, match="refused its token") as refused:
            bucket.search("thor")
        assert "wrong-token" not in str(refused.value)
        t4.config(catalog_token=TOKEN)
        assert {h["key"] for h in bucket.search("thor")} == THOR


def test_t4_catalog_token_variable_wins(
    guarded: Served, lakes: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    t4.config(navigator_url=guarded.url, catalog_token="stale-token")
    monkeypatch.setenv("T4_CATALOG_TOKEN", TOKEN)
    with t4.Bucket(lakes[0]) as bucket:
        assert {h["key"] for h in bucket.search("thor")} == THOR
    listed = run_t4("config")
    assert "catalog_token = <set>" in listed.stdout and "stale-token" not in listed.stdout


def test_serving_beyond_loopback_without_a_token_is_refused(lakes: list[Path]) -> None:
    refused = run_t4("catalog", "serve", "-b", str(lakes[0]), "--host", "0.0.0.0", "--port", "0")
    assert_one_line_error(refused, "without a token", "--token", "--insecure")
