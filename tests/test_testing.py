"""Testing helpers: capture_logs() and the flext_logs pytest fixture."""

from __future__ import annotations

import datetime
import io
import json
import logging
from collections.abc import Callable
from typing import Any

import pytest

from flext_logging import FlextContext, configure, get_logger, keys
from flext_logging.renderers import dumps_record
from flext_logging.testing import capture_logs

pytest_plugins = ["pytester"]

JsonStream = tuple[io.StringIO, Callable[[], list[dict[str, Any]]]]


# -- capture_logs() --------------------------------------------------------------------------


def test_capture_logs_collects_processed_records_as_dicts() -> None:
    """Records of get_logger loggers are collected as processed dicts in schema order."""
    FlextContext.Correlation.set_correlation_id("corr-1")
    with capture_logs() as logs:
        get_logger("tests.capture").info("user created", plan="pro", password="p")
    (record,) = logs
    assert list(record) == [
        *keys.HEAD_KEYS,
        keys.PROCESS_ID,
        keys.CORRELATION_ID,
        "plan",
        "password",
    ]
    assert isinstance(record[keys.TIMESTAMP], datetime.datetime)
    assert record[keys.LEVEL] == "info"
    assert record[keys.MESSAGE] == "user created"
    assert record["password"] == "[REDACTED]"


def test_capture_logs_collects_stdlib_records() -> None:
    """Records of logging loggers are collected too, with their extra= fields."""
    with capture_logs() as logs:
        logging.getLogger("tests.capture.stdlib").warning("retry %d", 2, extra={"host": "db"})
    (record,) = logs
    assert record[keys.LOGGER] == "tests.capture.stdlib"
    assert record[keys.MESSAGE] == "retry 2"
    assert record["host"] == "db"


def test_capture_logs_renders_errors_as_data() -> None:
    """A logged exception appears as data under 'error'."""
    with capture_logs() as logs:
        try:
            raise LookupError("gone")
        except LookupError:
            get_logger("tests.capture").exception("lookup failed")
    (record,) = logs
    assert record[keys.ERROR][keys.ERROR_TYPE_NAME] == "LookupError"
    assert record[keys.ERROR][keys.ERROR_MESSAGE] == "gone"


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        (logging.DEBUG, ["debug", "info", "warning"]),
        ("INFO", ["info", "warning"]),
        ("warning", ["warning"]),
    ],
)
def test_capture_logs_collects_from_the_given_level(level: int | str, expected: list[str]) -> None:
    """capture_logs(level=...) collects records at that level and above (DEBUG by default)."""
    with capture_logs(level) as logs:
        logger = get_logger("tests.capture")
        logger.debug("d")
        logger.info("i")
        logging.getLogger("tests.capture.stdlib").warning("w")
    assert [record[keys.LEVEL] for record in logs] == expected


def test_capture_logs_restores_the_previous_configuration(json_stream: JsonStream) -> None:
    """After the block, records go to the configured stream again, and none were written in it."""
    stream, records = json_stream
    configure(format="json", stream=stream)
    root_handlers = list(logging.getLogger().handlers)
    root_level = logging.getLogger().level
    logger = get_logger("tests.capture")
    with capture_logs() as logs:
        logger.info("captured")
        logging.getLogger("tests.capture.stdlib").warning("captured too")
    logger.info("written")
    logging.getLogger("tests.capture.stdlib").warning("written too")
    assert [record[keys.MESSAGE] for record in logs] == ["captured", "captured too"]
    assert [record[keys.MESSAGE] for record in records()] == ["written", "written too"]
    assert logging.getLogger().handlers == root_handlers
    assert logging.getLogger().level == root_level


def test_capture_logs_after_configure_collects_stdlib_records_once() -> None:
    """Inside a configured process a logging record is collected once, not once per handler."""
    configure(format="json", stream=io.StringIO())
    with capture_logs() as logs:
        logging.getLogger("tests.capture.stdlib").error("once")
    assert [record[keys.MESSAGE] for record in logs] == ["once"]


def test_capture_logs_restores_configuration_when_the_block_raises(
    json_stream: JsonStream,
) -> None:
    """An exception leaving the block still restores the configuration."""
    stream, records = json_stream
    configure(format="json", stream=stream)
    with pytest.raises(RuntimeError), capture_logs():
        raise RuntimeError("test failed inside")
    get_logger("tests.capture").info("after")
    assert [record[keys.MESSAGE] for record in records()] == ["after"]


# -- The flext_logs fixture ---------------------------------------------------------------------


PLUGIN_TESTS = '''
import logging

import pytest

from flext_logging import FlextContext, get_logger


@pytest.fixture
def context_checked_after():
    """Set up before flext_logs, torn down after it: sees the context it leaves."""
    yield
    assert FlextContext.Correlation.get_correlation_id() is None


@pytest.fixture
def leaked_context():
    FlextContext.Correlation.set_correlation_id("leaked-from-fixture")


def test_records_are_captured(flext_logs):
    get_logger("app").info("user created", plan="pro")
    logging.getLogger("lib").warning("retry %d", 2)
    assert [(r["logger"], r["message"]) for r in flext_logs] == [
        ("app", "user created"),
        ("lib", "retry 2"),
    ]
    assert flext_logs[0]["plan"] == "pro"


def test_context_is_cleared_before(leaked_context, flext_logs):
    assert FlextContext.Correlation.get_correlation_id() is None
    get_logger("app").info("clean")
    assert "correlation_id" not in flext_logs[0]


def test_context_is_cleared_after(context_checked_after, flext_logs):
    FlextContext.Correlation.set_correlation_id("set-in-test")
    get_logger("app").info("tagged")
    assert flext_logs[0]["correlation_id"] == "set-in-test"


def test_each_test_starts_with_no_records(flext_logs):
    assert flext_logs == []
'''


def test_flext_logs_fixture_is_registered_and_isolates_tests(pytester: pytest.Pytester) -> None:
    """The pytest11 plugin gives a flext_logs fixture that captures and clears the context."""
    pytester.makepyfile(test_plugin=PLUGIN_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=4)


def test_flext_logs_fixture_sees_records_made_before_failure(pytester: pytest.Pytester) -> None:
    """A failing assertion about flext_logs fails the test (the fixture holds real records)."""
    pytester.makepyfile(
        test_failing="""
from flext_logging import get_logger


def test_expects_a_record_that_was_not_logged(flext_logs):
    get_logger("app").info("actual")
    assert [r["message"] for r in flext_logs] == ["expected"]
"""
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*'actual'*"])


def test_capture_logs_records_are_json_serialisable_with_the_renderer() -> None:
    """Captured dicts encode to the same JSON line the JSON renderer would write."""
    with capture_logs() as logs:
        get_logger("tests.capture").info("encoded", n=1)
    (record,) = logs
    decoded = json.loads(dumps_record(record))
    assert decoded[keys.MESSAGE] == "encoded"
    assert decoded[keys.TIMESTAMP].endswith("Z")


# -- pytest's caplog -------------------------------------------------------------------------

CAPLOG_TESTS = """
import logging

import pytest

from flext_logging import FlextContext, configure, get_logger
from flext_logging.testing import record_fields

logger = get_logger("app.billing")


def test_caplog_sees_records_before_configure(caplog):
    caplog.set_level(logging.INFO)
    logger.info("charged", amount=12)
    (record,) = caplog.records
    assert (record.name, record.levelname, record.getMessage()) == (
        "app.billing", "INFO", "charged",
    )
    assert record.amount == 12


def test_caplog_sees_records_after_configure_with_their_fields(caplog):
    caplog.set_level(logging.INFO)
    configure(format="json", service_name="billing")
    with FlextContext.Request.request_context(request_id="req-1", user_id="u-7"):
        logger.info("charged", amount=12, name="a field named like a LogRecord attribute")
        logging.getLogger("lib").warning("from a library")
    ours, library = caplog.records
    assert (ours.request_id, ours.user_id, ours.service_name, ours.amount) == (
        "req-1", "u-7", "billing", 12,
    )
    assert ours.name == "app.billing"
    assert record_fields(ours)["name"] == "a field named like a LogRecord attribute"
    assert library.getMessage() == "from a library"
    assert caplog.messages == ["charged", "from a library"]


def test_configure_keeps_caplogs_handler(caplog):
    handler = caplog.handler
    configure(format="json")
    assert handler in logging.getLogger().handlers


def test_exception_reaches_caplog_as_data_and_text(caplog):
    configure(format="json")
    try:
        raise KeyError("sku")
    except KeyError:
        logger.exception("lookup failed")
    (record,) = caplog.records
    assert record.error["type"] == "KeyError"
    assert "KeyError: 'sku'" in caplog.text


def test_captured_log_section_shows_our_records():
    configure(format="json")
    logger.warning("shown in the report")
    assert False
"""


def test_caplog_sees_get_logger_records_with_their_fields(pytester: pytest.Pytester) -> None:
    """caplog receives get_logger() records, before and after configure(), which keeps it."""
    pytester.makepyfile(test_caplog=CAPLOG_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=4, failed=1)
    # pytest's report of the failing test holds our record in its "Captured log" section.
    result.stdout.fnmatch_lines(
        ["*Captured log call*", "WARNING  app.billing:test_caplog.py:* shown in the report"]
    )
