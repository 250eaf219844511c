"""The transfer engine: every bulk operation plans first (one listing, compare, decide), then
executes the plan with bounded concurrency, a progress bar and a per-file callback.

A file that fails does not stop the others; the summary names it, and the caller decides
whether that is an error (``Bucket`` raises ``TransferError`` after the rest are done).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from t4.engine import SKIPPED, Step, Steps, Stopped, run_steps
from t4.errors import TransferError, TransientError

if TYPE_CHECKING:
    from t4.backends.base import SmallObjects

__all__ = ["Outcome", "ProgressCallback", "TransferSummary", "run_plan"]

log = logging.getLogger(__name__)

#: Called once per file when it is done: (key, outcome, bytes moved).
ProgressCallback = Callable[[str, "Outcome", int], None]
Outcome = str  # "transferred" | "skipped" | "deleted" | "failed"


class TransferSummary:
    """What a bulk operation did: the one summary type, from the core to the Prefect layer.

    ``failed`` keeps each failed key's own exception (a ``TransientError``, an
    ``AccessDeniedError``...), rendered as text only by ``as_dict``; ``deleted`` lists what a
    delete removed. Summaries of parts of one job (chunks) add up with ``merge``.

    Example:
        >>> summary = b.put_dir("stuff", "folder/")  # doctest: +SKIP
        >>> summary.transferred, summary.skipped, summary.deleted, summary.failed  # doctest: +SKIP
        (['stuff/a.txt'], ['stuff/b.txt'], [], {})
    """

    def __init__(
        self,
        operation: str,
        bucket: str,
        transferred: list[str] | None = None,
        skipped: list[str] | None = None,
        deleted: list[str] | None = None,
        failed: dict[str, BaseException] | None = None,
        bytes: int = 0,
        seconds: float = 0.0,
    ):
        self.operation = operation
        self.bucket = bucket
        self.transferred: list[str] = [] if transferred is None else transferred
        self.skipped: list[str] = [] if skipped is None else skipped
        self.deleted: list[str] = [] if deleted is None else deleted
        self.failed: dict[str, BaseException] = {} if failed is None else failed
        self.bytes = bytes
        self.seconds = seconds

    #: What equality compares and ``repr`` shows, in the constructor's order.
    _FIELDS = (
        "operation",
        "bucket",
        "transferred",
        "skipped",
        "deleted",
        "failed",
        "bytes",
        "seconds",
    )

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self._FIELDS)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TransferSummary):
            return NotImplemented
        return self._values() == other._values()

    __hash__ = None  # type: ignore[assignment]  # mutable, as a list is

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._FIELDS)
        return f"TransferSummary({shown})"

    def merge(self, *others: TransferSummary) -> TransferSummary:
        """Add ``others`` into this summary (lists joined, counts and seconds summed); returns
        ``self``. Seconds add up, as chunks that ran one after another would.

        Example:
            >>> total = TransferSummary("mirror", "s3://lake")
            >>> part = TransferSummary("mirror", "s3://lake", transferred=["a"], bytes=3)
            >>> total.merge(part, part).bytes
            6
        """
        for other in others:
            self.transferred.extend(other.transferred)
            self.skipped.extend(other.skipped)
            self.deleted.extend(other.deleted)
            self.failed.update(other.failed)
            self.bytes += other.bytes
            self.seconds += other.seconds
        return self

    def as_dict(self) -> dict[str, Any]:
        """The summary as JSON-friendly values (what tasks return); each failure as
        ``"ErrorType: message"``.

        Example:
            >>> TransferSummary("fetch", "s3://b", failed={"k": KeyError("k")}).as_dict()["failed"]
            {'k': "KeyError: 'k'"}
        """
        return {
            "operation": self.operation,
            "bucket": self.bucket,
            "transferred": list(self.transferred),
            "skipped": list(self.skipped),
            "deleted": list(self.deleted),
            "failed": {k: f"{type(e).__name__}: {e}" for k, e in self.failed.items()},
            "bytes": self.bytes,
            "seconds": round(self.seconds, 3),
        }

    def line(self) -> str:
        """A one-line summary for logs.

        Example:
            >>> TransferSummary("put_dir", "file:///lake", ["a", "b"], bytes=4).line()
            'put_dir file:///lake: 2 transferred, 0 skipped, 0 deleted, 0 failed, 4 bytes in 0.00s'
        """
        return (
            f"{self.operation} {self.bucket}: {len(self.transferred)} transferred, "
            f"{len(self.skipped)} skipped, {len(self.deleted)} deleted, "
            f"{len(self.failed)} failed, {self.bytes:,} bytes in {self.seconds:.2f}s"
        )

    def error(self) -> TransferError | None:
        """The ``TransferError`` to raise for the failed files (``None`` if none failed): it
        carries every file's own error and this summary."""
        if not self.failed:
            return None
        key, first = next(iter(self.failed.items()))
        total = len(self.failed) + len(self.transferred) + len(self.skipped) + len(self.deleted)
        # Advise a rerun only where one can help: when every failure may pass by itself.
        retry = (
            "the rest completed, so run it again to retry only what failed"
            if all(isinstance(e, TransientError) for e in self.failed.values())
            else "the rest completed"
        )
        return TransferError(
            f"{self.operation} in {self.bucket}: {len(self.failed)} of {total} files failed "
            f"(first: {key!r}: {first}); {retry}",
            bucket=self.bucket,
            key=key,
            failures=dict(self.failed),
            summary=self,
        )


def run_plan(
    summary: TransferSummary,
    steps: Steps,
    *,
    concurrency: int,
    done_label: Outcome = "transferred",
    progress: bool | None = None,
    callback: ProgressCallback | None = None,
    objects: SmallObjects | None = None,
) -> TransferSummary:
    """Execute ``steps`` with at most ``concurrency`` at once; record each outcome.

    Small steps go through ``objects`` (the backend's async requests, if it has them) on one
    event-loop thread, the rest on at most 16 threads (see ``t4.engine``). Interrupted
    (Ctrl-C, or any exception in the caller's thread), it drops the steps not yet started,
    stops those running (their partial files are removed), and re-raises: nothing waits for
    the rest of the queue.
    """
    started = time.monotonic()
    total = sum(s.size for s in steps)
    show = _show_progress(progress, total, len(steps))
    bar: Any = contextlib.nullcontext()
    update: Callable[[int], object] = lambda moved: None  # noqa: E731
    if show:  # tqdm costs 20-30 ms to import (and pulls in multiprocessing): only for a bar
        from tqdm import tqdm

        bar = tqdm(total=total, unit="B", unit_scale=True, desc=summary.operation, leave=False)
        update = bar.update
    stop = threading.Event()

    def on_bytes(moved: int) -> None:
        if stop.is_set():  # interrupted: a step still moving bytes gives up at its next chunk
            raise Stopped
        update(moved)

    record = _Recorder(summary, done_label, callback, bar if show else None, len(steps))
    with bar:
        run_steps(
            steps,
            concurrency=concurrency,
            objects=objects,
            on_bytes=on_bytes,
            record=record,
            stop=stop,
        )
    summary.seconds += time.monotonic() - started
    log.info("%s", summary.line())  # failures are the caller's to report, once
    return summary


class _Recorder:
    """Records each step's outcome in the summary as it happens, from whichever thread ran
    it (one lock: the caller's callback is never called twice at once)."""

    def __init__(
        self,
        summary: TransferSummary,
        done_label: Outcome,
        callback: ProgressCallback | None,
        bar: Any,
        count: int,
    ):
        self.summary = summary
        self.done_label = done_label
        self.callback = callback
        self.bar = bar
        self.count = count
        self.seen = 0
        self.crash: BaseException | None = None
        self._lock = threading.Lock()

    def done(self, step: Step, moved: int) -> None:
        """``step`` ran: ``moved`` bytes, or ``SKIPPED``."""
        summary = self.summary
        with self._lock:
            if moved == SKIPPED:
                outcome, moved = "skipped", 0
                summary.skipped.append(step.key)
            elif self.done_label == "deleted":
                outcome = self.done_label
                summary.deleted.append(step.key)
            else:
                outcome = self.done_label
                summary.transferred.append(step.key)
            summary.bytes += moved
            self._tell(step.key, outcome, moved)

    def failed(self, step: Step, err: BaseException) -> None:
        """``step`` failed with its own error."""
        with self._lock:
            self.summary.failed[step.key] = err
            log.debug("failed %s: %s", step.key, err)
            self._tell(step.key, "failed", 0)

    def crashed(self, err: BaseException) -> None:
        """A runner met an error that is no file's (a bug): the caller raises it."""
        with self._lock:
            if self.crash is None:
                self.crash = err

    def reraise(self) -> None:
        """Raise what ``crashed`` kept, if anything."""
        if self.crash is not None:
            raise self.crash

    def _tell(self, key: str, outcome: Outcome, moved: int) -> None:
        self.seen += 1
        if self.callback:
            self.callback(key, outcome, moved)
        if self.bar is not None:
            self.bar.set_postfix_str(f"{self.seen}/{self.count} files", refresh=False)


def note_skipped(
    summary: TransferSummary, keys: Iterable[str], callback: ProgressCallback | None
) -> None:
    for key in keys:
        summary.skipped.append(key)
        if callback:
            callback(key, "skipped", 0)


def note_refused(
    summary: TransferSummary, key: str, err: BaseException, callback: ProgressCallback | None
) -> None:
    """``key`` failed before it could be planned (a key or name that cannot be used): a
    failure of its own, the rest of the plan goes on."""
    summary.failed[key] = err
    if callback:
        callback(key, "failed", 0)


def _show_progress(progress: bool | None, total: int, count: int) -> bool:
    if progress is not None:
        return progress
    if os.environ.get("TQDM_DISABLE"):
        return False
    return sys.stderr.isatty() and (count > 20 or total > 64 * 1024 * 1024)
