"""Logs written by other libraries, with the real libraries: traced and shown like ours.

Each library logs the same small request in its own JSON dialect (its default field
names): a record carrying the correlation id, then an exception at error level. The
CLI must find the request by that id, in time order, with the failure, and ``pretty``
must show its time, level and message.
"""

from __future__ import annotations

import io
import logging
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from flext_logging import keys
from flext_logging.cli.main import main

CORRELATION = "5f1c0d2a9b8e4f7a8c6d5e4f3a2b1c0d"


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main(argv)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _stdlib_logger(name: str, formatter: logging.Formatter) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    logger = logging.getLogger(f"tests.cli.dialects.{name}")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger, stream


def _fail() -> None:
    raise ValueError("card declined")


def _log_with_stdlib(logger: logging.Logger, extra: dict[str, object]) -> None:
    logger.info("order received", extra=extra)
    try:
        _fail()
    except ValueError:
        logger.exception("payment failed", extra=extra)


def _python_json_logger() -> str:
    from pythonjsonlogger.json import JsonFormatter

    logger, stream = _stdlib_logger(
        "pjl", JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    )
    _log_with_stdlib(logger, {"correlation_id": CORRELATION})
    return stream.getvalue()


def _ecs_logging() -> str:
    import ecs_logging

    logger, stream = _stdlib_logger("ecs", ecs_logging.StdlibFormatter())
    _log_with_stdlib(logger, {"labels": {"correlation_id": CORRELATION}, "service.name": "shop"})
    return stream.getvalue()


def _loguru() -> str:
    from loguru import logger

    stream = io.StringIO()
    sink = logger.add(stream, serialize=True)
    try:
        bound = logger.bind(correlation_id=CORRELATION)
        bound.info("order received")
        try:
            _fail()
        except ValueError:
            bound.exception("payment failed")
    finally:
        logger.remove(sink)
    return stream.getvalue()


def _structlog() -> str:
    import structlog

    stream = io.StringIO()
    logger = structlog.wrap_logger(
        structlog.PrintLogger(file=stream),
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.dict_tracebacks,
            structlog.processors.JSONRenderer(),
        ],
    )
    logger.info("order received", correlation_id=CORRELATION)
    try:
        _fail()
    except ValueError:
        logger.exception("payment failed", correlation_id=CORRELATION)
    return stream.getvalue()


def _opentelemetry() -> str:
    from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
    from opentelemetry.sdk._logs.export import ConsoleLogRecordExporter, SimpleLogRecordProcessor
    from opentelemetry.sdk.resources import Resource

    stream = io.StringIO()
    provider = LoggerProvider(resource=Resource.create({"service.name": "billing"}))
    exporter = ConsoleLogRecordExporter(
        out=stream, formatter=lambda record: record.to_json(indent=None) + "\n"
    )
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = logging.getLogger("tests.cli.dialects.otel")
    with warnings.catch_warnings():  # the SDK's handler, deprecated for an add-on package
        warnings.simplefilter("ignore", DeprecationWarning)
        handler = LoggingHandler(logger_provider=provider)
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        _log_with_stdlib(logger, {"correlation_id": CORRELATION})
    finally:
        provider.shutdown()
    return stream.getvalue()


WRITERS: dict[str, Callable[[], str]] = {
    "python-json-logger": _python_json_logger,
    "ecs-logging": _ecs_logging,
    "loguru": _loguru,
    "structlog": _structlog,
    "opentelemetry": _opentelemetry,
}


@pytest.fixture(params=sorted(WRITERS))
def foreign_log(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """A log file written by one of the other libraries."""
    text = WRITERS[request.param]()
    assert text.count("\n") == 2, text
    path = tmp_path / f"{request.param}.log"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_request_logged_by_another_library_is_traced(
    foreign_log: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by its correlation id: both records, in order, the failure with its message."""
    status, out, err = _run(["trace", CORRELATION, str(foreign_log), "--format", "json"], capsys)
    assert (status, err) == (0, "")
    tree = orjson.loads(out)
    assert (tree["kind"], tree["id"], tree["status"]) == ("correlation", CORRELATION, "failed")
    assert [r[keys.MESSAGE] for r in tree["records"]] == ["order received", "payment failed"]
    assert [r[keys.LEVEL] for r in tree["records"]] == ["info", "error"]
    assert tree["errors"][0][keys.MESSAGE] == "card declined"
    assert tree["start"] is not None


def test_pretty_shows_time_level_and_message_of_another_library(
    foreign_log: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each line starts with a clock, the level and (after the service, if any) the message."""
    status, out, _ = _run(["pretty", str(foreign_log), "--width", "200"], capsys)
    assert status == 0
    first, second = out.splitlines()
    assert first[:12].count(":") == 2
    assert first[12:].split()[0] == "info"
    assert "order received" in first
    assert "payment failed" in second
    assert "ValueError" in second


def test_lines_that_hold_the_id_in_an_unknown_field_are_pointed_out(
    write_log: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """The id is in the file, but in a field no dialect knows: say so, and what to do."""
    log = write_log(
        "app.log",
        {"when": "2026-11-23T10:00:01Z", "txn": "t-42", "what": "started"},
        {"when": "2026-11-23T10:00:02Z", "txn": "t-42", "what": "done", "sev": "ERROR"},
    )
    status, _, err = _run(["trace", "t-42", str(log)], capsys)
    assert status == 1
    assert err.splitlines() == [
        "flext-logging: no record of 't-42' found",
        (
            "flext-logging: 2 lines contain 't-42' but no correlation/request/trace field"
            " holds it; try --id-field FIELD"
        ),
    ]
    argv = [
        "trace",
        "t-42",
        str(log),
        "--id-field",
        "txn",
        "--time-field",
        "when",
        "--message-field",
        "what",
        "--level-field",
        "sev",
        "--format",
        "json",
    ]
    status, out, _ = _run(argv, capsys)
    assert status == 0
    tree = orjson.loads(out)
    assert [r[keys.MESSAGE] for r in tree["records"]] == ["started", "done"]
    assert (tree["status"], tree["duration_ms"]) == ("failed", 1000.0)


def test_nested_and_dotted_paths_are_the_same_field(
    write_log: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """`trace.id` nested, `trace.id` as one dotted key, `0x`-prefixed: one trace."""
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    log = write_log(
        "app.log",
        {
            "@timestamp": "2026-11-23T10:00:01Z",
            "log.level": "info",
            "message": "a",
            "trace": {"id": trace},
        },
        {
            "@timestamp": "2026-11-23T10:00:02Z",
            "log.level": "warn",
            "message": "b",
            "trace.id": trace,
        },
        {
            "Timestamp": "1795428003000000000",
            "SeverityText": "ERROR",
            "Body": "c",
            "TraceId": f"0x{trace}",
        },
    )
    status, out, _ = _run(["trace", trace, str(log), "--format", "json"], capsys)
    assert status == 0
    tree = orjson.loads(out)
    assert [(r[keys.MESSAGE], r[keys.LEVEL]) for r in tree["records"]] == [
        ("a", "info"),
        ("b", "warning"),
        ("c", "error"),
    ]


def test_the_dialect_table_names_every_library_it_reads() -> None:
    """The field table is data: one dialect per library, each mapping to our field names."""
    from flext_logging.cli.fields import ALIASES, DIALECTS

    assert {"ecs", "loguru", "python-json-logger", "structlog", "otel", "gcp", "datadog"} <= set(
        DIALECTS
    )
    assert ALIASES[keys.TIMESTAMP][:4] == (
        "timestamp",
        "@timestamp",
        "record.time.timestamp",
        "record.time.repr",
    )
    for fields in DIALECTS.values():
        assert set(fields) <= set(ALIASES)
    assert sys.modules["flext_logging.cli.fields"] is not None


def test_a_request_logged_by_ecs_logging_is_listed_with_its_route_and_status(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """ecs-logging nests `http.request.method` as objects: the request is still named."""
    import ecs_logging

    logger, stream = _stdlib_logger("ecs-request", ecs_logging.StdlibFormatter())
    logger.error(
        "request_finished",
        extra={
            "labels.correlation_id": CORRELATION,
            "http.request.method": "POST",
            "url.path": "/pay",
            "http.response.status_code": 500,
            "event.duration": 3_000_000,  # nanoseconds
        },
    )
    log = tmp_path / "ecs.log"
    log.write_text(stream.getvalue())
    assert '"http":{"request":{"method":"POST"}' in stream.getvalue()  # nested, as it writes
    status, out, _ = _run(["requests", str(log), "--format", "csv"], capsys)
    assert status == 0
    row = out.splitlines()[1].split(",")
    assert (row[0], row[2], row[4], row[5], row[6]) == (
        CORRELATION,
        "POST /pay",
        "3.0",
        "failed",
        "500",
    )
    status, out, _ = _run(["stats", str(log), "--format", "csv"], capsys)
    assert out.splitlines()[1] == "POST /pay,1,1,3.0,3.0,3.0"
