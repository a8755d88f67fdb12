"""Where the context lives: the context variables and the process-wide defaults.

All per-work values live in ``contextvars``, so each thread and asyncio task sees its
own, and a task inherits the context of the code that created it. The logging pipeline
reads :func:`current_fields` on every record: one ``ContextVar.get`` returning a
snapshot already in schema order. Values are never mutated in place: a change sets a
new snapshot, so a token restores exactly what was there before.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar, Token
from types import MappingProxyType
from typing import Any, Final

from flext_logging import keys
from flext_logging.context.ids import rejection_reason, usable, validated
from flext_logging.context.trace import TraceSpan, opentelemetry_span

__all__ = [
    "apply",
    "current_correlation",
    "current_fields",
    "current_span",
    "get_one",
    "opentelemetry_span_in_force",
    "process_defaults",
    "set_one",
    "set_process_defaults",
]

EMPTY: Final[Mapping[str, Any]] = MappingProxyType({})


class _Snapshot:
    """The context fields set in one context; their merge with the defaults, on first read."""

    __slots__ = ("defaults", "explicit", "merged")

    def __init__(self, explicit: dict[str, str], defaults: dict[str, str]) -> None:
        self.explicit = explicit
        self.defaults = defaults
        # Many scopes never log; merging waits for the first record that reads it.
        self.merged: dict[str, str] | None = None


def _merge(explicit: Mapping[str, str], defaults: Mapping[str, str]) -> dict[str, str]:
    merged = {}
    for key in keys.CONTEXT_KEYS:
        # An explicit "" hides the process default (see Service.service_context).
        value = explicit[key] if key in explicit else defaults.get(key)
        if value:
            merged[key] = value
    return merged


fields: ContextVar[_Snapshot | None] = ContextVar("flext_logging.fields", default=None)
"""The context fields set in the current context (``None``: only the process defaults)."""
metadata: ContextVar[Mapping[str, Any]] = ContextVar("flext_logging.metadata", default=EMPTY)
"""Operation metadata of the current scope; replaced on change (copy-on-write)."""
span: ContextVar[TraceSpan | None] = ContextVar("flext_logging.span", default=None)
"""This library's span in the current context."""
span_opened_under: ContextVar[str | None] = ContextVar(
    "flext_logging.span_opened_under", default=None
)
"""The span id of the OpenTelemetry span that was active when this library's current span
began: while that span is still OpenTelemetry's active one, ours is the inner span."""

# Service identity given to configure(), and what a child process inherited: seen by
# every thread and task, including those whose context was created before configure()
# ran. Replaced, never mutated.
_process_defaults: dict[str, str] = {}
# The span a child process runs in, below its parent's: what new spans descend from.
_process_span: TraceSpan | None = None


def current_fields() -> Mapping[str, str]:
    """Return the context fields that have a value, in schema order (never modify it)."""
    snapshot = fields.get()
    if snapshot is None:
        return _process_defaults
    if snapshot.defaults is _process_defaults:
        merged = snapshot.merged
        if merged is None:
            merged = snapshot.merged = _merge(snapshot.explicit, _process_defaults)
        return merged
    return _merge(snapshot.explicit, _process_defaults)


def process_defaults() -> Mapping[str, str]:
    """Return the process-wide service identity given to ``configure()`` (read-only)."""
    return _process_defaults


def set_process_defaults(
    *,
    service_name: str | None = None,
    service_version: str | None = None,
    environment: str | None = None,
) -> None:
    """Set the process-wide service identity (``configure()`` calls this).

    Raises ``ValueError`` for a value that could not appear in a record (too long,
    control characters), so a bad setting fails at start-up, not silently. Ids a
    child process inherited are forgotten: ``configure()`` adopts them again.
    """
    global _process_defaults, _process_span  # noqa: PLW0603 - process-wide by design
    values = {
        keys.SERVICE_NAME: service_name,
        keys.SERVICE_VERSION: service_version,
        keys.ENVIRONMENT: environment,
    }
    for key, value in values.items():
        if value is not None and not usable(key, value):
            raise ValueError(f"{key} {value!r} is unusable: {rejection_reason(key, value)}")
    _process_defaults = {key: value for key, value in values.items() if value is not None}
    _process_span = None


def adopt_process_defaults(adopted: Mapping[str, str], process_span: TraceSpan | None) -> None:
    """Add inherited ids to the process defaults, and the span the process runs in."""
    global _process_defaults, _process_span  # noqa: PLW0603 - process-wide by design
    if process_span is not None:
        _process_span = process_span
    if adopted:
        merged = {**_process_defaults, **adopted}
        # Schema order: outside any scope, current_fields() returns the defaults as they are.
        _process_defaults = {key: merged[key] for key in keys.CONTEXT_KEYS if key in merged}


def apply(changes: Mapping[str, str | None]) -> Token[_Snapshot | None]:
    """Set fields in the current context; ``None`` unsets. Returns the token to undo it."""
    snapshot = fields.get()
    explicit = dict(snapshot.explicit) if snapshot is not None else {}
    for key, value in changes.items():
        if value is None:
            explicit.pop(key, None)
        else:
            explicit[key] = value
    return fields.set(_Snapshot(explicit, _process_defaults))


def set_one(key: str, value: str | None, source: str = "set") -> None:
    """Set one field in the current context; an unusable value is dropped and reported."""
    apply(validated({key: value}, source))


def get_one(key: str) -> str | None:
    """Return one field's value in the current context, if it has one."""
    return current_fields().get(key)


def current_correlation() -> str | None:
    """The correlation id in force, without merging the whole snapshot."""
    snapshot = fields.get()
    if snapshot is not None and keys.CORRELATION_ID in snapshot.explicit:
        return snapshot.explicit[keys.CORRELATION_ID] or None
    # A child process's inherited correlation lives in the process defaults.
    return _process_defaults.get(keys.CORRELATION_ID)


def opentelemetry_span_in_force() -> TraceSpan | None:
    """Return OpenTelemetry's active span when it is the innermost span, else ``None``.

    A span of this library started inside an OpenTelemetry span is inner to it (an
    outgoing call made in the OpenTelemetry span, for instance); an OpenTelemetry span
    started inside one of ours is inner to ours.
    """
    active = opentelemetry_span()
    if active is None or (span.get() is not None and span_opened_under.get() == active.span_id):
        return None
    return active


def current_span() -> TraceSpan | None:
    """Return the innermost active span: OpenTelemetry's or this library's.

    Outside any span, a child process started with ``to_env()`` is in the span it
    inherited from its parent.
    """
    return opentelemetry_span_in_force() or span.get() or _process_span


def add_metadata(new: Mapping[str, Any]) -> None:
    """Add *new* to the metadata of the current scope (copy-on-write)."""
    metadata.set({**metadata.get(), **new})


def clear() -> None:
    """Unset every context value of the current context (process defaults stay)."""
    fields.set(None)
    metadata.set(EMPTY)
