"""An output to a stream (stdout by default): whole lines, one write each, flushed.

Lines are bytes (UTF-8) on the way here. A stream that ``open()`` made (or
``sys.stdout``/``sys.stderr``: a file object over a file descriptor, UTF-8 if it is
text) has what Python buffered in it flushed, then each line goes to its file
descriptor in one ``os.write``: the layers of buffering between would only copy it.
Another binary stream, or the byte buffer under another UTF-8 text stream, gets the
bytes as they are; a text stream without such a buffer gets text.

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

from flext_logging.outputs.base import Output, write_all
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
        "_descriptor",
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
        # What is written to: the stream, its byte buffer, or (for _DESCRIPTOR) the
        # stream flushed before each write to self._descriptor.
        self._target: Any = None
        self._kind = _TEXT
        self._descriptor = -1  # the file descriptor written to, for _DESCRIPTOR
        self._pipe: int | None = None  # the descriptor to lock around each write
        track(self)

    @property
    def stream(self) -> IO[Any]:
        """The stream written to now."""
        return self._stream if self._stream is not None else sys.stdout

    def write(self, line: bytes | str) -> None:
        """Write one rendered line (which already ends in a newline)."""
        stream: Any = self._stream if self._stream is not None else sys.stdout
        if stream is self._checked and self._kind is _FILE and type(line) is bytes:
            # A regular file: after what the stream holds, one os.write, which the
            # kernel keeps whole beside other threads' and processes' writes (no lock).
            # (_flush_then_write inlined for the common case: the path of every record.)
            try:
                self._target.flush()
                written = os.write(self._descriptor, line)
            except Exception:  # noqa: BLE001 - the careful way below counts and recovers
                self._flush_then_write(stream, line)
                return
            if written < len(line):
                self._write_rest(stream, line, written)
            return
        try:
            if stream is not self._checked:
                self._inspect(stream)
            if self._kind is _FILE or self._kind is _DESCRIPTOR:
                self._write_descriptor(stream, line)
            else:
                self._write_stream(stream, line)
        except Exception as exc:  # noqa: BLE001 - logging must never raise into the caller
            record_failure(SINK_FAILED, exc, line_count(line))
            _to_stderr(stream, line)

    def _write_descriptor(self, stream: Any, line: bytes | str) -> None:
        """Write *line* to the stream's descriptor, under the locks, after what it holds."""
        with self._lock:
            pipe = self._pipe
            if pipe is not None:
                _lock_pipe(pipe)
            try:
                self._flush_then_write(stream, line)
            finally:
                if pipe is not None:
                    _unlock_pipe(pipe)

    def _flush_then_write(self, stream: Any, line: bytes | str) -> None:
        """Flush what the stream holds, then write *line* to its descriptor in one write
        (the rest after a signal cut it short); a failure is recovered from."""
        data = line if type(line) is bytes else _as_bytes(line)
        try:
            self._target.flush()
        except Exception as exc:  # noqa: BLE001 - closed, say: its descriptor is not ours
            self._recover(stream, line, data, exc, retry=False)
            return
        try:
            written = os.write(self._descriptor, data)
        except Exception as exc:  # noqa: BLE001 - a transient failure gets one retry
            self._recover(stream, line, data, exc, retry=True)
            return
        if written < len(data):
            self._write_rest(stream, data, written)

    def _write_rest(self, stream: Any, data: bytes, written: int) -> None:
        """Write what a signal left of *data* after its first *written* bytes."""
        try:
            write_all(self._descriptor, data[written:])
        except Exception as exc:  # noqa: BLE001 - a transient failure gets one retry
            self._recover(stream, data, data, exc, retry=True)

    def _recover(
        self, stream: Any, line: bytes | str, data: bytes, exc: Exception, *, retry: bool
    ) -> None:
        """Count a failed write; retry it once after a newline, else the line to stderr."""
        record_failure(SINK_FAILED, exc, line_count(line))
        if retry:
            try:
                # The failed write may have left part of a line: end it first.
                write_all(self._descriptor, b"\n" + data)
            except Exception:  # noqa: BLE001, S110 - counted above; the line goes to stderr
                pass
            else:
                return
        _to_stderr(stream, line)

    def _write_stream(self, stream: Any, line: bytes | str) -> None:
        """Write *line* through the stream object (or its byte buffer) and flush it."""
        kind = self._kind
        data: Any = line
        if kind is _TEXT:
            if isinstance(line, bytes):
                data = line.decode("utf-8", "replace")
        elif isinstance(line, str):
            data = line.encode("utf-8", "backslashreplace")
        target = self._target
        counted = False
        try:
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
            _to_stderr(stream, line)

    def _inspect(self, stream: Any) -> None:
        """Decide how to write to *stream*: as text, as bytes, to its buffer or its file
        descriptor; locked or not.

        Worked out first and stored after, the stream last: a thread writing meanwhile
        (the fast path reads these without the lock) sees the old decision whole or the
        new one whole, never half of each.
        """
        checked = stream
        if _is_celery_proxy(stream):
            _report_redirect()
            stream = sys.__stdout__
        target, kind, descriptor = stream, _TEXT, -1
        own = _own_descriptor(stream)
        if own is not None:
            kind = _FILE if _is_regular_file(own) else _DESCRIPTOR
            descriptor = own
        elif _is_binary(stream):
            kind = _BINARY
        else:
            buffer = getattr(stream, "buffer", None)
            if buffer is not None and _is_utf8(stream):
                target, kind = buffer, _BUFFER
        self._checked = None  # while the fields below change, nobody takes the fast path
        self._target, self._kind, self._descriptor = target, kind, descriptor
        self._pipe = _shared_pipe(stream)
        self._checked = checked

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
_DESCRIPTOR: Final = "descriptor"  # written under the locks (a pipe, a terminal)
_FILE: Final = "file"  # a regular file's descriptor: written without a lock
# The file objects open() makes (and sys.stdout is): nothing but buffering between them
# and the file descriptor. A subclass or any other stream may do more in write().
_BUFFERED: Final = (io.BufferedWriter, io.BufferedRandom)


def _is_regular_file(descriptor: int) -> bool:
    try:
        return stat.S_ISREG(os.fstat(descriptor).st_mode)
    except OSError:
        return False


def _as_bytes(line: bytes | str) -> bytes:
    return line.encode("utf-8", "backslashreplace") if isinstance(line, str) else bytes(line)


def _to_stderr(stream: object, line: bytes | str) -> None:
    if stream is not sys.__stderr__:
        to_stderr(line if isinstance(line, str) else line.decode("utf-8", "replace"))


def _own_descriptor(stream: Any) -> int | None:
    """The file descriptor of *stream* if it is a plain file object over one, else None.

    A text stream must be UTF-8 and a ``TextIOWrapper`` over a ``BufferedWriter`` or
    ``BufferedRandom`` over a ``FileIO``; a binary one one of those; and the descriptor
    must block (a non-blocking one may refuse a write the buffer would have held).
    """
    kind = type(stream)
    if kind is io.TextIOWrapper:
        if not _is_utf8(stream):
            return None
        stream = stream.buffer
        kind = type(stream)
    if kind not in _BUFFERED or type(stream.raw) is not io.FileIO:
        return None
    try:
        descriptor = stream.fileno()
        return descriptor if os.get_blocking(descriptor) else None
    except (OSError, ValueError):
        return None


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
