"""An output to a file, shared safely by several processes, rotated by size or by logrotate.

The file is opened for appending (``O_APPEND``): each record is one ``write`` at the
end of the file, so the workers of a server can all write to it without a lock and
without overwriting each other's lines.

Before each write the path is looked at again, as ``logging.handlers.WatchedFileHandler``
does: when logrotate (or anyone) moved or removed the file, it is opened anew. That is
the way to rotate by time: a logrotate rule with ``create`` (or ``copytruncate``).

With *max_bytes*, the output rotates by itself: when a record would take the file past
*max_bytes*, ``app.log`` becomes ``app.log.1`` (``.1`` becomes ``.2``, and so on up to
*backup_count*) and a new ``app.log`` is started. Rotation holds an advisory lock on
``app.log.lock``, so with several processes exactly one rotates; the others see the new
file on their next write and continue there. Lines written meanwhile land in
``app.log.1``: none is lost.
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path
from typing import Any

from flext_logging.outputs.base import Output, write_all
from flext_logging.outputs.failures import SINK_FAILED, record_failure, to_stderr
from flext_logging.outputs.lifecycle import track

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: rotation is then per process
    fcntl = None  # type: ignore[assignment]

__all__ = ["FileOutput"]

_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
_MODE = 0o644


class FileOutput(Output):
    """Append lines to the file at *path*, reopened when moved; rotated at *max_bytes*.

    The file is created if missing (its directory must exist) when the output is made,
    so a wrong path fails at ``configure()``. *format* defaults to JSON (a file is not a
    terminal); *level* and *schema* (a JSON schema preset), when given, are this
    output's own.
    """

    __slots__ = (
        "_descriptor",
        "_identity",
        "_lock",
        "_rotation_lock",
        "backup_count",
        "format",
        "level",
        "max_bytes",
        "path",
        "schema",
    )

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        format: str | None = None,  # noqa: A002 - the name configure() uses
        level: int | str | None = None,
        schema: str | None = None,
        max_bytes: int | None = None,
        backup_count: int = 5,
    ) -> None:
        if max_bytes is not None and (
            isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1
        ):
            raise ValueError(f"max_bytes must be None or a positive int, not {max_bytes!r}")
        if isinstance(backup_count, bool) or not isinstance(backup_count, int) or backup_count < 1:
            raise ValueError(f"backup_count must be at least 1, not {backup_count!r}")
        self.path = os.fspath(Path(path).absolute())
        self.format = format
        self.level = level
        self.schema = schema
        self.max_bytes = max_bytes
        self.backup_count = backup_count
        self._lock = threading.Lock()
        self._descriptor: int | None = None
        self._identity: tuple[int, int] | None = None
        self._rotation_lock: int | None = None
        self._open()
        track(self)

    def write(self, line: bytes | str) -> None:
        """Append one rendered line (or several joined) to the file."""
        data = line if isinstance(line, bytes) else line.encode("utf-8", "backslashreplace")
        try:
            with self._lock:
                size = self._follow()
                if self.max_bytes is not None and size and size + len(data) > self.max_bytes:
                    self._rotate(len(data))
                write_all(self._descriptor, data)  # type: ignore[arg-type]  # opened by _follow
        except Exception as exc:  # noqa: BLE001 - logging must never raise into the caller
            record_failure(SINK_FAILED, exc, max(data.count(b"\n"), 1))
            to_stderr(data.decode("utf-8", "replace"))

    def close(self) -> None:
        """Close the file; a later line opens it again."""
        with self._lock:
            self._close_descriptor()

    def before_fork(self) -> None:
        """Hold the lock across ``fork()``: no rotation is half done in the child."""
        self._lock.acquire()

    def after_fork_in_parent(self) -> None:
        """Release the lock held across ``fork()``."""
        self._lock.release()

    def after_fork_in_child(self) -> None:
        """Take a fresh lock; the open file is shared with the parent, as it should be."""
        self._lock = threading.Lock()

    # -- Under the lock. -------------------------------------------------------------------

    def _open(self) -> None:
        descriptor = os.open(self.path, _FLAGS, _MODE)
        self._close_descriptor()
        self._descriptor = descriptor
        status = os.fstat(descriptor)
        self._identity = (status.st_dev, status.st_ino)

    def _close_descriptor(self) -> None:
        descriptor, self._descriptor, self._identity = self._descriptor, None, None
        if descriptor is not None:
            with contextlib.suppress(OSError):
                os.close(descriptor)

    def _follow(self) -> int:
        """Reopen the file if the path names another one now; return the file's size."""
        try:
            status = os.stat(self.path)
        except FileNotFoundError:
            status = None
        if status is None or (status.st_dev, status.st_ino) != self._identity:
            self._open()
            status = os.fstat(self._descriptor)  # type: ignore[arg-type]  # just opened
        return status.st_size

    def _rotate(self, incoming: int) -> None:
        with self._exclusive():
            size = self._follow()  # another process may have rotated meanwhile
            if not size or size + incoming <= self.max_bytes:  # type: ignore[operator]  # set
                return
            for number in range(self.backup_count - 1, 0, -1):
                with contextlib.suppress(FileNotFoundError):
                    os.replace(f"{self.path}.{number}", f"{self.path}.{number + 1}")
            os.replace(self.path, f"{self.path}.1")
            self._open()

    @contextlib.contextmanager
    def _exclusive(self) -> Any:
        if fcntl is None:  # pragma: no cover - Windows
            yield
            return
        if self._rotation_lock is None:
            self._rotation_lock = os.open(f"{self.path}.lock", _FLAGS, _MODE)
        fcntl.lockf(self._rotation_lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.lockf(self._rotation_lock, fcntl.LOCK_UN)
