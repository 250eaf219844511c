"""How t4 cuts a large S3 object into parts, and the multipart ETags that follow from it:
``etag_of_file`` predicts an object's ETag from a local file with these, so a fetch or a put
can skip what is already the same.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

__all__ = [
    "MULTIPART_THRESHOLD",
    "OTHER_PART_SIZES_MIB",
    "STREAMED_PARTS",
    "multipart_etag",
    "part_size_for",
]

#: Objects up to this size move in one request; larger ones in parallel parts.
MULTIPART_THRESHOLD = 8 * 1024 * 1024
_MAX_PARTS = 10_000
#: Parts of one streamed upload (a copy between endpoints) in flight at once, each held in
#: memory while it is sent: what bounds a copy's memory, whatever the object's size.
STREAMED_PARTS = 4

#: Part sizes other S3 tools upload with, tried when an object's multipart ETag is not t4's.
OTHER_PART_SIZES_MIB = (5, 10, 15, 16, 25, 32, 50, 64, 100, 128, 256, 512)


def multipart_etag(path: Path, part: int) -> str:
    """S3's ETag for ``path`` uploaded in parts of ``part`` bytes: MD5 of part MD5s, ``-N``."""
    digests = []
    with path.open("rb") as src:
        while chunk := src.read(part):
            digests.append(hashlib.md5(chunk, usedforsecurity=False).digest())
    joined = hashlib.md5(b"".join(digests), usedforsecurity=False).hexdigest()
    return f"{joined}-{len(digests)}"


def part_size_for(size: int) -> int:
    """The multipart part size for a file: 8 MiB, doubled until it needs at most 10,000 parts."""
    part = MULTIPART_THRESHOLD
    while part * _MAX_PARTS < size:
        part *= 2
    return part
