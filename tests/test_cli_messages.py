"""What the ``t4`` command says: hints in its own words (commands and flags, never the Python
API's), the retry advice only where a retry can help, and the small confirmations."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from cli import assert_one_line_error, t4
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
