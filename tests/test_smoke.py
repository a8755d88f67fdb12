"""The quick-start path of the README works as written."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from typing import Any

from flext_logging import FlextContext, configure, get_logger

logger = get_logger(__name__)  # made before configure(), as users do at module level


def test_module_level_logger_follows_later_configure(
    json_stream: tuple[io.StringIO, Callable[[], list[dict[str, Any]]]],
) -> None:
    """A logger made at import time writes with the configuration applied later."""
    stream, records = json_stream
    configure(format="json", stream=stream, service_name="user-service", service_version="1.4.0")
    with (
        FlextContext.Correlation.new_correlation() as correlation_id,
        FlextContext.Request.request_context(
            user_id="u1", request_id="r-9", operation_name="signup"
        ),
        FlextContext.Performance.timed_operation("db_insert"),
    ):
        logger.info("user created", plan="pro")
        logging.getLogger("some.library").warning("retry %d", 2)
    first, foreign, finished = records()
    assert list(first) == [
        "timestamp",
        "level",
        "logger",
        "message",
        "process_id",
        "correlation_id",
        "request_id",
        "service_name",
        "service_version",
        "user_id",
        "operation_name",
        "operation",
        "plan",
    ]
    assert first["correlation_id"] == correlation_id
    assert foreign["message"] == "retry 2"
    assert foreign["correlation_id"] == correlation_id
    assert finished["message"] == "operation_finished"
    assert finished["operation"] == "db_insert"
