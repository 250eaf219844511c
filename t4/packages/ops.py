"""Package operations against registries: build, push, browse, install, fetch, and the
registry listings. Each works on a plain ``Manifest`` value (header, entries, origin) and
returns one, which ``t4.packages.package.Package`` wraps. Bytes move through ``t4.Bucket``
(its planned, parallel engine); hashes are computed here from the bytes, cached for local
files by path, size and mtime.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any

from t4.bucket import Bucket
from t4.errors import InvalidKeyError, PackageConflictError
from t4.packages import hashing, workflows
from t4.packages.copies import check_sources, copy_entries, targets_under
from t4.packages.manifest import Manifest, PhysicalKey, Record, load
from t4.packages.registry import Registry, default_local_registry, validate_name
from t4.packages.stores import Stores, parallel
from t4.state import TransferState
from t4.transfer import TransferSummary

__all__ = [
    "browse",
    "build",
    "fetch",
    "install",
    "list_package_versions",
    "list_packages",
    "push",
]

log = logging.getLogger("t4.packages")

RegistryLike = str | Path | Bucket | None


def fill_hashes(pkg: Manifest, stores: Stores) -> None:
    """Give every entry without a hash its ``sha2-256-chunked`` hash, from its bytes."""
    missing = [(lk, r) for lk, r in pkg.entries.items() if r.hash is None]
    if not missing:
        return
    local = [(lk, r, PhysicalKey.from_url(r.physical_key)) for lk, r in missing]
    files = [(r, pk) for _, r, pk in local if pk.bucket is None]
    if files:
        state = TransferState()
        try:
            values = state.file_etags(
                [Path(pk.path) for _, pk in files],
                hashing.CHUNKED,
                lambda p: hashing.hash_file(p)["value"],
            )
        finally:
            state.close()
        for (record, _), value in zip(files, values, strict=True):
            record.hash = {"type": hashing.CHUNKED, "value": value}
    remote = [(r, pk) for _, r, pk in local if pk.bucket is not None]

    def one(item: tuple[Record, PhysicalKey]) -> None:
        record, pk = item
        record.hash = stores.hash(pk, record.size)

    parallel(one, remote)


def browse(name: str, registry: RegistryLike = None, top_hash: str | None = None) -> Manifest:
    """The package version ``top_hash`` (full, or a unique prefix of 6+ characters), or the
    latest one, read from ``registry`` (default: the local registry)."""
    with Registry(registry) as reg:
        wanted = reg.resolve(top_hash) if top_hash else reg.require_latest(validate_name(name))
        header, dir_meta, entries = load(reg.manifest(wanted), where=f"{reg.uri} {wanted}")
        read = {lk: r.physical_key for lk, r in entries.items()}
        return Manifest(header, entries, dir_meta, (reg.uri, name, wanted), read)


def build(
    pkg: Manifest,
    name: str,
    registry: RegistryLike = None,
    message: str | None = None,
    workflow: Any = ...,
) -> str:
    """Write the package, as it is (physical keys unchanged), to ``registry`` (default: the
    local registry) under ``name``; returns its top hash. The registry's workflows config,
    if any, is checked first (``t4.packages.workflows``). ``pkg`` is given its hashes, message
    and origin."""
    validate_name(name)
    _check_message(message)
    with Registry(registry) as reg, Stores(reg.bucket) as stores:
        _apply_workflow(pkg.header, reg, stores, workflow, name, pkg, message)
        fill_hashes(pkg, stores)
        pkg.header["message"] = message
        top = pkg.top_hash()
        reg.publish(name, top, pkg.manifest_bytes(), pkg.header)
    pkg.origin = (reg.uri, name, top)
    return top


def push(
    pkg: Manifest,
    name: str,
    registry: RegistryLike = None,
    dest: str | None = None,
    message: str | None = None,
    force: bool = False,
    dedupe: bool = False,
    workflow: Any = ...,
) -> Manifest:
    """Copy the package's bytes into the registry and publish a new version of ``name``;
    returns the version pushed (``pkg``'s entries are given their hashes).

    Order: data, then the manifest, then the timestamp pointer, then ``latest``. Unless
    ``force``, ``latest`` must still be the version the package was browsed from (a fresh
    ``Package()`` onto an existing name conflicts, as in quilt3 8), checked before the data
    is copied and again, atomically, as ``latest`` moves. A version whose top hash is
    already ``latest`` is not pushed again (``dedupe`` is always on). First of all, the
    registry's workflows config, if any, is checked (``t4.packages.workflows``).
    """
    validate_name(name)
    _check_message(message)
    with Registry(registry) as reg, Stores(reg.bucket) as stores:
        header = {**pkg.header, "message": message}
        _apply_workflow(header, reg, stores, workflow, name, pkg, message)
        staged = Manifest(header, {lk: Record(r.physical_key, r.size, r.hash, r.meta)
                                   for lk, r in pkg.entries.items()})  # fmt: skip
        fill_hashes(staged, stores)
        for lk, record in staged.entries.items():
            pkg.entries[lk].hash = record.hash
        top = staged.top_hash()
        check = None if force else functools.partial(_check_conflict, pkg, name, reg)
        latest = reg.latest(name)
        if check is not None:
            check(latest)  # early, as quilt3: before any byte is copied
        if latest == top:
            log.info(
                "package %s@%s is already latest in %s; nothing pushed", name, top[:7], reg.uri
            )
            return browse(name, reg.bucket, top)
        prefix = _dest_prefix(reg, name, dest)
        _upload(staged, reg.bucket, prefix, stores)
        reg.publish(name, top, staged.manifest_bytes(), header, check)
        staged.origin = (reg.uri, name, top)
        log.info("package %s@%s pushed to %s", name, reg.short_hash(top), reg.uri)
        return staged


def _apply_workflow(
    header: dict[str, Any],
    reg: Registry,
    stores: Stores,
    workflow: Any,
    name: str,
    pkg: Manifest,
    message: str | None,
) -> None:
    """Check the push against the registry's workflows and record the outcome as quilt3
    does: the manifest's ``workflow``, or none at all without a config."""
    stored = workflows.validate(reg, stores, workflow, name, pkg, message)
    if stored is None:
        header.pop("workflow", None)
    else:
        header["workflow"] = stored


def _check_message(message: object) -> None:
    if message is not None and not isinstance(message, str):
        raise InvalidKeyError(f"the message must be a string or None, got {message!r}")


def _check_conflict(pkg: Manifest, name: str, reg: Registry, latest: str | None) -> None:
    """quilt3's rule: pushing onto an existing ``latest`` needs a package browsed from it
    (a fresh ``Package()`` onto an existing name is refused too, as quilt3 8 does)."""
    if latest is None:
        return
    origin = pkg.origin[2] if pkg.origin else None
    if latest != origin:
        browsed = f"was browsed from {origin[:7]}" if origin else "is a new Package()"
        raise PackageConflictError(
            f"package {name} in {reg.uri} is at {latest[:7]} but this package {browsed}: "
            "pushing would hide that version. Browse the latest, apply your change, and push "
            "again, or pass force=True (--force on the command line) to replace it",
            bucket=reg.uri,
            key=name,
        )


def _dest_prefix(reg: Registry, name: str, dest: str | None) -> str:
    if dest is None:
        return name + "/"
    pk = PhysicalKey.from_url(dest) if "://" in dest and not dest.startswith("file://") else None
    if pk is None or f"s3://{pk.bucket}" != reg.uri:
        raise InvalidKeyError(f"dest {dest!r} must be a prefix in the registry {reg.uri}")
    return pk.path.rstrip("/") + "/" if pk.path else ""


def _upload(staged: Manifest, bucket: Bucket, prefix: str, stores: Stores) -> None:
    """Copy every entry not already in the registry bucket to ``prefix + logical key`` and
    point the entry there (at the version written, in a versioned bucket)."""
    in_place = bucket.uri[5:] if bucket.uri.startswith("s3://") else None
    local: dict[str, str | Path] = {}
    remote: list[tuple[str, PhysicalKey]] = []
    for lk, record in staged.entries.items():
        pk = PhysicalKey.from_url(record.physical_key)
        if in_place is not None and pk.bucket == in_place:
            continue  # already in the registry's bucket: quilt3 leaves it where it is
        (remote.append((prefix + lk, pk)) if pk.bucket else local.__setitem__(prefix + lk, pk.path))
    if not local and not remote:
        return
    with _Staging(remote, stores) as fetched:
        bucket.put_files([(path, key) for key, path in {**local, **fetched}.items()])
    versions = stores.latest_versions(bucket, prefix)
    root = None if in_place else Path(PhysicalKey.from_url(bucket.uri).path)
    for lk, record in staged.entries.items():
        key = prefix + lk
        if key not in local and key not in dict(remote):
            continue
        if root is not None:
            record.physical_key = str(PhysicalKey.from_path(root / key))
        else:
            record.physical_key = str(PhysicalKey(in_place, key, versions.get(key)))


class _Staging:
    """Entries from other buckets, fetched to a scratch folder for the upload."""

    def __init__(self, remote: list[tuple[str, PhysicalKey]], stores: Stores):
        self.remote = remote
        self.stores = stores
        self._tmp: Any = None

    def __enter__(self) -> dict[str, str | Path]:
        import tempfile

        if not self.remote:
            return {}
        self._tmp = tempfile.TemporaryDirectory(prefix="t4-push-")
        folder = Path(self._tmp.name)
        paths: dict[str, str | Path] = {
            key: folder / str(i) for i, (key, _) in enumerate(self.remote)
        }
        parallel(lambda item: self.stores.copy(item[1], Path(paths[item[0]])), self.remote)
        return paths

    def __exit__(self, *exc: object) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()


def fetch(
    pkg: Manifest, dest: str | Path, stores: Stores | None = None, allow_external: bool = False
) -> tuple[Manifest, TransferSummary]:
    """Copy every entry to ``dest/<logical key>``, each checked against its hash (files
    already there with that size and hash are skipped); returns the package pointing there,
    and the summary of what was transferred and skipped. Of a browsed package, entries whose
    registry manifest names bytes outside that registry raise ``ExternalKeyError`` before
    anything is written, unless ``allow_external`` (as install); entries set since are the
    user's own."""
    root = Path(dest).expanduser()
    targets = targets_under(root, pkg.records())
    version = f"{pkg.origin[1]}@{pkg.origin[2][:7]}" if pkg.origin else ""
    if pkg.origin is not None and pkg.read and not allow_external:
        named = [t for t in targets if pkg.read.get(t.logical_key) == t.record.physical_key]
        check_sources(pkg.origin[0], named, version)
    root.mkdir(parents=True, exist_ok=True)
    own = stores is None
    stores = stores or Stores()
    try:
        where = pkg.origin[0] if pkg.origin else str(PhysicalKey.from_path(root.absolute()))
        summary = copy_entries(targets, stores, "fetch", where, version)
    finally:
        if own:
            stores.close()
    out = Manifest(dict(pkg.header))
    for t in targets:
        out.entries[t.logical_key] = Record(
            str(PhysicalKey.from_path(t.path)), t.record.size, t.record.hash, t.record.meta
        )
    return out, summary


def install(
    name: str,
    registry: RegistryLike = None,
    dest: str | Path | None = None,
    top_hash: str | None = None,
    allow_external: bool = False,
) -> tuple[Manifest, TransferSummary]:
    """Browse the version, copy its files to ``dest`` (default: here), and record the same
    manifest (same top hash) in the default local registry, as quilt3 does.

    Every file is checked against the manifest's hash as it is written (a mismatch raises
    ``HashMismatchError``; no tampered file takes the name); files already there with the
    manifest's size and hash are skipped (``summary`` on the returned package tells how
    many). Entries outside the registry (another bucket, a local path) raise
    ``ExternalKeyError`` before anything is written, unless ``allow_external``. Returns the
    version and that summary."""
    pkg = browse(name, registry, top_hash)
    wanted = pkg.origin[2] if pkg.origin else pkg.top_hash()
    with Registry(registry) as reg, Stores(reg.bucket) as stores:
        root = Path(dest if dest is not None else ".").expanduser()
        targets = targets_under(root, pkg.records())
        if not allow_external:
            check_sources(reg.uri, targets, f"{name}@{wanted[:7]}")
        root.mkdir(parents=True, exist_ok=True)
        summary = copy_entries(targets, stores, "install", reg.uri, f"{name}@{wanted[:7]}")
        manifest = reg.manifest(wanted)
    log.info("%s", summary.line())
    local = Registry(default_local_registry())
    with local:
        if local.uri != reg.uri:
            local.publish(name, pkg.top_hash(), manifest, pkg.header)
    return pkg, summary


def list_packages(registry: RegistryLike = None) -> list[str]:
    """Every package name in ``registry`` (default: the local registry).

    Example:
        >>> t4.list_packages("s3://bucket")  # doctest: +SKIP
        ['team/data']
    """
    with Registry(registry) as reg:
        return list(reg.packages())


def list_package_versions(name: str, registry: RegistryLike = None) -> list[tuple[str, str]]:
    """``(pointer, top hash)`` for each version of ``name``: timestamps, then ``latest``.

    Example:
        >>> t4.list_package_versions("team/data", "s3://bucket")  # doctest: +SKIP
        [('1796165611', '2eafad3...'), ('latest', '2eafad3...')]
    """
    with Registry(registry) as reg:
        return reg.versions(name)
