"""``t4 cat`` looks before it reads, and reads only what it shows: through the fault proxy
(no faults, just counting) in front of moto's S3 server, the requests and bytes it costs."""

from __future__ import annotations

import io
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli import T4, assert_one_line_error, t4
from proxy import FaultProxy
from servers import S3Server

MiB = 1024 * 1024


@pytest.fixture
def counted(s3_env: S3Server) -> Iterator[FaultProxy]:
    """A proxy that forwards everything and counts requests (by method) and body bytes."""
    with FaultProxy(s3_env.endpoint, rate=0.0) as proxy:
        yield proxy


def cat(proxy: FaultProxy, uri: str, *extra: str) -> tuple[str, int, int]:
    """``t4 cat`` through the proxy: its stdout, the GETs and the body bytes it cost."""
    proxy.counts.clear()
    result = t4("cat", "--endpoint-url", proxy.url, uri, *extra)
    assert result.returncode == 0, result.stderr
    return result.stdout, proxy.counts["GET"], proxy.bytes_sent


def big_table() -> pd.DataFrame:
    n = 300_000
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {"id": np.arange(n), "x": rng.random(n), "name": [f"n{i}" for i in range(n)]}
    )


def test_rows_of_a_large_csv_read_a_bounded_amount(counted, s3_env, s3_bucket_uri) -> None:  # type: ignore[no-untyped-def]
    data = big_table().to_csv(index=False).encode()
    assert len(data) > 8 * MiB
    s3_env.client().put_object(Bucket=s3_bucket_uri[5:], Key="big.csv", Body=data)
    out, gets, sent = cat(counted, f"{s3_bucket_uri}/big.csv", "--rows", "3")
    assert out.split()[:3] == ["id", "x", "name"]
    assert "n2" in out and "n3" not in out
    assert sent < MiB and gets <= 4, (sent, gets)
    shown = json.loads(t4("cat", "--json", f"{s3_bucket_uri}/big.csv", "--rows", "2").stdout)
    assert [r["id"] for r in shown["head"]] == [0, 1] and shown["columns"] == ["id", "x", "name"]


def test_rows_of_a_large_parquet_read_a_bounded_amount(counted, s3_env, s3_bucket_uri) -> None:  # type: ignore[no-untyped-def]
    buf = io.BytesIO()
    big_table().to_parquet(buf, row_group_size=20_000)
    data = buf.getvalue()
    assert len(data) > 4 * MiB
    s3_env.client().put_object(Bucket=s3_bucket_uri[5:], Key="big.parquet", Body=data)
    out, gets, sent = cat(counted, f"{s3_bucket_uri}/big.parquet", "--rows", "4")
    assert "n3" in out and "n4" not in out
    assert "300,000 rows x 3 columns" in out  # the footer says how many, without reading them
    assert sent < len(data) / 4 and gets <= 6, (sent, gets, len(data))


def test_a_large_binary_object_is_summarised_unread(counted, s3_env, s3_bucket_uri) -> None:  # type: ignore[no-untyped-def]
    blob = bytes(range(256)) * (40 * 1024)  # 10 MiB
    s3_env.client().put_object(Bucket=s3_bucket_uri[5:], Key="blob.bin", Body=blob)
    out, gets, sent = cat(counted, f"{s3_bucket_uri}/blob.bin")
    assert "10,485,760 bytes" in out and "00 01 02 03" in out
    assert sent < 512 * 1024 and gets <= 2, (sent, gets)
    counted.counts.clear()
    args = [T4, "cat", "--raw", "--endpoint-url", counted.url, f"{s3_bucket_uri}/blob.bin"]
    raw = subprocess.run(args, capture_output=True, timeout=120)
    assert raw.returncode == 0 and raw.stdout == blob
    assert counted.counts["GET"] <= 4  # large ranges: not one request per small read


def test_a_prefix_is_named_a_directory_without_downloading_it(
    counted, s3_env, s3_bucket_uri
) -> None:  # type: ignore[no-untyped-def]
    client, name = s3_env.client(), s3_bucket_uri[5:]
    for i in range(30):
        client.put_object(Bucket=name, Key=f"dir/f{i}.bin", Body=b"x" * 100_000)
    for extra in ([], ["--raw"]):
        counted.counts.clear()
        result = t4("cat", *extra, "--endpoint-url", counted.url, f"{s3_bucket_uri}/dir")
        assert_one_line_error(result, "directory", "t4 ls")
        assert counted.bytes_sent < 50_000 and counted.counts["GET"] <= 2, counted.counts
    assert_one_line_error(t4("cat", f"{s3_bucket_uri}/dir/"), "directory", "t4 fetch")
    assert_one_line_error(t4("cat", f"{s3_bucket_uri}/nothing-here"), "nothing-here")
    assert_one_line_error(t4("cat", f"{s3_bucket_uri}/nothing-here/"), "nothing under")


def test_small_objects_show_as_before(lake: Path) -> None:
    pd.DataFrame({"a": [1, 2, 3]}).to_csv(lake / "t.csv", index=False)
    out = t4("cat", "-b", str(lake), "t.csv", "--rows", "2").stdout
    assert "[3 rows x 1 columns]" in out


def test_cat_asks_what_the_object_is_once(counted, s3_env, s3_bucket_uri) -> None:  # type: ignore[no-untyped-def]
    """One HEAD, then only the reads: the object's size and format are known from it (issue
    21 item 7: the preview of bytes, a large table and --raw each made a second HEAD)."""
    client, name = s3_env.client(), s3_bucket_uri[5:]
    client.put_object(Bucket=name, Key="blob.bin", Body=bytes(range(256)) * 4096)
    client.put_object(Bucket=name, Key="big.csv", Body=big_table().to_csv(index=False).encode())
    client.put_object(Bucket=name, Key="small.json", Body=b'{"a": 1}')
    for key, extra in (("blob.bin", []), ("blob.bin", ["--raw"]), ("big.csv", ["--rows", "2"]),
                       ("small.json", [])):  # fmt: skip
        counted.counts.clear()
        args = [T4, "cat", "--endpoint-url", counted.url, f"{s3_bucket_uri}/{key}", *extra]
        result = subprocess.run(args, capture_output=True, timeout=120)  # --raw: bytes
        assert result.returncode == 0, result.stderr
        assert counted.counts["HEAD"] == 1 and counted.counts["GET"] >= 1, (key, counted.counts)
