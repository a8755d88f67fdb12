"""The aggregator benchmarks keep working: bench_presets.py and bench_clickhouse.py, tiny runs.

Each writes its JSON report; the ClickHouse one also checks that the tree read from the
table is the tree read from the file (it exits non-zero otherwise).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from flext_logging import presets

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def _run(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *arguments],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=BENCHMARKS,
    )


def test_bench_presets_reports_every_schema_against_flat(tmp_path: Path) -> None:
    """One row per schema, with the paired ratio to flat (flat's is 1), and the dated
    record path steps of each preset."""
    report = tmp_path / "presets.json"
    completed = _run(
        "bench_presets.py", "--iterations", "50", "--rounds", "2", "--output", str(report)
    )
    assert completed.returncode == 0, completed.stderr
    results = json.loads(report.read_text())
    schemas = results["schemas"]
    assert set(schemas) == set(presets.SCHEMAS)
    assert schemas["flat"]["ratio_to_flat"] == 1.0
    assert all(row["median_us"] > 0 and row["ratio_to_flat"] > 0 for row in schemas.values())
    steps = results["record_path"]
    assert set(steps) == {"flat", *presets.PRESETS, *(f"{name} beside" for name in presets.PRESETS)}
    assert results["date"]
    assert "paired" in results["method"]


def test_bench_clickhouse_loads_and_traces_a_small_log(tmp_path: Path) -> None:
    """A fresh server, ~20 000 records in, the planted tree found in both places."""
    if shutil.which("clickhouse-server", path="/usr/sbin:/usr/bin") is None:
        pytest.skip("clickhouse-server is not installed (apt-get install clickhouse-server)")
    report = tmp_path / "clickhouse.json"
    completed = _run(
        *("bench_clickhouse.py", "--records", "20000", "--repeats", "1"),
        *("--workdir", str(tmp_path), "--output", str(report)),
    )
    assert completed.returncode == 0, completed.stderr
    results = json.loads(report.read_text())
    assert results["ingest"]["records"] == results["file_lines"]
    assert results["trace_rows"] == results["grep_lines"] > 0
    assert results["trace_cli_clickhouse_s"] > 0
