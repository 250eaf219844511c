"""Prefect tasks for packages: build, push, browse and install, each retrying only transient
failures (``t4flows.policy``) and safe to run twice.

A registry is anything a bucket task takes (``s3://name``, a folder, ``"t4-bucket/NAME"``,
a ``T4BucketBlock``); a source is a local folder or an ``s3://bucket/prefix/``.

Example:
    >>> from prefect import flow
    >>> @flow
    ... def nightly() -> None:
    ...     push_package("./data", "team/data", "s3://lake", message="nightly")
"""

from __future__ import annotations

from typing import Any

from prefect import task

import t4
from t4.packages import publish, snapshot
from t4flows import lineage
from t4flows.blocks import BucketRef, open_bucket
from t4flows.policy import retry_options

__all__ = ["browse_package", "build_package", "install_package", "push_package", "summary_of"]

_RETRY = retry_options()


def summary_of(name: str, pkg: t4.Package) -> dict[str, Any]:
    """What a task returns about a package version: JSON-friendly, without the entries."""
    top = pkg.top_hash
    entries = [entry for _, entry in pkg.walk()]
    return {
        "name": name,
        "top_hash": top,
        "short_hash": top[:7],
        "ref": f"{name}@{top[:7]}",
        "message": pkg.message,
        "meta": pkg.meta,
        "entries": len(entries),
        "size": sum(entry.size for entry in entries),
    }


@task(name="build_package", **_RETRY)
def build_package(
    source: str, name: str, registry: BucketRef, message: str | None = None, meta: Any = None
) -> dict[str, Any]:
    """Record a package of ``source`` as it is (files stay where they are) in ``registry``.

    Safe to run twice: the same files, metadata and message give the same top hash, and
    writing the same version again changes nothing a reader sees.

    Example:
        >>> build_package("./data", "team/data", "./registry")["ref"]  # doctest: +SKIP
        'team/data@2eafad3'
    """
    pkg = snapshot(source, meta)
    with open_bucket(registry) as reg:
        pkg.build(name, registry=reg, message=message)
    return summary_of(name, pkg)


@task(name="push_package", **_RETRY)
def push_package(
    source: str,
    name: str,
    registry: BucketRef,
    message: str | None = None,
    meta: Any = None,
    force: bool = False,
) -> dict[str, Any]:
    """Push a new version of ``name`` made from ``source`` (each file's helium user_meta as
    its entry metadata); returns its summary, ``pushed`` and the diff against the previous
    version (``added``, ``modified``, ``deleted`` logical keys).

    Safe to run twice: a version whose top hash is already ``latest`` is not pushed again
    (``pushed`` is then False), and unchanged files are not uploaded again.

    Example:
        >>> push_package("./data", "team/data", "s3://lake")["pushed"]  # doctest: +SKIP
        True
    """
    with open_bucket(registry) as reg:
        pushed, previous = publish(source, name, reg, message, meta, force)
        before = previous.top_hash if previous is not None else None
        if pushed.top_hash != before:
            lineage.package_pushed(reg, name, summary_of(name, pushed))
    added, modified, deleted = (previous or t4.Package()).diff(pushed)
    return {
        **summary_of(name, pushed),
        "pushed": pushed.top_hash != before,
        "previous": before,
        "added": added,
        "modified": modified,
        "deleted": deleted,
    }


@task(name="browse_package", **_RETRY)
def browse_package(name: str, registry: BucketRef, top_hash: str | None = None) -> dict[str, Any]:
    """A version's summary and its entries (logical key, size, hash, meta, URL).

    Safe to run twice: it only reads.

    Example:
        >>> browse_package("team/data", "s3://lake")["entries"]  # doctest: +SKIP
        2000
    """
    with open_bucket(registry) as reg:
        pkg = t4.Package.browse(name, reg, top_hash)
    listing = [
        {"logical_key": lk, "size": e.size, "hash": e.hash, "meta": e.meta, "url": e.get()}
        for lk, e in pkg.walk()
    ]
    return {**summary_of(name, pkg), "listing": listing}


@task(name="install_package", **_RETRY)
def install_package(
    name: str, registry: BucketRef, dest: str, top_hash: str | None = None
) -> dict[str, Any]:
    """Copy a version's files to ``dest`` and record it in the local registry.

    Safe to run twice: each file is written whole or not at all, so a rerun leaves the
    same files.

    Example:
        >>> install_package("team/data", "s3://lake", "./data")["entries"]  # doctest: +SKIP
        2000
    """
    with open_bucket(registry) as reg:
        pkg = t4.Package.install(name, reg, dest=dest, top_hash=top_hash)
    return {**summary_of(name, pkg), "dest": dest}
