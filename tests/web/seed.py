"""A bucket seeded with what the pages show: folders, a big folder (paging), previewable
files of every kind, hostile keys and metadata, and a package with two versions pushed an
hour apart, whose message and README are hostile too."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

import t4

#: Strings that would run script if a page put them in unescaped.
HOSTILE = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(2)>',
    "'><svg onload=alert(3)>",
    "javascript:alert(4)",
]
HOSTILE_KEYS = [
    "hostile/<script>alert(1)</script>.txt",
    'hostile/"><img src=x onerror=alert(2)>.md',
    "hostile/'><svg onload=alert(3)>.csv",
    "hostile/a?b#c%20d &amp;.json",
]
README = """# Team data

Rows from the **lab**, one file a day.

<script>alert(11)</script>
<img src=x onerror=alert(12)>
[click](javascript:alert(13))

| col | meaning |
|-----|---------|
| a   | first   |
"""
PACKAGE = "team/data"
#: More than one page of a folder listing (1,000).
MANY = 1_005


def png() -> bytes:
    """A 4x4 red PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * 4 for _ in range(4))
    header = struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def parquet(rows: int) -> bytes:
    table = pa.table({"id": list(range(rows)), "name": [f"row-{i}" for i in range(rows)]})
    out = io.BytesIO()
    pq.write_table(table, out, row_group_size=1_000)
    return out.getvalue()


def seed_objects(bucket: t4.Bucket) -> None:
    csv_text = "city,population\n" + "".join(f"city{i},{i * 1000}\n" for i in range(200))
    bucket.put(
        "data/cities.csv",
        csv_text.encode(),
        meta={"source": "census", "year": 2020, "tags": ["geo", "people"]},
    )
    bucket.put("data/cities.tsv", csv_text.replace(",", "\t").encode())
    bucket.put("data/rows.parquet", parquet(5_000), meta={"rows": 5_000})
    bucket.put("data/notes.txt.gz", zlib_gzip(b"hello from a gzip file\n" * 3))
    bucket.put("data/config.json", b'{"b": [1, 2], "a": {"deep": true}}')
    bucket.put("docs/README.md", README.encode())
    bucket.put("images/red.png", png(), meta={"camera": "none"})
    bucket.put("top.txt", b"at the top\n")
    for i, key in enumerate(HOSTILE_KEYS):
        bucket.put(key, HOSTILE[i].encode(), meta={"note": HOSTILE[i], HOSTILE[(i + 1) % 4]: 1})


def seed_many(bucket: t4.Bucket, folder: Path) -> None:
    many = folder / "many"
    many.mkdir(parents=True)
    for i in range(MANY):
        (many / f"f{i:04}.txt").write_bytes(b"x")
    bucket.put_dir("many/", many)


def zlib_gzip(data: bytes) -> bytes:
    import gzip

    return gzip.compress(data, mtime=0)


def seed_package(bucket: t4.Bucket, work: Path) -> tuple[str, str]:
    """Two versions of ``team/data``; their timestamp pointers an hour apart, as two pushes
    an hour apart leave them. Returns (first top hash, second top hash)."""
    src = work / "pkg-src"
    (src / "raw").mkdir(parents=True)
    (src / "README.md").write_text(README)
    (src / "raw" / "a.csv").write_text("a\n1\n")
    (src / "raw" / "b.csv").write_text("b\n2\n")
    first = t4.Package()
    first.set_dir("", str(src), meta={"lab": HOSTILE[1]})
    first = first.push(PACKAGE, registry=bucket, message="first " + HOSTILE[0])
    old = f".quilt/named_packages/{PACKAGE}/"
    pointers = [k for k in bucket.keys(old) if k.rpartition("/")[2].isdigit()]
    stamp = int(pointers[0].rpartition("/")[2])
    bucket.put(old + str(stamp - 3600), first.top_hash.encode())
    bucket.delete(pointers[0])
    (src / "raw" / "b.csv").write_text("b\n3\n")
    (src / "raw" / "c.csv").write_text("c\n4\n")
    (src / "raw" / "a.csv").unlink()
    second = t4.Package.browse(PACKAGE, registry=bucket)
    second.delete("raw/a.csv")
    second.set("raw/b.csv", str(src / "raw" / "b.csv"))
    second.set("raw/c.csv", str(src / "raw" / "c.csv"), meta={"new": True})
    second = second.push(PACKAGE, registry=bucket, message="second: b changed, c added")
    return first.top_hash, second.top_hash
