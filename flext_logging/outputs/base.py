"""The one protocol every output follows: write whole lines, flush, close, survive fork.

An output never raises into the application: a failure is counted with
:func:`flext_logging.outputs.failures.record_failure` and the line goes to stderr.
:mod:`flext_logging.outputs.lifecycle` calls the fork and exit methods of every
output made, so each kind only says what fork and exit mean for it.
"""

from __future__ import annotations

import os
from typing import Protocol

__all__ = ["Output", "write_all"]


class Output(Protocol):
    """A destination for rendered lines.

    Outputs subclass it explicitly: they must define :meth:`write`, and inherit the
    other methods, which do nothing unless the kind of output needs them to (their
    bodies say ``return``: an empty body would make them abstract).
    """

    __slots__ = ("__weakref__",)

    format: str | None = None
    """The format of this output's lines (``"json"``, ``"console"``...); ``None``: configure()'s."""
    level: int | str | None = None
    """The lowest level this output writes; ``None``: the level given to ``configure()``."""
    schema: str | None = None
    """The schema preset of this output's JSON (``"ecs"``...); ``None``: configure()'s."""

    def write(self, line: bytes | str) -> None:
        """Write one rendered line, or several joined, each ending in a newline."""
        ...

    def flush(self) -> None:
        """Push what was written to the destination."""
        return

    def close(self) -> None:
        """Write what is pending and stop background work; later lines are written directly."""
        self.flush()

    def close_within(self, seconds: float) -> None:
        """Close, waiting at most about *seconds* for a destination that accepts nothing.

        ``shutdown()`` calls this; outputs with queued work bound their wait by it.
        """
        del seconds  # an output without queued work has nothing to wait for
        self.close()

    def before_fork(self) -> None:
        """Get ready for ``fork()``: nothing half-written may be copied into the child."""
        return

    def after_fork_in_parent(self) -> None:
        """Undo :meth:`before_fork` in the parent."""
        return

    def after_fork_in_child(self) -> None:
        """Start afresh in a forked child: fresh locks, no parent's thread or queue."""
        return


def write_all(descriptor: int, data: bytes) -> None:
    """Write all of *data* to the file *descriptor* (a signal may cut a write short)."""
    written = os.write(descriptor, data)
    if written < len(data):
        view = memoryview(data)[written:]
        while view:
            view = view[os.write(descriptor, view) :]
