"""How t4 reaches an S3 bucket: the settings a caller gives (``S3Settings``) and what they
resolve to (``Reach``): the endpoint, the region and the access keys.

Most runs name their keys outright (``credentials=``, a Prefect block) or in the environment
(``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``) and set no AWS profile or settings file:
those resolve here, from the arguments and ``AWS_*`` variables alone, without importing
boto3 (about 0.15 s of a command's start-up). Anything else (a profile, an AWS settings file,
SSO, a role, an instance's credentials) is boto3's to resolve: ``Reach.keys`` is then
``None`` and the backend asks a boto3 session, as the AWS CLI would.

Example:
    >>> reach = resolve(S3Settings("http://127.0.0.1:9000"), "s3://b")  # doctest: +SKIP
    >>> reach.endpoint, reach.region  # doctest: +SKIP
    ('http://127.0.0.1:9000', 'us-east-1')
"""

from __future__ import annotations

import os
import re
from typing import NamedTuple

from t4.backends.aws_config import check_endpoint, region_error, settings_files
from t4.errors import ConfigError
from t4.surface import named

__all__ = ["Keys", "Reach", "S3Settings", "resolve"]

#: botocore's own check of a region name (``botocore.utils.validate_region_name``).
_REGION = re.compile(r"^(?![0-9]+$)(?!-)[a-zA-Z0-9-]{,63}(?<!-)$")

#: Variables that send boto3 to a profile or a credential source only it can read.
_BOTO3_ONLY = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
)


class S3Settings:
    """How to reach S3: all optional, the standard boto3 chain fills the rest."""

    def __init__(
        self,
        endpoint_url: str | None = None,
        profile: str | None = None,
        region: str | None = None,
        path_style: bool = False,
        concurrency: int = 16,
        *,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
        max_attempts: int | None = None,
        credentials: dict[str, str] | None = None,
    ):
        self.endpoint_url = endpoint_url
        self.profile = profile
        self.region = region
        self.path_style = path_style
        self.concurrency = concurrency
        #: Explicit ``aws_access_key_id``/``aws_secret_access_key``/``aws_session_token``,
        #: for callers that hold them (a Prefect block); otherwise boto3's chain decides.
        self.credentials = dict(credentials or {})
        # The retry budget: botocore's defaults are generous; T4_S3_* env tightens them.
        self.connect_timeout = _setting(connect_timeout, "T4_S3_CONNECT_TIMEOUT", 10.0)
        self.read_timeout = _setting(read_timeout, "T4_S3_READ_TIMEOUT", 60.0)
        self.max_attempts = int(_setting(max_attempts, "T4_S3_MAX_ATTEMPTS", 5))


def _setting(explicit: float | None, env: str, default: float) -> float:
    """The explicit value, else the environment variable ``env``, else ``default``."""
    if explicit is not None:
        return explicit
    text = os.environ.get(env)
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if value <= 0:
        raise ConfigError(f"{env} must be a positive number of seconds or tries, got {text!r}")
    return value


class Keys(NamedTuple):
    """Access keys given outright. ``repr`` shows none of them."""

    access_key_id: str
    secret_access_key: str
    session_token: str | None = None

    def __repr__(self) -> str:
        return "Keys(...)"


class Reach(NamedTuple):
    """Where the bucket is and with what keys: ``endpoint`` ``None`` means AWS itself;
    ``keys`` ``None`` means boto3's credential chain decides (and its settings files may
    name another endpoint or region: the backend then asks its client)."""

    endpoint: str | None
    region: str
    keys: Keys | None

    @property
    def endpoint_url(self) -> str:
        """The endpoint as boto3 names it (what ``identity`` carries): AWS's own when none."""
        if self.endpoint:
            return self.endpoint
        if self.region == "us-east-1":
            return "https://s3.amazonaws.com"
        suffix = ".cn" if self.region.startswith("cn-") else ""
        return f"https://s3.{self.region}.amazonaws.com{suffix}"


def resolve(settings: S3Settings, uri: str) -> Reach:
    """What ``settings`` and the ``AWS_*`` environment say, checked (a malformed endpoint or
    region is a ``ConfigError`` naming where it came from), without boto3."""
    endpoint = check_endpoint(settings.endpoint_url, uri)
    region, source = settings.region, named("region=")
    if not region:
        source = next((v for v in ("AWS_DEFAULT_REGION", "AWS_REGION") if os.environ.get(v)), "")
        region = os.environ.get(source) if source else None
    if region and not _REGION.match(region):
        raise region_error(region, source, uri)
    return Reach(endpoint, region or "us-east-1", _keys(settings))


def _keys(settings: S3Settings) -> Keys | None:
    """The keys given outright (``credentials=``, else ``AWS_ACCESS_KEY_ID`` and
    ``AWS_SECRET_ACCESS_KEY``), or ``None`` when a profile or an AWS settings file is in play
    (they may say more than keys: boto3 reads them) or no keys are given."""
    if settings.profile or any(os.environ.get(v) for v in _BOTO3_ONLY):
        return None
    if any(path.exists() for path in settings_files()):
        return None
    given = settings.credentials
    if given.get("aws_access_key_id") and given.get("aws_secret_access_key"):
        return Keys(
            given["aws_access_key_id"],
            given["aws_secret_access_key"],
            given.get("aws_session_token") or None,
        )
    if given:  # a partial set: boto3 says what is missing, as before
        return None
    key, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
    if key and secret:
        return Keys(key, secret, os.environ.get("AWS_SESSION_TOKEN") or None)
    return None
