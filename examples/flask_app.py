"""A Flask app whose every request, streamed responses included, runs in its own context.

Run this file: it serves the app with werkzeug on a free port of 127.0.0.1, sends a
request and a streamed request, and stops, printing the JSON lines the app wrote. In
production wrap ``app.wsgi_app`` the same way and serve it with gunicorn or uwsgi.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import flask
import httpx
from werkzeug.serving import make_server

from flext_logging import FlextContext, configure, get_logger
from flext_logging.integrations.wsgi import ContextMiddleware

logger = get_logger("catalog.web")
app = flask.Flask("catalog")


@app.get("/products/<int:product_id>")
def product(product_id: int) -> dict[str, object]:
    """Return a product; the record carries the request's ids."""
    logger.info("product shown", product_id=product_id)
    return {"product_id": product_id}


@app.get("/export")
def export() -> flask.Response:
    """Stream a CSV: lines logged while streaming still carry the request's ids."""

    def rows() -> Iterator[str]:
        for number in range(3):
            logger.info("row exported", row=number)
            yield f"{number},{FlextContext.Request.get_request_id()}\n"

    return flask.Response(rows(), mimetype="text/csv")


app.wsgi_app = ContextMiddleware(  # type: ignore[method-assign]  # Flask's documented hook
    app.wsgi_app, service_name="catalog", excluded_paths=("/health",)
)


def main() -> None:
    """Serve the app on a free port, send two requests, stop."""
    configure(format="json")
    for name in ("werkzeug", "httpx"):  # their own request lines are not the point here
        logging.getLogger(name).setLevel(logging.WARNING)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    with httpx.Client(base_url=base, timeout=10) as client:
        client.get("/products/7", headers={"X-Request-Id": "req-flask-1"})
        export_body = client.get("/export").text
    server.shutdown()
    thread.join(10)
    print(f"# /export sent {len(export_body.splitlines())} rows")


if __name__ == "__main__":
    main()
