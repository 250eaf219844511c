"""Search over HTTP: a T4 catalog's ``config.json``, and Elasticsearch/OpenSearch ``_search``.

As T4 did: ``{navigator_url}/config.json`` lists ``federations`` (inline, or URLs of
federation documents), each with ``buckets`` (inline, or URLs of bucket documents) that
carry ``name``, ``searchEndpoint`` and ``region``; the query goes to
``{searchEndpoint}/drive/_search``, signed with AWS SigV4 for service ``es`` when AWS
credentials are present. A catalog that asks for a token (``t4 catalog serve --token``) gets
it as ``Authorization: Bearer``: for ``config.json``, and for a search endpoint on the
catalog's own host (scheme, host and port), never elsewhere.

Errors, each its own::

    CatalogUnreachableError (CatalogError, ConnectionError)  no answer, or a 5xx
    CatalogConfigError      (CatalogError, ValueError)       config.json missing or malformed,
                                                             or the bucket not in it
    AccessDeniedError       (PermissionError)                a 401 or 403
    CatalogError                                             the endpoint rejected the query
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlparse

from t4.errors import (
    AccessDeniedError,
    CatalogConfigError,
    CatalogError,
    CatalogUnreachableError,
)
from t4.search.query import es_body

if TYPE_CHECKING:
    import requests

__all__ = [
    "ES_INDEX",
    "CatalogConfigError",
    "CatalogUnreachableError",
    "es_hits",
    "resolve_endpoint",
    "search_endpoint",
]

log = logging.getLogger(__name__)

#: The index T4's catalog kept objects in.
ES_INDEX = "drive"
#: (connect, read) seconds.
TIMEOUT = (5.0, 60.0)
_AWS_ENV = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_CONFIG_FILE",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
)
_AWS_REGION = re.compile(r"\.([a-z]{2}(?:-gov)?-[a-z]+-\d)\.es\.amazonaws\.com$")


def _request(method: str, url: str, token: str | None = None, **kw: Any) -> requests.Response:
    """One HTTP request (with ``token`` as a bearer token), its failures turned into this
    module's errors."""
    import requests  # 15 ms to import: paid by a catalog search, not by ``import t4``

    if token:
        kw["headers"] = {**kw.get("headers", {}), "Authorization": f"Bearer {token}"}
    try:
        response = requests.request(method, url, timeout=TIMEOUT, **kw)
    except requests.RequestException as err:
        raise CatalogUnreachableError(f"cannot reach {url}: {err}") from err
    if response.status_code in (401, 403):
        if token:
            fix = "the catalog refused its token: check catalog_token or T4_CATALOG_TOKEN"
        elif (
            response.status_code == 401
            and "bearer" in response.headers.get("WWW-Authenticate", "").lower()
        ):
            fix = "the catalog wants a token: set t4.config(catalog_token=...) or T4_CATALOG_TOKEN"
        else:
            fix = "check your AWS credentials and that they may search this catalog"
        raise AccessDeniedError(f"{url} refused the request ({response.status_code}): {fix}")
    if response.status_code >= 500:
        raise CatalogUnreachableError(
            f"{url} failed with {response.status_code}: {response.text[:300]}"
        )
    return response


def _get_json(url: str, token: str | None = None) -> Any:
    response = _request("GET", url, token)
    if response.status_code == 404:
        raise CatalogConfigError(f"no catalog configuration at {url} (404): check navigator_url")
    if not response.ok:
        raise CatalogConfigError(f"{url} answered {response.status_code}: {response.text[:300]}")
    try:
        return response.json()
    except ValueError as err:
        raise CatalogConfigError(f"{url} is not valid JSON: {err}") from err


def _documents(
    items: Any, base: str, what: str, token: str | None = None
) -> Iterator[dict[str, Any]]:
    """Each entry of a list that holds documents inline or as URLs to fetch (the token goes
    only to URLs on ``base``'s own host)."""
    if items is None:
        return
    if not isinstance(items, list):
        raise CatalogConfigError(f"{what} in {base} must be a list, got {type(items).__name__}")
    for item in items:
        if isinstance(item, str):
            url = urljoin(base, item)
            item = _get_json(url, token if same_origin(url, base) else None)
        if not isinstance(item, dict):
            raise CatalogConfigError(f"an entry of {what} in {base} is not a JSON object")
        yield item


def same_origin(url: str, other: str) -> bool:
    """Whether two URLs share scheme, host and port (where a catalog's token may go).

    Example:
        >>> same_origin("http://c:8080/a/_search", "http://c:8080"), same_origin("https://x", "http://x")
        (True, False)
    """
    a, b = urlparse(url), urlparse(other)
    return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port)


def _buckets(config_url: str, token: str | None) -> Iterator[dict[str, Any]]:
    config = _get_json(config_url, token)
    if not isinstance(config, dict):
        raise CatalogConfigError(f"{config_url} is not a JSON object")
    if "federations" not in config and "buckets" not in config:
        raise CatalogConfigError(f"{config_url} has neither 'federations' nor 'buckets'")
    yield from _documents(config.get("buckets"), config_url, "buckets", token)
    for federation in _documents(config.get("federations"), config_url, "federations", token):
        buckets = federation.get("buckets")
        yield from _documents(buckets, config_url, "a federation's buckets", token)


def resolve_endpoint(
    navigator_url: str, bucket: str, token: str | None = None
) -> tuple[str, str | None]:
    """The search endpoint and AWS region a T4 catalog lists for ``bucket`` (``token``: the
    catalog's bearer token, if it asks for one).

    Raises:
        CatalogUnreachableError, CatalogConfigError, AccessDeniedError: as their names say.

    Example:
        >>> resolve_endpoint("https://catalog.example.com", "my-bucket")  # doctest: +SKIP
        ('https://search-my-bucket-abc.us-east-1.es.amazonaws.com', 'us-east-1')
    """
    config_url = navigator_url.rstrip("/") + "/config.json"
    names = []
    for entry in _buckets(config_url, token):
        names.append(str(entry.get("name")))
        if entry.get("name") == bucket:
            endpoint = entry.get("searchEndpoint")
            if not isinstance(endpoint, str) or not endpoint:
                raise CatalogConfigError(f"{config_url} lists {bucket!r} without a searchEndpoint")
            if "://" not in endpoint:
                endpoint = "https://" + endpoint
            return endpoint.rstrip("/"), entry.get("region")
    listed = ", ".join(names) or "none"
    raise CatalogConfigError(f"{config_url} does not list bucket {bucket!r} (it lists: {listed})")


def _aws() -> tuple[Any, str | None]:
    """AWS credentials (or None) and the configured region, as botocore finds them."""
    return _aws_for(tuple(os.environ.get(name) for name in _AWS_ENV))


# Looking credentials up costs tens of milliseconds (and up to seconds off EC2, where the
# instance metadata service is tried), far more than a search: remember the last few
# answers, keyed by the environment that decides them. Refreshable credentials renew
# themselves when asked for their frozen values.
@functools.lru_cache(maxsize=4)
def _aws_for(_env: tuple[str | None, ...]) -> tuple[Any, str | None]:
    import botocore.session

    session = botocore.session.get_session()
    return session.get_credentials(), session.get_config_variable("region")


def _signed_headers(url: str, body: bytes, region: str | None) -> dict[str, str]:
    """SigV4 headers for service ``es`` when AWS credentials are present, else plain ones."""
    headers = {"Content-Type": "application/json"}
    credentials, default_region = _aws()
    if credentials is None:
        return headers
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    found = _AWS_REGION.search(urlparse(url).hostname or "")
    region = region or (found.group(1) if found else None) or default_region or "us-east-1"
    request = AWSRequest(method="GET", url=url, data=body, headers=headers)
    SigV4Auth(credentials.get_frozen_credentials(), "es", region).add_auth(request)
    return dict(request.headers.items())


def _search_url(endpoint: str) -> str:
    """``{endpoint}/drive/_search``, or ``{endpoint}/_search`` when it names an index."""
    endpoint = endpoint.rstrip("/")
    if urlparse(endpoint).path.strip("/"):
        return endpoint + "/_search"
    return f"{endpoint}/{ES_INDEX}/_search"


def search_endpoint(
    endpoint: str,
    query: str | dict[str, Any],
    limit: int = 10,
    region: str | None = None,
    token: str | None = None,
) -> list[dict[str, Any]]:
    """Search an Elasticsearch/OpenSearch endpoint (or this project's catalog server).

    A string query is sent as T4 sent it (``query_string`` on ``content``, with
    ``default_operator`` AND); a dict as a raw body. With ``token`` (a catalog's), the
    request carries it as a bearer token instead of an AWS signature.

    Raises:
        QuerySyntaxError: a string query that does not parse (caught before sending).
        CatalogError: the endpoint rejected the query; and the errors of ``resolve_endpoint``.

    Example:
        >>> search_endpoint("http://127.0.0.1:9200", "user_meta.name:'thor'")  # doctest: +SKIP
        [{'key': 'a.json', 'version_id': None, 'size': 12, ...}]
    """
    url = _search_url(endpoint)
    body = json.dumps(es_body(query, limit)).encode()
    headers = {"Content-Type": "application/json"} if token else _signed_headers(url, body, region)
    response = _request("GET", url, token, data=body, headers=headers)
    if not response.ok:
        reason = response.text[:500]
        raise CatalogError(f"{url} rejected the query ({response.status_code}): {reason}")
    try:
        return es_hits(response.json())
    except (ValueError, KeyError, TypeError) as err:
        raise CatalogError(f"{url} answered with something not a search result: {err}") from err


def _meta(source: dict[str, Any]) -> dict[str, Any]:
    meta = source.get("user_meta") or {}
    if isinstance(meta, str):  # some indexers stored it as a JSON string
        meta = json.loads(meta)
    return meta if isinstance(meta, dict) else {}


def es_hits(response: dict[str, Any]) -> list[dict[str, Any]]:
    """An Elasticsearch response as t4's hit dicts.

    Keeps the endpoint's order when it ranked the hits; when every score is equal (a
    filter-only query) sorts newest first, as T4 did.

    Example:
        >>> es_hits({"hits": {"hits": [{"_score": 1.0, "_source": {"key": "a", "size": 1,
        ...     "updated": "2024-01-01T00:00:00Z", "user_meta": {}}}]}})[0]["key"]
        'a'
    """
    hits = []
    for hit in response["hits"]["hits"]:
        source = hit["_source"]
        hits.append(
            {
                "key": source["key"],
                "version_id": source.get("version_id"),
                "size": int(source.get("size") or 0),
                "last_modified": str(source.get("last_modified") or source.get("updated") or ""),
                "meta": _meta(source),
                "score": float(hit.get("_score") or 0.0),
                "text": str(source.get("text") or "")[:200],
            }
        )
    if len({h["score"] for h in hits}) <= 1:
        hits.sort(key=lambda h: h["last_modified"], reverse=True)
    return hits
