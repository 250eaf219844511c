"""``copy_to`` between two places the server cannot copy between (two S3 endpoints, S3 and a
folder) streams each large object: memory stays bounded by parts in flight, not by the
object's size, and a copy that fails midway leaves nothing behind on the target (no object,
no pending multipart upload, no part file).

Each copy runs in a child process, which reports its own peak RSS (``VmHWM``) as it ends.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli import ctrl_c_as_on_a_terminal
from proxy import FaultProxy, wait_until
from servers import S3Server, s3_client, start_moto

import t4

MiB = 1024 * 1024
#: The large object: big enough that holding it whole shows plainly in the peak RSS, small
#: enough for moto to take it three times in a few seconds (``T4_COPY_TEST_MIB`` to measure
#: another size).
SIZE = int(os.environ.get("T4_COPY_TEST_MIB", "96")) * MiB
BLOCK = 8 * MiB
USER_META = {"who": "copystream", "n": 7}

_CHILD = """
import json, sys
import t4

args = json.loads(sys.argv[1])
with t4.Bucket(args["src"], endpoint_url=args["src_endpoint"]) as src, \\
        t4.Bucket(args["dst"], endpoint_url=args["dst_endpoint"]) as dst:
    try:
        summary = src.copy_to(dst, [args["key"]], prefix="in/", to_prefix="out/")
    except t4.T4Error as err:
        print(json.dumps({"error": type(err).__name__, "message": str(err)}))
    else:
        print(json.dumps({**summary.as_dict(), "boto3": "boto3" in sys.modules}))
# The peak RSS of this program: VmHWM, of the memory map exec gave it (the rusage of a
# child started by vfork and exec counts its parent's peak too)
with open("/proc/self/status") as status:
    peak = next(line for line in status if line.startswith("VmHWM:"))
print(int(peak.split()[1]) * 1024)
"""


def _blocks(size: int) -> Iterator[bytes]:
    """``size`` bytes, 8 MiB at a time: a repeated pattern, each block numbered so that a
    block lost, repeated or out of order changes the content hash."""
    pattern = b"t4 copies large objects in parts. " * (BLOCK // 34 + 1)
    for number, start in enumerate(range(0, size, BLOCK)):
        yield (f"block {number:06d} ".encode() + pattern)[: min(BLOCK, size - start)]


def _md5(chunks: Iterator[bytes]) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


class Place:
    """One end of a copy: an S3 bucket on a moto server, or a folder."""

    def __init__(self, uri: str, endpoint: str | None = None, root: Path | None = None):
        self.uri, self.endpoint, self.root = uri, endpoint, root
        self.client = s3_client(endpoint) if endpoint else None
        self.name = uri.removeprefix("s3://")

    def write(self, key: str, size: int) -> str:
        """Write ``size`` bytes under ``key`` with ``USER_META``, 8 MiB at a time (S3: a
        multipart upload); the content's MD5."""
        import t4

        digest = hashlib.md5(usedforsecurity=False)
        if self.client is None:
            assert self.root is not None
            path = self.root / key
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("wb") as out:
                for block in _blocks(size):
                    out.write(block)
                    digest.update(block)
            with t4.Bucket(self.root) as bucket:
                bucket.set_meta(key, USER_META)
            return digest.hexdigest()
        helium = json.dumps({"user_meta": USER_META})
        upload = self.client.create_multipart_upload(
            Bucket=self.name, Key=key, Metadata={"helium": helium}
        )["UploadId"]
        parts = []
        for number, block in enumerate(_blocks(size), start=1):
            digest.update(block)
            etag = self.client.upload_part(
                Bucket=self.name, Key=key, UploadId=upload, PartNumber=number, Body=block
            )["ETag"]
            parts.append({"ETag": etag, "PartNumber": number})
        self.client.complete_multipart_upload(
            Bucket=self.name, Key=key, UploadId=upload, MultipartUpload={"Parts": parts}
        )
        return digest.hexdigest()

    def keys(self) -> list[str]:
        if self.client is None:
            assert self.root is not None
            return sorted(
                p.relative_to(self.root).as_posix()
                for p in self.root.rglob("*")
                if p.is_file() and p.relative_to(self.root).parts[0] != ".t4"
            )
        listed = self.client.list_objects_v2(Bucket=self.name).get("Contents", [])
        return sorted(o["Key"] for o in listed)

    def size_and_md5(self, key: str) -> tuple[int, str]:
        """Read back through the independent path (plain boto3, ``os``), a chunk at a time."""
        if self.client is None:
            assert self.root is not None
            path = self.root / key
            with path.open("rb") as src:
                return path.stat().st_size, _md5(iter(lambda: src.read(MiB), b""))
        body = self.client.get_object(Bucket=self.name, Key=key)["Body"]
        head = self.client.head_object(Bucket=self.name, Key=key)
        return head["ContentLength"], _md5(body.iter_chunks(MiB))

    def user_meta(self, key: str) -> Any:
        if self.client is None:
            import t4

            with t4.Bucket(self.root) as bucket:  # a folder's metadata lives in t4's record
                return bucket.get_meta(key)["user_meta"]
        helium = self.client.head_object(Bucket=self.name, Key=key)["Metadata"]["helium"]
        return json.loads(helium)["user_meta"]

    def pending_uploads(self) -> list[str]:
        """Multipart uploads not completed nor aborted (S3), part files left (folder)."""
        if self.client is None:
            assert self.root is not None
            return sorted(p.name for p in (self.root / ".t4").rglob("*") if ".part" in p.name)
        found = self.client.list_multipart_uploads(Bucket=self.name).get("Uploads", [])
        return sorted(u["Key"] for u in found)


def copy_in_child(src: Place, dst: Place, key: str, cwd: Path) -> tuple[Any, int]:
    """``src.copy_to(dst, [key])`` (``in/`` -> ``out/``) in a child process working in
    ``cwd``; what it printed, and its peak RSS in bytes."""
    args = {
        "src": src.uri,
        "src_endpoint": src.endpoint,
        "dst": dst.uri,
        "dst_endpoint": dst.endpoint,
        "key": key,
    }
    proc = subprocess.Popen(  # not run in the checkout: ``-c`` puts its folder first
        [sys.executable, "-c", _CHILD, json.dumps(args)],
        stdout=subprocess.PIPE,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out
    said, peak = out.decode().splitlines()
    return json.loads(said), int(peak)


@pytest.fixture(scope="module")
def second_moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """Another moto server: an endpoint the first cannot copy from by itself."""
    server = start_moto(tmp_path_factory.mktemp("moto-2"))
    yield server
    server.stop()


def _s3(server: S3Server) -> Place:
    name = f"t4-copy-{uuid.uuid4().hex[:12]}"
    server.client().create_bucket(Bucket=name)
    return Place(f"s3://{name}", endpoint=server.endpoint)


def _folder(root: Path) -> Place:
    root.mkdir()
    return Place(str(root), root=root)


@pytest.fixture
def places(
    request: pytest.FixtureRequest, s3_env: S3Server, second_moto: S3Server, tmp_path: Path
) -> tuple[Place, Place]:
    """(source, target) for each kind of copy the server cannot do."""
    kind = request.param
    if kind == "s3->s3":
        return _s3(s3_env), _s3(second_moto)
    if kind == "s3->folder":
        return _s3(s3_env), _folder(tmp_path / "target")
    return _folder(tmp_path / "source"), _s3(second_moto)


KINDS = ["s3->s3", "s3->folder", "folder->s3"]


@pytest.mark.parametrize("places", KINDS, indirect=True)
def test_a_large_copy_streams_in_bounded_memory(
    places: tuple[Place, Place], tmp_path: Path
) -> None:
    """A 96 MiB object arrives whole (size, MD5, user_meta), and copying it costs the
    copying process less than half its size in peak RSS over copying a 9 MiB one (which
    takes the same path: parts): the bytes pass a few parts at a time, never whole. On
    S3 keys obstore can say, no boto3 is loaded to copy."""
    src, dst = places
    src.write("in/tiny.bin", 1000)
    src.write("in/part.bin", 9 * MiB)  # just above MULTIPART_THRESHOLD: two parts
    md5 = src.write("in/big.bin", SIZE)
    peaks, outs = {}, {}
    for name in ("tiny", "part", "big"):
        outs[name], peaks[name] = copy_in_child(src, dst, f"in/{name}.bin", tmp_path)
        assert outs[name]["transferred"] == [f"in/{name}.bin"], outs[name]
    print("peak RSS, MiB:", {name: round(peak / MiB) for name, peak in peaks.items()})
    assert dst.size_and_md5("out/big.bin") == (SIZE, md5)
    assert dst.user_meta("out/big.bin") == USER_META
    assert dst.pending_uploads() == []
    assert peaks["big"] - peaks["part"] < SIZE // 2, peaks
    assert not any(out["boto3"] for out in outs.values()), outs
    if src.client and dst.client:  # parts as t4 cuts them: the same ETag, so copied once
        assert _etag(dst, "out/big.bin") == _etag(src, "in/big.bin")
        with _bucket(src) as a, _bucket(dst) as b:
            again = a.copy_to(b, ["in/big.bin"], prefix="in/", to_prefix="out/")
        assert again.skipped == ["in/big.bin"] and again.transferred == []


def _etag(place: Place, key: str) -> str:
    assert place.client is not None
    return str(place.client.head_object(Bucket=place.name, Key=key)["ETag"])


def _gets_of(name: str) -> Any:
    """The proxy's ``only``: GETs of objects called ``name`` (not listings)."""
    return lambda method, path: method == "GET" and name in path and "list-type" not in path


@pytest.mark.parametrize("target", ["s3", "folder"])
def test_a_source_that_breaks_off_leaves_nothing_on_the_target(
    target: str, s3_env: S3Server, second_moto: S3Server, tmp_path: Path
) -> None:
    """The source's answer is cut halfway (20 of 40 MiB, then a reset), after the first
    parts went up: the copy fails with ``TransientError`` naming the source, and the target
    holds no object, no pending multipart upload (it was aborted), no staged file."""
    src = _s3(s3_env)
    dst = _s3(second_moto) if target == "s3" else _folder(tmp_path / "target")
    src.write("in/big.bin", 40 * MiB)
    cut = FaultProxy(s3_env.endpoint, rate=1.0, faults=("truncate",), only=_gets_of("big.bin"))
    seen = FaultProxy(second_moto.endpoint)  # faults nothing: counts the target's requests
    to = seen.url if dst.endpoint else None
    with (
        cut,
        seen,
        t4.Bucket(src.uri, endpoint_url=cut.url) as a,
        t4.Bucket(dst.uri, endpoint_url=to) as b,
    ):
        with pytest.raises(t4.TransferError) as raised:
            a.copy_to(b, ["in/big.bin"], prefix="in/", to_prefix="out/")
        assert cut.counts["truncate"] >= 1
    error = raised.value.summary.failed["in/big.bin"]
    assert isinstance(error, t4.TransientError), error
    assert src.uri in str(error) and "in/big.bin" in str(error)
    if target == "s3":  # parts were sent, then the upload was aborted
        assert seen.counts["PUT"] >= 2 and seen.counts["DELETE"] == 1, seen.counts
    assert dst.keys() == [] and dst.pending_uploads() == []


def test_a_target_that_refuses_a_part_is_left_with_nothing(
    s3_env: S3Server, second_moto: S3Server
) -> None:
    """The target refuses the third part (403): the copy fails with ``AccessDeniedError``,
    the multipart upload is aborted, and no object is there."""
    src, dst = _s3(s3_env), _s3(second_moto)
    src.write("in/big.bin", 40 * MiB)

    def third_part(method: str, path: str) -> bool:
        return method == "PUT" and "partNumber=3&" in path + "&"

    deny = FaultProxy(second_moto.endpoint, rate=1.0, faults=("403",), only=third_part)
    with deny, _bucket(src) as a, t4.Bucket(dst.uri, endpoint_url=deny.url) as b:
        with pytest.raises(t4.TransferError) as raised:
            a.copy_to(b, ["in/big.bin"], prefix="in/", to_prefix="out/")
        assert deny.counts["403"] == 1
    assert isinstance(raised.value.summary.failed["in/big.bin"], t4.AccessDeniedError)
    assert dst.keys() == [] and dst.pending_uploads() == []


def test_a_key_obstore_cannot_say_is_streamed_through_boto3(
    s3_env: S3Server, second_moto: S3Server
) -> None:
    """``odd//big.bin`` (an empty segment: obstore refuses the path) is read by boto3's GET
    and written by boto3's multipart upload, in parts too, whole and with its metadata."""
    src, dst = _s3(s3_env), _s3(second_moto)
    md5 = src.write("in/odd//big.bin", 20 * MiB)
    with _bucket(src) as a, _bucket(dst) as b:
        done = a.copy_to(b, ["in/odd//big.bin"], prefix="in/", to_prefix="out/")
    assert done.transferred == ["in/odd//big.bin"] and done.bytes == 20 * MiB
    assert dst.size_and_md5("out/odd//big.bin") == (20 * MiB, md5)
    assert dst.user_meta("out/odd//big.bin") == USER_META
    assert dst.pending_uploads() == []
    assert _etag(dst, "out/odd//big.bin") == _etag(src, "in/odd//big.bin")


def _bucket(place: Place) -> t4.Bucket:
    return t4.Bucket(place.uri, endpoint_url=place.endpoint)


_INTERRUPTED_CHILD = """
import sys
import t4

src_uri, dst_uri, endpoint = sys.argv[1:]
with t4.Bucket(src_uri) as src, t4.Bucket(dst_uri, endpoint_url=endpoint) as dst:
    try:
        src.copy_to(dst, ["in/big.bin"], prefix="in/", to_prefix="out/")
    except KeyboardInterrupt:
        sys.exit(130)
"""


def test_ctrl_c_stops_a_streamed_copy_and_aborts_its_upload(
    s3_env: S3Server, second_moto: S3Server, tmp_path: Path
) -> None:
    """SIGINT while the parts of a copy's upload crawl to the target (128 KiB/s a request):
    the copying process stops soon, and neither the object nor its multipart upload is
    left on the target."""
    src, dst = _s3(s3_env), _s3(second_moto)
    src.write("in/big.bin", 24 * MiB)
    with FaultProxy(second_moto.endpoint, bandwidth=128 * 1024) as narrow:
        proc = subprocess.Popen(
            [sys.executable, "-c", _INTERRUPTED_CHILD, src.uri, dst.uri, narrow.url],
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
            preexec_fn=ctrl_c_as_on_a_terminal,
        )
        try:
            moving = lambda: narrow.counts["POST"] > 0 and narrow.in_flight > 0  # noqa: E731
            assert wait_until(moving, timeout=60), "the upload never started"
            sent = time.monotonic()
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=60) == 130
            took = time.monotonic() - sent
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    print(f"SIGINT to exit: {took:.2f} s")
    assert took < 5, took  # the parts alone would take over a minute each
    assert dst.keys() == [] and dst.pending_uploads() == []


def test_a_source_file_cut_short_while_copied_fails_the_copy(
    second_moto: S3Server, s3_env: S3Server, tmp_path: Path
) -> None:
    """A folder bucket's 96 MiB file is truncated to 64 MiB by another program once the
    first part reached the target (the copy reads at most a few parts ahead): the copy
    fails with ``TransientError`` saying the object changed, and leaves nothing."""
    src, dst = _folder(tmp_path / "source"), _s3(second_moto)
    src.write("in/big.bin", 96 * MiB)
    failed: list[BaseException] = []
    slow = FaultProxy(second_moto.endpoint, delay=0.5)
    with slow, _bucket(src) as a, t4.Bucket(dst.uri, endpoint_url=slow.url) as b:

        def copy() -> None:
            try:
                a.copy_to(b, ["in/big.bin"], prefix="in/", to_prefix="out/")
            except t4.TransferError as err:
                failed.append(err.summary.failed["in/big.bin"])

        worker = threading.Thread(target=copy)
        worker.start()
        assert wait_until(lambda: slow.counts["PUT"] > 0, timeout=60), "no part was sent"
        os.truncate(tmp_path / "source" / "in" / "big.bin", 64 * MiB)
        worker.join(timeout=120)
    assert len(failed) == 1 and isinstance(failed[0], t4.TransientError), failed
    assert "changed while it was copied" in str(failed[0]), failed[0]
    assert dst.keys() == [] and dst.pending_uploads() == []
