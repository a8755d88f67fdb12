"""Celery: the publisher's context travels in task headers and is restored in the worker.

``install(app)`` connects Celery's signals. When a task is published, the current
context (correlation, request, user, trace ids: ``get_full_context()``) goes into the
message headers under ``flext_context``. In the worker, each task runs in a new
correlation whose parent is the publisher's, with the publisher's request id, and is
logged: ``task_started``, then ``task_succeeded`` or ``task_failed`` (error level, with
the error), with ``task_id``, ``task_name`` and ``duration_ms``::

    app = Celery("billing", broker="redis://localhost:6379/0")
    install(app)  # in the publishing process and in the worker
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from typing import Any, Final, NamedTuple

try:
    from celery import Celery, Task, signals
except ImportError as error:
    raise ImportError(
        "flext_logging.integrations.celery needs celery: pip install 'flext-logging[celery]'"
    ) from error

from flext_logging import keys
from flext_logging.context import FlextContext
from flext_logging.logger import get_logger

__all__ = ["install"]

_logger: Final = get_logger("flext_logging.celery")
_PUBLISH_UID: Final = "flext_logging.celery.publish"


class _Running(NamedTuple):
    scope: ExitStack
    started: float


# Tasks between task_prerun and task_postrun, by task id. Prerun and postrun run in the
# thread that executes the task, so the scope is closed in the context it was opened in.
_running: dict[str, _Running] = {}


def install(app: Celery) -> None:
    """Carry the context from publishers to the tasks of *app* and log every task.

    Call it where tasks are published and in the worker (for example right after the
    app is created). Calling it again for the same app changes nothing.
    """
    # Publishing is process-wide in Celery (send_task needs no registered task), so one
    # receiver serves every app; the worker-side receivers only handle *app*'s tasks.
    signals.before_task_publish.connect(_inject, weak=False, dispatch_uid=_PUBLISH_UID)
    uid = f"flext_logging.celery.{id(app)}"

    def started(sender: Task[Any, Any] | None = None, task_id: str = "", **_: Any) -> None:
        if sender is not None and sender.app is app:
            _started(sender, task_id)

    def finished(
        sender: Task[Any, Any] | None = None, task_id: str = "", state: str | None = None, **_: Any
    ) -> None:
        if sender is not None and sender.app is app:
            _finished(sender, task_id, state)

    def failed(
        sender: Task[Any, Any] | None = None,
        task_id: str = "",
        exception: BaseException | None = None,
        **_: Any,
    ) -> None:
        if sender is not None and sender.app is app:
            _failed(sender, task_id, exception)

    signals.task_prerun.connect(started, weak=False, dispatch_uid=f"{uid}.prerun")
    signals.task_postrun.connect(finished, weak=False, dispatch_uid=f"{uid}.postrun")
    signals.task_failure.connect(failed, weak=False, dispatch_uid=f"{uid}.failure")


def _inject(headers: dict[str, Any] | None = None, **_: Any) -> None:
    if headers is not None:
        headers[keys.ENVELOPE] = FlextContext.Serialization.get_full_context()


def _envelope(task: Task[Any, Any]) -> Any:
    """The publisher's context from the task's message headers, if it sent one."""
    request = task.request
    envelope = getattr(request, keys.ENVELOPE, None)
    if envelope is None:
        # Depending on the protocol and version, custom headers may stay nested.
        headers = getattr(request, "headers", None)
        envelope = headers.get(keys.ENVELOPE) if isinstance(headers, dict) else None
    return envelope


def _task_fields(task: Task[Any, Any], task_id: str) -> dict[str, Any]:
    return {keys.TASK_ID: task_id, keys.TASK_NAME: task.name}


def _started(task: Task[Any, Any], task_id: str) -> None:
    scope = ExitStack()
    scope.enter_context(FlextContext.Serialization.extracted({keys.ENVELOPE: _envelope(task)}))
    _running[task_id] = _Running(scope, time.perf_counter())
    _logger.info(keys.EVENT_TASK_STARTED, **_task_fields(task, task_id))


def _duration_ms(task_id: str) -> float | None:
    running = _running.get(task_id)
    if running is None:
        return None
    return round((time.perf_counter() - running.started) * 1000.0, 3)


def _failed(task: Task[Any, Any], task_id: str, exception: BaseException | None) -> None:
    _logger.error(
        keys.EVENT_TASK_FAILED,
        exc_info=exception,
        **_task_fields(task, task_id),
        **{keys.DURATION_MS: _duration_ms(task_id)},
    )


def _finished(task: Task[Any, Any], task_id: str, state: str | None) -> None:
    try:
        if state == "SUCCESS":
            _logger.info(
                keys.EVENT_TASK_SUCCEEDED,
                **_task_fields(task, task_id),
                **{keys.DURATION_MS: _duration_ms(task_id)},
            )
    finally:
        running = _running.pop(task_id, None)
        if running is not None:
            running.scope.close()
