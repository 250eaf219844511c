"""How a plan's steps run: small objects as async requests on one event-loop thread, the
rest (large objects, folder buckets, copies, metadata-only changes) on worker threads.

``concurrency`` bounds the files moving at once in both: the event loop keeps that many
requests in flight (64 by default: the server's cost per request is lowest from about 64 in
flight, and a request waiting on the loop costs a coroutine, not a thread), the threads are
at most ``MAX_THREADS`` of them. Only objects up to ``SMALL_MAX`` go on the loop, so the
bytes held in flight stay below ``concurrency`` x 1 MiB; larger ones are bandwidth, not
per-request overhead, and keep the threads (a large S3 object also moves in parallel parts).

Neither keeps a future per file, nor a list of steps. The event loop runs a fixed number of
coroutines, the threads a fixed number of workers; each takes its next step from one shared
iterator of the plan (``Steps``: a list, or a plan that makes each step as it is taken) and
records the outcome in place (``Recorder``), so what is held at once is bounded by the
concurrency, whatever the number of files. The caller's thread only waits,
and on Ctrl-C stops both: queued steps are dropped, requests in flight on the loop are
cancelled before any byte reaches a file, and a thread moving a large object stops at its
next chunk (its partial file is removed).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Protocol

from t4 import waits
from t4.errors import T4Error

if TYPE_CHECKING:
    import asyncio

    from t4.backends.base import SmallObjects

__all__ = [
    "MAX_THREADS",
    "SKIPPED",
    "SMALL_MAX",
    "Recorder",
    "Step",
    "Steps",
    "Stopped",
    "run_steps",
    "threads_for",
]

log = logging.getLogger(__name__)

#: The largest object moved as one async request on the event loop.
SMALL_MAX = 1024 * 1024
#: The most worker threads a plan uses, whatever the concurrency: past this, on the few
#: cores of a typical machine, threads only contend for the interpreter.
MAX_THREADS = 16


def threads_for(concurrency: int) -> int:
    """How many threads ``concurrency`` transfers at once use (at least 1)."""
    return max(1, min(concurrency, MAX_THREADS))


class Stopped(Exception):  # not an error: the run was interrupted
    """Raised inside a step's progress callback once the run is interrupted; its partial
    output is removed as any failed step's is."""


#: What a step's ``run`` returns when it found nothing to move (the object was already so).
SKIPPED = -1


class Step:
    """One unit of a plan: ``run`` moves the bytes on a worker thread and returns how many it
    moved, or ``SKIPPED`` when it found the object already as wanted. A step marked
    ``small`` can also move them as async requests on the small-object engine's event loop
    (``run_small``), which ``run_plan`` prefers where the backend offers it."""

    __slots__ = ("_run", "key", "size", "small")

    def __init__(
        self, key: str, size: int, run: Callable[[Callable[[int], None]], int] | None = None
    ):
        self.key = key
        self.size = size
        self.small = False
        self._run = run

    def run(self, progress: Callable[[int], None]) -> int:
        """Move the bytes, blocking (``progress`` is told the bytes moved)."""
        assert self._run is not None
        return self._run(progress)

    async def run_small(self, objects: SmallObjects, progress: Callable[[int], None]) -> int:
        """Move the bytes as async requests through ``objects`` (only if ``small``)."""
        raise NotImplementedError


class Steps(Protocol):
    """A plan's steps: counted, and gone through from the start each time they are iterated
    (a list, or a plan that makes each step as it is taken: ``t4.plans.upload.PlanSteps``)."""

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[Step]: ...


class Recorder(Protocol):
    """Where the runners record each step's outcome, from whichever thread ran it (the
    transfer layer's implementation fills a ``TransferSummary``)."""

    def done(self, step: Step, moved: int) -> None:
        """``step`` ran: ``moved`` bytes, or ``SKIPPED``."""

    def failed(self, step: Step, err: BaseException) -> None:
        """``step`` failed with its own error."""

    def crashed(self, err: BaseException) -> None:
        """A runner met an error that is no file's (a bug): the caller raises it."""

    def reraise(self) -> None:
        """Raise what ``crashed`` kept, if anything."""


def run_steps(
    steps: Steps,
    *,
    concurrency: int,
    objects: SmallObjects | None,
    on_bytes: Callable[[int], None],
    record: Recorder,
    stop: threading.Event,
) -> None:
    """Run every step, recording each outcome in ``record``; return when all are done.

    Interrupted (Ctrl-C in the caller's thread), it stops the rest and re-raises.
    """
    cap = -1 if objects is None else min(objects.max_size, SMALL_MAX)

    def small(step: Step) -> bool:
        return step.small and step.size <= cap

    # counted in one pass, then each runner goes through the steps for its own
    smalls = sum(1 for step in steps if small(step))
    others = len(steps) - smalls
    runners: list[_Runner] = []
    finished = threading.Event()
    left = [0]
    lock = threading.Lock()

    def done() -> None:
        with lock:
            left[0] -= 1
            if left[0] == 0:
                finished.set()

    concurrency = max(1, concurrency)
    if smalls:
        assert objects is not None
        limit = min(concurrency, smalls)
        mine = (step for step in steps if small(step))
        runners.append(_Loop(mine, objects, limit, on_bytes, record, stop, done))
    workers = min(threads_for(concurrency), others)
    if workers:
        shared = _Shared(step for step in steps if not small(step))
        runners += [_Worker(shared, on_bytes, record, stop, done) for _ in range(workers)]
    left[0] = len(runners)
    try:
        for runner in runners:
            runner.start()
        if runners:
            waits.wait(finished)
    except BaseException:  # Ctrl-C: drop the queue, stop what runs, then say so
        stop.set()
        for runner in runners:
            runner.halt()
        for runner in runners:
            waits.join(runner)
        raise
    for runner in runners:
        waits.join(runner)
    record.reraise()


class _Shared:
    """One iterator of steps, taken from by many threads."""

    def __init__(self, steps: Iterator[Step]):
        self._steps = steps
        self._lock = threading.Lock()

    def next(self) -> Step | None:
        with self._lock:
            return next(self._steps, None)


class _Runner(threading.Thread):
    """A thread that runs ``work`` in a copy of its creator's context variables (threads
    start with none: messages would not be worded for where the user is, ``t4.surface``)."""

    def __init__(self, name: str):
        super().__init__(name=name, daemon=True)
        self._context = contextvars.copy_context()

    def run(self) -> None:
        self._context.run(self.work)

    def work(self) -> None:
        raise NotImplementedError

    def halt(self) -> None:
        """Stop soon: the shared stop event is set already."""


class _Worker(_Runner):
    """A thread running steps' blocking ``run`` one after another."""

    def __init__(
        self,
        steps: _Shared,
        on_bytes: Callable[[int], None],
        record: Recorder,
        stop: threading.Event,
        done: Callable[[], None],
    ):
        super().__init__(name="t4-transfer")
        self._steps, self._on_bytes, self._record = steps, on_bytes, record
        self._halted, self._done = stop, done

    def work(self) -> None:
        try:
            while not self._halted.is_set() and (step := self._steps.next()) is not None:
                try:
                    moved = step.run(self._on_bytes)
                except (T4Error, OSError) as err:
                    self._record.failed(step, err)
                else:
                    self._record.done(step, moved)
        except Stopped:
            pass
        except BaseException as err:  # a bug: the caller's thread raises it
            self._record.crashed(err)
            self._halted.set()
        finally:
            self._done()


class _Loop(_Runner):
    """The event-loop thread: ``limit`` coroutines, each running steps' ``run_small``."""

    def __init__(
        self,
        steps: Iterator[Step],
        objects: SmallObjects,
        limit: int,
        on_bytes: Callable[[int], None],
        record: Recorder,
        stop: threading.Event,
        done: Callable[[], None],
    ):
        super().__init__(name="t4-small-objects")
        self._steps, self._objects, self._limit = steps, objects, limit
        self._on_bytes, self._record, self._halted, self._done = on_bytes, record, stop, done
        import asyncio  # 10-20 ms to import: paid by a plan that moves small objects

        self._loop = asyncio.new_event_loop()
        self._main: asyncio.Task[None] | None = None

    def work(self) -> None:
        import asyncio

        loop = self._loop
        try:
            asyncio.set_event_loop(loop)
            self._main = loop.create_task(self._all())
            loop.run_until_complete(self._main)
        except (asyncio.CancelledError, Stopped):
            pass
        except BaseException as err:  # a bug: the caller's thread raises it
            self._record.crashed(err)
            self._halted.set()
        finally:
            if not self._halted.is_set():
                # Requests cancelled on Ctrl-C may still answer: a closed loop would complain.
                loop.run_until_complete(loop.shutdown_default_executor())
                loop.close()
            self._done()

    def halt(self) -> None:
        if self._main is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: it had finished
                self._loop.call_soon_threadsafe(self._main.cancel)

    async def _all(self) -> None:
        import asyncio

        await asyncio.gather(*(self._one_by_one() for _ in range(self._limit)))

    async def _one_by_one(self) -> None:
        record = self._record
        for step in self._steps:  # one thread: the coroutines share the iterator freely
            if self._halted.is_set():
                return
            try:
                moved = await step.run_small(self._objects, self._on_bytes)
            except (T4Error, OSError) as err:
                record.failed(step, err)
            else:
                record.done(step, moved)
