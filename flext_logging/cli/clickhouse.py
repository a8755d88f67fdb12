"""Reading records from ClickHouse: ``trace`` and ``stats`` with ``--source clickhouse://``.

The table is the one ``ClickHouseOutput`` fills (``flext_logging.outputs.clickhouse_table``,
either layout). What can be asked of the server is asked in SQL: the id (its columns,
and the id look-up table that maps request ids, trace ids and parents to correlations),
the correlations of each level of the tree, and the ``--since``/``--until`` window. The
rows come back as the records they were made from and go through the same reader as the
lines of a file (normalized, ``--where`` and the window applied exactly, counted), then
through the same tree and stats code: the answer is the one the files would give.

``clickhouse://HOST:PORT/DB.TABLE`` speaks HTTP to the server's HTTP interface (port
8123 by default), ``clickhouses://`` HTTPS (8443). A user may be named in the URL
(``clickhouse://reader@host/...``) or in ``CLICKHOUSE_USER``; the password is read from
``CLICKHOUSE_PASSWORD`` only, never from the URL, and goes in ClickHouse's own header.
"""

from __future__ import annotations

import datetime
import http.client
import math
import os
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

import orjson

from flext_logging import keys
from flext_logging.cli.filters import UsageError
from flext_logging.cli.reading import Reader
from flext_logging.cli.tree import BY_FIELDS, Found
from flext_logging.outputs.clickhouse_table import (
    COLUMNS,
    DATETIME64,
    FIELDS_COLUMN,
    ID_KINDS,
    IDS_SUFFIX,
    PORTABLE,
    PROCESS_ID_COLUMN,
    record_from_row,
    split_table,
)

__all__ = [
    "ENV_PASSWORD",
    "ENV_USER",
    "ClickHouseSource",
    "Location",
    "Query",
    "TableSearch",
    "parse_location",
    "quote",
]

SCHEMES: Final = {"clickhouse": False, "clickhouses": True}
"""URL schemes of ``--source``, and whether each is HTTPS."""
_DEFAULT_PORTS: Final = {False: 8123, True: 8443}
ENV_USER: Final = "CLICKHOUSE_USER"
ENV_PASSWORD: Final = "CLICKHOUSE_PASSWORD"  # noqa: S105 - the variable's name, not a password
"""The variables clickhouse-client reads as well."""
TIMEOUT_S: Final = 60.0
_IN_LIST_LIMIT: Final = 1000
"""Ids per ``IN (...)`` list: a fan-out of thousands of jobs stays under max_query_size."""
_ERROR_TEXT_LIMIT: Final = 300
_READ_COLUMNS: Final = (*COLUMNS, FIELDS_COLUMN)
"""The columns every table of ours has (``process_id`` is read too where it is one)."""
_ID_COLUMNS: Final = (keys.REQUEST_ID, keys.TRACE_ID, keys.PARENT_CORRELATION_ID)
_EPOCH: Final = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
_OUTSIDE_CORRELATIONS: Final = "(correlation_id = '' AND ({}))"
"""Rows of no correlation whose ids match: the id table has none of them (its view keeps
only rows of a correlation, in every version of our DDL), and ``correlation_id = ''``
is one range of the primary key, so only those rows are read."""

Query = Callable[[str], Iterator[bytes]]
"""Run one SQL statement; yield the lines of its answer (``FORMAT JSONEachRow``)."""


@dataclass(frozen=True)
class Location:
    """Where a table is: ``clickhouse://HOST:PORT/DB.TABLE``, parsed."""

    host: str
    port: int
    https: bool
    database: str
    table: str
    user: str | None = None

    def __str__(self) -> str:
        scheme = "clickhouses" if self.https else "clickhouse"
        return f"{scheme}://{self.host}:{self.port}/{self.database}.{self.table}"


def parse_location(text: str) -> Location:
    """Parse a ``--source`` URL; raise :class:`UsageError` saying what is wrong with it."""
    usage = "--source is clickhouse://HOST:PORT/DB.TABLE (or clickhouses:// for HTTPS)"
    parts = urllib.parse.urlsplit(text)
    if parts.scheme not in SCHEMES or not parts.hostname:
        raise UsageError(f"{usage}, not {text!r}")
    if parts.password is not None:
        raise UsageError(
            f"--source: no password in the URL (it would show in `ps` and shell history);"
            f" set {ENV_PASSWORD}"
        )
    if parts.query or parts.fragment:
        raise UsageError(f"{usage}: no ?query or #fragment")
    try:
        port = parts.port
    except ValueError:
        raise UsageError(f"{usage}: the port is not a number") from None
    try:
        database, table = split_table(parts.path.strip("/"))
    except ValueError as error:
        raise UsageError(f"--source: {error}") from None
    https = SCHEMES[parts.scheme]
    user = urllib.parse.unquote(parts.username) if parts.username else os.environ.get(ENV_USER)
    return Location(parts.hostname, port or _DEFAULT_PORTS[https], https, database, table, user)


def _printable(text: str) -> str:
    """A server's message made safe for a terminal, and short."""
    text = " ".join(text.split())[:_ERROR_TEXT_LIMIT]
    return "".join(char if char.isprintable() else "?" for char in text)


class _Http:
    """Queries over ClickHouse's HTTP interface, the answer read as it streams in."""

    __slots__ = ("_headers", "_location")

    def __init__(self, location: Location, password: str | None) -> None:
        self._location = location
        self._headers = {"Content-Type": "text/plain; charset=utf-8"}
        if location.user is not None or password:  # ClickHouse's own headers, not the URL
            self._headers["X-ClickHouse-User"] = location.user or "default"
            self._headers["X-ClickHouse-Key"] = password or ""

    def __call__(self, sql: str) -> Iterator[bytes]:
        location = self._location
        factory = http.client.HTTPSConnection if location.https else http.client.HTTPConnection
        connection = factory(location.host, location.port, timeout=TIMEOUT_S)
        try:
            try:
                body = sql.encode("utf-8", "surrogateescape")
                connection.request("POST", "/", body=body, headers=self._headers)
                response = connection.getresponse()
            except (OSError, http.client.HTTPException) as error:
                raise UsageError(f"cannot reach ClickHouse at {location}: {error}") from None
            if response.status != http.client.OK:
                text = response.read(4096).decode("utf-8", "replace")
                raise UsageError(
                    f"ClickHouse at {location} refused the query"
                    f" (HTTP {response.status}): {_printable(text)}"
                )
            try:
                for line in response:
                    yield line.rstrip(b"\r\n")
            except (OSError, http.client.HTTPException) as error:
                raise UsageError(f"ClickHouse at {location} broke off: {error}") from None
        finally:
            connection.close()


def quote(text: str) -> str:
    """*text* as a ClickHouse string literal (a value from the command line goes in SQL)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _like_prefix(prefix: str) -> str:
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return quote(escaped + "%")


def _listed(values: Iterable[str]) -> str:
    return ", ".join(quote(value) for value in values)


def _chunks(values: Iterable[str]) -> Iterator[list[str]]:
    ordered = sorted(values)
    for start in range(0, len(ordered), _IN_LIST_LIMIT):
        yield ordered[start : start + _IN_LIST_LIMIT]


def _micros_text(micros: int, layout: str) -> str | None:
    """A time in microseconds as the layout's column compares it, ``None`` if out of range."""
    try:
        moment = _EPOCH + datetime.timedelta(microseconds=micros)
    except OverflowError:
        return None
    if layout == DATETIME64:
        return moment.strftime("%Y-%m-%d %H:%M:%S.%f")
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")  # fixed width: it sorts as time


class ClickHouseSource:
    """A table of our records in ClickHouse, read with SQL (see the module docstring).

    *query* runs SQL and yields the answer's lines; by default it is the HTTP interface
    of *location* (the password from ``CLICKHOUSE_PASSWORD``). A test gives another.
    """

    __slots__ = ("_columns", "_has_ids", "_ids", "_layout", "_query", "_table", "location")

    def __init__(self, location: Location, *, query: Query | None = None) -> None:
        self.location = location
        self._query = query or _Http(location, os.environ.get(ENV_PASSWORD))
        self._table = f"{location.database}.{location.table}"
        self._ids = f"{self._table}{IDS_SUFFIX}"
        self._layout: str | None = None
        self._has_ids = False
        self._columns = ", ".join(_READ_COLUMNS)

    @classmethod
    def open(cls, url: str) -> ClickHouseSource:
        """Return the source of a ``--source`` URL (raise :class:`UsageError` if it is bad)."""
        return cls(parse_location(url))

    def _json(self, sql: str) -> Iterator[tuple[bytes, dict[str, Any]]]:
        for line in self._query(f"{sql} FORMAT JSONEachRow"):
            if not line:
                continue
            try:
                row = orjson.loads(line)
            except orjson.JSONDecodeError:  # the server reports a late error in the body
                text = line.decode("utf-8", "replace")
                raise UsageError(
                    f"ClickHouse at {self.location} failed: {_printable(text)}"
                ) from None
            if isinstance(row, dict):
                yield line, row

    @property
    def layout(self) -> str:
        """The table's layout (``portable`` or ``datetime64``), asked of the server once."""
        if self._layout is None:
            self._layout = self._inspect()
        return self._layout

    def _inspect(self) -> str:
        location = self.location
        rows = self._json(
            "SELECT table, name, type FROM system.columns"  # noqa: S608 - quoted names
            f" WHERE database = {quote(location.database)}"
            f" AND table IN ({_listed((location.table, location.table + IDS_SUFFIX))})"
        )
        columns: dict[str, dict[str, str]] = {}
        for _, row in rows:
            columns.setdefault(str(row.get("table")), {})[str(row.get("name"))] = str(
                row.get("type")
            )
        found = columns.get(location.table)
        if not found:
            raise UsageError(f"{location}: no table {self._table} there")
        missing = [name for name in _READ_COLUMNS if name not in found]
        if missing:
            raise UsageError(
                f"{location}: {self._table} is not a table of flext-logging records"
                f" (no column {missing[0]}; see docs/clickhouse.md)"
            )
        kind = found[keys.TIMESTAMP]
        layout = DATETIME64 if kind.startswith("DateTime64") else PORTABLE
        if kind != "String" and layout == PORTABLE:
            raise UsageError(f"{location}: a timestamp column of type {kind} is no layout of ours")
        self._has_ids = {"kind", "id", keys.CORRELATION_ID} <= set(
            columns.get(location.table + IDS_SUFFIX, {})
        )
        if PROCESS_ID_COLUMN in found:  # tables made before the column keep it in `fields`
            self._columns = ", ".join((*_READ_COLUMNS, PROCESS_ID_COLUMN))
        return layout

    def window(self, since: float | None, until: float | None) -> str:
        """The SQL condition of ``--since``/``--until``, ``1`` for no window.

        It is a microsecond wider on each side than the window (a time in seconds as a
        float is that exact): the reader then applies the window exactly, as to a file.
        """
        layout = self.layout
        conditions: list[str] = []
        for bound, rounded, margin, operator in (
            (since, math.floor, -1, ">="),
            (until, math.ceil, 1, "<"),
        ):
            if bound is None:
                continue
            text = _micros_text(int(rounded(bound * 1_000_000)) + margin, layout)
            if text is None:
                continue
            if layout == DATETIME64:
                conditions.append(f"timestamp {operator} toDateTime64({quote(text)}, 6, 'UTC')")
            else:
                day = "date >=" if operator == ">=" else "date <="
                conditions.append(f"{day} {quote(text[:10])}")  # whole partitions skipped
                conditions.append(f"timestamp {operator} {quote(text)}")
        return " AND ".join(conditions) or "1"

    def rows(self, where: str, *, ordered: bool = False) -> Iterator[tuple[bytes, dict[str, Any]]]:
        """Yield each row matching *where* as (its bytes, the record it was made from)."""
        self.layout  # noqa: B018 - inspects the table once: its columns
        order = " ORDER BY timestamp" if ordered else ""
        sql = f"SELECT {self._columns} FROM {self._table} WHERE {where}{order}"  # noqa: S608
        for line, row in self._json(sql):
            yield line, record_from_row(row)

    def correlations_of(self, kinds: Sequence[str], ids: Iterable[str]) -> set[str]:
        """The correlations the id table maps *ids* of *kinds* to (none without the table)."""
        if not self._has_ids:
            return set()
        found: set[str] = set()
        for chunk in _chunks(ids):
            sql = (
                f"SELECT DISTINCT correlation_id FROM {self._ids}"  # noqa: S608 - quoted
                f" WHERE kind IN ({_listed(kinds)}) AND id IN ({_listed(chunk)})"
            )
            found.update(str(row.get(keys.CORRELATION_ID)) for _, row in self._json(sql))
        found.discard("")
        return found

    def ids_starting_with(self, prefix: str, where: str) -> set[str]:
        """Up to two correlation, request or trace ids that start with *prefix*."""
        pattern = _like_prefix(prefix)
        values: set[str] = set()
        for field in BY_FIELDS.values():
            sql = (
                f"SELECT DISTINCT {field} FROM {self._table}"  # noqa: S608 - quoted values
                f" WHERE ({where}) AND {field} LIKE {pattern} LIMIT 2"
            )
            values.update(str(row.get(field)) for _, row in self._json(sql))
            if len(values) > 1:
                break
        return values

    def records(self, reader: Reader) -> Iterator[dict[str, Any]]:
        """Yield every record of the window of *reader*'s filter that passes it."""
        keep = reader.filter
        where = self.window(keep.since if keep else None, keep.until if keep else None)
        for _, raw in self.rows(where):
            record = reader.accept(raw)
            if record is not None:
                yield record

    def search(self, reader: Reader) -> TableSearch:
        """Return the search ``trace`` runs on this table (see :func:`collect_from`)."""
        return TableSearch(self, reader)

    def has_ids(self) -> bool:
        """Whether the id look-up table is there (else ids are found by scanning columns)."""
        self.layout  # noqa: B018 - inspects the table once
        return self._has_ids


class TableSearch:
    """``trace``'s searches as SQL: id columns, the id table, correlations level by level."""

    __slots__ = ("_reader", "_source", "_window")

    def __init__(self, source: ClickHouseSource, reader: Reader) -> None:
        self._source, self._reader = source, reader
        keep = reader.filter
        self._window = source.window(keep.since if keep else None, keep.until if keep else None)

    def _found(self, where: str) -> Found:
        accept = self._reader.accept
        found: Found = []
        for line, raw in self._source.rows(f"({self._window}) AND ({where})", ordered=True):
            record = accept(raw)
            if record is not None:
                found.append((line, record))
        return found

    def mentioning(self, ident: str) -> Found:
        """The rows holding *ident* in an id column."""
        value = quote(ident)
        in_ids = " OR ".join(f"{column} = {value}" for column in _ID_COLUMNS)
        conditions = [f"correlation_id = {value}"]
        if self._source.has_ids():
            correlations = self._source.correlations_of(ID_KINDS, [ident])
            conditions.extend(  # the primary key first, then the other id columns
                f"(correlation_id IN ({_listed(chunk)}) AND ({in_ids}))"
                for chunk in _chunks(correlations)
            )
            conditions.append(_OUTSIDE_CORRELATIONS.format(in_ids))
        else:
            conditions.append(in_ids)
        return self._found(" OR ".join(conditions))

    def shortened(self, prefix: str, mentioning: Found) -> Found:
        """The rows of the one id of the tree's kinds that starts with *prefix*, if one does."""
        values = self._source.ids_starting_with(prefix, self._window)
        if len(values) != 1:
            return []  # none, or ambiguous: the caller says it found nothing
        return self.mentioning(values.pop())

    def of_correlations(self, correlations: set[str]) -> Found:
        """The rows of *correlations*, and those of their children that name them."""
        source = self._source
        found: Found = []
        for chunk in _chunks(correlations):
            listed = _listed(chunk)
            if source.has_ids():
                where = f"correlation_id IN ({listed})"
                children = source.correlations_of((keys.PARENT_CORRELATION_ID,), chunk)
                for inner in _chunks(children - set(chunk)):
                    where += (
                        f" OR (correlation_id IN ({_listed(inner)})"
                        f" AND parent_correlation_id IN ({listed}))"
                    )
                where += " OR " + _OUTSIDE_CORRELATIONS.format(
                    f"parent_correlation_id IN ({listed})"
                )
            else:
                where = f"correlation_id IN ({listed}) OR parent_correlation_id IN ({listed})"
            found.extend(self._found(where))
        return found
