"""Running the installed ``t4`` command as a user would: in a subprocess, with the test's
environment (conftest's monkeypatching), output captured as text."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

from servers import TEST_SECRET

__all__ = ["T4", "assert_one_line_error", "ctrl_c_as_on_a_terminal", "on_a_terminal", "t4"]

T4 = str(Path(sys.executable).parent / "t4")


def ctrl_c_as_on_a_terminal() -> None:
    """``preexec_fn`` for a child that a test interrupts: SIGINT as a shell leaves it. A child
    inherits an ignored signal, and something earlier in a whole test session (seen in CI:
    SIGHUP, SIGINT and SIGQUIT ignored in every child) leaves the pytest process ignoring
    SIGINT; Python then installs no KeyboardInterrupt handler and the child never stops."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def t4(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the installed command; the environment is the test's (conftest's monkeypatching)."""
    result = subprocess.run(
        [T4, *args], cwd=cwd, env=env or os.environ.copy(), capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert TEST_SECRET not in result.stdout + result.stderr, "a credential was printed"
    return result


def assert_one_line_error(result: subprocess.CompletedProcess[str], *words: str) -> None:
    """Exit code 1, nothing on stdout, one ``t4: error:`` line holding every one of ``words``."""
    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("t4: error: "), result.stderr
    for word in words:
        assert word in lines[0]


def on_a_terminal(*args: str) -> str:
    """Run the command with its stderr on a pseudo-terminal (so progress bars show, as
    ``TQDM_DISABLE`` is unset here); return what it wrote there. It must succeed."""
    env = os.environ.copy()
    env.pop("TQDM_DISABLE", None)
    parent, child = pty.openpty()
    # A terminal of zero columns (a fresh pty's size) gets no bar: give it a real size.
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    proc = subprocess.Popen([T4, *args], env=env, stdout=subprocess.DEVNULL, stderr=child)
    os.close(child)
    chunks = []
    while True:
        try:
            chunk = os.read(parent, 4096)
        except OSError:  # the pty closes when the process exits
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(parent)
    assert proc.wait(timeout=120) == 0
    return b"".join(chunks).decode(errors="replace")
