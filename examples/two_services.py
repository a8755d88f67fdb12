"""Two services in one program: ``shop`` (Flask) calls ``billing`` (FastAPI).

Run this file. Both are served on free ports of 127.0.0.1; a client makes one order with
httpx, the shop calls billing with requests, and the program stops. Every JSON line it
prints, of both services, carries the same ``correlation_id`` and ``trace_id``; billing's
``request_started`` names, as ``parent_span_id``, the span of the shop's
``http_request_finished`` line: the call that caused it.
"""

from __future__ import annotations

import logging
import threading
import time

import flask
import httpx
import requests
import uvicorn
from fastapi import FastAPI
from werkzeug.serving import make_server

from flext_logging import FlextContext, configure, get_logger
from flext_logging.integrations import asgi, wsgi
from flext_logging.integrations.httpx import propagate as propagate_httpx
from flext_logging.integrations.requests import propagate as propagate_requests

# -- billing: FastAPI on uvicorn ----------------------------------------------------------
billing_logger = get_logger("billing.api")
billing = FastAPI()


@billing.post("/invoices")
async def create_invoice() -> dict[str, str]:
    """Create an invoice."""
    billing_logger.info("invoice created", invoice_id="INV-88")
    return {"invoice_id": "INV-88"}


billing.add_middleware(asgi.ContextMiddleware, service_name="billing")

# -- shop: Flask on werkzeug, calling billing with requests --------------------------------
shop_logger = get_logger("shop.web")
shop = flask.Flask("shop")
billing_session = propagate_requests(requests.Session())
BILLING_URL = {"base": ""}


@shop.post("/orders")
def place_order() -> dict[str, str]:
    """Place an order, asking billing for its invoice."""
    shop_logger.info("order received")
    invoice: dict[str, str] = billing_session.post(
        f"{BILLING_URL['base']}/invoices", timeout=10
    ).json()
    shop_logger.info("order placed", invoice_id=invoice["invoice_id"])
    return invoice


shop.wsgi_app = wsgi.ContextMiddleware(shop.wsgi_app, service_name="shop")  # type: ignore[method-assign]


def main() -> None:
    """Serve both services, place one order through them, stop."""
    configure(format="json")
    for name in ("werkzeug", "httpx", "urllib3"):
        logging.getLogger(name).setLevel(logging.WARNING)
    config = uvicorn.Config(billing, host="127.0.0.1", port=0, log_config=None, log_level="warning")
    billing_server = uvicorn.Server(config)
    threading.Thread(target=billing_server.run, daemon=True).start()
    deadline = time.monotonic() + 10
    while not billing_server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    BILLING_URL["base"] = (
        f"http://127.0.0.1:{billing_server.servers[0].sockets[0].getsockname()[1]}"
    )
    shop_server = make_server("127.0.0.1", 0, shop, threaded=True)
    threading.Thread(target=shop_server.serve_forever, daemon=True).start()

    # The client is a third party with a correlation of its own: shop and billing adopt it.
    with (
        FlextContext.Correlation.new_correlation(),
        propagate_httpx(httpx.Client(timeout=10)) as client,
    ):
        client.post(f"http://127.0.0.1:{shop_server.server_port}/orders")
    time.sleep(0.2)  # request_finished is written just after the response went out
    shop_server.shutdown()
    billing_server.should_exit = True


if __name__ == "__main__":
    main()
