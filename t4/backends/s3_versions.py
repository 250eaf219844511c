"""An S3 bucket's object versions: listing them, and reading one by its version id."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from t4.backends.base import ByteCallback, ObjectInfo, ObjectVersion, no_such_version
from t4.backends.s3_connection import S3Connection, read_all
from t4.backends.s3_fast import write_body
from t4.errors import KeyNotFoundError

__all__ = ["S3Versions"]


class S3Versions(S3Connection):
    """``Backend``'s version methods for S3, through boto3."""

    def versions(self, prefix: str = "") -> Iterator[ObjectVersion]:
        paginator = self.client.get_paginator("list_object_versions")
        pages = iter(paginator.paginate(Bucket=self.name, Prefix=prefix))
        while (page := self._next_page(pages)) is not None:
            found = [(v, False) for v in page.get("Versions", [])]
            found += [(m, True) for m in page.get("DeleteMarkers", [])]
            found.sort(key=lambda item: (item[0]["Key"], -item[0]["LastModified"].timestamp()))
            for item, marker in found:
                yield ObjectVersion(
                    key=item["Key"],
                    version_id=item["VersionId"],
                    size=int(item.get("Size", 0)),
                    last_modified=item["LastModified"],
                    is_latest=bool(item.get("IsLatest")),
                    is_delete_marker=marker,
                    etag=item.get("ETag", "").strip('"') or None,
                )

    def head_version(self, key: str, version_id: str) -> tuple[ObjectInfo, dict[str, str]]:
        with self._that_version(key, version_id):
            resp = self._call(
                self.client.head_object, key, Bucket=self.name, Key=key, VersionId=version_id
            )
        return self._info(key, resp), dict(resp.get("Metadata", {}))

    def get_version(self, key: str, version_id: str) -> tuple[bytes, dict[str, str]]:
        with self._that_version(key, version_id):
            resp = self._call(
                self.client.get_object, key, Bucket=self.name, Key=key, VersionId=version_id
            )
        return self._call(resp["Body"].read, key), dict(resp.get("Metadata", {}))

    def get_version_range(
        self, key: str, version_id: str, start: int, length: int
    ) -> tuple[bytes, dict[str, str]]:
        if length <= 0:
            return b"", self.head_version(key, version_id)[1]
        span = f"bytes={start}-{start + length - 1}"
        with self._that_version(key, version_id):
            return self._get_object(key, VersionId=version_id, Range=span)

    def download_version(
        self, key: str, version_id: str, path: Path, callback: ByteCallback | None = None
    ) -> dict[str, str]:
        with self._that_version(key, version_id):
            resp = self._call(
                self.client.get_object, key, Bucket=self.name, Key=key, VersionId=version_id
            )
        chunks = resp["Body"].iter_chunks(1 << 20)
        metadata = dict(resp.get("Metadata", {}))
        return write_body(path, read_all(self, key, chunks), metadata, callback)

    @contextlib.contextmanager
    def _that_version(self, key: str, version_id: str) -> Iterator[None]:
        """A miss asking for a version names the version, and how to list them."""
        try:
            yield
        except KeyNotFoundError as err:
            raise no_such_version(self.uri, key, version_id) from err
