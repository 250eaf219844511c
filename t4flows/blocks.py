"""A Prefect Block that names a bucket and how to reach it, so deployments say ``lake``
instead of repeating an endpoint, a profile or credentials; and that keeps Prefect's own files
in the bucket: task and flow results (``result_storage="t4-bucket/lake"``) and a
deployment's code (``get_directory``/``put_directory``, as prefect-aws's ``S3Bucket``).

Credentials are ``SecretStr``: Prefect stores them encrypted-at-rest in its database, shows
them masked in the UI and in parameters, and this module never logs them.

Example:
    >>> block = T4BucketBlock(uri="s3://lake", endpoint_url="http://localhost:8333")
    >>> block.save("lake")  # doctest: +SKIP
    >>> with open_bucket("t4-bucket/lake") as b:  # doctest: +SKIP
    ...     b.keys()
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, cast

from prefect._internal.compatibility.async_dispatch import async_dispatch
from prefect.context import FlowRunContext, TaskRunContext
from prefect.filesystems import WritableDeploymentStorage, WritableFileSystem
from prefect.utilities.asyncutils import run_sync_in_worker_thread
from prefect.utilities.filesystem import filter_files
from pydantic import Field, SecretStr

import t4
from t4.errors import KeyNotFoundError
from t4.keys import as_prefix, check_file_key
from t4.transfer import ProgressCallback

__all__ = [
    "BLOCK_PREFIX",
    "BucketRef",
    "T4BucketBlock",
    "bucket_label",
    "open_bucket",
    "run_names",
]

#: ``"t4-bucket/NAME"`` names a saved block; any other string is a bucket URI or folder.
BLOCK_PREFIX = "t4-bucket/"


class T4BucketBlock(WritableFileSystem, WritableDeploymentStorage):
    """A bucket's URI and connection settings; also Prefect storage for results and code.

    Attributes:
        uri: ``s3://name``, ``file:///abs/folder`` or a local folder.
        endpoint_url: an S3-compatible endpoint (MinIO, SeaweedFS, moto...).
        profile: an AWS profile name from the shared config files.
        region: the AWS region.
        path_style: address the bucket in the path, as most S3-compatible servers want.
        concurrency: transfers at once inside one task.
        aws_access_key_id, aws_secret_access_key, aws_session_token: explicit credentials,
            when neither a profile nor the environment provides them.
        bucket_folder: the key prefix under which Prefect's storage methods (``read_path``,
            ``write_path``, ``get_directory``, ``put_directory``) work; tasks ignore it.

    Example:
        >>> block = T4BucketBlock(uri="s3://lake", profile="analytics")
        >>> block.save("lake", overwrite=True)  # doctest: +SKIP
    """

    _block_type_name: ClassVar[str] = "T4 Bucket"
    _block_type_slug: ClassVar[str] = "t4-bucket"
    _description: ClassVar[str] = (
        "An S3 bucket or local folder for t4flows tasks, and storage for Prefect results "
        "and deployment code."
    )
    # No public page documents t4flows yet: Prefect's page on result storage is the closest.
    _documentation_url: ClassVar[Any] = "https://docs.prefect.io/v3/advanced/results"
    _code_example: ClassVar[str] = """
    ```python
    from prefect import flow
    from t4flows import T4BucketBlock, list_keys

    t4_bucket_block = T4BucketBlock.load("BLOCK_NAME")

    @flow(result_storage=t4_bucket_block, persist_result=True)
    def keys_under(prefix: str) -> list[str]:
        return list_keys(t4_bucket_block, prefix)
    ```
    """

    uri: str = Field(description="s3://name, file:///abs/folder or a local folder path.")
    endpoint_url: str | None = Field(
        default=None, description="An S3-compatible endpoint URL (MinIO, SeaweedFS...)."
    )
    profile: str | None = Field(default=None, description="An AWS profile name.")
    region: str | None = Field(default=None, description="The AWS region.")
    path_style: bool = Field(
        default=False, description="Address the bucket in the URL path (http://host/bucket)."
    )
    concurrency: int | None = Field(default=None, description="Transfers at once per task.")
    aws_access_key_id: SecretStr | None = Field(
        default=None, description="An AWS access key ID, when no profile or environment has one."
    )
    aws_secret_access_key: SecretStr | None = Field(
        default=None, description="The secret access key that goes with the key ID."
    )
    aws_session_token: SecretStr | None = Field(
        default=None, description="A session token, for temporary credentials."
    )
    bucket_folder: str = Field(
        default="",
        description=(
            "The key prefix under which Prefect results and deployment code are kept "
            "(read_path, write_path, get_directory, put_directory); tasks ignore it."
        ),
    )

    def bucket(
        self,
        *,
        concurrency: int | None = None,
        callback: ProgressCallback | None = None,
    ) -> t4.Bucket:
        """Open the bucket this block names (progress bars off: tasks report through Prefect).

        Example:
            >>> with T4BucketBlock.load("lake").bucket() as b:  # doctest: +SKIP
            ...     b.keys("raw/")
        """
        kwargs: dict[str, Any] = {
            "endpoint_url": self.endpoint_url,
            "profile": self.profile,
            "region": self.region,
            "path_style": self.path_style,
            "concurrency": concurrency or self.concurrency,
            "progress": False,
            "callback": callback,
        }
        return t4.Bucket(self.uri, credentials=self._credentials() or None, **kwargs)

    def _credentials(self) -> dict[str, str]:
        pairs = {
            "aws_access_key_id": self.aws_access_key_id,
            "aws_secret_access_key": self.aws_secret_access_key,
            "aws_session_token": self.aws_session_token,
        }
        return {name: value.get_secret_value() for name, value in pairs.items() if value}

    # -- Prefect storage: results (WritableFileSystem) and code (WritableDeploymentStorage).
    # Each private method does the work; the public one runs it in the caller's thread, or,
    # called from async code, returns its twin's coroutine, which runs it in a worker thread
    # (``async_dispatch``, as Prefect's own blocks: hence the ``override`` ignores, since the
    # base classes declare coroutines).

    def _resolve_path(self, path: str | None) -> str:
        """The key of ``path`` under ``bucket_folder``. Prefect hands back keys it resolved
        itself (results of an unsaved block), so a key already under the folder is kept."""
        folder = as_prefix(self.bucket_folder.strip("/"))
        rel = (path or "").lstrip("/")
        return rel if rel.startswith(folder) else folder + rel

    async def aread_path(self, path: str) -> bytes:
        """``read_path`` for async callers."""
        return cast(bytes, await run_sync_in_worker_thread(self._read_path, path))

    @async_dispatch(aread_path)
    def read_path(self, path: str) -> bytes:  # type: ignore[override]
        """The bytes of the object at ``path`` (under ``bucket_folder``).

        Example:
            >>> T4BucketBlock.load("lake").read_path("results/abc")  # doctest: +SKIP
        """
        return self._read_path(path)

    def _read_path(self, path: str) -> bytes:
        key = check_file_key(self._resolve_path(path), self.uri, hint="get_directory")
        with open_bucket(self) as b, tempfile.TemporaryDirectory(prefix="t4flows-") as tmp:
            local = Path(tmp, "object")
            b.fetch(key, local)
            if not local.is_file():  # the key named no object, only a folder of them
                raise KeyNotFoundError(
                    f"no object {key!r} in {b.uri}: it is a folder; use get_directory",
                    bucket=b.uri,
                    key=key,
                )
            return local.read_bytes()

    async def awrite_path(self, path: str, content: bytes) -> None:
        """``write_path`` for async callers."""
        await run_sync_in_worker_thread(self._write_path, path, content)

    @async_dispatch(awrite_path)
    def write_path(self, path: str, content: bytes) -> None:  # type: ignore[override]
        """Store ``content`` at ``path`` (under ``bucket_folder``); inside a flow or task run,
        its helium ``user_meta`` names them: ``{"prefect": {"flow_run_id": ...}}``.

        Example:
            >>> T4BucketBlock.load("lake").write_path("notes/a.bin", b"...")  # doctest: +SKIP
        """
        self._write_path(path, content)

    def _write_path(self, path: str, content: bytes) -> None:
        key = self._resolve_path(path)
        runs = run_names()
        with open_bucket(self) as b:
            b.put(key, bytes(content), {"prefect": runs} if runs else None)

    async def aget_directory(
        self, from_path: str | None = None, local_path: str | None = None
    ) -> None:
        """``get_directory`` for async callers (Prefect's code-pull step)."""
        await run_sync_in_worker_thread(self._get_directory, from_path, local_path)

    @async_dispatch(aget_directory)
    def get_directory(  # type: ignore[override]
        self, from_path: str | None = None, local_path: str | None = None
    ) -> None:
        """Download every object under ``from_path`` (under ``bucket_folder``) into
        ``local_path`` (default: the working directory); unchanged files are skipped.

        Example:
            >>> T4BucketBlock.load("code").get_directory(local_path="/tmp/code")  # doctest: +SKIP
        """
        self._get_directory(from_path, local_path)

    def _get_directory(self, from_path: str | None, local_path: str | None) -> None:
        prefix = as_prefix(self._resolve_path(from_path))
        with open_bucket(self) as b:
            b.fetch(prefix or "/", Path(local_path or "."))

    async def aput_directory(
        self,
        local_path: str | None = None,
        to_path: str | None = None,
        ignore_file: str | None = None,
    ) -> None:
        """``put_directory`` for async callers."""
        await run_sync_in_worker_thread(self._put_directory, local_path, to_path, ignore_file)

    @async_dispatch(aput_directory)
    def put_directory(  # type: ignore[override]
        self,
        local_path: str | None = None,
        to_path: str | None = None,
        ignore_file: str | None = None,
    ) -> None:
        """Upload ``local_path`` (default: the working directory) under ``to_path`` (under
        ``bucket_folder``), leaving out what ``ignore_file`` (``.prefectignore`` patterns)
        names; unchanged files are skipped.

        Example:
            >>> code = T4BucketBlock.load("code")  # doctest: +SKIP
            >>> code.put_directory(".", ignore_file=".prefectignore")  # doctest: +SKIP
        """
        self._put_directory(local_path, to_path, ignore_file)

    def _put_directory(
        self, local_path: str | None, to_path: str | None, ignore_file: str | None
    ) -> None:
        source = Path(local_path or ".")
        prefix = as_prefix(self._resolve_path(to_path))
        with open_bucket(self) as b:
            if not ignore_file:
                b.put_dir(prefix, source)
                return
            patterns = Path(ignore_file).read_text("utf-8").splitlines()
            kept = filter_files(str(source), patterns, include_dirs=False, as_posix=True)
            for rel in sorted(kept):
                b.put_file(prefix + rel, source / rel)


def run_names() -> dict[str, str]:
    """The flow run and task run this code runs in (ids and names), or ``{}`` outside one."""
    names: dict[str, str] = {}
    flow_ctx, task_ctx = FlowRunContext.get(), TaskRunContext.get()
    if flow_ctx is not None and flow_ctx.flow_run is not None:
        names.update(flow_run_id=str(flow_ctx.flow_run.id), flow_run_name=flow_ctx.flow_run.name)
    if task_ctx is not None:
        names.update(task_run_id=str(task_ctx.task_run.id), task_run_name=task_ctx.task_run.name)
        names.setdefault("flow_run_id", str(task_ctx.task_run.flow_run_id or ""))
    return {k: v for k, v in names.items() if v}


#: What tasks accept for a bucket: a URI or folder, ``"t4-bucket/NAME"``, or a block.
BucketRef = str | T4BucketBlock


#: Buckets opened without a callback, kept per process: building one (a boto3 session and
#: client) costs a few hundred ms of CPU, which chunk tasks would otherwise pay every time.
_SHARED: OrderedDict[str, t4.Bucket] = OrderedDict()
_SHARED_MAX = 8
_SHARED_LOCK = threading.Lock()


@contextlib.contextmanager
def open_bucket(
    ref: BucketRef,
    *,
    concurrency: int | None = None,
    callback: ProgressCallback | None = None,
) -> Iterator[t4.Bucket]:
    """A ``t4.Bucket`` from a URI, a saved block's name or a block, for a ``with`` block.

    Without a callback the bucket is shared by the tasks of this process (a ``t4.Bucket``
    is safe to use from many threads), keyed by everything that configures it, so a changed
    block gets a new one; with a callback it is the caller's own and closed after use.

    Example:
        >>> with open_bucket("s3://lake") as b:  # doctest: +SKIP
        ...     b.keys("raw/")
    """
    if isinstance(ref, str) and ref.startswith(BLOCK_PREFIX):
        ref = T4BucketBlock.load(ref.removeprefix(BLOCK_PREFIX))  # type: ignore[assignment]
    if callback is not None:
        with _build(ref, concurrency, callback) as own:
            yield own
        return
    yield _shared(ref, concurrency)


def _build(ref: BucketRef, concurrency: int | None, callback: ProgressCallback | None) -> t4.Bucket:
    if isinstance(ref, T4BucketBlock):
        return ref.bucket(concurrency=concurrency, callback=callback)
    return t4.Bucket(ref, concurrency=concurrency, progress=False, callback=callback)


def _shared(ref: BucketRef, concurrency: int | None) -> t4.Bucket:
    settings = (
        ref.model_dump_json(context={"reveal": True}) if isinstance(ref, T4BucketBlock) else ref
    )
    for secret in ref._credentials().values() if isinstance(ref, T4BucketBlock) else ():
        settings += secret  # SecretStr dumps masked: the key must change when a secret does
    key = hashlib.sha256(f"{settings}\x00{concurrency}".encode()).hexdigest()
    with _SHARED_LOCK:
        bucket = _SHARED.get(key)
        if bucket is not None:
            _SHARED.move_to_end(key)
            return bucket
    bucket = _build(ref, concurrency, None)
    with _SHARED_LOCK:
        kept = _SHARED.setdefault(key, bucket)
        _SHARED.move_to_end(key)
        evicted = [_SHARED.popitem(last=False)[1] for _ in range(len(_SHARED) - _SHARED_MAX)]
    for spare in ([bucket] if kept is not bucket else []) + evicted:
        spare.close()
    return kept


@atexit.register
def _close_shared() -> None:
    with _SHARED_LOCK:
        buckets = list(_SHARED.values())
        _SHARED.clear()
    for bucket in buckets:
        with contextlib.suppress(Exception):
            bucket.close()


def bucket_label(ref: BucketRef) -> str:
    """How logs and reports name a bucket: its URI or block name, never its credentials."""
    if isinstance(ref, T4BucketBlock):
        return ref.uri
    return str(ref)
