"""One key that cannot be used (a ``..`` segment, a backslash, a file name that is no UTF-8)
does not stop bulk work: every other file is done, then one ``TransferError`` names the
refused key, counted in the summary's ``failed`` with its own ``InvalidKeyError``. On both
backends, and through the command line.

The unsafe objects are written as another tool would: raw boto3 for S3 (moto stores
``bulk/../evil.txt`` as given), ``os`` for a folder bucket (a file named ``a\\evil.txt``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from servers import Raw

import t4

GOOD = [f"bulk/{i:02}.txt" for i in range(50)]
#: per backend, an object under ``bulk/`` that cannot be a local file
UNSAFE = {"s3": "bulk/../evil.txt", "local": "bulk/a\\evil.txt"}
T4 = str(Path(sys.executable).parent / "t4")


@pytest.fixture
def seeded(raw: Raw, backend_kind: str) -> str:
    """50 good objects and one unsafe one under ``bulk/``; returns the unsafe key."""
    for key in GOOD:
        raw.write(key, key.encode())
    raw.write(UNSAFE[backend_kind], b"evil")
    return UNSAFE[backend_kind]


def files_under(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and ".t4" not in p.relative_to(root).parts
    }


def assert_refused_alone(raised: pytest.ExceptionInfo[t4.TransferError], key: str) -> None:
    err = raised.value
    assert set(err.failures) == {key}
    assert isinstance(err.failures[key], t4.InvalidKeyError)
    assert err.summary is not None and list(err.summary.failed) == [key]
    assert repr(key) in str(err) and "1 of 51 files failed" in str(err)


def test_fetch_writes_every_good_key_then_names_the_unsafe_one(
    bucket: t4.Bucket, seeded: str, tmp_path: Path
) -> None:
    dest = tmp_path / "work" / "dest"
    with pytest.raises(t4.TransferError) as raised:
        bucket.fetch("bulk/", dest)
    assert_refused_alone(raised, seeded)
    assert raised.value.summary is not None
    assert sorted(raised.value.summary.transferred) == GOOD
    assert files_under(dest) == {k[5:]: k.encode() for k in GOOD}
    assert files_under(tmp_path / "work") == {f"dest/{k[5:]}": k.encode() for k in GOOD}
    assert not list((tmp_path / "work").rglob("*evil*"))


def test_fetch_of_only_unsafe_keys_writes_nothing(raw: Raw, backend_kind: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    raw.write(UNSAFE[backend_kind], b"evil")
    dest = tmp_path / "dest"
    with t4.Bucket(raw.uri) as b, pytest.raises(t4.TransferError) as raised:
        b.fetch("bulk/", dest)
    assert list(raised.value.failures) == [UNSAFE[backend_kind]]
    assert not dest.exists()


def test_copy_to_copies_every_good_key(bucket: t4.Bucket, seeded: str, tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.mkdir()
    with t4.Bucket(target) as other, pytest.raises(t4.TransferError) as raised:
        bucket.copy_to(other, bucket.ls("bulk/"), prefix="bulk/", to_prefix="copy/")
    assert_refused_alone(raised, seeded)
    assert files_under(target) == {"copy/" + k[5:]: k.encode() for k in GOOD}


@pytest.mark.parametrize("bad_name", [b"bad\xff.txt", b"a\\b.txt"], ids=["not-utf8", "backslash"])
def test_put_dir_uploads_every_good_file(
    bucket: t4.Bucket, raw: Raw, backend_kind: str, tmp_path: Path, bad_name: bytes
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for key in GOOD:
        (src / key[5:]).write_bytes(key.encode())
    with open(os.path.join(os.fsencode(src), bad_name), "wb") as f:
        f.write(b"evil")
    bad_key = "up/" + os.fsdecode(bad_name)
    if bad_name == b"a\\b.txt" and backend_kind == "s3":  # S3 stores a backslash as it is
        assert len(bucket.put_dir("up", src).transferred) == 51
        return
    with pytest.raises(t4.TransferError) as raised:
        bucket.put_dir("up", src)
    assert_refused_alone(raised, bad_key)
    assert repr(os.fsdecode(src / os.fsdecode(bad_name))) in str(raised.value.failures[bad_key])
    assert raw.listing() == sorted("up/" + k[5:] for k in GOOD)


def test_delete_dir_deletes_every_other_key(bucket: t4.Bucket, raw: Raw, seeded: str) -> None:
    if raw.client is not None:  # S3 deletes any key it stores: nothing to refuse
        assert sorted(bucket.delete_dir("bulk/").deleted) == sorted([*GOOD, seeded])
        assert raw.listing() == []
        return
    with pytest.raises(t4.TransferError) as raised:
        bucket.delete_dir("bulk/")
    assert_refused_alone(raised, seeded)
    assert raised.value.summary is not None
    assert sorted(raised.value.summary.deleted) == GOOD
    assert raw.listing() == [seeded]


def test_cli_fetch_exits_1_with_one_line_naming_the_key(
    s3_bucket_uri: str, s3_env: object, tmp_path: Path
) -> None:
    raw = Raw(s3_bucket_uri, None, s3_env.client())  # type: ignore[attr-defined]
    for key in GOOD:
        raw.write(key, key.encode())
    raw.write(UNSAFE["s3"], b"evil")
    dest = tmp_path / "dest"
    result = subprocess.run(
        [T4, "fetch", f"{s3_bucket_uri}/bulk/", str(dest)],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ.copy(),
    )
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("t4: error: "), result.stderr
    assert "'bulk/../evil.txt'" in lines[0] and "1 of 51 files failed" in lines[0]
    assert sorted(p.name for p in dest.iterdir()) == [k[5:] for k in GOOD]
