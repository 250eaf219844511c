"""Real quilt3 8.0.0, in a virtualenv of its own (it pins exact versions and brings awscrt,
so the project's environment stays as it is), run in a subprocess against moto's server.

quilt3 never tries the network: usage metrics off (environment and config file), HOME and
XDG folders in a temporary folder, ``AWS_ENDPOINT_URL`` at the moto server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from servers import TEST_KEY_ID, TEST_SECRET

__all__ = ["QUILT3_VERSION", "Quilt3", "quilt3_python"]

QUILT3_VERSION = "8.0.0"


def quilt3_python() -> Path:
    """The quilt3 virtualenv's python, made once and kept inside the project's ``.venv``."""
    venv = Path(sys.prefix) / f"quilt3-{QUILT3_VERSION}"
    python = venv / "bin" / "python"
    done = venv / ".installed"
    if not done.exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", f"quilt3=={QUILT3_VERSION}"],
            check=True,
            timeout=900,
        )
        done.touch()
    return python


class Quilt3:
    """Runs snippets of quilt3 code; each returns the JSON its ``result`` variable holds."""

    def __init__(self, python: Path, home: Path, endpoint: str):
        self.python = python
        self.home = home
        share = home / ".local" / "share"
        (share / "Quilt").mkdir(parents=True, exist_ok=True)
        (share / "Quilt" / "config.yml").write_text("telemetry_disabled: true\n")
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "XDG_DATA_HOME": str(share),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_CACHE_HOME": str(home / ".cache"),
            "QUILT_DISABLE_USAGE_METRICS": "true",
            "QUILT_MINIMIZE_STDOUT": "true",
            "QUILT_DISABLE_CACHE": "true",
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": TEST_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": TEST_SECRET,
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def run(self, code: str, **args: Any) -> Any:
        """Run ``code`` with ``quilt3``, ``io``, ``json`` and ``args`` in scope."""
        script = "import io, json, sys\nimport quilt3\nargs = json.loads(sys.argv[1])\n"
        script += textwrap.dedent(code)
        script += "\nprint('\\n@@RESULT@@' + json.dumps(result))\n"
        done = subprocess.run(
            [str(self.python), "-c", script, json.dumps(args)],
            env=self.env,
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:
            raise AssertionError(f"quilt3 failed:\n{done.stdout}\n{done.stderr}")
        return json.loads(done.stdout.rpartition("@@RESULT@@")[2])
