"""Running Python scripts (the examples, the demo) in child processes, as a user runs them.

The child gets this process's environment without ``FLEXT_*`` and colour variables, so
that it configures itself from its own code, whatever the test run has set.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
SCRIPT_TIMEOUT_S = 120


def clean_environment() -> dict[str, str]:
    """Return this process's environment without ``FLEXT_*``, ``NO_COLOR`` and ``FORCE_COLOR``."""
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("FLEXT_") and name not in ("NO_COLOR", "FORCE_COLOR")
    }


def run_python(
    *arguments: str,
    cwd: Path = ROOT,
    env: Mapping[str, str] | None = None,
    timeout: float = SCRIPT_TIMEOUT_S,
) -> subprocess.CompletedProcess[str]:
    """Run ``python *arguments`` in *cwd* with a clean environment plus *env*; never raises
    for the exit status, which the caller checks."""
    return subprocess.run(
        [sys.executable, *arguments],
        cwd=cwd,
        env={**clean_environment(), **(env or {})},
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )
