"""Fixtures for the package suites: a registry of each kind (a local folder, an S3 bucket on
moto's server; ``registry_store`` adds SeaweedFS), a versioned S3 bucket, the default local
registry in a temporary home, and a small source folder with awkward names."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from files import PACKAGE_FILES, write_tree
from quilt3_runner import Quilt3, quilt3_python


@pytest.fixture(autouse=True)
def _home(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """HOME and XDG dirs in a temporary folder: the default local registry lives there."""
    home = tmp_path_factory.mktemp("pkg-home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    return home


@pytest.fixture
def source(tmp_path: Path) -> Path:
    return write_tree(tmp_path / "src", PACKAGE_FILES)


@pytest.fixture
def registry(bucket_uri: str) -> str:
    """A registry of each kind: a local folder, then an S3 bucket on moto."""
    return bucket_uri


@pytest.fixture
def registry_store(store_uri: str) -> str:
    """A registry on each store a team may share: a local folder, moto, SeaweedFS."""
    return store_uri


@pytest.fixture
def versioned_uri(s3_env) -> str:  # type: ignore[no-untyped-def]
    client = s3_env.client()
    name = f"t4-pkgv-{uuid.uuid4().hex[:10]}"
    client.create_bucket(Bucket=name)
    client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return f"s3://{name}"


@pytest.fixture(scope="session")
def quilt3_exe() -> Path:
    return quilt3_python()


@pytest.fixture
def q3(quilt3_exe, s3_env, _home) -> Quilt3:  # type: ignore[no-untyped-def]
    """quilt3 sharing this test's HOME (so the same default local registry) and moto."""
    return Quilt3(quilt3_exe, _home, s3_env.endpoint)
