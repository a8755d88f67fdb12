"""Framework-free header logic shared by every integration.

Reading the ids a caller sent (any letter case) and validating them, the headers that
carry the context to a callee, and the text rules for values taken from requests. The
W3C ``traceparent``/``tracestate`` forms themselves live in
:mod:`flext_logging.context.trace`. Nothing here imports a web framework or an HTTP client.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable, Iterable
from typing import Final, NamedTuple

from flext_logging import keys
from flext_logging.context import FlextContext
from flext_logging.context.ids import MAX_ID_LENGTH, is_valid_id
from flext_logging.context.trace import (
    TraceParent,
    TraceSpan,
    format_traceparent,
    is_valid_tracestate,
    parse_traceparent,
)
from flext_logging.logger import get_logger

__all__ = [
    "InboundContext",
    "clean_text",
    "level_for_status",
    "outbound_headers",
    "read_inbound",
    "report_rejected",
    "url_without_secrets",
]

_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_PREVIEW_LENGTH: Final = 48
_STATUS_ERROR: Final = 500
_STATUS_WARNING: Final = 400

_logger = get_logger("flext_logging.integrations")


def clean_text(value: str, limit: int) -> str:
    """Remove control characters from *value* and cut it to *limit* characters."""
    cleaned = _CONTROL.sub("", value)
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 3] + "..."


class InboundContext(NamedTuple):
    """What a caller's headers said, validated: usable values, and what was rejected."""

    correlation_id: str | None = None
    parent_correlation_id: str | None = None
    request_id: str | None = None
    trace: TraceParent | None = None
    tracestate: str | None = None
    caller_service: str | None = None
    caller_service_version: str | None = None
    rejected: tuple[tuple[str, str, str], ...] = ()
    """``(field, raw value, reason)`` of every value that was present but unusable."""

    @property
    def rejected_ids(self) -> bool:
        """Tell whether an id header (not a trace header) was present but invalid."""
        ids = (keys.CORRELATION_ID, keys.PARENT_CORRELATION_ID, keys.REQUEST_ID)
        return any(field in ids for field, _, _ in self.rejected)


def _is_usable_name(value: str) -> bool:
    return 0 < len(value) <= MAX_ID_LENGTH and _CONTROL.search(value) is None


_ID_REASON: Final = f"not 1-{MAX_ID_LENGTH} characters of [A-Za-z0-9._:-]"
_NAME_REASON: Final = f"empty, longer than {MAX_ID_LENGTH} characters or control characters"
# Field -> (check, reason for the warning when it fails), in the order values are read.
_CHECKS: Final[dict[str, tuple[Callable[[str], bool], str]]] = {
    keys.CORRELATION_ID: (is_valid_id, _ID_REASON),
    keys.PARENT_CORRELATION_ID: (is_valid_id, _ID_REASON),
    keys.REQUEST_ID: (is_valid_id, _ID_REASON),
    keys.SERVICE_NAME: (_is_usable_name, _NAME_REASON),
    keys.SERVICE_VERSION: (_is_usable_name, _NAME_REASON),
}


def read_inbound(
    headers: Iterable[tuple[str, str]],
    *,
    request_id_header: str = keys.HEADER_REQUEST_ID,
    correlation_id_header: str = keys.HEADER_CORRELATION_ID,
) -> InboundContext:
    """Read and validate the context headers among *headers* (name, value pairs).

    Names match in any letter case; the first occurrence of a name wins. Ids must
    pass :func:`flext_logging.context.is_valid_id`, ``traceparent`` must parse, and
    ``tracestate`` is kept only beside a valid ``traceparent``. Nothing is logged:
    pass the result to :func:`report_rejected` once the request's context is bound.
    """
    fields = {
        correlation_id_header.lower(): keys.CORRELATION_ID,
        keys.HEADER_PARENT_CORRELATION_ID.lower(): keys.PARENT_CORRELATION_ID,
        request_id_header.lower(): keys.REQUEST_ID,
        keys.HEADER_TRACEPARENT: keys.HEADER_TRACEPARENT,
        keys.HEADER_TRACESTATE: keys.HEADER_TRACESTATE,
        keys.HEADER_SERVICE_NAME.lower(): keys.SERVICE_NAME,
        keys.HEADER_SERVICE_VERSION.lower(): keys.SERVICE_VERSION,
    }
    raw: dict[str, str] = {}
    for name, value in headers:
        field = fields.get(name.lower())
        if field is not None and field not in raw:
            raw[field] = value
    values: dict[str, str] = {}
    rejected: list[tuple[str, str, str]] = []
    for field, (usable, reason) in _CHECKS.items():
        received = raw.get(field)
        if received is None:
            continue
        if usable(received):
            values[field] = received
        else:
            rejected.append((field, received, reason))
    trace = (
        parse_traceparent(raw[keys.HEADER_TRACEPARENT]) if keys.HEADER_TRACEPARENT in raw else None
    )
    if trace is None and keys.HEADER_TRACEPARENT in raw:
        rejected.append((keys.HEADER_TRACEPARENT, raw[keys.HEADER_TRACEPARENT], "malformed"))
    tracestate = raw.get(keys.HEADER_TRACESTATE) if trace is not None else None
    if tracestate is not None and not is_valid_tracestate(tracestate):
        rejected.append((keys.HEADER_TRACESTATE, tracestate, "malformed"))
        tracestate = None
    return InboundContext(
        correlation_id=values.get(keys.CORRELATION_ID),
        parent_correlation_id=values.get(keys.PARENT_CORRELATION_ID),
        request_id=values.get(keys.REQUEST_ID),
        trace=trace,
        tracestate=tracestate,
        caller_service=values.get(keys.SERVICE_NAME),
        caller_service_version=values.get(keys.SERVICE_VERSION),
        rejected=tuple(rejected),
    )


def report_rejected(inbound: InboundContext) -> None:
    """Write one ``invalid_context_id_dropped`` warning per rejected header value.

    The record shows a bounded ASCII preview of the value, never the value itself.
    """
    for field, value, reason in inbound.rejected:
        _logger.warning(
            keys.EVENT_INVALID_ID_DROPPED,
            field=field,
            source="inbound",
            reason=reason,
            value_preview=ascii(value)[:_PREVIEW_LENGTH],
        )


def outbound_headers(span: TraceSpan) -> dict[str, str]:
    """Return the headers that carry the current context and *span* to a callee."""
    headers = FlextContext.Serialization.get_correlation_context()
    headers[keys.HEADER_TRACEPARENT] = format_traceparent(span)
    if span.tracestate:
        headers[keys.HEADER_TRACESTATE] = span.tracestate
    return headers


def level_for_status(status_code: int) -> str:
    """Return the record level for an HTTP status: 5xx error, 4xx warning, else info."""
    if status_code >= _STATUS_ERROR:
        return "error"
    if status_code >= _STATUS_WARNING:
        return "warning"
    return "info"


def url_without_secrets(url: str) -> str:
    """Return *url* without user info, query string and fragment, which may hold secrets."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = f"{host}:{port}" if port is not None else host
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))
