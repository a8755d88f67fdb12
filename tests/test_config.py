"""configure(): formats, levels, environment variables, presets and stdlib routing."""

from __future__ import annotations

import io
import itertools
import json
import logging
import re
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from flext_logging import (
    FlextContext,
    FlextExceptions,
    _config,
    configure,
    get_logger,
    keys,
    settings,
)

JsonStream = tuple[io.StringIO, Callable[[], list[dict[str, Any]]]]

CONSOLE_LINE = re.compile(r"^\d\d:\d\d:\d\d\.\d{3} info +hello +\[tests\.config\]")


class TerminalStream(io.StringIO):
    """A StringIO that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def library_logger(request: pytest.FixtureRequest) -> Iterator[logging.Logger]:
    """A stdlib logger of a pretend library, left without handlers after the test."""
    logger = logging.getLogger(f"tests.library.{request.node.name}")
    yield logger
    _config.reset()  # puts back what configure() took away, so it can be removed here
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    logger.propagate = True
    logger.setLevel(logging.NOTSET)


def _messages(stream: io.StringIO) -> list[str]:
    return [json.loads(line)[keys.MESSAGE] for line in stream.getvalue().splitlines()]


# -- Formats ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("format_name", "pattern"),
    [
        (
            "json",
            r'^\{"timestamp":"[^"]+Z","level":"info","logger":"tests\.config","message":"hello"',
        ),
        ("JSON", r'^\{"timestamp":"[^"]+Z","level":"info"'),
        (
            "logfmt",
            r"^timestamp=\S+Z level=info logger=tests\.config message=hello process_id=\d+$",
        ),
        ("console", CONSOLE_LINE.pattern),
    ],
)
def test_format_option_selects_the_renderer(format_name: str, pattern: str) -> None:
    """format= picks JSON lines, logfmt or the console renderer (case-insensitively)."""
    stream = io.StringIO()
    configure(format=format_name, stream=stream)
    get_logger("tests.config").info("hello")
    (line,) = stream.getvalue().splitlines()
    assert re.match(pattern, line), line


@pytest.mark.parametrize(
    ("stream", "is_console"), [(TerminalStream(), True), (io.StringIO(), False)]
)
def test_auto_format_is_console_on_a_terminal_and_json_otherwise(
    stream: io.StringIO, is_console: bool
) -> None:
    """format='auto' (the default) renders for people on a terminal and JSON elsewhere."""
    configure(stream=stream)
    get_logger("tests.config").info("hello")
    line = stream.getvalue().splitlines()[0]
    if is_console:
        assert not line.startswith("{")
        assert "hello" in line
    else:
        assert json.loads(line)[keys.MESSAGE] == "hello"


def test_default_stream_is_stdout_looked_up_per_record(capsys: pytest.CaptureFixture[str]) -> None:
    """Without stream=, records go to whatever sys.stdout is when they are written."""
    configure(format="json")
    get_logger("tests.config").info("to stdout")
    out = capsys.readouterr().out
    assert json.loads(out)[keys.MESSAGE] == "to stdout"


# -- Invalid options -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"format": "xml"}, "format must be one of auto, json, console, logfmt, not 'xml'"),
        ({"level": "verbose"}, "unknown log level 'verbose'"),
        ({"level": ""}, "unknown log level ''"),
    ],
)
def test_invalid_format_or_level_raises_a_clear_value_error(
    options: dict[str, Any], message: str
) -> None:
    """An unknown format or level raises ValueError naming the bad value and the choices."""
    with pytest.raises(ValueError, match=re.escape(message)):
        configure(**options)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("FLEXT_LOG_FORMAT", "yaml", "format must be one of"),
        ("FLEXT_LOG_LEVEL", "loud", "unknown log level 'loud'"),
    ],
)
def test_invalid_environment_variable_raises_a_clear_value_error(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    """A bad FLEXT_LOG_FORMAT or FLEXT_LOG_LEVEL makes configure() raise ValueError."""
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError, match=re.escape(message)):
        configure()


def test_bool_level_is_rejected() -> None:
    """level=True is a mistake, not level 1: it raises TypeError."""
    with pytest.raises(TypeError, match="not a bool"):
        configure(level=True)


def test_failed_configure_keeps_the_previous_configuration() -> None:
    """A configure() call that raises leaves the configuration in force unchanged."""
    stream = io.StringIO()
    configure(format="json", stream=stream)
    with pytest.raises(ValueError, match="format must be one of"):
        configure(format="xml", stream=io.StringIO())
    get_logger("tests.config").info("still here")
    assert _messages(stream) == ["still here"]


# -- Levels ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "number"),
    [
        ("debug", logging.DEBUG),
        ("DEBUG", logging.DEBUG),
        (" info ", logging.INFO),
        ("Warn", logging.WARNING),
        ("warning", logging.WARNING),
        ("error", logging.ERROR),
        ("CRITICAL", logging.CRITICAL),
        ("25", 25),
        (logging.DEBUG, logging.DEBUG),
        (35, 35),
    ],
)
def test_level_accepts_names_and_numbers(level: int | str, number: int) -> None:
    """level= takes a level name in any case or a number; records below it are not written."""
    configure(format="json", stream=io.StringIO(), level=level)
    logger = get_logger("tests.config")
    assert logger.is_enabled_for(number)
    assert not logger.is_enabled_for(number - 1)
    assert logging.getLogger().level == number


def test_level_applies_to_stdlib_records(library_logger: logging.Logger) -> None:
    """Records of logging loggers below the configured level are not written either."""
    stream = io.StringIO()
    configure(format="json", stream=stream, level="WARNING")
    library_logger.info("quiet")
    library_logger.warning("loud")
    assert _messages(stream) == ["loud"]


# -- Environment variables and presets -----------------------------------------------------


def test_format_and_level_come_from_environment_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """FLEXT_LOG_FORMAT and FLEXT_LOG_LEVEL set the format and level configure() uses."""
    monkeypatch.setenv("FLEXT_LOG_FORMAT", "logfmt")
    monkeypatch.setenv("FLEXT_LOG_LEVEL", "warning")
    stream = io.StringIO()
    configure(stream=stream)
    logger = get_logger("tests.config")
    logger.info("hidden")
    logger.warning("shown")
    (line,) = stream.getvalue().splitlines()
    assert re.search(r" level=warning logger=tests.config message=shown process_id=\d+$", line)


@pytest.mark.parametrize(
    ("variable", "key", "value"),
    [
        ("FLEXT_SERVICE_NAME", keys.SERVICE_NAME, "billing"),
        ("FLEXT_SERVICE_VERSION", keys.SERVICE_VERSION, "2.3.1"),
        ("FLEXT_ENVIRONMENT", keys.ENVIRONMENT, "staging"),
    ],
)
def test_service_identity_comes_from_environment_variables(
    monkeypatch: pytest.MonkeyPatch, json_stream: JsonStream, variable: str, key: str, value: str
) -> None:
    """FLEXT_SERVICE_NAME, FLEXT_SERVICE_VERSION and FLEXT_ENVIRONMENT appear on every record."""
    monkeypatch.setenv(variable, value)
    stream, records = json_stream
    configure(format="json", stream=stream)
    get_logger("tests.config").info("hello")
    logging.getLogger("tests.config.stdlib").warning("from logging")
    assert [record[key] for record in records()] == [value, value]


def test_explicit_arguments_beat_environment_variables(
    monkeypatch: pytest.MonkeyPatch, json_stream: JsonStream
) -> None:
    """Arguments given to configure() win over every FLEXT_* variable."""
    for variable, value in {
        "FLEXT_LOG_FORMAT": "console",
        "FLEXT_LOG_LEVEL": "ERROR",
        "FLEXT_SERVICE_NAME": "from-env",
        "FLEXT_SERVICE_VERSION": "0.0.1",
        "FLEXT_ENVIRONMENT": "development",
    }.items():
        monkeypatch.setenv(variable, value)
    stream, records = json_stream
    configure(
        format="json",
        level="INFO",
        stream=stream,
        service_name="explicit",
        service_version="9.9.9",
        environment="staging",
    )
    get_logger("tests.config").info("hello")
    (record,) = records()
    assert record[keys.SERVICE_NAME] == "explicit"
    assert record[keys.SERVICE_VERSION] == "9.9.9"
    assert record[keys.ENVIRONMENT] == "staging"


def test_environment_variables_beat_the_preset(monkeypatch: pytest.MonkeyPatch) -> None:
    """FLEXT_LOG_FORMAT and FLEXT_LOG_LEVEL override what the environment preset would choose."""
    monkeypatch.setenv("FLEXT_LOG_FORMAT", "json")
    monkeypatch.setenv("FLEXT_LOG_LEVEL", "ERROR")
    stream = io.StringIO()
    configure(environment="development", stream=stream)
    logger = get_logger("tests.config")
    logger.warning("below ERROR")
    logger.error("hello")
    assert _messages(stream) == ["hello"]


@pytest.mark.parametrize("given_by", ["argument", "variable"])
def test_development_preset_is_console_at_debug(
    monkeypatch: pytest.MonkeyPatch, given_by: str
) -> None:
    """environment='development' (or FLEXT_ENVIRONMENT) renders for people and shows debug."""
    stream = io.StringIO()
    if given_by == "argument":
        configure(environment="development", stream=stream, console_width=120)
    else:
        monkeypatch.setenv("FLEXT_ENVIRONMENT", "development")
        configure(stream=stream, console_width=120)
    get_logger("tests.config").debug("details")
    line = stream.getvalue()
    assert re.match(r"^\d\d:\d\d:\d\d\.\d{3} debug +details +\[tests\.config\]", line), line
    assert FlextContext.Service.get_environment() == "development"


def _recurse(depth: int) -> None:
    if depth == 0:
        raise RecursionError("deep")
    _recurse(depth - 1)


@pytest.mark.parametrize("given_by", ["argument", "variable"])
def test_production_preset_is_json_at_info_with_30_frames(
    monkeypatch: pytest.MonkeyPatch, json_stream: JsonStream, given_by: str
) -> None:
    """environment='production' writes JSON at INFO and keeps the innermost 30 error frames."""
    stream, records = json_stream
    if given_by == "argument":
        configure(environment="production", stream=stream)
    else:
        monkeypatch.setenv("FLEXT_ENVIRONMENT", "production")
        configure(stream=stream)
    logger = get_logger("tests.config")
    logger.debug("hidden")
    try:
        _recurse(40)
    except RecursionError:
        logger.exception("too deep")
    (record,) = records()
    assert record[keys.ENVIRONMENT] == "production"
    error = record[keys.ERROR]
    assert len(error[keys.ERROR_STACK]) == 30
    assert error[keys.ERROR_TRUNCATED_FRAMES] == 42 - 30
    assert error[keys.ERROR_STACK][-1][keys.FRAME_FUNCTION] == "_recurse"
    assert FlextExceptions.get_error_handling_config().value["max_frames"] == 30


def test_reset_returns_error_handling_to_its_defaults() -> None:
    """reset() undoes the error-handling preset an environment applied."""
    configure(environment="production", stream=io.StringIO())
    _config.reset()
    assert FlextExceptions.get_error_handling_config().value["max_frames"] == 50


@pytest.mark.parametrize(
    ("environment", "format_name", "level"),
    [
        ("development", "console", "DEBUG"),
        ("test", "json", "DEBUG"),
        ("staging", "json", "INFO"),
        ("production", "json", "INFO"),
    ],
)
def test_environment_settings_describe_each_preset(
    environment: str, format_name: str, level: str
) -> None:
    """environment_settings() returns the preset configure(environment=...) applies."""
    preset = settings.environment_settings(environment).value
    assert (preset["format"], preset["level"], preset["redaction"]) == (
        format_name,
        level,
        True,
    )
    assert preset["error_handling"]["environment"] == environment


def test_environment_settings_reject_an_unknown_environment() -> None:
    """An unknown environment is a failed result naming the known ones."""
    result = settings.environment_settings("moon")
    assert result.is_failure
    assert result.error == (
        "unknown environment 'moon'; expected one of development, production, staging, test"
    )


# -- Before configure() ----------------------------------------------------------------------


def _without_pytest_handlers() -> None:
    """Leave the root logger as in a program that never configured logging.

    Called in the test body: pytest adds its capture handlers when the test's call
    starts, and the pipeline in force before configure() hands records to them.
    The autouse fixture puts them back.
    """
    logging.getLogger().handlers.clear()


def test_default_pipeline_follows_environment_variables(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before configure(), loggers already honour FLEXT_LOG_FORMAT and FLEXT_LOG_LEVEL."""
    _without_pytest_handlers()
    monkeypatch.setenv("FLEXT_LOG_FORMAT", "logfmt")
    monkeypatch.setenv("FLEXT_LOG_LEVEL", "ERROR")
    logger = get_logger("tests.config")
    logger.warning("hidden")
    logger.error("shown")
    out = capsys.readouterr().out
    assert re.search(r" level=error logger=tests.config message=shown process_id=\d+\n$", out)


def test_default_pipeline_survives_a_bad_level_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad FLEXT_LOG_LEVEL before configure() falls back to INFO instead of failing."""
    _without_pytest_handlers()
    monkeypatch.setenv("FLEXT_LOG_LEVEL", "loud")
    monkeypatch.setenv("FLEXT_LOG_FORMAT", "json")
    logger = get_logger("tests.config")
    logger.debug("hidden")
    logger.info("shown")
    assert json.loads(capsys.readouterr().out)[keys.MESSAGE] == "shown"


# -- Other options -----------------------------------------------------------------------------


@pytest.mark.parametrize("log_operations", [True, False])
def test_log_operations_controls_operation_records(
    json_stream: JsonStream, log_operations: bool
) -> None:
    """configure(log_operations=False) stops the operation_finished records of timed_operation."""
    stream, records = json_stream
    configure(format="json", stream=stream, log_operations=log_operations)
    with FlextContext.Performance.timed_operation("sync"):
        get_logger("tests.config").info("inside")
    messages = [record[keys.MESSAGE] for record in records()]
    expected = ["inside", keys.EVENT_OPERATION_FINISHED] if log_operations else ["inside"]
    assert messages == expected


def test_extra_processors_see_the_record_with_event_before_redaction(
    json_stream: JsonStream,
) -> None:
    """processors= see head, context and fields with the message as 'event', unredacted."""
    seen: list[dict[str, Any]] = []

    def spy(logger: Any, method_name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
        seen.append(dict(event_dict))
        return event_dict

    stream, records = json_stream
    configure(format="json", stream=stream, processors=[spy])
    FlextContext.Correlation.set_correlation_id("c-1")
    get_logger("tests.config").info("hello", password="p")
    (record,) = seen
    assert list(record) == [
        keys.TIMESTAMP,
        keys.LEVEL,
        keys.LOGGER,
        keys.EVENT,
        keys.PROCESS_ID,
        keys.CORRELATION_ID,
        "password",
    ]
    assert (record[keys.EVENT], record["password"]) == ("hello", "p")
    (written,) = records()
    assert list(written)[:5] == [*keys.HEAD_KEYS, keys.PROCESS_ID]
    assert (written[keys.MESSAGE], written["password"]) == ("hello", "[REDACTED]")


def test_configure_twice_writes_each_record_once(
    json_stream: JsonStream, library_logger: logging.Logger
) -> None:
    """configure() is idempotent: after two calls every record is still written once."""
    stream, _ = json_stream
    configure(format="json", stream=stream)
    configure(format="json", stream=stream)
    get_logger("tests.config").info("from flext")
    library_logger.warning("from logging")
    logging.getLogger().error("from root")
    assert _messages(stream) == ["from flext", "from logging", "from root"]


# -- Routing the logging module ----------------------------------------------------------------


def test_root_and_library_loggers_go_through_the_pipeline(
    json_stream: JsonStream, library_logger: logging.Logger
) -> None:
    """logging records get the same schema, their extra= fields and the current context."""
    stream, records = json_stream
    configure(format="json", stream=stream, service_name="svc")
    library_logger.setLevel(logging.DEBUG)
    with FlextContext.Request.request_context(user_id="u1", request_id="req-1"):
        library_logger.info("created %s", "order", extra={"action": "create", "order_id": 7})
        logging.getLogger().warning("root says %d", 3)
    from_library, from_root = records()
    assert list(from_library) == [
        *keys.HEAD_KEYS,
        keys.PROCESS_ID,
        keys.REQUEST_ID,
        keys.SERVICE_NAME,
        keys.USER_ID,
        "action",
        "order_id",
    ]
    assert from_library[keys.LOGGER] == library_logger.name
    assert from_library[keys.LEVEL] == "info"
    assert from_library[keys.MESSAGE] == "created order"
    assert (from_library["action"], from_library["order_id"]) == ("create", 7)
    assert from_root[keys.LOGGER] == "root"
    assert from_root[keys.LEVEL] == "warning"
    assert from_root[keys.MESSAGE] == "root says 3"
    assert from_root[keys.USER_ID] == "u1"


def test_stdlib_exception_and_stack_are_rendered(
    json_stream: JsonStream, library_logger: logging.Logger
) -> None:
    """logging's exc_info and stack_info arrive as error data and stack text."""
    stream, records = json_stream
    configure(format="json", stream=stream)
    try:
        raise ConnectionRefusedError("db refused")
    except ConnectionRefusedError:
        library_logger.exception("connect failed", stack_info=True)
    (record,) = records()
    assert record[keys.LEVEL] == "error"
    assert record[keys.ERROR][keys.ERROR_TYPE_NAME] == "ConnectionRefusedError"
    assert record[keys.ERROR][keys.ERROR_MESSAGE] == "db refused"
    assert record[keys.STACK].startswith("Stack (most recent call last):")


def test_stdlib_bad_format_string_keeps_the_record(
    json_stream: JsonStream, library_logger: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    """A logging call whose %-format fails is written with message and args, not dropped."""
    _without_pytest_handlers()  # configure() keeps them, and they raise on this record
    stream, records = json_stream
    configure(format="json", stream=stream)
    library_logger.warning("bad %d", "x")
    (record,) = records()
    assert record[keys.MESSAGE] == "bad %d ('x',)"
    assert "Traceback" not in capsys.readouterr().err


def _root_console_handler(library: logging.Logger) -> None:
    logging.getLogger().addHandler(logging.StreamHandler())  # what basicConfig() adds


def _library_stderr_handler(library: logging.Logger) -> None:
    library.addHandler(logging.StreamHandler(sys.stderr))


def _library_stdout_handler_without_propagation(library: logging.Logger) -> None:
    library.addHandler(logging.StreamHandler(sys.stdout))
    library.propagate = False


def _basic_config(library: logging.Logger) -> None:
    logging.getLogger().handlers.clear()  # basicConfig does nothing while pytest's are there
    logging.basicConfig(format="%(asctime)s %(levelname)s %(message)s")


@pytest.mark.parametrize(
    "attach",
    [
        _root_console_handler,
        _library_stderr_handler,
        _library_stdout_handler_without_propagation,
        _basic_config,
    ],
)
def test_console_handlers_attached_before_configure_do_not_duplicate_lines(
    capsys: pytest.CaptureFixture[str],
    library_logger: logging.Logger,
    attach: Callable[[logging.Logger], None],
) -> None:
    """Console handlers a library or basicConfig attached earlier are removed: one line each."""
    attach(library_logger)
    stream = io.StringIO()
    configure(format="json", stream=stream)
    library_logger.warning("from library")
    logging.getLogger().warning("from root")
    assert _messages(stream) == ["from library", "from root"]
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", "")


def test_foreign_formatter_timestamp_is_not_added_to_the_message(
    capsys: pytest.CaptureFixture[str], library_logger: logging.Logger, json_stream: JsonStream
) -> None:
    """A library formatter with %(asctime)s is not applied: the message has no second timestamp."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s [%(levelname)s] %(name)s: %(message)s"))
    library_logger.addHandler(handler)
    stream, records = json_stream
    configure(format="json", stream=stream)
    library_logger.warning("plain message")
    (record,) = records()
    assert record[keys.MESSAGE] == "plain message"
    assert [key for key in record if "time" in key] == [keys.TIMESTAMP]
    assert capsys.readouterr().err == ""


def test_non_console_handlers_of_libraries_are_kept(library_logger: logging.Logger) -> None:
    """A library handler writing elsewhere (a file, a buffer) keeps working after configure()."""
    own = io.StringIO()
    library_logger.addHandler(logging.StreamHandler(own))
    stream = io.StringIO()
    configure(format="json", stream=stream)
    library_logger.warning("to both")
    assert own.getvalue() == "to both\n"
    assert _messages(stream) == ["to both"]


def test_capture_stdlib_false_leaves_logging_untouched(library_logger: logging.Logger) -> None:
    """configure(capture_stdlib=False) changes no handler or level of the logging module."""
    root = logging.getLogger()
    own = io.StringIO()
    library_logger.addHandler(logging.StreamHandler(own))
    root_handlers, root_level = list(root.handlers), root.level
    stream = io.StringIO()
    configure(format="json", stream=stream, level="DEBUG", capture_stdlib=False)
    library_logger.warning("library only")
    get_logger("tests.config").info("flext only")
    assert root.handlers == root_handlers
    assert root.level == root_level
    assert own.getvalue() == "library only\n"
    assert _messages(stream) == ["flext only"]


def test_reset_restores_the_handlers_configure_removed(library_logger: logging.Logger) -> None:
    """reset() puts back the root and library handlers, propagation and root level."""
    root = logging.getLogger()
    root_handler = logging.StreamHandler(sys.stderr)
    library_handler = logging.StreamHandler(sys.stderr)
    root.addHandler(root_handler)
    library_logger.addHandler(library_handler)
    library_logger.propagate = False
    root_handlers, root_level = list(root.handlers), root.level
    configure(format="json", stream=io.StringIO(), level="ERROR")
    assert root_handler not in root.handlers
    assert library_handler not in library_logger.handlers
    assert library_logger.propagate is True
    _config.reset()
    assert root.handlers == root_handlers
    assert root.level == root_level
    assert library_logger.handlers == [library_handler]
    assert library_logger.propagate is False


# -- Per-logger levels -------------------------------------------------------------------------


@pytest.fixture
def level_names() -> Iterator[str]:
    """A unique dotted prefix for the loggers of one test; their levels are undone after it."""
    prefix = f"tests.levels{next(_LEVEL_PREFIXES)}"
    yield prefix
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if name.startswith(prefix) and isinstance(logger, logging.Logger):
            logger.setLevel(logging.NOTSET)


_LEVEL_PREFIXES = itertools.count()


def test_levels_apply_by_dotted_prefix_to_our_loggers_and_logging_s(
    json_stream: JsonStream, level_names: str
) -> None:
    """levels= quiets sqlalchemy-like loggers and opens debug for one package, both kinds."""
    stream, _ = json_stream
    noisy, payments = f"{level_names}.sqlalchemy.engine", f"{level_names}.myapp.payments"
    configure(format="json", stream=stream, levels={noisy: "WARNING", payments: "DEBUG"})
    logging.getLogger(f"{noisy}.Engine").info("SELECT 1")
    logging.getLogger(f"{noisy}.Engine").warning("slow query")
    get_logger(noisy).info("ours, quiet")
    get_logger(f"{payments}.card").debug("card debug")
    logging.getLogger(payments).debug("stdlib debug")
    get_logger(f"{level_names}.myapp.orders").debug("not shown: INFO elsewhere")
    get_logger(f"{level_names}.myapp.orders").info("shown")
    assert _messages(stream) == ["slow query", "card debug", "stdlib debug", "shown"]


def test_a_stdlib_set_level_also_quiets_our_logger_of_that_name(
    json_stream: JsonStream, level_names: str
) -> None:
    """logging.getLogger(name).setLevel(...) after configure() applies to get_logger(name)."""
    stream, _ = json_stream
    configure(format="json", stream=stream)
    ours = get_logger(f"{level_names}.noisy")
    child = get_logger(f"{level_names}.noisy.part")
    ours.info("before")
    logging.getLogger(f"{level_names}.noisy").setLevel("WARNING")
    ours.info("quiet")
    child.info("quiet too")
    ours.warning("loud")
    assert not child.is_enabled_for(logging.INFO)
    logging.getLogger(f"{level_names}.noisy").setLevel(logging.NOTSET)
    child.info("back")
    assert _messages(stream) == ["before", "loud", "back"]


def test_flext_log_levels_variable_sets_per_logger_levels(
    monkeypatch: pytest.MonkeyPatch, json_stream: JsonStream, level_names: str
) -> None:
    """FLEXT_LOG_LEVELS="a=WARNING,b=DEBUG" is read by configure() like levels=."""
    stream, _ = json_stream
    monkeypatch.setenv("FLEXT_LOG_LEVELS", f" {level_names}.a=WARNING , {level_names}.b=debug ")
    configure(format="json", stream=stream)
    get_logger(f"{level_names}.a").info("quiet")
    get_logger(f"{level_names}.b").debug("shown")
    assert _messages(stream) == ["shown"]


def test_a_second_configure_and_reset_undo_the_levels(level_names: str) -> None:
    """Levels set by one configure() are undone by the next and by reset()."""
    name = f"{level_names}.x"
    logging.getLogger(name).setLevel(logging.ERROR)
    configure(format="json", stream=io.StringIO(), levels={name: "DEBUG"})
    assert logging.getLogger(name).level == logging.DEBUG
    configure(format="json", stream=io.StringIO())
    assert logging.getLogger(name).level == logging.ERROR
    configure(format="json", stream=io.StringIO(), levels={name: "WARNING"})
    _config.reset()
    assert logging.getLogger(name).level == logging.ERROR


@pytest.mark.parametrize(
    ("levels", "variable", "message"),
    [
        ({"x": "LOUD"}, None, "unknown log level"),
        ({"": "DEBUG"}, None, "not a logger name"),
        (None, "x=DEBUG,y", "is not name=LEVEL"),
        (None, "x=LOUD", "unknown log level"),
    ],
)
def test_bad_levels_fail_at_configure_and_keep_the_previous_configuration(
    monkeypatch: pytest.MonkeyPatch,
    levels: dict[str, str] | None,
    variable: str | None,
    message: str,
) -> None:
    """A bad levels= or FLEXT_LOG_LEVELS raises ValueError; the old configuration stays."""
    before = io.StringIO()
    configure(format="json", stream=before)
    if variable is not None:
        monkeypatch.setenv("FLEXT_LOG_LEVELS", variable)
    with pytest.raises(ValueError, match=message):
        configure(format="json", stream=io.StringIO(), levels=levels)
    get_logger("tests.config").info("kept")
    assert _messages(before) == ["kept"]
