"""``Bucket``: the public facade. It validates, then composes the layers below: keys, formats,
helium metadata, a backend, the transfer engine and the search index."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from t4 import formats
from t4 import meta as helium
from t4.backends import Backend, LocalBackend, ObjectInfo, S3Settings, open_backend
from t4.backends.base import ObjectVersion
from t4.config import ConfigError
from t4.errors import (
    KeyNotFoundError,
    LocalPathError,
    T4Error,
    TransferError,
    TransientError,
    UnsafeOperationError,
)
from t4.keys import as_prefix, check_file_key, check_key
from t4.plans import (
    LocalFile,
    fetch_file_steps,
    fetch_step,
    fetch_steps,
    identical_files,
    local_files,
    upload_steps,
)
from t4.reader import READ_AHEAD, RangeReader
from t4.state import TransferState, meta_digest
from t4.transfer import (
    ProgressCallback,
    TransferSummary,
    concurrency_from_env,
    note_skipped,
    run_plan,
)

if TYPE_CHECKING:
    from t4.search import EmbeddedIndex

__all__ = ["Bucket"]

log = logging.getLogger(__name__)


class Bucket:
    """An S3 bucket or a local folder, read and written the way T4 did.

    Args:
        uri: ``"s3://name"``, ``"file:///abs/folder"`` or a local folder path.
        endpoint_url: an S3-compatible endpoint (default: ``AWS_ENDPOINT_URL`` or AWS).
        profile: an AWS profile name; region: an AWS region.
        path_style: address the bucket in the path (``http://host/bucket``), as MinIO and
            SeaweedFS want.
        concurrency: transfers at once for directory operations (default: ``T4_CONCURRENCY``,
            ``t4.config(default_concurrency=...)`` or 16).
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
            self.concurrency,
            credentials=_checked_credentials(credentials),
        )
        self._backend: Backend = open_backend(uri, settings)
        self.progress = progress
        self.callback = callback
        self._state = TransferState()
        self._index: EmbeddedIndex | None = None
        self._index_lock = threading.Lock()

    @property
    def uri(self) -> str:
        """The bucket's canonical URI: ``s3://name`` or ``file:///abs/folder``."""
        return self._backend.uri

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
        self._state.close()
        if self._index is not None:
            self._index.close()
            self._index = None

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
        key = check_file_key(key, self.uri, hint="keys(prefix)")
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

    def open(self, key: str, read_ahead: int = READ_AHEAD) -> io.BufferedReader:
        """The object as a read-only, seekable binary file that fetches only the byte ranges
        read (at least ``read_ahead`` bytes a request), for reading the start of a large
        object: ``pandas.read_csv(f, nrows=5)``, a Parquet footer.

        Example:
            >>> with b.open("big.csv") as f:  # doctest: +SKIP
            ...     header = f.readline()
        """
        key = check_file_key(key, self.uri, hint="fetch")
        info, _ = self._backend.head(key)
        return io.BufferedReader(RangeReader(self._backend, info), buffer_size=read_ahead)

    def get_bytes(self, key: str, version_id: str | None = None) -> bytes:
        """The object's bytes as stored, whatever its format (``version_id``: that version).

        Example:
            >>> b.get_bytes("notes/readme.md")[:7]  # doctest: +SKIP
            b'# Notes'
        """
        return self._get(check_file_key(key, self.uri, hint="fetch"), version_id)[0]

    def deserialize(self, key: str, version_id: str | None = None) -> Any:
        """The object as a Python value: the format in its metadata wins, else the extension.

        ``version_id`` reads that version of the object (versioned S3 buckets only).

        Example:
            >>> df = b.deserialize("tables/x.parquet")  # doctest: +SKIP
        """
        key = check_file_key(key, self.uri, hint="fetch")
        data, raw = self._get(key, version_id)
        fmt = helium.decode(raw, bucket=self.uri, key=key).get("format")
        with self._naming_bucket():
            return formats.deserialize(data, key, fmt if isinstance(fmt, dict) else None)

    def __call__(self, key: str, version_id: str | None = None) -> Any:
        """Sugar for ``deserialize``: ``b("x.json")``."""
        return self.deserialize(key, version_id)

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

    def fetch(self, key: str, dest: str | Path, version_id: str | None = None) -> TransferSummary:
        """Download a file, or every object under a directory key, to ``dest``.

        A key that names no object but is a prefix of some is fetched as a directory, with or
        without the trailing ``/``. A file fetched to an existing folder, or to a path ending
        in ``/``, lands as ``folder/basename``. Files already identical locally are skipped;
        each file appears whole or not at all; no key can write outside ``dest``.
        ``version_id`` fetches that version of one file (versioned S3 buckets only).

        Example:
            >>> b.fetch("path/to/directory", "local/")  # doctest: +SKIP
        """
        key = check_key(key, self.uri)
        dest_path = Path(dest).expanduser()
        if version_id is not None:
            key = check_file_key(key, self.uri, hint="fetch without version_id")
            info, _ = self._backend.head_version(key, version_id)
            return self._fetch_file(info, dest_path, str(dest).endswith(("/", "\\")), version_id)
        if not key.endswith("/"):
            try:
                info, _ = self._backend.head(key)
            except KeyNotFoundError:
                pass
            else:
                return self._fetch_file(info, dest_path, str(dest).endswith(("/", "\\")))
        return self._fetch_dir(as_prefix(key), dest_path)

    def _fetch_file(
        self, info: ObjectInfo, dest: Path, as_folder: bool, version_id: str | None = None
    ) -> TransferSummary:
        if as_folder or dest.is_dir():
            dest = dest / info.key.rsplit("/", 1)[-1]
        summary = TransferSummary("fetch", self.uri)
        same = (
            dest.is_file()
            and dest.stat().st_size == info.size
            and bool(self.same_files([(info, dest)]))
        )
        if same:
            note_skipped(summary, [info.key], self.callback)
            return summary
        # Through the engine, as a directory's files go: the same progress bar and timing.
        run_plan(summary, [fetch_step(self._backend, info, dest, version_id)], concurrency=1,
                 progress=self.progress, callback=self.callback)  # fmt: skip
        if summary.errors:  # one file: its own error, not a bulk one
            raise summary.errors[info.key]
        return summary

    def _fetch_dir(self, prefix: str, dest: Path) -> TransferSummary:
        with self._backend.bulk():
            steps, unchanged = fetch_steps(self._backend, prefix, dest, self._state)
            if not steps and not unchanged:
                raise KeyNotFoundError(
                    f"no object or directory {prefix.rstrip('/')!r} in {self.uri}; "
                    "list what is there with keys()",
                    bucket=self.uri,
                    key=prefix,
                )
            dest.mkdir(parents=True, exist_ok=True)
            summary = TransferSummary("fetch", self.uri)
            note_skipped(summary, unchanged, self.callback)
            self._run(summary, steps)
        return summary

    def fetch_files(
        self, files: dict[str, str | Path], versions: dict[str, str] | None = None
    ) -> TransferSummary:
        """Download many objects, each to its own local path, in parallel, after one listing;
        ``versions`` maps a key to the version to fetch (versioned S3 buckets). Files already
        identical locally are skipped; each file appears whole or not at all.

        Example:
            >>> b.fetch_files({"a/x.csv": "copy/x.csv", "b/y.txt": "y.txt"})  # doctest: +SKIP
        """
        targets = {
            check_file_key(key, self.uri, hint="fetch"): Path(path).expanduser()
            for key, path in files.items()
        }
        summary = TransferSummary("fetch_files", self.uri)
        with self._backend.bulk():
            steps, unchanged = fetch_file_steps(self._backend, targets, versions or {}, self._state)
            note_skipped(summary, unchanged, self.callback)
            self._run(summary, steps)
        return summary

    # -- writing ------------------------------------------------------------------------
    def put(self, key: str, obj: Any, meta: dict[str, Any] | None = None) -> ObjectInfo:
        """Serialise ``obj`` and store it with ``meta``.

        The key's extension picks the format when it names one that can hold ``obj``
        (an error if it cannot); with no known extension, the type decides.

        Example:
            >>> b.put("my-dict.json", {"a": "b"}, meta={"how": "lazily"})  # doctest: +SKIP
        """
        key = check_file_key(key, self.uri)
        with self._naming_bucket():
            data, fmt = formats.serialize(obj, key)
        wanted = helium.helium(meta, fmt, bucket=self.uri, key=key)
        info = self._backend.put_bytes(key, data, helium.encode(wanted, bucket=self.uri, key=key))
        self._state.record_written(self.uri, [(key, info.etag, meta_digest(wanted))])
        self._index_put([(info, wanted, data)])
        return info

    def put_file(
        self, key: str, path: str | Path, meta: dict[str, Any] | None = None
    ) -> ObjectInfo:
        """Upload one local file. A key ending in ``/`` gets the file's name appended.

        Example:
            >>> b.put_file("foo.csv", "/disk/foo.csv", meta={"foo": "bar"})  # doctest: +SKIP
        """
        source = Path(path).expanduser()
        if isinstance(key, str) and key.endswith("/"):
            key = key + source.name
        key = check_file_key(key, self.uri)
        self._check_writable(key)
        if not source.is_file():
            what = "is a folder: use put_dir" if source.is_dir() else "does not exist"
            raise LocalPathError(f"{source} {what}; nothing was uploaded", bucket=self.uri, key=key)
        wanted = helium.helium(meta, None, bucket=self.uri, key=key)
        summary = TransferSummary("put_file", self.uri)
        item = LocalFile(source, key, source.stat().st_size)
        written = _Written()
        self._backend.prepare_write()
        steps, unchanged = upload_steps(
            self._backend, key, [item], lambda _: wanted, self._state, written
        )
        note_skipped(summary, unchanged, self.callback)
        self._run(summary, steps)
        self._flush_index(written)
        info, _ = self._backend.head(key)
        return info

    def put_dir(
        self,
        key: str,
        directory: str | Path,
        meta: dict[str, Any] | None = None,
        *,
        follow_links: bool = False,
    ) -> TransferSummary:
        """Upload every file under ``directory`` to keys under ``key``, in parallel.

        ``meta`` is applied to every file, over any helium metadata the file carries in its
        extended attribute. Unchanged files are skipped; links that lead outside
        ``directory`` are not followed unless ``follow_links``.

        Example:
            >>> b.put_dir("stuff", "/disk/folder/", meta={"origin": "unknown"})  # doctest: +SKIP
        """
        prefix = as_prefix(check_key(key, self.uri)) if key else ""
        source = Path(directory).expanduser()
        own_root = self._backend.root if isinstance(self._backend, LocalBackend) else None
        files = local_files(
            source, prefix, bucket=self.uri, follow_links=follow_links, skip=own_root
        )

        def meta_for(item: LocalFile) -> dict[str, Any]:
            carried = helium.read_xattr(item.path) or {}
            user_meta = meta if meta is not None else carried.get("user_meta", {})
            return helium.helium(user_meta, None, bucket=self.uri, key=item.key)

        with self._backend.bulk():
            for item in files:  # refuse bad metadata and keys before anything is written
                helium.encode(meta_for(item), bucket=self.uri, key=item.key)
                self._check_writable(item.key)
            return self._upload("put_dir", prefix, files, meta_for)

    def put_files(
        self,
        files: dict[str, str | Path],
        meta: dict[str, dict[str, Any]] | None = None,
    ) -> TransferSummary:
        """Upload many local files, each to its own key, in parallel like ``put_dir``.

        ``files`` maps key -> local path; ``meta`` maps key -> that object's user metadata
        (default ``{}``). Unchanged files are skipped.

        Example:
            >>> b.put_files({"a/x.csv": "/disk/x.csv"}, {"a/x.csv": {"rows": 3}})  # doctest: +SKIP
        """
        with self._backend.bulk():
            items = []
            for key, path in files.items():
                source = Path(path).expanduser()
                key = check_file_key(key, self.uri)
                self._check_writable(key)
                if not source.is_file():
                    raise LocalPathError(
                        f"{source} is not a file; nothing was uploaded", bucket=self.uri, key=key
                    )
                helium.encode(self._wanted(meta, key), bucket=self.uri, key=key)
                st = source.stat()
                items.append(LocalFile(source, key, st.st_size, st.st_mtime_ns))
            # one listing covers every key: the folder part of their common start
            common = os.path.commonprefix([i.key for i in items])  # noqa: RUF071  # cut below
            prefix = as_prefix(common.rpartition("/")[0])
            return self._upload("put_files", prefix, items, lambda i: self._wanted(meta, i.key))

    def _upload(
        self,
        operation: str,
        prefix: str,
        files: list[LocalFile],
        meta_for: Callable[[LocalFile], dict[str, Any]],
    ) -> TransferSummary:
        """Upload ``files`` (all under ``prefix``, listed once) through the planned engine."""
        summary = TransferSummary(operation, self.uri)
        written = _Written()
        self._backend.prepare_write()
        steps, unchanged = upload_steps(
            self._backend, prefix, files, meta_for, self._state, written
        )
        note_skipped(summary, unchanged, self.callback)
        try:
            self._run(summary, steps)
        finally:
            self._flush_index(written)
        return summary

    def _wanted(self, meta: dict[str, dict[str, Any]] | None, key: str) -> dict[str, Any]:
        return helium.helium((meta or {}).get(key), None, bucket=self.uri, key=key)

    def set_meta(self, key: str, meta: dict[str, Any]) -> ObjectInfo:
        """Replace the object's user metadata, keeping its format; no bytes are re-sent.

        Example:
            >>> b.set_meta("foo.csv", {"stage": "clean"}).key  # doctest: +SKIP
            'foo.csv'
        """
        key = check_file_key(key, self.uri)
        current = self.get_meta(key)
        wanted = {
            **current,
            "user_meta": helium.helium(meta, None, bucket=self.uri, key=key)["user_meta"],
        }
        info = self._backend.set_metadata(key, helium.encode(wanted, bucket=self.uri, key=key))
        self._state.record_written(self.uri, [(key, info.etag, meta_digest(wanted))])
        self._index_put([(info, wanted, self._text_head(key))])
        return info

    # -- deleting -----------------------------------------------------------------------
    def delete(self, key: str, *, missing_ok: bool = False) -> None:
        """Delete one object. A missing key is an error unless ``missing_ok``.

        Example:
            >>> b.delete("foo.csv")  # doctest: +SKIP
        """
        key = check_file_key(key, self.uri, hint="delete_dir")
        if not missing_ok:
            self._backend.head(key)
        self._backend.delete_many([key])
        self._state.forget(self.uri, [key])
        self._index_remove([key])

    def delete_dir(self, prefix: str, *, allow_root: bool = False) -> TransferSummary:
        """Delete every object under ``prefix`` (markers included), 1,000 keys a request.

        ``""`` or ``"/"`` would delete the whole bucket and is refused unless ``allow_root``.

        Example:
            >>> b.delete_dir("foo/")  # doctest: +SKIP
        """
        if not isinstance(prefix, str):
            check_key(prefix, self.uri)
        prefix = as_prefix(prefix)
        if prefix == "" and not allow_root:
            raise UnsafeOperationError(
                f"delete_dir('') would delete everything in {self.uri}; "
                "pass allow_root=True if that is really what you want",
                bucket=self.uri,
                key="",
            )
        summary = TransferSummary("delete_dir", self.uri)
        keys = [obj.key for obj in self._backend.list(prefix)]
        self._backend.delete_many(keys)
        summary.transferred.extend(keys)
        self._state.forget(self.uri, keys)
        self._index_remove(keys)
        if self.callback:
            for k in keys:
                self.callback(k, "deleted", 0)
        log.info("%s", summary.line())
        return summary

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

        return search.search(self.uri, self._crawled_index, query, limit)

    def index(self, reindex: bool = False) -> dict[str, int]:
        """Bring the embedded search index up to date with the bucket (by ETag), or rebuild it.

        Writes through t4 update the index as they happen; this catches up with objects
        written by other tools. The first search of a bucket runs it once by itself.

        Example:
            >>> b.index()  # doctest: +SKIP
            {'added': 3, 'updated': 0, 'removed': 0, 'unchanged': 120, 'vanished': 0}
        """
        from t4 import search

        index = self._open_index()
        summary = search.crawl(index, self._backend, full=reindex)
        _crawled_mark(index).touch()
        return summary

    def _crawled_index(self) -> EmbeddedIndex:
        index = self._open_index()
        if not _crawled_mark(index).exists():
            self.index()
        return index

    # -- internals ----------------------------------------------------------------------
    def _check_writable(self, key: str) -> None:
        """A folder bucket refuses keys that are not safe paths: say so before the transfer
        starts, as an ``InvalidKeyError``, not as one failed file of it."""
        if isinstance(self._backend, LocalBackend):
            self._backend.path(key)

    @contextlib.contextmanager
    def _naming_bucket(self) -> Iterator[None]:
        """Formats know keys, not buckets: add the bucket to their errors."""
        try:
            yield
        except T4Error as err:
            if err.bucket is None:
                err.bucket = self.uri
                err.message = f"{self.uri}: {err.message}"
                err.args = (err.message,)
            raise

    def _run(self, summary: TransferSummary, steps: list[Any]) -> None:
        try:
            run_plan(
                summary,
                steps,
                concurrency=self.concurrency,
                progress=self.progress,
                callback=self.callback,
            )
        finally:
            self._state.flush()  # what the transfer threads queued, in one commit
        if summary.failed:
            first = next(iter(summary.failed.items()))
            failures = {k: summary.errors.get(k) or T4Error(v) for k, v in summary.failed.items()}
            # Advise a rerun only where one can help: when every failure may pass by itself.
            transient = all(isinstance(err, TransientError) for err in failures.values())
            then = ", so run it again to retry only what failed" if transient else ""
            raise TransferError(
                f"{summary.operation} in {self.uri}: {len(summary.failed)} of "
                f"{len(summary.failed) + len(summary.transferred)} files failed "
                f"(first: {first[0]!r}: {first[1]}); the rest completed{then}",
                bucket=self.uri,
                key=first[0],
                failures=failures,
            )

    def _flush_index(self, written: _Written) -> None:
        from t4.search import TEXT_BYTES, is_text_like

        items = []
        for info, wanted, path in written.items:
            head = None
            if is_text_like(info.key):
                with path.open("rb") as src:
                    head = src.read(TEXT_BYTES)
            items.append((info, wanted, head))
        self._index_put(items)

    def _open_index(self) -> EmbeddedIndex:
        with self._index_lock:
            if self._index is None:
                from t4.search import EmbeddedIndex, index_path_for

                root = self._backend.root if isinstance(self._backend, LocalBackend) else None
                self._index = EmbeddedIndex(index_path_for(self.uri, root))
            return self._index

    def _index_put(self, items: list[tuple[ObjectInfo, dict[str, Any], bytes | None]]) -> None:
        if not items:
            return
        from t4.search import Document, text_of

        docs = [
            Document(
                key=info.key,
                size=info.size,
                etag=info.etag,
                last_modified=info.last_modified,
                version_id=info.version_id,
                user_meta=dict(wanted.get("user_meta") or {}),
                text=text_of(info.key, head) if head is not None else None,
            )
            for info, wanted, head in items
        ]
        self._index_safely(lambda index: index.upsert(docs))

    def _text_head(self, key: str) -> bytes | None:
        from t4.search import TEXT_BYTES, is_text_like

        return self._backend.get_bytes(key)[:TEXT_BYTES] if is_text_like(key) else None

    def _index_remove(self, keys: list[str]) -> None:
        if keys:
            self._index_safely(lambda index: index.remove(keys))

    def _index_safely(self, change: Any) -> None:
        # The write itself succeeded; a stale index is repaired by the next index().
        try:
            change(self._open_index())
        except (sqlite3.Error, OSError, T4Error) as err:
            log.warning(
                "search index of %s not updated (%s); run index() to catch up", self.uri, err
            )


class _Written:
    """Collects what the upload threads wrote, for one batched index update afterwards."""

    def __init__(self) -> None:
        self.items: list[tuple[ObjectInfo, dict[str, Any], Path]] = []
        self._lock = threading.Lock()

    def __call__(self, key: str, info: ObjectInfo, wanted: dict[str, Any], path: Path) -> None:
        with self._lock:
            self.items.append((info, wanted, path))


def _crawled_mark(index: EmbeddedIndex) -> Path:
    """Beside the index: present once a crawl has caught up with objects others wrote."""
    return index.path.with_name(index.path.name + ".crawled")


_CREDENTIAL_NAMES = ("aws_access_key_id", "aws_secret_access_key", "aws_session_token")


def _checked_credentials(credentials: dict[str, str] | None) -> dict[str, str] | None:
    """Explicit credentials may only name boto3's three fields (values are never echoed)."""
    if not credentials:
        return None
    unknown = sorted(set(credentials) - set(_CREDENTIAL_NAMES))
    if unknown:
        raise ConfigError(f"unknown credential fields {unknown}; use {list(_CREDENTIAL_NAMES)}")
    return credentials
