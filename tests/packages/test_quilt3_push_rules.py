"""What quilt3 8.0.0 accepts and refuses when pushing onto an existing name, run against the
real quilt3 and t4 on moto: a fresh ``Package()`` onto an existing name is refused, even
with the same content (the README's example run twice, a nightly job), and the refusal
names the flag that allows it; ``force=True`` and a browsed-then-changed package go in."""

from __future__ import annotations

from pathlib import Path

import t4

#: (step, how the package is made, force) in the order run, on one name.
STEPS = [
    ("first", "fresh-a", False),
    ("again, same content", "fresh-a", False),
    ("again, other content", "fresh-b", False),
    ("other content, forced", "fresh-b", True),
    ("browsed and changed", "browsed", False),
]

QUILT3_STEPS = """
def make(kind):
    if kind == "browsed":
        pkg = quilt3.Package.browse("team/rules", registry=reg)
        return pkg.set("c.txt", args["c"])
    return quilt3.Package().set("a.txt", args["a" if kind == "fresh-a" else "b"])
reg = args["registry"]
result = []
for step, kind, force in args["steps"]:
    try:
        make(kind).push("team/rules", registry=reg, message=kind, force=force)
        result.append([step, "pushed", ""])
    except Exception as err:
        result.append([step, type(err).__name__, str(err)])
"""


def _files(tmp_path: Path) -> dict[str, str]:
    paths = {}
    for name in ("a", "b", "c"):
        path = tmp_path / f"{name}.txt"
        path.write_text(f"content {name}\n")
        paths[name] = str(path)
    return paths


def _t4_steps(registry: str, files: dict[str, str]) -> list[list[str]]:
    def make(kind: str) -> t4.Package:
        if kind == "browsed":
            return t4.Package.browse("team/rules", registry).set("c.txt", files["c"])
        return t4.Package().set("a.txt", files["a" if kind == "fresh-a" else "b"])

    seen = []
    for step, kind, force in STEPS:
        try:
            make(kind).push("team/rules", registry=registry, message=kind, force=force)
            seen.append([step, "pushed", ""])
        except t4.PackageConflictError as err:
            seen.append([step, "conflict", str(err)])
    return seen


def test_pushes_onto_an_existing_name_go_in_or_are_refused_as_quilt3s(
    q3, s3_env, tmp_path, s3_bucket_uri
):
    files = _files(tmp_path)
    theirs_bucket = s3_bucket_uri + "-q3"
    s3_env.client().create_bucket(Bucket=theirs_bucket[5:])
    theirs = q3.run(QUILT3_STEPS, registry=theirs_bucket, steps=STEPS, **files)
    ours = _t4_steps(s3_bucket_uri, files)
    names = {"QuiltConflictException": "conflict", "pushed": "pushed"}
    assert [[s, names.get(o, o)] for s, o, _ in theirs] == [[s, o] for s, o, _ in ours]
    assert [o for _, o, _ in ours] == ["pushed", "conflict", "conflict", "pushed", "pushed"]
    for _, outcome, message in ours:
        if outcome == "conflict":
            assert "force=True" in message and "--force" in message
    for _, outcome, message in theirs:
        if outcome != "pushed":
            assert "force=True" in message and "--force" in message
    assert len(t4.list_package_versions("team/rules", s3_bucket_uri)) == 3 + 1  # and latest
