"""What the HTTP-client integrations share: one outgoing call, its span and its record."""

from __future__ import annotations

import time
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

from flext_logging import keys
from flext_logging.context import FlextContext
from flext_logging.integrations import _headers
from flext_logging.logger import FlextLogger

__all__ = ["OutgoingCall", "outgoing_call"]


class OutgoingCall:
    """An outgoing request in progress: the headers to send, and the status it got."""

    __slots__ = ("headers", "status_code")

    def __init__(self, headers: dict[str, str]) -> None:
        self.headers = headers
        self.status_code: int | None = None

    def inject(self, headers: MutableMapping[str, Any]) -> None:
        """Add the context headers to *headers*, keeping any the caller set itself."""
        present = {str(name).lower() for name in headers}
        for name, value in self.headers.items():
            if name.lower() not in present:
                headers[name] = value


@contextmanager
def outgoing_call(logger: FlextLogger, method: str, url: str) -> Iterator[OutgoingCall]:
    """Run one outgoing request in a child span; log how it ended.

    Writes ``http_request_finished`` (level by status class) once the block has set
    ``status_code``, or ``http_request_failed`` at error level when the block raises.
    Both carry ``method``, ``url`` without query string, ``duration_ms`` and
    ``parent_span_id`` (the span the call was made from), inside the call's own span.
    """
    started = time.perf_counter()
    fields: dict[str, Any] = {
        keys.HTTP_METHOD: _headers.clean_text(method, 16),
        keys.HTTP_URL: _headers.clean_text(_headers.url_without_secrets(url), 2048),
    }
    with FlextContext.Trace.span() as span:
        if span.parent_span_id is not None:
            fields[keys.PARENT_SPAN_ID] = span.parent_span_id
        call = OutgoingCall(_headers.outbound_headers(span))
        try:
            yield call
        except Exception as exc:
            fields[keys.DURATION_MS] = round((time.perf_counter() - started) * 1000.0, 3)
            fields[keys.ERROR_TYPE] = type(exc).__qualname__
            logger.error(keys.EVENT_HTTP_REQUEST_FAILED, exc_info=exc, **fields)
            raise
        fields[keys.STATUS_CODE] = call.status_code
        fields[keys.DURATION_MS] = round((time.perf_counter() - started) * 1000.0, 3)
        level = _headers.level_for_status(call.status_code or 0)
        logger.log(level, keys.EVENT_HTTP_REQUEST_FINISHED, **fields)
