"""A read-only file object over one stored object that fetches only the byte ranges read.

``Bucket.open`` returns one. Libraries that read files (pandas, pyarrow) can then take the
start of a large CSV or a Parquet footer and its first row group without the whole object
being downloaded.
"""

from __future__ import annotations

import io

from t4.backends.base import Backend, ObjectInfo

__all__ = ["READ_AHEAD", "RangeReader"]

#: The smallest range fetched at once: fewer, larger requests for small sequential reads.
READ_AHEAD = 256 * 1024


class RangeReader(io.RawIOBase):
    """Reads ``info``'s bytes from ``backend`` one range at a time (wrap it in
    ``io.BufferedReader`` to read ahead); seekable, so Parquet can read its footer first."""

    def __init__(self, backend: Backend, info: ObjectInfo):
        self._backend = backend
        self._info = info
        self._pos = 0

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
        data, _ = self._backend.get_range(self._info.key, self._pos, want)
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)
