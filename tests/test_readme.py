"""The documentation's examples run, so they stay true.

The convention, for README.md and docs/*.md:

* Every ```python block is run, unless its first line is ``# not tested`` (for examples that
  need real credentials or change real settings). Blocks of one file run in order, in one
  namespace and one working directory, like the cells of a notebook: a block may use what an
  earlier one defined. Each block is its own test (named by file and line); it runs after
  the blocks before it.
* Every ```console block is run the same way, unless its first line is ``# not tested``:
  its lines that start with ``$ `` are shell commands (``t4`` is the installed command), run
  in order by bash; each must succeed. Other lines are example output and are not checked.
* The working directory is a fresh temporary folder that already holds an empty folder
  ``lake`` (so ``t4.Bucket("./lake")`` and ``t4 ls --bucket ./lake`` work), and ``s3://my-bucket``
  exists, empty, on the test S3 server, whose endpoint and credentials are in the
  environment. Settings and caches are the test's own (see conftest), never the user's.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import S3Server

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


def _cases() -> list[pytest.ParameterSet]:
    cases = []
    for path in DOCS:
        if not path.exists():
            continue
        items = blocks(path)
        for i, (line, lang, _) in enumerate(items):
            name = f"{path.relative_to(ROOT)}:{line}"
            cases.append(pytest.param(path, i, id=f"{name}-{lang}"))
    return cases


CASES = _cases()


@pytest.fixture
def docs_env(s3_env: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
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


@pytest.mark.skipif(not CASES, reason="no README.md or docs with tested code blocks yet")
@pytest.mark.parametrize(("path", "upto"), CASES or [pytest.param(None, 0, id="none")])
def test_doc_block_runs(path: Path, upto: int, docs_env: Path) -> None:
    namespace: dict[str, object] = {"__name__": "__readme__"}
    for i, (line, lang, code) in enumerate(blocks(path)[: upto + 1]):
        where = f"{path.name}:{line}" + ("" if i == upto else " (an earlier block)")
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
