"""``PackageEntry``: one file of a package, as ``pkg[logical_key]`` returns it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from t4 import formats
from t4.packages import hashing
from t4.packages.copies import Target, copy_checked
from t4.packages.manifest import PhysicalKey, Record
from t4.packages.stores import Stores

__all__ = ["PackageEntry"]


class PackageEntry:
    """One file of a package: where its bytes are, their size and hash, and its metadata.

    Example:
        >>> entry = pkg["data/a.csv"]  # doctest: +SKIP
        >>> entry.size, entry.meta, entry.get()  # doctest: +SKIP
        (8, {'rows': 1}, 's3://bucket/team/data/data/a.csv')
        >>> df = entry()  # deserialised through t4's format registry  # doctest: +SKIP
    """

    __slots__ = ("_record", "logical_key")

    def __init__(self, logical_key: str, record: Record):
        self.logical_key = logical_key
        self._record = record

    @property
    def physical_key(self) -> PhysicalKey:
        return PhysicalKey.from_url(self._record.physical_key)

    @property
    def size(self) -> int:
        return self._record.size

    @property
    def hash(self) -> dict[str, str] | None:
        return self._record.hash

    @property
    def meta(self) -> Any:
        """The entry's user metadata (``{}`` when none)."""
        return self._record.meta.get("user_meta", {})

    def set_meta(self, meta: Any) -> PackageEntry:
        """Replace the entry's user metadata."""
        self._record.meta["user_meta"] = meta
        return self

    def get(self) -> str:
        """The URL of the entry's bytes (``s3://...?versionId=...`` or ``file:///...``)."""
        return self._record.physical_key

    def get_bytes(self) -> bytes:
        """The entry's bytes, checked against its hash."""
        with Stores() as stores:
            data = stores.read(self.physical_key)
        if self.hash is not None:
            hashing.check(
                self.hash,
                lambda kind: hashing.hash_bytes(data, kind),
                what=f"package entry {self.logical_key!r} ({self.get()})",
            )
        return data

    def deserialize(self) -> Any:
        """The entry as a Python object: its recorded format wins, else the extension."""
        fmt = self._record.meta.get("format")
        return formats.deserialize(
            self.get_bytes(), self.logical_key, fmt if isinstance(fmt, dict) else None
        )

    def __call__(self) -> Any:
        return self.deserialize()

    def fetch(self, dest: str | Path | None = None) -> PackageEntry:
        """Copy the bytes to ``dest`` (default: the key's file name here), checked against the
        entry's hash as they are written (``HashMismatchError``, and no file, if they do not
        match); returns an entry pointing at the copy."""
        path = Path(dest if dest is not None else self.logical_key.rsplit("/", 1)[-1])
        if path.is_dir() or str(dest).endswith("/"):
            path = path / self.logical_key.rsplit("/", 1)[-1]
        target = Target(self.logical_key, self._record, self.physical_key, path.absolute())
        with Stores() as stores:
            copy_checked(target, stores)
        record = Record(str(PhysicalKey.from_path(path)), self.size, self.hash, self._record.meta)
        return PackageEntry(self.logical_key, record)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PackageEntry) and self._record.same_content(other._record)

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by content

    def __repr__(self) -> str:
        return f"PackageEntry({self.get()!r})"
