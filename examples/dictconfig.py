"""Plain ``logging``, configured with ``dictConfig``, writing flext-logging's record schema.

No ``configure()`` call: the application keeps its own logging setup and only names
``flext_logging.JsonFormatter`` and ``flext_logging.ContextFilter`` in it. JSON lines go
to stdout; a classic text format on stderr shows the filter's ``%(correlation_id)s``.
Run it with ``.venv/bin/python examples/dictconfig.py``.
"""

from __future__ import annotations

import logging
import logging.config
from typing import Any

from flext_logging import FlextContext, FlextExceptions

LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        # Sets every context key as a record attribute, None when it has no value.
        "flext_context": {"()": "flext_logging.ContextFilter"},
    },
    "formatters": {
        "json": {"()": "flext_logging.JsonFormatter"},
        "text": {
            "format": "%(levelname)-8s %(name)s [%(correlation_id)s %(request_id)s] %(message)s"
        },
    },
    "handlers": {
        "json": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": "json",
            "filters": ["flext_context"],
        },
        "text": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stderr",
            "formatter": "text",
            "filters": ["flext_context"],
        },
    },
    "root": {"level": "INFO", "handlers": ["json", "text"]},
}

logger = logging.getLogger("orders.api")


def main() -> None:
    """Configure logging from the dict, then log a request with context and an error."""
    logging.config.dictConfig(LOGGING)
    logger.info("service started")
    with (
        FlextContext.Correlation.new_correlation(),
        FlextContext.Request.request_context(user_id="u-7", request_id="req-42"),
    ):
        logger.info("order %s accepted", "o-311", extra={"items": 2, "api_key": "not-logged"})
        try:
            raise FlextExceptions("stock service unreachable", service="stock", endpoint="/reserve")
        except FlextExceptions.ConnectionError:
            logger.exception("reservation failed")


if __name__ == "__main__":
    main()
