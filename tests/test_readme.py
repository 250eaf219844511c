"""The documentation's examples run, so they stay true.

The convention, for README.md and docs/*.md:

* Every ```python block is run, unless its first line is ``# not tested`` (for examples that
  need real credentials or change real settings). Blocks of one file run in order, in one
  namespace and one working directory, like the cells of a notebook: a block may use what an
  earlier one defined. Each file is one test; a failure names the block's line.
* Every ```console block is run the same way, unless its first line is ``# not tested``:
  its lines that start with ``$ `` are shell commands (``t4`` is the installed command), run
  in order by bash; each must succeed. Other lines are example output and are not checked.
* The working directory is a fresh temporary folder that already holds an empty folder
  ``lake`` (so ``t4.Bucket("./lake")`` and ``t4 ls --bucket ./lake`` work), and ``s3://my-bucket``
  exists, empty, on the test S3 server, whose endpoint and credentials are in the
  environment. Settings and caches are the test's own (see conftest), never the user's;
  Prefect talks to the session's test harness.
* Each file runs twice in a row, in the same folder and buckets (a fresh namespace the
  second time), as a user pasting an example again would: every example must also work
  over what it made the first time (``mkdir(exist_ok=True)``, a push onto an existing name).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from servers import S3Server

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(python|console)[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
SKIP_MARK = "# not tested"


def blocks(path: Path) -> list[tuple[int, str, str]]:
    """Every tested block of ``path``: (line number, language, code)."""
    text = path.read_text(encoding="utf-8")
    found = []
    for match in FENCE.finditer(text):
        code = match.group(2)
        if code.lstrip().startswith(SKIP_MARK):
            continue
        line = text.count("\n", 0, match.start()) + 1
        found.append((line, match.group(1), code))
    return found


DOCS_WITH_CODE = [path for path in DOCS if path.exists() and blocks(path)]


@pytest.fixture
def docs_env(
    s3_env: S3Server, prefect_harness: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    s3_env.client().create_bucket(Bucket="my-bucket")
    (tmp_path / "lake").mkdir()
    monkeypatch.chdir(tmp_path)
    bin_dir = str(Path(sys.executable).parent)
    monkeypatch.setenv("PATH", bin_dir + os.pathsep + os.environ.get("PATH", ""))
    return tmp_path


def run_python(code: str, namespace: dict[str, object], where: str) -> None:
    exec(compile(code, where, "exec"), namespace)  # running the docs is the point


def run_console(code: str, where: str) -> None:
    commands = [line[2:] for line in code.splitlines() if line.startswith("$ ")]
    for command in commands:
        result = subprocess.run(
            ["bash", "-c", command], capture_output=True, text=True, env=os.environ.copy(),
            timeout=120,
        )  # fmt: skip
        assert result.returncode == 0, f"{where}: $ {command}\n{result.stdout}{result.stderr}"


@pytest.mark.timeout(600)
@pytest.mark.parametrize("path", DOCS_WITH_CODE, ids=lambda p: str(p.relative_to(ROOT)))
def test_doc_blocks_run(path: Path, docs_env: Path) -> None:
    for run in ("first run", "second run"):
        namespace: dict[str, object] = {"__name__": "__readme__"}
        for line, lang, code in blocks(path):
            where = f"{path.name}:{line} ({run})"
            if lang == "python":
                run_python(code, namespace, where)
            else:
                run_console(code, where)


def test_skip_mark_and_fences_are_read(tmp_path: Path) -> None:
    text = (
        "```python\nprint(1)\n```\n\n```python\n# not tested\nboom()\n```\n"
        "```console\n$ t4 ls --bucket ./lake\n```\n```sh\nmake test\n```\n"
    )
    doc = tmp_path / "doc.md"
    doc.write_text(text)
    assert blocks(doc) == [
        (1, "python", "print(1)\n"),
        (9, "console", "$ t4 ls --bucket ./lake\n"),
    ]
