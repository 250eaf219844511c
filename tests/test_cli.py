"""The installed ``t4`` command, run in a subprocess against a local-folder bucket and moto's
S3 server. Results are checked through ``os`` and plain boto3, not through t4."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest
import requests
from cli import T4, assert_one_line_error, on_a_terminal, t4
from servers import S3Server

COMMANDS = ["ls", "fetch", "put", "put-dir", "cat", "meta", "rm", "rm-dir", "search", "index",
            "config", "catalog"]  # fmt: skip


# -- help and usage ----------------------------------------------------------------------
@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_an_example(command: str) -> None:
    result = t4(command, "--help")
    assert result.returncode == 0
    assert "example:" in result.stdout and f"t4 {command} " in result.stdout
    assert "s3://BUCKET/KEY" in result.stdout  # how locations are written


def test_top_level_help_lists_every_command() -> None:
    result = t4("--help")
    assert result.returncode == 0
    for command in COMMANDS:
        assert f"    {command} " in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["frobnicate"],
        ["ls", "lake"],  # a folder needs --bucket
        ["cat", "--bucket", "lake", "s3://b/k"],  # both forms at once
        ["cat", "s3:///key"],
        ["put", "foo.csv"],
        ["put", "foo.csv", "s3://b/k", "--meta", "{not json"],
        ["put", "foo.csv", "s3://b/k", "--meta", "[1, 2]"],
        ["search", "s3://b"],
        ["search", "--bucket", "lake", "thor", "odin"],
        ["config", "navigator_url", "default_concurrency"],  # NAME alone: one at a time
        ["cat", "--rows", "0", "s3://b/k"],
    ],
)
def test_usage_errors_exit_2(args: list[str], tmp_path: Path) -> None:
    result = t4(*args, cwd=tmp_path)
    assert result.returncode == 2, result
    assert "usage:" in result.stderr and "Traceback" not in result.stderr


# -- a local-folder bucket ---------------------------------------------------------------
def test_put_ls_cat_meta_on_a_folder(lake: Path, csv_file: Path) -> None:
    result = t4(
        "put", str(csv_file), "--bucket", str(lake), "heroes/", "--meta", '{"team": "asgard"}'
    )
    assert result.returncode == 0, result.stderr
    assert "heroes/foo.csv" in result.stdout
    assert (lake / "heroes" / "foo.csv").read_text() == csv_file.read_text()

    listing = t4("ls", "-b", str(lake))
    assert listing.returncode == 0
    assert listing.stdout.split()[-2:] == [str(csv_file.stat().st_size), "heroes/foo.csv"]

    table = t4("cat", "-b", str(lake), "heroes/foo.csv")
    assert table.returncode == 0
    assert (
        "name" in table.stdout and "thor" in table.stdout and "[2 rows x 2 columns]" in table.stdout
    )

    meta = t4("meta", "-b", str(lake), "heroes/foo.csv")
    assert json.loads(meta.stdout) == {"user_meta": {"team": "asgard"}}


def test_json_output_parses(lake: Path, csv_file: Path) -> None:
    put = t4("--json", "put", str(csv_file), "-b", str(lake), "foo.csv")
    assert json.loads(put.stdout)["key"] == "foo.csv"
    ls = t4("ls", "--json", "-b", str(lake))
    [entry] = json.loads(ls.stdout)
    assert entry["key"] == "foo.csv" and entry["size"] == csv_file.stat().st_size
    cat = t4("cat", "--json", "--rows", "1", "-b", str(lake), "foo.csv")
    assert json.loads(cat.stdout) == {
        "rows": 2, "columns": ["name", "power"], "head": [{"name": "thor", "power": 9}]
    }  # fmt: skip


def test_cat_prints_each_kind(lake: Path) -> None:
    (lake / "d.json").write_text('{"a": [1, 2]}')
    (lake / "t.txt").write_text("hello\nworld\n")
    (lake / "b.bin").write_bytes(bytes(range(40)))
    assert json.loads(t4("cat", "-b", str(lake), "d.json").stdout) == {"a": [1, 2]}
    assert t4("cat", "-b", str(lake), "t.txt").stdout == "hello\nworld\n"
    summary = t4("cat", "-b", str(lake), "b.bin").stdout
    assert "<40 bytes: 00 01 02" in summary and "..." in summary
    raw = subprocess.run([T4, "cat", "--raw", "-b", str(lake), "b.bin"], capture_output=True)
    assert raw.returncode == 0 and raw.stdout == bytes(range(40))


def test_meta_set_replaces_user_meta(lake: Path, tmp_path: Path) -> None:
    (tmp_path / "t.txt").write_text("x")
    assert t4("put", str(tmp_path / "t.txt"), "-b", str(lake), "t.txt").returncode == 0
    result = t4("meta", "-b", str(lake), "t.txt", "--set", '{"stage": "clean"}')
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["user_meta"] == {"stage": "clean"}
    assert (lake / "t.txt").read_text() == "x"


def test_rm_and_rm_dir(lake: Path) -> None:
    for key in ["a.txt", "d/x.txt", "d/e/y.txt", "keep.txt"]:
        (lake / key).parent.mkdir(parents=True, exist_ok=True)
        (lake / key).write_text(key)
    assert t4("rm", "-b", str(lake), "a.txt").returncode == 0
    assert not (lake / "a.txt").exists()
    assert_one_line_error(t4("rm", "-b", str(lake), "a.txt"), "a.txt")
    assert t4("rm", "--missing-ok", "-b", str(lake), "a.txt").returncode == 0
    gone = t4("rm-dir", "--json", "-b", str(lake), "d")
    assert sorted(json.loads(gone.stdout)["deleted"]) == ["d/e/y.txt", "d/x.txt"]
    assert (lake / "keep.txt").exists() and not (lake / "d" / "x.txt").exists()


def test_rm_dir_of_the_root_needs_opt_in(lake: Path) -> None:
    (lake / "keep.txt").write_text("x")
    assert_one_line_error(t4("rm-dir", "-b", str(lake)), "--whole-bucket")
    assert (lake / "keep.txt").exists()
    assert t4("rm-dir", "-q", "--whole-bucket", "-b", str(lake)).returncode == 0
    assert not (lake / "keep.txt").exists()


def test_fetch_and_put_dir_between_folders(lake: Path, tmp_path: Path) -> None:
    src = tmp_path / "stuff"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("a")
    (src / "sub" / "b.txt").write_text("b")
    put = t4("put-dir", str(src), "-b", str(lake), "stuff", "--meta", '{"origin": "unknown"}')
    assert put.returncode == 0 and "2 transferred" in put.stdout
    again = t4(
        "put-dir", "--json", str(src), "-b", str(lake), "stuff", "--meta", '{"origin": "unknown"}'
    )
    assert sorted(json.loads(again.stdout)["skipped"]) == ["stuff/a.txt", "stuff/sub/b.txt"]
    out = tmp_path / "out"
    fetched = t4("fetch", "-b", str(lake), "stuff", str(out))
    assert fetched.returncode == 0, fetched.stderr
    assert (out / "sub" / "b.txt").read_text() == "b"


def test_quiet_prints_no_confirmations(lake: Path, csv_file: Path) -> None:
    result = t4("put", "-q", str(csv_file), "-b", str(lake), "foo.csv")
    assert result.returncode == 0 and result.stdout == "" and result.stderr == ""


def test_index_and_search(lake: Path) -> None:
    (lake / "hammer.json").write_text('{"owner": "thor"}')
    (lake / "spear.json").write_text('{"owner": "odin"}')
    indexed = t4("index", "--json", "-b", str(lake))
    assert indexed.returncode == 0, indexed.stderr
    assert json.loads(indexed.stdout)["added"] == 2
    found = t4("search", "-b", str(lake), "thor")
    assert found.returncode == 0 and found.stdout.split() == ["hammer.json"]
    hits = json.loads(t4("search", "--json", "-b", str(lake), "key:spear.json").stdout)
    assert [h["key"] for h in hits] == ["spear.json"]
    assert_one_line_error(t4("search", "-b", str(lake), "nosuchfield:x"), "nosuchfield")


def test_config_set_show_and_remove() -> None:
    assert t4("config").returncode == 0
    set_ = t4("config", "navigator_url=https://catalog.example.com")
    assert set_.stdout == "navigator_url = https://catalog.example.com\n"
    assert json.loads(t4("config", "--json").stdout) == {
        "navigator_url": "https://catalog.example.com"
    }
    path = Path(os.environ["T4_CONFIG_DIR"]) / "config.json"
    assert json.loads(path.read_text()) == {"navigator_url": "https://catalog.example.com"}
    assert t4("config", "navigator_url=").stdout == ""
    assert json.loads(path.read_text()) == {}
    assert_one_line_error(t4("config", "colour=blue"), "colour")


# -- errors ------------------------------------------------------------------------------
def test_errors_are_one_line_and_traceback_only_with_debug(lake: Path) -> None:
    assert_one_line_error(t4("cat", "-b", str(lake), "missing.json"), "missing.json")
    debug = t4("cat", "--debug", "-b", str(lake), "missing.json")
    assert debug.returncode == 1
    assert "Traceback" in debug.stderr and "KeyNotFoundError" in debug.stderr
    assert debug.stderr.rstrip().splitlines()[-1].startswith("t4: error: ")


def test_local_file_errors_exit_1(lake: Path, tmp_path: Path) -> None:
    assert_one_line_error(t4("put", str(tmp_path / "nope.csv"), "-b", str(lake), "x.csv"))
    assert_one_line_error(t4("ls", "-b", str(tmp_path / "no-such-folder")))


# -- S3 (moto) ---------------------------------------------------------------------------
def test_s3_round_trip(
    s3_env: S3Server, s3_bucket_uri: str, csv_file: Path, tmp_path: Path
) -> None:
    client, name = s3_env.client(), s3_bucket_uri.removeprefix("s3://")
    put = t4("put", str(csv_file), f"{s3_bucket_uri}/raw/foo.csv", "--meta", '{"k": "v"}')
    assert put.returncode == 0, put.stderr
    head = client.head_object(Bucket=name, Key="raw/foo.csv")
    assert json.loads(head["Metadata"]["helium"]) == {"user_meta": {"k": "v"}}
    assert t4("ls", f"{s3_bucket_uri}/raw/").stdout.split()[-1] == "raw/foo.csv"
    assert t4("ls", f"{s3_bucket_uri}/other/").stdout == ""
    assert "thor" in t4("cat", f"{s3_bucket_uri}/raw/foo.csv").stdout
    assert json.loads(t4("meta", f"{s3_bucket_uri}/raw/foo.csv").stdout)["user_meta"] == {"k": "v"}
    out = tmp_path / "out"
    assert t4("fetch", f"{s3_bucket_uri}/raw", str(out)).returncode == 0
    assert (out / "foo.csv").read_bytes() == csv_file.read_bytes()
    assert t4("rm-dir", "-q", f"{s3_bucket_uri}/raw/").returncode == 0
    assert client.list_objects_v2(Bucket=name).get("KeyCount") == 0


def test_s3_put_dir_and_bucket_option(s3_env: S3Server, s3_bucket_uri: str, tmp_path: Path) -> None:
    src = tmp_path / "stuff"
    src.mkdir()
    for i in range(3):
        (src / f"{i}.txt").write_text(str(i))
    result = t4("put-dir", "--json", str(src), "--bucket", s3_bucket_uri, "stuff")
    assert sorted(json.loads(result.stdout)["transferred"]) == [f"stuff/{i}.txt" for i in range(3)]
    listed = s3_env.client().list_objects_v2(Bucket=s3_bucket_uri.removeprefix("s3://"))
    assert sorted(o["Key"] for o in listed["Contents"]) == [f"stuff/{i}.txt" for i in range(3)]


def test_s3_missing_key_and_bucket(s3_env: S3Server, s3_bucket_uri: str) -> None:
    assert_one_line_error(t4("cat", f"{s3_bucket_uri}/nope.json"), "nope.json")
    assert_one_line_error(t4("ls", "s3://no-such-bucket-t4"), "no-such-bucket-t4")


def test_endpoint_url_option(s3_env: S3Server, s3_bucket_uri: str, csv_file: Path) -> None:
    env = os.environ.copy()
    del env["AWS_ENDPOINT_URL"]
    uri = f"{s3_bucket_uri}/foo.csv"
    result = t4("put", "--endpoint-url", s3_env.endpoint, str(csv_file), uri, env=env)
    assert result.returncode == 0, result.stderr
    assert (
        s3_env.client().head_object(Bucket=s3_bucket_uri[5:], Key="foo.csv")["ContentLength"]
        == csv_file.stat().st_size
    )


def test_profile_option(s3_env: S3Server, s3_bucket_uri: str) -> None:
    env = os.environ.copy()
    key_id, secret = env.pop("AWS_ACCESS_KEY_ID"), env.pop("AWS_SECRET_ACCESS_KEY")
    Path(env["AWS_SHARED_CREDENTIALS_FILE"]).write_text(
        f"[lake]\naws_access_key_id = {key_id}\naws_secret_access_key = {secret}\n"
    )
    assert_one_line_error(t4("ls", s3_bucket_uri, env=env), "credentials")
    assert t4("ls", "--profile", "lake", s3_bucket_uri, env=env).returncode == 0


# -- progress bars and the catalog -------------------------------------------------------
def _put_dir_stderr(src: Path, lake: Path, *extra: str, tty: bool) -> str:
    args = ["put-dir", *extra, str(src), "-b", str(lake), "/"]
    if tty:
        return on_a_terminal(*args)
    env = os.environ.copy()
    env.pop("TQDM_DISABLE", None)
    return t4(*args, env=env).stderr


@pytest.mark.parametrize(("tty", "quiet", "bar"), [(True, False, True), (True, True, False),
                                                   (False, False, False)])  # fmt: skip
def test_progress_bar_only_on_a_terminal(tmp_path: Path, tty: bool, quiet: bool, bar: bool) -> None:
    src, lake = tmp_path / "src", tmp_path / "lake"
    src.mkdir()
    lake.mkdir()
    for i in range(30):  # enough files for the engine to show a bar
        (src / f"{i}.txt").write_text(str(i))
    stderr = _put_dir_stderr(src, lake, *(["-q"] if quiet else []), tty=tty)
    assert ("put_dir" in stderr and "%" in stderr) is bar, stderr


def test_catalog_serve(lake: Path) -> None:
    (lake / "hammer.json").write_text('{"owner": "thor"}')
    proc = subprocess.Popen([T4, "catalog", "serve", "--json", "-b", str(lake), "--port", "0"],
                            env=os.environ.copy(), stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert proc.stdout is not None
        url = json.loads(proc.stdout.readline())["url"]
        document = requests.get(f"{url}/config.json", timeout=10).json()
        assert document["federations"][0]["buckets"][0]["name"] == "lake"
        answer = requests.get(f"{url}/lake/_search", params={"q": "thor"}, timeout=10).json()
        assert [h["_source"]["key"] for h in answer["hits"]["hits"]] == ["hammer.json"]
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
