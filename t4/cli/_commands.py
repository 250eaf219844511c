"""One function per command: resolve the location, call ``Bucket``, print the result."""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

from t4 import locations
from t4.backends import ObjectInfo
from t4.bucket import Bucket
from t4.cli import _render as render
from t4.config import ConfigError, check_setting
from t4.config import config as t4_config
from t4.errors import KeyNotFoundError
from t4.keys import as_prefix
from t4.transfer import TransferSummary


class Location(NamedTuple):
    """A bucket URI and a key (or prefix) inside it."""

    bucket: str
    key: str


def locate(args: argparse.Namespace, text: str | None) -> Location:
    """``s3://bucket/key``, or ``--bucket BUCKET`` and a plain key; else a usage error."""
    parser: argparse.ArgumentParser = args.cmd_parser
    if args.bucket:
        if text and text.startswith("s3://"):
            parser.error(f"give either --bucket and a plain key, or an s3:// URI, not both: {text}")
        return Location(args.bucket, text or "")
    if not text or not text.startswith("s3://"):
        where = repr(text) if text else "no location"
        parser.error(f"{where} given: write s3://BUCKET/KEY, or --bucket PATH KEY for a folder")
    found = locations.parse(text)
    if found.bucket in (None, "s3://"):
        parser.error(f"no bucket name in {text!r}: write s3://BUCKET/KEY")
    return Location(str(found.bucket), found.key)


@contextlib.contextmanager
def open_bucket(args: argparse.Namespace, uri: str) -> Iterator[Bucket]:
    """The bucket, built from the common options, closed afterwards."""
    bucket = Bucket(
        uri, endpoint_url=args.endpoint_url, profile=args.profile, region=args.region,
        path_style=args.path_style, concurrency=args.concurrency,
        progress=False if args.quiet else None,
    )  # fmt: skip
    with bucket:
        yield bucket


def _summary(args: argparse.Namespace, summary: TransferSummary) -> int:
    # The line starts with the operation's Python name: say the command that was typed.
    line = args.cmd_parser.prog + summary.line().removeprefix(summary.operation)
    render.emit(args, summary.as_dict(), None if args.quiet else line)
    return 0


def ls(args: argparse.Namespace) -> int:
    where = locate(args, args.location)
    with open_bucket(args, where.bucket) as bucket:
        objects = bucket.ls(where.key)
        if args.json:
            render.emit(args, [o.as_dict() for o in objects], None)
        else:
            for obj in objects:
                print(render.object_line(obj))
    return 0


def fetch(args: argparse.Namespace) -> int:
    where = locate(args, args.location)
    with open_bucket(args, where.bucket) as bucket:
        return _summary(args, bucket.fetch(where.key, args.dest))


def put(args: argparse.Namespace) -> int:
    where = locate(args, args.location)
    key = (
        where.key if where.key and not where.key.endswith("/") else where.key + Path(args.file).name
    )
    with open_bucket(args, where.bucket) as bucket:
        outcomes: list[str] = []
        bucket.callback = lambda _key, outcome, _moved: outcomes.append(outcome)
        info = bucket.put_file(key, args.file, meta=args.meta)
        skipped = outcomes == ["skipped"]
        done = "unchanged (nothing sent):" if skipped else "uploaded"
        text = f"{done} {args.file} to {info.key} in {bucket.uri} ({info.size:,} bytes)"
    render.emit(args, {**info.as_dict(), "skipped": skipped}, None if args.quiet else text)
    return 0


def put_dir(args: argparse.Namespace) -> int:
    where = locate(args, args.location)
    with open_bucket(args, where.bucket) as bucket:
        summary = bucket.put_dir(where.key.strip("/"), args.directory, meta=args.meta,
                                 follow_links=args.follow_links)  # fmt: skip
        return _summary(args, summary)


#: Objects up to this size are read whole (a table's preview then counts all its rows);
#: larger tables are read only as far as the rows shown.
READ_WHOLE_UP_TO = 4 * 1024 * 1024
#: ``--raw`` streams in ranges this large.
RAW_CHUNK = 8 * 1024 * 1024


def cat(args: argparse.Namespace) -> int:
    where = locate(args, args.location)
    with open_bucket(args, where.bucket) as bucket:
        info, found = _object_or_directory(bucket, where.key)
        if args.raw:
            with bucket.open(info, read_ahead=RAW_CHUNK) as src:
                sys.stdout.flush()
                shutil.copyfileobj(src, sys.stdout.buffer, RAW_CHUNK)
            sys.stdout.buffer.flush()
            return 0
        obj = _what_to_show(bucket, info, found, args.rows)
    if args.json:
        render.emit(args, render.jsonable(obj, args.rows), None)
    else:
        render.write_text(render.preview(obj, args.rows))
    return 0


def _object_or_directory(bucket: Bucket, key: str) -> tuple[ObjectInfo, dict[str, Any]]:
    """One HEAD; only if it misses, one listing, to tell a directory from nothing at all."""
    if key and not key.endswith("/"):
        try:
            return bucket.head(key)
        except KeyNotFoundError:
            if next(iter(bucket.ls(as_prefix(key))), None) is None:
                raise
    elif next(iter(bucket.ls(as_prefix(key))), None) is None:
        raise KeyNotFoundError(
            f"nothing under {key or '/'!r} in {bucket.uri}; list what is there with t4 ls",
            bucket=bucket.uri,
            key=key,
        )
    raise KeyNotFoundError(
        f"{key or '/'!r} in {bucket.uri} is a directory, not an object: list it with t4 ls, "
        "download it with t4 fetch",
        bucket=bucket.uri,
        key=key,
    )


def _what_to_show(bucket: Bucket, info: ObjectInfo, meta: dict[str, Any], rows: int) -> Any:
    """Bytes by their size and first bytes; a large table by its first rows; the rest whole."""
    from t4 import formats  # its codecs load for ``t4 cat``, not with every command

    fmt = meta.get("format") if isinstance(meta.get("format"), dict) else None
    name = formats.format_of(info.key, fmt, b"")
    if name in (None, "bytes"):
        with bucket.open(info, read_ahead=render.HEX_BYTES) as src:
            return render.BytesHead(info.size, src.read(render.HEX_BYTES))
    if info.size > READ_WHOLE_UP_TO:
        with bucket.open(info) as src:
            head = formats.read_head(src, info.key, fmt, rows)
        if head is not None:
            return render.TableHead(head[0], head[1], info.size)
    return bucket.deserialize(info.key)


def meta(args: argparse.Namespace) -> int:
    where = locate(args, args.location)
    with open_bucket(args, where.bucket) as bucket:
        if args.set_meta is not None:
            bucket.set_meta(where.key, args.set_meta)
        found = bucket.get_meta(where.key)
    print(json.dumps(found, indent=None if args.json else 2, sort_keys=True, default=str))
    return 0


def rm(args: argparse.Namespace) -> int:
    where = locate(args, args.location)
    with open_bucket(args, where.bucket) as bucket:
        try:
            bucket.delete(where.key)  # looks first, so it can say whether there was one
        except KeyNotFoundError:
            if not args.missing_ok:
                raise
            text = f"{where.key} is not in {bucket.uri}: nothing to delete"
            render.emit(args, {"deleted": []}, None if args.quiet else text)
            return 0
        text = f"deleted {where.key} in {bucket.uri}"
    render.emit(args, {"deleted": [where.key]}, None if args.quiet else text)
    return 0


def rm_dir(args: argparse.Namespace) -> int:
    where = locate(args, args.location)
    with open_bucket(args, where.bucket) as bucket:
        return _summary(args, bucket.delete_dir(where.key, allow_root=args.whole_bucket))


def search(args: argparse.Namespace) -> int:
    words: list[str] = args.words
    expected = 1 if args.bucket else 2
    if len(words) != expected:
        form = "--bucket BUCKET QUERY" if args.bucket else "s3://BUCKET QUERY"
        args.cmd_parser.error(f"expected {form} (quote a query that has spaces)")
    where = locate(args, None if args.bucket else words[0])
    with open_bucket(args, where.bucket) as bucket:
        hits = bucket.search(words[-1], limit=args.limit)
    if args.json:
        render.emit(args, hits, None)
    else:
        for hit in hits:
            print(render.hit_line(hit))
    return 0


def index(args: argparse.Namespace) -> int:
    where = locate(args, args.location)
    with open_bucket(args, where.bucket) as bucket:
        counts = bucket.index(reindex=args.reindex)
        text = f"indexed {bucket.uri}: " + ", ".join(f"{k} {v}" for k, v in counts.items())
    render.emit(args, counts, None if args.quiet else text)
    return 0


def config(args: argparse.Namespace) -> int:
    if len(args.settings) == 1 and "=" not in args.settings[0]:
        return _config_one(args, args.settings[0])
    changes: dict[str, Any] = {}
    for item in args.settings:
        name, sep, value = item.partition("=")
        if not sep or not name:
            args.cmd_parser.error(f"expected NAME=VALUE, got {item!r} (NAME alone: one at a time)")
        changes[name] = value or None
    # A token is shown only when asked for by name (t4 config catalog_token), never in a list.
    settings = {k: "<set>" if k in _SECRETS else v for k, v in t4_config(**changes).items()}
    if args.json:
        render.emit(args, settings, None)
    elif not settings and not args.quiet:
        print("no settings; see t4 config --help", file=sys.stderr)
    for name, value in sorted(settings.items()) if not args.json else ():
        print(f"{name} = {value}")
    return 0


_SECRETS = ("catalog_token",)


def _config_one(args: argparse.Namespace, name: str) -> int:
    """``t4 config NAME``: the value alone (for scripts), or exit 1 if it is not set."""
    check_setting(name, None)  # an unknown name is an error that lists the known ones
    settings = t4_config()
    if name not in settings:
        raise ConfigError(f"{name} is not set; set it with t4 config {name}=VALUE")
    render.emit(args, {name: settings[name]}, str(settings[name]))
    return 0
