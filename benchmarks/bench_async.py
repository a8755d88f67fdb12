"""Measure ``async_output``: what it costs the caller, and the memory it can hold.

Two cases, each measured side by side in one run, reported as ratios:

- **caller side** (goal: <= 0.6x the synchronous write). The rendered JSON line of the
  ``info`` record (8 context fields, 2 call fields) is handed to a ``StreamOutput`` on a
  real file (the synchronous write) and to a ``BackgroundOutput`` in front of one on the
  same kind of file; a third configuration only renders. Every call renders its own line,
  so lines arrive at the pace of the record path, not faster than any application could
  make them. Configurations take turns for ``--rounds`` rounds; in each round the write's
  cost is the configuration's time minus the render-only time, and the ratio is
  async/sync of those costs; the report gives the median ratio of the rounds. The
  background writer drains between timings, so only the caller's side is timed. For
  reference it also gives the ratio of the whole ``logger.info`` call, async/sync, which
  includes the record path (enrichers and renderer), the same in both.
- **memory** (goal: the RSS growth stays within the documented budget,
  ``queue_bytes`` + 8 MiB). A child process logs to a destination that accepts no write
  (``overflow="drop"``, default queue) lines of about 300 bytes and of 10 KB, and reports
  its RSS growth (``/proc/self/statm``): unbounded in bytes, 10,000 lines of 10 KB would
  hold 100 MB. Another logs from 8 threads to a file and reports the growth of its peak
  RSS (``ru_maxrss``) over the logging.

    python benchmarks/bench_async.py               # make bench-async
    python benchmarks/bench_async.py --records 200 --rounds 1   # smoke run

``async_cases()`` returns the report as a dict, for ``benchmarks/bench.py`` to merge;
``print_async_report()`` prints it.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import flext_logging
from flext_logging import FlextContext, _config, get_logger
from flext_logging.outputs import BackgroundOutput, Output, StreamOutput
from flext_logging.outputs.background import DEFAULT_QUEUE_BYTES
from flext_logging.renderers import JSONRenderer

CALLER_SIDE_GOAL = 0.6
"""The caller's cost of an async write, at most this times the synchronous write's."""
BUDGET_SLACK_BYTES = 8 * 1024 * 1024
"""RSS beyond ``queue_bytes`` the docs allow: copies of the part being written, and what the
C allocator keeps of them for reuse (more with many threads, each with its own arena)."""

_RECORD = {
    "timestamp": "2026-11-23T10:00:00.000000Z",
    "level": "info",
    "logger": "bench.async",
    "message": "user created",
    "correlation_id": "8f14e45fceea167a5a36dedd4bea2543",
    "parent_correlation_id": "c9f0f895fb98ab9159f51fd0297e236d",
    "request_id": "req-7f3a",
    "service_name": "user-service",
    "service_version": "1.4.0",
    "environment": "production",
    "user_id": "u-42",
    "operation_name": "signup",
    "plan": "pro",
}


def _text_file(path: Path) -> IO[str]:
    return path.open("a", encoding="utf-8")  # what configure(stream=open(path, "a")) gets


def _timed_writes(records: int, output: Output | None) -> float:
    """Seconds to render *records* lines and hand each to *output* (None: render only)."""
    render = JSONRenderer()
    template = _RECORD
    started = time.perf_counter()
    if output is None:
        for seats in range(records):
            render(None, "info", {**template, "seats": seats})
    else:
        write = output.write
        for seats in range(records):
            write(render(None, "info", {**template, "seats": seats}))
    return time.perf_counter() - started


def caller_side(records: int, rounds: int, folder: Path) -> dict[str, Any]:
    """The caller's cost of a write, async vs sync, to a file; see the module docstring."""
    path = folder / "caller_side.log"
    samples: dict[str, list[float]] = {"render only": [], "sync write": [], "async_output": []}
    ratios: list[float] = []
    for round_number in range(rounds):
        path.write_bytes(b"")  # the file stays small: every round appends to a fresh one
        times: dict[str, float] = {}
        order = list(samples)
        order = order[round_number % 3 :] + order[: round_number % 3]  # who goes first rotates
        with _text_file(path) as stream:
            for name in order:
                output: Output | None = None
                if name == "sync write":
                    output = StreamOutput(stream)
                elif name == "async_output":
                    output = BackgroundOutput(StreamOutput(stream))
                    output.write(b"{}\n")  # the writer thread is running before the clock
                    output.flush()
                times[name] = _timed_writes(records, output) / records * 1e6
                if output is not None:
                    output.close()  # drained before the next configuration's clock starts
        for name, microseconds in times.items():
            samples[name].append(microseconds)
        sync_cost = times["sync write"] - times["render only"]
        async_cost = times["async_output"] - times["render only"]
        if sync_cost > 0:
            ratios.append(max(async_cost, 0.0) / sync_cost)
    lines = sum(1 for _ in path.open(encoding="utf-8"))
    expected = 2 * records + 1  # sync, async and the async warm-up line of the last round
    if lines != expected:
        raise RuntimeError(f"caller-side case wrote {lines} lines, expected {expected}")
    return {
        "median_us": {name: statistics.median(values) for name, values in samples.items()},
        "ratio": statistics.median(ratios) if ratios else None,
        "goal": CALLER_SIDE_GOAL,
    }


def whole_call(records: int, rounds: int, folder: Path) -> dict[str, Any]:
    """``logger.info`` to a file, async vs sync, paired rounds (reference: no goal)."""
    log = get_logger("bench.async")
    samples: dict[str, list[float]] = {"sync": [], "async_output": []}
    for round_number in range(rounds):
        for name in ("sync", "async_output") if round_number % 2 else ("async_output", "sync"):
            path = folder / f"whole_{name}.log"
            path.write_bytes(b"")
            with _text_file(path) as stream:
                _config.reset()
                flext_logging.configure(
                    format="json",
                    stream=stream,
                    service_name="user-service",
                    async_output=name == "async_output",
                )
                with FlextContext.Request.request_context(request_id="req-7f3a", user_id="u-42"):
                    log.info("warm-up")  # starts the writer thread before the clock
                    started = time.perf_counter()
                    for seats in range(records):
                        log.info("user created", plan="pro", seats=seats)
                    elapsed = time.perf_counter() - started
                _config.reset()  # the writer drains here, outside the clock
            samples[name].append(elapsed / records * 1e6)
            if sum(1 for _ in path.open(encoding="utf-8")) != records + 1:
                raise RuntimeError(f"whole-call case lost lines ({name})")
    ratios = [a / s for a, s in zip(samples["async_output"], samples["sync"], strict=True) if s > 0]
    return {
        "median_us": {name: statistics.median(values) for name, values in samples.items()},
        "ratio": statistics.median(ratios) if ratios else None,
    }


# -- Memory: a child process, so the growth is this case's alone. ----------------------

_MEMORY_STUCK = """
import os, sys, threading
from flext_logging import configure, get_logger, shutdown

def rss():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

class Stuck:
    def __init__(self):
        self.gate, self.entered = threading.Event(), threading.Event()
    def write(self, data):
        self.entered.set()
        self.gate.wait(120)
        return len(data)
    def flush(self):
        pass

sink = Stuck()
configure(format="json", stream=sink, async_output=True, overflow="drop")
log = get_logger("bench.memory")
log.info("first")
sink.entered.wait(60)
payload = "w" * int(sys.argv[1])
before = rss()
for n in range(int(sys.argv[2])):
    log.info("held", n=n, payload=payload)
print(rss() - before)
sink.gate.set()
shutdown()
"""

_MEMORY_FLOWING = """
import os, resource, sys, tempfile, threading
from flext_logging import FlextContext, configure, get_logger, shutdown

def rss():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

log = get_logger("bench.memory")
payload, records = "w" * int(sys.argv[1]), int(sys.argv[2])

def work(name):
    with FlextContext.Request.request_context(request_id=name):
        for n in range(records):
            log.info("flowing", n=n, payload=payload)

with tempfile.TemporaryDirectory() as folder:
    with open(os.path.join(folder, "flowing.log"), "a", encoding="utf-8") as stream:
        configure(format="json", stream=stream, async_output=True)
        work("warm-up")
        before = rss()
        threads = [threading.Thread(target=work, args=(f"t{i}",)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
        shutdown()
print(peak - before)
"""


def memory(records: int) -> dict[str, Any]:
    """RSS growth: a destination accepting no write, per line size; 8 threads to a file."""
    if not Path("/proc/self/statm").exists():
        return {"skipped": "needs /proc/self/statm"}
    budget = DEFAULT_QUEUE_BYTES + BUDGET_SLACK_BYTES
    rows: dict[str, Any] = {}
    for label, script, payload, count in (
        ("stuck destination, ~300 B lines", _MEMORY_STUCK, 100, records),
        ("stuck destination, ~10 KB lines", _MEMORY_STUCK, 10_000, records),
        ("8 threads to a file, ~300 B lines", _MEMORY_FLOWING, 100, max(records // 8, 1)),
    ):
        done = subprocess.run(  # noqa: S603 - this interpreter, this module's own script
            [sys.executable, "-c", script, str(payload), str(count)],
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        )
        growth = max(int(done.stdout.split()[0]), 0)
        rows[label] = {"rss_growth_bytes": growth, "budget_bytes": budget, "met": growth <= budget}
    return rows


def async_cases(
    *, records: int = 20_000, rounds: int = 15, memory_records: int = 20_000
) -> dict[str, Any]:
    """Run every case; the dict ``benchmarks/bench.py`` can store under ``async_output``."""
    with tempfile.TemporaryDirectory() as directory:
        folder = Path(directory)
        return {
            "caller_side": caller_side(records, rounds, folder),
            "whole_call": whole_call(records, rounds, folder),
            "memory": memory(memory_records),
        }


def print_async_report(report: dict[str, Any], out: Callable[[str], None] = print) -> None:
    """Print the async cases as plain tables, with each goal and whether it was met."""
    caller = report["caller_side"]
    out("\nasync_output: caller side, JSON line to a file (median us per call)")
    for name, value in caller["median_us"].items():
        out(f"  {name:40s} {value:8.2f}")
    ratio = caller["ratio"]
    if ratio is not None:
        verdict = "met" if ratio <= caller["goal"] else "MISSED"
        out(
            f"  async write / sync write (caller's cost) {ratio:8.2f} "
            f"(<= {caller['goal']:.2f}) {verdict}"
        )
    whole = report["whole_call"]
    out("\nasync_output: whole logger.info call to a file (median us per call)")
    for name, value in whole["median_us"].items():
        out(f"  {name:40s} {value:8.2f}")
    if whole["ratio"] is not None:
        out(f"  async / sync (reference, no goal)        {whole['ratio']:8.2f}")
    out("\nasync_output: RSS growth, default queue (4 MiB)")
    for label, row in report["memory"].items():
        if label == "skipped":
            out(f"  skipped: {row}")
            continue
        verdict = "met" if row["met"] else "MISSED"
        out(
            f"  {label:40s} {row['rss_growth_bytes'] / 2**20:8.1f} MiB "
            f"(<= {row['budget_bytes'] / 2**20:.1f} MiB) {verdict}"
        )


def main(argv: list[str] | None = None) -> int:
    """Run the cases, print them and store them in ``benchmarks/async_results.json``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--memory-records", type=int, default=20_000)
    parser.add_argument("--output", default=str(Path(__file__).with_name("async_results.json")))
    args = parser.parse_args(argv)
    report: dict[str, Any] = {
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "records": args.records,
        "rounds": args.rounds,
        **async_cases(records=args.records, rounds=args.rounds, memory_records=args.memory_records),
    }
    print(
        f"Python {report['python']} on {report['machine']}, {report['cpus']} CPUs; "
        f"{args.records} calls x {args.rounds} rounds, round-robin"
    )
    print_async_report(report)
    Path(args.output).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
