"""FlextExceptions: keyword-selected domain errors with code, context and correlation id."""

from __future__ import annotations

import builtins
import datetime
import io
import itertools
import pickle
import re
import threading
from collections.abc import Callable
from typing import Any

import pytest

from flext_logging import FlextContext, FlextExceptions, configure, get_logger

JsonStream = tuple[io.StringIO, Callable[[], list[dict[str, Any]]]]

# The documented selection order: each group's keywords pick its class; earlier groups win.
SELECTION = [
    (("field", "value", "validation_details"), "ValidationError"),
    (("config_key", "config_file"), "ConfigurationError"),
    (("operation",), "OperationError"),
    (("service", "endpoint"), "ConnectionError"),
    (("timeout_seconds",), "TimeoutError"),
    (("resource_id", "resource_type"), "NotFoundError"),
    (("auth_method",), "AuthenticationError"),
    (("required_permission",), "PermissionError"),
]
KEYWORD_CLASSES = [(keyword, name) for keywords, name in SELECTION for keyword in keywords]
PRECEDENCE = [
    (earlier_keywords[-1], later_keywords[0], earlier_name)
    for (earlier_keywords, earlier_name), (later_keywords, _) in itertools.combinations(
        SELECTION, 2
    )
]

# Class name, the builtin it must be caught as (or None), its code in ErrorCodes.
CLASSES = [
    ("Error", None, "ERROR", "FLEXT_ERROR"),
    ("ValidationError", ValueError, "VALIDATION_ERROR", "FLEXT_VALIDATION_ERROR"),
    ("ConfigurationError", None, "CONFIGURATION_ERROR", "FLEXT_CONFIGURATION_ERROR"),
    (
        "ConnectionError",
        builtins.ConnectionError,
        "CONNECTION_ERROR",
        "FLEXT_CONNECTION_ERROR",
    ),
    (
        "AuthenticationError",
        builtins.PermissionError,
        "AUTHENTICATION_ERROR",
        "FLEXT_AUTHENTICATION_ERROR",
    ),
    ("PermissionError", builtins.PermissionError, "PERMISSION_ERROR", "FLEXT_PERMISSION_ERROR"),
    ("NotFoundError", LookupError, "NOT_FOUND_ERROR", "FLEXT_NOT_FOUND_ERROR"),
    ("AlreadyExistsError", None, "ALREADY_EXISTS_ERROR", "FLEXT_ALREADY_EXISTS_ERROR"),
    ("TimeoutError", builtins.TimeoutError, "TIMEOUT_ERROR", "FLEXT_TIMEOUT_ERROR"),
    ("ProcessingError", None, "PROCESSING_ERROR", "FLEXT_PROCESSING_ERROR"),
    ("OperationError", None, "OPERATION_ERROR", "FLEXT_OPERATION_ERROR"),
    ("CriticalError", None, "CRITICAL_ERROR", "FLEXT_CRITICAL_ERROR"),
]
CLASS_NAMES = [name for name, *_ in CLASSES]

# One full set of constructor keywords per class, for the round-trip tests.
SAMPLE_FIELDS: dict[str, dict[str, Any]] = {
    "Error": {},
    "ValidationError": {"field": "email", "value": "x@", "validation_details": {"rule": "mx"}},
    "ConfigurationError": {"config_key": "db.url", "config_file": "app.toml"},
    "ConnectionError": {"service": "billing", "endpoint": "https://billing.local"},
    "AuthenticationError": {"auth_method": "token"},
    "PermissionError": {"required_permission": "admin"},
    "NotFoundError": {"resource_id": "42", "resource_type": "user"},
    "AlreadyExistsError": {"resource_id": "42", "resource_type": "user"},
    "TimeoutError": {"timeout_seconds": 2.5},
    "ProcessingError": {},
    "OperationError": {"operation": "sync"},
    "CriticalError": {},
}


def _error_class(name: str) -> type[FlextExceptions.BaseError]:
    cls: type[FlextExceptions.BaseError] = getattr(FlextExceptions, name)
    return cls


def _raise_at_depth(depth: int) -> None:
    if depth == 0:
        raise FlextExceptions("deep failure", operation="recurse")
    _raise_at_depth(depth - 1)


def _caught_deep_error(depth: int) -> BaseException:
    try:
        _raise_at_depth(depth)
    except FlextExceptions.BaseError as exc:
        return exc
    raise AssertionError("expected an error")


def _traceback_length(exc: BaseException) -> int:
    count, tb = 0, exc.__traceback__
    while tb is not None:
        count, tb = count + 1, tb.tb_next
    return count


def _log_error(stream: io.StringIO, exc: BaseException) -> None:
    configure(format="json", stream=stream)
    get_logger("app").error("request_failed", exc_info=exc)


# -- The factory ---------------------------------------------------------------------


@pytest.mark.parametrize(("keyword", "class_name"), KEYWORD_CLASSES)
def test_factory_picks_the_class_of_the_keyword(keyword: str, class_name: str) -> None:
    """Each documented keyword makes FlextExceptions(...) build its class."""
    error = FlextExceptions("failed", **{keyword: "v"})
    assert type(error) is _error_class(class_name)
    assert getattr(error, keyword) == "v"
    assert error.context == {keyword: "v"}


@pytest.mark.parametrize(("earlier", "later", "class_name"), PRECEDENCE)
def test_factory_prefers_the_earlier_keyword_group(
    earlier: str, later: str, class_name: str
) -> None:
    """With keywords of two groups, the group earlier in the documented order wins."""
    error = FlextExceptions("failed", **{later: "l", earlier: "e"})
    assert type(error) is _error_class(class_name)
    assert error.context == {earlier: "e", later: "l"}


@pytest.mark.parametrize("kwargs", [{}, {"tenant": "t1", "attempt": 3}])
def test_factory_without_a_selecting_keyword_builds_a_general_error(kwargs: dict[str, Any]) -> None:
    """Without a selecting keyword the factory builds Error, keeping the keywords as context."""
    error = FlextExceptions("failed", **kwargs)
    assert type(error) is FlextExceptions.Error
    assert error.message == "failed"
    assert error.context == kwargs


def test_unknown_keywords_land_in_context_beside_the_specialised_ones() -> None:
    """Keywords the chosen class does not know are kept in its context, not lost."""
    error = FlextExceptions("bad email", field="email", tenant="t1", attempt=2)
    assert type(error) is FlextExceptions.ValidationError
    assert error.context == {"field": "email", "tenant": "t1", "attempt": 2}
    assert error.field == "email"


def test_explicit_context_is_enriched_with_specialised_fields_without_mutating_it() -> None:
    """A given context gains the specialised fields; the caller's mapping stays unchanged."""
    given = {"request": "r1"}
    error = FlextExceptions.NotFoundError("no user", context=given, resource_id="42")
    assert error.context == {"request": "r1", "resource_id": "42"}
    assert given == {"request": "r1"}
    assert error.resource_id == "42"
    assert error.resource_type is None


# -- Classes and codes ---------------------------------------------------------------


@pytest.mark.parametrize(("class_name", "builtin", "code_name", "code"), CLASSES)
def test_each_class_has_its_code_and_builtin_base(
    class_name: str, builtin: type[BaseException] | None, code_name: str, code: str
) -> None:
    """Every class carries its own FLEXT_ code and is caught as its builtin counterpart."""
    assert getattr(FlextExceptions.ErrorCodes, code_name) == code
    error = _error_class(class_name)("failed", **SAMPLE_FIELDS[class_name])
    assert error.error_code == code
    assert isinstance(error, FlextExceptions.BaseError)
    assert isinstance(error, Exception)
    with pytest.raises(builtin or FlextExceptions.BaseError, match=r"^failed$"):
        raise error


def test_error_codes_are_distinct() -> None:
    """No two classes share a code."""
    codes = [code for *_, code in CLASSES]
    assert len(set(codes)) == len(codes)


@pytest.mark.parametrize("class_name", CLASS_NAMES)
def test_explicit_error_code_is_honoured(class_name: str) -> None:
    """An explicit error_code= replaces the class default."""
    error = _error_class(class_name)("failed", error_code="USR_404")
    assert error.error_code == "USR_404"


def test_factory_passes_the_explicit_error_code_through() -> None:
    """error_code= given to the factory reaches the chosen class and not its context."""
    error = FlextExceptions("no user", resource_id="7", error_code="USR_404")
    assert error.error_code == "USR_404"
    assert error.context == {"resource_id": "7"}


# -- Attributes ----------------------------------------------------------------------


def test_str_and_repr_show_the_message_and_code() -> None:
    """str() is the message; repr names class, message and code."""
    error = FlextExceptions("bad email", field="email")
    assert str(error) == "bad email"
    assert repr(error) == "ValidationError('bad email', error_code='FLEXT_VALIDATION_ERROR')"


def test_correlation_id_is_the_active_one() -> None:
    """An error made inside a correlation carries that correlation id."""
    with FlextContext.Correlation.new_correlation() as correlation_id:
        error = FlextExceptions("failed")
    assert error.correlation_id == correlation_id


def test_explicit_correlation_id_wins_over_the_active_one() -> None:
    """correlation_id= overrides the id of the active correlation."""
    FlextContext.Correlation.set_correlation_id("active-id")
    error = FlextExceptions("failed", correlation_id="explicit-id")
    assert error.correlation_id == "explicit-id"
    assert "correlation_id" not in error.context


def test_correlation_id_without_context_is_a_unique_generated_one() -> None:
    """Without an active correlation each error gets its own ``flext_<hex>`` id."""
    ids = {FlextExceptions("failed").correlation_id for _ in range(100)}
    assert len(ids) == 100
    assert all(re.fullmatch(r"flext_[0-9a-f]{16}", value) for value in ids)


def test_timestamp_is_iso_8601_utc_at_creation() -> None:
    """The timestamp is ISO-8601 in UTC ('Z'), taken when the error is made."""
    before = datetime.datetime.now(datetime.timezone.utc)
    error = FlextExceptions("failed")
    after = datetime.datetime.now(datetime.timezone.utc)
    assert error.timestamp.endswith("Z")
    parsed = datetime.datetime.fromisoformat(error.timestamp.replace("Z", "+00:00"))
    assert parsed.utcoffset() == datetime.timedelta(0)
    assert before <= parsed <= after


def test_to_dict_holds_every_attribute() -> None:
    """to_dict gives type, message, code, context, correlation id, timestamp and fields."""
    error = FlextExceptions(
        "no user", resource_id="42", resource_type="user", correlation_id="c-1", tenant="t1"
    )
    assert error.to_dict() == {
        "type": "NotFoundError",
        "message": "no user",
        "error_code": "FLEXT_NOT_FOUND_ERROR",
        "context": {"resource_id": "42", "resource_type": "user", "tenant": "t1"},
        "correlation_id": "c-1",
        "timestamp": error.timestamp,
        "resource_id": "42",
        "resource_type": "user",
    }


def test_to_dict_context_is_a_copy() -> None:
    """Changing the dict from to_dict leaves the error's context alone."""
    error = FlextExceptions("failed", tenant="t1")
    error.to_dict()["context"]["tenant"] = "changed"
    assert error.context == {"tenant": "t1"}


# -- Pickling ------------------------------------------------------------------------


@pytest.mark.parametrize("class_name", CLASS_NAMES)
def test_pickle_round_trip_keeps_every_field(class_name: str) -> None:
    """An unpickled error equals the original in type, message, code, id, time and fields."""
    original = _error_class(class_name)(
        "failed", error_code="CUSTOM", tenant="t1", **SAMPLE_FIELDS[class_name]
    )
    restored = pickle.loads(pickle.dumps(original))
    assert type(restored) is type(original)
    assert restored.to_dict() == original.to_dict()
    assert restored.args == original.args
    assert str(restored) == "failed"
    for name in SAMPLE_FIELDS[class_name]:
        assert getattr(restored, name) == getattr(original, name)


def test_unpickling_does_not_count_as_a_new_error() -> None:
    """Unpickling an error leaves the metrics as they were."""
    payload = pickle.dumps(FlextExceptions("failed", field="email"))
    assert FlextExceptions.get_metrics() == {"ValidationError": 1}
    for _ in range(3):
        pickle.loads(payload)
    assert FlextExceptions.get_metrics() == {"ValidationError": 1}


# -- Metrics -------------------------------------------------------------------------


def test_metrics_count_created_errors_per_class_name() -> None:
    """get_metrics counts each created error under its class name."""
    FlextExceptions("a", field="x")
    FlextExceptions("b", field="y")
    FlextExceptions.NotFoundError("c")
    FlextExceptions("d")
    assert FlextExceptions.get_metrics() == {
        "ValidationError": 2,
        "NotFoundError": 1,
        "Error": 1,
    }


def test_clear_metrics_resets_the_counts() -> None:
    """clear_metrics empties the counts, and counting starts again from zero."""
    FlextExceptions("a", field="x")
    FlextExceptions.clear_metrics()
    assert FlextExceptions.get_metrics() == {}
    FlextExceptions("b", field="y")
    assert FlextExceptions.get_metrics() == {"ValidationError": 1}


def test_get_metrics_returns_a_copy() -> None:
    """Changing the dict from get_metrics does not change the counts."""
    FlextExceptions("a")
    FlextExceptions.get_metrics()["Error"] = 100
    assert FlextExceptions.get_metrics() == {"Error": 1}


def test_metrics_count_every_error_made_by_concurrent_threads() -> None:
    """8 threads making 500 errors each at the same time are all counted."""
    threads_count, per_thread = 8, 500
    start = threading.Barrier(threads_count)

    def make_errors(index: int) -> None:
        start.wait()
        cls = FlextExceptions.ValidationError if index % 2 else FlextExceptions.NotFoundError
        for _ in range(per_thread):
            cls("failed")

    threads = [threading.Thread(target=make_errors, args=(i,)) for i in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert FlextExceptions.get_metrics() == {"ValidationError": 2000, "NotFoundError": 2000}


# -- Error-handling configuration ----------------------------------------------------


def test_configure_error_handling_applies_and_returns_the_settings() -> None:
    """configure_error_handling succeeds with the full settings, which are then in force."""
    result = FlextExceptions.configure_error_handling({"max_frames": 7, "show_locals": True})
    assert result.is_success
    assert result.value["max_frames"] == 7
    assert result.value["show_locals"] is True
    assert FlextExceptions.get_error_handling_config().value == result.value


def test_default_error_handling_settings() -> None:
    """Before any configuration the settings are the documented defaults."""
    assert FlextExceptions.get_error_handling_config().value == {
        "environment": "development",
        "enable_stack_traces": True,
        "max_frames": 50,
        "max_error_details": 4096,
        "show_locals": False,
        "enable_metrics": True,
    }


def test_settings_left_out_keep_their_value_in_force() -> None:
    """A setting not given keeps the value in force, not the default."""
    FlextExceptions.configure_error_handling({"max_frames": 7})
    FlextExceptions.configure_error_handling({"show_locals": True})
    settings = FlextExceptions.get_error_handling_config().value
    assert settings["max_frames"] == 7
    assert settings["show_locals"] is True


def test_environment_setting_starts_from_that_environments_preset() -> None:
    """Naming an environment fills unspecified settings from its preset; given ones win."""
    FlextExceptions.configure_error_handling({"max_error_details": 10})
    result = FlextExceptions.configure_error_handling(
        {"environment": "production", "max_frames": 5}
    )
    assert result.value == {
        "environment": "production",
        "enable_stack_traces": True,
        "max_frames": 5,
        "max_error_details": 2048,
        "show_locals": False,
        "enable_metrics": True,
    }


@pytest.mark.parametrize(
    ("config", "complaint"),
    [
        ({"max_frame": 5}, "max_frame"),
        ({"colour": True, "max_frames": 5}, "colour"),
        ({"enable_stack_traces": "no"}, "enable_stack_traces"),
        ({"show_locals": 1}, "show_locals"),
        ({"enable_metrics": None}, "enable_metrics"),
        ({"max_frames": 0}, "max_frames"),
        ({"max_frames": -3}, "max_frames"),
        ({"max_frames": True}, "max_frames"),
        ({"max_frames": 2.5}, "max_frames"),
        ({"max_error_details": "100"}, "max_error_details"),
        ({"environment": 5}, "environment"),
    ],
)
def test_bad_error_handling_settings_fail_and_change_nothing(
    config: dict[str, Any], complaint: str
) -> None:
    """Unknown keys and wrongly typed values fail naming the setting; nothing is applied."""
    before = FlextExceptions.get_error_handling_config().value
    result = FlextExceptions.configure_error_handling(config)
    assert result.is_failure
    assert complaint in (result.error or "")
    assert FlextExceptions.get_error_handling_config().value == before


@pytest.mark.parametrize("config", [None, "production", [("max_frames", 5)], 5])
def test_error_handling_config_that_is_not_a_mapping_fails(config: Any) -> None:
    """A config that is not a mapping fails with a message saying so."""
    result = FlextExceptions.configure_error_handling(config)
    assert result.is_failure
    assert "mapping" in (result.error or "")


@pytest.mark.parametrize(
    ("environment", "max_frames", "max_error_details"),
    [
        ("development", 100, 4096),
        ("test", 100, 4096),
        ("staging", 50, 4096),
        ("production", 30, 2048),
    ],
)
def test_environment_specific_config_returns_the_preset_without_applying_it(
    environment: str, max_frames: int, max_error_details: int
) -> None:
    """Each environment has its preset; asking for it does not change the settings."""
    before = FlextExceptions.get_error_handling_config().value
    result = FlextExceptions.create_environment_specific_config(environment)
    assert result.value["environment"] == environment
    assert result.value["max_frames"] == max_frames
    assert result.value["max_error_details"] == max_error_details
    assert result.value["show_locals"] is False
    assert FlextExceptions.get_error_handling_config().value == before


@pytest.mark.parametrize("environment", ["qa", "", "Production", None, 5, ["production"]])
def test_environment_specific_config_fails_for_unknown_environments(environment: Any) -> None:
    """An unknown environment (or not a name at all) fails listing the known ones."""
    result = FlextExceptions.create_environment_specific_config(environment)
    assert result.is_failure
    assert "development, production, staging, test" in (result.error or "")


# -- Settings take effect when an error is logged ------------------------------------


def test_logged_error_has_a_stack_by_default(json_stream: JsonStream) -> None:
    """By default a logged error is rendered with its stack."""
    stream, records = json_stream
    _log_error(stream, _caught_deep_error(2))
    (record,) = records()
    assert record["error"]["stack"][-1]["function"] == "_raise_at_depth"
    assert record["error"]["code"] == "FLEXT_OPERATION_ERROR"


def test_disabled_stack_traces_remove_the_stack_from_logged_errors(
    json_stream: JsonStream,
) -> None:
    """With enable_stack_traces=False a logged error keeps type, message and code only."""
    stream, records = json_stream
    FlextExceptions.configure_error_handling({"enable_stack_traces": False})
    _log_error(stream, _caught_deep_error(2))
    (record,) = records()
    assert "stack" not in record["error"]
    assert record["error"]["message"] == "deep failure"
    assert record["error"]["code"] == "FLEXT_OPERATION_ERROR"


def test_max_frames_bounds_the_logged_stack(json_stream: JsonStream) -> None:
    """max_frames keeps that many (innermost) frames and counts the others."""
    stream, records = json_stream
    exc = _caught_deep_error(10)
    FlextExceptions.configure_error_handling({"max_frames": 3})
    _log_error(stream, exc)
    (record,) = records()
    assert len(record["error"]["stack"]) == 3
    assert record["error"]["frames_omitted"] == _traceback_length(exc) - 3
    assert {frame["function"] for frame in record["error"]["stack"]} == {"_raise_at_depth"}


def test_max_error_details_bounds_the_logged_message(json_stream: JsonStream) -> None:
    """max_error_details cuts a long message and long context values of a logged error."""
    stream, records = json_stream
    FlextExceptions.configure_error_handling({"max_error_details": 40})
    _log_error(stream, FlextExceptions("m" * 1000, payload="p" * 1000))
    (record,) = records()
    assert len(record["error"]["message"]) == 40
    assert record["error"]["message"].startswith("mmm")
    assert len(record["error"]["context"]["payload"]) <= 40


def test_disabled_metrics_stop_counting() -> None:
    """With enable_metrics=False new errors are not counted; re-enabling counts again."""
    FlextExceptions.configure_error_handling({"enable_metrics": False})
    FlextExceptions("a", field="x")
    assert FlextExceptions.get_metrics() == {}
    FlextExceptions.configure_error_handling({"enable_metrics": True})
    FlextExceptions("b", field="x")
    assert FlextExceptions.get_metrics() == {"ValidationError": 1}


@pytest.mark.parametrize("bad_id", ["bad\r\nid", "x" * 129, "", "ünïcode"])
def test_invalid_explicit_correlation_id_is_replaced(bad_id: str) -> None:
    """An explicit correlation_id that is not a valid id gives way to the active or a new one."""
    error = FlextExceptions.Error("boom", correlation_id=bad_id)
    assert error.correlation_id != bad_id
    assert error.correlation_id.startswith("flext_")
