"""An output to ClickHouse over its HTTP interface: batched ``INSERT ... FORMAT JSONEachRow``.

Records are rendered as rows of the table ``ddl()`` creates (the head and context in typed
columns, every other field in one JSON text column), queued in a bounded buffer, and sent
by one background thread in batches, by size and by time. While the server is down the
batch is retried with exponential backoff; new rows wait in the buffer, and when it is
full they wait (``overflow="block"``) or are dropped and counted (``"drop"``, the default:
a network store must not stop the application). Nothing here raises into the caller.

A batch whose fate is unknown (the connection broke after the request was sent) is never
sent twice: on the portable layout the output first asks the server whether the rows of
that ``batch_id`` are there; the DateTime64 layout has the server drop a repeated insert
(``insert_deduplication_token``). So every record arrives once, or is counted as dropped.
"""

from __future__ import annotations

import contextlib
import datetime
import http.client
import os
import re
import threading
import time
import urllib.parse
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, Final

import orjson

from flext_logging import keys
from flext_logging._jsonsafe import rfc3339, to_json_safe
from flext_logging.outputs.base import Output
from flext_logging.outputs.clickhouse_table import (
    BATCH_COLUMN,
    COLUMNS,
    DATETIME64,
    FIELDS_COLUMN,
    INSERT_SETTINGS,
    LAYOUTS,
    PORTABLE,
    PROCESS_ID_COLUMN,
    PROCESS_ID_MAX,
    ddl,
    record_from_row,
    split_table,
)
from flext_logging.outputs.failures import to_stderr
from flext_logging.outputs.lifecycle import on_writer_started, track
from flext_logging.renderers import DEFAULT_MAX_RECORD_BYTES, dumps_record, fit_record

__all__ = [
    "COLUMNS",
    "FIELDS_COLUMN",
    "INSERT_SETTINGS",
    "LAYOUTS",
    "ClickHouseOutput",
    "ClickHouseRowRenderer",
    "batch_body",
    "ddl",
    "process_id_in_fields",
    "record_from_row",
    "split_table",
]

_COLUMN_SET: Final = frozenset(COLUMNS)
_PROCESS_ID_TYPES: Final = ("UInt32", "UInt64", "Int64")
"""Column types that take every process id the renderer writes in the column."""
_PID_KEY: Final = orjson.dumps(PROCESS_ID_COLUMN)
# The row is a flat object of text and one number, so an unescaped `"process_id":` after
# `{` or `,` can only be that key (a quote inside a text value is always `\"`).
_PID_PAIR: Final = re.compile(
    rb"(?<=[{,])" + re.escape(_PID_KEY) + rb":(\d+),|," + re.escape(_PID_KEY) + rb":(\d+)(?=\})"
)
_FIELDS_OPEN: Final = re.compile(rb"(?<=[{,])" + re.escape(orjson.dumps(FIELDS_COLUMN)) + rb':"\{')
_FIXED_TIME: Final = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
_ORJSON_OPTIONS: Final = orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS
_UTC: Final = datetime.timezone.utc


def process_id_in_fields(row: bytes) -> bytes:
    """Return *row* with its ``process_id`` column moved into ``fields``.

    For a table made by the DDL before the column (the server refuses a row naming a
    column the table lacks): the process id is kept where the earlier rows keep it.
    """
    pair = _PID_PAIR.search(row)
    if pair is None:
        return row
    pid = pair.group(1) or pair.group(2)
    rest = row[: pair.start()] + row[pair.end() :]
    opened = _FIELDS_OPEN.search(rest)
    if opened is None:  # not a row of ours: as it is (the server will say what is wrong)
        return row
    at = opened.end()
    entry = b'\\"' + PROCESS_ID_COLUMN.encode() + b'\\":' + pid
    entry += b"" if rest[at : at + 1] == b"}" else b","
    return rest[:at] + entry + rest[at:]


def batch_body(rows: list[bytes], batch_id: str) -> bytes:
    """Return *rows* (from :class:`ClickHouseRowRenderer`) as one insert of *batch_id*."""
    tag = f',"{BATCH_COLUMN}":"{batch_id}"}}\n'.encode()
    return b"".join(row[:-2] + tag for row in rows)


class ClickHouseRowRenderer:
    """Render a record as one JSONEachRow row (bytes) of the table ``ddl()`` makes.

    The head and context go to their columns as text, ``process_id`` to its number
    column; every other field goes, as JSON, to ``fields``. A value a text column cannot
    take (a call's ``request_id=42``) is written as text there and kept as it was in
    ``fields``; a ``process_id`` that is no whole number from 1 to 2**32-1 goes to
    ``fields`` only (the column's 0 says "none"); and a time that is not our fixed-width
    RFC 3339 text is replaced by the time of rendering (the original kept in ``fields``),
    so that one odd record can never make the server refuse a batch.
    """

    __slots__ = ("_limit",)

    def __init__(self, *, max_record_bytes: int | None = DEFAULT_MAX_RECORD_BYTES) -> None:
        self._limit = max_record_bytes

    def __call__(self, logger: Any, method_name: str, event_dict: dict[str, Any]) -> bytes:
        line = _row(event_dict)
        limit = self._limit
        if limit is not None and len(line) > limit:
            return fit_record(event_dict, limit, _row)  # type: ignore[return-value]  # bytes in, bytes out
        return line


def _row(record: Mapping[str, Any]) -> bytes:
    row: dict[str, Any] = {}
    rest: dict[Any, Any] = {}
    for key, value in record.items():
        if key not in _COLUMN_SET:
            if key == PROCESS_ID_COLUMN and type(value) is int and 0 < value <= PROCESS_ID_MAX:
                row[key] = value
            else:
                rest[key] = value
        elif type(value) is str:
            row[key] = value
        elif key == keys.TIMESTAMP and isinstance(value, datetime.datetime):
            row[key] = rfc3339(value)
        else:  # text for the column, the value itself for a lossless read-back
            safe = to_json_safe(value)
            row[key] = safe if isinstance(safe, str) else orjson.dumps(safe).decode()
            rest[key] = value
    stamp = row.get(keys.TIMESTAMP)
    if stamp is None or not _FIXED_TIME.fullmatch(stamp):
        row[keys.TIMESTAMP] = rfc3339(datetime.datetime.now(_UTC))
        if stamp is not None:
            rest.setdefault(keys.TIMESTAMP, record[keys.TIMESTAMP])
    row[FIELDS_COLUMN] = dumps_record(rest).decode("utf-8").rstrip("\n") if rest else "{}"
    return dumps_record(row)


class _UnsentError(Exception):
    """The request did not reach the server whole: nothing of it was inserted."""


class _UnknownError(Exception):
    """The request was sent but no answer came: the insert may or may not have happened."""


class _RefusedError(Exception):
    """The server answered with an error: it did not insert the batch."""


_FIRST_RETRY_SECONDS: Final = 0.05
_DROP_REPORT_SECONDS: Final = 1.0
_OVERFLOW_POLICIES: Final = ("block", "drop")


class ClickHouseOutput(Output):
    """Send records to a ClickHouse table over HTTP, in batches, from a background thread.

    *url* is the server's HTTP interface (``http://host:8123``, or ``https://``), *table*
    ``db.table`` as ``ddl(table, layout=layout)`` creates it (``create_table=True`` runs
    that first). A batch is sent when it has *batch_size* rows or *flush_interval*
    seconds after its first row. A failed send is retried, the wait doubling from 50 ms
    up to *max_backoff* seconds, for as long as it takes; meanwhile up to *queue_size*
    rows wait, and more are dropped and counted (``overflow="drop"``) or make the caller
    wait for room (``"block"``). Dropped rows are reported through :attr:`on_dropped` (a
    ``log_records_dropped`` record) and on stderr; the first failure of an outage and the
    recovery are told on stderr once each.

    :meth:`flush` waits until every row queued so far is delivered (at most
    three times *timeout*); :meth:`close` (``shutdown()``, interpreter exit) delivers
    what it can within *close_timeout* seconds and counts the rest as dropped.
    """

    queued: Final = True
    """Writes from its own thread already: no background writer goes in front of it."""

    __slots__ = (
        "_batch_size",
        "_close_timeout",
        "_closing",
        "_condition",
        "_connection",
        "_create_table",
        "_dropped",
        "_flush_interval",
        "_headers",
        "_host",
        "_https",
        "_inflight",
        "_layout",
        "_max_backoff",
        "_outage",
        "_overflow",
        "_port",
        "_prefix",
        "_process_id_column",
        "_queue_size",
        "_rows",
        "_table",
        "_thread",
        "_timeout",
        "_wake",
        "delivered",
        "dropped",
        "on_dropped",
        "renderer",
        "url",
    )

    def __init__(
        self,
        url: str = "http://127.0.0.1:8123",
        *,
        table: str = "flext.records",
        layout: str = PORTABLE,
        user: str | None = None,
        password: str | None = None,
        batch_size: int = 1000,
        flush_interval: float = 1.0,
        queue_size: int = 100_000,
        overflow: str = "drop",
        timeout: float = 10.0,
        max_backoff: float = 30.0,
        close_timeout: float = 10.0,
        create_table: bool = False,
        max_record_bytes: int | None = DEFAULT_MAX_RECORD_BYTES,
    ) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"url must be http://host:port or https://host:port, not {url!r}")
        if layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, not {layout!r}")
        if overflow not in _OVERFLOW_POLICIES:
            raise ValueError(f"overflow must be 'block' or 'drop', not {overflow!r}")
        for name, value in (("batch_size", batch_size), ("queue_size", queue_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, not {value!r}")
        self.url = url
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (8443 if self._https else 8123)
        self._prefix = parts.path.rstrip("/")
        self._table = ".".join(split_table(table))
        self._layout = layout
        self._headers = {"Content-Type": "text/plain; charset=utf-8"}
        if user is not None:  # ClickHouse's own headers: the password never in a URL or log
            self._headers["X-ClickHouse-User"] = user
            self._headers["X-ClickHouse-Key"] = password or ""
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._queue_size = queue_size
        self._overflow = overflow
        self._timeout = timeout
        self._max_backoff = max_backoff
        self._close_timeout = close_timeout
        self._create_table = create_table
        self._process_id_column: bool | None = None  # asked of the server before a batch
        self.renderer = ClickHouseRowRenderer(max_record_bytes=max_record_bytes)
        """The renderer whose rows this output sends (the pipeline pairs them)."""
        self.on_dropped: Callable[[int], None] | None = None
        """Called with the number of rows dropped since the last call."""
        self.delivered = 0
        """Rows the server acknowledged since start-up."""
        self.dropped = 0
        """Rows dropped since start-up: buffer full, or undelivered at close."""
        self._fresh_state()
        track(self)

    def _fresh_state(self) -> None:
        self._rows: deque[bytes] = deque()
        self._condition = threading.Condition(threading.Lock())
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._connection: http.client.HTTPConnection | None = None
        self._closing = False
        self._inflight = 0
        self._dropped = 0
        self._outage = False

    # -- the caller's side ---------------------------------------------------------------

    def write(self, line: bytes | str) -> None:
        """Queue one rendered row (or several joined); never waits on the network."""
        data = line.encode("utf-8", "surrogatepass") if isinstance(line, str) else line
        rows = data.splitlines(keepends=True) if data.count(b"\n") > 1 else [data]
        condition = self._condition
        with condition:
            for row in rows:
                if not row.endswith(b"}\n"):
                    continue  # not a row: a renderer that is not ours wrote here
                self._add(row)
            thread = self._thread
        if thread is None:
            self._start()

    def _add(self, row: bytes) -> None:  # called with the condition held
        own_thread = threading.current_thread() is self._thread
        while len(self._rows) + self._inflight >= self._queue_size and not own_thread:
            if self._overflow == "drop" or self._thread is None or not self._thread.is_alive():
                self._dropped += 1
                self.dropped += 1
                return
            self._condition.wait(_DROP_REPORT_SECONDS)
        self._rows.append(row)
        if len(self._rows) == 1 or len(self._rows) >= self._batch_size:
            self._condition.notify_all()

    def flush(self) -> None:
        """Wait until every row queued so far was delivered (bounded; never raises)."""
        deadline = time.monotonic() + self._timeout * 3
        self._wake.set()
        # Bounded: a SIGTERM handler (lifecycle) may flush while this thread holds the lock.
        if not self._condition.acquire(timeout=self._timeout):
            return
        try:
            self._condition.notify_all()
            while (self._rows or self._inflight) and self._thread is not None:
                left = deadline - time.monotonic()
                if left <= 0 or not self._thread.is_alive():
                    return
                self._condition.wait(min(left, 0.1))
        finally:
            self._condition.release()

    def close(self) -> None:
        """Deliver what can be within *close_timeout*, stop the thread, count the rest."""
        with self._condition:
            self._closing = True
            thread = self._thread
            dropped_before = self.dropped
            self._condition.notify_all()
        self._wake.set()
        if thread is not None and thread.is_alive():
            thread.join(self._close_timeout + self._timeout)
        with self._condition:
            left = len(self._rows) + (
                self._inflight if thread is None or not thread.is_alive() else 0
            )
            self._rows.clear()
            self.dropped += left
            self._thread = None
            self._closing = False
            self._wake.clear()
            given_up = self.dropped - dropped_before
            self._dropped = 0  # told below: a record about them could not be sent either
        if given_up:
            to_stderr(
                f"flext_logging: {given_up} records could not be sent to ClickHouse at "
                f"{self.url} before the output closed; they are counted as dropped\n"
            )
        self._disconnect()

    def after_fork_in_child(self) -> None:
        """Forget the parent's rows and thread: the parent sends its own rows."""
        self._fresh_state()

    def _start(self) -> None:
        with self._condition:
            if self._thread is not None:
                return
            thread = threading.Thread(
                target=self._run, name="flext_logging-clickhouse", daemon=True
            )
            self._thread = thread
        thread.start()
        on_writer_started()

    # -- the writer thread ---------------------------------------------------------------

    def _run(self) -> None:
        last_report = time.monotonic()
        told_at_close = False
        while True:
            batch = self._next_batch()
            if batch is None:
                if self._dropped and not told_at_close and self.on_dropped is not None:
                    told_at_close = True  # the report is a record: send it before stopping
                    self._report_dropped()
                    continue
                return
            if batch:
                self._deliver(batch)
                with self._condition:
                    self._inflight = 0
                    self._condition.notify_all()
            if self._dropped and time.monotonic() - last_report >= _DROP_REPORT_SECONDS:
                last_report = time.monotonic()
                self._report_dropped()

    def _next_batch(self) -> list[bytes] | None:
        """Wait for a full batch, the flush interval, a flush or close; ``None``: stop."""
        condition = self._condition
        with condition:
            while not self._rows:
                if self._closing:
                    return None
                condition.wait(_DROP_REPORT_SECONDS)
                if not self._rows and self._dropped:
                    return []  # let the loop report drops while idle
            deadline = time.monotonic() + self._flush_interval
            while len(self._rows) < self._batch_size and not self._closing:
                left = deadline - time.monotonic()
                if left <= 0 or self._wake.is_set():
                    break
                condition.wait(left)
            self._wake.clear()
            count = min(self._batch_size, len(self._rows))
            batch = [self._rows.popleft() for _ in range(count)]
            self._inflight = count
            condition.notify_all()
            return batch

    def _deliver(self, batch: list[bytes]) -> None:
        """Send *batch* until the server has it once, or until close gives up on it."""
        batch_id = os.urandom(16).hex()
        body: bytes | None = None
        settings = dict(INSERT_SETTINGS[self._layout])
        if self._layout == DATETIME64:
            settings["insert_deduplication_token"] = batch_id
        query = f"INSERT INTO {self._table} FORMAT JSONEachRow"
        unknown = False
        delay = _FIRST_RETRY_SECONDS
        give_up_at: float | None = None
        while True:
            try:
                if body is None:
                    body = self._prepared(batch, batch_id)
                if unknown and self._layout == PORTABLE and self._settled(batch, batch_id):
                    return
                self._post(query, body, settings)
            except _UnknownError as exc:
                unknown = True
                self._report_outage(exc)
            except _RefusedError as exc:
                # The table may have been made again or altered: see its columns again.
                self._process_id_column, body = None, None
                self._report_outage(exc)
            except _UnsentError as exc:
                self._report_outage(exc)
            else:
                self._delivered(len(batch))
                return
            if self._closing:
                give_up_at = give_up_at or time.monotonic() + self._close_timeout
                if time.monotonic() >= give_up_at:
                    self._drop_undelivered(len(batch))
                    return
            self._wake.wait(delay)
            self._wake.clear()
            delay = min(delay * 2, self._max_backoff)

    def _prepared(self, batch: list[bytes], batch_id: str) -> bytes:
        """The insert's body, the table made (``create_table``) and its columns seen first."""
        if self._create_table:
            for statement in ddl(self._table, layout=self._layout):
                self._post(statement, b"", {})
            self._create_table = False
        if self._process_id_column is None:
            self._process_id_column = self._has_process_id_column()
        rows = batch if self._process_id_column else [*map(process_id_in_fields, batch)]
        return batch_body(rows, batch_id)

    def _settled(self, batch: list[bytes], batch_id: str) -> bool:
        """After a lost answer: whether the server has the batch (then it is counted)."""
        found = self._count(batch_id)
        if found >= len(batch):
            self._delivered(len(batch))
            return True
        if found:  # one insert is one block: a part of it is not expected
            self._delivered(found)
            self._drop_undelivered(len(batch) - found)
            return True
        return False

    def _delivered(self, count: int) -> None:
        self.delivered += count
        if self._outage:
            self._outage = False
            to_stderr(f"flext_logging: ClickHouse at {self.url} accepts records again\n")

    def _drop_undelivered(self, count: int) -> None:
        with self._condition:
            self.dropped += count  # close() tells stderr: no record could reach the server

    def _report_outage(self, exc: Exception) -> None:
        self._disconnect()
        if not self._outage:
            self._outage = True
            to_stderr(
                f"flext_logging: could not send records to ClickHouse at {self.url} ({exc}); "
                f"keeping up to {self._queue_size} and retrying\n"
            )

    def _report_dropped(self) -> None:
        with self._condition:
            count, self._dropped = self._dropped, 0
        if count and self.on_dropped is not None:
            with contextlib.suppress(Exception):  # reporting must not stop the writer
                self.on_dropped(count)

    # -- HTTP --------------------------------------------------------------------------

    def _has_process_id_column(self) -> bool:
        """Whether the table has a ``process_id`` column of a type our rows fit.

        A table made by the DDL before that column has none; the rows sent to it carry
        the process id in ``fields``, as its earlier rows do. So do they when the server
        will not say (a user who may insert but not read ``system.columns``): the server
        takes such a row into either table.
        """
        database, name = self._table.split(".")
        try:
            answer = self._post(  # both names are checked identifiers: no injection
                "SELECT type FROM system.columns"  # noqa: S608
                f" WHERE database = '{database}' AND table = '{name}'"
                f" AND name = '{PROCESS_ID_COLUMN}' FORMAT TSV",
                b"",
                {},
            )
        except _RefusedError:
            return False
        return answer.decode("utf-8", "replace").strip() in _PROCESS_ID_TYPES

    def _count(self, batch_id: str) -> int:
        """How many rows of *batch_id* the table has (a check before resending)."""
        # Both names are checked identifiers and the batch id is hex we made: no injection.
        answer = self._post(
            f"SELECT count() FROM {self._table} WHERE {BATCH_COLUMN} = '{batch_id}' FORMAT TSV",  # noqa: S608
            b"",
            {},
        )
        return int(answer.strip() or 0)

    def _post(self, query: str, body: bytes, settings: Mapping[str, str]) -> bytes:
        """POST *query* (and *body*) to the server; the answer's body, or an exception."""
        path = f"{self._prefix}/?{urllib.parse.urlencode({'query': query, **settings})}"
        connection = self._connection
        if connection is None:
            factory = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            connection = self._connection = factory(self._host, self._port, timeout=self._timeout)
        try:
            connection.request("POST", path, body=body, headers=self._headers)
        except (OSError, http.client.HTTPException) as exc:
            raise _UnsentError(f"{type(exc).__name__}: {exc}") from None
        try:
            response = connection.getresponse()
            answer = response.read()
        except (OSError, http.client.HTTPException) as exc:
            raise _UnknownError(f"{type(exc).__name__}: {exc}") from None
        if response.status != http.client.OK:
            text = answer[:300].decode("utf-8", "replace").strip()
            raise _RefusedError(f"HTTP {response.status}: {text}")
        return answer

    def _disconnect(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.close()
