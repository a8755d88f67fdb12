"""The command line: --where operators, --version, requests, stats --by/--every/--format."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import orjson
import pytest
from cli_records import make_record

from flext_logging import keys
from flext_logging.cli.main import main


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main(argv)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _requests_log(write_log: Callable[..., Path]) -> Path:
    """Three root requests: fast, slow, and one whose job (a child correlation) failed."""

    def finished(correlation: str, at: str, route: str, duration: float, **more: Any) -> Any:
        return make_record(
            keys.EVENT_REQUEST_FINISHED,
            at,
            correlation=correlation,
            span=f"s-{correlation}",
            service="gateway",
            method="GET",
            path=route,
            route=route,
            status_code=200,
            duration_ms=duration,
            **more,
        )

    return write_log(
        "app.log",
        make_record("noise", "00.500000", correlation="fast"),
        finished("fast", "01.000000", "/fast", 3.0),
        finished("slow", "02.000000", "/slow", 900.0),
        finished("queued", "03.000000", "/queue", 20.0),
        make_record(
            keys.EVENT_OPERATION_FAILED,
            "04.000000",
            correlation="job",
            parent="queued",
            service="worker",
            level="error",
            operation="send",
            duration_ms=5.0,
            status=keys.STATUS_FAILED,
            error_code="FLEXT_SMTP_DOWN",
        ),
    )


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("route=/slow", ["slow"]),
        ("route!=/slow", ["fast", "queued"]),
        ("duration_ms>=20", ["slow", "queued"]),
        ("duration_ms<=20", ["fast", "queued"]),
        ("duration_ms>20", ["slow"]),
        ("duration_ms<20", ["fast"]),
        ("route~^/(fast|queue)$", ["fast", "queued"]),
        ("missing!=x", ["fast", "slow", "queued"]),
    ],
)
def test_where_operators_compare_text_numbers_and_patterns(
    where: str,
    expected: list[str],
    write_log: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """=, !=, >=, <=, >, < on numbers, ~ a regular expression; != keeps absent keys."""
    log = _requests_log(write_log)
    status, out, _ = _run(["requests", str(log), "--where", where, "--format", "json"], capsys)
    assert status == 0
    assert [row["id"] for row in orjson.loads(out)] == expected


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("user_id==x", "--where compares with a single '=': user_id=x"),
        ("duration_ms>=fast", "--where duration_ms>=: a number is needed, got 'fast'"),
        ("route~(", "--where route~: not a regular expression"),
        ("=x", "--where needs KEY=VALUE"),
        ("no operator", "--where needs KEY=VALUE"),
    ],
)
def test_malformed_where_is_a_usage_error(
    where: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--where user_id==x` used to match nothing silently: it is now a usage error."""
    status, _, err = _run(["stats", "-", "--where", where], capsys)
    assert status == 2
    assert message in err


def test_version_is_printed(capsys: pytest.CaptureFixture[str]) -> None:
    """`flext-logging --version` prints the installed package's version and exits 0."""
    status, out, _ = _run(["--version"], capsys)
    assert (status, out) == (0, f"flext-logging {metadata.version('flext-logging')}\n")


def test_no_file_and_a_terminal_on_stdin_is_explained(tmp_path: Path) -> None:
    """Without FILE stdin is read; when stdin is a terminal, say so instead of waiting."""
    controller, terminal = pty.openpty()
    try:
        result = subprocess.run(
            [sys.executable, "-m", "flext_logging", "trace", "some-id"],
            stdin=terminal,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(terminal)
        os.close(controller)
    assert result.returncode == 2
    assert "no FILE given: reading stdin, which is a terminal" in result.stderr


def test_help_says_stdin_is_read_without_file(capsys: pytest.CaptureFixture[str]) -> None:
    """The usage line shows FILE as optional, and the help says what nothing means."""
    status, out, _ = _run(["trace", "--help"], capsys)
    assert status == 0
    assert "[FILE ...]" in out
    assert "nothing reads stdin" in " ".join(out.split())


def test_requests_lists_roots_with_failures_below(
    write_log: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """One row per root request; the one whose job failed says so, with the job's code."""
    log = _requests_log(write_log)
    status, out, _ = _run(["requests", str(log), "--format", "json"], capsys)
    assert status == 0
    rows = orjson.loads(out)
    assert [(r["id"], r["route"], r["duration_ms"], r["status_code"]) for r in rows] == [
        ("fast", "GET /fast", 3.0, 200),
        ("slow", "GET /slow", 900.0, 200),
        ("queued", "GET /queue", 20.0, 200),
    ]
    assert rows[0]["start"] == "2026-11-23T10:00:00.997000Z"  # finished after 3 ms
    assert (rows[2]["failed_below"], rows[2]["error_code"]) == (1, "FLEXT_SMTP_DOWN")
    status, out, _ = _run(["requests", str(log), "--failed", "--format", "csv"], capsys)
    assert out.splitlines() == [
        "id,service,route,start,duration_ms,status,status_code,error_code,failed_below",
        "queued,gateway,GET /queue,2026-11-23T10:00:02.980000Z,20.0,ok,200,FLEXT_SMTP_DOWN,1",
    ]
    status, out, _ = _run(["requests", str(log), "--slowest", "1", "--width", "120"], capsys)
    table = [line for line in out.splitlines() if line.startswith("│")]
    assert len(table) == 1
    assert "GET /slow" in table[0]


@pytest.mark.parametrize("width", [80, 100])
def test_requests_on_a_narrow_terminal_never_cut_an_id_a_time_or_a_status(
    width: int, write_log: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """Names and codes wrap; every id, start, duration and status is whole, so an id
    can be copied to `trace`, and no line is wider than the terminal."""
    log = write_log(
        "app.log",
        make_record(
            keys.EVENT_REQUEST_FINISHED,
            "01.000000",
            correlation="6513270e269e0d37f2a74de452e6b438",
            service="gateway-with-a-long-name",
            method="POST",
            path="/orders/u-730355/invoices/with/a/long/path",
            status_code=500,
            duration_ms=153.6,
            level="error",
            error={"type": "ValueError", "code": "FLEXT_VALIDATION_ERROR"},
        ),
    )
    status, out, _ = _run(["requests", str(log), "--width", str(width)], capsys)
    assert status == 0
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= width
    row = next(line for line in lines if "6513270e" in line)
    for whole in ("6513270e", "10:00:00.846", "153.6 ms", "failed 500"):
        assert whole in row, (whole, out)
    assert "…" not in out


def test_stats_by_service_and_code(
    write_log: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """--by service counts each service's timed work; --by code counts outcomes."""
    log = _requests_log(write_log)
    _, out, _ = _run(["stats", str(log), "--by", "service", "--format", "csv"], capsys)
    assert out.splitlines() == [
        "service,count,errors,p50_ms,p95_ms,p99_ms",
        "gateway,3,0,20.0,900.0,900.0",
        "worker,1,1,5.0,5.0,5.0",
    ]
    _, out, _ = _run(["stats", str(log), "--by", "code", "--format", "json"], capsys)
    assert [(row["code"], row["count"]) for row in orjson.loads(out)] == [
        ("200", 3),
        ("FLEXT_SMTP_DOWN", 1),
    ]


def test_stats_every_splits_rows_into_time_buckets(
    write_log: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """--every 2s: one row per route and bucket, the bucket's start first."""
    log = _requests_log(write_log)
    _, out, _ = _run(
        ["stats", str(log), "--every", "2s", "--by", "route", "--format", "csv"], capsys
    )
    assert out.splitlines() == [
        "time,route,count,errors,p50_ms,p95_ms,p99_ms",
        "2026-11-23T10:00:00.000000Z,GET /fast,1,0,3.0,3.0,3.0",
        "2026-11-23T10:00:02.000000Z,GET /queue,1,0,20.0,20.0,20.0",
        "2026-11-23T10:00:02.000000Z,GET /slow,1,0,900.0,900.0,900.0",
    ]
    status, _, err = _run(["stats", str(log), "--every", "often"], capsys)
    assert (status, "--every needs a length like 30s" in err) == (2, True)


def test_stats_counts_a_failed_job_and_only_real_operations(
    write_log: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """A failed task counts in its row's errors; a duration logged inside an operation
    is not the operation; a tiny duration is not printed as 0.0."""
    log = write_log(
        "app.log",
        make_record(keys.EVENT_TASK_STARTED, "01.000000", task_name="send_mail"),
        make_record(
            keys.EVENT_TASK_FAILED,
            "01.500000",
            level="warning",
            task_name="send_mail",
            duration_ms=500.0,
        ),
        make_record("cache hit", "02.000000", operation="checkout", duration_ms=0.5),
        make_record(
            keys.EVENT_OPERATION_FINISHED, "02.100000", operation="checkout", duration_ms=0.042
        ),
    )
    _, out, _ = _run(["stats", str(log), "--width", "100"], capsys)
    rows = {
        line.split("│")[1].strip(): line.split("│")[2:7]
        for line in out.splitlines()
        if line.startswith("│")
    }
    assert [cell.strip() for cell in rows["send_mail"]] == ["1", "1", "500.0", "500.0", "500.0"]
    assert [cell.strip() for cell in rows["checkout"]] == ["1", "0", "0.042", "0.042", "0.042"]


def test_the_two_ends_of_a_grpc_call_are_two_rows(
    write_log: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """`rpc_side` tells the caller's end from the server's: not one row of both."""
    method = "/shop.Orders/Place"
    log = write_log(
        "app.log",
        *(
            make_record(
                keys.EVENT_RPC_FINISHED,
                "01.000000",
                rpc_method=method,
                rpc_side=side,
                rpc_code="OK",
                duration_ms=duration,
            )
            for side, duration in (("client", 12.0), ("server", 9.0))
        ),
    )
    _, out, _ = _run(["stats", str(log), "--format", "csv"], capsys)
    assert out.splitlines()[1:] == [
        f"{method},1,0,9.0,9.0,9.0",
        f"{method} (client),1,0,12.0,12.0,12.0",
    ]


def test_every_end_of_a_task_attempt_closes_its_row(
    write_log: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """A retried, ignored or rejected attempt ends its task's row like a succeeded one:
    it is counted with its duration (the Celery integration writes one of these five
    records for each task_started)."""
    ends = (
        (keys.EVENT_TASK_SUCCEEDED, "info", 10.0),
        (keys.EVENT_TASK_RETRIED, "warning", 20.0),
        (keys.EVENT_TASK_IGNORED, "info", 30.0),
        (keys.EVENT_TASK_REJECTED, "warning", 40.0),
    )
    log = write_log(
        "app.log",
        *(
            make_record(
                event, f"0{n}.000000", level=level, task_name="send_mail", duration_ms=duration
            )
            for n, (event, level, duration) in enumerate(ends, start=1)
        ),
    )
    _, out, _ = _run(["stats", str(log), "--format", "csv"], capsys)
    assert out.splitlines()[1:] == ["send_mail,4,0,20.0,40.0,40.0"]


def test_requests_lists_a_request_known_by_its_request_id_only(
    write_log: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """A request_context() without a correlation writes only request_id: it is still a
    root request of the listing, under that id (which trace takes)."""
    log = write_log(
        "app.log",
        make_record("request_started", "01.000000", request_id="req-1", method="POST", path="/pay"),
        make_record("charge failed", "01.005000", level="error", request_id="req-1"),
        make_record(
            "request_finished",
            "01.010000",
            request_id="req-1",
            method="POST",
            path="/pay",
            status_code=502,
            duration_ms=10.0,
        ),
    )
    status, out, _ = _run(["requests", str(log), "--format", "json"], capsys)
    rows = orjson.loads(out)
    assert status == 0
    columns = ("id", "route", "duration_ms", "status", "status_code")
    assert [tuple(row[name] for name in columns) for row in rows] == [
        ("req-1", "POST /pay", 10.0, "failed", 502)
    ]
