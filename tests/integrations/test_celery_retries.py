"""Celery retries whose attempts overlap: a real worker with two threads, a real redis."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from celery_records import CLOSING, LOGGING_UID, TIMEOUT, attempts, leave_logging_alone, wait_for

pytest.importorskip("celery", reason="the celery extra is not installed")
pytest.importorskip("redis", reason="the celery extra (redis client) is not installed")

from celery import Celery, signals
from celery.contrib.testing.worker import start_worker

from flext_logging import FlextContext
from flext_logging.integrations.celery import install
from flext_logging.testing import capture_logs

Correlation = FlextContext.Correlation


@pytest.fixture(scope="module")
def threaded_app(redis_url: str) -> Iterator[tuple[Celery, threading.Event]]:
    """An app served by a worker with 2 threads: a retry can start while the attempt
    that published it is still ending."""
    app = Celery("flext_threads", broker=redis_url, set_as_current=False)
    app.conf.update(
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        task_serializer="json",
        task_ignore_result=True,
    )
    install(app)
    second_running = threading.Event()

    @app.task(name="tests.overlap", bind=True, max_retries=1)
    def overlap(self: Any) -> None:
        if self.request.retries == 0:
            retry = self.retry(countdown=0, throw=False)  # published now
            assert second_running.wait(TIMEOUT)  # bounded: the next attempt is running
            raise retry
        second_running.set()

    signals.setup_logging.connect(leave_logging_alone, weak=False, dispatch_uid=LOGGING_UID)
    try:
        with start_worker(
            app,
            pool="threads",
            concurrency=2,
            perform_ping_check=False,
            shutdown_timeout=TIMEOUT,
        ):
            yield app, second_running
    finally:
        signals.setup_logging.disconnect(dispatch_uid=LOGGING_UID)


def test_overlapping_attempts_of_one_task_each_get_their_closing_record(
    threaded_app: tuple[Celery, threading.Event],
) -> None:
    """The retry starts on another thread before the first attempt has ended: both
    attempts' task_started still get their own closing record, with a duration."""
    app, _ = threaded_app
    with capture_logs() as records:
        with Correlation.new_correlation() as publisher_id:
            app.tasks["tests.overlap"].delay()
        wait_for(records, "task_succeeded")
        wait_for(records, "task_retried")
    by_attempt = attempts(records)
    assert len(by_attempt) == 2
    closings = sorted(
        [r["message"] for r in attempt if r["message"] in CLOSING]
        for attempt in by_attempt.values()
    )
    assert closings == [["task_retried"], ["task_succeeded"]]
    for attempt in by_attempt.values():
        assert {r["parent_correlation_id"] for r in attempt} == {publisher_id}
        assert all(r["duration_ms"] is not None for r in attempt if r["message"] in CLOSING)
