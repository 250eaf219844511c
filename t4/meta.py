"""T4's ``helium`` metadata: one S3 user-metadata entry holding a JSON object.

``{"user_meta": {...}, "format": {"name": "json"}, "target": "json"}`` in the header
``x-amz-meta-helium``, and the same JSON in the extended attribute
``user.com.quiltdata.helium`` of fetched files. Reading and writing exactly this keeps
buckets interchangeable with the original T4.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from t4.errors import MetadataError
from t4.surface import named

__all__ = [
    "HELIUM",
    "MAX_USER_METADATA_BYTES",
    "XATTR",
    "carried",
    "decode",
    "encode",
    "helium",
    "meta_digest",
]

log = logging.getLogger(__name__)

HELIUM = "helium"
XATTR = "user.com.quiltdata.helium"
#: S3 allows 2 KiB of user metadata, counted as the UTF-8 bytes of every name and value.
MAX_USER_METADATA_BYTES = 2048


def helium(user_meta: Any, fmt: dict[str, Any] | None, *, bucket: str, key: str) -> dict[str, Any]:
    """The helium dict for an object: ``user_meta`` plus, for ``put``, its format."""
    if user_meta is None:
        user_meta = {}
    if not isinstance(user_meta, dict):
        raise MetadataError(
            f"meta for {key!r} in {bucket} must be a dict, got {type(user_meta).__name__}",
            bucket=bucket,
            key=key,
        )
    out: dict[str, Any] = {"user_meta": user_meta}
    if fmt is not None:
        out["format"] = fmt
        out["target"] = fmt["name"]
    return out


def carried(
    xattr: dict[str, Any] | None, user_meta: Any, *, bucket: str, key: str
) -> dict[str, Any]:
    """The helium dict ``put_dir`` uploads for a file carrying ``xattr`` (what ``fetch``
    stored on it): without ``user_meta``, the xattr dict as it is (``format`` and ``target``
    included), or ``{}``, as T4 did; with ``user_meta``, its entries laid over the xattr's.

    Example:
        >>> x = {"user_meta": {"a": 1, "b": 2}, "format": {"name": "json"}, "target": "json"}
        >>> carried(x, None, bucket="b", key="k") == x
        True
        >>> carried(x, {"b": 3}, bucket="b", key="k")["user_meta"]
        {'a': 1, 'b': 3}
        >>> carried(None, None, bucket="b", key="k")
        {}
    """
    base = dict(xattr or {})
    if user_meta is None:
        return base
    own = base.get("user_meta")
    layered = {
        **(own if isinstance(own, dict) else {}),
        **helium(user_meta, None, bucket=bucket, key=key)["user_meta"],
    }
    return {**base, "user_meta": layered}


def encode(meta: dict[str, Any], *, bucket: str, key: str) -> dict[str, str]:
    """The S3 user metadata for a helium dict, refused if S3 could not store it."""
    try:
        # ASCII-escaped: S3 and HTTP headers carry non-ASCII metadata badly.
        text = json.dumps(meta, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as err:
        raise MetadataError(
            f"metadata for {key!r} in {bucket} is not JSON-serialisable ({err}); "
            "use dicts, lists, strings, numbers, booleans and None only. Nothing was written.",
            bucket=bucket,
            key=key,
        ) from err
    size = len(HELIUM) + len(text)
    if size > MAX_USER_METADATA_BYTES:
        raise MetadataError(
            f"metadata for {key!r} in {bucket} is {size} bytes as JSON; S3 allows "
            f"{MAX_USER_METADATA_BYTES} bytes of user metadata. Store large annotations "
            "in an object of their own. Nothing was written.",
            bucket=bucket,
            key=key,
        )
    return {HELIUM: text}


def decode(raw: dict[str, str], *, bucket: str, key: str) -> dict[str, Any]:
    """The helium dict from raw user metadata; ``{}`` for an object that has none."""
    text = raw.get(HELIUM)
    if text is None:
        return {}
    try:
        meta = json.loads(text)
    except ValueError as err:
        raise MetadataError(
            f"the helium metadata of {key!r} in {bucket} is not valid JSON ({err}); "
            f"rewrite it with {named('put or set_meta')}",
            bucket=bucket,
            key=key,
        ) from err
    if not isinstance(meta, dict):
        raise MetadataError(
            f"the helium metadata of {key!r} in {bucket} is not a JSON object; rewrite it",
            bucket=bucket,
            key=key,
        )
    return meta


def read_xattr(path: Path) -> dict[str, Any] | None:
    """The helium dict stored on a local file, or ``None`` where there is none or no support."""
    return parse_xattr(xattr_bytes(path), path)


def xattr_bytes(path: Path) -> bytes | None:
    """The helium attribute of a local file as stored (``None``: none, or no support), for
    callers that decode each distinct value once (``parse_xattr``)."""
    try:
        return os.getxattr(path, XATTR)
    except (OSError, AttributeError):  # no attribute, no xattr support, or not Linux
        return None


def parse_xattr(raw: bytes | None, path: Path) -> dict[str, Any] | None:
    """The helium dict in a raw attribute value read from ``path``; ``None`` if unreadable."""
    if raw is None:
        return None
    try:
        meta = json.loads(raw)
    except ValueError:
        log.warning("ignoring unreadable %s attribute on %s", XATTR, path)
        return None
    return meta if isinstance(meta, dict) else None


def write_xattr(path: Path | int, meta: dict[str, Any]) -> bool:
    """Store the helium dict on a local file (a path, or an open descriptor) where the
    filesystem allows; say if it did."""
    if not meta:
        return False
    try:
        os.setxattr(path, XATTR, json.dumps(meta, ensure_ascii=True).encode("ascii"))
    except (OSError, AttributeError):
        return False
    return True


def meta_digest(meta: dict[str, Any]) -> str:
    """A short, stable digest of a helium dict."""
    text = json.dumps(meta, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]
