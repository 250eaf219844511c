"""The primitives every storage backend implements. Bulk work (directories, mirrors) is
written once on top of these, in ``t4.transfer``; a backend stays a few lines a method.

Every method raises the ``t4.errors`` tree, never a library's own error.
"""

from __future__ import annotations

import abc
import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from t4.errors import (
    ConditionalWritesUnsupportedError,
    KeyNotFoundError,
    PreconditionFailedError,
    VersionsUnsupportedError,
)
from t4.surface import named

#: Called with the number of bytes moved since the last call.
ByteCallback = Callable[[int], None]


class ObjectInfo(NamedTuple):  # one per listed key: a tuple, no __dict__ (about 100 bytes)
    """What a listing or a head tells about one object.

    ``etag`` is S3's ETag without quotes (an MD5 hex for single-part uploads, ``md5-N`` for
    multipart ones); local-folder buckets report the MD5 hex of the content.
    """

    key: str
    size: int
    etag: str | None
    last_modified: datetime
    version_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly values (the time as ISO 8601), for ``--json`` and task results."""
        return {
            "key": self.key,
            "size": self.size,
            "etag": self.etag,
            "last_modified": self.last_modified.isoformat(),
            "version_id": self.version_id,
        }


class ObjectVersion(NamedTuple):
    """One version of an object, or a delete marker, in a versioned bucket."""

    key: str
    version_id: str
    size: int
    last_modified: datetime
    is_latest: bool
    is_delete_marker: bool = False
    etag: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly values (the time as ISO 8601), for ``--json`` and task results."""
        return {
            "key": self.key,
            "version_id": self.version_id,
            "size": self.size,
            "last_modified": self.last_modified.isoformat(),
            "is_latest": self.is_latest,
            "is_delete_marker": self.is_delete_marker,
            "etag": self.etag,
        }


class FolderPage(NamedTuple):
    """One page of what is directly under a prefix, as a file browser shows it: the
    sub-folders (prefixes ending in ``/``), the objects (a folder bucket leaves ``etag``
    ``None``: it does not hash files to list them), and the token of the next page
    (``None`` on the last)."""

    folders: list[str]
    objects: list[ObjectInfo]
    next_token: str | None


class PendingDownload(NamedTuple):
    """An object being read: its info and raw user metadata are known (the request was
    answered), its bytes not read yet. ``write(path, callback)`` writes them to ``path`` (a
    temporary file the caller renames) and returns the metadata."""

    info: ObjectInfo
    metadata: dict[str, str]
    write: Callable[[Path, ByteCallback | None], dict[str, str]]


class ObjectStream(NamedTuple):
    """An object being read front to back: its info and raw user metadata (the request was
    answered), its bytes as ``chunks`` read as they are consumed; ``close()`` drops what is
    left (the request, the open file)."""

    info: ObjectInfo
    metadata: dict[str, str]
    chunks: Iterator[bytes]
    close: Callable[[], None]


class SmallObjects(Protocol):
    """Whole small objects as async requests, many in flight on one event loop (what
    ``t4.engine`` runs small steps through). Errors are the ``t4.errors`` tree."""

    #: The largest object moved this way.
    max_size: int

    async def get(self, key: str) -> tuple[bytes, dict[str, str]]:
        """The object's content and raw user metadata, from one request."""
        ...

    async def put(self, key: str, data: bytes, metadata: dict[str, str]) -> ObjectInfo:
        """Store ``data`` under ``key`` with user metadata, in one request."""
        ...


def no_such_version(uri: str, key: str, version_id: str) -> KeyNotFoundError:
    """The error for a version id that names no version of ``key`` (or no ``key``)."""
    return KeyNotFoundError(
        f"no version {version_id!r} of {key!r} in {uri}: list the key's versions with "
        f"versions({key!r}), or read the current object without version_id",
        bucket=uri,
        key=key,
    )


def precondition_failed(uri: str, key: str, etag: str | None) -> PreconditionFailedError:
    """The error for a conditional write (``Backend.put_if``) whose condition failed."""
    state = "exists already" if etag is None else f"no longer has ETag {etag}"
    return PreconditionFailedError(
        f"{key!r} in {uri} {state}: another writer changed it; read it again",
        bucket=uri,
        key=key,
    )


class Backend(abc.ABC):
    """One bucket's storage. ``uri`` is how errors name the bucket.

    The whole contract ``Bucket`` relies on, so that it never asks which backend it holds:
    the primitives below, ``local_root`` (the folder, or ``None``), ``check_writable`` (a key
    refused before a transfer starts), ``get_range``, ``copy_from`` (a copy the storage can
    do itself) and ``identity`` (what names caches and the search index).
    """

    uri: str
    #: The local folder holding the objects, for backends that are one; else ``None``.
    local_root: Path | None = None

    @property
    def identity(self) -> str:
        """Names this bucket *where it is*: the URI, plus the endpoint for S3, so that two
        servers' buckets of one name never share a cache or a search index."""
        return self.uri

    def check_writable(self, key: str) -> None:  # noqa: B027  # optional: most accept any key
        """Refuse a key this backend cannot store (raise ``InvalidKeyError``) before a bulk
        transfer starts, rather than as one failed file of it. Nothing to check by default."""

    @abc.abstractmethod
    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Every object whose key starts with ``prefix``, all pages, directory markers included."""

    @abc.abstractmethod
    def list_folder(self, prefix: str, token: str | None = None, limit: int = 1000) -> FolderPage:
        """One page of at most ``limit`` entries directly under ``prefix`` (``""`` or ending
        in ``/``), in key order, starting after the page ``token`` came from."""

    def presign(self, key: str, version_id: str | None = None, expires: int = 3600) -> str | None:
        """A URL anyone holding it may GET the object from for ``expires`` seconds, where the
        storage has such URLs (S3); ``None`` here."""
        return None

    @abc.abstractmethod
    def head(self, key: str) -> tuple[ObjectInfo, dict[str, str]]:
        """The object's info and its raw user metadata (``{"helium": "..."}``)."""

    def lookup(self, key: str) -> ObjectInfo | None:
        """The object's info, or ``None`` when there is none; unlike ``head`` it does not ask
        whether the bucket itself exists (a write that follows would say)."""
        try:
            return self.head(key)[0]
        except KeyNotFoundError:
            return None

    @abc.abstractmethod
    def get_bytes(self, key: str) -> bytes:
        """The object's whole content."""

    @abc.abstractmethod
    def get_range(self, key: str, start: int, length: int) -> tuple[bytes, dict[str, str]]:
        """Up to ``length`` bytes of the object from ``start`` (fewer at its end) and its raw
        user metadata, in one request; ``start`` must be inside the object (S3 refuses a
        range past the end)."""

    def get(self, key: str) -> tuple[bytes, dict[str, str]]:
        """The object's content and raw user metadata (one request where the backend can)."""
        _, metadata = self.head(key)
        return self.get_bytes(key), metadata

    def copy_from(self, source: Backend, src_key: str, key: str) -> ObjectInfo | None:
        """Copy ``src_key`` of ``source`` to ``key`` here, user metadata included, without
        the bytes passing through this process (S3 CopyObject within one endpoint); ``None``
        when this storage cannot (the caller then streams the bytes)."""
        return None

    def etag_of_file(self, path: Path) -> str:
        """The ETag this backend would give the file at ``path`` if it were uploaded."""
        digest = hashlib.md5(usedforsecurity=False)
        with path.open("rb") as src:
            while chunk := src.read(1 << 20):
                digest.update(chunk)
        return digest.hexdigest()

    #: Names how ``etag_of_file`` computes, so cached hashes of one kind are not used for another.
    etag_kind = "md5"

    def other_etag_kinds(self, size: int, etag: str) -> Sequence[tuple[str, Callable[[Path], str]]]:
        """Other ways another tool may have computed ``etag`` for an object of ``size`` bytes:
        (kind, compute) pairs to try when ``etag_of_file`` disagrees. None by default."""
        return []

    @abc.abstractmethod
    def download(
        self,
        key: str,
        path: Path,
        callback: ByteCallback | None = None,
        *,
        size: int | None = None,
    ) -> dict[str, str]:
        """Write the object's content to ``path`` (a temporary file the caller renames) and
        return its raw user metadata. ``size``, if a listing told it, lets a backend pick how
        to fetch without asking first."""

    def open_download(self, key: str) -> PendingDownload:
        """Start reading ``key``: what it is now (``KeyNotFoundError`` when there is no such
        object, before anything is written anywhere), its bytes when ``write`` is called.
        S3 answers both from one GET; by default, a ``head`` and then ``download``."""
        info, metadata = self.head(key)

        def write(path: Path, callback: ByteCallback | None) -> dict[str, str]:
            return self.download(key, path, callback, size=info.size)

        return PendingDownload(info, metadata, write)

    @abc.abstractmethod
    def open_stream(self, key: str) -> ObjectStream:
        """Start reading ``key`` front to back, in chunks of about a MiB, all of one version
        of it (one GET on S3; the open file of a folder bucket). ``KeyNotFoundError`` when
        there is no such object; a read that breaks off raises from ``chunks``."""

    @abc.abstractmethod
    def put_bytes(self, key: str, data: bytes, metadata: dict[str, str]) -> ObjectInfo:
        """Store ``data`` under ``key`` with user metadata, replacing any object there."""

    @abc.abstractmethod
    def put_stream(
        self,
        key: str,
        chunks: Iterable[bytes],
        size: int,
        metadata: dict[str, str],
        callback: ByteCallback | None = None,
    ) -> ObjectInfo:
        """Store the ``size`` bytes ``chunks`` yields under ``key`` with user metadata,
        holding a bounded number of parts in memory whatever ``size`` is (S3: a multipart
        upload above ``MULTIPART_THRESHOLD``; a folder: its staged file). If ``chunks``
        raises, or the write fails, nothing is left: no object, no pending upload."""

    def get_tagged(self, key: str) -> tuple[bytes, str]:
        """The object's bytes and the ETag of exactly those bytes (for ``put_if``)."""
        raise self.no_conditional_writes(key)

    def put_if(self, key: str, data: bytes, metadata: dict[str, str], etag: str | None) -> None:
        """Store ``data`` under ``key`` in one atomic step, only if ``key`` is absent
        (``etag`` None) or still holds the object of ETag ``etag``; otherwise raise
        ``PreconditionFailedError`` and change nothing. Stores without conditional writes
        raise ``ConditionalWritesUnsupportedError``."""
        raise self.no_conditional_writes(key)

    def no_conditional_writes(self, key: str) -> ConditionalWritesUnsupportedError:
        return ConditionalWritesUnsupportedError(
            f"{self.uri} does not honour conditional writes (If-None-Match/If-Match), needed "
            f"to write {key!r} safely alongside other writers: use an S3 bucket on a server "
            "that does (AWS S3, SeaweedFS) or a local folder",
            bucket=self.uri,
            key=key,
        )

    def precondition_failed(self, key: str, etag: str | None) -> PreconditionFailedError:
        return precondition_failed(self.uri, key, etag)

    @abc.abstractmethod
    def upload(
        self,
        key: str,
        path: Path,
        metadata: dict[str, str],
        callback: ByteCallback | None = None,
    ) -> ObjectInfo:
        """Store the file at ``path`` under ``key`` with user metadata."""

    @abc.abstractmethod
    def set_metadata(self, key: str, metadata: dict[str, str]) -> ObjectInfo:
        """Replace the object's user metadata without sending its bytes again."""

    @abc.abstractmethod
    def delete_many(self, keys: Sequence[str]) -> dict[str, Exception]:
        """Delete these keys (at most 1,000; keys already gone are not an error); the keys
        that could not be deleted, each with its error. A request that fails as a whole
        raises."""

    def small_objects(self) -> SmallObjects | None:
        """Async whole-object requests for small objects, where this backend has them (S3);
        ``None``: every step runs on threads."""
        return None

    def prepare_write(self) -> None:  # noqa: B027  # optional hook: a bucket exists or not
        """Called before a write lists the bucket to plan: a folder bucket makes its folder."""

    # -- object versions: only versioned stores override these --------------------------
    def versions(self, prefix: str = "") -> Iterator[ObjectVersion]:
        """Every version and delete marker of the keys under ``prefix``, newest first per key."""
        raise self.no_versions(prefix)

    def head_version(self, key: str, version_id: str) -> tuple[ObjectInfo, dict[str, str]]:
        """``head`` of one version of ``key``."""
        raise self.no_versions(key, version_id)

    def get_version(self, key: str, version_id: str) -> tuple[bytes, dict[str, str]]:
        """``get`` of one version of ``key``."""
        raise self.no_versions(key, version_id)

    def get_version_range(
        self, key: str, version_id: str, start: int, length: int
    ) -> tuple[bytes, dict[str, str]]:
        """``get_range`` of one version of ``key``."""
        raise self.no_versions(key, version_id)

    def download_version(
        self, key: str, version_id: str, path: Path, callback: ByteCallback | None = None
    ) -> dict[str, str]:
        """``download`` of one version of ``key``."""
        raise self.no_versions(key, version_id)

    def missing(self, key: str) -> KeyNotFoundError:
        """The error for a key that names no object."""
        return KeyNotFoundError(
            f"no object {key!r} in {self.uri}; list what is there with {named('keys()')}",
            bucket=self.uri,
            key=key,
        )

    def no_versions(self, key: str, version_id: str | None = None) -> VersionsUnsupportedError:
        """The error for asking a store without object versions about one."""
        asked = f"version {version_id!r} of {key!r}" if version_id is not None else repr(key)
        return VersionsUnsupportedError(
            f"{self.uri} keeps no object versions (asked about {asked}): read the current "
            "object without version_id, or use a versioned S3 bucket, where versions(key) "
            "lists a key's versions",
            bucket=self.uri,
            key=key,
        )

    def close(self) -> None:  # noqa: B027  # optional hook: most backends hold nothing to close
        """Release connections or handles, if the backend holds any."""
