"""ClickHouseOutput against Debian's real clickhouse-server (18.16), killed and restarted.

The server runs as a user process on 127.0.0.1 with a temporary data directory, once for
the module. The tables come from the package's DDL (``ddl()``); records go through a real
pipeline into ``ClickHouseOutput``; every test reads the rows back over HTTP.
"""

from __future__ import annotations

import datetime
import io
import json
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from stores import ClickHouse, clickhouse, free_port, wait_until

from flext_logging import FlextContext, configure, get_logger, keys
from flext_logging.outputs import failures
from flext_logging.outputs.clickhouse import (
    COLUMNS,
    INSERT_SETTINGS,
    ClickHouseOutput,
    ClickHouseRowRenderer,
    batch_body,
    ddl,
    process_id_in_fields,
    record_from_row,
    split_table,
)

logger = get_logger("tests.clickhouse")
DELIVERY_TIMEOUT = 60.0
_tables = iter(range(1_000_000))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouse]:
    """Debian's clickhouse-server on free ports with a temporary data directory."""
    with clickhouse(tmp_path_factory.mktemp("clickhouse")) as running:
        yield running


@pytest.fixture
def table(server: ClickHouse) -> str:
    """A fresh table (and id table) made with the package's portable DDL."""
    name = f"flext_test.records_{next(_tables)}"
    for statement in ddl(name):
        server.query(statement)
    return name


def _pipe_to(output: ClickHouseOutput) -> None:
    """configure() with *output* beside a stream nobody reads."""
    configure(stream=io.StringIO(), clickhouse=output, capture_stdlib=False, service_name="shop")


def _rows(server: ClickHouse, table: str, where: str = "1") -> list[dict[str, Any]]:
    answer = server.query(
        f"SELECT * FROM {table} WHERE {where} ORDER BY timestamp FORMAT JSONEachRow"
    )
    return [json.loads(line) for line in answer.splitlines()]


def _indexes(server: ClickHouse, table: str, message: str) -> tuple[int, int]:
    """(rows, distinct "index" fields) of the records of *message* in *table*."""
    answer = server.query(
        f"SELECT count(), uniqExact(visitParamExtractInt(fields, 'index')) FROM {table} "
        f"WHERE message = '{message}' FORMAT TSV"
    )
    rows, distinct = answer.split()
    return int(rows), int(distinct)


def _output(server: ClickHouse, table: str, **options: Any) -> ClickHouseOutput:
    options = {"batch_size": 200, "flush_interval": 0.05, "max_backoff": 0.5, **options}
    return ClickHouseOutput(server.url, table=table, **options)


# -- The rows ------------------------------------------------------------------------------


def test_ddl_makes_the_tables_the_trace_tool_reads(server: ClickHouse, table: str) -> None:
    """The portable DDL runs on Debian's 18.16: records, id table, materialized view."""
    database, name = split_table(table)
    tables = set(server.query(f"SHOW TABLES FROM {database}").split())
    assert {name, f"{name}_ids", f"{name}_ids_mv"} <= tables
    columns = {
        line.split("\t")[0]: line.split("\t")[1:3]
        for line in server.query(f"DESCRIBE TABLE {table} FORMAT TSV").splitlines()
    }
    assert set(COLUMNS) | {"fields", "batch_id"} <= set(columns)
    assert columns[keys.PROCESS_ID] == ["UInt32", ""]
    assert columns["time"] == ["DateTime", "MATERIALIZED"]
    assert columns["microsecond"] == ["UInt32", "MATERIALIZED"]


def test_records_land_with_typed_columns_and_lossless_fields(
    server: ClickHouse, table: str
) -> None:
    """Head and context in columns, microseconds kept, nested fields whole, as logged."""
    output = _output(server, table)
    _pipe_to(output)
    with (
        FlextContext.Correlation.new_correlation() as correlation,
        FlextContext.Request.request_context(request_id="req-1", user_id="u-1"),
    ):
        logger.info("héllo ☃ 日本", plan="pro", nested={"a": [1, {"b": None}]})
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("failed", metadata={"rows": 3})
        logger.info("odd", request_id=42, level_field="x", when=datetime.date(2024, 1, 2))
    output.flush()
    rows = _rows(server, table, f"correlation_id = '{correlation}'")
    assert [row[keys.MESSAGE] for row in rows] == ["héllo ☃ 日本", "failed", "odd"]
    first, failed, odd = rows
    assert (first[keys.REQUEST_ID], first[keys.USER_ID], first[keys.SERVICE_NAME]) == (
        "req-1",
        "u-1",
        "shop",
    )
    assert first[keys.PROCESS_ID] == os.getpid()  # a number column of its own
    assert json.loads(first["fields"]) == {"plan": "pro", "nested": {"a": [1, {"b": None}]}}
    assert len(first[keys.TIMESTAMP]) == 27
    assert first[keys.TIMESTAMP].endswith("Z")
    error = json.loads(failed["fields"])[keys.ERROR]
    assert (error[keys.ERROR_TYPE_NAME], error[keys.ERROR_MESSAGE]) == ("ValueError", "boom")
    assert json.loads(failed["fields"])[keys.METADATA] == {"rows": 3}
    assert odd[keys.REQUEST_ID] == "42"  # a call's id is made text, as a context id is
    assert json.loads(odd["fields"])["when"] == "2024-01-02"
    times = server.query(
        f"SELECT timestamp, toString(time), microsecond FROM {table} "
        f"WHERE correlation_id = '{correlation}' ORDER BY timestamp FORMAT TSV"
    )
    for line in times.splitlines():
        text, seconds, microsecond = line.split("\t")
        assert seconds == text[:19].replace("T", " ")
        assert int(microsecond) == int(text[20:26])
    ids = server.query(
        f"SELECT kind, id FROM {table}_ids WHERE correlation_id = '{correlation}' FORMAT TSV"
    )
    assert "request_id\treq-1" in ids.splitlines()
    output.close()


def test_row_renderer_keeps_every_odd_value_out_of_the_typed_columns() -> None:
    """Whatever a record holds, the row has text columns and the rest in fields."""
    renderer = ClickHouseRowRenderer()
    record = {
        keys.TIMESTAMP: "yesterday",
        keys.LEVEL: "info",
        keys.LOGGER: "x",
        keys.MESSAGE: b"bytes",
        keys.CORRELATION_ID: ["not", "text"],
        1: "int key",
    }
    row = json.loads(renderer(None, "info", record))
    assert all(isinstance(row[column], str) for column in COLUMNS if column in row)
    assert len(row[keys.TIMESTAMP]) == 27  # replaced by the time of rendering ...
    fields = json.loads(row["fields"])
    assert fields[keys.TIMESTAMP] == "yesterday"  # ... the original kept
    assert fields[keys.CORRELATION_ID] == ["not", "text"]
    assert fields["1"] == "int key"


ODD_PROCESS_IDS = [0, -1, 2**32, True, 4.0, "4242", None, [1]]
"""No whole number from 1 to 2**32-1: the column's 0 (none), the value in fields."""


def test_process_ids_land_in_their_column_or_losslessly_in_fields(
    server: ClickHouse, table: str
) -> None:
    """A process id goes to its UInt32 column; any other value to fields, read back as it was.

    Debian's 18.16 refuses -1 and silently wraps 2**32 to 0 in a UInt32: neither may
    reach the column.
    """
    stamps = (f"2026-11-22T10:00:00.{index:06d}Z" for index in range(100))
    records = [
        {
            keys.TIMESTAMP: next(stamps),
            keys.LEVEL: "info",
            keys.LOGGER: "pids",
            keys.MESSAGE: f"pid {index}",
            keys.PROCESS_ID: value,
            keys.CORRELATION_ID: "c-pids",
        }
        for index, value in enumerate([1, 4242, 2**32 - 1, *ODD_PROCESS_IDS])
    ]
    records.append({keys.TIMESTAMP: next(stamps), keys.MESSAGE: "no pid"})
    output = _output(server, table)
    for record in records:
        output.write(output.renderer(None, "info", record))
    output.flush()
    assert (output.delivered, output.dropped) == (len(records), 0)
    rows = _rows(server, table)
    assert [row[keys.PROCESS_ID] for row in rows] == [1, 4242, 2**32 - 1] + [0] * 9
    assert all(keys.PROCESS_ID not in json.loads(row["fields"]) for row in rows[:3])
    assert [record_from_row(row) for row in rows] == records
    output.close()


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"plan": "pro"},
        {"note": ',"process_id":7,"fields":"{', "nested": {"process_id_field": 3}},
    ],
)
def test_a_row_for_an_earlier_table_has_its_process_id_in_fields(fields: dict[str, Any]) -> None:
    """The column moves into fields and nothing else changes, whatever the text holds."""
    record = {
        keys.TIMESTAMP: "2026-11-22T10:00:00.000001Z",
        keys.LEVEL: "info",
        keys.LOGGER: "x",
        keys.MESSAGE: 'said ,"process_id":1, and "fields":"{\\',
        keys.PROCESS_ID: 4242,
        keys.CORRELATION_ID: "c",
        **fields,
    }
    row = json.loads(ClickHouseRowRenderer()(None, "info", record))
    moved = json.loads(process_id_in_fields(ClickHouseRowRenderer()(None, "info", record)))
    assert moved == {
        **{key: value for key, value in row.items() if key != keys.PROCESS_ID},
        "fields": json.dumps({keys.PROCESS_ID: 4242, **fields}, separators=(",", ":")),
    }
    assert record_from_row(moved) == record
    no_pid = {key: value for key, value in record.items() if key != keys.PROCESS_ID}
    plain = ClickHouseRowRenderer()(None, "info", no_pid)
    assert process_id_in_fields(plain) == plain  # nothing to move
    foreign = b'{"process_id":1,"fields":{}}\n'  # not a row of ours: left as it is
    assert process_id_in_fields(foreign) == foreign


def _earlier_ddl(table: str) -> list[str]:
    """The package's DDL as it was before the ``process_id`` column (the rest is the same)."""
    statements = ddl(table)
    earlier = [statement.replace("\n    process_id UInt32,", "") for statement in statements]
    assert earlier != statements
    assert not any(keys.PROCESS_ID in statement for statement in earlier)
    return earlier


def test_a_table_of_the_earlier_ddl_takes_rows_with_the_process_id_in_fields(
    server: ClickHouse,
) -> None:
    """No process_id column: the output sends it in fields, as that table's rows had it;
    after the documented ALTER, a new output fills the column, and both read back alike."""
    table = f"flext_test.records_{next(_tables)}"
    for statement in _earlier_ddl(table):
        server.query(statement)
    output = _output(server, table)
    _pipe_to(output)
    with FlextContext.Correlation.new_correlation():
        logger.info("before", plan="pro")
    output.flush()
    assert (output.delivered, output.dropped) == (1, 0)
    output.close()
    (before,) = _rows(server, table)
    assert keys.PROCESS_ID not in before
    assert json.loads(before["fields"]) == {keys.PROCESS_ID: os.getpid(), "plan": "pro"}

    server.query(f"ALTER TABLE {table} ADD COLUMN process_id UInt32 AFTER message")
    output = _output(server, table)
    _pipe_to(output)
    logger.info("after", plan="pro")
    output.flush()
    assert (output.delivered, output.dropped) == (1, 0)
    output.close()
    old, new = _rows(server, table)
    assert (old[keys.PROCESS_ID], new[keys.PROCESS_ID]) == (0, os.getpid())
    assert json.loads(new["fields"]) == {"plan": "pro"}
    for row, message in ((old, "before"), (new, "after")):
        record = record_from_row(row)
        assert list(record)[:5] == [*keys.HEAD_KEYS, keys.PROCESS_ID]
        assert (record[keys.MESSAGE], record[keys.PROCESS_ID]) == (message, os.getpid())


def test_a_column_dropped_while_the_output_runs_costs_no_record(
    server: ClickHouse, table: str, capfd: pytest.CaptureFixture[str]
) -> None:
    """The server refuses a row naming a column the table lost; the output looks again."""
    output = _output(server, table)
    _pipe_to(output)
    logger.info("first")
    output.flush()
    server.query(f"ALTER TABLE {table} DROP COLUMN process_id")
    logger.info("second")
    output.flush()
    assert (output.delivered, output.dropped) == (2, 0)
    second = _rows(server, table, "message = 'second'")
    assert [record_from_row(row)[keys.PROCESS_ID] for row in second] == [os.getpid()]
    assert "accepts records again" in capfd.readouterr().err
    output.close()


# -- Faults -------------------------------------------------------------------------------


def test_server_killed_and_restarted_mid_load_loses_and_repeats_nothing(
    server: ClickHouse, table: str
) -> None:
    """kill -9 during the load, restart: every record is in the table exactly once."""
    output = _output(server, table, overflow="block", queue_size=100_000)
    _pipe_to(output)
    sent = 6000
    for index in range(sent):
        if index == sent // 3:
            server.kill()
        if index == 2 * sent // 3:
            server.start()
        logger.info("load", index=index)
    wait_until(lambda: output.delivered == sent, DELIVERY_TIMEOUT, f"{sent} rows delivered")
    assert output.dropped == 0
    assert _indexes(server, table, "load") == (sent, sent)
    output.close()


def test_with_drop_every_record_arrives_once_or_is_counted(server: ClickHouse, table: str) -> None:
    """A small buffer while the server is down drops, counts, and still repeats nothing."""
    output = _output(server, table, overflow="drop", queue_size=500)
    _pipe_to(output)
    sent = 3000
    for index in range(sent):
        if index == 500:
            server.kill()
        if index == 2500:
            server.start()
        logger.info("load", index=index)
    wait_until(
        lambda: output.delivered + output.dropped >= sent, DELIVERY_TIMEOUT, "every row settled"
    )
    output.flush()
    rows, distinct = _indexes(server, table, "load")
    assert rows == distinct  # nothing twice
    assert output.dropped > 0
    assert rows + output.dropped == sent  # every record arrived, or was counted

    def reported() -> int:
        reports = _rows(server, table, f"message = '{keys.EVENT_RECORDS_DROPPED}'")
        return sum(json.loads(row["fields"])[keys.DROPPED_COUNT] for row in reports)

    # The drops are told in log_records_dropped records, which reach the table too.
    wait_until(lambda: reported() == output.dropped, DELIVERY_TIMEOUT, "the drops reported")
    output.close()


class _AnswerEater:
    """A TCP proxy in front of the server that forwards requests but eats the first
    answer(s): the insert happens, the client never learns it (a lost response)."""

    def __init__(self, upstream_port: int, answers_to_eat: int) -> None:
        self.port = free_port()
        self.left = answers_to_eat
        self._upstream = upstream_port
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self._upstream))
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._answers, args=(upstream, client), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass

    def _answers(self, upstream: socket.socket, client: socket.socket) -> None:
        try:
            while data := upstream.recv(65536):
                if self.left > 0:  # the answer is lost: drop the connection
                    self.left -= 1
                    client.close()
                    upstream.close()
                    return
                client.sendall(data)
        except OSError:
            pass

    def close(self) -> None:
        self._listener.close()


def test_an_insert_whose_answer_was_lost_is_checked_not_sent_twice(
    server: ClickHouse, table: str
) -> None:
    """The server inserted but the answer never came: the rows are there once."""
    proxy = _AnswerEater(server.http_port, answers_to_eat=1)
    try:
        output = ClickHouseOutput(
            f"http://127.0.0.1:{proxy.port}", table=table, batch_size=100, max_backoff=0.2
        )
        _pipe_to(output)
        for index in range(100):
            logger.info("once", index=index)
        wait_until(lambda: output.delivered == 100, DELIVERY_TIMEOUT, "100 rows delivered")
        assert proxy.left == 0  # an answer was eaten
        assert _indexes(server, table, "once") == (100, 100)
        output.close()
    finally:
        proxy.close()


def test_close_with_the_server_down_counts_what_it_could_not_send(
    capfd: pytest.CaptureFixture[str],
) -> None:
    """Nothing listens: close() gives up after close_timeout, counts and says so."""
    failures.reset_failures()
    port = free_port()
    output = ClickHouseOutput(
        f"http://127.0.0.1:{port}",
        table="flext.records",
        close_timeout=0.3,
        max_backoff=0.05,
        flush_interval=0.01,
    )
    _pipe_to(output)
    for index in range(50):
        logger.info("lost", index=index)
    output.close()
    assert output.delivered == 0
    assert output.dropped == 50
    err = capfd.readouterr().err
    assert "could not send records to ClickHouse" in err
    assert "50 records could not be sent to ClickHouse" in err


def test_bad_options_fail_at_construction() -> None:
    """A table name that is not db.table, an unknown layout or overflow: ValueError."""
    for options in (
        {"table": "x; DROP TABLE y"},
        {"layout": "json"},
        {"overflow": "wait"},
        {"batch_size": 0},
    ):
        with pytest.raises(ValueError):  # noqa: PT011 - each option has its own message
            ClickHouseOutput("http://127.0.0.1:8123", **options)
    with pytest.raises(ValueError, match="url must be"):
        ClickHouseOutput("clickhouse://h:9000")
    with pytest.raises(TypeError, match="clickhouse must be a ClickHouseOutput"):
        configure(clickhouse="http://127.0.0.1:8123")  # type: ignore[arg-type]


# -- The DateTime64 layout, on a modern engine -----------------------------------------------


def test_datetime64_layout_on_a_modern_engine(tmp_path: Path) -> None:
    """The DateTime64 DDL and its insert settings, on chDB's ClickHouse (26.9).

    Debian's server is 18.16, which has no DateTime64: chdb-core (an in-process
    ClickHouse, a test dependency) runs the modern DDL and our rows for real.
    """
    chdb_session = pytest.importorskip(
        "chdb.session", reason="chdb-core is a test dependency (pip install -e '.[test]')"
    )
    session = chdb_session.Session(str(tmp_path / "chdb"))
    for statement in ddl("flext.records", layout="datetime64"):
        session.query(statement)
    renderer = ClickHouseRowRenderer()
    when = datetime.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=datetime.timezone.utc)
    records = [
        {
            keys.TIMESTAMP: when + datetime.timedelta(microseconds=index),
            keys.LEVEL: "info",
            keys.LOGGER: "app",
            keys.MESSAGE: "héllo",
            keys.PROCESS_ID: 4242 + index,
            keys.CORRELATION_ID: "c-1",
            keys.REQUEST_ID: "r-1",
            "index": index,
            keys.ERROR: {keys.ERROR_TYPE_NAME: "ValueError"},
        }
        for index in range(3)
    ]
    body = batch_body([renderer(None, "info", record) for record in records], "b" * 32)
    settings = {**INSERT_SETTINGS["datetime64"], "insert_deduplication_token": "b" * 32}
    clause = ", ".join(f"{name}='{value}'" for name, value in settings.items())
    for _ in range(2):  # a retried insert with the same token is dropped by the server
        session.query(
            f"INSERT INTO flext.records SETTINGS {clause} FORMAT JSONEachRow\n{body.decode()}"
        )
    answer = session.query(
        "SELECT toString(timestamp), message, process_id, fields FROM flext.records"
        " ORDER BY timestamp",
        "JSONEachRow",
    )
    rows = [json.loads(line) for line in str(answer).splitlines() if line]
    assert [row[keys.PROCESS_ID] for row in rows] == [4242, 4243, 4244]
    assert [row["toString(timestamp)"] for row in rows] == [
        "2024-05-06 07:08:09.123456",
        "2024-05-06 07:08:09.123457",
        "2024-05-06 07:08:09.123458",
    ]
    assert json.loads(rows[0]["fields"]) == {
        "index": 0,
        keys.ERROR: {keys.ERROR_TYPE_NAME: "ValueError"},
    }
    ids = str(session.query("SELECT DISTINCT kind, id FROM flext.records_ids", "CSV"))
    assert '"request_id","r-1"' in ids
