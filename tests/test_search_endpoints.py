"""Two S3 endpoints with a bucket of the same name never share a search index (issue 11,
item 3): two real moto servers, one bucket name."""

from __future__ import annotations

from pathlib import Path

from servers import S3Server, start_moto

import t4


def _keys(hits: list[dict]) -> set[str]:  # type: ignore[type-arg]
    return {h["key"] for h in hits}


def test_two_endpoints_never_share_an_index(s3_env: S3Server, tmp_path: Path) -> None:
    other = start_moto(tmp_path)
    try:
        for server in (s3_env, other):
            server.client().create_bucket(Bucket="same-name")
        with (
            t4.Bucket("s3://same-name", endpoint_url=s3_env.endpoint) as a,
            t4.Bucket("s3://same-name", endpoint_url=other.endpoint) as b,
        ):
            a.put("a.txt", "alpha words")
            b.put("b.txt", "beta words")
            assert a.index_path != b.index_path
            assert _keys(a.search("words")) == {"a.txt"}
            assert _keys(b.search("words")) == {"b.txt"}
            assert b.index()["removed"] == 0  # a crawl of one leaves the other's rows alone
            assert _keys(a.search("words")) == {"a.txt"}
    finally:
        other.stop()


def test_two_endpoints_never_share_upload_records(s3_env: S3Server, tmp_path: Path) -> None:
    """What t4 remembers writing to one endpoint never makes it skip an upload to another:
    the same bytes under the same name elsewhere, with other metadata, are put right."""
    (tmp_path / "other").mkdir()
    other = start_moto(tmp_path / "other")
    src = tmp_path / "a.csv"
    src.write_bytes(b"x,y\n1,2\n")
    try:
        for server in (s3_env, other):
            server.client().create_bucket(Bucket="same-name")
        helium = '{"user_meta": {"by": "someone else"}}'
        other.client().put_object(Bucket="same-name", Key="a.csv", Body=src.read_bytes(),
                                  Metadata={"helium": helium})  # fmt: skip
        with t4.Bucket("s3://same-name", endpoint_url=s3_env.endpoint) as a:
            a.put_file("a.csv", src, meta={"by": "t4"})
        with t4.Bucket("s3://same-name", endpoint_url=other.endpoint) as b:
            b.put_file("a.csv", src, meta={"by": "t4"})
        head = other.client().head_object(Bucket="same-name", Key="a.csv")
        assert head["Metadata"]["helium"] == '{"user_meta":{"by":"t4"}}'
    finally:
        other.stop()
