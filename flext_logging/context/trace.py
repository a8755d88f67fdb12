"""W3C Trace Context: trace and span ids, the ``traceparent``/``tracestate`` forms, and
the span of OpenTelemetry when the application uses it.

Pure functions and one value type: nothing here reads or changes the current context.
"""

from __future__ import annotations

import os
import re
import sys
from typing import Final, NamedTuple

__all__ = [
    "SAMPLED_FLAGS",
    "TraceParent",
    "TraceSpan",
    "format_traceparent",
    "is_valid_flags",
    "is_valid_span_id",
    "is_valid_trace_id",
    "is_valid_tracestate",
    "new_span_id",
    "new_trace_id",
    "opentelemetry_span",
    "parse_traceparent",
]

_TRACE_ID_PATTERN: Final = re.compile(r"[0-9a-f]{32}")
_SPAN_ID_PATTERN: Final = re.compile(r"[0-9a-f]{16}")
_FLAGS_PATTERN: Final = re.compile(r"[0-9a-f]{2}")
SAMPLED_FLAGS: Final = "01"
"""W3C trace flags of a span this library starts without a caller: sampled."""

_TRACEPARENT: Final = re.compile(
    r"(?P<version>[0-9a-f]{2})-(?P<trace_id>[0-9a-f]{32})-(?P<span_id>[0-9a-f]{16})"
    r"-(?P<flags>[0-9a-f]{2})(?P<rest>.*)",
    re.DOTALL,
)
_MAX_TRACEPARENT_LENGTH: Final = 512
_TRACESTATE_KEY: Final = (
    r"(?:[a-z0-9][_0-9a-z\-*/]{0,255}|[a-z0-9][_0-9a-z\-*/]{0,240}@[a-z][_0-9a-z\-*/]{0,13})"
)
_TRACESTATE_VALUE: Final = r"[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]"
_TRACESTATE_MEMBER: Final = re.compile(rf"[ \t]*{_TRACESTATE_KEY}={_TRACESTATE_VALUE}[ \t]*")
_MAX_TRACESTATE_LENGTH: Final = 512
_MAX_TRACESTATE_MEMBERS: Final = 32


def is_valid_trace_id(value: object) -> bool:
    """Tell whether *value* is a W3C trace id: 32 lower-case hex digits, not all zero."""
    return (
        isinstance(value, str)
        and _TRACE_ID_PATTERN.fullmatch(value) is not None
        and value.strip("0") != ""
    )


def is_valid_span_id(value: object) -> bool:
    """Tell whether *value* is a W3C span id: 16 lower-case hex digits, not all zero."""
    return (
        isinstance(value, str)
        and _SPAN_ID_PATTERN.fullmatch(value) is not None
        and value.strip("0") != ""
    )


def is_valid_flags(value: object) -> bool:
    """Tell whether *value* is W3C trace flags: 2 lower-case hex digits."""
    return isinstance(value, str) and _FLAGS_PATTERN.fullmatch(value) is not None


def new_trace_id() -> str:
    """Return a random trace id."""
    while True:  # an all-zero id is invalid; one draw in 2**128 repeats
        value = os.urandom(16).hex()
        if value.strip("0"):
            return value


def new_span_id() -> str:
    """Return a random span id."""
    while True:  # as above, one draw in 2**64 repeats
        value = os.urandom(8).hex()
        if value.strip("0"):
            return value


class TraceSpan(NamedTuple):
    """The W3C trace context of one span: what a ``traceparent`` header carries, and more."""

    trace_id: str
    span_id: str
    parent_span_id: str | None = None
    """The caller's span, when the span was started as a child of one."""
    flags: str = SAMPLED_FLAGS
    tracestate: str | None = None
    """Vendor data received with the caller's span, passed along unchanged."""


class TraceParent(NamedTuple):
    """The parsed fields of a ``traceparent`` header."""

    trace_id: str
    parent_span_id: str
    flags: str


def parse_traceparent(value: str) -> TraceParent | None:
    """Parse a ``traceparent`` header; ``None`` for anything malformed.

    Version ``00`` must be exactly ``00-<32 hex>-<16 hex>-<2 hex>``; a later version
    may add fields after a ``-``, as the W3C specification allows. Upper-case hex,
    all-zero ids and version ``ff`` are rejected.
    """
    if len(value) >= _MAX_TRACEPARENT_LENGTH:
        return None
    match = _TRACEPARENT.fullmatch(value.strip(" \t"))
    if match is None:
        return None
    version, rest = match["version"], match["rest"]
    if version == "ff" or (version == "00" and rest) or (rest and not rest.startswith("-")):
        return None
    if not (is_valid_trace_id(match["trace_id"]) and is_valid_span_id(match["span_id"])):
        return None
    return TraceParent(match["trace_id"], match["span_id"], match["flags"])


def format_traceparent(span: TraceSpan) -> str:
    """Return the version ``00`` ``traceparent`` header naming *span* as the parent."""
    return f"00-{span.trace_id}-{span.span_id}-{span.flags}"


def is_valid_tracestate(value: str) -> bool:
    """Tell whether *value* is a well-formed ``tracestate`` header (at most 32 members)."""
    if not value or len(value) > _MAX_TRACESTATE_LENGTH:
        return False
    members = [member for member in value.split(",") if member.strip(" \t")]
    return 0 < len(members) <= _MAX_TRACESTATE_MEMBERS and all(
        _TRACESTATE_MEMBER.fullmatch(member) for member in members
    )


def opentelemetry_span() -> TraceSpan | None:
    """Return the active OpenTelemetry span, if the API is loaded and a span is active."""
    # Only an application that imported OpenTelemetry can have an active span, so a
    # module lookup keeps the cost at nothing for everyone else.
    trace_api = sys.modules.get("opentelemetry.trace")
    if trace_api is None:
        return None
    active = trace_api.get_current_span()
    span_context = active.get_span_context()
    if not span_context.is_valid:
        return None
    state = span_context.trace_state
    # The SDK's spans know their parent (the API's do not): the caller of an outgoing
    # call that OpenTelemetry instrumentation made its own span.
    parent = getattr(active, "parent", None)
    parent_id = getattr(parent, "span_id", None)
    return TraceSpan(
        format(span_context.trace_id, "032x"),
        format(span_context.span_id, "016x"),
        format(parent_id, "016x") if isinstance(parent_id, int) and parent_id else None,
        format(int(span_context.trace_flags), "02x"),
        state.to_header() if state else None,
    )
