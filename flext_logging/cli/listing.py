"""Finding the request to trace: one row per root request, from one pass over the logs.

A *root* is a correlation that names no parent (or, in logs without correlations, a
trace). Its row says what it was (the route of its outermost server request, else its
RPC, task or operation name), which service took it, when it started, how long it
took, how it ended (HTTP status or gRPC code), its first error code (its own, else
the first of the work below it), and how many of the correlations it started failed:
a request answered 202 whose job failed is a failed request here. Only the lines that
can tell any of this are parsed: finishing and failure records, and the records of
child correlations.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from flext_logging import keys
from flext_logging.cli.reading import Progress, Reader, RecordFilter
from flext_logging.cli.times import record_seconds
from flext_logging.cli.tree import (
    FINISH_EVENTS,
    TASK_CLOSING_EVENTS,
    error_code,
    is_call,
    is_failure,
    spool_streams,
)

__all__ = ["NEEDLES", "REQUEST_COLUMNS", "Request", "collect_requests", "select"]

REQUEST_COLUMNS: Final = (
    "id",
    "service",
    "route",
    "start",
    "duration_ms",
    "status",
    "status_code",
    "error_code",
    "failed_below",
)
"""The fields of a row of ``requests --format json|csv``, in order."""

NEEDLES: Final = (
    b"_finished",
    b"_failed",
    b"_succeeded",
    b"parent_correlation_id",
    b"rror",
    b"RROR",
    b"ritical",
    b"RITICAL",
    b"atal",
    b"ATAL",
    b"uration",
    b'"status_code":5',
)
"""What a line must hold to matter here: a finish, a failure, a duration or a parent."""

_SERVER_EVENTS: Final = frozenset(
    {
        keys.EVENT_REQUEST_FINISHED,
        keys.EVENT_REQUEST_FAILED,
        keys.EVENT_RPC_FINISHED,
        keys.EVENT_RPC_FAILED,
        *TASK_CLOSING_EVENTS,
    }
)


@dataclass
class Request:
    """One root request and what its records say."""

    id: str
    service: str | None = None
    route: str | None = None
    start_s: float | None = None
    duration_ms: float | None = None
    status: str = "ok"
    status_code: int | str | None = None
    error_code: str | None = None
    failed_below: int = 0
    parent: str | None = None
    summary: dict[str, Any] | None = None
    """The record the row was made from (its outermost server request's finishing record)."""
    summary_rank: tuple[bool, bool, float] = field(default=(True, True, 0.0), repr=False)
    """Why the summary was chosen, the least first: whether it names a parent span,
    whether it has no start, and its start."""

    @property
    def failed(self) -> bool:
        """Whether the request, or work it started, failed."""
        return self.status == keys.STATUS_FAILED or self.failed_below > 0

    def to_data(self) -> dict[str, Any]:
        """The row as data, for ``--format json`` and ``csv``."""
        from flext_logging.cli.times import format_instant

        values = (
            self.id,
            self.service,
            self.route,
            format_instant(self.start_s),
            self.duration_ms,
            self.status,
            self.status_code,
            self.error_code,
            self.failed_below,
        )
        return dict(zip(REQUEST_COLUMNS, values, strict=True))


def _text(record: dict[str, Any], name: str) -> str | None:
    value = record.get(name)
    return value if isinstance(value, str) and value else None


def _label(record: dict[str, Any]) -> str | None:
    method = _text(record, keys.HTTP_METHOD)
    target = _text(record, keys.HTTP_ROUTE) or _text(record, keys.HTTP_PATH)
    if target is not None:
        return f"{method} {target}" if method is not None else target
    return (
        _text(record, keys.RPC_METHOD)
        or _text(record, keys.TASK_NAME)
        or _text(record, keys.OPERATION_NAME)
    )


def _duration(record: dict[str, Any]) -> float | None:
    value = record.get(keys.DURATION_MS)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _add(requests: dict[str, Request], record: dict[str, Any], calls: dict[str, str]) -> None:
    """Take what *record* says of its request; note in *calls* the span of a call it made."""
    # A request made in a request_context() of its own carries only its request id.
    key = (
        _text(record, keys.CORRELATION_ID)
        or _text(record, keys.TRACE_ID)
        or _text(record, keys.REQUEST_ID)
    )
    if key is None:
        return
    request = requests.get(key)
    if request is None:
        request = requests[key] = Request(key, parent=_text(record, keys.PARENT_CORRELATION_ID))
    seconds = record_seconds(record)
    if seconds is not None and (request.start_s is None or seconds < request.start_s):
        request.start_s = seconds
    if request.service is None:
        request.service = _text(record, keys.SERVICE_NAME)
    if is_failure(record):
        request.status = keys.STATUS_FAILED
        request.error_code = request.error_code or error_code(record)
    event = record.get(keys.MESSAGE)
    client_side = record.get(keys.RPC_SIDE) == keys.RPC_SIDE_CLIENT
    if is_call(record):
        span = _text(record, keys.SPAN_ID)
        if span is not None:  # a service called here may log under a correlation of its own
            calls[span] = key
    if request.route is None and keys.OPERATION not in record:
        request.route = _label(record)  # a name until a server request gives its route
    duration = _duration(record)
    # A record with a duration and a route or name of its own stands for a request
    # (another library's access line), but not one of a timed operation inside it.
    is_server = (event in _SERVER_EVENTS and not client_side) or (
        event not in FINISH_EVENTS
        and duration is not None
        and keys.OPERATION not in record
        and _label(record) is not None
    )
    if not is_server:
        return
    started = seconds - duration / 1000 if seconds is not None and duration is not None else seconds
    if started is not None and request.start_s is not None:
        request.start_s = min(request.start_s, started)
    # The request's outermost server request describes it: one that names no parent
    # span, else the earliest (the earliest alone would be a callee whose clock is behind).
    rank = (_text(record, keys.PARENT_SPAN_ID) is not None, started is None, started or 0.0)
    if request.summary is not None and rank >= request.summary_rank:
        return
    request.summary, request.summary_rank = record, rank
    request.route = _label(record) or request.route
    request.duration_ms = duration
    request.service = _text(record, keys.SERVICE_NAME) or request.service
    code = record.get(keys.STATUS_CODE, record.get(keys.RPC_CODE))
    if isinstance(code, int | str) and not isinstance(code, bool):
        request.status_code = code


def collect_requests(
    sources: Sequence[str], reader: Reader, *, progress: Progress | None = None
) -> list[Request]:
    """Return the root requests of *sources*, in time order, failures below counted.

    A root is a correlation with no parent among them: one that names none, or whose
    parent was not seen. A correlation that names no parent but whose first server
    request was called from a span of another (only ``traceparent`` crossed) is that
    one's child.
    """
    readable, spooled = spool_streams(sources)
    try:
        requests = _read(readable, reader, progress)
    finally:
        for path in spooled:
            os.unlink(path)
    _count_failures_below(requests)
    roots = [
        request
        for request in requests.values()
        if request.parent is None or request.parent not in requests
    ]
    roots.sort(key=lambda one: (one.start_s is None, one.start_s or 0.0, one.id))
    return roots


def _read(sources: Sequence[str], reader: Reader, progress: Progress | None) -> dict[str, Request]:
    """Read the requests of *sources*, each with its parent.

    The parents known only from their children (their own lines hold no finish,
    failure or duration) are read in a second pass, for their ids alone.
    """
    requests: dict[str, Request] = {}
    calls: dict[str, str] = {}
    for source in sources:
        for record in reader.records(source, needles=NEEDLES, progress=progress):
            _add(requests, record, calls)
    unseen = {
        request.parent
        for request in requests.values()
        if request.parent is not None and request.parent not in requests
    }
    if unseen:
        needles = [f'"{ident}"'.encode() for ident in sorted(unseen)]
        for source in sources:
            for record in reader.records(source, needles=needles):
                if _text(record, keys.CORRELATION_ID) in unseen:
                    _add(requests, record, calls)
    for request in requests.values():
        if request.parent is None and request.summary is not None:
            caller = calls.get(_text(request.summary, keys.PARENT_SPAN_ID) or "")
            if caller is not None and caller != request.id:
                request.parent = caller
    return requests


def _count_failures_below(requests: dict[str, Request]) -> None:
    for request in requests.values():
        if request.status != keys.STATUS_FAILED:
            continue
        seen = {request.id}
        parent = request.parent
        while parent is not None and parent in requests and parent not in seen:
            seen.add(parent)
            above = requests[parent]
            above.failed_below += 1
            above.error_code = above.error_code or request.error_code
            parent = above.parent


def select(
    requests: list[Request],
    *,
    record_filter: RecordFilter | None = None,
    failed: bool = False,
    slowest: int | None = None,
) -> list[Request]:
    """Keep the requests whose summary passes the filter (and failed); the slowest first."""
    kept = [
        request
        for request in requests
        if (not failed or request.failed)
        and (
            record_filter is None
            or not record_filter.active
            or (request.summary is not None and record_filter(request.summary))
        )
    ]
    if slowest is not None:
        kept.sort(key=lambda one: -(one.duration_ms or 0.0))
        kept = kept[:slowest]
    return kept
