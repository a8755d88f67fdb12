"""The async_output benchmark keeps working: a tiny run completes and reports every case."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_async.py"


def test_tiny_async_benchmark_run_reports_caller_side_and_memory(tmp_path: Path) -> None:
    """A run with a few records exits 0 and stores the caller-side ratio and the RSS rows."""
    output = tmp_path / "async_results.json"
    completed = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            "--records",
            "200",
            "--rounds",
            "2",
            "--memory-records",
            "200",
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
    assert set(report["caller_side"]["median_us"]) == {"render only", "sync write", "async_output"}
    assert report["caller_side"]["goal"] == 0.6
    assert set(report["whole_call"]["median_us"]) == {"sync", "async_output"}
    assert "async write / sync write (caller's cost)" in completed.stdout
    if "skipped" not in report["memory"]:
        assert len(report["memory"]) == 3
