"""The readers and writers behind ``t4.formats``' table: bytes to objects and back, one pair
per format (JSON, JSON lines, CSV, parquet, feather, numpy), the compression codecs applied
on top of any of them, and the type tests that choose a format for an object.

pandas, pyarrow and numpy are imported inside the functions that need them, so that
``import t4`` stays fast and backends never pull them in; the type tests never import them.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import sys
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO

__all__ = [
    "CODEC_ERRORS",
    "COMPRESSIONS",
    "T4_CSV_OPTS",
    "Compression",
    "Opts",
    "Readable",
    "csv_frame",
    "csv_head",
    "csv_index_opts",
    "is_array_dict",
    "is_dataframe",
    "is_json_value",
    "is_ndarray",
    "parquet_head",
    "read_csv",
    "read_feather",
    "read_json",
    "read_jsonl",
    "read_numpy",
    "read_parquet",
    "write_csv",
    "write_feather",
    "write_json",
    "write_jsonl",
    "write_npy",
    "write_npz",
    "write_parquet",
]

Opts = Mapping[str, Any]
#: A binary file to read a table's head from: ``Bucket.open``'s, maybe decompressing.
Readable = BinaryIO | io.BufferedIOBase

# Errors a reader or writer raises on bad input. pyarrow's ArrowInvalid/ArrowTypeError
# subclass ValueError/TypeError, pandas' ParserError and EmptyDataError subclass ValueError.
CODEC_ERRORS = (
    ValueError,
    TypeError,
    OSError,
    EOFError,
    KeyError,
    IndexError,
    OverflowError,
    NotImplementedError,
    lzma.LZMAError,
    zipfile.BadZipFile,
)


@dataclass(frozen=True)
class Compression:
    """A compression codec applied on top of a format, chosen by the key's last suffix."""

    name: str
    suffix: str
    magic: bytes
    compress: Callable[[bytes], bytes]
    decompress: Callable[[bytes], bytes]
    #: A binary file that decompresses as it is read (for reading only a head).
    stream: Callable[[BinaryIO], io.BufferedIOBase]


COMPRESSIONS = (
    Compression("gzip", "gz", b"\x1f\x8b", lambda b: gzip.compress(b, mtime=0), gzip.decompress,
                lambda f: gzip.GzipFile(fileobj=f)),
    Compression("bz2", "bz2", b"BZh", bz2.compress, bz2.decompress, bz2.BZ2File),
    Compression("xz", "xz", b"\xfd7zXZ\x00", lzma.compress, lzma.decompress, lzma.LZMAFile),
)  # fmt: skip


# --- type tests ---------------------------------------------------------------------------


def is_json_value(obj: object) -> bool:
    return obj is None or isinstance(obj, dict | list | tuple | str | int | float | bool)


# An object can only be a DataFrame or an ndarray if its library is already imported, so
# these checks never import pandas or numpy themselves.
def is_dataframe(obj: object) -> bool:
    pd = sys.modules.get("pandas")
    return pd is not None and isinstance(obj, pd.DataFrame)


def is_ndarray(obj: object) -> bool:
    np = sys.modules.get("numpy")
    return np is not None and isinstance(obj, np.ndarray)


def is_array_dict(obj: object) -> bool:
    return (
        isinstance(obj, dict)
        and bool(obj)
        and all(isinstance(k, str) and is_ndarray(v) for k, v in obj.items())
    )


# --- readers and writers ------------------------------------------------------------------


def write_json(obj: object, opts: Opts) -> bytes:
    try:
        text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except ValueError as err:  # NaN or Infinity (json.dumps would write invalid JSON), a cycle
        raise ValueError(
            f"{err}. JSON has no NaN or Infinity: replace them with None (null), or store "
            "a table as .parquet"
        ) from err
    return text.encode("utf-8")


def read_json(data: bytes, opts: Opts) -> object:
    return json.loads(data.decode("utf-8"))


def write_jsonl(obj: list[object] | tuple[object, ...], opts: Opts) -> bytes:
    return b"".join(write_json(item, opts) + b"\n" for item in obj)


def read_jsonl(data: bytes, opts: Opts) -> object:
    return [json.loads(line) for line in data.decode("utf-8").splitlines() if line.strip()]


#: T4 0.1.4's CSV opts, in its order; it wrote them all into every CSV object's metadata.
T4_CSV_OPTS = {
    "encoding": "utf-8",
    "index_names_are_keys": False,
    "na_values": ["", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan",
                  "1.#IND", "1.#QNAN", "N/A", "NA", "NULL", "NaN", "n/a", "nan", "null"],
    "use_header": True,
    "use_index": False,
}  # fmt: skip


def csv_index_opts(obj: Any) -> Opts:
    """T4's opts that keep a DataFrame's index in its CSV: none for the default ``0..n-1``;
    otherwise ``use_index``, and ``index_names`` wherever T4 needs them to know the levels."""
    import pandas as pd

    index = obj.index
    if isinstance(index, pd.RangeIndex) and (index.start, index.step, index.name) == (0, 1, None):
        return {}
    names = list(index.names)
    if any(n is not None and not isinstance(n, str | int) for n in names):
        raise ValueError(
            f"the index names {names} cannot be stored in CSV metadata; rename the index "
            "levels with strings (df.rename_axis), or store the table as .parquet"
        )
    if len(names) == 1 and names[0] is None:
        return {"use_index": True}
    return {"use_index": True, "index_names": names}


def write_csv(obj: Any, opts: Opts) -> bytes:
    if len(obj.columns) == 0:
        raise ValueError(
            "a DataFrame with no columns would be an empty CSV file, which reads back as an "
            "error, not as this DataFrame; add a column, or store it as .parquet"
        )
    text = obj.to_csv(
        sep=opts.get("fieldsep", ","),
        header=opts.get("use_header", True),
        index=opts.get("use_index", False),
        index_label=opts.get("index_names"),
        na_rep=(opts.get("na_values") or [""])[0],
        lineterminator="\n",
    )
    return str(text).encode(opts.get("encoding", "utf-8"))


def read_csv(data: bytes, opts: Opts) -> object:
    return csv_frame(io.BytesIO(data), opts)


def csv_head(stream: Readable, opts: Opts, rows: int) -> tuple[object, int | None]:
    return csv_frame(stream, opts, rows), None  # the count of rows after them is unknown


def csv_frame(stream: Readable, opts: Opts, rows: int | None = None) -> object:
    """Read CSV with T4's opts, as T4 did: ``use_index`` with ``index_names`` (their count is
    the number of index columns, or, with ``index_names_are_keys``, the columns to use);
    only the first ``rows`` rows if given."""
    import pandas as pd

    names = opts.get("index_names")
    by_key = bool(opts.get("index_names_are_keys"))
    index_col: Any = None
    if opts.get("use_index", False):
        index_col = (list(names) if by_key else list(range(len(names)))) if names else [0]
    frame = pd.read_csv(
        stream,
        nrows=rows,
        sep=opts.get("fieldsep", ","),
        header=0 if opts.get("use_header", True) else None,
        index_col=index_col,
        na_values=opts.get("na_values"),
        encoding=opts.get("encoding", "utf-8"),
    )
    return frame.rename_axis(names) if names and not by_key else frame


def parquet_head(stream: Readable, opts: Opts, rows: int) -> tuple[object, int | None]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.ParquetFile(stream, pre_buffer=False)  # reads the footer only
    first = next(table.iter_batches(batch_size=rows), None)  # then the first row group
    batch = first if first is not None else table.schema_arrow.empty_table()
    return pa.Table.from_batches([batch]).to_pandas(), table.metadata.num_rows


def write_parquet(obj: Any, opts: Opts) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    # T4's "snappy_columns": snappy on every column, named so in the format dict
    pq.write_table(pa.Table.from_pandas(obj), buf, compression="snappy")
    return buf.getvalue()


def read_parquet(data: bytes, opts: Opts) -> object:
    import pyarrow.parquet as pq

    return pq.read_table(io.BytesIO(data)).to_pandas()


def write_feather(obj: Any, opts: Opts) -> bytes:
    import pyarrow as pa
    import pyarrow.feather as pf

    buf = io.BytesIO()
    pf.write_feather(pa.Table.from_pandas(obj), buf)
    return buf.getvalue()


def read_feather(data: bytes, opts: Opts) -> object:
    import pyarrow.feather as pf

    return pf.read_table(io.BytesIO(data)).to_pandas()


def write_npy(obj: Any, opts: Opts) -> bytes:
    import numpy as np

    buf = io.BytesIO()
    np.save(buf, obj, allow_pickle=False)
    return buf.getvalue()


def write_npz(obj: Any, opts: Opts) -> bytes:
    import numpy as np

    buf = io.BytesIO()
    np.savez_compressed(buf, **(obj if isinstance(obj, dict) else {"arr_0": obj}))
    return buf.getvalue()


def read_numpy(data: bytes, opts: Opts) -> object:
    """Read ``.npy`` or ``.npz`` (np.load tells them apart): an array or a dict of arrays."""
    import numpy as np

    loaded = np.load(io.BytesIO(data), allow_pickle=False)
    if isinstance(loaded, np.lib.npyio.NpzFile):
        with loaded:
            return {name: loaded[name] for name in loaded.files}
    return loaded
