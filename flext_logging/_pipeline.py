"""The record path: enrich once, then render and write for each output; the one in force.

A :class:`Pipeline` is immutable once built. :func:`build_pipeline` assembles one from
explicit choices (``configure()`` decides them); :func:`active` returns the one in
force, building the default from the ``FLEXT_*`` variables on first use. Loggers and
the stdlib bridge look it up on every record, so a re-configure reaches loggers handed
out earlier, and a record never sees half of an old configuration.

Nothing here raises into the application: a processor or renderer that fails is
counted and a minimal record naming the failure is written instead.

The records the library writes about itself (a timed operation ended, a context value
was dropped, lines were dropped by a background output) are written here too: this
module registers the context layer's hooks when it is imported.
"""

from __future__ import annotations

import contextvars
import datetime
import io
import json
import logging
import re
import sys
import threading
import types
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import IO, Any, Final

import structlog

from flext_logging import keys, presets, processors, renderers, settings
from flext_logging._jsonsafe import rfc3339, safe_repr, truncate
from flext_logging.context import ids, scopes
from flext_logging.context.state import record_parts
from flext_logging.exceptions import BaseError
from flext_logging.outputs import BackgroundOutput, LoggingOutput, Output, StreamOutput, lifecycle
from flext_logging.outputs.background import DEFAULT_QUEUE_BYTES, DEFAULT_QUEUE_SIZE
from flext_logging.outputs.failures import PROCESSOR_FAILED, record_failure
from flext_logging.outputs.handoff import LOGGING_FORMAT, level_number

__all__ = [
    "Pipeline",
    "Processor",
    "Sink",
    "active",
    "build_pipeline",
    "forget_levels",
    "install",
    "replace",
    "shutdown",
    "threshold",
]

Processor = Callable[[Any, str, dict[str, Any]], Any]
Sink = tuple[Processor, Output]
"""A renderer and the output its lines go to."""

_OTEL_TRACE: Final = "opentelemetry.trace"


class Pipeline:
    """One configuration of the record path: the steps a record goes through, then outputs.

    A record is built by the logger (or, from an event dict, by :meth:`build`), then
    runs through :attr:`steps` (or :attr:`detail_steps` when the call passed
    ``exc_info``/``stack_info``) and is rendered and written for each (renderer,
    output) pair. The steps were decided when the pipeline was built; the only change
    afterwards is the OpenTelemetry step, added once if OpenTelemetry is imported later.
    """

    __slots__ = (
        "_otel_pending",
        "_renders",
        "clock",
        "detail_steps",
        "log",
        "log_operations",
        "message_key",
        "min_level",
        "plain_steps",
        "redactor",
        "sinks",
        "steps",
    )

    def __init__(
        self,
        steps: Sequence[Processor],
        sinks: Sequence[Sink],
        *,
        detail_steps: Sequence[Processor] | None = None,
        plain_steps: Sequence[Processor] | None = None,
        redactor: processors.Redactor | None = None,
        min_level: int = logging.INFO,
        log_operations: bool = True,
        message_key: str = keys.MESSAGE,
        watch_opentelemetry: bool = False,
    ) -> None:
        self.steps = tuple(steps)
        """The steps of a record without ``exc_info``/``stack_info``, in order."""
        self.detail_steps = tuple(steps if detail_steps is None else detail_steps)
        """The steps of a record that asks for its exception or stack."""
        self.plain_steps = None if plain_steps is None else tuple(plain_steps)
        """The steps of a record built in one step (by :func:`_direct_path`),
        redacted already by :attr:`redactor`; ``None`` when records are never built that
        way (the user's processors must see the whole record, and redaction follows)."""
        self.redactor = redactor
        """What the one-step builder redacts with (``None``: redaction off)."""
        self.sinks = tuple(sinks)
        # The sinks with each renderer's __call__ bound once: calling an instance costs
        # about twice what calling a bound method does.
        # With each, the LoggingOutput to ask first whether it is idle (see
        # LoggingOutput.idle_with): the root-only one is, nearly always, and then is
        # skipped without a call.
        self._renders = tuple(
            (_bound(renderer), output, output if isinstance(output, LoggingOutput) else None)
            for renderer, output in self.sinks
        )
        self.min_level = min_level
        """The level of every logger without a level of its own."""
        self.log_operations = log_operations
        self.message_key = message_key
        """Where the builder puts the message: ``event`` while user processors run."""
        self._otel_pending = watch_opentelemetry and _OTEL_TRACE not in sys.modules
        self.clock: Callable[[], int] | None = None
        """The clock a logger reads its record's time from, when not a ``datetime``
        (``datetime.datetime.now``): a lone preset output's that writes nanoseconds
        (see :func:`_direct_path`). :attr:`log` takes its integer as the timestamp."""
        self.log: Callable[..., None] = (
            self._log_long_way if self.plain_steps is None else _direct_path(self)
        )
        """Build the record of one logging call from its parts, then write it:
        ``log(logger, method_name, timestamp, level, name, message, fields, call=True)``
        (*call* may be given by position: a keyword costs a share of the path).

        Without user processors, nearly every record is built in one step, its message
        and fields redacted on the way, by :func:`_direct_path`; otherwise (and for the
        records that one declines) by :meth:`_log_long_way`. *call* tells a logger's call
        (whose ``extra=`` and ``stacklevel=`` are ``logging``'s keywords) from a
        ``logging`` record's fields.
        """
        for _, output in self.sinks:
            # Outputs that can drop (a full queue) report it here: BackgroundOutput,
            # ClickHouseOutput, any output with an unset on_dropped.
            if getattr(output, "on_dropped", False) is None:
                output.on_dropped = self._report_dropped  # type: ignore[attr-defined]  # checked above

    @property
    def enrichers(self) -> tuple[Processor, ...]:
        """Every step from an event dict to a finished record, as structlog processors.

        The stdlib ``JsonFormatter`` runs these on its records.
        """
        return (self.build, *self.detail_steps)

    def with_sinks(self, sinks: Sequence[Sink], *, min_level: int) -> Pipeline:
        """Return a pipeline with the same steps writing to *sinks* (``capture_logs``)."""
        return Pipeline(
            self.steps,
            sinks,
            detail_steps=self.detail_steps,
            plain_steps=self.plain_steps,
            redactor=self.redactor,
            min_level=min_level,
            log_operations=self.log_operations,
            message_key=self.message_key,
            watch_opentelemetry=self._otel_pending,
        )

    def build(self, logger: Any, method_name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
        """Build the record of a structlog-style event dict (``event`` and fields)."""
        return processors.add_context(logger, method_name, event_dict, message_key=self.message_key)

    def emit(self, logger: Any, method_name: str, event_dict: dict[str, Any]) -> None:
        """Build a record from a structlog-style *event_dict*, then :meth:`write` it.

        The entry of ``logging`` records and of the records the library writes
        about itself; a failure to build gives the minimal record, as in :meth:`write`.
        """
        # The builder takes the name and message out of the dict; keep them for the
        # minimal record.
        message = event_dict.get(processors.EVENT, event_dict.get(keys.MESSAGE))
        head = {keys.LOGGER: event_dict.get(keys.LOGGER), keys.MESSAGE: message}
        try:
            record = self.build(logger, method_name, event_dict)
        except Exception as exc:  # noqa: BLE001 - logging must never raise into the caller
            self._write_fallback(method_name, head, exc)
            return
        self.write(logger, method_name, record, detailed=True)

    def _log_long_way(  # noqa: PLR0917 - the record path: positional arguments cost the least
        self,
        logger: Any,
        method_name: str,
        timestamp: object,
        level: str,
        name: str,
        message: str,
        fields: Mapping[str, Any],
        call: bool = True,
    ) -> None:
        """Build a record with :func:`processors.new_record` and
        :func:`processors.add_fields`, run the steps (redaction last) and write it."""
        if self._otel_pending and _OTEL_TRACE in sys.modules:
            self._add_opentelemetry_step()
        if type(timestamp) is int:  # a reading of Pipeline.clock
            timestamp = processors.time_of_nanoseconds(timestamp)
        key = self.message_key
        record = processors.new_record(timestamp, level, name, message, key)
        detailed = processors.add_fields(record, fields, key, call=call) if fields else False
        self._finish(logger, method_name, record, self.detail_steps if detailed else self.steps)

    def write(
        self, logger: Any, method_name: str, record: dict[str, Any], *, detailed: bool = False
    ) -> None:
        """Run the steps over *record*, then render and write it for each output.

        A step may drop the record with ``structlog.DropEvent``. If anything else
        fails, the failure is counted (reported on stderr the first time) and a
        minimal record naming it is written instead, so the line is not lost and the
        application never sees the error.
        """
        if self._otel_pending and _OTEL_TRACE in sys.modules:
            self._add_opentelemetry_step()
        self._finish(logger, method_name, record, self.detail_steps if detailed else self.steps)

    def _finish(
        self, logger: Any, method_name: str, record: dict[str, Any], steps: tuple[Processor, ...]
    ) -> None:
        """Run *steps* over *record*, then render and write it for each output."""
        built = record
        if steps:
            try:
                for step in steps:
                    record = step(logger, method_name, record)
            except structlog.DropEvent:
                return
            except Exception as exc:  # noqa: BLE001 - logging must never raise into the caller
                self._write_fallback(method_name, built, exc)
                return
        root = logging.root
        for renderer, output, handoff in self._renders:
            if handoff is not None:
                idle = handoff.idle_with
                if idle is not None and root.handlers == idle:
                    continue
            try:
                line = renderer(logger, method_name, record)
            except structlog.DropEvent:
                continue
            except Exception as exc:  # noqa: BLE001 - as above, for this output only
                record_failure(PROCESSOR_FAILED, exc)
                line = _fallback_line(method_name, built, exc)
            if line is not None:
                output.write(line)

    def flush(self) -> None:
        """Flush every output (a background output waits until its queue is written)."""
        for _, output in self.sinks:
            output.flush()

    def close(self) -> None:
        """Close every output: a background output writes what it queued and stops."""
        for _, output in self.sinks:
            output.close()

    def _write_fallback(self, method_name: str, record: Mapping[str, Any], exc: Exception) -> None:
        """Write the minimal record of one that could not be built or processed.

        Its message had not been redacted yet (redaction is the last step): it is here,
        and withheld whole if the redactor fails on it too.
        """
        record_failure(PROCESSOR_FAILED, exc)
        message = record.get(keys.MESSAGE)
        if message is None:
            message = record.get(processors.EVENT)
        if self.redactor is not None and message is not None:
            try:
                message = self.redactor.redact_value(_text(message, 2000))
            except Exception:  # noqa: BLE001 - the failure is already reported above
                message = processors.REDACTED
        line = _fallback_line(
            method_name, {keys.LOGGER: record.get(keys.LOGGER), keys.MESSAGE: message}, exc
        )
        for _, output in self.sinks:
            output.write(line)

    def _add_opentelemetry_step(self) -> None:
        # OpenTelemetry was imported after this pipeline was built: from now on its
        # active span's ids are written, as if it had been there from the start.
        self._otel_pending = False
        step = processors.add_opentelemetry_ids
        if step not in self.steps:  # two threads may both have seen it pending
            self.steps = (step, *self.steps)
            self.detail_steps = (step, *self.detail_steps)
            if self.plain_steps is not None:
                self.plain_steps = (step, *self.plain_steps)
        if self.plain_steps is not None:
            self.log = _direct_path(self)  # with the step

    def _report_dropped(self, count: int) -> None:
        self.emit(
            None,
            "warning",
            {
                processors.EVENT: keys.EVENT_RECORDS_DROPPED,
                keys.LOGGER: "flext_logging",
                keys.DROPPED_COUNT: count,
            },
        )


def _direct_path(pipeline: Pipeline) -> Callable[..., None]:  # noqa: PLR0915 - one path on purpose
    """:attr:`Pipeline.log` without user processors: build, redact, render, write, in one call.

    A record is a copy of the scope's record template (the head and ``process_id`` to
    fill in, then the context ids, validated when they were set and never searched),
    then the fields bound to the scope and the call's fields, which with the message
    are all that can hold a secret: they are searched before they join the record,
    unless the redactor's memos know them clean. A call with a field named in
    :data:`processors.CALL_NAMES_NEEDING_CARE`, or values bound with
    ``structlog.contextvars``, takes :meth:`Pipeline._log_long_way`, redacted whole.
    Everything is looked up once, here: this is the path of nearly every record.
    """
    redactor = pipeline.redactor
    steps = pipeline.plain_steps
    long_way = pipeline._log_long_way
    write_fallback = pipeline._write_fallback
    finish = pipeline._finish
    renders = tuple(
        (render, output.write, handoff) for render, output, handoff in pipeline._renders
    )
    root = logging.root
    needing_care = processors.CALL_NAMES_NEEDING_CARE
    read_structlog = processors.structlog_context
    # One ContextVar.get: read_structlog() runs only where structlog may have values bound.
    structlog_may_be_bound = processors.watch_structlog()
    drop_event = structlog.DropEvent
    modules = sys.modules
    if redactor is not None:
        clean_values, plain_names = redactor.memos()
        redact_message, redact_fields = redactor.redact_message, redactor.redact_fields
    lone_render, lone_write, handoff_beside = _lone_writer(renders)
    owner = getattr(lone_render, "__self__", None)
    preset = owner if isinstance(owner, renderers.SchemaRenderer) else None
    line_of_parts = preset.line_of_parts if preset is not None else None
    clock = preset.clock if preset is not None else None
    if steps:
        # A step must see the record: it is built, and Pipeline._finish renders it.
        lone_render = line_of_parts = clock = None
    alone = lone_render is not None
    render_alone: Processor = lone_render if lone_render is not None else _render_nothing
    # The lone preset's own time form, read by the loggers from now on. A record may
    # still bring an integer after a change (a logger read the clock before it): every
    # record built below turns one into the record's time.
    stamped = clock is not None or pipeline.clock is not None
    pipeline.clock = clock
    time_of_nanoseconds = processors.time_of_nanoseconds

    def log(  # noqa: PLR0912, PLR0915, PLR0917 - one function, positional arguments: the cheapest
        logger: Any,
        method_name: str,
        timestamp: object,
        level: str,
        name: str,
        message: str,
        fields: Mapping[str, Any],
        call: bool = True,
    ) -> None:
        if pipeline._otel_pending and _OTEL_TRACE in modules:
            pipeline._add_opentelemetry_step()  # and a new pipeline.log
            pipeline.log(logger, method_name, timestamp, level, name, message, fields, call=call)
            return
        try:
            template, bound = record_parts()
            if bound:
                fields = {**bound, **fields} if fields else bound
            if (fields and not needing_care.isdisjoint(fields)) or (
                structlog_may_be_bound() and read_structlog()
            ):
                long_way(logger, method_name, timestamp, level, name, message, fields, call=call)
                return
            if redactor is not None:
                try:
                    known = (
                        message in clean_values
                        and plain_names.issuperset(fields)
                        and clean_values.issuperset(fields.values())
                    )
                except TypeError:  # an unhashable value (a list, a dict): to be searched
                    known = False
                if not known:
                    message = redact_message(message)
                    if fields:
                        fields = redact_fields(fields)
            # One output writes, and logging's hand-off beside it (if any) has nothing to
            # hand to: no loop over the outputs.
            lone = alone and (
                handoff_beside is None
                or ((idle := handoff_beside.idle_with) is not None and root.handlers == idle)
            )
            if lone and line_of_parts is not None:
                # A lone preset output: its line made from the parts, without the record.
                parts_line = line_of_parts(
                    template, timestamp, level, name, message, processors.process_id, fields
                )
                if parts_line is not None:
                    lone_write(parts_line)
                    return
            # A copy of a dict of the right size and order, then its values: cheaper
            # than building the same dict key by key (and growing it twice on the way).
            record = template.copy()
            if stamped and type(timestamp) is int:
                timestamp = time_of_nanoseconds(timestamp)
            record[_TIMESTAMP] = timestamp
            record[_LEVEL] = level
            record[_LOGGER] = name
            record[_MESSAGE] = message
            record[_PROCESS_ID] = processors.process_id
            if fields:
                record.update(fields)
        except Exception as exc:  # noqa: BLE001 - logging must never raise into the caller
            write_fallback(method_name, {_LOGGER: name, _MESSAGE: message}, exc)
            return
        if steps:
            finish(logger, method_name, record, steps)
            return
        if lone:
            # The loop below for one output, written out: taking the loop over a
            # one-output tuple instead costs ~400 instructions more per record.
            try:
                line = render_alone(logger, method_name, record)
            except drop_event:
                return
            except Exception as exc:  # noqa: BLE001 - as in Pipeline._finish
                record_failure(PROCESSOR_FAILED, exc)
                line = _fallback_line(method_name, record, exc)
            if line is not None:
                lone_write(line)
            return
        for render, write, handoff in renders:
            if handoff is not None:
                idle = handoff.idle_with
                if idle is not None and root.handlers == idle:
                    continue
            try:
                line = render(logger, method_name, record)
            except drop_event:
                continue
            except Exception as exc:  # noqa: BLE001 - as in Pipeline._finish
                record_failure(PROCESSOR_FAILED, exc)
                line = _fallback_line(method_name, record, exc)
            if line is not None:
                write(line)

    return log


_TIMESTAMP: Final = keys.TIMESTAMP
_LEVEL: Final = keys.LEVEL
_LOGGER: Final = keys.LOGGER
_MESSAGE: Final = keys.MESSAGE
_PROCESS_ID: Final = keys.PROCESS_ID


def _lone_writer(
    renders: tuple[tuple[Any, Callable[[Any], None], LoggingOutput | None], ...],
) -> tuple[Processor | None, Callable[[Any], None], LoggingOutput | None]:
    """For outputs of which one writes (and at most logging's hand-off is beside it):
    its renderer, its write and the hand-off; ``None`` as the first for any other
    outputs."""
    writing = [(render, write) for render, write, handoff in renders if handoff is None]
    handoffs = [handoff for _, _, handoff in renders if handoff is not None]
    if len(writing) != 1 or len(handoffs) > 1:
        return None, _write_nothing, None
    return writing[0][0], writing[0][1], handoffs[0] if handoffs else None


def _write_nothing(line: object) -> None:
    return


def _render_nothing(logger: object, method_name: str, record: object) -> None:
    return


def _bound(renderer: Processor) -> Processor:
    """*renderer*'s ``__call__`` as a bound method if it is an instance of a class."""
    if isinstance(renderer, (types.FunctionType, types.MethodType, types.BuiltinFunctionType)):
        return renderer
    call = getattr(renderer, "__call__", None)  # noqa: B004 - the bound method is the point
    return call if isinstance(call, types.MethodType) else renderer


def _fallback_line(method_name: str, record: Mapping[str, Any], exc: Exception) -> str:
    """The minimal record written instead of one that failed: head and the error."""
    message = record.get(keys.MESSAGE)
    if message is None:
        message = record.get(processors.EVENT)
    fallback = {
        keys.TIMESTAMP: rfc3339(datetime.datetime.now(datetime.timezone.utc)),
        keys.LEVEL: processors.level_name(method_name),
        keys.LOGGER: _text(record.get(keys.LOGGER), 200),
        keys.MESSAGE: _text(message, 2000),
        keys.PROCESS_ID: processors.process_id,
        keys.LOGGING_ERROR: f"{type(exc).__qualname__}: {safe_repr(exc, 500)}",
    }
    # ensure_ascii escapes every control and line-breaking character: one line.
    return json.dumps(fallback, ensure_ascii=True) + "\n"


def _text(value: object, limit: int) -> str:
    if value is None:
        return ""
    return truncate(value, limit) if isinstance(value, str) else safe_repr(value, limit)


# -- Building a pipeline from explicit choices. ---------------------------------------


def build_pipeline(
    *,
    format: str = "auto",  # noqa: A002 - mirrors configure()
    stream: IO[Any] | None = None,
    outputs: Sequence[Output] | None = None,
    min_level: int = logging.INFO,
    log_operations: bool = True,
    redaction: bool = True,
    redact_keys: Iterable[str] | None = None,
    redact_default_keys: bool = True,
    redact_patterns: Iterable[str | re.Pattern[str]] = (),
    extra_processors: Sequence[Processor] = (),
    console_width: int | None = None,
    console_verbose: bool = False,
    max_record_bytes: int | None = renderers.DEFAULT_MAX_RECORD_BYTES,
    async_output: bool = False,
    queue_size: int = DEFAULT_QUEUE_SIZE,
    queue_bytes: int = DEFAULT_QUEUE_BYTES,
    overflow: str = "block",
    extra_sinks: Sequence[Sink] = (),
    to_root_handlers: bool = False,
    follow_logging: bool = False,
    schema: str = presets.FLAT,
    gcp_project: str | None = None,
) -> Pipeline:
    """Assemble the steps, and a renderer for each output, for one configuration.

    The steps run in this order: enrich (OpenTelemetry ids, only once OpenTelemetry is
    imported), the user's processors (which see ``event`` and ``exc_info`` as in
    structlog), the exception and stack steps (only for calls that pass ``exc_info``
    or ``stack_info``), redaction, then each output's renderer: whatever a processor
    adds is redacted. Raises ``ValueError`` for a processor that cannot work here.

    *outputs* default to one :class:`StreamOutput` on *stream*; each output's own
    ``format`` and ``level`` win over *format* and *min_level*. *extra_sinks* are
    (renderer, output) pairs written after them (the OpenTelemetry logs output, for
    one), which take exceptions as data. *to_root_handlers* adds a
    :class:`LoggingOutput` that hands every record to the handlers of the root logger
    (what ``configure()`` keeps there). *follow_logging* (the pipeline in force before
    ``configure()``) hands a record to ``logging`` when a handler there would take it,
    and writes it to the stream otherwise. With *async_output*, each stream, file and
    extra output gets its own background writer. A *schema*
    other than ``flat`` renders JSON under that preset's names, for every output without a
    ``schema`` of its own; an output with a schema writes JSON.
    """
    chosen = list(outputs) if outputs is not None else [StreamOutput(stream)]
    plans: list[tuple[Output, str, int]] = [
        (output, _format_of(output, format, schema), _level_of(output, min_level))
        for output in chosen
    ]
    if to_root_handlers:
        plans.append((LoggingOutput(root_handlers_only=True), LOGGING_FORMAT, min_level))
    formats = {chosen_format for _, chosen_format, _ in plans}
    if follow_logging:
        formats.add(LOGGING_FORMAT)
    if extra_sinks:
        formats.add("json")  # the extra outputs' renderers read the error data
    exception_step, mixed = _exception_step(formats)
    user = processors.adapted_processors(extra_processors)
    enrich: list[Processor] = []
    if _OTEL_TRACE in sys.modules:
        enrich.append(processors.add_opentelemetry_ids)
    if user:
        enrich.extend(user)
        enrich.append(processors.from_structlog_view)
    details = [exception_step, processors.add_stack]
    redactor = None
    finish: list[Processor] = []
    if redaction:
        redactor = processors.Redactor(
            redact_keys or (),
            redact_default_keys=redact_default_keys,
            redact_patterns=redact_patterns,
        )
        finish.append(redactor)
    gate = min(level for _, _, level in plans)
    sinks: list[Sink] = []
    for output, chosen_format, level in plans:
        renderer: Processor
        written: Output
        if isinstance(output, LoggingOutput):
            # Handed-over records stay in the caller's thread: logging's handlers
            # (a QueueHandler, say) are the application's choice of threading.
            renderer, written = output.render, output
        else:
            renderer = _renderer(
                chosen_format,
                output,
                console_width,
                redactor,
                max_record_bytes,
                console_verbose=console_verbose,
                mixed=mixed,
            )
            output_schema = _schema_of(output, schema)
            if chosen_format == "json" and output_schema != presets.FLAT:
                renderer = renderers.SchemaRenderer(
                    output_schema, max_record_bytes=max_record_bytes, gcp_project=gcp_project
                )
                renderer = _Without(renderer, processors.EXC_INFO) if mixed else renderer
            written = _queued(output, async_output, queue_size, queue_bytes, overflow)
        if follow_logging:
            follower = LoggingOutput()
            renderer, written = _FollowLogging(renderer, follower), _EitherOutput(follower, written)
        sinks.append((_AtLeast(renderer, level) if level > gate else renderer, written))
    for extra_renderer, extra_output in extra_sinks:
        sinks.append(
            (
                _Without(extra_renderer, processors.EXC_INFO) if mixed else extra_renderer,
                _queued(extra_output, async_output, queue_size, queue_bytes, overflow),
            )
        )
    return Pipeline(
        [*enrich, *finish],
        sinks,
        detail_steps=[*enrich, *details, *finish],
        # Without user processors nothing but the call adds a field a secret could be in:
        # records are redacted as they are built (_direct_path).
        plain_steps=None if user else enrich,
        redactor=redactor,
        min_level=gate,
        log_operations=log_operations,
        message_key=processors.EVENT if user else keys.MESSAGE,
        watch_opentelemetry=True,
    )


def _exception_step(formats: set[str]) -> tuple[Processor, bool]:
    """The exception step for outputs of *formats*, and whether they are mixed.

    The console draws the exception itself (``add_exception``); JSON, logfmt, logging
    and the extra outputs want it as data (``add_error``); mixed, both are written and
    each renderer leaves out the form it does not use (:class:`_Without`).
    """
    if "console" not in formats:
        return processors.add_error, False
    if len(formats) == 1:
        return processors.add_exception, False
    return _add_error_and_exception, True


def _queued(
    output: Output, async_output: bool, queue_size: int, queue_bytes: int, overflow: str
) -> Output:
    """*output*, behind its own background writer with *async_output*.

    An output that sends from its own thread already (``queued``, as ClickHouseOutput)
    gets none.
    """
    if not async_output or getattr(output, "queued", False):
        return output
    return BackgroundOutput(
        output, queue_size=queue_size, queue_bytes=queue_bytes, overflow=overflow
    )


def _schema_of(output: Output, default: str) -> str:
    """The schema preset of *output*'s JSON: its own, else configure()'s."""
    return (getattr(output, "schema", None) or default).lower()


def _format_of(output: Output, default: str, schema: str = presets.FLAT) -> str:
    if output.format is None and _schema_of(output, schema) != presets.FLAT:
        return "json"  # a preset names JSON fields
    chosen = (output.format or default).lower()
    if chosen == "auto":
        stream = getattr(output, "stream", None)
        return "console" if isinstance(output, StreamOutput) and _is_terminal(stream) else "json"
    return chosen


def _level_of(output: Output, default: int) -> int:
    return default if output.level is None else settings.level_number(output.level)


def _renderer(
    chosen_format: str,
    output: Output,
    console_width: int | None,
    redactor: processors.Redactor | None,
    max_record_bytes: int | None,
    *,
    console_verbose: bool,
    mixed: bool,
) -> Processor:
    renderer: Processor
    if chosen_format == "console":
        # Colour and width follow the stream written to; a file gets neither.
        stream = output.stream if isinstance(output, StreamOutput) else io.StringIO()
        renderer = renderers.ConsoleRenderer(
            stream, width=console_width, redactor=redactor, verbose=console_verbose
        )
        return _Without(renderer, keys.ERROR) if mixed else renderer
    if chosen_format == "logfmt":
        renderer = renderers.LogfmtRenderer(max_record_bytes=max_record_bytes)
    else:
        renderer = renderers.JSONRenderer(max_record_bytes=max_record_bytes)
    return _Without(renderer, processors.EXC_INFO) if mixed else renderer


def _add_error_and_exception(
    logger: Any, method_name: str, event_dict: dict[str, Any]
) -> dict[str, Any]:
    """Both forms of the exception, for a pipeline with console and other outputs.

    ``error`` (data, redacted by the steps after this one) for JSON, logfmt and
    logging; ``exc_info`` (the exception) for the console, which draws it.
    """
    event_dict = processors.add_exception(logger, method_name, event_dict)
    exc = event_dict.get(processors.EXC_INFO)
    if exc is not None:
        data = processors.add_error(logger, method_name, {processors.EXC_INFO: exc})
        event_dict[keys.ERROR] = data[keys.ERROR]
    return event_dict


class _Without:
    """Render a record without *key* when it holds an exception (the other outputs' form)."""

    __slots__ = ("key", "renderer")

    def __init__(self, renderer: Processor, key: str) -> None:
        self.renderer = renderer
        self.key = key

    def __call__(self, logger: Any, method_name: str, event_dict: dict[str, Any]) -> Any:
        if processors.EXC_INFO in event_dict:
            event_dict = {name: value for name, value in event_dict.items() if name != self.key}
        return self.renderer(logger, method_name, event_dict)


class _AtLeast:
    """Skip records below this output's own level (the pipeline lets the lowest through)."""

    __slots__ = ("level", "renderer")

    def __init__(self, renderer: Processor, level: int) -> None:
        self.renderer = renderer
        self.level = level

    def __call__(self, logger: Any, method_name: str, event_dict: dict[str, Any]) -> Any:
        if level_number(method_name) < self.level:
            return None
        return self.renderer(logger, method_name, event_dict)


class _FollowLogging:
    """Before ``configure()``: to ``logging`` when the application configured a handler
    that would take the record (``dictConfig``, ``--log-config``, pytest), else a line."""

    __slots__ = ("handoff", "loggers", "renderer")

    def __init__(self, renderer: Processor, handoff: LoggingOutput) -> None:
        self.renderer = renderer
        self.handoff = handoff
        self.loggers: dict[str, logging.Logger] = {}

    def __call__(self, logger: Any, method_name: str, event_dict: dict[str, Any]) -> Any:
        if not isinstance(logger, logging.Logger):
            name = str(event_dict.get(keys.LOGGER) or "")
            target = self.loggers.get(name)
            if target is None:
                target = self.loggers.setdefault(name, logging.getLogger(name or None))
            if target.hasHandlers():
                return self.handoff.render(logger, method_name, event_dict)
        return self.renderer(logger, method_name, event_dict)


class _EitherOutput(Output):
    """The output of :class:`_FollowLogging`: records to logging, lines to the stream."""

    __slots__ = ("handoff", "output")

    def __init__(self, handoff: LoggingOutput, output: Output) -> None:
        self.handoff = handoff
        self.output = output

    def write(self, line: Any) -> None:
        """Hand a record to logging, write a line to the stream."""
        if isinstance(line, logging.LogRecord):
            self.handoff.write(line)
        else:
            self.output.write(line)

    def flush(self) -> None:
        """Flush the stream."""
        self.output.flush()

    def close(self) -> None:
        """Close the stream output."""
        self.output.close()


def _is_terminal(stream: IO[Any] | None) -> bool:
    target = stream if stream is not None else sys.stdout
    try:
        return bool(target.isatty())
    except (AttributeError, ValueError):
        return False


# -- The pipeline in force. -----------------------------------------------------------

_active: Pipeline | None = None
_install_lock = threading.Lock()


def active() -> Pipeline:
    """Return the pipeline in force, building the default one on first use."""
    pipeline = _active
    if pipeline is None:
        with _install_lock:
            if _active is None:
                install(build_pipeline(**settings.defaults_from_environment(), follow_logging=True))
            pipeline = _active
    return pipeline  # type: ignore[return-value]  # set just above


def install(pipeline: Pipeline | None) -> None:
    """Make *pipeline* the one in force (``None`` returns to the default on next use)."""
    global _active  # noqa: PLW0603 - the single swap point of the live configuration
    _active = pipeline
    forget_levels()


def forget_levels() -> None:
    """Make every logger work out its level again on its next call.

    Loggers keep their answers in the stdlib loggers' level cache, which ``logging``
    itself clears whenever a level changes; a new pipeline (a new default level) must
    clear it too.
    """
    clear = getattr(logging.root.manager, "_clear_cache", None)
    if clear is not None:  # without it there is no cache (see logger._level_cache)
        clear()


def threshold(name: str, default: int) -> int:
    """The lowest level written for logger *name*: the nearest stdlib level, else *default*.

    Walks the ``logging`` hierarchy of the dotted name below the root: the first
    logger with a level of its own (set by ``configure(levels=...)`` or
    ``logging.getLogger(...).setLevel()``) decides, as ``logging`` does for its own
    records; the root's place is taken by the configured level.
    """
    logger: logging.Logger | None = logging.getLogger(name)
    while logger is not None and logger is not logging.root:
        if logger.level:
            return logger.level
        logger = logger.parent
    return default


def replace(pipeline: Pipeline | None) -> None:
    """Install *pipeline* and close the one it replaces (its queued lines are written)."""
    previous = _active
    install(pipeline)
    if previous is not None and previous is not pipeline:
        previous.close()


def shutdown(*, timeout: float = lifecycle.SHUTDOWN_TIMEOUT_SECONDS) -> None:
    """Write every queued record and stop the background writers; flush the destination.

    Runs at interpreter exit on its own. Logging keeps working afterwards, writing
    synchronously; call it before ``os._exit()`` or when a signal handler ends the
    process, which skip the exit hooks. A destination that accepts no write for
    *timeout* seconds is given up on: the records it did not take are counted and
    told on stderr, and later records to it are counted, not written.
    """
    lifecycle.shutdown(timeout=timeout)


# -- The records the library writes about itself. --------------------------------------

_OPERATIONS_LOGGER: Final = "flext_logging.operations"
_CONTEXT_LOGGER: Final = "flext_logging.context"


def _report_operation(outcome: Mapping[str, Any], exc: BaseException | None) -> None:
    """Log the end of a ``timed_operation``: ``operation_finished`` (a cancelled one at
    warning level, with its ``error_type``) or ``operation_failed``."""
    pipeline = active()
    if not pipeline.log_operations:
        return
    status = outcome.get("status")
    failed = status == keys.STATUS_FAILED
    level = _OPERATION_LEVELS.get(str(status), "info")
    if threshold(_OPERATIONS_LOGGER, pipeline.min_level) > level_number(level):
        return
    fields: dict[str, Any] = {
        # Named here, not only by the context: the exit may run in a Context that never
        # saw the operation begin (a generator finished by a framework or the loop).
        keys.OPERATION: outcome["operation"],
        keys.DURATION_MS: round(outcome["duration_seconds"] * 1000.0, 3),
        keys.STATUS: outcome["status"],
    }
    if status != keys.STATUS_SUCCEEDED:
        fields[keys.ERROR_TYPE] = outcome.get("error_type")
        if isinstance(exc, BaseError):
            fields[keys.ERROR_CODE_FIELD] = exc.error_code
    if outcome.get("metadata"):
        fields[keys.METADATA] = dict(outcome["metadata"])
    fields[processors.EVENT] = (
        keys.EVENT_OPERATION_FAILED if failed else keys.EVENT_OPERATION_FINISHED
    )
    fields[keys.LOGGER] = _OPERATIONS_LOGGER
    pipeline.emit(None, level, fields)


_OPERATION_LEVELS: Final = {keys.STATUS_FAILED: "error", keys.STATUS_CANCELLED: "warning"}
"""The level of an operation's closing record by its status (else info)."""


# Set while a dropped value is being reported: the report's own record may meet the same
# value again (a structlog contextvar is read for every record) and must not recurse.
_reporting: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "flext_logging.reporting", default=False
)


def _report_dropped_id(fields: Mapping[str, str]) -> None:
    """Log an ``invalid_context_id_dropped`` warning."""
    pipeline = active()
    if _reporting.get() or threshold(_CONTEXT_LOGGER, pipeline.min_level) > logging.WARNING:
        return
    record: dict[str, Any] = dict(fields)
    record[processors.EVENT] = keys.EVENT_INVALID_ID_DROPPED
    record[keys.LOGGER] = _CONTEXT_LOGGER
    token = _reporting.set(True)
    try:
        pipeline.emit(None, "warning", record)
    finally:
        _reporting.reset(token)


scopes.on_operation_finished(_report_operation)
ids.on_id_dropped(_report_dropped_id)
