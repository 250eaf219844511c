"""Conditional writes on S3: a PUT with ``If-None-Match: *`` (create only if absent) or
``If-Match: <etag>`` (replace only if unchanged), which S3 checks and applies in one step.
AWS S3, moto 5.2.6 and SeaweedFS 4.48 honour both; they answer 412 when the condition fails
(AWS 409 for a conditional write racing another on the same key, moto 404 for ``If-Match``
on a missing key). moto's server checks the condition and then writes without a lock
between the two (moto/s3/responses.py ``put_object``): atomic enough for tests, where t4's
concurrent pushes passed every round, but not a guarantee. Registries use conditional writes
for their pointers (``t4.packages.registry``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from t4.backends.base import precondition_failed

if TYPE_CHECKING:
    from t4.backends.s3_connection import S3Connection

__all__ = ["get_tagged", "put_if"]


def get_tagged(backend: S3Connection, key: str) -> tuple[bytes, str]:
    """The object's bytes and the ETag of that very object, from one GET."""
    resp = backend._call(backend.client.get_object, key, Bucket=backend.name, Key=key)
    return resp["Body"].read(), str(resp.get("ETag", "")).strip('"')


def put_if(
    backend: S3Connection, key: str, data: bytes, metadata: dict[str, str], etag: str | None
) -> None:
    """One boto3 PUT under the condition; ``PreconditionFailedError`` when it fails."""
    from botocore.exceptions import ClientError

    condition: dict[str, Any] = {"IfNoneMatch": "*"} if etag is None else {"IfMatch": f'"{etag}"'}
    try:
        backend.client.put_object(
            Bucket=backend.name, Key=key, Body=data, Metadata=metadata, **condition
        )
    except ClientError as err:
        code = str(err.response.get("Error", {}).get("Code", ""))
        status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if status in (409, 412) or (etag is not None and code == "NoSuchKey"):
            raise precondition_failed(backend.uri, key, etag) from err
        with backend._writing(key):
            raise backend._translate(err, key) from err
    except Exception as err:
        found = backend._boto_error(err, key)
        if found is None:
            raise
        raise found from err
