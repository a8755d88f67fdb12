"""Where the context lives: the context variables and the process-wide defaults.

All per-work values live in ``contextvars``, so each thread and asyncio task sees its
own, and a task inherits the context of the code that created it. The logging pipeline
reads :func:`current_fields` on every record: one ``ContextVar.get`` returning a
snapshot already in schema order. Values are never mutated in place: a change sets a
new snapshot, so a token restores exactly what was there before.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextvars import ContextVar, Token
from types import MappingProxyType
from typing import Any, Final

from flext_logging import keys
from flext_logging.context.ids import (
    rejection_reason,
    report_dropped,
    usable,
    validated,
)
from flext_logging.context.trace import TraceSpan, opentelemetry_span

__all__ = [
    "apply",
    "bind",
    "bound_fields",
    "current_correlation",
    "current_fields",
    "current_span",
    "get_one",
    "opentelemetry_span_in_force",
    "process_defaults",
    "record_fields",
    "record_parts",
    "set_one",
    "set_process_defaults",
    "unbind",
]

EMPTY: Final[Mapping[str, Any]] = MappingProxyType({})


class _Snapshot:
    """The context set in one context: ids and names, and the fields bound to the scope.

    Immutable once made, except for ``cache``: the merge with the process defaults,
    computed on the first record that reads it and again once after ``configure()``
    replaced the defaults (never per record).
    """

    __slots__ = ("bound", "cache", "explicit")

    def __init__(self, explicit: dict[str, str], bound: Mapping[str, Any]) -> None:
        self.explicit = explicit
        self.bound = bound
        # (the defaults merged with, the context fields, the record fields, the record
        # template and the bound fields), replaced whole so that a thread reading it
        # never sees half of a refresh.
        self.cache: _Cache | None = None


_Parts = tuple[dict[str, Any], Mapping[str, Any]]
_Cache = tuple[Mapping[str, str], dict[str, str], Mapping[str, Any], _Parts]


def _merge(explicit: Mapping[str, str], defaults: Mapping[str, str]) -> dict[str, str]:
    merged = {}
    for key in keys.CONTEXT_KEYS:
        # An explicit "" hides the process default (see Service.service_context).
        value = explicit[key] if key in explicit else defaults.get(key)
        if value:
            merged[key] = value
    return merged


def _template(context: Mapping[str, str]) -> dict[str, Any]:
    """A record's keys in schema order up to its context ids: the head and ``process_id``
    to be filled in (``None`` here), the context ids with their values."""
    return {**_HEAD_TEMPLATE, **context}


_HEAD_TEMPLATE: Final = dict.fromkeys((*keys.HEAD_KEYS, keys.PROCESS_ID))


def _refresh(snapshot: _Snapshot) -> _Cache:
    defaults = _process_defaults
    merged = _merge(snapshot.explicit, defaults)
    bound = snapshot.bound
    cache = (defaults, merged, {**merged, **bound} if bound else merged, (_template(merged), bound))
    snapshot.cache = cache
    return cache


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
# What record_parts() returns outside any scope: the defaults' template, no bound field.
_default_parts: _Parts = (_template(_process_defaults), EMPTY)
# The span a child process runs in, below its parent's: what new spans descend from.
_process_span: TraceSpan | None = None


def _current_cache() -> _Cache | None:
    """The current scope's cache, refreshed once after ``configure()`` replaced the
    process defaults; ``None`` outside any scope (only the process defaults apply)."""
    snapshot = fields.get()
    if snapshot is None:
        return None
    cache = snapshot.cache
    if cache is None or cache[0] is not _process_defaults:
        cache = _refresh(snapshot)
    return cache


def current_fields() -> Mapping[str, str]:
    """Return the context fields that have a value, in schema order (never modify it)."""
    cache = _current_cache()
    return _process_defaults if cache is None else cache[1]


def record_fields() -> Mapping[str, Any]:
    """Return what every record made now carries after its head (never modify it).

    The context fields in schema order, then the fields bound to the scope with
    :func:`bind`, in the order they were bound. One ``ContextVar.get`` on the path
    of every record.
    """
    cache = _current_cache()
    return _process_defaults if cache is None else cache[2]


def record_parts() -> tuple[dict[str, Any], Mapping[str, Any]]:
    """Return a record's template and the fields bound to the scope (never modify them).

    What :func:`record_fields` merges, for a record builder that copies the template
    (the head and ``process_id`` as ``None``, then the context ids, validated when they
    were set) and adds the bound fields, the application's values, apart. One
    ``ContextVar.get``, and no tuple made per record.
    """
    # _current_cache inlined: this is the path of every record (a call is ~3% of it).
    snapshot = fields.get()
    if snapshot is None:
        return _default_parts
    cache = snapshot.cache
    if cache is None or cache[0] is not _process_defaults:
        cache = _refresh(snapshot)
    return cache[3]


def bound_fields() -> Mapping[str, Any]:
    """Return the fields bound to the current scope with :func:`bind` (never modify it)."""
    snapshot = fields.get()
    return snapshot.bound if snapshot is not None else EMPTY


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
    global _process_defaults, _default_parts, _process_span  # noqa: PLW0603 - process-wide by design
    values = {
        keys.SERVICE_NAME: service_name,
        keys.SERVICE_VERSION: service_version,
        keys.ENVIRONMENT: environment,
    }
    for key, value in values.items():
        if value is not None and not usable(key, value):
            raise ValueError(f"{key} {value!r} is unusable: {rejection_reason(key, value)}")
    _process_defaults = {key: value for key, value in values.items() if value is not None}
    _default_parts = (_template(_process_defaults), EMPTY)
    _process_span = None


def adopt_process_defaults(adopted: Mapping[str, str], process_span: TraceSpan | None) -> None:
    """Add inherited ids to the process defaults, and the span the process runs in."""
    global _process_defaults, _default_parts, _process_span  # noqa: PLW0603 - process-wide
    if process_span is not None:
        _process_span = process_span
    if adopted:
        merged = {**_process_defaults, **adopted}
        # Schema order: outside any scope, current_fields() returns the defaults as they are.
        _process_defaults = {key: merged[key] for key in keys.CONTEXT_KEYS if key in merged}
        _default_parts = (_template(_process_defaults), EMPTY)


def apply(
    changes: Mapping[str, str | None], bound: Mapping[str, Any] | None = None
) -> Token[_Snapshot | None]:
    """Set fields in the current context; ``None`` unsets. Returns the token to undo it.

    *bound*, when given, replaces the fields bound to the scope (see :func:`bind`).
    """
    snapshot = fields.get()
    explicit = dict(snapshot.explicit) if snapshot is not None else {}
    for key, value in changes.items():
        if value is None:
            explicit.pop(key, None)
        else:
            explicit[key] = value
    if bound is None:
        bound = snapshot.bound if snapshot is not None else EMPTY
    return fields.set(_Snapshot(explicit, bound))


_RESERVED_NAMES: Final = frozenset((*keys.HEAD_KEYS, keys.PROCESS_ID, keys.EVENT))


def bind(new: Mapping[str, Any], source: str = "bind") -> Token[_Snapshot | None]:
    """Add fields to every record of the current context (copy-on-write); returns the token.

    A context key (``request_id``, ``user_id``, ...) is set as that context value and
    validated like one. Any other name becomes a bound field, written after the
    context keys. A name that is not a short printable string, or that names the
    record head, is dropped and reported: the head is a contract.
    """
    changes: dict[str, object] = {}
    fields_to_bind: dict[str, Any] = {}
    for key, value in new.items():
        if key in _CONTEXT_KEY_SET:
            changes[key] = value
        elif key in _RESERVED_NAMES or not usable(keys.OPERATION, key):
            # The name itself is what is wrong: it is shown as the (bounded) preview.
            report_dropped(_BOUND_NAME, key, source, _refusal(key))
        else:
            fields_to_bind[key] = value
    current = bound_fields()
    merged = {**current, **fields_to_bind} if fields_to_bind else current
    return apply(validated(changes, source), merged)


def unbind(names: Iterable[str]) -> Token[_Snapshot | None]:
    """Remove bound fields (and context values) named *names*; returns the token."""
    names = set(names)
    current = bound_fields()
    remaining = {key: value for key, value in current.items() if key not in names}
    return apply(
        {key: None for key in names if key in _CONTEXT_KEY_SET},
        remaining if len(remaining) != len(current) else current,
    )


def _refusal(key: object) -> str:
    if key in _RESERVED_NAMES:
        return "names a key of the record head"
    return f"field name {rejection_reason(keys.OPERATION, key)}"


_CONTEXT_KEY_SET: Final = frozenset(keys.CONTEXT_KEYS)
_BOUND_NAME: Final = "bound_field_name"


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
