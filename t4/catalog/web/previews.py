"""Previews that read only what they show: the first 64 KiB of text, Markdown and JSON,
the first rows of a CSV/TSV (from its first 64 KiB) or of a Parquet file (its footer and
first row group, through ``Bucket.open``'s seekable file), images inline, ``.gz`` unpacked
on the way (still only as much as is shown)."""

from __future__ import annotations

import csv
import gzip
import io
import json
import zlib
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import IO, Any

from markdown_it import MarkdownIt

from t4.bucket import Bucket
from t4.errors import T4Error

__all__ = ["IMAGES", "Preview", "markdown", "preview"]

#: What a text preview reads, at most (after unpacking a ``.gz``).
TEXT_BYTES = 64 * 1024
#: Rows a table preview shows.
ROWS = 50
#: Image types shown inline (never SVG: it can carry script), by extension.
IMAGES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
}
_TEXT = {".txt", ".log", ".py", ".yaml", ".yml", ".toml", ".ini", ".cfg", ".sh", ".xml", ".html"}


@dataclass
class Preview:
    """What the object page shows: ``kind`` is ``text``, ``json``, ``markdown``, ``table``,
    ``image`` or ``none``; ``note`` says what was left out or why there is none."""

    kind: str
    text: str = ""
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    note: str = ""


def markdown(text: str) -> str:
    """Markdown as HTML with raw HTML escaped, not passed through, and links limited to
    safe schemes (markdown-it's ``js-default``: no ``javascript:``, ``vbscript:``, ``file:``
    or ``data:`` other than images)."""
    return MarkdownIt("js-default", {"html": False, "linkify": False}).enable("table").render(text)


def preview(bucket: Bucket, key: str, size: int, version_id: str | None = None) -> Preview:
    """The preview of ``key`` (``size`` bytes; ``version_id``: of that version), by its
    extension."""
    name = key.lower()
    packed = name.endswith(".gz")
    ext = "." + name.removesuffix(".gz").rpartition(".")[2] if "." in name else ""
    if size == 0:
        return Preview("none", note="empty object")
    if ext in IMAGES and not packed:
        return Preview("image")
    if ext == ".parquet" and not packed:
        return _parquet(bucket, key, version_id)
    if ext in (".csv", ".tsv"):
        text, cut = _head(bucket, key, packed, version_id)
        return _table(text, "\t" if ext == ".tsv" else ",", cut)
    if ext in (".md", ".markdown", ".json", ".jsonl", ".txt") or ext in _TEXT or packed:
        text, cut = _head(bucket, key, packed, version_id)
        return _text(text, ext, cut)
    return Preview("none", note="no preview for this type; download it instead")


def _head(bucket: Bucket, key: str, packed: bool, version_id: str | None) -> tuple[str, bool]:
    """The first ``TEXT_BYTES`` (unpacked) as text, and whether there was more."""
    with ExitStack() as stack:
        raw: IO[bytes] = stack.enter_context(bucket.open(key, TEXT_BYTES, version_id))
        if packed:
            raw = stack.enter_context(gzip.GzipFile(fileobj=raw))  # type: ignore[arg-type]  # a GzipFile is an IO[bytes]
        try:
            data = raw.read(TEXT_BYTES + 1)
        except (OSError, EOFError, zlib.error) as err:
            raise T4Error(
                f"{key!r} in {bucket.uri} is not a readable gzip file ({err}); download it",
                bucket=bucket.uri,
                key=key,
            ) from err
    return data[:TEXT_BYTES].decode("utf-8", errors="replace"), len(data) > TEXT_BYTES


def _cut_note(cut: bool) -> str:
    return f"the first {TEXT_BYTES // 1024} KiB" if cut else ""


def _text(text: str, ext: str, cut: bool) -> Preview:
    if ext == ".md" or ext == ".markdown":
        return Preview("markdown", text=markdown(text), note=_cut_note(cut))
    if ext == ".json" and not cut:
        try:
            text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        except ValueError:
            pass  # shown as it is
        else:
            return Preview("json", text=text)
    return Preview("text", text=text, note=_cut_note(cut))


def _table(text: str, delimiter: str, cut: bool) -> Preview:
    lines = text.splitlines()
    if cut and len(lines) > 1:
        lines = lines[:-1]  # the last one may be cut mid-row
    rows = list(csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter))
    if not rows:
        return Preview("none", note="no rows")
    more = len(rows) - 1 > ROWS or cut
    note = f"the first {min(ROWS, len(rows) - 1)} rows" if more else ""
    return Preview("table", header=rows[0], rows=rows[1 : ROWS + 1], note=note)


def _parquet(bucket: Bucket, key: str, version_id: str | None) -> Preview:
    """Rows of the first row group only: pyarrow seeks to the footer, then reads that group's
    column chunks, through ranged reads."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    with bucket.open(key, TEXT_BYTES, version_id) as raw:
        try:
            parquet = pq.ParquetFile(raw)
            total = parquet.metadata.num_rows
            batch = next(parquet.iter_batches(batch_size=ROWS, row_groups=[0]), None)
        except (pa.ArrowException, OSError) as err:
            raise T4Error(
                f"{key!r} in {bucket.uri} is not a readable Parquet file ({err}); download it",
                bucket=bucket.uri,
                key=key,
            ) from err
    if batch is None:
        return Preview("none", note="no rows")
    columns = batch.to_pydict()
    header = list(columns)
    rows = [[_cell(columns[c][i]) for c in header] for i in range(batch.num_rows)]
    note = f"the first {batch.num_rows} of {total:,} rows" if total > batch.num_rows else ""
    return Preview("table", header=header, rows=rows, note=note)


def _cell(value: Any) -> str:
    return "" if value is None else str(value)
