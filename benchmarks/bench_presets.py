"""Measure what a schema preset adds to ``logger.info``, side by side in one process.

The same call as ``make bench``'s first case (8 context fields from scopes, 2 call
fields, JSON to a null sink) runs under each schema in turn: one pipeline per schema is
built once and made the one in force for its round, so every schema sees the same
machine noise. Each round times ``--iterations`` calls per schema; the report gives the
median microseconds per call and the ratio to ``flat``. The last line of each schema is
read back with ``presets.to_flat`` and checked, so no preset wins by writing less.

    python benchmarks/bench_presets.py                       # make bench-presets
    python benchmarks/bench_presets.py --iterations 50 --repeats 1   # smoke run
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import operator
import statistics
import sys
import time
import timeit
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson

import flext_logging
from flext_logging import FlextContext, _pipeline, get_logger, presets
from flext_logging.context.state import current_fields

CONTEXT = {
    "parent_correlation_id": "c9f0f895fb98ab9159f51fd0297e236d",
    "request_id": "req-7f3a",
    "user_id": "u-42",
    "operation_name": "signup",
}
SERVICE = {"service_name": "user-service", "service_version": "1.4.0", "environment": "production"}
CALL_FIELDS = {"plan": "pro", "seats": 3}


class Sink:
    """A null destination that keeps the last line written."""

    def __init__(self) -> None:
        self.last: Any = None

    def write(self, data: Any) -> int:
        self.last = data
        return len(data)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


def _check(schema: str, line: bytes | str) -> None:
    record = presets.to_flat(json.loads(line))
    expected = {**CONTEXT, **SERVICE, **CALL_FIELDS, "message": "user created"}
    missing = {key: value for key, value in expected.items() if record.get(key) != value}
    if missing or "correlation_id" not in record:
        raise SystemExit(f"{schema}: the line lacks {missing or 'correlation_id'}: {line!r}")


@contextlib.contextmanager
def _scopes() -> Iterator[None]:
    """The context of every timed call: a parent correlation, a correlation, a request."""
    with (
        FlextContext.Serialization.context_from(
            {"correlation_id": CONTEXT["parent_correlation_id"]}
        ),
        FlextContext.Correlation.new_correlation(),
        FlextContext.Request.request_context(
            user_id=CONTEXT["user_id"],
            request_id=CONTEXT["request_id"],
            operation_name=CONTEXT["operation_name"],
        ),
    ):
        yield


def run(iterations: int, repeats: int) -> dict[str, dict[str, float]]:
    """Time logger.info under every schema, round-robin; return µs per call by schema."""
    sinks = {schema: Sink() for schema in presets.SCHEMAS}
    flext_logging.configure(format="json", stream=sinks["flat"], capture_stdlib=False, **SERVICE)  # type: ignore[arg-type]
    pipelines = {
        schema: _pipeline.build_pipeline(format="json", stream=sink, schema=schema)  # type: ignore[arg-type]
        for schema, sink in sinks.items()
    }
    logger = get_logger("bench")
    samples: dict[str, list[float]] = {schema: [] for schema in presets.SCHEMAS}
    with _scopes():
        info = logger.info
        for round_number in range(repeats + 1):  # round 0 warms up
            for schema, pipeline in pipelines.items():
                _pipeline.install(pipeline)
                started = time.perf_counter()
                for _ in range(iterations):
                    info("user created", **CALL_FIELDS)
                elapsed = time.perf_counter() - started
                if round_number:
                    samples[schema].append(elapsed / iterations * 1e6)
    _pipeline.install(None)
    for schema, sink in sinks.items():
        _check(schema, sink.last)
    flat = statistics.median(samples["flat"])
    return {
        schema: {
            "median_us": statistics.median(values),
            "min_us": min(values),
            "max_us": max(values),
            "ratio_to_flat": statistics.median(values) / flat,
        }
        for schema, values in samples.items()
    }


def parts(iterations: int, repeats: int) -> dict[str, float]:
    """Time the ways of remapping one record that docs/aggregators.md ("Cost") compares.

    The record is the one ``run()`` logs, as the renderer receives it. Each step is
    timed alone (best of *repeats*), in µs: what encoding the flat record costs, and
    what any remap done after the record is built costs at least.
    """
    captured: list[dict[str, Any]] = []

    def capture(_logger: Any, _method: str, record: dict[str, Any]) -> dict[str, Any]:
        captured.append(dict(record))
        return record

    pipeline = _pipeline.build_pipeline(
        format="json",
        stream=Sink(),  # type: ignore[arg-type]  # write() and flush() are all it needs
        extra_processors=[capture],
    )
    _pipeline.install(pipeline)
    with _scopes():
        context = dict(current_fields())
        get_logger("bench").info("user created", **CALL_FIELDS)
    _pipeline.install(None)
    record = captured[-1]
    ecs = presets.preset(presets.ECS)
    names = {key: f"renamed.{key}" for key in record}
    order = tuple(record)
    new_names = tuple(names[key] for key in order)
    getter = operator.itemgetter(*order)
    plans = {order: (new_names, getter)}
    prefix_length = 4 + len(context)
    prefix = order[:prefix_length]

    def zipped() -> dict[str, Any]:
        planned, get = plans[tuple(record)]
        return dict(zip(planned, get(record), strict=True))

    steps: dict[str, Callable[[], object]] = {
        "orjson_dumps_flat": lambda: orjson.dumps(record, option=orjson.OPT_UTC_Z),
        "rename_comprehension": lambda: {names[key]: value for key, value in record.items()},
        "rename_zip_itemgetter": zipped,
        "context_check": lambda: (
            tuple(itertools.islice(record, prefix_length)) == prefix
            and context.items() <= record.items()
        ),
        "ecs_encode": lambda: ecs.encode(record),
    }
    return {
        name: min(timeit.repeat(step, number=iterations, repeat=repeats)) / iterations * 1e6
        for name, step in steps.items()
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the table, write the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument(
        "--output", type=Path, default=Path(__file__).with_name("preset_results.json")
    )
    args = parser.parse_args(argv)
    results = run(args.iterations, args.repeats)
    print(f"{'schema':<10} {'median µs':>10} {'min':>8} {'max':>8} {'vs flat':>8}")
    for schema, row in results.items():
        print(
            f"{schema:<10} {row['median_us']:>10.3f} {row['min_us']:>8.3f} {row['max_us']:>8.3f}"
            f" {row['ratio_to_flat']:>8.3f}"
        )
    steps = parts(args.iterations * 5, args.repeats)
    print(f"\n{'one record, one step':<24} {'µs':>8}")
    for name, value in steps.items():
        print(f"{name:<24} {value:>8.3f}")
    report = {
        "python": sys.version.split()[0],
        "iterations": args.iterations,
        "repeats": args.repeats,
        "schemas": results,
        "steps_us": steps,
    }
    args.output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
