"""What the search index stores for one object, and how text is drawn from an object's bytes.

Nothing here touches storage or SQL: a ``Document`` is built by the crawler (or by
``Bucket`` after a write) and handed to an index.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

from t4.config import cache_dir

__all__ = [
    "CSV_ROWS",
    "TABLE_EXTENSIONS",
    "TEXT_BYTES",
    "TEXT_CHARS",
    "TEXT_EXTENSIONS",
    "Document",
    "index_path_for",
    "is_text_like",
    "text_of",
]

#: How much of an object's start is read to index its text.
TEXT_BYTES = 64 * 1024
#: How many characters of text the index keeps for one object.
TEXT_CHARS = 16_000
#: How many data rows of a CSV/TSV file are indexed after its header.
CSV_ROWS = 20

_PLAIN = {"txt", "md", "rst", "json", "jsonl", "ndjson", "yaml", "yml", "xml", "html", "log"}
_PLAIN |= {"ini", "toml", "cfg", "py", "r", "sql", "sh", "tex", "htm", "markdown", "text"}
_DELIMITED = {"csv": ",", "tsv": "\t", "ssv": ";", "psv": "|"}
_COMPRESSED = {"gz", "gzip", "bz2", "xz", "zst", "zip"}
#: Extensions whose content is indexed as text, and those indexed as delimited tables.
TEXT_EXTENSIONS = frozenset(_PLAIN)
TABLE_EXTENSIONS = frozenset(_DELIMITED)


@dataclass(frozen=True, slots=True)
class Document:
    """One object as the search index stores it.

    ``text`` is an excerpt of the object's content when it is text-like (already capped to
    ``TEXT_CHARS``), otherwise ``None``. ``user_meta`` is the ``user_meta`` part of the
    object's helium metadata.

    Example:
        >>> from datetime import datetime, timezone
        >>> Document("a.txt", 3, "abc", datetime(2024, 1, 1, tzinfo=timezone.utc), None,
        ...          {"name": "thor"}, "hi!").key
        'a.txt'
    """

    key: str
    size: int
    etag: str | None
    last_modified: datetime
    version_id: str | None = None
    user_meta: dict[str, Any] = field(default_factory=dict)
    text: str | None = None


def _extensions(key: str) -> tuple[str, str | None]:
    """The key's format extension and its compression extension, lower case."""
    suffixes = [s.lstrip(".").lower() for s in PurePosixPath(key).suffixes]
    if not suffixes:
        return "", None
    if suffixes[-1] in _COMPRESSED:
        return (suffixes[-2] if len(suffixes) > 1 else ""), suffixes[-1]
    return suffixes[-1], None


def is_text_like(key: str) -> bool:
    """Whether the object's content is worth indexing as text, judged by its key.

    Gzip-compressed variants (``.csv.gz``) count; other compressions do not, since their
    first bytes cannot be decoded on their own.

    Example:
        >>> is_text_like("notes/README.md"), is_text_like("t.csv.gz"), is_text_like("x.parquet")
        (True, True, False)
    """
    ext, compression = _extensions(key)
    if compression not in (None, "gz", "gzip"):
        return False
    return ext in _PLAIN or ext in _DELIMITED


def _decompress_head(head: bytes) -> bytes | None:
    """The start of a gzip stream's content, from the stream's start (which may be cut)."""
    try:
        return zlib.decompressobj(wbits=47).decompress(head, TEXT_BYTES)
    except zlib.error:
        return None


def _decode(raw: bytes) -> str | None:
    if b"\x00" in raw[:8192]:
        return None  # binary content under a text-looking name
    return raw[:TEXT_BYTES].decode("utf-8", errors="ignore")


def _delimited_excerpt(text: str, sep: str) -> str:
    """The header and first ``CSV_ROWS`` rows, cells joined by spaces."""
    lines = text.splitlines()[: CSV_ROWS + 1]
    rows = csv.reader(io.StringIO("\n".join(lines)), delimiter=sep)
    try:
        return "\n".join(" ".join(cell.strip() for cell in row) for row in rows)
    except csv.Error:
        return "\n".join(lines)


def text_of(key: str, head: bytes) -> str | None:
    """The text to index for an object, given up to ``TEXT_BYTES`` of its start.

    Plain text formats are indexed as they are; CSV/TSV files by their header and first
    ``CSV_ROWS`` rows. Returns ``None`` for objects that are not text-like or whose bytes
    look binary. The result is capped at ``TEXT_CHARS`` characters.

    Example:
        >>> text_of("people.csv", b"name,age\\nthor,1500\\n")
        'name age\\nthor 1500'
        >>> text_of("image.png", b"\\x89PNG") is None
        True
    """
    if not is_text_like(key):
        return None
    ext, compression = _extensions(key)
    raw = _decompress_head(head) if compression else head
    text = _decode(raw) if raw is not None else None
    if text is None:
        return None
    if ext in _DELIMITED:
        text = _delimited_excerpt(text, _DELIMITED[ext])
    return text[:TEXT_CHARS]


def index_path_for(identity: str, local_root: Path | None) -> Path:
    """Where a bucket's embedded index lives.

    A local-folder bucket keeps it in its reserved folder (``<root>/.t4/index.sqlite``); an
    S3 bucket in the user's cache, one file per bucket *identity* (``Backend.identity``: the
    URI and the endpoint), so that two servers' buckets of one name never share an index.

    Example:
        >>> index_path_for("/data/lake", Path("/data/lake"))
        PosixPath('/data/lake/.t4/index.sqlite')
        >>> path = index_path_for("s3://my-bucket@https://s3.amazonaws.com", None)
        >>> path.name  # doctest: +ELLIPSIS
        'my-bucket-....sqlite'
    """
    if local_root is not None:
        return Path(local_root) / ".t4" / "index.sqlite"
    name = identity.removeprefix("s3://").split("@", 1)[0].strip("/")
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", name)[:100] or "bucket"
    digest = hashlib.sha256(identity.encode()).hexdigest()[:10]
    return cache_dir() / "index" / f"{safe}-{digest}.sqlite"
