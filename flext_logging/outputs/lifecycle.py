"""Process events for every output in one place: fork, interpreter exit, shutdown.

Outputs register themselves with :func:`track` when made; the hooks are installed once,
on the first output, not at import. At exit every output is closed (queued lines
written, within a bounded time) and then the failures counted while the process ran,
those of that last flush included, are summed up on stderr.

A background writer's queued lines would be lost when a process ends without exit hooks.
A ``multiprocessing`` child ends with ``os._exit()`` (:func:`on_writer_started` adds a
finalizer) or by ``SIGTERM`` (``Pool.__exit__``, ``terminate()``), against which only
writing each line at once is safe (:func:`writes_directly_here`).
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
import weakref
from typing import Final

from flext_logging.outputs.base import Output
from flext_logging.outputs.failures import after_fork_in_child as reset_failure_lock
from flext_logging.outputs.failures import failure_counts, to_stderr

__all__ = [
    "SHUTDOWN_TIMEOUT_SECONDS",
    "give_up_on",
    "keep_signals_off_this_thread",
    "on_writer_started",
    "shutdown",
    "track",
    "writes_directly_here",
]

SHUTDOWN_TIMEOUT_SECONDS: Final = 5.0
"""How long closing or flushing one background output waits for its destination."""

_PROCESS_SIGNALS: Final = frozenset(
    getattr(signal, name)
    for name in (
        "SIGTERM",
        "SIGINT",
        "SIGHUP",
        "SIGQUIT",
        "SIGUSR1",
        "SIGUSR2",
        "SIGALRM",
        "SIGCHLD",
    )
    if hasattr(signal, name)
)
"""Signals sent to the whole process (``kill``, Ctrl-C), not caused by a thread's own fault."""

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


def keep_signals_off_this_thread() -> None:
    """Block the process-wide signals in the calling background thread.

    The kernel hands a signal sent to the process to any thread that does not block
    it, but Python runs signal handlers only in the main thread, between two of its
    bytecodes: a ``SIGINT`` or ``SIGTERM`` taken by a writer thread would wait for the
    main thread to run Python again. Blocked here, such signals go to the main thread
    and interrupt what it waits in.
    """
    if hasattr(signal, "pthread_sigmask") and threading.current_thread() is not (
        threading.main_thread()
    ):
        signal.pthread_sigmask(signal.SIG_BLOCK, _PROCESS_SIGNALS)


def writes_directly_here() -> bool:
    """Tell whether a background writer must not start in this process.

    In a ``multiprocessing`` child whose ``SIGTERM`` does what it does by default, a
    queued line could be lost: ``Pool.__exit__`` and ``Process.terminate()`` end the
    child with that signal at any moment. A Python handler cannot flush reliably there:
    a signal that arrives just before the main thread blocks in C (a ``Pool`` worker
    waiting for its next task) leaves the handler pending for good and the child alive,
    and ``Pool.terminate()`` waits for it forever. Such a child writes each line when
    it is made instead.
    """
    multiprocessing = sys.modules.get("multiprocessing")
    return (
        multiprocessing is not None
        and multiprocessing.parent_process() is not None
        and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    )


def on_writer_started() -> None:
    """Make sure a ``multiprocessing`` child writes its queued lines when it ends.

    Its normal end is ``os._exit()``, which skips ``atexit``: a multiprocessing finalizer
    shuts down instead.
    """
    global _multiprocessing_finalizer_installed  # noqa: PLW0603 - set once per process
    mp_util = sys.modules.get("multiprocessing.util")
    if mp_util is None or _multiprocessing_finalizer_installed:
        return
    _multiprocessing_finalizer_installed = True
    # One finalizer for the process: shutdown() closes whichever outputs are alive then.
    mp_util.Finalize(None, shutdown, exitpriority=100)
