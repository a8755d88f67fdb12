"""get_logger() and FlextLogger: call styles, levels, the JSON record and its safety."""

from __future__ import annotations

import asyncio
import datetime
import io
import json
import logging
import os
import sys
import threading
import warnings
from collections.abc import Callable
from typing import Any

import pytest
import structlog
from odd_values import ReprRaises, StrRaises
from scripts import run_python

from flext_logging import FlextContext, configure, get_logger, keys

JsonStream = tuple[io.StringIO, Callable[[], list[dict[str, Any]]]]

# Made at import time, before any configure(), as applications do at module level.
module_logger = get_logger("tests.logger.module")


def _only(records: Callable[[], list[dict[str, Any]]]) -> dict[str, Any]:
    written = records()
    assert len(written) == 1, written
    return written[0]


# -- get_logger() and configuration changes ----------------------------------------------


def test_logger_made_before_configure_follows_later_configure(json_stream: JsonStream) -> None:
    """A logger handed out at import time writes with the configuration applied later."""
    stream, records = json_stream
    configure(format="json", stream=stream)
    module_logger.info("configured later", answer=42)
    record = _only(records)
    assert record[keys.LOGGER] == "tests.logger.module"
    assert record[keys.MESSAGE] == "configured later"
    assert record["answer"] == 42


def test_reconfigure_moves_existing_logger_to_new_stream_and_level() -> None:
    """A second configure() with another stream and level applies to loggers made earlier."""
    first, second = io.StringIO(), io.StringIO()
    configure(format="json", stream=first, level="INFO")
    module_logger.info("to first")
    configure(format="json", stream=second, level="ERROR")
    module_logger.warning("dropped by the new level")
    module_logger.error("to second")
    assert [json.loads(line)[keys.MESSAGE] for line in first.getvalue().splitlines()] == [
        "to first"
    ]
    assert [json.loads(line)[keys.MESSAGE] for line in second.getvalue().splitlines()] == [
        "to second"
    ]


def test_same_name_returns_same_logger() -> None:
    """get_logger() with one name always returns the same logger object."""
    assert get_logger("tests.same") is get_logger("tests.same")
    assert get_logger("tests.same") is not get_logger("tests.other")
    assert get_logger("tests.same").name == "tests.same"


def test_initial_values_are_bound_to_every_record(json_stream: JsonStream) -> None:
    """get_logger(name, **values) binds the values to each record of that logger."""
    stream, records = json_stream
    configure(format="json", stream=stream)
    logger = get_logger("tests.initial", component="billing")
    logger.info("first")
    logger.info("second")
    assert [record["component"] for record in records()] == ["billing", "billing"]


# -- Call styles ---------------------------------------------------------------------------


def test_keyword_fields_follow_the_message_in_call_order(json_stream: JsonStream) -> None:
    """logger.info("event", key=value) writes the event as message and the keys after it."""
    stream, records = json_stream
    configure(format="json", stream=stream)
    get_logger("tests.call").info("user created", user="ada", plan="pro", seats=3)
    record = _only(records)
    assert record[keys.MESSAGE] == "user created"
    assert list(record)[-3:] == ["user", "plan", "seats"]
    assert (record["user"], record["plan"], record["seats"]) == ("ada", "pro", 3)


@pytest.mark.parametrize(
    ("event", "args", "expected"),
    [
        pytest.param("took %d tries", (3,), "took 3 tries", id="percent-args"),
        pytest.param("%(n)s items", ({"n": 1},), "1 items", id="lone-mapping"),
        pytest.param("%s and %s", ("a", "b"), "a and b", id="two-args"),
        pytest.param("100% done", (), "100% done", id="no-args-no-formatting"),
        pytest.param("bad %d", ("x",), "bad %d ('x',)", id="wrong-type"),
        pytest.param("two %s %s", (1,), "two %s %s (1,)", id="too-few-args"),
        pytest.param("none", (1,), "none (1,)", id="too-many-args"),
        pytest.param("%(missing)s", ({"n": 1},), "%(missing)s ({'n': 1},)", id="missing-key"),
        pytest.param(42, (), "42", id="non-string-event"),
        pytest.param(None, (), "", id="no-event"),
    ],
)
def test_message_applies_percent_args_like_logging_and_keeps_bad_formats(
    json_stream: JsonStream, event: object, args: tuple[Any, ...], expected: str
) -> None:
    """%-arguments are applied as logging does; a bad format keeps message and args repr."""
    stream, records = json_stream
    configure(format="json", stream=stream)
    get_logger("tests.format").info(event, *args)
    assert _only(records)[keys.MESSAGE] == expected


def test_event_whose_str_raises_still_writes_a_record(json_stream: JsonStream) -> None:
    """An event object with a failing __str__ is written as its safe repr."""

    class Unprintable:
        def __str__(self) -> str:
            raise RuntimeError("no str")

        def __repr__(self) -> str:
            return "<Unprintable>"

    stream, records = json_stream
    configure(format="json", stream=stream)
    get_logger("tests.format").info(Unprintable())
    assert _only(records)[keys.MESSAGE] == "<Unprintable>"


def test_extra_mapping_fields_are_added_without_overriding_keywords(
    json_stream: JsonStream,
) -> None:
    """extra={...} adds its keys as fields; a keyword of the same name wins."""
    stream, records = json_stream
    configure(format="json", stream=stream)
    get_logger("tests.extra").info("saved", extra={"action": "create", "id": 1}, id=2)
    record = _only(records)
    assert record["action"] == "create"
    assert record["id"] == 2
    assert "extra" not in record


def test_extra_that_is_not_a_mapping_is_kept_as_a_field(json_stream: JsonStream) -> None:
    """A non-mapping extra= value is written under 'extra' rather than lost."""
    stream, records = json_stream
    configure(format="json", stream=stream)
    get_logger("tests.extra").info("odd", extra=["a", "b"])
    assert _only(records)["extra"] == ["a", "b"]


def test_stacklevel_is_accepted_and_not_written(json_stream: JsonStream) -> None:
    """stacklevel= (a logging keyword) is accepted for drop-in use and never becomes a field."""
    stream, records = json_stream
    configure(format="json", stream=stream)
    get_logger("tests.extra").info("drop-in", stacklevel=2)
    assert "stacklevel" not in _only(records)


def _raise_value_error() -> None:
    raise ValueError("bad input")


@pytest.mark.parametrize("style", ["true", "instance", "tuple"])
def test_exc_info_in_every_form_renders_the_exception(json_stream: JsonStream, style: str) -> None:
    """exc_info=True, an exception instance or a sys.exc_info() tuple all render the error."""
    stream, records = json_stream
    configure(format="json", stream=stream)
    try:
        _raise_value_error()
    except ValueError as exc:
        exc_info = {"true": True, "instance": exc, "tuple": sys.exc_info()}[style]
        get_logger("tests.exc").error("failed", exc_info=exc_info)
    record = _only(records)
    assert record[keys.ERROR][keys.ERROR_TYPE_NAME] == "ValueError"
    assert record[keys.ERROR][keys.ERROR_MESSAGE] == "bad input"
    assert "exc_info" not in record


def test_exc_info_false_writes_no_error(json_stream: JsonStream) -> None:
    """exc_info=False inside an except block adds no error data."""
    stream, records = json_stream
    configure(format="json", stream=stream)
    try:
        _raise_value_error()
    except ValueError:
        get_logger("tests.exc").error("handled", exc_info=False)
    record = _only(records)
    assert keys.ERROR not in record
    assert "exc_info" not in record


def test_exception_method_logs_the_handled_exception_at_error_level(
    json_stream: JsonStream,
) -> None:
    """logger.exception() inside except writes an error-level record with the exception."""
    stream, records = json_stream
    configure(format="json", stream=stream)
    try:
        _raise_value_error()
    except ValueError:
        get_logger("tests.exc").exception("import failed", batch=7)
    record = _only(records)
    assert record[keys.LEVEL] == "error"
    assert record["batch"] == 7
    assert record[keys.ERROR][keys.ERROR_MESSAGE] == "bad input"


def test_stack_info_writes_the_stack_ending_at_the_calling_test(json_stream: JsonStream) -> None:
    """stack_info=True writes the call stack whose innermost frame is the caller's."""
    stream, records = json_stream
    configure(format="json", stream=stream)
    get_logger("tests.stack").info("where am I", stack_info=True)
    stack = _only(records)[keys.STACK]
    assert stack.startswith("Stack (most recent call last):\n")
    last_frame = stack.rsplit('  File "', 1)[1]
    assert last_frame.startswith(f'{__file__}", line ')
    assert "test_stack_info_writes_the_stack_ending_at_the_calling_test" in last_frame
    assert "flext_logging" not in stack.replace(__file__, "")


# -- bind / new / unbind / try_unbind --------------------------------------------------------


def test_bind_adds_fields_without_changing_the_original(json_stream: JsonStream) -> None:
    """bind() returns a logger adding its fields; the logger it came from is unchanged."""
    stream, records = json_stream
    configure(format="json", stream=stream)
    base = get_logger("tests.bind")
    bound = base.bind(job="sync", attempt=1)
    bound.info("with fields")
    base.info("without fields")
    with_fields, without = records()
    assert (with_fields["job"], with_fields["attempt"]) == ("sync", 1)
    assert "job" not in without
    assert bound.name == base.name == "tests.bind"


def test_call_keyword_overrides_a_bound_field(json_stream: JsonStream) -> None:
    """A keyword given to the call wins over a bound field of the same name."""
    stream, records = json_stream
    configure(format="json", stream=stream)
    get_logger("tests.bind").bind(attempt=1).info("retry", attempt=2)
    assert _only(records)["attempt"] == 2


def test_new_replaces_all_bound_fields(json_stream: JsonStream) -> None:
    """new() keeps the name but binds only the given fields."""
    stream, records = json_stream
    configure(format="json", stream=stream)
    logger = get_logger("tests.bind").bind(old="x").new(fresh="y")
    logger.info("renewed")
    record = _only(records)
    assert record["fresh"] == "y"
    assert "old" not in record
    assert record[keys.LOGGER] == "tests.bind"


def test_unbind_removes_fields_and_rejects_missing_ones(json_stream: JsonStream) -> None:
    """unbind() drops bound fields and raises KeyError for a key that is not bound."""
    stream, records = json_stream
    configure(format="json", stream=stream)
    logger = get_logger("tests.bind").bind(a=1, b=2)
    logger.unbind("a").info("unbound")
    record = _only(records)
    assert "a" not in record
    assert record["b"] == 2
    with pytest.raises(KeyError):
        logger.unbind("missing")


def test_try_unbind_ignores_missing_fields(json_stream: JsonStream) -> None:
    """try_unbind() drops the bound keys it finds and ignores the rest."""
    stream, records = json_stream
    configure(format="json", stream=stream)
    get_logger("tests.bind").bind(a=1, b=2).try_unbind("a", "missing").info("tried")
    record = _only(records)
    assert "a" not in record
    assert record["b"] == 2


# -- Levels ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        (logging.DEBUG, "debug"),
        (logging.WARNING, "warning"),
        (logging.CRITICAL, "critical"),
        (25, "info"),
        (45, "error"),
        ("debug", "debug"),
        ("WARNING", "warning"),
        ("error", "error"),
        ("critical", "critical"),
    ],
)
def test_log_accepts_level_numbers_and_names(
    json_stream: JsonStream, level: int | str, expected: str
) -> None:
    """log(level, ...) takes a logging level number or a level name."""
    stream, records = json_stream
    configure(format="json", stream=stream, level="DEBUG")
    get_logger("tests.levels").log(level, "via log", n=1)
    record = _only(records)
    assert record[keys.LEVEL] == expected
    assert record[keys.MESSAGE] == "via log"


@pytest.mark.parametrize(("method", "expected"), [("warn", "warning"), ("fatal", "critical")])
def test_stdlib_alias_methods_write_the_canonical_level(
    json_stream: JsonStream, method: str, expected: str
) -> None:
    """warn() and fatal() write warning and critical records."""
    stream, records = json_stream
    configure(format="json", stream=stream)
    getattr(get_logger("tests.levels"), method)("aliased")
    assert _only(records)[keys.LEVEL] == expected


@pytest.mark.parametrize(
    ("configured", "method", "written"),
    [
        ("INFO", "debug", False),
        ("INFO", "info", True),
        ("WARNING", "info", False),
        ("WARNING", "warning", True),
        ("ERROR", "warning", False),
        ("ERROR", "exception", True),
        ("CRITICAL", "error", False),
        ("CRITICAL", "critical", True),
        ("DEBUG", "debug", True),
    ],
)
def test_calls_below_the_configured_level_write_nothing(
    json_stream: JsonStream, configured: str, method: str, written: bool
) -> None:
    """A call below the configured level writes no line; at or above it writes one."""
    stream, _ = json_stream
    configure(format="json", stream=stream, level=configured)
    getattr(get_logger("tests.levels"), method)("maybe")
    assert len(stream.getvalue().splitlines()) == (1 if written else 0)


def test_log_below_level_writes_nothing(json_stream: JsonStream) -> None:
    """log() with a level under the configured one writes no line."""
    stream, _ = json_stream
    configure(format="json", stream=stream, level="WARNING")
    get_logger("tests.levels").log(logging.INFO, "quiet")
    get_logger("tests.levels").log("debug", "quiet")
    assert stream.getvalue() == ""


@pytest.mark.parametrize(
    ("configured", "level", "enabled"),
    [
        ("INFO", logging.DEBUG, False),
        ("INFO", logging.INFO, True),
        ("ERROR", logging.WARNING, False),
        ("ERROR", logging.CRITICAL, True),
    ],
)
def test_is_enabled_for_reflects_the_configured_level(
    configured: str, level: int, enabled: bool
) -> None:
    """is_enabled_for (and the stdlib spelling isEnabledFor) tell whether a level is written."""
    configure(format="json", stream=io.StringIO(), level=configured)
    logger = get_logger("tests.levels")
    assert logger.is_enabled_for(level) is enabled
    assert logger.isEnabledFor(level) is enabled


# -- The JSON record ---------------------------------------------------------------------------


def test_each_record_is_exactly_one_line(json_stream: JsonStream) -> None:
    """Every record is one line, even when its values contain newlines."""
    stream, records = json_stream
    configure(format="json", stream=stream)
    logger = get_logger("tests.json")
    logger.info("first\nline", text="a\nb\r\nc")
    logger.warning("second")
    assert stream.getvalue().count("\n") == 2
    assert [record[keys.MESSAGE] for record in records()] == ["first\nline", "second"]


TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN_ID = "00f067aa0ba902b7"


def test_record_keys_follow_schema_order_then_call_fields(json_stream: JsonStream) -> None:
    """The record is head keys, every set context key in schema order, then call fields."""
    stream, records = json_stream
    configure(
        format="json",
        stream=stream,
        service_name="user-service",
        service_version="1.4.0",
        log_operations=False,
    )
    FlextContext.Correlation.set_correlation_id("corr-1")
    FlextContext.Correlation.set_parent_correlation_id("parent-1")
    FlextContext.Service.set_environment("staging")
    with (
        FlextContext.Request.request_context(
            user_id="u1", operation_name="signup", request_id="req-1"
        ),
        FlextContext.Performance.timed_operation("db_insert"),
        FlextContext.Trace.span(trace_id=TRACE_ID, parent_span_id=SPAN_ID),
    ):
        get_logger("tests.json").info("user created", zeta=1, alpha=2)
    record = _only(records)
    assert list(record) == [*keys.HEAD_KEYS, keys.PROCESS_ID, *keys.CONTEXT_KEYS, "zeta", "alpha"]
    assert record == {
        keys.TIMESTAMP: record[keys.TIMESTAMP],
        keys.LEVEL: "info",
        keys.LOGGER: "tests.json",
        keys.MESSAGE: "user created",
        keys.PROCESS_ID: os.getpid(),
        keys.CORRELATION_ID: "corr-1",
        keys.PARENT_CORRELATION_ID: "parent-1",
        keys.TRACE_ID: TRACE_ID,
        keys.SPAN_ID: record[keys.SPAN_ID],
        keys.REQUEST_ID: "req-1",
        keys.SERVICE_NAME: "user-service",
        keys.SERVICE_VERSION: "1.4.0",
        keys.ENVIRONMENT: "staging",
        keys.USER_ID: "u1",
        keys.OPERATION_NAME: "signup",
        keys.OPERATION: "db_insert",
        "zeta": 1,
        "alpha": 2,
    }


def test_unset_context_keys_are_omitted(json_stream: JsonStream) -> None:
    """Context keys with no value do not appear in the record at all."""
    stream, records = json_stream
    configure(format="json", stream=stream)
    FlextContext.Request.set_user_id("u7")
    get_logger("tests.json").info("sparse")
    assert list(_only(records)) == [*keys.HEAD_KEYS, keys.PROCESS_ID, keys.USER_ID]


@pytest.mark.parametrize("method", ["debug", "info", "warning", "error", "critical"])
def test_level_is_written_in_lower_case(json_stream: JsonStream, method: str) -> None:
    """The level of each method is its lower-case name."""
    stream, records = json_stream
    configure(format="json", stream=stream, level="DEBUG")
    getattr(get_logger("tests.json"), method)("levelled")
    assert _only(records)[keys.LEVEL] == method


def test_timestamp_is_rfc3339_utc_with_z_suffix(json_stream: JsonStream) -> None:
    """The timestamp is an RFC 3339 UTC time ending in 'Z', close to now."""
    stream, records = json_stream
    configure(format="json", stream=stream)
    before = datetime.datetime.now(datetime.timezone.utc)
    get_logger("tests.json").info("timed")
    after = datetime.datetime.now(datetime.timezone.utc)
    text = _only(records)[keys.TIMESTAMP]
    assert text.endswith("Z")
    parsed = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    assert parsed.utcoffset() == datetime.timedelta(0)
    assert before - datetime.timedelta(seconds=1) <= parsed <= after + datetime.timedelta(seconds=1)


# -- Safety: odd values, failing processors and streams ----------------------------------------


def _cyclic_dict() -> dict[str, Any]:
    value: dict[str, Any] = {"name": "loop"}
    value["self"] = value
    return value


def _cyclic_list() -> list[Any]:
    value: list[Any] = [1]
    value.append(value)
    return value


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(object(), id="object"),
        pytest.param(b"\xff\x00bytes", id="bytes"),
        pytest.param({3, 1, 2}, id="set"),
        pytest.param(frozenset({"a"}), id="frozenset"),
        pytest.param(_cyclic_dict(), id="cyclic-dict"),
        pytest.param(_cyclic_list(), id="cyclic-list"),
        pytest.param(2**70, id="int-over-64-bits"),
        pytest.param(-(2**70), id="negative-int-over-64-bits"),
        pytest.param("\ud800", id="lone-surrogate"),
        pytest.param({"nested": "\udfff"}, id="nested-lone-surrogate"),
        pytest.param(float("nan"), id="nan"),
        pytest.param(float("inf"), id="infinity"),
        pytest.param(ReprRaises(), id="repr-raises"),
        pytest.param({(1, 2): "tuple key", None: "none key"}, id="non-str-keys"),
        pytest.param({1: "int key"}, id="int-keys"),
        pytest.param(datetime.date(2024, 1, 2), id="date"),
        pytest.param(ValueError("as value"), id="exception-value"),
        pytest.param(StrRaises(), id="exception-whose-str-raises"),
        pytest.param([ReprRaises(), {"deep": [object()]}], id="mixed-nested"),
    ],
)
def test_values_json_cannot_encode_still_give_one_valid_line(
    json_stream: JsonStream, value: object
) -> None:
    """A field JSON cannot encode still yields one valid JSON line with the other fields intact."""
    stream, records = json_stream
    configure(format="json", stream=stream)
    get_logger("tests.safety").info("odd value", value=value, marker="kept")
    assert stream.getvalue().count("\n") == 1
    record = _only(records)
    assert record[keys.MESSAGE] == "odd value"
    assert record[keys.LOGGER] == "tests.safety"
    assert record["marker"] == "kept"
    assert "value" in record
    assert record[keys.TIMESTAMP].endswith("Z")
    # Strict JSON: no NaN or Infinity tokens sneak through.
    json.loads(stream.getvalue(), parse_constant=pytest.fail)


def _raise_zero_division(logger: Any, method_name: str, event_dict: dict[str, Any]) -> Any:
    return 1 / 0


def _raise_key_error(logger: Any, method_name: str, event_dict: dict[str, Any]) -> Any:
    return event_dict["no such key"]


def _raise_type_error(logger: Any, method_name: str, event_dict: dict[str, Any]) -> Any:
    raise TypeError(event_dict)


@pytest.mark.parametrize(
    ("processor", "error_type"),
    [
        (_raise_zero_division, "ZeroDivisionError"),
        (_raise_key_error, "KeyError"),
        (_raise_type_error, "TypeError"),
    ],
)
def test_failing_processor_writes_minimal_record_and_never_raises(
    json_stream: JsonStream, processor: Any, error_type: str
) -> None:
    """A processor that raises leaves the caller unharmed and writes a 'logging_error' record."""
    stream, records = json_stream
    configure(format="json", stream=stream, processors=[processor])
    get_logger("tests.safety").warning("payment %s", "declined", amount=10)
    logging.getLogger("tests.safety.stdlib").error("stdlib %d", 5)
    from_logger, from_stdlib = records()
    assert from_logger[keys.LEVEL] == "warning"
    assert from_logger[keys.LOGGER] == "tests.safety"
    assert from_logger[keys.MESSAGE] == "payment declined"
    assert from_logger["logging_error"].startswith(f"{error_type}: ")
    assert from_logger[keys.TIMESTAMP].endswith("Z")
    assert from_stdlib[keys.LEVEL] == "error"
    assert from_stdlib[keys.LOGGER] == "tests.safety.stdlib"
    assert from_stdlib[keys.MESSAGE] == "stdlib 5"
    assert from_stdlib["logging_error"].startswith(f"{error_type}: ")


class _BrokenStream(io.StringIO):
    """A stream whose every write fails, like a full disk or a closed pipe."""

    def write(self, text: str) -> int:
        raise OSError("disk full")


class _FlushFails(io.StringIO):
    """A stream that accepts writes but whose flush fails."""

    def flush(self) -> None:
        raise OSError("flush failed")


def test_broken_stream_never_raises_and_reports_on_stderr(
    capfd: pytest.CaptureFixture[str],
) -> None:
    """When every write fails the caller is unharmed, the failure is reported once on
    stderr and every record is written there whole."""
    configure(format="json", stream=_BrokenStream())
    get_logger("tests.broken").error("cannot be written", order=1)
    logging.getLogger("tests.broken.stdlib").warning("neither can %s", "this")
    err = capfd.readouterr().err
    reports = [line for line in err.splitlines() if line.startswith("flext_logging:")]
    assert len(reports) == 1
    assert "OSError" in reports[0]
    first, second = (json.loads(line) for line in err.splitlines() if line.startswith("{"))
    assert (first[keys.LOGGER], first[keys.MESSAGE], first["order"]) == (
        "tests.broken",
        "cannot be written",
        1,
    )
    assert (second[keys.LOGGER], second[keys.MESSAGE]) == (
        "tests.broken.stdlib",
        "neither can this",
    )


def test_stream_that_fails_once_gets_the_whole_record_on_retry() -> None:
    """When the first write fails but the stream recovers, the record is written whole."""

    class FailsOnce(io.StringIO):
        failed = False

        def write(self, text: str) -> int:
            if not self.failed:
                self.failed = True
                raise OSError("transient")
            return super().write(text)

    stream = FailsOnce()
    configure(format="json", stream=stream)
    get_logger("tests.broken").info("retried", n=1)
    record = json.loads(stream.getvalue())
    assert (record[keys.MESSAGE], record["n"]) == ("retried", 1)


def test_stream_whose_flush_fails_never_raises(capfd: pytest.CaptureFixture[str]) -> None:
    """A stream whose flush raises does not raise into the caller; the line still lands."""
    stream = _FlushFails()
    configure(format="json", stream=stream)
    get_logger("tests.broken").info("flushed badly", n=1)
    first = json.loads(stream.getvalue().splitlines()[0])
    assert (first[keys.MESSAGE], first["n"]) == ("flushed badly", 1)
    assert "flushed badly" in capfd.readouterr().err


def _drop_noisy(logger: Any, method_name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    if event_dict.get(keys.EVENT) == "noisy":
        raise structlog.DropEvent
    return event_dict


def test_drop_event_from_a_processor_drops_only_that_record(json_stream: JsonStream) -> None:
    """A processor raising structlog.DropEvent drops the record silently; others are kept."""
    stream, records = json_stream
    configure(format="json", stream=stream, processors=[_drop_noisy])
    logger = get_logger("tests.drop")
    logger.info("noisy")
    logger.info("useful")
    logging.getLogger("tests.drop.stdlib").warning("noisy")
    assert [record[keys.MESSAGE] for record in records()] == ["useful"]


# -- Concurrency ------------------------------------------------------------------------------


def test_threads_logging_at_once_write_whole_lines(json_stream: JsonStream) -> None:
    """8 threads x 200 records to one stream give exactly 1600 valid JSON lines."""
    stream, records = json_stream
    configure(format="json", stream=stream)
    logger = get_logger("tests.threads")
    start = threading.Barrier(8)

    def work(worker: int) -> None:
        start.wait()
        for index in range(200):
            logger.info("tick", worker=worker, index=index, payload="x" * 100)

    threads = [threading.Thread(target=work, args=(worker,)) for worker in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    written = records()
    assert len(written) == 1600
    assert {(record["worker"], record["index"]) for record in written} == {
        (worker, index) for worker in range(8) for index in range(200)
    }


# -- The record head's process id ------------------------------------------------------------


def test_every_record_carries_the_process_id_after_the_head(json_stream: JsonStream) -> None:
    """process_id (os.getpid()) follows the four head keys on records of every kind."""
    stream, records = json_stream
    configure(format="json", stream=stream)
    get_logger("tests.pid").info("ours")
    logging.getLogger("tests.pid.stdlib").warning("foreign")
    for record in records():
        assert list(record)[:5] == [*keys.HEAD_KEYS, keys.PROCESS_ID]
        assert record[keys.PROCESS_ID] == os.getpid()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_writes_its_own_process_id() -> None:
    """After fork, the child's records name the child, not the parent it was copied from."""
    read_end, write_end = os.pipe()
    configure(format="json", stream=io.StringIO())
    with warnings.catch_warnings():  # Python 3.12+ warns when other threads exist
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: log to the pipe and leave without running the test's teardown
        try:
            with os.fdopen(write_end, "w") as pipe:
                configure(format="json", stream=pipe)
                get_logger("tests.pid").info("from the child")
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        line = pipe.read()
    os.waitpid(pid, 0)
    assert json.loads(line)[keys.PROCESS_ID] == pid != os.getpid()


def test_a_call_field_named_process_id_is_kept_beside_the_head(json_stream: JsonStream) -> None:
    """process_id= in a call (another process's id) is written as process_id_field."""
    stream, records = json_stream
    configure(format="json", stream=stream)
    get_logger("tests.pid").info("child exited", process_id=1234, logger="other")
    record = _only(records)
    assert record[keys.PROCESS_ID] == os.getpid()
    assert (record["process_id_field"], record["logger_field"]) == (1234, "other")
    assert record[keys.LOGGER] == "tests.pid"


# -- Call fields named like context keys (issue 12) ------------------------------------------


def test_a_call_field_named_like_a_context_id_is_validated_and_an_invalid_one_reported(
    json_stream: JsonStream,
) -> None:
    """request_id= in a call obeys the id grammar: a bad value is dropped and reported."""
    stream, records = json_stream
    configure(format="json", stream=stream)
    with FlextContext.Request.request_context(request_id="req-ctx"):
        get_logger("tests.ids").info("m", request_id="Bearer abcdef0123456789xyz")
    dropped, record = records()
    assert record[keys.REQUEST_ID] == "req-ctx"
    assert "Bearer" not in json.dumps(record)
    assert dropped[keys.MESSAGE] == keys.EVENT_INVALID_ID_DROPPED
    assert (dropped["field"], dropped["source"]) == (keys.REQUEST_ID, "call")


def test_a_valid_call_id_replaces_the_context_one_and_an_int_becomes_text(
    json_stream: JsonStream,
) -> None:
    """A usable call value takes the context key's place; user_id=42 is written as "42"."""
    stream, records = json_stream
    configure(format="json", stream=stream)
    with FlextContext.Request.request_context(request_id="req-ctx"):
        get_logger("tests.ids").info("m", plan="pro", user_id=42, request_id="req-call")
    record = _only(records)
    assert list(record)[5:] == [keys.REQUEST_ID, keys.USER_ID, "plan"]
    assert (record[keys.REQUEST_ID], record[keys.USER_ID]) == ("req-call", "42")


def test_a_bound_field_named_like_a_context_id_is_validated_too(json_stream: JsonStream) -> None:
    """logger.bind(correlation_id=...) with a value outside the id grammar never reaches a line."""
    stream, records = json_stream
    configure(format="json", stream=stream)
    get_logger("tests.ids").bind(correlation_id="a\nb").info("m")
    dropped, record = records()
    assert keys.CORRELATION_ID not in record
    assert dropped["field"] == keys.CORRELATION_ID


# -- The record path after configure() -------------------------------------------------------


def test_a_context_entered_before_configure_writes_the_new_service_identity(
    json_stream: JsonStream,
) -> None:
    """A long-lived context made before configure() picks up the new defaults, every record."""
    stream, records = json_stream
    configure(format="json", stream=io.StringIO(), service_name="old")
    with FlextContext.Request.request_context(user_id="u1"):
        configure(format="json", stream=stream, service_name="new")
        get_logger("tests.stale").info("one")
        get_logger("tests.stale").info("two")
        configure(format="json", stream=stream, service_name="newer")
        get_logger("tests.stale").info("three")
    assert [(r[keys.SERVICE_NAME], r[keys.USER_ID]) for r in records()] == [
        ("new", "u1"),
        ("new", "u1"),
        ("newer", "u1"),
    ]


def test_opentelemetry_imported_after_configure_still_gives_its_ids() -> None:
    """Spans of an OpenTelemetry imported after configure() are on the records made in them."""
    script = """
import io, json
from flext_logging import configure, get_logger
stream = io.StringIO()
configure(format="json", stream=stream)
get_logger("app").info("before")
from opentelemetry.sdk.trace import TracerProvider
tracer = TracerProvider().get_tracer("t")
with tracer.start_as_current_span("work") as span:
    get_logger("app").info("inside")
before, inside = [json.loads(line) for line in stream.getvalue().splitlines()]
assert "trace_id" not in before, before
assert inside["trace_id"] == format(span.get_span_context().trace_id, "032x"), inside
print("ok")
"""
    completed = run_python("-c", script)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "ok"


def test_structlog_style_msg_and_async_methods_write_records(json_stream: JsonStream) -> None:
    """msg() and the await-able adebug() ... alog() write as their synchronous twins."""
    stream, records = json_stream
    configure(format="json", stream=stream, level="DEBUG")
    logger = get_logger("tests.async")

    async def log_everything() -> None:
        await logger.adebug("d")
        await logger.ainfo("i")
        await logger.awarning("w")
        await logger.aerror("e")
        try:
            raise KeyError("k")
        except KeyError:
            await logger.aexception("x")
        await logger.acritical("c")
        await logger.alog("warning", "l")

    logger.msg("m")
    asyncio.run(log_everything())
    levels = [(r[keys.MESSAGE], r[keys.LEVEL]) for r in records() if r[keys.LOGGER] != "asyncio"]
    assert levels == [
        ("m", "info"),
        ("d", "debug"),
        ("i", "info"),
        ("w", "warning"),
        ("e", "error"),
        ("x", "error"),
        ("c", "critical"),
        ("l", "warning"),
    ]
