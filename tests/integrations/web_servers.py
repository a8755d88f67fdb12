"""Real web servers on 127.0.0.1 for the integration tests, started on free ports and stopped.

Every wait is bounded: a server that does not start within ``START_TIMEOUT`` fails the
test instead of hanging it.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from flext_logging import keys

START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
INTEGRATION_LOGGERS = ("flext_logging.integrations",)


@contextmanager
def serve_asgi(app: Any, *, websockets: bool = False) -> Iterator[str]:
    """Serve *app* with uvicorn in a thread (WebSockets through wsproto); yield its base URL."""
    import uvicorn

    # uvicorn changes its loggers when configured: put them back afterwards, so later
    # tests (the uvicorn log-config one) see them as they were.
    names = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")
    saved = {}
    for name in names:
        uvicorn_logger = logging.getLogger(name)
        saved[name] = (
            list(uvicorn_logger.handlers),
            uvicorn_logger.level,
            uvicorn_logger.propagate,
            uvicorn_logger.disabled,
        )
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        log_config=None,
        lifespan="off",
        ws="wsproto" if websockets else "none",
        # Longer than any test's pause: on a loaded machine the 5 s default let the
        # server close a pooled connection just as the client reused it (a ReadError).
        timeout_keep_alive=60,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            server.should_exit = True
            pytest.fail("uvicorn did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(STOP_TIMEOUT)
        for name, (handlers, level, propagate, disabled) in saved.items():
            uvicorn_logger = logging.getLogger(name)
            uvicorn_logger.handlers[:] = handlers
            uvicorn_logger.setLevel(level)
            uvicorn_logger.propagate = propagate
            uvicorn_logger.disabled = disabled


@contextmanager
def serve_wsgi(app: Any) -> Iterator[str]:
    """Serve *app* with werkzeug's threaded server in a thread; yield its base URL."""
    from werkzeug.serving import make_server

    werkzeug_logger = logging.getLogger("werkzeug")
    level = werkzeug_logger.level
    werkzeug_logger.setLevel(logging.ERROR)  # its access lines are not under test
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="werkzeug", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(STOP_TIMEOUT)
        werkzeug_logger.setLevel(level)


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll *condition* until it holds; fail after *timeout* seconds.

    Servers write ``request_finished`` after the response went out, so a client can
    see the response a moment before the record exists.
    """
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail("condition not met in time")
        time.sleep(0.005)


def raw_request(
    base_url: str,
    request: bytes,
    timeout: float = 5.0,
    enough: Callable[[bytes], bool] = lambda answer: False,
) -> bytes:
    """Send raw bytes to the server of *base_url*; return its answer once closed or *enough*."""
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as connection:
        connection.sendall(request)
        chunks = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            chunk = connection.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
            if enough(b"".join(chunks)):
                break
    return b"".join(chunks)


def own(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return the records written by the integrations themselves."""
    return [r for r in records if r["logger"].startswith(INTEGRATION_LOGGERS)]


def by_message(records: list[dict[str, Any]], message: str) -> list[dict[str, Any]]:
    """Return the records whose message is *message*."""
    return [r for r in records if r["message"] == message]


def as_text(records: list[dict[str, Any]]) -> str:
    """Render *records* as JSON text, to search for values that must not appear."""
    return "\n".join(json.dumps(r, default=str, ensure_ascii=False) for r in records)


def relevant(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return the records of the integrations and of the test apps, not of libraries."""
    return [r for r in records if r["logger"].startswith((*INTEGRATION_LOGGERS, "tests."))]


def billing_app() -> Any:
    """Service B of the two-service tests: a FastAPI app named ``billing``."""
    from fastapi import FastAPI

    from flext_logging import FlextContext, get_logger
    from flext_logging.integrations.asgi import ContextMiddleware

    logger = get_logger("tests.billing")
    app = FastAPI()

    @app.get("/invoices/{invoice_id}")
    async def invoice(invoice_id: str) -> dict[str, Any]:
        logger.info("invoice served", invoice_id=invoice_id)
        return FlextContext.Serialization.get_full_context()

    app.add_middleware(ContextMiddleware, service_name="billing")  # type: ignore[arg-type]
    return app


def closed_port_url() -> str:
    """Return a URL on 127.0.0.1 where nothing listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def finished_count(records: list[dict[str, Any]], count: int = 1) -> bool:
    """Tell whether *count* requests have ended (finished or failed)."""
    ended = {keys.EVENT_REQUEST_FINISHED, keys.EVENT_REQUEST_FAILED}
    return sum(r["message"] in ended for r in own(records)) >= count
