"""An output that hands lines to a background thread, so the caller does not wait."""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Final

from flext_logging.outputs.base import Output
from flext_logging.outputs.lifecycle import flush_at_multiprocessing_exit, track

__all__ = ["DEFAULT_QUEUE_SIZE", "OVERFLOW_POLICIES", "BackgroundOutput", "check_options"]

OVERFLOW_POLICIES: Final = ("block", "drop")
"""What a full ``async_output`` queue does: wait for room, or drop and count."""
DEFAULT_QUEUE_SIZE: Final = 10_000
"""Lines the ``async_output`` queue holds unless ``queue_size`` says otherwise."""
_DROP_REPORT_SECONDS: Final = 1.0
_BATCH_LINES: Final = 256  # lines joined into one write by the background thread
_CLOSE_TIMEOUT_SECONDS: Final = 10.0
_STOP: Final = object()


def check_options(queue_size: object, overflow: object) -> None:
    """Raise ``ValueError`` unless *queue_size* and *overflow* are usable."""
    if overflow not in OVERFLOW_POLICIES:
        raise ValueError(f"overflow must be 'block' or 'drop', not {overflow!r}")
    if isinstance(queue_size, bool) or not isinstance(queue_size, int) or queue_size < 1:
        raise ValueError(f"queue_size must be a positive integer, not {queue_size!r}")


class BackgroundOutput(Output):
    """Hand lines to one background daemon thread that writes them to *output*.

    The queue is bounded: when it is full, ``overflow="block"`` waits for room and
    ``"drop"`` drops the line and counts it; the count is reported by *on_dropped* (a
    ``log_records_dropped`` record) at most once a second and when the output closes.
    The thread starts on the first line, so a forked child starts its own. After
    :meth:`close` (``shutdown()``, a new ``configure()``, interpreter exit) lines are
    written synchronously.
    """

    __slots__ = (
        "_closed",
        "_dropped",
        "_lock",
        "_overflow",
        "_queue",
        "_queue_size",
        "_thread",
        "on_dropped",
        "output",
    )

    def __init__(
        self,
        output: Output,
        *,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        overflow: str = "block",
    ) -> None:
        check_options(queue_size, overflow)
        self.output = output
        """The output the background thread writes through."""
        self.on_dropped: Callable[[int], None] | None = None
        """Called with the number of lines dropped since the last call."""
        self._overflow = overflow
        self._queue_size = queue_size
        self._queue: queue.Queue[object] = queue.Queue(queue_size)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._dropped = 0
        track(self)

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
            self.output.write(line)  # the writer thread logging must not wait on itself
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
                    self.output.write(line)
                    return
            else:
                return

    def flush(self) -> None:
        """Wait until every line queued so far is written (no-op once closed)."""
        if self._thread is not None and not self._closed:
            self._queue.join()
        self.output.flush()

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
        self.output.flush()

    def after_fork_in_child(self) -> None:
        """Forget the parent's queue and thread: its queued lines are the parent's to write."""
        self._queue = queue.Queue(self._queue_size)
        self._lock = threading.Lock()
        self._thread = None
        self._dropped = 0

    def _start(self) -> threading.Thread | None:
        with self._lock:
            if self._thread is None and not self._closed:
                thread = threading.Thread(
                    target=self._run, name="flext_logging-writer", daemon=True
                )
                thread.start()
                self._thread = thread
                flush_at_multiprocessing_exit()
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
            self.output.write(b"".join(lines))  # type: ignore[arg-type]  # all bytes
        elif all(isinstance(line, str) for line in lines):
            self.output.write("".join(lines))  # type: ignore[arg-type]  # all str
        else:
            for line in lines:
                self.output.write(line)

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
