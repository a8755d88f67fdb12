"""An output to OpenTelemetry's Logs SDK: every record becomes an OpenTelemetry log record.

Applications that export through OTLP get the records of ``get_logger()`` loggers and of
the ``logging`` module in their logs backend, mapped to the OpenTelemetry log data model:

- ``timestamp`` -> Timestamp, ``message`` -> Body;
- ``level`` -> SeverityText (``DEBUG``, ``INFO``, ``WARN``, ``ERROR``, ``FATAL``, as the
  SDK's own ``logging`` handler writes them) and SeverityNumber (5, 9, 13, 17, 21);
- ``trace_id``, ``span_id`` and the span's W3C flags -> TraceId, SpanId, TraceFlags;
- ``logger`` -> the instrumentation scope's name;
- every other field -> an attribute of the same name, nested values as maps and
  arrays; an ``error`` also gives ``exception.type`` and ``exception.message``.

The output is handed the same JSON line as the other outputs (redacted, JSON-safe, cut
to ``max_record_bytes``), preceded by the span's flags, which no line carries; so it
works behind a background writer too. It needs ``opentelemetry-sdk``
(``pip install 'flext-logging[otel]'``), imported when the output is made.
"""

from __future__ import annotations

import datetime
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

import orjson

from flext_logging import keys
from flext_logging.context.state import current_span
from flext_logging.outputs.base import Output
from flext_logging.outputs.failures import SINK_FAILED, record_failure, to_stderr
from flext_logging.outputs.lifecycle import track
from flext_logging.outputs.stream import line_count
from flext_logging.renderers import DEFAULT_MAX_RECORD_BYTES, JSONRenderer

if TYPE_CHECKING:
    from opentelemetry._logs import Logger, LoggerProvider

__all__ = ["OpenTelemetryOutput"]

INSTALL_HINT: Final = (
    "the OpenTelemetry logs output needs opentelemetry-sdk: pip install 'flext-logging[otel]'"
)

# level -> (SeverityText, SeverityNumber), as the SDK's logging handler maps them.
_SEVERITIES: Final = {
    "trace": ("TRACE", 1),
    "debug": ("DEBUG", 5),
    "info": ("INFO", 9),
    "warning": ("WARN", 13),
    "error": ("ERROR", 17),
    "critical": ("FATAL", 21),
}
_NOT_ATTRIBUTES: Final = frozenset(
    (keys.TIMESTAMP, keys.LEVEL, keys.LOGGER, keys.MESSAGE, keys.TRACE_ID, keys.SPAN_ID)
)
# OpenTelemetry's semantic conventions for a log record that describes an exception.
_EXCEPTION_TYPE: Final = "exception.type"
_EXCEPTION_MESSAGE: Final = "exception.message"
_INT64: Final = 2**63
_MAX_SCOPES: Final = 1000
"""Logger names are few; past this many, records share one scope (odd callers)."""
_OVERFLOW_SCOPE: Final = "flext_logging"
_UNKNOWN_FLAGS: Final = b"00"
_OWN_LOGGERS: Final = ("opentelemetry",)
"""Records of these loggers describe the SDK itself (an export that failed): handing
them back to it could loop, so they go to the other outputs only."""


class _FlaggedJSONRenderer:
    """The JSON line of a record, preceded by its span's W3C flags and a space.

    The flags are known only where the record is made (the span is current there); the
    line may be written later by a background writer.
    """

    __slots__ = ("_json",)

    def __init__(self, max_record_bytes: int | None) -> None:
        self._json = JSONRenderer(max_record_bytes=max_record_bytes)

    def __call__(self, logger: Any, method_name: str, event_dict: dict[str, Any]) -> bytes:
        line = self._json(logger, method_name, event_dict)
        span_id = event_dict.get(keys.SPAN_ID)
        if span_id is None:
            return line
        active = current_span()
        flags = active.flags.encode() if active is not None and active.span_id == span_id else None
        return (flags or _UNKNOWN_FLAGS) + b" " + line


class OpenTelemetryOutput(Output):
    """Hand every record to OpenTelemetry's Logs SDK, as a log record of its data model.

    *logger_provider* defaults to the global one (``opentelemetry._logs``), looked up
    when a record is written, so the provider may be set after ``configure()``. Pair it
    with :attr:`renderer`. Never raises: a record the SDK refuses is counted as a
    failed write and goes to stderr. :meth:`flush` asks the provider to export what it
    holds; the provider itself (its exporters, its shutdown) stays the application's.
    """

    __slots__ = (
        "_context",
        "_local",
        "_lock",
        "_log_record",
        "_provider",
        "_scopes",
        "_severities",
        "_unspecified",
        "renderer",
    )

    def __init__(
        self,
        logger_provider: LoggerProvider | None = None,
        *,
        max_record_bytes: int | None = DEFAULT_MAX_RECORD_BYTES,
    ) -> None:
        try:
            from opentelemetry import trace
            from opentelemetry._logs import LogRecord, SeverityNumber
            from opentelemetry.sdk import _logs  # noqa: F401 - the extra's check: the SDK
        except ImportError as error:
            raise ImportError(INSTALL_HINT) from error
        self._log_record = LogRecord
        self._severities = {
            level: (text, SeverityNumber(number)) for level, (text, number) in _SEVERITIES.items()
        }
        self._unspecified = SeverityNumber.UNSPECIFIED
        self._provider = logger_provider
        self._context = _SpanContexts(trace)
        self._scopes: dict[str, Logger] = {}
        self._lock = threading.Lock()
        self._local = threading.local()
        self.renderer = _FlaggedJSONRenderer(max_record_bytes)
        """The renderer whose lines this output reads: pair the two in a pipeline."""
        track(self)

    def write(self, line: bytes | str) -> None:
        """Emit the record of each line as an OpenTelemetry log record."""
        local = self._local
        if getattr(local, "emitting", False):
            return  # a record the SDK logged while emitting one of ours
        local.emitting = True
        try:
            data = line.encode("utf-8", "surrogatepass") if isinstance(line, str) else line
            for one in data.splitlines():
                if one:
                    self._emit(one)
        except Exception as exc:  # noqa: BLE001 - an output never raises into the caller
            record_failure(SINK_FAILED, exc, line_count(line))
            to_stderr(line if isinstance(line, str) else line.decode("utf-8", "replace"))
        finally:
            local.emitting = False

    def flush(self) -> None:
        """Ask the provider to export the records it holds (``force_flush``)."""
        provider = self._provider or _global_provider()
        force_flush = getattr(provider, "force_flush", None)
        if callable(force_flush):
            try:
                force_flush()
            except Exception as exc:  # noqa: BLE001 - as in write()
                record_failure(SINK_FAILED, exc)

    def _emit(self, line: bytes) -> None:
        flags = b""
        if line[:1] != b"{":  # "<flags> <json>"; a fallback record comes bare
            flags, _, line = line.partition(b" ")
        record = orjson.loads(line)
        if not isinstance(record, dict):
            raise TypeError(f"a record must be a JSON object, not {type(record).__name__}")
        name = record.get(keys.LOGGER)
        name = name if isinstance(name, str) else ""
        if name.startswith(_OWN_LOGGERS):
            return
        level = record.get(keys.LEVEL)
        severity_text, severity_number = self._severities.get(
            level if isinstance(level, str) else "", (str(level).upper(), self._unspecified)
        )
        message = record.get(keys.MESSAGE)
        self._scope(name).emit(
            self._log_record(
                timestamp=_nanoseconds(record.get(keys.TIMESTAMP)),
                observed_timestamp=time.time_ns(),
                context=self._context.of(
                    record.get(keys.TRACE_ID), record.get(keys.SPAN_ID), flags
                ),
                severity_text=severity_text,
                severity_number=severity_number,
                body=message if isinstance(message, str) else _attribute(message),
                attributes=_attributes(record),
            )
        )

    def _scope(self, name: str) -> Logger:
        scope = self._scopes.get(name)
        if scope is None:
            with self._lock:
                if len(self._scopes) >= _MAX_SCOPES:
                    name = _OVERFLOW_SCOPE
                scope = self._scopes.get(name)
                if scope is None:
                    provider = self._provider or _global_provider()
                    scope = self._scopes[name] = provider.get_logger(name)
        return scope


class _SpanContexts:
    """The OpenTelemetry ``Context`` naming a record's span (or no span at all)."""

    __slots__ = ("_no_span", "_trace")

    def __init__(self, trace: Any) -> None:
        self._trace = trace
        # Not an empty Context: the SDK would read the emitting thread's span instead.
        self._no_span = trace.set_span_in_context(trace.INVALID_SPAN)

    def of(self, trace_id: object, span_id: object, flags: bytes) -> Any:
        trace = self._trace
        try:
            span_context = trace.SpanContext(
                int(trace_id, 16),  # type: ignore[call-overload]  # checked by the except
                int(span_id, 16),  # type: ignore[call-overload]  # as above
                is_remote=False,
                trace_flags=trace.TraceFlags(int(flags or _UNKNOWN_FLAGS, 16)),
            )
        except (TypeError, ValueError):
            return self._no_span
        if not span_context.is_valid:
            return self._no_span
        return trace.set_span_in_context(trace.NonRecordingSpan(span_context))


def _global_provider() -> LoggerProvider:
    from opentelemetry._logs import get_logger_provider

    return get_logger_provider()


def _nanoseconds(timestamp: object) -> int | None:
    """An RFC 3339 timestamp as nanoseconds since the epoch (``None``: the SDK's now)."""
    if not isinstance(timestamp, str):
        return None
    try:
        moment = datetime.datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    whole = int(moment.replace(microsecond=0).timestamp())
    return whole * 1_000_000_000 + moment.microsecond * 1000


def _attributes(record: Mapping[str, Any]) -> dict[str, Any]:
    attributes = {
        key: _attribute(value) for key, value in record.items() if key not in _NOT_ATTRIBUTES
    }
    error = record.get(keys.ERROR)
    if isinstance(error, Mapping):
        for attribute, member in (
            (_EXCEPTION_TYPE, keys.ERROR_TYPE_NAME),
            (_EXCEPTION_MESSAGE, keys.ERROR_MESSAGE),
        ):
            value = error.get(member)
            if isinstance(value, str):
                attributes[attribute] = value
    return attributes


def _attribute(value: Any) -> Any:
    """A JSON value as an OpenTelemetry AnyValue: an integer OTLP cannot hold becomes text."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value if -_INT64 <= value < _INT64 else str(value)
    if isinstance(value, dict):
        return {str(key): _attribute(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_attribute(item) for item in value]
    return value
