"""The active pipeline: processors, renderer and destination, swapped whole on configure.

Loggers and the stdlib bridge look the pipeline up on every record, so a re-configure
reaches loggers handed out earlier. A pipeline is immutable once built; ``configure()``
replaces it with one assignment, so a record never sees half of an old configuration.
"""

from __future__ import annotations

import contextlib
import datetime
import io
import json
import logging
import sys
import threading
from collections.abc import Callable, Sequence
from typing import IO, Any, Final

import structlog

from flext_logging import keys
from flext_logging._jsonsafe import rfc3339, safe_repr, truncate

__all__ = ["Pipeline", "StreamWriter", "active", "install"]

Processor = Callable[[Any, str, dict[str, Any]], Any]

LEVELS: Final = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}


class StreamWriter:
    """Write rendered lines to a stream: whole lines, one write each, flushed.

    With no stream given, ``sys.stdout`` is looked up on every write, so redirection
    (and pytest's capture) is honoured. Binary streams receive bytes, text streams str.
    """

    __slots__ = ("_binary", "_checked", "_lock", "_stream")

    def __init__(self, stream: IO[Any] | None = None) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._checked: object = None  # the stream whose kind _binary describes
        self._binary = False

    @property
    def stream(self) -> IO[Any]:
        """The stream written to now."""
        return self._stream if self._stream is not None else sys.stdout

    def write(self, line: bytes | str) -> None:
        """Write one rendered line (which already ends in a newline)."""
        stream: IO[Any] = self._stream if self._stream is not None else sys.stdout
        if stream is not self._checked:
            self._binary = _is_binary(stream)
            self._checked = stream
        data: bytes | str = line
        if self._binary:
            if isinstance(line, str):
                data = line.encode("utf-8", "backslashreplace")
        elif isinstance(line, bytes):
            data = line.decode("utf-8", "replace")
        with self._lock:
            stream.write(data)
            stream.flush()


def _is_binary(stream: IO[Any]) -> bool:
    return isinstance(stream, (io.RawIOBase, io.BufferedIOBase)) or "b" in getattr(
        stream, "mode", ""
    )


class Pipeline:
    """One immutable configuration of the record path."""

    __slots__ = ("enrichers", "log_operations", "min_level", "processors", "renderer", "writer")

    def __init__(
        self,
        enrichers: Sequence[Processor],
        renderer: Processor,
        writer: StreamWriter,
        *,
        min_level: int = logging.INFO,
        log_operations: bool = True,
    ) -> None:
        self.enrichers = tuple(enrichers)
        """Every step before rendering; the stdlib JsonFormatter runs these too."""
        self.renderer = renderer
        self.processors = (*self.enrichers, renderer)
        self.writer = writer
        self.min_level = min_level
        self.log_operations = log_operations

    def emit(self, logger: Any, method_name: str, event_dict: dict[str, Any]) -> None:
        """Run *event_dict* through the processors and write the result; never raises.

        A processor may drop the record with ``structlog.DropEvent``. If anything else
        fails, a minimal record naming the failure is written instead, so the line is
        not lost and the application never sees the error.
        """
        # Processors take the name and message out of the dict they are given; keep
        # them for the fallback record.
        name = event_dict.get(keys.LOGGER)
        message = event_dict.get("event") or event_dict.get(keys.MESSAGE)
        result: Any = event_dict
        try:
            for processor in self.processors:
                result = processor(logger, method_name, result)
            if result is not None:
                self.writer.write(result)
        except structlog.DropEvent:
            return
        except Exception as exc:  # noqa: BLE001 - logging must never raise into the caller
            _write_fallback(self.writer, method_name, name, message, exc)


def _write_fallback(
    writer: StreamWriter, method_name: str, name: object, message: object, exc: Exception
) -> None:
    from flext_logging.processors import level_name

    record = {
        keys.TIMESTAMP: rfc3339(datetime.datetime.now(datetime.timezone.utc)),
        keys.LEVEL: level_name(method_name),
        keys.LOGGER: _text(name, 200),
        keys.MESSAGE: _text(message, 2000),
        "logging_error": f"{type(exc).__qualname__}: {safe_repr(exc, 500)}",
    }
    line = json.dumps(record, ensure_ascii=True) + "\n"
    try:
        writer.write(line)
    except Exception:  # noqa: BLE001 - the destination itself is broken: say so on stderr
        _report_broken_destination(line)


def _text(value: object, limit: int) -> str:
    if value is None:
        return ""
    return truncate(value, limit) if isinstance(value, str) else safe_repr(value, limit)


def _report_broken_destination(line: str) -> None:
    stderr = sys.__stderr__
    if stderr is None:
        return
    with contextlib.suppress(Exception):  # nowhere left to report to
        stderr.write(f"flext_logging: could not write a record: {line}")


_active: Pipeline | None = None
_install_lock = threading.Lock()


def active() -> Pipeline:
    """Return the pipeline in force, building the default one on first use."""
    pipeline = _active
    if pipeline is None:
        from flext_logging._config import default_pipeline

        with _install_lock:
            if _active is None:
                install(default_pipeline())
            pipeline = _active
    return pipeline  # type: ignore[return-value]  # set just above


def install(pipeline: Pipeline | None) -> None:
    """Make *pipeline* the one in force (``None`` returns to the default on next use)."""
    global _active  # noqa: PLW0603 - the single swap point of the live configuration
    _active = pipeline
