"""The benchmark script keeps working: a tiny run completes and checks every output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "bench.py"
CASES = {
    "info",
    "ten_kb",
    "fifty_fields",
    "disabled",
    "stale_context",
    "async_output",
    "foreign",
    "presets",
    "exception",
    "scopes",
}


def test_tiny_benchmark_run_reports_every_case_goal_and_valid_output(tmp_path: Path) -> None:
    """A run of 3 paired rounds exits 0, covers every case and goal, and found valid JSON."""
    output = tmp_path / "results.json"
    completed = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            "--rounds",
            "3",
            "--calls",
            "10",
            "--burst",
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
    assert set(report["cases"]) == CASES
    checked = [row for rows in report["cases"].values() for row in rows.values()]
    assert all(row["error"] is None for row in checked)
    assert len(report["ratios"]) == 14  # 10 goals of issue 15, one per preset of issue 16
    assert all("goal_text" in row for row in report["ratios"])
    # A ratio of differences (the async write: each side minus the record path) may be 0
    # in a run this short; a ratio of two times never is.
    assert all(row["ratio"] >= 0 if row["base"] else row["ratio"] > 0 for row in report["ratios"])
    assert [row["base"] for row in report["ratios"] if row["base"]] == [
        "flext-logging, record path only"
    ]
    assert report["async_memory"]["written"] == 200
    assert "ratios (median of per-round ratios ours/peer" in completed.stdout
