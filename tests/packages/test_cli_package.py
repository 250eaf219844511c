"""``t4 package ...`` as a user runs it: the installed command in a subprocess, on a folder
registry and on moto's S3 server; results checked through the registry's files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from files import write_tree
from servers import TEST_SECRET

T4 = str(Path(sys.executable).parent / "t4")


def t4(*args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [T4, *args], env=os.environ.copy(), capture_output=True, text=True, timeout=120
    )
    assert TEST_SECRET not in result.stdout + result.stderr, "a credential was printed"
    return result


def test_push_ls_versions_browse_diff_install_on_a_folder(tmp_path):
    src = write_tree(tmp_path / "src", {"a.csv": "a\n1\n", "d/b.txt": "bee"})
    reg = str(tmp_path / "reg")
    first = t4("package", "push", "team/data", str(src), "-r", reg, "-m", "one",
               "--meta", '{"k": 1}', "--json")  # fmt: skip
    assert first.returncode == 0, first.stderr
    one = json.loads(first.stdout)
    assert one["pushed"] is True
    manifest = Path(reg, ".quilt/packages", one["top_hash"]).read_text().splitlines()
    assert json.loads(manifest[0]) == {"version": "v0", "user_meta": {"k": 1}, "message": "one"}
    again = t4(
        "package", "push", "team/data", str(src), "-r", reg, "-m", "one", "--meta", '{"k": 1}'
    )
    assert again.returncode == 0 and "nothing pushed" in again.stdout
    (src / "c.txt").write_text("sea")
    (src / "a.csv").write_text("a\n2\n")
    two = json.loads(t4("package", "push", "team/data", str(src), "-r", reg, "-m", "two",
                        "--json").stdout)  # fmt: skip
    assert t4("package", "ls", reg).stdout.split() == ["team/data"]
    versions = t4("package", "versions", "team/data", "-r", reg, "--json")
    assert json.loads(versions.stdout)[-1] == {"pointer": "latest", "top_hash": two["top_hash"]}
    table = t4("package", "browse", "team/data", "-r", reg, "--top-hash", one["top_hash"][:6])
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0] == f"team/data@{one['top_hash'][:7]}  one"
    assert lines[1].split() == ["LOGICAL", "KEY", "SIZE", "META"]
    assert [line.split()[0] for line in lines[2:]] == ["a.csv", "d/b.txt"]
    diff = t4("package", "diff", "team/data", "-r", reg, one["top_hash"][:6], two["top_hash"][:6])
    assert diff.stdout.splitlines() == ["+ c.txt", "M a.csv"]
    dest = tmp_path / "out"
    done = t4("package", "install", "team/data", "-r", reg, "--dest", str(dest))
    assert done.returncode == 0, done.stderr
    assert (dest / "c.txt").read_text() == "sea" and (dest / "d/b.txt").read_text() == "bee"


def test_package_commands_on_s3_and_their_errors(s3_bucket_uri, tmp_path):
    src = write_tree(tmp_path / "src", {"x.txt": "x"})
    pushed = t4("package", "push", "team/s3", str(src), "-r", s3_bucket_uri, "--json")
    assert pushed.returncode == 0, pushed.stderr
    assert t4("package", "ls", s3_bucket_uri).stdout.split() == ["team/s3"]
    missing = t4("package", "browse", "team/none", "-r", s3_bucket_uri)
    assert missing.returncode == 1 and missing.stderr.startswith("t4: error: no package")
    bad = t4("package", "browse", "team/s3", "-r", s3_bucket_uri, "--top-hash", "abc")
    assert bad.returncode == 1 and "invalid top hash" in bad.stderr
    assert t4("package", "--help").returncode == 0
    assert "t4 package push" in t4("package", "--help").stdout
