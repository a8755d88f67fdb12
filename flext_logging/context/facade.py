"""``FlextContext``: the public face of the context, one namespace per concern.

Each method is a thin call into the module that does the work: :mod:`.state` (the
values), :mod:`.ids` (validation), :mod:`.scopes` (``with`` blocks and timed
operations), :mod:`.carriers` (headers, envelopes, environment) and :mod:`.trace`.
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import Any, ParamSpec, TypeVar

from flext_logging import keys
from flext_logging.context.carriers import (
    context_from,
    correlation_headers,
    extracted,
    full_context,
    inject,
    set_from_context,
    to_env,
)
from flext_logging.context.ids import new_id, report_dropped, usable, validated
from flext_logging.context.scopes import (
    BoundFields,
    InheritedCorrelation,
    NewCorrelation,
    Scope,
    TimedOperation,
    span,
)
from flext_logging.context.state import (
    add_metadata,
    apply,
    bind,
    bound_fields,
    clear,
    current_fields,
    current_span,
    get_one,
    set_one,
    unbind,
)
from flext_logging.context.state import metadata as metadata_var
from flext_logging.result import FlextResult
from flext_logging.settings import environment_settings

__all__ = ["FlextContext"]

_P = ParamSpec("_P")
_R = TypeVar("_R")


class FlextContext:
    """Namespaces over the context of the current thread or task."""

    @staticmethod
    def bind(**fields: Any) -> None:
        """Add *fields* to every record made from now on in the current context.

        For a request or job, without passing a logger around: threads and tasks
        started from here inherit them. Context keys (``request_id``, ``user_id``,
        ...) set that context value, validated; other names are written after the
        context keys and redacted like any field. A name of the record head
        (``timestamp``, ``level``, ``logger``, ``message``, ``process_id``) is dropped
        and reported. Prefer :meth:`bound`, which restores what was there on exit.
        """
        bind(fields)

    @staticmethod
    def unbind(*names: str) -> None:
        """Stop adding the fields (or context values) called *names* to records."""
        unbind(names)

    @staticmethod
    def bound(**fields: Any) -> BoundFields:
        """Bind *fields* for a ``with`` block or, as a decorator, for each call.

        ``with FlextContext.bound(tenant_id="t1"):`` or ``@FlextContext.bound(...)``
        on a sync or async function. The fields bound before are back on exit.
        """
        return BoundFields(fields)

    @staticmethod
    def get_bound_fields() -> dict[str, Any]:
        """Return a copy of the fields bound to the current context."""
        return dict(bound_fields())

    class Correlation:
        """The correlation id that ties together all work done for one request or job."""

        @staticmethod
        def generate_correlation_id() -> str:
            """Create a new correlation id, make it current, and return it."""
            correlation_id = new_id()
            apply({keys.CORRELATION_ID: correlation_id})
            return correlation_id

        @staticmethod
        def get_correlation_id() -> str | None:
            """Return the current correlation id, if any."""
            return get_one(keys.CORRELATION_ID)

        @staticmethod
        def set_correlation_id(correlation_id: str | None) -> None:
            """Make *correlation_id* current (``None`` unsets); invalid ids are dropped."""
            set_one(keys.CORRELATION_ID, correlation_id)

        @staticmethod
        def get_parent_correlation_id() -> str | None:
            """Return the correlation id of the work that started this one, if any."""
            return get_one(keys.PARENT_CORRELATION_ID)

        @staticmethod
        def set_parent_correlation_id(parent_id: str | None) -> None:
            """Set the parent correlation id (``None`` unsets); invalid ids are dropped."""
            set_one(keys.PARENT_CORRELATION_ID, parent_id)

        @staticmethod
        def new_correlation() -> AbstractContextManager[str]:
            """Start a child correlation: a new id whose parent is the current one."""
            return NewCorrelation()

        @staticmethod
        def inherit_correlation() -> AbstractContextManager[str]:
            """Keep the current correlation id, or start one if there is none."""
            return InheritedCorrelation()

    class Service:
        """The identity of the service doing the work."""

        @staticmethod
        def service_context(name: str, version: str | None = None) -> AbstractContextManager[None]:
            """Name the service (and version) for the duration of the block.

            Without a version, no version is reported in the block: the configured
            one belongs to the configured service, not to *name*.
            """
            changes: dict[str, str | None] = validated(
                {keys.SERVICE_NAME: name, keys.SERVICE_VERSION: version}, "service_context"
            )
            if changes.get(keys.SERVICE_VERSION) is None:
                changes[keys.SERVICE_VERSION] = ""
            return Scope(changes)

        @staticmethod
        def set_service_name(name: str | None) -> None:
            """Set the service name in the current context."""
            set_one(keys.SERVICE_NAME, name)

        @staticmethod
        def get_service_name() -> str | None:
            """Return the service name (the context's, else the one given to configure)."""
            return get_one(keys.SERVICE_NAME)

        @staticmethod
        def set_service_version(version: str | None) -> None:
            """Set the service version in the current context."""
            set_one(keys.SERVICE_VERSION, version)

        @staticmethod
        def get_service_version() -> str | None:
            """Return the service version (the context's, else the configured one)."""
            return get_one(keys.SERVICE_VERSION)

        @staticmethod
        def set_environment(environment: str | None) -> None:
            """Set the deployment environment name in the current context."""
            set_one(keys.ENVIRONMENT, environment)

        @staticmethod
        def get_environment() -> str | None:
            """Return the deployment environment (the context's, else the configured one)."""
            return get_one(keys.ENVIRONMENT)

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
                if usable(key, value):
                    changes[key] = value
                else:
                    report_dropped(key, value, "request_context")
            return Scope(changes, metadata)

        @staticmethod
        def get_user_id() -> str | None:
            """Return the current user id, if any."""
            return get_one(keys.USER_ID)

        @staticmethod
        def set_user_id(user_id: str | None) -> None:
            """Set the user id in the current context."""
            set_one(keys.USER_ID, user_id)

        @staticmethod
        def get_operation_name() -> str | None:
            """Return the current operation name, if any."""
            return get_one(keys.OPERATION_NAME)

        @staticmethod
        def set_operation_name(operation_name: str | None) -> None:
            """Set the operation name in the current context."""
            set_one(keys.OPERATION_NAME, operation_name)

        @staticmethod
        def get_request_id() -> str | None:
            """Return the current request id, if any."""
            return get_one(keys.REQUEST_ID)

        @staticmethod
        def set_request_id(request_id: str | None) -> None:
            """Set the request id in the current context; invalid ids are dropped."""
            set_one(keys.REQUEST_ID, request_id)

    class Performance:
        """Timing of operations and the metadata gathered while they run."""

        @staticmethod
        def timed_operation(name: str) -> TimedOperation:
            """Time the block as operation *name*; yields a dict filled in on exit.

            Also a decorator: ``@timed_operation("charge")`` on a sync or async
            function times each call (an ``async`` function's whole awaited call).

            On entry the dict has ``operation`` and ``start_time``; on exit (also when
            the block raises) ``end_time``, ``duration_seconds``, ``status`` and, on
            failure, ``error_type``. An ``operation_finished``/``operation_failed``
            record is logged unless ``configure(log_operations=False)``.
            """
            return TimedOperation(str(name))

        @staticmethod
        def add_operation_metadata(key: str, value: Any) -> None:
            """Add *key* to the metadata of the innermost scope (copy-on-write)."""
            add_metadata({key: value})

        @staticmethod
        def get_operation_metadata() -> dict[str, Any]:
            """Return a copy of the metadata visible in the current scope."""
            return dict(metadata_var.get())

    class Serialization:
        """Moving the context across process boundaries: headers, envelopes, child processes."""

        get_full_context = staticmethod(full_context)
        get_correlation_context = staticmethod(correlation_headers)
        set_from_context = staticmethod(set_from_context)
        context_from = staticmethod(context_from)
        inject = staticmethod(inject)
        extracted = staticmethod(extracted)
        to_env = staticmethod(to_env)

    class Trace:
        """W3C trace context: the trace and span the current work belongs to.

        Inside a span every record carries ``trace_id`` and ``span_id``. When
        ``opentelemetry-api`` is loaded, the innermost span wins: an active
        OpenTelemetry span's ids are used, in records and as the parent of new spans,
        except inside a span of this library started within it.
        """

        span = staticmethod(span)
        current_span = staticmethod(current_span)

        @staticmethod
        def get_trace_id() -> str | None:
            """Return the trace id of the active span, if any."""
            active = current_span()
            return active.trace_id if active is not None else None

        @staticmethod
        def get_span_id() -> str | None:
            """Return the span id of the active span, if any."""
            active = current_span()
            return active.span_id if active is not None else None

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
            clear()

        @staticmethod
        def ensure_correlation_id() -> str:
            """Return the current correlation id, creating one if there is none."""
            current = get_one(keys.CORRELATION_ID)
            return current or FlextContext.Correlation.generate_correlation_id()

        @staticmethod
        def has_correlation_id() -> bool:
            """Tell whether a correlation id is set."""
            return get_one(keys.CORRELATION_ID) is not None

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
        return environment_settings(environment)
