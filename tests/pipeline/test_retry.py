"""Retries happen for transient faults only, decided by exception type, against a real
S3 server behind a proxy that answers 503 SlowDown."""

from __future__ import annotations

import pytest
from prefect.client.orchestration import get_client

import t4
from t4flows import T4BucketBlock, get_meta, is_transient, retry_options
from t4flows.policy import retry_on_transient


def _requests_per_try(uri: str, proxy) -> int:  # type: ignore[no-untyped-def]
    """How many requests one failing ``get_meta`` makes (botocore retries each request
    itself before t4 raises TransientError); measured, not assumed."""
    proxy.fail_first = 10_000
    proxy.counts.clear()
    with t4.Bucket(uri, endpoint_url=proxy.url) as b, pytest.raises(t4.TransientError):
        b.get_meta("a.json")
    per_try = proxy.seen
    proxy.fail_first = 0
    proxy.counts.clear()
    return per_try


def _run_count(state) -> int:  # type: ignore[no-untyped-def]
    with get_client(sync_client=True) as client:
        return int(client.read_task_run(state.state_details.task_run_id).run_count)


def test_transient_twice_then_success(s3_bucket_uri, s3_env, faulty_proxy):  # type: ignore[no-untyped-def]
    s3_env.client().put_object(Bucket=s3_bucket_uri[5:], Key="a.json", Body=b"{}",
                               Metadata={"helium": '{"user_meta": {"n": 1}}'})  # fmt: skip
    per_try = _requests_per_try(s3_bucket_uri, faulty_proxy)
    faulty_proxy.fail_first = 2 * per_try  # two whole task runs fail, the third works
    block = T4BucketBlock(uri=s3_bucket_uri, endpoint_url=faulty_proxy.url)
    fast = get_meta.with_options(**retry_options(backoff=0.05, jitter=0.1))
    state = fast(block, "a.json", return_state=True)
    assert state.is_completed()
    assert state.result() == {"user_meta": {"n": 1}}
    assert _run_count(state) == 3
    assert faulty_proxy.seen == 2 * per_try + 1


def test_permanent_failure_is_not_retried(s3_bucket_uri, faulty_proxy):  # type: ignore[no-untyped-def]
    block = T4BucketBlock(uri=s3_bucket_uri, endpoint_url=faulty_proxy.url)
    fast = get_meta.with_options(**retry_options(backoff=0.05))
    state = fast(block, "missing.json", return_state=True)
    assert state.is_failed()
    with pytest.raises(t4.KeyNotFoundError):
        state.result()
    assert _run_count(state) == 1
    assert faulty_proxy.seen <= 2  # HEAD's 404, then "is the bucket there?": never repeated


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (t4.TransientError("503"), True),
        (t4.KeyNotFoundError("gone"), False),
        (t4.AccessDeniedError("no"), False),
        (ConnectionError("not ours"), False),
    ],
)
def test_is_transient_by_type(exc: BaseException, expected: bool) -> None:
    assert is_transient(exc) is expected


def test_retry_options_use_the_type_check() -> None:
    options = retry_options()
    assert options["retry_condition_fn"] is retry_on_transient
    assert options["retries"] >= 2 and options["retry_jitter_factor"] > 0
    assert options["retry_delay_seconds"](3) == [2.0, 4.0, 8.0]
