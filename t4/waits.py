"""Waits that Ctrl-C can end.

CPython runs a signal's handler in the main thread, between two bytecodes. The kernel hands
a process's SIGINT to any one of its threads that does not block it (an s3transfer worker,
obstore's runtime, one of t4's own); when that is not the main thread, the signal only sets a
flag, and a main thread blocked in a lock's wait (``Event.wait()``, ``Thread.join()``,
``Future.result()`` with no timeout) never looks at it: the program goes on as if Ctrl-C had
not been pressed. So the main thread waits ``TICK`` seconds at a time and looks between.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from concurrent.futures import Future

__all__ = ["TICK", "acquire", "join", "result", "wait"]

T = TypeVar("T")

#: The longest a wait goes without looking for a pending signal, in seconds.
TICK = 0.05


def wait(event: threading.Event) -> None:
    """Until ``event`` is set."""
    while not event.wait(TICK):
        pass


def join(thread: threading.Thread) -> None:
    """Until ``thread`` has ended."""
    while thread.is_alive():
        thread.join(TICK)


def acquire(lock: threading.Semaphore | threading.Lock) -> None:
    """Until ``lock`` is taken."""
    while not lock.acquire(timeout=TICK):
        pass


def result(future: Future[T], tick: Callable[[], None] | None = None) -> T:
    """``future``'s result (or its error, raised), calling ``tick()`` after each ``TICK``
    that passes without it: a caller's chance to raise (an interrupted run's callback does).
    A ``TimeoutError`` the work itself raised is raised as any error is."""
    from concurrent.futures import wait as done_within  # not needed by ``import t4``

    while not done_within([future], TICK).done:
        if tick is not None:
            tick()
    return future.result()
