"""The mirror flow, like the core's bulk methods, finishes every file it can when one key or
file name cannot be used, then fails the run with one ``TransferError`` naming it (counted
in ``failed``, with its own ``InvalidKeyError``). Through the session's Prefect API."""

from __future__ import annotations

import os

import pytest
from files import read_tree

import t4
from flows.mirror_directory import mirror_directory

GOOD = {f"{i:02}.txt": f"file {i}" for i in range(50)}


def refused_alone(state, rel: str) -> t4.TransferError:  # type: ignore[no-untyped-def]
    assert state.is_failed()
    with pytest.raises(t4.TransferError) as raised:
        state.result()
    err = raised.value
    assert list(err.failures) == [rel] and isinstance(err.failures[rel], t4.InvalidKeyError)
    assert err.summary is not None and sorted(err.summary.transferred) == sorted(GOOD)
    assert repr(rel) in str(err)
    return err


@pytest.mark.parametrize("to", ["folder", "folder-bucket"])
def test_bucket_to_folder_or_bucket_finishes_every_good_key(to, tmp_path, s3_bucket_uri, s3_env):  # type: ignore[no-untyped-def]
    client = s3_env.client()
    name = s3_bucket_uri[5:]
    for rel, text in GOOD.items():
        client.put_object(Bucket=name, Key=f"bulk/{rel}", Body=text.encode())
    client.put_object(Bucket=name, Key="bulk/../evil.txt", Body=b"evil")
    out = tmp_path / "work" / "out"
    out.mkdir(parents=True)
    dest = str(out) if to == "folder" else out.as_uri()
    state = mirror_directory(f"{s3_bucket_uri}/bulk", dest, report_key=None, return_state=True)
    refused_alone(state, "../evil.txt")
    got = {k: v for k, v in read_tree(out, text=True).items() if not k.startswith(".t4/")}
    assert got == GOOD
    assert not list((tmp_path / "work").rglob("*evil*"))


def test_folder_to_bucket_finishes_every_good_file(tmp_path, s3_bucket_uri):  # type: ignore[no-untyped-def]
    src = tmp_path / "src"
    src.mkdir()
    for rel, text in GOOD.items():
        (src / rel).write_text(text)
    with open(os.path.join(os.fsencode(src), b"bad\xff.txt"), "wb") as f:
        f.write(b"evil")
    state = mirror_directory(str(src), f"{s3_bucket_uri}/m", report_key=None, return_state=True)
    refused_alone(state, os.fsdecode(b"bad\xff.txt"))
    with t4.Bucket(s3_bucket_uri) as b:
        assert b.keys() == sorted(f"m/{k}" for k in GOOD)
