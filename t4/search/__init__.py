"""Search a bucket with T4's query language (Lucene ``query_string``).

Three places can answer, chosen by ``t4.config()``:

1. ``elastic_search_url`` set: that Elasticsearch/OpenSearch endpoint, directly;
2. ``navigator_url`` set: the search endpoint a T4 catalog lists for the bucket in its
   ``config.json`` (``t4.search.elastic``), e.g. ``t4 catalog serve`` (``t4.catalog``),
   with ``catalog_token`` (or ``T4_CATALOG_TOKEN``) sent when it asks for one;
3. otherwise the bucket's embedded SQLite FTS5 index (``t4.search.sqlite_index``), kept up
   to date by ``Bucket`` writes and by ``crawl``.

The query language, the same everywhere::

    thor                            words anywhere: key, text content, metadata
    thor odin                       words combine with AND unless an operator says otherwise
    "mighty thor"                   a phrase
    user_meta.name:'thor'           a metadata field ('single' or "double" quotes)
    user_meta.stage:raw AND NOT key:*.tmp      AND / OR / NOT, wildcards * ?
    user_meta.rows:[100 TO 5000]    ranges on numbers and dates; size:>=100
    last_modified:[2024-01-01 TO now]

Hits are dicts: ``key``, ``version_id``, ``size``, ``last_modified`` (ISO 8601),
``meta`` (user_meta), ``score``, ``text`` (an excerpt); best first when the query has
words, else newest first.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from t4.config import config
from t4.errors import ConfigError
from t4.locations import bucket_target
from t4.search.crawl import crawl, document_for, user_meta_of
from t4.search.documents import TEXT_BYTES, Document, index_path_for, is_text_like, text_of
from t4.search.elastic import resolve_endpoint, same_origin, search_endpoint
from t4.search.sqlite_index import EmbeddedIndex
from t4.search.upkeep import IndexKeeper

__all__ = [
    "TEXT_BYTES",
    "Document",
    "EmbeddedIndex",
    "IndexKeeper",
    "bucket_name",
    "crawl",
    "document_for",
    "index_path_for",
    "is_text_like",
    "search",
    "text_of",
    "user_meta_of",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())


def bucket_name(bucket_uri: str) -> str:
    """The name a catalog knows a bucket by: the S3 bucket name, or a folder's name.

    Example:
        >>> bucket_name("s3://my-bucket/"), bucket_name("file:///data/lake")
        ('my-bucket', 'lake')
    """
    scheme, target = bucket_target(
        bucket_uri.rstrip("/") if bucket_uri.startswith("s3://") else bucket_uri
    )
    return target if scheme == "s3" else Path(target).name


def search(
    bucket_uri: str,
    open_index: Callable[[], EmbeddedIndex] | None,
    query: str | dict[str, Any],
    limit: int = 10,
) -> list[dict[str, Any]]:
    """Search a bucket where ``t4.config()`` says: Elasticsearch, a catalog, or embedded.

    Words combine with AND by default (see the module docstring for the language).

    Args:
        bucket_uri: ``s3://name`` or a local folder (plain path or ``file://``).
        open_index: returns the bucket's embedded index, which the caller owns (it stays
            open); called only when the embedded index answers. ``None``: only a configured
            catalog or Elasticsearch endpoint can answer.
        query: a query string, or an Elasticsearch body (``{"query": {...}}``); the
            embedded index understands only ``query_string`` and ``match_all`` bodies.
        limit: at most this many hits.

    Raises:
        QuerySyntaxError: the query does not parse (``position`` says where).
        CatalogUnreachableError, CatalogConfigError, AccessDeniedError, CatalogError: from
            a catalog or Elasticsearch endpoint.

    Example:
        >>> search("s3://lake", None, "user_meta.name:'thor'")  # doctest: +SKIP
        [{'key': 'heroes/thor.json', 'version_id': None, 'size': 52, ...}]
    """
    settings = config()
    if settings.get("elastic_search_url"):
        return search_endpoint(settings["elastic_search_url"], query, limit)
    if settings.get("navigator_url"):
        navigator = settings["navigator_url"]
        token = os.environ.get("T4_CATALOG_TOKEN") or settings.get("catalog_token") or None
        endpoint, region = resolve_endpoint(navigator, bucket_name(bucket_uri), token)
        own = token if same_origin(endpoint, navigator) else None  # never to another host
        return search_endpoint(endpoint, query, limit, region, own)
    if open_index is None:
        raise ConfigError(
            f"no search catalog is configured for {bucket_uri}: search it through "
            "t4.Bucket(...).search, or set t4.config(navigator_url=...)"
        )
    return open_index().search(query, limit)
