"""The documents and queries the search tests share: each query with the keys it must find.

Shared by the embedded-index tests and the catalog tests (the same queries must give the
same hits on both paths), so it is a plain module, not a fixture copied between files.
"""

from __future__ import annotations

from datetime import UTC, datetime

from t4.search import Document


def _at(day: int) -> datetime:
    return datetime(2024, 1, day, 12, 0, tzinfo=UTC)


DOCS = [
    Document(
        "heroes/thor.json", 120, "e1", _at(1), "v1",
        {"name": "Thor", "stage": "raw", "rows": 150, "created": "2023-05-01"},
        '{"weapon": "hammer", "realm": "asgard"}',
    ),
    Document(
        "heroes/loki.json", 90, "e2", _at(2), None,
        {"name": "Loki Laufeyson", "stage": "clean", "rows": 4999, "created": "2023-11-20",
         "tags": ["trickster", "giant"]},
        "shape shifter",
    ),
    Document("tmp/scratch.tmp", 3, "e3", _at(3), None, {"stage": "raw", "rows": 100}, None),
    Document(
        "notes/readme.md", 300, "e4", _at(4), None,
        {"owner": {"team": "asgard ops"}}, "The mighty Thor wields Mjolnir",
    ),
    Document(
        "data/table.csv", 2048, "e5", _at(5), None,
        {"stage": "raw", "rows": 5001, "name": "thor's table"}, "name age\nthor 1500",
    ),
    Document("data/c#d?.txt", 10, "e6", _at(6), None, {"name": "o'brien"}, "50% off_sale"),
]  # fmt: skip

#: query -> the keys it finds (as a set: ranking is checked separately).
EXPECTED: dict[str, set[str]] = {
    "thor": {"heroes/thor.json", "notes/readme.md", "data/table.csv"},
    "THOR": {"heroes/thor.json", "notes/readme.md", "data/table.csv"},
    "mighty thor": {"notes/readme.md"},
    "mighty OR shifter": {"notes/readme.md", "heroes/loki.json"},
    '"mighty thor"': {"notes/readme.md"},
    "'mighty thor'": {"notes/readme.md"},
    '"thor mighty"': set(),
    "thor AND NOT mighty": {"heroes/thor.json", "data/table.csv"},
    "thor -json": {"notes/readme.md", "data/table.csv"},
    "asg*": {"heroes/thor.json", "notes/readme.md"},
    "*jolni*": {"notes/readme.md"},
    "content:hammer": {"heroes/thor.json"},
    "text:thor": {"notes/readme.md", "data/table.csv"},
    "user_meta:laufeyson": {"heroes/loki.json"},
    "user_meta.name:'thor'": {"heroes/thor.json", "data/table.csv"},
    'user_meta.name:"thor"': {"heroes/thor.json", "data/table.csv"},
    "user_meta.name:thor": {"heroes/thor.json", "data/table.csv"},
    "user_meta.name:'Loki Laufeyson'": {"heroes/loki.json"},
    "user_meta.name:\"o'brien\"": {"data/c#d?.txt"},
    "user_meta.name:lo*": {"heroes/loki.json"},
    "user_meta.name:*": {"heroes/thor.json", "heroes/loki.json", "data/table.csv", "data/c#d?.txt"},
    "user_meta.stage:raw AND NOT key:*.tmp": {"heroes/thor.json", "data/table.csv"},
    "user_meta.stage:raw OR user_meta.stage:clean": {
        "heroes/thor.json", "heroes/loki.json", "tmp/scratch.tmp", "data/table.csv",
    },
    "user_meta.stage:(raw OR clean) AND NOT user_meta.rows:[5000 TO *]": {
        "heroes/thor.json", "heroes/loki.json", "tmp/scratch.tmp",
    },
    "user_meta.rows:[100 TO 5000]": {"heroes/thor.json", "heroes/loki.json", "tmp/scratch.tmp"},
    "user_meta.rows:{100 TO 5000}": {"heroes/thor.json", "heroes/loki.json"},
    "user_meta.rows:>5000": {"data/table.csv"},
    "user_meta.rows:150": {"heroes/thor.json"},
    "user_meta.created:[2023-06-01 TO 2023-12-31]": {"heroes/loki.json"},
    "user_meta.owner.team:asgard": {"notes/readme.md"},
    "user_meta.owner.team:'asgard ops'": {"notes/readme.md"},
    "user_meta.tags:trickster": {"heroes/loki.json"},
    "key:heroes/*": {"heroes/thor.json", "heroes/loki.json"},
    "key:heroes/thor.json": {"heroes/thor.json"},
    'key:"data/c#d?.txt"': {"data/c#d?.txt"},
    "key:*.tmp": {"tmp/scratch.tmp"},
    "version_id:v1": {"heroes/thor.json"},
    "size:[100 TO 1000]": {"heroes/thor.json", "notes/readme.md"},
    "size:>=2048": {"data/table.csv"},
    "last_modified:[2024-01-04 TO now]": {"notes/readme.md", "data/table.csv", "data/c#d?.txt"},
    "last_modified:2024-01-02": {"heroes/loki.json"},
    "thor AND user_meta.stage:raw AND size:<1000": {"heroes/thor.json"},
    "(thor OR loki) AND user_meta.rows:[1 TO 200]": {"heroes/thor.json"},
    "hammer OR user_meta.tags:giant": {"heroes/thor.json", "heroes/loki.json"},
    "NOT user_meta.stage:raw": {"heroes/loki.json", "notes/readme.md", "data/c#d?.txt"},
}  # fmt: skip
