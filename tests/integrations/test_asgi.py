"""The ASGI middleware, driven through a FastAPI app served by uvicorn on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Response, WebSocket
from web_servers import (
    as_text,
    by_message,
    finished_count,
    own,
    raw_request,
    relevant,
    serve_asgi,
    wait_for,
)

from flext_logging import FlextContext, configure, get_logger, keys
from flext_logging.context import current_fields
from flext_logging.integrations.asgi import ContextMiddleware
from flext_logging.testing import capture_logs

logger = get_logger("tests.asgi.app")
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN = "00f067aa0ba902b7"
HEX32 = re.compile(r"[0-9a-f]{32}")


def build_app(**options: Any) -> FastAPI:
    """A small FastAPI app that logs inside its endpoints."""
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def read_item(item_id: int) -> dict[str, Any]:
        logger.info("item looked up", item_id=item_id)
        return {"item_id": item_id, **FlextContext.Serialization.get_full_context()}

    @app.get("/echo/{number}")
    async def echo(number: int) -> dict[str, Any]:
        await asyncio.sleep(0.001 * (number % 5))
        logger.info("echo work", number=number)
        await asyncio.sleep(0)
        return {
            "number": number,
            "request_id": FlextContext.Request.get_request_id(),
            "correlation_id": FlextContext.Correlation.get_correlation_id(),
        }

    @app.get("/status/{code}")
    async def status(code: int) -> Response:
        return Response(status_code=code)

    @app.get("/boom")
    async def boom() -> None:
        logger.info("about to fail")
        raise RuntimeError("kaboom")

    @app.get("/health")
    async def health() -> dict[str, str]:
        logger.info("health probed")
        return {"status": "ok"}

    @app.websocket("/ws")
    async def websocket(socket: WebSocket) -> None:
        await socket.accept()
        logger.info("socket open")
        await socket.send_text(FlextContext.Request.get_request_id() or "")
        await socket.close()

    app.add_middleware(
        ContextMiddleware,  # type: ignore[arg-type]  # FastAPI's _MiddlewareFactory protocol
        service_name="orders",
        service_version="1.2.0",
        excluded_paths=("/health",),
        **options,
    )
    return app


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    """The FastAPI app on uvicorn, shared by the tests of this module."""
    with serve_asgi(build_app()) as url:
        yield url


@pytest.fixture(scope="module")
def strict_url() -> Iterator[str]:
    """The same app with reject_invalid_ids=True."""
    with serve_asgi(build_app(reject_invalid_ids=True)) as url:
        yield url


def test_records_carry_generated_ids_and_the_response_echoes_them(base_url: str) -> None:
    """Without inbound ids, fresh ones are bound to every record and sent back."""
    with capture_logs() as records:
        response = httpx.get(f"{base_url}/items/42", headers={"User-Agent": "pytest-agent"})
        wait_for(lambda: finished_count(records))
    assert response.status_code == 200
    request_id = response.headers["x-request-id"]
    correlation_id = response.headers["x-correlation-id"]
    assert HEX32.fullmatch(request_id)
    assert HEX32.fullmatch(correlation_id)
    records = relevant(records)
    started, looked_up, finished = records
    assert [r["message"] for r in records] == [
        "request_started",
        "item looked up",
        "request_finished",
    ]
    for record in records:
        assert record[keys.REQUEST_ID] == request_id
        assert record[keys.CORRELATION_ID] == correlation_id
        assert record[keys.SERVICE_NAME] == "orders"
        assert record[keys.SERVICE_VERSION] == "1.2.0"
        assert HEX32.fullmatch(record[keys.TRACE_ID])
    assert started[keys.HTTP_METHOD] == "GET"
    assert started[keys.HTTP_PATH] == "/items/42"
    assert started[keys.CLIENT_IP] == "127.0.0.1"
    assert started[keys.USER_AGENT] == "pytest-agent"
    assert keys.PARENT_SPAN_ID not in started
    assert looked_up[keys.OPERATION_NAME] == "GET /items/42"
    assert finished[keys.OPERATION_NAME] == "GET /items/{item_id}"
    assert finished[keys.HTTP_ROUTE] == "/items/{item_id}"
    assert finished[keys.STATUS_CODE] == 200
    assert finished[keys.DURATION_MS] >= 0
    assert finished["level"] == "info"
    body = response.json()
    assert body[keys.REQUEST_ID] == request_id
    assert body["metadata"]["user_agent"] == "pytest-agent"


def test_inbound_ids_and_traceparent_are_adopted(base_url: str) -> None:
    """Valid caller ids (any case) are used as they are; the span joins the caller's trace."""
    headers = {
        "x-request-id": "req-abc.1",
        "X-CORRELATION-ID": "corr-abc:2",
        "X-Parent-Correlation-Id": "parent-abc",
        "traceparent": f"00-{TRACE_ID}-{PARENT_SPAN}-01",
        "X-Service-Name": "frontend",
    }
    with capture_logs() as records:
        response = httpx.get(f"{base_url}/items/7", headers=headers)
        wait_for(lambda: finished_count(records))
    assert response.headers["x-request-id"] == "req-abc.1"
    assert response.headers["x-correlation-id"] == "corr-abc:2"
    records = relevant(records)
    for record in records:
        assert record[keys.REQUEST_ID] == "req-abc.1"
        assert record[keys.CORRELATION_ID] == "corr-abc:2"
        assert record[keys.PARENT_CORRELATION_ID] == "parent-abc"
        assert record[keys.TRACE_ID] == TRACE_ID
        assert record[keys.SPAN_ID] != PARENT_SPAN
        assert record[keys.SERVICE_NAME] == "orders"  # the caller's name is not ours
    assert records[0][keys.PARENT_SPAN_ID] == PARENT_SPAN
    assert response.json()["metadata"]["caller_service"] == "frontend"


def test_unhandled_exception_is_answered_500_with_the_ids(base_url: str) -> None:
    """An endpoint that raises gets a 500 carrying the ids, and one request_failed record."""
    with capture_logs() as records:
        response = httpx.get(f"{base_url}/boom", headers={"X-Request-Id": "req-boom"})
        wait_for(lambda: finished_count(records))
    assert response.status_code == 500
    assert response.headers["x-request-id"] == "req-boom"
    assert HEX32.fullmatch(response.headers["x-correlation-id"])
    ours = own(records)
    assert [r["message"] for r in ours] == ["request_started", "request_failed"]
    failed = ours[1]
    assert failed["level"] == "error"
    assert failed[keys.STATUS_CODE] == 500
    assert failed[keys.HTTP_ROUTE] == "/boom"
    assert failed[keys.ERROR_TYPE] == "RuntimeError"
    assert failed["error"]["message"] == "kaboom"
    assert failed[keys.REQUEST_ID] == "req-boom"
    assert by_message(records, "about to fail")[0][keys.REQUEST_ID] == "req-boom"


@pytest.mark.parametrize(("code", "level"), [(201, "info"), (404, "warning"), (503, "error")])
def test_request_finished_level_follows_the_status_class(
    base_url: str, code: int, level: str
) -> None:
    """request_finished is info below 400, warning for 4xx and error for 5xx."""
    with capture_logs() as records:
        response = httpx.get(f"{base_url}/status/{code}")
        wait_for(lambda: finished_count(records))
    assert response.status_code == code
    assert "x-request-id" in response.headers
    (finished,) = by_message(records, "request_finished")
    assert finished[keys.STATUS_CODE] == code
    assert finished["level"] == level


def test_unknown_route_is_logged_with_its_path(base_url: str) -> None:
    """A 404 from the router has no route template: the path names the operation."""
    with capture_logs() as records:
        response = httpx.get(f"{base_url}/no/such/page")
        wait_for(lambda: finished_count(records))
    assert response.status_code == 404
    (finished,) = by_message(records, "request_finished")
    assert keys.HTTP_ROUTE not in finished
    assert finished[keys.OPERATION_NAME] == "GET /no/such/page"


def test_excluded_paths_log_nothing(base_url: str) -> None:
    """A health check passes through without records or id headers."""
    with capture_logs() as records:
        response = httpx.get(f"{base_url}/health")
        other = httpx.get(f"{base_url}/status/204")
        wait_for(lambda: finished_count(records))
    assert response.status_code == 200
    assert "x-request-id" not in response.headers
    assert "x-request-id" in other.headers
    assert [r[keys.HTTP_PATH] for r in own(records)] == ["/status/204", "/status/204"]
    assert by_message(records, "health probed")[0].get(keys.REQUEST_ID) is None


def test_invalid_inbound_id_is_replaced_and_reported(base_url: str) -> None:
    """An invalid id is never bound: a fresh one is used and a warning names the field."""
    hostile = "bad id; DROP TABLE" + "x" * 300
    with capture_logs() as records:
        response = httpx.get(f"{base_url}/items/1", headers={"X-Request-Id": hostile})
        wait_for(lambda: finished_count(records))
    assert response.status_code == 200
    request_id = response.headers["x-request-id"]
    assert HEX32.fullmatch(request_id)
    (warning,) = by_message(records, keys.EVENT_INVALID_ID_DROPPED)
    assert warning["field"] == keys.REQUEST_ID
    assert warning[keys.REQUEST_ID] == request_id  # reported inside the request
    assert hostile not in as_text(records)


def test_reject_invalid_ids_answers_400(strict_url: str) -> None:
    """With reject_invalid_ids, an invalid id gets a 400 that still carries fresh ids."""
    with capture_logs() as records:
        response = httpx.get(f"{strict_url}/items/1", headers={"X-Correlation-Id": "no spaces"})
        good = httpx.get(f"{strict_url}/items/1", headers={"X-Correlation-Id": "fine-1"})
        wait_for(lambda: finished_count(records, 2))
    assert response.status_code == 400
    assert HEX32.fullmatch(response.headers["x-correlation-id"])
    assert good.status_code == 200
    assert not by_message(records, "item looked up")[1:]
    finished = by_message(records, "request_finished")
    assert [r[keys.STATUS_CODE] for r in finished] == [400, 200]
    assert finished[0]["level"] == "warning"


def test_hostile_bytes_on_the_wire_never_reach_a_record_raw(base_url: str) -> None:
    """Control characters, 10 kB values, non-ASCII bytes and a bad traceparent are cleaned."""
    long_value = "A" * 10_000
    request = (
        b"GET /items/5?q=%0d%0a HTTP/1.1\r\n"
        b"Host: 127.0.0.1\r\n"
        b"User-Agent: agent\tcaf\xc3\xa9 \xff" + long_value.encode() + b"\r\n"
        b"X-Request-Id: " + long_value.encode() + b"\r\n"
        b"X-Correlation-Id: caf\xe9\r\n"
        b"traceparent: 00-" + b"Z" * 32 + b"-0000000000000000-01\tx\r\n"
        b"tracestate: a=b\r\n"
        b"Connection: close\r\n\r\n"
    )
    with capture_logs() as records:
        answer = raw_request(base_url, request)
        wait_for(lambda: finished_count(records))
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert re.search(rb"x-request-id: [0-9a-f]{32}\r\n", answer)
    text = as_text(records)
    assert long_value not in text
    assert "\t" not in text
    assert "café" not in text.replace("Ã©", "")  # only ever the cleaned latin-1 reading
    warnings = by_message(records, keys.EVENT_INVALID_ID_DROPPED)
    assert sorted(w["field"] for w in warnings) == sorted(
        [keys.REQUEST_ID, keys.CORRELATION_ID, keys.HEADER_TRACEPARENT]
    )
    started = by_message(records, "request_started")[0]
    assert len(started[keys.USER_AGENT]) <= 256
    assert HEX32.fullmatch(started[keys.TRACE_ID])
    assert keys.PARENT_SPAN_ID not in started


def test_control_characters_in_the_path_are_stripped(base_url: str) -> None:
    """A percent-encoded CR/LF in the path is decoded by the server, then removed."""
    with capture_logs() as records:
        response = httpx.get(f"{base_url}/no%0d%0aX-Evil:%201%1b[31m")
        wait_for(lambda: finished_count(records))
    assert response.status_code == 404
    for record in own(records):
        assert record[keys.HTTP_PATH] == "/noX-Evil: 1[31m"
        assert "\r" not in record[keys.OPERATION_NAME]


def test_concurrent_requests_keep_their_own_ids(base_url: str) -> None:
    """200 concurrent requests: each one's records carry only its own ids."""
    total = 200

    async def run() -> list[httpx.Response]:
        limit = asyncio.Semaphore(50)
        limits = httpx.Limits(max_connections=50)
        async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30) as client:

            async def one(number: int) -> httpx.Response:
                async with limit:
                    return await client.get(
                        f"/echo/{number}",
                        headers={
                            "X-Request-Id": f"req-{number}",
                            "X-Correlation-Id": f"c-{number}",
                        },
                    )

            return await asyncio.wait_for(
                asyncio.gather(*(one(n) for n in range(total))), timeout=60
            )

    with capture_logs() as records:
        responses = asyncio.run(run())
        wait_for(lambda: finished_count(records, total), timeout=30)
    for number, response in enumerate(responses):
        assert response.json() == {
            "number": number,
            "request_id": f"req-{number}",
            "correlation_id": f"c-{number}",
        }
        assert response.headers["x-request-id"] == f"req-{number}"
    work = by_message(records, "echo work")
    assert len(work) == total
    for record in work:
        assert record[keys.REQUEST_ID] == f"req-{record['number']}"
        assert record[keys.CORRELATION_ID] == f"c-{record['number']}"
    spans = {r[keys.SPAN_ID] for r in by_message(records, "request_finished")}
    assert len(spans) == total
    for record in own(records):
        number = record[keys.HTTP_PATH].rsplit("/", 1)[1]
        assert record[keys.REQUEST_ID] == f"req-{number}"


def test_two_apps_in_one_process_name_themselves() -> None:
    """Each middleware binds its own service name; without one, configure()'s is used."""
    configure(service_name="process-default", format="json")
    named = build_app()
    plain = FastAPI()

    @plain.get("/ping")
    async def ping() -> dict[str, str]:
        logger.info("ping")
        return {"ok": "yes"}

    plain.add_middleware(ContextMiddleware)  # type: ignore[arg-type]  # FastAPI's protocol
    with serve_asgi(named) as named_url, serve_asgi(plain) as plain_url, capture_logs() as records:
        httpx.get(f"{named_url}/items/3")
        httpx.get(f"{plain_url}/ping")
        wait_for(lambda: finished_count(records, 2))
    assert by_message(records, "item looked up")[0][keys.SERVICE_NAME] == "orders"
    assert by_message(records, "ping")[0][keys.SERVICE_NAME] == "process-default"


async def _drive(app: Any, scope: dict[str, Any], incoming: list[dict[str, Any]]) -> list[Any]:
    """Call *app* as a server would: feed *incoming* messages, collect what it sends."""
    sent: list[Any] = []
    queue = list(incoming)

    async def receive() -> dict[str, Any]:
        if queue:
            return queue.pop(0)
        await asyncio.sleep(0)
        return {"type": "http.disconnect"}

    async def send(message: Any) -> None:
        sent.append(message)

    await asyncio.wait_for(app(scope, receive, send), timeout=10)
    return sent


def _http_scope(path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 80),
    }


def test_context_is_restored_after_the_request() -> None:
    """The caller's context is the same after the middleware as before it."""
    app = build_app()

    async def run() -> tuple[dict[str, str], dict[str, str], list[Any]]:
        with FlextContext.Correlation.new_correlation():
            before = dict(current_fields())
            sent = await _drive(app, _http_scope("/items/9", []), [{"type": "http.request"}])
            return before, dict(current_fields()), sent

    before, after, sent = asyncio.run(run())
    assert after == before
    assert sent[0]["status"] == 200


def test_header_values_with_cr_lf_from_a_lenient_server_are_cleaned() -> None:
    """A server that passes CR/LF through cannot get them into a record or a response."""
    app = build_app()
    headers = [
        (b"x-request-id", b"req\r\nX-Evil: 1"),
        (b"user-agent", b'agent\r\n{"level":"critical"}'),
        (b"traceparent", b"00-\r\n"),
    ]
    with capture_logs() as records:
        sent = asyncio.run(
            _drive(app, _http_scope("/items/2", headers), [{"type": "http.request"}])
        )
    start = sent[0]
    assert start["status"] == 200
    echoed = dict(start["headers"])[b"x-request-id"]
    assert HEX32.fullmatch(echoed.decode())
    values = [v for r in records for v in r.values() if isinstance(v, str)]
    assert not [v for v in values if "\r" in v or "\n" in v]
    (warning,) = [w for w in records if w.get("field") == keys.REQUEST_ID]
    assert warning["value_preview"] == "'req\\r\\nX-Evil: 1'"  # escaped, not raw
    assert by_message(records, "request_started")[0][keys.USER_AGENT] == (
        'agent{"level":"critical"}'
    )
    assert json.loads(json.dumps(records, default=str))  # every record stays plain data


def test_websocket_accept_echoes_ids_and_binds_the_context() -> None:
    """A WebSocket connection is one request: ids on the accept, records inside, 101."""
    app = build_app()
    scope = {
        **_http_scope("/ws", [(b"x-request-id", b"ws-req-1")]),
        "type": "websocket",
        "scheme": "ws",
        "subprotocols": [],
    }
    del scope["method"]
    with capture_logs() as records:
        sent = asyncio.run(
            _drive(app, scope, [{"type": "websocket.connect"}, {"type": "websocket.disconnect"}])
        )
    accept, text, close = sent
    assert accept["type"] == "websocket.accept"
    assert dict(accept["headers"])[b"x-request-id"] == b"ws-req-1"
    assert text["text"] == "ws-req-1"
    assert close["type"] == "websocket.close"
    started, opened, finished = relevant(records)
    assert started[keys.HTTP_METHOD] == "WEBSOCKET"
    assert opened[keys.REQUEST_ID] == "ws-req-1"
    assert finished[keys.STATUS_CODE] == 101
    assert finished[keys.HTTP_ROUTE] == "/ws"


def test_websocket_over_a_real_server_gets_ids_on_the_handshake() -> None:
    """Through uvicorn, the 101 handshake carries the ids and the socket's records have them."""
    handshake = (
        b"GET /ws HTTP/1.1\r\n"
        b"Host: 127.0.0.1\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\n"
        b"X-Correlation-Id: ws-corr-9\r\n\r\n"
    )
    with serve_asgi(build_app(), websockets=True) as url, capture_logs() as records:
        # Stop reading at the server's close frame (0x88) after the handshake.
        answer = raw_request(
            url, handshake, enough=lambda data: b"\x88" in data.split(b"\r\n\r\n", 1)[-1]
        )
        wait_for(lambda: finished_count(records))
    head, _, frames = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101 ")
    assert b"x-correlation-id: ws-corr-9" in head.lower()
    request_id = re.search(rb"x-request-id: ([0-9a-f]{32})", head.lower())
    assert request_id is not None
    assert frames[2 : 2 + frames[1]] == request_id.group(1)  # the text frame the app sent
    ours = relevant(records)
    assert [r["message"] for r in ours] == ["request_started", "socket open", "request_finished"]
    assert {r[keys.CORRELATION_ID] for r in ours} == {"ws-corr-9"}
    assert ours[-1][keys.STATUS_CODE] == 101


def test_custom_header_names_and_id_generator_are_used() -> None:
    """Ids come from the configured generator and travel under the configured header names."""
    app = build_app(
        request_id_header="X-Amzn-Trace",
        correlation_id_header="X-Flow-Id",
        id_generator=lambda: "generated-id",
    )
    with capture_logs() as records:
        sent = asyncio.run(
            _drive(
                app,
                _http_scope("/items/1", [(b"x-flow-id", b"flow-7")]),
                [{"type": "http.request"}],
            )
        )
    echoed = dict(sent[0]["headers"])
    assert echoed[b"x-flow-id"] == b"flow-7"
    assert echoed[b"x-amzn-trace"] == b"generated-id"
    started = by_message(records, "request_started")[0]
    assert (started[keys.CORRELATION_ID], started[keys.REQUEST_ID]) == ("flow-7", "generated-id")
