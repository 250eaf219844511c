"""Annotating files before they are published: derive facts, merge what the user says,
validate, then publish in chunk tasks.

Metadata for a file, from weakest to strongest: the flow's ``meta`` defaults, the manifest's
row, the sidecar ``NAME.meta.json`` (or ``STEM.meta.json``), then the derived facts (``size``,
``sha256``, ``media_type``; ``rows``, ``columns``, ``schema`` for tables), which are facts
and so always win.

Example:
    >>> derive(Path("data/cities.csv"))  # doctest: +SKIP
    {'size': 120, 'sha256': '…', 'media_type': 'text/csv', 'rows': 3, 'columns': [...], ...}
"""

from __future__ import annotations

import csv
import hashlib
import json
import mimetypes
import posixpath
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from prefect import task

import t4
from t4 import formats
from t4.errors import LocalPathError, MetadataError, T4Error, TransientError
from t4.walk import walk
from t4flows import lineage
from t4flows.blocks import BucketRef, open_bucket
from t4flows.policy import retry_options

__all__ = [
    "MANIFEST_FORMAT",
    "SIDECAR_SUFFIX",
    "annotate_chunk",
    "derive",
    "publish_chunk",
    "read_manifest",
    "sidecar_for",
    "source_files",
]

SIDECAR_SUFFIX = ".meta.json"
#: What a manifest holds (shown by ``--help`` and in the README).
MANIFEST_FORMAT = (
    "A manifest gives metadata per file. CSV: a 'path' column, each file's path relative to "
    "the source folder (with /), and one column per metadata field; an empty cell sets "
    'nothing, and every value is text. JSON: {"rel/path": {"field": value}} or '
    '[{"path": "rel/path", "field": value}], values of any JSON type. A row overrides '
    "the defaults, a NAME.meta.json sidecar overrides the row, and the derived facts (size, "
    "sha256, media_type; rows, columns, schema for tables) override all. The manifest itself "
    "is not published."
)
#: Derived table descriptions are trimmed to keep metadata well under S3's 2 KiB.
_META_BUDGET = 1500


def source_files(source_dir: Path, manifest: Path | None = None) -> list[str]:
    """Relative paths of the files to publish: what ``t4.walk`` finds (the walker ``put_dir``
    uses; a missing folder is a ``LocalPathError``), less sidecars and the manifest."""
    files = walk(source_dir)
    skip = manifest.resolve() if manifest else None
    inside = skip is not None and skip.is_relative_to(source_dir.resolve())
    return [
        f.rel
        for f in files
        if not f.rel.endswith(SIDECAR_SUFFIX) and not (inside and f.path.resolve() == skip)
    ]


def _table_facts(path: Path) -> dict[str, Any]:
    kind = formats.format_name_for_key(path.name)
    if kind == "parquet" and path.suffix.lower() == ".parquet":  # the footer, not the rows
        import pyarrow.parquet as pq

        meta = pq.ParquetFile(path).metadata
        schema = meta.schema.to_arrow_schema()
        return {
            "rows": meta.num_rows,
            "columns": schema.names,
            "schema": {f.name: str(f.type) for f in schema},
        }
    if kind in ("csv", "parquet"):  # read as t4 reads it: separator and compression by name
        frame: Any = formats.deserialize(path.read_bytes(), path.name, None)
        return {
            "rows": len(frame),
            "columns": [str(c) for c in frame.columns],
            "schema": {str(c): str(t) for c, t in frame.dtypes.items()},
        }
    return {}


def _fit(facts: dict[str, Any]) -> dict[str, Any]:
    """Drop the schema, then the column names, if they would make the metadata too large."""
    for name in ("schema", "columns"):
        if len(json.dumps(facts)) <= _META_BUDGET:
            break
        if name in facts:
            facts[f"{name}_omitted"] = len(facts.pop(name))
    return facts


def derive(path: Path) -> dict[str, Any]:
    """Facts about a file: size, sha256, media type; rows, columns and schema for tables.

    Raises ``ValueError`` (or an ``OSError``) for a table that does not parse.
    """
    with path.open("rb") as src:
        sha = hashlib.file_digest(src, "sha256").hexdigest()
    media, _ = mimetypes.guess_type(path.name)
    facts = {
        "size": path.stat().st_size,
        "sha256": sha,
        "media_type": media or "application/octet-stream",
    }
    facts.update(_table_facts(path))
    return _fit(facts)


def sidecar_for(path: Path) -> dict[str, Any]:
    """The user metadata in ``NAME.meta.json`` (or ``STEM.meta.json``) beside ``path``."""
    for candidate in (
        path.with_name(path.name + SIDECAR_SUFFIX),
        path.with_name(path.stem + SIDECAR_SUFFIX),
    ):
        if candidate.is_file():
            value = _json_of(candidate, "sidecar")
            if not isinstance(value, dict):
                raise MetadataError(f"sidecar {candidate} must hold a JSON object of fields")
            return value
    return {}


def _json_of(path: Path, what: str) -> Any:
    """The JSON in a manifest or sidecar file; what is wrong with it, as a ``MetadataError``
    naming the file, line and column (a missing manifest is a ``LocalPathError``)."""
    try:
        return json.loads(path.read_text("utf-8"))
    except FileNotFoundError as err:
        raise LocalPathError(f"the {what} {path} does not exist") from err
    except json.JSONDecodeError as err:
        raise MetadataError(
            f"the {what} {path} is not valid JSON: {err.msg} at line {err.lineno} column "
            f"{err.colno}"
        ) from err
    except UnicodeDecodeError as err:
        raise MetadataError(f"the {what} {path} is not UTF-8 text ({err.reason})") from err


def read_manifest(path: Path) -> dict[str, dict[str, Any]]:
    """Per-file metadata from a manifest, by path relative to the source folder (the format:
    ``MANIFEST_FORMAT``)."""
    rows = _csv_rows(path) if path.suffix.lower() == ".csv" else _json_of(path, "manifest")
    shapeless = MetadataError(
        f"the manifest {path} does not hold per-file metadata. {MANIFEST_FORMAT}"
    )
    if isinstance(rows, dict):
        if not all(isinstance(fields, dict) for fields in rows.values()):
            raise shapeless
        return {str(rel): dict(fields) for rel, fields in rows.items()}
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise shapeless
    found: dict[str, dict[str, Any]] = {}
    for row in rows:
        rel = str(row.pop("path", "") or "")
        if not rel:
            raise MetadataError(f"the manifest {path}: every row needs a 'path'")
        found[rel] = {k: v for k, v in row.items() if v not in ("", None)}
    return found


def _csv_rows(path: Path) -> list[dict[str, Any]]:
    try:
        with path.open(newline="", encoding="utf-8") as src:
            return list(csv.DictReader(src))
    except FileNotFoundError as err:
        raise LocalPathError(f"the manifest {path} does not exist") from err
    except (csv.Error, UnicodeDecodeError) as err:
        raise MetadataError(f"the manifest {path} is not a readable CSV file ({err})") from err


def _missing(meta: dict[str, Any], required: list[str]) -> list[str]:
    return [name for name in required if meta.get(name) in (None, "", [], {})]


@task(name="annotate_chunk", **retry_options())
def annotate_chunk(
    source_dir: str,
    rels: list[str],
    prefix: str,
    manifest: dict[str, dict[str, Any]] | None = None,
    defaults: dict[str, Any] | None = None,
    required: list[str] | None = None,
) -> list[dict[str, Any]]:
    """Annotate and validate files: one record per file with ``rel``, ``key``, ``meta`` and
    ``problems`` (a file with problems is reported, not published).

    Safe to run twice: it only reads the files.

    Example:
        >>> annotate_chunk("./data", ["a.csv"], "raw/", required=["owner"])  # doctest: +SKIP
        [{'rel': 'a.csv', 'key': 'raw/a.csv', 'meta': {...}, 'problems': ['missing: owner']}]
    """
    records = []
    for rel in rels:
        path = Path(source_dir, rel)
        record: dict[str, Any] = {"rel": rel, "key": prefix + rel, "meta": None, "problems": []}
        try:
            user = {**(defaults or {}), **(manifest or {}).get(rel, {}), **sidecar_for(path)}
            meta = {**user, **derive(path)}
        except (ValueError, OSError) as err:
            record["problems"].append(f"unreadable: {type(err).__name__}: {err}")
        else:
            record["meta"] = meta
            record["problems"] = [f"missing: {name}" for name in _missing(meta, required or [])]
        records.append(record)
    return records


@task(name="publish_chunk", **retry_options())
def publish_chunk(
    bucket: BucketRef, source_dir: str, records: list[dict[str, Any]], concurrency: int = 8
) -> dict[str, str]:
    """Upload each valid record's file with its metadata; returns ``{key: outcome}`` where
    the outcome is ``published``, ``unchanged`` or ``failed: why``.

    Safe to run twice: an unchanged file with unchanged metadata is not sent again; changed
    metadata alone is replaced in place. Transient failures raise, so the chunk is retried.

    Example:
        >>> publish_chunk("s3://lake", "./data", records)  # doctest: +SKIP
        {'raw/a.csv': 'published'}
    """
    outcomes: dict[str, str] = {}
    lock = threading.Lock()

    def note(key: str, outcome: str, _moved: int) -> None:
        if outcome != "failed":  # a failure is recorded with its reason by _publish_one
            with lock:
                outcomes[key] = "unchanged" if outcome == "skipped" else "published"

    with open_bucket(bucket, callback=note) as b:

        def one(record: dict[str, Any]) -> None:
            _publish_one(b, source_dir, record, outcomes, lock)

        with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
            list(pool.map(one, records))
        lineage.written_many(b, _as_summary(records, outcomes), _shared_prefix(records))
    return outcomes


def _as_summary(records: list[dict[str, Any]], outcomes: dict[str, str]) -> dict[str, Any]:
    published = sorted(k for k, o in outcomes.items() if o == "published")
    sizes = {r["key"]: r["meta"].get("size", 0) for r in records}
    return {
        "operation": "publish",
        "transferred": published,
        "skipped": sorted(k for k, o in outcomes.items() if o == "unchanged"),
        "failed": {k: o for k, o in outcomes.items() if o.startswith("failed")},
        "bytes": sum(sizes.get(k, 0) for k in published),
    }


def _shared_prefix(records: list[dict[str, Any]]) -> str:
    if not records:
        return ""
    shared = posixpath.commonpath([posixpath.dirname(r["key"]) for r in records])
    return shared + "/" if shared else ""


def _publish_one(
    b: t4.Bucket, source_dir: str, record: dict[str, Any], outcomes: dict[str, str], lock: Any
) -> None:
    try:
        b.put_file(record["key"], Path(source_dir, record["rel"]), record["meta"])
    except TransientError:
        raise
    except (T4Error, OSError) as err:
        with lock:
            outcomes[record["key"]] = f"failed: {type(err).__name__}: {err}"
