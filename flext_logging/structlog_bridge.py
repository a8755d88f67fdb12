"""structlog code in a flext-logging process: ``structlog.get_logger()`` writes our records.

``configure()`` calls :func:`route_structlog` unless ``capture_structlog=False``: from
then on every ``structlog.get_logger()`` logger is a :class:`~flext_logging.FlextLogger`
named after its module (or the name it was given), so its records get this library's
head, context, redaction and outputs; values bound with
``structlog.contextvars.bind_contextvars()`` are merged into every record anyway.

structlog's own testing helper keeps working: ``structlog.testing.capture_logs()``
replaces the contents of the processor list handed to structlog here
(:data:`~flext_logging.logger.STRUCTLOG_PROCESSORS`), and while it does, records of
every logger go to it, as structlog's would.

Records that reach ``logging`` from a structlog configured by the application with
``ProcessorFormatter.wrap_for_formatter`` are understood by ``FlextHandler`` instead.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Final

import structlog

from flext_logging.logger import STRUCTLOG_PROCESSORS, FlextLogger

__all__ = ["StructlogLogger", "restore_structlog", "route_structlog", "routed_structlog"]

_SKIPPED_FRAMES: Final = ("structlog", "flext_logging.")


class StructlogLogger(FlextLogger):
    """The logger ``structlog.get_logger()`` returns once structlog is routed here."""

    def __init__(
        self,
        logger: Any = "",
        processors: Iterable[Any] = (),
        context: dict[str, Any] | None = None,
    ) -> None:
        # structlog hands over what the logger factory made: here, the logger's name.
        name = logger if isinstance(logger, str) else str(getattr(logger, "name", "") or "")
        super().__init__(name, dict(context) if context else None)


def logger_name(*args: Any) -> str:
    """The logger factory given to structlog: the name asked for, else the caller's module.

    ``structlog.get_logger("billing")`` is named ``billing``; ``structlog.get_logger()``
    is named after the module that first uses it, as structlog's stdlib factory does.
    """
    if args:
        first = args[0]
        return first if isinstance(first, str) else str(getattr(first, "name", "") or "")
    frame = sys._getframe(1)
    while frame is not None:
        module = frame.f_globals.get("__name__") or ""
        if not module.startswith(_SKIPPED_FRAMES):
            return str(module)
        frame = frame.f_back  # type: ignore[assignment]  # the loop ends on None
    return ""


# structlog's configuration as the application left it, while ours is in force.
_saved: list[dict[str, Any]] = []


def route_structlog() -> None:
    """Make ``structlog.get_logger()`` return loggers that write through this library.

    Loggers structlog cached before (``cache_logger_on_first_use``) keep what they
    were; calling it again is harmless. :func:`restore_structlog` undoes it.
    """
    if not _saved:
        config = structlog.get_config()
        config["is_configured"] = structlog.is_configured()
        _saved.append(config)
    del STRUCTLOG_PROCESSORS[:]  # a capture_logs() interrupted mid-way leaves nothing
    structlog.configure(
        processors=STRUCTLOG_PROCESSORS,
        # bind() on it returns a plain FlextLogger, not the subclass structlog's protocol names.
        wrapper_class=StructlogLogger,  # type: ignore[arg-type]
        context_class=dict,
        logger_factory=logger_name,
        cache_logger_on_first_use=True,
    )


def restore_structlog() -> None:
    """Give structlog back the configuration it had before :func:`route_structlog`."""
    if not _saved:
        return
    config = _saved.pop()
    if config.pop("is_configured"):
        structlog.configure(**config)
    else:
        structlog.reset_defaults()


def is_routed() -> bool:
    """Tell whether structlog currently writes through this library."""
    return bool(_saved) and structlog.get_config()["wrapper_class"] is StructlogLogger


@contextmanager
def routed_structlog() -> Iterator[None]:
    """Route structlog here for a block, if it is not already (``capture_logs()``)."""
    if is_routed():
        yield
        return
    route_structlog()
    try:
        yield
    finally:
        restore_structlog()
