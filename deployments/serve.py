"""Serve the deployments of ``prefect.yaml`` (schedules and triggers included) from one
process.

``prefect.yaml`` stays the one place where deployments are described; this script reads it,
loads each flow from its entrypoint and hands them all to ``prefect.serve``. Run it against a
real API (``prefect server start``, then ``PREFECT_API_URL=http://127.0.0.1:4200/api``): the
ephemeral API does not schedule runs.

Example::

    python deployments/serve.py                      # all deployments
    python deployments/serve.py --only mirror-nightly
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from prefect import Flow, serve
from prefect.flows import load_flow_from_entrypoint
from prefect.schedules import Schedule

ROOT = Path(__file__).resolve().parent.parent
PREFECT_YAML = Path(__file__).resolve().parent / "prefect.yaml"

__all__ = ["PREFECT_YAML", "ROOT", "deployment_specs", "main", "to_deployments", "to_schedule"]


def deployment_specs(path: Path = PREFECT_YAML) -> list[dict[str, Any]]:
    """The ``deployments`` entries of ``prefect.yaml``."""
    return list(yaml.safe_load(path.read_text("utf-8"))["deployments"])


def to_deployments(specs: list[dict[str, Any]]) -> list[Any]:
    """``RunnerDeployment`` objects for ``prefect.serve``, one per spec."""
    deployments = []
    for spec in specs:
        flow: Flow[..., Any] = load_flow_from_entrypoint(str(ROOT / spec["entrypoint"]))
        deployments.append(
            flow.to_deployment(
                name=spec["name"],
                description=spec.get("description"),
                tags=spec.get("tags"),
                parameters=spec.get("parameters") or {},
                schedules=[to_schedule(s) for s in spec.get("schedules") or []],
                triggers=spec.get("triggers"),
            )
        )
    return deployments


#: The fields of a ``schedules`` entry in ``prefect.yaml`` that ``prefect deploy`` reads.
SCHEDULE_FIELDS = frozenset(
    {"cron", "interval", "rrule", "timezone", "anchor_date", "day_or", "active", "parameters",
     "slug"}
)  # fmt: skip


def to_schedule(entry: dict[str, Any]) -> Schedule:
    """One ``schedules`` entry of ``prefect.yaml`` as ``prefect deploy`` reads it: its form
    (cron, interval in seconds, rrule), timezone, anchor date and ``active`` flag kept.

    Example:
        >>> to_schedule({"cron": "0 2 * * *", "timezone": "Europe/Oslo"}).timezone
        'Europe/Oslo'
    """
    unknown = sorted(set(entry) - SCHEDULE_FIELDS)
    if unknown:
        raise ValueError(f"unknown schedule fields {unknown} in {entry}; known: "
                         f"{sorted(SCHEDULE_FIELDS)}")  # fmt: skip
    fields = dict(entry)
    if isinstance(fields.get("interval"), int | float):
        fields["interval"] = timedelta(seconds=fields["interval"])
    if isinstance(fields.get("anchor_date"), str):
        fields["anchor_date"] = datetime.fromisoformat(fields["anchor_date"])
    return Schedule(**fields)


def main(argv: Sequence[str] | None = None) -> int:
    """Serve every deployment of ``prefect.yaml``, or those named with ``--only``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--only", action="append", metavar="NAME", help="serve just these")
    args = parser.parse_args(argv)
    specs = [s for s in deployment_specs() if not args.only or s["name"] in args.only]
    if not specs:
        parser.error(f"no deployment named {args.only} in {PREFECT_YAML}")
    sys.path.insert(0, str(ROOT))  # entrypoints import the flows package from the checkout
    serve(*to_deployments(specs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
