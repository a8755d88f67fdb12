"""Celery signals against a real redis-server broker and a real worker thread."""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from celery_records import (
    CLOSING,
    LOGGING_UID,
    TIMEOUT,
    attempts,
    leave_logging_alone,
    wait_for,
)
from scripts import EXAMPLES, run_python

pytest.importorskip("celery", reason="the celery extra is not installed")
pytest.importorskip("redis", reason="the celery extra (redis client) is not installed")

from celery import Celery, signals
from celery.contrib.testing.worker import start_worker
from celery.exceptions import Ignore, Reject

from flext_logging import FlextContext, get_logger
from flext_logging.integrations.celery import install
from flext_logging.testing import capture_logs

Correlation = FlextContext.Correlation
Request = FlextContext.Request
task_logger = get_logger("tests.celery.task")


@pytest.fixture(scope="module")
def celery_app(redis_url: str) -> Iterator[Celery]:
    """A Celery app on that broker with two tasks, served by a real worker thread.

    No result backend: the tests read what the worker logged, which is the point.
    """
    app = Celery("flext_tests", broker=redis_url, set_as_current=False)
    app.conf.update(
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        task_serializer="json",
        task_ignore_result=True,
    )
    install(app)

    @app.task(name="tests.add")
    def add(a: int, b: int) -> int:
        task_logger.info("adding", a=a, b=b)
        return a + b

    @app.task(name="tests.fail")
    def fail() -> None:
        task_logger.info("about to fail")
        raise ValueError("bad input")

    @app.task(name="tests.ignored")
    def ignored() -> None:
        task_logger.info("ignoring")
        raise Ignore

    @app.task(name="tests.rejected")
    def rejected() -> None:
        task_logger.info("rejecting")
        raise Reject("not for us", requeue=False)

    @app.task(name="tests.flaky", bind=True, max_retries=3)
    def flaky(self: Any, failures: int) -> str:
        task_logger.info("attempting", attempt=self.request.retries)
        if self.request.retries < failures:
            raise self.retry(countdown=0, exc=ConnectionError("upstream busy"))
        return "done"

    # A setup_logging receiver makes the worker leave the logging module alone (as the
    # docs advise); without it, the worker would set the root level for later tests.
    signals.setup_logging.connect(leave_logging_alone, weak=False, dispatch_uid=LOGGING_UID)
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=TIMEOUT):
            yield app
    finally:
        signals.setup_logging.disconnect(dispatch_uid=LOGGING_UID)


def test_task_records_carry_the_publishers_correlation_as_parent(celery_app: Celery) -> None:
    """The task runs in a child of the publisher's correlation, with its request id."""
    with capture_logs() as records:
        with (
            Correlation.new_correlation() as publisher_id,
            Request.request_context(request_id="job-7", user_id="scheduler"),
        ):
            result = celery_app.tasks["tests.add"].delay(2, 3)
        [succeeded] = wait_for(records, "task_succeeded")
    [started] = wait_for(records, "task_started")
    [adding] = wait_for(records, "adding")
    task_correlation = started["correlation_id"]
    assert task_correlation != publisher_id
    for record in (started, adding, succeeded):
        assert record["correlation_id"] == task_correlation
        assert record["parent_correlation_id"] == publisher_id
        assert record["request_id"] == "job-7"
        assert record["user_id"] == "scheduler"
    assert (started["task_id"], started["task_name"]) == (result.id, "tests.add")
    assert (succeeded["task_id"], succeeded["task_name"]) == (result.id, "tests.add")
    assert succeeded["duration_ms"] >= 0


def test_failing_task_is_logged_at_error_with_the_error(celery_app: Celery) -> None:
    """task_failed carries the exception as data and the publisher's correlation."""
    with capture_logs() as records:
        with Correlation.new_correlation() as publisher_id:
            result = celery_app.tasks["tests.fail"].delay()
        [failed] = wait_for(records, "task_failed")
        # task_postrun follows task_failure; it must not add a success record.
        wait_for(records, "about to fail")
    assert failed["level"] == "error"
    assert failed["parent_correlation_id"] == publisher_id
    assert (failed["task_id"], failed["task_name"]) == (result.id, "tests.fail")
    assert failed["error"]["type"] == "ValueError"
    assert failed["error"]["message"] == "bad input"
    assert failed["duration_ms"] >= 0
    assert not [record for record in records if record["message"] == "task_succeeded"]


@pytest.mark.parametrize(
    ("task_name", "closing", "level"),
    [("tests.ignored", "task_ignored", "info"), ("tests.rejected", "task_rejected", "warning")],
)
def test_an_ignored_or_rejected_task_closes_its_attempt(
    celery_app: Celery, task_name: str, closing: str, level: str
) -> None:
    """raise Ignore / raise Reject end the attempt: one closing record, with its duration,
    in the attempt's correlation, and nothing that says it succeeded or failed."""
    with capture_logs() as records:
        with Correlation.new_correlation() as publisher_id:
            result = celery_app.tasks[task_name].delay()
        [ended] = wait_for(records, closing)
        # One task after it, on the worker's one thread: whatever the worker writes about
        # the first task is written by the time this one has succeeded.
        celery_app.tasks["tests.add"].delay(1, 2)
        wait_for(records, "task_succeeded")
    started = next(record for record in records if record["message"] == "task_started")
    assert not [record for record in records if record["message"] == "task_failed"]
    assert ended["level"] == level
    assert (ended["task_id"], ended["task_name"]) == (result.id, task_name)
    assert ended["parent_correlation_id"] == publisher_id
    assert ended["correlation_id"] == started["correlation_id"]
    assert ended["duration_ms"] >= 0
    if closing == "task_rejected":
        assert ended["requeue"] is False
    attempt = attempts(records)[ended["correlation_id"]]
    assert [record["message"] for record in attempt if record["message"] in CLOSING] == [closing]


def test_tasks_never_see_another_tasks_context(celery_app: Celery) -> None:
    """The worker restores its context after each task: nothing bleeds into the next."""
    add = celery_app.tasks["tests.add"]
    with capture_logs() as records:
        for number in range(5):
            with Request.request_context(request_id=f"req-{number}"):
                add.delay(number, 1)
        add.delay(0, 0)  # published without any context
        wait_for(records, "task_succeeded", count=6)
    started = [record for record in records if record["message"] == "task_started"]
    assert [record.get("request_id") for record in started] == [
        "req-0",
        "req-1",
        "req-2",
        "req-3",
        "req-4",
        None,
    ]
    assert "parent_correlation_id" not in started[-1]
    assert len({record["correlation_id"] for record in started}) == 6


def test_eager_task_is_a_child_of_the_callers_correlation(celery_app: Celery) -> None:
    """task.apply() runs in-process without headers: still a child correlation, logged."""
    with capture_logs() as records, Correlation.new_correlation() as caller_id:
        assert celery_app.tasks["tests.add"].apply(args=(1, 1)).get() == 2
        assert Correlation.get_correlation_id() == caller_id
    ours = ("flext_logging.celery", "tests.celery.task")
    messages = [
        (record["message"], record.get("parent_correlation_id"))
        for record in records
        if record["logger"] in ours
    ]
    assert messages == [
        ("task_started", caller_id),
        ("adding", caller_id),
        ("task_succeeded", caller_id),
    ]


def test_celery_example_tasks_carry_the_publishers_request() -> None:
    """examples/celery_tasks.py (in-memory broker): both tasks are children of the request."""
    completed = run_python(str(EXAMPLES / "celery_tasks.py"), timeout=60)
    assert completed.returncode == 0, completed.stderr
    records = [json.loads(line) for line in completed.stdout.splitlines()]
    [queued] = [r for r in records if r["message"] == "invoices queued"]
    sent = [r for r in records if r["message"] == "invoice sent"]
    assert sorted(r["invoice_id"] for r in sent) == ["INV-1", "INV-2"]
    assert {r["parent_correlation_id"] for r in sent} == {queued["correlation_id"]}
    assert {r["request_id"] for r in sent} == {"req-7f3a"}
    assert len([r for r in records if r["message"] == "task_succeeded"]) == 2


def test_missing_celery_fails_with_an_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the extra, importing the integration names the pip command to run."""
    monkeypatch.setitem(sys.modules, "celery", None)
    monkeypatch.delitem(sys.modules, "flext_logging.integrations.celery")
    with pytest.raises(ImportError, match=r"pip install 'flext-logging\[celery\]'"):
        importlib.import_module("flext_logging.integrations.celery")


def test_every_retry_is_a_child_of_the_publisher_and_closes_its_attempt(
    celery_app: Celery,
) -> None:
    """Each attempt's parent is the original publisher, never the attempt before it; an
    attempt that ends in a retry is closed by a task_retried record."""
    with capture_logs() as records:
        with (
            Correlation.new_correlation() as publisher_id,
            Request.request_context(request_id="job-9"),
            FlextContext.Trace.span() as span,
        ):
            result = celery_app.tasks["tests.flaky"].delay(2)
        [succeeded] = wait_for(records, "task_succeeded")
    by_attempt = attempts(records)
    assert len(by_attempt) == 3
    assert publisher_id not in by_attempt
    for attempt in by_attempt.values():
        assert next(r["message"] for r in attempt) == "task_started"
        assert [r["message"] for r in attempt if r["message"] in CLOSING] in (
            ["task_retried"],
            ["task_succeeded"],
        )
        for record in attempt:
            assert record["parent_correlation_id"] == publisher_id
            assert record["request_id"] == "job-9"
            assert record["trace_id"] == span.trace_id
            assert record["task_id"] == result.id
    retried = [r for r in records if r["message"] == "task_retried"]
    assert [(r["level"], r.get("task_retries")) for r in retried] == [
        ("warning", None),
        ("warning", 1),
    ]
    assert {r["error"]["type"] for r in retried} == {"ConnectionError"}
    assert all(r["duration_ms"] >= 0 for r in retried)
    assert succeeded["task_retries"] == 2
    assert [r["attempt"] for r in records if r["message"] == "attempting"] == [0, 1, 2]
