"""Measure flext-logging against its peers, side by side in one process.

Every case runs each configuration round-robin (warm-up, then ``--repeats`` rounds of
``--iterations`` calls each), so machine noise hits all of them alike, and reports the
median, min and max microseconds per call and the ratio ours/peer. After timing, every
configuration's last output line is parsed and checked for the context and call fields,
so no configuration wins by doing less. Results go to a table on stdout and to
``benchmarks/results.json``.

    python benchmarks/bench.py                     # full run (make bench)
    python benchmarks/bench.py --iterations 50 --repeats 1   # smoke run
"""

from __future__ import annotations

import argparse
import contextvars
import datetime
import json
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

import orjson
import structlog
from pythonjsonlogger.json import JsonFormatter as PjlJsonFormatter

import flext_logging
from flext_logging import FlextContext, FlextExceptions, _config, get_logger

# Made at import time, before configure(), as users do (case 3 checks this path).
module_logger = get_logger("bench.module")

CONTEXT = {
    "correlation_id": "8f14e45fceea167a5a36dedd4bea2543",
    "parent_correlation_id": "c9f0f895fb98ab9159f51fd0297e236d",
    "request_id": "req-7f3a",
    "service_name": "user-service",
    "service_version": "1.4.0",
    "environment": "production",
    "user_id": "u-42",
    "operation_name": "signup",
}
CALL_FIELDS = {"plan": "pro", "seats": 3}
MESSAGE = "user created"


class Sink:
    """A null destination that keeps the last line written, for validation."""

    def __init__(self) -> None:
        self.last: Any = None
        self.count = 0

    def write(self, data: Any) -> int:
        if data and data not in ("\n", b"\n"):
            self.last = data
            self.count += 1
        return len(data)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


@dataclass
class Config:
    """One configuration of one case: a callable doing one logging call, and its check."""

    name: str
    call: Callable[[], Any]
    sink: Sink | None = None
    ours: bool = False
    expect_fields: tuple[str, ...] = ()
    samples: list[float] = field(default_factory=list)
    error: str | None = None


# -- Peers ----------------------------------------------------------------------------

_NO_PEER_CONTEXT: Final[Mapping[str, str]] = MappingProxyType({})
_peer_context: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar(
    "peer", default=_NO_PEER_CONTEXT
)


class _PeerContextFilter(logging.Filter):
    """What a stdlib user writes to put contextvars on records."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _peer_context.get().items():
            setattr(record, key, value)
        return True


def stdlib_pjl_logger(name: str, sink: Sink) -> logging.Logger:
    """stdlib logging + python-json-logger JsonFormatter + a context Filter."""
    logger = logging.getLogger(name)
    logger.handlers.clear()
    logger.propagate = False
    handler = logging.StreamHandler(sink)  # type: ignore[arg-type]
    handler.setFormatter(
        PjlJsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s", timestamp=True)
    )
    handler.addFilter(_PeerContextFilter())
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    return logger


def structlog_logger(*, use_orjson: bool, sink: Sink, exceptions: bool = False) -> Any:
    """structlog with merge_contextvars, level, ISO TimeStamper and a JSON renderer."""
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if exceptions:
        processors.append(
            structlog.processors.ExceptionRenderer(
                structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
            )
        )
    if use_orjson:
        processors.append(structlog.processors.JSONRenderer(serializer=orjson.dumps))
        factory: Any = structlog.BytesLoggerFactory(sink)  # type: ignore[arg-type]
    else:
        processors.append(structlog.processors.JSONRenderer())
        factory = structlog.PrintLoggerFactory(sink)  # type: ignore[arg-type]
    return structlog.wrap_logger(
        factory(),
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
    )


def structlog_floor(sink: Sink) -> Any:
    """8 fields already bound on the logger + orjson only, no timestamp: a floor."""
    return structlog.wrap_logger(
        structlog.BytesLoggerFactory(sink)(),  # type: ignore[arg-type]
        processors=[structlog.processors.JSONRenderer(serializer=orjson.dumps)],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
    ).bind(**CONTEXT)


def structlog_via_stdlib(sink: Sink) -> Any:
    """structlog routed through the stdlib ProcessorFormatter."""
    handler = logging.StreamHandler(sink)  # type: ignore[arg-type]
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.JSONRenderer(),
            ],
            foreign_pre_chain=[],
        )
    )
    stdlib_logger = logging.getLogger("bench.structlog_stdlib")
    stdlib_logger.handlers[:] = [handler]
    stdlib_logger.propagate = False
    stdlib_logger.setLevel(logging.INFO)
    return structlog.wrap_logger(
        stdlib_logger,
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        wrapper_class=structlog.stdlib.BoundLogger,
    )


def loguru_logger(sink: Sink) -> Any:
    """loguru with serialize=True; context via contextualize (bound per case)."""
    from loguru import logger

    logger.remove()
    logger.add(sink.write, serialize=True, level="INFO", format="{message}")
    return logger


# -- Our configuration -----------------------------------------------------------------


def configure_ours(sink: Sink) -> None:
    """Our pipeline with the defaults a production service gets, to the null sink."""
    _config.reset()
    flext_logging.configure(
        format="json",
        stream=sink,  # type: ignore[arg-type]
        service_name=CONTEXT["service_name"],
        service_version=CONTEXT["service_version"],
        environment=CONTEXT["environment"],
        capture_stdlib=True,
    )


@contextmanager
def our_context() -> Iterator[None]:
    """The 8 context fields, set through FlextContext scopes as an application would."""
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


@contextmanager
def peer_context() -> Iterator[None]:
    """The same 8 fields for the peers: structlog contextvars and the stdlib filter's var."""
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(**CONTEXT)
    token = _peer_context.set(dict(CONTEXT))
    try:
        yield
    finally:
        _peer_context.reset(token)
        structlog.contextvars.clear_contextvars()


# -- Cases ---------------------------------------------------------------------------

CONTEXT_FIELDS = tuple(CONTEXT)
LOGGED_FIELDS = (*CONTEXT_FIELDS, *CALL_FIELDS)


def case_info() -> list[Config]:
    """(1) logger.info with 8 context fields from scopes plus 2 call fields."""
    ours_sink = Sink()
    configure_ours(ours_sink)
    ours = get_logger("bench")
    configs = [Config("flext-logging", lambda: ours.info(MESSAGE, **CALL_FIELDS), ours_sink, True)]
    sink = Sink()
    std = stdlib_pjl_logger("bench.stdlib", sink)
    configs.append(
        Config("stdlib+python-json-logger", lambda: std.info(MESSAGE, extra=CALL_FIELDS), sink)
    )
    sink = Sink()
    sl = structlog_logger(use_orjson=False, sink=sink)
    configs.append(Config("structlog+json", lambda: sl.info(MESSAGE, **CALL_FIELDS), sink))
    sink = Sink()
    slo = structlog_logger(use_orjson=True, sink=sink)
    configs.append(Config("structlog+orjson", lambda: slo.info(MESSAGE, **CALL_FIELDS), sink))
    sink = Sink()
    sls = structlog_via_stdlib(sink)
    configs.append(Config("structlog via stdlib", lambda: sls.info(MESSAGE, **CALL_FIELDS), sink))
    sink = Sink()
    floor = structlog_floor(sink)
    configs.append(Config("floor: bound+orjson", lambda: floor.info(MESSAGE, **CALL_FIELDS), sink))
    try:
        sink = Sink()
        lg = loguru_logger(sink)
        contextual = lg.bind(**CONTEXT)
        configs.append(
            Config("loguru serialize", lambda: contextual.info(MESSAGE, **CALL_FIELDS), sink)
        )
    except ImportError:
        configs.append(Config("loguru serialize", lambda: None, error="loguru not installed"))
    for config in configs:
        config.expect_fields = LOGGED_FIELDS
    return configs


def case_foreign() -> list[Config]:
    """(2) a foreign logging.getLogger("lib").info("%s", x) record through our pipeline."""
    ours_sink = Sink()
    configure_ours(ours_sink)
    foreign = logging.getLogger("lib.foreign")
    foreign.handlers.clear()
    foreign.propagate = True
    foreign.setLevel(logging.NOTSET)
    sink = Sink()
    std = stdlib_pjl_logger("lib.peer", sink)
    return [
        Config(
            "flext-logging (foreign record)",
            lambda: foreign.info("%s", "x"),
            ours_sink,
            True,
            CONTEXT_FIELDS,
        ),
        Config(
            "stdlib+python-json-logger", lambda: std.info("%s", "x"), sink, False, CONTEXT_FIELDS
        ),
    ]


def case_disabled() -> list[Config]:
    """(3) a disabled debug call; ours through a logger made at import time."""
    configure_ours(Sink())
    std = logging.getLogger("bench.disabled")
    std.setLevel(logging.INFO)
    return [
        Config(
            "flext-logging debug (module-level logger)",
            lambda: module_logger.debug("x"),
            None,
            True,
        ),
        Config("stdlib debug", lambda: std.debug("x")),
    ]


def _raise_validation(depth: int) -> None:
    if depth <= 1:
        raise FlextExceptions("invalid email", field="email", value="x@")
    _raise_validation(depth - 1)


def _three_frames() -> BaseException:
    try:
        _raise_validation(2)  # with this frame: 3 frames in the traceback
    except FlextExceptions.ValidationError as exc:
        return exc
    raise AssertionError("unreachable")


def case_exception() -> list[Config]:
    """(4) logger.exception of a ValidationError with a 3-frame traceback."""
    error = _three_frames()
    ours_sink = Sink()
    configure_ours(ours_sink)
    ours = get_logger("bench")
    sink = Sink()
    sl = structlog_logger(use_orjson=True, sink=sink, exceptions=True)
    sink2 = Sink()
    std = stdlib_pjl_logger("bench.exc", sink2)
    return [
        Config(
            "flext-logging exception",
            lambda: ours.error("failed", exc_info=error),
            ours_sink,
            True,
            CONTEXT_FIELDS,
        ),
        Config(
            "structlog ExceptionDictTransformer+orjson",
            lambda: sl.error("failed", exc_info=error),
            sink,
            False,
            CONTEXT_FIELDS,
        ),
        Config(
            "stdlib+python-json-logger exception",
            lambda: std.error("failed", exc_info=error),
            sink2,
            False,
            CONTEXT_FIELDS,
        ),
    ]


def case_scopes() -> list[Config]:
    """(5) enter+exit of our scopes against structlog's bound_contextvars with one key."""
    flext_logging.configure(format="json", stream=Sink(), log_operations=False)  # type: ignore[arg-type]

    def request_scope() -> None:
        with FlextContext.Request.request_context(
            user_id="u-1", request_id="r-1", operation_name="op"
        ):
            pass

    def correlation_scope() -> None:
        with FlextContext.Correlation.new_correlation():
            pass

    def timed_scope() -> None:
        with FlextContext.Performance.timed_operation("db_insert"):
            pass

    def structlog_scope() -> None:
        with structlog.contextvars.bound_contextvars(request_id="r-1"):
            pass

    return [
        Config("request_context()", request_scope, None, True),
        Config("new_correlation()", correlation_scope, None, True),
        Config("timed_operation() without record", timed_scope, None, True),
        Config("structlog bound_contextvars(1 key)", structlog_scope),
    ]


CASES: dict[str, Callable[[], list[Config]]] = {
    "info": case_info,
    "foreign": case_foreign,
    "disabled_debug": case_disabled,
    "exception": case_exception,
    "scopes": case_scopes,
}
ROUND_ROBIN_IN_CONTEXT = {"info", "foreign", "exception"}


def run_case(name: str, iterations: int, repeats: int) -> list[Config]:
    """Time every configuration of a case round-robin and validate its output."""
    configs = CASES[name]()
    live = [config for config in configs if config.error is None]
    scope = (our_context, peer_context) if name in ROUND_ROBIN_IN_CONTEXT else ()
    with _nested(scope):
        for config in live:  # warm-up
            for _ in range(max(iterations // 10, 1)):
                config.call()
        for _ in range(repeats):
            for config in live:
                started = time.perf_counter()
                for _ in range(iterations):
                    config.call()
                config.samples.append((time.perf_counter() - started) / iterations * 1e6)
    for config in live:
        config.error = validate(config)
    _config.reset()
    return configs


@contextmanager
def _nested(factories: tuple[Callable[[], Any], ...]) -> Iterator[None]:
    if not factories:
        yield
        return
    with factories[0](), _nested(factories[1:]):
        yield


def validate(config: Config) -> str | None:
    """Check the configuration wrote JSON with every expected field; None when it did."""
    if config.sink is None:
        return None
    if config.sink.last is None:
        return "wrote nothing"
    line = config.sink.last
    try:
        data = json.loads(line)
    except ValueError:
        return f"not JSON: {line!r:.120}"
    if "record" in data and isinstance(data["record"], dict):  # loguru's serialize shape
        data = {**data["record"].get("extra", {}), "message": data["record"].get("message")}
    missing = [key for key in config.expect_fields if data.get(key) in (None, "")]
    return f"missing fields: {missing}" if missing else None


def throughput_to_file(records: int) -> dict[str, float]:
    """(6) records per second to a real file: ours and structlog+orjson."""
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "ours.log"
        with path.open("a", encoding="utf-8") as stream:
            _config.reset()
            flext_logging.configure(format="json", stream=stream, service_name="svc")
            ours = get_logger("bench.file")
            with our_context():
                started = time.perf_counter()
                for index in range(records):
                    ours.info(MESSAGE, index=index)
                results["flext-logging (file)"] = records / (time.perf_counter() - started)
        _config.reset()
        assert sum(1 for _ in path.open()) == records, "lost lines"
        async_path = Path(folder) / "ours_async.log"
        with async_path.open("a", encoding="utf-8") as stream:
            flext_logging.configure(
                format="json", stream=stream, service_name="svc", async_output=True
            )
            with our_context():
                started = time.perf_counter()
                for index in range(records):
                    ours.info(MESSAGE, index=index)
                flext_logging.shutdown()  # every queued line written before the clock stops
                rate = records / (time.perf_counter() - started)
                results["flext-logging async_output (file)"] = rate
        _config.reset()
        assert sum(1 for _ in async_path.open()) == records, "lost lines (async)"
        peer_path = Path(folder) / "structlog.log"
        with peer_path.open("ab") as stream:
            sl = structlog.wrap_logger(
                structlog.BytesLoggerFactory(stream)(),
                processors=[
                    structlog.contextvars.merge_contextvars,
                    structlog.processors.add_log_level,
                    structlog.processors.TimeStamper(fmt="iso", utc=True),
                    structlog.processors.JSONRenderer(serializer=orjson.dumps),
                ],
                wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
            )
            with peer_context():
                started = time.perf_counter()
                for index in range(records):
                    sl.info(MESSAGE, index=index)
                results["structlog+orjson (file)"] = records / (time.perf_counter() - started)
    return results


# Targets of issue 5: (case, ours, peer, highest acceptable ratio ours/peer).
TARGETS = [
    ("info", "flext-logging", "structlog+orjson", 0.7),
    ("info", "flext-logging", "stdlib+python-json-logger", 0.25),
    ("foreign", "flext-logging (foreign record)", "stdlib+python-json-logger", 0.5),
    ("disabled_debug", "flext-logging debug (module-level logger)", "stdlib debug", 1.5),
    ("exception", "flext-logging exception", "structlog ExceptionDictTransformer+orjson", 1.0),
    ("exception", "flext-logging exception", "stdlib+python-json-logger exception", 0.5),
    ("scopes", "request_context()", "structlog bound_contextvars(1 key)", 0.25),
    ("scopes", "new_correlation()", "structlog bound_contextvars(1 key)", 0.25),
    ("scopes", "timed_operation() without record", "structlog bound_contextvars(1 key)", 0.25),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--file-records", type=int, default=100_000)
    parser.add_argument("--output", default=str(Path(__file__).with_name("results.json")))
    args = parser.parse_args(argv)

    report: dict[str, Any] = {
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "iterations": args.iterations,
        "repeats": args.repeats,
        "cases": {},
    }
    failures = []
    for name in CASES:
        configs = run_case(name, args.iterations, args.repeats)
        rows = {}
        for config in configs:
            row: dict[str, Any] = {"error": config.error}
            if config.samples:
                row.update(
                    median_us=statistics.median(config.samples),
                    min_us=min(config.samples),
                    max_us=max(config.samples),
                )
            rows[config.name] = row
            if config.error and config.error != "loguru not installed":
                failures.append(f"{name}/{config.name}: {config.error}")
        report["cases"][name] = rows
    report["file_throughput_records_per_s"] = throughput_to_file(args.file_records)
    report["targets"] = []
    for case, ours, peer, limit in TARGETS:
        rows = report["cases"][case]
        if "median_us" not in rows.get(ours, {}) or "median_us" not in rows.get(peer, {}):
            continue
        ratio = rows[ours]["median_us"] / rows[peer]["median_us"]
        report["targets"].append(
            {
                "case": case,
                "ours": ours,
                "peer": peer,
                "ratio": ratio,
                "target": limit,
                "met": ratio <= limit,
            }
        )
    print_report(report)
    Path(args.output).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if failures:
        print("\nOUTPUT CHECK FAILED:\n  " + "\n  ".join(failures), file=sys.stderr)
        return 1
    return 0


def print_report(report: dict[str, Any]) -> None:
    """Print the timings and the target ratios as plain tables."""
    print(
        f"Python {report['python']} on {report['machine']}, {report['cpus']} CPUs; "
        f"{report['iterations']} calls x {report['repeats']} rounds, round-robin"
    )
    for case, rows in report["cases"].items():
        print(f"\n{case}")
        print(f"  {'configuration':45s} {'median us':>10s} {'min':>8s} {'max':>8s}")
        for name, row in rows.items():
            if "median_us" in row:
                timing = f"{row['median_us']:10.2f} {row['min_us']:8.2f} {row['max_us']:8.2f}"
                problem = f"  !! {row['error']}" if row["error"] else ""
                print(f"  {name:45s} {timing}{problem}")
            else:
                print(f"  {name:45s} {'skipped':>10s}  ({row['error']})")
    print("\nfile throughput (records/s)")
    for name, rate in report["file_throughput_records_per_s"].items():
        print(f"  {name:45s} {rate:12,.0f}")
    print("\ntargets (ratio = ours / peer, lower is faster)")
    for target in report["targets"]:
        verdict = "met" if target["met"] else "MISSED"
        print(
            f"  {target['case']:15s} {target['ours']:40s} vs {target['peer']:42s} "
            f"{target['ratio']:5.2f} (<= {target['target']:.2f}) {verdict}"
        )


if __name__ == "__main__":
    raise SystemExit(main())
