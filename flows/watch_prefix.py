"""Turn changes under a prefix, whoever made them, into Prefect events, without an SQS queue.

Run on a schedule, it lists the prefix once, compares the listing with the previous run's
(kept in the bucket, at ``.t4flows/watch/<hash of the prefix>.json``), and emits
``t4.object.written`` for every new or changed object (payload ``change``: ``new`` or
``changed``, ``size``, ``etag``) and ``t4.object.deleted`` for every object gone: the same
events a t4flows write emits, so the same automations and deployment triggers fire. The first
run only records what is there. An object is compared by ETag and size.

A poll sends at most ``max_events`` events (``EVENTS_PER_POLL``, 100), so a bulk write of
100,000 objects by another tool is a handful of calls to Prefect's event API, not 100,000:

- up to ``max_events`` changes in all: one event per object, as above;
- more: batch events instead, ``t4.objects.written`` (new and changed, one change kind a
  batch) and ``t4.objects.deleted``, whose resource is the prefix's URI (labels
  ``t4.bucket``, ``t4.prefix``) and whose payload holds ``change``, ``count``, ``first``,
  ``last`` and ``keys``: every key of the batch, in key order, at most ``batch_keys``
  (``BATCH_KEYS``, 1,000) and 1 MB of keys a batch, within Prefect's 1.5 MB event limit;
- past ``max_events`` batches, the remaining changes are left for the next poll (its
  listing is recorded without them, so it finds them again): ``pending`` counts them.

No change is lost: each is in its own event or in exactly one batch event's ``keys``.

Example:
    >>> watch_prefix("s3://lake", "incoming/")  # doctest: +SKIP
    {'first_run': False, 'new': ['incoming/a.csv'], 'changed': [], 'deleted': []}

Command line::

    python -m flows.watch_prefix s3://lake incoming/
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterator, Sequence
from typing import Any

from prefect import flow, task

from flows._cli import parser_for, run_from_cli
from t4.errors import KeyNotFoundError
from t4.keys import as_prefix
from t4flows import lineage
from t4flows.blocks import BucketRef, open_bucket
from t4flows.policy import retry_options

__all__ = ["BATCH_KEYS", "EVENTS_PER_POLL", "STATE_PREFIX", "main", "watch_changes", "watch_prefix"]

#: Where each watched prefix's last listing is kept, in the watched bucket.
STATE_PREFIX = ".t4flows/watch/"
#: Events one poll sends at most (its default ``max_events``).
EVENTS_PER_POLL = 100
#: Keys one batch event names at most (its default ``batch_keys``).
BATCH_KEYS = 1000
#: Bytes of keys one batch event names at most (Prefect refuses events over 1.5 MB).
BATCH_BYTES = 1_000_000


@flow(name="watch_prefix")
def watch_prefix(
    bucket: BucketRef,
    prefix: str = "",
    max_events: int = EVENTS_PER_POLL,
    batch_keys: int = BATCH_KEYS,
) -> dict[str, Any]:
    """Emit events for the objects new, changed or deleted under ``prefix`` since the last
    run: one per object, or past ``max_events`` changes, batch events (see the module).

    Example:
        >>> watch_prefix("t4-bucket/lake", "incoming/")["new"]  # doctest: +SKIP
        ['incoming/a.csv']

    Args:
        bucket: ``s3://name``, ``file:///abs/folder``, ``t4-bucket/NAME`` or a block.
        prefix: the key prefix to watch (``""``: the whole bucket).
        max_events: events one poll sends at most.
        batch_keys: keys one batch event names at most.

    Returns:
        ``first_run`` (nothing was recorded before: no events), the ``new``, ``changed``
        and ``deleted`` keys this poll reported, and ``pending``: how many changes it left
        for the next poll.
    """
    return watch_changes(bucket, prefix, max_events, batch_keys)


@task(name="watch_changes", **retry_options())
def watch_changes(
    bucket: BucketRef,
    prefix: str = "",
    max_events: int = EVENTS_PER_POLL,
    batch_keys: int = BATCH_KEYS,
) -> dict[str, Any]:
    """List ``prefix``, diff with the recorded listing, emit the events, record the listing
    (less what was left for the next poll).

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
        reported = _report(b.uri, prefix, changes, now, before, max(1, max_events), batch_keys)
        recorded = dict(now)
        for change, keys in changes.items():
            for key in set(keys) - set(reported[change]):  # left for the next poll
                if change == "new":
                    del recorded[key]
                else:
                    recorded[key] = before[key]
        b.put(state_key, {"prefix": prefix, "objects": recorded})
    pending = sum(len(keys) for keys in changes.values()) - sum(map(len, reported.values()))
    return {"first_run": first, **reported, "pending": pending}


def _report(
    bucket_uri: str,
    prefix: str,
    changes: dict[str, list[str]],
    now: dict[str, dict[str, Any]],
    before: dict[str, dict[str, Any]],
    max_events: int,
    batch_keys: int,
) -> dict[str, list[str]]:
    """Send at most ``max_events`` events for ``changes``; the changes they reported."""
    if sum(len(keys) for keys in changes.values()) <= max_events:
        for change, keys in changes.items():
            for key in keys:
                lineage.watched(bucket_uri, change, now.get(key) or before[key])
        return changes
    reported: dict[str, list[str]] = {change: [] for change in changes}
    budget = max_events
    for change, keys in changes.items():
        for batch in _batches(keys, max(1, batch_keys)):
            if budget == 0:
                return reported
            lineage.watched_batch(bucket_uri, prefix, change, batch)
            reported[change].extend(batch)
            budget -= 1
    return reported


def _batches(keys: list[str], most: int) -> Iterator[list[str]]:
    """``keys`` in runs of at most ``most`` keys and ``BATCH_BYTES`` bytes of keys."""
    batch: list[str] = []
    size = 0
    for key in keys:
        length = len(key.encode("utf-8")) + 4  # quotes, comma, space
        if batch and (len(batch) == most or size + length > BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(key)
        size += length
    if batch:
        yield batch


def _differs(now: dict[str, Any], before: dict[str, Any]) -> bool:
    return bool(now["etag"] != before["etag"] or now["size"] != before["size"])


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m flows.watch_prefix BUCKET [PREFIX]``"""
    parser = parser_for(watch_prefix)
    parser.add_argument("bucket", help="s3://name, file:///abs/folder or t4-bucket/NAME")
    parser.add_argument("prefix", nargs="?", default="", help="the key prefix to watch")
    parser.add_argument(
        "--max-events", type=int, default=EVENTS_PER_POLL, help="events one poll sends at most"
    )
    parser.add_argument(
        "--batch-keys", type=int, default=BATCH_KEYS, help="keys one batch event names at most"
    )
    return run_from_cli(watch_prefix, parser, argv)


if __name__ == "__main__":
    sys.exit(main())
