"""requests propagation: service A (Flask on werkzeug) calls service B (FastAPI on uvicorn)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import flask
import httpx
import pytest
import requests
from web_servers import (
    by_message,
    closed_port_url,
    finished_count,
    relevant,
    serve_wsgi,
    wait_for,
)

from flext_logging import FlextContext, get_logger, keys
from flext_logging.integrations.requests import propagate
from flext_logging.integrations.wsgi import ContextMiddleware
from flext_logging.testing import capture_logs

logger = get_logger("tests.shop")


@pytest.fixture(scope="module")
def shop_url(billing_url: str) -> Iterator[str]:
    """Service A: a Flask app that calls B with a propagating requests.Session."""
    app = flask.Flask("tests_shop")
    session = propagate(requests.Session())

    @app.get("/order")
    def order() -> dict[str, Any]:
        logger.info("calling billing")
        response = session.get(f"{billing_url}/invoices/inv-7", params={"token": "s3cret"})
        return dict(response.json())

    app.wsgi_app = ContextMiddleware(app.wsgi_app, service_name="shop")  # type: ignore[method-assign]
    with serve_wsgi(app) as url:
        yield url
    session.close()


def test_two_services_share_the_correlation_and_link_their_spans(shop_url: str) -> None:
    """A's and B's records carry one correlation id and trace; B's parent is A's call span."""
    with capture_logs() as records:
        response = httpx.get(f"{shop_url}/order", timeout=10)
        wait_for(lambda: finished_count(records, 2))
    assert response.status_code == 200
    records = relevant(records)
    shop = [r for r in records if r[keys.SERVICE_NAME] == "shop"]
    billing = [r for r in records if r[keys.SERVICE_NAME] == "billing"]
    assert [r["message"] for r in shop] == [
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
    assert {r[keys.CORRELATION_ID] for r in records} == {response.headers["x-correlation-id"]}
    assert {r[keys.REQUEST_ID] for r in records} == {response.headers["x-request-id"]}
    assert {r[keys.TRACE_ID] for r in records} == {shop[0][keys.TRACE_ID]}
    started, _, call, _ = shop
    assert call[keys.PARENT_SPAN_ID] == started[keys.SPAN_ID]
    assert billing[0][keys.PARENT_SPAN_ID] == call[keys.SPAN_ID]
    assert call[keys.HTTP_URL].endswith("/invoices/inv-7")
    assert "s3cret" not in call[keys.HTTP_URL]
    assert call[keys.STATUS_CODE] == 200
    assert call[keys.DURATION_MS] > 0


def test_propagate_returns_the_session_and_keeps_callers_headers(billing_url: str) -> None:
    """propagate() returns its session; a header the caller set wins over the context."""
    session = requests.Session()
    assert propagate(session) is session
    assert propagate(session) is session
    with (
        capture_logs() as records,
        session,
        FlextContext.Correlation.new_correlation(),
        FlextContext.Request.request_context(request_id="req-context"),
    ):
        body = session.get(
            f"{billing_url}/invoices/5", headers={"X-Request-Id": "req-explicit"}, timeout=10
        ).json()
        wait_for(lambda: finished_count(records, 1))
    assert body[keys.REQUEST_ID] == "req-explicit"
    assert session.get_adapter("http://x").max_retries.total == 0  # attributes still reachable


def test_status_class_sets_the_call_level(billing_url: str) -> None:
    """A 404 from the callee is logged as a warning."""
    with capture_logs() as records, propagate(requests.Session()) as session:
        response = session.get(f"{billing_url}/missing", timeout=10)
    assert response.status_code == 404
    (call,) = by_message(records, keys.EVENT_HTTP_REQUEST_FINISHED)
    assert call["level"] == "warning"
    assert call[keys.STATUS_CODE] == 404


def test_failed_request_is_logged_and_raised() -> None:
    """A refused connection is logged as http_request_failed and still raised."""
    url = closed_port_url()
    with (
        capture_logs() as records,
        propagate(requests.Session()) as session,
        pytest.raises(requests.ConnectionError),
    ):
        session.get(f"http://user:pw@{url.removeprefix('http://')}/x?q=1", timeout=5)
    (failed,) = by_message(records, keys.EVENT_HTTP_REQUEST_FAILED)
    assert failed[keys.HTTP_URL] == f"{url}/x"
    assert failed["level"] == "error"
    assert failed[keys.ERROR_TYPE] == "ConnectionError"
