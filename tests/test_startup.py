"""What a command pays before and after its work: ``import t4`` loads no AWS SDK, progress
bar or HTTP library, and neither it nor a first listing opens SQLite or the search code; a
bucket opened with keys given outright reads and writes small objects without boto3; and
the ``t4`` command, which leaves without tearing the interpreter down, has committed what
it wrote by then (a second process sees it)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from cli import t4 as run_t4
from files import write_tree
from servers import S3Server

import t4

HEAVY = ("boto3", "botocore", "s3transfer", "tqdm", "requests", "luqum",
         # loaded where first needed: obstore for an S3 bucket, a thread pool for a
         # delete or a crawl, tempfile (and shutil) for writing settings
         "obstore", "t4.backends.s3", "concurrent.futures", "tempfile", "shutil",
         "secrets")  # fmt: skip
BOTO3 = ("boto3", "botocore", "s3transfer")
#: What ``t4 ls`` and ``t4 fetch`` of an S3 prefix, keys given, never load.
COMMAND_SKIPS = (*BOTO3, "urllib3", "t4.search", "dataclasses")


def _python(code: str) -> list[str]:
    """Run ``code`` in a fresh interpreter with the test's environment; the words of its
    last line of output."""
    done = subprocess.run(
        [sys.executable, "-c", code], env=os.environ.copy(), capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()[-1].split()[1:]


def test_import_t4_loads_no_sdk_bar_or_http_library() -> None:
    loaded = _python(
        f"import sys, t4; print('loaded:', *[m for m in {HEAVY!r} if m in sys.modules])"
    )
    assert loaded == []


#: What ``import t4``, ``Bucket(...)`` and a first listing leave unloaded: the SQLite caches
#: (transfer state, search index) open on the first call that needs them, and no record type
#: is a dataclass (dataclasses imports inspect and ast: about a third of ``import t4``).
FIRST_CALL_SKIPS = ("sqlite3", "t4.state", "t4.search", "csv", "dataclasses", "inspect")


def test_import_t4_and_a_first_listing_load_no_cache_nor_search_code(tmp_path: Path) -> None:
    write_tree(tmp_path / "lake", {"a.txt": "alpha"})
    loaded = _python(
        f"import sys, t4; b = t4.Bucket({str(tmp_path / 'lake')!r}); keys = b.keys()\n"
        f"print('loaded:', *[m for m in {FIRST_CALL_SKIPS!r} if m in sys.modules], keys)"
    )
    assert loaded == ["['a.txt']"]


def test_small_reads_and_writes_with_keys_given_need_no_boto3_nor_a_bar(
    s3_env: S3Server, s3_bucket_uri: str, tmp_path: Path
) -> None:
    src = write_tree(tmp_path, {"a.txt": "alpha"}) / "a.txt"
    code = f"""
import sys
from t4.cli import main
assert main(["put", {str(src)!r}, "{s3_bucket_uri}/d/a.txt", "--meta", '{{"n": 1}}']) == 0
assert main(["fetch", "{s3_bucket_uri}/d/a.txt", {str(tmp_path / "b.txt")!r}]) == 0
print("loaded:", *[m for m in {(*BOTO3, "tqdm")!r} if m in sys.modules])
"""
    assert _python(code) == []  # no terminal here, so no progress bar: tqdm is not imported
    assert (tmp_path / "b.txt").read_text() == "alpha"
    head = s3_env.client().head_object(Bucket=s3_bucket_uri[5:], Key="d/a.txt")
    assert json.loads(head["Metadata"]["helium"])["user_meta"] == {"n": 1}


def test_what_the_command_wrote_is_committed_when_it_has_exited(
    s3_env: S3Server, s3_bucket_uri: str, tmp_path: Path
) -> None:
    src = write_tree(tmp_path / "src", {"a.txt": "alpha", "b/c.txt": "gamma"})
    result = run_t4("put-dir", str(src), f"{s3_bucket_uri}/up", "--meta", '{"team": "x"}')
    assert result.returncode == 0, result.stderr
    with t4.Bucket(s3_bucket_uri) as b:
        index = b.index_path
    state = Path(os.environ["T4_CACHE_DIR"]) / "transfer-state.sqlite"
    with sqlite3.connect(state) as db:  # what t4 wrote: a re-run skips by it, no HEAD
        written = {k for (k,) in db.execute("SELECT key FROM written WHERE bucket LIKE ?",
                                            (f"{s3_bucket_uri}@%",))}  # fmt: skip
    with sqlite3.connect(index) as db:  # the search index, upserted by the command
        indexed = {k: json.loads(m) for k, m in db.execute("SELECT key, meta FROM docs")}
    assert written == {"up/a.txt", "up/b/c.txt"}
    assert indexed == {"up/a.txt": {"team": "x"}, "up/b/c.txt": {"team": "x"}}


def test_a_listing_and_a_folder_fetch_with_keys_given_need_no_boto3(
    s3_env: S3Server, s3_bucket_uri: str, tmp_path: Path
) -> None:
    """``t4 ls`` and ``t4 fetch`` of a prefix list through t4's own signed ListObjectsV2:
    boto3 is never imported (it stays for profiles, copies, deletes and multipart), nor
    urllib3 (the listing speaks ``http.client``: urllib3 was 30 ms of CPU to import); the
    parser loads no search code for its help texts, nor dataclasses."""
    client = s3_env.client()
    for i in range(3):
        client.put_object(Bucket=s3_bucket_uri[5:], Key=f"d/f {i}+.txt", Body=b"x" * i)
    code = f"""
import sys
from t4.cli import main
assert main(["ls", "{s3_bucket_uri}/d/"]) == 0
assert main(["fetch", "{s3_bucket_uri}/d/", {str(tmp_path / "out")!r}]) == 0
print("loaded:", *[m for m in {COMMAND_SKIPS!r} if m in sys.modules])
"""
    assert _python(code) == []
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"f {i}+.txt" for i in range(3)]
