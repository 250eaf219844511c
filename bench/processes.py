"""Clients as users run them: each transfer a fresh process, timed from spawn to exit.

For every child: wall seconds, its own CPU (user + sys) and peak RSS from ``os.wait4``'s
rusage of that one child, and the SeaweedFS server's CPU seconds spent meanwhile (psutil on
the ``weed`` process and its children). The clients: ``t4`` (the CLI: ``t4 put-dir``,
``t4 fetch``), ``s5cmd cp``, boto3 in 16 threads and the minimal obstore client
(``bench.raw_clients``). Within each repetition the order of the clients rotates; every
download is checked byte for byte and removed.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from bench.seaweed import Seaweed
from bench.tools import env_for, same_tree

__all__ = ["Commands", "Run", "compare", "median", "one_object", "run_process"]

TIME = shutil.which("time", path="/usr/bin:/bin") or "/usr/bin/time"
RAW = str(Path(__file__).with_name("raw_clients.py"))


@dataclass(frozen=True)
class Run:
    """One child process: wall and CPU seconds, peak RSS (MB), server CPU seconds meanwhile."""

    wall: float
    cpu: float
    rss_mb: float
    server_cpu: float
    output: str = field(default="", repr=False, compare=False)


def median(runs: Sequence[Run], field: str) -> float:
    """The median of one field over ``runs``."""
    return statistics.median(getattr(r, field) for r in runs)


def server_cpu(pid: int) -> float:
    """CPU seconds (user + sys) used so far by the server process and its children."""
    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
        except psutil.Error:
            continue
        total += t.user + t.system
    return total


class ClientFailed(RuntimeError):
    """A client command exited with ``returncode`` (GNU ``time`` gives 128 + the signal)."""

    def __init__(self, message: str, returncode: int):
        super().__init__(message)
        self.returncode = returncode


def run_process(argv: Sequence[str], env: dict[str, str], server_pid: int) -> Run:
    """Run ``argv`` to completion under GNU ``time``: CPU from ``os.wait4``'s rusage of that
    one child (``time`` waits for the client, so its rusage holds the client's), peak RSS from
    ``time``'s ``%M``. A child forked straight from this process would inherit this process's
    high-water mark in ``ru_maxrss`` (the kernel keeps it across ``exec``); one forked by
    ``time`` (about 2 MB) does not."""
    with tempfile.TemporaryFile() as out, tempfile.NamedTemporaryFile("r") as rss:
        before = server_cpu(server_pid)
        started = time.perf_counter()
        command = [TIME, "-q", "-o", rss.name, "-f", "%M", *argv]
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        spent = server_cpu(server_pid) - before
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        tail = out.read()[-3000:].decode(errors="replace")
        if proc.returncode != 0:
            raise ClientFailed(f"{' '.join(argv[:4])} ... exited {proc.returncode}:\n{tail}",
                               proc.returncode)  # fmt: skip
        peak_kb = int(rss.read().split()[-1])
    return Run(wall, usage.ru_utime + usage.ru_stime, peak_kb / 1024, spent, tail)


class Commands:
    """The command line of each client for one server and bucket, and its environment."""

    def __init__(self, server: Seaweed, bucket: str, cache: Path):
        here = Path(sys.executable).parent
        s5cmd = here / "s5cmd"
        self.server, self.bucket = server, bucket
        self.env = {**env_for(server), "T4_CACHE_DIR": str(cache)}
        self.t4 = [str(here / "t4"), "--endpoint-url", server.endpoint, "--path-style", "-q"]
        self.s5cmd = [str(s5cmd) if s5cmd.exists() else shutil.which("s5cmd") or "s5cmd"]
        self.s5cmd += ["--endpoint-url", server.endpoint]

    def up(self, client: str, src: Path, prefix: str) -> list[str]:
        """Upload every file under ``src`` to ``prefix/``."""
        url = f"s3://{self.bucket}/{prefix}"
        return {
            "t4": [*self.t4, "put-dir", str(src), url],
            "s5cmd": [*self.s5cmd, "cp", f"{src}/*", f"{url}/"],
            "boto3": [sys.executable, RAW, "boto3", "up", str(src), self.bucket, prefix],
            "obstore": [sys.executable, RAW, "obstore", "up", str(src), self.bucket, prefix],
        }[client]

    def down(self, client: str, prefix: str, dest: Path) -> list[str]:
        """Download every object under ``prefix/`` into the folder ``dest``."""
        url = f"s3://{self.bucket}/{prefix}/"
        return {
            "t4": [*self.t4, "fetch", url, f"{dest}/"],
            "s5cmd": [*self.s5cmd, "cp", f"{url}*", f"{dest}/"],
            "boto3": [sys.executable, RAW, "boto3", "down", self.bucket, prefix, str(dest)],
            "obstore": [sys.executable, RAW, "obstore", "down", self.bucket, prefix, str(dest)],
        }[client]

    def one(self, client: str, key: str, dest: Path) -> list[str]:
        """Download one object to the file ``dest``."""
        url = f"s3://{self.bucket}/{key}"
        return {
            "t4": [*self.t4, "fetch", url, str(dest)],
            "s5cmd": [*self.s5cmd, "cp", url, str(dest)],
            "boto3": [sys.executable, RAW, "boto3", "one", self.bucket, key, str(dest)],
        }[client]

    def run(self, argv: Sequence[str], env: dict[str, str] | None = None) -> Run:
        """Run one client command. A reference client (not t4) killed by a signal is run
        once more, and said so: the minimal obstore client has aborted (exit 134, no output)
        once in a run on a machine loaded by other jobs, which would end the whole bench."""
        try:
            return run_process(argv, env or self.env, self.server.pid)
        except ClientFailed as err:
            if argv[0] == self.t4[0] or not 128 < err.returncode < 160:
                raise
            print(f"  a reference client was killed by signal {err.returncode - 128}; again")
            return run_process(argv, env or self.env, self.server.pid)


Timings = dict[str, dict[str, list[Run]]]


def compare(
    cmds: Commands,
    work: Path,
    name: str,
    src: Path,
    clients: Sequence[str],
    reps: int,
) -> Timings:
    """Each client uploads ``src`` then downloads it, ``reps`` rounds, order rotating."""
    runs: Timings = {c: {"up": [], "down": []} for c in clients}
    for rep in range(reps):
        order = [*clients[rep % len(clients) :], *clients[: rep % len(clients)]]
        for client in order:
            prefix, dest = f"proc/{name}/{client}/{rep}", work / f"proc-{name}-{client}-{rep}"
            dest.mkdir(parents=True)
            up = cmds.run(cmds.up(client, src, prefix))
            down = cmds.run(cmds.down(client, prefix, dest))
            if not same_tree(src, dest):
                raise RuntimeError(f"{client} {name} rep {rep}: downloaded bytes differ")
            shutil.rmtree(dest)
            runs[client]["up"].append(up)
            runs[client]["down"].append(down)
            print(
                f"  {name} rep {rep} {client}: up {up.wall:.2f}s ({up.cpu:.2f} CPU-s, "
                f"{up.rss_mb:.0f} MB) down {down.wall:.2f}s ({down.cpu:.2f} CPU-s, "
                f"{down.rss_mb:.0f} MB)",
                flush=True,
            )
    return runs


def one_object(cmds: Commands, work: Path, reps: int, size: int = 4096) -> dict[str, list[Run]]:
    """One 4 KiB object fetched to a file by each client, ``reps`` rounds, order rotating."""
    data = os.urandom(size)
    cmds.server.client().put_object(Bucket=cmds.bucket, Key="proc/one/object.bin", Body=data)
    clients = ["t4", "s5cmd", "boto3"]
    runs: dict[str, list[Run]] = {c: [] for c in clients}
    for rep in range(reps):
        for client in [*clients[rep % 3 :], *clients[: rep % 3]]:
            dest = work / f"one-{client}.bin"
            runs[client].append(cmds.run(cmds.one(client, "proc/one/object.bin", dest)))
            if dest.read_bytes() != data:
                raise RuntimeError(f"{client} one object rep {rep}: bytes differ")
            dest.unlink()
        print(
            f"  one object rep {rep}: "
            + ", ".join(f"{c} {runs[c][-1].wall:.3f}s" for c in clients),
            flush=True,
        )
    return runs
