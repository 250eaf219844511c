"""The folder buckets the catalog service tests serve."""

from __future__ import annotations

from pathlib import Path

import pytest
from catalog_server import lake


@pytest.fixture(scope="module")
def lakes(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("lakes")
    return [lake(root, "alpha"), lake(root, "beta")]
