"""The scaling run: time per file and peak RSS against the number of files N.

One pool of 4 KiB files is generated once; the folder for each N holds hard links to its
first N files (10 x 10 folders, as W1). For each N, in this order: ``t4 put-dir`` to a fresh
prefix, the same ``t4 put-dir`` again (the no-change re-run), ``t4 fetch`` into an empty
folder, the same ``t4 fetch`` again, ``s5cmd cp`` up and down, then the mirror flow up (folder
-> fresh prefix) and down (t4's prefix -> empty folder). Each CLI run is a whole process
(``bench.processes``); the mirror runs in this process (Prefect's API already started), so it
has a time and no RSS of its own. Every download is checked byte for byte.

Targets (issue 13): per-file cost flat in N, stated as: the marginal cost of a file between
the two largest N (20,000 -> 50,000) is at most ``FLAT`` times that of the step before
(5,000 -> 20,000). Marginal costs (extra seconds / extra files, from medians) leave out the
fixed start-up of a process, which time per file at 1,000 files is mostly made of, and two
steps of 15,000 and 30,000 files keep the noise of one run small; a cost growing with N (a
listing per chunk, say) shows as a ratio well above 1. The 50,000-file fetch peaks at most
``RSS_TARGET`` MB.
"""

from __future__ import annotations

import math
import os
import resource
import shutil
import time
from pathlib import Path
from typing import Any

from bench import mirror_bench
from bench.processes import Commands, Run, median, server_cpu
from bench.tools import same_tree

__all__ = ["FLAT", "OPS", "RSS_TARGET", "SIZES", "make_pool", "measure", "subset"]

SIZES = (1_000, 5_000, 20_000, 50_000)
QUICK_SIZES = (300, 1_000, 3_000)
FLAT = 1.2
RSS_TARGET = 150.0
OPS = (
    "t4 put-dir",
    "t4 put-dir re-run",
    "t4 fetch",
    "t4 fetch re-run",
    "s5cmd up",
    "s5cmd down",
    "mirror up",
    "mirror down",
)
#: What each op's flatness is judged against (None: reported, no target).
TARGETED = ("t4 put-dir", "t4 put-dir re-run", "t4 fetch", "t4 fetch re-run", "mirror up",
            "mirror down")  # fmt: skip


def _rel(i: int) -> str:
    return f"d{i % 10}/s{(i // 10) % 10}/f{i:06d}.bin"


def make_pool(root: Path, n: int, size: int = 4096) -> Path:
    """``n`` files of ``size`` random bytes under ``root``."""
    for i in range(n):
        path = root / _rel(i)
        if i < 100:
            path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(size))
    return root


def subset(pool: Path, n: int, dest: Path) -> Path:
    """A folder of hard links to the pool's first ``n`` files."""
    if dest.exists():
        return dest
    for i in range(min(n, 100)):
        (dest / _rel(i)).parent.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        os.link(pool / _rel(i), dest / _rel(i))
    return dest


def reps_for(n: int, quick: bool) -> int:
    """Fewer rounds as N grows: the whole bench stays within about 35 minutes."""
    if quick or n >= 20_000:
        return 1
    return 3 if n <= 1_000 else 2


def _mirror(cmds: Commands, source: str, dest: str, expected: int) -> Run:
    before, cpu = server_cpu(cmds.server.pid), resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    moved = mirror_bench.mirror(source, dest)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    if moved != expected:
        raise RuntimeError(f"mirror {source} -> {dest} moved {moved} files, not {expected}")
    used = after.ru_utime + after.ru_stime - cpu.ru_utime - cpu.ru_stime
    return Run(wall, used, math.nan, server_cpu(cmds.server.pid) - before)


def _check(src: Path, dest: Path, what: str) -> None:
    if not same_tree(src, dest):
        raise RuntimeError(f"scaling {what}: downloaded bytes differ")


def measure(
    cmds: Commands, work: Path, pool: Path, sizes: tuple[int, ...], quick: bool
) -> dict[str, Any]:
    """Runs per op and N: ``{"sizes", "reps", "runs": {op: {n: [Run]}}}``."""
    block = mirror_bench.setup(work, cmds.bucket, cmds.server.endpoint)
    runs: dict[str, dict[int, list[Run]]] = {op: {} for op in OPS}
    reps = {n: reps_for(n, quick) for n in sizes}
    for n in sizes:
        src = subset(pool, n, work / f"scale-src-{n}")
        for rep in range(reps[n]):
            got: dict[str, Run] = {}
            t4_prefix, s5_prefix = f"scale/t4/{n}/{rep}", f"scale/s5cmd/{n}/{rep}"
            got["t4 put-dir"] = cmds.run(cmds.up("t4", src, t4_prefix))
            got["t4 put-dir re-run"] = cmds.run(cmds.up("t4", src, t4_prefix))
            dest = work / f"scale-t4-{n}"
            dest.mkdir()
            got["t4 fetch"] = cmds.run(cmds.down("t4", t4_prefix, dest))
            got["t4 fetch re-run"] = cmds.run(cmds.down("t4", t4_prefix, dest))
            _check(src, dest, f"t4 fetch of {n}")
            shutil.rmtree(dest)
            got["s5cmd up"] = cmds.run(cmds.up("s5cmd", src, s5_prefix))
            dest.mkdir()
            got["s5cmd down"] = cmds.run(cmds.down("s5cmd", s5_prefix, dest))
            _check(src, dest, f"s5cmd down of {n}")
            shutil.rmtree(dest)
            got["mirror up"] = _mirror(cmds, str(src), f"{block}/scale/mirror/{n}/{rep}", n)
            got["mirror down"] = _mirror(cmds, f"{block}/{t4_prefix}", str(dest), n)
            _check(src, dest, f"mirror down of {n}")
            shutil.rmtree(dest)
            for op, run in got.items():
                runs[op].setdefault(n, []).append(run)
            print(
                f"  scaling N={n:,} rep {rep}: "
                + ", ".join(f"{op} {1000 * r.wall / n:.2f}" for op, r in got.items())
                + " ms/file",
                flush=True,
            )
        shutil.rmtree(src)
    return {"sizes": list(sizes), "reps": reps, "runs": runs}


def per_file_ms(result: dict[str, Any], op: str, n: int) -> float:
    """Median wall milliseconds per file of ``op`` at ``n`` files."""
    return 1000 * median(result["runs"][op][n], "wall") / n


def marginal_ms(result: dict[str, Any], op: str, small: int, large: int) -> float:
    """Milliseconds per extra file from ``small`` to ``large`` files (medians)."""
    extra = median(result["runs"][op][large], "wall") - median(result["runs"][op][small], "wall")
    return 1000 * extra / (large - small)


def flatness(result: dict[str, Any], op: str) -> float:
    """The marginal cost per file of the last step of N over that of the step before."""
    sizes = result["sizes"]
    top = marginal_ms(result, op, sizes[-2], sizes[-1])
    before = marginal_ms(result, op, sizes[-3], sizes[-2])
    return top / before if before > 0 else math.inf


def report_lines(result: dict[str, Any]) -> list[str]:
    """The RESULTS.md section: ms/file and peak RSS against N."""
    sizes = result["sizes"]
    head = " | ".join(f"N={n:,}" for n in sizes)
    lines = [
        "## Scaling: time per file and peak RSS against N (whole processes)",
        "",
        __doc__.split("\n\n")[1].replace("\n", " "),
        "",
        "Rounds per N: "
        + ", ".join(f"{n:,}: {r}" for n, r in result["reps"].items())
        + " (medians). Cells: wall ms per file (peak RSS MB of the process; the mirror runs "
        "in the bench's process and has none).",
        "",
        f"| operation | {head} | marginal ms/file, {sizes[-3]:,} -> {sizes[-2]:,} | "
        f"marginal ms/file, {sizes[-2]:,} -> {sizes[-1]:,} | ratio (flat: <= {FLAT}) |",
        "|---|" + "---|" * len(sizes) + "---|---|---|",
    ]
    for op in OPS:
        cells = []
        for n in sizes:
            runs = result["runs"][op][n]
            rss = max(r.rss_mb for r in runs)
            memory = "" if math.isnan(rss) else f" ({rss:.0f} MB)"
            cells.append(f"{per_file_ms(result, op, n):.3f}{memory}")
        first = marginal_ms(result, op, sizes[-3], sizes[-2])
        last = marginal_ms(result, op, sizes[-2], sizes[-1])
        lines.append(
            f"| {op} | {' | '.join(cells)} | {first:.3f} | {last:.3f} | "
            f"{flatness(result, op):.2f} |"
        )
    return [*lines, ""]
