"""The logging bridge: JsonFormatter, ContextFilter, FlextHandler and record conversion."""

from __future__ import annotations

import datetime
import io
import json
import logging
import logging.config
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from flext_logging import (
    ContextFilter,
    FlextContext,
    JsonFormatter,
    _config,
    configure,
    get_logger,
    keys,
)
from flext_logging.processors import REDACTED
from flext_logging.stdlib import FlextHandler, event_dict_from_record

Records = Callable[[], list[dict[str, Any]]]


@pytest.fixture
def app_logger(request: pytest.FixtureRequest) -> Iterator[logging.Logger]:
    """A logging logger of the application, not propagating, emptied after the test."""
    logger = logging.getLogger(f"tests.stdlib.{request.node.name}")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    for log_filter in list(logger.filters):
        logger.removeFilter(log_filter)
    logger.propagate = True
    logger.setLevel(logging.NOTSET)


def _attach(
    logger: logging.Logger,
    formatter: logging.Formatter,
    *,
    context_filter: bool = False,
) -> tuple[io.StringIO, Records]:
    """Attach a StreamHandler(StringIO) with *formatter*; return the stream and a parser."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    if context_filter:
        handler.addFilter(ContextFilter())
    logger.addHandler(handler)

    def records() -> list[dict[str, Any]]:
        return [json.loads(line) for line in stream.getvalue().splitlines()]

    return stream, records


# -- JsonFormatter without configure() ---------------------------------------------------------


def test_json_formatter_writes_the_record_schema_without_configure(
    app_logger: logging.Logger,
) -> None:
    """JsonFormatter alone writes head, context in schema order, extra fields and redaction."""
    _, records = _attach(app_logger, JsonFormatter())
    FlextContext.Correlation.set_correlation_id("corr-7")
    FlextContext.Request.set_user_id("u1")
    app_logger.info("order %s placed", "A-1", extra={"amount": 12, "password": "p"})
    (record,) = records()
    assert list(record) == [
        *keys.HEAD_KEYS,
        keys.PROCESS_ID,
        keys.CORRELATION_ID,
        keys.USER_ID,
        "amount",
        "password",
    ]
    assert record[keys.LEVEL] == "info"
    assert record[keys.LOGGER] == app_logger.name
    assert record[keys.MESSAGE] == "order A-1 placed"
    assert record[keys.CORRELATION_ID] == "corr-7"
    assert record["amount"] == 12
    assert record["password"] == REDACTED
    assert record[keys.TIMESTAMP].endswith("Z")
    datetime.datetime.fromisoformat(record[keys.TIMESTAMP].replace("Z", "+00:00"))


def test_json_formatter_renders_exceptions_as_error_data(app_logger: logging.Logger) -> None:
    """An exception logged through JsonFormatter is error data, not a traceback string."""
    _, records = _attach(app_logger, JsonFormatter())
    try:
        raise TimeoutError("upstream slow")
    except TimeoutError:
        app_logger.exception("call failed")
    (record,) = records()
    assert record[keys.LEVEL] == "error"
    error = record[keys.ERROR]
    assert error[keys.ERROR_TYPE_NAME] == "TimeoutError"
    assert error[keys.ERROR_MESSAGE] == "upstream slow"
    assert error[keys.ERROR_STACK][-1][keys.FRAME_FUNCTION] == (
        "test_json_formatter_renders_exceptions_as_error_data"
    )
    assert "exc_info" not in record


def test_json_formatter_writes_stack_info(app_logger: logging.Logger) -> None:
    """stack_info=True through JsonFormatter writes the stack text under 'stack'."""
    _, records = _attach(app_logger, JsonFormatter())
    app_logger.warning("where", stack_info=True)
    (record,) = records()
    assert record[keys.STACK].startswith("Stack (most recent call last):")
    assert "test_json_formatter_writes_stack_info" in record[keys.STACK]


def test_json_formatter_keeps_a_record_with_a_bad_format() -> None:
    """A %-format that does not match its arguments still yields a record with both."""
    # Formatted directly: pytest's own capture handlers would raise on this record.
    record = logging.LogRecord("lib", logging.ERROR, __file__, 1, "%d items", ("many",), None)
    formatted = json.loads(JsonFormatter().format(record))
    assert formatted[keys.MESSAGE] == "%d items ('many',)"
    assert formatted[keys.LEVEL] == "error"


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"static_fields": {"app": "shop"}}, {"app": "shop", "action": "create"}),
        ({"rename_fields": {"action": "act"}}, {"act": "create"}),
        (
            {"static_fields": {"app": "shop"}, "rename_fields": {"action": "act"}},
            {"app": "shop", "act": "create"},
        ),
    ],
)
def test_python_json_logger_options_apply_to_extra_fields(
    app_logger: logging.Logger, options: dict[str, Any], expected: dict[str, Any]
) -> None:
    """static_fields and rename_fields work as in python-json-logger, after the head."""
    _, records = _attach(app_logger, JsonFormatter(**options))
    app_logger.info("saved", extra={"action": "create"})
    (record,) = records()
    assert {key: record[key] for key in record if key not in keys.RECORD_KEYS} == expected
    assert list(record)[:5] == [*keys.HEAD_KEYS, keys.PROCESS_ID]


def test_json_formatter_encodes_values_json_rejects(app_logger: logging.Logger) -> None:
    """Extra values JSON cannot encode still give one valid line."""
    stream, records = _attach(app_logger, JsonFormatter())
    cycle: dict[str, Any] = {}
    cycle["self"] = cycle
    app_logger.info("odd", extra={"tags": {"b"}, "raw": b"\xff", "loop": cycle, "big": 2**80})
    assert stream.getvalue().count("\n") == 1
    (record,) = records()
    assert record["tags"] == ["b"]
    assert record["big"] == str(2**80)
    assert record["loop"] == {"self": "<cycle dict>"}


def test_json_formatter_follows_the_configured_enrichers(app_logger: logging.Logger) -> None:
    """After configure(redaction=False) the formatter no longer redacts either."""
    configure(format="json", stream=io.StringIO(), redaction=False, capture_stdlib=False)
    _, records = _attach(app_logger, JsonFormatter())
    app_logger.info("raw", extra={"password": "visible"})
    (record,) = records()
    assert record["password"] == "visible"


def test_json_formatter_failing_processor_still_writes_a_record(
    app_logger: logging.Logger,
) -> None:
    """If an enricher raises, the formatter writes name, message and 'logging_error'."""

    def broken(logger: Any, method_name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("enricher bug")

    configure(format="json", stream=io.StringIO(), processors=[broken], capture_stdlib=False)
    _, records = _attach(app_logger, JsonFormatter())
    app_logger.warning("kept %s", "anyway")
    (record,) = records()
    assert record[keys.LOGGER] == app_logger.name
    assert record[keys.MESSAGE] == "kept anyway"
    assert "enricher bug" in record["logging_error"]


def test_user_processors_see_the_logging_logger_that_made_the_record() -> None:
    """A logging record reaches a user processor with its own logging.Logger (the root
    logger for the root's records), as structlog's stdlib processors expect."""
    seen: list[Any] = []

    def remember(logger: Any, method_name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
        seen.append(logger)
        return event_dict

    configure(format="json", stream=io.StringIO(), processors=[remember])
    library = logging.getLogger("tests.stdlib.library")
    library.warning("from a library")
    logging.getLogger().warning("from the root")
    try:
        raise ValueError("bad")
    except ValueError:
        library.exception("with its exception")
    assert seen == [library, logging.root, library]


def test_json_formatter_through_dict_config(
    app_logger: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    """dictConfig with '()': 'flext_logging.JsonFormatter' writes the schema to its stream."""
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {
                "json": {
                    "()": "flext_logging.JsonFormatter",
                    "static_fields": {"deployment": "blue"},
                }
            },
            "filters": {"context": {"()": "flext_logging.ContextFilter"}},
            "handlers": {
                "stdout": {
                    "class": "logging.StreamHandler",
                    "stream": "ext://sys.stdout",
                    "formatter": "json",
                    "filters": ["context"],
                }
            },
            "loggers": {
                app_logger.name: {"handlers": ["stdout"], "level": "INFO", "propagate": False}
            },
        }
    )
    FlextContext.Request.set_request_id("req-9")
    try:
        raise KeyError("sku")
    except KeyError:
        app_logger.error("missing %s", "item", exc_info=True, extra={"sku": "A1", "token": "t"})
    app_logger.debug("below INFO")
    (line,) = capsys.readouterr().out.splitlines()
    record = json.loads(line)
    assert list(record) == [
        *keys.HEAD_KEYS,
        keys.PROCESS_ID,
        keys.REQUEST_ID,
        "deployment",
        "sku",
        "token",
        keys.ERROR,
    ]
    assert record[keys.MESSAGE] == "missing item"
    assert record[keys.REQUEST_ID] == "req-9"
    assert record["token"] == REDACTED
    assert record[keys.ERROR][keys.ERROR_TYPE_NAME] == "KeyError"


# -- ContextFilter -------------------------------------------------------------------------------


def test_context_filter_lets_plain_formatters_use_context_keys(
    app_logger: logging.Logger,
) -> None:
    """A plain Formatter can name context keys: set ones show values, unset ones None."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(correlation_id)s %(user_id)s %(message)s"))
    handler.addFilter(ContextFilter())
    app_logger.addHandler(handler)
    app_logger.info("before")
    FlextContext.Correlation.set_correlation_id("corr-1")
    app_logger.info("after")
    assert stream.getvalue() == "None None before\ncorr-1 None after\n"


def test_context_filter_sets_every_context_key_and_keeps_the_record() -> None:
    """The filter keeps every record and sets each context key as an attribute."""
    FlextContext.Request.set_user_id("u5")
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", (), None)
    assert ContextFilter().filter(record) is True
    values = {key: getattr(record, key) for key in keys.CONTEXT_KEYS}
    assert values == {key: ("u5" if key == keys.USER_ID else None) for key in keys.CONTEXT_KEYS}


def test_context_filter_with_json_formatter_omits_unset_keys(
    app_logger: logging.Logger,
) -> None:
    """With ContextFilter and JsonFormatter together, unset context keys are still omitted."""
    _, records = _attach(app_logger, JsonFormatter(), context_filter=True)
    app_logger.info("bare")
    FlextContext.Correlation.set_correlation_id("corr-2")
    with FlextContext.Request.request_context(operation_name="checkout"):
        app_logger.info("with context", extra={"step": 2})
    bare, with_context = records()
    assert list(bare) == [*keys.HEAD_KEYS, keys.PROCESS_ID]
    assert list(with_context) == [
        *keys.HEAD_KEYS,
        keys.PROCESS_ID,
        keys.CORRELATION_ID,
        keys.OPERATION_NAME,
        "step",
    ]
    assert None not in with_context.values()


# -- FlextHandler and record conversion ---------------------------------------------------------


def test_flext_handler_sends_records_through_the_active_pipeline(
    app_logger: logging.Logger,
) -> None:
    """A FlextHandler attached by hand writes through whatever configure() set up."""
    stream = io.StringIO()
    configure(format="logfmt", stream=stream, capture_stdlib=False)
    app_logger.addHandler(FlextHandler())
    app_logger.warning("hand %s", "wired", extra={"n": 1})
    line = stream.getvalue()
    assert line.endswith(
        f' logger={app_logger.name} message="hand wired" process_id={os.getpid()} n=1\n'
    )


def test_event_dict_from_record_collects_head_extras_exception_and_stack() -> None:
    """A LogRecord becomes an event dict with its name, message, extras, exc_info and stack."""
    try:
        raise ValueError("v")
    except ValueError:
        exc_info = sys.exc_info()
    record = logging.LogRecord("lib", logging.ERROR, __file__, 10, "n=%d", (5,), exc_info)
    record.stack_info = "Stack (most recent call last):\n  here"
    record.order_id = 3
    record.correlation_id = None  # as ContextFilter sets an unset key
    record.user_id = "u1"
    event_dict = event_dict_from_record(record)
    assert event_dict == {
        "order_id": 3,
        keys.USER_ID: "u1",
        keys.TIMESTAMP: datetime.datetime.fromtimestamp(record.created, datetime.timezone.utc),
        keys.LOGGER: "lib",
        "event": "n=5",
        "exc_info": exc_info,
        keys.STACK: "Stack (most recent call last):\n  here",
    }


def test_extra_fields_keep_the_order_they_were_given_in(
    json_stream: tuple[io.StringIO, Callable[[], list[dict[str, Any]]]],
) -> None:
    """Fields passed with extra= come out in the caller's order, after the context."""
    stream, records = json_stream
    configure(format="json", stream=stream)
    names = ["zeta", "alpha", "mid", "beta", "omega", "gamma"]
    logging.getLogger("lib.order").warning("ordered", extra=dict.fromkeys(names, 1))
    (record,) = records()
    assert list(record)[-len(names) :] == names


def test_attributes_set_after_a_record_was_made_follow_the_extra_rules(
    json_stream: tuple[io.StringIO, Callable[[], list[dict[str, Any]]]],
) -> None:
    """What a filter (or another handler's formatter) adds to a record: a field if its
    name is ours to write, never a reserved or private name, the same for every record
    (the names found plain are remembered, and a new name is still looked at)."""
    stream, records = json_stream
    configure(format="json", stream=stream)

    class Adding(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            record.message = "set by a formatter"  # reserved: logging's own
            record.asctime = "yesterday"
            record._private = "hidden"
            record.tenant = "t-9"
            return True

    library = logging.getLogger("lib.adding")
    library.addFilter(Adding())
    try:
        for _ in range(3):
            library.warning("kept %s", "once", extra={"order": 1})
        library.warning("later", extra={"_other": 1, "region": "eu"})
    finally:
        library.filters.clear()
    written = records()
    assert len(written) == 4
    for record in written[:3]:
        assert record[keys.MESSAGE] == "kept once"
        assert list(record)[-2:] == ["order", "tenant"]
        assert "_private" not in record
        assert "asctime" not in record
    assert written[3]["region"] == "eu"
    assert "_other" not in written[3]
    assert "_private" not in written[3]


def test_a_record_subclass_gives_its_own_message(
    json_stream: tuple[io.StringIO, Callable[[], list[dict[str, Any]]]],
) -> None:
    """A record factory whose records format their message otherwise ({}-style, as some
    libraries install) is written with the message its getMessage() gives."""
    stream, records = json_stream
    configure(format="json", stream=stream)

    class BraceRecord(logging.LogRecord):
        def getMessage(self) -> str:
            return str(self.msg).format(*self.args)

    previous = logging.getLogRecordFactory()
    logging.setLogRecordFactory(BraceRecord)
    try:
        logging.getLogger("lib.brace").warning("paid {} of {}", 3, 5, extra={"n": 1})  # noqa: PLE1205 - {}-style on purpose
    finally:
        logging.setLogRecordFactory(previous)
    (record,) = records()
    assert record[keys.MESSAGE] == "paid 3 of 5"
    assert record["n"] == 1


def test_a_bad_percent_format_from_a_library_keeps_text_and_arguments(
    json_stream: tuple[io.StringIO, Callable[[], list[dict[str, Any]]]],
) -> None:
    """A library's mismatched %-format is not lost: the text and the arguments are kept."""
    stream, records = json_stream
    configure(format="json", stream=stream)
    # Handed to our handler alone: pytest's capture handler raises on such a record.
    FlextHandler().handle(
        logging.LogRecord("lib.bad", logging.WARNING, __file__, 1, "%d items", ("many",), None)
    )
    (record,) = records()
    assert record[keys.MESSAGE].startswith("%d items")
    assert "many" in record[keys.MESSAGE]


# -- Routing the logging module: handlers that appear later, handlers that stay ---------------


@pytest.fixture
def library(request: pytest.FixtureRequest) -> Iterator[logging.Logger]:
    """A logging logger of a library or server, emptied and propagating after the test."""
    logger = logging.getLogger(f"tests.routing.{request.node.name}")
    yield logger
    _config.reset()  # puts back what configure() removed, so it can be removed here
    logger.handlers = []
    logger.propagate = True


def _lines(stream: io.StringIO) -> list[str]:
    return [json.loads(line)[keys.MESSAGE] for line in stream.getvalue().splitlines()]


def test_loggers_sharing_one_handler_list_are_all_routed(
    library: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    """gunicorn's uvicorn worker hands uvicorn.error gunicorn.error's handler list itself."""
    shared = logging.getLogger(library.name + ".server")
    library.addHandler(logging.StreamHandler(sys.stderr))
    library.propagate = False
    twin = logging.getLogger(library.name + ".twin")
    twin.handlers = library.handlers  # the same list object, as the worker does
    twin.propagate = False
    stream = io.StringIO()
    configure(format="json", stream=stream)
    library.info("server line")
    twin.info("twin line")
    shared.info("child line")
    assert _lines(stream) == ["server line", "twin line", "child line"]
    assert capsys.readouterr().err == ""


def test_a_logger_given_an_emptied_list_after_configure_is_routed_in_a_forked_child(
    library: logging.Logger, tmp_path: Any
) -> None:
    """With --preload, configure() runs before the worker shares the list; then it forks."""
    library.addHandler(logging.StreamHandler(sys.stderr))
    library.propagate = False
    path = tmp_path / "child.log"
    with path.open("w") as stream:
        configure(format="json", stream=stream)
        twin = logging.getLogger(library.name + ".twin")
        twin.handlers = library.handlers  # emptied by configure()
        twin.propagate = False
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child's coverage is not collected
            twin.warning("from the child")
            stream.flush()
            os._exit(0)
        os.waitpid(pid, 0)
    assert [json.loads(line)[keys.MESSAGE] for line in path.read_text().splitlines()] == [
        "from the child"
    ]


def test_console_handler_added_after_configure_never_writes(
    library: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    """A server installing its handler later (gunicorn on SIGHUP) is routed before its line."""
    stream = io.StringIO()
    configure(format="json", stream=stream)
    library.addHandler(logging.StreamHandler(sys.stderr))
    library.propagate = False
    library.warning("after the reload")
    assert _lines(stream) == ["after the reload"]
    assert capsys.readouterr().err == ""


def test_logging_record_factory_is_left_as_it_was_once_routing_has_settled(
    library: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    """Routing a handler made later costs the records after it nothing: the factory that
    looked for it stands down once it has routed."""
    original = logging.getLogRecordFactory()
    stream = io.StringIO()
    configure(format="json", stream=stream)
    library.addHandler(logging.StreamHandler(sys.stderr))
    library.propagate = False
    library.warning("first after the handler")
    library.warning("second after the handler")
    assert logging.getLogRecordFactory() is original
    assert _lines(stream) == ["first after the handler", "second after the handler"]
    assert capsys.readouterr().err == ""


def test_every_console_handler_made_later_is_routed(
    library: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    """Reloads one after the other (gunicorn's SIGHUP, twice): each new handler gives way."""
    stream = io.StringIO()
    configure(format="json", stream=stream)
    for reload in range(3):
        library.addHandler(logging.StreamHandler(sys.stderr))
        library.propagate = False
        library.warning(f"after reload {reload}")
    assert _lines(stream) == [f"after reload {reload}" for reload in range(3)]
    assert capsys.readouterr().err == ""


def test_handlers_made_later_are_routed_under_a_factory_that_wraps_logging_s(
    library: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    """A factory installed over the one in force (OpenTelemetry's LoggingInstrumentor
    wraps it) keeps its records, and handlers made before and after it still give way."""
    original = logging.getLogRecordFactory()
    stream = io.StringIO()
    configure(format="json", stream=stream)
    library.addHandler(logging.StreamHandler(sys.stderr))
    library.propagate = False
    wrapped = logging.getLogRecordFactory()

    def marking(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = wrapped(*args, **kwargs)
        record.marked = True
        return record

    logging.setLogRecordFactory(marking)
    try:
        library.warning("before the second handler")
        other = logging.getLogger(library.name + ".other")
        other.addHandler(logging.StreamHandler(sys.stderr))
        other.propagate = False
        other.warning("after the second handler")
        assert logging.getLogRecordFactory() is marking
    finally:
        logging.setLogRecordFactory(original)
        other.handlers = []
        other.propagate = True
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line[keys.MESSAGE] for line in lines] == [
        "before the second handler",
        "after the second handler",
    ]
    assert all(line["marked"] is True for line in lines)
    assert capsys.readouterr().err == ""


def test_dict_config_after_configure_writes_no_line_twice(
    library: logging.Logger, capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    """logging.config.dictConfig after configure(): its console handlers give way, files stay."""
    stream = io.StringIO()
    configure(format="json", stream=stream)
    log_file = tmp_path / "app.log"
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "handlers": {
                "console": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr"},
                "file": {"class": "logging.FileHandler", "filename": str(log_file)},
            },
            "loggers": {library.name: {"handlers": ["console"], "propagate": True}},
            "root": {"handlers": ["console", "file"], "level": "INFO"},
        }
    )
    library.warning("library line")
    get_logger("tests.routing").info("our line")
    assert _lines(stream) == ["library line", "our line"]
    assert capsys.readouterr().err == ""
    assert log_file.read_text().splitlines() == ["library line", "our line"]
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.close()


def test_handlers_of_other_tools_stay_and_receive_our_records_with_their_fields(
    library: logging.Logger,
) -> None:
    """A capture handler on the root logger keeps working and gets get_logger() records too."""
    captured: list[logging.LogRecord] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            captured.append(record)

    capture = Capture()
    logging.getLogger().addHandler(capture)
    stream = io.StringIO()
    configure(format="json", stream=stream, service_name="billing")
    FlextContext.Request.set_request_id("req-4")
    get_logger("tests.routing").info("ours", amount=3)
    library.warning("theirs")
    assert capture in logging.getLogger().handlers
    assert [record.getMessage() for record in captured] == ["ours", "theirs"]
    ours = captured[0]
    assert (ours.name, ours.levelno, ours.request_id, ours.amount) == (
        "tests.routing",
        logging.INFO,
        "req-4",
        3,
    )
    assert ours.service_name == "billing"
    assert _lines(stream) == ["ours", "theirs"]


def test_opentelemetry_logging_handler_is_kept_and_exports_every_record() -> None:
    """OpenTelemetry's LoggingHandler on the root logger survives configure() and gets ours."""
    pytest.importorskip("opentelemetry.instrumentation.logging")
    from opentelemetry.instrumentation.logging.handler import LoggingHandler
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor

    provider = LoggerProvider()
    exporter = InMemoryLogRecordExporter()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    handler = LoggingHandler(logger_provider=provider)
    logging.getLogger().addHandler(handler)  # what LoggingInstrumentor().instrument() does
    try:
        configure(format="json", stream=io.StringIO())
        FlextContext.Request.set_request_id("req-5")
        get_logger("tests.otel").info("ours", attempt=2)
        logging.getLogger("tests.otel.lib").warning("theirs")
        assert handler in logging.getLogger().handlers
        exported = [item.log_record for item in exporter.get_finished_logs()]
        assert [record.body for record in exported] == ["ours", "theirs"]
        assert dict(exported[0].attributes or {}) == {
            "process_id": os.getpid(),
            "request_id": "req-5",
            "attempt": 2,
        }
    finally:
        logging.getLogger().removeHandler(handler)
        provider.shutdown()


def test_uvicorns_color_message_is_not_copied_into_records() -> None:
    """uvicorn passes its message again with ANSI colours as extra=; it is not a field."""
    record = logging.LogRecord("uvicorn.error", logging.INFO, "", 0, "Started %s", ("x",), None)
    record.color_message = "Started \x1b[36m%s\x1b[0m"
    event_dict = event_dict_from_record(record)
    assert "color_message" not in event_dict
    formatted = json.loads(JsonFormatter().format(record))
    assert "color_message" not in formatted
    assert formatted[keys.MESSAGE] == "Started x"
