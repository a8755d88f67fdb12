"""The Flask application the gunicorn sync-worker test runs; ``configure()`` at import."""

from __future__ import annotations

from typing import Any

import flask

from flext_logging import configure, get_logger
from flext_logging.integrations.wsgi import ContextMiddleware

configure(service_name="stack-wsgi")

logger = get_logger("stack.app")
app = flask.Flask("stack_wsgi")


@app.get("/items/<int:n>")
def item(n: int) -> dict[str, Any]:
    """Log one record for request *n*."""
    logger.info("item served", n=n)
    return {"n": n}


app.wsgi_app = ContextMiddleware(app.wsgi_app, service_name="stack-wsgi")  # type: ignore[method-assign]
