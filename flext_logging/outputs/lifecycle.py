"""Process events for every output in one place: fork, interpreter exit, shutdown, SIGTERM.

Outputs register themselves with :func:`track` when made; the hooks are installed once,
on the first output, not at import. At exit every output is closed (queued lines
written, within a bounded time) and then the failures counted while the process ran,
those of that last flush included, are summed up on stderr.

A background writer's queued lines would be lost when a process ends without exit hooks.
:func:`on_writer_started` covers the two ways a ``multiprocessing`` child ends: its own
``os._exit()`` (a finalizer) and ``terminate()``, which is a ``SIGTERM`` (a handler that
writes the queued lines, then lets the signal end the process as it would have).
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
import weakref
from types import FrameType
from typing import Final

from flext_logging.outputs.base import Output
from flext_logging.outputs.failures import after_fork_in_child as reset_failure_lock
from flext_logging.outputs.failures import failure_counts, to_stderr

__all__ = ["SHUTDOWN_TIMEOUT_SECONDS", "give_up_on", "on_writer_started", "shutdown", "track"]

SHUTDOWN_TIMEOUT_SECONDS: Final = 5.0
"""How long closing or flushing one background output waits for its destination."""

_outputs: list[weakref.ref[Output]] = []
_given_up: weakref.WeakSet[Output] = weakref.WeakSet()
_lock = threading.Lock()
_hooks_installed = False
_multiprocessing_finalizer_installed = False


def track(output: Output) -> None:
    """Call *output*'s fork methods around every ``fork()`` and close it at exit."""
    with _lock:
        _outputs[:] = [ref for ref in _outputs if ref() is not None]
        _outputs.append(weakref.ref(output))
    _install_process_hooks()


def give_up_on(output: Output) -> None:
    """Never flush or close *output* again: its destination accepts no write, it would hang."""
    _given_up.add(output)


def _live() -> list[Output]:
    """The outputs still in use, oldest first (a wrapper is made after what it wraps)."""
    outputs = (ref() for ref in list(_outputs))
    return [output for output in outputs if output is not None and output not in _given_up]


def shutdown(*, timeout: float = SHUTDOWN_TIMEOUT_SECONDS) -> None:
    """Close every output, newest first: a background output drains into the one it wraps.

    A background output waits at most *timeout* seconds for its destination, then
    gives up on it (see ``BackgroundOutput.close_within``).
    """
    for output in reversed(_live()):
        if output in _given_up:  # the wrapper just closed gave up on it
            continue
        output.close_within(timeout)


def _at_exit() -> None:
    shutdown()
    counts = failure_counts()  # after the last flush: its failures count too
    if any(count > 1 for count in counts.values()):
        totals = ", ".join(f"{kind}: {count}" for kind, count in counts.items() if count)
        to_stderr(f"flext_logging: records that failed while this process ran: {totals}\n")


def _before_fork() -> None:
    for output in _live():
        output.before_fork()


def _after_fork_in_parent() -> None:
    for output in reversed(_live()):
        output.after_fork_in_parent()


def _after_fork_in_child() -> None:
    global _lock, _multiprocessing_finalizer_installed  # noqa: PLW0603 - per process
    _lock = threading.Lock()
    reset_failure_lock()
    # multiprocessing clears its finalizers in a child: the child registers its own.
    _multiprocessing_finalizer_installed = False
    for output in _live():
        output.after_fork_in_child()


def _install_process_hooks() -> None:
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


def on_writer_started() -> None:
    """Make sure a ``multiprocessing`` child writes its queued lines however it ends.

    Its normal end is ``os._exit()``, which skips ``atexit``: a multiprocessing finalizer
    shuts down instead. ``Pool.__exit__`` and ``Process.terminate()`` end it with
    ``SIGTERM``: unless the application handles that signal itself, a handler flushes
    every output (within the shutdown timeout), then ends the process by the same signal.
    """
    global _multiprocessing_finalizer_installed  # noqa: PLW0603 - set once per process
    mp_util = sys.modules.get("multiprocessing.util")
    if mp_util is None:
        return
    if not _multiprocessing_finalizer_installed:
        _multiprocessing_finalizer_installed = True
        # One finalizer for the process: shutdown() closes whichever outputs are alive then.
        mp_util.Finalize(None, shutdown, exitpriority=100)
    _flush_on_sigterm_in_child()


def _flush_on_sigterm_in_child() -> None:
    multiprocessing = sys.modules.get("multiprocessing")
    if (
        multiprocessing is None
        or multiprocessing.parent_process() is None  # not a multiprocessing child
        or threading.current_thread() is not threading.main_thread()  # signal() would fail
        or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL  # the application's choice
    ):
        return
    signal.signal(signal.SIGTERM, _flush_then_end)


def _flush_then_end(signum: int, frame: FrameType | None) -> None:
    """Write what the background writers hold, then end the process by *signum*.

    It runs between two bytecodes of the main thread, which may hold any lock:
    ``flush()`` of a background output takes none, and is bounded in time.
    """
    signal.signal(signum, signal.SIG_DFL)  # a second SIGTERM ends the process at once
    try:
        for output in reversed(_live()):
            output.flush()
    finally:
        signal.raise_signal(signum)
