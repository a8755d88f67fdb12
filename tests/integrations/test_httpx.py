"""httpx propagation: service A (FastAPI) calls service B (FastAPI), both on uvicorn."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider
from web_servers import (
    by_message,
    closed_port_url,
    finished_count,
    relevant,
    serve_asgi,
    wait_for,
)

from flext_logging import FlextContext, get_logger, keys
from flext_logging.integrations.asgi import ContextMiddleware
from flext_logging.integrations.httpx import propagate
from flext_logging.testing import capture_logs

logger = get_logger("tests.frontend")


@pytest.fixture(scope="module")
def frontend_url(billing_url: str) -> Iterator[str]:
    """Service A: calls B with a propagating httpx.AsyncClient."""
    app = FastAPI()

    @app.get("/checkout")
    async def checkout() -> dict[str, Any]:
        logger.info("calling billing")
        async with propagate(httpx.AsyncClient(timeout=10)) as client:
            response = await client.get(f"{billing_url}/invoices/inv-1?token=s3cret")
        return dict(response.json())

    app.add_middleware(ContextMiddleware, service_name="frontend")  # type: ignore[arg-type]
    with serve_asgi(app) as url:
        yield url


def test_two_services_share_the_correlation_and_link_their_spans(frontend_url: str) -> None:
    """A's and B's records carry one correlation id and trace; B's parent is A's call span."""
    with capture_logs() as records:
        response = httpx.get(f"{frontend_url}/checkout", timeout=10)
        wait_for(lambda: finished_count(records, 2))
    assert response.status_code == 200
    records = relevant(records)
    frontend = [r for r in records if r[keys.SERVICE_NAME] == "frontend"]
    billing = [r for r in records if r[keys.SERVICE_NAME] == "billing"]
    assert [r["message"] for r in frontend] == [
        "request_started",
        "calling billing",
        "http_request_finished",
        "request_finished",
    ]
    assert [r["message"] for r in billing] == [
        "request_started",
        "invoice served",
        "request_finished",
    ]
    correlation_id = response.headers["x-correlation-id"]
    assert {r[keys.CORRELATION_ID] for r in records} == {correlation_id}
    assert {r[keys.TRACE_ID] for r in records} == {frontend[0][keys.TRACE_ID]}
    a_started, _, call, _ = frontend
    assert call[keys.PARENT_SPAN_ID] == a_started[keys.SPAN_ID]
    assert call[keys.SPAN_ID] != a_started[keys.SPAN_ID]
    assert billing[0][keys.PARENT_SPAN_ID] == call[keys.SPAN_ID]
    assert call[keys.HTTP_METHOD] == "GET"
    assert call[keys.HTTP_URL].endswith("/invoices/inv-1")
    assert "s3cret" not in call[keys.HTTP_URL]
    assert call[keys.STATUS_CODE] == 200
    assert call[keys.DURATION_MS] > 0
    assert call["level"] == "info"
    assert response.json()["metadata"]["caller_service"] == "frontend"


def test_sync_client_injects_headers_and_logs(billing_url: str) -> None:
    """A propagating httpx.Client sends the current ids and logs the call."""
    client = httpx.Client(timeout=10)
    assert propagate(client) is client
    assert propagate(client) is client  # a second call wraps nothing twice
    with (
        capture_logs() as records,
        client,
        FlextContext.Correlation.new_correlation() as correlation_id,
        FlextContext.Request.request_context(request_id="req-sync"),
    ):
        response = client.get(f"{billing_url}/invoices/9", headers={"X-User-Id": "u-1"})
        wait_for(lambda: finished_count(records, 1))
    body = response.json()
    assert body[keys.CORRELATION_ID] == correlation_id
    assert body[keys.REQUEST_ID] == "req-sync"
    assert response.headers["x-request-id"] == "req-sync"
    calls = by_message(records, keys.EVENT_HTTP_REQUEST_FINISHED)
    assert len(calls) == 1
    (billing_start,) = [
        r for r in by_message(records, "request_started") if r[keys.SERVICE_NAME] == "billing"
    ]
    assert billing_start[keys.PARENT_SPAN_ID] == calls[0][keys.SPAN_ID]
    assert keys.PARENT_SPAN_ID not in calls[0]  # no span was active: the call is the root
    assert body[keys.TRACE_ID] == calls[0][keys.TRACE_ID]


def test_each_request_gets_a_fresh_child_span(billing_url: str) -> None:
    """Two calls from one span are two sibling spans under it."""
    with (
        capture_logs() as records,
        propagate(httpx.Client(timeout=10)) as client,
        FlextContext.Trace.span() as parent,
    ):
        client.get(f"{billing_url}/invoices/1")
        client.get(f"{billing_url}/invoices/2")
        wait_for(lambda: finished_count(records, 2))
    calls = by_message(records, keys.EVENT_HTTP_REQUEST_FINISHED)
    assert [c[keys.PARENT_SPAN_ID] for c in calls] == [parent.span_id, parent.span_id]
    assert len({c[keys.SPAN_ID] for c in calls}) == 2
    assert {c[keys.TRACE_ID] for c in calls} == {parent.trace_id}


def test_failed_request_is_logged_and_raised() -> None:
    """A connection error is logged as http_request_failed and still raised."""
    url = closed_port_url()

    async def call() -> None:
        async with propagate(httpx.AsyncClient(timeout=5)) as client:
            await client.get(f"{url}/x?api_key=hidden")

    with capture_logs() as records, pytest.raises(httpx.ConnectError):
        asyncio.run(call())
    (failed,) = by_message(records, keys.EVENT_HTTP_REQUEST_FAILED)
    assert failed["level"] == "error"
    assert failed[keys.HTTP_URL] == f"{url}/x"
    assert failed[keys.ERROR_TYPE] == "ConnectError"
    assert failed["error"]["type"].endswith("ConnectError")
    assert failed[keys.DURATION_MS] >= 0


def test_opentelemetry_span_is_the_parent_of_the_call(billing_url: str) -> None:
    """Inside a real OpenTelemetry span, the traceparent sent continues its trace."""
    tracer = TracerProvider().get_tracer("tests")
    with (
        capture_logs() as records,
        propagate(httpx.Client(timeout=10)) as client,
        tracer.start_as_current_span("checkout") as span,
    ):
        body = client.get(f"{billing_url}/invoices/3").json()
        wait_for(lambda: finished_count(records, 1))
    context = span.get_span_context()
    assert body[keys.TRACE_ID] == format(context.trace_id, "032x")
    (billing_start,) = [
        r for r in by_message(records, "request_started") if r[keys.SERVICE_NAME] == "billing"
    ]
    (call,) = by_message(records, keys.EVENT_HTTP_REQUEST_FINISHED)
    assert call[keys.PARENT_SPAN_ID] == format(context.span_id, "016x")
    assert billing_start[keys.TRACE_ID] == format(context.trace_id, "032x")
