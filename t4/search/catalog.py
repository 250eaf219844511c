"""A small catalog server over an embedded index, speaking what T4's client expects.

It serves ``/config.json`` (one federation listing the bucket, its ``searchEndpoint``
pointing back at this server) and an Elasticsearch-compatible ``/{index}/_search``
(``query_string`` and ``match_all`` bodies, GET or POST, or ``?q=``), so that a team can
share one index and so that t4's HTTP search path runs end to end against a real server.

Run it from Python or as a command::

    python -m t4.search.catalog --bucket my-bucket --index ~/.cache/t4/index/x.sqlite --port 8080

It binds to 127.0.0.1 unless told otherwise and has no authentication of its own: put it
behind something that has before exposing it beyond the machine.
"""

from __future__ import annotations

import argparse
import json
import logging
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from t4.errors import QuerySyntaxError
from t4.search.sqlite_index import EmbeddedIndex

__all__ = ["CatalogServer", "main"]

log = logging.getLogger(__name__)


class CatalogServer:
    """Serve one bucket's embedded index over HTTP, in a background thread.

    Args:
        bucket_name: the name ``config.json`` lists (what ``Bucket.search`` looks up).
        index_path: the index file (``t4.search.index_path_for``).
        host: the address to bind; loopback by default.
        port: the port; 0 picks a free one (read it back from ``url``).
        region: the region ``config.json`` announces for signing.

    Example:
        >>> with CatalogServer("my-bucket", path) as server:  # doctest: +SKIP
        ...     t4.config(navigator_url=server.url)
        ...     t4.Bucket("s3://my-bucket").search("thor")
    """

    def __init__(
        self,
        bucket_name: str,
        index_path: Path | str,
        host: str = "127.0.0.1",
        port: int = 0,
        region: str = "us-east-1",
    ):
        self.bucket_name = bucket_name
        self.index_path = Path(index_path)
        self.region = region
        self._address = (host, port)
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._index: EmbeddedIndex | None = None

    @property
    def url(self) -> str:
        """The server's base URL, e.g. ``http://127.0.0.1:50123``."""
        if self._httpd is None:
            raise RuntimeError("the catalog server is not started; call start() first")
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> CatalogServer:
        """Open the index and start answering; returns the server itself."""
        if self._httpd is not None:
            return self
        self._index = EmbeddedIndex(self.index_path)
        self._httpd = ThreadingHTTPServer(self._address, _Handler)
        self._httpd.daemon_threads = True
        self._httpd.catalog = self  # type: ignore[attr-defined]  # how handlers find us
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.1},  # how long stop() waits for the loop to notice
            name=f"t4-catalog-{self.bucket_name}",
            daemon=True,
        )
        self._thread.start()
        log.info("catalog for %s serving %s at %s", self.bucket_name, self.index_path, self.url)
        return self

    def stop(self) -> None:
        """Stop answering and close the index."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        if self._index is not None:
            self._index.close()
            self._index = None

    def __enter__(self) -> CatalogServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def config_document(self) -> dict[str, Any]:
        """What ``/config.json`` serves."""
        bucket = {
            "name": self.bucket_name,
            "title": self.bucket_name,
            "searchEndpoint": self.url,
            "region": self.region,
        }
        return {"federations": [{"buckets": [bucket]}], "defaultBucket": self.bucket_name}

    def search(self, index_name: str, body: dict[str, Any]) -> dict[str, Any]:
        """Answer an Elasticsearch ``_search`` body from the embedded index."""
        if self._index is None:
            raise RuntimeError("the catalog server is not started")
        started = time.perf_counter()
        hits = self._index.search(body, limit=int(body.get("size", 10)))
        took = int((time.perf_counter() - started) * 1000)
        size = int(body.get("size", 10))
        return {
            "took": took,
            "timed_out": False,
            "hits": {
                "total": {"value": len(hits), "relation": "gte" if len(hits) >= size else "eq"},
                "max_score": max((h["score"] for h in hits), default=None),
                "hits": [_es_hit(index_name, hit) for hit in hits],
            },
        }


def _es_hit(index_name: str, hit: dict[str, Any]) -> dict[str, Any]:
    """A hit in Elasticsearch's shape, ``_source`` as T4's indexer wrote it."""
    source = {
        "key": hit["key"],
        "version_id": hit["version_id"],
        "type": "Create",
        "size": hit["size"],
        "user_meta": hit["meta"],
        "text": hit["text"],
        "updated": hit["last_modified"],
        "last_modified": hit["last_modified"],
    }
    return {"_index": index_name, "_id": hit["key"], "_score": hit["score"], "_source": source}


class _Handler(BaseHTTPRequestHandler):
    server_version = "t4-catalog/1"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        self._route()

    def do_POST(self) -> None:
        self._route()

    def _send(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = json.loads(raw) if raw.strip() else {}
        if not isinstance(body, dict):
            raise ValueError("the request body must be a JSON object")
        return body

    def _route(self) -> None:
        catalog: CatalogServer = self.server.catalog  # type: ignore[attr-defined]
        url = urlparse(self.path)
        parts = [p for p in url.path.split("/") if p]
        if parts == ["config.json"]:
            self._send(HTTPStatus.OK, catalog.config_document())
        elif parts and parts[-1] == "_search" and len(parts) <= 2:
            self._search(catalog, parts[0] if len(parts) == 2 else "_all", url.query)
        else:
            error = {"type": "not_found", "reason": f"no such path {url.path}"}
            self._send(HTTPStatus.NOT_FOUND, {"error": error, "status": 404})

    def _search(self, catalog: CatalogServer, index_name: str, query: str) -> None:
        try:
            body = self._body()
            q = parse_qs(query).get("q")
            if q:
                body = {**body, "query": {"query_string": {"query": q[0]}}}
            self._send(HTTPStatus.OK, catalog.search(index_name, body))
        except QuerySyntaxError as err:
            error = {"type": "query_shard_exception", "reason": str(err), "position": err.position}
            self._send(HTTPStatus.BAD_REQUEST, {"error": error, "status": 400})
        except ValueError as err:
            error = {"type": "parsing_exception", "reason": str(err)}
            self._send(HTTPStatus.BAD_REQUEST, {"error": error, "status": 400})


def main(argv: list[str] | None = None) -> None:
    """``python -m t4.search.catalog --bucket NAME --index PATH [--host H] [--port N]``."""
    parser = argparse.ArgumentParser(prog="python -m t4.search.catalog", description=__doc__)
    parser.add_argument("--bucket", required=True, help="the bucket name config.json lists")
    parser.add_argument("--index", required=True, type=Path, help="the index file to serve")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    parser.add_argument("--port", type=int, default=8080, help="port (0 picks a free one)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    server = CatalogServer(args.bucket, args.index, args.host, args.port).start()
    print(f"serving {args.bucket} at {server.url}  (config: {server.url}/config.json)", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
