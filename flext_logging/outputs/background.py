"""An output that hands lines to a background thread, so the caller does not wait.

The caller's side is kept as short as it can be: under a small lock, a size check and
the line's bytes appended to a buffer; a wake-up only when the writer thread is asleep.
Appending the bytes, rather than queueing the line object, keeps the memory held to the
bytes waiting (an orjson line object keeps the whole 4 KiB buffer it was written into)
and frees each line where it was made. The writer takes everything queued at once, in
buffers of about 256 KiB, and writes each with one write (a regular file) or in writes
of at most ``PIPE_BUF`` (anything else), cut at line ends. The queue is bounded in lines
and in bytes.
"""

from __future__ import annotations

import os
import select
import stat
import threading
import time
from collections.abc import Callable
from threading import get_ident
from typing import Final

from flext_logging.outputs.base import Output
from flext_logging.outputs.failures import SINK_FAILED, record_failure, record_unwritten, to_stderr
from flext_logging.outputs.lifecycle import (
    SHUTDOWN_TIMEOUT_SECONDS,
    give_up_on,
    keep_signals_off_this_thread,
    on_writer_started,
    track,
    writes_directly_here,
)

__all__ = [
    "DEFAULT_QUEUE_BYTES",
    "DEFAULT_QUEUE_SIZE",
    "OVERFLOW_POLICIES",
    "BackgroundOutput",
    "check_options",
]

OVERFLOW_POLICIES: Final = ("block", "drop")
"""What a full ``async_output`` queue does: wait for room, or drop and count."""
DEFAULT_QUEUE_SIZE: Final = 10_000
"""Lines the ``async_output`` queue holds unless ``queue_size`` says otherwise."""
DEFAULT_QUEUE_BYTES: Final = 4 * 1024 * 1024
"""Bytes of lines the ``async_output`` queue holds unless ``queue_bytes`` says otherwise."""
# Queued bytes go into buffers of about this size, each written as one write to a regular
# file: small enough that the C allocator reuses their memory, large enough for few writes.
_PART_BYTES: Final = 256 * 1024
_PIPE_BUF: Final = getattr(select, "PIPE_BUF", 512)  # 512: POSIX's least
_REPORT_SECONDS: Final = 1.0  # drops are reported at most this often
_ROOM_WAIT_SECONDS: Final = 0.1  # a caller waiting for room re-checks the writer this often
_TAKE_WAIT_SECONDS: Final = 0.05  # far longer than any caller holds the lock
_FLUSH_POLL_SECONDS: Final = 0.001
_NEWLINE: Final = b"\n"


def check_options(queue_size: object, overflow: object, queue_bytes: object = 1) -> None:
    """Raise ``ValueError`` unless *queue_size*, *overflow* and *queue_bytes* are usable."""
    if overflow not in OVERFLOW_POLICIES:
        raise ValueError(f"overflow must be 'block' or 'drop', not {overflow!r}")
    for name, value in (("queue_size", queue_size), ("queue_bytes", queue_bytes)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, not {value!r}")


def _write_limit(stream: object) -> int:
    """The most bytes one write to *stream* may hold (see ``BackgroundOutput._write``)."""
    try:
        mode = os.fstat(stream.fileno()).st_mode  # type: ignore[attr-defined]  # caught below
    except Exception:  # noqa: BLE001 - no file descriptor: an object of this process only
        return _PART_BYTES
    # Appends to a regular file stay whole (O_APPEND); a pipe, socket or terminal keeps
    # only writes of up to PIPE_BUF whole beside other processes' writes.
    return _PART_BYTES if stat.S_ISREG(mode) else _PIPE_BUF


class BackgroundOutput(Output):
    """Hand lines to one background daemon thread that writes them to *output*.

    The queue holds at most *queue_size* lines and *queue_bytes* bytes (UTF-8) of them;
    a single longer line is let into an empty queue. When it is full,
    ``overflow="block"`` waits for room and ``"drop"`` drops the line and counts it;
    the count is reported by *on_dropped* (a ``log_records_dropped`` record) at most
    once a second and when the output closes. The thread starts on the first line, so
    a forked child starts its own. After :meth:`close` (``shutdown()``, a new
    ``configure()``, interpreter exit) lines are written synchronously. Closing and
    flushing wait a bounded time: a destination that accepts no write is given up on,
    and what it did not take is counted and told on stderr, never waited for. Lines
    reach *output* as bytes, several joined, cut only at line ends.
    """

    __slots__ = (
        "_abandoned",
        "_buffer",
        "_closed",
        "_done_bytes",
        "_done_lines",
        "_dropped",
        "_dropped_reported",
        "_last_report",
        "_limit",
        "_limit_stream",
        "_lock",
        "_max_bytes",
        "_max_lines",
        "_overflow",
        "_parts",
        "_queued_bytes",
        "_queued_lines",
        "_roll_at",
        "_room",
        "_sleeping",
        "_stopping",
        "_taken_lines",
        "_thread",
        "_waiting",
        "_wake",
        "_writer_id",
        "on_dropped",
        "output",
    )

    def __init__(
        self,
        output: Output,
        *,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        queue_bytes: int = DEFAULT_QUEUE_BYTES,
        overflow: str = "block",
    ) -> None:
        check_options(queue_size, overflow, queue_bytes)
        self.output = output
        """The output the background thread writes through."""
        self.on_dropped: Callable[[int], None] | None = None
        """Called with the number of lines dropped since the last call."""
        self._overflow = overflow
        self._max_lines = queue_size
        self._max_bytes = queue_bytes
        self._closed = False
        self._start_afresh()
        track(self)

    def _start_afresh(self) -> None:
        # The callers' counters (_queued_*, _dropped) and the buffer move under _lock.
        # The writer's (_done_*, _taken_lines, _dropped_reported) are written by the
        # writer thread alone, and it never waits long for _lock: see _take().
        self._buffer = bytearray()
        self._parts: list[bytearray] = []  # full buffers, oldest first, before _buffer
        self._roll_at = _PART_BYTES  # the _queued_bytes at which _buffer is full
        self._lock = threading.Lock()
        self._room = threading.Condition(self._lock)
        self._wake = threading.Lock()  # released to wake the writer; held while it works
        self._wake.acquire()
        self._thread: threading.Thread | None = None
        self._writer_id: int | None = None
        self._sleeping = False
        self._stopping = False
        self._abandoned = False
        self._queued_lines = self._queued_bytes = 0
        self._done_lines = self._done_bytes = self._taken_lines = 0
        self._dropped = self._dropped_reported = 0
        self._waiting = 0
        self._last_report = 0.0
        self._limit_stream: object = None
        self._limit: int | None = None

    @property
    def dropped(self) -> int:
        """Lines dropped and not yet reported."""
        return self._dropped - self._dropped_reported

    def write(self, line: bytes | str) -> None:
        """Queue one rendered line, or write it now once closed or on the writer thread."""
        if self._thread is None and not self._closed:
            self._start()
        if get_ident() == self._writer_id:
            self.output.write(line)  # the writer thread logging must not wait on itself
            return
        data = line if isinstance(line, bytes) else line.encode("utf-8", "backslashreplace")
        size = len(data)
        lock = self._lock
        lock.acquire()  # not `with`: this is most of the caller's cost, and `with` doubles it
        try:
            while not self._closed:
                pending = self._queued_bytes - self._done_bytes
                if self._queued_lines - self._done_lines < self._max_lines and (
                    not pending or pending + size <= self._max_bytes
                ):
                    self._buffer += data
                    self._queued_lines += 1
                    self._queued_bytes += size
                    if self._queued_bytes >= self._roll_at:  # a part is full: start the next
                        self._parts.append(self._buffer)
                        self._buffer = bytearray()
                        self._roll_at = self._queued_bytes + _PART_BYTES
                    if self._sleeping:  # the first caller to see it wakes the writer
                        self._sleeping = False
                        self._wake_writer()
                    return
                if self._overflow == "drop":
                    self._dropped += 1
                    return
                thread = self._thread
                if thread is None or not thread.is_alive():
                    break  # e.g. interpreter teardown: never hang, write it here
                self._waiting += 1
                self._room.wait(_ROOM_WAIT_SECONDS)
                self._waiting -= 1
        finally:
            lock.release()
        if self._abandoned:  # the destination accepts no write: waiting would hang the caller
            record_unwritten(1)
            return
        self.output.write(line)

    def flush(self) -> None:
        """Wait until every line queued so far is written, for a bounded time.

        Takes no lock a caller may hold, so a signal handler may call it.
        """
        thread = self._thread
        if self._abandoned:
            return
        if thread is not None and thread.ident != get_ident():
            target = self._queued_bytes
            deadline = time.monotonic() + SHUTDOWN_TIMEOUT_SECONDS
            while self._done_bytes < target and thread.is_alive():
                if self._sleeping:
                    self._wake_writer()
                if time.monotonic() >= deadline:
                    return  # the destination is stuck: flushing it would block too
                time.sleep(_FLUSH_POLL_SECONDS)
        self.output.flush()

    def close(self) -> None:
        """Write every queued line, report drops, stop the thread; later lines go direct."""
        self.close_within(SHUTDOWN_TIMEOUT_SECONDS)

    def close_within(self, seconds: float) -> None:
        """Like :meth:`close`, but give up after *seconds* if the destination accepts nothing.

        Giving up counts the lines not written (``failure_counts()["unwritten"]``) and
        tells stderr how many, and how many drops went unreported; later lines are
        counted the same way instead of being written.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._room.notify_all()
            thread = self._thread
        self._stopping = True
        if thread is None or thread.ident == get_ident():
            self.output.flush()
            return
        self._wake_writer()
        thread.join(max(seconds, 0.0))
        if not thread.is_alive():
            self.output.flush()
            return
        self._abandoned = True  # the writer discards what is left when its write returns
        give_up_on(self.output)
        record_unwritten(
            self._queued_lines - self._done_lines,
            dropped=self._dropped - self._dropped_reported,
            seconds=seconds,
        )

    def after_fork_in_child(self) -> None:
        """Forget the parent's queue and thread: its queued lines are the parent's to write."""
        self._start_afresh()

    def _wake_writer(self) -> None:
        try:  # noqa: SIM105 - suppress() would cost a call on the caller's path
            self._wake.release()
        except RuntimeError:  # already released: the writer is waking up anyway
            pass

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None or self._closed:
                return
            if writes_directly_here():  # a multiprocessing child SIGTERM may end at once
                self._closed = True
                return
            thread = threading.Thread(target=self._run, name="flext_logging-writer", daemon=True)
            try:
                thread.start()
            except RuntimeError:  # no new threads at interpreter shutdown: write directly
                self._closed = True
                return
            self._thread = thread
            self._writer_id = thread.ident
        on_writer_started()

    def _run(self) -> None:
        keep_signals_off_this_thread()
        self._writer_id = get_ident()
        while True:
            if not self._buffer and not self._parts:
                if self._stopping:
                    break
                self._report_dropped(force=False)
                self._sleeping = True
                # A caller appends, then reads _sleeping; this thread sets _sleeping, then
                # reads the buffer: one of the two sees the other, so no wake-up is lost.
                if not self._buffer and not self._parts and not self._stopping:
                    self._wake.acquire(timeout=_REPORT_SECONDS)
                self._sleeping = False
                continue
            parts, lines = self._take()
            for part in parts:
                self._write(part)
                self._done_bytes += len(part)
            self._done_lines += lines
            if self._abandoned:
                return  # what is left was counted as unwritten by close_within()
            if self._waiting:
                self._notify_room()
            if self._dropped != self._dropped_reported:
                self._report_dropped(force=False)
        self._report_dropped(force=True)

    def _take(self) -> tuple[list[bytearray], int]:
        """Everything queued, oldest first, and how many lines it holds."""
        lock = self._lock
        if not lock.acquire(timeout=_TAKE_WAIT_SECONDS):
            # Held this long, the lock belongs to a thread that a signal handler flushing
            # this output interrupted, and it will not run again before the handler ends:
            # take everything without the lock rather than keep the flush from ending.
            parts = list(self._parts)
            if self._buffer and not (parts and parts[-1] is self._buffer):  # half rolled over
                parts.append(self._buffer)
            self._parts, self._buffer = [], bytearray()
            lines = sum(part.count(_NEWLINE) for part in parts)
            self._taken_lines += lines
            return parts, lines
        try:
            parts = self._parts
            if self._buffer:
                parts.append(self._buffer)
            self._parts, self._buffer = [], bytearray()
            self._roll_at = self._queued_bytes + _PART_BYTES
            lines, self._taken_lines = self._queued_lines - self._taken_lines, self._queued_lines
        finally:
            lock.release()
        return parts, lines

    def _notify_room(self) -> None:
        # As in _take, never wait for the callers' lock; a caller waiting for room
        # re-checks soon anyway.
        if self._lock.acquire(blocking=False):
            try:
                self._room.notify_all()
            finally:
                self._lock.release()

    def _write(self, data: bytearray) -> None:
        # In parts of at most the destination's write limit, each ending at a line end;
        # a longer line is written alone, as a synchronous output would write it.
        stream = getattr(self.output, "stream", None)
        if stream is not self._limit_stream or self._limit is None:
            # Once per stream: fstat() releases the GIL, and getting it back can cost this
            # thread a whole switch interval while the caller is busy.
            self._limit_stream, self._limit = stream, _write_limit(stream)
        limit = self._limit
        view = memoryview(data)
        start, end_of_data = 0, len(data)
        while start < end_of_data and not self._abandoned:
            end = end_of_data
            if end - start > limit:
                end = data.rfind(_NEWLINE, start, start + limit) + 1
                if end <= start:  # one line longer than the limit
                    end = (data.find(_NEWLINE, start + limit) + 1) or end_of_data
            part = bytes(view[start:end])
            try:
                self.output.write(part)
            except Exception as exc:  # noqa: BLE001 - an output that raises must not stop the writer
                record_failure(SINK_FAILED, exc, max(part.count(_NEWLINE), 1))
                to_stderr(part.decode("utf-8", "replace"))
            start = end
        view.release()

    def _report_dropped(self, *, force: bool) -> None:
        dropped = self._dropped
        count = dropped - self._dropped_reported
        if not count or self.on_dropped is None:
            return
        now = time.monotonic()
        if not force and now - self._last_report < _REPORT_SECONDS:
            return
        self._dropped_reported = dropped
        self._last_report = now
        self.on_dropped(count)
