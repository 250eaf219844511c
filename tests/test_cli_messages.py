"""What the ``t4`` command says: hints in its own words (commands and flags, never the Python
API's), the retry advice only where a retry can help, and the small confirmations."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli import assert_one_line_error, on_a_terminal, t4
from proxy import FaultProxy
from servers import S3Server

#: The Python API's words, which a command-line user cannot type.
API_WORDS = ("allow_root", "keys()", "keys(prefix)", "put_dir", "delete_dir", "set_meta",
             "index()", "fetch(")  # fmt: skip


def said(result: subprocess.CompletedProcess[str]) -> str:
    text = result.stdout + result.stderr
    for word in API_WORDS:
        assert word not in text, f"{word!r} in {text!r}"
    return text


# -- item 13: the CLI speaks CLI ----------------------------------------------------------
def test_hints_name_commands_and_flags(lake: Path, tmp_path: Path) -> None:
    (lake / "d").mkdir()
    (lake / "d" / "x.txt").write_text("x")
    folder = tmp_path / "folder"
    folder.mkdir()
    cases = [
        (["rm-dir", "-b", str(lake)], "--whole-bucket"),
        (["put", str(folder), "-b", str(lake), "f.txt"], "t4 put-dir"),
        (["meta", "-b", str(lake), "missing.json"], "t4 ls"),
        (["cat", "-b", str(lake), "missing.json"], "t4 ls"),
        (["fetch", "-b", str(lake), "nothing/", str(tmp_path / "out")], "t4 ls"),
        (["meta", "-b", str(lake), "d/"], "t4 ls"),
        (["rm", "-b", str(lake), "d/"], "t4 rm-dir"),
        (["cat", "-b", str(lake), "d/"], "t4 fetch"),
    ]
    for args, words in cases:
        result = t4(*args)
        assert_one_line_error(result, words)
        said(result)
    assert (lake / "d" / "x.txt").exists()


def test_summaries_name_the_command(lake: Path, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("a")
    assert said(t4("put-dir", str(src), "-b", str(lake), "p")).startswith("t4 put-dir ")
    assert said(t4("fetch", "-b", str(lake), "p", str(tmp_path / "o"))).startswith("t4 fetch ")
    assert said(t4("rm-dir", "-b", str(lake), "p")).startswith("t4 rm-dir ")


def test_no_retry_advice_when_a_retry_cannot_help(lake: Path, tmp_path: Path) -> None:
    (lake / "d").mkdir()
    for name in ("a.txt", "b.txt"):
        (lake / "d" / name).write_text(name)
    out = tmp_path / "out"
    (out / "a.txt").mkdir(parents=True)  # a folder where a file must go: fails every time
    result = t4("fetch", "-b", str(lake), "d", str(out))
    assert_one_line_error(result, "a.txt", "1 of 2 files failed")
    assert "again" not in said(result)
    assert (out / "b.txt").read_text() == "b.txt"


def test_retry_advice_when_the_failures_were_transient(
    s3_env: S3Server, s3_bucket_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = s3_env.client()
    name = s3_bucket_uri.removeprefix("s3://")
    for key in ("d/a.txt", "d/b.txt"):
        client.put_object(Bucket=name, Key=key, Body=key.encode())
    monkeypatch.setenv("T4_S3_MAX_ATTEMPTS", "2")
    only_a = lambda method, path: method == "GET" and path.endswith("/d/a.txt")  # noqa: E731
    with FaultProxy(s3_env.endpoint, faults=("503",), only=only_a, fail_first=100) as proxy:
        result = t4("fetch", "--endpoint-url", proxy.url, f"{s3_bucket_uri}/d", str(tmp_path))
    assert_one_line_error(result, "d/a.txt", "run it again to retry only what failed")
    said(result)
    assert (tmp_path / "b.txt").read_bytes() == b"d/b.txt"


# -- item 16: small gaps -----------------------------------------------------------------
def test_version() -> None:
    from importlib.metadata import version

    result = t4("--version")
    assert result.returncode == 0 and result.stdout == f"t4 {version('t4flows')}\n"


def test_config_name_prints_one_setting() -> None:
    assert t4("config", "-q", "navigator_url=https://catalog.example.com").returncode == 0
    assert t4("config", "default_concurrency=4").returncode == 0
    one = t4("config", "navigator_url")
    assert one.returncode == 0 and one.stdout == "https://catalog.example.com\n"
    assert json.loads(t4("config", "--json", "default_concurrency").stdout) == {
        "default_concurrency": 4
    }
    assert t4("config", "elastic_search_url").returncode == 1  # known, not set: says so
    assert_one_line_error(t4("config", "elastic_search_url"), "not set", "t4 config")
    assert_one_line_error(t4("config", "colour"), "colour", "navigator_url")


def test_put_of_an_unchanged_file_says_so(lake: Path, csv_file: Path) -> None:
    first = t4("put", str(csv_file), "-b", str(lake), "foo.csv")
    assert first.returncode == 0 and first.stdout.startswith("uploaded ")
    again = t4("put", str(csv_file), "-b", str(lake), "foo.csv")
    assert again.returncode == 0 and again.stdout.startswith("unchanged "), again.stdout
    shown = json.loads(t4("put", "--json", str(csv_file), "-b", str(lake), "foo.csv").stdout)
    assert shown["skipped"] is True and shown["key"] == "foo.csv"
    csv_file.write_text("name\nodin\n")
    changed = json.loads(t4("put", "--json", str(csv_file), "-b", str(lake), "foo.csv").stdout)
    assert changed["skipped"] is False
    assert (lake / "foo.csv").read_text() == "name\nodin\n"


def test_rm_missing_ok_says_nothing_was_there(lake: Path) -> None:
    gone = t4("rm", "--missing-ok", "-b", str(lake), "nope.txt")
    assert (
        gone.returncode == 0
        and "nope.txt is not in" in gone.stdout
        and "deleted" not in gone.stdout
    )
    assert json.loads(t4("rm", "--json", "--missing-ok", "-b", str(lake), "nope.txt").stdout) == {
        "deleted": []
    }
    (lake / "here.txt").write_text("x")
    assert t4("rm", "--missing-ok", "-b", str(lake), "here.txt").stdout.startswith("deleted ")
    assert not (lake / "here.txt").exists()


def test_single_file_fetch_times_itself(lake: Path, tmp_path: Path) -> None:
    (lake / "big.bin").write_bytes(os.urandom(8 * 1024 * 1024))
    shown = json.loads(t4("fetch", "--json", "-b", str(lake), "big.bin", str(tmp_path)).stdout)
    assert shown["transferred"] == ["big.bin"] and shown["bytes"] == 8 * 1024 * 1024
    assert shown["seconds"] > 0  # it was 0.0 whatever the time taken


def test_single_large_file_fetch_shows_progress_on_a_terminal(lake: Path, tmp_path: Path) -> None:
    with (lake / "huge.bin").open("wb") as out:
        out.truncate(65 * 1024 * 1024)  # past the size that earns a bar (sparse: cheap)
    stderr = on_a_terminal("fetch", "-b", str(lake), "huge.bin", str(tmp_path / "huge.bin"))
    assert "fetch" in stderr and "%" in stderr, stderr
    assert (tmp_path / "huge.bin").stat().st_size == 65 * 1024 * 1024


def test_a_missing_folder_bucket_is_made_by_the_first_write(tmp_path: Path, csv_file: Path) -> None:
    assert_one_line_error(t4("ls", "-b", "./new-lake", cwd=tmp_path), "does not exist")
    put = t4("put", str(csv_file), "-b", "./new-lake", "foo.csv", cwd=tmp_path)
    assert put.returncode == 0, put.stderr
    assert (tmp_path / "new-lake" / "foo.csv").read_text() == csv_file.read_text()
    assert_one_line_error(t4("ls", "-b", "my-bucket", cwd=tmp_path), "s3://my-bucket")


# -- issue 21 item 3: settings and calls by their command-line names ---------------------
def test_settings_and_calls_are_named_as_flags_and_commands(
    lake: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "aws-config"
    config.write_text("[profile team]\nregion = us-east-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
    (lake / "a.txt").write_text("a")
    registry = tmp_path / "registry"
    cases = [
        (["ls", "s3://some-bucket", "--endpoint-url", "not-a-url"], "(from --endpoint-url)",
         "endpoint_url"),
        (["ls", "s3://some-bucket", "--profile", "nope"], "pass one as --profile", "profile="),
        (["ls", "s3://some-bucket", "--region", "not a region!"], "(from --region)", "region="),
        (["cat", "--bucket", str(lake), "../a.txt"], "no object of the folder bucket",
         "written as a local file"),
        (["package", "browse", "team/none", "-r", str(registry)], "list them with t4 package ls",
         "list_packages"),
    ]  # fmt: skip
    for args, words, python in cases:
        result = t4(*args)
        assert_one_line_error(result, words)
        assert python not in said(result), result.stderr


def test_the_same_errors_in_python_name_arguments_and_calls(
    lake: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the command words as flags and commands, Python words as its own arguments and
    calls: one wording each, chosen where the message is built (t4.surface)."""
    import t4

    config = tmp_path / "aws-config"
    config.write_text("[profile team]\nregion = us-east-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    (lake / "d").mkdir()
    (lake / "d" / "x.txt").write_text("x")
    folder = tmp_path / "folder"
    folder.mkdir()
    b = t4.Bucket(lake)
    cases = [
        (lambda: t4.Bucket("s3://some-bucket", endpoint_url="not-a-url").keys(),
         "(from endpoint_url=)"),
        (lambda: t4.Bucket("s3://some-bucket", profile="nope").keys(), "pass one as profile="),
        (lambda: b.get_bytes("../a.txt"), "no object of the folder bucket"),
        (lambda: t4.Package.browse("team/none", str(tmp_path / "registry")),
         "list_packages(registry)"),
        (lambda: b.delete_dir(""), "pass allow_root=True"),
        (lambda: b.put_file("f.txt", folder), "use put_dir"),
        (lambda: b.get_meta("missing.json"), "keys()"),
        (lambda: b.fetch("nothing/", tmp_path / "out"), "keys()"),
        (lambda: b.get_meta("d/"), "use keys(prefix)"),
        (lambda: b.delete("d/"), "use delete_dir"),
        (lambda: b.deserialize("d/"), "use fetch"),
        (lambda: b.put_dir("p", lake / "d" / "x.txt"), "use put_file"),
    ]  # fmt: skip
    (tmp_path / "registry").mkdir()
    for call, words in cases:
        with pytest.raises(t4.T4Error) as err:
            call()
        assert words in str(err.value), str(err.value)
        assert "t4 " not in str(err.value) and "--" not in str(err.value), str(err.value)
    assert (lake / "d" / "x.txt").exists()


def _every_command(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[str, ...]]:
    """Every command path of the parser (``()``, ``("ls",)``, ``("package", "push")``...),
    read from its subparsers: a command added later is walked too."""
    yield path
    for action in parser._actions:  # argparse has no public walk of its subparsers
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _every_command(sub, (*path, name))


def test_every_help_ends_with_examples_of_itself() -> None:
    """Issue 21 item 3: each ``--help``, of every command and subcommand (t4 package *,
    t4 catalog included), ends with its examples, each one a t4 command line."""
    from t4.cli._parser import build_parser

    paths = list(_every_command(build_parser()))
    assert ("package", "push") in paths and ("catalog",) in paths
    for path in paths:
        shown = t4(*path, "--help")
        assert shown.returncode == 0, shown.stderr
        blocks = shown.stdout.rstrip().split("\n\n")
        title, *lines = blocks[-1].splitlines()
        assert title in ("example:", "examples:") and lines, (path, blocks[-1])
        command = " ".join(("t4", *path))
        for line in lines:
            words = line.split()
            while words and "=" in words[0]:  # an environment variable set for the command
                words.pop(0)
            assert words[:1] == ["t4"], (path, line)
        assert any(command in line for line in lines), (path, lines)


def test_messages_built_in_transfer_threads_speak_the_command_line(
    s3_env: S3Server, s3_bucket_uri: str, tmp_path: Path
) -> None:
    """A file's own error is built in a transfer thread, not the command's: worded for the
    command line all the same (threads start with no context of their own)."""
    client, name = s3_env.client(), s3_bucket_uri.removeprefix("s3://")
    client.put_object(Bucket=name, Key="d/bad.json", Body=b"{}", Metadata={"helium": "{oops"})
    client.put_object(Bucket=name, Key="d/good.json", Body=b"{}")
    result = t4("fetch", f"{s3_bucket_uri}/d", str(tmp_path / "out"))
    assert_one_line_error(result, "d/bad.json", "t4 put or t4 meta --set")
    said(result)
