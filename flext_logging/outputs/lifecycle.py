"""Process events for every output in one place: fork, interpreter exit, shutdown.

Outputs register themselves with :func:`track` when made; the hooks are installed once,
on the first output, not at import. At exit every output is closed (queued lines
written) and the failures counted while the process ran are summed up on stderr.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import weakref

from flext_logging.outputs.base import Output
from flext_logging.outputs.failures import after_fork_in_child as reset_failure_lock
from flext_logging.outputs.failures import failure_counts, to_stderr

__all__ = ["flush_at_multiprocessing_exit", "shutdown", "track"]

_outputs: list[weakref.ref[Output]] = []
_lock = threading.Lock()
_hooks_installed = False
_multiprocessing_finalizer_installed = False


def track(output: Output) -> None:
    """Call *output*'s fork methods around every ``fork()`` and close it at exit."""
    with _lock:
        _outputs[:] = [ref for ref in _outputs if ref() is not None]
        _outputs.append(weakref.ref(output))
    _install_process_hooks()


def _live() -> list[Output]:
    """The outputs still in use, oldest first (a wrapper is made after what it wraps)."""
    return [output for output in (ref() for ref in list(_outputs)) if output is not None]


def shutdown() -> None:
    """Close every output, newest first: a background output drains into the one it wraps."""
    for output in reversed(_live()):
        output.close()


def _at_exit() -> None:
    counts = failure_counts()
    shutdown()
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


def flush_at_multiprocessing_exit() -> None:
    """Shut down at the end of a multiprocessing child, which ends with ``os._exit()``."""
    global _multiprocessing_finalizer_installed  # noqa: PLW0603 - set once per process
    mp_util = sys.modules.get("multiprocessing.util")
    if mp_util is None or _multiprocessing_finalizer_installed:
        return
    _multiprocessing_finalizer_installed = True
    # One finalizer for the process: shutdown() closes whichever outputs are alive then.
    mp_util.Finalize(None, shutdown, exitpriority=100)
