"""An output to a stream (stdout by default): whole lines, one write each, flushed.

Lines are bytes (UTF-8) on the way here; they go to a binary stream, or to the byte
buffer under a UTF-8 text stream such as ``sys.stdout``, as they are: no decoding and
encoding again. A text stream without such a buffer gets text.

When the stream is a pipe or a socket, which several processes often share (the
workers of a server writing to a container's stdout), POSIX keeps a write whole only
up to ``PIPE_BUF`` (4096 bytes on Linux); a longer record could be split by another
process's line. So on a pipe each record is written under an advisory lock on the pipe
(``fcntl.lockf``), which every flext-logging process writing to it takes: records of
any size stay whole. The kernel releases the lock of a process that dies.
"""

from __future__ import annotations

import codecs
import contextlib
import io
import os
import stat
import sys
import threading
from typing import IO, Any, Final

from flext_logging.outputs.base import Output
from flext_logging.outputs.failures import SINK_FAILED, record_failure, to_stderr
from flext_logging.outputs.lifecycle import track

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows has no pipes shared this way
    fcntl = None  # type: ignore[assignment]

__all__ = ["StreamOutput", "line_count"]

_REDIRECT_TEXT: Final = (
    "flext_logging: sys.stdout was replaced by Celery's logging proxy "
    "(worker_redirect_stdouts); log lines are written to the process's own stdout "
    "instead. To keep Celery from reconfiguring logging at all, call "
    "flext_logging.integrations.celery.install(app) (it connects Celery's setup_logging "
    "signal) or connect a setup_logging receiver yourself.\n"
)
_redirect_reported = False


class StreamOutput(Output):
    """Write rendered lines to a stream: whole lines, one write each, flushed; never raises.

    With no stream given, ``sys.stdout`` is looked up on every write, so redirection
    (and pytest's capture) is honoured. *format*, *level* and *schema* (a JSON schema
    preset), when given, are this output's own (``configure(outputs=[...])``);
    otherwise ``configure()``'s apply.
    When the stream fails (closed, disk full, a sink that raises) the failure is
    counted and reported once on stderr; a failed write is retried once after a
    newline (ending any part of a line it left), and the line goes to stderr when the
    retry or the flush fails.
    """

    __slots__ = (
        "_checked",
        "_kind",
        "_lock",
        "_pipe",
        "_stream",
        "_target",
        "format",
        "level",
        "schema",
    )

    def __init__(
        self,
        stream: IO[Any] | None = None,
        *,
        format: str | None = None,  # noqa: A002 - the name configure() uses
        level: int | str | None = None,
        schema: str | None = None,
    ) -> None:
        self._stream = stream
        self.format = format
        self.level = level
        self.schema = schema
        self._lock = threading.Lock()
        self._checked: object = None  # the stream the fields below describe
        self._target: Any = None  # what is written to: the stream or its byte buffer
        self._kind = _TEXT
        self._pipe: int | None = None  # the descriptor to lock around each write
        track(self)

    @property
    def stream(self) -> IO[Any]:
        """The stream written to now."""
        return self._stream if self._stream is not None else sys.stdout

    def write(self, line: bytes | str) -> None:
        """Write one rendered line (which already ends in a newline)."""
        stream: Any = self._stream if self._stream is not None else sys.stdout
        counted = False
        try:
            if stream is not self._checked:
                self._inspect(stream)
            kind = self._kind
            data: bytes | str = line
            if kind is _TEXT:
                if isinstance(line, bytes):
                    data = line.decode("utf-8", "replace")
            elif isinstance(line, str):
                data = line.encode("utf-8", "backslashreplace")
            target = self._target
            with self._lock:
                pipe = self._pipe
                if pipe is not None:
                    _lock_pipe(pipe)
                try:
                    if kind is _BUFFER:
                        stream.flush()  # text written before this line goes first
                    try:
                        target.write(data)
                    except Exception as exc:  # noqa: BLE001 - a transient failure gets one retry
                        record_failure(SINK_FAILED, exc, line_count(line))
                        counted = True
                        # The failed write may have left part of a line: end it first.
                        target.write((b"\n" + data) if isinstance(data, bytes) else ("\n" + data))
                    # A failed flush is not retried: the line may be in the stream's buffer.
                    target.flush()
                finally:
                    if pipe is not None:
                        _unlock_pipe(pipe)
        except Exception as exc:  # noqa: BLE001 - logging must never raise into the caller
            if not counted:
                record_failure(SINK_FAILED, exc, line_count(line))
            if stream is not sys.__stderr__:
                to_stderr(line if isinstance(line, str) else line.decode("utf-8", "replace"))

    def _inspect(self, stream: Any) -> None:
        """Decide how to write to *stream*: as text, as bytes, to its buffer; locked or not."""
        self._checked = stream
        if _is_celery_proxy(stream):
            _report_redirect()
            stream = sys.__stdout__
        self._target = stream
        self._kind = _TEXT
        if _is_binary(stream):
            self._kind = _BINARY
        else:
            buffer = getattr(stream, "buffer", None)
            if buffer is not None and _is_utf8(stream):
                self._target = buffer
                self._kind = _BUFFER
        self._pipe = _shared_pipe(stream)

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
        """Take a fresh lock, and look at the stream again (a server may redirect it)."""
        self._lock = threading.Lock()
        self._checked = None


_TEXT: Final = "text"
_BINARY: Final = "binary"
_BUFFER: Final = "buffer"


def line_count(lines: bytes | str) -> int:
    """How many records *lines* holds (a background writer joins several into one write)."""
    return max(lines.count(b"\n" if isinstance(lines, bytes) else "\n"), 1)  # type: ignore[arg-type]  # same type


def _is_binary(stream: Any) -> bool:
    return isinstance(stream, (io.RawIOBase, io.BufferedIOBase)) or "b" in getattr(
        stream, "mode", ""
    )


def _is_utf8(stream: Any) -> bool:
    encoding = getattr(stream, "encoding", None)
    if not isinstance(encoding, str):
        return False
    try:
        return codecs.lookup(encoding).name == "utf-8"
    except LookupError:
        return False


def _shared_pipe(stream: Any) -> int | None:
    """The descriptor of *stream* if it is a pipe or socket that can be locked, else None."""
    if fcntl is None:  # pragma: no cover - Windows
        return None
    try:
        descriptor = stream.fileno()
        mode = os.fstat(descriptor).st_mode
    except (AttributeError, OSError, ValueError):
        return None  # io.UnsupportedOperation is an OSError
    if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)):
        return None
    try:
        _lock_pipe(descriptor)
        _unlock_pipe(descriptor)
    except OSError:
        return None  # no locks there: one write per record is what remains
    return int(descriptor)


def _lock_pipe(descriptor: int) -> None:
    fcntl.lockf(descriptor, fcntl.LOCK_EX)


def _unlock_pipe(descriptor: int) -> None:
    fcntl.lockf(descriptor, fcntl.LOCK_UN)


def _is_celery_proxy(stream: Any) -> bool:
    kind = type(stream)
    return kind.__name__ == "LoggingProxy" and kind.__module__.startswith("celery.")


def _report_redirect() -> None:
    global _redirect_reported  # noqa: PLW0603 - once per process
    if not _redirect_reported:
        _redirect_reported = True
        to_stderr(_REDIRECT_TEXT)
