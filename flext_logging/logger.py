"""``get_logger()`` and the logger it returns.

A :class:`FlextLogger` is a structlog bound logger that accepts both structlog's call
style (``info("event", key=value)``) and the standard library's (``%``-arguments,
``extra=``, ``exc_info=``, ``stack_info=``). It holds no configuration: each call
looks up the active pipeline, so loggers made at import time follow later
``configure()`` calls. A call below the configured level returns after one comparison.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Final

import structlog

from flext_logging import _pipeline, keys
from flext_logging._jsonsafe import safe_repr
from flext_logging.processors import EVENT, EXC_INFO

__all__ = ["FlextLogger", "get_logger"]

_DEBUG: Final = logging.DEBUG
_INFO: Final = logging.INFO
_WARNING: Final = logging.WARNING
_ERROR: Final = logging.ERROR
_CRITICAL: Final = logging.CRITICAL
_METHOD_LEVELS: Final = {
    "debug": _DEBUG,
    "info": _INFO,
    "warning": _WARNING,
    "warn": _WARNING,
    "error": _ERROR,
    "exception": _ERROR,
    "critical": _CRITICAL,
    "fatal": _CRITICAL,
}


class FlextLogger(structlog.BoundLoggerBase):
    """A logger bound to a name (and optional fields), writing through the active pipeline."""

    def __init__(self, name: str = "", context: dict[str, Any] | None = None) -> None:
        # The wrapped logger and processor list are looked up per call, not held here.
        super().__init__(None, (), context if context is not None else {})
        self._name = name

    @property
    def name(self) -> str:
        """The logger's name, written as ``logger`` in every record."""
        return self._name

    def bind(self, **new_values: Any) -> FlextLogger:
        """Return a logger that adds *new_values* to every record it makes."""
        return FlextLogger(self._name, {**self._context, **new_values})

    def new(self, **new_values: Any) -> FlextLogger:
        """Return a logger bound to *new_values* only (the name is kept)."""
        return FlextLogger(self._name, dict(new_values))

    def unbind(self, *keys_to_remove: str) -> FlextLogger:
        """Return a logger without *keys_to_remove*; a missing key raises ``KeyError``."""
        context = dict(self._context)
        for key in keys_to_remove:
            del context[key]
        return FlextLogger(self._name, context)

    def try_unbind(self, *keys_to_remove: str) -> FlextLogger:
        """Like :meth:`unbind`, ignoring keys that are not bound."""
        context = dict(self._context)
        for key in keys_to_remove:
            context.pop(key, None)
        return FlextLogger(self._name, context)

    def __repr__(self) -> str:
        return f"<FlextLogger {self._name!r} context={self._context!r}>"

    # -- Level methods: one comparison before anything else. ---------------------------

    def debug(self, event: object = None, *args: Any, **kw: Any) -> None:
        """Log at debug level."""
        pipeline = _pipeline.active()
        if pipeline.min_level <= _DEBUG:
            self._emit(pipeline, "debug", event, args, kw)

    def info(self, event: object = None, *args: Any, **kw: Any) -> None:
        """Log at info level."""
        pipeline = _pipeline.active()
        if pipeline.min_level <= _INFO:
            self._emit(pipeline, "info", event, args, kw)

    def warning(self, event: object = None, *args: Any, **kw: Any) -> None:
        """Log at warning level."""
        pipeline = _pipeline.active()
        if pipeline.min_level <= _WARNING:
            self._emit(pipeline, "warning", event, args, kw)

    warn = warning

    def error(self, event: object = None, *args: Any, **kw: Any) -> None:
        """Log at error level."""
        pipeline = _pipeline.active()
        if pipeline.min_level <= _ERROR:
            self._emit(pipeline, "error", event, args, kw)

    def exception(self, event: object = None, *args: Any, **kw: Any) -> None:
        """Log at error level with the exception being handled (``exc_info=True``)."""
        pipeline = _pipeline.active()
        if pipeline.min_level <= _ERROR:
            kw.setdefault(EXC_INFO, True)
            self._emit(pipeline, "exception", event, args, kw)

    def critical(self, event: object = None, *args: Any, **kw: Any) -> None:
        """Log at critical level."""
        pipeline = _pipeline.active()
        if pipeline.min_level <= _CRITICAL:
            self._emit(pipeline, "critical", event, args, kw)

    fatal = critical

    def log(self, level: int | str, event: object = None, *args: Any, **kw: Any) -> None:
        """Log at *level*, a ``logging`` level number or a level name."""
        if isinstance(level, str):
            method = level.lower()
            number = _METHOD_LEVELS.get(method, _INFO)
        else:
            number = level
            method = logging.getLevelName(level).lower()
            if method not in _METHOD_LEVELS:
                method = "info" if level < _WARNING else "error"
        pipeline = _pipeline.active()
        if pipeline.min_level <= number:
            self._emit(pipeline, method, event, args, kw)

    def is_enabled_for(self, level: int) -> bool:
        """Tell whether a record at *level* would be written now."""
        return _pipeline.active().min_level <= level

    isEnabledFor = is_enabled_for  # noqa: N815 - the stdlib spelling, for drop-in use

    def _emit(
        self,
        pipeline: _pipeline.Pipeline,
        method_name: str,
        event: object,
        args: tuple[Any, ...],
        kw: dict[str, Any],
    ) -> None:
        event_dict = {**self._context, **kw} if self._context else kw
        extra = event_dict.pop("extra", None)
        if extra:
            if isinstance(extra, Mapping):
                for key, value in extra.items():
                    event_dict.setdefault(key, value)
            else:
                event_dict["extra"] = extra
        # Accepted for stdlib compatibility; the record's place is known without it.
        event_dict.pop("stacklevel", None)
        event_dict[EVENT] = _message(event, args)
        event_dict[keys.LOGGER] = self._name
        pipeline.emit(self, method_name, event_dict)


def _message(event: object, args: tuple[Any, ...]) -> str:
    """Apply ``%``-arguments as ``logging`` does; a mismatch keeps both, never raises."""
    if isinstance(event, str):
        if not args:
            return event
        # logging's rule: a lone non-empty mapping fills %(name)s fields.
        lone_mapping = len(args) == 1 and isinstance(args[0], Mapping) and args[0]
        try:
            return event % (args[0] if lone_mapping else args)
        except Exception:  # noqa: BLE001 - a bad format string must not lose the record
            return f"{event} {safe_repr(args, 2000)}"
    if event is None:
        return "" if not args else safe_repr(args, 2000)
    try:
        text = str(event)
    except Exception:  # noqa: BLE001 - a broken __str__ must not lose the record
        text = safe_repr(event)
    return text if not args else f"{text} {safe_repr(args, 2000)}"


_loggers: dict[str, FlextLogger] = {}


def get_logger(name: str | None = None, **initial_values: Any) -> FlextLogger:
    """Return the logger for *name*; safe at import time, before ``configure()``.

    ``get_logger(__name__)`` at module level is the intended use. Initial values are
    bound to every record of the returned logger.
    """
    key = name or ""
    if initial_values:
        return FlextLogger(key, dict(initial_values))
    logger = _loggers.get(key)
    if logger is None:
        logger = _loggers.setdefault(key, FlextLogger(key))
    return logger
