"""An output that hands records to the ``logging`` module, so its handlers get ours too.

The application's handlers (a ``FileHandler`` or ``SysLogHandler`` from ``dictConfig``,
a ``QueueHandler``, pytest's ``caplog``, OpenTelemetry's ``LoggingHandler``) then
receive the records of ``get_logger()`` loggers as well as the library records they
already get. Each record becomes a :class:`logging.LogRecord` whose attributes are the
record's fields (the head is logging's own: ``created``, ``levelname``, ``name``,
``msg``); the whole processed record stays attached to it (:func:`record_fields`), so
:class:`flext_logging.JsonFormatter` writes it exactly as a stream output would. It is
kept beside the record, not in its attributes, which handlers such as OpenTelemetry's
copy wholesale.

Records that came *from* ``logging`` (through the bridge handler) are never handed
back to it: they are already there.
"""

from __future__ import annotations

import datetime
import logging
import sys
import time
import weakref
from collections.abc import Mapping
from typing import Any, Final

from flext_logging import keys
from flext_logging.outputs.base import Output
from flext_logging.outputs.failures import SINK_FAILED, record_failure

__all__ = [
    "FEEDS_PIPELINE",
    "LOGGING_FORMAT",
    "LoggingOutput",
    "handed_over",
    "is_handed_over",
    "level_number",
    "record_fields",
]

FEEDS_PIPELINE: Final = "feeds_flext_pipeline"
"""A handler class attribute: true for the bridge handler, which sends records into the
pipeline; records are never handed to it (they came from there)."""
LOGGING_FORMAT: Final = "logging"
"""The ``format`` of a :class:`LoggingOutput`: records, not lines."""
# The processed record of each LogRecord made here; a record copied on its way (a
# QueueHandler copies) is formatted from its attributes instead.
_prepared: weakref.WeakKeyDictionary[logging.LogRecord, dict[str, Any]] = (
    weakref.WeakKeyDictionary()
)
_handed_over_once = False
"""Whether a record was ever put in ``_prepared`` (then it is looked in)."""

_LEVELS: Final = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "warn": logging.WARNING,
    "error": logging.ERROR,
    "exception": logging.ERROR,
    "critical": logging.CRITICAL,
    "fatal": logging.CRITICAL,
}
# The attributes every LogRecord has (and the two a Formatter adds): a field with one
# of these names is kept in the record dict only, never set over logging's own value.
_RESERVED: Final = frozenset(logging.LogRecord("", logging.INFO, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
}
_ROOT: Final = logging.getLogger()
_HEAD: Final = frozenset(keys.HEAD_KEYS)  # logging's own attributes say these
# Frames of the record path itself, skipped to find the application's call.
_PATH_MODULES: Final = ("flext_logging.", "structlog.", "logging")
_CALLER_MODULES: Final = ("flext_logging.integrations.",)


def level_number(method_name: str) -> int:
    """Return the ``logging`` level of a record written by *method_name* (INFO if unknown)."""
    return _LEVELS.get(method_name, logging.INFO)


def is_handed_over(record: logging.LogRecord) -> bool:
    """Tell whether *record* was made by a :class:`LoggingOutput` (it is already processed)."""
    # Until a record is handed over (nearly always: no LoggingOutput takes records), no
    # weak reference is made for the look-up (~2% of a logging record's path).
    return _handed_over_once and record in _prepared


def handed_over(record: logging.LogRecord) -> dict[str, Any] | None:
    """The processed record a :class:`LoggingOutput` made *record* from, else ``None``."""
    return _prepared.get(record)


def record_fields(record: logging.LogRecord) -> dict[str, Any]:
    """Return the fields of a record a :class:`LoggingOutput` made, in schema order.

    For any other record, its ``extra=`` attributes. Use it in tests (``caplog``) when a
    field is named like a ``LogRecord`` attribute (``name``, ``module``, ``args``...),
    which only the dict holds.
    """
    fields = _prepared.get(record)
    if fields is not None:
        return dict(fields)
    return {
        name: value
        for name, value in record.__dict__.items()
        if name not in _RESERVED and not name.startswith("_")
    }


class LoggingOutput(Output):
    """Hand records to the ``logging`` module, as if logged by the logger of the same name.

    The logger's level and filters apply, then its handlers and those it propagates to,
    like any ``logging`` call. ``configure()`` also makes one with *root_handlers_only*,
    which hands records straight to the handlers it keeps on the root logger (capture
    handlers, OpenTelemetry, files), so those see every record.

    A field with the name of a ``LogRecord`` attribute is only in :func:`record_fields`.
    An exception is ``error`` data (redacted) and, for text formatters, the traceback in
    ``exc_text``; ``exc_info`` is not set, so no unredacted exception text is formatted.
    """

    __slots__ = ("_root_handlers_only", "_seen", "_targets", "format", "idle_with", "level")

    def __init__(self, *, level: int | str | None = None, root_handlers_only: bool = False) -> None:
        self.format = LOGGING_FORMAT
        self.level = level
        self._root_handlers_only = root_handlers_only
        self._seen: list[logging.Handler] = []
        self._targets: tuple[logging.Handler, ...] = ()
        self.idle_with: list[logging.Handler] | None = self._seen if root_handlers_only else None
        """The root's handlers as last seen while none of them takes records (``None``
        otherwise, and for an output that is not root-only): while the root's handlers
        still equal it, :meth:`render` returns ``None`` for every record, so a record
        path may skip the call."""

    def render(self, logger: Any, method_name: str, event_dict: dict[str, Any]) -> Any:
        """Return *event_dict* as a ``LogRecord``, or ``None`` when no handler would take it."""
        if self._root_handlers_only:
            # The root's handlers rarely change: compared item by item (identity first).
            targets = self._targets if _ROOT.handlers == self._seen else self._root_targets()
            if not targets or isinstance(logger, logging.Logger):
                return None  # nothing to hand to, or it came from logging: they have it
            levelno = level_number(method_name)
            if not any(levelno >= handler.level for handler in targets):
                return None
        else:
            if isinstance(logger, logging.Logger):
                return None
            levelno = level_number(method_name)
            target = logging.getLogger(str(event_dict.get(keys.LOGGER) or "") or None)
            if not target.isEnabledFor(levelno):
                return None
        return make_record(event_dict, levelno)

    def write(self, line: Any) -> None:
        """Hand a record from :meth:`render` to logging (a fallback line becomes a record)."""
        record = line if isinstance(line, logging.LogRecord) else _line_record(line)
        try:
            if self._root_handlers_only:
                for handler in self._root_targets():
                    if record.levelno >= handler.level:
                        handler.handle(record)
            else:
                logging.getLogger(record.name if record.name != "root" else None).handle(record)
        except Exception as exc:  # noqa: BLE001 - a broken handler must not reach the caller
            record_failure(SINK_FAILED, exc)

    def _root_targets(self) -> tuple[logging.Handler, ...]:
        handlers = _ROOT.handlers
        if handlers != self._seen:  # compared element by element: identity, a few items
            self._seen = list(handlers)
            self._targets = tuple(
                handler
                for handler in handlers
                if not isinstance(handler, logging.NullHandler)
                and not getattr(handler, FEEDS_PIPELINE, False)
            )
            self.idle_with = None if self._targets else self._seen
        return self._targets


def make_record(event_dict: Mapping[str, Any], levelno: int) -> logging.LogRecord:
    """Build the ``LogRecord`` of a processed record: fields as attributes, caller located."""
    fields = {name: value for name, value in event_dict.items() if name != "exc_info"}
    pathname, lineno, function = _caller()
    name = str(fields.get(keys.LOGGER) or "root")
    message = fields.get(keys.MESSAGE, "")
    record = logging.LogRecord(
        name,
        levelno,
        pathname,
        lineno,
        message if isinstance(message, str) else str(message),
        None,
        None,
        function,
        fields.get(keys.STACK) if isinstance(fields.get(keys.STACK), str) else None,
    )
    created = _created(fields.get(keys.TIMESTAMP))
    if created is not None:
        record.created = created
        record.msecs = (created - int(created)) * 1000.0
    attributes = record.__dict__
    for field, value in fields.items():
        if field not in _RESERVED and field not in _HEAD:
            attributes[field] = value
    error = fields.get(keys.ERROR)
    if isinstance(error, Mapping):
        record.exc_text = _traceback_text(error)
    global _handed_over_once  # noqa: PLW0603 - set once, never unset
    _prepared[record] = fields
    _handed_over_once = True
    return record


def _line_record(line: Any) -> logging.LogRecord:
    text = line.decode("utf-8", "replace") if isinstance(line, bytes) else str(line)
    record = logging.LogRecord("flext_logging", logging.ERROR, "", 0, text.rstrip("\n"), None, None)
    _prepared[record] = {keys.MESSAGE: record.msg}
    return record


def _created(timestamp: Any) -> float | None:
    if isinstance(timestamp, datetime.datetime):
        return timestamp.timestamp()
    if isinstance(timestamp, str):
        try:
            return datetime.datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return None if timestamp is None else time.time()


def _caller() -> tuple[str, int, str | None]:
    frame = sys._getframe(2)  # as logging.findCaller does; inspect would cost more
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if not module.startswith(_PATH_MODULES) or module.startswith(_CALLER_MODULES):
            code = frame.f_code
            return code.co_filename, frame.f_lineno, code.co_name
        frame = frame.f_back  # type: ignore[assignment]  # None ends the loop
    return "", 0, None


def _traceback_text(error: Mapping[str, Any]) -> str:
    """The ``error`` data as a Python-style traceback, for formatters that print one."""
    lines = []
    stack = error.get(keys.ERROR_STACK)
    if isinstance(stack, list) and stack:
        lines.append("Traceback (most recent call last):")
        lines.extend(
            f'  File "{frame.get(keys.FRAME_FILE)}", line {frame.get(keys.FRAME_LINE)},'
            f" in {frame.get(keys.FRAME_FUNCTION)}"
            for frame in stack
            if isinstance(frame, Mapping)
        )
    lines.append(f"{error.get(keys.ERROR_TYPE_NAME)}: {error.get(keys.ERROR_MESSAGE)}")
    return "\n".join(lines)
