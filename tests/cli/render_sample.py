"""A small two-service request used by the rendering tests (hand-made, fixed times)."""

from __future__ import annotations

from typing import Any

from cli_records import make_record

from flext_logging import keys


def sample_records() -> list[dict[str, Any]]:
    """Return the records of one request: gateway calls users, a child correlation fails."""
    return [
        make_record(
            keys.EVENT_REQUEST_STARTED,
            "01.000000",
            correlation="c-root",
            span="s-gw",
            service="gateway",
            method="GET",
            path="/users/7",
        ),
        make_record(
            keys.EVENT_HTTP_REQUEST_FINISHED,
            "01.080000",
            correlation="c-root",
            span="s-call",
            service="gateway",
            parent_span_id="s-gw",
            method="GET",
            url="http://users/users/7",
            status_code=404,
            duration_ms=70.0,
        ),
        make_record(
            keys.EVENT_REQUEST_FINISHED,
            "01.100000",
            correlation="c-root",
            span="s-gw",
            service="gateway",
            method="GET",
            path="/users/7",
            route="/users/{user_id}",
            status_code=404,
            duration_ms=100.0,
        ),
        make_record(
            "user lookup",
            "01.020000",
            correlation="c-lookup",
            parent="c-root",
            service="users",
        ),
        make_record(
            keys.EVENT_OPERATION_FAILED,
            "01.060000",
            correlation="c-lookup",
            parent="c-root",
            service="users",
            level="error",
            operation="load_user",
            duration_ms=35.5,
            status=keys.STATUS_FAILED,
            error_code="FLEXT_NOT_FOUND_ERROR",
        ),
    ]
