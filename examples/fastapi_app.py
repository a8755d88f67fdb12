"""A FastAPI app whose every request runs in its own FlextContext.

Serve it: ``.venv/bin/uvicorn examples.fastapi_app:app`` and ``curl -i localhost:8000/items/42``.
Or run this file: it serves the app on a free port of 127.0.0.1, sends three requests
(one with a caller's ids and ``traceparent``, one that fails, one health check) and
stops, printing the JSON lines the app wrote.
"""

from __future__ import annotations

import logging
import threading
import time

import httpx
import uvicorn
from fastapi import FastAPI

from flext_logging import FlextContext, configure, get_logger
from flext_logging.integrations.asgi import ContextMiddleware

logger = get_logger("orders.api")
app = FastAPI()


@app.get("/items/{item_id}")
async def read_item(item_id: int) -> dict[str, object]:
    """Return an item; the log line carries the request's ids without being told them."""
    logger.info("item looked up", item_id=item_id)
    return {"item_id": item_id, "request_id": FlextContext.Request.get_request_id()}


@app.get("/fail")
async def fail() -> None:
    """Raise: the client still gets a 500 carrying X-Request-Id and X-Correlation-Id."""
    raise RuntimeError("database unavailable")


@app.get("/health")
async def health() -> dict[str, str]:
    """Excluded from request logging."""
    return {"status": "ok"}


app.add_middleware(
    ContextMiddleware,
    service_name="orders",
    service_version="1.4.0",
    excluded_paths=("/health",),
)


def main() -> None:
    """Serve the app on a free port, send a few requests, stop."""
    configure(format="json")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # the client's lines are not the point
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    caller = {
        "X-Request-Id": "req-7f3a",
        "X-Correlation-Id": "a681be6493dde2f616e51e40888fc821",
        "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    }
    with httpx.Client(base_url=base, timeout=10) as client:
        client.get("/items/42", headers=caller)
        failed = client.get("/fail")
        client.get("/health")
    time.sleep(0.2)  # request_finished is written just after the response went out
    server.should_exit = True
    thread.join(10)
    print(
        f"# /fail answered {failed.status_code} with X-Request-Id {failed.headers['x-request-id']}"
    )


if __name__ == "__main__":
    main()
