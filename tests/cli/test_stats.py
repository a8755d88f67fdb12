"""``stats``: nearest-rank percentiles per route and operation, error codes by count.

Paths and URLs without a route template are grouped by a template of their own.
"""

from __future__ import annotations

import io

import pytest
from cli_records import make_record
from rich.console import Console

from flext_logging import keys
from flext_logging.cli.render import render_stats
from flext_logging.cli.stats import Stats, path_template, percentile, url_template


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


def test_no_error_codes_is_said_in_one_line() -> None:
    """Without errors, stats says so instead of drawing an empty table."""
    stats = Stats()
    stats.add(make_record("operation_finished", "01.000000", operation="x", duration_ms=1.0))
    output = io.StringIO()
    render_stats(stats, Console(file=output, width=100, color_system=None))
    assert output.getvalue().splitlines()[-1] == "Error codes: none"
    assert "error code" not in output.getvalue()


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/users/u-1013/orders", "/users/{id}/orders"),
        ("/orders/42", "/orders/{id}"),
        ("/items/123e4567-e89b-12d3-a456-426614174000", "/items/{id}"),
        ("/blobs/9f86d081884c7d65/raw", "/blobs/{id}/raw"),
        ("/api/v2/users/7?full=1#top", "/api/v2/users/{id}"),
        ("/V1.2/health/", "/V1.2/health/"),
        ("/", "/"),
    ],
)
def test_path_template_collapses_segments_with_a_digit_except_versions(
    path: str, expected: str
) -> None:
    """Ids, UUIDs and hashes become {id}; versions and words stay; query and fragment go."""
    assert path_template(path) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "http://127.0.0.1:8001/users/u-1013/orders",
            "http://127.0.0.1:8001/users/{id}/orders",
        ),
        (
            "https://ci:secret@api.example.com/v1/cards/4242?x=1#f",
            "https://api.example.com/v1/cards/{id}",
        ),
        ("http://[localhost/orders/7", "http://[localhost/orders/{id}"),
    ],
)
def test_url_template_keeps_scheme_host_and_port_and_templates_the_path(
    url: str, expected: str
) -> None:
    """User info, query and fragment are dropped; a malformed URL is templated as text."""
    assert url_template(url) == expected


def test_client_calls_and_route_less_paths_are_grouped_by_template() -> None:
    """One row per method, host and path template: not one per user or order."""
    stats = Stats()
    for n, user in enumerate(("u-1001", "u-1002", "u-1003"), start=1):
        stats.add(
            make_record(
                keys.EVENT_HTTP_REQUEST_FINISHED,
                "01.000000",
                method="POST",
                url=f"http://127.0.0.1:8001/users/{user}/orders",
                status_code=202,
                duration_ms=float(n),
            )
        )
        stats.add(
            make_record(
                keys.EVENT_REQUEST_FINISHED,
                "01.000000",
                method="GET",
                path=f"/orders/{5000 + n}",
                status_code=200,
                duration_ms=float(n),
            )
        )
    stats.add(
        make_record(
            keys.EVENT_HTTP_REQUEST_FAILED,
            "01.000000",
            level="error",
            method="POST",
            url="http://127.0.0.1:8001/users/u-1004/orders",
            duration_ms=4.0,
        )
    )
    stats.add(
        make_record(
            keys.EVENT_REQUEST_FINISHED,
            "01.000000",
            method="GET",
            path="/reports/2026/11",
            route="/reports/2026/{month}",
            duration_ms=1.0,
        )
    )
    rows = [(row.name, row.count, row.errors, row.p99) for row in stats.rows()]
    assert rows == [
        ("POST http://127.0.0.1:8001/users/{id}/orders", 4, 1, 4.0),
        ("GET /orders/{id}", 3, 0, 3.0),
        ("GET /reports/2026/{month}", 1, 0, 1.0),
    ]
