"""``flext-logging trace|stats --source clickhouse://...`` against Debian's real server.

A generated multi-service log (gateway, users, worker: ``benchmarks/generate_logs.py``)
is written to a file and sent, record by record, through ``ClickHouseOutput`` into a
table made by the package's DDL. Every answer read from the table must be the answer
read from the file: the tree of correlation, request and trace ids, short ids, time
windows, ``--where``, and the stats. The SQL the CLI sends is recorded to show that the
id and the window are asked of the server, which returns only the rows they name.
"""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from stores import ClickHouse, clickhouse, free_port

from flext_logging import keys
from flext_logging.cli.clickhouse import ClickHouseSource, Location, parse_location, quote
from flext_logging.cli.main import main
from flext_logging.cli.reading import Reader, RecordFilter
from flext_logging.cli.tree import build_tree, collect_from, collect_records, to_data
from flext_logging.outputs.clickhouse import (
    INSERT_SETTINGS,
    ClickHouseOutput,
    ClickHouseRowRenderer,
    batch_body,
    ddl,
    record_from_row,
)

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
from generate_logs import generate  # noqa: E402 - found on the path set just above

TABLE = "flext_cli.records"
DELIVERY_TIMEOUT = 60.0


@dataclass
class Loaded:
    """The log as a file and as a table, and ids of every kind to trace."""

    server: ClickHouse
    log: Path
    records: list[dict[str, Any]]
    ids: dict[str, str]

    @property
    def source(self) -> str:
        return f"clickhouse://127.0.0.1:{self.server.http_port}/{TABLE}"


def _odd_lines(correlation: str) -> list[dict[str, Any]]:
    """Records no typed column can hold as they are: a number as request id, nested data."""
    return [
        {
            keys.TIMESTAMP: "2026-11-22T23:59:59.000001Z",
            keys.LEVEL: "warning",
            keys.LOGGER: "odd",
            keys.MESSAGE: "héllo\nwörld",
            keys.CORRELATION_ID: correlation,
            keys.REQUEST_ID: 42,
            keys.SERVICE_NAME: "odd",
            "metadata": {"nested": {"deep": [1, 2.5, None, True]}},
            keys.ERROR: {keys.ERROR_TYPE_NAME: "ValueError", "context": {"k": "v"}},
        }
    ]


LOOSE_MESSAGES = frozenset({"cache warmed", "span exported", "job picked up", "foreign line"})


def _loose_lines(records: list[dict[str, Any]], ids: dict[str, str]) -> list[dict[str, Any]]:
    """Records outside any correlation that carry an id of a tree: the id table has none.

    A request id bound but no correlation (a background step of the request), a trace
    id alone, a job that knows only its parent correlation, and a foreign line (no
    logger, no level) with the request id. Each has a time of its own, inside the tree's.
    """
    taken = {r[keys.TIMESTAMP] for r in records}
    root = next(r for r in records if r.get(keys.REQUEST_ID) == ids["planted_request"])
    start = datetime.datetime.fromisoformat(root[keys.TIMESTAMP].replace("Z", "+00:00"))

    def stamp(offset_us: int) -> str:
        while True:
            moment = start + datetime.timedelta(microseconds=offset_us)
            text = moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            if text not in taken:
                taken.add(text)
                return text
            offset_us += 1

    def line(offset_us: int, message: str, **ids: str) -> dict[str, Any]:
        head: dict[str, Any] = {
            keys.TIMESTAMP: stamp(offset_us),
            keys.LEVEL: "info",
            keys.LOGGER: "loose",
            keys.MESSAGE: message,
            keys.PROCESS_ID: 4242,
        }
        return {**head, **{key: ids[key] for key in keys.CONTEXT_KEYS if key in ids}}

    return [
        line(
            301,
            "cache warmed",
            trace_id=ids["planted_trace"],
            request_id=ids["planted_request"],
        ),
        line(503, "span exported", trace_id=ids["other_trace"]),
        line(707, "job picked up", parent_correlation_id=ids["planted_correlation"]),
        {
            keys.TIMESTAMP: stamp(911),
            keys.MESSAGE: "foreign line",
            keys.REQUEST_ID: ids["planted_request"],
            "upstream": "10.0.0.9:8080",
        },
    ]


def _pick_ids(records: list[dict[str, Any]], planted: str, fanout: str) -> dict[str, str]:
    """Ids of each kind: roots, a child correlation, request ids and trace ids."""
    child = next(r for r in records if r.get(keys.PARENT_CORRELATION_ID) == planted)
    root = next(r for r in records if r.get(keys.CORRELATION_ID) == planted)
    late = records[len(records) * 3 // 5]
    return {
        "planted_correlation": planted,
        "fanout_correlation": fanout,
        "child_correlation": child[keys.CORRELATION_ID],
        "planted_request": root[keys.REQUEST_ID],
        "planted_trace": root[keys.TRACE_ID],
        "other_request": late[keys.REQUEST_ID],
        "other_trace": late[keys.TRACE_ID],
        "odd_correlation": "odd-correlation",
    }


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    """Debian's clickhouse-server with the generated log in it, and the same log as a file."""
    root = tmp_path_factory.mktemp("clickhouse-source")
    log = root / "app.log"
    planted, fanout, _, _ = generate(log, size_mb=0.5, fanout=40)
    records = [orjson.loads(line) for line in log.read_bytes().splitlines()]
    ids = _pick_ids(records, planted, fanout)
    with log.open("ab") as stream:
        for record in [*_odd_lines("odd-correlation"), *_loose_lines(records, ids)]:
            stream.write(orjson.dumps(record) + b"\n")
    records = [orjson.loads(line) for line in log.read_bytes().splitlines()]
    with clickhouse(root) as server:
        for statement in ddl(TABLE):
            server.query(statement)
        output = ClickHouseOutput(
            server.url, table=TABLE, batch_size=500, flush_interval=0.05, overflow="block"
        )
        for record in records:
            output.write(output.renderer(None, "info", record))
        output.flush()
        assert (output.delivered, output.dropped) == (len(records), 0)
        output.close()
        yield Loaded(server, log, records, ids)


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main(argv)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _both(
    loaded: Loaded, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> tuple[tuple[int, str, str], tuple[int, str, str]]:
    """The command on the file, and on the table."""
    from_file = _run([*argv, str(loaded.log)], capsys)
    from_table = _run([*argv, "--source", loaded.source], capsys)
    return from_file, from_table


# -- The same answers ------------------------------------------------------------------------


def test_rows_read_back_as_the_records_they_were_made_from(loaded: Loaded) -> None:
    """Every row of the table is the record of the file it came from."""
    rows = loaded.server.query(f"SELECT * FROM {TABLE} FORMAT JSONEachRow").splitlines()
    from_table = sorted(
        (record_from_row(json.loads(row)) for row in rows), key=lambda r: r[keys.TIMESTAMP]
    )
    assert from_table == sorted(loaded.records, key=lambda r: r[keys.TIMESTAMP])


@pytest.mark.parametrize(
    "which",
    [
        "planted_correlation",
        "fanout_correlation",
        "child_correlation",
        "planted_request",
        "planted_trace",
        "other_request",
        "other_trace",
        "odd_correlation",
    ],
)
def test_trace_builds_the_same_tree_from_the_table(
    loaded: Loaded, which: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A correlation, request or trace id gives the file's tree, records and all."""
    ident = loaded.ids[which]
    from_file, from_table = _both(loaded, ["trace", ident, "--format", "json"], capsys)
    assert from_file[0] == from_table[0] == 0
    assert orjson.loads(from_table[1]) == orjson.loads(from_file[1])
    assert from_table[2] == ""


def _messages(tree: dict[str, Any]) -> set[str]:
    """Every record's message in the JSON tree ``trace --format json`` prints."""
    found: set[str] = set()
    pending = [tree]
    while pending:
        node = pending.pop()
        found.update(str(record.get(keys.MESSAGE)) for record in node.get("records", []))
        pending.extend(node.get("children", []))
    return found


@pytest.mark.parametrize(
    ("which", "loose"),
    [
        ("planted_request", {"cache warmed", "foreign line", "job picked up"}),
        ("planted_trace", {"cache warmed", "job picked up"}),
        ("other_trace", {"span exported"}),
        ("planted_correlation", {"job picked up"}),
    ],
)
def test_records_outside_any_correlation_are_found_by_their_ids(
    loaded: Loaded, which: str, loose: set[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """A record with no correlation id is in the table's tree of its request, trace or
    parent id, as in the file's, though the id table cannot name it."""
    ident = loaded.ids[which]
    from_file, from_table = _both(loaded, ["trace", ident, "--format", "json"], capsys)
    assert from_file[0] == from_table[0] == 0
    # The job that names only its parent is in every tree that finds that correlation.
    assert _messages(orjson.loads(from_file[1])) & LOOSE_MESSAGES == loose
    assert _messages(orjson.loads(from_table[1])) == _messages(orjson.loads(from_file[1]))
    assert orjson.loads(from_table[1]) == orjson.loads(from_file[1])


@pytest.mark.parametrize(
    "options",
    [
        ["--format", "tree", "--width", "120"],
        ["--format", "timeline", "--width", "120"],
        ["--by", "request", "--format", "json"],
        ["--no-records", "--format", "json"],
    ],
)
def test_trace_draws_the_same_tree_from_the_table(
    loaded: Loaded, options: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """The drawn tree and the timeline are the same text as from the file."""
    ident = loaded.ids["planted_request"]
    from_file, from_table = _both(loaded, ["trace", ident, *options], capsys)
    assert from_table == from_file
    assert from_file[0] == 0


def test_a_short_id_is_expanded_in_the_table(
    loaded: Loaded, capsys: pytest.CaptureFixture[str]
) -> None:
    """The first characters of an id, as trees print them, find the same tree."""
    ident = loaded.ids["planted_correlation"][:8]
    from_file, from_table = _both(loaded, ["trace", ident, "--format", "json"], capsys)
    assert from_file[0] == from_table[0] == 0
    assert orjson.loads(from_table[1]) == orjson.loads(from_file[1])


def test_an_unknown_id_is_not_found_in_either(
    loaded: Loaded, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit status 1 and the same message, file or table."""
    from_file, from_table = _both(loaded, ["trace", "no-such-id", "--format", "json"], capsys)
    assert from_table == from_file
    assert from_file[0] == 1


def _window(loaded: Loaded, start: float, end: float) -> list[str]:
    """--since/--until around a part of the log (fractions of its time span)."""
    times = sorted(r[keys.TIMESTAMP] for r in loaded.records)
    return ["--since", times[int(len(times) * start)], "--until", times[int(len(times) * end)]]


def test_trace_with_a_time_window_gives_the_files_answer(
    loaded: Loaded, capsys: pytest.CaptureFixture[str]
) -> None:
    """A window cutting through the fan-out keeps the same records from either source."""
    ident = loaded.ids["fanout_correlation"]
    fanout = sorted(
        r[keys.TIMESTAMP]
        for r in loaded.records
        if ident in (r.get(keys.CORRELATION_ID), r.get(keys.PARENT_CORRELATION_ID))
    )
    window = ["--since", fanout[len(fanout) // 3], "--until", fanout[len(fanout) * 2 // 3]]
    from_file, from_table = _both(loaded, ["trace", ident, *window, "--format", "json"], capsys)
    assert from_file[0] == from_table[0] == 0
    assert orjson.loads(from_table[1]) == orjson.loads(from_file[1])
    shown = len(orjson.loads(from_file[1])["children"])
    assert 0 < shown < 40  # the window did cut the fan-out


@pytest.mark.parametrize(
    "options",
    [
        ["--format", "json"],
        ["--by", "code", "--format", "json"],
        ["--by", "service", "--format", "csv"],
        ["--by", "route", "--every", "1m", "--format", "json"],
        ["--width", "120"],
        ["--where", "service_name=users", "--format", "json"],
        ["--where", "level=error", "--by", "code", "--format", "json"],
    ],
)
def test_stats_gives_the_same_numbers_from_the_table(
    loaded: Loaded, options: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Counts, errors and percentiles are the file's, whatever the grouping or filter."""
    from_file, from_table = _both(loaded, ["stats", *options], capsys)
    assert from_table == from_file
    assert from_file[0] == 0
    assert from_file[1].strip() not in ("", "[]")


def test_stats_in_a_time_window_gives_the_same_numbers(
    loaded: Loaded, capsys: pytest.CaptureFixture[str]
) -> None:
    """--since/--until on stats: the same rows counted from the table as from the file."""
    window = _window(loaded, 0.25, 0.5)
    from_file, from_table = _both(loaded, ["stats", *window, "--format", "json"], capsys)
    assert from_table == from_file
    everything = _run(["stats", "--format", "json", str(loaded.log)], capsys)
    assert from_file[1] != everything[1]  # the window counted fewer


# -- What is asked of the server ---------------------------------------------------------------


class _Recorded:
    """The HTTP query function, with each SQL statement and the rows it returned kept."""

    def __init__(self, source: ClickHouseSource) -> None:
        self._query = source._query  # the real one, wrapped
        self.statements: list[str] = []
        self.rows = 0

    def __call__(self, sql: str) -> Iterator[bytes]:
        self.statements.append(sql)
        for line in self._query(sql):
            if line and sql.lstrip().startswith(f"SELECT {keys.TIMESTAMP}"):
                self.rows += 1
            yield line


def _recorded(loaded: Loaded) -> tuple[ClickHouseSource, _Recorded]:
    source = ClickHouseSource.open(loaded.source)
    recorded = _Recorded(source)
    return ClickHouseSource(source.location, query=recorded), recorded


@pytest.mark.parametrize(
    "which", ["planted_correlation", "planted_request", "planted_trace", "child_correlation"]
)
def test_trace_asks_the_server_for_the_trees_rows_only(loaded: Loaded, which: str) -> None:
    """The id is in the SQL, and the server returns the rows of the tree, not the table."""
    ident = loaded.ids[which]
    source, recorded = _recorded(loaded)
    found = collect_from(source.search(Reader()), ident)
    from_file = collect_records([str(loaded.log)], ident, Reader())
    assert to_data(build_tree(found.records, ident, found.by)) == to_data(
        build_tree(from_file.records, ident, from_file.by)
    )
    assert any(quote(ident) in sql for sql in recorded.statements)
    assert len(found.records) <= recorded.rows <= 2 * len(found.records)
    assert recorded.rows < len(loaded.records) // 20
    reads = [sql for sql in recorded.statements if sql.startswith(f"SELECT {keys.TIMESTAMP}")]
    for sql in reads:  # each read of rows is ranges of the primary key, the loose rows' too
        assert "correlation_id = ''" in sql
        loaded.server.query(sql, force_primary_key="1")


def test_the_time_window_is_asked_of_the_server(loaded: Loaded) -> None:
    """stats with --since/--until reads only the rows of the window from the table."""
    times = sorted(r[keys.TIMESTAMP] for r in loaded.records)
    since, until = times[len(times) // 4], times[len(times) // 2]
    source, recorded = _recorded(loaded)
    reader = Reader(record_filter=RecordFilter(since=since, until=until))
    counted = list(source.records(reader))
    assert len(counted) == sum(since <= t < until for t in times)
    assert len(counted) <= recorded.rows <= len(counted) + 2  # a microsecond wider each side
    assert recorded.rows < len(times) // 3
    assert any(f"timestamp >= '{since[:19]}" in sql for sql in recorded.statements)


# -- Usage and failures --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["trace", "x", "--source", "http://h/db.t"],
            "--source is clickhouse://HOST:PORT/DB.TABLE",
        ),
        (["trace", "x", "--source", "clickhouse://u:secret@h/db.t"], "no password in the URL"),
        (["trace", "x", "--source", "clickhouse://h/"], "a ClickHouse table is db.table"),
        (["trace", "x", "--source", "clickhouse://h/db.t;drop"], "a ClickHouse table is db.table"),
        (["stats", "--source", "clickhouse://h/db.t", "app.log"], "name no FILE as well"),
        (["trace", "x", "--source", "clickhouse://h/db.t", "--id-field", "a"], "--id-field"),
    ],
)
def test_a_bad_source_is_a_usage_error(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit status 2 and a message saying what is wrong; a password is never echoed."""
    status, out, err = _run(argv, capsys)
    assert (status, out) == (2, "")
    assert message in err
    assert "secret" not in err


def test_an_unreachable_server_is_reported(capsys: pytest.CaptureFixture[str]) -> None:
    """Nothing listening: exit status 2, the address named."""
    port = free_port()
    status, _, err = _run(["stats", "--source", f"clickhouse://127.0.0.1:{port}/db.t"], capsys)
    assert status == 2
    assert f"cannot reach ClickHouse at clickhouse://127.0.0.1:{port}/db.t" in err


@pytest.mark.parametrize(
    ("table", "message"),
    [("flext_cli.missing", "no table flext_cli.missing"), ("system.one", "not a table of")],
)
def test_a_table_that_is_not_ours_is_reported(
    loaded: Loaded, table: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A missing table, or one without our columns, is named, exit status 2."""
    url = f"clickhouse://127.0.0.1:{loaded.server.http_port}/{table}"
    status, _, err = _run(["trace", "x", "--source", url], capsys)
    assert status == 2
    assert message in err


def test_the_location_takes_a_user_and_https() -> None:
    """clickhouses:// is HTTPS on 8443; a user may be named in the URL."""
    assert parse_location("clickhouses://reader@db.example:9440/logs.app") == Location(
        "db.example", 9440, True, "logs", "app", "reader"
    )
    assert parse_location("clickhouse://h/t").port == 8123
    assert str(parse_location("clickhouse://h/t")) == "clickhouse://h:8123/default.t"


def test_quote_keeps_any_id_inside_its_literal(loaded: Loaded) -> None:
    """An id with quotes and backslashes is compared as it is, never run as SQL."""
    hostile = "x' OR 1=1 OR '\\"
    answer = loaded.server.query(f"SELECT {quote(hostile)} FORMAT TSVRaw")
    assert answer == hostile + "\n"


# -- The DateTime64 layout, on a modern engine ----------------------------------------------------


def test_the_datetime64_layout_gives_the_same_tree(tmp_path: Path) -> None:
    """The SQL of the CLI runs on chDB's ClickHouse (26.9) over the DateTime64 layout."""
    chdb_session = pytest.importorskip(
        "chdb.session", reason="chdb-core is a test dependency (pip install -e '.[test]')"
    )
    session = chdb_session.Session(str(tmp_path / "chdb"))
    log = tmp_path / "app.log"
    planted, _, _, _ = generate(log, size_mb=0.1, fanout=5)
    records = [orjson.loads(line) for line in log.read_bytes().splitlines()]
    for statement in ddl("flext.records", layout="datetime64"):
        session.query(statement)
    renderer = ClickHouseRowRenderer()
    body = batch_body([renderer(None, "info", record) for record in records], "b" * 32)
    clause = ", ".join(f"{k}='{v}'" for k, v in INSERT_SETTINGS["datetime64"].items())
    insert = f"INSERT INTO flext.records SETTINGS {clause} FORMAT JSONEachRow"
    session.query(f"{insert}\n{body.decode()}")

    def query(sql: str) -> Iterator[bytes]:
        text, _, form = sql.rpartition(" FORMAT ")
        yield from session.query(text, form).bytes().splitlines()

    source = ClickHouseSource(Location("chdb", 0, False, "flext", "records"), query=query)
    assert source.layout == "datetime64"
    times = sorted(r[keys.TIMESTAMP] for r in records)
    window = RecordFilter(since=times[10], until=times[-10])
    for ident, record_filter in ((planted, None), (planted, window)):
        from_table = collect_from(source.search(Reader(record_filter=record_filter)), ident)
        from_file = collect_records([str(log)], ident, Reader(record_filter=record_filter))
        assert to_data(build_tree(from_table.records, ident, from_table.by)) == to_data(
            build_tree(from_file.records, ident, from_file.by)
        )
    counted = list(source.records(Reader(record_filter=window)))
    assert len(counted) == len(records) - 20


def test_reading_a_table_loads_neither_the_pipeline_nor_the_renderers() -> None:
    """--source imports the table's layout, not structlog, the pipeline or the renderers."""
    code = (
        "import sys\n"
        "from flext_logging.cli.main import main\n"
        f"main(['stats', '--source', 'clickhouse://127.0.0.1:{free_port()}/db.t'])\n"
        "names = ('structlog', 'flext_logging._pipeline', 'flext_logging.renderers',"
        " 'flext_logging.outputs.clickhouse', 'flext_logging.outputs.clickhouse_table')\n"
        "print(sorted(name for name in names if name in sys.modules))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert completed.stdout.strip() == "['flext_logging.outputs.clickhouse_table']"
    assert "cannot reach ClickHouse" in completed.stderr


def test_a_table_without_the_id_table_is_searched_by_its_id_columns(
    loaded: Loaded, capsys: pytest.CaptureFixture[str]
) -> None:
    """A table made by hand, without <table>_ids, still gives the file's trees."""
    plain = "flext_cli.plain"
    statements = [s for s in ddl(plain) if "_ids" not in s]
    for statement in statements:
        loaded.server.query(statement)
    loaded.server.query(f"INSERT INTO {plain} SELECT * FROM {TABLE}")
    url = f"clickhouse://127.0.0.1:{loaded.server.http_port}/{plain}"
    for which in ("planted_request", "planted_correlation", "planted_trace"):
        ident = loaded.ids[which]
        from_file = _run(["trace", ident, str(loaded.log), "--format", "json"], capsys)
        from_table = _run(["trace", ident, "--source", url, "--format", "json"], capsys)
        assert from_table[0] == from_file[0] == 0
        assert orjson.loads(from_table[1]) == orjson.loads(from_file[1])


def test_a_table_of_the_earlier_ddl_gives_the_files_answers(
    loaded: Loaded, capsys: pytest.CaptureFixture[str]
) -> None:
    """A table made before the process_id column is filled and read as it was: the
    process id in fields, the trees and the numbers the file's."""
    earlier = "flext_cli.earlier"
    statements = ddl(earlier)
    statements = [statement.replace("\n    process_id UInt32,", "") for statement in statements]
    assert not any(keys.PROCESS_ID in statement for statement in statements)
    for statement in statements:
        loaded.server.query(statement)
    output = ClickHouseOutput(
        loaded.server.url, table=earlier, batch_size=500, flush_interval=0.05, overflow="block"
    )
    for record in loaded.records:
        output.write(output.renderer(None, "info", record))
    output.flush()
    assert (output.delivered, output.dropped) == (len(loaded.records), 0)
    output.close()
    pids = loaded.server.query(
        f"SELECT countIf(visitParamHas(fields, 'process_id')) FROM {earlier} FORMAT TSV"
    )
    assert int(pids) == sum(keys.PROCESS_ID in record for record in loaded.records) > 0
    url = f"clickhouse://127.0.0.1:{loaded.server.http_port}/{earlier}"
    for argv in (
        ["trace", loaded.ids["planted_request"], "--format", "json"],
        ["trace", loaded.ids["planted_correlation"], "--format", "json"],
        ["stats", "--by", "service", "--format", "json"],
    ):
        from_file = _run([*argv, str(loaded.log)], capsys)
        from_table = _run([*argv, "--source", url], capsys)
        assert from_table == from_file
        assert from_file[0] == 0
