"""How results are printed: one line per object or hit, previews for ``cat``, JSON on ask."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from datetime import datetime
from typing import Any, NamedTuple

from t4.backends import ObjectInfo

HEX_BYTES = 32


def emit(args: argparse.Namespace, data: Any, text: str | None) -> None:
    """JSON of ``data`` under ``--json``; otherwise ``text`` (if any)."""
    if args.json:
        print(json.dumps(data, default=_default))
    elif text is not None:
        print(text)


def object_line(info: ObjectInfo) -> str:
    """``2024-05-01 12:00:00      1,234 key``, like ``aws s3 ls``."""
    when = info.last_modified.strftime("%Y-%m-%d %H:%M:%S")
    return f"{when} {info.size:>12,} {info.key}"


def hit_line(hit: dict[str, Any]) -> str:
    """A search hit: its key, then its user metadata if any."""
    meta = hit.get("meta")
    return (
        f"{hit.get('key')}  {json.dumps(meta, default=_default)}" if meta else str(hit.get("key"))
    )


def write_text(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


class TableHead(NamedTuple):
    """The first rows of a table too large to read whole; ``rows`` is the total where the
    format records it (Parquet), else ``None``."""

    frame: Any
    rows: int | None
    size: int


class BytesHead(NamedTuple):
    """An object shown as bytes: its size and its first bytes, the rest unread."""

    size: int
    head: bytes


def preview(obj: Any, rows: int) -> str:
    """A readable rendering: a table's head, an array, text as is, JSON for the rest."""
    pd = sys.modules.get("pandas")
    np = sys.modules.get("numpy")
    if isinstance(obj, TableHead):
        shown = obj.frame.head(rows)
        of = f"{obj.rows:,} rows" if obj.rows is not None else f"an object of {obj.size:,} bytes"
        return f"{_table(shown, pd)}\n[first {len(shown):,} of {of} x {shown.shape[1]} columns]"
    if isinstance(obj, BytesHead):
        return f"{bytes_summary(obj.head, obj.size)} (t4 cat --raw writes the bytes)"
    if pd is not None and isinstance(obj, pd.DataFrame):
        return f"{_table(obj.head(rows), pd)}\n[{len(obj):,} rows x {obj.shape[1]} columns]"
    if np is not None and isinstance(obj, np.ndarray):
        return f"{np.array2string(obj, threshold=200)}\n[array {obj.shape} {obj.dtype}]"
    if isinstance(obj, str):
        return obj
    if isinstance(obj, bytes | bytearray):
        return f"{bytes_summary(obj)} (t4 cat --raw writes the bytes)"
    if (
        isinstance(obj, dict)
        and np is not None
        and any(isinstance(v, np.ndarray) for v in obj.values())
    ):
        return "\n".join(f"{name}:\n{preview(value, rows)}" for name, value in obj.items())
    return json.dumps(obj, indent=2, default=_default)


def _table(frame: Any, pd: Any) -> str:
    width = shutil.get_terminal_size().columns
    with pd.option_context("display.width", width, "display.max_columns", 50):
        return str(frame.to_string())


def bytes_summary(data: bytes | bytearray, size: int | None = None) -> str:
    """``<1,234 bytes: 00 01 ...>``: the first bytes of ``data`` (of ``size`` in all)."""
    size = len(data) if size is None else size
    more = " ..." if size > HEX_BYTES else ""
    return f"<{size:,} bytes: {bytes(data[:HEX_BYTES]).hex(' ')}{more}>"


def jsonable(obj: Any, rows: int) -> Any:
    """What ``cat --json`` prints: tables as the records of their head, bytes summarised."""
    pd = sys.modules.get("pandas")
    if isinstance(obj, TableHead):
        return {**jsonable(obj.frame, rows), "rows": obj.rows, "bytes": obj.size}
    if isinstance(obj, BytesHead):
        return {"bytes": obj.size, "head_hex": obj.head[:HEX_BYTES].hex()}
    if pd is not None and isinstance(obj, pd.DataFrame):
        records = json.loads(obj.head(rows).to_json(orient="records", date_format="iso"))
        return {"rows": len(obj), "columns": [str(c) for c in obj.columns], "head": records}
    if isinstance(obj, bytes | bytearray):
        return {"bytes": len(obj), "head_hex": bytes(obj[:HEX_BYTES]).hex()}
    return obj


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return value.tolist()
    if isinstance(value, bytes | bytearray):
        return bytes_summary(value)
    return str(value)
