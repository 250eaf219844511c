"""Publish a folder or a bucket prefix as a new version of a package, and report it.

Snapshots ``source`` (each file's helium user_meta becomes its entry metadata), pushes it
to ``registry`` as ``name`` (nothing is pushed when the snapshot is already ``latest``), and
publishes a markdown artifact: ``name@short_hash``, the entry count, the size and the diff
against the previous version.

Example:
    >>> publish_package("./data", "team/data", "s3://lake", message="nightly")  # doctest: +SKIP

Command line::

    python -m flows.publish_package ./data team/data s3://lake --message nightly
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from flows._cli import parser_for, run_from_cli
from t4flows.blocks import BucketRef, bucket_label
from t4flows.packages import push_package

__all__ = ["main", "publish_package"]

_LISTED = 20


@flow(name="publish_package")
def publish_package(
    source: str,
    name: str,
    registry: BucketRef,
    message: str | None = None,
    meta: dict[str, Any] | None = None,
    report_key: str | None = "publish-package",
) -> dict[str, Any]:
    """Snapshot ``source`` into a new version of package ``name`` in ``registry``.

    Example:
        >>> publish_package("s3://lake/published/", "team/published", "s3://lake")  # doctest: +SKIP
        {'ref': 'team/published@2eafad3', 'pushed': True, 'entries': 12, ...}

    Args:
        source: a local folder or ``s3://bucket/prefix/``.
        name: the package name, ``user/package``.
        registry: ``s3://name``, a folder, ``t4-bucket/NAME`` or a block.
        message: the version's message; meta: the package's metadata.
        report_key: the key of the report artifact.

    Returns:
        The push summary: ``ref`` (``name@short_hash``), ``top_hash``, ``pushed``,
        ``entries``, ``size``, ``previous`` and the ``added``/``modified``/``deleted`` keys.
    """
    result: dict[str, Any] = push_package(source, name, registry, message=message, meta=meta)
    create_markdown_artifact(
        _report(result, bucket_label(registry)),
        key=report_key,
        description=f"{result['ref']}: {result['entries']} entries",
    )
    return result


def _report(result: dict[str, Any], registry: str) -> str:
    state = "pushed" if result["pushed"] else "already latest: nothing pushed"
    lines = [
        f"# {result['ref']}",
        "",
        f"{state} to {registry}",
        "",
        "| entries | size (bytes) | previous | added | modified | deleted |",
        "|---|---|---|---|---|---|",
        f"| {result['entries']} | {result['size']} | {(result['previous'] or 'none')[:7]} "
        f"| {len(result['added'])} | {len(result['modified'])} | {len(result['deleted'])} |",
    ]
    for what in ("added", "modified", "deleted"):
        keys = result[what]
        if keys:
            more = f" (and {len(keys) - _LISTED} more)" if len(keys) > _LISTED else ""
            shown = ", ".join(f"`{k}`" for k in keys[:_LISTED])
            lines += ["", f"**{what}**: {shown}{more}"]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m flows.publish_package SOURCE NAME REGISTRY [--message M] [--meta JSON]``"""
    parser = parser_for(publish_package)
    parser.add_argument("source", help="a local folder or s3://bucket/prefix/")
    parser.add_argument("name", help="the package name, user/package")
    parser.add_argument("registry", help="s3://name, a folder or t4-bucket/NAME")
    parser.add_argument("--message", default=None, help="the version's message")
    parser.add_argument("--meta", type=json.loads, default=None, help="package metadata (JSON)")
    return run_from_cli(publish_package, parser, argv)


if __name__ == "__main__":
    sys.exit(main())
