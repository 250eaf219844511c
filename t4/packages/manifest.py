"""The package manifest, byte for byte as quilt3 8.0.0 writes it (see PACKAGES-FORMAT.md).

JSONL in UTF-8: the header (``version``, ``user_meta``?, ``message``), then one line per
directory that has metadata, then one line per entry, each in walk order (sorted level by
level: by ``logical_key.split("/")``). The top hash is SHA-256 over the header and each
entry's hash, logical key, meta and size as sorted, compact, ASCII JSON; physical keys and
directory metadata are not part of it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlencode, urlparse, urlunparse

from t4.errors import InvalidKeyError, T4Error

__all__ = [
    "MAX_RECORD",
    "Manifest",
    "PhysicalKey",
    "Record",
    "dump_lines",
    "load",
    "top_hash",
    "validate_logical_key",
    "walk_order",
]

#: quilt3 refuses manifest lines longer than this many bytes (``QUILT_MANIFEST_MAX_RECORD_SIZE``).
MAX_RECORD = 1_000_000

_write = json.JSONEncoder(ensure_ascii=False, allow_nan=False).encode
_hash_json = json.JSONEncoder(sort_keys=True, separators=(",", ":")).encode


@dataclass(frozen=True)
class PhysicalKey:
    """Where an entry's bytes are: an S3 object (maybe one version of it) or a local file."""

    bucket: str | None  # None: a local file
    path: str
    version_id: str | None = None

    @classmethod
    def from_url(cls, url: str) -> PhysicalKey:
        """Parse ``s3://bucket/key?versionId=v`` or ``file:///abs/path`` as quilt3 does."""
        parsed = urlparse(url)
        if parsed.scheme == "s3":
            query = parse_qs(parsed.query)
            extra = set(query) - {"versionId"}
            if not parsed.netloc or extra or parsed.fragment:
                raise T4Error(f"physical key {url!r}: expected s3://bucket/key[?versionId=...]")
            version = query.get("versionId", [None])[0]
            return cls(parsed.netloc, unquote(parsed.path)[1:], version)
        if parsed.scheme == "file":
            if parsed.netloc not in ("", "localhost") or parsed.query:
                raise T4Error(f"physical key {url!r}: a file URL must name a local path")
            return cls(None, unquote(parsed.path))
        raise T4Error(f"physical key {url!r}: expected an s3:// or file:// URL")

    @classmethod
    def from_path(cls, path: str | Path) -> PhysicalKey:
        """A local file, by its real absolute path."""
        return cls(None, os.path.realpath(path))

    @property
    def is_local(self) -> bool:
        return self.bucket is None

    def __str__(self) -> str:
        if self.bucket is None:
            return PurePath(self.path).as_uri()
        query = urlencode({"versionId": self.version_id} if self.version_id else {})
        return urlunparse(("s3", self.bucket, quote("/" + self.path), "", query, ""))


class Record:
    """One entry of a manifest: where the bytes are, their size and hash, and its meta
    (``{"user_meta": ...}`` and maybe ``format``/``target``). Slotted: large packages hold
    100,000 of these."""

    __slots__ = ("hash", "meta", "physical_key", "size")

    def __init__(
        self,
        physical_key: str,
        size: int,
        hash: dict[str, str] | None,
        meta: dict[str, Any] | None,
    ):
        self.physical_key = physical_key
        self.size = size
        self.hash = hash
        self.meta = meta or {}

    def line(self, logical_key: str) -> dict[str, Any]:
        """The manifest line, keys in quilt3's order."""
        return {
            "logical_key": logical_key,
            "physical_keys": [self.physical_key],
            "size": self.size,
            "hash": self.hash,
            "meta": self.meta,
        }

    def same_content(self, other: Record) -> bool:
        """Same size, hash and meta (where the bytes live does not matter)."""
        return (self.size, self.hash, self.meta) == (other.size, other.hash, other.meta)


def walk_order(logical_key: str) -> list[str]:
    """The sort key of quilt3's walk: level by level, code point order within a level."""
    return logical_key.split("/")


def validate_logical_key(key: str) -> str:
    """A logical key must be a non-empty relative path without empty, ``.`` or ``..`` parts."""
    if not isinstance(key, str) or not key or key.endswith("/") or key.startswith("/"):
        raise InvalidKeyError(f"logical key {key!r}: must be a non-empty path not ending in '/'")
    if any(part in ("", ".", "..") for part in key.split("/")):
        raise InvalidKeyError(f"logical key {key!r}: empty, '.' and '..' parts are not allowed")
    return key


def top_hash(header: dict[str, Any], entries: Iterable[tuple[str, Record]]) -> str:
    """The package's top hash over ``header`` and ``entries`` given in walk order."""
    digest = hashlib.sha256(_hash_json(header).encode())
    for logical_key, record in entries:
        if record.hash is None:
            raise T4Error(f"entry {logical_key!r} has no hash yet: build or push the package")
        part = {"hash": record.hash, "logical_key": logical_key, "meta": record.meta, "size": 0}
        part["size"] = record.size
        digest.update(_hash_json(part).encode())
    return digest.hexdigest()


def _encode(obj: dict[str, Any]) -> bytes:
    data = (_write(obj) + "\n").encode("utf-8")
    if len(data) > MAX_RECORD + 1:
        what = obj.get("logical_key", "the package metadata")
        raise T4Error(
            f"manifest line for {what!r} is {len(data) - 1} bytes; quilt3 reads at most "
            f"{MAX_RECORD}: keep metadata under 1 MB"
        )
    return data


def dump_lines(
    header: dict[str, Any],
    dir_meta: Iterable[tuple[str, dict[str, Any]]],
    entries: Iterable[tuple[str, Record]],
) -> Iterator[bytes]:
    """The manifest's lines as bytes (each ending in a newline), in quilt3's order."""
    yield _encode(header)
    for key, meta in dir_meta:
        yield _encode({"logical_key": key, "meta": meta})
    for logical_key, record in entries:
        yield _encode(record.line(logical_key))


def load(
    data: bytes, *, where: str
) -> tuple[dict[str, Any], dict[str, dict[str, Any]], dict[str, Record]]:
    """Parse a manifest: (header, directory metadata by key, entries by logical key)."""
    lines = data.decode("utf-8").splitlines()
    try:
        header = json.loads(lines[0])
        header.pop("top_hash", None)  # obsolete; quilt3 drops it too
        dir_meta: dict[str, dict[str, Any]] = {}
        entries: dict[str, Record] = {}
        for text in lines[1:]:
            if not text.strip():
                continue
            obj = json.loads(text)
            key = obj["logical_key"]
            if not obj.get("physical_keys"):
                dir_meta[key] = obj.get("meta") or {}
                continue
            if key in entries:
                raise ValueError(f"duplicate logical key {key!r}")
            if not _is_hash(obj["hash"]):  # nothing to check the bytes against: refused
                raise ValueError(f"entry {key!r} has no hash")
            entries[key] = Record(obj["physical_keys"][0], obj["size"], obj["hash"], obj["meta"])
    except (ValueError, KeyError, IndexError, TypeError) as err:
        raise T4Error(f"{where} is not a valid package manifest ({err})") from err
    return header, dir_meta, entries


def _is_hash(found: Any) -> bool:
    return isinstance(found, dict) and all(isinstance(found.get(k), str) for k in ("type", "value"))


@dataclass
class Manifest:
    """A package version as plain data, what ``t4.packages.ops`` works on and returns and
    ``Package`` wraps: the header (``version``, ``message``, ``user_meta``, ``workflow``),
    the entries by logical key, each directory's metadata, and the ``(registry URI, name,
    top hash)`` it was browsed or pushed as; ``read``, each entry's physical key as the
    registry's manifest named it (browsed), so that fetch checks what the registry said, not
    what the user set since."""

    header: dict[str, Any] = field(default_factory=lambda: {"version": "v0"})
    entries: dict[str, Record] = field(default_factory=dict)
    dir_meta: dict[str, Any] = field(default_factory=dict)
    origin: tuple[str, str, str] | None = None
    read: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    def records(self) -> Iterator[tuple[str, Record]]:
        """Every ``(logical key, record)`` in quilt3's walk order."""
        for lk in sorted(self.entries, key=walk_order):
            yield lk, self.entries[lk]

    def top_hash(self) -> str:
        """The top hash (every entry must have a hash)."""
        return top_hash(self.header, self.records())

    def manifest_bytes(self) -> bytes:
        """The manifest exactly as quilt3 writes it."""
        dirs = sorted(self.dir_meta.items(), key=lambda item: walk_order(item[0][:-1]))
        return b"".join(dump_lines(self.header, [(k, m) for k, m in dirs if m], self.records()))
