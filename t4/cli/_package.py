"""``t4 package ...``: list, browse, push, install and diff packages in a registry (an S3
bucket or a local folder; default: the local registry quilt3 uses too)."""

from __future__ import annotations

import argparse
import contextlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from t4.bucket import Bucket
from t4.cli import _render as render
from t4.cli._commands import open_bucket

# t4.packages loads when a package command runs, not with every ``t4`` command.
__all__ = ["add_package_command"]

_EXAMPLES = """\
  t4 package ls s3://my-bucket
  t4 package push team/data ./data -r s3://my-bucket -m "first" --meta '{"k": 1}'
  t4 package browse team/data -r s3://my-bucket --top-hash 2eafad
  t4 package install team/data -r s3://my-bucket --dest ./data
  t4 package install team/data -r s3://my-bucket --dest ./data --allow-external
  t4 package versions team/data -r s3://my-bucket
  t4 package diff team/data -r s3://my-bucket 2eafad 7c01bb"""


def add_package_command(
    subs: Any, add_common: Callable[[argparse.ArgumentParser, Any], None], json_object: Any
) -> None:
    """Add ``package`` and its subcommands to the ``t4`` parser."""
    top = subs.add_parser(
        "package",
        help="list, browse, push, install and diff packages (quilt3-compatible)",
        description="Packages: named, versioned sets of files, readable by quilt3 8.",
        epilog=f"examples:\n{_EXAMPLES}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    verbs = top.add_subparsers(title="package commands", metavar="ACTION")

    def verb(name: str, summary: str, run: Callable[[argparse.Namespace], int]) -> Any:
        examples = "\n".join(line for line in _EXAMPLES.splitlines() if f" package {name} " in line)
        sub = verbs.add_parser(
            name,
            help=summary,
            description=summary[0].upper() + summary[1:],
            epilog=f"example{'s' if examples.count(chr(10)) else ''}:\n{examples}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        add_common(sub, argparse.SUPPRESS)
        sub.set_defaults(run=run, cmd_parser=sub)
        return sub

    def registry_option(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("-r", "--registry", metavar="REGISTRY",
                         help="s3://bucket or a folder (default: the local registry)")  # fmt: skip

    ls = verb("ls", "list the packages in a registry", _ls)
    ls.add_argument("registry", nargs="?", metavar="REGISTRY", help="s3://bucket or a folder")
    for name, summary, run in (
        ("versions", "list a package's versions: pointer and top hash", _versions),
        ("browse", "show a version's entries as a table", _browse),
        ("install", "copy a version's files to a folder", _install),
    ):
        sub = verb(name, summary, run)
        sub.add_argument("name", metavar="NAME", help="the package, user/package")
        registry_option(sub)
        if name != "versions":
            sub.add_argument("--top-hash", metavar="H", help="a version (6+ hex digits)")
        if name == "install":
            sub.add_argument("--dest", required=True, metavar="DIR", help="the local folder")
            sub.add_argument("--allow-external", action="store_true",
                             help="also copy entries whose bytes are outside the registry "
                                  "(another bucket, a local path): only for a trusted "
                                  "registry")  # fmt: skip
    push = verb("push", "push a folder or s3:// prefix as the package's next version", _push)
    push.add_argument("name", metavar="NAME", help="the package, user/package")
    push.add_argument("source", metavar="DIR", help="a local folder or s3://bucket/prefix/")
    registry_option(push)
    push.add_argument("-m", "--message", help="the version's message")
    push.add_argument("--meta", type=json_object, metavar="JSON", help="package metadata")
    push.add_argument("--force", action="store_true", help="push even if latest moved")
    push.add_argument(
        "--workflow",
        metavar="ID",
        default=...,
        help="the registry's workflow to check the push against (default: its default)",
    )
    diff = verb("diff", "list the keys added, modified and deleted from H1 to H2", _diff)
    diff.add_argument("name", metavar="NAME", help="the package, user/package")
    registry_option(diff)
    diff.add_argument("first", metavar="H1", help="the older version (6+ hex digits)")
    diff.add_argument("second", metavar="H2", help="the newer version")
    top.set_defaults(run=lambda args: _usage(top), cmd_parser=top)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


@contextlib.contextmanager
def _registry(args: argparse.Namespace, given: str | None = None) -> Iterator[Bucket]:
    from t4.packages import default_local_registry
    from t4.packages.manifest import PhysicalKey

    where = given or args.registry or str(default_local_registry())
    if not where.startswith("s3://"):
        local = PhysicalKey.from_url(where).path if where.startswith("file://") else where
        Path(local).expanduser().mkdir(parents=True, exist_ok=True)
    with open_bucket(args, where) as bucket:
        yield bucket


def _ls(args: argparse.Namespace) -> int:
    from t4.packages import list_packages

    with _registry(args, args.registry) as reg:
        names = list_packages(reg)
    render.emit(args, names, "\n".join(names) if names else None)
    return 0


def _versions(args: argparse.Namespace) -> int:
    from t4.packages import list_package_versions

    with _registry(args) as reg:
        found = list_package_versions(args.name, reg)
    text = "\n".join(f"{pointer:<12} {top}" for pointer, top in found)
    render.emit(args, [{"pointer": p, "top_hash": h} for p, h in found], text or None)
    return 0


def _browse(args: argparse.Namespace) -> int:
    from t4.packages import Package

    with _registry(args) as reg:
        pkg = Package.browse(args.name, reg, args.top_hash)
    entries = [
        {"logical_key": lk, "size": e.size, "meta": e.meta, "url": e.get()} for lk, e in pkg.walk()
    ]
    data = {"name": args.name, "top_hash": pkg.top_hash, "message": pkg.message,
            "meta": pkg.meta, "entries": entries}  # fmt: skip
    width = max([len(e["logical_key"]) for e in entries] + [11])
    lines = [f"{args.name}@{pkg.top_hash[:7]}  {pkg.message or ''}".rstrip()]
    lines.append(f"{'LOGICAL KEY':<{width}} {'SIZE':>12}  META")
    for e in entries:
        meta = json.dumps(e["meta"]) if e["meta"] else ""
        lines.append(f"{e['logical_key']:<{width}} {e['size']:>12,}  {meta}".rstrip())
    render.emit(args, data, "\n".join(lines))
    return 0


def _push(args: argparse.Namespace) -> int:
    from t4.packages import publish as publish_package

    with _registry(args) as reg:
        pushed, previous = publish_package(
            args.source, args.name, reg, args.message, args.meta, args.force, args.workflow
        )
    same = previous is not None and previous.top_hash == pushed.top_hash
    state = "already latest: nothing pushed" if same else "pushed"
    data = {"name": args.name, "top_hash": pushed.top_hash, "pushed": not same}
    render.emit(args, data, None if args.quiet else f"{args.name}@{pushed.top_hash[:7]} {state}")
    return 0


def _install(args: argparse.Namespace) -> int:
    from t4.packages import Package

    with _registry(args) as reg:
        pkg = Package.install(
            args.name,
            reg,
            dest=args.dest,
            top_hash=args.top_hash,
            allow_external=args.allow_external,
        )
    count = sum(1 for _ in pkg.walk())
    summary = pkg.summary
    assert summary is not None  # install always says what it copied
    moved, skipped = len(summary.transferred), len(summary.skipped)
    data = {"name": args.name, "top_hash": pkg.top_hash, "dest": args.dest, "entries": count,
            "transferred": moved, "skipped": skipped}  # fmt: skip
    text = (
        f"{args.name}@{pkg.top_hash[:7]}: {count} files in {args.dest} "
        f"({moved} transferred, {skipped} skipped)"
    )
    render.emit(args, data, None if args.quiet else text)
    return 0


def _diff(args: argparse.Namespace) -> int:
    from t4.packages import Package

    with _registry(args) as reg:
        first = Package.browse(args.name, reg, args.first)
        second = Package.browse(args.name, reg, args.second)
    added, modified, deleted = first.diff(second)
    data = {"added": added, "modified": modified, "deleted": deleted}
    lines = [f"+ {k}" for k in added] + [f"M {k}" for k in modified] + [f"- {k}" for k in deleted]
    render.emit(args, data, "\n".join(lines) if lines else None)
    return 0
