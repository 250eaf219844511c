"""Errors survive bulk work: a failed file of ``put_dir`` keeps its own exception, so
``is_transient`` can tell a 503 (retry) from a refusal (do not), also after pickling (Prefect
pickles a task's exception). Real runs only: a fault proxy in front of moto, a real folder."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import pytest

import t4
from t4flows.policy import is_transient


@pytest.fixture(autouse=True)
def _two_tries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Short timeouts, each request tried twice: enough to show the error kept, and quick
    under total failure."""
    monkeypatch.setenv("T4_S3_CONNECT_TIMEOUT", "1")
    monkeypatch.setenv("T4_S3_READ_TIMEOUT", "1")
    monkeypatch.setenv("T4_S3_MAX_ATTEMPTS", "2")


def _folder(tmp_path: Path, n: int = 3) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    for i in range(n):
        (src / f"f{i}.txt").write_text(f"file {i}")
    return src


def test_put_dir_whose_uploads_all_fail_5xx_is_transient(
    s3_raw: Any, fault_proxy: Any, tmp_path: Path
) -> None:
    proxy = fault_proxy(rate=1.0, faults=("503",), only=lambda method, path: method == "PUT")
    b = t4.Bucket(s3_raw.uri, endpoint_url=proxy.url)
    with b, pytest.raises(t4.TransferError) as caught:
        b.put_dir("raw", _folder(tmp_path))
    err = caught.value
    assert sorted(err.failures) == ["raw/f0.txt", "raw/f1.txt", "raw/f2.txt"]
    assert all(isinstance(e, t4.TransientError) for e in err.failures.values())
    assert is_transient(err)
    assert err.summary is not None and err.summary.transferred == []
    again = pickle.loads(pickle.dumps(err))
    assert type(again) is t4.TransferError and is_transient(again)
    assert {k: type(e) for k, e in again.failures.items()} == {
        k: t4.TransientError for k in err.failures
    }
    assert again.summary is not None and sorted(again.summary.failed) == sorted(err.failures)
    assert s3_raw.listing() == []


def test_put_dir_with_a_permanent_failure_is_not_transient(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    (lake / "raw" / "f0.txt").mkdir(parents=True)  # a folder where a file must go
    (lake / "raw" / "f0.txt" / "inside").write_text("x")
    with t4.Bucket(lake) as b, pytest.raises(t4.TransferError) as caught:
        b.put_dir("raw", _folder(tmp_path))
    err = caught.value
    assert list(err.failures) == ["raw/f0.txt"]
    assert isinstance(err.failures["raw/f0.txt"], t4.InvalidKeyError)
    assert not is_transient(err) and not is_transient(pickle.loads(pickle.dumps(err)))
    assert sorted(err.summary.transferred) == ["raw/f1.txt", "raw/f2.txt"]  # type: ignore[union-attr]
    assert (lake / "raw" / "f1.txt").read_text() == "file 1"


def test_single_file_operations_raise_their_own_error(
    s3_raw: Any, fault_proxy: Any, tmp_path: Path
) -> None:
    src = tmp_path / "one.txt"
    src.write_text("one")
    proxy = fault_proxy(rate=1.0, faults=("503",), only=lambda method, path: method == "PUT")
    with t4.Bucket(s3_raw.uri, endpoint_url=proxy.url) as b, pytest.raises(t4.TransientError):
        b.put_file("one.txt", src)
    s3_raw.write("two.txt", b"two")
    proxy = fault_proxy(rate=1.0, faults=("503",), only=lambda method, path: method == "GET")
    with t4.Bucket(s3_raw.uri, endpoint_url=proxy.url) as b, pytest.raises(t4.TransientError):
        b.fetch("two.txt", tmp_path / "out.txt")
