"""Local trees for tests: write one from a dict, read one back as ``os`` sees it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

__all__ = ["PACKAGE_FILES", "read_tree", "write_tree"]

#: A package's worth of awkward names: walk order (``data/a.csv`` < ``data-x.txt`` <
#: ``data.txt``), characters S3 URLs must quote, non-ASCII, an empty file.
PACKAGE_FILES = {
    "README.md": b"# hello\n",
    "data/a.csv": b"a,b\n1,2\n",
    "data-x.txt": b"dash",
    "data.txt": b"dot",
    "Z.txt": b"upper",
    "data/odd #1 ?&%+=.txt": b"odd",
    "data/\u00fcn\u00ef c\u00f8d\u00e9 \u2713.txt": "unicode \u2713".encode(),
    "nested/deep/empty.bin": b"",
}


def write_tree(root: Path, files: dict[str, str] | dict[str, bytes]) -> Path:
    """Write ``{relative path: text or bytes}`` under ``root``; returns ``root``."""
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return root


def read_tree(root: Path, *, text: bool = False) -> dict[str, Any]:
    """Every file under ``root`` (a local bucket's ``.t4`` left out), by relative path."""
    found: dict[str, Any] = {}
    for dirpath, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d != ".t4"]
        for name in names:
            path = Path(dirpath, name)
            rel = path.relative_to(root).as_posix()
            found[rel] = path.read_text() if text else path.read_bytes()
    return found
