"""The example flows' command lines as a user runs them: ``python -m flows.NAME ...`` in a
second process. A user error is one line on stderr and exit code 1; any other failure keeps
its traceback; a one-off run on Prefect's temporary server leaves its SQLite database alone
(no telemetry session written, no "database is locked")."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROG = "python -m flows.annotate_and_publish"


def _env(home: Path, api_url: str | None) -> dict[str, str]:
    """This process's environment, less the Prefect settings a new user has not set."""
    unset = {"PREFECT_API_URL", "PREFECT_HOME", "PREFECT_SERVER_ANALYTICS_ENABLED"}
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env["PREFECT_HOME"] = str(home)
    if api_url:
        env["PREFECT_API_URL"] = api_url
    return env


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )


@pytest.fixture
def source(tmp_path: Path) -> Path:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.json").write_text('{"x": 1}')
    (tmp_path / "lake").mkdir()
    return tmp_path / "src"


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ": error: " in line]


def test_a_bad_manifest_on_the_temporary_server_is_one_line(source: Path, tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text('{"a.json": {"owner": "ada"}\n')
    home = tmp_path / "prefect-home"
    argv = ["-m", "flows.annotate_and_publish", str(source), str(tmp_path / "lake")]
    done = _run([*argv, "--manifest", str(tmp_path / "bad.json")], _env(home, None))
    assert done.returncode == 1, done.stderr
    assert _error_lines(done.stderr) == [
        f"{PROG}: error: the manifest {tmp_path / 'bad.json'} is not valid JSON: Expecting ',' "
        "delimiter at line 2 column 1"
    ], done.stderr
    assert "Traceback" not in done.stderr and "JSONDecodeError" not in done.stderr
    assert "Starting temporary server" in done.stderr  # it did run on the temporary server
    assert "database is locked" not in done.stderr
    with sqlite3.connect(home / "prefect.db") as db:  # the telemetry service never ran
        keys = {k for (k,) in db.execute("SELECT key FROM configuration")}
    assert "TELEMETRY_SESSION" not in keys
    assert not list((tmp_path / "lake").iterdir())


@pytest.mark.parametrize(
    ("module", "args", "said"),
    [
        ("annotate_and_publish", ["{src}", "{lake}", "--manifest", "{tmp}/none.csv"],
         "the manifest {tmp}/none.csv does not exist"),
        ("annotate_and_publish", ["{src}", "{lake}", "--manifest", "{tmp}/rows.json"],
         "the manifest {tmp}/rows.json does not hold per-file metadata."),
        ("mirror_directory", ["{tmp}/missing", "file://{lake}"], "{tmp}/missing"),
        ("mirror_directory", ["{src}", "{lake}"], "one side must be a bucket"),
    ],
)  # fmt: skip
def test_user_errors_are_one_line_and_exit_1(
    prefect_harness: str, source: Path, tmp_path: Path, module: str, args: list[str], said: str
) -> None:
    (tmp_path / "rows.json").write_text('["a.json"]')
    where = {"src": str(source), "lake": str(tmp_path / "lake"), "tmp": str(tmp_path)}
    argv = [arg.format(**where) for arg in args]
    done = _run(["-m", f"flows.{module}", *argv], _env(tmp_path / "home", prefect_harness))
    assert done.returncode == 1, done.stderr
    (line,) = _error_lines(done.stderr)
    assert line.startswith(f"python -m flows.{module}: error: ") and said.format(**where) in line
    assert "Traceback" not in done.stderr, done.stderr


def test_a_real_failure_keeps_its_traceback(prefect_harness: str, tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from prefect import flow\n"
        "from flows._cli import parser_for, run_from_cli\n"
        "@flow\n"
        "def broken() -> None:\n"
        "    '''A flow with a bug.'''\n"
        "    raise RuntimeError('a bug, not a user error')\n"
        "sys.exit(run_from_cli(broken, parser_for(broken), []))\n"
    )
    done = _run(["-c", code], _env(tmp_path / "home", prefect_harness))
    assert done.returncode == 1
    assert "Traceback" in done.stderr and "RuntimeError: a bug, not a user error" in done.stderr
    assert not _error_lines(done.stderr)
