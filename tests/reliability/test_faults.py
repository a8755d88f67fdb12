"""Faults in processors and destinations never reach the application and are reported once."""

from __future__ import annotations

import errno
import io
import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from flext_logging import configure, get_logger, keys, shutdown
from flext_logging.outputs import failure_counts

log = get_logger("tests.faults")
RECORDS = 50


class RaisingSink:
    """A sink whose write always raises an unexpected error."""

    def write(self, data: Any) -> int:
        raise RuntimeError("sink exploded")

    def flush(self) -> None:
        pass


class DiskFull(io.StringIO):
    """A file object whose write fails like a full disk."""

    def write(self, text: str) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")


class FillsUp(io.StringIO):
    """A stream that accepts a few writes, then behaves like a full disk."""

    def __init__(self, room: int) -> None:
        super().__init__()
        self.room = room

    def write(self, text: str) -> int:
        if self.room <= 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= 1
        return super().write(text)


def _failing_processor(logger: Any, method_name: str, event_dict: dict[str, Any]) -> Any:
    raise ValueError("processor bug")


def _log_many() -> int:
    for n in range(RECORDS):
        log.info("still running", n=n)
        logging.getLogger("tests.faults.std").warning("stdlib %d", n)
    return RECORDS


def _reports(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("flext_logging:")]


def _json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@pytest.mark.parametrize("async_output", [False, True])
@pytest.mark.parametrize("sink", [RaisingSink, DiskFull], ids=["raising-sink", "disk-full"])
def test_failing_sink_is_reported_once_and_records_reach_stderr(
    sink: type[Any], async_output: bool, capfd: pytest.CaptureFixture[str]
) -> None:
    """The application keeps running, one report names the failure, no record is lost."""
    configure(format="json", stream=sink(), async_output=async_output)
    assert _log_many() == RECORDS
    shutdown()
    err = capfd.readouterr().err
    reports = _reports(err)
    assert len(reports) == 1
    assert "could not write to the log destination" in reports[0]
    assert len(_json_lines(err)) == 2 * RECORDS
    assert failure_counts()["sink"] >= 2 * RECORDS


def test_stream_closed_underneath_the_logger(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """Closing the log file under a running logger loses nothing and raises nothing."""
    stream = (tmp_path / "app.log").open("a", encoding="utf-8")
    configure(format="json", stream=stream)
    log.info("before close")
    stream.close()
    assert _log_many() == RECORDS
    err = capfd.readouterr().err
    assert len(_reports(err)) == 1
    assert "ValueError" in _reports(err)[0]
    assert len(_json_lines(err)) == 2 * RECORDS
    assert _json_lines((tmp_path / "app.log").read_text())[0][keys.MESSAGE] == "before close"


def test_disk_filling_up_mid_run_keeps_earlier_lines_whole(
    capfd: pytest.CaptureFixture[str],
) -> None:
    """Lines written before the disk filled are intact; later ones go to stderr."""
    stream = FillsUp(room=10)
    configure(format="json", stream=stream)
    _log_many()
    written = _json_lines(stream.getvalue())
    err = capfd.readouterr().err
    assert len(written) == 10
    assert len(written) + len(_json_lines(err)) == 2 * RECORDS
    assert len(_reports(err)) == 1


def test_failing_processor_writes_minimal_records_and_reports_once(
    capfd: pytest.CaptureFixture[str],
) -> None:
    """Every record still comes out, with logging_error, and stderr says so once."""
    stream = io.StringIO()
    configure(format="json", stream=stream, processors=[_failing_processor])
    assert _log_many() == RECORDS
    records = _json_lines(stream.getvalue())
    assert len(records) == 2 * RECORDS
    assert all(
        record[keys.LOGGING_ERROR] == "ValueError: ValueError('processor bug')"
        for record in records
    )
    assert records[0][keys.MESSAGE] == "still running"
    reports = _reports(capfd.readouterr().err)
    assert len(reports) == 1
    assert "processor bug" in reports[0]
    assert failure_counts()["processor"] == 2 * RECORDS


def test_unencodable_values_still_produce_a_record(json_stream: Any) -> None:
    """A value whose repr raises, a cycle and a huge int are written as safe text."""

    class Hostile:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    cycle: list[Any] = []
    cycle.append(cycle)
    stream, records = json_stream
    configure(format="json", stream=stream)
    log.info("odd values", hostile=Hostile(), cycle=cycle, huge=10**40)
    (record,) = records()
    assert record["huge"] == str(10**40)
    assert record["hostile"].startswith("<unrepresentable ")


def test_process_with_a_broken_sink_reports_once_then_a_total_at_exit(tmp_path: Path) -> None:
    """A whole process with a failing destination writes one report and one exit summary."""
    script = tmp_path / "broken.py"
    script.write_text(
        "import errno\n"
        "from flext_logging import configure, get_logger\n"
        "class Full:\n"
        "    def write(self, data):\n"
        "        raise OSError(errno.ENOSPC, 'No space left on device')\n"
        "    def flush(self):\n"
        "        pass\n"
        "configure(format='json', stream=Full())\n"
        "for n in range(25):\n"
        "    get_logger('broken').info('lost?', n=n)\n"
        "print('application finished')\n"
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout == "application finished\n"
    reports = _reports(done.stderr)
    assert len(reports) == 2
    assert "No space left on device" in reports[0]
    assert reports[1] == "flext_logging: records that failed while this process ran: sink: 25"
    assert [record["n"] for record in _json_lines(done.stderr)] == list(range(25))
