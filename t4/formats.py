"""The one registry that maps file extensions and T4 format names to readers and writers.

Every format is a row of ``_FORMATS``; compression (``.gz``, ``.bz2``, ``.xz``) is a second,
orthogonal table applied on top of any format. The helium ``"format"`` dict written into an
object's metadata is exactly T4's for T4's formats (``{"name": "json"}``, ``{"name": "csv",
"opts": {...}}``, ...), so buckets written by T4 read here and the other way round.

Rules:

* ``serialize``: ``bytes``/``bytearray`` are stored verbatim as ``bytes`` under any key.
  Otherwise the key's extension decides when it names a format that can hold the object
  (a :class:`~t4.errors.FormatError` if it cannot); with no known extension the Python type
  decides, as T4 did.
* ``deserialize``: the format named in the metadata wins (with its ``opts``, including any
  ``compression``); otherwise the key's extension and compression suffix, case-insensitive.
* ``.jsonl`` holds a list of JSON values (one per line) and reads back as a ``list``; build a
  DataFrame with ``pandas.DataFrame(records)`` when you want one.
* ``.npz`` reads back as a plain ``dict`` of arrays, and a ``dict`` of arrays writes as one.
* What a format cannot hold is refused before anything is written, never stored in a form
  that reads back as something else: NaN and Infinity in JSON (not valid JSON), a DataFrame
  with no columns as CSV (an empty file). A CSV keeps a DataFrame's index when it is not
  the default ``0..n-1``, with T4's own ``use_index`` and ``index_names`` options.

The readers and writers themselves live in ``t4.codecs``, which imports pandas, pyarrow and
numpy inside the functions that need them, so that ``import t4`` stays fast and backends
never pull them in.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from t4.codecs import (
    CODEC_ERRORS,
    COMPRESSIONS,
    T4_CSV_OPTS,
    Compression,
    Opts,
    Readable,
    csv_head,
    csv_index_opts,
    is_array_dict,
    is_dataframe,
    is_json_value,
    is_ndarray,
    parquet_head,
    read_csv,
    read_feather,
    read_json,
    read_jsonl,
    read_numpy,
    read_parquet,
    write_csv,
    write_feather,
    write_json,
    write_jsonl,
    write_npy,
    write_npz,
    write_parquet,
)
from t4.errors import DeserializationError, FormatError

__all__ = [
    "FORMAT_TABLE",
    "deserialize",
    "format_name_for_key",
    "format_of",
    "known_extensions",
    "read_head",
    "serialize",
]


@dataclass(frozen=True)
class Format:
    """One serialisation format.

    Attributes:
        name: the name written into the helium ``format`` dict.
        aliases: other names accepted when reading (older T4 objects).
        extensions: lower-case extensions (no dot) that imply this format.
        python_type: what ``read`` returns, for the README table.
        can_hold: whether ``write`` can store an object.
        write: object and opts to bytes.
        read: bytes and opts to object.
        opts: opts written into the format dict (e.g. CSV's separator), per extension under
            ``ext_opts`` overriding these defaults, and per object from ``obj_opts``.
        fields: other entries of the format dict, beside ``name`` and ``opts``, as T4 wrote
            them (parquet's ``compression``).
        by_type: whether this format is chosen by the object's type when the key names none.
        read_head: for tables, the first rows from a binary file without reading the rest,
            and the total row count where the format records it.
    """

    name: str
    extensions: tuple[str, ...]
    python_type: str
    can_hold: Callable[[object], bool]
    write: Callable[[Any, Opts], bytes]
    read: Callable[[bytes, Opts], object]
    aliases: tuple[str, ...] = ()
    opts: Opts = field(default_factory=dict)
    ext_opts: Mapping[str, Opts] = field(default_factory=dict)
    obj_opts: Callable[[Any], Opts] | None = None
    fields: Opts = field(default_factory=dict)
    by_type: bool = False
    read_head: Callable[[Readable, Opts, int], tuple[object, int | None]] | None = None


# Positional rows: name, extensions, python_type, can_hold, write, read; laid out by hand
# because one keyword per line would spread nine rows over a hundred lines. Order matters:
# the first ``by_type`` row that can hold an object wins (str before json, which holds str).
# fmt: off
_FORMATS: tuple[Format, ...] = (
    Format("bytes", ("bin",), "bytes", lambda o: isinstance(o, bytes | bytearray),
           lambda o, _: bytes(o), lambda b, _: b, by_type=True),
    Format("utf-8", ("txt", "md", "rst"), "str", lambda o: isinstance(o, str),
           lambda o, _: o.encode("utf-8"), lambda b, _: b.decode("utf-8"),
           aliases=("unicode",), by_type=True),
    Format("json", ("json",), "dict | list | str | int | float | bool | None", is_json_value,
           write_json, read_json, by_type=True),
    Format("jsonl", ("jsonl", "ndjson"), "list", lambda o: isinstance(o, list | tuple),
           write_jsonl, read_jsonl),
    Format("parquet", ("parquet",), "pandas.DataFrame", is_dataframe,
           write_parquet, read_parquet, aliases=("pyarrow",),
           fields={"compression": "snappy_columns"}, by_type=True, read_head=parquet_head),
    Format("csv", ("csv", "tsv", "ssv"), "pandas.DataFrame", is_dataframe,
           write_csv, read_csv, opts=T4_CSV_OPTS, obj_opts=csv_index_opts,
           ext_opts={"csv": {"fieldsep": ","}, "tsv": {"fieldsep": "\t"},
                     "ssv": {"fieldsep": ";"}}, read_head=csv_head),
    Format("feather", ("feather", "arrow"), "pandas.DataFrame", is_dataframe,
           write_feather, read_feather),
    Format("numpy", ("npy",), "numpy.ndarray", is_ndarray,
           write_npy, read_numpy, by_type=True),
    # Also named "numpy", as T4 named .npz objects: np.load tells the two layouts apart.
    Format("numpy", ("npz",), "dict[str, numpy.ndarray]",
           lambda o: is_ndarray(o) or is_array_dict(o), write_npz, read_numpy),
)
# fmt: on

FORMAT_TABLE: list[tuple[tuple[str, ...], str, str]] = [
    (fmt.extensions, fmt.name, fmt.python_type) for fmt in _FORMATS
]
"""(extensions, format name, Python type) rows, one per format, for the README."""


# --- lookups ------------------------------------------------------------------------------


def known_extensions() -> list[str]:
    """Every extension that implies a format, plus the compression suffixes.

    Returns:
        Lower-case extensions without the dot, e.g. ``["bin", "txt", ..., "gz", "bz2", "xz"]``.
    """
    return [ext for fmt in _FORMATS for ext in fmt.extensions] + [c.suffix for c in COMPRESSIONS]


def _split_key(key: str) -> tuple[str, Compression | None]:
    """The key's format extension (lower-case, maybe empty) and its compression suffix."""
    name = key.rsplit("/", 1)[-1].lower()
    parts = name.split(".")[1:]
    compression = next((c for c in COMPRESSIONS if parts and parts[-1] == c.suffix), None)
    if compression is not None:
        parts = parts[:-1]
    return (parts[-1] if parts else ""), compression


def _format_for_ext(ext: str) -> Format | None:
    return next((fmt for fmt in _FORMATS if ext in fmt.extensions), None)


def _format_for_name(name: str) -> Format | None:
    return next((fmt for fmt in _FORMATS if name in (fmt.name, *fmt.aliases)), None)


def format_name_for_key(key: str) -> str | None:
    """The format a key's extension implies, ignoring any compression suffix.

    Args:
        key: an object key or file name.

    Returns:
        The format name, or ``None`` when the extension names no format.

    Example:
        >>> format_name_for_key("tables/x.TSV.gz")
        'csv'
    """
    fmt = _format_for_ext(_split_key(key)[0])
    return fmt.name if fmt else None


# --- serialize ----------------------------------------------------------------------------


def _choose_format(obj: object, key: str, ext: str) -> Format:
    """The key's format when it names one that can hold ``obj``, else the type's."""
    by_ext = _format_for_ext(ext)
    if by_ext is not None:
        if by_ext.can_hold(obj):
            return by_ext
        holders = sorted({f".{e}" for f in _FORMATS if f.can_hold(obj) for e in f.extensions})
        raise FormatError(
            f"cannot store a {type(obj).__name__} under {key!r}: the {by_ext.name} format "
            f"(.{ext}) cannot hold it. Formats that can: {', '.join(holders) or 'none'}; "
            "use a key with one of those extensions, or convert the object first.",
            key=key,
        )
    by_type = next((f for f in _FORMATS if f.by_type and f.can_hold(obj)), None)
    if by_type is None:
        raise FormatError(
            f"cannot store a {type(obj).__name__} under {key!r}: no format holds that type. "
            "Supported: dict, list, tuple, str, int, float, bool, None, bytes, "
            "pandas.DataFrame, numpy.ndarray; pass bytes to store anything verbatim.",
            key=key,
        )
    return by_type


def serialize(obj: object, key: str) -> tuple[bytes, dict[str, Any]]:
    """Bytes to store for ``obj`` under ``key`` and the helium ``format`` dict describing them.

    Args:
        obj: the object to store.
        key: the destination key; its extension (and ``.gz``/``.bz2``/``.xz``) decides the
            format when it names one.

    Returns:
        ``(data, format_dict)``, e.g. ``(b'{"a":1}', {"name": "json"})``.

    Raises:
        FormatError: the key's format cannot hold ``obj``, or no format can.

    Example:
        >>> serialize({"a": "b"}, "my-dict.json")
        (b'{"a":"b"}', {'name': 'json'})
    """
    if isinstance(obj, bytes | bytearray):
        return bytes(obj), {"name": "bytes"}
    ext, compression = _split_key(key)
    fmt = _choose_format(obj, key, ext)
    opts = {**fmt.opts, **fmt.ext_opts.get(ext, {})}
    try:
        opts.update(fmt.obj_opts(obj) if fmt.obj_opts else {})
        data = fmt.write(obj, opts)
    except CODEC_ERRORS as err:
        raise FormatError(
            f"cannot write the {type(obj).__name__} for {key!r} as {fmt.name}: {err}. "
            "Nothing was written.",
            key=key,
        ) from err
    if compression is not None:
        data = compression.compress(data)
        opts["compression"] = compression.name
    # T4's key order: its own fields and opts first, the name last
    return data, {**fmt.fields, **({"opts": opts} if opts else {}), "name": fmt.name}


# --- deserialize --------------------------------------------------------------------------

_Resolved = tuple[Format, Opts, Compression | None]


def _from_metadata(key: str, fmt: Mapping[str, Any], data: bytes) -> _Resolved:
    """The format, opts and compression the metadata names.

    When the metadata names no compression, the key's suffix is still trusted if the bytes
    start with that codec's magic number (a compressed file described by a tool that does
    not record compression); bytes named in metadata are always returned verbatim.
    """
    name = str(fmt["name"])
    found = _format_for_name(name)
    opts = dict(fmt.get("opts") or {})
    codec = next((c for c in COMPRESSIONS if c.name == opts.get("compression")), None)
    if found is None or (codec is None and "compression" in opts):
        what = f"format {name!r}" if found is None else f"compression {opts['compression']!r}"
        raise FormatError(
            f"cannot read {key!r}: its metadata names the unknown {what}. Known formats: "
            f"{', '.join(sorted({n for f in _FORMATS for n in (f.name, *f.aliases)}))}; "
            f"compressions: {', '.join(c.name for c in COMPRESSIONS)}.",
            key=key,
        )
    if codec is None and found.name != "bytes":
        suffix_codec = _split_key(key)[1]
        if suffix_codec is not None and data.startswith(suffix_codec.magic):
            codec = suffix_codec
    return found, opts, codec


def _from_key(key: str) -> _Resolved:
    """The format, opts and compression the key's extension and suffix imply."""
    ext, codec = _split_key(key)
    found = _format_for_ext(ext)
    if found is None:
        raise FormatError(
            f"cannot read {key!r}: no format metadata and the extension is not one of "
            f"{', '.join('.' + e for e in known_extensions())}. Fetch it as bytes, or "
            "rename it with a known extension.",
            key=key,
        )
    return found, {**found.opts, **found.ext_opts.get(ext, {})}, codec


def _resolve(key: str, fmt: Mapping[str, Any] | None, head: bytes) -> _Resolved:
    """The metadata's format if it names one, else the key's."""
    return _from_metadata(key, fmt, head) if fmt and fmt.get("name") else _from_key(key)


def deserialize(data: bytes, key: str, fmt: Mapping[str, Any] | None) -> object:
    """Turn stored bytes back into an object.

    Args:
        data: the object's bytes.
        key: its key; the extension decides when ``fmt`` names no format.
        fmt: the helium ``format`` dict from the object's metadata, or ``None``.

    Returns:
        The object, of the type listed in ``FORMAT_TABLE`` for its format.

    Raises:
        FormatError: neither the metadata nor the extension names a known format.
        DeserializationError: the bytes are not valid for that format.

    Example:
        >>> deserialize(b'{"a": 1}', "x.json", {"name": "json"})
        {'a': 1}
    """
    found, opts, codec = _resolve(key, fmt, data)
    label = found.name + (f"+{codec.name}" if codec else "")
    try:
        raw = codec.decompress(data) if codec else data
        return found.read(raw, opts)
    except CODEC_ERRORS as err:
        raise DeserializationError(
            f"cannot read {key!r} as {label}: {type(err).__name__}: {err}", key=key
        ) from err


def format_of(key: str, fmt: Mapping[str, Any] | None, head: bytes) -> str | None:
    """The name of the format ``deserialize`` would read the object in, from its key, its
    helium ``format`` dict and its first bytes; ``None`` when none is known.

    Example:
        >>> format_of("x.csv.gz", None, b""), format_of("blob", None, b"")
        ('csv', None)
    """
    try:
        found, _, _ = _resolve(key, fmt, head)
    except FormatError:
        return None
    return found.name


def read_head(
    stream: BinaryIO, key: str, fmt: Mapping[str, Any] | None, rows: int
) -> tuple[object, int | None] | None:
    """The first ``rows`` rows of a table read from ``stream`` (from ``Bucket.open``), reading
    no more of it than they need, and the total row count where the format records it
    (Parquet's footer); ``None`` for a format that cannot be read in part.

    Example:
        >>> with b.open("big.csv") as f:  # doctest: +SKIP
        ...     frame, total = read_head(f, "big.csv", None, 5)
    """
    head = stream.peek(8)[:8] if isinstance(stream, io.BufferedReader) else b""
    found, opts, codec = (
        _from_metadata(key, fmt, head) if fmt and fmt.get("name") else _from_key(key)
    )
    if found.read_head is None:
        return None
    try:
        return found.read_head(codec.stream(stream) if codec else stream, opts, rows)
    except CODEC_ERRORS as err:
        raise DeserializationError(
            f"cannot read the first rows of {key!r} as {found.name}: {type(err).__name__}: {err}",
            key=key,
        ) from err
