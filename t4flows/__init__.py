"""t4flows: every ``t4.Bucket`` operation as a retrying, idempotent Prefect task.

Example:
    >>> from prefect import flow
    >>> from t4flows import put_dir
    >>> @flow
    ... def nightly() -> None:
    ...     put_dir("s3://lake", "raw", "/data/raw")
"""

from __future__ import annotations

import logging

from t4flows.blocks import BucketRef, T4BucketBlock, open_bucket
from t4flows.packages import browse_package, build_package, install_package, push_package
from t4flows.policy import is_transient, retry_on_transient, retry_options
from t4flows.tasks import (
    delete_dir,
    delete_object,
    deserialize,
    fetch,
    get_meta,
    index_bucket,
    list_keys,
    put_dir,
    put_file,
    put_object,
    search,
    set_meta,
)

__all__ = [
    "BucketRef",
    "T4BucketBlock",
    "browse_package",
    "build_package",
    "delete_dir",
    "delete_object",
    "deserialize",
    "fetch",
    "get_meta",
    "index_bucket",
    "install_package",
    "is_transient",
    "list_keys",
    "open_bucket",
    "push_package",
    "put_dir",
    "put_file",
    "put_object",
    "retry_on_transient",
    "retry_options",
    "search",
    "set_meta",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())
