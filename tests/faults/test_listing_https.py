"""The listing over HTTPS (``t4.backends.s3_http``): the certificate checked against
``AWS_CA_BUNDLE``, an untrusted one named, not retried; one connection kept from page to page
and a dropped one replaced; an HTTPS endpoint reached through the environment's proxy by
CONNECT with its credentials; a proxy named ``https://`` refused by name. Real TLS (a CA and
certificate made for the test) in front of moto, a real tunnelling proxy (``tests/tls.py``)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from tls import connect_proxy, make_ca, tls_in_front

import t4


@pytest.fixture
def https(fault_proxy: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """(``https://127.0.0.1:PORT``, what it saw, the CA's file): TLS in front of the project's
    proxy to moto (which keeps connections alive, as S3 does; moto closes each); no proxy in
    the environment."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    ca, cert, key = make_ca(tmp_path)
    to_moto = urlsplit(fault_proxy(rate=0.0).url)
    with tls_in_front((to_moto.hostname or "", to_moto.port or 80), cert, key) as (url, seen):
        yield url, seen, ca


def test_an_https_endpoint_is_listed_with_the_ca_bundle_named(
    s3_raw: Any, https: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, seen, ca = https
    s3_raw.write("k/a.txt", b"a")
    monkeypatch.setenv("AWS_CA_BUNDLE", str(ca))
    with t4.Bucket(s3_raw.uri, endpoint_url=url) as b:
        assert [o.key for o in b.ls("k/")] == ["k/a.txt"]
    assert seen.connections == 1


def test_an_untrusted_certificate_is_named_and_not_retried(
    s3_raw: Any, https: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, seen, _ = https
    monkeypatch.delenv("AWS_CA_BUNDLE", raising=False)  # certifi's CAs did not sign it
    with t4.Bucket(s3_raw.uri, endpoint_url=url) as b, pytest.raises(t4.ConfigError) as err:
        list(b.ls(""))
    message = str(err.value)
    assert s3_raw.uri in message and "AWS_CA_BUNDLE" in message and url in message
    assert seen.connections == 1  # a certificate is not a passing fault: asked once


def test_pages_share_one_connection_and_a_dropped_one_is_replaced(
    s3_raw: Any, https: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, seen, ca = https
    keys = [f"p/{i:05d}.txt" for i in range(1005)]  # moto answers 1,000 keys a page
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: s3_raw.write(k, b"1"), keys))
    monkeypatch.setenv("AWS_CA_BUNDLE", str(ca))
    monkeypatch.setenv("T4_S3_MAX_ATTEMPTS", "1")  # a request on a dead connection would fail
    with t4.Bucket(s3_raw.uri, endpoint_url=url) as b:
        assert [o.key for o in b.ls("p/")] == keys
        assert seen.connections == 1  # two pages, one TLS connection
        seen.close_all()  # the server drops its idle connection
        assert [o.key for o in b.ls("p/00001")] == ["p/00001.txt"]
    assert seen.connections == 2


def test_an_https_endpoint_through_the_proxy_tunnels_with_its_credentials(
    s3_raw: Any, https: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _, ca = https
    s3_raw.write("k/a.txt", b"a")
    monkeypatch.setenv("AWS_CA_BUNDLE", str(ca))
    with connect_proxy() as (proxy_url, tunnels):
        netloc = urlsplit(proxy_url).netloc
        monkeypatch.setenv("HTTPS_PROXY", f"http://team:p%40ss@{netloc}")
        with t4.Bucket(s3_raw.uri, endpoint_url=url) as b:
            assert [o.key for o in b.ls("k/")] == ["k/a.txt"]
    assert [r.rsplit(" ", 1)[0] for r in tunnels.requests] == [f"CONNECT {urlsplit(url).netloc}"]
    assert tunnels.auth == ["Basic " + base64.b64encode(b"team:p@ss").decode()]


def test_a_proxy_named_https_is_refused_by_name(
    s3_raw: Any, https: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, seen, ca = https
    monkeypatch.setenv("AWS_CA_BUNDLE", str(ca))
    monkeypatch.setenv("HTTPS_PROXY", "https://127.0.0.1:9")
    with t4.Bucket(s3_raw.uri, endpoint_url=url) as b, pytest.raises(t4.ConfigError) as err:
        list(b.ls(""))
    assert "HTTPS_PROXY" in str(err.value) and "http://" in str(err.value)
    assert s3_raw.uri in str(err.value)
    assert seen.connections == 0
