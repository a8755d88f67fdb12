"""async_output: a bounded queue and one writer thread that never loses a queued record."""

from __future__ import annotations

import io
import json
import multiprocessing
import os
import re
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest

import flext_logging
from flext_logging import configure, get_logger, keys, shutdown
from flext_logging.outputs import BackgroundOutput, Output, StreamOutput, failure_counts

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
    ("option", "value"),
    [
        ("overflow", "discard"),
        ("queue_size", 0),
        ("queue_size", True),
        ("queue_bytes", 0),
        ("queue_bytes", 1.5),
    ],
)
def test_configure_rejects_bad_async_options(option: str, value: object) -> None:
    """An unknown overflow policy or a non-positive queue size or byte budget fails at start-up."""
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


# -- The byte budget. -------------------------------------------------------------------

_BIG = "z" * 1000  # a record line of about 1.1 KB


def test_queue_bytes_bounds_the_lines_held_for_a_stuck_destination() -> None:
    """With queue_bytes=64 KiB the queue holds about 64 KiB of lines, however many fit in lines."""
    sink = GatedSink()
    configure(
        format="json",
        stream=sink,
        async_output=True,
        queue_size=10_000,
        queue_bytes=64 * 1024,
        overflow="drop",
    )
    log.info("first")
    sink.entered.wait(timeout=30)  # the writer is stuck in write()
    total = 500
    for n in range(total):
        log.info("burst", n=n, payload=_BIG)
    sink.gate.set()
    shutdown()
    records = _records(sink.getvalue())
    burst = [r for r in records if r[keys.MESSAGE] == "burst"]
    dropped = sum(r[keys.DROPPED_COUNT] for r in records if keys.DROPPED_COUNT in r)
    assert 0 < len(burst) <= 64 * 1024 // len(_BIG)
    assert len(burst) + dropped == total


def test_queue_bytes_makes_a_blocking_caller_wait_before_queue_size_is_reached() -> None:
    """overflow="block" waits when the bytes are used up, though the line count has room."""
    sink = GatedSink()
    configure(format="json", stream=sink, async_output=True, queue_bytes=16 * 1024)
    done = threading.Event()

    def burst() -> None:
        for n in range(100):  # 100 lines of 1.1 KB: well under queue_size, over 16 KiB
            log.info("burst", n=n, payload=_BIG)
        done.set()

    thread = threading.Thread(target=burst)
    thread.start()
    sink.entered.wait(timeout=30)
    assert not done.wait(timeout=0.5)  # stuck behind the byte budget, not the line count
    sink.gate.set()
    thread.join(timeout=30)
    shutdown()
    assert [r["n"] for r in _records(sink.getvalue())] == list(range(100))


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="reads /proc/self/statm")
def test_memory_held_for_a_stuck_destination_stays_within_the_byte_budget(tmp_path: Path) -> None:
    """2,000 lines of 60 KB for a stuck destination grow the process by the default budget only."""
    script = tmp_path / "budget.py"
    script.write_text(
        textwrap.dedent(
            """
            import os, threading
            from flext_logging import configure, get_logger, shutdown

            def rss() -> int:
                with open("/proc/self/statm") as statm:
                    return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

            class Stuck:
                def __init__(self):
                    self.gate, self.entered = threading.Event(), threading.Event()
                def write(self, data):
                    self.entered.set()
                    self.gate.wait(60)
                    return len(data)
                def flush(self):
                    pass

            sink = Stuck()
            configure(format="json", stream=sink, async_output=True, overflow="drop")
            log = get_logger("budget")
            log.info("first")
            sink.entered.wait(30)
            payload = "m" * 60_000
            before = rss()
            for n in range(2000):
                log.info("big", n=n, payload=payload)
            print(rss() - before)
            sink.gate.set()
            shutdown()
            """
        )
    )
    done = subprocess.run(  # noqa: PLW1510 - the exit code is asserted
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    growth = int(done.stdout.split()[0])
    # The default budget (4 MiB) of lines, with room for bookkeeping and allocator slack.
    assert growth < 16 * 1024 * 1024


# -- Shutdown and exit are bounded in time. ----------------------------------------------

_STUCK_SCRIPT = """
import re, sys, threading
from flext_logging import configure, get_logger, shutdown

class Stuck:
    \"\"\"A destination whose first write never returns.\"\"\"
    def __init__(self):
        self.gate = threading.Event()
    def write(self, data):
        self.gate.wait()
        return len(data)
    def flush(self):
        pass

configure(format="json", stream=Stuck(), async_output=True, queue_size={queue_size},
          overflow={overflow!r})
log = get_logger("stuck")
for n in range({records}):
    log.info("queued", n=n)
{ending}
print("returned", flush=True)
"""


@pytest.mark.parametrize("ending", ["shutdown", "exit"])
@pytest.mark.parametrize(
    ("overflow", "queue_size", "records"), [("block", 1000, 500), ("drop", 10, 600)]
)
def test_shutdown_gives_up_on_a_destination_that_accepts_no_write(
    tmp_path: Path, ending: str, overflow: str, queue_size: int, records: int
) -> None:
    """shutdown() and the exit both return; stderr says how many records were not written."""
    script = tmp_path / "stuck.py"
    script.write_text(
        _STUCK_SCRIPT.format(
            queue_size=queue_size,
            overflow=overflow,
            records=records,
            # A record made after the give-up is counted, not written: it must not hang.
            ending="shutdown(timeout=0.5)\nlog.info('late')" if ending == "shutdown" else "",
        )
    )
    done = subprocess.run(  # noqa: PLW1510 - the exit code is asserted
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "returned\n"
    report = next(line for line in done.stderr.splitlines() if "accepted no write" in line)
    unwritten = int(re.search(r"(\d+) queued records were not written", report)[1])  # type: ignore[index]
    dropped = re.search(r"(\d+) records dropped", report)
    assert unwritten + (int(dropped[1]) if dropped else 0) == records
    assert (dropped is not None) == (overflow == "drop")


# -- The exit summary counts what the exit flush made fail too. --------------------------


def test_exit_summary_counts_the_failures_of_the_last_flush(tmp_path: Path) -> None:
    """5,000 records queued for a destination that fails at exit: the summary says 5,000."""
    script = tmp_path / "fails_at_exit.py"
    script.write_text(
        textwrap.dedent(
            """
            import atexit, errno, threading
            from flext_logging import configure, get_logger

            class FailsLater:
                def __init__(self):
                    self.gate = threading.Event()
                def write(self, data):
                    self.gate.wait(30)
                    raise OSError(errno.ENOSPC, "No space left on device")
                def flush(self):
                    pass

            sink = FailsLater()
            configure(format="json", stream=sink, async_output=True)
            # Registered after flext_logging's exit hook, so it runs first: every record
            # is still queued when the exit begins.
            atexit.register(sink.gate.set)
            log = get_logger("full")
            for n in range(5000):
                log.info("lost?", n=n)
            """
        )
    )
    done = subprocess.run(  # noqa: PLW1510 - the exit code is asserted
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0
    reports = [line for line in done.stderr.splitlines() if line.startswith("flext_logging:")]
    assert reports[-1] == "flext_logging: records that failed while this process ran: sink: 5000"
    assert len([line for line in done.stderr.splitlines() if line.startswith("{")]) == 5000


# -- multiprocessing: leaving `with Pool()` terminates the workers. ----------------------

_POOL_SCRIPT = """
import multiprocessing
from flext_logging import configure, get_logger

log = get_logger("pool")


def setup():
    configure(format="json", async_output=True)


def task(n):
    log.info("from worker", n=n)
    return n


if __name__ == "__main__":
    setup()
    context = multiprocessing.get_context({method!r})
    with context.Pool(2, initializer=setup) as pool:
        pool.map(task, range({records}))
"""


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_records_of_pool_workers_survive_leaving_the_pool_block(
    tmp_path: Path, method: str
) -> None:
    """`with Pool() as p: p.map(...)` terminates the workers: none of their records is lost."""
    if method not in multiprocessing.get_all_start_methods():
        pytest.skip(f"no {method} start method here")
    records = 20_000
    script = tmp_path / "pool.py"
    script.write_text(_POOL_SCRIPT.format(method=method, records=records))
    for _ in range(3):  # a loss showed in most runs before the fix; three make it certain enough
        done = subprocess.run(  # noqa: PLW1510 - the exit code is asserted
            [sys.executable, str(script)], capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        numbers = sorted(record["n"] for record in _records(done.stdout))
        assert numbers == list(range(records))


_POOL_THREADS_SCRIPT = """
import multiprocessing, signal, sys, threading
from flext_logging import configure, get_logger

log = get_logger("pool")


def child(own_handler):
    if own_handler:
        signal.signal(signal.SIGTERM, lambda *_: None)
    configure(format="json", async_output=True)
    log.info("from worker", n=1)
    names = sorted(thread.name for thread in threading.enumerate())
    # stderr: a print() to the stdout the writer thread writes to may be split by it.
    print("threads", own_handler, names, file=sys.stderr, flush=True)


if __name__ == "__main__":
    for own_handler in (False, True):
        process = multiprocessing.get_context("fork").Process(target=child, args=(own_handler,))
        process.start()
        process.join(60)
"""


def test_a_pool_worker_that_sigterm_ends_writes_each_record_at_once(tmp_path: Path) -> None:
    """A multiprocessing child whose SIGTERM is the default runs no writer thread (nothing
    can be queued when Pool.__exit__ terminates it); one that handles SIGTERM keeps it."""
    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("no fork start method here")
    script = tmp_path / "pool_threads.py"
    script.write_text(_POOL_THREADS_SCRIPT)
    done = subprocess.run(  # noqa: PLW1510 - the exit code is asserted
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("threads")]
    assert lines == [
        "threads False ['MainThread']",
        "threads True ['MainThread', 'flext_logging-writer']",
    ]
    records = "".join(line + "\n" for line in done.stdout.splitlines() if line.startswith("{"))
    assert [r["n"] for r in _records(records)] == [1, 1]


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux's /proc")
def test_the_writer_thread_leaves_process_signals_to_the_main_thread() -> None:
    """SIGTERM and SIGINT sent to the process never land on the writer thread, where
    Python could not handle them until the main thread ran Python again."""
    output = BackgroundOutput(StreamOutput(io.BytesIO()))
    output.write(b"first\n")
    output.flush()
    writer = next(t for t in threading.enumerate() if t.ident == output._writer_id)
    status = Path(f"/proc/self/task/{writer.native_id}/status").read_text()
    blocked = int(re.search(r"^SigBlk:\s*([0-9a-f]+)$", status, re.M)[1], 16)  # type: ignore[index]
    output.close()
    for number in (15, 2, 1):  # SIGTERM, SIGINT, SIGHUP
        assert blocked & (1 << (number - 1)), number


_PIPE_SCRIPT = """
import multiprocessing
from flext_logging import configure, get_logger

log = get_logger("pipe")


def child(number):
    for n in range({records}):
        log.info("from child", child=number, n=n, payload="p" * 500)


if __name__ == "__main__":
    configure(format="json", async_output=True)
    context = multiprocessing.get_context("fork")
    children = [context.Process(target=child, args=(number,)) for number in range(4)]
    for process in children:
        process.start()
    for process in children:
        process.join()
"""


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork")
def test_processes_sharing_one_pipe_never_tear_each_others_lines(tmp_path: Path) -> None:
    """Four processes' background writers on one pipe: every line whole, every record there.

    A pipe keeps only writes of up to PIPE_BUF bytes whole beside other writers' writes,
    so the writer joins lines into writes no longer than that for a pipe.
    """
    records = 3000
    script = tmp_path / "pipe.py"
    script.write_text(_PIPE_SCRIPT.format(records=records))
    done = subprocess.run(  # noqa: PLW1510 - the exit code is asserted
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    seen = sorted((record["child"], record["n"]) for record in _records(done.stdout))
    assert seen == [(number, n) for number in range(4) for n in range(records)]


# -- In this process: giving up, odd outputs, odd lines. ---------------------------------


def test_a_destination_given_up_on_is_counted_not_waited_for(
    capfd: pytest.CaptureFixture[str],
) -> None:
    """After shutdown gives up, queued and later records are counted as unwritten, not hung on."""
    sink = GatedSink()
    configure(format="json", stream=sink, async_output=True, queue_size=100)
    log.info("queued", n=0)
    sink.entered.wait(timeout=30)  # the write of the first record is stuck
    for n in range(1, 20):
        log.info("queued", n=n)
    shutdown(timeout=0.2)
    log.info("late")  # written synchronously it would wait for the stuck write: counted instead
    assert failure_counts()["unwritten"] == 21
    assert "20 queued records were not written" in capfd.readouterr().err
    sink.gate.set()  # the stuck write returns; the writer discards the rest and ends
    for thread in _writer_threads():
        thread.join(timeout=30)
    assert _writer_threads() == []
    assert [r["n"] for r in _records(sink.getvalue())] == [0]


@pytest.mark.parametrize("format_", ["logfmt", "console"])
def test_text_lines_reach_the_stream_as_the_synchronous_output_writes_them(
    format_: str,
) -> None:
    """Renderers that make str lines go through async_output unchanged, non-ASCII included."""
    lines = {}
    for async_output in (False, True):
        stream = io.StringIO()
        configure(format=format_, stream=stream, async_output=async_output, console_width=200)
        for n in range(50):
            log.info("naïve café ☕", n=n)
        shutdown()
        lines[async_output] = [line.split(" ", 1)[1] for line in stream.getvalue().splitlines()]
    assert len(lines[True]) == 50
    assert lines[True] == lines[False]  # the same text, timestamps aside


class FailsOnce(Output):
    """An output whose first write raises, as a buggy custom output might."""

    def __init__(self) -> None:
        self.written: list[bytes | str] = []
        self.failed = False

    def write(self, line: bytes | str) -> None:
        if not self.failed:
            self.failed = True
            raise RuntimeError("output bug")
        self.written.append(line)


def test_an_output_that_raises_does_not_stop_the_writer(
    capfd: pytest.CaptureFixture[str],
) -> None:
    """The failed write's lines are counted and go to stderr; the writer keeps writing."""
    target = FailsOnce()
    output = BackgroundOutput(target)
    output.write(b'{"n": 0}\n')
    output.flush()
    output.write(b'{"n": 1}\n')
    output.close()
    assert failure_counts()["sink"] == 1
    assert '{"n": 0}' in capfd.readouterr().err
    assert b"".join(target.written) == b'{"n": 1}\n'  # type: ignore[arg-type]


def test_flush_ends_while_a_caller_is_stopped_inside_write() -> None:
    """flush() never waits for the callers' lock.

    A signal handler or another thread may flush while a caller is stopped inside
    write() with that lock held: the writer must still get the lines out.
    """
    stream = io.BytesIO()
    output = BackgroundOutput(StreamOutput(stream))
    output.write(b"first\n")
    output.flush()  # the writer thread is running
    output.write(b"second\n")
    with output._lock:  # what the interrupted caller holds
        output.flush()
        assert stream.getvalue() == b"first\nsecond\n"
    output.close()


def test_lines_longer_than_pipe_buf_reach_a_pipe_whole() -> None:
    """Short lines are joined into writes of at most PIPE_BUF; a longer one goes alone, whole."""
    read_end, write_end = os.pipe()
    received = bytearray()

    def drain() -> None:
        while chunk := os.read(read_end, 65536):
            received.extend(chunk)

    reader = threading.Thread(target=drain)
    reader.start()
    with os.fdopen(write_end, "wb") as pipe:
        configure(format="json", stream=pipe, async_output=True)
        for n in range(300):
            log.info("mixed", n=n, payload="L" * (9000 if n % 50 == 0 else 50))
        shutdown()
    reader.join(timeout=30)
    os.close(read_end)
    records = _records(received.decode())
    assert [r["n"] for r in records] == list(range(300))
    assert {len(r["payload"]) for r in records} == {50, 9000}
