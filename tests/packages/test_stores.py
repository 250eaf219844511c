"""The registry stores a team may share, as the package tests get them: each answers plain
reads and writes, and SeaweedFS is a real server, not a skip."""

from __future__ import annotations

import os

import pytest
from proxy import FaultProxy
from servers import Raw

import t4
from t4.errors import PreconditionFailedError


def test_each_store_takes_a_push_and_lists_it(registry_store, store_raw, source):
    pkg = t4.Package().set_dir("", source)
    pkg.push("team/data", registry=registry_store, message="first")
    assert list(t4.list_packages(registry_store)) == ["team/data"]
    assert any(k.startswith(".quilt/named_packages/team/data/") for k in store_raw.listing())


def test_conditional_writes_on_each_store(registry_store):
    """The one primitive pushes rely on: create-if-absent, replace-if-unchanged, atomic."""
    with t4.Bucket(registry_store) as bucket:
        backend = bucket.backend
        backend.put_if("p/k", b"one", {}, None)
        with pytest.raises(PreconditionFailedError, match="exists already"):
            backend.put_if("p/k", b"two", {}, None)
        data, etag = backend.get_tagged("p/k")
        assert data == b"one"
        with pytest.raises(PreconditionFailedError, match="no longer has ETag"):
            backend.put_if("p/k", b"two", {}, "0" * 32)
        with pytest.raises(PreconditionFailedError):
            backend.put_if("p/missing", b"two", {}, etag)
        backend.put_if("p/k", b"two", {}, etag)
        assert backend.get_tagged("p/k")[0] == b"two"
        with pytest.raises(PreconditionFailedError):
            backend.put_if("p/k", b"three", {}, etag)  # the old ETag no longer matches
        assert bucket.get_bytes("p/k") == b"two"


def test_a_store_that_ignores_conditional_writes_is_refused(s3_bucket_uri, s3_env, source):
    """Behind a proxy that drops If-None-Match and If-Match, a push refuses (named error)
    and leaves no pointer, rather than risk overwriting another push's."""
    with FaultProxy(s3_env.endpoint, drop_headers=("If-None-Match", "If-Match")) as proxy:
        os.environ["AWS_ENDPOINT_URL"] = proxy.url  # s3_env's monkeypatch restores it
        pkg = t4.Package().set_dir("", source)
        with pytest.raises(t4.ConditionalWritesUnsupportedError, match="conditional writes"):
            pkg.push("team/data", registry=s3_bucket_uri, message="m")
    keys = Raw(s3_bucket_uri, None, s3_env.client()).listing()
    assert not [k for k in keys if k.startswith(".quilt/named_packages/")], keys
