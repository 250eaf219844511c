"""A package registry: an S3 bucket or a local folder, in quilt3's layout ("V1")::

    .quilt/packages/<top_hash>                       the manifest
    .quilt/named_packages/<user>/<pkg>/<unix time>   a pointer (64 hex characters) per push
    .quilt/named_packages/<user>/<pkg>/latest        the pointer readers follow

Everything goes through a ``t4.Bucket``, so a registry reads and writes like any bucket; the
pointers through its backend's conditional writes (``put_if``), so that concurrent pushes
never overwrite one another's.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import platformdirs

from t4 import meta as helium
from t4.bucket import Bucket
from t4.errors import (
    InvalidKeyError,
    KeyNotFoundError,
    MetadataError,
    PackageConflictError,
    PackageNotFoundError,
    PreconditionFailedError,
    T4Error,
)
from t4.packages.manifest import PhysicalKey
from t4.surface import named

__all__ = ["Registry", "default_local_registry", "validate_name"]

log = logging.getLogger(__name__)

_NAME = re.compile(r"^[\w-]+/[\w-]+$")
_HASH = re.compile(r"^[0-9a-f]{64}$")
_MANIFESTS = ".quilt/packages/"
_POINTERS = ".quilt/named_packages/"
#: Tries at a free pointer name, or at moving ``latest``, before a push gives up.
_ATTEMPTS = 1000
#: The conflict check of a push: raises ``PackageConflictError`` for a ``latest`` it refuses.
Check = Callable[[str | None], None]
#: quilt3 resolves a top-hash prefix of at least this many characters.
MIN_PREFIX = 6


def default_local_registry() -> Path:
    """quilt3's default local registry, so quilt3 and t4 see the same local packages:
    ``<user data dir of Quilt>/packages`` (``~/.local/share/Quilt/packages`` on Linux)."""
    return Path(platformdirs.user_data_dir("Quilt", "QuiltData")) / "packages"


def validate_name(name: str) -> str:
    """A package name is ``user/package`` (letters, digits, ``_`` and ``-``)."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidKeyError(
            f"package name {name!r}: use 'user/package' (letters, digits, '_' and '-')"
        )
    return name


class Registry:
    """The package metadata of one registry.

    Args:
        where: ``s3://bucket``, a local folder (``file:///...`` or a path; created if
            missing), a ``t4.Bucket``, or None for the default local registry.
    """

    def __init__(self, where: str | Path | Bucket | None = None):
        self._conditional_checked = False
        if isinstance(where, Bucket):
            self.bucket, self._owned = where, False
            return
        if where is None:
            where = default_local_registry()
        text = str(where).rstrip("/") if str(where) not in ("/", "") else str(where)
        if "://" not in text or text.startswith("file://"):
            local = PhysicalKey.from_url(text).path if text.startswith("file://") else text
            folder = Path(local).expanduser()
            folder.mkdir(parents=True, exist_ok=True)
            text = str(folder)
        self.bucket, self._owned = Bucket(text), True

    @property
    def uri(self) -> str:
        return self.bucket.uri

    def close(self) -> None:
        if self._owned:
            self.bucket.close()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading ------------------------------------------------------------------------
    def manifest(self, top_hash: str) -> bytes:
        """The manifest bytes of version ``top_hash``."""
        try:
            return self.bucket.get_bytes(_MANIFESTS + top_hash)
        except KeyNotFoundError as err:
            raise PackageNotFoundError(
                f"no package version {top_hash} in {self.uri}; list them with "
                "list_package_versions(name, registry)",
                bucket=self.uri,
                key=_MANIFESTS + top_hash,
            ) from err

    def latest(self, name: str) -> str | None:
        """The top hash ``latest`` points to, or None if the package was never pushed."""
        try:
            return self.bucket.get_bytes(_pointer(name, "latest")).decode().strip()
        except KeyNotFoundError:
            return None

    def require_latest(self, name: str) -> str:
        found = self.latest(name)
        if found is None:
            raise PackageNotFoundError(
                f"no package {name!r} in {self.uri}; list them with "
                f"{named('list_packages(registry)')}",
                bucket=self.uri,
                key=_pointer(name, "latest"),
            )
        return found

    def packages(self) -> Iterator[str]:
        """Every package name, in listing order."""
        last = None
        for key in self.bucket.iter_keys(_POINTERS):
            name = key[len(_POINTERS) :].rpartition("/")[0]
            if name and name != last:
                last = name
                yield name

    def versions(self, name: str) -> list[tuple[str, str]]:
        """``(pointer, top hash)`` for every pointer of ``name``: timestamps, then ``latest``.
        A pointer deleted between the listing and its read (a push refused as a conflict
        takes back its own) is left out."""
        prefix = _pointer(validate_name(name), "")
        found = []
        for key in self.bucket.iter_keys(prefix):
            try:
                found.append((key[len(prefix) :], self.bucket.get_bytes(key).decode().strip()))
            except KeyNotFoundError:
                continue
        return found

    def resolve(self, top_hash: str) -> str:
        """The full top hash for a full one or a unique prefix of 6 or more characters."""
        top_hash = top_hash.lower()
        if _HASH.match(top_hash):
            return top_hash
        if len(top_hash) < MIN_PREFIX or not all(c in "0123456789abcdef" for c in top_hash):
            raise InvalidKeyError(
                f"invalid top hash {top_hash!r}: give the full hash or 6+ of its first hex digits"
            )
        found = [k[len(_MANIFESTS) :] for k in self.bucket.iter_keys(_MANIFESTS + top_hash)]
        if len(found) != 1:
            many = "multiple matches" if found else "zero matches"
            raise PackageNotFoundError(
                f"found {many} for top hash {top_hash!r} in {self.uri}; give more digits",
                bucket=self.uri,
                key=_MANIFESTS + top_hash,
            )
        return found[0]

    def short_hash(self, top_hash: str) -> str:
        """The shortest prefix of 7+ characters that names only this version here."""
        others = [k[len(_MANIFESTS) :] for k in self.bucket.iter_keys(_MANIFESTS + top_hash[:7])]
        for length in range(7, 64):
            if sum(1 for h in others if h.startswith(top_hash[:length])) <= 1:
                return top_hash[:length]
        return top_hash

    # -- writing (in the order that keeps readers safe, each pointer one atomic write) -----
    def publish(
        self,
        name: str,
        top_hash: str,
        manifest: bytes,
        header: dict[str, Any],
        check: Check | None = None,
    ) -> str:
        """Write the manifest, then a new timestamp pointer, then move ``latest``; returns the
        pointer's name. A reader following ``latest`` never finds a missing manifest or a
        version without its pointer, and a write that dies half-way leaves ``latest`` as it
        was. Each pointer is one conditional write: the timestamp pointer is created only if
        absent (a name taken in the same second moves on to the next free second), and
        ``latest`` is replaced only if it still holds what ``check`` (the conflict check,
        None for none) accepted. A push ``check`` refuses raises its error and leaves no
        pointer. The manifest carries the package's name, message, top hash and user_meta as
        its helium metadata, so the bucket's search finds packages."""
        validate_name(name)
        if not _HASH.match(top_hash):
            raise T4Error(f"not a top hash: {top_hash!r}")
        self.bucket.put(_MANIFESTS + top_hash, manifest, meta=_document(name, top_hash, header))
        latest, etag = self.tagged_latest(name)
        if check is not None:
            check(latest)
        pointer = self._new_pointer(name, top_hash)
        try:
            self._move_latest(name, top_hash, etag, check)
        except PackageConflictError:
            self.bucket.backend.delete_many([_pointer(name, pointer)])  # ours alone: a new name
            raise
        return pointer

    def tagged_latest(self, name: str) -> tuple[str | None, str | None]:
        """``latest``'s top hash and the ETag of the object holding it (None, None if none)."""
        try:
            data, etag = self.bucket.backend.get_tagged(_pointer(name, "latest"))
        except KeyNotFoundError:
            return None, None
        return data.decode().strip(), etag

    def _new_pointer(self, name: str, top_hash: str) -> str:
        """Create ``<unix time>`` only if absent. quilt3 lists any pointer name, and sorts
        and shows them as unix times: a name taken (another push in the same second) moves
        on past the newest one there, so each version gets its own and they stay in order."""
        stamp = int(time.time())
        for _ in range(_ATTEMPTS):
            try:
                self.bucket.backend.put_if(_pointer(name, str(stamp)), top_hash.encode(), {}, None)
            except PreconditionFailedError:
                stamp = max(stamp, *self._stamps(name)) + 1
                continue
            self._require_conditional_writes(_pointer(name, str(stamp)), top_hash)
            return str(stamp)
        raise PackageConflictError(
            f"no free pointer name for {name} in {self.uri} after {_ATTEMPTS} tries: too many "
            "pushes at once; push again",
            bucket=self.uri,
            key=_pointer(name, str(stamp)),
        )

    def _stamps(self, name: str) -> list[int]:
        names = (key.rpartition("/")[2] for key in self.bucket.iter_keys(_pointer(name, "")))
        return [int(n) for n in names if n.isdigit()]

    def _require_conditional_writes(self, key: str, top_hash: str) -> None:
        """Once per registry: writing the pointer just made again, if absent, must be refused.
        A store that accepts it ignores conditions: say so rather than lose versions."""
        if self._conditional_checked:
            return
        try:
            self.bucket.backend.put_if(key, top_hash.encode(), {}, None)
        except PreconditionFailedError:
            self._conditional_checked = True
            return
        self.bucket.backend.delete_many([key])
        raise self.bucket.backend.no_conditional_writes(key)

    def _move_latest(self, name: str, top_hash: str, etag: str | None, check: Check | None) -> None:
        """Replace ``latest`` only if it still has ``etag`` (is still absent, for None); when
        another push moved it meanwhile, check again against what it holds now and retry."""
        key = _pointer(name, "latest")
        for _ in range(_ATTEMPTS):
            try:
                self.bucket.backend.put_if(key, top_hash.encode(), {}, etag)
                return
            except PreconditionFailedError:
                latest, etag = self.tagged_latest(name)
                if check is not None:
                    check(latest)
        raise PackageConflictError(
            f"{key} in {self.uri} kept moving ({_ATTEMPTS} tries): push again",
            bucket=self.uri,
            key=key,
        )


def _document(name: str, top_hash: str, header: dict[str, Any]) -> dict[str, Any]:
    """What search sees of a package version; its user_meta only if it fits S3's 2 KiB."""
    doc: dict[str, Any] = {"package": name, "top_hash": top_hash}
    message = header.get("message")
    if isinstance(message, str):
        doc["message"] = message[:512]
    with_meta = {**doc, "user_meta": header.get("user_meta")}
    try:
        helium.encode(helium.helium(with_meta, None, bucket="", key=""), bucket="", key="")
    except MetadataError:
        return doc
    return with_meta


def _pointer(name: str, pointer: str) -> str:
    return f"{_POINTERS}{name}/{pointer}"
