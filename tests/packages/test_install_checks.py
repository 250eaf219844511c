"""Install checks what it copies, on a folder registry, moto and SeaweedFS: entries outside
the registry (a file of the installer, another bucket) are refused before anything is
written unless allowed (by install, and by fetch of a browsed package), and bytes changed in
the registry after the push (tampered through the raw path) fail install, fetch and reads by
name, leaving no tampered file."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from files import PACKAGE_FILES as FILES

import t4
from t4.packages import default_local_registry

T4 = str(Path(sys.executable).parent / "t4")


def _t4(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [T4, *args], env=os.environ.copy(), capture_output=True, text=True, timeout=120
    )


def _installed_locally(name: str) -> bool:
    return (default_local_registry() / ".quilt/named_packages" / name / "latest").exists()


def _no_part_files(root: Path) -> bool:
    return not [p for p in root.rglob("*") if ".t4part-" in p.name] if root.exists() else True


def _hostile(registry: str, source: Path, secret: Path) -> None:
    """The attacker's side: a package pushed as usual, then a version whose new entry names a
    path on the installer's machine, recorded in the shared registry as it is (``build``
    keeps physical keys)."""
    t4.Package().set_dir("/", source).push("team/evil", registry=registry)
    hostile = t4.Package.browse("team/evil", registry).set("notes.txt", secret)
    hostile.build("team/evil", registry=registry)


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """A file of the installer's own that a hostile manifest names."""
    path = tmp_path / "home" / ".ssh" / "id_ed25519"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"-----BEGIN OPENSSH PRIVATE KEY----- not for sharing\n")
    return path


def test_install_refuses_a_manifest_naming_a_local_file_of_the_installer(
    registry_store, source, secret, tmp_path
):
    _hostile(registry_store, source, secret)
    dest = tmp_path / "installed"
    with pytest.raises(t4.ExternalKeyError) as caught:
        t4.Package.install("team/evil", registry_store, dest=dest)
    message = str(caught.value)
    assert "'notes.txt'" in message and secret.as_uri() in message
    assert "allow_external=True" in message and "--allow-external" in message
    assert caught.value.key == "notes.txt" and isinstance(caught.value, PermissionError)
    assert not dest.exists()  # refused before anything was written
    assert not _installed_locally("team/evil")
    # Allowed explicitly, it installs as the manifest says.
    pkg = t4.Package.install("team/evil", registry_store, dest=dest, allow_external=True)
    assert (dest / "notes.txt").read_bytes() == secret.read_bytes()
    assert pkg.summary is not None and len(pkg.summary.transferred) == len(FILES) + 1


def test_fetch_of_a_browsed_package_refuses_what_its_manifest_names_outside(
    registry_store, source, secret, tmp_path
):
    _hostile(registry_store, source, secret)
    browsed = t4.Package.browse("team/evil", registry_store)
    dest = tmp_path / "fetched"
    with pytest.raises(t4.ExternalKeyError, match=re.escape(secret.as_uri())):
        browsed.fetch(dest)
    assert not dest.exists()  # refused before anything was written
    # An entry the user sets after browsing is theirs: fetched as given.
    mine = tmp_path / "mine.txt"
    mine.write_bytes(b"my own")
    browsed.delete("notes.txt").set("mine.txt", mine).fetch(dest)
    assert (dest / "mine.txt").read_bytes() == b"my own"
    browsed = t4.Package.browse("team/evil", registry_store)
    browsed.fetch(tmp_path / "allowed", allow_external=True)
    assert (tmp_path / "allowed" / "notes.txt").read_bytes() == secret.read_bytes()


def test_a_registry_manifest_entry_without_a_hash_is_refused(tmp_path, source, secret):
    """An entry with no hash could name any file and be copied unchecked: a manifest read
    from a registry must give every entry one (quilt3's pushes always do)."""
    registry = tmp_path / "reg"
    pushed = t4.Package().set_dir("/", source).push("team/data", registry=str(registry))
    manifest = registry / ".quilt/packages" / pushed.top_hash
    lines = manifest.read_text().splitlines()
    entry = json.loads(lines[1])
    entry.update(physical_keys=[secret.as_uri()], hash=None)
    manifest.write_text("\n".join([lines[0], json.dumps(entry), *lines[2:]]) + "\n")
    with pytest.raises(t4.T4Error, match=f"entry {entry['logical_key']!r} has no hash"):
        t4.Package.install("team/data", str(registry), dest=tmp_path / "no", allow_external=True)
    assert not (tmp_path / "no").exists()


def test_install_refuses_an_object_of_another_bucket(registry_store, store_kind, request,
                                                     tmp_path):  # fmt: skip
    server = request.getfixturevalue("seaweed_env" if store_kind == "seaweed" else "s3_env")
    other = f"t4-other-{uuid.uuid4().hex[:10]}"
    server.client().create_bucket(Bucket=other)
    server.client().put_object(Bucket=other, Key="private/data.csv", Body=b"a,b\n")
    hostile = t4.Package().set("data.csv", f"s3://{other}/private/data.csv")
    hostile.build("team/elsewhere", registry=registry_store)
    dest = tmp_path / "installed"
    with pytest.raises(t4.ExternalKeyError, match=f"s3://{other}/private/data.csv"):
        t4.Package.install("team/elsewhere", registry_store, dest=dest)
    assert not dest.exists() and not _installed_locally("team/elsewhere")
    t4.Package.install("team/elsewhere", registry_store, dest=dest, allow_external=True)
    assert (dest / "data.csv").read_bytes() == b"a,b\n"


def test_a_folder_registry_installs_its_own_files_but_not_a_link_out(tmp_path, source, secret):
    registry = tmp_path / "reg"
    t4.Package().set_dir("/", source).push("team/data", registry=str(registry))
    t4.Package.install("team/data", str(registry), dest=tmp_path / "ok")  # files inside it
    assert (tmp_path / "ok" / "data.txt").read_bytes() == FILES["data.txt"]
    (registry / "innocent.txt").symlink_to(secret)  # inside by name, outside in fact
    t4.Package().set("innocent.txt", registry / "innocent.txt").build("team/link", str(registry))
    with pytest.raises(t4.ExternalKeyError, match=re.escape("innocent.txt")):
        t4.Package.install("team/link", str(registry), dest=tmp_path / "no")
    assert not (tmp_path / "no").exists()


def test_cli_install_refuses_external_keys_unless_allowed(registry_store, source, secret,
                                                          tmp_path):  # fmt: skip
    _hostile(registry_store, source, secret)
    dest = tmp_path / "cli"
    refused = _t4("package", "install", "team/evil", "-r", registry_store, "--dest", str(dest))
    assert refused.returncode == 1 and refused.stdout == ""
    assert "notes.txt" in refused.stderr and "--allow-external" in refused.stderr
    assert "Traceback" not in refused.stderr and not dest.exists()
    allowed = _t4("package", "install", "team/evil", "-r", registry_store, "--dest", str(dest),
                  "--allow-external")  # fmt: skip
    assert allowed.returncode == 0, allowed.stderr
    assert f"({len(FILES) + 1} transferred, 0 skipped)" in allowed.stdout
    assert (dest / "notes.txt").read_bytes() == secret.read_bytes()


def _tamper(store_raw, key: str) -> bytes:  # type: ignore[no-untyped-def]
    """Replace the object at ``key`` with other bytes of the same size, as another tool
    with write access would; returns them."""
    evil = bytes(b ^ 0x20 for b in store_raw.read(key))
    store_raw.write(key, evil)
    return evil


def test_install_of_a_tampered_object_fails_and_writes_no_tampered_file(
    registry_store, store_raw, source, tmp_path
):
    pushed = t4.Package().set_dir("/", source).push("team/data", registry=registry_store)
    dest = tmp_path / "installed"
    t4.Package.install("team/data", registry_store, dest=dest)  # a good copy first
    evil = _tamper(store_raw, "team/data/data.txt")
    (dest / "data.txt").unlink()
    (dest / "README.md").write_bytes(b"# changed\n")  # re-fetched, alongside the tampered one
    with pytest.raises(t4.HashMismatchError) as caught:
        t4.Package.install("team/data", registry_store, dest=dest)
    assert "'data.txt'" in str(caught.value) and pushed.get("data.txt") in str(caught.value)
    assert f"package team/data@{pushed.top_hash[:7]} in " in str(caught.value)
    assert caught.value.key == "data.txt"
    assert not (dest / "data.txt").exists()  # never took the name
    assert _no_part_files(dest)
    assert (dest / "README.md").read_bytes() == FILES["README.md"]
    assert evil != FILES["data.txt"]


def test_install_keeps_the_previous_file_when_the_new_bytes_are_tampered(
    registry_store, store_raw, source, tmp_path
):
    t4.Package().set_dir("/", source).push("team/data", registry=registry_store)
    dest = tmp_path / "installed"
    t4.Package.install("team/data", registry_store, dest=dest)
    (source / "data.txt").write_bytes(b"DOT")
    t4.Package().set_dir("/", source).push("team/data", registry=registry_store, force=True)
    _tamper(store_raw, "team/data/data.txt")  # v2's bytes, changed after the push
    with pytest.raises(t4.HashMismatchError, match=re.escape("data.txt")):
        t4.Package.install("team/data", registry_store, dest=dest)
    assert (dest / "data.txt").read_bytes() == FILES["data.txt"]  # v1's, untouched
    assert _no_part_files(dest)


def test_reads_and_fetches_of_a_tampered_object_fail(registry_store, store_raw, source,
                                                     tmp_path):  # fmt: skip
    pushed = t4.Package().set_dir("/", source).push("team/data", registry=registry_store)
    _tamper(store_raw, "team/data/data/a.csv")
    browsed = t4.Package.browse("team/data", registry_store)
    for read in (browsed["data/a.csv"], browsed["data/a.csv"].get_bytes,
                 browsed["data/a.csv"].deserialize):  # fmt: skip
        with pytest.raises(t4.HashMismatchError, match=re.escape("data/a.csv")):
            read()
    with pytest.raises(t4.HashMismatchError, match=re.escape("data/a.csv")):
        browsed["data/a.csv"].fetch(tmp_path / "one.csv")
    assert not (tmp_path / "one.csv").exists()
    with pytest.raises(t4.HashMismatchError, match=re.escape("data/a.csv")) as caught:
        pushed.fetch(tmp_path / "all")
    assert str(caught.value).startswith(f"package team/data@{pushed.top_hash[:7]} in ")
    assert not (tmp_path / "all" / "data" / "a.csv").exists()
    assert (tmp_path / "all" / "data.txt").read_bytes() == FILES["data.txt"]
    assert _no_part_files(tmp_path)


def test_a_tampered_large_object_fails_install(registry_store, store_raw, tmp_path):
    big = os.urandom(9 * 1024 * 1024)  # past the in-memory size: the ranged download
    src = tmp_path / "src"
    src.mkdir()
    (src / "big.bin").write_bytes(big)
    t4.Package().set_dir("/", src).push("team/big", registry=registry_store)
    dest = tmp_path / "installed"
    t4.Package.install("team/big", registry_store, dest=dest)
    assert (dest / "big.bin").read_bytes() == big
    (dest / "big.bin").unlink()
    store_raw.write("team/big/big.bin", big[:-1] + bytes([big[-1] ^ 1]))
    with pytest.raises(t4.HashMismatchError, match=re.escape("big.bin")):
        t4.Package.install("team/big", registry_store, dest=dest)
    assert not (dest / "big.bin").exists() and _no_part_files(dest)


_READ_COUNTED = """
import sys, t4
def rchar():
    with open("/proc/self/io") as io:
        return next(int(line.split()[1]) for line in io if line.startswith("rchar:"))
before = rchar()
t4.Package.install("team/big", sys.argv[1], dest=sys.argv[2])
print(rchar() - before)
"""


def test_a_large_object_is_hashed_as_it_arrives_not_read_back(registry_store, store_kind,
                                                              tmp_path):  # fmt: skip
    """Install hashes a large object's bytes as they come (one ranged GET per hash chunk,
    hashed by the thread that read it) and never reads the written file again. Counted by
    the installing process's ``rchar`` (bytes passed to read(2) and the like; the S3
    client's socket reads are recv(2), not counted): from S3, a small part of the object's
    size (hashing the file from disk afterwards read 1.09x); from a folder registry, the
    source file once."""
    size = 40 * 1024 * 1024 + 3  # five hash chunks, the last one a few bytes
    big = os.urandom(size)
    src = tmp_path / "src"
    src.mkdir()
    (src / "big.bin").write_bytes(big)
    t4.Package().set_dir("/", src).push("team/big", registry=registry_store)
    dest = tmp_path / "installed"
    child = subprocess.run(
        [sys.executable, "-c", _READ_COUNTED, registry_store, str(dest)],
        env=os.environ.copy(), capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    read = int(child.stdout.split()[-1])
    assert (dest / "big.bin").read_bytes() == big
    limit = 1.5 if store_kind == "folder" else 0.5
    assert read < limit * size, f"{read / size:.2f}x the object's size was read"
