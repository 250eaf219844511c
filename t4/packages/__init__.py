"""Packages: named, versioned, immutable sets of files, byte-compatible with quilt3 8.0.0.

Example:
    >>> p = t4.Package().set_dir("data", "./data")  # doctest: +SKIP
    >>> p.push("team/data", registry="s3://bucket", message="first")  # doctest: +SKIP
    >>> t4.Package.browse("team/data", "s3://bucket")["data/a.csv"]()  # doctest: +SKIP
"""

from __future__ import annotations

from t4.packages.ops import list_package_versions, list_packages
from t4.packages.package import Package, PackageEntry
from t4.packages.registry import default_local_registry
from t4.packages.snapshot import publish, snapshot

__all__ = [
    "Package",
    "PackageEntry",
    "default_local_registry",
    "list_package_versions",
    "list_packages",
    "publish",
    "snapshot",
]
