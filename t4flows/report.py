"""What bulk work tells the user: the summary's one-line log, a table artifact of what was
transferred, skipped, deleted and failed, and a progress artifact that moves while the work
runs. Every one of them is drawn from ``t4.TransferSummary`` (its ``line()``, ``as_dict()``
and ``merge``): there is no second summary type here.

Example:
    >>> from t4.transfer import TransferSummary
    >>> publish(TransferSummary("put_dir", "s3://b", ["a"], bytes=3, seconds=0.5))
    'put_dir s3://b: 1 transferred, 0 skipped, 0 deleted, 0 failed, 3 bytes in 0.50s'
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from typing import Any, cast
from uuid import UUID

from prefect.artifacts import (
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.context import FlowRunContext, TaskRunContext

from t4.errors import Summary

__all__ = ["MAX_ROWS", "Progress", "publish"]

log = logging.getLogger(__name__)

#: Rows per outcome in a table artifact; the rest are counted in one closing row.
MAX_ROWS = 200


def _in_prefect() -> bool:
    return FlowRunContext.get() is not None or TaskRunContext.get() is not None


def _rows(summary: Summary) -> list[dict[str, str]]:
    shown = summary.as_dict()
    rows: list[dict[str, str]] = []
    groups = [
        ("failed", sorted(shown["failed"].items())),
        ("transferred", [(k, "") for k in shown["transferred"]]),
        ("deleted", [(k, "") for k in shown["deleted"]]),
        ("skipped", [(k, "unchanged") for k in shown["skipped"]]),
    ]
    for outcome, items in groups:
        rows.extend({"outcome": outcome, "key": k, "detail": d} for k, d in items[:MAX_ROWS])
        if len(items) > MAX_ROWS:
            rows.append(
                {"outcome": outcome, "key": "...", "detail": f"and {len(items) - MAX_ROWS:,} more"}
            )
    return rows


def publish(summary: Summary, *, key: str | None = None) -> str:
    """Log ``summary.line()`` and, inside a flow or task run, publish the table artifact
    (one row per file: failed with its error, transferred, deleted, skipped).

    ``key`` (lowercase letters, digits, dashes) versions the artifact across runs.
    """
    text = summary.line()
    logger = _logger()
    (logger.warning if summary.failed else logger.info)("%s", text)
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

    Outside a flow or task run it only counts. It is also a ``t4.Bucket`` callback (one
    call per file done), so a bulk task's bar moves with the core's own progress.

    Example:
        >>> p = Progress(total=3, description="upload")  # doctest: +SKIP
        >>> p.advance(); p.advance(2); p.finish()  # doctest: +SKIP
        >>> t4.Bucket("s3://b", callback=p).put_dir("x", "folder")  # doctest: +SKIP
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

    def __call__(self, key: str, outcome: str, moved: int) -> None:
        """The ``t4.Bucket`` callback: one more file done, whatever its outcome."""
        self.advance()

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
