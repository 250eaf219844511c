"""What bulk work tells the user: a one-line log summary, a table artifact of what was
transferred, skipped and failed, and a progress artifact that moves while the work runs.

Every bulk result is the JSON-friendly shape of ``t4.TransferSummary.as_dict()``:
``{"operation", "bucket", "transferred": [...], "skipped": [...], "failed": {key: why},
"bytes", "seconds"}``.

Example:
    >>> line({"operation": "put_dir", "bucket": "s3://b", "transferred": ["a"], "skipped": [],
    ...       "failed": {}, "bytes": 3, "seconds": 0.5})
    'put_dir s3://b: 1 done, 0 unchanged, 0 failed, 3 bytes in 0.50s'
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Iterable
from typing import Any, cast
from uuid import UUID

from prefect.artifacts import (
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.context import FlowRunContext, TaskRunContext

__all__ = ["MAX_ROWS", "Progress", "Tracker", "empty", "line", "merge", "publish"]

log = logging.getLogger(__name__)

#: Rows per outcome in a table artifact; the rest are counted in one closing row.
MAX_ROWS = 200


def empty(operation: str, bucket: str) -> dict[str, Any]:
    """A summary of nothing done yet."""
    return {
        "operation": operation,
        "bucket": bucket,
        "transferred": [],
        "skipped": [],
        "failed": {},
        "bytes": 0,
        "seconds": 0.0,
    }


def merge(operation: str, bucket: str, parts: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """One summary from the summaries of many chunks (seconds add up: work, not wall time);
    its lists sorted, whatever order the chunks finished in."""
    total = empty(operation, bucket)
    for part in parts:
        total["transferred"].extend(part["transferred"])
        total["skipped"].extend(part["skipped"])
        total["failed"].update(part["failed"])
        total["bytes"] += part["bytes"]
        total["seconds"] = round(total["seconds"] + part["seconds"], 3)
    total["transferred"].sort()
    total["skipped"].sort()
    return total


def line(summary: dict[str, Any]) -> str:
    """The one-line log summary, as ``TransferSummary.line()`` words it."""
    return (
        f"{summary['operation']} {summary['bucket']}: {len(summary['transferred'])} done, "
        f"{len(summary['skipped'])} unchanged, {len(summary['failed'])} failed, "
        f"{summary['bytes']:,} bytes in {summary['seconds']:.2f}s"
    )


def _in_prefect() -> bool:
    return FlowRunContext.get() is not None or TaskRunContext.get() is not None


def _rows(summary: dict[str, Any]) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    groups = [
        ("failed", list(summary["failed"].items())),
        ("transferred", [(k, "") for k in summary["transferred"]]),
        ("skipped", [(k, "unchanged") for k in summary["skipped"]]),
    ]
    for outcome, items in groups:
        rows.extend({"outcome": outcome, "key": k, "detail": d} for k, d in items[:MAX_ROWS])
        if len(items) > MAX_ROWS:
            rows.append(
                {"outcome": outcome, "key": "...", "detail": f"and {len(items) - MAX_ROWS:,} more"}
            )
    return rows


def publish(summary: dict[str, Any], *, key: str | None = None) -> str:
    """Log the one-line summary and, inside a flow or task run, publish the table artifact.

    ``key`` (lowercase letters, digits, dashes) versions the artifact across runs.
    """
    text = line(summary)
    logger = _logger()
    (logger.warning if summary["failed"] else logger.info)("%s", text)
    if _in_prefect():
        create_table_artifact(_rows(summary), key=key, description=text)
    return text


def _logger() -> Any:
    if _in_prefect():
        from prefect.logging import get_run_logger

        return get_run_logger()
    return log


class Progress:
    """A progress artifact, safe to advance from any thread and throttled to one API call a
    second, so a 10,000-file transfer does not become 10,000 requests to Prefect.

    Outside a flow or task run it only counts.

    Example:
        >>> p = Progress(total=3, description="upload")  # doctest: +SKIP
        >>> p.advance(); p.advance(2); p.finish()  # doctest: +SKIP
    """

    def __init__(self, total: int, description: str, *, interval: float = 1.0):
        self.total = max(total, 0)
        self.done = 0
        self.description = description
        self._interval = interval
        self._lock = threading.Lock()
        self._last = 0.0
        # Worker threads do not inherit Prefect's context; run updates inside a copy of ours.
        self._context = contextvars.copy_context()
        self._id: UUID | None = None
        if _in_prefect() and self.total:
            self._id = cast(UUID, create_progress_artifact(0.0, description=description))

    def percent(self) -> float:
        if not self.total:
            return 100.0
        return round(100.0 * min(self.done, self.total) / self.total, 1)

    def advance(self, count: int = 1) -> None:
        """Count ``count`` more items done; update the artifact if a second has passed."""
        with self._lock:
            self.done += count
            now = time.monotonic()
            if now - self._last >= self._interval:
                self._last = now
                self._push()

    def finish(self) -> None:
        """Set the artifact to its final value."""
        with self._lock:
            self._push()

    def _push(self) -> None:
        if self._id is None:
            return
        artifact_id, value = self._id, self.percent()
        try:
            self._context.run(update_progress_artifact, artifact_id, value)
        except Exception as err:  # a progress bar must never fail the transfer it reports on
            log.debug("progress artifact not updated: %s", err)


class Tracker:
    """A ``t4.Bucket`` callback that records each file's outcome and advances a progress
    artifact, so a bulk task can publish its table even when the core raises part-way.

    Example:
        >>> tracker = Tracker("put_dir", "s3://b", total=2)  # doctest: +SKIP
        >>> t4.Bucket("s3://b", callback=tracker).put_dir("x", "folder")  # doctest: +SKIP
    """

    def __init__(self, operation: str, bucket: str, total: int):
        self.summary = empty(operation, bucket)
        self.progress = Progress(total, f"{operation} {bucket}")
        self._lock = threading.Lock()
        self._started = time.monotonic()

    def __call__(self, key: str, outcome: str, moved: int) -> None:
        with self._lock:
            if outcome == "skipped":
                self.summary["skipped"].append(key)
            elif outcome == "failed":
                self.summary["failed"][key] = "failed"
            else:
                self.summary["transferred"].append(key)
                self.summary["bytes"] += moved
        self.progress.advance()

    def finish(self, failures: dict[str, BaseException] | None = None) -> dict[str, Any]:
        """The summary so far, with error text for ``failures``; the artifact set to done."""
        for key, err in (failures or {}).items():
            self.summary["failed"][key] = f"{type(err).__name__}: {err}"
        self.summary["seconds"] = round(time.monotonic() - self._started, 3)
        self.progress.finish()
        return self.summary
