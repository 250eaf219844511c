"""What Prefect learns about the data a task touched: events, and assets for lineage.

Events: every write emits ``t4.object.written`` and every delete ``t4.object.deleted``, whose
resource is the object's URI (``s3://bucket/key``, ``file:///folder/key``) with labels
``t4.bucket`` and ``t4.key``, and whose payload holds its ``size``, ``etag`` and
``user_meta``. A bulk task emits one ``t4.bulk.completed`` (resource: the prefix's URI) with
its counts, and one event per object only when it wrote at most ``FEW`` of them, so a
100,000-file upload is one event, not 100,000. Automations and deployment triggers match
them (``match: {t4.key: "incoming/*"}``).

Assets: inside a task run, what a task wrote becomes a materialized asset (the same URI as the
event's resource, ``size``, ``etag`` and ``user_meta`` as its metadata), what it read an
upstream asset. A write's upstream assets are what its own task read, and everything its flow
run read before it (``deserialize``, ``fetch``, a mirror's source; the first ``READS_KEPT``
of them), whether or not the value read was passed on, so Prefect's asset graph shows
``raw/x.csv -> clean/x.parquet`` when a flow reads one and writes the other. The flow run's
reads are kept in its own run context, in the process that runs the flow: tasks that run on
Dask workers link only what their own task read. Past ``FEW`` objects, one asset names the
prefix.

Example:
    >>> object_uri("s3://lake", "raw/a.csv")
    's3://lake/raw/a.csv'
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any
from uuid import uuid5

from prefect.assets import Asset, AssetProperties
from prefect.context import AssetContext, FlowRunContext
from prefect.events import emit_event
from prefect.states import Completed
from prefect.types.names import validate_valid_asset_key

import t4
from t4.backends import ObjectInfo
from t4.errors import T4Error
from t4flows.blocks import BucketRef, open_bucket

__all__ = [
    "FEW",
    "READS_KEPT",
    "deleted",
    "mirrored",
    "object_uri",
    "package_pushed",
    "read",
    "watched",
    "watched_batch",
    "written",
    "written_many",
]

log = logging.getLogger(__name__)

#: Up to this many objects, a bulk task reports each; past it, only its prefix.
FEW = 10
#: A flow run's reads that its later writes list as upstream assets (the first ones).
READS_KEPT = 50


def object_uri(bucket_uri: str, key: str) -> str:
    """The URI that names ``key`` of the bucket at ``bucket_uri`` in events and assets."""
    return f"{bucket_uri.rstrip('/')}/{key}"


def written(
    b: t4.Bucket,
    info: ObjectInfo | Mapping[str, Any],
    user_meta: Mapping[str, Any] | None,
    upstream: set[Asset] | None = None,
) -> None:
    """One object was written: its event, and its materialized asset inside a task run;
    ``upstream``, when given, is what it was made from alone (not all its task read)."""
    found = info.as_dict() if isinstance(info, ObjectInfo) else dict(info)
    facts = {"size": found["size"], "etag": found["etag"], "user_meta": dict(user_meta or {})}
    _event("t4.object.written", b.uri, found["key"], facts)
    if upstream is None:
        _materialized(b.uri, [found["key"]], facts)
    else:
        _materialized_from(b.uri, found["key"], facts, upstream)


def deleted(b: t4.Bucket, key: str) -> None:
    """One object was deleted: its event, and its asset marked deleted inside a task run."""
    _event("t4.object.deleted", b.uri, key, {})
    _materialized(b.uri, [key], {"deleted": True})


def written_many(
    b: t4.Bucket,
    summary: Mapping[str, Any],
    prefix: str,
    *,
    removed: bool = False,
    user_meta: Mapping[str, Any] | None = None,
    upstream: Mapping[str, set[Asset]] | None = None,
) -> None:
    """A bulk task wrote ``summary["transferred"]`` (or, ``removed``, deleted ``"deleted"``) under
    ``prefix``: one ``t4.bulk.completed``; per-object events and assets up to ``FEW``, else
    one asset for the prefix.

    ``user_meta`` is what the task applied to every object; without it, each of the few
    objects' metadata is read back (at most ``FEW`` listings and heads). ``upstream`` maps
    each of the few keys to what it was made from (a mirror's source of each file).
    """
    keys = list(summary["deleted"] if removed else summary["transferred"])
    counts = {
        "operation": summary["operation"],
        "transferred": len(summary["transferred"]),
        "deleted": len(summary.get("deleted", [])),
        "skipped": len(summary["skipped"]),
        "failed": len(summary["failed"]),
        "bytes": summary["bytes"],
    }
    _event("t4.bulk.completed", b.uri, prefix, counts, label="t4.prefix")
    if not keys:
        return
    if len(keys) > FEW:
        _materialized(b.uri, [prefix], {**counts, "deleted": removed})
        return
    for key in keys:
        if removed:
            deleted(b, key)
            continue
        try:
            info = next((i for i in b.ls(key) if i.key == key), None)
            meta = user_meta if user_meta is not None else b.get_meta(key).get("user_meta")
        except T4Error as err:  # the write is done; a lost report must not redo it
            log.warning("no event for %s: %s", object_uri(b.uri, key), err)
            continue
        if info is not None:
            written(b, info, meta, None if upstream is None else upstream.get(key, set()))


def read(b: t4.Bucket, keys: Iterable[str], prefix: str) -> None:
    """Inside a task run, declare what the task read as upstream assets: each key, or past
    ``FEW`` keys, the ``prefix`` they were read from."""
    ctx = AssetContext.get()
    keys = list(keys)
    if ctx is None or not keys:
        return
    if len(keys) > FEW:
        keys = [prefix]
    reads = _flow_run_reads()
    for key in keys:
        asset = _asset(b.uri, key)
        if asset is not None:
            ctx.direct_asset_dependencies.add(asset)
            if reads is not None and len(reads) < READS_KEPT:
                reads.add(asset)
    ctx.update_tracked_assets()


def mirrored(
    summary: Mapping[str, Any],
    source: tuple[BucketRef, str] | None,
    destination: tuple[BucketRef, str] | None,
    *,
    removed: bool = False,
) -> None:
    """A mirror chunk copied (or, ``removed``, deleted) ``summary``'s relative paths from
    ``source`` to ``destination``, each a (bucket, key prefix) or ``None`` for a folder: the
    destination's events and assets as ``written_many``, the source's upstream assets.

    Bucket to bucket, up to ``FEW`` files, each copy's upstream is its own source (and what
    the flow run read before), not every file of the chunk: ``m/a.txt <- src/a.txt``. Past
    ``FEW``, the destination prefix's upstream is the source prefix."""
    before = set(_flow_run_reads() or ())
    pairs: dict[str, Asset | None] = {}
    if source is not None:
        ref, prefix = source
        rels = list(summary["transferred"]) + list(summary["skipped"])
        with open_bucket(ref) as b:
            read(b, [prefix + r for r in rels], prefix)
            if destination is not None and len(summary["transferred"]) <= FEW:
                pairs = {r: _asset(b.uri, prefix + r) for r in summary["transferred"]}
    if destination is not None:
        ref, prefix = destination
        keyed = {
            **summary,
            "transferred": [prefix + r for r in summary["transferred"]],
            "deleted": [prefix + r for r in summary["deleted"]],
        }
        made_from = {prefix + r: before | ({a} if a else set()) for r, a in pairs.items()}
        with open_bucket(ref) as b:
            written_many(b, keyed, prefix, removed=removed, upstream=made_from or None)


def package_pushed(b: t4.Bucket, name: str, summary: Mapping[str, Any]) -> None:
    """A new version of package ``name`` was pushed to the registry ``b``: a written event
    and a materialized asset for its manifest (``.quilt/packages/TOP_HASH``), with the
    package's name, entry count, size and metadata."""
    key = f".quilt/packages/{summary['top_hash']}"
    facts = {
        "package": f"{name}@{summary['short_hash']}",
        "entries": summary["entries"],
        "size": summary["size"],
        "user_meta": dict(summary.get("meta") or {}),
    }
    _event("t4.object.written", b.uri, key, facts)
    _materialized(b.uri, [key], facts)


def watched(bucket_uri: str, change: str, info: Mapping[str, Any]) -> None:
    """An object that another tool wrote (``change``: ``new`` or ``changed``) or deleted
    (``deleted``), as ``watch_prefix`` saw it: the same events as a write or delete here."""
    name = "t4.object.deleted" if change == "deleted" else "t4.object.written"
    facts = {"change": change, "size": info.get("size"), "etag": info.get("etag")}
    _event(name, bucket_uri, str(info["key"]), facts)


def watched_batch(bucket_uri: str, prefix: str, change: str, keys: list[str]) -> None:
    """Objects under ``prefix`` that another tool wrote or deleted (``change``, one kind),
    as ``watch_prefix`` saw them past its per-object limit: one ``t4.objects.written`` (or
    ``t4.objects.deleted``) for the prefix, whose payload names them all."""
    name = "t4.objects.deleted" if change == "deleted" else "t4.objects.written"
    facts = {"change": change, "count": len(keys), "first": keys[0], "last": keys[-1],
             "keys": keys}  # fmt: skip
    _event(name, bucket_uri, prefix, facts, label="t4.prefix")


def _event(
    name: str, bucket_uri: str, key: str, payload: dict[str, Any], *, label: str = "t4.key"
) -> None:
    resource = {
        "prefect.resource.id": object_uri(bucket_uri, key),
        "prefect.resource.name": key or bucket_uri,
        "t4.bucket": bucket_uri,
        label: key,
    }
    try:
        emit_event(name, resource=resource, payload=payload)
    except Exception as err:  # telling Prefect must never fail the write it reports on
        log.warning("event %s for %s not sent: %s", name, resource["prefect.resource.id"], err)


def _materialized(bucket_uri: str, keys: list[str], metadata: dict[str, Any]) -> None:
    ctx = AssetContext.get()
    if ctx is None:
        return
    for key in keys:
        asset = _asset(bucket_uri, key)
        if asset is None:
            continue
        ctx.downstream_assets.add(asset)
        ctx.add_asset_metadata(asset.key, metadata)
    ctx.upstream_assets.update((_flow_run_reads() or set()) - ctx.downstream_assets)
    ctx.update_tracked_assets()


def _materialized_from(
    bucket_uri: str, key: str, metadata: dict[str, Any], upstream: set[Asset]
) -> None:
    """``key`` materialized from ``upstream`` alone: its own events now, as Prefect emits
    them (Prefect gives every asset of a task run all of the run's upstream), and it is
    what the task run passes on to the tasks that take its result."""
    ctx, flow_ctx = AssetContext.get(), FlowRunContext.get()
    asset = _asset(bucket_uri, key)
    if ctx is None or asset is None:
        return
    own = AssetContext(
        downstream_assets={asset},
        upstream_assets=upstream - {asset},
        materialized_by=ctx.materialized_by,
        task_run_id=ctx.task_run_id,
        materialization_metadata={asset.key: metadata},
    )
    own.emit_events(Completed())
    if flow_ctx is not None and ctx.task_run_id is not None:  # its outputs, not its inputs
        inputs = ctx.upstream_assets | ctx.direct_asset_dependencies
        passed = flow_ctx.task_run_assets.get(ctx.task_run_id, set()) - inputs
        flow_ctx.task_run_assets[ctx.task_run_id] = passed | {asset}


def _flow_run_reads() -> set[Asset] | None:
    """What this flow run has read so far, kept in its own run context (beside Prefect's
    record of each task run's assets, under a key derived from the flow run's id), so that it
    ends with the run; ``None`` outside a flow run."""
    flow_ctx = FlowRunContext.get()
    if flow_ctx is None or flow_ctx.flow_run is None:
        return None
    return flow_ctx.task_run_assets.setdefault(uuid5(flow_ctx.flow_run.id, "t4.reads"), set())


def _asset(bucket_uri: str, key: str) -> Asset | None:
    """The asset for ``key``; a key Prefect cannot hold as an asset key (spaces, ``%``...)
    is named by its closest folder that it can, else it has none."""
    while True:
        uri = object_uri(bucket_uri, key)
        try:
            validate_valid_asset_key(uri)
        except ValueError:
            if not key.rstrip("/"):
                log.debug("no asset key for %s", uri)
                return None
            key = key.rstrip("/").rpartition("/")[0]
            key = key + "/" if key else ""
            continue
        return Asset(key=uri, properties=AssetProperties(name=key or bucket_uri))
