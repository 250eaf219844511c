"""Retries happen for transient faults only, decided by exception type, against a real
S3 server behind a proxy that answers 503 SlowDown (or 403 AccessDenied), on a real Prefect
API: single requests and bulk work alike. No error here is built by hand: each comes from the
core, failing against the proxy."""

from __future__ import annotations

from pathlib import Path

import pytest
from files import write_tree
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterTaskRunId
from proxy import FaultProxy, wait_until

import t4
from t4flows import T4BucketBlock, get_meta, is_transient, put_dir, retry_options
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
    """The task run's ``run_count`` as the API has it, once the API has its final state (a
    task run's states reach the API as events, a moment after the call returns)."""
    run_id = state.state_details.task_run_id
    with get_client(sync_client=True) as client:

        def final() -> bool:  # the run may be read before its first state reached the API
            found = client.read_task_run(run_id).state
            return found is not None and found.is_final()

        assert wait_until(final, timeout=60)
        return int(client.read_task_run(run_id).run_count)


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


def _files(tmp_path: Path) -> Path:
    return write_tree(tmp_path / "src", {f"f{i}.txt": f"file {i}" for i in range(3)})


def _puts_fail(proxy: FaultProxy) -> None:
    """Every upload is refused from now on; listings and everything else go through."""
    proxy.only = lambda method, path: method == "PUT"
    proxy.fail_first = 10**6


@pytest.fixture
def denying_proxy(s3_env):  # type: ignore[no-untyped-def]
    with FaultProxy(s3_env.endpoint, faults=("403",)) as proxy:
        yield proxy


@pytest.mark.parametrize(("which", "transient"), [("faulty_proxy", True), ("denying_proxy", False)])
def test_the_core_keeps_each_files_own_error(tmp_path, s3_bucket_uri, request, which, transient):  # type: ignore[no-untyped-def]
    """What ``put_dir`` raises when its uploads fail carries each file's own error, so the
    retry policy can judge it: 503s are transient, access denied is not."""
    proxy = request.getfixturevalue(which)
    _puts_fail(proxy)
    with (
        t4.Bucket(s3_bucket_uri, endpoint_url=proxy.url) as b,
        pytest.raises(t4.TransferError) as err,
    ):
        b.put_dir("d", _files(tmp_path))
    assert sorted(err.value.failures) == ["d/f0.txt", "d/f1.txt", "d/f2.txt"]
    wanted = t4.TransientError if transient else t4.AccessDeniedError
    assert all(isinstance(e, wanted) for e in err.value.failures.values()), err.value.failures
    assert is_transient(err.value) is transient


def test_bulk_task_whose_uploads_get_5xx_is_retried_by_prefect(  # type: ignore[no-untyped-def]
    tmp_path, s3_bucket_uri, faulty_proxy, monkeypatch
):
    monkeypatch.setenv("T4_S3_MAX_ATTEMPTS", "1")
    _puts_fail(faulty_proxy)
    block = T4BucketBlock(uri=s3_bucket_uri, endpoint_url=faulty_proxy.url)
    fast = put_dir.with_options(**retry_options(retries=2, backoff=0.05, jitter=0.1))
    state = fast(block, "d", str(_files(tmp_path)), return_state=True)
    assert state.is_failed()
    assert _run_count(state) == 3  # the first try and both retries
    with pytest.raises(t4.TransferError) as err:
        state.result()
    assert all(isinstance(e, t4.TransientError) for e in err.value.failures.values())
    assert faulty_proxy.kinds["listing"] == 3  # each try planned again: one listing each


def test_bulk_task_refused_access_is_not_retried(tmp_path, s3_bucket_uri, denying_proxy):  # type: ignore[no-untyped-def]
    _puts_fail(denying_proxy)
    block = T4BucketBlock(uri=s3_bucket_uri, endpoint_url=denying_proxy.url)
    fast = put_dir.with_options(**retry_options(retries=2, backoff=0.05, jitter=0.1))
    state = fast(block, "d", str(_files(tmp_path)), return_state=True)
    assert state.is_failed()
    assert _run_count(state) == 1
    with pytest.raises(t4.TransferError) as err:
        state.result()
    assert all(isinstance(e, t4.AccessDeniedError) for e in err.value.failures.values())
    assert denying_proxy.kinds["listing"] == 1
    with get_client(sync_client=True) as client:  # the failed task still published its table
        run_id = state.state_details.task_run_id
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(task_run_id=ArtifactFilterTaskRunId(any_=[run_id]))
        )
    table = next(a for a in found if a.type == "table")
    assert "0 transferred, 0 skipped, 0 deleted, 3 failed" in (table.description or "")
    assert "AccessDeniedError" in str(table.data)


def test_retry_options_use_the_type_check() -> None:
    options = retry_options()
    assert options["retry_condition_fn"] is retry_on_transient
    assert options["retries"] >= 2 and options["retry_jitter_factor"] > 0
    assert options["retry_delay_seconds"](3) == [2.0, 4.0, 8.0]
