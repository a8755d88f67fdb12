"""What the Celery tests share: reading the records a worker thread writes."""

from __future__ import annotations

import time
from typing import Any

TIMEOUT = 20.0
LOGGING_UID = "tests.celery.leave_logging_alone"
CLOSING = ("task_succeeded", "task_failed", "task_retried", "task_ignored", "task_rejected")
"""The records that end an attempt of a task."""
Records = list[dict[str, Any]]


def leave_logging_alone(**_: Any) -> None:
    """Receiver of Celery's setup_logging: logging is configured by the tests."""


def wait_for(records: Records, message: str, count: int = 1) -> Records:
    """Records with *message*, waited for: the worker thread writes them (bounded wait)."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        found = [record for record in records if record["message"] == message]
        if len(found) >= count:
            return found
        time.sleep(0.02)
    raise AssertionError(f"fewer than {count} {message} records")


def attempts(records: Records) -> dict[str, Records]:
    """The records of the task integration, by the correlation of each attempt."""
    by_correlation: dict[str, Records] = {}
    for record in records:
        if record["logger"] == "flext_logging.celery":
            by_correlation.setdefault(record["correlation_id"], []).append(record)
    return by_correlation
