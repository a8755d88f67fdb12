"""Enrichers: small callables with structlog's processor signature.

Each takes ``(logger, method_name, event_dict)`` and returns the event dict, so any
structlog processor can run beside them. Each docstring names the keys it reads and
writes (constants of :mod:`flext_logging.keys`). The :class:`Redactor` lives in
:mod:`flext_logging.redaction` and is re-exported here.
"""

from __future__ import annotations

import datetime
import sys
from typing import Any, Final

from flext_logging import keys
from flext_logging._jsonsafe import rfc3339
from flext_logging.context.state import current_fields, opentelemetry_span_in_force
from flext_logging.exceptions import current_error_handling
from flext_logging.redaction import DEFAULT_REDACT_KEYS, EXC_INFO, REDACTED, Redactor
from flext_logging.tracebacks import exception_data, resolve_exc_info, stack_text

__all__ = [
    "DEFAULT_REDACT_KEYS",
    "EXC_INFO",
    "REDACTED",
    "Redactor",
    "add_context",
    "add_error",
    "add_exception",
    "add_opentelemetry_ids",
    "add_stack",
    "level_name",
    "set_aside_head_fields",
]

# EXC_INFO (from redaction, which must leave it alone): where a logger call's exc_info=
# waits for add_error / add_exception.
STACK_INFO: Final = "stack_info"
"""Where a logger call's ``stack_info=True`` waits for :func:`add_stack`."""
EVENT: Final = "event"
"""structlog's name for the message; :func:`add_context` moves it to ``message``."""

_CONTEXT_KEY_SET: Final = frozenset(keys.CONTEXT_KEYS)
COLLISION_SUFFIX: Final = "_field"
"""Added to a call field that would overwrite a head key (``level`` -> ``level_field``)."""
PIPELINE_INPUTS: Final = (*keys.HEAD_KEYS, EVENT, EXC_INFO, STACK_INFO)
"""The names under which a producer hands its record's own values to the enrichers."""
_PIPELINE_INPUT_SET: Final = frozenset(PIPELINE_INPUTS)

_LEVEL_ALIASES: Final = {
    "exception": "error",
    "warn": "warning",
    "fatal": "critical",
    "msg": "info",
    "log": "info",
}
_UTC: Final = datetime.timezone.utc


def level_name(method_name: str) -> str:
    """Return the record level for a logger method name (``exception`` -> ``error``)."""
    return _LEVEL_ALIASES.get(method_name, method_name)


def set_aside_head_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """Return *fields* with each one named like a pipeline input renamed ``<name>_field``.

    The collision rule for a producer that gathers a call's own fields (``extra=``,
    static fields, a dict message) before adding the record's time, level, logger
    name, message, exception and stack: the head always means what the schema says,
    and the call's value is kept beside it, in its place. Returns *fields* itself
    when nothing collides.
    """
    if _PIPELINE_INPUT_SET.isdisjoint(fields):
        return fields
    return {
        (key + COLLISION_SUFFIX if key in _PIPELINE_INPUT_SET else key): value
        for key, value in fields.items()
    }


def add_context(logger: Any, method_name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """Build the record head and merge the current FlextContext, in schema order.

    Reads ``event`` (or ``message``), ``timestamp`` and ``logger`` when a caller
    supplied them; writes ``timestamp``, ``level``, ``logger``, ``message`` and every
    context key with a value, followed by the call's own fields. A call's field with
    a context key's name overrides the context value in place.
    """
    timestamp = event_dict.pop(keys.TIMESTAMP, None) or datetime.datetime.now(_UTC)
    if isinstance(timestamp, datetime.datetime) and not timestamp.microsecond:
        # orjson drops a zero fraction; a fixed width keeps log lines sortable as text.
        timestamp = rfc3339(timestamp)
    name = event_dict.pop(keys.LOGGER, None)
    if name is None:
        name = getattr(logger, "name", None) or ""
    message = event_dict.pop(EVENT, None)
    if message is None:
        message = event_dict.pop(keys.MESSAGE, "")
    record = {
        keys.TIMESTAMP: timestamp,
        keys.LEVEL: level_name(method_name),
        keys.LOGGER: name,
        keys.MESSAGE: message,
    }
    context = current_fields()
    if _CONTEXT_KEY_SET.isdisjoint(event_dict):
        record.update(context)
    else:
        # A call's field named like a context key takes that key's place in the schema,
        # whether or not the context has a value for it.
        for key in keys.CONTEXT_KEYS:
            if key in event_dict:
                record[key] = event_dict.pop(key)
            elif key in context:
                record[key] = context[key]
    if keys.LEVEL in event_dict or keys.MESSAGE in event_dict:
        # The head is a contract: a call's own "level" or "message" is kept beside it.
        for key in (keys.LEVEL, keys.MESSAGE):
            if key in event_dict:
                event_dict[key + COLLISION_SUFFIX] = event_dict.pop(key)
    record.update(event_dict)
    return record


def add_error(logger: Any, method_name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """Render the exception named by ``exc_info`` as data under ``error``.

    Reads and removes ``exc_info``; writes ``error`` (see :mod:`flext_logging.tracebacks`)
    following the error-handling settings in force.
    """
    exc = resolve_exc_info(event_dict.pop(EXC_INFO, None))
    if exc is not None:
        event_dict[keys.ERROR] = exception_data(exc, current_error_handling())
    return event_dict


def add_exception(logger: Any, method_name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """Resolve ``exc_info`` to the exception itself, for renderers that draw tracebacks.

    Reads ``exc_info``; leaves the exception instance there (or removes the key when
    it names none). The console renderer uses it; JSON pipelines use :func:`add_error`.
    """
    exc = resolve_exc_info(event_dict.pop(EXC_INFO, None))
    if exc is not None:
        event_dict[EXC_INFO] = exc
    return event_dict


_OWN_PACKAGES: Final = ("flext_logging", "logging", "structlog")
_OWN_PREFIXES: Final = tuple(f"{package}." for package in _OWN_PACKAGES)


def _is_own_module(name: str) -> bool:
    return name in _OWN_PACKAGES or name.startswith(_OWN_PREFIXES)


def add_stack(logger: Any, method_name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """Add the caller's stack when the call passed ``stack_info=True``.

    Reads and removes ``stack_info``; writes ``stack``: the formatted call stack up to
    the application code that made the call, as the standard library formats it.
    """
    if event_dict.pop(STACK_INFO, False):
        frame = sys._getframe(1)
        while frame is not None and _is_own_module(frame.f_globals.get("__name__", "")):
            frame = frame.f_back  # type: ignore[assignment]  # loop ends on None
        event_dict[keys.STACK] = stack_text(frame, current_error_handling().max_frames)
    return event_dict


_TRACE_KEYS: Final = (keys.TRACE_ID, keys.SPAN_ID)
# The keys a trace id is written after, when a record has no trace id of its own yet.
_BEFORE_TRACE: Final = frozenset(
    (*keys.HEAD_KEYS, *keys.CONTEXT_KEYS[: keys.CONTEXT_KEYS.index(keys.TRACE_ID)])
)


def add_opentelemetry_ids(
    logger: Any, method_name: str, event_dict: dict[str, Any]
) -> dict[str, Any]:
    """Write the ids of the active OpenTelemetry span, when it is the innermost span.

    Reads nothing of the record; writes ``trace_id`` and ``span_id`` in their schema
    place, replacing the ids of a span of this library that the OpenTelemetry span was
    started in (a span of ours started inside the OpenTelemetry span keeps its ids). A
    no-op, one dictionary lookup, unless the application has imported ``opentelemetry``.
    """
    if "opentelemetry.trace" not in sys.modules:
        return event_dict
    span = opentelemetry_span_in_force()
    if span is None:
        return event_dict
    if keys.TRACE_ID in event_dict and keys.SPAN_ID in event_dict:
        event_dict[keys.TRACE_ID] = span.trace_id
        event_dict[keys.SPAN_ID] = span.span_id
        return event_dict
    record: dict[str, Any] = {}
    for key, value in event_dict.items():
        if key not in _BEFORE_TRACE and keys.TRACE_ID not in record:
            record[keys.TRACE_ID] = span.trace_id
            record[keys.SPAN_ID] = span.span_id
        if key not in _TRACE_KEYS:
            record[key] = value
    if keys.TRACE_ID not in record:
        record[keys.TRACE_ID] = span.trace_id
        record[keys.SPAN_ID] = span.span_id
    return record
