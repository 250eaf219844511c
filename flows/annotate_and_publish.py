"""Annotate every file of a folder, validate it, publish it with its metadata, report.

For each file: derive facts (size, sha256, media type; rows, columns and schema for
tables), merge what the user supplies (``defaults``, a CSV/JSON ``manifest``, a sidecar
``NAME.meta.json``), check the ``required`` fields, and publish the valid ones under
``prefix``. Writes are indexed as they happen, so the files are searchable at once. A file
that fails validation is reported, not published.

Example:
    >>> annotate_and_publish("./data", "s3://lake", "raw/", required=["owner"])  # doctest: +SKIP

Command line::

    python -m flows.annotate_and_publish ./data s3://lake --prefix raw/ --required owner
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from prefect import flow
from prefect.artifacts import create_table_artifact
from prefect.logging import get_run_logger

from flows._cli import parser_for, run_from_cli
from t4.errors import TransferError
from t4.keys import as_prefix
from t4flows.annotate import (
    MANIFEST_FORMAT,
    annotate_chunk,
    publish_chunk,
    read_manifest,
    source_files,
)
from t4flows.blocks import BucketRef, bucket_label
from t4flows.bulk import bounded_map
from t4flows.tasks import fetch

__all__ = ["annotate_and_publish", "main"]


@flow(name="annotate_and_publish")
def annotate_and_publish(
    source_dir: str,
    bucket: BucketRef,
    prefix: str = "",
    required: list[str] | None = None,
    manifest: str | None = None,
    defaults: dict[str, Any] | None = None,
    chunk_size: int = 200,
    parallel: int = 4,
    report_key: str | None = "annotate-and-publish",
    source_bucket: BucketRef | None = None,
) -> dict[str, Any]:
    """Publish the files of ``source_dir`` to ``bucket`` under ``prefix``, annotated.

    Example:
        >>> annotate_and_publish("./incoming", "s3://lake", "published/",  # doctest: +SKIP
        ...                      required=["owner"], manifest="./incoming/manifest.csv")
        {'published': ['published/a.csv'], 'unchanged': [], 'invalid': {}, 'failed': {}}

    Args:
        source_dir: the local folder to publish; with ``source_bucket``, the key prefix of
            that bucket whose objects are downloaded (``fetch``) and published.
        bucket: ``s3://name``, ``file:///abs/folder``, ``t4-bucket/NAME`` or a block.
        prefix: the key prefix to publish under.
        required: metadata fields every file must have (after merging) to be published.
        manifest: a CSV (``path`` column + fields) or JSON file of per-file metadata.
        defaults: metadata every file starts from.
        chunk_size: files per task run; parallel: task runs at once.
        report_key: the key of the report artifact.
        source_bucket: publish from this bucket instead of a local folder (as a deployment
            triggered by objects landing under ``source_dir`` does).

    Returns:
        ``published``, ``unchanged`` (keys), ``invalid`` (file -> problems), ``failed``
        (key -> error). Raises ``TransferError`` after the report if any upload failed.
    """
    with contextlib.ExitStack() as stack:
        root = Path(source_dir).expanduser()
        if source_bucket is not None:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="t4flows-")))
            fetch(source_bucket, as_prefix(source_dir) or "/", str(root))
        manifest_path = Path(manifest).expanduser() if manifest else None
        by_file = read_manifest(manifest_path) if manifest_path else {}
        rels = source_files(root, manifest_path)
        records = _annotate(root, rels, as_prefix(prefix), by_file, defaults, required, chunk_size,
                            parallel)  # fmt: skip
        valid = [r for r in records if not r["problems"]]
        outcomes: dict[str, str] = {}
        for part in _raise_first(bounded_map(
            publish_chunk, _split(valid, chunk_size), parallel=parallel, argument="records",
            bucket=bucket, source_dir=str(root),
        )):  # fmt: skip
            outcomes.update(part)
        result = _result(records, outcomes)
        _report(bucket_label(bucket), records, outcomes, result, report_key)
        if result["failed"]:
            raise TransferError(
                f"annotate_and_publish: {len(result['failed'])} files failed to "
                "publish; see the report artifact",
                bucket=bucket_label(bucket),
            )
        return result


def _split(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _annotate(
    root: Path,
    rels: list[str],
    prefix: str,
    by_file: dict[str, dict[str, Any]],
    defaults: dict[str, Any] | None,
    required: list[str] | None,
    chunk_size: int,
    parallel: int,
) -> list[dict[str, Any]]:
    """Annotation records for every file, computed in chunk tasks."""
    chunks = _split(rels, chunk_size)
    parts = _raise_first(bounded_map(
        annotate_chunk, chunks, parallel=parallel, argument="rels", source_dir=str(root),
        prefix=prefix, defaults=defaults, required=required, manifest=by_file,
    ))  # fmt: skip
    return [rec for part in parts for rec in part]


def _raise_first(results: list[Any]) -> list[Any]:
    for out in results:
        if isinstance(out, BaseException):
            raise out
    return results


def _result(records: list[dict[str, Any]], outcomes: dict[str, str]) -> dict[str, Any]:
    return {
        "published": sorted(k for k, o in outcomes.items() if o == "published"),
        "unchanged": sorted(k for k, o in outcomes.items() if o == "unchanged"),
        "invalid": {r["rel"]: r["problems"] for r in records if r["problems"]},
        "failed": {
            k: o.removeprefix("failed: ") for k, o in outcomes.items() if o.startswith("failed")
        },
    }


def _report(
    label: str,
    records: list[dict[str, Any]],
    outcomes: dict[str, str],
    result: dict[str, Any],
    key: str | None,
) -> None:
    rows = []
    for rec in records:
        status = "invalid" if rec["problems"] else outcomes.get(rec["key"], "failed: no outcome")
        detail = "; ".join(rec["problems"]) or status.partition(": ")[2]
        rows.append(
            {
                "file": rec["rel"],
                "key": rec["key"],
                "status": status.partition(":")[0],
                "detail": detail,
            }
        )
    line = (
        f"annotate_and_publish {label}: {len(result['published'])} published, "
        f"{len(result['unchanged'])} unchanged, {len(result['invalid'])} invalid, "
        f"{len(result['failed'])} failed"
    )
    get_run_logger().info("%s", line)
    create_table_artifact(rows, key=key, description=line)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m flows.annotate_and_publish SOURCE_DIR BUCKET [--prefix P] ...``"""
    parser = parser_for(annotate_and_publish)
    parser.add_argument("source_dir", help="the local folder to publish")
    parser.add_argument("bucket", help="s3://name, file:///abs/folder or t4-bucket/NAME")
    parser.add_argument("--prefix", default="", help="key prefix to publish under")
    parser.add_argument("--required", action="append", metavar="FIELD", help="required field")
    parser.add_argument("--manifest", help="CSV or JSON file of per-file metadata (below)")
    parser.epilog = textwrap.fill(MANIFEST_FORMAT, 79)
    return run_from_cli(annotate_and_publish, parser, argv)


if __name__ == "__main__":
    sys.exit(main())
