"""Rebuilding the tree of one id: structure, order, orphans, skew, duplicates, size."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

from cli_records import make_record

from flext_logging import keys
from flext_logging.cli.reading import Reader, ReadStats
from flext_logging.cli.tree import Node, build_tree, collect_records, detect_by, to_data


def _shape(node: Node, depth: int = 0) -> list[str]:
    """The tree as indented 'kind id' lines, for structural assertions."""
    lines = ["  " * depth + f"{node.kind} {node.id}"]
    for child in node.children:
        lines += _shape(child, depth + 1)
    return lines


def test_out_of_order_lines_are_put_in_time_order() -> None:
    """A node's records are sorted by timestamp whatever order the files had them in."""
    records = [
        make_record("third", "03.000000", correlation="root"),
        make_record("first", "01.000000", correlation="root"),
        make_record("second", "02.000000", correlation="root"),
    ]
    root = build_tree(records, "root", "correlation")
    assert [r[keys.MESSAGE] for r in root.records] == ["first", "second", "third"]
    assert root.start == "2026-11-23T10:00:01.000000Z"
    assert root.duration_ms == 2000.0


def test_grandchild_correlations_are_found_by_rescanning(write_log: Callable[..., Path]) -> None:
    """Descendants naming only their own parent are reached through the parent chain."""
    path = write_log(
        "app.log",
        make_record("root", "01.000000", correlation="c-root"),
        make_record("child", "02.000000", correlation="c-child", parent="c-root"),
        make_record("grandchild", "03.000000", correlation="c-grand", parent="c-child"),
        make_record("unrelated", "04.000000", correlation="c-other", parent="c-else"),
    )
    found = collect_records([str(path)], "c-root", Reader())
    assert found.by == "correlation"
    root = build_tree(found.records, "c-root", "correlation")
    assert _shape(root) == [
        "correlation c-root",
        "  correlation c-child",
        "    correlation c-grand",
    ]


def test_a_record_naming_the_id_in_its_text_is_still_found_by_its_correlation(
    write_log: Callable[..., Path],
) -> None:
    """A record that mentions the request id in its message, but not in its request_id
    field, belongs to the tree through its correlation like every other record of it."""
    path = write_log(
        "app.log",
        make_record("request_started", "01.000000", correlation="c-1", request_id="r-9"),
        make_record("retrying r-9 after a timeout", "02.000000", correlation="c-1"),
        make_record("request_finished", "03.000000", correlation="c-1", request_id="r-9"),
    )
    found = collect_records([str(path)], "r-9", Reader())
    assert found.by == "request"
    assert sorted(r[keys.MESSAGE] for r in found.records) == [
        "request_finished",
        "request_started",
        "retrying r-9 after a timeout",
    ]


def test_missing_parents_become_orphans_under_the_root() -> None:
    """A correlation whose parent has no record hangs under the root, marked orphan."""
    records = [
        make_record("start", "01.000000", correlation="a", request_id="r1"),
        make_record("lost", "02.000000", correlation="b", parent="gone", request_id="r1"),
        make_record("lost child", "03.000000", correlation="c", parent="b", request_id="r1"),
    ]
    root = build_tree(records, "r1", "request")
    assert _shape(root) == ["correlation a", "  correlation b", "    correlation c"]
    orphan = root.children[0]
    assert (orphan.orphan, orphan.missing_parent) == (True, "gone")
    assert root.children[0].children[0].orphan is False


def test_a_request_without_a_root_correlation_gets_a_made_up_root() -> None:
    """When every correlation of a request names a missing parent, the id is the root."""
    records = [
        make_record("x", "01.000000", correlation="a", parent="gone", request_id="r1"),
        make_record("y", "02.000000", correlation="b", parent="gone", request_id="r1"),
    ]
    root = build_tree(records, "r1", "request")
    assert _shape(root) == ["request r1", "  correlation a", "  correlation b"]
    assert all(child.orphan for child in root.children)


def test_clock_skew_never_places_a_child_before_its_parent() -> None:
    """A child service whose clock runs behind starts, on the timeline, with its parent."""
    records = [
        make_record("begin", "10.000000", correlation="root", service="gateway"),
        make_record("late clock", "09.500000", correlation="kid", parent="root", service="users"),
        make_record("second kid", "10.200000", correlation="kid2", parent="root", service="users"),
    ]
    root = build_tree(records, "root", "correlation")
    skewed, other = root.children
    assert (skewed.id, other.id) == ("kid", "kid2")
    assert skewed.start == "2026-11-23T10:00:09.500000Z"
    assert skewed.display_s == root.start_s
    assert skewed.skew_ms == 500.0
    assert other.skew_ms == 0.0


def test_children_are_ordered_by_their_first_record() -> None:
    """Sibling correlations appear in the order they started, not the order seen."""
    records = [
        make_record("root", "01.000000", correlation="root"),
        make_record("later", "05.000000", correlation="late", parent="root"),
        make_record("sooner", "02.000000", correlation="soon", parent="root"),
    ]
    root = build_tree(records, "root", "correlation")
    assert [child.id for child in root.children] == ["soon", "late"]


def test_duplicated_ids_making_a_cycle_do_not_hang_or_crash() -> None:
    """Two correlations naming each other as parent are each shown once."""
    records = [
        make_record("a", "01.000000", correlation="a", parent="b", request_id="r"),
        make_record("b", "02.000000", correlation="b", parent="a", request_id="r"),
        make_record("reused", "03.000000", correlation="a", parent="z", request_id="r"),
    ]
    root = build_tree(records, "r", "request")
    assert sorted(node.id for node in root.walk() if node.kind == "correlation") == ["a", "b"]
    assert len([r for node in root.walk() for r in node.records]) == 3


def test_a_duplicated_line_is_counted_once(write_log: Callable[..., Path]) -> None:
    """The same file given twice yields each record once."""
    path = write_log("app.log", make_record("once", "01.000000", correlation="c"))
    found = collect_records([str(path), str(path)], "c", Reader())
    assert len(found.records) == 1


def test_spans_nest_through_parent_span_id() -> None:
    """A request span recording the caller's span as parent_span_id is nested under it."""
    records = [
        make_record(
            keys.EVENT_REQUEST_STARTED,
            "01.000000",
            correlation="c",
            span="s-server",
            service="billing",
            parent_span_id="s-client",
            method="POST",
            path="/invoices",
        ),
        make_record(
            keys.EVENT_HTTP_REQUEST_FINISHED,
            "01.500000",
            correlation="c",
            span="s-client",
            method="POST",
            url="http://billing/invoices",
            status_code=201,
            duration_ms=600.0,
        ),
        make_record("no span", "00.800000", correlation="c"),
    ]
    root = build_tree(records, "c", "correlation")
    assert _shape(root) == ["correlation c", "  span s-client", "    span s-server"]
    client = root.children[0]
    assert client.operation == "POST http://billing/invoices"
    assert client.start == "2026-11-23T10:00:00.900000Z"  # finished at 1.5 after 600 ms
    assert (client.status, client.status_code, client.duration_ms) == ("ok", 201, 600.0)
    assert client.children[0].operation == "POST /invoices"


def test_errors_carry_their_code_and_fail_the_node() -> None:
    """A failed timed operation and an exception record are listed with their codes."""
    records = [
        make_record(
            keys.EVENT_OPERATION_FAILED,
            "01.000000",
            correlation="c",
            level="error",
            status=keys.STATUS_FAILED,
            error_code="FLEXT_NOT_FOUND_ERROR",
        ),
        make_record(
            "lookup failed",
            "01.100000",
            correlation="c",
            level="error",
            error={keys.ERROR_TYPE_NAME: "NotFoundError", keys.ERROR_CODE: "FLEXT_X"},
        ),
    ]
    root = build_tree(records, "c", "correlation")
    assert root.status == keys.STATUS_FAILED
    assert [(e["event"], e[keys.ERROR_CODE]) for e in root.errors] == [
        (keys.EVENT_OPERATION_FAILED, "FLEXT_NOT_FOUND_ERROR"),
        ("lookup failed", "FLEXT_X"),
    ]


def test_failures_below_are_counted_up_to_the_root() -> None:
    """A request that succeeded says how many nodes failed under it, at every level."""
    records = [
        make_record("order received", "01.000000", correlation="root"),
        make_record("job started", "02.000000", correlation="job", parent="root"),
        make_record("retry", "02.100000", correlation="step", parent="job", level="error"),
        make_record("gave up", "02.200000", correlation="step2", parent="job", level="error"),
    ]
    root = build_tree(records, "root", "correlation")
    job = root.children[0]
    assert (root.status, root.failed_below) == ("ok", 2)
    assert (job.status, job.failed_below) == ("ok", 2)
    assert [(c.status, c.failed_below) for c in job.children] == [("failed", 0)] * 2
    assert to_data(root, with_records=False)["failed_below"] == 2


def test_a_correlation_made_of_spans_is_named_after_its_first_span() -> None:
    """The root shows the route of the request that started it, not its raw path."""
    records = [
        make_record(
            keys.EVENT_REQUEST_STARTED,
            "01.000000",
            correlation="c",
            span="s-in",
            operation_name="GET /users/7",
            method="GET",
            path="/users/7",
        ),
        make_record(
            keys.EVENT_REQUEST_FINISHED,
            "01.200000",
            correlation="c",
            span="s-in",
            method="GET",
            path="/users/7",
            route="/users/{user_id}",
            duration_ms=200.0,
        ),
        make_record("audit", "01.300000", correlation="c", span="s-late", operation_name="audit"),
    ]
    root = build_tree(records, "c", "correlation")
    assert root.operation == "GET /users/{user_id}"


def test_the_kind_of_id_is_detected_correlation_first() -> None:
    """An id found as correlation_id wins over request_id; trace comes last."""
    records = [make_record("x", "01.000000", correlation="c", request_id="r", trace_id="t")]
    assert [detect_by(records, ident) for ident in ("c", "r", "t", "?")] == [
        "correlation",
        "request",
        "trace",
        None,
    ]


def test_a_large_shuffled_input_is_rebuilt_completely(write_log: Callable[..., Path]) -> None:
    """100k lines of 1,000 interleaved requests rebuild one request's tree exactly."""
    rng = random.Random(4)
    lines = []
    for request in range(1000):
        for step in range(100):
            correlation = f"c{request}" if step < 50 else f"c{request}-child"
            parent = f"c{request}" if step >= 50 else None
            at = f"{10 + step // 10:02d}.{request:03d}{step:03d}"
            lines.append(make_record(f"step {step}", at, correlation=correlation, parent=parent))
    rng.shuffle(lines)
    path = write_log("big.log", *lines)
    stats = ReadStats()
    found = collect_records([str(path)], "c7", Reader(stats=stats))
    root = build_tree(found.records, "c7", found.by or "correlation")
    assert stats.bad_lines == 0
    assert _shape(root) == ["correlation c7", "  correlation c7-child"]
    assert [r[keys.MESSAGE] for r in root.records] == [f"step {n}" for n in range(50)]
    child = root.children[0]
    assert [r[keys.MESSAGE] for r in child.records] == [f"step {n}" for n in range(50, 100)]


def test_a_retried_attempt_is_closed_by_its_retry_record() -> None:
    """task_retried ends an attempt: the node takes its duration and is named after the
    task, like one closed by task_succeeded."""
    records = [
        make_record(keys.EVENT_TASK_STARTED, "01.000000", correlation="c-job", task_name="send"),
        make_record("smtp down", "01.200000", correlation="c-job"),
        make_record(
            keys.EVENT_TASK_RETRIED,
            "01.500000",
            correlation="c-job",
            level="warning",
            task_name="send",
            duration_ms=480.0,
        ),
    ]
    root = build_tree(records, "c-job", "correlation")
    assert (root.operation, root.duration_ms, root.status) == ("send", 480.0, "ok")
