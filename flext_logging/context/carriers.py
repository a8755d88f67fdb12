"""Carriers: the context on its way out of the process and back in.

Headers (``X-Correlation-Id``, ...), the envelope of a queued message
(``flext_context``) and the environment of a child process (``FLEXT_*``,
``TRACEPARENT``). Every value that comes in is validated; a caller's service identity
is kept as metadata and never replaces this service's own.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from typing import Any, Final

from flext_logging import keys
from flext_logging._jsonsafe import to_json_safe
from flext_logging.context.ids import new_id, report_dropped, validated
from flext_logging.context.scopes import Scope, scoped, span
from flext_logging.context.state import (
    add_metadata,
    adopt_process_defaults,
    apply,
    current_fields,
    current_span,
    get_one,
)
from flext_logging.context.state import metadata as metadata_var
from flext_logging.context.trace import (
    TraceSpan,
    format_traceparent,
    is_valid_span_id,
    is_valid_trace_id,
    is_valid_tracestate,
    new_span_id,
    parse_traceparent,
)

__all__ = [
    "METADATA_KEY",
    "context_from",
    "correlation_headers",
    "extracted",
    "full_context",
    "inbound",
    "inherit_from_environment",
    "inject",
    "set_from_context",
    "to_env",
]

# Header and envelope names accepted by set_from_context, in lower case.
_INBOUND_NAMES: Final[dict[str, str]] = {
    **{header.lower(): key for key, header in keys.HEADERS.items()},
    **{key: key for key in keys.CONTEXT_KEYS},
    "x-environment": keys.ENVIRONMENT,
}
METADATA_KEY: Final = "metadata"
"""The key of the operation metadata in ``get_full_context()`` and in envelopes."""

# Inbound service identity describes the caller; the receiver keeps its own identity
# and records the caller's under these metadata names.
_CALLER_METADATA: Final = {
    keys.SERVICE_NAME: "caller_service",
    keys.SERVICE_VERSION: "caller_service_version",
}


def inbound(mapping: Mapping[str, Any]) -> tuple[dict[str, str | None], dict[str, Any]]:
    """Read context values (any letter case) from *mapping*: the valid ones, and metadata."""
    changes: dict[str, object] = {}
    metadata: dict[str, Any] = {}
    for name, value in mapping.items():
        if not isinstance(name, str):
            continue
        lowered = name.lower()
        if lowered == METADATA_KEY and isinstance(value, Mapping):
            metadata.update(value)
            continue
        key = _INBOUND_NAMES.get(lowered) or _INBOUND_NAMES.get(lowered.replace("_", "-"))
        if key is not None and key != keys.OPERATION and value is not None:
            changes[key] = value
    valid = validated(changes, "inbound")
    for key, metadata_key in _CALLER_METADATA.items():
        caller_value = valid.pop(key, None)
        if caller_value is not None:
            metadata[metadata_key] = caller_value
    return valid, metadata


def full_context() -> dict[str, Any]:
    """Return every context value that is set, JSON-safe, metadata included."""
    full: dict[str, Any] = dict(current_fields())
    metadata = metadata_var.get()
    if metadata:
        full[METADATA_KEY] = to_json_safe(dict(metadata))
    return full


def correlation_headers() -> dict[str, str]:
    """Return the context as HTTP headers (``X-Correlation-Id``, ...), set ones only."""
    fields = current_fields()
    return {header: fields[key] for key, header in keys.HEADERS.items() if key in fields}


def set_from_context(mapping: Mapping[str, Any]) -> dict[str, str]:
    """Adopt values from headers (any letter case) or ``get_full_context()`` keys.

    Invalid values are dropped and reported; the values adopted are returned. A
    service name or version received describes the caller: it is kept as metadata
    (``caller_service``, ``caller_service_version``) and never replaces this
    service's identity. The values stay set in the current context: prefer
    ``context_from``.
    """
    changes, metadata = inbound(mapping)
    apply(changes)
    if metadata:
        add_metadata(metadata)
    return {key: value for key, value in changes.items() if value is not None}


def context_from(mapping: Mapping[str, Any]) -> Scope[dict[str, str]]:
    """Like ``set_from_context`` for the block only; restores the outer context."""
    changes, metadata = inbound(mapping)
    adopted = {key: value for key, value in changes.items() if value is not None}
    return Scope(changes, metadata, adopted)


def inject(message: Mapping[str, Any]) -> dict[str, Any]:
    """Return a copy of *message* carrying the current context for its consumer.

    The context (``get_full_context()``) goes under the ``flext_context`` key; the
    message itself is not modified.
    """
    return {**message, keys.ENVELOPE: full_context()}


@contextmanager
def extracted(message: Mapping[str, Any]) -> Iterator[dict[str, str]]:
    """Handle *message* in a new correlation whose parent is its sender's.

    The sender's context that ``inject()`` put in the message is adopted for the block
    like ``context_from()`` does (validated, the sender's service kept as caller
    metadata), except that the block gets a correlation of its own, and a child span
    when the sender was in a span. A message without an envelope still gets a new
    correlation, a child of the current one if any. Yields the values set.
    """
    envelope = message.get(keys.ENVELOPE) if isinstance(message, Mapping) else None
    changes: dict[str, str | None] = {}
    metadata: dict[str, Any] = {}
    if isinstance(envelope, Mapping):
        changes, metadata = inbound(envelope)
    parent = changes.get(keys.CORRELATION_ID) or get_one(keys.CORRELATION_ID)
    changes[keys.CORRELATION_ID] = new_id()
    changes[keys.PARENT_CORRELATION_ID] = parent
    # The sender's span is the parent of the consumer's, never the consumer's own.
    trace_id = changes.pop(keys.TRACE_ID, None)
    span_id = changes.pop(keys.SPAN_ID, None)
    with ExitStack() as stack:
        stack.enter_context(scoped(changes, metadata))
        adopted = {key: value for key, value in changes.items() if value is not None}
        if is_valid_trace_id(trace_id):
            child = stack.enter_context(
                span(
                    trace_id=trace_id,
                    parent_span_id=span_id if is_valid_span_id(span_id) else None,
                )
            )
            adopted[keys.TRACE_ID] = child.trace_id
            adopted[keys.SPAN_ID] = child.span_id
        yield adopted


def to_env() -> dict[str, str]:
    """Return the context as ``FLEXT_*`` environment variables for a child process.

    Pass them with ``env={**os.environ, **to_env()}``; a child that calls
    ``configure()`` starts a correlation whose parent is the current one and keeps
    the request id, user id and operation name. The service variables name the child
    after this service unless it configures a name and version of its own. Inside a
    span, the W3C trace context goes along as ``TRACEPARENT`` (and ``TRACESTATE``):
    the child runs in a span of the same trace, below the current one.
    """
    fields = current_fields()
    env = {
        variable: fields[key]
        for key, variable in keys.ENVIRONMENT_VARIABLES.items()
        if key in fields
    }
    current = current_span()
    if current is not None:
        env[keys.ENV_TRACEPARENT] = format_traceparent(current)
        if current.tracestate:
            env[keys.ENV_TRACESTATE] = current.tracestate
    return env


# The variables a child process adopts into its context; the service variables are
# read by configure() as its own settings instead.
_INHERITED_VARIABLES: Final = {
    key: name
    for key, name in keys.ENVIRONMENT_VARIABLES.items()
    if key not in (keys.SERVICE_NAME, keys.SERVICE_VERSION, keys.ENVIRONMENT)
}
# (parent correlation id, this process's child id): configure() may run more than once,
# and every run must name the same child correlation.
_inherited_correlation: tuple[str, str] | None = None
# (TRACEPARENT received, the span this process runs in), for the same reason.
_inherited_span: tuple[str, TraceSpan] | None = None


def inherit_from_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """Adopt the context a parent process passed with ``Serialization.to_env()``.

    ``configure()`` calls this. The values become process-wide, like the service
    identity, so every thread sees them; ``FLEXT_CORRELATION_ID`` becomes the
    ``parent_correlation_id`` of a new correlation of this process, and ``TRACEPARENT``
    the parent of the span the process runs in (same ``trace_id``, its own
    ``span_id``). Invalid values are dropped and reported (``source`` is
    ``environment``). Returns what was adopted.
    """
    global _inherited_correlation  # noqa: PLW0603 - process-wide by design
    received = {key: environ[name] for key, name in _INHERITED_VARIABLES.items() if name in environ}
    adopted = {key: value for key, value in validated(received, "environment").items() if value}
    parent = adopted.pop(keys.CORRELATION_ID, None)
    if parent is not None:
        if _inherited_correlation is None or _inherited_correlation[0] != parent:
            _inherited_correlation = (parent, new_id())
        adopted[keys.CORRELATION_ID] = _inherited_correlation[1]
        adopted[keys.PARENT_CORRELATION_ID] = parent
    process_span = _inherit_span(environ)
    if process_span is not None:
        adopted[keys.TRACE_ID] = process_span.trace_id
        adopted[keys.SPAN_ID] = process_span.span_id
    adopt_process_defaults(adopted, process_span)
    return adopted


def _inherit_span(environ: Mapping[str, str]) -> TraceSpan | None:
    """Start this process's span below the parent's ``TRACEPARENT``; None without one."""
    global _inherited_span  # noqa: PLW0603 - process-wide by design
    received = environ.get(keys.ENV_TRACEPARENT)
    if received is None:
        return None
    if _inherited_span is None or _inherited_span[0] != received:
        parent = parse_traceparent(received)
        if parent is None:
            report_dropped(keys.TRACE_ID, received, "environment", "malformed traceparent")
            return None
        tracestate = environ.get(keys.ENV_TRACESTATE)
        child = TraceSpan(
            parent.trace_id,
            new_span_id(),
            parent.parent_span_id,
            parent.flags,
            tracestate if tracestate is not None and is_valid_tracestate(tracestate) else None,
        )
        _inherited_span = (received, child)
    return _inherited_span[1]
