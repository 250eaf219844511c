"""What every example flow's command line shares: where its tasks run (``--dask N``, a local
Dask cluster of N workers; ``--dask-address tcp://HOST:PORT`` or ``T4_DASK_ADDRESS``, a Dask
cluster already running there), a readable result, and errors.

A user error (``t4flows.policy.is_user_error``: a bad argument, a missing file, a manifest
that does not parse) is one line on stderr, ``python -m flows.NAME: error: ...``, and exit
code 1; Prefect's own console copy of its traceback is left out (the run's logs in the API
keep it). Any other failure keeps its traceback.

Without ``PREFECT_API_URL``, Prefect starts a temporary local server for the run. Its
telemetry service (on by default) writes its session into the server's SQLite database as
the run starts, in a read-then-write transaction that SQLite fails at once with "database is
locked" when the run's own writes hold the lock, and then posts to prefect.io; so for these
one-off runs it is off (``PREFECT_SERVER_ANALYTICS_ENABLED``), and the server gets 120 s to
start on a busy machine instead of 20 (``PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS``),
unless those settings are set.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from prefect import Flow
from prefect.settings import (
    PREFECT_SERVER_ANALYTICS_ENABLED,
    PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS,
    temporary_settings,
)

from t4flows.policy import is_user_error

__all__ = ["DASK_ADDRESS_VARIABLE", "EPHEMERAL_STARTUP_SECONDS", "dask_runner", "parser_for",
           "run_from_cli"]  # fmt: skip

#: The environment variable that names a running Dask scheduler, as ``--dask-address`` does.
DASK_ADDRESS_VARIABLE = "T4_DASK_ADDRESS"

#: How long a one-off run waits for Prefect's temporary server (Prefect's default: 20 s).
EPHEMERAL_STARTUP_SECONDS = 120


def parser_for(flow: Flow[..., Any]) -> argparse.ArgumentParser:
    """An argument parser titled and described from the flow's docstring."""
    doc = (flow.fn.__doc__ or "").strip()
    parser = argparse.ArgumentParser(
        prog=f"python -m flows.{flow.fn.__name__}",
        description=doc.split("\n\n", 1)[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--dask",
        type=int,
        default=0,
        metavar="N",
        help="run the tasks on a local Dask cluster of N workers (needs prefect-dask)",
    )
    where.add_argument(
        "--dask-address",
        metavar="tcp://HOST:PORT",
        help="run the tasks on the running Dask cluster whose scheduler is there (default: "
        f"${DASK_ADDRESS_VARIABLE}); its workers must be able to import t4, t4flows and flows",
    )
    return parser


def dask_runner(workers: int = 0, threads: int = 2, *, address: str | None = None) -> Any:
    """A ``DaskTaskRunner`` on the running cluster at ``address``, else on a local cluster of
    ``workers`` worker processes."""
    from prefect_dask import DaskTaskRunner

    if address:
        return DaskTaskRunner(address=address)
    return DaskTaskRunner(
        cluster_kwargs={"n_workers": workers, "threads_per_worker": threads, "processes": True}
    )


def run_from_cli(
    flow: Flow[..., Any], parser: argparse.ArgumentParser, argv: Sequence[str] | None
) -> int:
    """Parse ``argv``, run the flow (on Dask if asked), print its result as JSON; a user error
    is one line on stderr and exit code 1."""
    args = vars(parser.parse_args(argv))
    workers = args.pop("dask")
    # --dask N on the command line wins over an address from the environment
    address = args.pop("dask_address") or (None if workers else os.getenv(DASK_ADDRESS_VARIABLE))
    runner = dask_runner(workers, address=address) if workers or address else None
    runnable = flow.with_options(task_runner=runner) if runner else flow
    with _one_off_server_settings(), _console_without_user_error_traces():
        try:
            result = runnable(**args)
        except Exception as err:
            if not is_user_error(err):
                raise
            print(f"{parser.prog}: error: {' '.join(str(err).split())}", file=sys.stderr)
            return 1
    print(json.dumps(result, indent=2, default=str))
    return 0


@contextmanager
def _one_off_server_settings() -> Iterator[None]:
    # set_defaults: a value the user set (environment, profile) wins
    defaults = {
        PREFECT_SERVER_ANALYTICS_ENABLED: False,
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS: EPHEMERAL_STARTUP_SECONDS,
    }
    with temporary_settings(set_defaults=defaults):
        yield


class _NoUserErrorTrace(logging.Filter):
    """Drops the console copy of a record that carries a user error's traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and is_user_error(record.exc_info[1]))


@contextmanager
def _console_without_user_error_traces() -> Iterator[None]:
    # Prefect's console handler sits on the root logger; its API handler (on the flow and
    # task run loggers) still sends the whole record to the server.
    handlers = list(logging.getLogger().handlers)
    only = _NoUserErrorTrace()
    for handler in handlers:
        handler.addFilter(only)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(only)
