"""The ``t4`` command keeps freed memory for reuse (``t4.cli._keep_freed_memory``): in its
process, a large buffer comes from malloc's heap, to be used again once freed, not from
fresh pages mapped for it alone (a page fault every 4 KiB of a large transfer's chunks);
``main()`` called in a Python process leaves malloc as it was. Read from glibc's own
counters (``mallinfo2``: bytes in mapped blocks) in a real ``t4`` run, at its exit."""

from __future__ import annotations

import subprocess
import sys

import pytest

if not sys.platform.startswith("linux"):
    pytest.skip("glibc's malloc only", allow_module_level=True)

_PROBE = """
import ctypes, os, sys
import t4.cli

libc = ctypes.CDLL("libc.so.6")
fields = "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost"
class Info(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in fields.split()]
libc.mallinfo2.restype = Info
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]

def mapped_for(size):  # bytes of blocks mapped on their own while a buffer of size lives
    before = libc.mallinfo2().hblkhd
    block = libc.malloc(size)
    grew = libc.mallinfo2().hblkhd - before
    libc.free(block)
    return grew

sys.argv = ["t4", "ls", "--bucket", sys.argv[2]]
if {how!r} == "command":
    real_exit = os._exit
    def exit_(code):
        print(mapped_for(16 << 20), flush=True)
        real_exit(code)
    os._exit = exit_
    t4.cli.console()
else:
    t4.cli.main(sys.argv[1:])
    print(mapped_for(16 << 20), flush=True)
"""


def _mapped(how: str, folder: str) -> int:
    out = subprocess.run([sys.executable, "-c", _PROBE.format(how=how), "-", folder],
                         capture_output=True, text=True, check=True)  # fmt: skip
    return int(out.stdout.split()[-1])


def test_the_command_takes_large_buffers_from_the_heap(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "a.txt").write_text("a")
    assert _mapped("command", str(tmp_path)) == 0
    assert _mapped("main", str(tmp_path)) >= 16 << 20  # malloc as glibc sets it
