"""FlextContext: correlation, service, request and timing context over contextvars."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import datetime
import io
import itertools
import json
import re
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from flext_logging import FlextContext, FlextExceptions, configure, get_logger
from flext_logging.context import set_process_defaults
from flext_logging.testing import capture_logs

JsonStream = tuple[io.StringIO, Callable[[], list[dict[str, Any]]]]

Correlation = FlextContext.Correlation
Service = FlextContext.Service
Request = FlextContext.Request
Performance = FlextContext.Performance
Serialization = FlextContext.Serialization
Utilities = FlextContext.Utilities

logger = get_logger("tests.context")

DROPPED = "invalid_context_id_dropped"
GENERATED_ID = re.compile(r"[0-9a-f]{32}")

# Every context field: its record key, setter and getter.
ID_FIELDS: list[tuple[str, Callable[[Any], None], Callable[[], str | None]]] = [
    ("correlation_id", Correlation.set_correlation_id, Correlation.get_correlation_id),
    (
        "parent_correlation_id",
        Correlation.set_parent_correlation_id,
        Correlation.get_parent_correlation_id,
    ),
    ("request_id", Request.set_request_id, Request.get_request_id),
]
VALUE_FIELDS: list[tuple[str, Callable[[Any], None], Callable[[], str | None]]] = [
    ("service_name", Service.set_service_name, Service.get_service_name),
    ("service_version", Service.set_service_version, Service.get_service_version),
    ("environment", Service.set_environment, Service.get_environment),
    ("user_id", Request.set_user_id, Request.get_user_id),
    ("operation_name", Request.set_operation_name, Request.get_operation_name),
]
OUTSIDE_ID_GRAMMAR = "characters outside [A-Za-z0-9._:-]"
BAD_IDS: list[tuple[object, str]] = [
    ("abc\r\ninjected: yes", OUTSIDE_ID_GRAMMAR),
    ("abc\n", OUTSIDE_ID_GRAMMAR),
    ("a" * 129, "longer than 128 characters"),
    ("café-1", OUTSIDE_ID_GRAMMAR),
    ("a b", OUTSIDE_ID_GRAMMAR),
    ("", "empty"),
    (42, "not a string but int"),
    (b"abc", "not a string but bytes"),
]
BAD_VALUES: list[tuple[object, str]] = [
    ("user\r\ninjected: yes", "control characters"),
    ("tab\there", "control characters"),
    ("line\u2028separator", "control characters"),
    ("x" * 129, "longer than 128 characters"),
    ("", "empty"),
    (42, "not a string but int"),
    (["a"], "not a string but list"),
]
GOOD_IDS = ["a", "a" * 128, "ABC-xyz_0.9:1", "3f2b8c1e-9d4a-4c55-8f0e-7c1d2a3b4c5d"]
GOOD_VALUES = ["Zoë", "x" * 128, "user@example.com", "billing service"]

ALL_HEADERS = {
    "X-Correlation-Id": "corr-1",
    "X-Parent-Correlation-Id": "parent-1",
    "X-Request-Id": "req-1",
    "X-Service-Name": "billing",
    "X-Service-Version": "2.0.1",
    "X-User-Id": "user-1",
    "X-Operation-Name": "charge",
}


def _set_everything() -> None:
    Correlation.set_correlation_id("corr-1")
    Correlation.set_parent_correlation_id("parent-1")
    Request.set_request_id("req-1")
    Service.set_service_name("billing")
    Service.set_service_version("2.0.1")
    Service.set_environment("staging")
    Request.set_user_id("user-1")
    Request.set_operation_name("charge")


def _dropped(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [record for record in records if record["message"] == DROPPED]


def _fail_in_operation(name: str, error: BaseException, outcomes: list[dict[str, Any]]) -> None:
    with Performance.timed_operation(name) as outcome:
        outcomes.append(outcome)
        raise error


def _fail_in_new_correlation(error: BaseException) -> None:
    with Correlation.new_correlation():
        raise error


def _run_in_thread(func: Callable[[], Any], context: contextvars.Context | None = None) -> Any:
    """Run *func* in a real thread (in *context* when given) and return what it returned."""
    results: list[Any] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            results.append(context.run(func) if context is not None else func())
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return results[0]


# -- Correlation ---------------------------------------------------------------------


def test_generate_correlation_id_sets_and_returns_a_new_id() -> None:
    """generate_correlation_id makes a fresh 32-hex id current and returns it."""
    first = Correlation.generate_correlation_id()
    assert GENERATED_ID.fullmatch(first)
    assert Correlation.get_correlation_id() == first
    second = Correlation.generate_correlation_id()
    assert second != first
    assert Correlation.get_correlation_id() == second


def test_correlation_ids_are_unset_in_an_empty_context() -> None:
    """With nothing set, the correlation and parent ids are None."""
    assert Correlation.get_correlation_id() is None
    assert Correlation.get_parent_correlation_id() is None


@pytest.mark.parametrize(("key", "setter", "getter"), ID_FIELDS + VALUE_FIELDS)
def test_setting_none_unsets_a_field(
    key: str, setter: Callable[[Any], None], getter: Callable[[], str | None]
) -> None:
    """Each setter stores a value for its getter, and None unsets it again."""
    setter("value-1")
    assert getter() == "value-1"
    assert Serialization.get_full_context() == {key: "value-1"}
    setter(None)
    assert getter() is None


def test_new_correlation_makes_the_outer_id_its_parent_and_restores_both() -> None:
    """Inside new_correlation the outer id is the parent; after it both are as before."""
    Correlation.set_correlation_id("outer")
    with Correlation.new_correlation() as child:
        assert GENERATED_ID.fullmatch(child)
        assert Correlation.get_correlation_id() == child
        assert Correlation.get_parent_correlation_id() == "outer"
    assert Correlation.get_correlation_id() == "outer"
    assert Correlation.get_parent_correlation_id() is None


def test_new_correlation_without_an_outer_id_has_no_parent() -> None:
    """A correlation started with none current has no parent and leaves none behind."""
    with Correlation.new_correlation() as child:
        assert Correlation.get_correlation_id() == child
        assert Correlation.get_parent_correlation_id() is None
    assert Correlation.get_correlation_id() is None


def test_nested_new_correlations_chain_parents_and_unwind() -> None:
    """Two nested correlations each take the enclosing id as parent and unwind in order."""
    Correlation.set_correlation_id("root")
    with Correlation.new_correlation() as child:
        with Correlation.new_correlation() as grandchild:
            assert Correlation.get_correlation_id() == grandchild
            assert Correlation.get_parent_correlation_id() == child
        assert Correlation.get_correlation_id() == child
        assert Correlation.get_parent_correlation_id() == "root"
    assert Correlation.get_correlation_id() == "root"
    assert Correlation.get_parent_correlation_id() is None


def test_new_correlation_restores_the_outer_ids_when_the_block_raises() -> None:
    """An exception leaving new_correlation propagates and the outer ids come back."""
    Correlation.set_correlation_id("outer")
    Correlation.set_parent_correlation_id("grandparent")
    with pytest.raises(RuntimeError, match="boom"):
        _fail_in_new_correlation(RuntimeError("boom"))
    assert Correlation.get_correlation_id() == "outer"
    assert Correlation.get_parent_correlation_id() == "grandparent"


def test_inherit_correlation_keeps_the_current_id() -> None:
    """inherit_correlation yields and keeps the id already current."""
    Correlation.set_correlation_id("existing")
    with Correlation.inherit_correlation() as inherited:
        assert inherited == "existing"
        assert Correlation.get_correlation_id() == "existing"
        assert Correlation.get_parent_correlation_id() is None
    assert Correlation.get_correlation_id() == "existing"


def test_inherit_correlation_restores_the_id_changed_inside() -> None:
    """An id set inside inherit_correlation does not outlive the block."""
    Correlation.set_correlation_id("existing")
    with Correlation.inherit_correlation():
        Correlation.set_correlation_id("changed")
        assert Correlation.get_correlation_id() == "changed"
    assert Correlation.get_correlation_id() == "existing"


def test_inherit_correlation_starts_one_when_absent_and_removes_it_after() -> None:
    """Without a current id inherit_correlation creates one for the block only."""
    with Correlation.inherit_correlation() as created:
        assert GENERATED_ID.fullmatch(created)
        assert Correlation.get_correlation_id() == created
    assert Correlation.get_correlation_id() is None


# -- Service -------------------------------------------------------------------------


def test_service_context_names_the_service_and_restores_the_outer_one() -> None:
    """service_context sets name and version for the block, then the outer ones return."""
    Service.set_service_name("outer-service")
    Service.set_service_version("1.0")
    with Service.service_context("billing", "2.0"):
        assert Service.get_service_name() == "billing"
        assert Service.get_service_version() == "2.0"
    assert Service.get_service_name() == "outer-service"
    assert Service.get_service_version() == "1.0"


def test_service_context_restores_when_the_block_raises() -> None:
    """An exception leaving service_context still restores the outer service."""
    Service.set_service_name("outer-service")

    def fail() -> None:
        with Service.service_context("billing", "2.0"):
            raise ValueError("x")

    with pytest.raises(ValueError, match="x"):
        fail()
    assert Service.get_service_name() == "outer-service"
    assert Service.get_service_version() is None


def test_process_defaults_are_the_fallback_of_the_service_getters() -> None:
    """Process defaults show through the getters until the context sets its own value."""
    set_process_defaults(service_name="svc", service_version="1.4.0", environment="production")
    assert Service.get_service_name() == "svc"
    assert Service.get_service_version() == "1.4.0"
    assert Service.get_environment() == "production"
    Service.set_service_name("override")
    assert Service.get_service_name() == "override"
    Utilities.clear_context()
    assert Service.get_service_name() == "svc"


def test_process_defaults_are_seen_by_new_threads() -> None:
    """A new thread, whose context is empty, sees the process defaults."""
    set_process_defaults(service_name="svc", environment="staging")
    seen = _run_in_thread(lambda: (Service.get_service_name(), Service.get_environment()))
    assert seen == ("svc", "staging")


def test_process_defaults_reach_contexts_made_before_they_were_set() -> None:
    """A thread that set context values earlier sees defaults set afterwards."""
    values_set, defaults_set = threading.Event(), threading.Event()

    def worker() -> tuple[str | None, str | None]:
        Request.set_user_id("u1")
        values_set.set()
        defaults_set.wait(5)
        return Service.get_service_name(), Request.get_user_id()

    result: list[tuple[str | None, str | None]] = []
    thread = threading.Thread(target=lambda: result.append(worker()))
    thread.start()
    values_set.wait(5)
    set_process_defaults(service_name="late-svc")
    defaults_set.set()
    thread.join()
    assert result == [("late-svc", "u1")]


def test_configured_service_identity_reaches_records_of_new_threads(
    json_stream: JsonStream,
) -> None:
    """configure(service_name=...) puts the service on records made in any thread."""
    stream, records = json_stream
    configure(format="json", stream=stream, service_name="user-service", service_version="1.4.0")
    _run_in_thread(lambda: logger.info("from_thread"))
    (record,) = records()
    assert record["service_name"] == "user-service"
    assert record["service_version"] == "1.4.0"


# -- Request -------------------------------------------------------------------------


def test_request_context_sets_values_and_metadata_for_the_block() -> None:
    """request_context sets user, operation name, request id and metadata, then clears them."""
    metadata = {"tenant": "acme", "plan": "pro"}
    with Request.request_context(
        user_id="u1", operation_name="signup", request_id="r-1", metadata=metadata
    ):
        assert Request.get_user_id() == "u1"
        assert Request.get_operation_name() == "signup"
        assert Request.get_request_id() == "r-1"
        assert Performance.get_operation_metadata() == metadata
    assert Request.get_user_id() is None
    assert Request.get_operation_name() is None
    assert Request.get_request_id() is None
    assert Performance.get_operation_metadata() == {}


def test_nested_request_context_overrides_given_values_and_keeps_the_rest() -> None:
    """An inner scope changes only the values it gives; None keeps the outer ones."""
    with Request.request_context(
        user_id="u1", operation_name="signup", request_id="r-1", metadata={"a": 1}
    ):
        with Request.request_context(user_id="u2", metadata={"b": 2}):
            assert Request.get_user_id() == "u2"
            assert Request.get_operation_name() == "signup"
            assert Request.get_request_id() == "r-1"
            assert Performance.get_operation_metadata() == {"a": 1, "b": 2}
        assert Request.get_user_id() == "u1"
        assert Performance.get_operation_metadata() == {"a": 1}


def test_request_context_restores_when_the_block_raises() -> None:
    """An exception leaving request_context restores the outer request values."""
    Request.set_request_id("outer")

    def fail() -> None:
        with Request.request_context(request_id="inner", metadata={"k": "v"}):
            raise KeyError("k")

    with pytest.raises(KeyError):
        fail()
    assert Request.get_request_id() == "outer"
    assert Performance.get_operation_metadata() == {}


def test_request_metadata_is_a_copy_of_the_callers_mapping() -> None:
    """Changing the caller's metadata dict after entering does not change the context."""
    metadata = {"tenant": "acme"}
    with Request.request_context(metadata=metadata):
        metadata["tenant"] = "changed"
        metadata["extra"] = "added"
        assert Performance.get_operation_metadata() == {"tenant": "acme"}


# -- Performance ---------------------------------------------------------------------


def test_timed_operation_yields_the_start_on_entry() -> None:
    """On entry the yielded dict has the operation name and an aware UTC start time only."""
    before = datetime.datetime.now(datetime.timezone.utc)
    with Performance.timed_operation("db_insert") as outcome:
        assert outcome["operation"] == "db_insert"
        assert outcome["start_time"].utcoffset() == datetime.timedelta(0)
        assert before <= outcome["start_time"]
        assert "end_time" not in outcome
        assert "status" not in outcome


def test_timed_operation_fills_in_end_and_duration_on_success() -> None:
    """On a normal exit the dict gains end_time, duration (at least the time slept), status."""
    with Performance.timed_operation("db_insert") as outcome:
        time.sleep(0.02)
    assert outcome["status"] == "succeeded"
    assert outcome["duration_seconds"] >= 0.02
    assert outcome["end_time"] >= outcome["start_time"] + datetime.timedelta(seconds=0.02)
    assert outcome["end_time"].utcoffset() == datetime.timedelta(0)
    assert "error_type" not in outcome


def test_timed_operation_records_failure_and_lets_the_exception_through() -> None:
    """When the block raises, the dict says failed with the error type; the error propagates."""
    outcomes: list[dict[str, Any]] = []
    with pytest.raises(KeyError, match="card"):
        _fail_in_operation("charge", KeyError("card"), outcomes)
    (outcome,) = outcomes
    assert outcome["status"] == "failed"
    assert outcome["error_type"] == "KeyError"
    assert outcome["duration_seconds"] >= 0
    assert outcome["end_time"] >= outcome["start_time"]


def test_timed_operation_names_the_operation_in_records_made_inside() -> None:
    """Records inside carry the innermost operation name; after exit it is gone."""
    with capture_logs() as records:
        with Performance.timed_operation("outer"):
            with Performance.timed_operation("inner"):
                logger.info("in_inner")
            logger.info("in_outer")
        logger.info("after")
    by_message = {record["message"]: record for record in records}
    assert by_message["in_inner"]["operation"] == "inner"
    assert by_message["in_outer"]["operation"] == "outer"
    assert "operation" not in by_message["after"]


def test_operation_finished_record_carries_duration_status_and_own_metadata() -> None:
    """A successful operation logs operation_finished with its own metadata only."""
    with (
        capture_logs() as records,
        Request.request_context(request_id="r-1", metadata={"tenant": "acme"}),
        Performance.timed_operation("db_insert") as outcome,
    ):
        Performance.add_operation_metadata("rows", 3)
    (record,) = records
    assert record["message"] == "operation_finished"
    assert record["level"] == "info"
    assert record["operation"] == "db_insert"
    assert record["request_id"] == "r-1"
    assert record["status"] == "succeeded"
    assert record["duration_ms"] == round(outcome["duration_seconds"] * 1000, 3)
    assert record["metadata"] == {"rows": 3}
    assert "error_type" not in record
    assert "error_code" not in record


def test_operation_finished_record_leaves_out_metadata_of_enclosing_scopes() -> None:
    """An operation that adds no metadata does not report the request's metadata."""
    with (
        capture_logs() as records,
        Request.request_context(metadata={"tenant": "acme"}),
        Performance.timed_operation("noop"),
    ):
        pass
    (record,) = records
    assert record.get("metadata", {}) == {}


@pytest.mark.parametrize(
    ("error", "error_type", "error_code"),
    [
        (ValueError("bad"), "ValueError", None),
        (FlextExceptions("no user", resource_id="7"), "NotFoundError", "FLEXT_NOT_FOUND_ERROR"),
        (FlextExceptions("custom", error_code="PAY_001"), "Error", "PAY_001"),
    ],
)
def test_operation_failed_record_carries_error_type_and_code(
    error: Exception, error_type: str, error_code: str | None
) -> None:
    """A failing operation logs operation_failed at error level with type and flext code."""
    outcomes: list[dict[str, Any]] = []
    with capture_logs() as records, pytest.raises(type(error)):
        _fail_in_operation("lookup", error, outcomes)
    (record,) = records
    assert record["message"] == "operation_failed"
    assert record["level"] == "error"
    assert record["operation"] == "lookup"
    assert record["status"] == "failed"
    assert record["error_type"] == error_type
    assert record.get("error_code") == error_code
    assert record["duration_ms"] == round(outcomes[0]["duration_seconds"] * 1000, 3)


def test_operation_records_are_rendered_as_json(json_stream: JsonStream) -> None:
    """With JSON output the operation record is one line with the documented fields."""
    stream, records = json_stream
    configure(format="json", stream=stream)
    with Correlation.new_correlation() as correlation_id, Performance.timed_operation("sync"):
        Performance.add_operation_metadata("items", [1, 2])
    (record,) = records()
    assert record["message"] == "operation_finished"
    assert record["correlation_id"] == correlation_id
    assert record["operation"] == "sync"
    assert record["status"] == "succeeded"
    assert isinstance(record["duration_ms"], float)
    assert record["metadata"] == {"items": [1, 2]}


def test_log_operations_false_turns_operation_records_off(json_stream: JsonStream) -> None:
    """configure(log_operations=False) stops operation records; the outcome is still filled."""
    stream, records = json_stream
    configure(format="json", stream=stream, log_operations=False)
    with Performance.timed_operation("quiet") as outcome:
        logger.info("inside")
    outcomes: list[dict[str, Any]] = []
    with pytest.raises(ValueError, match="x"):
        _fail_in_operation("quiet_failure", ValueError("x"), outcomes)
    assert [record["message"] for record in records()] == ["inside"]
    assert outcome["status"] == "succeeded"
    assert outcomes[0]["status"] == "failed"


def test_operation_metadata_can_be_added_and_read_back_as_a_copy() -> None:
    """Added metadata reads back; changing the returned dict changes nothing."""
    Performance.add_operation_metadata("rows", 3)
    Performance.add_operation_metadata("table", "users")
    metadata = Performance.get_operation_metadata()
    assert metadata == {"rows": 3, "table": "users"}
    metadata["rows"] = 999
    assert Performance.get_operation_metadata() == {"rows": 3, "table": "users"}


def test_metadata_added_inside_a_timed_operation_is_gone_after_it() -> None:
    """Metadata added inside an operation is not visible once it exits; outer metadata stays."""
    Performance.add_operation_metadata("outer", 1)
    with Performance.timed_operation("inner"):
        Performance.add_operation_metadata("inner", 2)
        assert Performance.get_operation_metadata() == {"outer": 1, "inner": 2}
    assert Performance.get_operation_metadata() == {"outer": 1}


def test_nested_operations_report_only_their_own_metadata() -> None:
    """The outer operation's record does not include metadata the inner one added."""
    with capture_logs() as records, Performance.timed_operation("outer"):
        Performance.add_operation_metadata("outer_key", 1)
        with Performance.timed_operation("inner"):
            Performance.add_operation_metadata("inner_key", 2)
    inner, outer = records
    assert (inner["operation"], inner["metadata"]) == ("inner", {"inner_key": 2})
    assert (outer["operation"], outer["metadata"]) == ("outer", {"outer_key": 1})


def test_threads_sharing_a_parent_context_never_write_into_each_others_metadata() -> None:
    """Metadata is copy-on-write: threads running copies of one context stay apart."""
    Performance.add_operation_metadata("shared", 0)
    first_ctx, second_ctx = contextvars.copy_context(), contextvars.copy_context()
    both_wrote = threading.Barrier(3)
    seen: dict[str, dict[str, Any]] = {}

    def worker(name: str) -> None:
        Performance.add_operation_metadata(name, name.upper())
        both_wrote.wait(5)
        seen[name] = Performance.get_operation_metadata()

    threads = [
        threading.Thread(target=first_ctx.run, args=(worker, "first")),
        threading.Thread(target=second_ctx.run, args=(worker, "second")),
    ]
    for thread in threads:
        thread.start()
    Performance.add_operation_metadata("main", "MAIN")
    both_wrote.wait(5)
    for thread in threads:
        thread.join()
    assert seen == {
        "first": {"shared": 0, "first": "FIRST"},
        "second": {"shared": 0, "second": "SECOND"},
    }
    assert Performance.get_operation_metadata() == {"shared": 0, "main": "MAIN"}


def test_asyncio_tasks_never_write_into_each_others_metadata() -> None:
    """Tasks inheriting one context each see only the shared metadata and their own."""

    async def task(index: int) -> dict[str, Any]:
        Performance.add_operation_metadata(f"task-{index}", index)
        await asyncio.sleep(0)
        with Performance.timed_operation(f"op-{index}"):
            Performance.add_operation_metadata("inside", index)
            await asyncio.sleep(0)
        await asyncio.sleep(0)
        return Performance.get_operation_metadata()

    async def main() -> list[dict[str, Any]]:
        Performance.add_operation_metadata("shared", "yes")
        return await asyncio.gather(*(task(index) for index in range(50)))

    configure(log_operations=False)
    results = asyncio.run(main())
    assert results == [{"shared": "yes", f"task-{index}": index} for index in range(50)]
    assert Performance.get_operation_metadata() == {}


# -- Serialization -------------------------------------------------------------------


def test_full_context_holds_every_value_and_the_metadata() -> None:
    """get_full_context gives every set value by its record key, plus metadata."""
    _set_everything()
    Performance.add_operation_metadata("tenant", "acme")
    assert Serialization.get_full_context() == {
        "correlation_id": "corr-1",
        "parent_correlation_id": "parent-1",
        "request_id": "req-1",
        "service_name": "billing",
        "service_version": "2.0.1",
        "environment": "staging",
        "user_id": "user-1",
        "operation_name": "charge",
        "metadata": {"tenant": "acme"},
    }


def test_full_context_is_json_serialisable_with_odd_metadata() -> None:
    """Sets, objects, bytes and datetimes in metadata still give a JSON-encodable context."""

    class Opaque:
        def __repr__(self) -> str:
            return "<Opaque>"

    class Unrepresentable:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    Correlation.set_correlation_id("corr-1")
    Performance.add_operation_metadata("tags", {"b", "a"})
    Performance.add_operation_metadata("object", Opaque())
    Performance.add_operation_metadata("raw", b"bytes")
    Performance.add_operation_metadata(
        "when", datetime.datetime(2024, 5, 1, 12, 0, tzinfo=datetime.timezone.utc)
    )
    Performance.add_operation_metadata("nested", {1: (1, 2)})
    Performance.add_operation_metadata("broken", Unrepresentable())
    decoded = json.loads(json.dumps(Serialization.get_full_context()))
    broken = decoded["metadata"].pop("broken")
    assert broken.startswith("<unrepresentable ")
    assert broken.endswith("Unrepresentable: RuntimeError>")
    assert decoded == {
        "correlation_id": "corr-1",
        "metadata": {
            "tags": ["a", "b"],
            "object": "<Opaque>",
            "raw": "bytes",
            "when": "2024-05-01T12:00:00.000000Z",
            "nested": {"1": [1, 2]},
        },
    }


def test_correlation_context_uses_the_exact_header_names() -> None:
    """get_correlation_context names every set value by its X- header, and nothing else."""
    _set_everything()
    headers = Serialization.get_correlation_context()
    assert headers == ALL_HEADERS
    assert list(headers) == list(ALL_HEADERS)


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        (dict[str, str](), {}),
        ({"correlation_id": "c-1"}, {"X-Correlation-Id": "c-1"}),
        ({"user_id": "u-1", "request_id": "r-1"}, {"X-Request-Id": "r-1", "X-User-Id": "u-1"}),
        ({"environment": "prod"}, {}),
    ],
)
def test_correlation_context_contains_only_set_values(
    setup: dict[str, str], expected: dict[str, str]
) -> None:
    """Only values that are set become headers; the environment is never one."""
    with Serialization.context_from(setup):
        assert Serialization.get_correlation_context() == expected


def test_correlation_context_includes_the_configured_service() -> None:
    """Outgoing headers name the service given to configure when the context names none."""
    set_process_defaults(service_name="svc", service_version="3.1")
    assert Serialization.get_correlation_context() == {
        "X-Service-Name": "svc",
        "X-Service-Version": "3.1",
    }


INBOUND_NAMES = [
    ("X-Correlation-Id", Correlation.get_correlation_id),
    ("x-correlation-id", Correlation.get_correlation_id),
    ("X-CORRELATION-ID", Correlation.get_correlation_id),
    ("X-Correlation-ID", Correlation.get_correlation_id),
    ("correlation_id", Correlation.get_correlation_id),
    ("X-Parent-Correlation-Id", Correlation.get_parent_correlation_id),
    ("parent_correlation_id", Correlation.get_parent_correlation_id),
    ("X-Request-Id", Request.get_request_id),
    ("X-Request-ID", Request.get_request_id),
    ("x-request-id", Request.get_request_id),
    ("request_id", Request.get_request_id),
    ("x-user-id", Request.get_user_id),
    ("user_id", Request.get_user_id),
    ("X-Operation-Name", Request.get_operation_name),
    ("operation_name", Request.get_operation_name),
    ("environment", Service.get_environment),
]


@pytest.mark.parametrize(("name", "getter"), INBOUND_NAMES)
def test_set_from_context_accepts_headers_in_any_case_and_context_keys(
    name: str, getter: Callable[[], str | None]
) -> None:
    """Each header (any letter case) and each get_full_context key sets its value."""
    adopted = Serialization.set_from_context({name: "value-1"})
    assert getter() == "value-1"
    assert list(adopted.values()) == ["value-1"]


def test_set_from_context_ignores_unrelated_headers() -> None:
    """Headers that are not context (Authorization, Content-Type) are not adopted."""
    adopted = Serialization.set_from_context(
        {"Authorization": "Bearer secret", "Content-Type": "text/plain", "X-Request-Id": "r-1"}
    )
    assert adopted == {"request_id": "r-1"}
    assert Serialization.get_full_context() == {"request_id": "r-1"}


def test_full_context_round_trips_through_set_from_context() -> None:
    """get_full_context fed to set_from_context reproduces it; the sender's service is metadata."""
    _set_everything()
    Performance.add_operation_metadata("tenant", "acme")
    full = Serialization.get_full_context()
    Utilities.clear_context()
    assert Serialization.get_full_context() == {}
    Serialization.set_from_context(json.loads(json.dumps(full)))
    expected = {k: v for k, v in full.items() if k not in ("service_name", "service_version")}
    expected["metadata"] = {
        "tenant": "acme",
        "caller_service": "billing",
        "caller_service_version": "2.0.1",
    }
    assert Serialization.get_full_context() == expected


def test_headers_round_trip_through_set_from_context() -> None:
    """get_correlation_context fed to set_from_context reproduces the same headers."""
    _set_everything()
    headers = Serialization.get_correlation_context()
    Utilities.clear_context()
    with Service.service_context("billing", "2.0.1"):
        Serialization.set_from_context(headers)
        assert Serialization.get_correlation_context() == headers


@pytest.mark.parametrize("case", [str.title, str.lower, str.upper])
def test_inbound_service_identity_is_kept_as_caller_metadata(
    case: Callable[[str], str],
) -> None:
    """A caller's X-Service-Name/Version never replace this service's own identity."""
    set_process_defaults(service_name="receiver", service_version="9.9")
    with Serialization.context_from(
        {case("X-Service-Name"): "sender", case("X-Service-Version"): "1.0"}
    ) as adopted:
        assert Service.get_service_name() == "receiver"
        assert Service.get_service_version() == "9.9"
        assert Performance.get_operation_metadata() == {
            "caller_service": "sender",
            "caller_service_version": "1.0",
        }
        assert adopted == {}


def test_context_from_applies_only_for_the_block() -> None:
    """context_from adopts the headers for the block and restores the outer context after."""
    Correlation.set_correlation_id("outer")
    with Serialization.context_from(ALL_HEADERS) as adopted:
        assert Correlation.get_correlation_id() == "corr-1"
        assert Request.get_user_id() == "user-1"
        assert adopted["request_id"] == "req-1"
    assert Correlation.get_correlation_id() == "outer"
    assert Request.get_user_id() is None


def test_context_from_values_never_bleed_into_the_next_request() -> None:
    """Two requests handled one after another: the second sees nothing of the first."""
    seen = []
    for headers in ({"X-Correlation-Id": "c-1", "X-User-Id": "alice"}, {}):
        with Serialization.context_from(headers):
            seen.append((Correlation.get_correlation_id(), Request.get_user_id()))
    assert seen == [("c-1", "alice"), (None, None)]


def test_context_from_restores_when_the_block_raises() -> None:
    """An exception leaving context_from still restores the outer context."""

    def handle() -> None:
        with Serialization.context_from({"X-Correlation-Id": "c-1", "metadata": {"k": 1}}):
            raise RuntimeError("handler failed")

    with pytest.raises(RuntimeError, match="handler failed"):
        handle()
    assert Serialization.get_full_context() == {}


# -- Validation ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "setter", "getter", "value", "reason"),
    [
        (*field, value, reason)
        for field, (value, reason) in itertools.chain(
            itertools.product(ID_FIELDS, BAD_IDS), itertools.product(VALUE_FIELDS, BAD_VALUES)
        )
    ],
)
def test_invalid_value_is_dropped_and_reported_once(
    key: str,
    setter: Callable[[Any], None],
    getter: Callable[[], str | None],
    value: object,
    reason: str,
) -> None:
    """An invalid value leaves the field as it was and logs one warning saying why."""
    setter("previous")
    with capture_logs() as records:
        setter(value)
    assert getter() == "previous"
    (warning,) = _dropped(records)
    assert warning["level"] == "warning"
    assert warning["field"] == key
    assert warning["source"] == "set"
    assert warning["reason"] == reason
    preview = warning["value_preview"]
    assert preview.isascii()
    assert preview.isprintable()
    assert len(preview) <= 48
    if not isinstance(value, str):
        assert preview == type(value).__name__


@pytest.mark.parametrize(
    ("key", "setter", "getter", "value"),
    [
        *[(*field, value) for field in ID_FIELDS for value in GOOD_IDS],
        *[(*field, value) for field in VALUE_FIELDS for value in GOOD_VALUES],
    ],
)
def test_valid_value_is_kept_unchanged_without_a_warning(
    key: str, setter: Callable[[Any], None], getter: Callable[[], str | None], value: str
) -> None:
    """A valid value (up to 128 characters) is stored exactly and nothing is reported."""
    with capture_logs() as records:
        setter(value)
    assert getter() == value
    assert _dropped(records) == []


def test_invalid_id_is_not_half_used() -> None:
    """An id with a line break is dropped whole, not cut at the break."""
    with capture_logs():
        Correlation.set_correlation_id("good-part\r\nX-Injected: 1")
        Request.set_request_id("r" * 129)
    assert Correlation.get_correlation_id() is None
    assert Request.get_request_id() is None


def test_dropped_value_warning_is_one_json_line(json_stream: JsonStream) -> None:
    """The warning for a CR/LF value renders as a single JSON line without the raw breaks."""
    stream, records = json_stream
    configure(format="json", stream=stream)
    Correlation.set_correlation_id("abc\r\nlevel=critical")
    assert len(stream.getvalue().splitlines()) == 1
    (record,) = records()
    assert record["message"] == DROPPED
    assert record["logger"] == "flext_logging.context"
    assert "\n" not in record["value_preview"]
    assert "\r" not in record["value_preview"]


def test_request_context_drops_only_the_invalid_values() -> None:
    """request_context uses its valid values and keeps the outer one for a dropped value."""
    Request.set_user_id("outer-user")
    with (
        capture_logs() as records,
        Request.request_context(user_id="evil\nuser", request_id="r-1"),
    ):
        assert Request.get_user_id() == "outer-user"
        assert Request.get_request_id() == "r-1"
    (warning,) = _dropped(records)
    assert (warning["field"], warning["source"]) == ("user_id", "request_context")


def test_service_context_drops_an_invalid_name() -> None:
    """service_context with an over-long name keeps the outer name and reports it."""
    Service.set_service_name("outer")
    with capture_logs() as records, Service.service_context("s" * 129, "2.0"):
        assert Service.get_service_name() == "outer"
        assert Service.get_service_version() == "2.0"
    (warning,) = _dropped(records)
    assert (warning["field"], warning["source"]) == ("service_name", "service_context")


def test_inbound_headers_drop_invalid_values_and_adopt_the_rest() -> None:
    """set_from_context drops an invalid header value, reports it and adopts the others."""
    with capture_logs() as records:
        adopted = Serialization.set_from_context(
            {"X-Correlation-Id": "bad id\r\n", "X-Request-Id": "r-1", "X-User-Id": ["u"]}
        )
    assert adopted == {"request_id": "r-1"}
    assert Correlation.get_correlation_id() is None
    warnings = _dropped(records)
    assert {(w["field"], w["source"], w["reason"]) for w in warnings} == {
        ("correlation_id", "inbound", OUTSIDE_ID_GRAMMAR),
        ("user_id", "inbound", "not a string but list"),
    }


# -- Utilities -----------------------------------------------------------------------


def test_clear_context_unsets_values_and_metadata_but_keeps_process_defaults() -> None:
    """clear_context empties the context; the configured service still shows through."""
    set_process_defaults(service_name="svc")
    _set_everything()
    Performance.add_operation_metadata("k", "v")
    Utilities.clear_context()
    assert Serialization.get_full_context() == {"service_name": "svc"}
    assert Performance.get_operation_metadata() == {}


def test_ensure_correlation_id_keeps_an_existing_id() -> None:
    """ensure_correlation_id returns the current id without replacing it."""
    Correlation.set_correlation_id("existing")
    assert Utilities.ensure_correlation_id() == "existing"
    assert Correlation.get_correlation_id() == "existing"


def test_ensure_correlation_id_creates_one_when_absent() -> None:
    """ensure_correlation_id creates, sets and returns an id when none is set."""
    created = Utilities.ensure_correlation_id()
    assert GENERATED_ID.fullmatch(created)
    assert Correlation.get_correlation_id() == created
    assert Utilities.ensure_correlation_id() == created


def test_has_correlation_id_tells_whether_one_is_set() -> None:
    """has_correlation_id is False until an id is set and True after."""
    assert Utilities.has_correlation_id() is False
    Correlation.set_correlation_id("c-1")
    assert Utilities.has_correlation_id() is True


@pytest.mark.parametrize(
    ("values", "summary"),
    [
        ({}, "correlation=- service=- user=-"),
        (
            {"X-Correlation-Id": "c-1", "X-Service-Name": "svc", "X-User-Id": "u-1"},
            "correlation=c-1 service=svc user=u-1",
        ),
        (
            {"X-Correlation-Id": "c-1", "X-Service-Name": "svc", "X-Service-Version": "1.2"},
            "correlation=c-1 service=svc@1.2 user=-",
        ),
        (
            {"X-Service-Name": "svc", "X-User-Id": "u-1", "X-Operation-Name": "signup"},
            "correlation=- service=svc user=u-1 operation=signup",
        ),
    ],
)
def test_context_summary_is_one_readable_line(values: dict[str, str], summary: str) -> None:
    """get_context_summary names correlation, service (with version), user and operation."""
    service = values.pop("X-Service-Name", None)
    version = values.pop("X-Service-Version", None)
    with Serialization.context_from(values):
        if service is None:
            assert Utilities.get_context_summary() == summary
        else:
            with Service.service_context(service, version):
                assert Utilities.get_context_summary() == summary


@pytest.mark.parametrize(
    ("environment", "log_format", "level", "max_frames"),
    [
        ("development", "console", "DEBUG", 100),
        ("test", "json", "DEBUG", 100),
        ("staging", "json", "INFO", 50),
        ("production", "json", "INFO", 30),
    ],
)
def test_environment_context_config_gives_the_settings_of_each_environment(
    environment: str, log_format: str, level: str, max_frames: int
) -> None:
    """Each known environment gives format, level, redaction and its error handling."""
    result = FlextContext.create_environment_context_config(environment)
    assert result.is_success
    settings = result.value
    assert settings["format"] == log_format
    assert settings["level"] == level
    assert settings["redaction"] is True
    assert settings["error_handling"]["environment"] == environment
    assert settings["error_handling"]["max_frames"] == max_frames
    assert settings["error_handling"]["show_locals"] is False


@pytest.mark.parametrize("environment", ["qa", "", "PRODUCTION", None, 3])
def test_environment_context_config_fails_clearly_for_unknown_names(environment: Any) -> None:
    """An unknown environment fails, naming it and listing the known environments."""
    result = FlextContext.create_environment_context_config(environment)
    assert result.is_failure
    assert repr(environment) in (result.error or "")
    assert "development, production, staging, test" in (result.error or "")


# -- Isolation under real concurrency ------------------------------------------------


def test_real_threads_each_log_only_their_own_request(json_stream: JsonStream) -> None:
    """16 threads in their own request scopes interleave; every record has its own ids."""
    stream, records = json_stream
    configure(format="json", stream=stream)
    threads_count, steps = 16, 25
    start = threading.Barrier(threads_count)
    correlation_ids: dict[int, str] = {}
    mismatches: list[tuple[int, int]] = []

    def handle(index: int) -> None:
        with (
            Request.request_context(user_id=f"user-{index}", request_id=f"req-{index}"),
            Correlation.new_correlation() as correlation_id,
        ):
            correlation_ids[index] = correlation_id
            start.wait(5)
            for step in range(steps):
                logger.info("step", worker=index, step=step)
                if (Request.get_request_id(), Correlation.get_correlation_id()) != (
                    f"req-{index}",
                    correlation_id,
                ):
                    mismatches.append((index, step))
                time.sleep(0)

    threads = [threading.Thread(target=handle, args=(i,)) for i in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    logged = records()
    assert mismatches == []
    assert len(logged) == threads_count * steps
    for record in logged:
        index = record["worker"]
        assert record["request_id"] == f"req-{index}"
        assert record["user_id"] == f"user-{index}"
        assert record["correlation_id"] == correlation_ids[index]
    assert len(set(correlation_ids.values())) == threads_count
    assert Correlation.get_correlation_id() is None


def test_real_asyncio_tasks_each_log_only_their_own_correlation(json_stream: JsonStream) -> None:
    """200 gathered tasks, each in its own new_correlation, yield between records."""
    stream, records = json_stream
    configure(format="json", stream=stream)
    tasks_count, steps = 200, 3
    correlation_ids: dict[int, str] = {}

    async def handle(index: int) -> None:
        with (
            Correlation.new_correlation() as correlation_id,
            Request.request_context(request_id=f"req-{index}"),
        ):
            correlation_ids[index] = correlation_id
            for step in range(steps):
                await asyncio.sleep(0)
                logger.info("step", task=index, step=step)

    async def main() -> None:
        await asyncio.gather(*(handle(index) for index in range(tasks_count)))
        logger.info("all_done")

    Correlation.set_correlation_id("batch-1")
    asyncio.run(main())
    *steps_logged, done = records()
    assert len(steps_logged) == tasks_count * steps
    for record in steps_logged:
        index = record["task"]
        assert record["correlation_id"] == correlation_ids[index]
        assert record["parent_correlation_id"] == "batch-1"
        assert record["request_id"] == f"req-{index}"
    assert len(set(correlation_ids.values())) == tasks_count
    assert done["correlation_id"] == "batch-1"
    assert "request_id" not in done
    assert Correlation.get_correlation_id() == "batch-1"


def test_service_context_without_version_hides_the_configured_version() -> None:
    """Naming another service without a version does not borrow the configured version."""
    set_process_defaults(service_name="user-service", service_version="1.4.0")
    with FlextContext.Service.service_context("billing"):
        assert FlextContext.Service.get_service_name() == "billing"
        assert FlextContext.Service.get_service_version() is None
        assert "X-Service-Version" not in FlextContext.Serialization.get_correlation_context()
    assert FlextContext.Service.get_service_version() == "1.4.0"


def test_inbound_none_value_keeps_the_outer_value() -> None:
    """A header mapping whose value is None adopts nothing for that key."""
    FlextContext.Correlation.set_correlation_id("outer-id")
    with FlextContext.Serialization.context_from({"X-Correlation-Id": None, "X-Request-Id": "r1"}):
        assert FlextContext.Correlation.get_correlation_id() == "outer-id"
        assert FlextContext.Request.get_request_id() == "r1"


@pytest.mark.parametrize(
    ("option", "value"),
    [("service_name", "bad\nname"), ("service_version", "x" * 129), ("environment", "\x1b[31m")],
)
def test_configure_rejects_unusable_service_identity(option: str, value: str) -> None:
    """configure() fails at start-up on an identity value no record could carry."""
    with pytest.raises(ValueError, match=option):
        configure(**{option: value})


# -- Fields for a whole scope: bind / bound ---------------------------------------------------


def test_bound_fields_are_on_every_record_of_the_block_and_gone_after() -> None:
    """with FlextContext.bound(...): each record inside has the fields, after the context keys."""
    with capture_logs() as records:
        with Request.request_context(request_id="r-1"), FlextContext.bound(tenant_id="t1"):
            logger.info("inside", plan="pro")
            logging_in_thread = threading.Thread(
                target=FlextContext.Utilities.propagate(lambda: logger.info("in a thread"))
            )
            logging_in_thread.start()
            logging_in_thread.join()
        logger.info("after")
    inside, in_thread, after = records
    assert list(inside)[5:] == ["request_id", "tenant_id", "plan"]
    assert in_thread["tenant_id"] == "t1"
    assert "tenant_id" not in after


def test_bound_restores_the_outer_fields_and_inner_values_win() -> None:
    """Nested bound() blocks add to the outer fields; on exit the outer ones are back."""
    with capture_logs() as records, FlextContext.bound(tenant_id="t1", region="eu"):
        with FlextContext.bound(region="us", order_id=7):
            logger.info("inner")
        logger.info("outer")
    inner, outer = records
    assert (inner["tenant_id"], inner["region"], inner["order_id"]) == ("t1", "us", 7)
    assert (outer["region"], "order_id" in outer) == ("eu", False)


def test_bound_restores_on_exit_when_the_block_raises() -> None:
    """An exception leaving the block still removes the fields."""
    with pytest.raises(KeyError), FlextContext.bound(tenant_id="t1"):
        raise KeyError("x")
    assert FlextContext.get_bound_fields() == {}


def test_bound_is_copy_on_write() -> None:
    """Binding in a task never changes what its parent context sees."""
    outer: dict[str, Any] = {}

    async def child() -> None:
        FlextContext.bind(step="child")

    async def main() -> None:
        FlextContext.bind(step="parent")
        await asyncio.create_task(child())
        outer.update(FlextContext.get_bound_fields())

    asyncio.run(main())
    assert outer == {"step": "parent"}


def test_bind_sets_context_keys_as_validated_context_values() -> None:
    """bind(request_id=...) sets the context value; an invalid one is dropped and reported."""
    with capture_logs() as records:
        with FlextContext.bound(request_id="r-9", note="x"):
            assert Request.get_request_id() == "r-9"
            logger.info("valid")
        with FlextContext.bound(request_id="bad id"):
            logger.info("invalid")
    valid, dropped, invalid = records
    assert list(valid)[5:] == ["request_id", "note"]
    assert dropped["message"] == DROPPED
    assert "request_id" not in invalid


@pytest.mark.parametrize("name", ["timestamp", "level", "logger", "message", "process_id", "a\nb"])
def test_bind_never_overrides_the_head(name: str) -> None:
    """A head key (or an unprintable name) is dropped and reported, the head stays."""
    with capture_logs() as records:
        FlextContext.bind(**{name: "x"}, kept=1)
        logger.info("m")
    dropped, record = records
    assert dropped["message"] == DROPPED
    assert record["message"] == "m"
    assert record["kept"] == 1
    assert record.get(name) != "x"


def test_unbind_removes_bound_fields_and_context_values() -> None:
    """unbind() stops adding the named fields (and context values) to records."""
    FlextContext.bind(tenant_id="t1", user_id="u1", order_id=7)
    FlextContext.unbind("tenant_id", "user_id")
    assert FlextContext.get_bound_fields() == {"order_id": 7}
    assert Request.get_user_id() is None


def test_bound_as_a_decorator_binds_for_each_call_sync_and_async() -> None:
    """@FlextContext.bound(...) on a function or a coroutine function binds for its calls."""

    @FlextContext.bound(component="billing")
    def charge() -> dict[str, Any]:
        return FlextContext.get_bound_fields()

    @FlextContext.bound(component="async-billing")
    async def charge_later() -> dict[str, Any]:
        await asyncio.sleep(0)
        return FlextContext.get_bound_fields()

    assert charge() == {"component": "billing"}
    assert asyncio.run(charge_later()) == {"component": "async-billing"}
    assert FlextContext.get_bound_fields() == {}
    assert charge.__name__ == "charge"


# -- timed_operation as a decorator -----------------------------------------------------------


def test_timed_operation_decorates_a_function_each_call_one_operation() -> None:
    """@timed_operation("name") times each call of a sync function, success and failure."""

    @Performance.timed_operation("charge")
    def charge(amount: int) -> int:
        if amount < 0:
            raise ValueError("negative")
        logger.info("charging")
        return amount

    with capture_logs() as records:
        assert charge(5) == 5
        with pytest.raises(ValueError, match="negative"):
            charge(-1)
    inside, finished, failed = records
    assert inside["operation"] == "charge"
    assert (finished["message"], finished["status"]) == ("operation_finished", "succeeded")
    assert (failed["message"], failed["error_type"]) == ("operation_failed", "ValueError")


def test_timed_operation_decorates_a_coroutine_function_for_the_whole_await() -> None:
    """An async function's operation lasts until the awaited call returns."""

    @Performance.timed_operation("fetch")
    async def fetch() -> str:
        await asyncio.sleep(0.01)
        logger.info("fetched")
        return "ok"

    with capture_logs() as records:
        assert asyncio.run(fetch()) == "ok"
    inside, finished = [record for record in records if record["logger"] != "asyncio"]
    assert inside["operation"] == "fetch"
    assert finished["message"] == "operation_finished"
    assert finished["duration_ms"] >= 10


@pytest.mark.parametrize("stop", [asyncio.CancelledError, KeyboardInterrupt, GeneratorExit])
def test_an_operation_stopped_by_what_is_no_error_is_cancelled_not_failed(
    stop: type[BaseException],
) -> None:
    """A cancelled task, an interrupt, a closed generator: operation_finished at warning
    level with status cancelled and the exception's type; no operation_failed."""
    outcomes: list[dict[str, Any]] = []
    with capture_logs() as records, pytest.raises(stop):
        _fail_in_operation("fetch", stop(), outcomes)
    (record,) = records
    assert (record["message"], record["level"]) == ("operation_finished", "warning")
    assert (record["status"], record["error_type"]) == ("cancelled", stop.__qualname__)
    assert outcomes[0]["status"] == "cancelled"


def test_a_cancelled_asyncio_task_ends_its_operation_as_cancelled() -> None:
    """task.cancel() while the task awaits inside timed_operation: status cancelled."""

    async def fetch() -> None:
        with Performance.timed_operation("fetch"):
            await asyncio.sleep(60)

    async def main() -> None:
        task = asyncio.create_task(fetch())
        await asyncio.sleep(0)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    with capture_logs() as records:
        asyncio.run(main())
    (record,) = (record for record in records if record["message"].startswith("operation_"))
    assert (record["message"], record["status"]) == ("operation_finished", "cancelled")
    assert record["error_type"] == "CancelledError"
