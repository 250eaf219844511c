"""annotate_and_publish and search_then_fetch end to end, the demo's data set, the CLIs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

import t4
from flows import annotate_and_publish as annotate_module
from flows import mirror_directory as mirror_module
from flows import search_then_fetch as search_module
from flows.annotate_and_publish import annotate_and_publish
from flows.demo import make_sample
from flows.search_then_fetch import search_then_fetch

ROOT = Path(__file__).resolve().parents[2]


def _publish(tmp_path: Path, bucket_uri: str) -> dict:  # type: ignore[type-arg]
    return annotate_and_publish(
        str(tmp_path / "sample"),
        bucket_uri,
        "pub",
        required=["owner"],
        manifest=str(tmp_path / "sample/manifest.csv"),
        defaults={"project": "demo"},
    )


@pytest.fixture
def published(tmp_path: Path, bucket_uri: str) -> dict:  # type: ignore[type-arg]
    make_sample(tmp_path / "sample")
    return _publish(tmp_path, bucket_uri)


def test_annotate_and_publish(published, bucket_uri, raw, tmp_path):  # type: ignore[no-untyped-def]
    assert published["invalid"] == {"notes/hammer.json": ["missing: owner"]}
    assert published["published"] == [
        "pub/notes/readme.md",
        "pub/tables/big.tsv",
        "pub/tables/cities.csv",
        "pub/tables/rain.parquet",
    ]
    assert raw.listing() == published["published"]  # no sidecar, no manifest, no invalid file
    with t4.Bucket(bucket_uri) as b:
        cities = b.get_meta("pub/tables/cities.csv")["user_meta"]
        rain = b.get_meta("pub/tables/rain.parquet")["user_meta"]
    assert cities["owner"] == "ada" and cities["topic"] == "geography"  # sidecar + manifest
    assert cities["rows"] == 3 and cities["columns"] == ["city", "population"]
    assert cities["media_type"] == "text/csv" and cities["project"] == "demo"
    assert len(cities["sha256"]) == 64 and cities["size"] == len(raw.read("pub/tables/cities.csv"))
    assert rain["owner"] == "grace" and rain["rows"] == 5 and "schema" in rain
    again = _publish(tmp_path, bucket_uri)
    assert again["published"] == [] and len(again["unchanged"]) == 4


@pytest.mark.parametrize("backend_kind", ["local"], indirect=True)
def test_search_then_fetch(published, bucket_uri, tmp_path):  # type: ignore[no-untyped-def]
    dest = tmp_path / "hits"
    query = "user_meta.owner:'ada' AND user_meta.rows:[2 TO 1000]"
    first = search_then_fetch(bucket_uri, query, str(dest))
    assert first["paths"] == [str(dest / "pub/tables/cities.csv")]
    assert first["fetched"] == ["pub/tables/cities.csv"]
    assert (dest / "pub/tables/cities.csv").read_text().startswith("city,population")
    second = search_then_fetch(bucket_uri, query, str(dest))
    assert second["fetched"] == [] and second["present"] == ["pub/tables/cities.csv"]


@pytest.mark.parametrize("module", [mirror_module, annotate_module, search_module])
def test_each_flow_has_a_command_line(module, capsys):  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit) as done:
        module.main(["--help"])
    assert done.value.code == 0
    assert "--dask" in capsys.readouterr().out


def test_mirror_help_names_the_prefect_start_up_cost(capsys):  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit):
        mirror_module.main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "temporary local API" in text and "PREFECT_API_URL" in text
    assert "--allow-empty-source" in text


def test_mirror_command_line_runs(tmp_path, capsys):  # type: ignore[no-untyped-def]
    (tmp_path / "src").mkdir()
    (tmp_path / "src/a.txt").write_text("a")
    (tmp_path / "lake").mkdir()
    argv = [str(tmp_path / "src"), (tmp_path / "lake").as_uri(), "--exclude", "*.tmp"]
    assert mirror_module.main(argv) == 0
    assert json.loads(capsys.readouterr().out)["transferred"] == ["a.txt"]


def test_prefect_telemetry_is_off_in_the_tests_and_the_demo(prefect_harness, tmp_path):  # type: ignore[no-untyped-def]
    """The SDK's (``DO_NOT_TRACK``) and the server's (``PREFECT_SERVER_ANALYTICS_ENABLED``)."""
    from prefect._internal.analytics import is_telemetry_enabled

    assert not is_telemetry_enabled()
    served = requests.get(f"{prefect_harness}/admin/settings", timeout=30).json()
    assert served["server"]["analytics_enabled"] is False
    unset = {"DO_NOT_TRACK", "PREFECT_SERVER_ANALYTICS_ENABLED", "PREFECT_HOME"}
    env = {k: v for k, v in os.environ.items() if k not in unset}
    code = (
        "import sys; from pathlib import Path; from flows.demo import prepare_prefect;"
        "prepare_prefect(Path(sys.argv[1]));"
        "from prefect._internal.analytics import is_telemetry_enabled;"
        "from prefect.settings import get_current_settings;"
        "print(is_telemetry_enabled(), get_current_settings().server.analytics_enabled)"
    )
    demo = subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=True)  # fmt: skip
    assert demo.stdout.split() == ["False", "False"], demo.stderr


def test_manifest_columns_are_what_help_and_readme_say(tmp_path):  # type: ignore[no-untyped-def]
    from t4flows.annotate import MANIFEST_FORMAT, annotate_chunk, read_manifest

    command = [sys.executable, "-m", "flows.annotate_and_publish", "--help"]
    shown = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    said = " ".join(MANIFEST_FORMAT.split())
    assert said in " ".join(shown.stdout.split())
    assert said in " ".join((ROOT / "README.md").read_text().split())
    (tmp_path / "src" / "sub").mkdir(parents=True)
    (tmp_path / "src" / "sub" / "a.txt").write_text("hello")
    (tmp_path / "src" / "sub" / "a.txt.meta.json").write_text('{"topic": "sidecar"}')
    (tmp_path / "m.csv").write_text("path,owner,topic,rows\nsub/a.txt,ada,row,\n")
    (tmp_path / "m.json").write_text('{"sub/a.txt": {"owner": "ada", "topic": "row", "n": 2}}')
    (tmp_path / "l.json").write_text('[{"path": "sub/a.txt", "owner": "ada", "topic": "row"}]')
    assert read_manifest(tmp_path / "m.csv") == {"sub/a.txt": {"owner": "ada", "topic": "row"}}
    assert read_manifest(tmp_path / "m.json")["sub/a.txt"]["n"] == 2  # JSON keeps types
    assert read_manifest(tmp_path / "l.json") == read_manifest(tmp_path / "m.csv")
    (record,) = annotate_chunk(
        str(tmp_path / "src"), ["sub/a.txt"], "p/", manifest=read_manifest(tmp_path / "m.csv"),
        defaults={"owner": "default", "license": "CC0", "size": -1},
    )  # fmt: skip
    meta = record["meta"]
    assert (meta["license"], meta["owner"], meta["topic"], meta["size"]) == (
        "CC0",
        "ada",
        "sidecar",
        5,
    )
