"""``get_logger()`` and the logger it returns: where a record is built.

A :class:`FlextLogger` accepts both structlog's call style (``info("event", key=value)``)
and the standard library's (``%``-arguments, ``extra=``, ``exc_info=``,
``stack_info=``). It holds no configuration: each call looks up the active pipeline,
so loggers made at import time follow later ``configure()`` calls.

Levels follow the ``logging`` hierarchy: a logger named ``myapp.payments`` is enabled
for a level when the nearest stdlib logger of its dotted name with a level of its own
(``configure(levels=...)`` sets them, and so does ``logging.getLogger(...).setLevel()``)
allows it; without one, the configured level decides. The answer is kept in the
stdlib logger's level cache, which ``logging`` clears whenever any level changes (and
the pipeline clears when it is replaced), so a call below its level costs one
dictionary lookup.

An enabled call hands its parts (time, level, name, message, the logger's bound fields
and the call's) to :attr:`Pipeline.log <flext_logging._pipeline.Pipeline.log>`, which
builds, redacts, renders and writes the record.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable, Mapping
from typing import Any, Final

import structlog

from flext_logging import _pipeline, processors
from flext_logging._jsonsafe import rfc3339, safe_repr
from flext_logging.processors import EVENT, EXC_INFO

__all__ = ["STRUCTLOG_PROCESSORS", "FlextLogger", "get_logger"]

_DEBUG: Final = logging.DEBUG
_INFO: Final = logging.INFO
_WARNING: Final = logging.WARNING
_ERROR: Final = logging.ERROR
_CRITICAL: Final = logging.CRITICAL
_UTC: Final = datetime.timezone.utc
_clock: Final = datetime.datetime.now
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
# Our answers live in the stdlib logger's level cache beside logging's own (whose keys
# are level numbers), under keys of their own: logging clears them on every change.
_CACHE_KEY: Final = "flext_logging:{}".format
_DEBUG_KEY: Final = _CACHE_KEY(_DEBUG)
_INFO_KEY: Final = _CACHE_KEY(_INFO)
_WARNING_KEY: Final = _CACHE_KEY(_WARNING)
_ERROR_KEY: Final = _CACHE_KEY(_ERROR)
_CRITICAL_KEY: Final = _CACHE_KEY(_CRITICAL)

STRUCTLOG_PROCESSORS: list[Any] = []
"""The processor list ``configure()`` gives structlog (empty: records come here).

``structlog.testing.capture_logs()`` fills this very list while it runs; records of
every logger then go to its processors instead, as structlog's own would.
"""


class _Uncached(dict[Any, Any]):
    """Stands in for a level cache that ``logging`` lacks: it keeps no answer."""

    def __setitem__(self, key: Any, value: Any) -> None:
        pass


def _level_cache(name: str) -> dict[Any, Any]:
    """The level cache of the stdlib logger *name*: where a logger's answers are kept."""
    cache = getattr(logging.getLogger(name), "_cache", None)
    return cache if isinstance(cache, dict) else _Uncached()


def _level_method(level: str, number: int, key: str) -> Callable[..., None]:
    """The method that logs at *level*: one cached answer, then the record, in one call.

    What :meth:`FlextLogger._emit` does, inlined: a call less on the path of every
    record (``exception`` and ``log`` go through ``_emit``).
    """

    def log_at_level(self: FlextLogger, event: object = None, *args: Any, **kw: Any) -> None:
        enabled = self._levels.get(key)
        if enabled or (enabled is None and self._decide(number)):
            if STRUCTLOG_PROCESSORS:
                self._emit_to_structlog(level, event, args, kw)
                return
            # The pipeline in force, read without a call (active() builds the default one).
            pipeline = _pipeline._active or _pipeline.active()
            message = event if type(event) is str and not args else _message(event, args)
            bound = self._context
            fields = ({**bound, **kw} if kw else bound) if bound else kw
            clock = pipeline.clock  # a lone preset's own time form, or None
            if clock is None:
                moment = _clock(_UTC)  # processors.now(), inlined: on a whole second, text
                timestamp: object = moment if moment.microsecond else rfc3339(moment)
            else:
                timestamp = clock()
            pipeline.log(self, level, timestamp, level, self._name, message, fields)

    log_at_level.__name__, log_at_level.__qualname__ = level, f"FlextLogger.{level}"
    log_at_level.__doc__ = f"Log at {level} level."
    return log_at_level


class FlextLogger(structlog.BoundLoggerBase):
    """A logger bound to a name (and optional fields), writing through the active pipeline."""

    def __init__(
        self,
        name: str = "",
        context: dict[str, Any] | None = None,
        *,
        _levels: dict[Any, Any] | None = None,
    ) -> None:
        # The wrapped logger and processor list are looked up per call, not held here.
        super().__init__(None, (), context if context is not None else {})
        self._name = name
        self._levels = _level_cache(name) if _levels is None else _levels

    @property
    def name(self) -> str:
        """The logger's name, written as ``logger`` in every record."""
        return self._name

    def bind(self, **new_values: Any) -> FlextLogger:
        """Return a logger that adds *new_values* to every record it makes."""
        return FlextLogger(self._name, {**self._context, **new_values}, _levels=self._levels)

    def new(self, **new_values: Any) -> FlextLogger:
        """Return a logger bound to *new_values* only (the name is kept)."""
        return FlextLogger(self._name, dict(new_values), _levels=self._levels)

    def unbind(self, *keys_to_remove: str) -> FlextLogger:
        """Return a logger without *keys_to_remove*; a missing key raises ``KeyError``."""
        context = dict(self._context)
        for key in keys_to_remove:
            del context[key]
        return FlextLogger(self._name, context, _levels=self._levels)

    def try_unbind(self, *keys_to_remove: str) -> FlextLogger:
        """Like :meth:`unbind`, ignoring keys that are not bound."""
        context = dict(self._context)
        for key in keys_to_remove:
            context.pop(key, None)
        return FlextLogger(self._name, context, _levels=self._levels)

    def __repr__(self) -> str:
        return f"<FlextLogger {self._name!r} context={self._context!r}>"

    # -- Level methods: one cached answer before anything else. ---------------------

    debug = _level_method("debug", _DEBUG, _DEBUG_KEY)
    info = _level_method("info", _INFO, _INFO_KEY)
    msg = info
    warning = _level_method("warning", _WARNING, _WARNING_KEY)
    warn = warning
    error = _level_method("error", _ERROR, _ERROR_KEY)

    def exception(self, event: object = None, *args: Any, **kw: Any) -> None:
        """Log at error level with the exception being handled (``exc_info=True``)."""
        enabled = self._levels.get(_ERROR_KEY)
        if enabled or (enabled is None and self._decide(_ERROR)):
            kw.setdefault(EXC_INFO, True)
            self._emit("exception", "error", event, args, kw)

    critical = _level_method("critical", _CRITICAL, _CRITICAL_KEY)
    fatal = critical

    def log(self, level: int | str, event: object = None, *args: Any, **kw: Any) -> None:
        """Log at *level*, a ``logging`` level number or a level name."""
        if isinstance(level, str):
            method = level.lower()
            number = _METHOD_LEVELS.get(method, _INFO)
            if method not in _METHOD_LEVELS:
                method = "info"
        else:
            number = level
            method = logging.getLevelName(level).lower()
            if method not in _METHOD_LEVELS:
                method = "info" if level < _WARNING else "error"
        if self.is_enabled_for(number):
            self._emit(method, processors.level_name(method), event, args, kw)

    # structlog's async spellings, for code written against its bound loggers. A record
    # is written synchronously: the call is as cheap as the synchronous one.
    async def adebug(self, event: object = None, *args: Any, **kw: Any) -> None:
        """Log at debug level (``await`` spelling)."""
        self.debug(event, *args, **kw)

    async def ainfo(self, event: object = None, *args: Any, **kw: Any) -> None:
        """Log at info level (``await`` spelling)."""
        self.info(event, *args, **kw)

    async def awarning(self, event: object = None, *args: Any, **kw: Any) -> None:
        """Log at warning level (``await`` spelling)."""
        self.warning(event, *args, **kw)

    async def aerror(self, event: object = None, *args: Any, **kw: Any) -> None:
        """Log at error level (``await`` spelling)."""
        self.error(event, *args, **kw)

    async def aexception(self, event: object = None, *args: Any, **kw: Any) -> None:
        """Log at error level with the exception being handled (``await`` spelling)."""
        self.exception(event, *args, **kw)

    async def acritical(self, event: object = None, *args: Any, **kw: Any) -> None:
        """Log at critical level (``await`` spelling)."""
        self.critical(event, *args, **kw)

    async def alog(self, level: int | str, event: object = None, *args: Any, **kw: Any) -> None:
        """Log at *level* (``await`` spelling)."""
        self.log(level, event, *args, **kw)

    def is_enabled_for(self, level: int) -> bool:
        """Tell whether a record at *level* would be written now."""
        enabled = self._levels.get(_CACHE_KEY(level))
        return enabled if enabled is not None else self._decide(level)

    isEnabledFor = is_enabled_for  # noqa: N815 - the stdlib spelling, for drop-in use

    def _decide(self, level: int) -> bool:
        """Work out (and keep) whether *level* is written: the path after a change."""
        pipeline = _pipeline.active()
        enabled = level >= _pipeline.threshold(self._name, pipeline.min_level)
        # Kept only if no configure() ran meanwhile: its cache clearing must win.
        if _pipeline.active() is pipeline:
            self._levels[_CACHE_KEY(level)] = enabled
        return enabled

    def _emit(
        self, method_name: str, level: str, event: object, args: tuple[Any, ...], kw: dict[str, Any]
    ) -> None:
        """Write one record (``exception`` and ``log``); the other level methods inline
        this very body (:func:`_level_method`): keep the two alike."""
        if STRUCTLOG_PROCESSORS:
            self._emit_to_structlog(method_name, event, args, kw)
            return
        # The pipeline in force, read without a call (active() builds the default one).
        pipeline = _pipeline._active or _pipeline.active()
        message = event if type(event) is str and not args else _message(event, args)
        bound = self._context
        fields = ({**bound, **kw} if kw else bound) if bound else kw
        clock = pipeline.clock  # a lone preset's own time form, or None
        if clock is None:
            moment = _clock(_UTC)  # processors.now(), inlined: on a whole second, fixed-width
            timestamp: object = moment if moment.microsecond else rfc3339(moment)
        else:
            timestamp = clock()
        pipeline.log(self, method_name, timestamp, level, self._name, message, fields)

    def _emit_to_structlog(
        self, method_name: str, event: object, args: tuple[Any, ...], kw: dict[str, Any]
    ) -> None:
        """structlog's processors are in force (``structlog.testing.capture_logs()``)."""
        event_dict: Any = {**self._context, **kw, EVENT: _message(event, args)}
        try:
            for processor in STRUCTLOG_PROCESSORS:
                event_dict = processor(self, method_name, event_dict)
        except structlog.DropEvent:
            return


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
    logger = _loggers.get(key)
    if logger is None:
        logger = _loggers.setdefault(key, FlextLogger(key))
    if initial_values:
        return logger.bind(**initial_values)
    return logger
