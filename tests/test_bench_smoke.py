"""The benchmark script keeps working: a tiny run completes and checks every output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "bench.py"


def test_tiny_benchmark_run_reports_every_case_with_valid_output(tmp_path: Path) -> None:
    """A run with a few iterations exits 0, covers every case and target, and found valid JSON."""
    output = tmp_path / "results.json"
    completed = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            "--iterations",
            "20",
            "--repeats",
            "1",
            "--file-records",
            "50",
            "--output",
            str(output),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    report = json.loads(output.read_text())
    assert set(report["cases"]) == {"info", "foreign", "disabled_debug", "exception", "scopes"}
    checked = [row for rows in report["cases"].values() for row in rows.values()]
    assert all(row["error"] in (None, "loguru not installed") for row in checked)
    assert len(report["targets"]) == 9
    assert report["file_throughput_records_per_s"]["flext-logging (file)"] > 0
    assert "targets (ratio = ours / peer" in completed.stdout
