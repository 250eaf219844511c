"""Where the user is, and what a setting or a call is named there: error messages name the
fix the way the user would type it. In Python that is an argument (``endpoint_url=``) or a
call (``list_packages(registry)``); at the ``t4`` command line, a flag (``--endpoint-url``)
or a command (``t4 package ls``). The command line says where it is with
``command_line()``; the code that words a message asks ``named()``.

Example:
    >>> named("endpoint_url=")
    'endpoint_url='
    >>> with command_line():
    ...     named("endpoint_url=")
    '--endpoint-url'
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["carried", "command_line", "named"]

#: The Python names that messages use, and what the ``t4`` command calls each.
_ON_THE_COMMAND_LINE = {
    "endpoint_url=": "--endpoint-url",
    "profile=": "--profile",
    "region=": "--region",
    "list_packages(registry)": "t4 package ls",
    "delete_dir('')": "t4 rm-dir with no prefix",
    "pass allow_root=True": "add --whole-bucket",
    "keys()": "t4 ls",
    "keys(prefix)": "t4 ls",
    "put_dir": "t4 put-dir",
    "delete_dir": "t4 rm-dir",
    "put_file": "t4 put",
    "put or set_meta": "t4 put or t4 meta --set",
    "fetch": "t4 fetch",
    "index()": "t4 index",
    "Bucket.index()": "t4 index",
}
_AT_THE_COMMAND_LINE: ContextVar[bool] = ContextVar("t4_at_the_command_line", default=False)


def named(python: str) -> str:
    """What the user calls ``python`` (a name in ``_ON_THE_COMMAND_LINE``) where they are."""
    if _AT_THE_COMMAND_LINE.get():
        return _ON_THE_COMMAND_LINE[python]
    return python


@contextmanager
def command_line() -> Iterator[None]:
    """Within this block, messages are worded for the ``t4`` command line."""
    token = _AT_THE_COMMAND_LINE.set(True)
    try:
        yield
    finally:
        _AT_THE_COMMAND_LINE.reset(token)


def carried() -> Callable[[], None]:
    """A function that, called first in another thread (a ``ThreadPoolExecutor``'s
    ``initializer``), words that thread's messages as this one's: threads do not inherit
    context variables."""
    here = _AT_THE_COMMAND_LINE.get()

    def there() -> None:
        _AT_THE_COMMAND_LINE.set(here)

    return there
