"""The ``t4`` command line: one subcommand per ``Bucket`` operation.

Where a command names an object, it is written one of two ways, never mixed:

* ``s3://bucket/key`` (or ``s3://bucket/prefix``): the bucket and the key in one URI;
* ``--bucket BUCKET KEY``: any bucket t4 opens (a local folder such as ``./lake``,
  ``file:///abs/lake`` or ``s3://name``) and a plain key relative to it.

Exit codes: 0 success, 1 the operation failed (the error's message on one line, the
traceback too with ``--debug``), 2 the command line was wrong, 130 interrupted (Ctrl-C).

Example:
    $ t4 put data.csv s3://my-bucket/raw/data.csv --meta '{"source": "sensor"}'
    $ t4 cat --bucket ./lake raw/data.csv
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import traceback
from collections.abc import Sequence

from t4.cli._parser import build_parser
from t4.errors import T4Error
from t4.surface import command_line

__all__ = ["console", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``t4`` command with ``argv`` (default: ``sys.argv[1:]``); return the exit code.

    Example:
        >>> main(["ls", "--bucket", "./lake"])  # doctest: +SKIP
        0
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help(sys.stderr)
        return 2
    _configure_logging(debug=args.debug, quiet=args.quiet)
    try:
        with command_line():
            return int(args.run(args) or 0)
    except BrokenPipeError:  # stdout closed early (t4 ls | head): not an error worth a line
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except (T4Error, OSError) as err:
        if args.debug:
            traceback.print_exc()
        print(f"t4: error: {_one_line(err)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("t4: interrupted", file=sys.stderr)
        return 130


def console() -> None:
    """The installed ``t4`` command: ``main()``, then out at once.

    Everything a command writes is committed before it returns (each command closes its
    ``Bucket``: the transfer-state queue is flushed, the search index closed); what is left is
    the interpreter tearing down every object boto3 built, some 70 ms per command that
    nothing needs. So: flush the output and log handlers, and ``os._exit``. Only for the
    console script: ``main()`` called in a Python process returns as any function does.
    """
    _keep_freed_memory()
    code = main()
    logging.shutdown()
    try:
        sys.stdout.flush()
    except BrokenPipeError:  # the reader left (t4 ls | head): as in main()
        code = code or 1
    with contextlib.suppress(OSError):
        sys.stderr.flush()
    os._exit(code)


def _keep_freed_memory() -> None:
    """glibc hands a freed buffer over 128 KiB back to the system and maps fresh zeroed
    pages for the next one: a large transfer's 1 MiB chunks and 8 MiB parts then cost a
    page fault every 4 KiB, 13% of the CPU of fetching W2 (4 x 64 MiB). A command's process
    ends soon after its transfer, so it keeps freed memory for reuse instead (the ``t4``
    command only: ``main()`` in a Python process leaves malloc alone). Nothing elsewhere
    than glibc."""
    import ctypes  # 2.5 ms

    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc (macOS, musl): their own allocators
        return
    mallopt(_M_MMAP_THRESHOLD, 32 * 1024 * 1024)
    mallopt(_M_TRIM_THRESHOLD, 256 * 1024 * 1024)


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's malloc.h


def _one_line(err: BaseException) -> str:
    """The error's own message (worded for the command line where it was built, see
    ``t4.surface``); OSErrors that carry no words get their type's name."""
    text = " ".join(str(err).split())
    return text or type(err).__name__


def _configure_logging(*, debug: bool, quiet: bool) -> None:
    # Only t4's own loggers go to DEBUG: botocore's debug output would show request headers.
    logger = logging.getLogger("t4")
    if not any(getattr(h, "t4_cli", False) for h in logger.handlers):  # main() may run twice
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("t4: %(levelname)s: %(message)s"))
        handler.t4_cli = True  # type: ignore[attr-defined]  # marks the handler as ours
        logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if debug else logging.ERROR if quiet else logging.WARNING)
