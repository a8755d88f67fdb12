"""Scopes: ``with`` blocks that set context values and restore the outer ones on exit.

Each scope keeps the tokens of what it set and resets them on exit, also when the
block raises. A timed operation is a scope that also measures its block; when it
ends it tells the hook the logging pipeline registers (:func:`on_operation_finished`).

A scope's exit may run in another ``contextvars.Context`` than its entry: a generator
that a framework resumes in a thread pool (Starlette's ``StreamingResponse`` runs each
step of a sync generator in a fresh copy of the request's context), an async
generator the event loop closes. A token cannot be reset there; :func:`_undo` puts
back the value from before the scope in the Context the exit runs in, and never raises.
"""

from __future__ import annotations

import datetime
import functools
import inspect
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from types import TracebackType
from typing import Any, Generic, ParamSpec, TypeVar, cast

from flext_logging import keys
from flext_logging.context.ids import new_id
from flext_logging.context.state import (
    EMPTY,
    apply,
    bind,
    current_correlation,
    current_span,
    fields,
    span_opened_under,
)
from flext_logging.context.state import metadata as metadata_var
from flext_logging.context.state import span as current_span_var
from flext_logging.context.trace import (
    SAMPLED_FLAGS,
    TraceSpan,
    is_valid_flags,
    is_valid_span_id,
    is_valid_trace_id,
    new_span_id,
    new_trace_id,
    opentelemetry_span,
)

__all__ = [
    "BoundFields",
    "InheritedCorrelation",
    "NewCorrelation",
    "Scope",
    "TimedOperation",
    "decorate",
    "in_span",
    "on_operation_finished",
    "scoped",
    "span",
]

_T = TypeVar("_T")
_V = TypeVar("_V")


def _undo(var: ContextVar[_V], token: Token[_V], value: _V, default: _V) -> None:
    """Undo ``var.set(value)``, which returned *token*, in the Context this runs in.

    A plain ``reset`` when the exit runs where the entry did. In another Context the
    token is useless: if this Context shows *value*, the value from before the scope
    is put back (*default* if there was none); if not, this Context never saw the
    scope or has moved on, and is left alone (so is a scope that set the default: it
    cannot be told apart). Never raises into the application.
    """
    try:
        var.reset(token)
    except ValueError:  # the token belongs to another Context
        if value is not default and var.get() is value:
            old = token.old_value
            var.set(default if old is Token.MISSING else old)
    except RuntimeError:  # already used: the exit ran twice
        pass


_P = ParamSpec("_P")
_R = TypeVar("_R")


def decorate(fn: Callable[_P, _R], make_scope: Callable[[], Any]) -> Callable[_P, _R]:
    """Wrap *fn* so that every call runs inside a fresh scope from *make_scope*.

    A coroutine function gets an ``async`` wrapper: the scope then covers the whole
    awaited call, not just the creation of the coroutine.
    """
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def run_awaited(*args: Any, **kwargs: Any) -> Any:
            with make_scope():
                return await fn(*args, **kwargs)

        return cast("Callable[_P, _R]", run_awaited)

    @functools.wraps(fn)
    def run(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with make_scope():
            return fn(*args, **kwargs)

    return run


class Scope(Generic[_T]):
    """A ``with`` block that sets context fields (and metadata), restored on exit."""

    __slots__ = (
        "_changes",
        "_field_token",
        "_field_value",
        "_metadata",
        "_metadata_token",
        "_metadata_value",
        "_result",
    )
    _metadata_token: Token[Mapping[str, Any]] | None
    _metadata_value: Mapping[str, Any]

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
        self._field_token = apply(self._changes)
        self._field_value = fields.get()
        metadata = self._metadata
        if metadata:
            self._metadata_value = {**metadata_var.get(), **metadata}
            self._metadata_token = metadata_var.set(self._metadata_value)
        else:
            self._metadata_token = None
        return self._result

    def __exit__(self, *exc_info: object) -> None:
        if self._metadata_token is not None:
            _undo(metadata_var, self._metadata_token, self._metadata_value, EMPTY)
        _undo(fields, self._field_token, self._field_value, None)


class BoundFields(Scope[None]):
    """Fields added to every record of a block or of each call of a function.

    A context manager (``with FlextContext.bound(tenant_id="t1"):``) and a decorator
    (``@FlextContext.bound(component="billing")``, sync or async); on exit the fields
    bound before are back, also when the block raises.
    """

    __slots__ = ("_fields",)

    def __init__(self, fields_to_bind: Mapping[str, Any]) -> None:
        self._fields = dict(fields_to_bind)
        self._metadata = None
        self._metadata_token = None

    def __enter__(self) -> None:
        self._field_token = bind(self._fields, "bound")
        self._field_value = fields.get()

    def __call__(self, fn: Callable[_P, _R]) -> Callable[_P, _R]:
        """Use as a decorator: each call of *fn* runs with the fields bound."""
        return decorate(fn, lambda: BoundFields(self._fields))


def scoped(
    changes: Mapping[str, str | None], metadata: Mapping[str, Any] | None = None
) -> Scope[None]:
    """Return a scope setting *changes* (``None`` unsets) and adding *metadata*."""
    return Scope(changes, metadata)


class NewCorrelation(Scope[str]):
    """A child correlation: a new id whose parent is the id current when entered."""

    __slots__ = ()

    def __init__(self) -> None:
        self._metadata = None
        self._metadata_token = None

    def __enter__(self) -> str:
        parent = current_correlation()
        correlation_id = self._result = new_id()
        self._field_token = apply(
            {keys.CORRELATION_ID: correlation_id, keys.PARENT_CORRELATION_ID: parent}
        )
        self._field_value = fields.get()
        return correlation_id


class InheritedCorrelation(Scope[str]):
    """The current correlation id, or a new one when there is none."""

    __slots__ = ()

    def __init__(self) -> None:
        self._metadata = None
        self._metadata_token = None

    def __enter__(self) -> str:
        correlation_id = self._result = current_correlation() or new_id()
        self._field_token = apply({keys.CORRELATION_ID: correlation_id})
        self._field_value = fields.get()
        return correlation_id


@contextmanager
def span(
    *,
    trace_id: str | None = None,
    parent_span_id: str | None = None,
    flags: str | None = None,
    tracestate: str | None = None,
) -> Iterator[TraceSpan]:
    """Run the block in a new span (a fresh ``span_id``) and yield its ids.

    Without *trace_id* the span is a child of the current span, or the root of a new
    trace when there is none. With it (a caller's trace, e.g. from a ``traceparent``
    header) the span joins that trace as a child of *parent_span_id*. Raises
    ``ValueError`` for a malformed id or flags.
    """
    if trace_id is None:
        current = current_span()
        if current is not None:
            trace_id = current.trace_id
            parent_span_id = current.span_id
            flags = flags or current.flags
            tracestate = tracestate or current.tracestate
        else:
            trace_id = new_trace_id()
    if not is_valid_trace_id(trace_id):
        raise ValueError(f"trace_id {trace_id!r} is not 32 lower-case hex digits")
    if parent_span_id is not None and not is_valid_span_id(parent_span_id):
        raise ValueError(f"parent_span_id {parent_span_id!r} is not 16 hex digits")
    if flags is not None and not is_valid_flags(flags):
        raise ValueError(f"flags {flags!r} are not 2 lower-case hex digits")
    new = TraceSpan(trace_id, new_span_id(), parent_span_id, flags or SAMPLED_FLAGS, tracestate)
    with in_span(new):
        yield new


@contextmanager
def in_span(active: TraceSpan) -> Iterator[TraceSpan]:
    """Run the block in the span *active* (already validated), and yield it.

    Inside an OpenTelemetry span, *active* is the inner one: records carry its ids
    until OpenTelemetry starts a span of its own inside the block.
    """
    opened_in = opentelemetry_span()
    under = opened_in.span_id if opened_in is not None else None
    under_token = span_opened_under.set(under)
    token = current_span_var.set(active)
    try:
        with scoped({keys.TRACE_ID: active.trace_id, keys.SPAN_ID: active.span_id}):
            yield active
    finally:
        _undo(current_span_var, token, active, None)
        _undo(span_opened_under, under_token, under, None)


OperationHook = Callable[[Mapping[str, Any], BaseException | None], None]
"""Receives a finished operation's outcome and the exception that ended it, if any."""

_on_finished: OperationHook | None = None


def on_operation_finished(hook: OperationHook | None) -> None:
    """Register who reports the end of a timed operation (the logging pipeline does)."""
    global _on_finished  # noqa: PLW0603 - the one hook of this layer, set by the layer above
    _on_finished = hook


class TimedOperation:
    """The context manager (and decorator) behind ``Performance.timed_operation``."""

    __slots__ = ("_field_token", "_field_value", "_metadata_on_entry", "_started", "outcome")

    def __init__(self, name: str) -> None:
        self.outcome: dict[str, Any] = {"operation": name}

    def __call__(self, fn: Callable[_P, _R]) -> Callable[_P, _R]:
        """Use as a decorator: each call of *fn* (sync or async) is one timed operation."""
        name = self.outcome["operation"]
        return decorate(fn, lambda: TimedOperation(name))

    def __enter__(self) -> dict[str, Any]:
        self._field_token = apply({keys.OPERATION: self.outcome["operation"]})
        self._field_value = fields.get()
        # add_operation_metadata replaces the mapping (copy-on-write): comparing with
        # this one on exit finds what the block added, and writes never reach it.
        self._metadata_on_entry = metadata_var.get()
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
            # What is no Exception (asyncio's CancelledError, KeyboardInterrupt,
            # SystemExit, GeneratorExit) stops the work; it is not the work failing.
            cancelled = not issubclass(exc_type, Exception)
            outcome["status"] = keys.STATUS_CANCELLED if cancelled else keys.STATUS_FAILED
            outcome["error_type"] = exc_type.__qualname__
        entry = self._metadata_on_entry
        current = metadata_var.get()
        if current is entry:
            outcome["metadata"] = {}
        else:
            outcome["metadata"] = {
                k: v for k, v in current.items() if k not in entry or entry[k] is not v
            }
        try:
            hook = _on_finished
            if hook is not None:
                hook(outcome, exc)
        finally:
            if current is not entry:
                metadata_var.set(entry)
            _undo(fields, self._field_token, self._field_value, None)
