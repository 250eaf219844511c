"""A package registry: an S3 bucket or a local folder, in quilt3's layout ("V1")::

    .quilt/packages/<top_hash>                       the manifest
    .quilt/named_packages/<user>/<pkg>/<unix time>   a pointer (64 hex characters) per push
    .quilt/named_packages/<user>/<pkg>/latest        the pointer readers follow

Everything goes through a ``t4.Bucket``, so a registry reads and writes like any bucket.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import platformdirs

from t4 import meta as helium
from t4.bucket import Bucket
from t4.errors import (
    InvalidKeyError,
    KeyNotFoundError,
    MetadataError,
    PackageNotFoundError,
    T4Error,
)
from t4.packages.manifest import PhysicalKey

__all__ = ["Registry", "default_local_registry", "validate_name"]

log = logging.getLogger(__name__)

_NAME = re.compile(r"^[\w-]+/[\w-]+$")
_HASH = re.compile(r"^[0-9a-f]{64}$")
_MANIFESTS = ".quilt/packages/"
_POINTERS = ".quilt/named_packages/"
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
                f"no package {name!r} in {self.uri}; list them with list_packages(registry)",
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
        """``(pointer, top hash)`` for every pointer of ``name``: timestamps, then ``latest``."""
        prefix = _pointer(validate_name(name), "")
        return [
            (key[len(prefix) :], self.bucket.get_bytes(key).decode().strip())
            for key in self.bucket.iter_keys(prefix)
        ]

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

    # -- writing (in the order that keeps readers safe) -----------------------------------
    def publish(self, name: str, top_hash: str, manifest: bytes, header: dict[str, Any]) -> None:
        """Write the manifest, then a timestamp pointer, then ``latest``: a reader following
        ``latest`` never finds a missing manifest, and a write that dies half-way leaves
        ``latest`` as it was. The manifest carries the package's name, message, top hash and
        user_meta as its helium metadata, so the bucket's search finds packages."""
        validate_name(name)
        if not _HASH.match(top_hash):
            raise T4Error(f"not a top hash: {top_hash!r}")
        self.bucket.put(_MANIFESTS + top_hash, manifest, meta=_document(name, top_hash, header))
        self.bucket.put(_pointer(name, str(int(time.time()))), top_hash.encode())
        self.bucket.put(_pointer(name, "latest"), top_hash.encode())


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
