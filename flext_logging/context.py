"""``FlextContext``: the correlation, request, service and timing context of the current work.

All values live in ``contextvars``, so each thread and asyncio task sees its own, and a
task inherits the context of the code that created it. Scopes (``with ...:``) restore
what was there before with tokens, also when the block raises. The logging pipeline
reads :func:`current_fields` on every record: one ``ContextVar.get`` returning a
snapshot already in schema order.
"""

from __future__ import annotations

import contextvars
import datetime
import functools
import os
import random
import re
import string
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, ExitStack, contextmanager
from contextvars import ContextVar, Token
from types import MappingProxyType, TracebackType
from typing import TYPE_CHECKING, Any, Final, Generic, NamedTuple, ParamSpec, TypeVar

from flext_logging import keys
from flext_logging._jsonsafe import to_json_safe

if TYPE_CHECKING:
    from flext_logging.result import FlextResult

__all__ = [
    "FlextContext",
    "TraceSpan",
    "current_fields",
    "inherit_from_environment",
    "is_valid_id",
    "is_valid_span_id",
    "is_valid_trace_id",
    "process_defaults",
    "set_process_defaults",
]

MAX_ID_LENGTH: Final = 128
_ID_CHARACTERS: Final = string.ascii_letters + string.digits + "._:-"

ID_KEYS: Final = frozenset(
    {
        keys.CORRELATION_ID,
        keys.PARENT_CORRELATION_ID,
        keys.TRACE_ID,
        keys.SPAN_ID,
        keys.REQUEST_ID,
    }
)
"""Fields that must match the id grammar (``[A-Za-z0-9._:-]``, at most 128 characters)."""

_EMPTY: Final[Mapping[str, Any]] = MappingProxyType({})


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


_fields: ContextVar[_Snapshot | None] = ContextVar("flext_logging.fields", default=None)
_metadata: ContextVar[Mapping[str, Any]] = ContextVar("flext_logging.metadata", default=_EMPTY)
# Service identity given to configure(): seen by every thread and task, including those
# whose context was created before configure() ran. Replaced, never mutated.
_process_defaults: dict[str, str] = {}


def current_fields() -> Mapping[str, str]:
    """Return the context fields that have a value, in schema order (never modify it)."""
    snapshot = _fields.get()
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
    control characters), so a bad setting fails at start-up, not silently.
    """
    global _process_defaults, _process_span  # noqa: PLW0603 - process-wide by design
    values = {
        keys.SERVICE_NAME: service_name,
        keys.SERVICE_VERSION: service_version,
        keys.ENVIRONMENT: environment,
    }
    for key, value in values.items():
        if value is not None and not _usable(key, value):
            raise ValueError(f"{key} {value!r} is unusable: {_rejection_reason(key, value)}")
    _process_defaults = {key: value for key, value in values.items() if value is not None}
    _process_span = None


def is_valid_id(value: object) -> bool:
    """Tell whether *value* is a usable id: 1-128 characters of ``[A-Za-z0-9._:-]``."""
    return (
        isinstance(value, str)
        and 0 < len(value) <= MAX_ID_LENGTH
        and not value.strip(_ID_CHARACTERS)  # empty only when every character is allowed
    )


def _usable(key: str, value: object) -> bool:
    if not isinstance(value, str) or not 0 < len(value) <= MAX_ID_LENGTH:
        return False
    if key in ID_KEYS:
        return not value.strip(_ID_CHARACTERS)
    # Rejects control characters, line separators and invisible format characters.
    return value.isprintable()


def _rejection_reason(key: str, value: object) -> str:
    if not isinstance(value, str):
        return f"not a string but {type(value).__name__}"
    if not value:
        return "empty"
    if len(value) > MAX_ID_LENGTH:
        return f"longer than {MAX_ID_LENGTH} characters"
    if key in ID_KEYS:
        return "characters outside [A-Za-z0-9._:-]"
    return "control characters"


def _report_dropped(key: str, value: object, source: str, reason: str | None = None) -> None:
    # Late import: the logger is built on top of this module.
    from flext_logging.logger import get_logger

    preview = ascii(value)[:48] if isinstance(value, str) else type(value).__name__
    get_logger("flext_logging.context").warning(
        keys.EVENT_INVALID_ID_DROPPED,
        field=key,
        source=source,
        reason=reason or _rejection_reason(key, value),
        value_preview=preview,
    )


def _validated(changes: Mapping[str, object], source: str) -> dict[str, str | None]:
    """Keep the usable values of *changes*; report and drop the others. ``None`` passes."""
    clean: dict[str, str | None] = {}
    for key, value in changes.items():
        if value is None or _usable(key, value):
            clean[key] = value  # type: ignore[assignment]  # narrowed by _usable
        else:
            _report_dropped(key, value, source)
    return clean


def _apply(changes: Mapping[str, str | None]) -> Token[_Snapshot | None]:
    """Set fields in the current context; ``None`` unsets. Returns the token to undo it."""
    snapshot = _fields.get()
    explicit = dict(snapshot.explicit) if snapshot is not None else {}
    for key, value in changes.items():
        if value is None:
            explicit.pop(key, None)
        else:
            explicit[key] = value
    return _fields.set(_Snapshot(explicit, _process_defaults))


def _set_one(key: str, value: str | None, source: str = "set") -> None:
    _apply(_validated({key: value}, source))


def _get_one(key: str) -> str | None:
    return current_fields().get(key)


def _new_id() -> str:
    # Unique, not secret: ids name work, they grant nothing. The random module reseeds
    # after fork, so forked workers never repeat each other's ids.
    return "%032x" % random.getrandbits(128)  # noqa: UP031 - fastest 128-bit hex


_T = TypeVar("_T")


class _Scope(Generic[_T]):
    """A ``with`` block that sets context fields (and metadata), restored on exit."""

    __slots__ = ("_changes", "_field_token", "_metadata", "_metadata_token", "_result")

    def __init__(
        self,
        changes: Mapping[str, str | None],
        metadata: Mapping[str, Any] | None = None,
        result: _T = None,  # type: ignore[assignment]  # None when _T is None
    ) -> None:
        self._changes = changes
        self._metadata = metadata
        self._result = result

    def __enter__(self) -> _T:
        self._field_token = _apply(self._changes)
        metadata = self._metadata
        self._metadata_token = _metadata.set({**_metadata.get(), **metadata}) if metadata else None
        return self._result

    def __exit__(self, *exc_info: object) -> None:
        if self._metadata_token is not None:
            _metadata.reset(self._metadata_token)
        _fields.reset(self._field_token)


def _current_correlation() -> str | None:
    """The correlation id in force, without merging the whole snapshot."""
    snapshot = _fields.get()
    if snapshot is not None and keys.CORRELATION_ID in snapshot.explicit:
        return snapshot.explicit[keys.CORRELATION_ID] or None
    # A child process's inherited correlation lives in the process defaults.
    return _process_defaults.get(keys.CORRELATION_ID)


class _NewCorrelation(_Scope[str]):
    """A child correlation: a new id whose parent is the id current when entered."""

    __slots__ = ()

    def __init__(self) -> None:
        self._metadata = None
        self._metadata_token = None

    def __enter__(self) -> str:
        parent = _current_correlation()
        new_id = self._result = _new_id()
        self._field_token = _apply(
            {keys.CORRELATION_ID: new_id, keys.PARENT_CORRELATION_ID: parent}
        )
        return new_id


class _InheritedCorrelation(_Scope[str]):
    """The current correlation id, or a new one when there is none."""

    __slots__ = ()

    def __init__(self) -> None:
        self._metadata = None
        self._metadata_token = None

    def __enter__(self) -> str:
        correlation_id = self._result = _current_correlation() or _new_id()
        self._field_token = _apply({keys.CORRELATION_ID: correlation_id})
        return correlation_id


def _scoped(
    changes: Mapping[str, str | None], metadata: Mapping[str, Any] | None = None
) -> _Scope[None]:
    return _Scope(changes, metadata)


# Header and envelope names accepted by set_from_context, in lower case.
_INBOUND_NAMES: Final[dict[str, str]] = {
    **{header.lower(): key for key, header in keys.HEADERS.items()},
    **{key: key for key in keys.CONTEXT_KEYS},
    "x-environment": keys.ENVIRONMENT,
}
_METADATA_KEY: Final = "metadata"


# Inbound service identity describes the caller; the receiver keeps its own identity
# and records the caller's under these metadata names.
_CALLER_METADATA: Final = {
    keys.SERVICE_NAME: "caller_service",
    keys.SERVICE_VERSION: "caller_service_version",
}


def _inbound(mapping: Mapping[str, Any]) -> tuple[dict[str, str | None], dict[str, Any]]:
    changes: dict[str, object] = {}
    metadata: dict[str, Any] = {}
    for name, value in mapping.items():
        if not isinstance(name, str):
            continue
        lowered = name.lower()
        if lowered == _METADATA_KEY and isinstance(value, Mapping):
            metadata.update(value)
            continue
        key = _INBOUND_NAMES.get(lowered) or _INBOUND_NAMES.get(lowered.replace("_", "-"))
        if key is not None and key != keys.OPERATION and value is not None:
            changes[key] = value
    valid = _validated(changes, "inbound")
    for key, metadata_key in _CALLER_METADATA.items():
        caller_value = valid.pop(key, None)
        if caller_value is not None:
            metadata[metadata_key] = caller_value
    return valid, metadata


_P = ParamSpec("_P")
_R = TypeVar("_R")

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
# The span a child process runs in, below its parent's: what new spans descend from.
_process_span: TraceSpan | None = None


def inherit_from_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """Adopt the context a parent process passed with ``Serialization.to_env()``.

    ``configure()`` calls this. The values become process-wide, like the service
    identity, so every thread sees them; ``FLEXT_CORRELATION_ID`` becomes the
    ``parent_correlation_id`` of a new correlation of this process, and ``TRACEPARENT``
    the parent of the span the process runs in (same ``trace_id``, its own
    ``span_id``). Invalid values are dropped and reported (``source`` is
    ``environment``). Returns what was adopted.
    """
    global _process_defaults, _inherited_correlation  # noqa: PLW0603 - process-wide by design
    received = {key: environ[name] for key, name in _INHERITED_VARIABLES.items() if name in environ}
    adopted = {key: value for key, value in _validated(received, "environment").items() if value}
    parent = adopted.pop(keys.CORRELATION_ID, None)
    if parent is not None:
        if _inherited_correlation is None or _inherited_correlation[0] != parent:
            _inherited_correlation = (parent, _new_id())
        adopted[keys.CORRELATION_ID] = _inherited_correlation[1]
        adopted[keys.PARENT_CORRELATION_ID] = parent
    span = _inherit_span(environ)
    if span is not None:
        adopted[keys.TRACE_ID] = span.trace_id
        adopted[keys.SPAN_ID] = span.span_id
    if adopted:
        merged = {**_process_defaults, **adopted}
        # Schema order: outside any scope, current_fields() returns the defaults as they are.
        _process_defaults = {key: merged[key] for key in keys.CONTEXT_KEYS if key in merged}
    return adopted


def _inherit_span(environ: Mapping[str, str]) -> TraceSpan | None:
    """Start this process's span below the parent's ``TRACEPARENT``; None without one."""
    global _inherited_span, _process_span  # noqa: PLW0603 - process-wide by design
    received = environ.get(keys.ENV_TRACEPARENT)
    if received is None:
        return None
    if _inherited_span is None or _inherited_span[0] != received:
        # Late import: the W3C parsing lives with the integrations, built on this module.
        from flext_logging.integrations._headers import is_valid_tracestate, parse_traceparent

        parent = parse_traceparent(received)
        if parent is None:
            _report_dropped(keys.TRACE_ID, received, "environment", "malformed traceparent")
            return None
        state = environ.get(keys.ENV_TRACESTATE)
        span = TraceSpan(
            parent.trace_id,
            _new_span_id(),
            parent.parent_span_id,
            parent.flags,
            state if state is not None and is_valid_tracestate(state) else None,
        )
        _inherited_span = (received, span)
    _process_span = _inherited_span[1]
    return _process_span


_TRACE_ID_PATTERN: Final = re.compile(r"[0-9a-f]{32}")
_SPAN_ID_PATTERN: Final = re.compile(r"[0-9a-f]{16}")
_FLAGS_PATTERN: Final = re.compile(r"[0-9a-f]{2}")
SAMPLED_FLAGS: Final = "01"
"""W3C trace flags of a span this library starts without a caller: sampled."""


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


def _new_trace_id() -> str:
    while True:  # an all-zero id is invalid; one draw in 2**128 repeats
        value = os.urandom(16).hex()
        if value.strip("0"):
            return value


def _new_span_id() -> str:
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


_span: ContextVar[TraceSpan | None] = ContextVar("flext_logging.span", default=None)


def _opentelemetry_span() -> TraceSpan | None:
    """Return the active OpenTelemetry span, if the API is loaded and a span is active."""
    # Only an application that imported OpenTelemetry can have an active span, so a
    # module lookup keeps the cost at nothing for everyone else.
    trace_api = sys.modules.get("opentelemetry.trace")
    if trace_api is None:
        return None
    span_context = trace_api.get_current_span().get_span_context()
    if not span_context.is_valid:
        return None
    state = span_context.trace_state
    return TraceSpan(
        format(span_context.trace_id, "032x"),
        format(span_context.span_id, "016x"),
        None,
        format(int(span_context.trace_flags), "02x"),
        state.to_header() if state else None,
    )


class _TimedOperation:
    """The context manager behind ``Performance.timed_operation``."""

    __slots__ = ("_field_token", "_metadata_on_entry", "_started", "outcome")

    def __init__(self, name: str) -> None:
        self.outcome: dict[str, Any] = {"operation": name}

    def __enter__(self) -> dict[str, Any]:
        self._field_token = _apply({keys.OPERATION: self.outcome["operation"]})
        # add_operation_metadata replaces the mapping (copy-on-write): comparing with
        # this one on exit finds what the block added, and writes never reach it.
        self._metadata_on_entry = _metadata.get()
        self.outcome["start_time"] = datetime.datetime.now(datetime.timezone.utc)
        self._started = time.perf_counter()
        return self.outcome

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        elapsed = max(time.perf_counter() - self._started, 0.0)
        outcome = self.outcome
        # Wall-clock end; the duration comes from the monotonic clock, never negative.
        outcome["end_time"] = datetime.datetime.now(datetime.timezone.utc)
        outcome["duration_seconds"] = elapsed
        if exc_type is None:
            outcome["status"] = keys.STATUS_SUCCEEDED
        else:
            outcome["status"] = keys.STATUS_FAILED
            outcome["error_type"] = exc_type.__qualname__
        entry = self._metadata_on_entry
        current = _metadata.get()
        if current is entry:
            outcome["metadata"] = {}
        else:
            outcome["metadata"] = {
                k: v for k, v in current.items() if k not in entry or entry[k] is not v
            }
        try:
            _operation_reporter()(outcome, exc)
        finally:
            if current is not entry:
                _metadata.set(entry)
            _fields.reset(self._field_token)


_reporter: Callable[[Mapping[str, Any], BaseException | None], None] | None = None


def _operation_reporter() -> Callable[[Mapping[str, Any], BaseException | None], None]:
    global _reporter  # noqa: PLW0603 - a cached late import, set once
    if _reporter is None:
        # Late import: reporting needs the logger, which is built on this module.
        from flext_logging.logger import report_operation

        _reporter = report_operation
    return _reporter


class FlextContext:
    """Namespaces over the context of the current thread or task."""

    class Correlation:
        """The correlation id that ties together all work done for one request or job."""

        @staticmethod
        def generate_correlation_id() -> str:
            """Create a new correlation id, make it current, and return it."""
            new_id = _new_id()
            _apply({keys.CORRELATION_ID: new_id})
            return new_id

        @staticmethod
        def get_correlation_id() -> str | None:
            """Return the current correlation id, if any."""
            return _get_one(keys.CORRELATION_ID)

        @staticmethod
        def set_correlation_id(correlation_id: str | None) -> None:
            """Make *correlation_id* current (``None`` unsets); invalid ids are dropped."""
            _set_one(keys.CORRELATION_ID, correlation_id)

        @staticmethod
        def get_parent_correlation_id() -> str | None:
            """Return the correlation id of the work that started this one, if any."""
            return _get_one(keys.PARENT_CORRELATION_ID)

        @staticmethod
        def set_parent_correlation_id(parent_id: str | None) -> None:
            """Set the parent correlation id (``None`` unsets); invalid ids are dropped."""
            _set_one(keys.PARENT_CORRELATION_ID, parent_id)

        @staticmethod
        def new_correlation() -> AbstractContextManager[str]:
            """Start a child correlation: a new id whose parent is the current one."""
            return _NewCorrelation()

        @staticmethod
        def inherit_correlation() -> AbstractContextManager[str]:
            """Keep the current correlation id, or start one if there is none."""
            return _InheritedCorrelation()

    class Service:
        """The identity of the service doing the work."""

        @staticmethod
        def service_context(name: str, version: str | None = None) -> AbstractContextManager[None]:
            """Name the service (and version) for the duration of the block.

            Without a version, no version is reported in the block: the configured
            one belongs to the configured service, not to *name*.
            """
            changes: dict[str, str | None] = _validated(
                {keys.SERVICE_NAME: name, keys.SERVICE_VERSION: version}, "service_context"
            )
            if changes.get(keys.SERVICE_VERSION) is None:
                changes[keys.SERVICE_VERSION] = ""
            return _Scope(changes)

        @staticmethod
        def set_service_name(name: str | None) -> None:
            """Set the service name in the current context."""
            _set_one(keys.SERVICE_NAME, name)

        @staticmethod
        def get_service_name() -> str | None:
            """Return the service name (the context's, else the one given to configure)."""
            return _get_one(keys.SERVICE_NAME)

        @staticmethod
        def set_service_version(version: str | None) -> None:
            """Set the service version in the current context."""
            _set_one(keys.SERVICE_VERSION, version)

        @staticmethod
        def get_service_version() -> str | None:
            """Return the service version (the context's, else the configured one)."""
            return _get_one(keys.SERVICE_VERSION)

        @staticmethod
        def set_environment(environment: str | None) -> None:
            """Set the deployment environment name in the current context."""
            _set_one(keys.ENVIRONMENT, environment)

        @staticmethod
        def get_environment() -> str | None:
            """Return the deployment environment (the context's, else the configured one)."""
            return _get_one(keys.ENVIRONMENT)

    class Request:
        """Who asked for the work and what it is."""

        @staticmethod
        def request_context(
            user_id: str | None = None,
            operation_name: str | None = None,
            request_id: str | None = None,
            metadata: Mapping[str, Any] | None = None,
        ) -> AbstractContextManager[None]:
            """Set request values for the block; values left ``None`` keep the outer ones."""
            changes: dict[str, str | None] = {}
            for key, value in (
                (keys.USER_ID, user_id),
                (keys.OPERATION_NAME, operation_name),
                (keys.REQUEST_ID, request_id),
            ):
                if value is None:
                    continue
                if _usable(key, value):
                    changes[key] = value
                else:
                    _report_dropped(key, value, "request_context")
            return _Scope(changes, metadata)

        @staticmethod
        def get_user_id() -> str | None:
            """Return the current user id, if any."""
            return _get_one(keys.USER_ID)

        @staticmethod
        def set_user_id(user_id: str | None) -> None:
            """Set the user id in the current context."""
            _set_one(keys.USER_ID, user_id)

        @staticmethod
        def get_operation_name() -> str | None:
            """Return the current operation name, if any."""
            return _get_one(keys.OPERATION_NAME)

        @staticmethod
        def set_operation_name(operation_name: str | None) -> None:
            """Set the operation name in the current context."""
            _set_one(keys.OPERATION_NAME, operation_name)

        @staticmethod
        def get_request_id() -> str | None:
            """Return the current request id, if any."""
            return _get_one(keys.REQUEST_ID)

        @staticmethod
        def set_request_id(request_id: str | None) -> None:
            """Set the request id in the current context; invalid ids are dropped."""
            _set_one(keys.REQUEST_ID, request_id)

    class Performance:
        """Timing of operations and the metadata gathered while they run."""

        @staticmethod
        def timed_operation(name: str) -> _TimedOperation:
            """Time the block as operation *name*; yields a dict filled in on exit.

            On entry the dict has ``operation`` and ``start_time``; on exit (also when
            the block raises) ``end_time``, ``duration_seconds``, ``status`` and, on
            failure, ``error_type``. An ``operation_finished``/``operation_failed``
            record is logged unless ``configure(log_operations=False)``.
            """
            return _TimedOperation(str(name))

        @staticmethod
        def add_operation_metadata(key: str, value: Any) -> None:
            """Add *key* to the metadata of the innermost scope (copy-on-write)."""
            _metadata.set({**_metadata.get(), key: value})

        @staticmethod
        def get_operation_metadata() -> dict[str, Any]:
            """Return a copy of the metadata visible in the current scope."""
            return dict(_metadata.get())

    class Serialization:
        """Moving the context across process boundaries."""

        @staticmethod
        def get_full_context() -> dict[str, Any]:
            """Return every context value that is set, JSON-safe, metadata included."""
            full: dict[str, Any] = dict(current_fields())
            metadata = _metadata.get()
            if metadata:
                full[_METADATA_KEY] = to_json_safe(dict(metadata))
            return full

        @staticmethod
        def get_correlation_context() -> dict[str, str]:
            """Return the context as HTTP headers (``X-Correlation-Id``, ...), set ones only."""
            fields = current_fields()
            return {header: fields[key] for key, header in keys.HEADERS.items() if key in fields}

        @staticmethod
        def set_from_context(mapping: Mapping[str, Any]) -> dict[str, str]:
            """Adopt values from headers (any letter case) or ``get_full_context()`` keys.

            Invalid values are dropped and reported; the values adopted are returned.
            A service name or version received describes the caller: it is kept as
            metadata (``caller_service``, ``caller_service_version``) and never
            replaces this service's identity. The values stay set in the current
            context: prefer ``context_from``.
            """
            changes, metadata = _inbound(mapping)
            _apply(changes)
            if metadata:
                _metadata.set({**_metadata.get(), **metadata})
            return {key: value for key, value in changes.items() if value is not None}

        @staticmethod
        def context_from(mapping: Mapping[str, Any]) -> AbstractContextManager[dict[str, str]]:
            """Like ``set_from_context`` for the block only; restores the outer context."""
            changes, metadata = _inbound(mapping)
            adopted = {key: value for key, value in changes.items() if value is not None}
            return _Scope(changes, metadata, adopted)

        @staticmethod
        def inject(message: Mapping[str, Any]) -> dict[str, Any]:
            """Return a copy of *message* carrying the current context for its consumer.

            The context (``get_full_context()``) goes under the ``flext_context`` key;
            the message itself is not modified.
            """
            return {**message, keys.ENVELOPE: FlextContext.Serialization.get_full_context()}

        @staticmethod
        @contextmanager
        def extracted(message: Mapping[str, Any]) -> Iterator[dict[str, str]]:
            """Handle *message* in a new correlation whose parent is its sender's.

            The sender's context that ``inject()`` put in the message is adopted for the
            block like ``context_from()`` does (validated, the sender's service kept as
            caller metadata), except that the block gets a correlation of its own, and
            a child span when the sender was in a span. A message without an envelope
            still gets a new correlation, a child of the current one if any. Yields the
            values set.
            """
            envelope = message.get(keys.ENVELOPE) if isinstance(message, Mapping) else None
            changes: dict[str, str | None] = {}
            metadata: dict[str, Any] = {}
            if isinstance(envelope, Mapping):
                changes, metadata = _inbound(envelope)
            parent = changes.get(keys.CORRELATION_ID) or _get_one(keys.CORRELATION_ID)
            changes[keys.CORRELATION_ID] = _new_id()
            changes[keys.PARENT_CORRELATION_ID] = parent
            # The sender's span is the parent of the consumer's, never the consumer's own.
            trace_id = changes.pop(keys.TRACE_ID, None)
            span_id = changes.pop(keys.SPAN_ID, None)
            with ExitStack() as stack:
                stack.enter_context(_scoped(changes, metadata))
                adopted = {key: value for key, value in changes.items() if value is not None}
                if is_valid_trace_id(trace_id):
                    span = stack.enter_context(
                        FlextContext.Trace.span(
                            trace_id=trace_id,
                            parent_span_id=span_id if is_valid_span_id(span_id) else None,
                        )
                    )
                    adopted[keys.TRACE_ID] = span.trace_id
                    adopted[keys.SPAN_ID] = span.span_id
                yield adopted

        @staticmethod
        def to_env() -> dict[str, str]:
            """Return the context as ``FLEXT_*`` environment variables for a child process.

            Pass them with ``env={**os.environ, **to_env()}``; a child that calls
            ``configure()`` starts a correlation whose parent is the current one and
            keeps the request id, user id and operation name. The service variables
            name the child after this service unless it configures a name and version
            of its own. Inside a span, the W3C trace context goes along as
            ``TRACEPARENT`` (and ``TRACESTATE``): the child runs in a span of the same
            trace, below the current one.
            """
            fields = current_fields()
            env = {
                variable: fields[key]
                for key, variable in keys.ENVIRONMENT_VARIABLES.items()
                if key in fields
            }
            span = FlextContext.Trace.current_span()
            if span is not None:
                from flext_logging.integrations._headers import format_traceparent

                env[keys.ENV_TRACEPARENT] = format_traceparent(span)
                if span.tracestate:
                    env[keys.ENV_TRACESTATE] = span.tracestate
            return env

    class Trace:
        """W3C trace context: the trace and span the current work belongs to.

        Inside a span every record carries ``trace_id`` and ``span_id``. When
        ``opentelemetry-api`` is loaded and an OpenTelemetry span is active, that
        span's ids take precedence, both in records and as the parent of new spans.
        """

        @staticmethod
        @contextmanager
        def span(
            *,
            trace_id: str | None = None,
            parent_span_id: str | None = None,
            flags: str | None = None,
            tracestate: str | None = None,
        ) -> Iterator[TraceSpan]:
            """Run the block in a new span (a fresh ``span_id``) and yield its ids.

            Without *trace_id* the span is a child of the current span, or the root
            of a new trace when there is none. With it (a caller's trace, e.g. from a
            ``traceparent`` header) the span joins that trace as a child of
            *parent_span_id*. Raises ``ValueError`` for a malformed id or flags.
            """
            if trace_id is None:
                current = FlextContext.Trace.current_span()
                if current is not None:
                    trace_id = current.trace_id
                    parent_span_id = current.span_id
                    flags = flags or current.flags
                    tracestate = tracestate or current.tracestate
                else:
                    trace_id = _new_trace_id()
            if not is_valid_trace_id(trace_id):
                raise ValueError(f"trace_id {trace_id!r} is not 32 lower-case hex digits")
            if parent_span_id is not None and not is_valid_span_id(parent_span_id):
                raise ValueError(f"parent_span_id {parent_span_id!r} is not 16 hex digits")
            if flags is not None and _FLAGS_PATTERN.fullmatch(flags) is None:
                raise ValueError(f"flags {flags!r} are not 2 lower-case hex digits")
            span = TraceSpan(
                trace_id, _new_span_id(), parent_span_id, flags or SAMPLED_FLAGS, tracestate
            )
            token = _span.set(span)
            try:
                with _scoped({keys.TRACE_ID: span.trace_id, keys.SPAN_ID: span.span_id}):
                    yield span
            finally:
                _span.reset(token)

        @staticmethod
        def current_span() -> TraceSpan | None:
            """Return the active span: OpenTelemetry's if one is active, else this library's.

            Outside any span, a child process started with ``to_env()`` is in the span
            it inherited from its parent.
            """
            return _opentelemetry_span() or _span.get() or _process_span

        @staticmethod
        def get_trace_id() -> str | None:
            """Return the trace id of the active span, if any."""
            span = FlextContext.Trace.current_span()
            return span.trace_id if span is not None else None

        @staticmethod
        def get_span_id() -> str | None:
            """Return the span id of the active span, if any."""
            span = FlextContext.Trace.current_span()
            return span.span_id if span is not None else None

    class Utilities:
        """Helpers over the whole context."""

        @staticmethod
        def propagate(fn: Callable[_P, _R]) -> Callable[_P, _R]:
            """Return *fn* wrapped to run in the context current now, wherever it is called.

            For a ``threading.Thread`` target, ``loop.run_in_executor`` or any callback
            run on another thread. Each call runs in its own copy of the captured context,
            so calls may overlap and what one call sets is not seen by the next.
            """
            captured = contextvars.copy_context()

            @functools.wraps(fn)
            def run_in_captured_context(*args: _P.args, **kwargs: _P.kwargs) -> _R:
                return captured.copy().run(fn, *args, **kwargs)

            return run_in_captured_context

        @staticmethod
        def clear_context() -> None:
            """Unset every context value of the current context (process defaults stay)."""
            _fields.set(None)
            _metadata.set(_EMPTY)

        @staticmethod
        def ensure_correlation_id() -> str:
            """Return the current correlation id, creating one if there is none."""
            current = _get_one(keys.CORRELATION_ID)
            return current or FlextContext.Correlation.generate_correlation_id()

        @staticmethod
        def has_correlation_id() -> bool:
            """Tell whether a correlation id is set."""
            return _get_one(keys.CORRELATION_ID) is not None

        @staticmethod
        def get_context_summary() -> str:
            """Return one readable line naming correlation, service and user."""
            fields = current_fields()
            service = fields.get(keys.SERVICE_NAME, "-")
            if keys.SERVICE_VERSION in fields:
                service = f"{service}@{fields[keys.SERVICE_VERSION]}"
            parts = [
                f"correlation={fields.get(keys.CORRELATION_ID, '-')}",
                f"service={service}",
                f"user={fields.get(keys.USER_ID, '-')}",
            ]
            if keys.OPERATION_NAME in fields:
                parts.append(f"operation={fields[keys.OPERATION_NAME]}")
            return " ".join(parts)

    @staticmethod
    def create_environment_context_config(environment: str) -> FlextResult[dict[str, Any]]:
        """Return the settings ``configure(environment=...)`` applies for *environment*."""
        # Late import: the settings belong to the configuration layer above this module.
        from flext_logging._config import environment_settings

        return environment_settings(environment)
