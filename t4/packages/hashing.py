"""Object hashes as package manifests record them, computed by reading the bytes ourselves
(streaming, a chunk at a time), never taken from a server field some S3 servers omit.

``sha2-256-chunked`` (quilt3 >= 6, what we write): the content is cut in chunks of 8 MiB
(doubled while more than 10,000 would be needed); the value is the standard base64 of
``sha256(sha256(chunk1) || sha256(chunk2) || ...)``. Empty content has no chunks.
``SHA256`` (T4 0.1.4 and quilt3 < 6): the lowercase hex SHA-256 of the whole content.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from t4.errors import HashMismatchError

__all__ = [
    "CHUNKED",
    "SHA256",
    "Hasher",
    "check",
    "chunk_size",
    "hash_bytes",
    "hash_file",
]

CHUNKED = "sha2-256-chunked"
SHA256 = "SHA256"
_MIN_CHUNK = 8 * 1024 * 1024
_MAX_CHUNKS = 10_000
_READ = 1024 * 1024


def chunk_size(size: int) -> int:
    """The chunk size for content of ``size`` bytes: 8 MiB, doubled until 10,000 suffice."""
    chunk = _MIN_CHUNK
    while -(-size // chunk) > _MAX_CHUNKS:
        chunk *= 2
    return chunk


class Hasher:
    """Feeds bytes in any pieces; ``value()`` is the hash of one type, as a manifest writes it.

    Example:
        >>> h = Hasher(CHUNKED, size=8)
        >>> h.update(b"# hello\\n")
        >>> h.value()
        '+ult+DrAouXcuGgYfVaf3NWA+cwRRRomiJ3GX4nA6k4='
    """

    def __init__(self, kind: str, size: int):
        if kind not in (CHUNKED, SHA256):
            raise ValueError(f"unsupported hash type {kind!r}: use {CHUNKED!r} or {SHA256!r}")
        self.kind = kind
        self._chunk = chunk_size(size)
        self._whole = hashlib.sha256()
        self._part = hashlib.sha256()
        self._in_part = 0
        self._digests = hashlib.sha256()

    def update(self, data: bytes | memoryview) -> None:
        """Add the next bytes of the content."""
        if self.kind == SHA256:
            self._whole.update(data)
            return
        view = memoryview(data)
        while view:
            take = min(len(view), self._chunk - self._in_part)
            self._part.update(view[:take])
            self._in_part += take
            view = view[take:]
            if self._in_part == self._chunk:
                self._digests.update(self._part.digest())
                self._part, self._in_part = hashlib.sha256(), 0

    def update_chunk(self, data: bytes, digest: bytes | None) -> None:
        """Add the next whole chunk of the content (``chunk_size``'s, or the last one),
        with its ``sha256`` digest computed by the caller (another thread) for
        ``sha2-256-chunked``; ``digest`` is unused (None) for ``SHA256``."""
        if self.kind == SHA256 or digest is None or self._in_part:
            self.update(data)
            return
        self._digests.update(digest)

    def value(self) -> str:
        """The hash value: hex for ``SHA256``, base64 for ``sha2-256-chunked``."""
        if self.kind == SHA256:
            return self._whole.hexdigest()
        top = self._digests.copy()
        if self._in_part:
            top.update(self._part.digest())
        return base64.b64encode(top.digest()).decode("ascii")


def hash_bytes(data: bytes, kind: str = CHUNKED) -> dict[str, str]:
    """The manifest hash (``{"type", "value"}``) of ``data``.

    Example:
        >>> hash_bytes(b"")["value"]
        '47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='
    """
    hasher = Hasher(kind, len(data))
    hasher.update(data)
    return {"type": kind, "value": hasher.value()}


def hash_chunks(chunks: Iterable[bytes], size: int, kind: str = CHUNKED) -> dict[str, str]:
    """The manifest hash of content that arrives in pieces (a download, a file)."""
    hasher = Hasher(kind, size)
    for chunk in chunks:
        hasher.update(chunk)
    return {"type": kind, "value": hasher.value()}


def hash_file(path: Path, kind: str = CHUNKED) -> dict[str, str]:
    """The manifest hash of a local file, read 1 MiB at a time.

    Example:
        >>> hash_file(Path("README.md"))  # doctest: +SKIP
        {'type': 'sha2-256-chunked', 'value': '...'}
    """
    with path.open("rb") as src:
        return hash_chunks(iter(lambda: src.read(_READ), b""), path.stat().st_size, kind)


def check(expected: Any, actual_of: Any, *, what: str, bucket: str | None = None) -> None:
    """Raise ``HashMismatchError`` unless ``actual_of(kind)`` equals the ``expected`` hash.

    ``actual_of`` computes the hash of the bytes in question for a hash type.
    """
    kind = expected.get("type") if isinstance(expected, dict) else None
    if kind not in (CHUNKED, SHA256):
        raise HashMismatchError(
            f"{what}: the manifest records an unsupported hash type {kind!r}; "
            f"t4 checks {CHUNKED!r} and {SHA256!r}",
            bucket=bucket,
        )
    actual = actual_of(kind)
    if actual != expected:
        raise HashMismatchError(
            f"{what}: the bytes hash to {actual['value']!r} but the manifest says "
            f"{expected.get('value')!r}; the object changed since the package was made",
            bucket=bucket,
        )
