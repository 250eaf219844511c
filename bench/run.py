"""The transfer benchmark: ``make bench`` (``python -m bench.run [--quick] [--only PART,...]``).

Starts SeaweedFS on 127.0.0.1 (``bench.seaweed``) and measures every row of issue 13's target
table in one run, writing ``bench/RESULTS.md`` with a target column and met / not met:

- ``w1``, ``w2``: each client a fresh process (``bench.processes``): t4's CLI, s5cmd, boto3
  in 16 threads and (W1) the minimal obstore client; wall, CPU, peak RSS, server CPU; from W1
  the machine's limit (``bench.limit``);
- ``one``: one 4 KiB object by each client's one-shot command;
- ``startup``: ``import t4``'s CPU and ``t4 ls`` of 2,000 keys, boto3 not imported
  (``bench.startup``);
- ``scaling``: time per file and peak RSS for N = 1,000 to 50,000 (``bench.scaling``);
- ``search``: the first ``t4 search`` of 20,000 objects written by s5cmd (``bench.search_cold``);
- ``memory``: peak RSS of ``t4 put-dir`` and ``t4 fetch`` of 100,000 files, on S3 and a
  folder bucket (``bench.memory``);
- ``inprocess``: the in-process comparison of W1 and W2 this benchmark always had;
- ``rerun``: the no-change re-run of W1, every request counted by a proxy;
- ``mirror``: the mirror flow against the core (``bench.mirror_bench``);
- ``packages``: package push and install by t4 and quilt3 (``bench.package_bench``).

``--quick`` runs small N and one round, for development; the default is the full run (about
30 minutes on a quiet 2-core machine).
"""

from __future__ import annotations

import argparse
import datetime
import os
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import (
    limit,
    memory,
    mirror_bench,
    package_bench,
    report,
    scaling,
    search_cold,
    startup,
)
from bench.processes import Commands, one_object
from bench.processes import compare as compare_processes
from bench.seaweed import Seaweed
from bench.tools import (
    BUCKET,
    RESULTS,
    Boto3Client,
    CountingProxy,
    S5cmdClient,
    T4Client,
    bench_server,
    make_w1,
    make_w2,
    same_tree,
)

REPS = 5
IN_PROCESS_REPS = 3
CLIENTS = ("t4", "s5cmd", "boto3")


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
    carries over) whose every request goes through a counting proxy. The first run goes
    through the same proxy: t4 keeps its upload records per endpoint, so a first run against
    another endpoint would (rightly) not be trusted for this one."""
    dest = work / "rerun"
    out: dict[str, Any] = {}
    with CountingProxy(server.endpoint) as proxy:
        first = T4Client(server, BUCKET, endpoint=proxy.endpoint)
        first.up(src, "rerun")
        first.down("rerun", dest)
        first.bucket.close()
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


def inprocess_lines(results: dict[str, Any], extra: dict[str, Any], reps: int) -> list[str]:
    """The in-process comparison and the re-run's request counts."""
    lines = [
        "## In process (a warm Python process, all three clients)",
        "",
        "The figures this benchmark reported before issue 13, kept for comparison: t4 "
        "`Bucket.put_dir` / `Bucket.fetch` (default concurrency, 64), boto3 in 16 threads and "
        "`s5cmd cp` (a process), each called from the benchmark's own process, so t4's and "
        f"boto3's start-up is not counted. Medians of {reps} rounds, order rotating; "
        "downloads checked byte for byte. Ratios: t4's time over the other's.",
        "",
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
    lines.append("")
    if "rerun" in extra:
        lines += [
            "## No-change re-run of W1: requests",
            "",
            "A new `Bucket` object (only t4's on-disk cache carries over) repeats the upload "
            "and the download; every request passes through a counting HTTP proxy in front "
            "of the server. A listing of 2,000 keys takes 2 pages (S3 returns at most 1,000 "
            "keys a page).",
            "",
            "| operation | listings | listing pages | other requests | seconds (in process) |",
            "|---|---|---|---|---|",
        ]
        for op, row in extra["rerun"].items():
            lines.append(
                f"| {op} | {row['listings']} | {row['pages']} | {row['other_requests']} | "
                f"{row['seconds']:.2f} |"
            )
        lines.append("")
    return lines


PARTS = (
    "w1", "w2", "one", "startup", "scaling", "search", "memory", "inprocess", "rerun", "mirror",
    "packages",
)  # fmt: skip


def _parts(text: str) -> list[str]:
    names = [p.strip().lower() for p in text.split(",") if p.strip()]
    wrong = [n for n in names if n not in PARTS]
    if wrong or not names:
        raise argparse.ArgumentTypeError(f"choose among {', '.join(PARTS)}; got {text!r}")
    return names


def measure(args: argparse.Namespace, parts: list[str]) -> tuple[dict[str, Any], list[str]]:
    """Run the chosen parts: the results and the in-process sections' lines."""
    quick = args.quick
    reps = 1 if quick else args.reps
    r: dict[str, Any] = {}
    inproc: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    with bench_server() as (server, work):
        cmds = Commands(server, BUCKET, work / "cache-processes")
        w1 = make_w1(work / "w1")
        w2 = make_w2(work / "w2") if {"w2", "inprocess"} & set(parts) else None
        if "w1" in parts:
            print("W1 (2,000 x 4 KiB), whole processes", flush=True)
            w1_runs = compare_processes(cmds, work, "w1", w1, (*CLIENTS, "obstore"), reps)
            r.setdefault("proc", {})["W1"] = w1_runs
            r["limit"] = limit.bounds(w1_runs, files=2000)
        if "w2" in parts and w2 is not None:
            print("W2 (4 x 64 MiB), whole processes", flush=True)
            r.setdefault("proc", {})["W2"] = compare_processes(cmds, work, "w2", w2, CLIENTS, reps)
        if "one" in parts:
            print("one 4 KiB object, whole processes", flush=True)
            r["one"] = one_object(cmds, work, 3 if quick else 2 * reps)
        if "startup" in parts:
            print("import t4 and t4 ls, whole processes", flush=True)
            r["startup"] = startup.measure(cmds, work, w1, reps)
        sizes = scaling.QUICK_SIZES if quick else scaling.SIZES
        objects = search_cold.QUICK_OBJECTS if quick else search_cold.OBJECTS
        files = memory.QUICK_FILES if quick else memory.FILES
        if {"scaling", "search", "memory"} & set(parts):
            most = max(*sizes, objects, files if "memory" in parts else 0)
            print(f"generating {most:,} files of 4 KiB", flush=True)
            pool = scaling.make_pool(work / "pool", most)
            if "scaling" in parts:
                print(f"scaling N = {', '.join(f'{n:,}' for n in sizes)}", flush=True)
                r["scaling"] = scaling.measure(cmds, work, pool, sizes, quick)
            if "search" in parts:
                print(f"first search of {objects:,} objects written by s5cmd", flush=True)
                src = scaling.subset(pool, objects, work / "search-src")
                r["search"] = search_cold.measure(cmds, work, src, objects, 1 if quick else 2)
                shutil.rmtree(src)
            if "memory" in parts:
                print(f"memory: peak RSS at {files:,} files", flush=True)
                src = scaling.subset(pool, files, work / "memory-src")
                r["memory"] = memory.measure(cmds, work, src, files)
                shutil.rmtree(src)
            shutil.rmtree(work / "pool")
        in_reps = 1 if quick else IN_PROCESS_REPS
        if "inprocess" in parts and w2 is not None:
            print("W1 and W2 in process", flush=True)
            inproc["W1"] = compare(server, work, "w1", w1, in_reps)
            inproc["W2"] = compare(server, work, "w2", w2, in_reps)
        if "rerun" in parts:
            print("no-change re-run of W1 through a counting proxy", flush=True)
            extra["rerun"] = r["rerun"] = rerun_counts(server, work, w1)
        if "mirror" in parts:
            print("the mirror flow against the core", flush=True)
            r["mirror"] = mirror_bench.measure(server, work, BUCKET, w1, reps)
        if "packages" in parts:
            print("packages: t4 against quilt3", flush=True)
            r["packages"] = package_bench.measure(server, work, BUCKET, w1, 1 if quick else 3)
    sections = inprocess_lines(inproc, extra, in_reps) if inproc or extra else []
    return r, sections


def main(argv: list[str] | None = None) -> None:
    """Run everything (or ``--only`` some parts) and write ``bench/RESULTS.md``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=REPS, help=f"rounds (default {REPS})")
    parser.add_argument("--quick", action="store_true",
                        help="small N and 1 round: for development, not a result")  # fmt: skip
    parser.add_argument("--only", type=_parts, default=list(PARTS), metavar="PART,...",
                        help=f"run only these parts: {','.join(PARTS)}")  # fmt: skip
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    command = "make bench" if argv is None and len(sys.argv) == 1 else (
        "python -m bench.run " + " ".join(sys.argv[1:] if argv is None else argv)
    )  # fmt: skip
    load_before, started = os.getloadavg()[0], time.perf_counter()
    results, sections = measure(args, args.only)
    results["meta"] = {
        "command": command,
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
        "elapsed_s": time.perf_counter() - started,
        "quick": args.quick,
        "reps": 1 if args.quick else args.reps,
    }
    text = report.render(results, sections)
    args.out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
