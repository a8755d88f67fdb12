"""Every SQL recipe in docs/duckdb.md runs in DuckDB against the demo's logs.

The ```sql blocks run in order in one DuckDB connection, in the directory of the demo's
``demo-logs/`` (what ``make demo`` writes), with the placeholders replaced by the failed
checkout's ids; each result is compared with what this module computes from the same
records. A second test gives the page's "open the logs" view a file whose rare
``error.context`` first appears after DuckDB's sampling, the case the page is about.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from demo_run import DemoRun

from flext_logging import keys

duckdb = pytest.importorskip(
    "duckdb", reason="duckdb is a test dependency (pip install -e '.[test]')"
)

PAGE = Path(__file__).resolve().parent.parent / "docs" / "duckdb.md"
BLOCKS = re.findall(r"^```sql\n(.*?)^```", PAGE.read_text(encoding="utf-8"), flags=re.M | re.S)
Record = dict[str, Any]


@pytest.fixture
def in_demo_directory(demo_run: DemoRun) -> Iterator[DemoRun]:
    """Run in the demo's directory, where the recipes find demo-logs/."""
    here = Path.cwd()
    os.chdir(demo_run.directory)
    try:
        yield demo_run
    finally:
        os.chdir(here)


def _substituted(block: str, demo: DemoRun) -> str:
    job = demo.failed_job()
    values = {
        "ERROR_CORRELATION_ID": job[keys.CORRELATION_ID],
        "CORRELATION_ID": job[keys.PARENT_CORRELATION_ID],
        "REQUEST_ID": job[keys.REQUEST_ID],
    }
    for name in sorted(values, key=len, reverse=True):
        block = block.replace(name, values[name])
    return block


def _expected(demo: DemoRun) -> list[list[tuple[Any, ...]] | None]:
    """What each block must return, computed from the records in Python."""
    records = sorted(demo.everything, key=lambda r: r[keys.TIMESTAMP])
    job = demo.failed_job()
    root = job[keys.PARENT_CORRELATION_ID]
    one = [
        (r[keys.SERVICE_NAME], r[keys.LEVEL], r[keys.MESSAGE])
        for r in records
        if root in (r.get(keys.CORRELATION_ID), r.get(keys.PARENT_CORRELATION_ID))
    ]
    tree = {
        r[keys.CORRELATION_ID] for r in records if r.get(keys.REQUEST_ID) == job[keys.REQUEST_ID]
    }
    while True:
        children = {
            r[keys.CORRELATION_ID] for r in records if r.get(keys.PARENT_CORRELATION_ID) in tree
        }
        if children <= tree:
            break
        tree |= children
    whole = [
        (r[keys.SERVICE_NAME], r[keys.MESSAGE], r[keys.CORRELATION_ID])
        for r in records
        if r.get(keys.CORRELATION_ID) in tree
    ]
    errors = Counter(
        (r[keys.ERROR][keys.ERROR_CODE], r[keys.ERROR][keys.ERROR_TYPE_NAME])
        for r in records
        if keys.ERROR in r
    )
    finished = [r for r in records if r[keys.MESSAGE] == keys.EVENT_REQUEST_FINISHED]
    slowest = sorted(finished, key=lambda r: -r[keys.DURATION_MS])[:5]
    per_service = Counter((r[keys.SERVICE_NAME], r[keys.STATUS_CODE]) for r in finished)
    failed = [
        (r[keys.SERVICE_NAME], r[keys.MESSAGE], r.get("order_id"))
        for r in records
        if r.get(keys.CORRELATION_ID) == job[keys.CORRELATION_ID]
    ]
    return [
        None,
        one,
        whole,
        [(code, kind, count) for (code, kind), count in errors.most_common()],
        [
            (
                r[keys.SERVICE_NAME],
                r[keys.HTTP_METHOD],
                r[keys.HTTP_PATH],
                r[keys.STATUS_CODE],
                r[keys.DURATION_MS],
            )
            for r in slowest
        ],
        sorted((service, status, count) for (service, status), count in per_service.items()),
        failed,
    ]


def test_every_recipe_returns_what_the_records_say(in_demo_directory: DemoRun) -> None:
    """Each block's rows match the records of the demo, computed independently."""
    demo = in_demo_directory
    connection = duckdb.connect()
    expected = _expected(demo)
    assert len(BLOCKS) == len(expected)
    results = []
    for block in BLOCKS:
        relation = connection.sql(_substituted(block, demo))
        results.append(None if relation is None else relation.fetchall())
    opened, one, whole, errors, slowest, per_service, failed = results
    assert not opened  # CREATE VIEW returns no rows
    assert [row[1:] for row in one] == expected[1]
    assert [row[0] for row in one] == sorted(row[0] for row in one)  # time order
    assert [row[1:] for row in whole] == expected[2]
    assert [row[:3] for row in errors] == expected[3]
    job_error = demo.failed_job()[keys.ERROR]
    assert json.loads(errors[0][3]) == job_error[keys.ERROR_CONTEXT]
    assert slowest == expected[4]
    assert [row[:3] for row in per_service] == expected[5]
    assert all(row[3] > 0 for row in per_service)
    assert [row[:3] for row in failed] == expected[6]
    assert failed[-1][3] == job_error[keys.ERROR_CONTEXT]["operation"]


def test_a_rare_error_context_key_after_the_sample_is_kept(tmp_path: Path) -> None:
    """error.context seen only at line 30 001: the page's view still has all of it."""
    logs = tmp_path / "demo-logs"
    logs.mkdir()
    common = {
        keys.TIMESTAMP: "2026-11-22T10:00:00.000001Z",
        keys.LEVEL: "error",
        keys.LOGGER: "app",
        keys.MESSAGE: "failed",
        keys.ERROR: {keys.ERROR_TYPE_NAME: "ValueError", keys.ERROR_MESSAGE: "bad"},
    }
    rare = {
        **common,
        keys.MESSAGE: "rare",
        keys.ERROR: {**common[keys.ERROR], keys.ERROR_CONTEXT: {"field": "email"}},
        keys.METADATA: {"rows": 3},
    }
    with (logs / "app.log").open("w", encoding="utf-8") as stream:
        for _ in range(30_000):
            stream.write(json.dumps(common) + "\n")
        stream.write("not json: a line printed by something else\n")
        stream.write(json.dumps(rare) + "\n")
    here = Path.cwd()
    os.chdir(tmp_path)
    try:
        connection = duckdb.connect()
        connection.sql(BLOCKS[0])
        row = connection.sql(
            "SELECT error->'$.context'->>'$.field', metadata->>'$.rows', count(*) OVER () "
            "FROM logs WHERE message = 'rare'"
        ).fetchall()
    finally:
        os.chdir(here)
    assert row == [("email", "3", 1)]
