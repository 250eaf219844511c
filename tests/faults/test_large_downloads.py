"""A large object comes down as its first GET plus parallel ranged GETs, each asking for the
version that first GET answered (``If-Match``): an object replaced meanwhile fails the fetch
cleanly, with nothing left at the destination, and the next fetch brings the new one. Real
runs: moto behind the project's proxy, which replaces the object between two requests."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

import t4

MiB = 1024 * 1024


def _replace_on_get(s3_raw: Any, key: str, number: int, new: bytes) -> Any:
    """A proxy hook that writes ``new`` at ``key`` just before the ``number``-th GET of it
    goes on to the server; it faults nothing."""
    seen = []

    def hook(method: str, path: str) -> bool:
        if method == "GET" and path.split("?")[0].endswith("/" + key):
            seen.append(path)
            if len(seen) == number:
                s3_raw.write(key, new)
        return False

    return hook


@pytest.mark.parametrize("how", ["one key", "a folder"])
def test_an_object_replaced_mid_download_fails_cleanly(
    s3_raw: Any, fault_proxy: Any, tmp_path: Path, how: str
) -> None:
    old, new = os.urandom(20 * MiB + 5), os.urandom(20 * MiB + 5)
    s3_raw.write("big/x.bin", old)
    proxy = fault_proxy(rate=0.0, only=_replace_on_get(s3_raw, "big/x.bin", 2, new))
    dest = tmp_path / "out"
    dest.mkdir()
    with t4.Bucket(s3_raw.uri, endpoint_url=proxy.url) as b:
        with pytest.raises((t4.TransientError, t4.TransferError)) as err:
            if how == "one key":
                b.fetch("big/x.bin", dest / "x.bin")
            else:
                b.fetch("big/", dest)
        message = str(err.value)
        assert "'big/x.bin'" in message and s3_raw.uri in message and "replaced" in message
        assert list(dest.iterdir()) == []  # neither the file nor a part of it
        b.fetch("big/x.bin", dest / "x.bin")  # the next fetch: the new object, whole
    assert (dest / "x.bin").read_bytes() == new


def test_a_large_object_is_one_get_and_ranged_gets(
    s3_raw: Any, fault_proxy: Any, tmp_path: Path
) -> None:
    data = os.urandom(40 * MiB + 7)  # three 16 MiB ranges: the GET's own, two more
    s3_raw.write("big.bin", data, '{"user_meta": {"n": 1}}')
    proxy = fault_proxy(rate=0.0)
    with t4.Bucket(s3_raw.uri, endpoint_url=proxy.url) as b:
        proxy.counts.clear()
        b.fetch("big.bin", tmp_path / "big.bin")
    assert (tmp_path / "big.bin").read_bytes() == data
    helium = os.getxattr(tmp_path / "big.bin", "user.com.quiltdata.helium")  # from that GET
    assert json.loads(helium) == {"user_meta": {"n": 1}}
    # the opening GET asks for the first range only: every GET is a ranged one
    assert (proxy.counts["GET"], proxy.counts["GET range"], proxy.counts["HEAD"]) == (3, 3, 0)


@pytest.mark.parametrize("how", ["one key", "a folder"])
def test_a_large_download_is_sent_once_across_the_wire(
    s3_raw: Any, fault_proxy: Any, tmp_path: Path, how: str
) -> None:
    """The opening GET asks for its range only: the server sends the object's bytes once,
    not the whole object for the first GET and the rest again in ranges."""
    data = os.urandom(40 * MiB + 7)
    s3_raw.write("big/x.bin", data)
    proxy = fault_proxy(rate=0.0)
    with t4.Bucket(s3_raw.uri, endpoint_url=proxy.url) as b:
        proxy.counts.clear()
        if how == "one key":
            b.fetch("big/x.bin", tmp_path / "x.bin")
        else:
            b.fetch("big/", tmp_path)
    assert (tmp_path / "x.bin").read_bytes() == data
    assert len(data) <= proxy.bytes_sent <= len(data) + 64 * 1024  # the listing's XML at most


@pytest.mark.parametrize("how", ["one key", "a folder"])
def test_an_empty_object_downloads(s3_raw: Any, fault_proxy: Any, tmp_path: Path, how: str) -> None:
    """An empty object has no first range (S3 answers 416 to one): it still comes down, empty,
    with its metadata."""
    s3_raw.write("e/empty.bin", b"", '{"user_meta": {"n": 0}}')
    proxy = fault_proxy(rate=0.0)
    with t4.Bucket(s3_raw.uri, endpoint_url=proxy.url) as b:
        if how == "one key":
            assert b.fetch("e/empty.bin", tmp_path / "empty.bin").transferred == ["e/empty.bin"]
        else:
            assert b.fetch("e/", tmp_path).transferred == ["e/empty.bin"]
        assert b.get_bytes("e/empty.bin") == b""
    assert (tmp_path / "empty.bin").read_bytes() == b""
    helium = os.getxattr(tmp_path / "empty.bin", "user.com.quiltdata.helium")
    assert json.loads(helium) == {"user_meta": {"n": 0}}
