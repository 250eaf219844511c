"""The main job, end to end on embedded defaults: no S3, no server to start.

1. generate a small sample data set (tables, text, JSON; a manifest and sidecars);
2. ``annotate_and_publish`` it into a local-folder bucket (one file lacks a required field
   and is reported, not published);
3. ``search_then_fetch`` with a structured query;
4. ``mirror_directory`` the bucket to a folder, twice: the second run transfers nothing.

Run it with ``make demo`` or ``python -m flows.demo [OUTPUT_DIR]`` (default
``./demo-output``). Prefect's ephemeral API starts on first use; its home is
``OUTPUT_DIR/prefect-home`` unless ``PREFECT_HOME`` is set.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["main", "make_sample", "prepare_prefect"]

QUERY = "user_meta.owner:'ada' AND user_meta.rows:[2 TO 1000]"


def make_sample(folder: Path) -> None:
    """Write the sample data set: three tables, two notes, a manifest and two sidecars.

    Example:
        >>> make_sample(Path("sample"))  # doctest: +SKIP
    """
    import pandas as pd

    (folder / "tables").mkdir(parents=True)
    (folder / "notes").mkdir()
    cities = pd.DataFrame({"city": ["Oslo", "Lima", "Pune"], "population": [709, 10_883, 7_764]})
    cities.to_csv(folder / "tables/cities.csv", index=False)
    weather = pd.DataFrame({"day": pd.date_range("2024-01-01", periods=5), "mm": [0, 2.5, 1, 0, 7]})
    weather.to_parquet(folder / "tables/rain.parquet")
    pd.DataFrame({"x": range(2000)}).to_csv(folder / "tables/big.tsv", sep="\t", index=False)
    (folder / "notes/readme.md").write_text("# Sample lake\nCities and rain, for the demo.\n")
    (folder / "notes/hammer.json").write_text(json.dumps({"name": "thor", "weight_kg": 42}))
    sidecar = {"owner": "ada", "license": "CC-BY-4.0"}
    (folder / "tables/cities.csv.meta.json").write_text(json.dumps(sidecar))
    (folder / "tables/rain.parquet.meta.json").write_text(json.dumps({"owner": "grace"}))
    (folder / "manifest.csv").write_text(
        "path,owner,topic\n"
        "tables/cities.csv,,geography\n"
        "tables/big.tsv,ada,numbers\n"
        "notes/hammer.json,,mythology\n"  # no owner anywhere: reported, not published
        "notes/readme.md,ada,docs\n"
    )


def _say(title: str, lines: list[str]) -> None:
    print(f"\n== {title}")
    for line in lines:
        print(f"   {line}")


def _show_publish(result: dict[str, Any]) -> None:
    lines = [f"published  {k}" for k in result["published"]]
    lines += [f"unchanged  {k}" for k in result["unchanged"]]
    lines += [f"NOT published {f}: {'; '.join(p)}" for f, p in result["invalid"].items()]
    _say("annotate_and_publish: sample/ -> lake, prefix published/", lines)


def _show_mirror(run: int, result: dict[str, Any]) -> None:
    _say(
        f"mirror_directory run {run}: lake -> mirror/",
        [
            f"listed {result['listed']['source']} objects in the bucket, "
            f"{result['listed']['destination']} files in the folder",
            f"transferred {len(result['transferred'])} files ({result['bytes']:,} bytes), "
            f"unchanged {len(result['skipped'])}, failed {len(result['failed'])}",
        ],
    )


def run(out: Path) -> dict[str, Any]:
    """Run the whole story in ``out`` and return what each step returned."""
    from flows.annotate_and_publish import annotate_and_publish
    from flows.mirror_directory import mirror_directory
    from flows.search_then_fetch import search_then_fetch

    for name in ("sample", "lake", "fetched", "mirror"):
        shutil.rmtree(out / name, ignore_errors=True)
    make_sample(out / "sample")
    (out / "lake").mkdir()
    lake = (out / "lake").resolve().as_uri()
    published = annotate_and_publish(
        str(out / "sample"),
        lake,
        prefix="published/",
        required=["owner"],
        manifest=str(out / "sample/manifest.csv"),
    )
    _show_publish(published)
    found = search_then_fetch(lake, QUERY, str(out / "fetched"))
    _say(f"search_then_fetch: {QUERY}", [f"{p}" for p in found["paths"]] or ["(no hits)"])
    first = mirror_directory(lake, str(out / "mirror"))
    _show_mirror(1, first)
    second = mirror_directory(lake, str(out / "mirror"))
    _show_mirror(2, second)
    return {"publish": published, "search": found, "mirror": [first, second]}


def prepare_prefect(out: Path) -> None:
    """Settings for the demo's Prefect, unless already set: a home under ``out``, quiet logs,
    and telemetry off (the SDK's ``DO_NOT_TRACK`` and the server's analytics). Prefect reads
    them when it is first imported, so this runs before any import of it."""
    os.environ.setdefault("PREFECT_HOME", str(out / "prefect-home"))
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # A fresh home migrates its database first, which takes a while on a small machine.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")


def main(argv: list[str] | None = None) -> int:
    """``python -m flows.demo [OUTPUT_DIR]``"""
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0] if args else "demo-output").resolve()
    out.mkdir(parents=True, exist_ok=True)
    prepare_prefect(out)
    started = time.monotonic()
    print(f"t4flows demo in {out} (Prefect home {os.environ['PREFECT_HOME']})")
    result = run(out)
    quiet = not result["mirror"][1]["transferred"]
    print(
        f"\nDone in {time.monotonic() - started:.0f}s; the second mirror "
        f"{'transferred nothing' if quiet else 'transferred files (unexpected!)'}."
    )
    return 0 if quiet else 1


if __name__ == "__main__":
    sys.exit(main())
