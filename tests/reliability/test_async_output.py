"""async_output: a bounded queue and one writer thread that never loses a queued record."""

from __future__ import annotations

import io
import json
import multiprocessing
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest

import flext_logging
from flext_logging import configure, get_logger, keys, shutdown

log = get_logger("tests.async")


def _writer_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "flext_logging-writer" and t.is_alive()]


def _records(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def test_shutdown_is_exported_and_flushes_everything_queued() -> None:
    """flext_logging.shutdown() writes every queued record and stops the writer thread."""
    assert "shutdown" in flext_logging.__all__
    stream = io.StringIO()
    configure(format="json", stream=stream, async_output=True, queue_size=16)
    for n in range(1000):
        log.info("queued", n=n)
    flext_logging.shutdown()
    assert [record["n"] for record in _records(stream.getvalue())] == list(range(1000))
    assert _writer_threads() == []


def test_logging_after_shutdown_is_written_synchronously() -> None:
    """A record made after shutdown() is written at once, not queued and lost."""
    stream = io.StringIO()
    configure(format="json", stream=stream, async_output=True)
    shutdown()
    log.info("late")
    assert _records(stream.getvalue())[0][keys.MESSAGE] == "late"


def test_reconfigure_stops_the_old_writer_after_writing_its_queue() -> None:
    """configure() again closes the previous writer: its records are written, its thread ends."""
    first = io.StringIO()
    configure(format="json", stream=first, async_output=True)
    for n in range(500):
        log.info("first", n=n)
    assert len(_writer_threads()) == 1
    second = io.StringIO()
    configure(format="json", stream=second)
    assert _writer_threads() == []
    log.info("second")
    assert len(_records(first.getvalue())) == 500
    assert _records(second.getvalue())[0][keys.MESSAGE] == "second"


class GatedSink(io.StringIO):
    """A sink whose first write waits until the test opens the gate."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.entered = threading.Event()

    def write(self, text: str) -> int:
        self.entered.set()
        self.gate.wait(timeout=30)
        return super().write(text)


def test_drop_policy_counts_drops_and_reports_them_in_a_record() -> None:
    """With overflow="drop" a full queue drops records; log_records_dropped accounts for all."""
    sink = GatedSink()
    configure(format="json", stream=sink, async_output=True, queue_size=10, overflow="drop")
    total = 600
    log.info("first")
    sink.entered.wait(timeout=30)  # the writer thread is now stuck in write()
    for n in range(total - 1):
        log.info("burst", n=n)
    sink.gate.set()
    shutdown()
    records = _records(sink.getvalue())
    reports = [r for r in records if r[keys.MESSAGE] == keys.EVENT_RECORDS_DROPPED]
    written = [r for r in records if r[keys.MESSAGE] != keys.EVENT_RECORDS_DROPPED]
    dropped = sum(report[keys.DROPPED_COUNT] for report in reports)
    assert dropped > 0
    assert len(written) + dropped == total
    assert all(report[keys.LEVEL] == "warning" for report in reports)


def test_block_policy_waits_and_loses_nothing() -> None:
    """With overflow="block" (the default) a full queue makes the caller wait; all are written."""
    sink = GatedSink()
    configure(format="json", stream=sink, async_output=True, queue_size=5)
    done = threading.Event()

    def burst() -> None:
        for n in range(200):
            log.info("burst", n=n)
        done.set()

    thread = threading.Thread(target=burst)
    thread.start()
    sink.entered.wait(timeout=30)
    assert not done.is_set()  # the burst cannot finish while the sink is stuck
    sink.gate.set()
    thread.join(timeout=30)
    shutdown()
    assert [r["n"] for r in _records(sink.getvalue())] == list(range(200))


@pytest.mark.parametrize(
    ("option", "value"), [("overflow", "discard"), ("queue_size", 0), ("queue_size", True)]
)
def test_configure_rejects_bad_async_options(option: str, value: object) -> None:
    """An unknown overflow policy or a non-positive queue size fails at start-up."""
    with pytest.raises(ValueError, match=option):
        configure(async_output=True, **{option: value})  # type: ignore[arg-type]


_EXITS = {
    "normal": "",
    "sys_exit": "sys.exit(3)",
    "unhandled": "raise RuntimeError('boom')",
}


@pytest.mark.parametrize("ending", sorted(_EXITS))
def test_queued_records_are_written_when_the_process_exits(tmp_path: Path, ending: str) -> None:
    """A process logging N records asynchronously writes all N, however it exits."""
    script = tmp_path / "child.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import sys
            from flext_logging import configure, get_logger

            configure(format="json", async_output=True, queue_size=50)
            log = get_logger("child")
            for n in range(3000):
                log.info("exiting", n=n, payload="y" * 200)
            {_EXITS[ending]}
            """
        )
    )
    done = subprocess.run(  # noqa: PLW1510 - the exit code is asserted per case
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == {"normal": 0, "sys_exit": 3, "unhandled": 1}[ending]
    assert [r["n"] for r in _records(done.stdout)] == list(range(3000))


def _child_logs(path: str) -> None:
    for n in range(300):
        log.info("from child", n=n, pid=os.getpid())


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_child_gets_a_working_async_logger(tmp_path: Path) -> None:
    """A child forked from a process with a running writer thread logs through its own."""
    path = tmp_path / "fork.log"
    with path.open("a", encoding="utf-8") as stream:
        configure(format="json", stream=stream, async_output=True)
        for n in range(300):
            log.info("from parent", n=n)
        child = multiprocessing.get_context("fork").Process(target=_child_logs, args=(str(path),))
        child.start()
        child.join(timeout=60)
        assert child.exitcode == 0
        shutdown()
    records = _records(path.read_text(encoding="utf-8"))
    by_message: dict[str, list[int]] = {}
    for record in records:
        by_message.setdefault(record[keys.MESSAGE], []).append(record["n"])
    assert sorted(by_message["from parent"]) == list(range(300))
    assert by_message["from child"] == list(range(300))
