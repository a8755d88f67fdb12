"""Celery: the publisher's context travels in task headers and is restored in the worker.

``install(app)`` connects Celery's signals. When a task is published, the current
context (correlation, request, user, trace ids: ``get_full_context()``) goes into the
message headers under ``flext_context``. In the worker, each task runs in a new
correlation whose parent is the publisher's, with the publisher's request id, and is
logged: ``task_started``, then ``task_succeeded``, ``task_failed`` (error level, with
the error) or ``task_retried`` (warning level), with ``task_id``, ``task_name`` and
``duration_ms``. A retry is published with the original publisher's context, so every
attempt is a child of the publisher, not of the attempt before it::

    app = Celery("billing", broker="redis://localhost:6379/0")
    install(app)  # in the publishing process and in the worker

``install`` also connects Celery's ``setup_logging`` signal, so a ``celery worker`` leaves
the ``logging`` module and ``sys.stdout`` alone instead of installing its own handlers
and redirecting stdout into them: the records go where ``configure()`` sends them (a
worker where nothing configured logging is configured from the ``FLEXT_*`` variables).
"""

from __future__ import annotations

import logging
import time
from contextlib import ExitStack
from contextvars import ContextVar, Token
from typing import Any, Final, NamedTuple

try:
    from celery import Celery, Task, signals
    from celery.exceptions import Ignore, Reject
except ImportError as error:
    raise ImportError(
        "flext_logging.integrations.celery needs celery: pip install 'flext-logging[celery]'"
    ) from error

from flext_logging import _config, keys
from flext_logging.context import FlextContext
from flext_logging.logger import get_logger

__all__ = ["install"]

_logger: Final = get_logger("flext_logging.celery")
_PUBLISH_UID: Final = "flext_logging.celery.publish"
_LOGGING_UID: Final = "flext_logging.celery.setup_logging"


class _Attempt(NamedTuple):
    """One attempt of a task between ``task_prerun`` and ``task_postrun``."""

    task_id: str
    envelope: Any
    """The publisher's context the attempt received: what a retry is published with."""
    scope: ExitStack
    started: float
    retries: int
    token: Token[_Attempt | None]


# The attempt running in this context. Prerun and postrun run in the thread that executes
# the task, one after the other, so the scope is closed in the context it was opened in;
# two attempts of one task id (a retry picked up by another thread while the attempt that
# published it ends) never see each other's.
_attempt: ContextVar[_Attempt | None] = ContextVar("flext_logging.celery.attempt", default=None)


def install(app: Celery) -> None:
    """Carry the context from publishers to the tasks of *app* and log every task.

    Call it where tasks are published and in the worker (for example right after the
    app is created). Calling it again for the same app changes nothing.
    """
    # Publishing is process-wide in Celery (send_task needs no registered task), so one
    # receiver serves every app; the worker-side receivers only handle *app*'s tasks.
    signals.before_task_publish.connect(_inject, weak=False, dispatch_uid=_PUBLISH_UID)
    signals.setup_logging.connect(_keep_logging, weak=False, dispatch_uid=_LOGGING_UID)
    uid = f"flext_logging.celery.{id(app)}"

    def started(sender: Task[Any, Any] | None = None, task_id: str = "", **_: Any) -> None:
        if sender is not None and sender.app is app:
            _started(sender, task_id)

    def finished(
        sender: Task[Any, Any] | None = None,
        task_id: str = "",
        state: str | None = None,
        retval: Any = None,
        **_: Any,
    ) -> None:
        if sender is not None and sender.app is app:
            _finished(sender, task_id, state, retval)

    def failed(
        sender: Task[Any, Any] | None = None,
        task_id: str = "",
        exception: BaseException | None = None,
        **_: Any,
    ) -> None:
        if sender is not None and sender.app is app:
            _failed(sender, task_id, exception)

    def retried(sender: Task[Any, Any] | None = None, reason: Any = None, **_: Any) -> None:
        if sender is not None and sender.app is app:
            _retried(sender, reason)

    signals.task_prerun.connect(started, weak=False, dispatch_uid=f"{uid}.prerun")
    signals.task_postrun.connect(finished, weak=False, dispatch_uid=f"{uid}.postrun")
    signals.task_failure.connect(failed, weak=False, dispatch_uid=f"{uid}.failure")
    signals.task_retry.connect(retried, weak=False, dispatch_uid=f"{uid}.retry")


def _keep_logging(loglevel: int | str | None = None, **_: Any) -> None:
    """Receiver of ``setup_logging``: its presence makes Celery leave logging alone.

    A worker whose logging nobody configured (no ``configure()``, no handler on the
    root logger) is configured here, at the worker's ``--loglevel``.
    """
    if not _config.is_configured() and not logging.getLogger().handlers:
        _config.configure(level=loglevel or None)


def _inject(headers: dict[str, Any] | None = None, **_: Any) -> None:
    if headers is None:
        return
    attempt = _attempt.get()
    if attempt is not None and headers.get("id") == attempt.task_id:
        # A retry of the running attempt: it is the original publisher's work again.
        headers[keys.ENVELOPE] = attempt.envelope if attempt.envelope is not None else {}
    else:
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


def _retries(task: Task[Any, Any]) -> int:
    retries = getattr(task.request, "retries", 0)
    return retries if isinstance(retries, int) else 0


def _task_fields(task: Task[Any, Any], task_id: str, retries: int) -> dict[str, Any]:
    fields: dict[str, Any] = {keys.TASK_ID: task_id, keys.TASK_NAME: task.name}
    if retries:
        fields[keys.TASK_RETRIES] = retries
    return fields


def _current(task_id: str) -> _Attempt | None:
    attempt = _attempt.get()
    return attempt if attempt is not None and attempt.task_id == task_id else None


def _closing_fields(task: Task[Any, Any], task_id: str) -> dict[str, Any]:
    attempt = _current(task_id)
    fields = _task_fields(task, task_id, attempt.retries if attempt else _retries(task))
    fields[keys.DURATION_MS] = (
        round((time.perf_counter() - attempt.started) * 1000.0, 3) if attempt else None
    )
    return fields


def _started(task: Task[Any, Any], task_id: str) -> None:
    envelope = _envelope(task)
    scope = ExitStack()
    # Set first, reset last: the attempt outlives the scope it opens.
    token = _attempt.set(None)
    scope.enter_context(FlextContext.Serialization.extracted({keys.ENVELOPE: envelope}))
    retries = _retries(task)
    _attempt.set(_Attempt(task_id, envelope, scope, time.perf_counter(), retries, token))
    _logger.info(keys.EVENT_TASK_STARTED, **_task_fields(task, task_id, retries))


def _failed(task: Task[Any, Any], task_id: str, exception: BaseException | None) -> None:
    if isinstance(exception, (Ignore, Reject)):
        # The worker reports a rejected message as a failure too, after the attempt:
        # task_postrun closed it already (task_ignored, task_rejected).
        return
    _logger.error(keys.EVENT_TASK_FAILED, exc_info=exception, **_closing_fields(task, task_id))


def _retried(task: Task[Any, Any], reason: Any) -> None:
    task_id = getattr(task.request, "id", None)
    if not isinstance(task_id, str):
        return
    fields = _closing_fields(task, task_id)
    # The exception that made the task retry, when it gave one (Retry.exc).
    cause = getattr(reason, "exc", None)
    if isinstance(cause, BaseException):
        fields[keys.ERROR_TYPE] = type(cause).__qualname__
    _logger.warning(
        keys.EVENT_TASK_RETRIED,
        exc_info=cause if isinstance(cause, BaseException) else None,
        **fields,
    )


def _finished(task: Task[Any, Any], task_id: str, state: str | None, retval: Any) -> None:
    try:
        if state == "SUCCESS":
            _logger.info(keys.EVENT_TASK_SUCCEEDED, **_closing_fields(task, task_id))
        elif state == "IGNORED":  # raise Ignore(): the attempt ends, nothing is stored
            _logger.info(keys.EVENT_TASK_IGNORED, **_closing_fields(task, task_id))
        elif state == "REJECTED":  # raise Reject(): the message is rejected or requeued
            fields = _closing_fields(task, task_id)
            requeue = getattr(retval, "requeue", None)
            if isinstance(requeue, bool):
                fields[keys.TASK_REQUEUE] = requeue
            _logger.warning(keys.EVENT_TASK_REJECTED, **fields)
    finally:
        attempt = _current(task_id)
        if attempt is not None:
            attempt.scope.close()
            _attempt.reset(attempt.token)
