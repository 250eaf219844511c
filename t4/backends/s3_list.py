"""S3's ListObjectsV2 without boto3: one signed GET per page of 1,000 keys over
``http.client`` (``t4.backends.s3_http``), each answer read with ElementTree.

Every key comes back exactly as stored (``a/``, ``.``, ``..``, ``//``, spaces, ``+``,
control characters): pages are asked with ``encoding-type=url`` and decoded as boto3
decodes them. Requests are signed with SigV4 (``t4.backends.sigv4``) from the keys the
backend resolved; proxies (``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY``, spoken to over
plain HTTP) and ``AWS_CA_BUNDLE`` are honoured as boto3 honours them. A 5xx, a throttling answer, a
timeout or a broken connection is tried again (up to the settings' ``max_attempts``,
backing off); what is left is raised through the one S3 error table (``t4.errors``).
boto3 spent about 60 us of CPU per key here (its XML parser and ``dateutil``); this
about 5.
"""

from __future__ import annotations

import http.client
import logging
import random
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote, unquote_plus, urlsplit

from t4.backends.base import FolderPage, ObjectInfo
from t4.backends.s3_http import Getter
from t4.backends.sigv4 import EMPTY_SHA256, authorization, canonical_query
from t4.errors import AccessDeniedError, ConfigError, T4Error, TransientError, s3_error

if TYPE_CHECKING:
    import boto3
    from mypy_boto3_s3 import S3Client

    from t4.backends.s3_settings import Reach, S3Settings

__all__ = ["Lister", "lister_for"]

log = logging.getLogger(__name__)

_RETRY_CODES = {"SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "InternalError"}
#: The most one back-off waits, in seconds.
_MAX_WAIT = 5.0

#: (access key, secret key, session token or None): read again before every page.
KeySource = Callable[[], tuple[str, str, str | None]]


class Lister:
    """The listing of one bucket at ``endpoint_url`` (``https://s3.amazonaws.com`` and the
    like for AWS: virtual-hosted, unless ``path_style`` or the name has a dot)."""

    def __init__(
        self,
        uri: str,
        bucket: str,
        endpoint_url: str,
        region: str,
        keys: KeySource,
        settings: S3Settings,
    ):
        self.uri, self.bucket, self.region = uri, bucket, region
        self.keys = keys
        self.settings = settings
        parts = urlsplit(endpoint_url)
        self._aws = (parts.hostname or "").endswith(".amazonaws.com")
        self._scheme, self._netloc = parts.scheme, parts.netloc
        self._base = parts.path.rstrip("/")
        self._path_style = settings.path_style or not self._aws or "." in bucket
        self._host = self._netloc if self._path_style else f"{bucket}.{self._netloc}"
        self._lock = threading.Lock()
        self._getter: Getter | None = None

    def objects(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Every object under ``prefix``, in key order, a page at a time."""
        token: str | None = None
        while True:
            params = [("list-type", "2"), ("encoding-type", "url"), ("prefix", prefix)]
            if token is not None:
                params.append(("continuation-token", token))
            page, ns = self._page(params)
            yield from _objects(page, ns)
            token = page.findtext(f"{ns}NextContinuationToken")
            if page.findtext(f"{ns}IsTruncated") != "true" or not token:
                return

    def folder(self, prefix: str, token: str | None, limit: int) -> FolderPage:
        """One page of what is directly under ``prefix`` (``delimiter=/``), one request."""
        params = [("list-type", "2"), ("encoding-type", "url"), ("prefix", prefix)]
        params += [("delimiter", "/"), ("max-keys", str(limit))]
        if token is not None:
            params.append(("continuation-token", token))
        page, ns = self._page(params)
        folders = [
            unquote_plus(item.findtext(f"{ns}Prefix") or "")
            for item in page.iterfind(f"{ns}CommonPrefixes")
        ]
        more = page.findtext(f"{ns}IsTruncated") == "true"
        next_token = page.findtext(f"{ns}NextContinuationToken") if more else None
        return FolderPage(folders, list(_objects(page, ns)), next_token or None)

    def close(self) -> None:
        with self._lock:
            getter, self._getter = self._getter, None
        if getter is not None:
            getter.close()

    # -- one page, tried again while it may pass ------------------------------------------
    def _page(self, params: list[tuple[str, str]]) -> tuple[Any, str]:
        attempts = max(1, self.settings.max_attempts)
        for attempt in range(1, attempts + 1):
            try:
                status, headers, body = self._get(params)
            except T4Error:  # the keys' own (some are OSErrors too): not the network's
                raise
            except ssl.SSLCertVerificationError as err:
                raise self._untrusted(err) from err
            except (OSError, http.client.HTTPException) as err:
                if attempt == attempts:
                    raise self._unreachable(err) from err
                log.debug("listing %s failed (%s); again", self.uri, err)
            else:
                if status == 200:
                    return _parse(body, self.uri)
                code, message = _error_of(body)
                moved = headers.get("x-amz-bucket-region")
                if self._aws and moved and moved != self.region and status in (301, 400):
                    log.debug("%s is in %s, not %s: asking there", self.uri, moved, self.region)
                    self.region = moved
                    continue
                retry = status >= 500 or status == 429 or code in _RETRY_CODES
                if not retry or attempt == attempts:
                    raise s3_error(code, status, bucket=self.uri, key=None, detail=message)
                log.debug("listing %s answered %s %s; again", self.uri, status, code)
            time.sleep(random.uniform(0, min(_MAX_WAIT, 0.05 * 2**attempt)))
        raise AssertionError("unreachable: attempts >= 1")

    def _get(self, params: list[tuple[str, str]]) -> tuple[int, Any, bytes]:
        """One signed GET of the bucket with ``params``: status, headers, body."""
        host = self._host
        path = f"{self._base}/{self.bucket}" if self._path_style else f"{self._base}/"
        access_key, secret_key, token = self.keys()
        headers = {
            "host": host,
            "x-amz-date": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()),
            "x-amz-content-sha256": EMPTY_SHA256,
        }
        if token:
            headers["x-amz-security-token"] = token
        keys = (access_key, secret_key)
        headers["authorization"] = authorization(
            "GET", path, params, headers, EMPTY_SHA256, keys, self.region
        )
        target = f"{quote(path, safe='/-_.~')}?{canonical_query(params)}"
        return self._connected().get(target, headers)

    def _connected(self) -> Getter:
        with self._lock:
            if self._getter is None:
                timeouts = (self.settings.connect_timeout, self.settings.read_timeout)
                self._getter = Getter(self._scheme, self._host, timeouts, self.uri)
            return self._getter

    def _unreachable(self, err: Exception) -> T4Error:
        return TransientError(
            f"could not reach {self.uri} ({type(err).__name__}); check the endpoint and "
            "network, then retry",
            bucket=self.uri,
            key=None,
        )

    def _untrusted(self, err: Exception) -> T4Error:
        return ConfigError(
            f"the certificate of {self._scheme}://{self._host} is not trusted for {self.uri} "
            f"({getattr(err, 'verify_message', '') or err}): set AWS_CA_BUNDLE to the PEM file "
            "of the CA that signed it",
            bucket=self.uri,
            key=None,
        )


class Connection(Protocol):
    """What ``lister_for`` reads of a ``t4.backends.s3_connection.S3Connection`` (typed by
    its shape: that module imports this one)."""

    uri: str
    name: str
    settings: S3Settings
    _reach: Reach

    @property
    def session(self) -> boto3.session.Session: ...

    @property
    def client(self) -> S3Client: ...

    def _settings_error(self, err: Exception) -> T4Error: ...


def lister_for(conn: Connection) -> Lister:
    """The listing of ``conn``'s bucket: signed with the keys given outright, at the endpoint
    and region resolved with them; else boto3's chain decides all three (and only that)."""
    reach = conn._reach
    if reach.keys is not None:
        keys = reach.keys
        return Lister(
            conn.uri,
            conn.name,
            reach.endpoint_url,
            reach.region,
            lambda: (keys.access_key_id, keys.secret_access_key, keys.session_token),
            conn.settings,
        )
    meta = conn.client.meta

    def session_keys() -> tuple[str, str, str | None]:
        from botocore.exceptions import BotoCoreError

        try:
            credentials = conn.session.get_credentials()
        except BotoCoreError as err:
            raise conn._settings_error(err) from err
        if credentials is None:
            raise AccessDeniedError(
                f"no usable AWS credentials for {conn.uri}: set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY, a profile, or an instance role",
                bucket=conn.uri,
                key=None,
            )
        frozen = credentials.get_frozen_credentials()  # refreshed by botocore when due
        return frozen.access_key or "", frozen.secret_key or "", frozen.token

    region = meta.region_name or "us-east-1"
    return Lister(conn.uri, conn.name, meta.endpoint_url, region, session_keys, conn.settings)


def _parse(body: bytes, uri: str) -> tuple[Any, str]:
    """The page's XML root and its namespace (``{...}``, or empty where a server sets none)."""
    from xml.etree import ElementTree

    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError as err:
        raise TransientError(
            f"listing {uri} came back unreadable ({err}); retry", bucket=uri, key=None
        ) from err
    return root, root.tag[: root.tag.find("}") + 1]


def _objects(page: Any, ns: str) -> Iterator[ObjectInfo]:
    for item in page.iterfind(f"{ns}Contents"):
        etag = (item.findtext(f"{ns}ETag") or "").strip('"')
        yield ObjectInfo(
            key=unquote_plus(item.findtext(f"{ns}Key") or ""),
            size=int(item.findtext(f"{ns}Size") or 0),
            etag=etag or None,
            last_modified=datetime.fromisoformat(item.findtext(f"{ns}LastModified") or ""),
        )


def _error_of(body: bytes) -> tuple[str, str]:
    """S3's error code and message from an error answer's XML (empty when it has none)."""
    from xml.etree import ElementTree

    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        return "", ""
    return root.findtext("Code") or "", root.findtext("Message") or ""
