"""What every example flow's command line shares: ``--dask N`` and a readable result."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any

from prefect import Flow

__all__ = ["dask_runner", "parser_for", "run_from_cli"]


def parser_for(flow: Flow[..., Any]) -> argparse.ArgumentParser:
    """An argument parser titled and described from the flow's docstring."""
    doc = (flow.fn.__doc__ or "").strip()
    parser = argparse.ArgumentParser(
        prog=f"python -m flows.{flow.fn.__name__}",
        description=doc.split("\n\n", 1)[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--dask",
        type=int,
        default=0,
        metavar="N",
        help="run the tasks on a local Dask cluster of N workers (needs prefect-dask)",
    )
    return parser


def dask_runner(workers: int, threads: int = 2) -> Any:
    """A ``DaskTaskRunner`` on a local cluster of ``workers`` worker processes."""
    from prefect_dask import DaskTaskRunner

    return DaskTaskRunner(
        cluster_kwargs={"n_workers": workers, "threads_per_worker": threads, "processes": True}
    )


def run_from_cli(
    flow: Flow[..., Any], parser: argparse.ArgumentParser, argv: Sequence[str] | None
) -> int:
    """Parse ``argv``, run the flow (on Dask if asked), print its result as JSON."""
    args = vars(parser.parse_args(argv))
    workers = args.pop("dask")
    runnable = flow.with_options(task_runner=dask_runner(workers)) if workers else flow
    result = runnable(**args)
    print(json.dumps(result, indent=2, default=str))
    return 0
