"""The multi-service demo runs end to end and leaves logs that tell one failed request's story.

``examples/demo_system.py`` is run once per session, as ``make demo`` runs it, into a
temporary ``demo-logs/`` (the ``demo_run`` fixture); the tests read the three services'
JSON files it leaves behind.
"""

from __future__ import annotations

import importlib.util
import re
import socket

import pytest
from demo_run import SERVICES, DemoRun

from flext_logging import keys

ERROR_CODE = "FLEXT_OPERATION_ERROR"


@pytest.fixture
def demo(demo_run: DemoRun) -> DemoRun:
    """The demo's run of this test session (see tests/demo_run.py)."""
    return demo_run


def test_each_service_writes_only_its_own_records_in_the_schema(demo: DemoRun) -> None:
    """Every line of a service's file is a schema record naming that service."""
    for service, records in demo.logs.items():
        assert records, f"{service}.log is empty"
        assert {r[keys.SERVICE_NAME] for r in records} == {service}
        assert all(list(r)[:4] == list(keys.HEAD_KEYS) for r in records)
    assert demo.completed.stderr == ""


def test_the_whole_burst_was_served_and_handled(demo: DemoRun) -> None:
    """20 checkouts finished at the gateway and the user service, 20 jobs in the worker."""
    gateway, users, worker = (demo.logs[s] for s in SERVICES)
    finished = [r for r in gateway if r[keys.MESSAGE] == keys.EVENT_REQUEST_FINISHED]
    assert [r[keys.STATUS_CODE] for r in finished] == [202] * 20
    assert len([r for r in users if r[keys.MESSAGE] == keys.EVENT_REQUEST_FINISHED]) == 20
    assert len([r for r in worker if r[keys.MESSAGE] == "job_started"]) == 20
    assert len([r for r in worker if r[keys.MESSAGE] == "job_finished"]) == 19
    stopped = [r for r in users if r[keys.MESSAGE] == "service_stopped"]
    assert [r["jobs_left"] for r in stopped] == [0]


def test_exactly_one_error_carries_the_flext_error_code(demo: DemoRun) -> None:
    """The declined card is the one error of the run, logged by the worker with its code."""
    error = demo.failed_job()
    assert error[keys.SERVICE_NAME] == "worker"
    assert error[keys.MESSAGE] == "job_failed"
    assert error[keys.ERROR][keys.ERROR_MESSAGE] == "card declined by the issuer"
    assert [r for r in demo.everything if r[keys.LEVEL] == "error"] == [error]


def test_failed_request_is_followed_across_all_three_services(demo: DemoRun) -> None:
    """The printed id is the gateway's and user service's correlation and the worker's parent."""
    failed_id = demo.failed_job()[keys.PARENT_CORRELATION_ID]
    assert f"card declined in the worker): {failed_id}" in demo.completed.stdout
    gateway = [r for r in demo.logs["gateway"] if r.get(keys.CORRELATION_ID) == failed_id]
    users = [r for r in demo.logs["users"] if r.get(keys.CORRELATION_ID) == failed_id]
    worker = [r for r in demo.logs["worker"] if r.get(keys.PARENT_CORRELATION_ID) == failed_id]
    assert [r[keys.MESSAGE] for r in gateway] == [
        "request_started",
        "checkout_received",
        "http_request_finished",
        "checkout_accepted",
        "request_finished",
    ]
    assert [r[keys.MESSAGE] for r in users] == [
        "request_started",
        "operation_finished",
        "order_queued",
        "request_finished",
    ]
    assert [r[keys.MESSAGE] for r in worker] == ["job_started", "operation_finished", "job_failed"]
    assert {r[keys.USER_ID] for r in gateway[1:4] + users[1:3] + worker} == {"u-1013"}
    assert len({r[keys.TRACE_ID] for r in gateway + users + worker}) == 1
    # The user service ran in the span of the gateway's outgoing call.
    assert users[0][keys.PARENT_SPAN_ID] == gateway[2][keys.SPAN_ID]


def test_worker_records_are_children_of_the_user_service_correlations(demo: DemoRun) -> None:
    """Each job runs in a new correlation whose parent is the request that queued it."""
    users_correlations = {
        r[keys.CORRELATION_ID] for r in demo.logs["users"] if keys.CORRELATION_ID in r
    }
    jobs = [r for r in demo.logs["worker"] if keys.CORRELATION_ID in r]
    assert len(jobs) == 60
    assert {r[keys.PARENT_CORRELATION_ID] for r in jobs} == users_correlations
    assert not {r[keys.CORRELATION_ID] for r in jobs} & users_correlations
    by_job: dict[str, set[str]] = {}
    for record in jobs:
        by_job.setdefault(record[keys.CORRELATION_ID], set()).add(
            record[keys.PARENT_CORRELATION_ID]
        )
    assert len(by_job) == 20
    assert all(len(parents) == 1 for parents in by_job.values())


def test_servers_are_stopped_when_the_demo_ends(demo: DemoRun) -> None:
    """Both services listened on 127.0.0.1 and no longer accept connections."""
    urls = re.findall(r"http://(127\.0\.0\.1):(\d+)", demo.completed.stdout.splitlines()[0])
    assert len(urls) == 2
    for host, port in urls:
        with pytest.raises(ConnectionRefusedError), socket.create_connection((host, int(port)), 2):
            pass


def test_demo_shows_the_trace_or_the_jq_recipe(demo: DemoRun) -> None:
    """With the CLI installed the demo runs trace and stats on its logs; without, it prints jq."""
    failed_id = demo.failed_job()[keys.PARENT_CORRELATION_ID]
    out = demo.completed.stdout
    if importlib.util.find_spec("flext_logging.cli") is None:
        assert f"jq -s -c --arg id {failed_id}" in out
        return
    trace_part = out.split(f"$ flext-logging trace {failed_id} ", 1)[1]
    trace_part, stats_part = trace_part.split("$ flext-logging stats ", 1)
    assert ERROR_CODE in trace_part
    assert ERROR_CODE in stats_part
    assert "…" not in out  # written to a pipe: no line is cut


def _users_url(demo: DemoRun) -> str:
    return re.findall(r"http://127\.0\.0\.1:\d+", demo.completed.stdout.splitlines()[0])[1]


def test_trace_shows_the_failed_checkout_across_the_three_services(demo: DemoRun) -> None:
    """The tree nests gateway, client call, user service, and the worker's failed job."""
    if importlib.util.find_spec("flext_logging.cli") is None:
        pytest.skip("the flext-logging command is not installed")
    trace_part = demo.completed.stdout.split("$ flext-logging trace ", 1)[1]
    trace_part = trace_part.split("$ flext-logging stats ", 1)[0]
    # kind id  start  duration  status  service operation
    node = re.compile(
        r"^[│├└─ ]*(correlation|span) [0-9a-f]+  [\d:.]+  \S+ m?s  (.+?)  (\S+) (.+)$"
    )
    nodes = [match.groups() for line in trace_part.splitlines() if (match := node.match(line))]
    assert nodes == [
        ("correlation", "ok (1 failed below)", "gateway", "POST /checkout/{user_id}"),
        ("span", "ok 202", "gateway", "POST /checkout/{user_id}"),
        ("span", "ok 202", "gateway", f"POST {_users_url(demo)}/users/u-1013/orders"),
        ("span", "ok 202", "users", "POST /users/<user_id>/orders"),
        ("correlation", "ok (1 failed below)", "worker", "invoice_job"),
        ("span", f"failed [{ERROR_CODE}]", "worker", "invoice_job"),
    ]


def test_stats_has_one_row_per_route_and_operation(demo: DemoRun) -> None:
    """The gateway's 20 calls to the user service are one row, not one per user."""
    if importlib.util.find_spec("flext_logging.cli") is None:
        pytest.skip("the flext-logging command is not installed")
    stats_part = demo.completed.stdout.split("$ flext-logging stats ", 1)[1]
    cells = [line.split("│")[1:3] for line in stats_part.splitlines() if line.startswith("│")]
    counts = {name.strip(): count.strip() for name, count in cells}
    assert counts == {
        "POST /checkout/{user_id}": "20",
        "POST /users/<user_id>/orders": "20",
        f"POST {_users_url(demo)}/users/{{id}}/orders": "20",
        "load_user": "20",
        "render_invoice": "20",
        ERROR_CODE: "1",
    }
