"""The active pipeline: processors, renderer and destination, swapped whole on configure.

Loggers and the stdlib bridge look the pipeline up on every record, so a re-configure
reaches loggers handed out earlier. A pipeline is immutable once built; ``configure()``
replaces it with one assignment, so a record never sees half of an old configuration.

Nothing here raises into the application: failures of processors and destinations are
counted and reported once on stderr. The writers put each record out as whole lines:
:class:`StreamWriter` directly, :class:`AsyncWriter` from a background thread, flushed
by :func:`shutdown` and at interpreter exit.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime
import io
import json
import logging
import os
import queue
import sys
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import IO, Any, Final

import structlog

from flext_logging import keys
from flext_logging._jsonsafe import rfc3339, safe_repr, truncate

__all__ = [
    "OVERFLOW_POLICIES",
    "AsyncWriter",
    "Pipeline",
    "StreamWriter",
    "active",
    "failure_counts",
    "install",
    "replace",
    "reset_failures",
    "shutdown",
]

Processor = Callable[[Any, str, dict[str, Any]], Any]

LEVELS: Final = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}

# -- Failures: counted always, reported on stderr once per kind. ----------------------

_PROCESSOR_FAILED: Final = "processor"
_SINK_FAILED: Final = "sink"
_FAILURE_TEXT: Final = {
    _PROCESSOR_FAILED: (
        "a processor or renderer failed; the record was written in a minimal form "
        f"with a {keys.LOGGING_ERROR} field"
    ),
    _SINK_FAILED: (
        "could not write to the log destination; records go to stderr until it works again"
    ),
}
_failures: dict[str, int] = dict.fromkeys(_FAILURE_TEXT, 0)
_failure_lock = threading.Lock()


def failure_counts() -> dict[str, int]:
    """Return how many records failed since start-up, by ``processor`` and ``sink``."""
    return dict(_failures)


def reset_failures() -> None:
    """Zero the failure counts, so the next failure is reported again (for tests)."""
    with _failure_lock:
        for kind in _failures:
            _failures[kind] = 0


def _record_failure(kind: str, exc: BaseException, records: int = 1) -> None:
    with _failure_lock:
        first = _failures[kind] == 0
        _failures[kind] += records
    if first:  # once: a broken sink must not turn into one stderr line per record
        _to_stderr(
            f"flext_logging: {_FAILURE_TEXT[kind]} ({type(exc).__qualname__}: "
            f"{safe_repr(exc, 300)}); further failures are counted, not reported\n"
        )


def _to_stderr(text: str) -> bool:
    stderr = sys.__stderr__
    if stderr is None:
        return False
    try:
        stderr.write(text)
        stderr.flush()
    except Exception:  # noqa: BLE001 - nowhere left to report to
        return False
    return True


class StreamWriter:
    """Write rendered lines to a stream: whole lines, one write each, flushed; never raises.

    With no stream given, ``sys.stdout`` is looked up on every write, so redirection
    (and pytest's capture) is honoured. Binary streams receive bytes, text streams str.
    When the stream fails (closed, disk full, a sink that raises) the failure is
    counted and reported once on stderr; a failed write is retried once after a
    newline (ending any part of a line it left), and the line goes to stderr when the
    retry or the flush fails.
    """

    __slots__ = ("__weakref__", "_binary", "_checked", "_lock", "_stream")

    def __init__(self, stream: IO[Any] | None = None) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._checked: object = None  # the stream whose kind _binary describes
        self._binary = False
        _stream_writers.add(self)
        _install_process_hooks()

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
                    _record_failure(_SINK_FAILED, exc, _line_count(line))
                    counted = True
                    # The failed write may have left part of a line: end it first.
                    stream.write((b"\n" + data) if isinstance(data, bytes) else ("\n" + data))
                # A failed flush is not retried: the line may be in the stream's buffer.
                stream.flush()
        except Exception as exc:  # noqa: BLE001 - logging must never raise into the caller
            if not counted:
                _record_failure(_SINK_FAILED, exc, _line_count(line))
            if stream is not sys.__stderr__:
                _to_stderr(line if isinstance(line, str) else line.decode("utf-8", "replace"))

    def flush(self) -> None:
        """Flush the stream, ignoring a stream that cannot be flushed."""
        with contextlib.suppress(Exception):
            self.stream.flush()


def _line_count(lines: bytes | str) -> int:
    # The background writer joins several lines into one write: count records, not writes.
    return max(lines.count(b"\n" if isinstance(lines, bytes) else "\n"), 1)  # type: ignore[arg-type]  # same type


def _is_binary(stream: IO[Any]) -> bool:
    return isinstance(stream, (io.RawIOBase, io.BufferedIOBase)) or "b" in getattr(
        stream, "mode", ""
    )


# -- Optional non-blocking output. ---------------------------------------------------

OVERFLOW_POLICIES: Final = ("block", "drop")
"""What a full ``async_output`` queue does: wait for room, or drop and count."""
DEFAULT_QUEUE_SIZE: Final = 10_000
"""Lines the ``async_output`` queue holds unless ``queue_size`` says otherwise."""
_DROP_REPORT_SECONDS: Final = 1.0
_BATCH_LINES: Final = 256  # lines joined into one write by the background thread
_CLOSE_TIMEOUT_SECONDS: Final = 10.0
_STOP: Final = object()


class AsyncWriter:
    """Hand lines to one background daemon thread through a bounded queue.

    When the queue is full, ``overflow="block"`` waits for room and ``"drop"`` drops
    the line and counts it; the count is reported by *on_dropped* (a
    ``log_records_dropped`` record) at most once a second and when the writer closes.
    The thread starts on the first line, so a forked child starts its own. After
    :meth:`close` (``shutdown()``, a new ``configure()``, interpreter exit) lines are
    written synchronously.
    """

    __slots__ = (
        "__weakref__",
        "_closed",
        "_dropped",
        "_lock",
        "_overflow",
        "_queue",
        "_queue_size",
        "_thread",
        "on_dropped",
        "writer",
    )

    def __init__(
        self,
        writer: StreamWriter,
        *,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        overflow: str = "block",
    ) -> None:
        if overflow not in OVERFLOW_POLICIES:
            raise ValueError(f"overflow must be 'block' or 'drop', not {overflow!r}")
        if isinstance(queue_size, bool) or not isinstance(queue_size, int) or queue_size < 1:
            raise ValueError(f"queue_size must be a positive integer, not {queue_size!r}")
        self.writer = writer
        """The synchronous writer the background thread writes through."""
        self.on_dropped: Callable[[int], None] | None = None
        """Called with the number of lines dropped since the last call."""
        self._overflow = overflow
        self._queue_size = queue_size
        self._queue: queue.Queue[object] = queue.Queue(queue_size)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._dropped = 0
        _async_writers.add(self)

    @property
    def stream(self) -> IO[Any]:
        """The stream written to now."""
        return self.writer.stream

    @property
    def dropped(self) -> int:
        """Lines dropped and not yet reported."""
        return self._dropped

    def write(self, line: bytes | str) -> None:
        """Queue one rendered line, or write it now once closed or on the writer thread."""
        thread = self._thread
        if thread is None and not self._closed:
            thread = self._start()
        if self._closed or thread is None or thread is threading.current_thread():
            self.writer.write(line)  # the writer thread logging must not wait on itself
            return
        if self._overflow == "drop":
            try:
                self._queue.put_nowait(line)
            except queue.Full:
                with self._lock:
                    self._dropped += 1
            return
        while True:
            try:
                self._queue.put(line, timeout=_DROP_REPORT_SECONDS)
            except queue.Full:  # noqa: PERF203 - the wait itself is the slow part
                if not thread.is_alive():  # e.g. interpreter teardown: never hang
                    self.writer.write(line)
                    return
            else:
                return

    def flush(self) -> None:
        """Wait until every line queued so far is written (no-op once closed)."""
        if self._thread is not None and not self._closed:
            self._queue.join()
        self.writer.flush()

    def close(self) -> None:
        """Write every queued line, report drops, stop the thread; later lines go direct."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            thread = self._thread
        if thread is not None and thread.is_alive():
            with contextlib.suppress(queue.Full):  # a destination stuck for good
                self._queue.put(_STOP, timeout=_CLOSE_TIMEOUT_SECONDS)
            thread.join(_CLOSE_TIMEOUT_SECONDS)
        self._drain()  # lines queued while the thread was stopping
        self._report_dropped()
        self.writer.flush()

    def _start(self) -> threading.Thread | None:
        with self._lock:
            if self._thread is None and not self._closed:
                thread = threading.Thread(
                    target=self._run, name="flext_logging-writer", daemon=True
                )
                thread.start()
                self._thread = thread
                _install_multiprocessing_finalizer()
            return self._thread

    def _run(self) -> None:
        get = self._queue.get
        while True:
            try:
                item = get(timeout=_DROP_REPORT_SECONDS)
            except queue.Empty:
                self._report_dropped()
                continue
            batch = [item]
            with contextlib.suppress(queue.Empty):
                while len(batch) < _BATCH_LINES:
                    batch.append(self._queue.get_nowait())
            stop = any(entry is _STOP for entry in batch)
            self._write_batch([entry for entry in batch if entry is not _STOP])  # type: ignore[misc]  # lines only
            for _ in batch:
                self._queue.task_done()
            if self._dropped:
                self._report_dropped()
            if stop:
                return

    def _write_batch(self, lines: list[bytes | str]) -> None:
        # Whole lines joined: one write per batch, never part of a line.
        if not lines:
            return
        if all(isinstance(line, bytes) for line in lines):
            self.writer.write(b"".join(lines))  # type: ignore[arg-type]  # all bytes
        elif all(isinstance(line, str) for line in lines):
            self.writer.write("".join(lines))  # type: ignore[arg-type]  # all str
        else:
            for line in lines:
                self.writer.write(line)

    def _drain(self) -> None:
        lines: list[bytes | str] = []
        with contextlib.suppress(queue.Empty):
            while True:
                item = self._queue.get_nowait()
                if item is not _STOP:
                    lines.append(item)  # type: ignore[arg-type]  # only lines and _STOP are queued
        self._write_batch(lines)

    def _report_dropped(self) -> None:
        with self._lock:
            count, self._dropped = self._dropped, 0
        if count and self.on_dropped is not None:
            self.on_dropped(count)

    def _after_fork_in_child(self) -> None:
        # The parent's queued lines are the parent's to write; its thread is gone.
        self._queue = queue.Queue(self._queue_size)
        self._lock = threading.Lock()
        self._thread = None
        self._dropped = 0


Writer = StreamWriter | AsyncWriter
"""What a pipeline writes its lines through."""
_stream_writers: weakref.WeakSet[StreamWriter] = weakref.WeakSet()
_async_writers: weakref.WeakSet[AsyncWriter] = weakref.WeakSet()


class Pipeline:
    """One immutable configuration of the record path."""

    __slots__ = ("enrichers", "log_operations", "min_level", "processors", "renderer", "writer")

    def __init__(
        self,
        enrichers: Sequence[Processor],
        renderer: Processor,
        writer: Writer,
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
        if isinstance(writer, AsyncWriter) and writer.on_dropped is None:
            writer.on_dropped = self._report_dropped

    def emit(self, logger: Any, method_name: str, event_dict: dict[str, Any]) -> None:
        """Run *event_dict* through the processors and write the result; never raises.

        A processor may drop the record with ``structlog.DropEvent``. If anything else
        fails, the failure is counted (reported on stderr the first time) and a
        minimal record naming it is written instead, so the line is not lost and the
        application never sees the error.
        """
        # Processors take the name and message out of the dict they are given; keep
        # them for the fallback record.
        name = event_dict.get(keys.LOGGER)
        message = event_dict.get("event") or event_dict.get(keys.MESSAGE)
        result: Any = event_dict
        try:
            for processor in self.processors:
                result = processor(logger, method_name, result)
        except structlog.DropEvent:
            return
        except Exception as exc:  # noqa: BLE001 - logging must never raise into the caller
            _record_failure(_PROCESSOR_FAILED, exc)
            self.writer.write(_fallback_line(method_name, name, message, exc))
            return
        if result is not None:
            self.writer.write(result)

    def close(self) -> None:
        """Stop this pipeline's background writer, if it has one, writing what it queued."""
        if isinstance(self.writer, AsyncWriter):
            self.writer.close()

    def _report_dropped(self, count: int) -> None:
        self.emit(
            None,
            "warning",
            {
                "event": keys.EVENT_RECORDS_DROPPED,
                keys.LOGGER: "flext_logging",
                keys.DROPPED_COUNT: count,
            },
        )


def _fallback_line(method_name: str, name: object, message: object, exc: Exception) -> str:
    from flext_logging.processors import level_name

    record = {
        keys.TIMESTAMP: rfc3339(datetime.datetime.now(datetime.timezone.utc)),
        keys.LEVEL: level_name(method_name),
        keys.LOGGER: _text(name, 200),
        keys.MESSAGE: _text(message, 2000),
        keys.LOGGING_ERROR: f"{type(exc).__qualname__}: {safe_repr(exc, 500)}",
    }
    # ensure_ascii escapes every control and line-breaking character: one line.
    return json.dumps(record, ensure_ascii=True) + "\n"


def _text(value: object, limit: int) -> str:
    if value is None:
        return ""
    return truncate(value, limit) if isinstance(value, str) else safe_repr(value, limit)


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


def replace(pipeline: Pipeline | None) -> None:
    """Install *pipeline* and close the one it replaces (its queued lines are written)."""
    previous = _active
    install(pipeline)
    if previous is not None and previous is not pipeline:
        previous.close()


def shutdown() -> None:
    """Write every queued record and stop the background writers; flush the destination.

    Runs at interpreter exit on its own. Logging keeps working afterwards, writing
    synchronously; call it before ``os._exit()`` or when a signal handler ends the
    process, which skip the exit hooks.
    """
    for writer in list(_async_writers):
        writer.close()
    pipeline = _active
    if pipeline is not None:
        pipeline.writer.flush()


def _at_exit() -> None:
    counts = dict(_failures)
    shutdown()
    if any(count > 1 for count in counts.values()):
        totals = ", ".join(f"{kind}: {count}" for kind, count in counts.items() if count)
        _to_stderr(f"flext_logging: records that failed while this process ran: {totals}\n")


_held_at_fork: list[StreamWriter] = []


def _before_fork() -> None:
    """Hold every writer's lock across fork(), with its stream flushed.

    Otherwise a fork between a writer's write() and flush() would copy that line into
    the child's stream buffer, and the child would write the parent's line again.
    """
    for stream_writer in list(_stream_writers):
        stream_writer._lock.acquire()
        _held_at_fork.append(stream_writer)
        with contextlib.suppress(Exception):  # a broken stream is reported when used
            stream_writer.stream.flush()


def _after_fork_in_parent() -> None:
    while _held_at_fork:
        _held_at_fork.pop()._lock.release()


def _after_fork_in_child() -> None:
    global _failure_lock, _multiprocessing_finalizer_installed  # noqa: PLW0603 - per process
    _held_at_fork.clear()  # the child gets fresh locks below
    _failure_lock = threading.Lock()
    # multiprocessing clears its finalizers in a child: the child registers its own.
    _multiprocessing_finalizer_installed = False
    for stream_writer in list(_stream_writers):
        stream_writer._lock = threading.Lock()
    for async_writer in list(_async_writers):
        async_writer._after_fork_in_child()


_hooks_installed = False
_multiprocessing_finalizer_installed = False


def _install_process_hooks() -> None:
    """Register the exit and fork hooks once, when the first writer is made (not at import)."""
    global _hooks_installed  # noqa: PLW0603 - set once per process
    if _hooks_installed:
        return
    _hooks_installed = True
    atexit.register(_at_exit)
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(
            before=_before_fork,
            after_in_parent=_after_fork_in_parent,
            after_in_child=_after_fork_in_child,
        )


def _install_multiprocessing_finalizer() -> None:
    """Flush at the end of a multiprocessing child, which ends with os._exit() (no atexit)."""
    global _multiprocessing_finalizer_installed  # noqa: PLW0603 - set once per process
    mp_util = sys.modules.get("multiprocessing.util")
    if mp_util is None or _multiprocessing_finalizer_installed:
        return
    _multiprocessing_finalizer_installed = True
    # One finalizer for the process: shutdown() closes whichever writers are alive then.
    mp_util.Finalize(None, shutdown, exitpriority=100)
