"""``FlextContext``: the correlation, request, service and timing context of the current work.

All values live in ``contextvars``, so each thread and asyncio task sees its own, and a
task inherits the context of the code that created it. Scopes (``with ...:``) restore
what was there before with tokens, also when the block raises. The logging pipeline
reads :func:`current_fields` on every record: one ``ContextVar.get`` returning a
snapshot already in schema order.
"""

from __future__ import annotations

import datetime
import os
import re
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from types import MappingProxyType, TracebackType
from typing import TYPE_CHECKING, Any, Final

from flext_logging import keys
from flext_logging._jsonsafe import to_json_safe

if TYPE_CHECKING:
    from flext_logging.result import FlextResult

__all__ = [
    "FlextContext",
    "current_fields",
    "is_valid_id",
    "process_defaults",
    "set_process_defaults",
]

MAX_ID_LENGTH: Final = 128
_ID_PATTERN: Final = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")

ID_KEYS: Final = frozenset({keys.CORRELATION_ID, keys.PARENT_CORRELATION_ID, keys.REQUEST_ID})
"""Fields that must match the id grammar (``[A-Za-z0-9._:-]``, at most 128 characters)."""

_EMPTY: Final[Mapping[str, Any]] = MappingProxyType({})


class _Snapshot:
    """The context fields set in one context, plus their merge with the process defaults."""

    __slots__ = ("defaults", "explicit", "merged")

    def __init__(self, explicit: dict[str, str], defaults: Mapping[str, str]) -> None:
        self.explicit = explicit
        self.defaults = defaults
        self.merged = _merge(explicit, defaults)


def _merge(explicit: Mapping[str, str], defaults: Mapping[str, str]) -> Mapping[str, str]:
    merged = {}
    for key in keys.CONTEXT_KEYS:
        # An explicit "" hides the process default (see Service.service_context).
        value = explicit[key] if key in explicit else defaults.get(key)
        if value:
            merged[key] = value
    return MappingProxyType(merged)


_fields: ContextVar[_Snapshot | None] = ContextVar("flext_logging.fields", default=None)
_metadata: ContextVar[Mapping[str, Any]] = ContextVar("flext_logging.metadata", default=_EMPTY)
# Service identity given to configure(): seen by every thread and task, including those
# whose context was created before configure() ran. Replaced, never mutated.
_process_defaults: Mapping[str, str] = _EMPTY


def current_fields() -> Mapping[str, str]:
    """Return the context fields that have a value, in schema order (read-only)."""
    snapshot = _fields.get()
    if snapshot is None:
        return _process_defaults
    if snapshot.defaults is _process_defaults:
        return snapshot.merged
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
    global _process_defaults  # noqa: PLW0603 - process-wide by design, replaced atomically
    values = {
        keys.SERVICE_NAME: service_name,
        keys.SERVICE_VERSION: service_version,
        keys.ENVIRONMENT: environment,
    }
    for key, value in values.items():
        if value is not None and not _usable(key, value):
            raise ValueError(f"{key} {value!r} is unusable: {_rejection_reason(key, value)}")
    _process_defaults = MappingProxyType(
        {key: value for key, value in values.items() if value is not None}
    )


def is_valid_id(value: object) -> bool:
    """Tell whether *value* is a usable id: 1-128 characters of ``[A-Za-z0-9._:-]``."""
    return isinstance(value, str) and _ID_PATTERN.fullmatch(value) is not None


def _usable(key: str, value: object) -> bool:
    if key in ID_KEYS:
        return is_valid_id(value)
    return (
        isinstance(value, str)
        and 0 < len(value) <= MAX_ID_LENGTH
        and _CONTROL.search(value) is None
    )


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


def _report_dropped(key: str, value: object, source: str) -> None:
    # Late import: the logger is built on top of this module.
    from flext_logging.logger import get_logger

    preview = ascii(value)[:48] if isinstance(value, str) else type(value).__name__
    get_logger("flext_logging.context").warning(
        keys.EVENT_INVALID_ID_DROPPED,
        field=key,
        source=source,
        reason=_rejection_reason(key, value),
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
    return os.urandom(16).hex()


@contextmanager
def _scoped(
    changes: Mapping[str, str | None], metadata: Mapping[str, Any] | None = None
) -> Iterator[None]:
    field_token = _apply(changes)
    metadata_token = _metadata.set({**_metadata.get(), **metadata}) if metadata else None
    try:
        yield
    finally:
        if metadata_token is not None:
            _metadata.reset(metadata_token)
        _fields.reset(field_token)


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


class _TimedOperation:
    """The context manager behind ``Performance.timed_operation``."""

    __slots__ = ("_field_token", "_metadata_on_entry", "_metadata_token", "_started", "outcome")

    def __init__(self, name: str) -> None:
        self.outcome: dict[str, Any] = {"operation": name}

    def __enter__(self) -> dict[str, Any]:
        name = self.outcome["operation"]
        self._field_token = _apply({keys.OPERATION: name})
        self._metadata_on_entry = _metadata.get()
        # Re-set the same mapping only to get a token: add_operation_metadata replaces
        # it (copy-on-write), so writes inside never reach the enclosing scope's dict.
        self._metadata_token = _metadata.set(self._metadata_on_entry)
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
        outcome["end_time"] = outcome["start_time"] + datetime.timedelta(seconds=elapsed)
        outcome["duration_seconds"] = elapsed
        if exc_type is None:
            outcome["status"] = keys.STATUS_SUCCEEDED
        else:
            outcome["status"] = keys.STATUS_FAILED
            outcome["error_type"] = exc_type.__qualname__
        entry = self._metadata_on_entry
        own = {k: v for k, v in _metadata.get().items() if k not in entry or entry[k] is not v}
        outcome["metadata"] = own
        try:
            # Late import: reporting needs the logger, which is built on this module.
            from flext_logging.logger import report_operation

            report_operation(outcome, exc)
        finally:
            _metadata.reset(self._metadata_token)
            _fields.reset(self._field_token)


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
        @contextmanager
        def new_correlation() -> Iterator[str]:
            """Start a child correlation: a new id whose parent is the current one."""
            new_id = _new_id()
            parent = _get_one(keys.CORRELATION_ID)
            with _scoped({keys.CORRELATION_ID: new_id, keys.PARENT_CORRELATION_ID: parent}):
                yield new_id

        @staticmethod
        @contextmanager
        def inherit_correlation() -> Iterator[str]:
            """Keep the current correlation id, or start one if there is none."""
            current = _get_one(keys.CORRELATION_ID)
            with _scoped({keys.CORRELATION_ID: current or _new_id()}):
                yield _get_one(keys.CORRELATION_ID) or ""

    class Service:
        """The identity of the service doing the work."""

        @staticmethod
        @contextmanager
        def service_context(name: str, version: str | None = None) -> Iterator[None]:
            """Name the service (and version) for the duration of the block.

            Without a version, no version is reported in the block: the configured
            one belongs to the configured service, not to *name*.
            """
            changes: dict[str, str | None] = _validated(
                {keys.SERVICE_NAME: name, keys.SERVICE_VERSION: version}, "service_context"
            )
            if changes.get(keys.SERVICE_VERSION) is None:
                changes[keys.SERVICE_VERSION] = ""
            with _scoped(changes):
                yield

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
        @contextmanager
        def request_context(
            user_id: str | None = None,
            operation_name: str | None = None,
            request_id: str | None = None,
            metadata: Mapping[str, Any] | None = None,
        ) -> Iterator[None]:
            """Set request values for the block; values left ``None`` keep the outer ones."""
            changes = _validated(
                {
                    keys.USER_ID: user_id,
                    keys.OPERATION_NAME: operation_name,
                    keys.REQUEST_ID: request_id,
                },
                "request_context",
            )
            changes = {key: value for key, value in changes.items() if value is not None}
            with _scoped(changes, metadata):
                yield

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
        @contextmanager
        def context_from(mapping: Mapping[str, Any]) -> Iterator[dict[str, str]]:
            """Like ``set_from_context`` for the block only; restores the outer context."""
            changes, metadata = _inbound(mapping)
            with _scoped(changes, metadata):
                yield {key: value for key, value in changes.items() if value is not None}

    class Utilities:
        """Helpers over the whole context."""

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
