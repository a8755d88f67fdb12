"""Bridging the standard ``logging`` module: handler, filter and formatter.

- :class:`FlextHandler` sends ``logging`` records through the active pipeline;
  ``configure()`` installs it on the root logger.
- :class:`JsonFormatter` (built on python-json-logger) and :class:`ContextFilter` give
  the same record schema to applications that configure ``logging`` themselves, for
  example with ``dictConfig`` or a uvicorn ``--log-config`` file.
"""

from __future__ import annotations

import datetime
import logging
import sys
from typing import Any, Final

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.orjson import OrjsonFormatter

from flext_logging import _pipeline, keys
from flext_logging._jsonsafe import safe_repr, to_json_safe, truncate
from flext_logging.context.state import current_fields
from flext_logging.processors import EVENT, EXC_INFO, add_error
from flext_logging.renderers import DEFAULT_MAX_RECORD_BYTES, dumps_record, fit_record

__all__ = [
    "ContextFilter",
    "FlextHandler",
    "JsonFormatter",
    "event_dict_from_record",
    "restore_stdlib",
    "route_to_pipeline",
]

_RESERVED: Final = frozenset(RESERVED_ATTRS) | {"message", "asctime"}
_CONTEXT_KEYS: Final = frozenset(keys.CONTEXT_KEYS)
_UTC: Final = datetime.timezone.utc
_PLAIN_RECORD_SIZE: Final = len(logging.LogRecord("", logging.INFO, "", 0, "", (), None).__dict__)
_METHOD_NAMES: Final = {
    logging.DEBUG: "debug",
    logging.INFO: "info",
    logging.WARNING: "warning",
    logging.ERROR: "error",
    logging.CRITICAL: "critical",
}


def event_dict_from_record(
    record: logging.LogRecord, fields: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Return the event dict of a ``logging`` record: head, ``extra=`` fields, exception.

    *fields* replaces the ``extra=`` extraction when a caller (the formatter) already did
    it. Context attributes that a :class:`ContextFilter` set to ``None`` are left out.
    """
    attributes = record.__dict__
    if fields is None and len(attributes) == _PLAIN_RECORD_SIZE:
        fields = {}  # logging only ever adds attributes: same size means no extra=
    if fields is None:
        # The names python-json-logger reserves, removed in one set operation: what is
        # left came from extra= (or a filter), minus private "_" names as it does.
        extra_names = attributes.keys() - _RESERVED
        fields = (
            {
                name: value
                for name, value in attributes.items()  # record order, as extra= gave it
                if name in extra_names and not (isinstance(name, str) and name.startswith("_"))
            }
            if extra_names
            else {}
        )
    event_dict = {
        key: value for key, value in fields.items() if not (value is None and key in _CONTEXT_KEYS)
    }
    event_dict[keys.TIMESTAMP] = datetime.datetime.fromtimestamp(record.created, _UTC)
    event_dict[keys.LOGGER] = record.name
    event_dict[EVENT] = _record_message(record)
    if record.exc_info:
        event_dict[EXC_INFO] = record.exc_info
    if record.stack_info:
        event_dict[keys.STACK] = record.stack_info
    return event_dict


def _record_message(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except Exception:  # noqa: BLE001 - a bad %-format must not lose the record
        # As FlextLogger does: the format text as written, then the arguments' repr.
        msg = record.msg
        text = truncate(msg, 2000) if isinstance(msg, str) else safe_repr(msg, 2000)
        return f"{text} {safe_repr(record.args, 2000)}"


def _method_name(record: logging.LogRecord) -> str:
    name = _METHOD_NAMES.get(record.levelno)
    if name is None:
        name = record.levelname.lower() if record.levelname else "info"
    return name


class FlextHandler(logging.Handler):
    """Send ``logging`` records through flext-logging's active pipeline."""

    def handle(self, record: logging.LogRecord) -> bool:
        """Filter and emit *record* without the handler lock: the pipeline is thread-safe."""
        if not self.filter(record):
            return False
        self.emit(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        """Convert *record* and hand it to the pipeline (which never raises)."""
        try:
            event_dict = event_dict_from_record(record)
        except Exception:  # noqa: BLE001 - logging must never raise into the caller
            event_dict = {EVENT: safe_repr(record.msg, 2000), keys.LOGGER: record.name}
        pipeline = _pipeline.active()
        pipeline.emit(
            logging.root.manager.loggerDict.get(record.name), _method_name(record), event_dict
        )


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


class JsonFormatter(OrjsonFormatter):
    """python-json-logger's formatter, emitting flext-logging's record schema.

    Use it where ``logging`` is configured by hand or by ``dictConfig``::

        "formatters": {"json": {"()": "flext_logging.JsonFormatter"}}

    Records get the same head, context, ``error`` data and redaction as records of
    :func:`flext_logging.get_logger`; python-json-logger options such as
    ``static_fields`` and ``rename_fields`` still apply to the extra fields.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("json_default", to_json_safe)
        super().__init__(*args, **kwargs)

    def format(self, record: logging.LogRecord) -> str:
        """Return *record* as one JSON object (no trailing newline: handlers add it)."""
        try:
            fields: dict[str, Any] = {}
            self.add_fields(fields, record, {})
            # add_fields copies "message" from the record before anything has set it
            # (None); the message comes from event_dict_from_record instead.
            fields.pop(keys.MESSAGE, None)
            event_dict: Any = event_dict_from_record(record, fields)
            pipeline = _pipeline.active()
            method_name = _method_name(record)
            for processor in pipeline.enrichers:
                event_dict = processor(None, method_name, event_dict)
            event_dict = add_error(None, method_name, event_dict)
            return self.serialize_log_record(self.process_log_record(event_dict))
        except Exception as exc:  # noqa: BLE001 - a formatter must not lose the record
            fallback = {
                keys.LOGGER: record.name,
                keys.MESSAGE: _record_message(record),
                "logging_error": safe_repr(exc, 500),
            }
            return dumps_record(fallback).decode("utf-8").rstrip("\n")

    def jsonify_log_record(self, log_data: Any) -> str:
        """Encode with flext-logging's encoder: ``Z`` timestamps, safe fallbacks, 64 KiB cap."""
        line = dumps_record(log_data)
        if len(line) > DEFAULT_MAX_RECORD_BYTES and isinstance(log_data, dict):
            line = fit_record(log_data, DEFAULT_MAX_RECORD_BYTES, dumps_record)  # type: ignore[assignment]  # bytes in, bytes out
        return line.decode("utf-8").rstrip("\n")


# -- Wiring the root logger (called by configure() and reset()). ----------------------

_removed: list[tuple[logging.Logger, logging.Handler, bool]] = []
_root_level_before: list[int] = []


def route_to_pipeline(level: int) -> None:
    """Install one :class:`FlextHandler` on the root logger and silence console duplicates.

    Root handlers are replaced; handlers of other loggers that write to stdout or
    stderr are removed and those loggers propagate to the root instead. Everything
    taken away is remembered for :func:`restore_stdlib`. Calling it again is harmless.
    """
    root = logging.getLogger()
    if not _root_level_before:
        _root_level_before.append(root.level)
    for handler in list(root.handlers):
        if not isinstance(handler, FlextHandler):
            _removed.append((root, handler, root.propagate))
        root.removeHandler(handler)
    for logger in _existing_loggers():
        for handler in list(logger.handlers):
            if _writes_to_console(handler):
                _removed.append((logger, handler, logger.propagate))
                logger.removeHandler(handler)
                logger.propagate = True
    root.addHandler(FlextHandler())
    root.setLevel(level)


def restore_stdlib() -> None:
    """Remove the :class:`FlextHandler` and put back what :func:`route_to_pipeline` removed."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, FlextHandler):
            root.removeHandler(handler)
    # Handlers go back in their original order; the earliest record of a logger holds
    # the propagate value it had before route_to_pipeline changed it.
    for logger, handler, _ in _removed:
        logger.addHandler(handler)
    for logger, _, propagate in reversed(_removed):
        logger.propagate = propagate
    _removed.clear()
    if _root_level_before:
        root.setLevel(_root_level_before.pop())


def _existing_loggers() -> list[logging.Logger]:
    return [
        logger
        for logger in list(logging.root.manager.loggerDict.values())
        if isinstance(logger, logging.Logger)
    ]


def _writes_to_console(handler: logging.Handler) -> bool:
    stream = getattr(handler, "stream", None)
    return type(handler) is logging.StreamHandler and stream in (
        sys.stdout,
        sys.stderr,
        sys.__stdout__,
        sys.__stderr__,
    )
