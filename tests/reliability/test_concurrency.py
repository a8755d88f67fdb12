"""Concurrent writers: every record whole, on its own line, with exactly its own context."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest

from flext_logging import FlextContext, configure, get_logger, keys, shutdown

THREADS = 64
PER_THREAD = 1_000
TASKS = 10_000

log = get_logger("tests.concurrency")


def _read_records(path: Path) -> list[dict[str, Any]]:
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]  # raises on a malformed line


@pytest.mark.parametrize("async_output", [False, True], ids=["sync", "async"])
def test_threads_in_their_own_contexts_lose_and_mix_nothing(
    tmp_path: Path, async_output: bool
) -> None:
    """64 threads x 1,000 records: every line parses, none is lost, each has its own ids."""
    path = tmp_path / "threads.log"
    correlations: dict[int, str] = {}
    with path.open("a", encoding="utf-8") as stream:
        configure(format="json", stream=stream, async_output=async_output)

        def work(index: int) -> None:
            with (
                FlextContext.Correlation.new_correlation() as correlation_id,
                FlextContext.Request.request_context(
                    request_id=f"req-{index}", user_id=f"user-{index}"
                ),
            ):
                correlations[index] = correlation_id
                for n in range(PER_THREAD):
                    log.info("work", thread=index, n=n)

        threads = [threading.Thread(target=work, args=(index,)) for index in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        shutdown()
    records = _read_records(path)
    assert len(records) == THREADS * PER_THREAD
    seen = set()
    for record in records:
        index = record["thread"]
        assert record[keys.REQUEST_ID] == f"req-{index}"
        assert record[keys.USER_ID] == f"user-{index}"
        assert record[keys.CORRELATION_ID] == correlations[index]
        seen.add((index, record["n"]))
    assert len(seen) == THREADS * PER_THREAD


def test_asyncio_tasks_in_their_own_contexts_lose_and_mix_nothing(tmp_path: Path) -> None:
    """10,000 tasks interleaving at awaits: each record carries its own task's ids."""
    path = tmp_path / "tasks.log"
    correlations: dict[int, str] = {}

    async def work(index: int) -> None:
        with (
            FlextContext.Correlation.new_correlation() as correlation_id,
            FlextContext.Request.request_context(request_id=f"task-{index}"),
        ):
            correlations[index] = correlation_id
            await asyncio.sleep(0)
            log.info("started", task=index)
            await asyncio.sleep(0)
            log.info("finished", task=index)

    async def main() -> None:
        await asyncio.gather(*(work(index) for index in range(TASKS)))

    with path.open("a", encoding="utf-8") as stream:
        configure(format="json", stream=stream, async_output=True)
        asyncio.run(main())
        shutdown()
    records = _read_records(path)
    assert len(records) == 2 * TASKS
    for record in records:
        index = record["task"]
        assert record[keys.REQUEST_ID] == f"task-{index}"
        assert record[keys.CORRELATION_ID] == correlations[index]
    assert {(r["task"], r[keys.MESSAGE]) for r in records} == {
        (index, message) for index in range(TASKS) for message in ("started", "finished")
    }


_APPENDER = textwrap.dedent(
    """
    import sys
    from flext_logging import configure, get_logger

    path, worker, count, async_output = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    stream = open(path, "a", encoding="utf-8")
    configure(format="json", stream=stream, async_output=async_output == "1")
    log = get_logger("appender")
    for n in range(count):
        # Sizes from a few bytes to past the 8 KiB io buffer and the 4 KiB pipe atomicity limit.
        log.info("appended", worker=worker, n=n, payload="x" * ((n * 997) % 20_000))
    """
)


@pytest.mark.parametrize("async_output", ["0", "1"], ids=["sync", "async"])
def test_processes_appending_to_one_file_never_interleave(
    tmp_path: Path, async_output: str
) -> None:
    """Four processes appending to one file in append mode: every line whole, none lost."""
    path = tmp_path / "shared.log"
    script = tmp_path / "appender.py"
    script.write_text(_APPENDER)
    workers, count = 4, 500
    processes = [
        subprocess.Popen(
            [sys.executable, str(script), str(path), str(worker), str(count), async_output]
        )
        for worker in range(workers)
    ]
    assert [process.wait(timeout=60) for process in processes] == [0] * workers
    records = _read_records(path)
    assert len(records) == workers * count
    assert {(r["worker"], r["n"]) for r in records} == {
        (worker, n) for worker in range(workers) for n in range(count)
    }
    assert all(len(r["payload"]) == (r["n"] * 997) % 20_000 for r in records)
