"""A read-only file object over one stored object that fetches only the byte ranges read.

``Bucket.open`` returns one. Libraries that read files (pandas, pyarrow) can then take the
start of a large CSV or a Parquet footer and its first row group without the whole object
being downloaded.
"""

from __future__ import annotations

import io

from t4.backends.base import Backend, ObjectInfo
from t4.keys import check_file_key
from t4.surface import named

__all__ = ["READ_AHEAD", "RangeReader"]

#: The smallest range fetched at once: fewer, larger requests for small sequential reads.
READ_AHEAD = 256 * 1024


class RangeReader(io.RawIOBase):
    """Reads ``info``'s bytes from ``backend`` one range at a time (wrap it in
    ``io.BufferedReader`` to read ahead); seekable, so Parquet can read its footer first.
    ``version_id``: the ranges of that version (a versioned S3 bucket), not the latest."""

    def __init__(self, backend: Backend, info: ObjectInfo, version_id: str | None = None):
        self._backend = backend
        self._info = info
        self._version_id = version_id
        self._pos = 0

    @classmethod
    def of(cls, backend: Backend, key: str | ObjectInfo, version_id: str | None) -> RangeReader:
        """A reader of ``key`` (its HEAD first, for the size) or of the object ``key``
        describes (nothing asked first)."""
        if isinstance(key, ObjectInfo):
            return cls(backend, key, version_id)
        key = check_file_key(key, backend.uri, hint=named("fetch"))
        if version_id is None:
            return cls(backend, backend.head(key)[0])
        return cls(backend, backend.head_version(key, version_id)[0], version_id)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._info.size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]  # typeshed's Buffer
        want = min(len(buffer), self._info.size - self._pos)
        if want <= 0:
            return 0
        if self._version_id is None:
            data, _ = self._backend.get_range(self._info.key, self._pos, want)
        else:
            key, version = self._info.key, self._version_id
            data, _ = self._backend.get_version_range(key, version, self._pos, want)
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)
