"""``t4.config()``: settings that persist between sessions, in one JSON file.

The file lives at ``$T4_CONFIG_DIR/config.json`` (default ``~/.config/t4/config.json``);
the cache (search indexes of S3 buckets) under ``$T4_CACHE_DIR`` (default ``~/.cache/t4``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from t4.errors import CacheError, ConfigError

__all__ = [
    "DEFAULT_CONCURRENCY",
    "KNOWN_SETTINGS",
    "cache_dir",
    "check_setting",
    "concurrency_from_env",
    "config",
    "config_path",
    "unwritable_cache",
]

#: Every setting t4 understands, with what it means.
KNOWN_SETTINGS: dict[str, str] = {
    "navigator_url": "a T4 catalog; search reads {navigator_url}/config.json to find the index",
    "elastic_search_url": "an Elasticsearch/OpenSearch endpoint searched directly",
    "default_concurrency": "how many files move at once (an integer, default 64)",
    "catalog_token": "the token a t4 catalog asks for (T4_CATALOG_TOKEN wins), sent as a bearer"
    " token to navigator_url's host only",
}
_URL_SETTINGS = ("navigator_url", "elastic_search_url")


def config_path() -> Path:
    """Where the settings file lives."""
    base = os.environ.get("T4_CONFIG_DIR") or Path.home() / ".config" / "t4"
    return Path(base) / "config.json"


def cache_dir() -> Path:
    """Where t4 keeps caches it can rebuild (search indexes of S3 buckets)."""
    return Path(os.environ.get("T4_CACHE_DIR") or Path.home() / ".cache" / "t4")


def unwritable_cache(path: Path, err: Exception, *, bucket: str | None = None) -> CacheError:
    """The error for a cache file (``path``) t4 cannot create or write: it names the folder,
    the reason, and ``T4_CACHE_DIR``, which moves the cache elsewhere."""
    why = getattr(err, "strerror", None) or str(err)
    error = CacheError(
        f"t4's cache folder {path.parent} cannot be written ({why}, at {path}); make it "
        "writable, or set T4_CACHE_DIR to a folder that is",
        bucket=bucket,
    )
    error.errno, error.filename = getattr(err, "errno", None), str(path)
    return error


def _read() -> dict[str, Any]:
    path = config_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as err:
        raise ConfigError(f"cannot read t4's settings at {path}: {err}; fix or delete it") from err
    if not isinstance(data, dict):
        raise ConfigError(f"t4's settings at {path} are not a JSON object; fix or delete it")
    return data


def check_setting(name: str, value: Any) -> Any:
    """``value`` as the setting ``name`` takes it, or ``ConfigError`` saying why not."""
    if name not in KNOWN_SETTINGS:
        known = ", ".join(sorted(KNOWN_SETTINGS))
        raise ConfigError(f"unknown setting {name!r}; t4 knows: {known}")
    if value is None:
        return None
    if name in _URL_SETTINGS:
        parsed = urlparse(str(value))
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ConfigError(f"{name} must be an http(s) URL, got {value!r}")
        return str(value).rstrip("/")
    if name == "default_concurrency":
        try:
            number = int(value)
        except (TypeError, ValueError):
            number = 0
        if number < 1:
            raise ConfigError(f"default_concurrency must be a positive integer, got {value!r}")
        return number
    return value


def config(**settings: Any) -> dict[str, Any]:
    """Read t4's persistent settings, or change some and return them all.

    A setting given as ``None`` is removed. Unknown settings and bad values are refused
    before anything is written.

    Example:
        >>> t4.config(navigator_url="https://catalog.example.com")  # doctest: +SKIP
        {'navigator_url': 'https://catalog.example.com'}
        >>> t4.config()["navigator_url"]  # doctest: +SKIP
        'https://catalog.example.com'
    """
    current = _read()
    if not settings:
        return current
    checked = {name: check_setting(name, value) for name, value in settings.items()}
    for name, value in checked.items():
        if value is None:
            current.pop(name, None)
        else:
            current[name] = value
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    import tempfile  # with shutil and random: for writing settings only

    with tempfile.NamedTemporaryFile(
        "w", dir=path.parent, prefix=".config-", suffix=".tmp", delete=False, encoding="utf-8"
    ) as tmp:
        json.dump(current, tmp, indent=2, sort_keys=True)
    os.replace(tmp.name, path)
    return current


#: Files moving at once by default (see ``t4.engine``: small S3 objects as that many requests
#: in flight on one event loop, the rest on at most 16 threads).
DEFAULT_CONCURRENCY = 64


def concurrency_from_env(explicit: int | None = None) -> int:
    """The per-call value, else ``T4_CONCURRENCY``, else ``t4.config``, else 64."""
    value: Any = explicit
    source = "concurrency="
    if value is None:
        value, source = os.environ.get("T4_CONCURRENCY"), "T4_CONCURRENCY="
    if value is None:
        value = config().get("default_concurrency", DEFAULT_CONCURRENCY)
        source = "t4.config default_concurrency="
    try:
        # a bool is an int to Python, but never a number of transfers
        return int(check_setting("default_concurrency", 0 if isinstance(value, bool) else value))
    except ConfigError as err:
        raise ConfigError(
            f"{source}{value!r} is not a number of transfers at once: use a positive integer"
        ) from err
