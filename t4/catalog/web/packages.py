"""The package pages of each bucket's registry (quilt3's layout): its packages, a
package's versions (time, message, short hash), a version's files with their metadata and
its README, and what changed since the version before."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from t4.bucket import Bucket
from t4.catalog.web.previews import markdown
from t4.catalog.web.render import bucket_of, page, safe_page
from t4.packages import Package
from t4.packages.registry import Registry, validate_name

__all__ = ["package_list", "package_version", "package_versions", "version_diff"]

#: Versions a package page lists, newest first.
MAX_VERSIONS = 100
#: A README larger than this is linked, not rendered.
README_BYTES = 1024 * 1024
_MANIFESTS = ".quilt/packages/"


@dataclass
class Version:
    top_hash: str
    short: str
    pushed: float | None
    message: str
    latest: bool


@safe_page
def package_list(request: Request) -> Response:
    index = request.path_params["index"]
    bucket = bucket_of(request, index)
    names = list(Registry(bucket).packages())
    return page(request, "packages.html", index=index, uri=bucket.uri, names=names)


@safe_page
def package_versions(request: Request) -> Response:
    index, name = request.path_params["index"], _name(request)
    bucket = bucket_of(request, index)
    return page(request, "package.html", index=index, name=name, versions=versions(bucket, name))


def versions(bucket: Bucket, name: str) -> list[Version]:
    """``name``'s versions, newest first, each once, messages from the manifests' headers."""
    registry = Registry(bucket)
    pointers = registry.versions(name)
    latest = dict(pointers).get("latest")
    seen: dict[str, float] = {}
    for pointer, top_hash in pointers:
        if pointer.isdigit():
            seen[top_hash] = max(seen.get(top_hash, 0), float(pointer))
    if latest and latest not in seen:
        seen[latest] = 0
    ordered = sorted(seen.items(), key=lambda item: -item[1])[:MAX_VERSIONS]
    return [
        Version(h, registry.short_hash(h), t or None, _message(bucket, h), h == latest)
        for h, t in ordered
    ]


def _message(bucket: Bucket, top_hash: str) -> str:
    """The message in the manifest's first line (its header), read alone."""
    with bucket.open(_MANIFESTS + top_hash, read_ahead=64 * 1024) as manifest:
        first = manifest.readline(64 * 1024)
    try:
        header = json.loads(first)
    except ValueError:
        return ""
    message = header.get("message") if isinstance(header, dict) else None
    return message if isinstance(message, str) else ""


@safe_page
def package_version(request: Request) -> Response:
    index, name = request.path_params["index"], _name(request)
    bucket = bucket_of(request, index)
    pkg, top_hash = _browse(bucket, name, request.path_params["top_hash"])
    entries = [
        {
            "key": lk,
            "depth": lk.count("/"),
            "size": entry.size,
            "hash": (entry.hash or {}).get("value", ""),
            "meta": entry.meta,
            "physical": entry.get(),
        }
        for lk, entry in pkg.walk()
    ]
    return page(
        request,
        "version.html",
        index=index,
        name=name,
        top_hash=top_hash,
        short=Registry(bucket).short_hash(top_hash),
        message=pkg.message or "",
        meta=pkg.meta,
        entries=entries,
        readme=_readme(pkg),
    )


def _browse(bucket: Bucket, name: str, wanted: str) -> tuple[Package, str]:
    top_hash = Registry(bucket).resolve(wanted)
    return Package.browse(name, registry=bucket, top_hash=top_hash), top_hash


def _readme(pkg: Package) -> str:
    """The package's README.md as HTML (raw HTML in it escaped), or ``""``."""
    for lk in ("README.md", "readme.md", "README.markdown"):
        if lk in pkg:
            entry = pkg[lk]
            if getattr(entry, "size", README_BYTES + 1) <= README_BYTES:
                data: bytes = entry.get_bytes()  # type: ignore[union-attr]  # an entry
                return markdown(data.decode("utf-8", errors="replace"))
    return ""


@safe_page
def version_diff(request: Request) -> Response:
    """What changed from the version pushed before this one to this one."""
    index, name = request.path_params["index"], _name(request)
    bucket = bucket_of(request, index)
    pkg, top_hash = _browse(bucket, name, request.path_params["top_hash"])
    hashes = [v.top_hash for v in versions(bucket, name)]
    before = hashes[hashes.index(top_hash) + 1] if top_hash in hashes[:-1] else None
    changes: dict[str, Any] = {"added": [], "modified": [], "deleted": []}
    if before is not None:
        old, _ = _browse(bucket, name, before)
        added, modified, deleted = old.diff(pkg)
        changes = {"added": added, "modified": modified, "deleted": deleted}
    return page(
        request,
        "diff.html",
        index=index,
        name=name,
        top_hash=top_hash,
        before=before,
        changes=changes,
    )


def _name(request: Request) -> str:
    return validate_name(f"{request.path_params['user']}/{request.path_params['package']}")
