"""The FastAPI application the server tests run under gunicorn and uvicorn.

``configure()`` runs at import, as in most services, unless ``STACK_CONFIGURE=0`` (the
``--log-config`` test, where the application leaves logging to the server's config).
``GET /items/N?pad=K`` logs one record with ``n=N`` (and a K-byte field); ``/boom`` raises.
"""

from __future__ import annotations

import os
from typing import Any

from fastapi import FastAPI

from flext_logging import configure, get_logger
from flext_logging.integrations.asgi import ContextMiddleware

if os.environ.get("STACK_CONFIGURE", "1") == "1":
    configure(service_name="stack-asgi")

logger = get_logger("stack.app")
app = FastAPI()


@app.get("/items/{n}")
async def item(n: int, pad: int = 0) -> dict[str, Any]:
    """Log one record for request *n*, with a *pad*-byte field when asked."""
    if pad:
        logger.info("item served", n=n, pad="x" * pad)
    else:
        logger.info("item served", n=n)
    return {"n": n}


@app.get("/boom")
async def boom() -> None:
    """Fail inside the application."""
    raise ValueError("boom in the app")


app.add_middleware(ContextMiddleware, service_name="stack-asgi")  # type: ignore[arg-type]
