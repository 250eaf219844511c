"""Which failures are worth retrying, and how long to wait between tries.

One rule, decided by exception type and never by message text: a ``t4.TransientError`` (5xx,
throttling, timeouts, dropped connections, raised after botocore's own retries gave up) is
retried with exponential backoff and jitter; everything else (a missing key, access denied, a
bad argument) fails at once with the core's named error.

Example:
    >>> from prefect import task
    >>> @task(**retry_options())
    ... def head(bucket: str, key: str) -> dict: ...
"""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from prefect.tasks import exponential_backoff

from t4.errors import T4Error, TransferError, TransientError
from t4.meta import meta_digest

if TYPE_CHECKING:
    from prefect import Task
    from prefect.client.schemas.objects import TaskRun
    from prefect.context import TaskRunContext
    from prefect.states import State

__all__ = [
    "BACKOFF_SECONDS",
    "CACHE_EXPIRATION",
    "JITTER_FACTOR",
    "RETRIES",
    "etag_cache_key",
    "is_transient",
    "is_user_error",
    "retry_on_transient",
    "retry_options",
]

log = logging.getLogger(__name__)

#: Task-level tries after the first; botocore has already retried each request 4 times.
RETRIES = 3
#: The first wait; later waits double (2 s, 4 s, 8 s), each stretched by up to JITTER_FACTOR.
BACKOFF_SECONDS = 2.0
JITTER_FACTOR = 0.5
#: How long a cached ``deserialize`` result may be reused (it is keyed on ETag and metadata).
CACHE_EXPIRATION = timedelta(days=7)


def is_transient(exc: BaseException | None) -> bool:
    """Whether ``exc`` is worth another try.

    A ``TransferError`` (some files of a bulk step failed) counts as transient only when every
    failure it carries is itself transient: the rerun then redoes just those files.

    Example:
        >>> is_transient(TransientError("503 SlowDown"))
        True
        >>> is_transient(KeyError("x"))
        False
    """
    if isinstance(exc, TransientError):
        return True
    if isinstance(exc, TransferError) and exc.failures:
        return all(isinstance(err, TransientError) for err in exc.failures.values())
    return False


def is_user_error(exc: BaseException | None) -> bool:
    """Whether ``exc`` is about what the user gave (an argument, a setting, a file, a manifest,
    a key, a permission) and says so in its message, so a command line prints that one line:
    a ``T4Error`` that is neither a bulk step's ``TransferError`` nor an unreachable service
    (``ConnectionError``). Everything else is a real failure and keeps its traceback.

    Example:
        >>> from t4.errors import LocalPathError
        >>> is_user_error(LocalPathError("the manifest m.json does not exist"))
        True
        >>> is_user_error(TransientError("503 SlowDown")), is_user_error(KeyError("x"))
        (False, False)
    """
    return isinstance(exc, T4Error) and not isinstance(exc, (TransferError, ConnectionError))


def retry_on_transient(task: Task[..., Any], task_run: TaskRun, state: State[Any]) -> bool:
    """Prefect ``retry_condition_fn``: retry only when the failure is transient.

    Example:
        >>> @task(retries=3, retry_condition_fn=retry_on_transient)  # doctest: +SKIP
        ... def head(bucket: str, key: str) -> dict: ...
    """
    try:
        exc = state.result(raise_on_failure=False)
    except BaseException as err:  # the result could not be read back: judge that error
        exc = err
    retry = isinstance(exc, BaseException) and is_transient(exc)
    if not retry:
        log.debug("%s failed permanently (%s); not retrying", task_run.name, type(exc).__name__)
    return retry


def retry_options(
    retries: int = RETRIES, backoff: float = BACKOFF_SECONDS, jitter: float = JITTER_FACTOR
) -> dict[str, Any]:
    """Keyword arguments for ``@task`` / ``Task.with_options`` that apply the retry policy.

    Example:
        >>> fast = my_task.with_options(**retry_options(backoff=0.05))  # doctest: +SKIP
    """
    return {
        "retries": retries,
        "retry_delay_seconds": exponential_backoff(backoff_factor=backoff),
        "retry_jitter_factor": jitter,
        "retry_condition_fn": retry_on_transient,
    }


def etag_cache_key(context: TaskRunContext, parameters: dict[str, Any]) -> str | None:
    """Cache key for ``deserialize``: the bucket, the key, the object's current ETag and its
    helium metadata, which together decide the answer.

    Both come from one fresh HEAD, so new bytes or a new format (the same bytes written again
    as csv instead of bytes) get a new key and are never served stale. If the object cannot
    be looked up, there is no key (no caching) and the task itself raises the real error.
    The object is declared an upstream asset here, so a cached read keeps its lineage.
    """
    from t4flows import lineage
    from t4flows.blocks import open_bucket

    try:
        with open_bucket(parameters["bucket"]) as bucket:
            info, meta = bucket.head(parameters["key"])
            uri = bucket.uri
            # declared here, not only in the task: a cache hit never runs the task body
            lineage.read(bucket, [info.key], info.key)
    except T4Error as err:
        log.debug("no cache key for %r: %s", parameters.get("key"), err)
        return None
    if not info.etag:
        return None
    ident = "\x00".join([uri, info.key, info.etag, info.version_id or "", meta_digest(meta)])
    return "t4-deserialize-" + hashlib.sha256(ident.encode("utf-8")).hexdigest()[:40]
