"""The list-shaped bulk methods of ``Bucket`` (``put_files``, ``fetch_keys``, ``copy_to``,
``delete_many``) and the one way every bulk operation runs: a plan from ``t4.plans``,
executed by ``t4.transfer.run_plan``, reported as a ``TransferSummary``, failures raised
once the rest are done (``TransferError`` with each file's own error; a single-file
operation raises its own error).
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from t4.backends.base import Backend, ObjectInfo
from t4.engine import Steps
from t4.errors import InvalidKeyError
from t4.keys import as_prefix, check_file_key, check_key
from t4.plans.common import Refused, resolve, shared_prefix
from t4.plans.copy import copy_steps, copy_targets, delete_keys
from t4.plans.fetch import FetchPlan, unwritable_destination
from t4.plans.upload import Upload, UploadPlan
from t4.transfer import ProgressCallback, TransferSummary, note_refused, note_skipped, run_plan
from t4.walk import iter_walk

if TYPE_CHECKING:
    from t4.search.upkeep import IndexKeeper
    from t4.state import TransferState

__all__ = ["BulkMethods", "Caches"]

log = logging.getLogger(__name__)


class Caches:
    """A bucket's two SQLite files, the transfer state and the search index, each opened by
    the first call that needs it: ``import t4`` and ``Bucket(...)`` import neither sqlite3
    nor the search code (``t4 ls`` and ``t4 cat`` never do)."""

    def __init__(self, backend: Backend, concurrency: int, progress: bool | None):
        self._backend, self._concurrency, self._progress = backend, concurrency, progress
        self._lock = threading.Lock()
        self._state: TransferState | None = None
        self._search: IndexKeeper | None = None

    @property
    def state(self) -> TransferState:
        with self._lock:
            if self._state is None:
                from t4.state import TransferState

                self._state = TransferState()
            return self._state

    @property
    def search(self) -> IndexKeeper:
        with self._lock:
            if self._search is None:
                from t4.search.upkeep import IndexKeeper

                self._search = IndexKeeper(
                    self._backend, concurrency=self._concurrency, progress=self._progress
                )
            return self._search

    def close(self) -> None:
        """Close what was opened (nothing is opened to be closed)."""
        with self._lock:
            for opened in (self._state, self._search):
                if opened is not None:
                    opened.close()


class BulkMethods:
    """Mixed into ``Bucket``, which sets these attributes."""

    _backend: Backend
    _caches: Caches
    concurrency: int
    progress: bool | None
    callback: ProgressCallback | None

    @property
    def _state(self) -> TransferState:
        return self._caches.state

    @property
    def _search(self) -> IndexKeeper:
        return self._caches.search

    def fetch_keys(
        self,
        objects: Iterable[ObjectInfo | str],
        dest: str | Path,
        *,
        prefix: str = "",
        listing: Iterable[ObjectInfo] | None = None,
    ) -> TransferSummary:
        """Download these objects into the folder ``dest``, each at its key less ``prefix``.

        ``objects`` are ``ObjectInfo`` (from ``ls()``: nothing is listed again) or keys; keys
        are looked up in ``listing`` if given, else in one listing of their shared prefix.
        Every key must start with ``prefix``. Files already identical locally are skipped; a
        key that is not there, or that cannot be a file under ``dest`` (``..``, an absolute
        path, a link out), fails alone (an ``InvalidKeyError``) and nothing is written for
        it. Raises ``TransferError`` (each file's own error in ``failures``) once the rest
        are done.

        Example:
            >>> objs = [o for o in b.ls("raw/") if o.key.endswith(".csv")]  # doctest: +SKIP
            >>> b.fetch_keys(objs, "local/", prefix="raw/").transferred  # doctest: +SKIP
            ['raw/a.csv']
        """
        summary = TransferSummary("fetch", self._backend.uri)
        found = resolve(self._backend, objects, listing, summary)
        return self._fetch(found, Path(dest).expanduser(), prefix, summary)

    def _fetch(
        self, found: Iterable[ObjectInfo], dest: Path, prefix: str, summary: TransferSummary
    ) -> TransferSummary:
        """Plan the download of ``found`` (taken as it comes) into ``dest``, then run it."""
        plan = FetchPlan(self._backend, self._state, dest, len(prefix))
        plan.add_under(found, prefix, self._refuser(summary))
        if len(plan) or not summary.failed:  # nothing to write: no folder either
            try:
                dest.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise unwritable_destination(
                    dest, err, bucket=self._backend.uri, key=prefix
                ) from err
        note_skipped(summary, plan.unchanged(), self.callback)
        self._run(summary, plan.steps())
        return summary

    def put_files(
        self,
        files: Iterable[tuple[str | Path, str]],
        meta: dict[str, Any] | None = None,
        *,
        listing: Iterable[ObjectInfo] | None = None,
        carry_xattr: bool = False,
    ) -> TransferSummary:
        """Upload ``(local path, key)`` pairs, in parallel, through the same plan as
        ``put_dir``: unchanged files skipped, each file's own error kept.

        ``meta`` (if given) is every object's ``user_meta``; with ``carry_xattr``, laid over
        the metadata each file carries in its extended attribute, as ``put_dir`` does (the
        mirror's way). ``listing``: what the bucket holds at these keys, if the caller listed
        it already; otherwise it is listed once (under the keys' shared prefix). A key this
        bucket cannot store fails alone (``InvalidKeyError``). Raises ``TransferError`` once
        the rest are done.

        Example:
            >>> b.put_files([("data/a.csv", "raw/a.csv")]).transferred  # doctest: +SKIP
            ['raw/a.csv']
        """
        uri = self._backend.uri
        items = [  # a key that is not even a string is refused now; others fail alone
            Upload.of(Path(path).expanduser(), _string(key, uri), bucket=uri) for path, key in files
        ]
        if listing is None:
            self._backend.prepare_write()
            listing = self._backend.list(shared_prefix([item.key for item in items]))
        plan = UploadPlan(self._backend, self._state, meta, from_xattr=carry_xattr)
        return self._put_many("put_files", plan, items, listing)

    def put_dir(
        self,
        key: str,
        directory: str | Path,
        meta: dict[str, Any] | None = None,
        *,
        follow_links: bool = False,
    ) -> TransferSummary:
        """Upload every file under ``directory`` to keys under ``key``, in parallel.

        Without ``meta``, each file's helium metadata (from its extended attribute, as
        ``fetch`` leaves it) goes up as it is, ``format`` and ``target`` included, or ``{}``;
        with ``meta``, ``meta``'s entries are laid over the file's ``user_meta``. Unchanged
        files are skipped (also on a machine that never uploaded them: the bytes are compared
        by ETag, the metadata by one HEAD, and nothing is sent). Links that lead outside
        ``directory`` are not followed unless ``follow_links``; link loops never are. A
        ``directory`` that does not exist is a ``LocalPathError``.

        Example:
            >>> b.put_dir("stuff", "/disk/folder/", meta={"origin": "unknown"})  # doctest: +SKIP
        """
        prefix = as_prefix(check_key(key, self._backend.uri)) if key else ""
        files = iter_walk(
            directory,
            follow_links=follow_links,
            skip=self._backend.local_root,
            bucket=self._backend.uri,
        )
        root = Path(directory).expanduser()
        plan = UploadPlan(
            self._backend, self._state, meta, from_xattr=True, root=root, cut=len(prefix)
        )
        # the walk's stat is the plan's: no file is stat'ed again to plan it
        items = (Upload(f.path, prefix + f.rel, f.size, f.mtime_ns) for f in files)
        return self._put_many("put_dir", plan, items, lambda: self._listed(prefix))

    def _listed(self, prefix: str) -> Iterable[ObjectInfo]:
        self._backend.prepare_write()
        return self._backend.list(prefix)

    def _put_many(
        self,
        operation: str,
        plan: UploadPlan,
        items: Iterable[Upload],
        listing: Iterable[ObjectInfo] | Callable[[], Iterable[ObjectInfo]],
    ) -> TransferSummary:
        """Plan ``items`` (each key this bucket cannot store fails alone, its
        ``InvalidKeyError`` naming the local file; bad metadata is refused), compare them
        with ``listing`` (or what it returns, once they are planned), run the plan, index
        what was written."""
        summary = TransferSummary(operation, self._backend.uri)
        uri = self._backend.uri
        refuse = self._refuser(summary)
        for item in items:
            try:
                self._backend.check_writable(check_file_key(item.key, uri))
            except InvalidKeyError as err:
                refuse(
                    item.key,
                    InvalidKeyError(
                        f"local file {str(item.path)!r}: {err}", bucket=uri, key=err.key
                    ),
                )
            else:
                plan.add(item.path, item.key, item.size, item.mtime_ns)
        plan.compare(listing() if callable(listing) else listing)
        note_skipped(summary, plan.unchanged(), self.callback)
        try:
            self._run(summary, plan.steps())
        finally:
            self._index_written(plan)
        return summary

    def _refuser(self, summary: TransferSummary) -> Refused:
        return lambda key, err: note_refused(summary, key, err, self.callback)

    def copy_to(
        self,
        other: BulkMethods,
        objects: Iterable[ObjectInfo | str],
        *,
        prefix: str = "",
        to_prefix: str = "",
        listing: Iterable[ObjectInfo] | None = None,
    ) -> TransferSummary:
        """Copy objects of this bucket into ``other``, user metadata included: each key less
        ``prefix`` lands under ``to_prefix``.

        Within one S3 endpoint (same credentials) the server copies (CopyObject: no bytes
        through this process); otherwise each object streams from one to the other a part at
        a time, so memory holds a few parts (part size x concurrency), never a whole object,
        and a copy that fails leaves nothing on ``other``. ``objects`` are ``ObjectInfo``
        (from ``ls()``) or keys (looked up in one listing). Objects already at the
        destination with the same size and ETag are skipped; a key ``other`` cannot store
        fails alone (``InvalidKeyError``). ``listing`` is the destination's listing, if the
        caller has it. Raises ``TransferError`` once the rest are done.

        Example:
            >>> src.copy_to(dst, src.ls("raw/"), prefix="raw/", to_prefix="copy/")  # doctest: +SKIP
        """
        summary = TransferSummary("copy", f"{self._backend.uri} -> {other._backend.uri}")
        found = resolve(self._backend, objects, None, summary)
        return self._copy(other, found, prefix, to_prefix, listing, summary)

    def _copy(
        self,
        other: BulkMethods,
        found: list[ObjectInfo],
        prefix: str,
        to_prefix: str,
        listing: Iterable[ObjectInfo] | None,
        summary: TransferSummary,
    ) -> TransferSummary:
        pairs = copy_targets(
            self._backend, other._backend, found, prefix, to_prefix, self._refuser(summary)
        )
        if listing is None:
            other._backend.prepare_write()
            listing = other._backend.list(shared_prefix([t for _, t in pairs]))

        def copied(
            key: str, info: ObjectInfo, metadata: dict[str, str] | None, head: bytes | None
        ) -> None:
            other._state.forget(other._backend.identity, [key])
            if metadata is None:  # copied by the server: the metadata never came by here
                other._search.stale()
            else:
                from t4.search.crawl import user_meta_of

                other._search.written([(info, user_meta_of(metadata), head)])

        steps, unchanged = copy_steps(self._backend, other._backend, pairs, listing, copied)
        note_skipped(summary, unchanged, self.callback)
        other._run(summary, steps)
        return summary

    def delete_many(self, keys: Iterable[str]) -> TransferSummary:
        """Delete these keys, 1,000 a request (several requests at once); keys already gone
        count as deleted. The summary lists them in ``deleted``; a key that could not be
        deleted is in ``failed`` with its own error, and ``TransferError`` is raised once
        the rest are done.

        Example:
            >>> b.delete_many(["old/a.csv", "old/b.csv"]).deleted  # doctest: +SKIP
            ['old/a.csv', 'old/b.csv']
        """
        return self._delete(keys, "delete")

    def _delete(self, keys: Iterable[str], operation: str) -> TransferSummary:
        keys = [check_key(k, self._backend.uri) for k in keys]
        summary = TransferSummary(operation, self._backend.uri)

        def gone(deleted: list[str]) -> None:
            self._state.forget(self._backend.identity, deleted)
            self._search.removed(deleted)

        delete_keys(self._backend, keys, summary, min(self.concurrency, 8), gone, self.callback)
        log.info("%s", summary.line())
        self._raise_failures(summary)
        return summary

    def _run(self, summary: TransferSummary, steps: Steps, *, single: bool = False) -> None:
        """Run the plan; then raise the one file's own error (``single``) or a
        ``TransferError`` carrying every failed file's error."""
        try:
            run_plan(
                summary,
                steps,
                concurrency=self.concurrency,
                progress=self.progress,
                callback=self.callback,
                objects=self._backend.small_objects(),
            )
        finally:
            self._state.flush()  # what the transfer threads queued, in one commit
        if single and summary.failed:
            raise next(iter(summary.failed.values()))
        self._raise_failures(summary)

    @staticmethod
    def _raise_failures(summary: TransferSummary) -> None:
        error = summary.error()
        if error is not None:
            raise error

    def _index_written(self, plan: UploadPlan) -> None:
        written = plan.written()
        first = next(written, None)
        if first is None:  # nothing written: the index is not even opened
            return
        from t4.search.upkeep import IndexKeeper

        self._search.written(
            (info, wanted.get("user_meta") or {}, IndexKeeper.head_of_file(info.key, path))
            for info, wanted, path in itertools.chain([first], written)
        )


def _string(key: object, bucket: str) -> str:
    return key if isinstance(key, str) else check_key(key, bucket)
