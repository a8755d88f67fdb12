"""The enrichers: record head and context, errors as data, stacks, level names."""

from __future__ import annotations

import datetime
import io
import sys
from collections.abc import Callable
from typing import Any

import pytest

from flext_logging import FlextContext, FlextExceptions, configure, get_logger, keys
from flext_logging.processors import (
    add_context,
    add_error,
    add_exception,
    add_stack,
    level_name,
    set_aside_head_fields,
)
from flext_logging.renderers import JSONRenderer

JsonStream = tuple[io.StringIO, Callable[[], list[dict[str, Any]]]]


class _Named:
    """A stand-in for a logger object: add_context reads only its name."""

    name = "from.logger.object"


# -- level_name ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method_name", "expected"),
    [
        ("debug", "debug"),
        ("info", "info"),
        ("warning", "warning"),
        ("warn", "warning"),
        ("error", "error"),
        ("exception", "error"),
        ("critical", "critical"),
        ("fatal", "critical"),
        ("msg", "info"),
        ("log", "info"),
    ],
)
def test_level_name_maps_method_names_to_record_levels(method_name: str, expected: str) -> None:
    """Logger method names become the five record levels."""
    assert level_name(method_name) == expected


# -- add_context -----------------------------------------------------------------------------


def test_add_context_builds_head_then_context_then_fields() -> None:
    """The head comes first, then context keys in schema order, then the call's fields."""
    FlextContext.Request.set_user_id("u1")
    FlextContext.Correlation.set_correlation_id("c1")
    record = add_context(None, "warn", {"b": 2, "event": "hello", keys.LOGGER: "app", "a": 1})
    assert list(record) == [
        *keys.HEAD_KEYS,
        keys.PROCESS_ID,
        keys.CORRELATION_ID,
        keys.USER_ID,
        "b",
        "a",
    ]
    assert record[keys.LEVEL] == "warning"
    assert record[keys.LOGGER] == "app"
    assert record[keys.MESSAGE] == "hello"
    assert isinstance(record[keys.TIMESTAMP], datetime.datetime)
    assert record[keys.TIMESTAMP].utcoffset() == datetime.timedelta(0)


def test_call_field_overriding_a_context_key_keeps_its_schema_position() -> None:
    """A call's field named like a context key replaces the value where the context put it."""
    FlextContext.Correlation.set_correlation_id("from-context")
    FlextContext.Request.set_user_id("context-user")
    record = add_context(None, "info", {"event": "x", "extra_field": 1, keys.USER_ID: "caller"})
    assert list(record) == [
        *keys.HEAD_KEYS,
        keys.PROCESS_ID,
        keys.CORRELATION_ID,
        keys.USER_ID,
        "extra_field",
    ]
    assert record[keys.USER_ID] == "caller"
    assert record[keys.CORRELATION_ID] == "from-context"


def test_add_context_keeps_a_supplied_timestamp_and_message_key() -> None:
    """A caller's timestamp is kept, and 'message' is used when there is no 'event'."""
    when = datetime.datetime(2024, 1, 2, 3, 4, 5, 678, tzinfo=datetime.timezone.utc)
    record = add_context(_Named(), "info", {keys.TIMESTAMP: when, keys.MESSAGE: "already"})
    assert record[keys.TIMESTAMP] is when
    assert record[keys.MESSAGE] == "already"
    assert record[keys.LOGGER] == "from.logger.object"


def test_timestamp_on_a_whole_second_keeps_six_fractional_digits() -> None:
    """A whole-second time renders with .000000 so log lines sort correctly as text."""
    when = datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    record = add_context(None, "info", {keys.TIMESTAMP: when})
    assert JSONRenderer()(None, "info", record).startswith(
        b'{"timestamp":"2024-01-02T03:04:05.000000Z"'
    )


def test_add_context_without_a_name_or_message_writes_empty_strings() -> None:
    """With no logger name and no message the head still has every key, as empty text."""
    record = add_context(None, "info", {})
    assert list(record) == [*keys.HEAD_KEYS, keys.PROCESS_ID]
    assert (record[keys.LOGGER], record[keys.MESSAGE]) == ("", "")


def test_add_context_omits_unset_context_keys() -> None:
    """With an empty context only the head and the call's fields are written."""
    record = add_context(None, "info", {"event": "x", "k": "v"})
    assert list(record) == [*keys.HEAD_KEYS, keys.PROCESS_ID, "k"]


# -- add_error / add_exception ---------------------------------------------------------------


def _caught(exc: BaseException) -> BaseException:
    try:
        raise exc
    except BaseException as caught:
        return caught


@pytest.mark.parametrize("designator", [None, False, "not an exception", (1, 2), (1, 2, 3)])
def test_add_error_ignores_values_that_name_no_exception(designator: object) -> None:
    """exc_info values that designate no exception add no error and are removed."""
    record = add_error(None, "error", {"exc_info": designator, "k": 1})
    assert record == {"k": 1}


def test_add_error_with_true_outside_except_adds_nothing() -> None:
    """exc_info=True when no exception is being handled adds no error."""
    assert add_error(None, "error", {"exc_info": True}) == {}


class ServiceUnavailable(Exception):
    """A test error with a recognisable qualified name."""


def test_add_error_renders_type_message_and_stack() -> None:
    """The error is its qualified type name, message and frames with file, line and function."""
    exc = _caught(ServiceUnavailable("db down"))
    error = add_error(None, "error", {"exc_info": exc})[keys.ERROR]
    assert error[keys.ERROR_TYPE_NAME] == f"{__name__}.ServiceUnavailable"
    assert error[keys.ERROR_MESSAGE] == "db down"
    frame = error[keys.ERROR_STACK][-1]
    assert frame == {
        keys.FRAME_FILE: __file__,
        keys.FRAME_LINE: frame[keys.FRAME_LINE],
        keys.FRAME_FUNCTION: "_caught",
    }
    assert isinstance(frame[keys.FRAME_LINE], int)


@pytest.mark.parametrize("show_locals", [False, True])
def test_add_error_shows_locals_only_when_turned_on(show_locals: bool) -> None:
    """Frames carry no local variables by default, and bounded reprs when show_locals is on."""
    if show_locals:
        FlextExceptions.configure_error_handling({"show_locals": True})
    order_id = "order-42"
    try:
        raise ValueError(order_id)
    except ValueError as exc:
        error = add_error(None, "error", {"exc_info": exc})[keys.ERROR]
    (frame,) = error[keys.ERROR_STACK]
    if show_locals:
        assert frame[keys.FRAME_LOCALS]["order_id"] == "'order-42'"
    else:
        assert keys.FRAME_LOCALS not in frame


def test_add_error_renders_explicit_cause_and_implicit_context() -> None:
    """'raise from' appears under 'cause'; an error raised while handling one under 'during'."""
    try:
        try:
            raise KeyError("missing")
        except KeyError as inner:
            raise RuntimeError("lookup failed") from inner
    except RuntimeError as outer:
        caused = add_error(None, "error", {"exc_info": outer})[keys.ERROR]
    try:
        try:
            raise KeyError("missing")
        except KeyError:
            raise RuntimeError("while handling") from None
    except RuntimeError as suppressed:
        silenced = add_error(None, "error", {"exc_info": suppressed})[keys.ERROR]
    try:
        try:
            raise KeyError("first")
        except KeyError:
            raise RuntimeError("second")  # noqa: B904 - the implicit context is under test
    except RuntimeError as implicit:
        during = add_error(None, "error", {"exc_info": implicit})[keys.ERROR]
    assert caused[keys.ERROR_CAUSE][keys.ERROR_TYPE_NAME] == "KeyError"
    assert caused[keys.ERROR_CAUSE][keys.ERROR_MESSAGE] == "'missing'"
    assert keys.ERROR_CAUSE not in silenced
    assert keys.ERROR_CONTEXT_EXCEPTION not in silenced
    assert during[keys.ERROR_CONTEXT_EXCEPTION][keys.ERROR_MESSAGE] == "'first'"


def test_flext_error_renders_code_context_and_correlation_id(json_stream: JsonStream) -> None:
    """A FlextExceptions error adds its code, context and correlation id to the error data."""
    stream, records = json_stream
    configure(format="json", stream=stream)
    FlextContext.Correlation.set_correlation_id("corr-err")
    try:
        raise FlextExceptions("bad email", field="email", value="x@")
    except FlextExceptions.ValidationError:
        get_logger("tests.errors").exception("signup rejected")
    (record,) = records()
    error = record[keys.ERROR]
    assert error[keys.ERROR_TYPE_NAME] == "flext_logging.exceptions.ValidationError"
    assert error[keys.ERROR_MESSAGE] == "bad email"
    assert error[keys.ERROR_CODE] == "FLEXT_VALIDATION_ERROR"
    assert error[keys.ERROR_CONTEXT] == {"field": "email", "value": "x@"}
    assert error[keys.ERROR_CORRELATION_ID] == "corr-err"
    assert error[keys.ERROR_STACK][-1][keys.FRAME_FUNCTION] == (
        "test_flext_error_renders_code_context_and_correlation_id"
    )


def test_logged_error_chain_is_json_data(json_stream: JsonStream) -> None:
    """An exception chain logged through the pipeline arrives as nested JSON data."""
    stream, records = json_stream
    configure(format="json", stream=stream)
    try:
        try:
            raise KeyError("k")
        except KeyError as exc:
            raise FlextExceptions("not found", resource_id="k") from exc
    except FlextExceptions.NotFoundError:
        get_logger("tests.errors").error("lookup", exc_info=True)
    (record,) = records()
    assert record[keys.ERROR][keys.ERROR_CODE] == "FLEXT_NOT_FOUND_ERROR"
    assert record[keys.ERROR][keys.ERROR_CAUSE][keys.ERROR_TYPE_NAME] == "KeyError"


def test_add_exception_leaves_the_exception_instance_for_renderers() -> None:
    """add_exception resolves exc_info to the exception itself, or removes the key."""
    exc = _caught(ValueError("x"))
    try:
        raise exc
    except ValueError:
        resolved = add_exception(None, "error", {"exc_info": sys.exc_info()})
    assert resolved["exc_info"] is exc
    assert add_exception(None, "error", {"exc_info": False}) == {}


# -- add_stack ---------------------------------------------------------------------------------


def test_add_stack_writes_the_stack_of_the_caller_when_asked() -> None:
    """stack_info=True is replaced by the formatted stack ending at the calling function."""
    record = add_stack(None, "info", {"stack_info": True})
    assert list(record) == [keys.STACK]
    text = record[keys.STACK]
    assert text.startswith("Stack (most recent call last):\n")
    assert text.splitlines()[-2].endswith(
        "in test_add_stack_writes_the_stack_of_the_caller_when_asked"
    )


@pytest.mark.parametrize("event_dict", [{"stack_info": False}, {}])
def test_add_stack_adds_nothing_when_not_asked(event_dict: dict[str, Any]) -> None:
    """Without stack_info=True no stack is added and the flag is removed."""
    assert add_stack(None, "info", dict(event_dict)) == {}


def test_call_field_named_like_an_unset_context_key_takes_its_schema_place() -> None:
    """A call's user_id sits in the context block (before operation_name), not at the end."""
    with FlextContext.Request.request_context(operation_name="signup"):
        record = add_context(None, "info", {"event": "x", "plan": "pro", "user_id": "u-9"})
    assert list(record)[5:] == [keys.USER_ID, keys.OPERATION_NAME, "plan"]
    assert record[keys.USER_ID] == "u-9"


def test_add_context_keeps_a_call_level_and_message_beside_the_head() -> None:
    """A structlog-style call field named level or message is written as <key>_field."""
    record = add_context(None, "warning", {"event": "real", "level": "x", "message": "y"})
    assert record[keys.LEVEL] == "warning"
    assert record[keys.MESSAGE] == "real"
    assert (record["level_field"], record["message_field"]) == ("x", "y")


def test_set_aside_head_fields_renames_only_colliding_names_in_place() -> None:
    """Fields named like pipeline inputs get '_field'; the others and the order are kept."""
    fields = {"a": 1, keys.TIMESTAMP: 2, "b": 3, "exc_info": 4}
    assert list(set_aside_head_fields(fields).items()) == [
        ("a", 1),
        ("timestamp_field", 2),
        ("b", 3),
        ("exc_info_field", 4),
    ]
    plain = {"a": 1}
    assert set_aside_head_fields(plain) is plain
