"""``t4.waits``: what a wait the main thread makes returns or raises (that Ctrl-C ends it
whichever thread takes the signal is tests/test_cli_interrupt.py's ``[thread]`` cases)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from t4 import waits


def test_a_timeout_the_work_raised_is_raised_not_waited_out() -> None:
    # s3_ranges waited with future.result(timeout=...) and took any TimeoutError for its
    # own: a request that timed out would have been asked for again and again
    def times_out() -> None:
        raise TimeoutError("the server did not answer")

    with ThreadPoolExecutor(1) as pool, pytest.raises(TimeoutError, match="did not answer"):
        waits.result(pool.submit(times_out))


def test_tick_is_called_while_the_work_runs_and_its_error_stops_the_wait() -> None:
    import threading

    release, ticks = threading.Event(), []

    def tick() -> None:
        ticks.append(1)
        if len(ticks) == 3:
            raise KeyboardInterrupt  # what an interrupted run's callback raises

    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(release.wait)
        with pytest.raises(KeyboardInterrupt):
            waits.result(future, tick)
        release.set()
    assert len(ticks) == 3
