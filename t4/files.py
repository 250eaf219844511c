"""The methods of ``Bucket`` that move one file (or, for ``fetch``, a folder given by its
key): ``fetch`` and ``put_file``, through the same plans and runner as the list-shaped
methods of ``t4.bulk`` that they build on.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Any

from t4.backends.base import ObjectInfo
from t4.bulk import BulkMethods
from t4.errors import KeyNotFoundError
from t4.keys import as_prefix, check_file_key, check_key
from t4.parts import Folders, clean_stale_parts
from t4.plans.fetch import FetchPlan, FetchStep
from t4.plans.upload import Upload, UploadPlan
from t4.surface import named
from t4.transfer import TransferSummary, note_skipped

__all__ = ["FileMethods"]


class FileMethods(BulkMethods):
    """Mixed into ``Bucket``, which sets the attributes ``BulkMethods`` names."""

    def fetch(self, key: str, dest: str | Path, version_id: str | None = None) -> TransferSummary:
        """Download a file, or every object under a directory key, to ``dest``.

        A key that names no object but is a prefix of some is fetched as a directory, with or
        without the trailing ``/``. A file fetched to an existing folder, or to a path ending
        in ``/``, lands as ``folder/basename``. Files already identical locally are skipped;
        each file appears whole or not at all; no key can write outside ``dest``. One file
        costs one GET (and first a HEAD, when a file is already at the destination, to skip
        it if identical); a failure of that file raises its own error.
        ``version_id`` fetches that version of one file (versioned S3 buckets only).

        Example:
            >>> b.fetch("path/to/directory", "local/")  # doctest: +SKIP
        """
        key = check_key(key, self._backend.uri)
        dest_path = Path(dest).expanduser()
        if version_id is not None:
            key = check_file_key(
                key, self._backend.uri, hint=f"{named('fetch')} without version_id"
            )
            info, _ = self._backend.head_version(key, version_id)
            if str(dest).endswith(("/", "\\")) or dest_path.is_dir():
                dest_path = dest_path / info.key.rsplit("/", 1)[-1]
            return self._fetch_one(info, dest_path)
        if not key.endswith("/"):
            target = dest_path
            if str(dest).endswith(("/", "\\")) or dest_path.is_dir():
                target = dest_path / key.rsplit("/", 1)[-1]
            fetched = self._fetch_file(key, target)
            if fetched is not None:
                return fetched
        prefix = as_prefix(key)
        listing = iter(self._backend.list(prefix))
        markers = []  # taken until the first object: the rest streams into the plan
        for obj in listing:
            markers.append(obj)
            if not obj.key.endswith("/"):
                break
        else:
            raise KeyNotFoundError(
                f"no object or directory {prefix.rstrip('/')!r} in {self._backend.uri}; "
                f"list what is there with {named('keys()')}",
                bucket=self._backend.uri,
                key=prefix,
            )
        summary = TransferSummary("fetch", self._backend.uri)
        return self._fetch(itertools.chain(markers, listing), dest_path, prefix, summary)

    def _fetch_file(self, key: str, target: Path) -> TransferSummary | None:
        """Fetch the object ``key`` to ``target``; ``None`` (nothing written) when there is
        no such object. One GET, whose answer tells size and metadata; when a file is
        already at ``target``, a HEAD first, to skip it if identical."""
        if os.path.isfile(target):
            info = self._backend.lookup(key)
            return None if info is None else self._fetch_one(info, target)
        try:
            opened = self._backend.open_download(key)
        except KeyNotFoundError:
            return None
        summary = TransferSummary("fetch", self._backend.uri)
        clean_stale_parts([target.parent])
        info = opened.info
        step = FetchStep(self._backend, info.key, info.size, target, Folders(), opened=opened)
        self._run(summary, [step], single=True)
        return summary

    def _fetch_one(self, info: ObjectInfo, dest: Path) -> TransferSummary:
        summary = TransferSummary("fetch", self._backend.uri)
        plan = FetchPlan(self._backend, self._state)
        plan.add(info, dest)
        plan.compared()
        note_skipped(summary, plan.unchanged(), self.callback)
        self._run(summary, plan.steps(), single=True)
        return summary

    def put_file(
        self, key: str, path: str | Path, meta: dict[str, Any] | None = None
    ) -> ObjectInfo:
        """Upload one local file. A key ending in ``/`` gets the file's name appended.

        An unchanged file (same bytes and metadata) is not sent again. Costs one HEAD of the
        key, then the upload; a failure raises the upload's own error.

        Example:
            >>> b.put_file("foo.csv", "/disk/foo.csv", meta={"foo": "bar"})  # doctest: +SKIP
        """
        source = Path(path).expanduser()
        if isinstance(key, str) and key.endswith("/"):
            key = key + source.name
        key = check_file_key(key, self._backend.uri)
        self._backend.check_writable(key)
        item = Upload.of(source, key, bucket=self._backend.uri)
        plan = UploadPlan(self._backend, self._state, meta, from_xattr=False)
        plan.add(item.path, key, item.size, item.mtime_ns)  # bad metadata: refused here
        self._backend.prepare_write()
        found = self._backend.lookup(key)
        summary = TransferSummary("put_file", self._backend.uri)
        plan.compare([] if found is None else [found])
        note_skipped(summary, plan.unchanged(), self.callback)
        try:
            self._run(summary, plan.steps(), single=True)
        finally:
            stored = plan.info(0)
            self._index_written(plan)
        info = stored or found
        assert info is not None  # not written means unchanged: it was found
        return info
