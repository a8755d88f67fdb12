"""The CLI benchmark keeps working: a tiny log is generated, then timed with every command."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from flext_logging import keys

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def _run(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *arguments], capture_output=True, text=True, timeout=300, check=False
    )


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A 2 MB log written by generate_logs.py, and the correlation id it planted.

    (Its second line of output is the fan-out root, read by the report test.)
    """
    log = tmp_path_factory.mktemp("bench") / "app.log"
    completed = _run(str(BENCHMARKS / "generate_logs.py"), "--output", str(log), "--size-mb", "2")
    assert completed.returncode == 0, completed.stderr
    return log, completed.stdout.split()[0]


def test_generated_log_has_the_requested_size_and_our_schema(generated: tuple[Path, str]) -> None:
    """Every line is a record with the schema's head in order, from three services."""
    log, _ = generated
    size = log.stat().st_size
    assert 2 * 1024 * 1024 <= size < 3 * 1024 * 1024
    records = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert all(list(r)[:4] == list(keys.HEAD_KEYS) for r in records)
    for record in records:
        context = [key for key in record if key in keys.CONTEXT_KEYS]
        assert context == [key for key in keys.CONTEXT_KEYS if key in record]
    assert {r[keys.SERVICE_NAME] for r in records} == {"gateway", "users", "worker"}
    assert len({r[keys.CORRELATION_ID] for r in records}) > 300


def test_planted_request_spans_services_and_has_a_failing_child(
    generated: tuple[Path, str],
) -> None:
    """The printed id is the gateway's and user service's correlation and the worker's parent."""
    log, planted = generated
    assert len(planted) == 32
    records = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    own = [r for r in records if r.get(keys.CORRELATION_ID) == planted]
    children = [r for r in records if r.get(keys.PARENT_CORRELATION_ID) == planted]
    assert {r[keys.SERVICE_NAME] for r in own} == {"gateway", "users"}
    assert {r[keys.SERVICE_NAME] for r in children} == {"worker"}
    assert len({r[keys.CORRELATION_ID] for r in children}) == 1
    assert [r[keys.ERROR_CODE_FIELD] for r in children if keys.ERROR_CODE_FIELD in r] == [
        "FLEXT_OPERATION_ERROR"
    ]
    assert len({r[keys.TRACE_ID] for r in own + children}) == 1


def _fanout_id(log: Path) -> str:
    """The root of the 500-job batch: the parent of the `job received` records."""
    for line in log.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record[keys.MESSAGE] == "job received":
            return str(record[keys.PARENT_CORRELATION_ID])
    raise AssertionError("no fan-out in the generated log")


def test_tiny_cli_benchmark_reports_every_command(
    generated: tuple[Path, str], tmp_path: Path
) -> None:
    """A one-round run times grep and jq (and ours, or says why not) and writes the report."""
    log, planted = generated
    output = tmp_path / "cli_results.json"
    completed = _run(
        str(BENCHMARKS / "bench_cli.py"),
        "--log",
        str(log),
        "--id",
        planted,
        "--fanout-id",
        _fanout_id(log),
        "--repeats",
        "1",
        "--output",
        str(output),
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    report = json.loads(output.read_text(encoding="utf-8"))
    tools = report["tools"]
    assert set(tools) == {
        "flext-logging trace",
        "flext-logging trace (fan-out)",
        "grep -F",
        "rg -F",
        "jq select",
        "trace, no editable finder",
    }
    assert report["log"]["size_bytes"] == log.stat().st_size
    grep_lines = [line for line in log.read_text(encoding="utf-8").splitlines() if planted in line]
    assert tools["grep -F"]["output_lines"] == len(grep_lines)
    assert len(tools["grep -F"]["times_s"]) == 1
    if shutil.which("jq"):
        own = [line for line in grep_lines if json.loads(line)["correlation_id"] == planted]
        assert tools["jq select"]["output_lines"] == len(own)
    ours = tools["flext-logging trace"]
    if ours["skipped"] is None:
        assert ours["error"] is None
        assert tools["flext-logging trace (fan-out)"]["error"] is None
        bare = tools["trace, no editable finder"]
        assert bare["error"] is None
        assert bare["skipped"] is not None or bare["output_lines"] == ours["output_lines"]
        assert report["ours_over_grep"] > 0
        assert report["fanout_over_ours"] > 0
        assert "ours / grep -F =" in completed.stdout
    else:
        assert "not installed" in ours["skipped"]
        assert report["ours_over_grep"] is None
        assert "skipped" in completed.stdout


def test_same_seed_writes_the_same_file(generated: tuple[Path, str], tmp_path: Path) -> None:
    """Generating again with the default seed gives the same bytes and the same planted id."""
    log, planted = generated
    again = tmp_path / "again.log"
    completed = _run(str(BENCHMARKS / "generate_logs.py"), "--output", str(again), "--size-mb", "2")
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.split()[0] == planted
    assert again.read_bytes() == log.read_bytes()
