"""Measure flext-logging against its peers, side by side in one process, as ratios.

Method (issue 15): every configuration of a case writes to a real file of its own (a
disabled call writes nothing, and its file must stay empty). A case runs many short
**paired rounds**: in each round every configuration makes ``--calls`` calls, in a
rotating order, each in a ``contextvars.Context`` of its own set up once (our context
from FlextContext, structlog's from ``bind_contextvars``, stdlib's from a filter). A
goal's ratio is the **median of the per-round ratios** ours/peer, so machine noise in
one round hits both sides of that round's ratio. Between rounds (outside the clock)
each file is emptied and background writers are drained. After timing, each
configuration's last line is parsed and must hold every expected field, so no
configuration wins by doing less.

The peers are configured as their docs advise: structlog with
``cache_logger_on_first_use=True``, ``merge_contextvars`` and orjson;
python-json-logger with the same formatter options in every case. Messages and
string values are long enough to pass every length threshold (ours only scans
strings of 13 characters or more for secrets).

    python benchmarks/bench.py                          # full run (make bench)
    python benchmarks/bench.py --rounds 3 --calls 20    # smoke run

Every ratio is printed with its goal and stored in ``benchmarks/results.json``.
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
from typing import IO, Any, Final

import orjson
import structlog
from pythonjsonlogger.json import JsonFormatter as PjlJsonFormatter

import flext_logging
from flext_logging import FlextContext, FlextExceptions, _config, _pipeline, get_logger, presets
from flext_logging.outputs import Output

# Made at import time, before configure(), as applications do (the disabled case uses it).
module_logger = get_logger("bench.module")

CONTEXT: Final = {
    "correlation_id": "8f14e45fceea167a5a36dedd4bea2543",
    "parent_correlation_id": "c9f0f895fb98ab9159f51fd0297e236d",
    "request_id": "req-7f3a",
    "service_name": "user-service",
    "service_version": "1.4.0",
    "environment": "production",
    "user_id": "u-42",
    "operation_name": "signup",
}
# 13 characters or more: every string is one the redactor must look at.
MESSAGE: Final = "user account created for signup"
CALL_FIELDS: Final = {"plan": "professional-annual", "seats": 3}
FIFTY_FIELDS: Final = {
    f"field_{index:02d}": (f"value-number-{index:03d}" if index % 2 else index * 1000 + 7)
    for index in range(50)
}
# 10 KB of words and numbers (digits, but no run long enough to be a card number).
TEN_KB: Final = " ".join(
    f"order {index} shipped {index * 37 % 1000} items to warehouse {index % 12}"
    for index in range(400)
)[:10_240]
PJL_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s %(message)s"


# -- Goals: the table of issue 15, as (case, ours, peer, highest ratio ours/peer, text). ----


@dataclass(frozen=True)
class Goal:
    """A ratio of two configurations of one case, and the highest value it may have."""

    case: str
    ours: str
    peer: str
    limit: float
    text: str
    base: str | None = None
    """A configuration whose time is taken off both sides, round by round, first."""


OURS: Final = "flext-logging"
STRUCTLOG: Final = "structlog+orjson"
PJL: Final = "stdlib+python-json-logger"
GOALS: Final = (
    Goal("info", OURS, STRUCTLOG, 0.45, "<= 0.45x structlog+orjson (cached logger)"),
    Goal("info", OURS, PJL, 0.20, ">= 5x faster than stdlib+python-json-logger"),
    Goal("ten_kb", OURS, PJL, 0.50, "<= 0.5x stdlib+python-json-logger, same record"),
    Goal("fifty_fields", OURS, STRUCTLOG, 0.70, "<= 0.7x structlog+orjson"),
    Goal("disabled", "flext-logging debug", "stdlib debug", 1.5, "<= 1.5x stdlib's"),
    Goal(
        "disabled",
        "flext-logging debug, per-logger levels",
        "stdlib debug",
        1.5,
        "<= 1.5x stdlib's, with levels= configured",
    ),
    Goal(
        "stale_context",
        "flext-logging, context from before configure()",
        "flext-logging, fresh context",
        1.1,
        "<= 1.1x a fresh context",
    ),
    Goal(
        "async_output",
        "flext-logging async_output",
        "flext-logging synchronous",
        0.6,
        "<= 0.6x the synchronous write (caller side)",
        base="flext-logging, record path only",
    ),
    Goal("foreign", "flext-logging (foreign record)", PJL, 0.45, "<= 0.45x stdlib+pjl"),
    *(
        Goal("presets", f"{OURS} schema={name}", f"{OURS} schema=flat", 1.1, "<= 1.1x flat")
        for name in presets.PRESETS
    ),
    Goal(
        "exception",
        "flext-logging exception",
        "structlog ExceptionDictTransformer",
        0.8,
        "<= 0.8x structlog ExceptionDictTransformer(show_locals=False)",
    ),
)


# -- Configurations -------------------------------------------------------------------


@dataclass
class Config:
    """One configuration of one case: one logging call, where it runs, what it must write."""

    name: str
    call: Callable[[], object]
    stream: IO[Any] | None
    context: contextvars.Context
    expect: tuple[str, ...] = ()
    writes: bool = True
    prepare: Callable[[], object] = lambda: None
    """Run before each of its rounds, outside the clock (e.g. install its pipeline)."""
    drain: Callable[[], object] = lambda: None
    """Run after each of its rounds, outside the clock (e.g. wait for a writer thread)."""
    samples: list[float] = field(default_factory=list)
    error: str | None = None


class Files:
    """The real files of one run, in a temporary directory; each is emptied between rounds.

    Each is opened for appending only, as an application opens a log file
    (``open(path, "a")``, ``logging.FileHandler``); it is read back by its path. (A
    handle opened for reading too, ``"a+"``, makes every flush of it seek.)
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.opened: list[IO[Any]] = []

    def text(self, name: str) -> IO[str]:
        stream = (self.folder / f"{name}.log").open("a", encoding="utf-8")
        self.opened.append(stream)
        return stream

    def binary(self, name: str) -> IO[bytes]:
        stream = (self.folder / f"{name}.log").open("ab")
        self.opened.append(stream)
        return stream

    def close(self) -> None:
        for stream in self.opened:
            stream.close()


def _empty(stream: IO[Any]) -> None:
    stream.flush()
    os.truncate(stream.name, 0)  # appends go to the end, wherever that is now


def _last_line(stream: IO[Any]) -> str | None:
    stream.flush()
    lines = Path(stream.name).read_text(encoding="utf-8").splitlines()
    return lines[-1] if lines else None


# -- Contexts: the 8 context fields, each side the way its users set them. -----------------

_NO_PEER_CONTEXT: Final[Mapping[str, str]] = MappingProxyType({})
_peer_context: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar(
    "bench.peer", default=_NO_PEER_CONTEXT
)


def ours_context() -> contextvars.Context:
    """A context with our 5 per-request fields set (the service identity is configure()'s)."""

    def enter() -> None:
        FlextContext.Correlation.set_correlation_id(CONTEXT["correlation_id"])
        FlextContext.Correlation.set_parent_correlation_id(CONTEXT["parent_correlation_id"])
        FlextContext.Request.set_request_id(CONTEXT["request_id"])
        FlextContext.Request.set_user_id(CONTEXT["user_id"])
        FlextContext.Request.set_operation_name(CONTEXT["operation_name"])

    context = contextvars.Context()
    context.run(enter)
    return context


def peer_context() -> contextvars.Context:
    """A context with the 8 fields bound for structlog and for the stdlib filter."""

    def enter() -> None:
        structlog.contextvars.bind_contextvars(**CONTEXT)
        _peer_context.set(dict(CONTEXT))

    context = contextvars.Context()
    context.run(enter)
    return context


class _PeerContextFilter(logging.Filter):
    """What a stdlib user writes to put contextvars on records."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _peer_context.get().items():
            setattr(record, key, value)
        return True


# -- Peers ---------------------------------------------------------------------------------


def stdlib_pjl(name: str, stream: IO[str]) -> logging.Logger:
    """stdlib logging + python-json-logger (the same options everywhere) + a context filter."""
    logger = logging.getLogger(name)
    logger.handlers.clear()
    logger.propagate = False
    handler = logging.StreamHandler(stream)
    handler.setFormatter(PjlJsonFormatter(PJL_FORMAT, timestamp=True))
    handler.addFilter(_PeerContextFilter())
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    return logger


def structlog_orjson(stream: IO[bytes], *, exceptions: bool = False) -> Any:
    """structlog as its performance docs advise: cached, filtering, orjson, bytes out."""
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
    processors.append(structlog.processors.JSONRenderer(serializer=orjson.dumps))
    return structlog.wrap_logger(
        structlog.BytesLogger(stream),  # type: ignore[arg-type]  # any binary stream
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        cache_logger_on_first_use=True,
    )


def structlog_json(stream: IO[str]) -> Any:
    """structlog with the standard json module and a PrintLogger."""
    return structlog.wrap_logger(
        structlog.PrintLogger(stream),  # type: ignore[arg-type]  # any text stream
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        cache_logger_on_first_use=True,
    )


def configure_ours(stream: IO[str] | IO[bytes], **options: Any) -> _pipeline.Pipeline:
    """Our configuration a production service gets, to *stream*; returns its pipeline."""
    _config.reset()
    flext_logging.configure(
        format="json",
        stream=stream,
        service_name=CONTEXT["service_name"],
        service_version=CONTEXT["service_version"],
        environment=CONTEXT["environment"],
        **options,
    )
    return _pipeline.active()


def _installing(pipeline: _pipeline.Pipeline) -> Callable[[], None]:
    return lambda: _pipeline.install(pipeline)


LOGGED: Final = (*CONTEXT, *CALL_FIELDS)


# -- Cases ---------------------------------------------------------------------------------


def case_info(files: Files) -> list[Config]:
    """logger.info with 8 context fields and 2 call fields, redaction on, to a file."""
    ours_stream = files.text("ours")
    pipeline = configure_ours(ours_stream)
    ours = get_logger("bench")
    std_stream = files.text("stdlib")
    std = stdlib_pjl("bench.stdlib", std_stream)
    slo_stream = files.binary("structlog_orjson")
    slo = structlog_orjson(slo_stream)
    slj_stream = files.text("structlog_json")
    slj = structlog_json(slj_stream)
    # For reference, no goal: where our time goes (the redactor; a text stream's encoding).
    unredacted_stream = files.text("ours_unredacted")
    unredacted = configure_ours(unredacted_stream, redaction=False)
    binary_stream = files.binary("ours_binary")
    binary = configure_ours(binary_stream)
    configs = [
        Config(
            OURS,
            lambda: ours.info(MESSAGE, **CALL_FIELDS),
            ours_stream,
            ours_context(),
            prepare=_installing(pipeline),
        ),
        Config(STRUCTLOG, lambda: slo.info(MESSAGE, **CALL_FIELDS), slo_stream, peer_context()),
        Config(PJL, lambda: std.info(MESSAGE, extra=CALL_FIELDS), std_stream, peer_context()),
        Config(
            "structlog+json", lambda: slj.info(MESSAGE, **CALL_FIELDS), slj_stream, peer_context()
        ),
        Config(
            "(reference) flext-logging, redaction=False",
            lambda: ours.info(MESSAGE, **CALL_FIELDS),
            unredacted_stream,
            ours_context(),
            prepare=_installing(unredacted),
        ),
        Config(
            "(reference) flext-logging, binary file",
            lambda: ours.info(MESSAGE, **CALL_FIELDS),
            binary_stream,
            ours_context(),
            prepare=_installing(binary),
        ),
    ]
    for config in configs:
        config.expect = LOGGED
    return configs


def case_ten_kb(files: Files) -> list[Config]:
    """One 10 KB string field of words and numbers, no secret, on the same record."""
    ours_stream = files.text("ours_10kb")
    pipeline = configure_ours(ours_stream)
    ours = get_logger("bench")
    std_stream = files.text("stdlib_10kb")
    std = stdlib_pjl("bench.stdlib", std_stream)
    slo_stream = files.binary("structlog_10kb")
    slo = structlog_orjson(slo_stream)
    fields = {"report": TEN_KB}
    expect = (*CONTEXT, "report")
    return [
        Config(
            OURS,
            lambda: ours.info(MESSAGE, **fields),
            ours_stream,
            ours_context(),
            expect,
            prepare=_installing(pipeline),
        ),
        Config(PJL, lambda: std.info(MESSAGE, extra=fields), std_stream, peer_context(), expect),
        Config(STRUCTLOG, lambda: slo.info(MESSAGE, **fields), slo_stream, peer_context(), expect),
    ]


def case_fifty_fields(files: Files) -> list[Config]:
    """A call with 50 fields (half strings, half numbers)."""
    ours_stream = files.text("ours_50")
    pipeline = configure_ours(ours_stream)
    ours = get_logger("bench")
    slo_stream = files.binary("structlog_50")
    slo = structlog_orjson(slo_stream)
    std_stream = files.text("stdlib_50")
    std = stdlib_pjl("bench.stdlib", std_stream)
    expect = (*CONTEXT, *FIFTY_FIELDS)
    return [
        Config(
            OURS,
            lambda: ours.info(MESSAGE, **FIFTY_FIELDS),
            ours_stream,
            ours_context(),
            expect,
            prepare=_installing(pipeline),
        ),
        Config(
            STRUCTLOG, lambda: slo.info(MESSAGE, **FIFTY_FIELDS), slo_stream, peer_context(), expect
        ),
        Config(
            PJL, lambda: std.info(MESSAGE, extra=FIFTY_FIELDS), std_stream, peer_context(), expect
        ),
    ]


def case_disabled(files: Files) -> list[Config]:
    """A disabled debug call: ours on a logger made at import time, with and without levels=."""
    ours_stream = files.text("ours_disabled")
    levels = {"bench": "INFO", "bench.sqlalchemy.engine": "WARNING", "bench.payments": "DEBUG"}

    def plain() -> None:
        configure_ours(ours_stream)
        module_logger.debug(MESSAGE)  # the first call after a change decides; later ones look up

    def levelled() -> None:
        configure_ours(ours_stream, levels=levels)
        module_logger.debug(MESSAGE)

    std_stream = files.text("stdlib_disabled")
    std = stdlib_pjl("bench.disabled", std_stream)
    nothing = contextvars.Context()
    return [
        Config(
            "flext-logging debug",
            lambda: module_logger.debug(MESSAGE),
            ours_stream,
            nothing,
            writes=False,
            prepare=plain,
        ),
        Config(
            "flext-logging debug, per-logger levels",
            lambda: module_logger.debug(MESSAGE),
            ours_stream,
            nothing,
            writes=False,
            prepare=levelled,
        ),
        Config("stdlib debug", lambda: std.debug(MESSAGE), std_stream, nothing, writes=False),
    ]


def case_stale_context(files: Files) -> list[Config]:
    """A context entered before the last configure(), against one entered after it."""
    ours_stream = files.text("ours_stale")
    ours = get_logger("bench")
    configure_ours(ours_stream)
    stale = ours_context()  # a long-lived worker's context, which has logged already
    stale.run(ours.info, MESSAGE)
    pipeline = configure_ours(ours_stream)  # replaces the process defaults stale merged
    fresh = ours_context()
    return [
        Config(
            "flext-logging, context from before configure()",
            lambda: ours.info(MESSAGE, **CALL_FIELDS),
            ours_stream,
            stale,
            LOGGED,
            prepare=_installing(pipeline),
        ),
        Config(
            "flext-logging, fresh context",
            lambda: ours.info(MESSAGE, **CALL_FIELDS),
            ours_stream,
            fresh,
            LOGGED,
            prepare=_installing(pipeline),
        ),
    ]


class _Discard(Output):
    """An output that writes nothing: what is left of a call is its record path."""

    format = "json"
    level = None

    def write(self, line: bytes | str) -> None:
        return


def case_async_output(files: Files) -> list[Config]:
    """async_output=True to a file against the synchronous write, the caller's side.

    The goal compares the writes: from each configuration's time the time of the same
    call with an output that writes nothing (the record path, the same for both) is
    taken off, round by round. The background writer drains outside the clock.
    """
    sync_stream = files.text("ours_sync")
    sync = configure_ours(sync_stream)
    record_path = sync.with_sinks(
        [(renderer, _Discard()) for renderer, _ in sync.sinks], min_level=sync.min_level
    )
    async_stream = files.text("ours_async")
    background = configure_ours(async_stream, async_output=True)
    ours = get_logger("bench")
    return [
        Config(
            "flext-logging, record path only",
            lambda: ours.info(MESSAGE, **CALL_FIELDS),
            None,
            ours_context(),
            prepare=_installing(record_path),
        ),
        Config(
            "flext-logging async_output",
            lambda: ours.info(MESSAGE, **CALL_FIELDS),
            async_stream,
            ours_context(),
            LOGGED,
            prepare=_installing(background),
            drain=background.flush,
        ),
        Config(
            "flext-logging synchronous",
            lambda: ours.info(MESSAGE, **CALL_FIELDS),
            sync_stream,
            ours_context(),
            LOGGED,
            prepare=_installing(sync),
        ),
    ]


FOREIGN_MESSAGE: Final = "connection %s established to the primary database"


def case_foreign(files: Files) -> list[Config]:
    """A library's logging.getLogger(...).info(...) record through our pipeline."""
    ours_stream = files.text("ours_foreign")
    pipeline = configure_ours(ours_stream)
    foreign = logging.getLogger("lib.foreign")
    foreign.handlers.clear()
    foreign.propagate = True
    foreign.setLevel(logging.NOTSET)
    std_stream = files.text("stdlib_foreign")
    std = stdlib_pjl("lib.peer", std_stream)
    return [
        Config(
            "flext-logging (foreign record)",
            lambda: foreign.info(FOREIGN_MESSAGE, "db-1", extra=CALL_FIELDS),
            ours_stream,
            ours_context(),
            LOGGED,
            prepare=_installing(pipeline),
        ),
        Config(
            PJL,
            lambda: std.info(FOREIGN_MESSAGE, "db-1", extra=CALL_FIELDS),
            std_stream,
            peer_context(),
            LOGGED,
        ),
    ]


def case_presets(files: Files) -> list[Config]:
    """The info case's call under each schema preset, against the flat schema (issue 16:
    a preset adds at most 10% to logger.info)."""
    ours = get_logger("bench")
    configs = []
    for name in (presets.FLAT, *presets.PRESETS):
        stream = files.text(f"ours_{name}")
        pipeline = configure_ours(stream, schema=name)
        configs.append(
            Config(
                f"{OURS} schema={name}",
                lambda: ours.info(MESSAGE, **CALL_FIELDS),
                stream,
                ours_context(),
                LOGGED,
                prepare=_installing(pipeline),
            )
        )
    return configs


def _raise_validation(depth: int) -> None:
    if depth <= 1:
        raise FlextExceptions("invalid email address given", field="email", value="x@")
    _raise_validation(depth - 1)


def _in_handler(call: Callable[[], object]) -> Callable[[], object]:
    """*call*, made while a 3-frame exception is being handled (as logger.exception is)."""

    def handled() -> object:
        try:
            _raise_validation(2)  # with this frame: 3 frames in the traceback
        except FlextExceptions.ValidationError:
            return call()
        return None

    return handled


def case_exception(files: Files) -> list[Config]:
    """logger.exception() of a ValidationError with a 3-frame traceback."""
    ours_stream = files.text("ours_exception")
    pipeline = configure_ours(ours_stream)
    ours = get_logger("bench")
    slo_stream = files.binary("structlog_exception")
    slo = structlog_orjson(slo_stream, exceptions=True)
    std_stream = files.text("stdlib_exception")
    std = stdlib_pjl("bench.exc", std_stream)
    return [
        Config(
            "flext-logging exception",
            _in_handler(lambda: ours.exception(MESSAGE)),
            ours_stream,
            ours_context(),
            (*CONTEXT, "error"),
            prepare=_installing(pipeline),
        ),
        Config(
            "structlog ExceptionDictTransformer",
            _in_handler(lambda: slo.exception(MESSAGE)),
            slo_stream,
            peer_context(),
            (*CONTEXT, "exception"),
        ),
        Config(
            "stdlib+python-json-logger exception",
            _in_handler(lambda: std.exception(MESSAGE)),
            std_stream,
            peer_context(),
            (*CONTEXT, "exc_info"),
        ),
    ]


def case_scopes(files: Files) -> list[Config]:
    """Entering and leaving our scopes, against structlog's bound_contextvars (no goal)."""
    pipeline = configure_ours(files.text("ours_scopes"), log_operations=False)
    fresh = contextvars.Context

    def request_scope() -> None:
        with FlextContext.Request.request_context(
            user_id="u-1", request_id="r-1", operation_name="op"
        ):
            pass

    def bound_scope() -> None:
        with FlextContext.bound(tenant_id="t-1"):
            pass

    def timed_scope() -> None:
        with FlextContext.Performance.timed_operation("db_insert"):
            pass

    def structlog_scope() -> None:
        with structlog.contextvars.bound_contextvars(request_id="r-1"):
            pass

    return [
        Config("request_context()", request_scope, None, fresh(), prepare=_installing(pipeline)),
        Config("FlextContext.bound(1 key)", bound_scope, None, fresh()),
        Config("timed_operation() without record", timed_scope, None, fresh()),
        Config("structlog bound_contextvars(1 key)", structlog_scope, None, fresh()),
    ]


CASES: Final[dict[str, Callable[[Files], list[Config]]]] = {
    "info": case_info,
    "ten_kb": case_ten_kb,
    "fifty_fields": case_fifty_fields,
    "disabled": case_disabled,
    "stale_context": case_stale_context,
    "async_output": case_async_output,
    "foreign": case_foreign,
    "presets": case_presets,
    "exception": case_exception,
    "scopes": case_scopes,
}


# -- Running -------------------------------------------------------------------------------

CLOCKS: Final[dict[str, Callable[[], float]]] = {"cpu": time.thread_time, "wall": time.perf_counter}
# The point of async_output is what the caller waits for, GIL hand-overs to the writer
# thread included: only elapsed time shows that.
WALL_CLOCK_CASES: Final = frozenset({"async_output"})


def _timed(call: Callable[[], object], calls: int, clock: Callable[[], float]) -> float:
    started = clock()
    for _ in range(calls):
        call()
    return clock() - started


def run_case(configs: list[Config], rounds: int, calls: int, clock: Callable[[], float]) -> None:
    """Paired rounds: every configuration once per round, in a rotating order."""
    for round_number in range(-1, rounds):  # round -1 warms up and is not kept
        shift = max(round_number, 0) % len(configs)
        for config in configs[shift:] + configs[:shift]:
            if config.stream is not None:
                _empty(config.stream)
            config.prepare()
            elapsed = config.context.run(_timed, config.call, calls, clock)
            config.drain()
            if round_number >= 0:
                config.samples.append(elapsed / calls)
    for config in configs:
        config.prepare()
        config.drain()
        config.error = validate(config)


def validate(config: Config) -> str | None:
    """Check what the configuration wrote; ``None`` when it is right."""
    if config.stream is None:
        return None
    line = _last_line(config.stream)
    if not config.writes:
        return None if line is None else f"a disabled call wrote {line!r:.80}"
    if line is None:
        return "wrote nothing"
    try:
        data = presets.to_flat(json.loads(line))  # a preset's line read in the flat schema
    except ValueError:
        return f"not JSON: {line!r:.120}"
    missing = [key for key in config.expect if data.get(key) in (None, "")]
    return f"missing fields: {missing}" if missing else None


def ratios(case: str, configs: list[Config]) -> list[dict[str, Any]]:
    """Each goal of *case*: the median (and quartiles) of its per-round ratios."""
    by_name = {config.name: config for config in configs}
    rows = []
    for goal in GOALS:
        if goal.case != case:
            continue
        ours, peer = by_name[goal.ours].samples, by_name[goal.peer].samples
        if goal.base is not None:  # the write alone: each side minus the record path
            base = by_name[goal.base].samples
            ours = [max(a - c, 0.0) for a, c in zip(ours, base, strict=True)]
            peer = [max(b - c, 1e-12) for b, c in zip(peer, base, strict=True)]
        per_round = sorted(a / b for a, b in zip(ours, peer, strict=True))
        quartiles = statistics.quantiles(per_round, n=4) if len(per_round) > 1 else per_round * 3
        median = statistics.median(per_round)
        rows.append(
            {
                "case": case,
                "ours": goal.ours,
                "peer": goal.peer,
                "base": goal.base,
                "ratio": median,
                "ratio_p25": quartiles[0],
                "ratio_p75": quartiles[-1],
                "goal": goal.limit,
                "goal_text": goal.text,
                "met": median <= goal.limit,
            }
        )
    return rows


def async_memory(files: Files, records: int) -> dict[str, Any]:
    """RSS growth while a burst of *records* is queued by async_output to a file."""
    stream = files.text("ours_async_burst")
    pipeline = configure_ours(stream, async_output=True)
    ours = get_logger("bench")
    context = ours_context()
    before = _rss_bytes()

    def burst() -> int:
        peak = before
        for index in range(records):
            ours.info(MESSAGE, index=index, **CALL_FIELDS)
            if index % 1000 == 0:
                peak = max(peak, _rss_bytes())
        return max(peak, _rss_bytes())

    peak = context.run(burst)
    pipeline.flush()
    written = sum(1 for _ in (files.folder / "ours_async_burst.log").open(encoding="utf-8"))
    return {
        "records": records,
        "written": written,
        "rss_growth_mb": round((peak - before) / 2**20, 1),
    }


def _rss_bytes() -> int:
    """This process's resident memory now (Linux), else its peak so far."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@contextmanager
def _files() -> Iterator[Files]:
    with tempfile.TemporaryDirectory(prefix="flext-bench-") as folder:
        files = Files(Path(folder))
        try:
            yield files
        finally:
            _config.reset()
            files.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=400, help="paired rounds per case")
    parser.add_argument("--calls", type=int, default=200, help="calls per round")
    parser.add_argument(
        "--clock",
        choices=sorted(CLOCKS),
        default="cpu",
        help="cpu: the calling thread's CPU time (user+system), which other processes on a "
        "shared machine do not inflate; wall: elapsed time. async_output is always wall.",
    )
    parser.add_argument("--burst", type=int, default=100_000, help="async memory burst")
    parser.add_argument("--cases", nargs="*", default=list(CASES), choices=list(CASES))
    parser.add_argument("--output", default=str(Path(__file__).with_name("results.json")))
    args = parser.parse_args(argv)

    report: dict[str, Any] = {
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "rounds": args.rounds,
        "calls": args.calls,
        "clock": args.clock,
        "cases": {},
        "ratios": [],
    }
    failures: list[str] = []
    with _files() as files:
        for name in args.cases:
            configs = CASES[name](files)
            clock = time.perf_counter if name in WALL_CLOCK_CASES else CLOCKS[args.clock]
            run_case(configs, args.rounds, args.calls, clock)
            report["cases"][name] = {
                config.name: {
                    "median_us": statistics.median(config.samples) * 1e6,
                    "error": config.error,
                }
                for config in configs
            }
            failures.extend(f"{name}/{c.name}: {c.error}" for c in configs if c.error)
            report["ratios"].extend(ratios(name, configs))
            _config.reset()
        report["async_memory"] = async_memory(files, args.burst)
    print_report(report)
    Path(args.output).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if failures:
        print("\nOUTPUT CHECK FAILED:\n  " + "\n  ".join(failures), file=sys.stderr)
        return 1
    return 0


def print_report(report: dict[str, Any]) -> None:
    """Print the timings and every ratio with its goal, as plain tables."""
    print(
        f"{report['date']}: Python {report['python']} on {report['machine']}, "
        f"{report['cpus']} CPUs; {report['rounds']} paired rounds x {report['calls']} calls, "
        f"{report['clock']} clock"
    )
    for case, rows in report["cases"].items():
        print(f"\n{case}")
        for name, row in rows.items():
            problem = f"  !! {row['error']}" if row["error"] else ""
            print(f"  {name:50s} {row['median_us']:9.2f} us{problem}")
    print("\nratios (median of per-round ratios ours/peer; lower is faster)")
    for row in report["ratios"]:
        verdict = "met" if row["met"] else "MISSED"
        print(
            f"  {row['case']:14s} {row['ours']} / {row['peer']}"
            + (f", each minus {row['base']}" if row.get("base") else "")
            + "\n"
            f"  {'':14s} {row['ratio']:5.2f} (p25 {row['ratio_p25']:.2f}, "
            f"p75 {row['ratio_p75']:.2f})  goal {row['goal_text']}: {verdict}"
        )
    memory = report["async_memory"]
    print(
        f"\nasync_output burst: {memory['records']} records queued, {memory['written']} "
        f"written, RSS growth {memory['rss_growth_mb']} MB"
    )


if __name__ == "__main__":
    raise SystemExit(main())
