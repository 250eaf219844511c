"""What obstore asks for credentials, answered from the keys t4 resolved
(``t4.backends.s3_settings``) or from boto3's session, which refreshes temporary ones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from botocore.credentials import Credentials
    from obstore.store import S3Credential

    from t4.backends.s3_settings import Keys

__all__ = ["SessionCredentials", "StaticCredentials"]


class SessionCredentials:
    """obstore's credential callback, answered from the boto3 session's credential chain."""

    def __init__(self, credentials: Credentials):
        self.credentials = credentials

    def __call__(self) -> S3Credential:
        frozen = self.credentials.get_frozen_credentials()
        return {
            "access_key_id": frozen.access_key or "",
            "secret_access_key": frozen.secret_key or "",
            "token": frozen.token,
            # re-read often: botocore refreshes temporary credentials before they expire
            "expires_at": datetime.now(UTC) + timedelta(minutes=5),
        }


class StaticCredentials:
    """obstore's credential callback for keys given outright (never expiring)."""

    def __init__(self, keys: Keys):
        self.keys = keys

    def __call__(self) -> S3Credential:
        return {
            "access_key_id": self.keys.access_key_id,
            "secret_access_key": self.keys.secret_access_key,
            "token": self.keys.session_token,
            "expires_at": None,
        }
