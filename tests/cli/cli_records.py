"""Hand-made records for the CLI tests, shaped like the ones flext-logging writes."""

from __future__ import annotations

from typing import Any

from flext_logging import keys

Record = dict[str, Any]


def make_record(
    message: str,
    at: str,
    *,
    correlation: str | None = None,
    parent: str | None = None,
    span: str | None = None,
    service: str | None = "shop",
    level: str = "info",
    **fields: Any,
) -> Record:
    """Build a record the way flext-logging writes one: head, context, then fields."""
    record: Record = {
        keys.TIMESTAMP: f"2026-11-23T10:00:{at}Z",
        keys.LEVEL: level,
        keys.LOGGER: "test",
        keys.MESSAGE: message,
    }
    if correlation is not None:
        record[keys.CORRELATION_ID] = correlation
    if parent is not None:
        record[keys.PARENT_CORRELATION_ID] = parent
    if span is not None:
        record[keys.SPAN_ID] = span
    if service is not None:
        record[keys.SERVICE_NAME] = service
    record.update(fields)
    return record
