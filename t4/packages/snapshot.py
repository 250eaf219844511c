"""A package from a folder or a bucket prefix as it is now, each entry carrying the helium
user metadata of its file (the extended attribute) or object (its ``x-amz-meta-helium``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from t4 import meta as helium
from t4.errors import PackageNotFoundError
from t4.packages.manifest import PhysicalKey, Record
from t4.packages.package import Package, folder_records
from t4.packages.stores import Stores, parallel

__all__ = ["publish", "snapshot"]


def snapshot(source: str | Path, meta: Any = None) -> Package:
    """Every file under ``source`` (a local folder or ``s3://bucket/prefix/``, each object's
    current version pinned), with its helium ``user_meta`` as entry metadata; ``meta``, if
    given, becomes the package's metadata.

    Example:
        >>> pkg = snapshot("s3://lake/published/", meta={"run": 7})  # doctest: +SKIP
        >>> pkg.push("team/published", registry="s3://lake", message="nightly")  # doctest: +SKIP
    """
    pkg = Package()
    if meta is not None:
        pkg.set_meta(meta)
    records = dict(folder_records(str(source)))
    with Stores() as stores:

        def carried(record: Record) -> None:
            pk = PhysicalKey.from_url(record.physical_key)
            if pk.bucket is None:
                found = helium.read_xattr(Path(pk.path)) or {}
            else:
                found = stores.bucket(pk.bucket).get_meta(pk.path, pk.version_id)
            if found.get("user_meta"):
                record.meta["user_meta"] = found["user_meta"]

        parallel(carried, records.values())
    pkg._entries = records
    return pkg


def publish(
    source: str | Path,
    name: str,
    registry: Any = None,
    message: str | None = None,
    meta: Any = None,
    force: bool = False,
    workflow: Any = ...,
) -> tuple[Package, Package | None]:
    """Push ``snapshot(source, meta)`` as the next version of ``name``: it replaces whatever
    is ``latest`` now (a conflict only if ``latest`` moves during the push, unless
    ``force``). Returns the pushed package and the previous latest (None for a new name).

    Example:
        >>> pushed, previous = publish("./data", "team/data", "s3://lake")  # doctest: +SKIP
        >>> previous.diff(pushed)  # doctest: +SKIP
        (['new.csv'], [], [])
    """
    pkg = snapshot(source, meta)
    try:
        previous: Package | None = Package.browse(name, registry)
    except PackageNotFoundError:
        previous = None
    if previous is not None:
        pkg._origin = previous._origin
    pushed = pkg.push(name, registry=registry, message=message, force=force, workflow=workflow)
    return pushed, previous
