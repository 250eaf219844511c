"""The listing is t4's own signed ListObjectsV2 (``t4.backends.s3_list``), no boto3: every key
exact, pages followed, signatures a checking server accepts, failures retried or named, the
environment's proxy honoured. Real runs on moto, through the project's proxy where counted."""

from __future__ import annotations

import os
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from servers import TEST_KEY_ID, TEST_SECRET

import t4

#: Keys a listing must give back exactly as stored.
ODD_KEYS = [
    "a/", "a//b", "//lead", ".", "..", "x/./y", "x/../y", "sp ace.txt", "plus+sign.txt",
    "both + and space", "pct%41%2F.txt", "q?x=1&y=2#z", "ünï/cødé ✓.txt", "tab\tkey",
    "ctl\x01char", "amp&lt;.xml", "~tilde=eq",
]  # fmt: skip


def test_every_key_comes_back_exactly(s3_raw: Any) -> None:
    for key in ODD_KEYS:
        s3_raw.client.put_object(Bucket=s3_raw.name, Key=key, Body=key.encode())
    with t4.Bucket(s3_raw.uri) as b:
        listed = {o.key: o for o in b.ls("")}
        assert sorted(listed) == sorted(ODD_KEYS)
        assert all(listed[k].size == len(k.encode()) for k in ODD_KEYS)
        assert sorted(o.key for o in b.ls("both + ")) == ["both + and space"]
        assert sorted(o.key for o in b.ls("x/.")) == ["x/../y", "x/./y"]
    raw = s3_raw.client.list_objects_v2(Bucket=s3_raw.name)["Contents"]
    assert {o["Key"]: o["ETag"].strip('"') for o in raw} == {k: o.etag for k, o in listed.items()}
    assert {o["Key"]: o["LastModified"] for o in raw} == {
        k: o.last_modified for k, o in listed.items()
    }


def test_pages_are_followed(s3_raw: Any, fault_proxy: Any) -> None:
    keys = [f"p/{i:05d} +.txt" for i in range(1005)]  # moto answers 1,000 keys a page
    with ThreadPoolExecutor(8) as pool:
        list(
            pool.map(lambda k: s3_raw.client.put_object(Bucket=s3_raw.name, Key=k, Body=b"1"), keys)
        )
    proxy = fault_proxy(rate=0.0)
    with t4.Bucket(s3_raw.uri, endpoint_url=proxy.url) as b:
        assert [o.key for o in b.ls("p/")] == keys
    assert (proxy.kinds["listing"], proxy.kinds["listing-page"]) == (1, 1)
    assert proxy.seen == 2


def test_a_kept_connection_closed_as_it_is_reused_costs_no_attempt(
    s3_raw: Any, fault_proxy: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server may close an idle connection just as the next page is asked on it: that GET
    is sent again at once on a new connection, not counted as a failed attempt. The same
    reset of a new connection is one (and with one attempt allowed, named)."""
    keys = [f"p/{i:05d}.txt" for i in range(1005)]  # moto answers 1,000 keys a page
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: s3_raw.write(k, b"1"), keys))
    monkeypatch.setenv("T4_S3_MAX_ATTEMPTS", "1")
    second_page = fault_proxy(faults=("reset",), fail_first=1, only=lambda m, p: "token=" in p)
    with t4.Bucket(s3_raw.uri, endpoint_url=second_page.url) as b:
        assert [o.key for o in b.ls("p/")] == keys
    assert second_page.counts["reset"] == 1 and second_page.kinds["listing-page"] == 2
    first_page = fault_proxy(faults=("reset",), fail_first=1)
    with t4.Bucket(s3_raw.uri, endpoint_url=first_page.url) as b, pytest.raises(t4.T4Error) as err:
        list(b.ls("p/"))
    assert s3_raw.uri in str(err.value) and first_page.seen == 1


def test_a_server_that_checks_signatures_accepts_them(auth_server: Any) -> None:
    """moto with authentication on verifies each request's SigV4 signature; a wrong secret
    is refused, and the error names the bucket, not the secret."""
    with t4.Bucket(
        f"s3://{auth_server.bucket}",
        endpoint_url=auth_server.endpoint,
        credentials={"aws_access_key_id": auth_server.key_id,
                     "aws_secret_access_key": auth_server.secret},
    ) as b:  # fmt: skip
        b.put("sig/a b+c.txt", "x")
        assert [o.key for o in b.ls("sig/")] == ["sig/a b+c.txt"]
    wrong = "not-the-secret-00000000000000000000"
    with t4.Bucket(
        f"s3://{auth_server.bucket}",
        endpoint_url=auth_server.endpoint,
        credentials={"aws_access_key_id": auth_server.key_id, "aws_secret_access_key": wrong},
    ) as b, pytest.raises(t4.AccessDeniedError) as err:  # fmt: skip
        list(b.ls("sig/"))
    assert auth_server.bucket in str(err.value) and wrong not in str(err.value)


@pytest.mark.parametrize("fault", ["500", "503", "reset", "truncate", "stall"])
def test_a_failed_page_is_asked_again(
    s3_raw: Any, fault_proxy: Any, short_budget: None, fault: str
) -> None:
    s3_raw.write("k/a.txt", b"a")
    proxy = fault_proxy(faults=(fault,), fail_first=2)
    with t4.Bucket(s3_raw.uri, endpoint_url=proxy.url) as b:
        assert [o.key for o in b.ls("k/")] == ["k/a.txt"]
    assert proxy.kinds["listing"] == 3 and proxy.faulted == 2


def test_a_listing_that_keeps_failing_is_a_transient_error_naming_the_bucket(
    s3_raw: Any, fault_proxy: Any, short_budget: None
) -> None:
    proxy = fault_proxy(rate=1.0, faults=("503",))
    with (
        t4.Bucket(s3_raw.uri, endpoint_url=proxy.url) as b,
        pytest.raises(t4.TransientError) as err,
    ):
        list(b.ls(""))
    assert s3_raw.uri in str(err.value) and "retry" in str(err.value)
    assert proxy.kinds["listing"] == int(os.environ["T4_S3_MAX_ATTEMPTS"])


def test_a_missing_bucket_is_bucket_not_found(s3_env: Any) -> None:
    name = f"t4-missing-{uuid.uuid4().hex[:8]}"
    with t4.Bucket(f"s3://{name}") as b, pytest.raises(t4.BucketNotFoundError) as err:
        list(b.ls(""))
    assert name in str(err.value)


def test_the_environments_proxy_carries_the_listing(
    s3_raw: Any, fault_proxy: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3_raw.write("k/a.txt", b"a")
    proxy = fault_proxy(rate=0.0)
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with t4.Bucket(s3_raw.uri) as b:  # the endpoint is moto itself: the proxy forwards
        assert [o.key for o in b.ls("k/")] == ["k/a.txt"]
    assert proxy.kinds["listing"] == 1
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    with t4.Bucket(s3_raw.uri) as b:
        assert [o.key for o in b.ls("k/")] == ["k/a.txt"]
    assert proxy.kinds["listing"] == 1  # bypassed


def test_keys_from_a_profile_sign_the_listing(
    s3_raw: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a profile, boto3 resolves the keys (and only that): the listing still is t4's."""
    creds = os.environ["AWS_SHARED_CREDENTIALS_FILE"]
    with open(creds, "w") as f:
        f.write(
            f"[work]\naws_access_key_id = {TEST_KEY_ID}\naws_secret_access_key = {TEST_SECRET}\n"
        )
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    s3_raw.write("k/a b.txt", b"a")
    with t4.Bucket(s3_raw.uri, profile="work") as b:
        assert [o.key for o in b.ls("k/")] == ["k/a b.txt"]
