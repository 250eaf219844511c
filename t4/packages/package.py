"""``Package``: a named, versioned, immutable set of logical keys, shaped like quilt3's.

A package is built in memory (``set``, ``set_dir``, ``set_meta``, ``delete``), then written
to a registry (``build``, ``push``) or read from one (``browse``, ``install``). Entries are
kept flat, by logical key, in slotted records: 100,000 entries cost little more than their
manifest.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import platformdirs

from t4 import formats
from t4.errors import HashMismatchError, InvalidKeyError, KeyNotFoundError, LocalPathError
from t4.packages import hashing, ops
from t4.packages.entry import PackageEntry
from t4.packages.manifest import Manifest, PhysicalKey, Record, validate_logical_key, walk_order
from t4.packages.stores import Stores
from t4.transfer import TransferSummary

__all__ = ["Package", "PackageEntry", "folder_records"]


def _field(name: str) -> Any:
    """A ``Package`` attribute that is a field of the manifest value it wraps."""
    return property(
        lambda self: getattr(self._m, name), lambda self, value: setattr(self._m, name, value)
    )


class Package:
    """A package of logical keys, each naming bytes somewhere, with metadata.

    Example:
        >>> p = t4.Package()  # doctest: +SKIP
        >>> p.set_dir("data", "./data", meta={"source": "lab"})  # doctest: +SKIP
        >>> p.set("README.md", "./README.md", meta={"kind": "doc"})  # doctest: +SKIP
        >>> p.push("team/data", registry="s3://bucket", message="first")  # doctest: +SKIP
    """

    _meta = _field("header")
    _entries = _field("entries")
    _dir_meta = _field("dir_meta")
    #: (registry URI, name, top hash) this package was browsed or pushed as.
    _origin = _field("origin")

    def __init__(self) -> None:
        self._m = Manifest()
        #: What the ``install`` or ``fetch`` that returned this package transferred and
        #: skipped (a ``t4.TransferSummary``); None otherwise.
        self.summary: TransferSummary | None = None

    # -- reading ------------------------------------------------------------------------
    @property
    def meta(self) -> Any:
        """The package's user metadata (``{}`` when none)."""
        return self._meta.get("user_meta", {})

    @property
    def message(self) -> str | None:
        """The message of the push or build that made this version."""
        return self._meta.get("message")

    def __contains__(self, logical_key: str) -> bool:
        key = logical_key.rstrip("/")
        return key in self._entries or any(k.startswith(key + "/") for k in self._entries)

    def __getitem__(self, logical_key: str) -> PackageEntry | Package:
        """The entry at ``logical_key``, or the directory under it as a package."""
        key = logical_key.strip("/")
        if key in self._entries:
            return PackageEntry(key, self._entries[key])
        prefix = key + "/"
        sub = Package()
        for lk, record in self._entries.items():
            if lk.startswith(prefix):
                sub._entries[lk[len(prefix) :]] = record
        if not sub._entries:
            raise KeyNotFoundError(f"no entry or directory {logical_key!r} in the package")
        if self._dir_meta.get(prefix):
            sub._meta["user_meta"] = self._dir_meta[prefix]
        return sub

    def get(self, logical_key: str) -> str:
        """The URL of the bytes at ``logical_key``: ``pkg[logical_key].get()``."""
        entry = self[logical_key]
        if not isinstance(entry, PackageEntry):
            raise InvalidKeyError(f"{logical_key!r} is a directory of the package, not an entry")
        return entry.get()

    def keys(self) -> list[str]:
        """The names at the top level of the package (files and directories)."""
        seen: dict[str, None] = {}
        for lk in sorted(self._entries, key=walk_order):
            seen.setdefault(lk.split("/", 1)[0], None)
        return list(seen)

    def walk(self) -> Iterator[tuple[str, PackageEntry]]:
        """Every ``(logical_key, entry)``, in quilt3's walk order."""
        for lk in sorted(self._entries, key=walk_order):
            yield lk, PackageEntry(lk, self._entries[lk])

    def _records(self) -> Iterator[tuple[str, Record]]:
        return self._m.records()

    @property
    def top_hash(self) -> str:
        """The package's top hash (every entry must have a hash: build or push first)."""
        return self._m.top_hash()

    def manifest_bytes(self) -> bytes:
        """The manifest exactly as quilt3 writes it."""
        return self._m.manifest_bytes()

    def diff(self, other: Package) -> tuple[list[str], list[str], list[str]]:
        """``(added, modified, deleted)`` logical keys going from this package to ``other``
        (where bytes live does not count; size, hash and meta do).

        Example:
            >>> added, modified, deleted = old.diff(new)  # doctest: +SKIP
        """
        theirs = dict(other._entries)
        modified, deleted = [], []
        for lk, record in self._records():
            other_record = theirs.pop(lk, None)
            if other_record is None:
                deleted.append(lk)
            elif not record.same_content(other_record):
                modified.append(lk)
        return sorted(theirs), modified, deleted

    # -- changing -----------------------------------------------------------------------
    def set_meta(self, meta: Any) -> Package:
        """Set the package's user metadata (part of the top hash, as in quilt3)."""
        self._meta["user_meta"] = meta
        return self

    def set(self, logical_key: str, entry: Any = None, meta: Any = None) -> Package:
        """Set ``logical_key`` to a local file, an ``s3://`` URL (pinned to its current
        version), a ``PackageEntry``, or a Python object (serialised through t4's formats).
        With no ``entry``, the logical key is taken as a local path."""
        lk = validate_logical_key(logical_key)
        if entry is None:
            entry = lk
        if isinstance(entry, PackageEntry):
            record = Record(entry.get(), entry.size, entry.hash, dict(entry._record.meta))
        elif isinstance(entry, str | os.PathLike):
            record = self._record_for(str(entry))
        else:
            record = _serialized(lk, entry)
        if meta is not None:
            record.meta["user_meta"] = meta
        self._check_no_clash(lk)
        self._entries[lk] = record
        return self

    def _record_for(self, where: str) -> Record:
        if where.startswith("s3://"):
            pk = PhysicalKey.from_url(where)
            with Stores() as stores:
                size, version = stores.size_and_version(pk)
            if pk.version_id is None and version:
                pk = PhysicalKey(pk.bucket, pk.path, version)
            return Record(str(pk), size, None, {})
        path = Path(PhysicalKey.from_url(where).path if where.startswith("file://") else where)
        if not path.expanduser().is_file():
            raise LocalPathError(f"{where} is not a file; set_dir adds a folder")
        pk = PhysicalKey.from_path(path.expanduser())
        return Record(str(pk), os.stat(pk.path).st_size, None, {})

    def _check_no_clash(self, lk: str) -> None:
        parts = lk.split("/")
        for i in range(1, len(parts)):
            if "/".join(parts[:i]) in self._entries:
                raise InvalidKeyError(f"{lk!r}: {'/'.join(parts[:i])!r} is already a file")
        if any(k.startswith(lk + "/") for k in self._entries):
            raise InvalidKeyError(f"{lk!r} is a directory of the package; delete it first")

    def set_dir(
        self, logical_key: str, path: str | Path | None = None, meta: Any = None
    ) -> Package:
        """Add every file under a local folder or an ``s3://bucket/prefix/`` (each object's
        current version pinned) under ``logical_key`` (``"/"`` for the root); ``meta`` is
        that directory's metadata (the package's own for the root, as in quilt3)."""
        lk = logical_key.strip("/")
        if lk in ("", "."):
            lk = ""
            self._meta["user_meta"] = meta
        else:
            validate_logical_key(lk)
            self._dir_meta[lk + "/"] = meta
        prefix = lk + "/" if lk else ""
        source = str(path if path is not None else lk)
        for rel, record in folder_records(source):
            self._entries[validate_logical_key(prefix + rel)] = record
        return self

    def delete(self, logical_key: str) -> Package:
        """Remove an entry, or a whole directory of entries."""
        key = logical_key.strip("/")
        if key in self._entries:
            del self._entries[key]
            return self
        doomed = [k for k in self._entries if k.startswith(key + "/")]
        if not doomed:
            raise KeyNotFoundError(f"no entry or directory {logical_key!r} in the package")
        for k in doomed:
            del self._entries[k]
        self._dir_meta = {k: m for k, m in self._dir_meta.items() if not k.startswith(key + "/")}
        return self

    # -- registries ---------------------------------------------------------------------
    def build(
        self, name: str, registry: Any = None, message: str | None = None, *, workflow: Any = ...
    ) -> str:
        """Write this package as it is (its files stay where they are) to ``registry``
        (default: the local registry, where quilt3 keeps it); returns the top hash.

        Example:
            >>> p.build("team/data", message="local snapshot")  # doctest: +SKIP
            '2eafad3c...'
        """
        return ops.build(self._m, name, registry, message, workflow)

    def push(
        self,
        name: str,
        registry: Any = None,
        dest: str | None = None,
        message: str | None = None,
        *,
        force: bool = False,
        dedupe: bool = False,
        workflow: Any = ...,
    ) -> Package:
        """Copy the files into ``registry`` (under ``dest``, default ``<registry>/<name>/``)
        and publish a new version: data, then the manifest, then the timestamp pointer, then
        ``latest``. If ``latest`` moved since this package was browsed, raises
        ``PackageConflictError`` unless ``force``. A version whose top hash is already
        ``latest`` is not pushed again. Returns the pushed package.

        A registry with quilt3's ``.quilt/workflows/config.yml`` checks the push first:
        ``workflow`` picks one by id (omitted: the config's default; None: none), and a push
        it refuses raises ``WorkflowValidationError`` listing what failed.

        Example:
            >>> p.push("team/data", registry="s3://bucket", message="v2")  # doctest: +SKIP
        """
        return Package._wrap(
            ops.push(self._m, name, registry, dest, message, force, dedupe, workflow)
        )

    @classmethod
    def browse(cls, name: str, registry: Any = None, top_hash: str | None = None) -> Package:
        """The latest version of ``name`` in ``registry`` (default: the local registry), or
        the version ``top_hash`` (the full hash or a unique prefix of 6+ characters).

        Example:
            >>> t4.Package.browse("team/data", "s3://b", top_hash="2eafad")  # doctest: +SKIP
        """
        return cls._wrap(ops.browse(name, registry, top_hash))

    @classmethod
    def install(
        cls,
        name: str,
        registry: Any = None,
        dest: str | Path | None = None,
        top_hash: str | None = None,
        *,
        allow_external: bool = False,
    ) -> Package:
        """Copy a version's files to ``dest`` and record it in the local registry.

        Each file is hashed as it is written and must match the manifest
        (``HashMismatchError`` otherwise: the tampered file is not written); files already in
        ``dest`` with the manifest's size and hash are skipped (see ``summary``). An entry
        whose bytes are outside the registry (another bucket, a local path) raises
        ``ExternalKeyError`` before anything is written, unless ``allow_external=True``.

        Example:
            >>> t4.Package.install("team/data", "s3://bucket", dest="./data")  # doctest: +SKIP
        """
        return cls._wrap(*ops.install(name, registry, dest, top_hash, allow_external))

    def fetch(self, dest: str | Path = ".", *, allow_external: bool = False) -> Package:
        """Copy every entry to ``dest/<logical key>``, each checked against its hash as it
        is written (files already there with that size and hash are skipped); returns the
        package pointing there. Of a browsed package, an entry whose bytes the registry's
        manifest names outside the registry raises ``ExternalKeyError`` before anything is
        written, unless ``allow_external=True``, as ``install`` does.

        Example:
            >>> local = pkg.fetch("./copy")  # doctest: +SKIP
        """
        return self._wrap(*ops.fetch(self._m, dest, allow_external=allow_external))

    @classmethod
    def _wrap(cls, manifest: Manifest, summary: TransferSummary | None = None) -> Package:
        """The package over ``manifest`` (what an operation of ``t4.packages.ops`` returned)."""
        pkg = cls()
        pkg._m, pkg.summary = manifest, summary
        return pkg

    def verify(self, src: str | Path, extra_files_ok: bool = False) -> bool:
        """True if the folder ``src`` holds exactly the package's bytes (each file hashed),
        and no other files unless ``extra_files_ok``.

        Example:
            >>> pkg.verify("./installed")  # doctest: +SKIP
            True
        """
        root = Path(src)
        for lk, record in self._records():
            path = root / lk
            if not path.is_file() or path.stat().st_size != record.size:
                return False
            try:
                hashing.check(
                    record.hash, lambda kind, p=path: hashing.hash_file(p, kind), what=str(path)
                )
            except HashMismatchError:
                return False
        if extra_files_ok:
            return True
        found = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
        return found <= set(self._entries)


def folder_records(source: str) -> Iterator[tuple[str, Record]]:
    """(relative key, record) for every file under a local folder or an S3 prefix."""
    if source.startswith("s3://"):
        pk = PhysicalKey.from_url(source)
        prefix = pk.path if not pk.path or pk.path.endswith("/") else pk.path + "/"
        assert pk.bucket is not None
        with Stores() as stores:
            bucket = stores.bucket(pk.bucket)
            versions = stores.latest_versions(bucket, prefix)
            for info in bucket.ls(prefix):
                if info.key.endswith("/"):
                    continue
                url = str(PhysicalKey(pk.bucket, info.key, versions.get(info.key)))
                yield info.key[len(prefix) :], Record(url, info.size, None, {})
        return
    folder = Path(PhysicalKey.from_url(source).path if source.startswith("file://") else source)
    folder = folder.expanduser()
    if not folder.is_dir():
        raise LocalPathError(f"the folder {folder} does not exist; nothing was added")
    for dirpath, _dirs, files in os.walk(folder):
        for name in files:
            path = Path(dirpath) / name
            if path.is_file():
                pk = PhysicalKey.from_path(path)
                rel = path.relative_to(folder).as_posix()
                yield rel, Record(str(pk), os.stat(pk.path).st_size, None, {})


def _serialized(logical_key: str, obj: Any) -> Record:
    """Serialise ``obj`` to a scratch file (its format chosen as ``Bucket.put`` does)."""
    data, fmt = formats.serialize(obj, logical_key)
    folder = Path(platformdirs.user_data_dir("t4", "t4flows")) / "tempfiles"
    folder.mkdir(parents=True, exist_ok=True)
    suffix = Path(logical_key).suffix
    path = folder / f"{uuid.uuid4()}{suffix}"
    path.write_bytes(data)
    meta = {"format": fmt, "target": fmt["name"]}
    return Record(str(PhysicalKey.from_path(path)), len(data), None, meta)
