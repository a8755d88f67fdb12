"""Failure accounting shared by every output: count always, tell stderr once per kind.

A destination that fails must not turn into one stderr line per record, and must
never raise into the application: outputs call :func:`record_failure` and carry on.
"""

from __future__ import annotations

import sys
import threading
from typing import Final

from flext_logging import keys
from flext_logging._jsonsafe import safe_repr

__all__ = [
    "PROCESSOR_FAILED",
    "SINK_FAILED",
    "UNWRITTEN",
    "failure_counts",
    "record_failure",
    "record_unwritten",
    "reset_failures",
    "to_stderr",
]

PROCESSOR_FAILED: Final = "processor"
"""A processor or renderer raised; a minimal record was written instead."""
SINK_FAILED: Final = "sink"
"""An output could not write; the line went to stderr."""
UNWRITTEN: Final = "unwritten"
"""A background output gave up on a destination that accepted no write; the line is lost."""
_FAILURE_TEXT: Final = {
    PROCESSOR_FAILED: (
        "a processor or renderer failed; the record was written in a minimal form "
        f"with a {keys.LOGGING_ERROR} field"
    ),
    SINK_FAILED: (
        "could not write to the log destination; records go to stderr until it works again"
    ),
}
_failures: dict[str, int] = dict.fromkeys((PROCESSOR_FAILED, SINK_FAILED, UNWRITTEN), 0)
_lock = threading.Lock()


def failure_counts() -> dict[str, int]:
    """Return how many records failed since start-up, by ``processor``, ``sink``, ``unwritten``."""
    return dict(_failures)


def reset_failures() -> None:
    """Zero the failure counts, so the next failure is reported again (for tests)."""
    with _lock:
        for kind in _failures:
            _failures[kind] = 0


def record_failure(kind: str, exc: BaseException, records: int = 1) -> None:
    """Count *records* failed of *kind*; the first failure of a kind is told on stderr."""
    with _lock:
        first = _failures[kind] == 0
        _failures[kind] += records
    if first:  # once: a broken sink must not turn into one stderr line per record
        to_stderr(
            f"flext_logging: {_FAILURE_TEXT[kind]} ({type(exc).__qualname__}: "
            f"{safe_repr(exc, 300)}); further failures are counted, not reported\n"
        )


def record_unwritten(records: int, *, dropped: int = 0, seconds: float | None = None) -> None:
    """Count *records* lost to a destination given up on; tell stderr when *seconds* is given.

    *seconds* is how long shutdown waited for the destination; *dropped* the records
    ``overflow="drop"`` had dropped whose count could not be written either. A line
    made after the give-up is counted without a report of its own.
    """
    with _lock:
        _failures[UNWRITTEN] += records
    if seconds is None:
        return
    unreported = (
        f"; {dropped} records dropped by overflow='drop' went unreported" if dropped else ""
    )
    to_stderr(
        f"flext_logging: the log destination accepted no write for {seconds:g} s at "
        f"shutdown; {records} queued records were not written{unreported}; records made "
        "later are counted, not written\n"
    )


def to_stderr(text: str) -> bool:
    """Write *text* to the process's real stderr; tell whether that worked."""
    stderr = sys.__stderr__
    if stderr is None:
        return False
    try:
        stderr.write(text)
        stderr.flush()
    except Exception:  # noqa: BLE001 - nowhere left to report to
        return False
    return True


def after_fork_in_child() -> None:
    """Give a forked child a lock of its own (the parent's may have been held)."""
    global _lock  # noqa: PLW0603 - one lock per process
    _lock = threading.Lock()
