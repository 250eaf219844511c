"""The first search of a bucket written by another tool: a cold index.

``s5cmd cp`` writes N objects (20,000 in the full run) to a bucket of their own; then
``t4 search s3://BUCKET QUERY`` runs as a whole process with an empty ``T4_CACHE_DIR``, so it
first builds the bucket's index (a listing, then a HEAD per object for its metadata) and then
answers. Target (issue 13): at most 8 s for 20,000 objects (scaled by N/20,000 in a
``--quick`` run).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.processes import Commands, Run, median

__all__ = ["OBJECTS", "TARGET_S", "measure", "report_lines", "target"]

OBJECTS = 20_000
QUICK_OBJECTS = 2_000
TARGET_S = 8.0
BUCKET = "t4search"


def target(objects: int) -> float:
    """Seconds allowed for ``objects``: 8 s at 20,000, the same rate otherwise."""
    return TARGET_S * objects / OBJECTS


def measure(cmds: Commands, work: Path, src: Path, objects: int, reps: int) -> dict[str, Any]:
    """``src`` (``objects`` files) written by s5cmd, then ``reps`` first searches."""
    cmds.server.client().create_bucket(Bucket=BUCKET)
    writer = Commands(cmds.server, BUCKET, work / "search-writer-cache")
    written = writer.run(writer.up("s5cmd", src, "cold"))
    word = f"f{objects // 2:06d}"
    runs: list[Run] = []
    for rep in range(reps):
        env = {**writer.env, "T4_CACHE_DIR": str(work / f"search-cold-{rep}")}
        run = writer.run([*writer.t4, "--json", "search", f"s3://{BUCKET}", word], env)
        if word not in run.output:
            raise RuntimeError(f"t4 search {word} found nothing:\n{run.output}")
        runs.append(run)
        print(f"  cold search rep {rep}: {run.wall:.2f}s ({run.cpu:.2f} CPU-s)", flush=True)
    return {"objects": objects, "written_s": written.wall, "runs": runs}


def report_lines(result: dict[str, Any]) -> list[str]:
    """The RESULTS.md section."""
    runs, n = result["runs"], result["objects"]
    wall = median(runs, "wall")
    return [
        "## First search of a cold index (whole process)",
        "",
        __doc__.split("\n\n")[1].replace("\n", " "),
        "",
        "| objects | written by s5cmd (s) | first `t4 search` s (median of "
        f"{len(runs)}) | ms per object | CPU-s | server CPU-s | peak RSS MB | target s |",
        "|---|---|---|---|---|---|---|---|",
        f"| {n:,} | {result['written_s']:.2f} | {wall:.2f} | {1000 * wall / n:.3f} | "
        f"{median(runs, 'cpu'):.2f} | {median(runs, 'server_cpu'):.2f} | "
        f"{max(r.rss_mb for r in runs):.0f} | <= {target(n):.1f} |",
        "",
    ]
