"""Package push and install of W1 (2,000 x 4 KiB) for t4 and quilt3 8.0.0 on the same
SeaweedFS, alternating which goes first each round. Each push is a new package name (so
nothing is skipped); each install goes to a fresh folder and is checked byte for byte; then
the same version is installed again over that unchanged copy (t4 skips what is there,
quilt3 downloads it again) and checked again.
quilt3 runs in its own virtualenv (the one the tests make, under ``.venv``), timed inside
its process around the call only, as t4 is.

Standalone: ``.venv/bin/python -m bench.package_bench [--reps N]``; ``make bench`` runs it too.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import t4
from bench.seaweed import Seaweed, seaweed
from bench.tools import env_for, make_w1, same_tree

__all__ = ["TARGET", "main", "measure", "report_lines"]

#: The goal: t4 at least this many times quilt3's rate, on push and on install.
TARGET = 2.0
#: The timed operations, in the order each round runs them.
OPS = ("push", "install", "reinstall")

_QUILT3 = """
import json, sys, time
import quilt3
args = json.loads(sys.argv[1])
started = time.perf_counter()
if args["op"] == "push":
    quilt3.Package().set_dir("/", args["src"]).push(args["name"], registry=args["registry"])
else:  # install, and reinstall over the copy the install left
    quilt3.Package.install(args["name"], registry=args["registry"], dest=args["dest"])
print(json.dumps(time.perf_counter() - started))
"""


def _quilt3_python() -> Path:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from quilt3_runner import quilt3_python

    return quilt3_python()


def _quilt3(python: Path, env: dict[str, str], **args: Any) -> float:
    done = subprocess.run(
        [str(python), "-c", _QUILT3, json.dumps(args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if done.returncode != 0:
        raise RuntimeError(f"quilt3 {args['op']} failed:\n{done.stderr}")
    return float(json.loads(done.stdout.strip().splitlines()[-1]))


def _quilt3_env(server: Seaweed, home: Path) -> dict[str, str]:
    share = home / ".local" / "share"
    (share / "Quilt").mkdir(parents=True, exist_ok=True)
    (share / "Quilt" / "config.yml").write_text("telemetry_disabled: true\n")
    return {
        **env_for(server),
        "HOME": str(home),
        "XDG_DATA_HOME": str(share),
        "QUILT_DISABLE_USAGE_METRICS": "true",
        "QUILT_MINIMIZE_STDOUT": "true",
        "QUILT_DISABLE_CACHE": "true",
    }


def measure(server: Seaweed, work: Path, bucket: str, src: Path, reps: int) -> dict[str, Any]:
    """Seconds per tool and operation: ``{"t4": {"push": [...], "install": [...]}, ...}``."""
    python = _quilt3_python()
    home = work / "pkg-home"
    env = _quilt3_env(server, home)
    os.environ["XDG_DATA_HOME"] = env["XDG_DATA_HOME"]  # t4's local registry, here too
    registry = t4.Bucket(f"s3://{bucket}", endpoint_url=server.endpoint, path_style=True)
    times: dict[str, dict[str, list[float]]] = {
        tool: {op: [] for op in OPS} for tool in ("t4", "quilt3")
    }
    for rep in range(reps):
        for tool in ("t4", "quilt3") if rep % 2 == 0 else ("quilt3", "t4"):
            name, dest = f"bench/{tool}{rep}", work / f"pkg-{tool}-{rep}"
            if tool == "t4":
                started = time.perf_counter()
                t4.Package().set_dir("/", src).push(name, registry=registry)
                times[tool]["push"].append(time.perf_counter() - started)
                started = time.perf_counter()
                t4.Package.install(name, registry, dest=dest)
                times[tool]["install"].append(time.perf_counter() - started)
                _same(src, dest, tool, rep)
                started = time.perf_counter()
                again = t4.Package.install(name, registry, dest=dest)
                times[tool]["reinstall"].append(time.perf_counter() - started)
                assert again.summary is not None and not again.summary.transferred
            else:
                common = {"name": name, "registry": f"s3://{bucket}"}
                times[tool]["push"].append(_quilt3(python, env, op="push", src=str(src), **common))
                for op in ("install", "reinstall"):
                    times[tool][op].append(_quilt3(python, env, op=op, dest=str(dest), **common))
                    if op == "install":
                        _same(src, dest, tool, rep)
            _same(src, dest, tool, rep)
            shutil.rmtree(dest)
            print(
                f"  packages rep {rep} {tool}: "
                + " ".join(f"{op} {times[tool][op][-1]:.2f}s" for op in OPS),
                flush=True,
            )
    registry.close()
    return times


def _same(src: Path, dest: Path, tool: str, rep: int) -> None:
    if not same_tree(src, dest):
        raise RuntimeError(f"{tool} install rep {rep}: installed bytes differ")


def report_lines(times: dict[str, Any], reps: int, files: int = 2000) -> list[str]:
    """The RESULTS.md section: medians, files per second, and t4's rate over quilt3's."""
    lines = [
        "## Packages: push and install of W1, t4 against quilt3 8.0.0",
        "",
        f"Each round pushes W1 as a new package (`Package().set_dir('/', W1).push(...)`) and "
        f"installs it into an empty folder (checked byte for byte), then installs it again over "
        f"that unchanged copy (reinstall: t4 skips the files whose size and hash match, quilt3 "
        f"downloads them again); t4 and quilt3 alternating which goes first; medians of {reps} "
        "rounds, timed around the call only (quilt3 in its own virtualenv, same SeaweedFS, "
        f"same bucket). Goal: t4 at least {TARGET:.0f}x quilt3's rate on push and install.",
        "",
        "| operation | t4 (s) | t4 files/s | quilt3 (s) | quilt3 files/s | t4 rate / quilt3 rate |",
        "|---|---|---|---|---|---|",
    ]
    for op in OPS:
        ours = statistics.median(times["t4"][op])
        theirs = statistics.median(times["quilt3"][op])
        lines.append(
            f"| {op} | {ours:.2f} | {files / ours:,.0f} | {theirs:.2f} | {files / theirs:,.0f} "
            f"| {theirs / ours:.2f}x |"
        )
    return [*lines, ""]


def main(argv: list[str] | None = None) -> None:
    """Run the package benchmark alone and print its table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="t4pkgbench-"))
    saved = dict(os.environ)
    try:
        with seaweed() as server:
            os.environ.update(env_for(server), T4_CACHE_DIR=str(work / "cache"))
            server.client().create_bucket(Bucket="t4pkgbench")
            times = measure(server, work, "t4pkgbench", make_w1(work / "w1"), args.reps)
    finally:
        os.environ.clear()
        os.environ.update(saved)
        shutil.rmtree(work, ignore_errors=True)
    print("\n".join(report_lines(times, args.reps)))


if __name__ == "__main__":
    main()
