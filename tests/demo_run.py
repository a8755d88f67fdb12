"""Running the multi-service demo once and reading back the JSON files it leaves.

Shared by the end-to-end demo tests and the recipe tests: both look at the logs of
``examples/demo_system.py`` exactly as ``make demo`` writes them.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
from pathlib import Path
from typing import Any

from scripts import EXAMPLES, run_python

from flext_logging import keys

DEMO = EXAMPLES / "demo_system.py"
SERVICES = ("gateway", "users", "worker")
DEMO_TIMEOUT_S = 180


@dataclasses.dataclass
class DemoRun:
    """What the demo printed, where it ran, and the records of each service's log file."""

    completed: subprocess.CompletedProcess[str]
    directory: Path
    """The working directory of the run; the logs are in its ``demo-logs/``."""
    logs: dict[str, list[dict[str, Any]]]

    @property
    def everything(self) -> list[dict[str, Any]]:
        """Every record of the three files."""
        return [record for records in self.logs.values() for record in records]

    def failed_job(self) -> dict[str, Any]:
        """The one error record of the run: the worker's declined card."""
        errors = [r for r in self.everything if r[keys.LEVEL] == "error"]
        assert len(errors) == 1, errors
        return errors[0]


def run_demo(directory: Path) -> DemoRun:
    """Run the demo in *directory* as ``make demo`` does and parse the files it wrote."""
    completed = run_python(
        str(DEMO),
        "--logs-dir",
        str(directory / "demo-logs"),
        cwd=directory,
        env={"NO_COLOR": "1"},
        timeout=DEMO_TIMEOUT_S,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    logs = {}
    for service in SERVICES:
        path = directory / "demo-logs" / f"{service}.log"
        assert path.exists(), f"{service} wrote no log"
        lines = path.read_text(encoding="utf-8").splitlines()
        logs[service] = [json.loads(line) for line in lines]
    return DemoRun(completed, directory, logs)
