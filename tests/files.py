"""Local trees for tests: write one from a dict, read one back as ``os`` sees it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

__all__ = ["read_tree", "write_tree"]


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
