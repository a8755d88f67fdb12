"""``stats``: nearest-rank percentiles per route and operation, error codes by count."""

from __future__ import annotations

import io

import pytest
from cli_records import make_record
from rich.console import Console

from flext_logging import keys
from flext_logging.cli.render import render_stats
from flext_logging.cli.stats import Stats, percentile


@pytest.mark.parametrize(
    ("fraction", "expected"),
    [(0.50, 50.0), (0.95, 95.0), (0.99, 99.0), (0.0, 1.0), (1.0, 100.0)],
)
def test_percentiles_use_the_nearest_rank(fraction: float, expected: float) -> None:
    """Of the values 1..100, the p-th percentile is the value p."""
    assert percentile([float(n) for n in range(1, 101)], fraction) == expected


def test_percentile_of_nothing_is_none() -> None:
    """An empty list has no percentile."""
    assert percentile([], 0.5) is None


def _stats() -> Stats:
    stats = Stats()
    for n in range(1, 21):
        stats.add(
            make_record(
                keys.EVENT_REQUEST_FINISHED,
                "01.000000",
                method="GET",
                route="/users/{user_id}",
                status_code=500 if n % 10 == 0 else 200,
                duration_ms=float(n),
            )
        )
    stats.add(
        make_record(
            keys.EVENT_OPERATION_FAILED,
            "01.000000",
            level="error",
            operation="load_user",
            duration_ms=7.25,
            status=keys.STATUS_FAILED,
            error_code="FLEXT_NOT_FOUND_ERROR",
        )
    )
    stats.add(make_record("boom", "01.000000", error={keys.ERROR_CODE: "FLEXT_NOT_FOUND_ERROR"}))
    stats.add(make_record("bad", "01.000000", error={keys.ERROR_CODE: "FLEXT_VALIDATION_ERROR"}))
    stats.add(make_record("no duration", "01.000000", method="GET", route="/ignored"))
    return stats


def test_rows_count_errors_and_percentiles_per_route_and_operation() -> None:
    """Server errors and failed operations count as errors; records without duration don't."""
    rows = {row.name: row for row in _stats().rows()}
    route = rows["GET /users/{user_id}"]
    assert (route.count, route.errors, route.p50, route.p95, route.p99) == (20, 2, 10, 19, 20)
    assert (rows["load_user"].count, rows["load_user"].errors) == (1, 1)
    assert "GET /ignored" not in rows


def test_stats_table_renders_exactly() -> None:
    """The table lists routes most frequent first, then error codes most frequent first."""
    output = io.StringIO()
    render_stats(_stats(), Console(file=output, width=100, color_system=None))
    # rich pads a table title to the table's width; the padding is not the point.
    assert [line.rstrip() for line in output.getvalue().splitlines()] == (
        "Durations by route and operation (ms)\n"
        "┏━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━┳━━━━━━━━┳━━━━━━┳━━━━━━┳━━━━━━┓\n"
        "┃ route / operation    ┃ count ┃ errors ┃  p50 ┃  p95 ┃  p99 ┃\n"
        "┡━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━╇━━━━━━━━╇━━━━━━╇━━━━━━╇━━━━━━┩\n"
        "│ GET /users/{user_id} │    20 │      2 │ 10.0 │ 19.0 │ 20.0 │\n"
        "│ load_user            │     1 │      1 │  7.2 │  7.2 │  7.2 │\n"
        "└──────────────────────┴───────┴────────┴──────┴──────┴──────┘\n"
        "Error codes\n"
        "┏━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━┓\n"
        "┃ error code             ┃ count ┃\n"
        "┡━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━┩\n"
        "│ FLEXT_NOT_FOUND_ERROR  │     2 │\n"
        "│ FLEXT_VALIDATION_ERROR │     1 │\n"
        "└────────────────────────┴───────┘"
    ).splitlines()
