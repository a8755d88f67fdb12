"""The ClickHouse table of our records: its layouts, its columns, and a row read back.

Shared by the output that fills the table (:mod:`flext_logging.outputs.clickhouse`) and
the ``flext-logging`` tool that reads it (``--source clickhouse://``), which must not load
the renderers. The SQL is in ``clickhouse.sql`` (``portable``) and
``clickhouse_datetime64.sql`` (``datetime64``) beside this module; see docs/clickhouse.md.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from importlib import resources
from typing import Any, Final

import orjson

from flext_logging import keys

__all__ = [
    "BATCH_COLUMN",
    "COLUMNS",
    "DATETIME64",
    "FIELDS_COLUMN",
    "IDS_SUFFIX",
    "ID_KINDS",
    "INSERT_SETTINGS",
    "LAYOUTS",
    "PORTABLE",
    "PROCESS_ID_COLUMN",
    "PROCESS_ID_MAX",
    "ddl",
    "record_from_row",
    "split_table",
]

PORTABLE: Final = "portable"
DATETIME64: Final = "datetime64"
LAYOUTS: Final = (PORTABLE, DATETIME64)
"""The table layouts ``ddl()`` makes: ``portable`` (ClickHouse 18.16 on), ``datetime64``."""
INSERT_SETTINGS: Final[Mapping[str, Mapping[str, str]]] = {
    PORTABLE: {},
    DATETIME64: {"date_time_input_format": "best_effort"},
}
"""What each layout's inserts need: the DateTime64 column parses RFC 3339 text best-effort."""
_SQL_FILES: Final = {PORTABLE: "clickhouse.sql", DATETIME64: "clickhouse_datetime64.sql"}

COLUMNS: Final = (*keys.HEAD_KEYS, *keys.CONTEXT_KEYS)
"""The text columns: the head and context fields (every table of ours has them)."""
PROCESS_ID_COLUMN: Final = keys.PROCESS_ID
"""``process_id UInt32``: 0 is a record without one (no real process has id 0). Tables
made by the DDL before it have no such column: their ``fields`` hold the process id."""
PROCESS_ID_MAX: Final = 2**32 - 1
"""The largest value the column takes (the server would wrap a larger one, silently)."""
FIELDS_COLUMN: Final = "fields"
"""Every other field of a record, as one JSON object in text: lossless, on any server."""
BATCH_COLUMN: Final = "batch_id"
IDS_SUFFIX: Final = "_ids"
"""The id look-up table is named after the records' table with this suffix."""
ID_KINDS: Final = (keys.REQUEST_ID, keys.TRACE_ID, keys.PARENT_CORRELATION_ID)
"""The ids the look-up table maps to the correlations that carry them (its ``kind``)."""
_IDENTIFIER: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DATETIME64_TEXT: Final = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}")


def split_table(table: str) -> tuple[str, str]:
    """Return ``(database, table)`` of ``db.table`` (``default`` when no database is named).

    Raises ``ValueError`` for a name that is not two plain identifiers: the name goes
    into SQL text.
    """
    database, dot, name = table.rpartition(".")
    database = database if dot else "default"
    for part in (database, name):
        if not _IDENTIFIER.fullmatch(part):
            raise ValueError(f"a ClickHouse table is db.table of [A-Za-z0-9_] names, not {table!r}")
    return database, name


def ddl(table: str = "flext.records", *, layout: str = PORTABLE) -> list[str]:
    """Return the statements that create *table* and its id look-up table (``IF NOT EXISTS``).

    The SQL is ``flext_logging/outputs/clickhouse.sql`` (``portable``: every server from
    18.16) or ``clickhouse_datetime64.sql`` (``datetime64``: 22.8 and later).
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, not {layout!r}")
    database, name = split_table(table)
    text = resources.files("flext_logging.outputs").joinpath(_SQL_FILES[layout]).read_text()
    body = "\n".join(line for line in text.splitlines() if not line.strip().startswith("--"))
    body = body.replace("{database}", database).replace("{table}", name)
    return [
        statement.strip() for statement in re.split(r";\s*$", body, flags=re.M) if statement.strip()
    ]


def record_from_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """Return the record a row of the table was made from: the row renderer's inverse.

    A text column's ``''`` and ``process_id``'s 0 are a field the record did not have
    (a row without a ``process_id`` column, from a table of the earlier DDL, is read the
    same); ``fields`` gives back every other field and the value of a column that was
    not of the column's type (a call's ``request_id=42``, an odd time, a process id that
    is no whole number, or the process id of a table without its column), each in its
    place. A DateTime64 time (``2024-05-06 07:08:09.123456``) comes back in our RFC 3339
    form. A ``fields`` text that is no JSON object is kept whole under ``fields``:
    nothing of a row is lost.
    """
    record: dict[str, Any] = {}
    for name in keys.RECORD_KEYS:  # in schema order: process_id after the head
        value = row.get(name)
        if name == PROCESS_ID_COLUMN:
            if type(value) is int and 0 < value <= PROCESS_ID_MAX:
                record[name] = value
        elif isinstance(value, str) and value:
            record[name] = value
    stamp = record.get(keys.TIMESTAMP)
    if stamp is not None and _DATETIME64_TEXT.fullmatch(stamp):
        record[keys.TIMESTAMP] = f"{stamp[:10]}T{stamp[11:]}Z"
    text = row.get(FIELDS_COLUMN)
    if not isinstance(text, str) or text in ("", "{}"):
        return record
    try:
        rest = orjson.loads(text)
    except orjson.JSONDecodeError:
        rest = None
    if not isinstance(rest, dict):
        record[FIELDS_COLUMN] = text
        return record
    record.update(rest)
    # The fields of fixed place go back to it (process_id, read from `fields` or not).
    ordered: dict[str, Any] = {key: record[key] for key in keys.RECORD_KEYS if key in record}
    ordered.update(record)
    return ordered
