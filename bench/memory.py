"""The memory rows (issue 22 item 5): peak RSS of whole ``t4 put-dir`` and ``t4 fetch``
processes at 100,000 small files, on S3 (SeaweedFS) and on a folder bucket.

The files are the scaling pool's (4 KiB each, in 10 x 10 folders of 1,000). For each
backend, in this order: ``t4 put-dir`` to a fresh prefix, the same again (the no-change
re-run: nothing moves, every file is compared), ``t4 fetch`` into an empty folder, the same
again. Each run is a fresh process; its peak RSS is GNU ``time``'s ``%M``
(``bench.processes``). Every download is checked byte for byte. Target: each run at most
``RSS_TARGET`` MB.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from bench.processes import Commands, Run
from bench.tools import same_tree

__all__ = ["FILES", "OPS", "QUICK_FILES", "RSS_TARGET", "measure", "report_lines"]

FILES = 100_000
QUICK_FILES = 10_000
RSS_TARGET = 150.0
OPS = ("put-dir", "put-dir re-run", "fetch", "fetch re-run")
BACKENDS = ("S3", "folder")


def _argv(cmds: Commands, backend: str, op: str, src: Path, dest: Path, root: Path) -> list[str]:
    if backend == "S3":
        return (
            cmds.up("t4", src, "memory")
            if op.startswith("put")
            else cmds.down("t4", "memory", dest)
        )
    t4 = [cmds.t4[0], "-q"]
    if op.startswith("put"):
        return [*t4, "put-dir", "--bucket", str(root), str(src), "memory"]
    return [*t4, "fetch", "--bucket", str(root), "memory/", f"{dest}/"]


def measure(cmds: Commands, work: Path, src: Path, files: int) -> dict[str, Any]:
    """Runs per backend and op: ``{"files": n, "runs": {backend: {op: Run}}}``."""
    runs: dict[str, dict[str, Run]] = {}
    for backend in BACKENDS:
        root = work / "memory-folder-bucket"
        dest = work / "memory-dest"
        root.mkdir(exist_ok=True)
        dest.mkdir()
        got: dict[str, Run] = {}
        for op in OPS:
            got[op] = cmds.run(_argv(cmds, backend, op, src, dest, root))
            print(
                f"  memory {backend} {op} of {files:,}: {got[op].rss_mb:.0f} MB, "
                f"{got[op].wall:.1f} s, {got[op].cpu:.1f} CPU-s",
                flush=True,
            )
        if not same_tree(src, dest):
            raise RuntimeError(f"memory {backend}: the fetch left different bytes")
        shutil.rmtree(dest)
        shutil.rmtree(root)
        runs[backend] = got
    return {"files": files, "runs": runs}


def peak(result: dict[str, Any]) -> float:
    """The highest peak RSS of every run, MB."""
    return max(run.rss_mb for got in result["runs"].values() for run in got.values())


def report_lines(result: dict[str, Any]) -> list[str]:
    """The RESULTS.md section: peak RSS, wall and CPU of each run."""
    lines = [
        f"## Memory: {result['files']:,} small files, whole processes (issue 22 item 5)",
        "",
        __doc__.split("\n\n")[1].replace("\n", " "),
        "",
        "| backend | operation | peak RSS MB | wall s | CPU s | target |",
        "|---|---|---|---|---|---|",
    ]
    for backend, got in result["runs"].items():
        for op, run in got.items():
            ok = "met" if run.rss_mb <= RSS_TARGET else "**NOT met**"
            lines.append(
                f"| {backend} | {op} | {run.rss_mb:.0f} | {run.wall:.1f} | {run.cpu:.1f} | "
                f"<= {RSS_TARGET:.0f} MB: {ok} |"
            )
    return [*lines, ""]
