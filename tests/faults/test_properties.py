"""Property tests: any valid key round-trips on both backends, and no set of keys in a bucket
can make a directory fetch write outside its destination.

Keys are drawn per backend: S3 takes any text but NUL up to 1,024 UTF-8 bytes; a folder
bucket also needs a relative file path (non-empty segments of at most 255 bytes, no ``.`` or
``..``, no backslash or drive letter, not under ``.t4/``). Each example starts from an empty
bucket, wiped through the independent path, so a failing example cannot poison the next.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from servers import Raw

import t4
from t4.keys import MAX_KEY_BYTES

PROPERTY = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
#: Characters that break naive URL or path handling, over-represented on purpose.
AWKWARD = [*list("#?%+&=;:@$!*'\"()[]{}<>|^`~ \t"), "é", "ß", "中", "\u200b", "😀"]
#: S3 keys may hold control characters, but moto's server cannot route a PUT of one with
#: a newline (404) and XML 1.0 cannot carry most of them in a DeleteObjects body (500), so
#: the S3 keys here leave out the Cc category; folder keys keep them.
_CHARS = st.one_of(
    st.sampled_from(AWKWARD), st.characters(codec="utf-8", exclude_categories=["Cc"])
)


def _size(text: str) -> int:
    return len(text.encode("utf-8"))


def _pad_to(key: str, budget: int, filler: str) -> str:
    """``key`` grown with ``filler`` to as close to ``budget`` bytes as it fits."""
    room = (budget - _size(key)) // _size(filler)
    return key + filler * max(room, 0)


# -- S3: any text but NUL, up to 1,024 bytes, not ending in "/" (that names a folder) ------
def _s3_key_ok(key: str) -> bool:
    return 0 < _size(key) <= MAX_KEY_BYTES and not key.endswith("/")


_s3_short = st.one_of(
    st.text(_CHARS, min_size=1, max_size=40),
    st.lists(st.text(_CHARS, max_size=12), min_size=1, max_size=6).map("/".join),
).filter(_s3_key_ok)
S3_KEYS = st.one_of(
    _s3_short,
    st.tuples(_s3_short, st.sampled_from(["a", "é", "中", "\U0001f600"])).map(
        lambda kf: _pad_to(kf[0], MAX_KEY_BYTES, kf[1])
    ),
).filter(_s3_key_ok)


# -- a folder bucket: a relative path of safe segments -----------------------------------
_DRIVE = re.compile(r"^[A-Za-z]:")


def _segment_ok(seg: str) -> bool:
    return seg not in (".", "..") and 0 < _size(seg) <= 255


_segment = st.text(
    st.one_of(st.sampled_from(AWKWARD), st.characters(codec="utf-8", exclude_characters="\x00/\\")),
    min_size=1,
    max_size=20,
).filter(_segment_ok)
_long_segment = st.sampled_from(["a", "é", "中", "\U0001f600"]).map(lambda f: _pad_to("", 255, f))


def _local_key_ok(key: str) -> bool:
    first = key.split("/", 1)[0]
    return _size(key) <= MAX_KEY_BYTES and first != ".t4" and not _DRIVE.match(key)


LOCAL_KEYS = (
    st.lists(st.one_of(_segment, _segment, _segment, _long_segment), min_size=1, max_size=6)
    .map("/".join)
    .filter(_local_key_ok)
)
KEYS = {"s3": S3_KEYS, "local": LOCAL_KEYS}
META = st.fixed_dictionaries(
    {"note": st.text(_CHARS, max_size=20), "n": st.integers(-(2**53), 2**53), "ok": st.booleans()}
)


def wipe(raw: Raw) -> None:
    """Empty the bucket through the independent path (plain boto3, or ``os``)."""
    if raw.client is not None:
        for key in raw.listing():
            raw.client.delete_object(Bucket=raw.name, Key=key)
        return
    assert raw.root is not None
    for child in raw.root.iterdir():
        if child.name != ".t4":
            shutil.rmtree(child) if child.is_dir() else child.unlink()


@PROPERTY
@given(data=st.data())
def test_any_valid_key_round_trips(
    data: st.DataObject, bucket: t4.Bucket, raw: Raw, backend_kind: str
) -> None:
    key = data.draw(KEYS[backend_kind], label="key")
    meta = data.draw(META, label="meta")
    body = b"t4:" + key.encode("utf-8")
    wipe(raw)

    bucket.put(key, body, meta=meta)

    assert raw.listing() == [key]
    assert raw.read(key) == body
    if raw.client is not None:  # the metadata as S3 holds it, not as t4 reads it back
        assert json.loads(raw.helium(key) or "{}")["user_meta"] == meta
    assert bucket.keys() == [key]
    assert key in bucket.keys(key)
    assert bucket.get_meta(key)["user_meta"] == meta
    assert bucket.deserialize(key) == body

    bucket.delete(key)

    assert raw.listing() == []
    assert bucket.keys() == []


# -- a directory fetch stays inside its destination ---------------------------------------
_hostile_segment = st.one_of(
    st.sampled_from(["", ".", "..", "a", "b", "c:", "C:\\x", "a\\b", "..\\..\\up", "x y", "é"]),
    st.just("z" * 256),
    st.text(_CHARS, min_size=1, max_size=6),
)
_hostile_key = st.lists(_hostile_segment, min_size=1, max_size=5).map("/".join)
HOSTILE_KEYS = st.lists(
    st.one_of(
        _hostile_key.map(lambda k: "d/" + k),  # under the fetched prefix
        _hostile_key.map(lambda k: "d" + k),  # beside it: "d..", "d/../x" spelt differently
        st.sampled_from(["../x", "a/../../b", "/abs", "a\\b", ".", "d/../../esc", "d//abs"]),
    ).filter(lambda k: k != "d" and 0 < _size(k) <= MAX_KEY_BYTES),
    min_size=1,
    max_size=8,
    unique=True,
)


def tree(root: Path) -> dict[str, bytes | None]:
    """Every file and folder under ``root`` (folders as None), links not followed."""
    found: dict[str, bytes | None] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            found[os.path.relpath(os.path.join(dirpath, name), root)] = None
        for name in filenames:
            path = os.path.join(dirpath, name)
            found[os.path.relpath(path, root)] = Path(path).read_bytes()
    return found


@PROPERTY
@given(keys=HOSTILE_KEYS, prefix=st.sampled_from(["d", "d/"]))
def test_directory_fetch_never_writes_outside_dest(
    keys: list[str], prefix: str, s3_raw: Raw, tmp_path: Path
) -> None:
    wipe(s3_raw)
    for key in keys:
        s3_raw.write(key, b"data:" + key.encode("utf-8"))
    work = Path(tempfile.mkdtemp(dir=tmp_path))
    (work / "sentinel.txt").write_bytes(b"keep")
    dest = work / "nest" / "dest"
    before = tree(work)

    outcome: Any = None
    with t4.Bucket(s3_raw.uri, concurrency=2) as b:
        try:
            outcome = b.fetch(prefix, dest)
        except t4.InvalidKeyError:
            assert tree(work) == before, "refused, yet something was written"
            return
        except t4.T4Error as err:  # no such directory, or a file/folder clash: still bounded
            outcome = err

    after = tree(work)
    inside = os.path.relpath(dest, work)
    for rel, content in after.items():
        if rel == inside or rel.startswith(inside + os.sep) or inside.startswith(rel + os.sep):
            continue
        assert before.get(rel, "absent") == content, f"{rel} changed outside {dest}"
    assert set(before) <= set(after)
    refused: dict[str, BaseException] = {}
    if isinstance(outcome, t4.TransferError):  # unsafe keys fail alone, the rest arrive
        refused = outcome.failures
        assert all(
            isinstance(e, (t4.InvalidKeyError, t4.DestinationError)) for e in refused.values()
        )
        outcome = outcome.summary
    if isinstance(outcome, t4.TransferSummary):  # every other object under the prefix, exact
        for key in keys:
            if key.startswith("d/") and not key.endswith("/") and key not in refused:
                assert (dest / key[2:]).read_bytes() == b"data:" + key.encode("utf-8")
