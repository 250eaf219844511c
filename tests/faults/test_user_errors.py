"""Failures a user hits in the first hour, each a ``t4.T4Error`` (and the builtin that fits)
that names the bucket, key or path and the fix: AWS settings that do not parse, a fetch
into a full or read-only folder, a cache folder that cannot be written, search on a
read-only local bucket, and a write the server refuses with a 404.

Full and read-only filesystems are real: small tmpfs mounts (the tests run as root, whom a
file mode would not stop). Where mounting is not allowed, those tests are skipped, saying so.
"""

from __future__ import annotations

import errno
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from files import write_tree
from proxy import FaultProxy
from servers import Raw

import t4

# --- AWS settings ---------------------------------------------------------------------------


def _open_and_list(uri: str = "s3://some-bucket", **kw: str) -> None:
    with t4.Bucket(uri, **kw) as b:
        b.keys()


def test_an_unknown_profile_names_it_the_file_and_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "aws-config"
    config.write_text("[profile team]\nregion = us-east-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    for how in ({"profile": "nope"}, {}):
        if not how:
            monkeypatch.setenv("AWS_PROFILE", "nope")
        with pytest.raises(t4.ConfigError) as err:
            _open_and_list(**how)
        message = str(err.value)
        assert isinstance(err.value, ValueError) and err.value.bucket == "s3://some-bucket"
        assert "'nope'" in message and "s3://some-bucket" in message and str(config) in message
        assert "team" in message and "AWS_PROFILE" in message  # what exists, how to choose


@pytest.mark.parametrize(
    ("argument", "variable", "value", "looks_like"),
    [
        ("region", "AWS_DEFAULT_REGION", "not a region!", "'us-east-1'"),
        ("region", "AWS_DEFAULT_REGION", "us east 1", "'us-east-1'"),
        ("endpoint_url", "AWS_ENDPOINT_URL", "not-a-url", "'http://"),
        ("endpoint_url", "AWS_ENDPOINT_URL", "ftp://127.0.0.1:9000", "'http://"),
        ("endpoint_url", "AWS_ENDPOINT_URL", "http//127.0.0.1", "'http://"),
    ],
)
def test_a_bad_region_or_endpoint_names_it_its_source_and_the_fix(
    monkeypatch: pytest.MonkeyPatch, argument: str, variable: str, value: str, looks_like: str
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
    with pytest.raises(t4.ConfigError) as err:
        _open_and_list(**{argument: value})
    message = str(err.value)
    assert repr(value) in message and "s3://some-bucket" in message and looks_like in message
    assert f"{argument}=" in message
    monkeypatch.setenv(variable, value)
    with pytest.raises(t4.ConfigError, match=variable):
        _open_and_list()


@pytest.mark.parametrize("variable", ["AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"])
def test_a_malformed_aws_file_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    broken = tmp_path / "broken"
    broken.write_text("[default\nregion = us-east-1\n")
    monkeypatch.setenv(variable, str(broken))
    with pytest.raises(t4.ConfigError) as err:
        _open_and_list()
    assert str(broken) in str(err.value) and variable in str(err.value)
    assert "s3://some-bucket" in str(err.value)


# --- local folders that cannot be written ------------------------------------------------


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[..., Path]]:
    """``tmpfs(name, size="64k", files={...}, read_only=False)``: a real small filesystem,
    filled with ``files`` and then made read-only if asked; unmounted afterwards."""
    mounted: list[Path] = []

    def mount(
        name: str, size: str = "64k", files: dict[str, str] | None = None, read_only: bool = False
    ) -> Path:
        where = tmp_path / name
        where.mkdir()
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
            capture_output=True,
            check=False,
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip()})")
        mounted.append(where)
        write_tree(where, files or {})
        if read_only:
            subprocess.run(["mount", "-o", "remount,ro", str(where)], check=True)
        return where

    yield mount
    for where in reversed(mounted):
        subprocess.run(["umount", "-l", str(where)], check=False)


BIG = "x" * 200_000  # more than a 64 KiB tmpfs holds


@pytest.fixture(params=["local", "s3"])
def source(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[t4.Bucket]:
    """A bucket holding ``d/big.txt`` (200 kB) and ``d/small.txt``, on each backend."""
    if request.param == "s3":
        uri = str(request.getfixturevalue("s3_raw").uri)
    else:
        (tmp_path / "lake").mkdir()
        uri = str(tmp_path / "lake")
    with t4.Bucket(uri) as b:
        b.put("d/big.txt", BIG)
        b.put("d/small.txt", "small")
        yield b


def _no_parts(folder: Path) -> None:
    assert not [p for p in folder.rglob("*") if ".t4part-" in p.name]


def test_fetch_into_a_full_disk_names_the_destination(
    source: t4.Bucket, tmpfs: Callable[..., Path]
) -> None:
    disk = tmpfs("disk")
    with pytest.raises(t4.DestinationError) as err:
        source.fetch("d/big.txt", disk / "big.txt")
    assert isinstance(err.value, OSError) and err.value.errno == errno.ENOSPC
    message = str(err.value)
    assert str(disk / "big.txt") in message and "'d/big.txt'" in message and source.uri in message
    assert "no space left" in message.lower() and ".t4part-" not in message
    _no_parts(disk)
    assert list(disk.iterdir()) == []


def test_fetch_of_a_folder_into_a_full_disk_names_each_destination(
    source: t4.Bucket, tmpfs: Callable[..., Path]
) -> None:
    disk = tmpfs("disk")
    # One file at a time: big.txt (listed first) fills the disk and is removed before
    # small.txt starts, so which file the full disk refuses never depends on thread timing.
    source.concurrency = 1
    with pytest.raises(t4.TransferError) as err:
        source.fetch("d/", disk / "copy")
    failure = err.value.failures["d/big.txt"]
    assert str(disk / "copy" / "big.txt") in str(failure) and ".t4part-" not in str(failure)
    assert "no space left" in str(failure).lower()
    _no_parts(disk)
    assert (disk / "copy" / "small.txt").read_text() == "small"


@pytest.mark.parametrize("target", ["here/", "here/new/", "here/f.txt"])
def test_fetch_into_a_read_only_folder_names_it(
    source: t4.Bucket, tmpfs: Callable[..., Path], target: str
) -> None:
    ro = tmpfs("ro", files={"here/keep.txt": "keep"}, read_only=True)
    for key in ("d/small.txt", "d/"):
        with pytest.raises((t4.DestinationError, t4.TransferError)) as err:
            source.fetch(key, str(ro / target))
        message = str(err.value)
        assert str(ro / "here") in message and "read-only" in message, message
        assert ".t4part-" not in message
    assert sorted(p.name for p in (ro / "here").iterdir()) == ["keep.txt"]


@pytest.mark.parametrize("how", ["under a file", "read-only"])
def test_an_unwritable_cache_folder_names_it_and_t4_cache_dir(
    s3_raw: Raw, tmp_path: Path, tmpfs: Callable[..., Path], monkeypatch: pytest.MonkeyPatch,
    how: str,
) -> None:  # fmt: skip
    if how == "read-only":
        cache = tmpfs("cache", read_only=True) / "t4"
    else:
        (tmp_path / "a-file").write_text("not a folder")
        cache = tmp_path / "a-file" / "t4"
    monkeypatch.setenv("T4_CACHE_DIR", str(cache))
    src = write_tree(tmp_path / "src", {"a.txt": "a"})
    s3_raw.write("up/a.txt", b"a")
    with t4.Bucket(s3_raw.uri) as b:
        for call in (
            lambda: b.put_dir("up", src),
            lambda: b.fetch("up/", tmp_path / "out"),
            lambda: b.search("a"),
        ):
            with pytest.raises(t4.T4Error) as err:
                call()
            assert isinstance(err.value, OSError)
            assert str(cache) in str(err.value) and "T4_CACHE_DIR" in str(err.value)


def test_search_on_a_read_only_local_bucket_reads_its_index(
    tmpfs: Callable[..., Path],
) -> None:
    lake = tmpfs("lake", size="4m")
    with t4.Bucket(lake) as b:
        b.put("heroes/thor.json", {"name": "thor"}, meta={"team": "asgard"})
        b.put("heroes/loki.json", {"name": "loki"})
        assert [h["key"] for h in b.search("user_meta.team:asgard")] == ["heroes/thor.json"]
    subprocess.run(["mount", "-o", "remount,ro", str(lake)], check=True)
    with t4.Bucket(lake) as b:
        assert [h["key"] for h in b.search("user_meta.team:asgard")] == ["heroes/thor.json"]
        assert {h["key"] for h in b.search("loki OR thor")} == {
            "heroes/thor.json", "heroes/loki.json",
        }  # fmt: skip


def test_search_on_a_read_only_local_bucket_without_an_index_says_why(
    tmpfs: Callable[..., Path],
) -> None:
    lake = tmpfs("lake", files={"a.json": '{"a": 1}'}, read_only=True)
    with t4.Bucket(lake) as b, pytest.raises(t4.T4Error) as err:
        b.search("a")
    message = str(err.value)
    assert b.uri in message and "read-only" in message and "index" in message
    assert err.value.bucket == b.uri


def test_index_or_search_of_a_folder_that_does_not_exist_names_it_and_creates_nothing(
    tmp_path: Path,
) -> None:
    missing = tmp_path / "no-such-lake"
    with t4.Bucket(missing) as b:
        for call in (b.index, lambda: b.search("a")):
            with pytest.raises(t4.BucketNotFoundError) as err:
                call()
            assert isinstance(err.value, FileNotFoundError)
            assert f"no such folder {missing}" in str(err.value) and err.value.bucket == b.uri
    assert not missing.exists()


@pytest.fixture
def read_only_view(tmp_path: Path) -> Iterator[Callable[[Path], Path]]:
    """``read_only_view(folder)``: a read-only bind mount of ``folder`` (writes there fail with
    EROFS, even for root), while ``folder`` itself stays writable; unmounted afterwards."""
    mounted: list[Path] = []

    def view(folder: Path) -> Path:
        where = tmp_path / f"{folder.name}-ro"
        where.mkdir()
        for args in (["--bind"], ["-o", "remount,bind,ro"]):
            done = subprocess.run(
                ["mount", *args, str(folder), str(where)], capture_output=True, check=False
            )
            if done.returncode != 0:
                pytest.skip(f"cannot bind-mount read-only here ({done.stderr.decode().strip()})")
            if not mounted or mounted[-1] != where:
                mounted.append(where)
        return where

    yield view
    for where in reversed(mounted):
        subprocess.run(["umount", "-l", str(where)], check=False)


def test_search_on_a_read_only_view_of_a_folder_being_written_reads_its_index(
    tmp_path: Path, read_only_view: Callable[[Path], Path], caplog: pytest.LogCaptureFixture
) -> None:
    # A writer holds the index open (its WAL files beside it) and never searched, so it was
    # never crawled: SQLite opened it "for writing" read-only, and the crawl's mark hit EROFS.
    (tmp_path / "lake").mkdir()
    with t4.Bucket(tmp_path / "lake") as writer:
        writer.put("heroes/thor.json", {"name": "thor"}, meta={"team": "asgard"})
        assert (tmp_path / "lake" / ".t4" / "index.sqlite-wal").exists()
        view = read_only_view(tmp_path / "lake")
        with t4.Bucket(view) as b, caplog.at_level("WARNING", logger="t4.search.upkeep"):
            assert [h["key"] for h in b.search("user_meta.team:asgard")] == ["heroes/thor.json"]
            with pytest.raises(t4.CacheError, match="can only be read here"):
                b.index()
    assert "read-only" in caplog.text and "without crawling" in caplog.text
    assert not (tmp_path / "lake" / ".t4" / "index.sqlite.crawled").exists()


# --- a write the server refuses with 404 ------------------------------------------------


@pytest.mark.parametrize("size", [10, 9 * 1024 * 1024], ids=["small", "multipart"])
def test_a_404_on_a_write_says_the_bucket_is_missing_not_the_key(
    s3_raw: Raw, fault_proxy: Callable[..., FaultProxy], tmp_path: Path, size: int
) -> None:
    """The bucket answers HEAD and listings, but every write gets S3's 404 NoSuchBucket
    (deleted meanwhile, or a gateway that routes writes elsewhere)."""
    proxy = fault_proxy(
        faults=("404",), rate=1.0, only=lambda method, path: method in ("PUT", "POST")
    )
    (tmp_path / "f.bin").write_bytes(b"x" * size)
    with t4.Bucket(s3_raw.uri, endpoint_url=proxy.url) as b:
        for call in (
            lambda: b.put_file("k.bin", tmp_path / "f.bin"),
            lambda: b.put("k.json", {"a": 1}),
        ):
            with pytest.raises(t4.BucketNotFoundError) as err:
                call()
            assert not isinstance(err.value, t4.KeyNotFoundError)
            assert f"bucket {s3_raw.uri} does not exist" in str(err.value)
    assert s3_raw.listing() == []
