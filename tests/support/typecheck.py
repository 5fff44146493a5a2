"""Run mypy on a snippet in a subprocess (mypy's in-process API raises the interpreter's
recursion limit for the rest of the test session, which changes what later tests see)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"


def run_mypy(snippet: Path, cache: Path, *extra: str) -> tuple[str, int]:
    """mypy --strict on ``snippet`` with the repo's ``src`` importable: (stdout, exit status)."""
    env = {**os.environ, "MYPYPATH": str(SRC)}
    proc = subprocess.run(
        [
            sys.executable, "-m", "mypy", "--strict", "--no-incremental",
            "--follow-imports=silent", "--cache-dir", str(cache), "--config-file", "",
            "--python-version", "3.11", *extra, str(snippet),
        ],
        capture_output=True, text=True, env=env, check=False, timeout=300,
    )  # fmt: skip
    return proc.stdout + proc.stderr, proc.returncode
