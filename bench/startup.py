"""Start-up and listing rows (issue 22 items 2 and 6): ``import t4``'s CPU over a bare
``python -c pass`` (best of N fresh processes), and ``t4 ls`` of W1's 2,000 keys as a whole
process: wall, CPU, CPU per key, and whether boto3 was imported (it must not be)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.processes import Commands

__all__ = ["IMPORT_TARGET_MS", "measure", "report_lines"]

#: ``import t4`` over ``python -c pass``, CPU ms (issue 22 item 6).
IMPORT_TARGET_MS = 40.0


def _cpu(code: str, env: dict[str, str], n: int) -> float:
    """The least CPU seconds of ``n`` fresh ``python -c code`` processes."""
    best = float("inf")
    for _ in range(n):
        pid = os.posix_spawn(sys.executable, [sys.executable, "-c", code], env)
        _, _, usage = os.wait4(pid, 0)
        best = min(best, usage.ru_utime + usage.ru_stime)
    return best


def measure(cmds: Commands, work: Path, w1: Path, reps: int) -> dict[str, Any]:
    """Upload W1 with s5cmd, then time ``import t4`` and ``t4 ls`` of its prefix. Measured
    as ``make bench`` runs it: after ``compileall`` (else every process compiles t4 again)."""
    cmds.run(cmds.up("s5cmd", w1, "startup-ls"))
    n = max(5, 2 * reps)
    bare = _cpu("pass", cmds.env, n)
    imported = _cpu("import t4", cmds.env, n)
    listing = [cmds.run([*cmds.t4, "ls", f"s3://{cmds.bucket}/startup-ls/"]) for _ in range(n)]
    keys = sum(1 for p in w1.rglob("*") if p.is_file())  # what s5cmd uploaded
    probe = (
        "import sys\nfrom t4.cli import main\n"
        f"main(['--endpoint-url', {cmds.server.endpoint!r}, '--path-style', '-q', 'ls', "
        f"'s3://{cmds.bucket}/startup-ls/'])\n"
        "sys.stdout = sys.__stdout__\nprint('boto3' in sys.modules, file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], env=cmds.env, capture_output=True,
                          text=True, check=True)  # fmt: skip
    return {
        "import_ms": 1000 * (imported - bare),
        "bare_ms": 1000 * bare,
        "ls_wall": min(r.wall for r in listing),
        "ls_cpu": min(r.cpu for r in listing),
        "ls_keys": keys,
        "ls_boto3": done.stderr.strip().splitlines()[-1] == "True",
        "n": n,
    }


def report_lines(r: dict[str, Any]) -> list[str]:
    per_key = 1e6 * r["ls_cpu"] / max(1, r["ls_keys"])
    return [
        "## Start-up and listing, whole processes",
        "",
        f"Best of {r['n']} fresh processes each. `import t4` costs {r['import_ms']:.1f} ms of "
        f"CPU over `python -c pass` ({r['bare_ms']:.1f} ms). `t4 ls` of {r['ls_keys']:,} keys "
        f"(written by s5cmd): {r['ls_wall']:.2f} s wall, {r['ls_cpu']:.2f} CPU-s, "
        f"{per_key:.0f} us of CPU per key, interpreter included; boto3 imported: "
        f"{'yes' if r['ls_boto3'] else 'no'}.",
        "",
    ]
