"""The fast path for small objects on S3: obstore (Rust ``object_store``), whose sync calls
cost a fraction of boto3's CPU per request, which is what limits many small transfers.

``FastPath.for_settings`` builds the store from the endpoint, region and credentials the
backend resolved (``t4.backends.s3_settings``: from the arguments and ``AWS_*`` alone, or
from boto3's session when a profile or settings file is in play, its credentials then
refreshed through that session). Keys ``object_store`` cannot express (empty or
``.``/``..`` segments, directory markers) raise ``Unsupported`` so the caller uses boto3.

Errors are mapped to the ``t4.errors`` tree; anything obstore cannot classify exactly (its
``GenericError`` after its own retries) raises ``Unsupported`` too, so the caller repeats
the request through boto3, whose error table tells "unreachable" from "refused" precisely.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import obstore
from obstore.exceptions import BaseError as ObstoreError
from obstore.exceptions import (
    GenericError,
    PermissionDeniedError,
    PreconditionError,
    UnauthenticatedError,
)
from obstore.store import S3Store

from t4.backends.base import ByteCallback, ObjectInfo
from t4.backends.s3_parts import STREAMED_PARTS
from t4.errors import KeyNotFoundError, T4Error, TransientError, s3_error
from t4.parts import write_at

if TYPE_CHECKING:
    from obstore import Bytes
    from obstore.store import S3CredentialProvider

__all__ = [
    "CHUNK",
    "AsyncObjects",
    "Body",
    "FastPath",
    "Unsupported",
    "write_async",
    "write_body",
]

log = logging.getLogger(__name__)

_STREAM_CHUNK = 8 * 1024 * 1024

#: Bytes written at a time (obstore gathers a stream's chunks to at least this).
CHUNK = 1024 * 1024


async def write_async(
    fd: int, chunks: AsyncIterator[Bytes], offset: int, limit: int, progress: ByteCallback
) -> int:
    """Write the chunks that arrive on an event loop to ``fd`` from ``offset`` on (with
    ``t4.parts.write_at``), up to ``limit`` bytes (the last chunk cut to fit); the offset
    after the last byte."""
    left = limit
    async for chunk in chunks:
        piece = memoryview(chunk)[:left]
        moved = len(piece)
        offset = write_at(fd, piece, offset)
        left -= moved
        progress(moved)
        if left <= 0:
            break
    return offset


class Body:
    """A large GET's body, read as it is consumed: iterated in a thread, or through
    ``chunks()`` on an event loop (where cancelling drops the request); obstore's errors
    raised as t4's."""

    def __init__(self, fast: FastPath, key: str, stream: Any):
        self._fast, self._key, self._stream = fast, key, stream

    def __iter__(self) -> Iterator[bytes]:
        with self._fast._errors(self._key):
            for chunk in self._stream:
                yield bytes(chunk)

    async def chunks(self) -> AsyncIterator[Bytes]:
        """The chunks as obstore hands them, not copied into ``bytes`` (buffers that
        ``os.pwrite`` takes as they are)."""
        with self._fast._errors(self._key):
            async for chunk in self._stream:
                yield chunk


class Unsupported(Exception):
    """The fast path cannot do this request; do it through boto3."""


class FastPath:
    """Single-request PUT and GET of one bucket's objects through obstore."""

    def __init__(self, bucket: str, uri: str, store: S3Store):
        self.bucket = bucket
        self.uri = uri
        self.store = store

    @classmethod
    def for_settings(
        cls,
        bucket: str,
        uri: str,
        *,
        endpoint: str | None,
        region: str,
        credentials: S3CredentialProvider,
    ) -> FastPath:
        """The fast path to ``bucket`` at ``endpoint`` (``None``: AWS) in ``region``, signing
        with what ``credentials`` answers."""
        host = (urlparse(endpoint).hostname or "") if endpoint else ""
        config: dict[str, Any] = {"region": region}
        if endpoint and not host.endswith(".amazonaws.com"):
            # S3-compatible servers (MinIO, SeaweedFS, Ceph, R2) all accept path style;
            # on AWS obstore builds the regional virtual-hosted endpoint itself.
            config.update(endpoint=endpoint, virtual_hosted_style_request=False)
        store = S3Store(
            bucket,
            config=config,  # type: ignore[arg-type]  # a plain dict of S3Config keys
            credential_provider=credentials,
            client_options={
                "allow_http": bool(endpoint and endpoint.startswith("http://")),
                "timeout": "60s",
            },
            retry_config={"max_retries": 3, "retry_timeout": timedelta(seconds=30)},
        )
        return cls(bucket, uri, store)

    def put(self, key: str, data: bytes, metadata: dict[str, str]) -> tuple[str | None, str | None]:
        """Store ``data`` with user metadata in one request; the new ETag and version id."""
        with self._errors(key):
            result = obstore.put(self.store, key, data, attributes=metadata, use_multipart=False)
        return _written(result)

    def open(
        self, key: str, first: int | None = None
    ) -> tuple[ObjectInfo, dict[str, str], bytes | Body]:
        """One GET: the object's info and user metadata from its answer, and its content
        (bytes if small, else an iterator of chunks read as it is consumed). With ``first``,
        only the first ``first`` bytes are asked for (the server sends no more than the
        caller reads); the info is still the whole object's (its ``Content-Range`` tells
        the size). An empty object has no range to give (S3 answers 416): a plain GET."""
        with self._errors(key):
            result = self._get_first(key, first)
            info = _info(key, result.meta)
            metadata = _user_metadata(result.attributes)
            if info.size <= _STREAM_CHUNK:
                return info, metadata, bytes(result.bytes())
        return info, metadata, Body(self, key, result.stream(min_chunk_size=CHUNK))

    def _get_first(self, key: str, first: int | None) -> Any:
        if first is None:
            return obstore.get(self.store, key)
        try:
            return obstore.get(self.store, key, options={"range": (0, first)})
        except GenericError as err:
            if "416 Range Not Satisfiable" not in str(err):
                raise
            return obstore.get(self.store, key)  # an empty object

    def head(self, key: str) -> ObjectInfo:
        """The object's size, ETag, time and version from one HEAD (``head_meta`` for its
        metadata too)."""
        with self._errors(key):
            return _info(key, obstore.head(self.store, key))

    async def write_range(
        self,
        key: str,
        fd: int,
        span: tuple[int, int],
        etag: str,
        progress: Callable[[int], None],
    ) -> None:
        """GET ``span`` (start, length) of the object, only while its ETag is ``etag``, and
        write it to ``fd`` at the same offset as its chunks arrive. Cancelled, the request
        is dropped at once (its connection closed), not at its next chunk."""
        start, length = span
        options: Any = {"range": (start, start + length), "if_match": f'"{etag}"'}
        with self._errors(key):
            result = await obstore.get_async(self.store, key, options=options)
            stream = result.stream(min_chunk_size=CHUNK)
        end = await write_async(fd, Body(self, key, stream).chunks(), start, length, progress)
        if end != start + length:
            raise self.broke_off(key, end - start, length)

    def broke_off(self, key: str, got: int, wanted: int) -> TransientError:
        """The error for a body that ended early without saying so."""
        return TransientError(
            f"reading {key!r} from {self.uri} broke off after {got} of {wanted} bytes; "
            "fetch it again",
            bucket=self.uri,
            key=key,
        )

    def head_meta(self, key: str) -> tuple[ObjectInfo, dict[str, str]]:
        """The object's info and user metadata, from one HEAD."""
        with self._errors(key):
            result = obstore.get(self.store, key, options={"head": True})
            return _info(key, result.meta), _user_metadata(result.attributes)

    def get_range(self, key: str, start: int, length: int) -> tuple[bytes, dict[str, str]]:
        """Up to ``length`` bytes from ``start`` and the user metadata, from one ranged GET."""
        with self._errors(key):
            result = obstore.get(self.store, key, options={"range": (start, start + length)})
            return bytes(result.bytes()), _user_metadata(result.attributes)

    @contextlib.contextmanager
    def _errors(self, key: str) -> Iterator[None]:
        """obstore's errors as ``t4.errors``, or ``Unsupported`` to repeat through boto3."""
        what = f"{key!r} in {self.uri}"
        if key.startswith("/") or key.endswith("/"):  # object_store strips it: another key
            raise Unsupported(f"{what} starts or ends with '/'")
        try:
            yield
        except FileNotFoundError as err:
            raise s3_error("NoSuchKey", 404, bucket=self.uri, key=key) from err
        except PermissionDeniedError as err:
            raise s3_error("PermissionDenied", 403, bucket=self.uri, key=key) from err
        except UnauthenticatedError as err:
            raise s3_error("Unauthenticated", 401, bucket=self.uri, key=key) from err
        except PreconditionError as err:  # If-Match: another version was written meanwhile
            raise TransientError(
                f"{what} was replaced while it was being read; fetch it again",
                bucket=self.uri,
                key=key,
            ) from err
        except ObstoreError as err:
            log.debug("obstore failed for %s (%s); repeating through boto3", what, err)
            raise Unsupported(str(err)) from err
        except ValueError as err:  # a key object_store cannot express
            raise Unsupported(str(err)) from err


def _info(key: str, meta: Any) -> ObjectInfo:
    """obstore's ``ObjectMeta`` as an ``ObjectInfo`` (ETag unquoted; S3's ``null`` version:
    none)."""
    etag, version = meta.get("e_tag"), meta.get("version")
    return ObjectInfo(
        key,
        int(meta["size"]),
        etag.strip('"') if etag else None,
        meta["last_modified"],
        None if version in (None, "", "null") else version,
    )


def _written(result: Any) -> tuple[str | None, str | None]:
    """A PUT's answer (obstore's ``PutResult``): the new ETag, unquoted, and version id."""
    etag = result.get("e_tag")
    return (etag.strip('"') if etag else None), result.get("version")


def _user_metadata(attributes: Any) -> dict[str, str]:
    """obstore's attributes minus the standard headers: the ``x-amz-meta-*`` values."""
    standard = {
        "content-type",
        "content-encoding",
        "content-disposition",
        "content-language",
        "cache-control",
    }
    return {k.lower(): str(v) for k, v in dict(attributes).items() if k.lower() not in standard}


def write_body(
    path: Path,
    body: bytes | Iterable[bytes],
    metadata: dict[str, str],
    callback: Callable[[int], None] | None,
) -> dict[str, str]:
    """Write a GET's body (bytes, or chunks) to ``path`` (with ``t4.parts.write_at``);
    returns ``metadata``."""
    with path.open("wb", buffering=0) as out:
        offset = 0
        for chunk in [body] if isinstance(body, bytes) else body:
            offset = write_at(out.fileno(), chunk, offset)
            if callback:
                callback(len(chunk))
    return metadata


# -- the small-object engine's door (t4.engine): async requests on one event loop ----------
async def get_async(fast: FastPath, key: str) -> tuple[bytes, dict[str, str]]:
    """The object's whole content and user metadata, from one GET on the running loop."""
    with fast._errors(key):
        result = await obstore.get_async(fast.store, key)
        data = await result.bytes_async()
    return bytes(data), _user_metadata(result.attributes)


async def put_async(
    fast: FastPath,
    key: str,
    data: bytes | AsyncIterator[bytes],
    metadata: dict[str, str],
    part: int | None = None,
) -> tuple[str | None, str | None]:
    """Store ``data`` with user metadata in one PUT on the running loop, or, given ``part``,
    chunks as a multipart upload in parts of ``part`` bytes, ``STREAMED_PARTS`` at once
    (obstore aborts it if it fails); the new ETag and version id."""
    with fast._errors(key):
        result = await obstore.put_async(
            fast.store, key, data, attributes=metadata, use_multipart=part is not None,
            chunk_size=part or CHUNK, max_concurrency=STREAMED_PARTS,
        )  # fmt: skip
    etag = result.get("e_tag")
    return (etag.strip('"') if etag else None), result.get("version")


class AsyncObjects:
    """Whole small objects read and written with many requests in flight on one event loop
    (``t4.engine``), through obstore; what obstore cannot do (``Unsupported``) goes to
    boto3 in a thread, exactly as the synchronous path does, so every failure keeps its
    own ``t4.errors`` type.

    Args:
        fast: the bucket's fast path.
        max_size: the largest object moved this way (larger ones go in parts).
        slow_get / slow_put: the same request through boto3.
        stored: the ``ObjectInfo`` of a write from (key, size, ETag, version id).
        missing: what a 404 means (a missing key, or a missing bucket: may ask the server).
        writing: wraps a write's errors (a 404 to a write names the bucket).
    """

    def __init__(
        self,
        fast: FastPath,
        max_size: int,
        *,
        slow_get: Callable[[str], tuple[bytes, dict[str, str]]],
        slow_put: Callable[[str, bytes, dict[str, str]], ObjectInfo],
        stored: Callable[[str, int, str | None, str | None], ObjectInfo],
        missing: Callable[[T4Error, str], T4Error],
        writing: Callable[[str], contextlib.AbstractContextManager[None]],
    ):
        self.fast = fast
        self.max_size = max_size
        self._slow_get = slow_get
        self._slow_put = slow_put
        self._stored = stored
        self._missing = missing
        self._writing = writing

    async def get(self, key: str) -> tuple[bytes, dict[str, str]]:
        """The object's content and raw user metadata."""
        import asyncio  # loaded by the engine already: not by ``import t4``

        try:
            return await get_async(self.fast, key)
        except Unsupported:
            return await asyncio.to_thread(self._slow_get, key)
        except KeyNotFoundError as err:
            raise await asyncio.to_thread(self._missing, err, key) from err.__cause__

    async def put(self, key: str, data: bytes, metadata: dict[str, str]) -> ObjectInfo:
        """Store ``data`` under ``key`` with user metadata; what the server says it stored."""
        import asyncio

        try:
            etag, version = await put_async(self.fast, key, data, metadata)
        except Unsupported:
            return await asyncio.to_thread(self._slow_put, key, data, metadata)
        except KeyNotFoundError as err:
            error = await asyncio.to_thread(self._missing, err, key)
            with self._writing(key):
                raise error from err.__cause__
        return self._stored(key, len(data), etag, version)
