"""The WSGI middleware, driven through a Flask app served by werkzeug on 127.0.0.1."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Iterator
from typing import Any

import flask
import httpx
import pytest
from web_servers import (
    as_text,
    by_message,
    finished_count,
    own,
    raw_request,
    relevant,
    serve_wsgi,
    wait_for,
)

from flext_logging import FlextContext, get_logger, keys
from flext_logging.context import current_fields
from flext_logging.integrations.wsgi import ContextMiddleware
from flext_logging.testing import capture_logs

logger = get_logger("tests.wsgi.app")
HEX32 = re.compile(r"[0-9a-f]{32}")
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN = "00f067aa0ba902b7"
CHUNKS = 3


def build_app(**options: Any) -> flask.Flask:
    """A small Flask app that logs inside its views and while it streams."""
    app = flask.Flask("tests_wsgi")
    gate = threading.Event()
    app.config["gate"] = gate

    @app.get("/items/<int:item_id>")
    def read_item(item_id: int) -> dict[str, Any]:
        logger.info("item looked up", item_id=item_id)
        return {"item_id": item_id, **FlextContext.Serialization.get_full_context()}

    @app.get("/stream")
    def stream() -> flask.Response:
        def chunks() -> Iterator[str]:
            for number in range(CHUNKS):
                logger.info("chunk produced", number=number)
                yield f"chunk {number} {FlextContext.Request.get_request_id()}\n"
                if number == 0:
                    gate.wait(5)  # the test checks the records before the body is done

        return flask.Response(chunks(), mimetype="text/plain")

    @app.get("/flask-error")
    def flask_error() -> None:
        raise RuntimeError("handled by flask")

    @app.get("/health")
    def health() -> str:
        logger.info("health probed")
        return "ok"

    app.wsgi_app = ContextMiddleware(  # type: ignore[method-assign]  # Flask's documented way
        app.wsgi_app,
        service_name="catalog",
        excluded_paths=("/health",),
        **options,
    )
    return app


def failing_app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    """A bare WSGI app that raises before it starts a response."""
    logger.info("about to fail")
    raise ValueError("bare failure")


@pytest.fixture(scope="module")
def app() -> flask.Flask:
    """The Flask app, shared by the server fixture and the tests that open its gate."""
    return build_app()


@pytest.fixture(scope="module")
def base_url(app: flask.Flask) -> Iterator[str]:
    """The Flask app on werkzeug's threaded server."""
    with serve_wsgi(app) as url:
        yield url


def test_records_carry_ids_and_the_response_echoes_them(base_url: str) -> None:
    """Ids are generated, bound to every record of the request, and sent back."""
    with capture_logs() as records:
        response = httpx.get(f"{base_url}/items/8", headers={"User-Agent": "wsgi-agent"})
        wait_for(lambda: finished_count(records))
    assert response.status_code == 200
    request_id = response.headers["x-request-id"]
    assert HEX32.fullmatch(request_id)
    records = relevant(records)
    assert [r["message"] for r in records] == [
        "request_started",
        "item looked up",
        "request_finished",
    ]
    for record in records:
        assert record[keys.REQUEST_ID] == request_id
        assert record[keys.CORRELATION_ID] == response.headers["x-correlation-id"]
        assert record[keys.SERVICE_NAME] == "catalog"
        assert HEX32.fullmatch(record[keys.TRACE_ID])
    started, _, finished = records
    assert started[keys.USER_AGENT] == "wsgi-agent"
    assert started[keys.CLIENT_IP] == "127.0.0.1"
    assert finished[keys.HTTP_ROUTE] == "/items/<int:item_id>"
    assert finished[keys.OPERATION_NAME] == "GET /items/<int:item_id>"
    assert finished[keys.STATUS_CODE] == 200
    assert finished["level"] == "info"


def test_inbound_ids_and_traceparent_are_adopted(base_url: str) -> None:
    """Valid caller ids are used as sent, and the request's span joins the caller's trace."""
    headers = {
        "X-REQUEST-ID": "req-w1",
        "x-correlation-id": "corr-w1",
        "traceparent": f"00-{TRACE_ID}-{PARENT_SPAN}-01",
    }
    with capture_logs() as records:
        response = httpx.get(f"{base_url}/items/2", headers=headers)
        wait_for(lambda: finished_count(records))
    assert response.headers["x-request-id"] == "req-w1"
    for record in relevant(records):
        assert record[keys.REQUEST_ID] == "req-w1"
        assert record[keys.CORRELATION_ID] == "corr-w1"
        assert record[keys.TRACE_ID] == TRACE_ID
    assert by_message(records, "request_started")[0][keys.PARENT_SPAN_ID] == PARENT_SPAN


def test_streamed_response_keeps_the_context_until_the_body_is_consumed(
    app: flask.Flask, base_url: str
) -> None:
    """Chunks produced after the view returned still log with the request's ids."""
    gate: threading.Event = app.config["gate"]
    gate.clear()
    with capture_logs() as records, httpx.stream("GET", f"{base_url}/stream") as response:
        lines = response.iter_lines()
        first = next(lines)
        wait_for(lambda: bool(by_message(records, "chunk produced")))
        assert not by_message(records, "request_finished")  # the body is still open
        gate.set()
        rest = list(lines)
        wait_for(lambda: finished_count(records))
    request_id = response.headers["x-request-id"]
    assert [first, *rest] == [f"chunk {n} {request_id}" for n in range(CHUNKS)]
    chunks = by_message(records, "chunk produced")
    assert [c["number"] for c in chunks] == list(range(CHUNKS))
    assert {c[keys.REQUEST_ID] for c in chunks} == {request_id}
    assert relevant(records)[-1]["message"] == "request_finished"


def test_streamed_body_runs_in_the_request_context_and_leaves_the_caller_alone(
    app: flask.Flask,
) -> None:
    """Called directly, the middleware never changes the calling thread's context."""
    app.config["gate"].set()
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/stream",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": None,
        "wsgi.errors": None,
        "HTTP_X_REQUEST_ID": "req-direct",
    }
    statuses: list[str] = []
    with capture_logs() as records, FlextContext.Correlation.new_correlation():
        before = dict(current_fields())
        body = app.wsgi_app(environ, lambda status, headers, exc_info=None: statuses.append(status))
        chunks = []
        for chunk in body:
            assert dict(current_fields()) == before  # between chunks: the caller's own
            chunks.append(chunk)
        assert not by_message(records, "request_finished")
        body.close()  # type: ignore[attr-defined]  # the middleware's body has close()
        assert dict(current_fields()) == before
    assert statuses == ["200 OK"]
    assert len(chunks) == CHUNKS
    assert relevant(records)[-1]["message"] == "request_finished"
    assert {r[keys.REQUEST_ID] for r in relevant(records)} == {"req-direct"}


def test_flask_error_page_is_logged_as_a_5xx_with_ids(base_url: str) -> None:
    """Flask answers its own 500; the middleware adds the ids and logs it as an error."""
    with capture_logs() as records:
        response = httpx.get(f"{base_url}/flask-error", headers={"X-Request-Id": "req-fe"})
        wait_for(lambda: finished_count(records))
    assert response.status_code == 500
    assert response.headers["x-request-id"] == "req-fe"
    (finished,) = by_message(records, "request_finished")
    assert finished["level"] == "error"
    assert finished[keys.STATUS_CODE] == 500
    flask_logged = [r for r in records if r.get("error", {}).get("message") == "handled by flask"]
    assert flask_logged[0][keys.REQUEST_ID] == "req-fe"  # Flask's own error line has the ids


def test_app_that_raises_is_answered_500_with_ids() -> None:
    """A WSGI app raising before it responds gets a 500 with the ids and request_failed."""
    with serve_wsgi(ContextMiddleware(failing_app)) as url, capture_logs() as records:
        response = httpx.get(f"{url}/anything", headers={"X-Correlation-Id": "corr-f"})
        wait_for(lambda: finished_count(records))
    assert response.status_code == 500
    assert response.headers["x-correlation-id"] == "corr-f"
    assert HEX32.fullmatch(response.headers["x-request-id"])
    (failed,) = by_message(records, "request_failed")
    assert failed["level"] == "error"
    assert failed["error"]["message"] == "bare failure"
    assert failed[keys.CORRELATION_ID] == "corr-f"
    assert by_message(records, "about to fail")[0][keys.CORRELATION_ID] == "corr-f"


def test_excluded_paths_log_nothing(base_url: str) -> None:
    """The health check is served without records or id headers."""
    with capture_logs() as records:
        response = httpx.get(f"{base_url}/health")
    assert response.text == "ok"
    assert "x-request-id" not in response.headers
    assert own(records) == []
    assert by_message(records, "health probed")[0].get(keys.REQUEST_ID) is None


def test_reject_invalid_ids_answers_400() -> None:
    """With reject_invalid_ids, a bad id header is answered 400 with fresh ids."""
    with serve_wsgi(build_app(reject_invalid_ids=True)) as url, capture_logs() as records:
        response = httpx.get(f"{url}/items/1", headers={"X-Request-Id": "bad id!"})
        wait_for(lambda: finished_count(records))
    assert response.status_code == 400
    assert HEX32.fullmatch(response.headers["x-request-id"])
    assert not by_message(records, "item looked up")
    (warning,) = by_message(records, keys.EVENT_INVALID_ID_DROPPED)
    assert warning["value_preview"] == "'bad id!'"


def test_hostile_bytes_on_the_wire_never_reach_a_record_raw(base_url: str) -> None:
    """10 kB values, non-ASCII bytes, tabs and a bad traceparent are cleaned or dropped."""
    long_value = "B" * 10_000
    request = (
        b"GET /items/4 HTTP/1.1\r\n"
        b"Host: 127.0.0.1\r\n"
        b"User-Agent: agent\t\xff\xfe" + long_value.encode() + b"\r\n"
        b"X-Request-Id: " + long_value.encode() + b"\r\n"
        b"traceparent: 00-abc\r\n"
        b"Connection: close\r\n\r\n"
    )
    with capture_logs() as records:
        answer = raw_request(base_url, request)
        wait_for(lambda: finished_count(records))
    assert answer.startswith(b"HTTP/1.1 200 ")
    text = as_text(records)
    assert long_value not in text
    assert "\t" not in text
    fields = sorted(w["field"] for w in by_message(records, keys.EVENT_INVALID_ID_DROPPED))
    assert fields == sorted([keys.REQUEST_ID, keys.HEADER_TRACEPARENT])
    assert len(by_message(records, "request_started")[0][keys.USER_AGENT]) <= 256
