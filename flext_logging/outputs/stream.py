"""An output to a stream (stdout by default): whole lines, one write each, flushed."""

from __future__ import annotations

import contextlib
import io
import sys
import threading
from typing import IO, Any

from flext_logging.outputs.base import Output
from flext_logging.outputs.failures import SINK_FAILED, record_failure, to_stderr
from flext_logging.outputs.lifecycle import track

__all__ = ["StreamOutput", "line_count"]


class StreamOutput(Output):
    """Write rendered lines to a stream: whole lines, one write each, flushed; never raises.

    With no stream given, ``sys.stdout`` is looked up on every write, so redirection
    (and pytest's capture) is honoured. Binary streams receive bytes, text streams str.
    When the stream fails (closed, disk full, a sink that raises) the failure is
    counted and reported once on stderr; a failed write is retried once after a
    newline (ending any part of a line it left), and the line goes to stderr when the
    retry or the flush fails.
    """

    __slots__ = ("_binary", "_checked", "_lock", "_stream")

    def __init__(self, stream: IO[Any] | None = None) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._checked: object = None  # the stream whose kind _binary describes
        self._binary = False
        track(self)

    @property
    def stream(self) -> IO[Any]:
        """The stream written to now."""
        return self._stream if self._stream is not None else sys.stdout

    def write(self, line: bytes | str) -> None:
        """Write one rendered line (which already ends in a newline)."""
        stream: IO[Any] = self._stream if self._stream is not None else sys.stdout
        counted = False
        try:
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
                try:
                    stream.write(data)
                except Exception as exc:  # noqa: BLE001 - a transient failure gets one retry
                    record_failure(SINK_FAILED, exc, line_count(line))
                    counted = True
                    # The failed write may have left part of a line: end it first.
                    stream.write((b"\n" + data) if isinstance(data, bytes) else ("\n" + data))
                # A failed flush is not retried: the line may be in the stream's buffer.
                stream.flush()
        except Exception as exc:  # noqa: BLE001 - logging must never raise into the caller
            if not counted:
                record_failure(SINK_FAILED, exc, line_count(line))
            if stream is not sys.__stderr__:
                to_stderr(line if isinstance(line, str) else line.decode("utf-8", "replace"))

    def flush(self) -> None:
        """Flush the stream, ignoring a stream that cannot be flushed."""
        with contextlib.suppress(Exception):
            self.stream.flush()

    def before_fork(self) -> None:
        """Hold the lock across ``fork()``, with the stream flushed.

        Otherwise a fork between a write and its flush would copy that line into the
        child's stream buffer, and the child would write the parent's line again.
        """
        self._lock.acquire()
        with contextlib.suppress(Exception):  # a broken stream is reported when used
            self.stream.flush()

    def after_fork_in_parent(self) -> None:
        """Release the lock held across ``fork()``."""
        self._lock.release()

    def after_fork_in_child(self) -> None:
        """Take a fresh lock: the parent's copy is held."""
        self._lock = threading.Lock()


def line_count(lines: bytes | str) -> int:
    """How many records *lines* holds (a background writer joins several into one write)."""
    return max(lines.count(b"\n" if isinstance(lines, bytes) else "\n"), 1)  # type: ignore[arg-type]  # same type


def _is_binary(stream: IO[Any]) -> bool:
    return isinstance(stream, (io.RawIOBase, io.BufferedIOBase)) or "b" in getattr(
        stream, "mode", ""
    )
