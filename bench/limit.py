"""The machine's limit on W1 (``../shared/PERF-FINDINGS.md`` §4), from the whole-process runs.

With client and server on the same cores, a run cannot take less than the CPU it needs
divided by the cores: bound = (server CPU per request + client CPU per file) x files / cores.
The server's CPU is measured on the ``weed`` process during each run, each client's from its
own rusage. The machine's bound takes the cheapest server cost per request and the cheapest
client cost per file seen in the run (the minimal client is the raw obstore one: async, 64 in
flight, t4's atomic writes); each client's own bound uses its own two costs. "% of the limit"
is bound / measured time: 100% means the run went as fast as the CPU allows.
"""

from __future__ import annotations

import os
from typing import Any

from bench.processes import Timings, median

__all__ = ["bounds", "report_lines"]


def bounds(runs: Timings, files: int, cores: int | None = None) -> dict[str, Any]:
    """Per direction: each client's costs, its own bound, and the machine's bound."""
    cores = cores or os.cpu_count() or 1
    out: dict[str, Any] = {"cores": cores, "files": files}
    for way in ("up", "down"):
        clients = {}
        for name, by_way in runs.items():
            wall = median(by_way[way], "wall")
            client_ms = 1000 * median(by_way[way], "cpu") / files
            server_ms = 1000 * median(by_way[way], "server_cpu") / files
            own = (client_ms + server_ms) * files / cores / 1000
            clients[name] = {"wall": wall, "client_ms": client_ms, "server_ms": server_ms,
                             "own_bound": own}  # fmt: skip
        best_server = min(c["server_ms"] for c in clients.values())
        best_client = min(c["client_ms"] for c in clients.values())
        out[way] = {
            "clients": clients,
            "best_server_ms": best_server,
            "best_client_ms": best_client,
            "bound": (best_server + best_client) * files / cores / 1000,
        }
    return out


def report_lines(limit: dict[str, Any]) -> list[str]:
    """The RESULTS.md section: per direction, the bound and each client against it."""
    lines = [
        f"## The machine's limit on W1 ({limit['files']:,} files, {limit['cores']} cores)",
        "",
        __doc__.split("\n\n", 1)[1].replace("\n", " "),
        "",
        "| direction | client | wall s | client CPU ms/file | server CPU ms/request | "
        "own bound s | % of own bound | % of the machine's limit |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for way in ("up", "down"):
        part = limit[way]
        for name, c in part["clients"].items():
            lines.append(
                f"| {way} | {name} | {c['wall']:.2f} | {c['client_ms']:.3f} | "
                f"{c['server_ms']:.3f} | {c['own_bound']:.2f} | "
                f"{100 * c['own_bound'] / c['wall']:.0f}% | "
                f"{100 * part['bound'] / c['wall']:.0f}% |"
            )
    lines.append("")
    for way in ("up", "down"):
        part = limit[way]
        lines.append(
            f"- **{way}**: the machine's bound is {part['bound']:.2f} s "
            f"(server {part['best_server_ms']:.3f} ms/request + client "
            f"{part['best_client_ms']:.3f} ms/file, on {limit['cores']} cores)."
        )
    return [*lines, ""]
