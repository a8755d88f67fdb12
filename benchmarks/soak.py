"""Soak test: log from threads and asyncio tasks for a while, then prove nothing was lost.

Each writer logs records carrying its own ids and a sequence number to a temporary file
for ``--seconds`` (60 by default), through the default JSON pipeline or, with
``--async-output``, the background writer. Afterwards every line is parsed and checked:
a malformed line, a record with another writer's ids, or a missing sequence number
counts as a failure. Reports records/s, peak RSS (``resource.getrusage``) and the
lost/malformed/mixed counts; exits 1 unless all are 0. ``make soak`` runs it.

    python benchmarks/soak.py                 # 60 s, 8 threads + 200 tasks
    python benchmarks/soak.py --seconds 5 --async-output
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

from flext_logging import FlextContext, configure, get_logger, shutdown

log = get_logger("soak")


def _peak_rss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024  # bytes vs KiB


def _thread_writer(name: str, deadline: float, counts: dict[str, int]) -> None:
    with FlextContext.Request.request_context(request_id=name, user_id=f"u-{name}"):
        n = 0
        while time.monotonic() < deadline:
            log.info("soak record", writer=name, n=n, payload={"items": [n, n + 1], "ok": True})
            n += 1
        counts[name] = n


async def _task_writer(name: str, deadline: float, counts: dict[str, int]) -> None:
    with FlextContext.Request.request_context(request_id=name, user_id=f"u-{name}"):
        n = 0
        while time.monotonic() < deadline:
            log.info("soak record", writer=name, n=n)
            n += 1
            if n % 10 == 0:
                await asyncio.sleep(0)
        counts[name] = n


async def _tasks(count: int, deadline: float, counts: dict[str, int]) -> None:
    await asyncio.gather(*(_task_writer(f"task-{i}", deadline, counts) for i in range(count)))


def _check(path: Path, counts: dict[str, int]) -> tuple[int, int, int, int]:
    """Return (lines, malformed, mixed, lost)."""
    seen: dict[str, set[int]] = {name: set() for name in counts}
    lines = malformed = mixed = 0
    with path.open(encoding="utf-8") as stream:
        for line in stream:
            lines += 1
            try:
                record = json.loads(line)
                writer, n = record["writer"], record["n"]
            except (ValueError, KeyError, TypeError):
                malformed += 1
                continue
            if record.get("request_id") != writer or record.get("user_id") != f"u-{writer}":
                mixed += 1
            seen.setdefault(writer, set()).add(n)
    lost = sum(counts[name] - len(seen[name] & set(range(counts[name]))) for name in counts)
    return lines, malformed, mixed, lost


def main(argv: list[str] | None = None) -> int:
    """Run the soak and print its report; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--async-output", action="store_true")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "soak.log"
        counts: dict[str, int] = {}
        started = time.monotonic()
        deadline = started + args.seconds
        with path.open("a", encoding="utf-8") as stream:
            configure(format="json", stream=stream, async_output=args.async_output)
            threads = [
                threading.Thread(target=_thread_writer, args=(f"thread-{i}", deadline, counts))
                for i in range(args.threads)
            ]
            for thread in threads:
                thread.start()
            asyncio.run(_tasks(args.tasks, deadline, counts))
            for thread in threads:
                thread.join()
            shutdown()
            elapsed = time.monotonic() - started
        peak_rss = _peak_rss_mib()  # before the check, which holds every sequence number
        lines, malformed, mixed, lost = _check(path, counts)
        size_mib = path.stat().st_size / (1024 * 1024)

    written = sum(counts.values())
    print(
        f"soak: {args.seconds:.0f} s, {args.threads} threads, {args.tasks} tasks, "
        f"async_output={args.async_output}"
    )
    print(f"  records logged   {written:>12,}")
    print(f"  lines in file    {lines:>12,}  ({size_mib:,.1f} MiB)")
    print(f"  records/s        {written / elapsed:>12,.0f}")
    print(f"  peak RSS         {peak_rss:>12,.1f} MiB")
    print(f"  lost             {lost:>12,}")
    print(f"  malformed        {malformed:>12,}")
    print(f"  mixed context    {mixed:>12,}")
    failed = lost or malformed or mixed or lines != written
    print("  result           " + ("FAILED" if failed else "ok"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
