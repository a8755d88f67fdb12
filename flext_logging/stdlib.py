"""Bridging the standard ``logging`` module: handler, filter and formatter.

- :class:`FlextHandler` sends ``logging`` records through the active pipeline;
  ``configure()`` installs it on the root logger (:func:`route_to_pipeline`) and keeps
  it there while servers and frameworks install handlers of their own later.
- :class:`JsonFormatter` (built on python-json-logger) and :class:`ContextFilter` give
  the same record schema to applications that configure ``logging`` themselves, for
  example with ``dictConfig`` or a uvicorn ``--log-config`` file.
"""

from __future__ import annotations

import contextlib
import datetime
import itertools
import json
import logging
import os
import re
import sys
import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Any, Final

from pythonjsonlogger.core import RESERVED_ATTRS, BaseJsonFormatter

from flext_logging import _pipeline, keys
from flext_logging._jsonsafe import rfc3339, safe_repr, to_json_safe, truncate
from flext_logging.context.state import current_fields, current_span
from flext_logging.context.trace import is_valid_span_id, is_valid_trace_id
from flext_logging.outputs import handoff as _handoff
from flext_logging.outputs.handoff import handed_over, is_handed_over
from flext_logging.processors import (
    COLLISION_SUFFIX,
    EVENT,
    EXC_INFO,
    PIPELINE_INPUTS,
    add_error,
    add_fields,
    level_name,
    new_record,
    place_fields,
    set_aside_head_fields,
)
from flext_logging.renderers import DEFAULT_MAX_RECORD_BYTES, dumps_record, fit_record

__all__ = [
    "ContextFilter",
    "FlextHandler",
    "JsonFormatter",
    "event_dict_from_record",
    "on_record_fields",
    "record_from_logging",
    "restore_stdlib",
    "route_to_pipeline",
]

_RESERVED: Final = frozenset(RESERVED_ATTRS) | {"message", "asctime"}
_CONTEXT_KEYS: Final = frozenset(keys.CONTEXT_KEYS)
# An attribute uvicorn adds for its own text formatter: the message again, with raw
# ANSI colour escapes. Never a field.
_COLOR_MESSAGE: Final = "color_message"
_UTC: Final = datetime.timezone.utc
_PLAIN_RECORD_SIZE: Final = len(logging.LogRecord("", logging.INFO, "", 0, "", (), None).__dict__)
# The attributes OpenTelemetry's LoggingInstrumentor sets on every record (its names).
_OTEL_TRACE_ID: Final = "otelTraceID"
_OTEL_SPAN_ID: Final = "otelSpanID"
_OTEL_ATTRIBUTES: Final = frozenset(
    (_OTEL_TRACE_ID, _OTEL_SPAN_ID, "otelTraceSampled", "otelServiceName")
)
# Every name _record_fields treats apart: fields without any of them are kept as given.
_NEEDS_CARE: Final = frozenset(
    (_OTEL_SPAN_ID, _COLOR_MESSAGE, *keys.CONTEXT_KEYS, *PIPELINE_INPUTS)
)
_METHOD_NAMES: Final = {
    logging.DEBUG: "debug",
    logging.INFO: "info",
    logging.WARNING: "warning",
    logging.ERROR: "error",
    logging.CRITICAL: "critical",
}
# A standard level's number -> its method name and record level, in one look-up.
_LEVELS: Final = {number: (name, level_name(name)) for number, name in _METHOD_NAMES.items()}
_LOG_RECORD: Final = logging.LogRecord
_from_timestamp: Final = datetime.datetime.fromtimestamp


def event_dict_from_record(
    record: logging.LogRecord,
    fields: dict[str, Any] | None = None,
    *,
    message: str | None = None,
) -> dict[str, Any]:
    """Return the event dict of a ``logging`` record: head, ``extra=`` fields, exception.

    *fields* replaces the ``extra=`` extraction when a caller (the formatter) already did
    it, and becomes the event dict; *message* is the message text if already known. A
    dict message (``logger.info({"k": 1})``) is merged into the fields, its ``message``
    entry becoming the message. Context attributes that a :class:`ContextFilter` set to
    ``None`` are left out, and a field named like a head key is kept as ``<key>_field``
    (:func:`~flext_logging.processors.set_aside_head_fields`). A record made by
    structlog's ``ProcessorFormatter.wrap_for_formatter`` gives its event dict.
    """
    event_dict = _record_fields(record, fields)
    event_dict[keys.TIMESTAMP] = datetime.datetime.fromtimestamp(record.created, _UTC)
    event_dict[keys.LOGGER] = record.name
    event_dict[EVENT] = _record_message(record) if message is None else message
    if record.exc_info:
        event_dict[EXC_INFO] = record.exc_info
    elif record.exc_text and keys.ERROR not in event_dict:
        # Only the text survived (a record sent by another process): keep it as it is.
        event_dict[keys.ERROR] = {keys.ERROR_TRACEBACK: record.exc_text}
    if record.stack_info:
        event_dict[keys.STACK] = record.stack_info
    return event_dict


def record_from_logging(
    record: logging.LogRecord, message_key: str = keys.MESSAGE
) -> tuple[dict[str, Any], bool]:
    """Build our record of a ``logging`` record; tell whether it has an exception or stack.

    The path of :class:`FlextHandler`: the record ``add_context`` would build from
    :func:`event_dict_from_record`, without the event dict between.
    """
    fields = _record_fields(record)
    moment = datetime.datetime.fromtimestamp(record.created, _UTC)
    built = new_record(
        moment if moment.microsecond else rfc3339(moment),  # fixed width, as for ours
        level_name(_method_name(record)),
        record.name,
        _record_message(record),
        message_key,
    )
    detailed = add_fields(built, fields, message_key) if fields else False
    if record.exc_info:
        built[EXC_INFO] = record.exc_info
        detailed = True
    elif record.exc_text and keys.ERROR not in built:
        built[keys.ERROR] = {keys.ERROR_TRACEBACK: record.exc_text}
    if record.stack_info:
        built[keys.STACK] = record.stack_info
    return built, detailed


def _record_fields(
    record: logging.LogRecord, fields: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A record's own fields: ``extra=`` (or *fields*), a dict message's entries, cleaned."""
    if fields is None:
        fields = _extra_fields(record)
        if isinstance(record.msg, dict):
            fields = {**_message_fields(record), **fields}
    if _NEEDS_CARE.isdisjoint(fields):
        return fields  # the common case: nothing below applies
    if _OTEL_SPAN_ID in fields:
        fields = _fold_opentelemetry_ids(fields)
    if _COLOR_MESSAGE in fields:
        fields = {key: value for key, value in fields.items() if key != _COLOR_MESSAGE}
    if not _CONTEXT_KEYS.isdisjoint(fields):
        fields = {
            key: value
            for key, value in fields.items()
            if not (value is None and key in _CONTEXT_KEYS)
        }
    return set_aside_head_fields(fields)  # *fields* itself when nothing collides


def _extra_fields(
    record: logging.LogRecord, reserved: AbstractSet[str] = _RESERVED
) -> dict[str, Any]:
    """The record's attributes that ``extra=`` (or a filter) added, in the order given."""
    attributes = record.__dict__
    if reserved is _RESERVED:
        if len(attributes) == _PLAIN_RECORD_SIZE:
            return {}  # logging only ever adds attributes: same size means no extra=
        # A LogRecord sets its own attributes first, always the same ones in the same
        # order; extra= fields (and what filters and formatters add later) follow.
        # (A loop over the names: cheaper than a comprehension over the items here.)
        extra = {}
        for name in itertools.islice(attributes, _PLAIN_RECORD_SIZE, None):
            extra[name] = attributes[name]
        # The names repeat from record to record: the ones found neither reserved nor
        # private are remembered, and a record with only such names is done (one check in C).
        if _EXTRA_NAMES_KEPT.issuperset(extra):
            return extra
        return _kept_extra(extra)
    # The reserved names removed in one set operation: what is left came from extra=
    # (or a filter), minus private "_" names as python-json-logger does.
    extra_names = attributes.keys() - reserved
    if not extra_names:
        return {}
    return {
        name: value
        for name, value in attributes.items()  # record order, as extra= gave it
        if name in extra_names and not (isinstance(name, str) and name.startswith("_"))
    }


_EXTRA_NAMES_KEPT: set[str] = set()
_EXTRA_NAMES_REMEMBERED: Final = 4096  # then forgotten, and learnt again


def _kept_extra(extra: dict[str, Any]) -> dict[str, Any]:
    """*extra* without reserved and private (``_``) names; the names kept are remembered."""
    kept = {}
    for name, value in extra.items():
        if name in _RESERVED or (isinstance(name, str) and name.startswith("_")):
            continue
        kept[name] = value
        if isinstance(name, str):
            if len(_EXTRA_NAMES_KEPT) >= _EXTRA_NAMES_REMEMBERED:
                _EXTRA_NAMES_KEPT.clear()
            _EXTRA_NAMES_KEPT.add(name)
    return kept


def _fold_opentelemetry_ids(fields: dict[str, Any]) -> dict[str, Any]:
    """Drop the ``otel*`` attributes of OpenTelemetry's ``LoggingInstrumentor``.

    They repeat the ``trace_id``/``span_id`` (and service) the record gets from the
    context. Only a record handled where no span is current (a ``QueueListener``'s
    thread) keeps the span it was made in, as ``trace_id`` and ``span_id``.
    """
    trace_id, span_id = fields.get(_OTEL_TRACE_ID), fields.get(_OTEL_SPAN_ID)
    folded = {key: value for key, value in fields.items() if key not in _OTEL_ATTRIBUTES}
    if (
        keys.TRACE_ID not in folded
        and is_valid_trace_id(trace_id)
        and is_valid_span_id(span_id)
        and current_span() is None
    ):
        folded[keys.TRACE_ID] = trace_id
        folded[keys.SPAN_ID] = span_id
    return folded


# What structlog's stock processors add to its event dict that the record head says.
_STRUCTLOG_HEAD: Final = frozenset((EVENT, keys.TIMESTAMP, keys.LEVEL, keys.LOGGER, "log_level"))


def _made_by_structlog(record: logging.LogRecord) -> bool:
    """Tell whether *record* came from structlog's ``ProcessorFormatter.wrap_for_formatter``.

    structlog puts its event dict in ``msg`` and marks the record with ``_logger`` and
    ``_name``; its message is ``event``.
    """
    return isinstance(record.msg, dict) and hasattr(record, "_logger") and hasattr(record, "_name")


def _message_fields(record: logging.LogRecord) -> dict[Any, Any]:
    """A dict message's entries as fields; its ``message`` entry is the record's message.

    For structlog's event dict, ``event`` is the message, and the ``timestamp``,
    ``level`` and ``logger`` its processors added give way to the record's own.
    """
    msg: dict[Any, Any] = record.msg  # type: ignore[assignment]  # callers checked: a dict
    if _made_by_structlog(record):
        return {key: value for key, value in msg.items() if key not in _STRUCTLOG_HEAD}
    return {key: value for key, value in msg.items() if key != keys.MESSAGE}


def _record_message(record: logging.LogRecord) -> str:
    msg = record.msg
    if isinstance(msg, dict):
        text = msg.get(EVENT if _made_by_structlog(record) else keys.MESSAGE, "")
        return text if isinstance(text, str) else safe_repr(text, 2000)
    try:
        return record.getMessage()
    except Exception:  # noqa: BLE001 - a bad %-format must not lose the record
        # As FlextLogger does: the format text as written, then the arguments' repr.
        text = truncate(msg, 2000) if isinstance(msg, str) else safe_repr(msg, 2000)
        return f"{text} {safe_repr(record.args, 2000)}"


def _levels_of(record: logging.LogRecord) -> tuple[str, str]:
    """The method name and record level of a record at a level of its own number."""
    method_name = _method_name(record)
    return method_name, level_name(method_name)


def _method_name(record: logging.LogRecord) -> str:
    name = _METHOD_NAMES.get(record.levelno)
    if name is None:
        name = record.levelname.lower() if record.levelname else "info"
    return name


class FlextHandler(logging.Handler):
    """Send ``logging`` records through flext-logging's active pipeline."""

    feeds_flext_pipeline = True
    """Records of ours are not handed to this handler (``outputs.handoff.FEEDS_PIPELINE``)."""

    def handle(self, record: logging.LogRecord) -> bool:
        """Filter and emit *record* without the handler lock: the pipeline is thread-safe."""
        if self.filters and not self.filter(record):
            return False
        self.emit(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        """Convert *record* and hand it to the pipeline (which never raises)."""
        if _handoff._handed_over_once and is_handed_over(record):  # the look-up inlined
            return  # a record of ours that a LoggingOutput handed to logging
        pipeline = _pipeline._active or _pipeline.active()
        # A logging.Logger tells the pipeline the record came from logging, so a
        # LoggingOutput does not hand it back. Only user processors see which one.
        logger = _ANY_LOGGER if pipeline.plain_steps is not None else _logger_of(record)
        try:
            # An integration's fields for the records it recognises (gunicorn's access lines).
            resolved = (
                [given for resolve in _field_resolvers if (given := resolve(record))]
                if _field_resolvers
                else ()
            )
        except Exception:  # noqa: BLE001 - logging must never raise into the caller
            resolved = ()
        if not (record.exc_info or record.exc_text or record.stack_info or resolved):
            # Nearly every record: built from its parts the way a logger's call is, what
            # _record_fields, _record_message and _method_name do, inlined for a plain
            # record with a text message (each call costs a share of the path).
            try:
                msg, args = record.msg, record.args
                if type(msg) is str and type(record) is _LOG_RECORD:
                    fields = _extra_fields(record)
                    if fields and not _NEEDS_CARE.isdisjoint(fields):
                        fields = _record_fields(record, fields)
                    try:
                        message = msg % args if args else msg  # LogRecord.getMessage()
                    except Exception:  # noqa: BLE001 - as _record_message says it
                        message = _record_message(record)
                else:
                    fields = _record_fields(record)
                    message = _record_message(record)
                moment = _from_timestamp(record.created, _UTC)
                method_name, level = _LEVELS.get(record.levelno) or _levels_of(record)
            except Exception:  # noqa: BLE001 - logging must never raise into the caller
                event_dict = {EVENT: safe_repr(record.msg, 2000), keys.LOGGER: record.name}
                pipeline.emit(logger, _method_name(record), event_dict)
                return
            pipeline.log(
                logger,
                method_name,
                moment if moment.microsecond else rfc3339(moment),  # fixed width, as ours
                level,
                record.name,
                message,
                fields,
                False,  # call: a logging record's fields
            )
            return
        try:
            built, detailed = record_from_logging(record, pipeline.message_key)
            for given in resolved:  # they give way to the record's own
                place_fields(built, given, message_key=pipeline.message_key, override=False)
        except Exception:  # noqa: BLE001 - logging must never raise into the caller
            event_dict = {EVENT: safe_repr(record.msg, 2000), keys.LOGGER: record.name}
            pipeline.emit(logger, _method_name(record), event_dict)
            return
        pipeline.write(logger, _method_name(record), built, detailed=detailed)


_ANY_LOGGER: Final = logging.root


def _logger_of(record: logging.LogRecord) -> logging.Logger:
    """The logger that made *record* (the root logger is not in loggerDict)."""
    found = logging.root.manager.loggerDict.get(record.name)
    return found if isinstance(found, logging.Logger) else logging.root


_field_resolvers: list[Callable[[logging.LogRecord], Mapping[str, Any] | None]] = []


def on_record_fields(resolver: Callable[[logging.LogRecord], Mapping[str, Any] | None]) -> None:
    """Let an integration add fields to ``logging`` records it recognises.

    A server's access line is logged after the request's context has ended; the
    integration that served the request can still name its ids (gunicorn passes the
    WSGI environ to its access logger). The fields give way to the record's own.
    """
    if resolver not in _field_resolvers:
        _field_resolvers.append(resolver)


class ContextFilter(logging.Filter):
    """Copy the FlextContext onto each record as attributes (``%(correlation_id)s``).

    Every context key is set, to ``None`` when it has no value, so ``%``-style
    formats never fail on a missing attribute. It never filters a record out.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Add the context attributes; always keep the record."""
        fields = current_fields()
        for key in keys.CONTEXT_KEYS:
            setattr(record, key, fields.get(key))
        return True


# -- JsonFormatter: python-json-logger's options over this library's schema. ---------

_ALIASES: Final = {
    # A LogRecord attribute, as a python-json-logger format or rename names it, and the
    # field of the schema that already holds it: naming one never writes a duplicate.
    "asctime": keys.TIMESTAMP,
    "levelname": keys.LEVEL,
    "name": keys.LOGGER,
    "message": keys.MESSAGE,
    "exc_info": keys.ERROR,
    "exc_text": keys.ERROR,
    "stack_info": keys.STACK,
}
_ASCTIME: Final = "asctime"
# The line-breaking characters JSON leaves raw, escaped as the renderer escapes them.
_BREAKS: Final = {0x85: "\\u0085", 0x2028: "\\u2028", 0x2029: "\\u2029"}
_NON_ASCII: Final = re.compile(r"[^\x00-\x7f]")
_warned: set[str] = set()


def _warn_once(option: str, why: str) -> None:
    """Tell once per process that an option is accepted without the effect it has elsewhere."""
    if option not in _warned:
        _warned.add(option)
        warnings.warn(
            f"flext_logging.JsonFormatter: {option} {why} (see docs/stdlib.md)",
            UserWarning,
            stacklevel=3,  # the code that built the formatter (dictConfig, say)
        )


def _escape_non_ascii(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    code -= 0x10000  # outside the BMP: a UTF-16 surrogate pair, as json.dumps writes it
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def _chained_default(user_default: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """The user's encoder first; where it gives up, the library's safe conversion."""

    def default(value: Any) -> Any:
        try:
            return user_default(value)
        except Exception:  # noqa: BLE001 - a value the user's encoder rejects is still written
            return to_json_safe(value)

    return default


class JsonFormatter(BaseJsonFormatter):
    """Format ``logging`` records as JSON lines in flext-logging's schema.

    Use it where ``logging`` is configured by hand, by ``dictConfig`` or by a uvicorn
    ``--log-config`` file::

        "formatters": {"json": {"()": "flext_logging.JsonFormatter"}}

    Records get the same head, context, ``error`` data and redaction as records of
    :func:`flext_logging.get_logger`. It takes every option of python-json-logger's
    ``pythonjsonlogger.json.JsonFormatter``, so a configuration written for that class
    works unchanged; docs/stdlib.md lists what each option does here. Fields the format
    names that the schema already has (``asctime``, ``levelname``, ``name``,
    ``message``, ``exc_info``, ``exc_text``, ``stack_info``) are written once, as the
    schema's ``timestamp``, ``level``, ``logger``, ``message``, ``error``, ``stack``.
    """

    def __init__(
        self,
        fmt: str | Sequence[str] | None = None,
        datefmt: str | None = None,
        style: str = "%",
        validate: bool = True,
        *,
        prefix: str = "",
        rename_fields: dict[str, str] | None = None,
        rename_fields_keep_missing: bool = False,
        static_fields: dict[str, Any] | None = None,
        reserved_attrs: Sequence[str] | None = None,
        timestamp: bool | str = False,
        defaults: dict[str, Any] | None = None,
        exc_info_as_array: bool = False,
        stack_info_as_array: bool = False,
        json_default: Callable[[Any], Any] | None = None,
        json_encoder: type[json.JSONEncoder] | None = None,
        json_serializer: Callable[..., str] = json.dumps,
        json_indent: int | str | bool | None = None,
        json_ensure_ascii: bool = False,
    ) -> None:
        super().__init__(
            fmt,
            datefmt,
            style,
            validate,
            prefix=prefix,
            rename_fields=rename_fields,
            rename_fields_keep_missing=rename_fields_keep_missing,
            static_fields=static_fields,
            reserved_attrs=reserved_attrs,
            timestamp=timestamp,
            defaults=defaults,
            exc_info_as_array=exc_info_as_array,
            stack_info_as_array=stack_info_as_array,
        )
        if json_default is not None and not callable(json_default):
            msg = f"json_default must be a callable, not {type(json_default).__name__}"
            raise TypeError(msg)
        self.json_default = json_default
        self.json_encoder = json_encoder
        self.json_serializer = json_serializer
        self.json_indent = json_indent
        self.json_ensure_ascii = json_ensure_ascii
        if exc_info_as_array:
            _warn_once(
                "exc_info_as_array=True",
                "has no effect: the exception is the 'error' object, its stack a list of frames",
            )
        if json_serializer is not json.dumps:
            _warn_once(
                "json_serializer",
                "is not used: records are encoded by flext-logging, one JSON object per line",
            )

        # Everything the per-record path needs, decided once.
        # With a datefmt, asctime is a field of its own; without, it is the head timestamp.
        self._asctime_field = _ASCTIME in self._required_fields and bool(datefmt)
        self._format_fields = tuple(
            name
            for name in dict.fromkeys(self._required_fields)
            if name not in _ALIASES or (name == _ASCTIME and self._asctime_field)
        )
        self._extra_skip = frozenset(self._skip_fields | _ALIASES.keys())
        self._renames = self._output_names(timestamp)
        self._keep_missing = (
            tuple(self.rename_fields.values()) if rename_fields_keep_missing else ()
        )
        self._finishing = bool(stack_info_as_array or self._renames or self._keep_missing)
        # As python-json-logger's two classes take it: True is orjson's 2 spaces, an int
        # or a string is json.dumps's indent (0 too: one value per line, no spaces).
        self._indent: int | str | None = None
        if json_indent is True:
            self._indent = 2
        elif json_indent is not None and json_indent is not False:
            self._indent = json_indent
        encoder_default = json_default
        if encoder_default is None and json_encoder is not None:
            encoder_default = self._encoder_default(json_encoder)
        self._default = _chained_default(encoder_default) if encoder_default else None

    def _output_names(self, timestamp: bool | str) -> dict[str, str]:
        """Map each schema field the renames reach to its new name."""
        renames: dict[str, str] = {}
        exact: dict[str, str] = {}
        for source, target in self.rename_fields.items():
            if source == _ASCTIME and self._asctime_field:
                field = source
            else:
                field = _ALIASES.get(source, source)
            if field == source:
                exact[field] = target
            else:
                renames.setdefault(field, target)
        renames.update(exact)  # a rename of the schema's own name wins over its alias
        if isinstance(timestamp, str) and timestamp and keys.TIMESTAMP not in renames:
            renames[keys.TIMESTAMP] = self.rename_fields.get(timestamp, timestamp)
        return {field: target for field, target in renames.items() if field != target}

    @staticmethod
    def _encoder_default(encoder: type[json.JSONEncoder]) -> Callable[[Any], Any] | None:
        try:
            return encoder().default
        except Exception:  # noqa: BLE001 - an encoder that cannot be built: say so, go on
            _warn_once("json_encoder", "could not be instantiated and is not used")
            return None

    def format(self, record: logging.LogRecord) -> str:
        """Return *record* as one JSON object (no trailing newline: handlers add it)."""
        prepared = handed_over(record)
        if prepared is not None:
            # A record of get_logger() handed over by a LoggingOutput: already enriched
            # and redacted, it is written as the stream outputs write it (renamed as
            # the options say; static_fields and a format's fields are logging's own).
            event: Any = self._finish(dict(prepared)) if self._finishing else prepared
            return self.serialize_log_record(self.process_log_record(event))
        try:
            message_dict = _message_fields(record) if isinstance(record.msg, dict) else {}
            message = _record_message(record)
            record.message = message  # as logging.Formatter does, for add_fields overrides
            if self._asctime_field:
                record.asctime = self.formatTime(record, self.datefmt)
            fields: dict[str, Any] = {}
            self.add_fields(fields, record, message_dict)
            event_dict: Any = event_dict_from_record(record, fields, message=message)
            pipeline = _pipeline.active()
            method_name = _method_name(record)
            for processor in pipeline.enrichers:
                event_dict = processor(None, method_name, event_dict)
            event_dict = add_error(None, method_name, event_dict)
            if self._finishing:
                event_dict = self._finish(event_dict)
            return self.serialize_log_record(self.process_log_record(event_dict))
        except Exception as exc:  # noqa: BLE001 - a formatter must not lose the record
            fallback = {
                keys.LOGGER: record.name,
                keys.MESSAGE: _record_message(record),
                keys.LOGGING_ERROR: safe_repr(exc, 500),
            }
            return dumps_record(fallback).decode("utf-8").rstrip("\n")

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        """Gather the record's own fields into *log_data*; the head comes from the schema.

        In python-json-logger's order: ``defaults``, the fields the format names,
        ``static_fields``, a dict message's entries, then ``extra=``. Override it, calling
        this first, to add fields; a field named like a head key is kept as
        ``<key>_field``.
        """
        if self.defaults:
            log_data.update(self.defaults)
        attributes = record.__dict__
        for name in self._format_fields:
            if name in attributes:  # a field the record lacks is left out, not null
                log_data[name] = attributes[name]
        if self.static_fields:
            log_data.update(self.static_fields)
        if message_dict:
            log_data.update(message_dict)
        log_data.update(_extra_fields(record, self._extra_skip))

    def _finish(self, event_dict: dict[str, Any]) -> dict[str, Any]:
        """Apply the options that shape the finished record: arrays, renames, missing keys."""
        if self.stack_info_as_array:
            stack = event_dict.get(keys.STACK)
            if isinstance(stack, str):
                event_dict[keys.STACK] = stack.splitlines()
        if self._renames:
            renamed: dict[str, Any] = {}
            for key, value in event_dict.items():
                name = self._renames.get(key, key)
                if name in renamed:  # a rename onto a name already written: keep both
                    name = f"{name}{COLLISION_SUFFIX}"
                renamed[name] = value
            event_dict = renamed
        for name in self._keep_missing:
            event_dict.setdefault(name, None)
        return event_dict

    def jsonify_log_record(self, log_data: Any) -> str:
        """Encode with flext-logging's encoder: ``Z`` timestamps, safe fallbacks, 64 KiB cap."""
        line = self._encode(log_data)
        if len(line) > DEFAULT_MAX_RECORD_BYTES and isinstance(log_data, dict):
            line = fit_record(log_data, DEFAULT_MAX_RECORD_BYTES, self._encode)  # type: ignore[assignment]  # bytes in, bytes out
        return line.decode("utf-8").rstrip("\n")

    def _encode(self, log_data: Any) -> bytes:
        line = dumps_record(log_data, default=self._default)
        if self._indent is None and not self.json_ensure_ascii:
            return line
        text = line.decode("utf-8").rstrip("\n")
        if self._indent is None:
            # Outside a string JSON is ASCII, so every other character is inside one.
            return (_NON_ASCII.sub(_escape_non_ascii, text) + "\n").encode("ascii")
        data = json.loads(text)
        text = json.dumps(data, indent=self._indent, ensure_ascii=self.json_ensure_ascii)
        try:
            return (text.translate(_BREAKS) + "\n").encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate has no UTF-8 form: escape this one
            return (json.dumps(data, indent=self._indent, ensure_ascii=True) + "\n").encode()


# -- Wiring the logging module (called by configure() and reset()). --------------------
#
# Servers and frameworks install handlers of their own after the application called
# configure(): gunicorn when it (re)loads its configuration (SIGHUP), its uvicorn worker
# when it shares gunicorn's handler list with uvicorn's loggers, Celery when its worker
# starts, and anyone calling logging.config. While routing is on, logging making a
# handler puts a record factory in force that routes again before the next record is
# made (when the handler is in place) and then stands down; a forked child routes
# again too. So their console handlers never write a line beside ours, and records
# made while no handler is new cost nothing more.

# logging's own lock: taken by every handler change in logging, so routing under it
# cannot interleave with one (and never waits for it while holding another lock).
_lock: Any = getattr(logging, "_lock", None) or threading.RLock()
_handler_refs: list[Any] | None = getattr(logging, "_handlerList", None)
_removed: list[tuple[logging.Logger, logging.Handler | None, bool]] = []
_root_level_before: list[int] = []
# Handler lists routing emptied: another logger handed the same list (gunicorn's uvicorn
# worker does it for uvicorn.error) with propagate=False would otherwise write nowhere.
_emptied: list[list[logging.Handler]] = []


class _Routing:
    """What routing is doing now; one instance, changed under :data:`_lock`."""

    __slots__ = ("active", "keep_handlers", "level", "newest")

    def __init__(self) -> None:
        self.active = False
        self.keep_handlers = False
        self.level = logging.INFO
        self.newest: object = None  # the newest handler logging had made at the last routing


_routing = _Routing()
_fork_hook_installed = False


class _RecordGuard:
    """The record factory while logging may hold a handler made since the last routing.

    Put in force when logging makes a handler (see :func:`_watch_new_handlers`), it
    routes again before the next record is made, by which time the handler is in
    place, then stands down: records made while no handler is new pay nothing. Where
    logging cannot be watched it stays, and routes whenever a handler is new. Wrapped
    by another factory meanwhile (OpenTelemetry's), it stays in that chain and does the
    same."""

    __slots__ = ("previous", "standing_down")

    def __init__(self, previous: Callable[..., logging.LogRecord]) -> None:
        self.previous = previous
        self.standing_down = _handlers_watched

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        routing = _routing
        if routing.active and (self.standing_down or _newest_handler() is not routing.newest):
            self._route_then_stand_down()
        return self.previous(*args, **kwargs)

    def _route_then_stand_down(self) -> None:
        # Under logging's lock, which it holds while it notes a new handler: a handler
        # made meanwhile is either routed here or puts a new guard in force after.
        with contextlib.suppress(Exception), _lock:
            if _routing.active and _newest_handler() is not _routing.newest:
                _route()
            if self.standing_down:
                self.standing_down = False
                if logging.getLogRecordFactory() is self:
                    logging.setLogRecordFactory(self.previous)


def _guard_records() -> None:
    """Put a :class:`_RecordGuard` in force, unless one is already."""
    with _lock:
        current = logging.getLogRecordFactory()
        if not isinstance(current, _RecordGuard):
            logging.setLogRecordFactory(_RecordGuard(current))


def _watch_new_handlers() -> bool:
    """Have logging guard the next record each time it makes a handler; return whether
    it can be (its ``_addHandlerRef``, called by every ``Handler.__init__``, is known)."""
    add_handler_ref = getattr(logging, "_addHandlerRef", None)
    if not callable(add_handler_ref):
        return False

    def noting_new_handler(handler: logging.Handler) -> None:
        add_handler_ref(handler)
        if _routing.active:
            _guard_records()

    logging._addHandlerRef = noting_new_handler  # type: ignore[attr-defined]
    return True


_handlers_watched = False


def route_to_pipeline(level: int, *, keep_handlers: bool = False) -> None:
    """Send ``logging`` records through the pipeline: one :class:`FlextHandler` on the root.

    Handlers writing to the console (a ``StreamHandler`` on ``sys.stdout`` or
    ``sys.stderr``: ``basicConfig``'s, uvicorn's, gunicorn's, Celery's) are removed,
    from the root and from every other logger, whose records then propagate to the
    root: each line is written once, by the pipeline. Every other handler stays and
    keeps receiving records: files, syslog, queues, pytest's capture, OpenTelemetry.
    With *keep_handlers* (the configuration hands records to logging itself) nothing
    is removed and the root level is left alone. Handlers installed later are dealt
    with when they appear. Everything taken away is remembered for
    :func:`restore_stdlib`; calling this again is harmless.
    """
    global _fork_hook_installed, _handlers_watched  # noqa: PLW0603 - installed once per process
    with _lock:
        _routing.active = True
        _routing.level = level
        _routing.keep_handlers = keep_handlers
        if not _handlers_watched:
            _handlers_watched = _watch_new_handlers()
            if not _handlers_watched:
                _guard_records()  # for good: it looks before every record
        if not _fork_hook_installed and hasattr(os, "register_at_fork"):
            _fork_hook_installed = True
            os.register_at_fork(after_in_child=_route_again)
        _route()


def restore_stdlib() -> None:
    """Remove the :class:`FlextHandler` and put back what :func:`route_to_pipeline` removed."""
    with _lock:
        _routing.active = False
        guard = logging.getLogRecordFactory()
        if isinstance(guard, _RecordGuard):
            logging.setLogRecordFactory(guard.previous)
        # Another factory wrapped ours meanwhile (OpenTelemetry's): ours stays in its
        # chain, passing records through while routing is off.
        root = logging.getLogger()
        for handler in list(root.handlers):
            if isinstance(handler, FlextHandler):
                root.removeHandler(handler)
        # Handlers go back in their original order; the earliest record of a logger
        # holds the propagate value it had before routing changed it.
        for logger, removed, _ in _removed:
            if removed is not None:
                logger.addHandler(removed)
        for logger, _, propagate in reversed(_removed):
            logger.propagate = propagate
        _removed.clear()
        _emptied.clear()
        if _root_level_before:
            root.setLevel(_root_level_before.pop())


def _route_again() -> None:
    """Route again from the record factory or a forked child; never raises."""
    with contextlib.suppress(Exception), _lock:
        if _routing.active:
            _route()


def _route() -> None:
    root = logging.getLogger()
    if not _root_level_before:
        _root_level_before.append(root.level)
    if not _routing.keep_handlers:
        for handler in list(root.handlers):
            if _writes_to_console(handler):
                _removed.append((root, handler, root.propagate))
                root.removeHandler(handler)
        root.setLevel(_routing.level)
    if not any(isinstance(handler, FlextHandler) for handler in root.handlers):
        root.addHandler(FlextHandler())
    if not _routing.keep_handlers:
        for logger in _existing_loggers():
            _route_logger(logger)
    _routing.newest = _newest_handler()


def _route_logger(logger: logging.Logger) -> None:
    handlers = logger.handlers
    console = [handler for handler in handlers if _writes_to_console(handler)]
    if console:
        for handler in console:
            _removed.append((logger, handler, logger.propagate))
            logger.removeHandler(handler)
        if not logger.handlers and not any(logger.handlers is seen for seen in _emptied):
            _emptied.append(logger.handlers)
        logger.propagate = True
    elif not handlers and not logger.propagate and any(handlers is seen for seen in _emptied):
        _removed.append((logger, None, False))
        logger.propagate = True


def _newest_handler() -> object:
    refs = _handler_refs
    return refs[-1] if refs else None


def _existing_loggers() -> list[logging.Logger]:
    return [
        logger
        for logger in list(logging.root.manager.loggerDict.values())
        if isinstance(logger, logging.Logger)
    ]


def _writes_to_console(handler: logging.Handler) -> bool:
    if not isinstance(handler, logging.StreamHandler) or isinstance(handler, logging.FileHandler):
        return False
    stream = handler.stream
    return any(
        stream is console for console in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__)
    )
