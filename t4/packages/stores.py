"""Reading and copying the bytes behind physical keys, wherever they are: S3 objects (one
``t4.Bucket`` per bucket, opened on first use and closed with the ``Stores``) and local files.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from t4.bucket import Bucket
from t4.errors import LocalPathError, VersionsUnsupportedError
from t4.packages import hashing
from t4.packages.manifest import PhysicalKey
from t4.transfer import atomic_write_target

__all__ = ["Stores"]

#: Objects up to this size are hashed from one GET in memory; larger ones through a file.
_IN_MEMORY = 8 * 1024 * 1024


class Stores:
    """The buckets a package operation touches. ``given`` buckets are used, not closed."""

    def __init__(self, *given: Bucket):
        self._buckets: dict[str, Bucket] = {}
        self._owned: list[Bucket] = []
        self._lock = threading.Lock()
        for bucket in given:
            if bucket.uri.startswith("s3://"):
                self._buckets[bucket.uri[5:]] = bucket

    def bucket(self, name: str) -> Bucket:
        with self._lock:
            if name not in self._buckets:
                opened = Bucket(f"s3://{name}")
                self._buckets[name] = opened
                self._owned.append(opened)
            return self._buckets[name]

    def close(self) -> None:
        for bucket in self._owned:
            bucket.close()

    def __enter__(self) -> Stores:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading ------------------------------------------------------------------------
    def read(self, pk: PhysicalKey) -> bytes:
        """The whole content behind ``pk``."""
        if pk.bucket is None:
            return _local(pk).read_bytes()
        return self.bucket(pk.bucket).get_bytes(pk.path, pk.version_id)

    def size_and_version(self, pk: PhysicalKey) -> tuple[int, str | None]:
        """The size behind ``pk`` and, for an S3 object, its current version id if any."""
        if pk.bucket is None:
            return _local(pk).stat().st_size, None
        info, _ = self.bucket(pk.bucket).head(pk.path, pk.version_id)
        return info.size, info.version_id

    def copy(self, pk: PhysicalKey, dest: Path) -> None:
        """Copy the content behind ``pk`` to the file ``dest``, whole or not at all."""
        if pk.bucket is None:
            with atomic_write_target(dest) as tmp:
                shutil.copyfile(_local(pk), tmp)
            return
        self.bucket(pk.bucket).fetch(pk.path, dest, version_id=pk.version_id)

    def copy_many(self, items: list[tuple[PhysicalKey, Path]]) -> None:
        """``copy`` for many: S3 objects through each bucket's bulk fetch (one listing, one
        GET per file that differs), local files in parallel."""
        by_bucket: dict[str, list[tuple[PhysicalKey, Path]]] = {}
        local = []
        for pk, dest in items:
            if pk.bucket is None:
                local.append((pk, dest))
            else:
                by_bucket.setdefault(pk.bucket, []).append((pk, dest))
        again = []  # a key at two logical keys: fetched once, the rest one by one after
        for name, pairs in by_bucket.items():
            files: dict[str, str | Path] = {}
            versions: dict[str, str] = {}
            for pk, dest in pairs:
                if pk.path in files:
                    again.append((pk, dest))
                    continue
                files[pk.path] = dest
                if pk.version_id:
                    versions[pk.path] = pk.version_id
            self.bucket(name).fetch_files(files, versions)
        for pk, dest in local + again:
            self.copy(pk, dest)

    @contextmanager
    def local_copy(self, pk: PhysicalKey) -> Iterator[Path]:
        """A local file with the content behind ``pk`` (the file itself if it is local)."""
        if pk.bucket is None:
            yield _local(pk)
            return
        with tempfile.TemporaryDirectory(prefix="t4-pkg-") as folder:
            path = Path(folder) / "object"
            self.copy(pk, path)
            yield path

    def hash(self, pk: PhysicalKey, size: int, kind: str = hashing.CHUNKED) -> dict[str, str]:
        """The manifest hash of the content behind ``pk``, computed from its bytes."""
        if pk.bucket is not None and size <= _IN_MEMORY:
            return hashing.hash_bytes(self.read(pk), kind)
        with self.local_copy(pk) as path:
            return hashing.hash_file(path, kind)

    def latest_versions(self, bucket: Bucket, prefix: str) -> dict[str, str]:
        """key -> current version id under ``prefix``, or ``{}`` where there are none."""
        try:
            return {
                v.key: v.version_id
                for v in bucket.versions(prefix)
                if v.is_latest and not v.is_delete_marker and v.version_id != "null"
            }
        except VersionsUnsupportedError:
            return {}


def _local(pk: PhysicalKey) -> Path:
    path = Path(pk.path)
    if not os.path.isfile(path):
        raise LocalPathError(f"package entry file {path} does not exist (from {pk})")
    return path
