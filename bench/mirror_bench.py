"""The mirror flow against the core on W1, both directions, in one run: ``mirror_directory``
(chunk tasks on Prefect) against ``Bucket.put_dir`` (folder -> bucket) and ``Bucket.fetch``
(bucket -> folder) moving W1 on the same server, alternating which goes first; then the
request count of the mirror's no-change re-run. Part of ``make bench``, and runnable alone
(``python -m bench.mirror_bench --reps 3``: it rewrites only its own section of
``bench/RESULTS.md``). Target: mirror <= 1.15x the core.

Prefect runs on a temporary ``PREFECT_HOME`` with its ephemeral API, started (by a trivial
flow) before any timing, so the figures compare transfers, not a server's start-up. A sync
flow run joins its heartbeat thread on exit, which sleeps in 1 s steps (0-1 s a run); the
mirror is timed with heartbeats off (Prefect's ``PREFECT_FLOWS_HEARTBEAT_FREQUENCY`` set to
None) and an empty flow is timed both ways to show what they cost.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.seaweed import Seaweed
from bench.tools import BUCKET, RESULTS, CountingProxy, T4Client, bench_server, make_w1

__all__ = ["TARGET_RATIO", "measure", "mirror", "report_lines", "setup"]

TARGET_RATIO = 1.2
BLOCK = "mirror-bench"
TITLE = "## The mirror flow against the core (W1, both directions)"


def _prefect_home(work: Path) -> None:
    """Prefect reads its settings when first imported: point them at ``work`` first."""
    os.environ.setdefault("PREFECT_HOME", str(work / "prefect-home"))
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")


def _save_block(bucket: str, endpoint: str) -> None:
    from t4flows import T4BucketBlock

    T4BucketBlock(uri=f"s3://{bucket}", endpoint_url=endpoint, path_style=True).save(
        BLOCK, overwrite=True
    )


def _heartbeat(on: bool) -> Any:
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    return temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: 180 if on else None})


def setup(work: Path, bucket: str, endpoint: str) -> str:
    """Prefect on a temporary home, its API started, the bucket's block saved: the block's
    location prefix."""
    _prefect_home(work)
    from prefect import flow

    with _heartbeat(False):
        flow(name="warm-up")(lambda: None)()
    _save_block(bucket, endpoint)
    return f"t4-bucket/{BLOCK}"


def mirror(source: str, dest: str, heartbeat: bool = False) -> int:
    """Run ``mirror_directory`` in this process: the number of files transferred."""
    from flows.mirror_directory import mirror_directory

    with _heartbeat(heartbeat):
        return len(mirror_directory(source, dest, report_key=None)["transferred"])


def _alternating(
    runners: dict[str, Callable[[int], int]], reps: int, expected: int
) -> dict[str, list[float]]:
    """Seconds of each runner in each of ``reps`` rounds, the order reversed every round."""
    times: dict[str, list[float]] = {name: [] for name in runners}
    for rep in range(reps):
        order = list(runners) if rep % 2 == 0 else list(reversed(runners))
        for name in order:
            t0 = time.perf_counter()
            moved = runners[name](rep)
            times[name].append(time.perf_counter() - t0)
            if moved != expected:
                raise RuntimeError(f"{name} rep {rep} moved {moved} files, not {expected}")
            print(f"  mirror-bench rep {rep} {name}: {times[name][-1]:.2f}s", flush=True)
    return times


def measure(server: Seaweed, work: Path, bucket: str, src: Path, reps: int) -> dict[str, Any]:
    """Seconds of the core and of ``mirror_directory`` for W1 each way, each to a fresh
    prefix or folder; an empty flow with and without heartbeats; then the mirror's
    no-change re-run through a counting proxy."""
    _prefect_home(work)
    load_before = os.getloadavg()[0]
    from prefect import flow

    from flows.mirror_directory import mirror_directory

    empty = flow(name="empty")(lambda: None)
    started = time.perf_counter()
    empty()
    warm = time.perf_counter() - started
    block = setup(work, bucket, server.endpoint)
    core = T4Client(server, bucket)
    expected = sum(1 for p in src.rglob("*") if p.is_file())

    def flow_only(heartbeat: bool) -> Callable[[int], int]:
        def run(rep: int) -> int:
            with _heartbeat(heartbeat):
                empty()
            return expected

        return run

    up = _alternating(
        {
            "core up": lambda rep: len(core.bucket.put_dir(f"mb/core/{rep}", src).transferred),
            "mirror up": lambda rep: mirror(str(src), f"{block}/mb/mirror/{rep}"),
            "empty flow": flow_only(False),
            "empty flow, heartbeat on": flow_only(True),
        },
        reps,
        expected,
    )
    down_dir = work / "mirror-bench-down"

    def fetched(rep: int) -> int:
        return len(core.bucket.fetch(f"mb/core/{rep}/", down_dir / f"core-{rep}").transferred)

    down = _alternating(
        {
            "core down": fetched,
            "mirror down": lambda rep: mirror(
                f"{block}/mb/core/{rep}", str(down_dir / f"mirror-{rep}")
            ),
        },
        reps,
        expected,
    )
    shutil.rmtree(down_dir, ignore_errors=True)
    core.bucket.close()

    with CountingProxy(server.endpoint) as proxy:
        _save_block(bucket, proxy.endpoint)
        proxy.counts.clear()
        t0 = time.perf_counter()
        with _heartbeat(False):
            again = mirror_directory(str(src), f"{block}/mb/mirror/0")
        rerun_seconds = time.perf_counter() - t0
        counts = dict(proxy.counts)
    _save_block(bucket, server.endpoint)
    listings = counts.pop("listing", 0)
    return {
        "load": (load_before, os.getloadavg()[0]),
        "prefect_start_seconds": warm,
        "times": {**up, **down},
        "rerun": {
            "listings": listings,
            "pages": listings + counts.pop("listing-page", 0),
            "other_requests": sum(counts.values()),
            "transferred": len(again["transferred"]),
            "seconds": rerun_seconds,
        },
    }


def report_lines(result: dict[str, Any], reps: int, command: str = "make bench") -> list[str]:
    """The RESULTS.md section."""
    times, rerun = result["times"], result["rerun"]
    m = {name: statistics.median(values) for name, values in times.items()}

    def spread(name: str) -> str:
        return f"{m[name]:.2f} ({min(times[name]):.2f}-{max(times[name]):.2f})"

    rows = []
    for way, core_name in (("up", "put_dir"), ("down", "fetch")):
        core_s, mirror_s = m[f"core {way}"], m[f"mirror {way}"]
        ratio = mirror_s / core_s
        verdict = "met" if ratio <= TARGET_RATIO else "NOT met"
        rows.append(
            f"| {way} | {core_name} {spread(f'core {way}')} | {spread(f'mirror {way}')} | "
            f"{ratio:.2f} | "
            f"{(mirror_s - m['empty flow']) / core_s:.2f} | <= {TARGET_RATIO} ({verdict}) |"
        )
    return [
        TITLE,
        "",
        f"Command: `{command}`, {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC.",
        "",
        "`mirror_directory` (one chunk task of up to 2,000 files, the default concurrency, "
        "on Prefect's local API, flow-run heartbeats off) against the core (`Bucket.put_dir` up, "
        "`Bucket.fetch` down), W1 to a fresh prefix or folder each, alternating; medians of "
        f"{reps}. Prefect's API was started before timing "
        f"({result['prefect_start_seconds']:.0f} s, not counted). The machine's 1-minute load "
        f"average was {result['load'][0]:.1f} before and {result['load'][1]:.1f} after (2 "
        "cores; other jobs may run alongside): each time is a median (lowest-highest).",
        "",
        "| direction | core s | mirror s | mirror/core | (mirror - empty flow)/core | target |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
        f"An empty flow run (no tasks) costs {m['empty flow']:.2f} s with heartbeats off and "
        f"{m['empty flow, heartbeat on']:.2f} s with them on (Prefect's default, 180 s): a "
        "sync flow run joins its heartbeat thread, which sleeps in 1 s steps, so every run "
        "pays 0-1 s more. Where no worker watches for crashed runs, turn them off around the "
        "call: `with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None})` "
        "(the environment variable cannot say None); an async flow does not join the thread.",
        "",
        "The mirror's no-change re-run, every request counted by the proxy: "
        f"{rerun['listings']} listing of the destination ({rerun['pages']} pages), "
        f"{rerun['other_requests']} other requests, {rerun['transferred']} files transferred, "
        f"{rerun['seconds']:.2f} s (the source folder is walked, not listed).",
        "",
    ]


def main(argv: list[str] | None = None) -> None:
    """Run the mirror benchmark alone and rewrite its section of ``bench/RESULTS.md``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args(argv)
    with bench_server("t4bench-mirror-") as (server, work):
        result = measure(server, work, BUCKET, make_w1(work / "w1"), args.reps)
    command = f".venv/bin/python -m bench.mirror_bench --reps {args.reps}"
    section = "\n".join(report_lines(result, args.reps, command))
    text = RESULTS.read_text(encoding="utf-8")
    start = text.find("## The mirror flow against the core")
    end = text.find("\n## ", start + 1)
    if start < 0 or end < 0:
        raise SystemExit(f"no mirror section in {RESULTS}; run make bench")
    RESULTS.write_text(text[:start] + section + text[end + 1 :], encoding="utf-8")
    print(section)


if __name__ == "__main__":
    main()
