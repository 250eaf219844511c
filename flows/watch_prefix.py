"""Turn changes under a prefix, whoever made them, into Prefect events, without an SQS queue.

Run on a schedule, it lists the prefix once, compares the listing with the previous run's
(kept in the bucket, at ``.t4flows/watch/<hash of the prefix>.json``), and emits
``t4.object.written`` for every new or changed object (payload ``change``: ``new`` or
``changed``, ``size``, ``etag``) and ``t4.object.deleted`` for every object gone: the same
events a t4flows write emits, so the same automations and deployment triggers fire. The first
run only records what is there. An object is compared by ETag and size.

Example:
    >>> watch_prefix("s3://lake", "incoming/")  # doctest: +SKIP
    {'first_run': False, 'new': ['incoming/a.csv'], 'changed': [], 'deleted': []}

Command line::

    python -m flows.watch_prefix s3://lake incoming/
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Sequence
from typing import Any

from prefect import flow, task

from flows._cli import parser_for, run_from_cli
from t4.errors import KeyNotFoundError
from t4.keys import as_prefix
from t4flows import lineage
from t4flows.blocks import BucketRef, open_bucket
from t4flows.policy import retry_options

__all__ = ["STATE_PREFIX", "main", "watch_changes", "watch_prefix"]

#: Where each watched prefix's last listing is kept, in the watched bucket.
STATE_PREFIX = ".t4flows/watch/"


@flow(name="watch_prefix")
def watch_prefix(bucket: BucketRef, prefix: str = "") -> dict[str, Any]:
    """Emit an event per object new, changed or deleted under ``prefix`` since the last run.

    Example:
        >>> watch_prefix("t4-bucket/lake", "incoming/")["new"]  # doctest: +SKIP
        ['incoming/a.csv']

    Args:
        bucket: ``s3://name``, ``file:///abs/folder``, ``t4-bucket/NAME`` or a block.
        prefix: the key prefix to watch (``""``: the whole bucket).

    Returns:
        ``first_run`` (nothing was recorded before: no events), and the ``new``, ``changed``
        and ``deleted`` keys.
    """
    return watch_changes(bucket, prefix)


@task(name="watch_changes", **retry_options())
def watch_changes(bucket: BucketRef, prefix: str = "") -> dict[str, Any]:
    """List ``prefix``, diff with the recorded listing, emit the events, record the listing.

    Safe to run twice: a rerun compares with what the last completed run recorded, so events
    are sent at least once (twice if a run fails between emitting and recording).

    Example:
        >>> watch_changes("s3://lake", "incoming/")["deleted"]  # doctest: +SKIP
        ['incoming/old.csv']
    """
    prefix = as_prefix(prefix)
    state_key = STATE_PREFIX + hashlib.sha256(prefix.encode("utf-8")).hexdigest()[:16] + ".json"
    with open_bucket(bucket) as b:
        now = {
            o.key: {"key": o.key, "etag": o.etag, "size": o.size}
            for o in b.ls(prefix)
            if not o.key.endswith("/") and not o.key.startswith(STATE_PREFIX)
        }
        try:
            before: dict[str, dict[str, Any]] = b.deserialize(state_key)["objects"]
            first = False
        except KeyNotFoundError:
            before, first = {}, True
        changes: dict[str, list[str]] = {"new": [], "changed": [], "deleted": []}
        if not first:
            changes["new"] = sorted(now.keys() - before.keys())
            changes["deleted"] = sorted(before.keys() - now.keys())
            changes["changed"] = sorted(
                k for k in now.keys() & before.keys() if _differs(now[k], before[k])
            )
        for change, keys in changes.items():
            for key in keys:
                lineage.watched(b.uri, change, now.get(key) or before[key])
        b.put(state_key, {"prefix": prefix, "objects": now})
    return {"first_run": first, **changes}


def _differs(now: dict[str, Any], before: dict[str, Any]) -> bool:
    return bool(now["etag"] != before["etag"] or now["size"] != before["size"])


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m flows.watch_prefix BUCKET [PREFIX]``"""
    parser = parser_for(watch_prefix)
    parser.add_argument("bucket", help="s3://name, file:///abs/folder or t4-bucket/NAME")
    parser.add_argument("prefix", nargs="?", default="", help="the key prefix to watch")
    return run_from_cli(watch_prefix, parser, argv)


if __name__ == "__main__":
    sys.exit(main())
