"""What the HTTP-client integrations share: one outgoing call, its span and its record."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any

from flext_logging import keys
from flext_logging.context import FlextContext, TraceSpan
from flext_logging.context.scopes import in_span
from flext_logging.context.trace import TraceParent, parse_traceparent
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
def outgoing_call(
    logger: FlextLogger,
    method: str,
    url: str,
    sent_headers: Callable[[], Mapping[str, Any]] | None = None,
) -> Iterator[OutgoingCall]:
    """Run one outgoing request in a child span; log how it ended.

    Writes ``http_request_finished`` (level by status class) once the block has set
    ``status_code``, or ``http_request_failed`` at error level when the block raises.
    Both carry ``method``, ``url`` without query string, ``duration_ms`` and
    ``parent_span_id`` (the span the call was made from), inside the call's span.

    *sent_headers* returns the request's headers as they were sent: when something
    else chose the ``traceparent`` (the caller, or OpenTelemetry's instrumentation of
    the client), the record names the span that was sent, which is the one the callee
    names as its parent.
    """
    started = time.perf_counter()
    fields: dict[str, Any] = {
        keys.HTTP_METHOD: _headers.clean_text(method, 16),
        keys.HTTP_URL: _headers.clean_text(_headers.url_without_secrets(url), 2048),
    }
    caller = FlextContext.Trace.current_span()
    with FlextContext.Trace.span() as span:
        call = OutgoingCall(_headers.outbound_headers(span))
        try:
            yield call
        except Exception as exc:
            fields[keys.DURATION_MS] = round((time.perf_counter() - started) * 1000.0, 3)
            fields[keys.ERROR_TYPE] = type(exc).__qualname__
            with _span_sent(span, caller, sent_headers, fields):
                logger.error(keys.EVENT_HTTP_REQUEST_FAILED, exc_info=exc, **fields)
            raise
        fields[keys.STATUS_CODE] = call.status_code
        fields[keys.DURATION_MS] = round((time.perf_counter() - started) * 1000.0, 3)
        level = _headers.level_for_status(call.status_code or 0)
        with _span_sent(span, caller, sent_headers, fields):
            logger.log(level, keys.EVENT_HTTP_REQUEST_FINISHED, **fields)


@contextmanager
def _span_sent(
    ours: TraceSpan,
    caller: TraceSpan | None,
    sent_headers: Callable[[], Mapping[str, Any]] | None,
    fields: dict[str, Any],
) -> Iterator[None]:
    """Enter the span the callee was told about, and set ``parent_span_id`` in *fields*.

    That is the call's own span, unless the ``traceparent`` sent names another one: a
    span OpenTelemetry's instrumentation started around the exchange (a child of the
    span the call was made from, as far as the log is concerned), or the caller's own
    span, when instrumentation outside this call made that span the call's.
    """
    sent = _sent_traceparent(sent_headers)
    if sent is None or (sent.trace_id, sent.parent_span_id) == (ours.trace_id, ours.span_id):
        if ours.parent_span_id is not None:
            fields[keys.PARENT_SPAN_ID] = ours.parent_span_id
        yield
        return
    parent = ours.parent_span_id
    if caller is not None and sent.parent_span_id == caller.span_id:
        parent = caller.parent_span_id  # the call is the caller's span itself
    if parent is not None:
        fields[keys.PARENT_SPAN_ID] = parent
    with in_span(
        TraceSpan(sent.trace_id, sent.parent_span_id, parent, sent.flags, ours.tracestate)
    ):
        yield


def _sent_traceparent(
    sent_headers: Callable[[], Mapping[str, Any]] | None,
) -> TraceParent | None:
    if sent_headers is None:
        return None
    try:
        headers = sent_headers()
        value = next(
            (v for n, v in headers.items() if str(n).lower() == keys.HEADER_TRACEPARENT), None
        )
    except Exception:  # noqa: BLE001 - the record is written with the call's own span
        return None
    return parse_traceparent(value) if isinstance(value, str) else None
