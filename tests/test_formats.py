"""The format registry: round trips, T4-written objects, and every kind of bad input.

Written bytes are checked through an independent path (the stdlib, pandas, pyarrow and numpy
directly), not only by reading them back through ``t4.formats``.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.feather as pf
import pyarrow.parquet as pq
import pytest

from t4.errors import DeserializationError, FormatError
from t4.formats import (
    FORMAT_TABLE,
    deserialize,
    format_name_for_key,
    known_extensions,
    serialize,
)

DF = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "zé"], "c": [0.5, 1.5, None]})
ARR = np.arange(12, dtype="int32").reshape(3, 4)
DECOMPRESS = {"gz": gzip.decompress, "bz2": bz2.decompress, "xz": lzma.decompress}
CODEC_NAME = {"gz": "gzip", "bz2": "bz2", "xz": "xz"}
# The format dicts T4 0.1.4 wrote (quiltdata/t4, api/python/t4/formats.py: ParquetFormatHandler
# and CSVPandasFormatHandler.defaults, plus the extension's fieldsep), copied here by hand.
T4_PARQUET = {"compression": "snappy_columns", "name": "parquet"}
T4_CSV_OPTS = {
    "encoding": "utf-8",
    "index_names_are_keys": False,
    "na_values": ["", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan",
                  "1.#IND", "1.#QNAN", "N/A", "NA", "NULL", "NaN", "n/a", "nan", "null"],
    "use_header": True,
    "use_index": False,
}  # fmt: skip


def npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def parquet_bytes(df: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(df), buf)
    return buf.getvalue()


# --- writing: the format dict and the bytes ----------------------------------------------


@pytest.mark.parametrize(
    ("obj", "key", "fmt"),
    [
        ({"a": "b"}, "my-dict.json", {"name": "json"}),
        ([1, 2], "list", {"name": "json"}),
        ((1, 2), "t.json", {"name": "json"}),
        (3, "n", {"name": "json"}),
        (1.5, "f", {"name": "json"}),
        (True, "b", {"name": "json"}),
        (None, "none", {"name": "json"}),
        ("héllo", "note.txt", {"name": "utf-8"}),
        ("héllo", "note", {"name": "utf-8"}),
        ("# t", "README.MD", {"name": "utf-8"}),
        ("quoted", "s.json", {"name": "json"}),
        (b"\x00\x01", "blob.bin", {"name": "bytes"}),
        (bytearray(b"ab"), "whatever.csv", {"name": "bytes"}),
        (b"raw", "d.parquet.gz", {"name": "bytes"}),
        (DF, "frame", T4_PARQUET),
        (DF, "frame.parquet", T4_PARQUET),
        (ARR, "arr", {"name": "numpy"}),
        (ARR, "arr.npy", {"name": "numpy"}),
        ({"x": ARR}, "arrs.npz", {"name": "numpy"}),
        ([{"a": 1}], "rows.jsonl", {"name": "jsonl"}),
        (DF, "f.feather", {"name": "feather"}),
        (DF, "f.arrow", {"name": "feather"}),
    ],
)
def test_format_dict_written(obj: object, key: str, fmt: dict) -> None:
    assert serialize(obj, key)[1] == fmt


@pytest.mark.parametrize(
    ("key", "sep"), [("t.csv", ","), ("t.tsv", "\t"), ("t.ssv", ";"), ("T.CSV", ",")]
)
def test_csv_format_dict_is_t4s(key: str, sep: str) -> None:
    data, fmt = serialize(DF, key)
    t4_wrote = {"opts": {**T4_CSV_OPTS, "fieldsep": sep}, "name": "csv"}
    assert json.dumps(fmt) == json.dumps(t4_wrote)  # the same entries, in T4's order
    assert data.decode("utf-8").splitlines()[0] == sep.join(["a", "b", "c"])
    pd.testing.assert_frame_equal(pd.read_csv(io.BytesIO(data), sep=sep), DF)


def test_parquet_format_dict_is_t4s_and_true() -> None:
    data, fmt = serialize(DF, "p.parquet")
    assert json.dumps(fmt) == json.dumps(T4_PARQUET)
    meta = pq.ParquetFile(io.BytesIO(data)).metadata.row_group(0)
    assert {meta.column(i).compression for i in range(meta.num_columns)} == {"SNAPPY"}


INDEXED = {
    "named": pd.DataFrame({"a": [1, 2]}, index=pd.Index(["x", "y"], name="id")),
    "unnamed, not 0..n-1": pd.DataFrame({"a": [1, 2]}, index=[5, 7]),
    "strings": pd.DataFrame({"a": [1.5, None]}, index=pd.Index(["r1", "r2"])),
    "two levels": pd.DataFrame(
        {"v": [1, 2]}, index=pd.MultiIndex.from_tuples([("a", 1), ("b", 2)], names=["k", "n"])
    ),
    "two unnamed levels": pd.DataFrame(
        {"v": [1, 2]}, index=pd.MultiIndex.from_tuples([("a", 1), ("b", 2)])
    ),
    "named 0..n-1": pd.DataFrame({"a": [1, 2]}, index=pd.RangeIndex(2, name="row")),
}


@pytest.mark.parametrize("name", list(INDEXED))
@pytest.mark.parametrize("key", ["t.csv", "t.tsv", "t.csv.gz"])
def test_csv_keeps_an_index_that_is_not_the_default(name: str, key: str) -> None:
    """Written with T4's own opts, so T4 reads it the same way: use_index, index_names."""
    frame = INDEXED[name]
    data, fmt = serialize(frame, key)
    opts = fmt["opts"]
    assert opts["use_index"] is True
    assert opts.get("index_names", [None]) == list(frame.index.names)
    pd.testing.assert_frame_equal(deserialize(data, key, fmt), frame)
    # read as T4's CSV handler reads it (index_col = one column per index name), by hand
    raw = DECOMPRESS["gz"](data) if key.endswith(".gz") else data
    levels = len(opts.get("index_names", [None]))
    got = pd.read_csv(io.BytesIO(raw), sep=opts["fieldsep"], index_col=list(range(levels)))
    pd.testing.assert_frame_equal(got.rename_axis(list(frame.index.names)), frame)


def test_csv_of_the_default_index_writes_no_index() -> None:
    data, fmt = serialize(DF.iloc[1:].reset_index(drop=True), "t.csv")
    assert fmt["opts"]["use_index"] is False and "index_names" not in fmt["opts"]
    assert data.decode().splitlines()[0] == "a,b,c"


@pytest.mark.parametrize("key", ["e.parquet", "e.feather", "e", "e.csv"])
@pytest.mark.parametrize(
    "frame",
    [pd.DataFrame(), pd.DataFrame(columns=["a", "b"]), pd.DataFrame(index=[1, 2])],
    ids=["no columns, no rows", "columns, no rows", "rows, no columns"],
)
def test_empty_dataframes_round_trip_or_are_refused(key: str, frame: pd.DataFrame) -> None:
    if key.endswith(".csv") and len(frame.columns) == 0:
        with pytest.raises(FormatError, match=r"no columns.*\.parquet.*Nothing was written"):
            serialize(frame, key)
        return
    data, fmt = serialize(frame, key)
    pd.testing.assert_frame_equal(deserialize(data, key, fmt), frame)


@pytest.mark.parametrize(
    ("obj", "key"),
    [
        ({"a": float("nan")}, "x.json"),
        ([1.0, float("inf")], "x.json"),
        (float("-inf"), "x"),
        ([{"a": float("nan")}], "rows.jsonl"),
    ],
)
def test_nan_and_infinity_are_refused_not_written_as_invalid_json(obj: object, key: str) -> None:
    with pytest.raises(FormatError, match=r"JSON has no NaN or Infinity.*None") as err:
        serialize(obj, key)
    assert key in str(err.value) and "Nothing was written" in str(err.value)


def test_json_is_compact_utf8() -> None:
    data, _ = serialize({"k": ["é", 1]}, "x.json")
    assert data == '{"k":["é",1]}'.encode()


def test_bytes_stored_verbatim() -> None:
    assert serialize(b"\xff\xfe", "x.json")[0] == b"\xff\xfe"


def test_written_bytes_readable_by_their_libraries() -> None:
    pd.testing.assert_frame_equal(pq.read_table(io.BytesIO(serialize(DF, "x")[0])).to_pandas(), DF)
    pd.testing.assert_frame_equal(
        pf.read_table(io.BytesIO(serialize(DF, "x.feather")[0])).to_pandas(), DF
    )
    np.testing.assert_array_equal(np.load(io.BytesIO(serialize(ARR, "x")[0])), ARR)
    with np.load(io.BytesIO(serialize({"q": ARR}, "x.npz")[0])) as npz:
        np.testing.assert_array_equal(npz["q"], ARR)
    lines = serialize([{"a": 1}, [2], "s"], "x.jsonl")[0].decode().splitlines()
    assert [json.loads(line) for line in lines] == [{"a": 1}, [2], "s"]


# --- round trips ---------------------------------------------------------------------------


def assert_same(got: object, want: object) -> None:
    if isinstance(want, pd.DataFrame):
        assert isinstance(got, pd.DataFrame)
        pd.testing.assert_frame_equal(got, want)
    elif isinstance(want, np.ndarray):
        assert isinstance(got, np.ndarray)
        np.testing.assert_array_equal(got, want)
        assert got.dtype == want.dtype
    elif isinstance(want, dict) and want and isinstance(next(iter(want.values())), np.ndarray):
        assert isinstance(got, dict) and got.keys() == want.keys()
        for name in want:
            np.testing.assert_array_equal(got[name], want[name])
    else:
        assert got == want


ROUND_TRIPS = [
    ({"a": [1, 2.5, None, True, "é"]}, "d.json"),
    ({"a": 1}, "noext"),
    ("text ünïcode\n", "t.txt"),
    ("rst", "t.rst"),
    (b"\x00bytes", "b.bin"),
    (b"\x00bytes", "b"),
    ([{"a": 1}, {"a": 2, "b": [3]}], "r.jsonl"),
    ([1, "two", None], "r.ndjson"),
    (DF, "p.parquet"),
    (DF, "p"),
    (DF, "c.csv"),
    (DF, "c.tsv"),
    (DF, "c.ssv"),
    (DF, "f.feather"),
    (DF, "f.arrow"),
    (ARR, "a.npy"),
    (ARR, "a"),
    ({"x": ARR, "y": np.ones(2)}, "a.npz"),
]


@pytest.mark.parametrize(("obj", "key"), ROUND_TRIPS)
@pytest.mark.parametrize("suffix", ["", ".gz", ".bz2", ".xz"])
def test_round_trip(obj: object, key: str, suffix: str) -> None:
    data, fmt = serialize(obj, key + suffix)
    assert_same(deserialize(data, key + suffix, fmt), obj)
    if "." in key and not isinstance(obj, bytes):
        # Without metadata (as put_file leaves it) the extension and suffix alone suffice.
        assert_same(deserialize(data, key + suffix, None), obj)


@pytest.mark.parametrize("suffix", ["gz", "bz2", "xz"])
def test_compression_recorded_and_applied(suffix: str) -> None:
    data, fmt = serialize(DF, f"x.csv.{suffix}")
    assert fmt["opts"]["compression"] == CODEC_NAME[suffix]
    assert fmt["opts"]["fieldsep"] == ","
    pd.testing.assert_frame_equal(pd.read_csv(io.BytesIO(DECOMPRESS[suffix](data))), DF)
    data, fmt = serialize({"a": 1}, f"d.json.{suffix}")
    assert fmt == {"name": "json", "opts": {"compression": CODEC_NAME[suffix]}}
    assert json.loads(DECOMPRESS[suffix](data)) == {"a": 1}


def test_compressed_key_without_format_extension_uses_type() -> None:
    data, fmt = serialize({"a": 1}, "blob.gz")
    assert fmt == {"name": "json", "opts": {"compression": "gzip"}}
    assert deserialize(data, "blob.gz", fmt) == {"a": 1}


def test_gzip_output_is_deterministic() -> None:
    assert serialize("same", "a.txt.gz")[0] == serialize("same", "a.txt.gz")[0]


def test_npz_of_single_array_and_npy_under_npz_key() -> None:
    got = deserialize(*serialize(ARR, "one.npz")[:1], "one.npz", None)
    assert isinstance(got, dict)
    np.testing.assert_array_equal(got["arr_0"], ARR)


def test_reading_by_extension_is_case_insensitive() -> None:
    assert deserialize(b'{"a": 1}', "X.JSON", None) == {"a": 1}
    assert deserialize(gzip.compress(b"hi"), "N.TXT.GZ", None) == "hi"


# --- objects as T4 wrote them ------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "key", "fmt", "want"),
    [
        (json.dumps({"a": "b"}).encode(), "my-dict.json", {"name": "json"}, {"a": "b"}),
        (b'{"a": 1}', "no-extension", {"name": "json"}, {"a": 1}),
        ("héllo".encode(), "x.txt", {"name": "unicode"}, "héllo"),
        ("héllo".encode(), "x", {"name": "utf-8"}, "héllo"),
        (b"\x00\xff", "x.dat", {"name": "bytes"}, b"\x00\xff"),
        (npy_bytes(ARR), "a.npy", {"name": "numpy"}, ARR),
        (parquet_bytes(DF), "p.parquet", {"name": "parquet"}, DF),
        (parquet_bytes(DF), "p", {"name": "pyarrow"}, DF),
        (b"a,b\n1,2\n", "plain.csv", None, pd.DataFrame({"a": [1], "b": [2]})),
        (b"a\tb\n1\t2\n", "plain.tsv", None, pd.DataFrame({"a": [1], "b": [2]})),
        (b"a;b\n1;2\n", "plain.ssv", None, pd.DataFrame({"a": [1], "b": [2]})),
    ],
)
def test_reads_what_t4_wrote(data: bytes, key: str, fmt: dict | None, want: object) -> None:
    assert_same(deserialize(data, key, fmt), want)


def test_reads_t4_csv_opts_with_index_and_extra_keys() -> None:
    fmt = {
        "name": "csv",
        "opts": {
            "fieldsep": "|",
            "use_header": True,
            "use_index": True,
            "encoding": "utf-8",
            "linesep": "\n",
            "quotechar": '"',
        },
    }
    got = deserialize(b"i|a\nr1|1\nr2|2\n", "t.csv", fmt)
    want = pd.DataFrame({"a": [1, 2]}, index=pd.Index(["r1", "r2"], name="i"))
    pd.testing.assert_frame_equal(got, want)


def test_reads_csv_without_header() -> None:
    fmt = {"name": "csv", "opts": {"fieldsep": ",", "use_header": False}}
    got = deserialize(b"1,2\n3,4\n", "t.csv", fmt)
    pd.testing.assert_frame_equal(got, pd.DataFrame([[1, 2], [3, 4]]))


def test_reads_t4_npz_as_plain_dict() -> None:
    buf = io.BytesIO()
    np.savez(buf, first=ARR, second=np.zeros(3))
    got = deserialize(buf.getvalue(), "x.npz", {"name": "numpy"})
    assert isinstance(got, dict) and set(got) == {"first", "second"}
    np.testing.assert_array_equal(got["first"], ARR)


# --- metadata wins over the extension ----------------------------------------------------


def test_metadata_format_wins_over_extension() -> None:
    assert deserialize(b'{"a": 1}', "looks.csv", {"name": "json"}) == {"a": 1}
    assert deserialize(b'{"a": 1}', "looks.json", {"name": "utf-8"}) == '{"a": 1}'
    assert deserialize(b"abc", "looks.parquet", {"name": "bytes"}) == b"abc"


def test_metadata_bytes_never_decompressed() -> None:
    blob = gzip.compress(b"payload")
    assert deserialize(blob, "x.csv.gz", {"name": "bytes"}) == blob


def test_metadata_without_compression_trusts_suffix_only_for_compressed_bytes() -> None:
    assert deserialize(gzip.compress(b'{"a":1}'), "d.json.gz", {"name": "json"}) == {"a": 1}
    # T4 wrote plain JSON under a .gz key: the bytes are not gzip, so they are read as they are.
    assert deserialize(b'{"a":1}', "d.json.gz", {"name": "json"}) == {"a": 1}


def test_metadata_without_name_falls_back_to_extension() -> None:
    assert deserialize(b"[1]", "x.json", {}) == [1]
    assert deserialize(b"[1]", "x.json", {"opts": {}}) == [1]


# --- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("obj", "key", "holders"),
    [
        ({"a": 1}, "d.parquet", ".json"),
        ({"a": 1}, "d.csv", ".json"),
        (DF, "x.json", ".parquet"),
        (DF, "x.txt", ".csv"),
        (ARR, "x.parquet", ".npy"),
        ("text", "x.npy", ".txt"),
        ({"a": 1}, "x.jsonl", ".json"),
        ([1, 2], "x.npz", ".jsonl"),
    ],
)
def test_wrong_type_for_extension(obj: object, key: str, holders: str) -> None:
    with pytest.raises(FormatError) as info:
        serialize(obj, key)
    message = str(info.value)
    assert key in message and type(obj).__name__ in message and holders in message
    assert "use a key" in message
    assert info.value.key == key


def test_unknown_type_without_extension() -> None:
    with pytest.raises(FormatError, match="object") as info:
        serialize(object(), "thing")
    assert "bytes" in str(info.value)


def test_unserialisable_json_content_is_format_error() -> None:
    with pytest.raises(FormatError, match="json"):
        serialize({"a": object()}, "d.json")
    with pytest.raises(FormatError, match="jsonl"):
        serialize([{1, 2}], "d.jsonl")


def test_dataframe_arrow_cannot_hold_is_format_error() -> None:
    with pytest.raises(FormatError, match="parquet"):
        serialize(pd.DataFrame({"a": [object()]}), "x.parquet")


CORRUPT = [
    (b'{"a": ', "bad.json", None, "json"),
    (b"\xff\xfe", "bad.json", None, "json"),
    (b'{"a": 1}\nnope\n', "bad.jsonl", None, "jsonl"),
    (b"\xff", "bad.txt", None, "utf-8"),
    (b"\xff", "bad", {"name": "unicode"}, "utf-8"),
    (b"not parquet", "bad.parquet", None, "parquet"),
    (b"PAR1garbagePAR1", "bad", {"name": "pyarrow"}, "parquet"),
    (b"a,b\n1,2\n3,4,5,6\n", "ragged.csv", None, "csv"),
    (b'a,b\n"1,2\n', "unclosed.csv", None, "csv"),
    (b"a\tb\n1\t2\n3\t4\t5\t6\n", "ragged.tsv", None, "csv"),
    (b"", "empty.csv", None, "csv"),
    (b"\xff\xfe,\x00\n", "bad.csv", None, "csv"),
    (b"not numpy", "bad.npy", None, "numpy"),
    (npy_bytes(ARR)[:-5], "short.npy", None, "numpy"),
    (b"PK\x03\x04broken zip", "bad.npz", None, "numpy"),
    (b"not arrow", "bad.feather", None, "feather"),
    (b"not gzip", "bad.json.gz", None, "json+gzip"),
    (b"not bz2", "bad.json.bz2", None, "json+bz2"),
    (b"not xz", "bad.json.xz", None, "json+xz"),
    (gzip.compress(b"{bad"), "bad.json.gz", None, "json+gzip"),
    (b"\x1f\x8bbroken", "x.txt", {"name": "utf-8", "opts": {"compression": "gzip"}}, "gzip"),
]


@pytest.mark.parametrize(("data", "key", "fmt", "label"), CORRUPT)
def test_corrupt_bytes(data: bytes, key: str, fmt: dict | None, label: str) -> None:
    with pytest.raises(DeserializationError) as info:
        deserialize(data, key, fmt)
    assert key in str(info.value) and label in str(info.value)
    assert info.value.key == key
    assert info.value.__cause__ is not None


def test_pickled_npy_refused() -> None:
    buf = io.BytesIO()
    np.save(buf, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DeserializationError, match="numpy"):
        deserialize(buf.getvalue(), "evil.npy", None)


@pytest.mark.parametrize("key", ["data.xyz", "noextension", "archive.tar.gz", "dir.json/file"])
def test_unknown_extension_without_metadata(key: str) -> None:
    with pytest.raises(FormatError) as info:
        deserialize(b"whatever", key, None)
    message = str(info.value)
    assert key in message and ".json" in message and ".parquet" in message
    assert info.value.key == key


def test_unknown_format_name_in_metadata() -> None:
    with pytest.raises(FormatError, match="'hdf5'") as info:
        deserialize(b"x", "x.json", {"name": "hdf5"})
    assert "json" in str(info.value) and "x.json" in str(info.value)


def test_unknown_compression_in_metadata() -> None:
    with pytest.raises(FormatError, match="'zstd'") as info:
        deserialize(b"x", "x.json", {"name": "json", "opts": {"compression": "zstd"}})
    assert "gzip" in str(info.value) and info.value.key == "x.json"


# --- lookups -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "name"),
    [
        ("a.json", "json"),
        ("a/b.TSV", "csv"),
        ("a.ssv.xz", "csv"),
        ("a.npz", "numpy"),
        ("a.md", "utf-8"),
        ("a.arrow", "feather"),
        ("a.gz", None),
        ("a", None),
        ("dir.json/a", None),
        ("a.tar.gz", None),
    ],
)
def test_format_name_for_key(key: str, name: str | None) -> None:
    assert format_name_for_key(key) == name


def test_known_extensions_and_table() -> None:
    exts = known_extensions()
    for ext in ["json", "txt", "md", "rst", "bin", "csv", "tsv", "ssv", "parquet", "npy", "npz"]:
        assert ext in exts
    assert {"jsonl", "feather", "arrow", "gz", "bz2", "xz"} <= set(exts)
    table_exts = {ext for exts_, _, _ in FORMAT_TABLE for ext in exts_}
    assert table_exts == set(exts) - {"gz", "bz2", "xz"}
    assert all(isinstance(row[1], str) and isinstance(row[2], str) for row in FORMAT_TABLE)


def test_import_does_not_load_pandas_or_numpy() -> None:
    code = (
        "import sys, t4.formats as f; f.serialize({'a': 1}, 'x'); "
        "f.deserialize(b'1', 'x.json', None); "
        "assert not {'pandas', 'numpy', 'pyarrow'} & set(sys.modules), sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
