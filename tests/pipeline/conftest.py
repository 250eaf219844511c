"""Fixtures for the flow and task tests: the session's Prefect test harness (see the
top-level conftest) for every test, and a fault-injecting HTTP proxy in front of the S3
server.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from proxy import FaultProxy
from servers import S3Server


@pytest.fixture(autouse=True)
def _prefect_api(prefect_harness: str) -> str:
    """Every test here talks to the session's Prefect test harness."""
    return prefect_harness


@pytest.fixture
def faulty_proxy(s3_env: S3Server) -> Iterator[FaultProxy]:
    """A proxy on a free loopback port in front of the test S3 server; set ``fail_first`` to
    answer that many requests with ``503 SlowDown``."""
    with FaultProxy(s3_env.endpoint, faults=("503",)) as proxy:
        yield proxy
