"""Context across threads, executors, message envelopes and child processes."""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from scripts import EXAMPLES, run_python

from flext_logging import ContextThreadPoolExecutor, FlextContext, configure, get_logger
from flext_logging.context import inherit_from_environment
from flext_logging.testing import capture_logs

Correlation = FlextContext.Correlation
Request = FlextContext.Request
Serialization = FlextContext.Serialization
Utilities = FlextContext.Utilities

logger = get_logger("tests.propagation")

GENERATED_ID = re.compile(r"[0-9a-f]{32}")
DROPPED = "invalid_context_id_dropped"


def _context_ids() -> tuple[str | None, str | None, str | None]:
    return (
        Correlation.get_correlation_id(),
        Correlation.get_parent_correlation_id(),
        Request.get_request_id(),
    )


# -- Message envelopes -----------------------------------------------------------------


def test_inject_returns_a_new_message_with_the_context_under_one_key() -> None:
    """inject() copies the message and adds the full context under flext_context only."""
    message = {"order_id": "o-1"}
    with (
        Correlation.new_correlation() as correlation_id,
        Request.request_context(request_id="req-7", user_id="u-1", metadata={"tenant": "t1"}),
    ):
        sent = Serialization.inject(message)
    assert message == {"order_id": "o-1"}
    assert sent["order_id"] == "o-1"
    assert set(sent) == {"order_id", "flext_context"}
    assert sent["flext_context"] == {
        "correlation_id": correlation_id,
        "request_id": "req-7",
        "user_id": "u-1",
        "metadata": {"tenant": "t1"},
    }


def test_extracted_starts_a_child_of_the_senders_correlation() -> None:
    """The consumer works in a new correlation whose parent is the sender's; ids stay."""
    with (
        Correlation.new_correlation() as sender_id,
        Request.request_context(request_id="req-7", user_id="u-1"),
    ):
        wire = json.dumps(Serialization.inject({"order_id": "o-1"}))
    Utilities.clear_context()
    with capture_logs() as records, Serialization.extracted(json.loads(wire)) as adopted:
        logger.info("message handled")
    assert adopted["parent_correlation_id"] == sender_id
    assert GENERATED_ID.fullmatch(adopted["correlation_id"])
    assert adopted["correlation_id"] != sender_id
    [record] = records
    assert record["correlation_id"] == adopted["correlation_id"]
    assert record["parent_correlation_id"] == sender_id
    assert record["request_id"] == "req-7"
    assert record["user_id"] == "u-1"
    assert _context_ids() == (None, None, None)


def test_extracted_continues_the_senders_trace_in_a_child_span() -> None:
    """The consumer joins the sender's trace with a span of its own."""
    with FlextContext.Trace.span() as sender_span:
        message = Serialization.inject({})
    with capture_logs() as records, Serialization.extracted(message) as adopted:
        consumer_span = FlextContext.Trace.current_span()
        logger.info("message handled")
    assert consumer_span is not None
    assert consumer_span.trace_id == sender_span.trace_id
    assert consumer_span.parent_span_id == sender_span.span_id
    assert consumer_span.span_id != sender_span.span_id
    assert (records[0]["trace_id"], records[0]["span_id"]) == (
        sender_span.trace_id,
        consumer_span.span_id,
    )
    assert adopted["span_id"] == consumer_span.span_id
    assert FlextContext.Trace.current_span() is None


def test_extracted_keeps_the_senders_service_as_caller_metadata() -> None:
    """A sender's service name describes the caller: the consumer keeps its own name."""
    configure(service_name="worker", format="json")
    with FlextContext.Service.service_context("api", "1.2"):
        message = Serialization.inject({})
    with Serialization.extracted(message):
        assert FlextContext.Service.get_service_name() == "worker"
        metadata = FlextContext.Performance.get_operation_metadata()
    assert metadata["caller_service"] == "api"
    assert metadata["caller_service_version"] == "1.2"


@pytest.mark.parametrize(
    "message",
    [{"order_id": "o-1"}, {"flext_context": "not a mapping"}, {"flext_context": {}}],
)
def test_extracted_without_an_envelope_still_starts_a_fresh_correlation(
    message: dict[str, Any],
) -> None:
    """A message from a producer that does not inject() is handled in a new correlation."""
    with Serialization.extracted(message) as adopted:
        assert GENERATED_ID.fullmatch(Correlation.get_correlation_id() or "")
        assert Correlation.get_parent_correlation_id() is None
    assert adopted == {"correlation_id": adopted["correlation_id"]}
    assert Correlation.get_correlation_id() is None


def test_extracted_without_an_envelope_is_a_child_of_the_consumers_correlation() -> None:
    """Without a sender's correlation, the consumer's current one becomes the parent."""
    with Correlation.new_correlation() as loop_id, Serialization.extracted({}) as adopted:
        assert Correlation.get_parent_correlation_id() == loop_id
    assert adopted["parent_correlation_id"] == loop_id
    assert Correlation.get_correlation_id() is None


def test_extracted_drops_a_hostile_correlation_and_reports_it() -> None:
    """An invalid id in an envelope is never adopted; it is reported, the rest is kept."""
    message = {"flext_context": {"correlation_id": "x\r\ninjected", "request_id": "req-ok"}}
    with capture_logs() as records, Serialization.extracted(message) as adopted:
        logger.info("handled")
    dropped = [record for record in records if record["message"] == DROPPED]
    assert [(d["field"], d["source"]) for d in dropped] == [("correlation_id", "inbound")]
    handled = records[-1]
    assert handled["request_id"] == "req-ok"
    assert "parent_correlation_id" not in handled
    assert handled["correlation_id"] == adopted["correlation_id"]
    assert not any("\n" in str(value) for record in records for value in record.values())


def test_extracted_restores_the_consumers_context_when_the_handler_raises() -> None:
    """The consumer's own context is back after a failing message."""
    message = {"flext_context": {"correlation_id": "sender-1", "request_id": "req-1"}}
    with Correlation.new_correlation() as loop_id:
        with pytest.raises(RuntimeError), Serialization.extracted(message):
            raise RuntimeError("boom")
        assert _context_ids() == (loop_id, None, None)


# -- propagate() -----------------------------------------------------------------------


def test_propagate_runs_the_function_in_the_context_of_wrap_time() -> None:
    """The wrapped function sees the context captured when it was wrapped, not called."""
    with Correlation.new_correlation() as wrapped_in, Request.request_context(request_id="r-1"):
        wrapped = Utilities.propagate(_context_ids)
    with Correlation.new_correlation():
        seen = wrapped()
    assert seen == (wrapped_in, None, "r-1")


def test_propagate_calls_do_not_leak_into_the_caller_or_each_other() -> None:
    """What one call sets stays in that call: not in the caller, not in the next call."""

    def set_and_read() -> str | None:
        before = Request.get_user_id()
        Request.set_user_id("set-inside")
        return before

    with Request.request_context(user_id="outer"):
        wrapped = Utilities.propagate(set_and_read)
        assert wrapped() == "outer"
        assert wrapped() == "outer"
        assert Request.get_user_id() == "outer"


def test_propagate_keeps_the_functions_name_and_arguments() -> None:
    """The wrapper looks like the function and passes positional and keyword arguments."""

    def add(a: int, *, b: int) -> int:
        """Add two numbers."""
        return a + b

    wrapped = Utilities.propagate(add)
    assert wrapped(2, b=3) == 5
    assert wrapped.__name__ == "add"
    assert wrapped.__doc__ == "Add two numbers."


def test_propagate_wrapper_can_run_on_many_threads_at_once() -> None:
    """One wrapped callable used by overlapping threads runs in a context copy each."""
    barrier = threading.Barrier(8, timeout=10)

    def wait_and_read() -> str | None:
        barrier.wait()
        return Correlation.get_correlation_id()

    with Correlation.new_correlation() as correlation_id:
        wrapped = Utilities.propagate(wait_and_read)
    with ThreadPoolExecutor(max_workers=8) as pool:
        seen = list(pool.map(lambda _: wrapped(), range(8), timeout=30))
    assert seen == [correlation_id] * 8


# -- Threads ---------------------------------------------------------------------------


def _in_thread(target: Callable[[], None]) -> None:
    thread = threading.Thread(target=target)
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive()


def test_plain_thread_starts_without_the_callers_context() -> None:
    """Baseline: a threading.Thread target sees none of the caller's context."""
    seen: list[Any] = []
    with Correlation.new_correlation():
        _in_thread(lambda: seen.append(_context_ids()))
    assert seen == [(None, None, None)]


def test_thread_with_a_propagated_target_logs_with_the_callers_context() -> None:
    """threading.Thread(target=propagate(fn)) logs with the correlation of the starter."""
    with capture_logs() as records, Correlation.new_correlation() as correlation_id:
        _in_thread(Utilities.propagate(lambda: logger.info("in thread")))
    assert [(r["message"], r["correlation_id"]) for r in records] == [("in thread", correlation_id)]


# -- ContextThreadPoolExecutor -----------------------------------------------------------


def test_executor_submit_carries_the_submitters_context() -> None:
    """Each submitted task runs with the context of the code that submitted it."""
    with ContextThreadPoolExecutor(max_workers=4) as pool:
        futures = {}
        for index in range(40):
            with Request.request_context(request_id=f"req-{index}"):
                futures[f"req-{index}"] = pool.submit(Request.get_request_id)
        seen = {expected: future.result(timeout=30) for expected, future in futures.items()}
    assert all(expected == got for expected, got in seen.items())
    assert len(seen) == 40


def test_executor_map_carries_the_context_of_the_map_call() -> None:
    """Every call of map() runs with the context current when map() was called."""
    with ContextThreadPoolExecutor(max_workers=4) as pool:
        with Correlation.new_correlation() as correlation_id:
            results = pool.map(lambda n: (n, Correlation.get_correlation_id()), range(20))
        assert list(results) == [(n, correlation_id) for n in range(20)]


def test_executor_tasks_do_not_change_the_submitters_context() -> None:
    """What a task sets stays in the task; the submitter's values are untouched."""

    def set_user() -> str | None:
        Request.set_user_id("from-task")
        return Request.get_user_id()

    with ContextThreadPoolExecutor(max_workers=1) as pool, Request.request_context(user_id="me"):
        assert pool.submit(set_user).result(timeout=30) == "from-task"
        assert Request.get_user_id() == "me"
        assert pool.submit(Request.get_user_id).result(timeout=30) == "me"


def test_executor_task_records_carry_the_submitters_correlation() -> None:
    """A log line written by a pool worker carries the submitter's correlation."""
    with (
        capture_logs() as records,
        ContextThreadPoolExecutor(max_workers=2) as pool,
        Correlation.new_correlation() as correlation_id,
    ):
        pool.submit(logger.info, "sent receipt", order_id="o-1").result(timeout=30)
    [record] = records
    assert record["correlation_id"] == correlation_id
    assert record["order_id"] == "o-1"


def test_plain_thread_pool_loses_the_context() -> None:
    """Baseline: concurrent.futures.ThreadPoolExecutor runs tasks without the context."""
    with ThreadPoolExecutor(max_workers=1) as pool, Correlation.new_correlation():
        assert pool.submit(Correlation.get_correlation_id).result(timeout=30) is None


# -- asyncio: run_in_executor ---------------------------------------------------------


def test_run_in_executor_with_propagate_carries_the_tasks_context() -> None:
    """loop.run_in_executor(None, propagate(fn)) runs fn in the calling task's context."""

    async def main() -> tuple[str, str | None]:
        loop = asyncio.get_running_loop()
        with Correlation.new_correlation() as correlation_id:
            seen = await loop.run_in_executor(None, Utilities.propagate(_context_ids))
        return correlation_id, seen[0]

    correlation_id, seen = asyncio.run(main())
    assert seen == correlation_id


def test_context_executor_as_default_executor_carries_every_tasks_context() -> None:
    """With ContextThreadPoolExecutor as the default executor, plain fn is enough."""

    async def handle(request_id: str) -> tuple[str, str | None]:
        loop = asyncio.get_running_loop()
        with Request.request_context(request_id=request_id):
            seen = await loop.run_in_executor(None, Request.get_request_id)
        return request_id, seen

    async def main() -> list[tuple[str, str | None]]:
        asyncio.get_running_loop().set_default_executor(ContextThreadPoolExecutor(max_workers=4))
        return await asyncio.gather(*(handle(f"req-{n}") for n in range(20)))

    results = asyncio.run(main())
    assert all(expected == seen for expected, seen in results)
    assert len(results) == 20


# -- Child processes -----------------------------------------------------------------


def test_to_env_returns_the_set_values_as_flext_variables() -> None:
    """to_env() names each set value FLEXT_*, leaving out unset ones and the parent id."""
    configure(service_name="etl", service_version="3.1", format="json")
    with (
        Correlation.new_correlation(),
        Correlation.new_correlation() as correlation_id,
        Request.request_context(request_id="job-9", operation_name="nightly_sync"),
    ):
        env = Serialization.to_env()
    assert env == {
        "FLEXT_CORRELATION_ID": correlation_id,
        "FLEXT_REQUEST_ID": "job-9",
        "FLEXT_SERVICE_NAME": "etl",
        "FLEXT_SERVICE_VERSION": "3.1",
        "FLEXT_OPERATION_NAME": "nightly_sync",
    }


def test_to_env_is_empty_without_context() -> None:
    """Nothing set, nothing passed."""
    assert Serialization.to_env() == {}


TAP_SCRIPT = """
import threading
from flext_logging import FlextContext, configure, get_logger
configure(format="json"{options})
log = get_logger("tap")
log.info("tap started")
thread = threading.Thread(target=lambda: log.info("tap thread"))
thread.start()
thread.join()
with FlextContext.Correlation.new_correlation():
    log.info("tap stream synced")
"""


def _run_tap(env: dict[str, str], options: str = "") -> list[dict[str, Any]]:
    """Run the tap script in a real child process and parse its JSON lines."""
    completed = run_python("-c", TAP_SCRIPT.format(options=options), env=env)
    assert completed.returncode == 0, completed.stderr
    return [json.loads(line) for line in completed.stdout.splitlines()]


def test_child_process_correlation_is_a_child_of_the_parents() -> None:
    """The ETL case: a job spawns a tap; the tap's lines link back to the job's correlation."""
    configure(service_name="etl-job", service_version="3.1", format="json")
    with (
        Correlation.new_correlation() as job_id,
        Request.request_context(request_id="run-42", user_id="scheduler"),
    ):
        records = _run_tap(Serialization.to_env())
    started, in_thread, synced = records
    assert list(started)[5:] == [
        "correlation_id",
        "parent_correlation_id",
        "request_id",
        "service_name",
        "service_version",
        "user_id",
    ]
    tap_id = started["correlation_id"]
    assert GENERATED_ID.fullmatch(tap_id)
    assert tap_id != job_id
    for record in (started, in_thread):
        assert record["correlation_id"] == tap_id
        assert record["parent_correlation_id"] == job_id
        assert record["request_id"] == "run-42"
        assert record["user_id"] == "scheduler"
        assert record["service_name"] == "etl-job"
        assert record["service_version"] == "3.1"
    assert synced["parent_correlation_id"] == tap_id
    assert synced["request_id"] == "run-42"


def test_child_process_that_names_itself_keeps_the_link() -> None:
    """configure(service_name=...) in the child wins over the inherited service name."""
    configure(service_name="etl-job", format="json")
    with Correlation.new_correlation() as job_id:
        records = _run_tap(Serialization.to_env(), ', service_name="tap-postgres"')
    assert records[0]["service_name"] == "tap-postgres"
    assert records[0]["parent_correlation_id"] == job_id


def test_child_process_drops_an_invalid_inherited_correlation() -> None:
    """A hostile FLEXT_CORRELATION_ID is reported in the child and never used."""
    records = _run_tap({"FLEXT_CORRELATION_ID": "bad id\r\nx", "FLEXT_REQUEST_ID": "run-1"})
    dropped, started = records[0], records[1]
    assert dropped["message"] == DROPPED
    assert (dropped["field"], dropped["source"]) == ("correlation_id", "environment")
    assert "correlation_id" not in started
    assert "parent_correlation_id" not in started
    assert started["request_id"] == "run-1"


def test_child_process_without_variables_has_no_inherited_context() -> None:
    """A process started without to_env() logs without correlation, as before."""
    started = _run_tap({})[0]
    assert "correlation_id" not in started
    assert "request_id" not in started


def test_configure_again_keeps_the_inherited_child_correlation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Reconfiguring a child process does not start yet another correlation."""
    monkeypatch.setenv("FLEXT_CORRELATION_ID", "job-corr-1")
    configure(format="json")
    first = Correlation.get_correlation_id()
    configure(format="json", level="DEBUG")
    assert Correlation.get_correlation_id() == first
    assert Correlation.get_parent_correlation_id() == "job-corr-1"


def test_inherited_context_survives_clear_context_like_the_service_identity() -> None:
    """The inherited values are process-wide: clear_context() keeps them."""
    adopted = inherit_from_environment({"FLEXT_CORRELATION_ID": "job-1", "FLEXT_USER_ID": "u"})
    Utilities.clear_context()
    assert Correlation.get_correlation_id() == adopted["correlation_id"]
    assert Correlation.get_parent_correlation_id() == "job-1"
    assert Request.get_user_id() == "u"


SPAN_ID = re.compile(r"[0-9a-f]{16}")
PARENT_TRACE = "0af7651916cd43dd8448eb211c80319c"
PARENT_SPAN = "b7ad6b7169203331"


def test_to_env_passes_the_current_span_as_traceparent() -> None:
    """Inside a span, TRACEPARENT (and TRACESTATE) name it as the child's parent."""
    with FlextContext.Trace.span(tracestate="vendor=1") as span:
        env = Serialization.to_env()
    assert env == {
        "TRACEPARENT": f"00-{span.trace_id}-{span.span_id}-01",
        "TRACESTATE": "vendor=1",
    }


def test_child_process_runs_in_a_span_of_the_parents_trace() -> None:
    """Every line of the child has the parent's trace id and a span id of its own."""
    configure(service_name="etl-job", format="json")
    with Correlation.new_correlation(), FlextContext.Trace.span() as job_span:
        records = _run_tap(Serialization.to_env())
    assert len(records) == 3
    assert {r["trace_id"] for r in records} == {job_span.trace_id}
    tap_spans = {r["span_id"] for r in records}
    assert len(tap_spans) == 1
    assert SPAN_ID.fullmatch(tap_spans.pop() or "")
    assert job_span.span_id not in {r["span_id"] for r in records}


def test_spans_started_in_a_child_descend_from_the_inherited_span() -> None:
    """A span the child starts (an HTTP call, a task) stays in the parent's trace."""
    adopted = inherit_from_environment({"TRACEPARENT": f"00-{PARENT_TRACE}-{PARENT_SPAN}-01"})
    assert adopted["trace_id"] == PARENT_TRACE
    assert FlextContext.Trace.current_span() == (
        PARENT_TRACE,
        adopted["span_id"],
        PARENT_SPAN,
        "01",
        None,
    )
    with FlextContext.Trace.span() as inner:
        assert (inner.trace_id, inner.parent_span_id) == (PARENT_TRACE, adopted["span_id"])
    configure(format="json")  # no TRACEPARENT in this process's environment
    assert FlextContext.Trace.current_span() is None


def test_configure_again_keeps_the_inherited_span(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reconfiguring a child process does not start yet another span."""
    monkeypatch.setenv("TRACEPARENT", f"00-{PARENT_TRACE}-{PARENT_SPAN}-01")
    configure(format="json")
    first = FlextContext.Trace.get_span_id()
    configure(format="json", level="DEBUG")
    assert FlextContext.Trace.get_span_id() == first
    assert FlextContext.Trace.get_trace_id() == PARENT_TRACE


def test_child_process_drops_a_malformed_traceparent() -> None:
    """A malformed TRACEPARENT is reported in the child and never used."""
    records = _run_tap({"TRACEPARENT": "00-not-a-trace-01", "FLEXT_REQUEST_ID": "run-1"})
    dropped, started = records[0], records[1]
    assert dropped["message"] == DROPPED
    assert (dropped["field"], dropped["source"]) == ("trace_id", "environment")
    assert dropped["reason"] == "malformed traceparent"
    assert "trace_id" not in started
    assert started["request_id"] == "run-1"


# -- The examples ----------------------------------------------------------------------


def _run_example(name: str) -> list[dict[str, Any]]:
    completed = run_python(str(EXAMPLES / name))
    assert completed.returncode == 0, completed.stderr
    assert completed.stderr == ""
    return [json.loads(line) for line in completed.stdout.splitlines()]


def test_worker_queue_example_links_each_message_to_its_request() -> None:
    """examples/worker_queue.py: shipped and receipt lines are children of their request."""
    records = _run_example("worker_queue.py")
    accepted = {r["order_id"]: r for r in records if r["message"] == "order accepted"}
    assert sorted(accepted) == ["o-1", "o-2"]
    for message in ("order shipped", "receipt sent"):
        lines = [r for r in records if r["message"] == message]
        assert len(lines) == 2
        for line in lines:
            request = accepted[line["order_id"]]
            assert line["parent_correlation_id"] == request["correlation_id"]
            assert line["request_id"] == request["request_id"]


def test_etl_subprocess_example_links_every_tap_to_the_job() -> None:
    """examples/etl_subprocess.py: both taps' lines are children of the job's correlation."""
    records = _run_example("etl_subprocess.py")
    [job] = [r for r in records if r["message"] == "job started"]
    taps = [r for r in records if r["logger"] == "etl.tap"]
    assert {r["service_name"] for r in taps} == {"tap-postgres", "tap-salesforce"}
    assert {r["parent_correlation_id"] for r in taps} == {job["correlation_id"]}
    assert {r["request_id"] for r in taps} == {job["request_id"]}
    assert len({r["correlation_id"] for r in taps}) == 2
    assert {r["trace_id"] for r in taps} == {job["trace_id"]}
    assert len({r["span_id"] for r in [job, *taps]}) == 3
    assert records[-1]["message"] == "job finished"
