"""``t4 catalog serve``: the catalog app (``t4.catalog``) under uvicorn, until interrupted."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import socket
import sys
from typing import Any

from t4.bucket import Bucket
from t4.cli import _render as render
from t4.errors import ConfigError

__all__ = ["catalog"]

_INSTALL = "pip install 't4flows[catalog]'"


def catalog(args: argparse.Namespace) -> int:
    """Index the buckets, then serve them as one T4 catalog until Ctrl-C (or SIGTERM)."""
    try:
        from t4.catalog import create_app
        from t4.catalog.serve import Server, check_bind, server_config
    except ImportError as err:
        raise ConfigError(f"t4 catalog serve needs the catalog extra ({err}): {_INSTALL}") from err
    uris = args.bucket if isinstance(args.bucket, list) else [args.bucket] if args.bucket else []
    if not uris:
        args.cmd_parser.error("give the buckets to serve: --bucket URI (repeat it for several)")
    token = args.token or os.environ.get("T4_CATALOG_TOKEN") or None
    check_bind(args.host, token, args.insecure)
    sock = _bound(args.host, args.port)
    buckets = [_bucket(args, uri) for uri in uris]
    app = create_app(buckets, token=token, refresh=args.refresh)
    config = server_config(app, args.host, args.port)
    config.access_log = args.debug
    _log_to_stderr(quiet=args.quiet)
    url = _url(sock)
    server = Server(config, on_started=lambda: _started(args, buckets, url, token is not None))
    try:
        with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises the Ctrl-C it handled
            server.run(sockets=[sock])
    except SystemExit:  # uvicorn's exit when the start-up (indexing) failed
        failed = getattr(app.state, "startup_error", None)
        if failed is None:
            raise
        raise failed from None  # e.g. a bucket that cannot be listed: its own error, exit 1
    finally:
        for bucket in buckets:
            bucket.close()
    return 0


def _bucket(args: argparse.Namespace, uri: str) -> Bucket:
    return Bucket(
        uri, endpoint_url=args.endpoint_url, profile=args.profile, region=args.region,
        path_style=args.path_style, concurrency=args.concurrency, progress=False,
    )  # fmt: skip


def _bound(host: str, port: int) -> socket.socket:
    """The listening address, bound now so that a port taken is a clear error at once."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as err:
        sock.close()
        raise ConfigError(
            f"cannot serve the catalog on {host}:{port} ({err.strerror or err}): pick another"
            " --port (0: any free one) or --host"
        ) from err
    return sock


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{f'[{host}]' if ':' in host else host}:{port}"


def _started(args: argparse.Namespace, buckets: list[Bucket], url: str, guarded: bool) -> None:
    names = ", ".join(b.uri for b in buckets)
    refresh = f"refreshed every {args.refresh:g} s" if args.refresh else "not refreshed"
    line = f"serving {names} at {url} ({'token required' if guarded else 'no token'}; {refresh})"
    document: dict[str, Any] = {"buckets": [b.uri for b in buckets], "url": url,
                                "token": guarded, "refresh": args.refresh}  # fmt: skip
    if len(buckets) == 1:
        document["bucket"] = buckets[0].uri
    render.emit(args, document, line)
    sys.stdout.flush()


def _log_to_stderr(*, quiet: bool) -> None:
    """uvicorn's own lines (start, stop, and any internal error with its traceback)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("t4 catalog: %(levelname)s: %(message)s"))
    for name in ("uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.setLevel(logging.ERROR if quiet else logging.INFO)
        logger.propagate = False
