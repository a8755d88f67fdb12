"""The integration examples run as documented and write what docs/integrations.md says."""

from __future__ import annotations

import json
from typing import Any

from scripts import EXAMPLES, run_python


def run_example(name: str) -> list[dict[str, Any]]:
    """Run ``examples/<name>`` and return its JSON lines; fail on a non-zero exit."""
    completed = run_python(str(EXAMPLES / name))
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


def test_fastapi_example_logs_requests_and_the_failure() -> None:
    """The FastAPI example adopts the caller's ids, logs the 500, and skips /health."""
    records = [r for r in run_example("fastapi_app.py") if r["logger"] != "httpx"]
    messages = [r["message"] for r in records]
    assert messages == [
        "request_started",
        "item looked up",
        "request_finished",
        "request_started",
        "request_failed",
    ]
    assert {r["request_id"] for r in records[:3]} == {"req-7f3a"}
    assert records[0]["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert records[2]["route"] == "/items/{item_id}"
    assert records[4]["status_code"] == 500


def test_flask_example_streams_inside_the_request_context() -> None:
    """Rows logged while the Flask example streams carry that request's id."""
    records = run_example("flask_app.py")
    rows = [r for r in records if r["message"] == "row exported"]
    assert len(rows) == 3
    assert len({r["request_id"] for r in rows}) == 1
    assert records[-1]["message"] == "request_finished"
    assert records[-1]["request_id"] == rows[0]["request_id"]


def test_two_services_example_links_both_services() -> None:
    """One correlation and trace across shop and billing; billing's parent is shop's call."""
    records = run_example("two_services.py")
    assert {r["service_name"] for r in records if "service_name" in r} == {"shop", "billing"}
    assert len({r["correlation_id"] for r in records}) == 1
    assert len({r["trace_id"] for r in records}) == 1
    (call,) = [
        r
        for r in records
        if r["message"] == "http_request_finished" and r.get("service_name") == "shop"
    ]
    (billing_start,) = [
        r for r in records if r["message"] == "request_started" and r["service_name"] == "billing"
    ]
    assert billing_start["parent_span_id"] == call["span_id"]
