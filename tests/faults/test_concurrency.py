"""Two processes write the same local-folder bucket at once, on different keys and on the
same keys, while a third reads. The bucket stays consistent (each object's bytes and its
metadata come from the same write), the search index agrees with the bucket, and a reader
never sees half an object."""

from __future__ import annotations

import json
from pathlib import Path

import t4
from faults.conftest import spawn

WRITER = """
import sys, t4
who, rounds = {who!r}, {rounds}
b = t4.Bucket({lake!r})
payload = "x" * 200_000  # large enough that a torn write would show
for i in range(rounds):
    b.put(f"own/{{who}}/{{i}}.json", {{"who": who, "i": i}}, meta={{"who": who, "i": i}})
    b.put(f"shared/{{i % 5}}.json", {{"who": who, "i": i, "pad": payload}},
          meta={{"who": who, "i": i}})
b.close()
"""

READER = """
import json, time, t4
b = t4.Bucket({lake!r})
deadline = time.monotonic() + 60
seen = 0
while time.monotonic() < deadline:
    for k in range(5):
        try:
            obj = b(f"shared/{{k}}.json")
        except KeyError:
            continue
        assert set(obj) == {{"who", "i", "pad"}} and len(obj["pad"]) == 200_000, obj.keys()
        seen += 1
    if open({stop!r}).read():
        break
print("reads", seen)
"""


def test_two_writers_and_a_reader(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    lake.mkdir()
    stop = tmp_path / "stop"
    stop.write_text("")
    rounds = 40
    reader = spawn(READER.format(lake=str(lake), stop=str(stop)), cwd=tmp_path)
    writers = [
        spawn(WRITER.format(who=who, rounds=rounds, lake=str(lake)), cwd=tmp_path)
        for who in ("A", "B")
    ]
    codes = [w.wait(timeout=120) for w in writers]
    stop.write_text("stop")
    assert reader.wait(timeout=120) == 0, _outputs(tmp_path)
    assert codes == [0, 0], _outputs(tmp_path)

    keys = sorted(
        p.relative_to(lake).as_posix()
        for p in lake.rglob("*")
        if p.is_file() and ".t4" not in p.relative_to(lake).parts
    )
    expected = sorted(
        [f"own/{who}/{i}.json" for who in "AB" for i in range(rounds)]
        + [f"shared/{k}.json" for k in range(5)]
    )
    assert keys == expected
    with t4.Bucket(lake) as b:
        for key in keys:
            content = json.loads((lake / key).read_bytes())
            meta = b.get_meta(key)["user_meta"]
            # The bytes and the metadata of an object come from one and the same write.
            assert meta == {"who": content["who"], "i": content["i"]}, key
        indexed = sorted(hit["key"] for hit in b.search("*", limit=1000))
        assert indexed == keys
        for k in range(5):
            content = json.loads((lake / f"shared/{k}.json").read_bytes())
            hits = b.search(f"key:'shared/{k}.json'", limit=5)
            assert [h["meta"] for h in hits] == [{"who": content["who"], "i": content["i"]}]
    leftovers = [p.name for p in (lake / ".t4" / "tmp").iterdir()]
    assert leftovers == []


def _outputs(folder: Path) -> str:
    return "\n".join(p.read_text(errors="replace")[-2000:] for p in folder.glob("child-*.out"))
