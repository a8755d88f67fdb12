"""FlextContext.Trace: W3C trace and span ids in records, and OpenTelemetry's precedence."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import TracerProvider

from flext_logging import FlextContext, get_logger, keys
from flext_logging.testing import capture_logs

logger = get_logger("tests.trace")
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN_ID = "00f067aa0ba902b7"


def test_records_in_a_span_carry_trace_and_span_ids_in_schema_order() -> None:
    """trace_id and span_id follow the correlation keys and precede request_id."""
    with (
        capture_logs() as records,
        FlextContext.Correlation.new_correlation(),
        FlextContext.Request.request_context(request_id="req-1"),
        FlextContext.Trace.span() as span,
    ):
        logger.info("inside", extra_field=1)
    (record,) = records
    assert record[keys.TRACE_ID] == span.trace_id
    assert record[keys.SPAN_ID] == span.span_id
    assert list(record)[5:9] == [
        keys.CORRELATION_ID,
        keys.TRACE_ID,
        keys.SPAN_ID,
        keys.REQUEST_ID,
    ]


def test_nested_span_is_a_child_and_the_outer_span_comes_back() -> None:
    """A span inside a span shares the trace, names the outer as parent, and is undone."""
    with FlextContext.Trace.span() as outer:
        with FlextContext.Trace.span() as inner:
            assert inner.trace_id == outer.trace_id
            assert inner.parent_span_id == outer.span_id
            assert inner.span_id != outer.span_id
            assert FlextContext.Trace.get_span_id() == inner.span_id
        assert FlextContext.Trace.get_span_id() == outer.span_id
    assert FlextContext.Trace.current_span() is None
    assert FlextContext.Trace.get_trace_id() is None


def test_span_joins_a_callers_trace() -> None:
    """Given a trace id and parent, the new span joins that trace under that parent."""
    with FlextContext.Trace.span(trace_id=TRACE_ID, parent_span_id=SPAN_ID, flags="00") as span:
        assert span.trace_id == TRACE_ID
        assert span.parent_span_id == SPAN_ID
        assert span.flags == "00"
        assert len(span.span_id) == 16
        assert span.span_id != SPAN_ID


@pytest.mark.parametrize(
    "arguments",
    [
        {"trace_id": "0" * 32},
        {"trace_id": TRACE_ID.upper()},
        {"trace_id": TRACE_ID, "parent_span_id": "xyz"},
        {"trace_id": TRACE_ID, "flags": "1"},
    ],
)
def test_malformed_ids_are_refused(arguments: dict[str, str]) -> None:
    """An invalid trace id, parent span id or flags raises ValueError."""
    with pytest.raises(ValueError, match="not"), FlextContext.Trace.span(**arguments):
        pass


def test_active_opentelemetry_span_ids_are_used_in_records() -> None:
    """Inside a real OpenTelemetry SDK span, records carry that span's ids."""
    tracer = TracerProvider().get_tracer("tests")
    with capture_logs() as records:
        with FlextContext.Trace.span(), tracer.start_as_current_span("work") as otel_span:
            logger.info("inside otel")
        with tracer.start_as_current_span("bare") as bare_span:
            logger.info("otel only", order=1)
    inside, bare = records
    context = otel_span.get_span_context()
    assert inside[keys.TRACE_ID] == format(context.trace_id, "032x")
    assert inside[keys.SPAN_ID] == format(context.span_id, "016x")
    bare_context = bare_span.get_span_context()
    assert bare[keys.TRACE_ID] == format(bare_context.trace_id, "032x")
    assert list(bare)[5:] == [keys.TRACE_ID, keys.SPAN_ID, "order"]


def test_new_span_inside_opentelemetry_span_is_its_child() -> None:
    """This library's spans continue the active OpenTelemetry trace."""
    tracer = TracerProvider().get_tracer("tests")
    with tracer.start_as_current_span("work") as otel_span, FlextContext.Trace.span() as span:
        context = otel_span.get_span_context()
        assert span.trace_id == format(context.trace_id, "032x")
        assert span.parent_span_id == format(context.span_id, "016x")


@pytest.mark.parametrize("key", ["trace_id", "span_id"])
def test_inbound_trace_ids_must_match_the_id_grammar(key: str) -> None:
    """A trace or span id with characters outside the id grammar is dropped, not adopted."""
    with FlextContext.Serialization.context_from({key: "abc def;x"}) as adopted:
        assert key not in adopted
        assert key not in FlextContext.Serialization.get_full_context()
