"""The first search of a bucket other tools wrote: the crawler reads every object (a HEAD,
or a ranged GET of a text-like one) many at once, indexes metadata and text as written,
shows progress when asked, and reports an object it cannot read without failing the rest."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

import t4
from t4.errors import AccessDeniedError

OBJECTS = 120


def _helium(i: int) -> str:
    return json.dumps({"user_meta": {"n": i, "team": "odd" if i % 2 else "even"}})


@pytest.fixture
def foreign(s3_raw: Any) -> Any:
    """A bucket written through plain boto3 alone: text and binary objects, with and without
    T4's metadata header."""
    for i in range(OBJECTS):
        if i % 3 == 0:
            s3_raw.write(f"notes/n{i:03d}.txt", f"note {i} about word{i}".encode(), _helium(i))
        elif i % 3 == 1:
            s3_raw.write(f"blobs/b{i:03d}.bin", bytes([i]) * 50, _helium(i))
        else:
            s3_raw.write(f"plain/p{i:03d}.md", f"plain word{i}".encode())  # no helium at all
    return s3_raw


def _keys(hits: list[dict[str, Any]]) -> list[str]:
    return sorted(h["key"] for h in hits)


def test_first_search_indexes_every_foreign_object_one_request_each(
    foreign: Any, fault_proxy: Any
) -> None:
    proxy = fault_proxy(rate=0.0, delay=0.02)  # each request takes a while: reads overlap
    with t4.Bucket(foreign.uri, endpoint_url=proxy.url, concurrency=4) as b:
        assert _keys(b.search("word30")) == ["notes/n030.txt"]  # the first search crawls
        # The bucket's concurrency (4), not the default (16): the proxy may still be finishing
        # an answer the client already has, so it can count one or two more.
        assert 1 < proxy.peak_in_flight < 8
        assert proxy.counts["HEAD"] == OBJECTS // 3  # the binary objects: metadata only
        assert proxy.counts["GET"] - 1 == 2 * OBJECTS // 3  # one listing, one range per text
        assert _keys(b.search("word31")) == []  # a .bin object: no text is read
        assert _keys(b.search("word32")) == ["plain/p032.md"]
        assert _keys(b.search("user_meta.n:31")) == ["blobs/b031.bin"]
        odd = [f"blobs/b{i:03d}.bin" for i in range(OBJECTS) if i % 3 == 1 and i % 2]
        odd += [f"notes/n{i:03d}.txt" for i in range(OBJECTS) if i % 3 == 0 and i % 2]
        assert _keys(b.search("user_meta.team:odd", limit=OBJECTS)) == sorted(odd)
        hit = b.search("word33", limit=1)[0]
        assert hit["meta"] == {"n": 33, "team": "odd"} and hit["size"] == len(
            b"note 33 about word33"
        )
        proxy.counts.clear()
        assert b.index()["unchanged"] == OBJECTS  # a second crawl lists, and reads nothing
        assert proxy.counts["HEAD"] == 0 and proxy.counts["GET"] == 1


def test_an_object_that_cannot_be_read_is_reported_not_fatal(
    foreign: Any, fault_proxy: Any, caplog: pytest.LogCaptureFixture
) -> None:
    refused = "blobs/b004.bin"
    proxy = fault_proxy(
        rate=1.0, faults=("403",), only=lambda method, path: path.endswith(f"/{refused}")
    )
    with t4.Bucket(foreign.uri, endpoint_url=proxy.url) as b:
        with caplog.at_level(logging.WARNING, logger="t4"):
            summary = b.index()
        assert summary["failed"] == 1 and summary["added"] == OBJECTS - 1
        assert refused in caplog.text and "next index() tries them again" in caplog.text
        assert _keys(b.search("user_meta.n:7")) == ["blobs/b007.bin"]  # the others are indexed
        assert b.search("user_meta.n:4") == []
        proxy.rate = 0.0  # the refusal is lifted: the next crawl reads what it missed
        again = b.index()
        assert again["added"] == 1 and again["failed"] == 0
        assert _keys(b.search("user_meta.n:4")) == [refused]


def test_a_bucket_nothing_of_which_can_be_read_fails_the_search(
    foreign: Any, fault_proxy: Any
) -> None:
    proxy = fault_proxy(
        rate=1.0, faults=("403",), only=lambda method, path: method == "HEAD" or "?" not in path
    )
    with (
        t4.Bucket(foreign.uri, endpoint_url=proxy.url) as b,
        pytest.raises(AccessDeniedError) as caught,
    ):
        b.search("word3")
    assert foreign.uri in str(caught.value)


@pytest.mark.parametrize("progress", [True, False])
def test_a_crawl_shows_progress_when_asked(
    foreign: Any, fault_proxy: Any, capfd: pytest.CaptureFixture[str], progress: bool
) -> None:
    proxy = fault_proxy(rate=0.0)
    with t4.Bucket(foreign.uri, endpoint_url=proxy.url, progress=progress) as b:
        capfd.readouterr()
        b.index()
    shown = capfd.readouterr().err
    assert (f"indexing {foreign.uri}" in shown) is progress
    if progress:
        assert f"0/{OBJECTS}" in shown and "objects/s" in shown
