"""The registry stores a team may share, as the package tests get them: each answers plain
reads and writes, and SeaweedFS is a real server, not a skip."""

from __future__ import annotations

import t4


def test_each_store_takes_a_push_and_lists_it(registry_store, store_raw, source):
    pkg = t4.Package().set_dir("", source)
    pkg.push("team/data", registry=registry_store, message="first")
    assert list(t4.list_packages(registry_store)) == ["team/data"]
    assert any(k.startswith(".quilt/named_packages/team/data/") for k in store_raw.listing())
