"""The argument parser: global options, then one subparser per command with an example."""

from __future__ import annotations

import argparse
import json
import textwrap
from collections.abc import Callable
from typing import Any

from t4.cli import _commands as cmd
from t4.cli._catalog import catalog
from t4.cli._package import add_package_command
from t4.config import KNOWN_SETTINGS

LOCATIONS = """\
locations:
  s3://BUCKET/KEY          an S3 bucket and a key (or prefix) in one URI
  --bucket BUCKET KEY      any bucket (a local folder such as ./lake, file:///abs/lake or
                           s3://name) with a plain key relative to it

exit codes: 0 success, 1 the operation failed, 2 the command line was wrong,
  130 interrupted (one Ctrl-C stops at once; what finished is kept)
"""


def build_parser() -> argparse.ArgumentParser:
    """The whole ``t4`` parser."""
    parser = argparse.ArgumentParser(
        prog="t4",
        description="Read, write, annotate and search data in S3 buckets and local folders.",
        epilog=LOCATIONS + "\nexample:\n  t4 ls s3://my-bucket/tables/\n  t4 ls --bucket ./lake",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_common(parser, argparse.SUPPRESS)
    parser.add_argument("--version", action=_Version, nargs=0, help="show the version and exit")
    subs = parser.add_subparsers(title="commands", metavar="COMMAND")
    for name, summary, example, add_args, run in _COMMANDS:
        example, _, more = example.partition("\n\n")  # what else to know goes first
        sub = subs.add_parser(
            name,
            help=summary,
            description=summary[0].upper() + summary[1:] + ".",
            epilog=f"{LOCATIONS}\n"
            + (f"{more.rstrip()}\n\n" if more else "")
            + f"example:\n{example}",
            formatter_class=_Help,
        )
        _add_common(sub, argparse.SUPPRESS)
        add_args(sub)
        sub.set_defaults(run=run, cmd_parser=sub)
    add_package_command(subs, _add_common, _json_object)
    parser.set_defaults(
        bucket=None, endpoint_url=None, profile=None, region=None, path_style=False,
        concurrency=None, json=False, quiet=False, debug=False, run=None,
    )  # fmt: skip
    return parser


class _Version(argparse.Action):
    """``--version``, which reads the installed version only when asked (reading it costs
    some 20 ms of every command's start otherwise)."""

    def __call__(self, parser: argparse.ArgumentParser, *args: Any) -> None:
        print(f"t4 {_version()}")
        parser.exit()


def _version() -> str:
    """The installed distribution's version (t4 ships in the t4flows distribution)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("t4flows")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


def _add_common(parser: argparse.ArgumentParser, default: Any) -> None:
    # SUPPRESS everywhere, with the real defaults set once on the top parser, lets an option
    # go before or after the command without the subparser resetting it.
    group = parser.add_argument_group("common options")
    add = group.add_argument
    add(
        "-b",
        "--bucket",
        default=default,
        metavar="BUCKET",
        help="the bucket (./lake, file:///abs/lake, s3://name); locations are then plain keys",
    )
    add(
        "--endpoint-url",
        default=default,
        metavar="URL",
        help="an S3-compatible endpoint (default: AWS_ENDPOINT_URL or AWS)",
    )
    add("--profile", default=default, help="an AWS profile from ~/.aws/config")
    add("--region", default=default, help="an AWS region")
    add(
        "--path-style",
        action="store_true",
        default=default,
        help="path-style addressing, as MinIO and SeaweedFS want",
    )
    add(
        "--concurrency",
        type=_positive_int,
        default=default,
        metavar="N",
        help="transfers at once for directory operations",
    )
    add("--json", action="store_true", default=default, help="machine-readable JSON output")
    add(
        "-q",
        "--quiet",
        action="store_true",
        default=default,
        help="no progress bars and no confirmation messages",
    )
    add("--debug", action="store_true", default=default, help="show tracebacks and debug logs")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"not valid JSON ({err}): {text!r}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f'expected a JSON object such as {{"k": "v"}}: {text!r}')
    return value


def _meta_option(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--meta", type=_json_object, metavar="JSON",
                        help=f"user metadata for {what}, a JSON object")  # fmt: skip


def _args_ls(p: argparse.ArgumentParser) -> None:
    p.add_argument("location", nargs="?", metavar="URI[/PREFIX]", help="what to list")


def _args_fetch(p: argparse.ArgumentParser) -> None:
    p.add_argument("location", metavar="URI/KEY", help="a file, or a directory of objects")
    p.add_argument(
        "dest", metavar="DEST", help="local path; an existing folder or a path ending in /"
    )


def _args_put(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="FILE", help="the local file to upload")
    p.add_argument("location", metavar="URI/KEY", help="where; a key ending in / gets FILE's name")
    _meta_option(p, "the object")


def _args_put_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument("directory", metavar="DIR", help="the local folder to upload")
    p.add_argument("location", metavar="URI[/PREFIX]", help="where; with --bucket, / is the root")
    _meta_option(p, "every file")
    p.add_argument("--follow-links", action="store_true", help="follow links leading outside DIR")


def _args_cat(p: argparse.ArgumentParser) -> None:
    p.add_argument("location", metavar="URI/KEY", help="the object to print")
    p.add_argument("--rows", type=_positive_int, default=10, metavar="N",
                   help="table rows to preview (default 10)")  # fmt: skip
    p.add_argument(
        "--raw", action="store_true", help="write the stored bytes to stdout as they are"
    )


def _args_meta(p: argparse.ArgumentParser) -> None:
    p.add_argument("location", metavar="URI/KEY", help="the object")
    p.add_argument("--set", type=_json_object, metavar="JSON", dest="set_meta",
                   help="replace the object's user metadata (no bytes are re-sent)")  # fmt: skip


def _args_rm(p: argparse.ArgumentParser) -> None:
    p.add_argument("location", metavar="URI/KEY", help="the object to delete")
    p.add_argument("--missing-ok", action="store_true", help="succeed if the key is not there")


def _args_rm_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument("location", nargs="?", metavar="URI/PREFIX", help="the prefix to delete")
    p.add_argument("--whole-bucket", action="store_true",
                   help="allow an empty prefix: delete everything in the bucket")  # fmt: skip


def _args_search(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "words", nargs="+", metavar="[URI] QUERY",
        help="the bucket (unless --bucket) and a query in T4's Lucene syntax",
    )  # fmt: skip
    p.add_argument("--limit", type=_positive_int, default=10, metavar="N", help="most hits (10)")


def _args_index(p: argparse.ArgumentParser) -> None:
    p.add_argument("location", nargs="?", metavar="URI", help="the bucket (unless --bucket)")
    p.add_argument("--reindex", action="store_true", help="rebuild the index from scratch")


def _args_config(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "settings", nargs="*", metavar="NAME[=VALUE]",
        help="NAME prints one setting; NAME=VALUE changes it; NAME= removes it",
    )  # fmt: skip


def _args_catalog(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["serve"], help="serve: run the catalog server")
    # --bucket repeats here, in place of the common option's single value.
    served = p.add_argument_group("buckets", conflict_handler="resolve")
    served.add_argument(
        "-b",
        "--bucket",
        action="append",
        default=argparse.SUPPRESS,
        metavar="BUCKET",
        help="a bucket to serve (./lake, s3://name); repeat it for several, one index each",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback)")
    p.add_argument("--port", type=int, default=8080, metavar="N", help="port (0: any free one)")
    p.add_argument(
        "--token",
        default=None,
        metavar="TOKEN",
        help="the bearer token every request must carry (default: T4_CATALOG_TOKEN, else none)",
    )
    p.add_argument(
        "--refresh",
        type=_seconds,
        default=30.0,
        metavar="SECONDS",
        help="catch up with the buckets every SECONDS in the background (default 30; 0: off)",
    )
    p.add_argument(
        "--insecure", action="store_true",
        help="allow serving a non-loopback address without a token (anyone reaching it can search)",
    )  # fmt: skip


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected seconds (0 or more), got {text!r}")
    return value


#: Stands in a help text for ``_index_covers()``, read only when the help is shown: the
#: constants come from ``t4.search``, which every other command would load for nothing.
_COVERS = "{what the embedded index covers}"


class _Help(argparse.RawDescriptionHelpFormatter):
    """Texts as written, ``_COVERS`` filled in as the help is shown."""

    def add_text(self, text: str | None) -> None:
        if text is not None and _COVERS in text:
            text = text.replace(_COVERS, _index_covers().rstrip())
        super().add_text(text)


def _index_covers() -> str:
    """What the embedded index holds, from the constants that decide it."""
    from t4.search.documents import (
        CSV_ROWS,
        TABLE_EXTENSIONS,
        TEXT_BYTES,
        TEXT_CHARS,
        TEXT_EXTENSIONS,
    )

    text = textwrap.fill(" ".join(f".{e}" for e in sorted(TEXT_EXTENSIONS)), 80,
                         initial_indent="    ", subsequent_indent="    ")  # fmt: skip
    tables = " ".join(f".{e}" for e in sorted(TABLE_EXTENSIONS))
    return (
        "what the embedded index covers (folders and S3 alike):\n"
        "  every object: its key, size, last_modified and all of its user metadata\n"
        f"  text objects, also gzipped (.gz), by extension:\n{text}\n"
        f"    the first {TEXT_BYTES // 1024} KiB of content, at most {TEXT_CHARS:,} characters\n"
        f"  tables ({tables}, also gzipped): the header and the first {CSV_ROWS} rows\n"
        "  anything else (parquet, images, archives...): key and metadata only\n"
        "to change what is found: words in an object's metadata are indexed in full\n"
        "  (t4 meta --set); t4 index --reindex rebuilds the index from the bucket; a\n"
        "  catalog (t4 config navigator_url=URL) searches by its own rules instead\n"
    )


_KNOWN = "\n".join(f"  {name}: {text}" for name, text in KNOWN_SETTINGS.items())

_COMMANDS: list[tuple[str, str, str, Callable[[argparse.ArgumentParser], None], Any]] = [
    ("ls", "list objects under a prefix, recursively",
     "  t4 ls s3://my-bucket/tables/\n  t4 ls --bucket ./lake --json", _args_ls, cmd.ls),
    ("fetch", "download a file or a directory of objects",
     "  t4 fetch s3://my-bucket/path/to/directory ./local/\n"
     "  t4 fetch --bucket ./lake raw/data.csv data.csv", _args_fetch, cmd.fetch),
    ("put", "upload a local file",
     '  t4 put foo.csv s3://my-bucket/foo.csv --meta \'{"foo": "bar"}\'\n'
     "  t4 put foo.csv --bucket ./lake raw/", _args_put, cmd.put),
    ("put-dir", "upload every file under a local folder, in parallel",
     '  t4 put-dir ./stuff s3://my-bucket/stuff --meta \'{"origin": "unknown"}\'',
     _args_put_dir, cmd.put_dir),
    ("cat", "print an object: tables as a preview, JSON as JSON, text as is",
     "  t4 cat s3://my-bucket/tables/x.parquet --rows 5\n"
     "  t4 cat --raw --bucket ./lake blob.bin > blob.bin", _args_cat, cmd.cat),
    ("meta", "print an object's metadata, or replace its user metadata",
     "  t4 meta s3://my-bucket/foo.csv\n"
     '  t4 meta --bucket ./lake foo.csv --set \'{"stage": "clean"}\'', _args_meta, cmd.meta),
    ("rm", "delete one object",
     "  t4 rm s3://my-bucket/foo.csv", _args_rm, cmd.rm),
    ("rm-dir", "delete every object under a prefix",
     "  t4 rm-dir s3://my-bucket/foo/\n  t4 rm-dir --bucket ./lake --whole-bucket",
     _args_rm_dir, cmd.rm_dir),
    ("search", "search a bucket (words, field:value, AND/OR/NOT, wildcards, ranges)",
     "  t4 search s3://my-bucket thor\n"
     "  t4 search --bucket ./lake \"user_meta.name:'thor'\"\n\n" + _COVERS,
     _args_search, cmd.search),
    ("index", "bring a bucket's embedded search index up to date",
     "  t4 index s3://my-bucket\n  t4 index --bucket ./lake --reindex\n\n" + _COVERS,
     _args_index, cmd.index),
    ("catalog", "serve buckets' search indexes as a T4 catalog: catalog serve",
     "  t4 catalog serve --bucket s3://my-bucket --bucket s3://other --port 8080\n"
     "  T4_CATALOG_TOKEN=s3cret t4 catalog serve -b s3://my-bucket --host 0.0.0.0\n"
     "  t4 config navigator_url=http://127.0.0.1:8080   # then, elsewhere: t4 search ...",
     _args_catalog, catalog),
    ("config", "show t4's persistent settings, or change them",
     f"  t4 config navigator_url=https://catalog.example.com\n  t4 config navigator_url\n"
     f"  t4 config navigator_url=\n\n"
     f"settings:\n{_KNOWN}", _args_config, cmd.config),
]  # fmt: skip
