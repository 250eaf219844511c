"""Which checksum boto3 sends with t4's multipart uploads (``checksums_for``): none on a
server other than AWS unless the user asks (the bytes' SHA-256 is signed over HTTP), boto3's
CRC32 when ``AWS_REQUEST_CHECKSUM_CALCULATION`` says so; seen at the fault proxy, on the
requests a real ``put_file`` of a file past the multipart threshold makes."""

from __future__ import annotations

import os
from collections.abc import Iterator

import boto3
import pytest
from proxy import FaultProxy
from servers import S3Server

import t4
from t4.backends.s3_connection import checksums_for
from t4.backends.s3_parts import MULTIPART_THRESHOLD


@pytest.fixture
def seen(s3_env: S3Server) -> Iterator[FaultProxy]:
    with FaultProxy(s3_env.endpoint, rate=0.0) as proxy:
        yield proxy


def _upload(proxy: FaultProxy, uri: str, tmp_path) -> bytes:  # type: ignore[no-untyped-def]
    data = os.urandom(MULTIPART_THRESHOLD + 1024 * 1024)
    (tmp_path / "big.bin").write_bytes(data)
    with t4.Bucket(uri, endpoint_url=proxy.url) as bucket:
        bucket.put_file("big.bin", tmp_path / "big.bin")
    assert proxy.counts["POST"] >= 2  # a multipart upload: created and completed
    return data


def _checksum_headers(proxy: FaultProxy) -> list[str]:
    return sorted(name for name in proxy.headers_seen if name.startswith("PUT ")
                  and ("checksum" in name or "trailer" in name))  # fmt: skip


def test_an_upload_to_another_server_sends_no_checksum_trailer(
    seen, s3_env, s3_bucket_uri, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    data = _upload(seen, s3_bucket_uri, tmp_path)
    assert _checksum_headers(seen) == []
    assert seen.headers_seen["PUT x-amz-content-sha256"] > 0  # the signed SHA-256 instead
    body = s3_env.client().get_object(Bucket=s3_bucket_uri[5:], Key="big.bin")["Body"].read()
    assert body == data


def test_the_users_setting_brings_boto3s_crc_back(
    seen, s3_env, s3_bucket_uri, tmp_path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("AWS_REQUEST_CHECKSUM_CALCULATION", "when_supported")
    data = _upload(seen, s3_bucket_uri, tmp_path)
    assert _checksum_headers(seen) != []
    body = s3_env.client().get_object(Bucket=s3_bucket_uri[5:], Key="big.bin")["Body"].read()
    assert body == data


@pytest.mark.parametrize("endpoint", [None, "https://s3.eu-west-1.amazonaws.com",
                                      "https://s3.cn-north-1.amazonaws.com.cn"])  # fmt: skip
def test_on_aws_boto3_keeps_its_own_checksums(endpoint: str | None) -> None:
    assert checksums_for(endpoint, boto3.session.Session()) == {}
    assert checksums_for("http://127.0.0.1:9000", boto3.session.Session()) == {
        "request_checksum_calculation": "when_required"
    }
