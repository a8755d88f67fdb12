"""OpenTelemetry beside flext-logging: spans of a real SDK, its httpx instrumentation, and
the ``flext-logging trace`` tree of two real services on 127.0.0.1."""

from __future__ import annotations

import logging
import logging.handlers
import queue
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.instrumentation.logging import LoggingInstrumentor
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from web_servers import by_message, finished_count, serve_asgi, wait_for

from flext_logging import FlextContext, get_logger, keys
from flext_logging.cli.tree import Node, build_tree
from flext_logging.integrations.asgi import ContextMiddleware
from flext_logging.integrations.httpx import propagate
from flext_logging.testing import capture_logs

logger = get_logger("tests.frontend")
Records = list[dict[str, Any]]


@pytest.fixture(scope="module")
def spans() -> Iterator[InMemorySpanExporter]:
    """The spans the SDK finished, kept in memory."""
    exporter = InMemorySpanExporter()
    yield exporter
    exporter.shutdown()


@pytest.fixture(scope="module")
def provider(spans: InMemorySpanExporter) -> TracerProvider:
    """A real SDK tracer provider (not the global one, which can be set only once)."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    return provider


@pytest.fixture(scope="module")
def frontend_url(billing_url: str, provider: TracerProvider) -> Iterator[str]:
    """Service A: its handler calls billing from inside an OpenTelemetry span."""
    tracer = provider.get_tracer("tests.frontend")
    app = FastAPI()

    @app.get("/checkout")
    async def checkout(request: Request) -> dict[str, Any]:
        with tracer.start_as_current_span("checkout"):
            logger.info("calling billing")
            client = propagate(httpx.AsyncClient(timeout=10))
            if request.query_params.get("instrument") == "client":
                # After propagate(): OpenTelemetry's span is outside the call's.
                HTTPXClientInstrumentor.instrument_client(client, tracer_provider=provider)
            async with client:
                response = await client.get(f"{billing_url}/invoices/inv-1")
        return dict(response.json())

    app.add_middleware(ContextMiddleware, service_name="frontend")  # type: ignore[arg-type]
    with serve_asgi(app) as url:
        yield url


def _node_of(tree: Node, record: dict[str, Any]) -> Node:
    return next(node for node in tree.walk() if any(r is record for r in node.records))


def _parent_in_tree(tree: Node, child: Node) -> Node:
    return next(node for node in tree.walk() if any(c is child for c in node.children))


def _client_span(spans: InMemorySpanExporter, parent_span_id: str) -> ReadableSpan:
    """The client span OpenTelemetry exported for the call made in *parent_span_id*."""
    [span] = [
        s
        for s in spans.get_finished_spans()
        if s.kind is SpanKind.CLIENT
        and s.parent is not None
        and format(s.parent.span_id, "016x") == parent_span_id
    ]
    return span


@pytest.mark.parametrize("instrument", ["none", "global", "client"])
def test_callee_hangs_below_the_call_in_the_trace_tree(
    frontend_url: str, provider: TracerProvider, spans: InMemorySpanExporter, instrument: str
) -> None:
    """Inside an OpenTelemetry span, the call record names the span sent downstream.

    With or without OpenTelemetry's httpx instrumentation, the callee's
    ``request_started`` names as its parent the span of the caller's
    ``http_request_finished``, whose own parent is the OpenTelemetry span it was made
    in: ``flext-logging trace`` nests billing below the call, below ``checkout``.
    """
    spans.clear()
    instrumentor = HTTPXClientInstrumentor()
    if instrument == "global":
        instrumentor.instrument(tracer_provider=provider)
    try:
        with capture_logs() as records:
            response = httpx.get(
                f"{frontend_url}/checkout", params={"instrument": instrument}, timeout=10
            )
            wait_for(lambda: finished_count(records, 2))
    finally:
        if instrument == "global":
            instrumentor.uninstrument()
    assert response.status_code == 200
    [calling] = by_message(records, "calling billing")
    [call] = by_message(records, keys.EVENT_HTTP_REQUEST_FINISHED)
    [callee] = [
        r for r in by_message(records, "request_started") if r[keys.SERVICE_NAME] == "billing"
    ]
    checkout_span = calling[keys.SPAN_ID]
    assert call[keys.PARENT_SPAN_ID] == checkout_span
    assert call[keys.SPAN_ID] != checkout_span
    assert callee[keys.PARENT_SPAN_ID] == call[keys.SPAN_ID]
    assert {call[keys.TRACE_ID], callee[keys.TRACE_ID]} == {calling[keys.TRACE_ID]}
    if instrument != "none":
        # The span on the record is the one OpenTelemetry exported for the call.
        client_span = _client_span(spans, checkout_span)
        assert call[keys.SPAN_ID] == format(client_span.context.span_id, "016x")

    tree = build_tree(records, response.headers["x-correlation-id"], "correlation")
    call_node = _node_of(tree, call)
    assert call_node.kind == "span"
    assert _parent_in_tree(tree, _node_of(tree, callee)) is call_node
    assert _parent_in_tree(tree, call_node) is _node_of(tree, calling)


def test_records_in_a_span_of_ours_inside_an_opentelemetry_span_carry_ours(
    provider: TracerProvider,
) -> None:
    """Our span opened in an OpenTelemetry span is the inner one, until OpenTelemetry nests
    a span of its own inside it."""
    tracer = provider.get_tracer("tests")
    with capture_logs() as records, tracer.start_as_current_span("outer") as outer:
        with FlextContext.Trace.span() as ours:
            logger.info("in ours")
            assert FlextContext.Trace.get_span_id() == ours.span_id
            with tracer.start_as_current_span("inner") as inner:
                logger.info("in inner")
            logger.info("in ours again")
        logger.info("in outer")
    outer_id = format(outer.get_span_context().span_id, "016x")
    inner_id = format(inner.get_span_context().span_id, "016x")
    assert ours.parent_span_id == outer_id
    assert [r[keys.SPAN_ID] for r in records] == [ours.span_id, inner_id, ours.span_id, outer_id]
    assert {r[keys.TRACE_ID] for r in records} == {ours.trace_id}


@pytest.fixture
def logging_instrumentor(provider: TracerProvider) -> Iterator[None]:
    """OpenTelemetry's LoggingInstrumentor with ``set_logging_format=True``, undone after."""
    instrumentor = LoggingInstrumentor()
    # Its OTLP handler is another matter (see the stacks of docs/deployment.md).
    instrumentor.instrument(
        tracer_provider=provider, set_logging_format=True, enable_log_auto_instrumentation=False
    )
    try:
        yield
    finally:
        instrumentor.uninstrument()


OTEL_ATTRIBUTES = ("otelTraceID", "otelSpanID", "otelTraceSampled", "otelServiceName")


@pytest.mark.usefixtures("logging_instrumentor")
def test_logging_instrumentor_attributes_are_folded_into_our_ids(provider: TracerProvider) -> None:
    """``otelSpanID`` & co. are not repeated beside ``trace_id``/``span_id``; a record handled
    on a QueueListener's thread, away from its span, keeps the span it was made in."""
    tracer = provider.get_tracer("tests")
    stdlib_logger = logging.getLogger("tests.stdlib")
    queued: queue.Queue[logging.LogRecord] = queue.Queue()
    with capture_logs() as records:
        with tracer.start_as_current_span("work") as span:
            stdlib_logger.info("in a span")
            logging.handlers.QueueHandler(queued).handle(
                stdlib_logger.makeRecord("tests.queued", logging.INFO, "", 0, "queued", (), None)
            )
        stdlib_logger.info("outside")
        listener = logging.handlers.QueueListener(queued, *logging.getLogger().handlers)
        listener.start()
        listener.stop()
    context = span.get_span_context()
    ids = (format(context.trace_id, "032x"), format(context.span_id, "016x"))
    in_span, outside, queued_record = records
    for record in records:
        assert not set(OTEL_ATTRIBUTES) & set(record)
    assert (in_span[keys.TRACE_ID], in_span[keys.SPAN_ID]) == ids
    assert keys.TRACE_ID not in outside
    assert queued_record["message"] == "queued"
    assert (queued_record[keys.TRACE_ID], queued_record[keys.SPAN_ID]) == ids
