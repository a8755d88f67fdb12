"""Whatever id is given, the tree is the whole request, and each node says it right."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from cli_records import Record, make_record
from rich.console import Console

from flext_logging import keys
from flext_logging.cli import render
from flext_logging.cli.main import main
from flext_logging.cli.reading import Reader
from flext_logging.cli.tree import Node, build_tree, collect_records

ROOT, JOB, CALLEE = "c-root", "c-job", "c-callee"


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main(argv)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _outline(node: dict[str, Any], depth: int = 0) -> list[str]:
    lines = ["  " * depth + f"{node['kind']} {node['id']} {node['status']}"]
    for child in node["children"]:
        lines += _outline(child, depth + 1)
    return lines


def _request(write_log: Callable[..., Path]) -> Path:
    """A web request (request id r-1) whose client call has no request id, and a job.

    The job runs in a child correlation with a request id of its own, and fails.
    """
    return write_log(
        "app.log",
        make_record(
            keys.EVENT_REQUEST_STARTED,
            "01.000000",
            correlation=ROOT,
            span="s-in",
            request_id="r-1",
            method="POST",
            path="/orders",
        ),
        make_record(  # an httpx client span: no request id of its own
            keys.EVENT_HTTP_REQUEST_FINISHED,
            "01.050000",
            correlation=ROOT,
            span="s-out",
            parent_span_id="s-in",
            method="GET",
            url="http://stock/items/1",
            status_code=200,
            duration_ms=30.0,
        ),
        make_record(
            keys.EVENT_REQUEST_FINISHED,
            "01.100000",
            correlation=ROOT,
            span="s-in",
            request_id="r-1",
            method="POST",
            path="/orders",
            route="/orders",
            status_code=202,
            duration_ms=100.0,
        ),
        make_record("job started", "02.000000", correlation=JOB, parent=ROOT, request_id="r-job"),
        make_record(
            keys.EVENT_OPERATION_FAILED,
            "02.100000",
            correlation=JOB,
            parent=ROOT,
            request_id="r-job",
            level="error",
            operation="send_invoice",
            duration_ms=100.0,
            status=keys.STATUS_FAILED,
            error_code="FLEXT_X",
        ),
        make_record("unrelated", "03.000000", correlation="c-other", request_id="r-2"),
    )


@pytest.mark.parametrize("ident", [ROOT, "r-1"])
def test_any_id_of_a_request_gives_the_whole_tree(
    ident: str, write_log: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """By request id too: the client span without a request id, and the failed job below."""
    log = _request(write_log)
    status, out, _ = _run(["trace", ident, str(log), "--format", "json", "--no-records"], capsys)
    assert status == 0
    tree = orjson.loads(out)
    assert _outline(tree) == [
        "correlation c-root ok",
        "  span s-in ok",
        "    span s-out ok",
        "  correlation c-job failed",
    ]
    assert tree["failed_below"] == 1


def test_a_request_id_and_its_correlation_draw_the_same_tree(
    write_log: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """The tree drawn for r-1 is, line for line, the tree drawn for its correlation."""
    log = _request(write_log)
    _, by_request, _ = _run(["trace", "r-1", str(log), "--width", "120"], capsys)
    _, by_correlation, _ = _run(["trace", ROOT, str(log), "--width", "120"], capsys)
    assert by_request == by_correlation
    assert "(1 failed below)" in by_request.splitlines()[0]


@pytest.mark.parametrize("given", ["trace", "correlation", "request"])
def test_a_callee_in_another_correlation_nests_under_its_caller_whatever_id_is_given(
    given: str, write_log: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """Only traceparent crossed: the callee's correlation hangs under the client span,
    traced by the trace id, the caller's correlation id or its request id alike."""
    trace = "0af7651916cd43dd8448eb211c80319c"
    ident = {"trace": trace, "correlation": "c-caller", "request": "r-caller"}[given]
    log = write_log(
        "app.log",
        make_record(
            keys.EVENT_HTTP_REQUEST_FINISHED,
            "01.100000",
            correlation="c-caller",
            span="s-client",
            trace_id=trace,
            request_id="r-caller",
            service="shop",
            method="POST",
            url="http://billing/invoices",
            status_code=201,
            duration_ms=100.0,
        ),
        make_record(
            keys.EVENT_REQUEST_STARTED,
            "01.010000",
            correlation=CALLEE,
            span="s-server",
            parent_span_id="s-client",
            trace_id=trace,
            service="billing",
            method="POST",
            path="/invoices",
        ),
        make_record(
            keys.EVENT_REQUEST_FINISHED,
            "01.090000",
            correlation=CALLEE,
            span="s-server",
            trace_id=trace,
            service="billing",
            method="POST",
            path="/invoices",
            status_code=201,
            duration_ms=80.0,
        ),
    )
    status, out, _ = _run(["trace", ident, str(log), "--format", "json", "--no-records"], capsys)
    assert status == 0
    assert _outline(orjson.loads(out)) == [
        "correlation c-caller ok",
        "  span s-client ok",
        f"    correlation {CALLEE} ok",
        "      span s-server ok",
    ]


def test_a_fan_out_of_500_children_is_one_search_per_level(write_log: Callable[..., Path]) -> None:
    """500 jobs started by one request: all found, with two searches, not 501."""
    children = [
        make_record("job", f"02.{n:06d}", correlation=f"job-{n:03d}", parent=ROOT)
        for n in range(500)
    ]
    grandchild = make_record("step", "03.000000", correlation="step", parent="job-499")
    log = write_log(
        "app.log",
        make_record("root", "01.000000", correlation=ROOT),
        *children,
        grandchild,
        *(make_record("noise", "04.000000", correlation=f"n{n}") for n in range(2000)),
    )
    found = collect_records([str(log)], ROOT, Reader())
    assert found.searches == 3  # the root's id, its 500 children, the one grandchild
    root = build_tree(found.records, ROOT, "correlation")
    assert len(root.children) == 500
    assert root.children[-1].children[0].id == "step"


def test_a_cycle_of_duplicated_ids_is_not_called_an_orphan(
    write_log: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """A names B as parent and B names A: both are drawn, neither says its parent is missing."""
    log = write_log(
        "app.log",
        make_record("a", "01.000000", correlation="a", parent="b", request_id="r"),
        make_record("b", "02.000000", correlation="b", parent="a", request_id="r"),
    )
    status, out, _ = _run(["trace", "r", str(log), "--width", "120"], capsys)
    assert status == 0
    assert "orphan" not in out
    drawn = [line.strip("│├└─ ").split()[1] for line in out.splitlines() if "correlation" in line]
    assert sorted(drawn) == ["a", "b"]


def _tree(*records: dict[str, Any], ident: str = "c") -> list[str]:
    output = io.StringIO()
    root = build_tree(list(records), ident, "correlation")
    render.render_tree(root, Console(file=output, width=120, color_system=None))
    return output.getvalue().splitlines()


def test_an_error_without_a_code_shows_no_empty_brackets() -> None:
    """`failed []` is gone: an error without a code adds nothing after the status."""
    lines = _tree(
        make_record(
            "crashed", "01.000000", correlation="c", level="error", error={"type": "ValueError"}
        )
    )
    assert lines[0].endswith("  failed  shop")


def test_json_keeps_the_status_code_a_number_and_the_error_message() -> None:
    """status_code 503 stays a number; errors say the event and the exception's message."""
    root = build_tree(
        [
            make_record(
                keys.EVENT_REQUEST_FAILED,
                "01.000000",
                correlation="c",
                level="error",
                method="GET",
                path="/",
                status_code=503,
                duration_ms=1.0,
                error={keys.ERROR_MESSAGE: "upstream down", keys.ERROR_CODE: "FLEXT_X"},
            )
        ],
        "c",
        "correlation",
    )
    data = orjson.loads(render.render_json(root, with_records=False))
    assert data["status_code"] == 503
    assert data["errors"] == [
        {
            "event": keys.EVENT_REQUEST_FAILED,
            keys.MESSAGE: "upstream down",
            keys.ERROR_CODE: "FLEXT_X",
            keys.TIMESTAMP: "2026-11-23T10:00:01.000000Z",
        }
    ]


def _call(server_end: str, server_duration_ms: float) -> list[Record]:
    """shop's 100 ms call from 01.000 to 01.100, and users' record of serving it."""
    return [
        make_record(
            keys.EVENT_HTTP_REQUEST_FINISHED,
            "01.100000",
            correlation="c",
            span="s-client",
            service="shop",
            method="GET",
            url="http://users/u",
            duration_ms=100.0,
        ),
        make_record(
            keys.EVENT_REQUEST_FINISHED,
            server_end,
            correlation="c",
            span="s-server",
            parent_span_id="s-client",
            service="users",
            method="GET",
            path="/u",
            duration_ms=server_duration_ms,
        ),
    ]


def test_a_server_whose_clock_runs_ahead_is_flagged() -> None:
    """The callee ends 40 ms after its caller's call ended: skew, drawn inside the caller."""
    records = _call("01.140000", 80.0)  # the server's clock is 60 ms ahead
    root = build_tree(records, "c", "correlation")
    server = root.children[0].children[0]
    assert server.skew_ms == -40.0
    client = root.children[0]
    assert client.display_s is not None
    assert server.display_s is not None
    assert server.display_s + 0.080 <= client.display_s + 0.100 + 1e-9
    assert any("ends 40 ms after its parent" in line for line in _tree(*records))


def test_a_server_that_finishes_writing_late_is_no_clock_skew() -> None:
    """The callee starts 2 ms into the call and writes its end 15 ms after the caller
    saw the answer (a busy server, one clock): no skew is claimed."""
    records = _call("01.115000", 113.0)
    root = build_tree(records, "c", "correlation")
    assert root.children[0].children[0].skew_ms == 0.0
    assert not any("clock skew" in line for line in _tree(*records))


def test_a_span_is_not_named_after_an_operation_inside_it() -> None:
    """A span whose records merely ran in a timed operation has no operation label."""
    root = build_tree(
        [
            make_record("cache miss", "01.000000", correlation="c", span="s", operation="cache"),
            make_record("done", "01.100000", correlation="c", span="s"),
        ],
        "c",
        "correlation",
    )
    assert root.children[0].operation is None


def test_a_root_whose_lines_are_filtered_out_is_not_named_after_a_child(
    write_log: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """`--where service_name=users` hides the gateway's lines: the root is not `users`."""
    log = write_log(
        "app.log",
        make_record("in", "01.000000", correlation=ROOT, service="gateway"),
        make_record("lookup", "02.000000", correlation=JOB, parent=ROOT, service="users"),
    )
    argv = ["trace", ROOT, str(log), "--where", "service_name=users", "--format", "json"]
    status, out, _ = _run(argv, capsys)
    assert status == 0
    tree = orjson.loads(out)
    assert (tree["service"], tree["children"][0]["service"]) == (None, "users")


@pytest.mark.parametrize(
    ("level", "name"),
    [("ERROR", "error"), ("Fatal", "fatal"), ("CRITICAL", "critical"), ("err", "error")],
)
def test_a_failure_level_fails_in_any_case(
    level: str, name: str, write_log: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """`"level":"ERROR"` fails the node, counts in stats, and matches --where level=error."""
    log = write_log(
        "app.log",
        make_record(
            keys.EVENT_OPERATION_FINISHED,
            "01.000000",
            correlation="c",
            level=level,
            operation="op",
            duration_ms=1.0,
        ),
    )
    _, out, _ = _run(["trace", "c", str(log), "--format", "json"], capsys)
    assert orjson.loads(out)["status"] == keys.STATUS_FAILED
    _, out, _ = _run(["stats", str(log), "--format", "csv"], capsys)
    assert out.splitlines()[1].startswith("op,1,1,")
    for asked in (name, name.upper(), level):
        _, out, _ = _run(["pretty", str(log), "--where", f"level={asked}"], capsys)
        assert len(out.splitlines()) == 1


def _node(kind: str, ident: str, **fields: Any) -> Node:
    return Node(kind=kind, id=ident, **fields)


def test_short_ids_in_the_tree_and_full_ones_with_verbose() -> None:
    """Below the root, long hex ids are cut to 8 characters as git does; -v shows them whole."""
    child = _node("correlation", "b" * 32, service="users")
    root = _node("correlation", "a" * 32, children=[child])
    for view, expected in ((render.View(), "b" * 8 + " "), (render.View(verbose=True), "b" * 32)):
        output = io.StringIO()
        render.render_tree(root, Console(file=output, width=120, color_system=None), view=view)
        lines = output.getvalue().splitlines()
        assert lines[0].startswith("correlation " + "a" * 32)
        assert lines[1].startswith("└── correlation " + expected)


def test_a_short_id_as_printed_is_traced_when_it_is_unambiguous(
    write_log: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """`requests` and the tree print 8 characters; `trace` takes them back, like git."""
    first, second = "ab12cd34" + "0" * 24, "ab12ff00" + "1" * 24
    log = write_log(
        "app.log",
        make_record("one", "01.000000", correlation=first),
        make_record("two", "02.000000", correlation=second),
    )
    status, out, _ = _run(["trace", "ab12cd34", str(log), "--format", "json"], capsys)
    assert (status, orjson.loads(out)["id"]) == (0, first)
    status, _, err = _run(["trace", "ab12", str(log)], capsys)  # two ids start so
    assert status == 1
    assert (
        err == f"flext-logging: 'ab12' is the start of 2 ids ({first}, {second}); give more of it\n"
    )


def _callee_clock_behind() -> list[Record]:
    """gateway serves GET /orders (01.000-01.050) and calls users, whose clock is 60 ms
    behind: users' span and the timed operation in it seem to start before the gateway's."""
    return [
        make_record(
            keys.EVENT_HTTP_REQUEST_FINISHED,
            "01.040000",
            correlation="c",
            span="s-client",
            parent_span_id="s-gateway",
            service="gateway",
            method="GET",
            url="http://users/u",
            duration_ms=30.0,
        ),
        make_record(
            keys.EVENT_OPERATION_FINISHED,
            "00.975000",
            correlation="c",
            span="s-users",
            service="users",
            operation="load_user",
            operation_name="GET /u",
            duration_ms=20.0,
        ),
        make_record(
            keys.EVENT_REQUEST_FINISHED,
            "00.980000",
            correlation="c",
            span="s-users",
            parent_span_id="s-client",
            service="users",
            method="GET",
            path="/u",
            status_code=200,
            duration_ms=25.0,
        ),
        make_record(
            keys.EVENT_REQUEST_FINISHED,
            "01.050000",
            correlation="c",
            span="s-gateway",
            service="gateway",
            method="GET",
            path="/orders",
            status_code=202,
            duration_ms=50.0,
        ),
    ]


def test_a_root_is_named_after_its_outermost_request_not_a_callee_whose_clock_is_behind() -> None:
    """The correlation is the gateway's GET /orders, though users' lines seem earlier."""
    assert _tree(*_callee_clock_behind())[0].endswith("  gateway GET /orders")


def test_requests_lists_the_outermost_request_not_a_callee_whose_clock_is_behind(
    write_log: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """The row is the gateway's request: not users' (earlier by its clock), nor its operation."""
    log = write_log("app.log", *_callee_clock_behind())
    status, out, _ = _run(["requests", str(log), "--format", "json"], capsys)
    assert status == 0
    [row] = orjson.loads(out)
    assert (row["service"], row["route"], row["duration_ms"], row["status_code"]) == (
        "gateway",
        "GET /orders",
        50.0,
        202,
    )


def _requests_rows(
    write_log: Callable[..., Path], capsys: pytest.CaptureFixture[str], *records: Record
) -> list[dict[str, Any]]:
    log = write_log("app.log", *records)
    status, out, _ = _run(["requests", str(log), "--format", "json"], capsys)
    assert status == 0
    rows: list[dict[str, Any]] = orjson.loads(out)
    return rows


def test_requests_counts_a_callee_joined_by_traceparent_alone_below_its_caller(
    write_log: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """billing logs its own correlation, called from shop's span: not a root, failed below."""
    rows = _requests_rows(
        write_log,
        capsys,
        make_record(
            keys.EVENT_HTTP_REQUEST_FINISHED,
            "01.040000",
            correlation="shop-c",
            span="s-call",
            parent_span_id="s-shop",
            method="POST",
            url="http://billing/invoices",
            status_code=503,
            duration_ms=30.0,
        ),
        make_record(
            keys.EVENT_REQUEST_FAILED,
            "01.030000",
            correlation="billing-c",
            span="s-billing",
            parent_span_id="s-call",
            service="billing",
            level="error",
            method="POST",
            path="/invoices",
            status_code=503,
            duration_ms=20.0,
            error={"type": "KeyError", "message": "nope", "code": "BILLING_DOWN"},
        ),
        make_record(
            keys.EVENT_REQUEST_FINISHED,
            "01.050000",
            correlation="shop-c",
            span="s-shop",
            method="POST",
            path="/orders",
            status_code=202,
            duration_ms=50.0,
        ),
    )
    assert [(row["id"], row["failed_below"], row["error_code"]) for row in rows] == [
        ("shop-c", 1, "BILLING_DOWN")
    ]


def test_requests_lists_roots_whose_own_lines_hold_no_finish(
    write_log: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """A batch known by its jobs, and a job that crashed on its own, are both listed."""
    rows = _requests_rows(
        write_log,
        capsys,
        make_record("batch received", "01.000000", correlation="batch", service="gateway"),
        make_record(
            keys.EVENT_TASK_FAILED,
            "02.000000",
            correlation="job-1",
            parent="batch",
            level="error",
            service="worker",
            task_name="send_invoice",
            error={"type": "OSError", "message": "smtp", "code": "SMTP_DOWN"},
        ),
        make_record(
            "cron crashed",
            "03.000000",
            correlation="cron",
            service="cron",
            level="error",
            error={"type": "ValueError", "message": "bad", "code": "CRON_ERR"},
        ),
    )
    summary = [
        (r["id"], r["service"], r["status"], r["failed_below"], r["error_code"]) for r in rows
    ]
    assert summary == [
        ("batch", "gateway", "ok", 1, "SMTP_DOWN"),
        ("cron", "cron", "failed", 0, "CRON_ERR"),
    ]


def test_a_request_inside_a_child_correlation_is_rooted_at_it_not_an_orphan(
    write_log: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """r-job is the request id of a job started by another request: the job is the root,
    and its parent, not asked for, is not said to be missing."""
    log = write_log(
        "app.log",
        make_record("order placed", "01.000000", correlation="c-web", request_id="r-web"),
        make_record("job started", "02.000000", correlation="c-job", parent="c-web"),
        make_record("job step", "02.500000", correlation="c-job", request_id="r-job"),
    )
    status, out, _ = _run(["trace", "r-job", str(log), "--format", "json"], capsys)
    assert status == 0
    tree = orjson.loads(out)
    assert (tree["kind"], tree["id"], tree["orphan"]) == ("correlation", "c-job", False)
    assert [record[keys.MESSAGE] for record in tree["records"]] == ["job started", "job step"]


@pytest.mark.parametrize("ident", ["A", "B"])
def test_a_cycle_of_parents_draws_each_correlation_once_from_the_first(
    ident: str, write_log: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """A's later line names C (a duplicated id) as its parent: each is drawn once, the
    cycle cut at the correlation asked for."""
    log = write_log(
        "app.log",
        make_record("root", "01.000000", correlation="A"),
        make_record("b", "01.010000", correlation="B", parent="A"),
        make_record("c", "01.020000", correlation="C", parent="B"),
        make_record("a again", "01.030000", correlation="A", parent="C"),
    )
    status, out, _ = _run(["trace", ident, str(log), "--format", "json", "--no-records"], capsys)
    assert status == 0
    outline = _outline(orjson.loads(out))
    if ident == "A":
        assert outline == ["correlation A ok", "  correlation B ok", "    correlation C ok"]
    else:  # B's tree: what B started, then what its lines say C started
        assert outline == ["correlation B ok", "  correlation C ok", "    correlation A ok"]
