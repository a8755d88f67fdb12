"""Measure what a schema preset adds to ``logger.info``, side by side in one process.

The same call as ``make bench``'s first case (8 context fields from scopes, 2 call
fields, JSON to a null sink) runs under each schema. One pipeline per schema is built
once; the measure is paired: in each short round, ``flat`` and one preset run back to
back (which goes first alternates), timed on this thread's CPU clock
(``time.thread_time``), and the round's ratio is preset / flat. The report gives the
median of those ratios per preset, and the median µs per call of each schema. Noise from
other work on the machine hits both halves of a round alike, so the median ratio is
stable where single timings are not. The last line of each schema is read back with
``presets.to_flat`` and checked, so no preset wins by writing less.

The record path's own steps are measured the same way (``steps``): building the record
and rendering it flat, against a lone preset output's line made from the record's parts
(what the pipeline does after a scope's first record), and against building the record
and rendering it in the preset (beside other outputs).

    python benchmarks/bench_presets.py                       # make bench-presets
    python benchmarks/bench_presets.py --iterations 50 --rounds 2   # smoke run
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import flext_logging
from flext_logging import FlextContext, _pipeline, get_logger, keys, presets, processors, renderers
from flext_logging.context.state import record_parts

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


def _cpu_per_call(step: Callable[[], object], iterations: int) -> float:
    """µs of this thread's CPU per call of *step*."""
    started = time.thread_time()
    for _ in range(iterations):
        step()
    return (time.thread_time() - started) / iterations * 1e6


def paired(
    baseline: Callable[[], object],
    others: dict[str, Callable[[], object]],
    iterations: int,
    rounds: int,
) -> tuple[dict[str, float], dict[str, list[float]]]:
    """Median per-round ratio of each of *others* to *baseline*; µs samples of each."""
    ratios: dict[str, list[float]] = {name: [] for name in others}
    samples: dict[str, list[float]] = {"baseline": [], **{name: [] for name in others}}
    for round_number in range(rounds + 1):  # round 0 warms up
        for name, step in others.items():
            if round_number % 2:
                base = _cpu_per_call(baseline, iterations)
                other = _cpu_per_call(step, iterations)
            else:
                other = _cpu_per_call(step, iterations)
                base = _cpu_per_call(baseline, iterations)
            if round_number and base > 0:
                ratios[name].append(other / base)
                samples[name].append(other)
                samples["baseline"].append(base)
    return {name: statistics.median(values) for name, values in ratios.items()}, samples


def run(iterations: int, rounds: int) -> dict[str, dict[str, float]]:
    """Time logger.info under every schema, paired with flat; return µs and ratios."""
    sinks = {schema: Sink() for schema in presets.SCHEMAS}
    flext_logging.configure(format="json", stream=sinks["flat"], capture_stdlib=False, **SERVICE)  # type: ignore[arg-type]
    pipelines = {
        schema: _pipeline.build_pipeline(format="json", stream=sink, schema=schema)  # type: ignore[arg-type]
        for schema, sink in sinks.items()
    }
    info = get_logger("bench").info

    def calls(schema: str) -> Callable[[], object]:
        pipeline = pipelines[schema]

        def step() -> None:
            _pipeline.install(pipeline)
            for _ in range(10):
                info("user created", **CALL_FIELDS)

        return step

    with _scopes():
        ratios, samples = paired(
            calls(presets.FLAT),
            {schema: calls(schema) for schema in presets.PRESETS},
            max(iterations // 10, 1),
            rounds,
        )
    _pipeline.install(None)
    for schema, sink in sinks.items():
        _check(schema, sink.last)
    results = {
        presets.FLAT: {
            "median_us": statistics.median(samples["baseline"]) / 10,
            "ratio_to_flat": 1.0,
        }
    }
    for schema in presets.PRESETS:
        results[schema] = {
            "median_us": statistics.median(samples[schema]) / 10,
            "ratio_to_flat": ratios[schema],
        }
    return results


def steps(iterations: int, rounds: int) -> dict[str, dict[str, float]]:
    """The record path's part that differs per schema, paired with the flat one.

    ``flat``: build the record (a copy of the scope's template with the head and the
    call's fields, as the pipeline builds it) and render it as JSON. ``<preset>``: a lone
    preset output's line made from the record's parts (the scope's template, the head and
    the call's fields), as the pipeline makes it after a scope's first record; and
    ``<preset> beside`` other outputs: the record built, then rendered in the preset.
    Median per-round ratios to ``flat``.
    """
    flext_logging.configure(format="json", stream=Sink(), capture_stdlib=False, **SERVICE)  # type: ignore[arg-type]
    timestamp = datetime.datetime.now(datetime.timezone.utc)
    head = {
        keys.TIMESTAMP: timestamp,
        keys.LEVEL: "info",
        keys.LOGGER: "bench",
        keys.MESSAGE: "user created",
        keys.PROCESS_ID: processors.process_id,
    }
    parts = (timestamp, "info", "bench", "user created", processors.process_id)
    flat = renderers.JSONRenderer()
    with _scopes():
        template = record_parts()[0]

        def build() -> dict[str, Any]:  # as the pipeline builds a record
            record = template.copy()
            record.update(head)
            record.update(CALL_FIELDS)
            return record

        def from_parts(renderer: renderers.SchemaRenderer) -> Callable[[], object]:
            renderer(None, "info", build())  # the long way once: its encoder is compiled
            return lambda: renderer.line_of_parts(template, *parts, CALL_FIELDS)

        def rendering(renderer: renderers.SchemaRenderer) -> Callable[[], object]:
            return lambda: renderer(None, "info", build())

        others = {
            **{name: from_parts(renderers.SchemaRenderer(name)) for name in presets.PRESETS},
            **{
                f"{name} beside": rendering(renderers.SchemaRenderer(name))
                for name in presets.PRESETS
            },
        }
        ratios, samples = paired(lambda: flat(None, "info", build()), others, iterations, rounds)
    result = {"flat": {"median_us": statistics.median(samples["baseline"]), "ratio_to_flat": 1.0}}
    for name, ratio in ratios.items():
        result[name] = {"median_us": statistics.median(samples[name]), "ratio_to_flat": ratio}
    return result


def _print(title: str, rows: dict[str, dict[str, float]]) -> None:
    print(f"{title:<16} {'median µs':>10} {'vs flat':>8}")
    for name, row in rows.items():
        print(f"{name:<16} {row['median_us']:>10.3f} {row['ratio_to_flat']:>8.3f}")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the tables, write the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=2000, help="calls per half-round")
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument(
        "--output", type=Path, default=Path(__file__).with_name("preset_results.json")
    )
    args = parser.parse_args(argv)
    results = run(args.iterations, args.rounds)
    _print("logger.info", results)
    record_steps = steps(args.iterations, args.rounds)
    print()
    _print("record path", record_steps)
    report = {
        "date": datetime.date.today().isoformat(),
        "python": sys.version.split()[0],
        "method": "paired rounds, thread CPU time, median of per-round ratios",
        "iterations": args.iterations,
        "rounds": args.rounds,
        "schemas": results,
        "record_path": record_steps,
    }
    args.output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
