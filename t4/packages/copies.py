"""Package entries copied to local files, checked: each file is hashed as its bytes arrive and
compared with the manifest before it takes its name (a part file beside it until then), files
already there are skipped, and entries whose bytes live outside the registry are refused.

Skipping is decided from the local record t4 keeps of each file's path, size, mtime and
content hash (``t4.state``, the same table uploads use): a file is hashed only when its
record is missing or stale, then compared with the manifest's hash.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from t4.config import concurrency_from_env
from t4.engine import Step
from t4.errors import ExternalKeyError, HashMismatchError
from t4.keys import safe_join
from t4.packages import hashing
from t4.packages.manifest import PhysicalKey, Record
from t4.packages.stores import Stores
from t4.parts import Folders, atomic_write_target, clean_stale_parts
from t4.state import TransferState
from t4.transfer import TransferSummary, note_skipped, run_plan

__all__ = ["Target", "check_sources", "copy_checked", "copy_entries", "targets_under"]


@dataclass(frozen=True)
class Target:
    """One entry to copy: its logical key, manifest record, source and local path."""

    logical_key: str
    record: Record
    source: PhysicalKey
    path: Path

    def what(self) -> str:
        return f"package entry {self.logical_key!r} ({self.source})"


def targets_under(root: Path, records: Iterable[tuple[str, Record]]) -> list[Target]:
    """Each entry at ``root/<logical key>`` (no key can land outside ``root``)."""
    return [
        Target(
            lk,
            r,
            PhysicalKey.from_url(r.physical_key),
            safe_join(root, lk, bucket=str(root), key=lk),
        )
        for lk, r in records
    ]


def check_sources(registry: str, targets: list[Target], package: str) -> None:
    """Refuse, before anything is written, entries whose bytes are outside ``registry``: an
    S3 registry holds only its own bucket's objects; a folder registry only files under its
    folder (links resolved). Anything else (another bucket, a local path such as a key or a
    config file of the installer) raises ``ExternalKeyError``."""
    outside = [t for t in targets if not inside(registry, t.source)]
    if outside:
        first = outside[0]
        more = f" (and {len(outside) - 1} more entries like it)" if len(outside) > 1 else ""
        raise ExternalKeyError(
            f"package {package} in {registry}: entry {first.logical_key!r} names "
            f"{first.source}, outside the registry{more}, so nothing was installed. Install "
            "such a package only if you trust whoever pushed it: pass allow_external=True "
            "(t4 package install --allow-external)",
            bucket=registry,
            key=first.logical_key,
        )


def inside(registry: str, pk: PhysicalKey) -> bool:
    """Whether the bytes ``pk`` names are in the registry ``registry`` (its URI)."""
    if registry.startswith("s3://"):
        return pk.bucket is not None and pk.bucket == registry[5:]
    if pk.bucket is not None:
        return False
    root = os.path.realpath(PhysicalKey.from_url(registry).path)
    return os.path.commonpath([root, os.path.realpath(pk.path)]) == root


def copy_entries(
    targets: list[Target], stores: Stores, operation: str, where: str, package: str = ""
) -> TransferSummary:
    """Copy every target not already there (same size and hash), checked; files already
    right are skipped. Returns the summary; the first hash mismatch (its message opening
    with ``package``, ``name@hash``, when given), or else a ``TransferError`` with every
    file's own error, is raised once the rest are done."""
    summary = TransferSummary(operation, where)
    clean_stale_parts(t.path.parent for t in targets)
    state = TransferState()
    try:
        present = _already_there(targets, state)
        note_skipped(summary, [t.logical_key for t in targets if t.logical_key in present], None)
        folders = Folders()
        steps = [
            _CheckedCopy(t, stores, folders, state) for t in targets if t.logical_key not in present
        ]
        run_plan(summary, steps, concurrency=concurrency_from_env(None))
    finally:
        state.close()
    mismatch = next((e for e in summary.failed.values() if isinstance(e, HashMismatchError)), None)
    if mismatch is not None:
        if package:
            raise HashMismatchError(
                f"package {package} in {where}: {mismatch}", bucket=where, key=mismatch.key
            ) from mismatch
        raise mismatch
    error = summary.error()
    if error is not None:
        raise error
    return summary


def _already_there(targets: list[Target], state: TransferState) -> set[str]:
    """Logical keys whose local file has the manifest's size and hash (hashed only where the
    local record of that path, size and mtime is missing)."""
    by_kind: dict[str, list[Target]] = {}
    for t in targets:
        kind = t.record.hash.get("type") if isinstance(t.record.hash, dict) else None
        if kind in (hashing.CHUNKED, hashing.SHA256) and _size(t.path) == t.record.size:
            by_kind.setdefault(str(kind), []).append(t)
    found: set[str] = set()
    for kind, group in by_kind.items():
        values = state.file_etags([t.path for t in group], kind, _hasher_of(kind))
        found.update(
            t.logical_key
            for t, value in zip(group, values, strict=True)
            if t.record.hash is not None and value == t.record.hash.get("value")
        )
    return found


def _hasher_of(kind: str) -> Callable[[Path], str]:
    return lambda path: hashing.hash_file(path, kind)["value"]


def _size(path: Path) -> int | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size if os.path.isfile(path) else None


class _CheckedCopy(Step):
    """Copy one entry to its path through a part file, hashed as it is written; renamed
    only when the hash is the manifest's (and remembered for the next install)."""

    __slots__ = ("folders", "state", "stores", "target")

    def __init__(self, target: Target, stores: Stores, folders: Folders, state: TransferState):
        super().__init__(target.logical_key, target.record.size)
        self.target, self.stores, self.folders, self.state = target, stores, folders, state

    def run(self, progress: Callable[[int], None]) -> int:
        t = self.target
        copy_checked(t, self.stores, self.folders, progress)
        if t.record.hash is not None:
            st = os.stat(t.path)
            self.state.defer_hash(
                t.path, st.st_size, st.st_mtime_ns, t.record.hash["type"], t.record.hash["value"]
            )
        return t.record.size


def copy_checked(
    target: Target,
    stores: Stores,
    folders: Folders | None = None,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Copy ``target``'s bytes to its path, whole and matching the manifest's hash, or not at
    all (``HashMismatchError`` naming the logical and physical key; a file already at the
    path is left as it was). An entry with no hash yet (a package not built) is copied as is."""
    expected = target.record.hash
    kind = expected.get("type") if isinstance(expected, dict) else None
    if expected is not None and kind not in (hashing.CHUNKED, hashing.SHA256):
        hashing.check(expected, lambda k: {}, what=target.what())  # raises: unsupported type
    with atomic_write_target(target.path, folders) as tmp:
        actual = stores.copy_hashed(target.source, target.record.size, tmp, kind, progress)
        if expected is not None and actual != expected:
            raise HashMismatchError(
                f"{target.what()}: the bytes hash to {actual and actual['value']!r} but the "
                f"manifest says {expected.get('value')!r}; the object changed since the package "
                "was made, so it was not written (ask whoever pushed the package to push it "
                "again)",
                bucket=target.source.bucket and f"s3://{target.source.bucket}",
                key=target.logical_key,
            )
