"""``Bucket``: the public facade. It validates, then composes the layers below: keys, formats,
helium metadata, a backend, the transfer engine and the search index."""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from t4 import meta as helium
from t4.backends import Backend, ObjectInfo, S3Settings, open_backend
from t4.backends.base import ObjectVersion
from t4.browsing import BrowsingMethods
from t4.bulk import Caches
from t4.config import concurrency_from_env
from t4.engine import threads_for
from t4.errors import (
    ConfigError,
    T4Error,
    UnsafeOperationError,
)
from t4.files import FileMethods
from t4.keys import as_prefix, check_file_key, check_key
from t4.plans.common import identical_files
from t4.plans.upload import Meta
from t4.reader import READ_AHEAD, RangeReader
from t4.surface import named
from t4.transfer import ProgressCallback, TransferSummary

__all__ = ["Bucket"]

log = logging.getLogger(__name__)


class Bucket(FileMethods, BrowsingMethods):
    """An S3 bucket or a local folder, read and written the way T4 did.

    Args:
        uri: ``"s3://name"``, ``"file:///abs/folder"`` or a local folder path.
        endpoint_url: an S3-compatible endpoint (default: ``AWS_ENDPOINT_URL`` or AWS).
        profile: an AWS profile name; region: an AWS region.
        path_style: address the bucket in the path (``http://host/bucket``), as MinIO and
            SeaweedFS want.
        concurrency: files moving at once in bulk operations (default: ``T4_CONCURRENCY``,
            ``t4.config(default_concurrency=...)`` or 64): small S3 objects as that many
            requests in flight on one thread, the rest on at most 16 threads.
        progress: ``True``/``False`` to force the progress bar; default on a terminal only.
        callback: called once per file of a bulk operation with (key, outcome, bytes).
        credentials: explicit ``aws_access_key_id``, ``aws_secret_access_key`` and
            ``aws_session_token`` (for callers that hold them, such as a Prefect block);
            by default boto3's credential chain finds them.

    Example:
        >>> b = t4.Bucket("./lake")  # doctest: +SKIP
        >>> b.put("hello.json", {"a": 1}, meta={"stage": "raw"})  # doctest: +SKIP
        >>> b("hello.json")  # doctest: +SKIP
        {'a': 1}
    """

    def __init__(
        self,
        uri: str | Path,
        *,
        endpoint_url: str | None = None,
        profile: str | None = None,
        region: str | None = None,
        path_style: bool = False,
        concurrency: int | None = None,
        progress: bool | None = None,
        callback: ProgressCallback | None = None,
        credentials: dict[str, str] | None = None,
    ):
        self.concurrency = concurrency_from_env(concurrency)
        settings = S3Settings(
            endpoint_url,
            profile,
            region,
            path_style,
            threads_for(self.concurrency),  # threads and connections for large objects
            credentials=_checked_credentials(credentials),
        )
        self._backend: Backend = open_backend(uri, settings)
        self.progress = progress
        self.callback = callback
        self._caches = Caches(self._backend, self.concurrency, progress)

    @property
    def uri(self) -> str:
        """The bucket's canonical URI: ``s3://name`` or ``file:///abs/folder``."""
        return self._backend.uri

    @property
    def backend(self) -> Backend:
        """The storage primitives under this bucket, for layers that need one ``Bucket`` does
        not wrap (a package registry's conditional writes, ``Backend.put_if``)."""
        return self._backend

    @property
    def index_path(self) -> Path:
        """Where this bucket's embedded search index lives (one file per bucket and
        endpoint), e.g. to serve it with ``t4 catalog serve`` (``t4.catalog``)."""
        return self._search.path

    def __repr__(self) -> str:
        return f"Bucket({self.uri!r})"

    def __enter__(self) -> Bucket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release connections and the index; the bucket may not be used afterwards.

        Example:
            >>> with t4.Bucket("./lake") as b:  # doctest: +SKIP
            ...     b.keys()  # closed when the block ends
        """
        self._backend.close()
        self._caches.close()

    # -- reading ------------------------------------------------------------------------
    def keys(self, prefix: str = "") -> list[str]:
        """Every key under ``prefix`` (default: the whole bucket), all pages, markers included.

        Example:
            >>> b.keys("tables/")  # doctest: +SKIP
            ['tables/a.parquet', 'tables/b.csv']
        """
        return list(self.iter_keys(prefix))

    def iter_keys(self, prefix: str = "") -> Iterator[str]:
        """Like ``keys`` but lazy: pages are fetched as you iterate, for very large buckets.

        Example:
            >>> next(b.iter_keys("raw/"))  # doctest: +SKIP
            'raw/a.csv'
        """
        return (obj.key for obj in self.ls(prefix))

    def ls(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Objects under ``prefix`` with size, ETag and modification time, lazily.

        Example:
            >>> [(o.key, o.size) for o in b.ls("raw/")]  # doctest: +SKIP
            [('raw/a.csv', 1234)]
        """
        if prefix:
            check_key(prefix, self.uri)
        return self._backend.list(prefix)

    def same_files(self, pairs: list[tuple[ObjectInfo, Path]]) -> set[str]:
        """Keys of the objects (from ``ls()``) whose local file, of the same size, holds the
        same bytes, compared by ETag as ``put_dir`` and ``fetch`` compare: the local hash is
        cached by path, size and mtime, so a file that has not changed is not read again.

        Example:
            >>> obj = next(b.ls("data/a.csv"))  # doctest: +SKIP
            >>> b.same_files([(obj, Path("copy/a.csv"))])  # doctest: +SKIP
            {'data/a.csv'}
        """
        return identical_files(self._backend, self._state, pairs)

    def head(self, key: str, version_id: str | None = None) -> tuple[ObjectInfo, dict[str, Any]]:
        """The object's size, ETag, modification time and version id, and its helium
        metadata, in one request and without reading its bytes (``version_id``: that
        version, in a versioned S3 bucket).

        Example:
            >>> info, meta = b.head("foo.csv")  # doctest: +SKIP
            >>> info.size, meta["user_meta"]  # doctest: +SKIP
            (1234, {'foo': 'bar'})
        """
        key = check_file_key(key, self.uri, hint=named("keys(prefix)"))
        if version_id is None:
            info, raw = self._backend.head(key)
        else:
            info, raw = self._backend.head_version(key, version_id)
        return info, helium.decode(raw, bucket=self.uri, key=key)

    def get_meta(self, key: str, version_id: str | None = None) -> dict[str, Any]:
        """The object's helium metadata: ``{"user_meta": ..., "format": ..., "target": ...}``.

        ``version_id`` reads that version of the object (versioned S3 buckets only).

        Example:
            >>> b.get_meta("foo.csv")["user_meta"]  # doctest: +SKIP
            {'foo': 'bar'}
        """
        return self.head(key, version_id)[1]

    def get_bytes(self, key: str, version_id: str | None = None) -> bytes:
        """The object's bytes as stored, whatever its format (``version_id``: that version).

        Example:
            >>> b.get_bytes("notes/readme.md")[:7]  # doctest: +SKIP
            b'# Notes'
        """
        return self._get(check_file_key(key, self.uri, hint=named("fetch")), version_id)[0]

    def _get(self, key: str, version_id: str | None) -> tuple[bytes, dict[str, str]]:
        if version_id is None:
            return self._backend.get(key)
        return self._backend.get_version(key, version_id)

    def versions(self, prefix: str = "") -> Iterator[ObjectVersion]:
        """Every version and delete marker under ``prefix``, lazily (versioned S3 buckets):
        key, version_id, size, last_modified, is_latest, is_delete_marker. A local-folder
        bucket keeps no versions and raises ``VersionsUnsupportedError``.

        Example:
            >>> [(v.key, v.version_id, v.is_latest) for v in b.versions("a.csv")]  # doctest: +SKIP
            [('a.csv', '3HL4kqtJ', True), ('a.csv', 'bWxvY2sx', False)]
        """
        if prefix:
            check_key(prefix, self.uri)
        return self._backend.versions(prefix)

    def open(
        self, key: str | ObjectInfo, read_ahead: int = READ_AHEAD, version_id: str | None = None
    ) -> io.BufferedReader:
        """The object as a read-only, seekable binary file that fetches only the byte ranges
        read (at least ``read_ahead`` bytes a request), for reading the start of a large
        object: ``pandas.read_csv(f, nrows=5)``, a Parquet footer. ``key`` may be the
        ``ObjectInfo`` that ``head`` or ``ls`` gave: then nothing is asked before the reads
        (a key costs a HEAD first, for the object's size). ``version_id``: that version.

        Example:
            >>> with b.open("big.csv") as f:  # doctest: +SKIP
            ...     header = f.readline()
        """
        reader = RangeReader.of(self._backend, key, version_id)
        return io.BufferedReader(reader, buffer_size=read_ahead)

    def deserialize(self, key: str, version_id: str | None = None) -> Any:
        """The object as a Python value: the format in its metadata wins, else the extension.

        ``version_id`` reads that version of the object (versioned S3 buckets only).

        Example:
            >>> df = b.deserialize("tables/x.parquet")  # doctest: +SKIP
        """
        key = check_file_key(key, self.uri, hint=named("fetch"))
        data, raw = self._get(key, version_id)
        fmt = helium.decode(raw, bucket=self.uri, key=key).get("format")
        from t4 import formats  # its codecs load on first use, not with ``import t4``

        with self._naming_bucket():
            return formats.deserialize(data, key, fmt if isinstance(fmt, dict) else None)

    def __call__(self, key: str, version_id: str | None = None) -> Any:
        """Sugar for ``deserialize``: ``b("x.json")``."""
        return self.deserialize(key, version_id)

    # -- writing ------------------------------------------------------------------------
    def put(self, key: str, obj: Any, meta: dict[str, Any] | None = None) -> ObjectInfo:
        """Serialise ``obj`` and store it with ``meta``.

        The key's extension picks the format when it names one that can hold ``obj``
        (an error if it cannot); with no known extension, the type decides.

        Example:
            >>> b.put("my-dict.json", {"a": "b"}, meta={"how": "lazily"})  # doctest: +SKIP
        """
        key = check_file_key(key, self.uri)
        from t4 import formats

        with self._naming_bucket():
            data, fmt = formats.serialize(obj, key)
        wanted = Meta.given(meta, fmt, bucket=self.uri, key=key)
        info = self._backend.put_bytes(key, data, wanted.encoded)
        self._state.record_written(self._backend.identity, [(key, info.etag, wanted.digest)])
        self._search.written([(info, wanted.wanted.get("user_meta") or {}, data)])
        return info

    def set_meta(self, key: str, meta: dict[str, Any]) -> ObjectInfo:
        """Replace the object's user metadata, keeping its format; no bytes are re-sent.

        Costs one HEAD, one copy in place, and (for text-like keys, to index them) one
        ranged GET of the first bytes: never the whole object.

        Example:
            >>> b.set_meta("foo.csv", {"stage": "clean"}).key  # doctest: +SKIP
            'foo.csv'
        """
        key = check_file_key(key, self.uri)
        current_info, raw = self._backend.head(key)
        current = helium.decode(raw, bucket=self.uri, key=key)
        user_meta = helium.helium(meta, None, bucket=self.uri, key=key)["user_meta"]
        wanted = Meta.of({**current, "user_meta": user_meta}, bucket=self.uri, key=key)
        info = self._backend.set_metadata(key, wanted.encoded)
        info = info._replace(size=current_info.size)
        self._state.record_written(self._backend.identity, [(key, info.etag, wanted.digest)])
        head = self._search.head_of_object(info)
        self._search.written([(info, user_meta, head)])
        return info

    # -- deleting -----------------------------------------------------------------------
    def delete(self, key: str, *, missing_ok: bool = False) -> None:
        """Delete one object. A missing key is an error unless ``missing_ok``.

        Example:
            >>> b.delete("foo.csv")  # doctest: +SKIP
        """
        key = check_file_key(key, self.uri, hint=named("delete_dir"))
        self._backend.check_writable(key)  # a key no safe path is refused before any change
        if not missing_ok:
            self._backend.head(key)
        failed = self._backend.delete_many([key])
        self._state.forget(self._backend.identity, [key])
        self._search.removed([key])
        if key in failed:
            raise failed[key]

    def delete_dir(self, prefix: str, *, allow_root: bool = False) -> TransferSummary:
        """Delete every object under ``prefix`` (markers included), 1,000 keys a request.

        ``""`` or ``"/"`` would delete the whole bucket and is refused unless ``allow_root``.
        The summary lists what was removed in ``deleted``; a key that could not be deleted
        (in a folder bucket, one that is no safe path) fails alone, and ``TransferError`` is
        raised once the rest are gone.

        Example:
            >>> b.delete_dir("foo/").deleted  # doctest: +SKIP
            ['foo/a.csv', 'foo/b.csv']
        """
        if not isinstance(prefix, str):
            check_key(prefix, self.uri)
        prefix = as_prefix(prefix)
        if prefix == "" and not allow_root:
            everything = named("delete_dir('')")
            raise UnsafeOperationError(
                f"{everything} would delete everything in {self.uri}; "
                f"{named('pass allow_root=True')} if that is really what you want",
                bucket=self.uri,
                key="",
            )
        return self._delete([obj.key for obj in self._backend.list(prefix)], "delete_dir")

    # -- search -------------------------------------------------------------------------
    def search(self, query: str | dict[str, Any], limit: int = 10) -> list[dict[str, Any]]:
        """Search the bucket with T4's query language (Lucene ``query_string``).

        Words search keys, text and metadata and combine with AND; ``user_meta.name:'thor'``
        searches a metadata field; AND / OR / NOT, wildcards, phrases and ranges work.
        Uses the catalog or Elasticsearch set in ``t4.config`` if any, else the embedded index.

        Example:
            >>> b.search("user_meta.name:'thor'")  # doctest: +SKIP
            [{'key': 'hammer.json', 'meta': {'name': 'thor'}, ...}]
        """
        from t4 import search

        return search.search(self.uri, self._search.crawled, query, limit)

    def index(self, reindex: bool = False) -> dict[str, int]:
        """Bring the embedded search index up to date with the bucket, or rebuild it.

        Writes through t4 update the index as they happen; this catches up with objects
        written by other tools: new, deleted, and changed ones (by ETag and modification
        time, so a metadata-only change is caught too). The first search of a bucket runs
        it once by itself.

        Example:
            >>> b.index()  # doctest: +SKIP
            {'added': 3, 'updated': 0, 'removed': 0, 'unchanged': 120, 'vanished': 0, 'failed': 0}
        """
        return self._search.crawl(full=reindex)

    # -- internals ----------------------------------------------------------------------
    @contextlib.contextmanager
    def _naming_bucket(self) -> Iterator[None]:
        """Formats know keys, not buckets: name the bucket in their errors."""
        try:
            yield
        except T4Error as err:
            if err.bucket is not None:
                raise
            raise type(err)(f"{self.uri}: {err.message}", bucket=self.uri, key=err.key) from err


_CREDENTIAL_NAMES = ("aws_access_key_id", "aws_secret_access_key", "aws_session_token")


def _checked_credentials(credentials: dict[str, str] | None) -> dict[str, str] | None:
    """Explicit credentials may only name boto3's three fields (values are never echoed)."""
    if not credentials:
        return None
    unknown = sorted(set(credentials) - set(_CREDENTIAL_NAMES))
    if unknown:
        raise ConfigError(f"unknown credential fields {unknown}; use {list(_CREDENTIAL_NAMES)}")
    return credentials
