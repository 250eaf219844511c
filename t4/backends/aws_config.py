"""AWS settings a user got wrong, said in their terms: which setting, where it came from
(an argument, an environment variable, a file) and how to fix it, as a ``ConfigError``
instead of botocore's ``ProfileNotFound``, ``InvalidRegionError``, ``ConfigParseError`` or
``ValueError('Invalid endpoint')``.

Example:
    >>> check_endpoint("not-a-url", "s3://b")  # doctest: +SKIP
    ConfigError: the S3 endpoint URL 'not-a-url' (endpoint_url=) for s3://b is not ...
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from t4.errors import ConfigError
from t4.surface import named

if TYPE_CHECKING:
    from botocore.exceptions import InvalidRegionError, ProfileNotFound

__all__ = ["check_endpoint", "region_error", "settings_error", "settings_files"]

#: The files boto3 reads, with the variable that moves each, and its default place.
_FILES = (
    ("AWS_CONFIG_FILE", "~/.aws/config"),
    ("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials"),
)


def _aws_file(variable: str, default: str) -> Path:
    return Path(os.environ.get(variable) or default).expanduser()


def settings_files() -> list[Path]:
    """The AWS settings files boto3 reads (config, credentials), where they would be."""
    return [_aws_file(v, d) for v, d in _FILES]


def check_endpoint(explicit: str | None, uri: str) -> str | None:
    """The endpoint URL in force (``endpoint_url=``, else ``AWS_ENDPOINT_URL_S3``, else
    ``AWS_ENDPOINT_URL``), or ``None`` for AWS itself; one that is not ``http(s)://host...``
    is refused, naming where it came from, before boto3 or obstore sees it."""
    sources = [(named("endpoint_url="), explicit)]
    if os.environ.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "").lower() != "true":
        sources += [(v, os.environ.get(v)) for v in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")]
    source, url = next(((s, u) for s, u in sources if u), ("", None))
    if url is None:
        return None
    parsed = urlparse(url)
    if parsed.scheme in ("http", "https") and parsed.hostname:
        return url
    unset = "pass another" if source == named("endpoint_url=") else f"or unset {source}"
    raise ConfigError(
        f"cannot use {uri}: the S3 endpoint URL {url!r} (from {source}) is not an http(s) "
        f"URL: use one like 'http://127.0.0.1:9000' or 'https://s3.example.com', {unset}",
        bucket=uri,
    )


def settings_error(
    err: Exception, uri: str, profile: str | None, region: str | None
) -> ConfigError | None:
    """The ``ConfigError`` for botocore's complaint about the AWS settings, or ``None`` when
    ``err`` is not one."""
    from botocore.exceptions import ConfigParseError, InvalidRegionError, ProfileNotFound

    if isinstance(err, ProfileNotFound):
        return _profile_error(err, uri, profile)
    if isinstance(err, InvalidRegionError):
        return _region_error(err, uri, region)
    if isinstance(err, ConfigParseError):
        path = str(err.kwargs.get("path", ""))
        variable = next((v for v, d in _FILES if str(_aws_file(v, d)) == path), "AWS_CONFIG_FILE")
        return ConfigError(
            f"cannot use {uri}: the AWS settings file {path} does not parse ({err}). Fix it "
            f"(a [section] line, then key = value lines), or point {variable} at another file",
            bucket=uri,
        )
    return None


def _profile_error(err: ProfileNotFound, uri: str, profile: str | None) -> ConfigError:
    name = err.kwargs.get("profile", profile)
    source = named("profile=") if profile else "AWS_PROFILE"
    config, credentials = (_aws_file(v, d) for v, d in _FILES)
    from botocore.exceptions import BotoCoreError

    try:
        import botocore.session

        known = sorted(botocore.session.Session(profile=None).full_config.get("profiles", {}))
    except BotoCoreError:  # the list is only a hint; a broken file is reported when used
        known = []
    return ConfigError(
        f"cannot use {uri}: the AWS profile {name!r} (from {source}) is in neither {config} "
        f"(AWS_CONFIG_FILE) nor {credentials} (AWS_SHARED_CREDENTIALS_FILE). Profiles there: "
        f"{', '.join(known) or 'none'}; pass one as {named('profile=')} or AWS_PROFILE, "
        f"or add {name!r}",
        bucket=uri,
    )


def _region_error(err: InvalidRegionError, uri: str, region: str | None) -> ConfigError:
    value = err.kwargs.get("region_name", region)
    if region:
        source = named("region=")
    else:
        source = next(
            (v for v in ("AWS_REGION", "AWS_DEFAULT_REGION") if os.environ.get(v) == value), ""
        )
    return region_error(value, source, uri)


def region_error(value: str, source: str, uri: str) -> ConfigError:
    """The ``ConfigError`` for a region name that is not one; ``source`` is where it came
    from (``region=``, a variable; empty: the AWS settings file)."""
    source = source or f"the profile's region in {_aws_file(*_FILES[0])}"
    return ConfigError(
        f"cannot use {uri}: {value!r} (from {source}) is not an AWS region name; use one like "
        "'us-east-1' or 'eu-west-3' (S3-compatible servers accept 'us-east-1')",
        bucket=uri,
    )
