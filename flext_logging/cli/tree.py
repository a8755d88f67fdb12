"""Rebuilding the causal tree of one id from the records that mention it.

The root is a correlation; its children are the correlations started inside it
(``parent_correlation_id``, followed transitively) and the spans recorded in it
(``span_id``, nested through the ``parent_span_id`` the web middleware and HTTP clients
record). Each node keeps its own records in time order and a summary: service,
operation or route, start, ``duration_ms``, status and errors. Nothing here crashes on
odd input: missing parents become orphans under the root, cycles made by duplicated ids
are cut, and a child whose clock runs behind its parent's is never placed before it.
"""

from __future__ import annotations

import datetime
import os
import shutil
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from flext_logging import keys
from flext_logging.cli.reading import (
    STDIN,
    Progress,
    ReadStats,
    RecordFilter,
    lookup,
    read_records,
    record_time,
)

__all__ = [
    "BY_FIELDS",
    "By",
    "Node",
    "build_tree",
    "collect_records",
    "detect_by",
    "to_data",
]

By = Literal["correlation", "request", "trace"]
"""Which field the id of ``trace`` names."""

BY_FIELDS: Final[dict[str, str]] = {
    "correlation": keys.CORRELATION_ID,
    "request": keys.REQUEST_ID,
    "trace": keys.TRACE_ID,
}
"""The record field each kind of id is looked up in, in the order auto-detection tries."""

_FINISH_EVENTS: Final = frozenset(
    {
        keys.EVENT_REQUEST_FINISHED,
        keys.EVENT_REQUEST_FAILED,
        keys.EVENT_HTTP_REQUEST_FINISHED,
        keys.EVENT_HTTP_REQUEST_FAILED,
        keys.EVENT_RPC_FINISHED,
        keys.EVENT_RPC_FAILED,
        keys.EVENT_TASK_SUCCEEDED,
        keys.EVENT_TASK_FAILED,
    }
)
_FAILED_EVENTS: Final = frozenset(
    {
        keys.EVENT_OPERATION_FAILED,
        keys.EVENT_REQUEST_FAILED,
        keys.EVENT_HTTP_REQUEST_FAILED,
        keys.EVENT_RPC_FAILED,
        keys.EVENT_TASK_FAILED,
    }
)
_ERROR_LEVELS: Final = frozenset({"error", "critical"})
_SERVER_ERROR: Final = 500


@dataclass
class Node:
    """One correlation or span of the tree, its records in time order, and its children.

    ``kind`` is ``correlation`` or ``span``, or ``request``/``trace`` for a root made up
    because the records of a request or trace had no single root correlation.
    """

    kind: str
    id: str
    records: list[dict[str, Any]] = field(default_factory=list)
    children: list[Node] = field(default_factory=list)
    orphan: bool = False
    """Whether the parent this node names was not found: it is shown under the root."""
    missing_parent: str | None = None
    """The id of the parent that was not found, for an orphan."""
    start: str | None = None
    """The timestamp of the earliest record of the node or of its subtree, as written."""
    start_s: float | None = None
    """``start`` in seconds since the epoch; ``None`` when no record had a timestamp."""
    display_s: float | None = None
    """Where the node starts on the timeline: never before its parent (clock skew)."""
    skew_ms: float = 0.0
    """How far the node's first record lies before its parent's start (clock skew)."""
    duration_ms: float | None = None
    """The duration a finishing record reported, else the time its records span."""
    service: str | None = None
    operation: str | None = None
    status: str = "ok"
    """``ok`` or ``failed``: whether one of the node's own records reports a failure."""
    failed_below: int = 0
    """How many nodes under this one failed: a request can succeed while work it started
    (a queued job, a call it retried) fails."""
    status_code: str | None = None
    """The HTTP status code or gRPC code of the node's finishing record, as text."""
    errors: list[dict[str, str | None]] = field(default_factory=list)

    def entries(self) -> list[dict[str, Any] | Node]:
        """Return the node's records and children interleaved in time order.

        A child sits at its timeline start (after its parent's start, whatever the
        clocks said); at equal times records come first, and untimed entries last.
        """

        def key(item: tuple[int, dict[str, Any] | Node]) -> tuple[bool, float, int]:
            index, entry = item
            seconds = entry.display_s if isinstance(entry, Node) else _seconds(entry)
            return (seconds is None, seconds or 0.0, index)

        entries: list[dict[str, Any] | Node] = [*self.records, *self.children]
        return [entry for _, entry in sorted(enumerate(entries), key=key)]

    def walk(self) -> Iterable[Node]:
        """Yield this node and every node below it, depth first, in display order."""
        yield self
        for child in self.children:
            yield from child.walk()


# -- Finding the records ---------------------------------------------------------------


def detect_by(records: Iterable[dict[str, Any]], ident: str) -> By | None:
    """Return which field *ident* is found in, trying correlation, request, trace."""
    found: set[str] = set()
    for record in records:
        if ident in (record.get(keys.CORRELATION_ID), record.get(keys.PARENT_CORRELATION_ID)):
            return "correlation"
        for by in ("request", "trace"):
            if record.get(BY_FIELDS[by]) == ident:
                found.add(by)
    if "request" in found:
        return "request"
    return "trace" if "trace" in found else None


def _belongs(record: dict[str, Any], ident_set: set[str], by: By) -> bool:
    if by == "correlation":
        return (
            record.get(keys.CORRELATION_ID) in ident_set
            or record.get(keys.PARENT_CORRELATION_ID) in ident_set
        )
    return record.get(BY_FIELDS[by]) in ident_set


def _needle(ident: str) -> bytes:
    # Records are written without spaces, so the id appears quoted as a JSON string.
    return b'"' + ident.encode() + b'"'


def _spool_stdin(sources: Sequence[str]) -> tuple[list[str], str | None]:
    """Copy stdin to a temporary file so it can be scanned more than once."""
    if STDIN not in sources:
        return list(sources), None
    with tempfile.NamedTemporaryFile(prefix="flext-logging-", delete=False) as spool:
        shutil.copyfileobj(sys.stdin.buffer, spool)
    return [spool.name if source == STDIN else source for source in sources], spool.name


def collect_records(
    sources: Sequence[str],
    ident: str,
    stats: ReadStats,
    *,
    by: By | None = None,
    record_filter: RecordFilter | None = None,
    progress: Progress | None = None,
) -> tuple[By | None, list[dict[str, Any]]]:
    """Read the records of the tree of *ident* from *sources*; return its kind and them.

    Only lines that contain the id as a byte string are parsed. For a correlation the
    files are scanned again for the correlations started inside it (their records name
    it only as ``parent_correlation_id``, and their children not at all) until no new
    one turns up. A line read twice, byte for byte (a file given twice), counts once.
    """
    readable, spooled = _spool_stdin(sources)
    try:
        candidates = _scan(readable, [_needle(ident)], stats, record_filter, progress)
        if by is None:
            by = detect_by(candidates, ident)
            if by is None:
                return None, []
        known = {ident}
        kept = [record for record in candidates if _belongs(record, known, by)]
        new = _child_correlations(kept, known) if by == "correlation" else set()
        while new:
            known |= new
            more = _scan(
                readable, [_needle(one) for one in sorted(new)], stats, record_filter, None
            )
            kept.extend(record for record in more if _belongs(record, new, by))
            new = _child_correlations(kept, known)
        return by, _unique(kept)
    finally:
        if spooled is not None:
            os.unlink(spooled)


def _scan(
    sources: Sequence[str],
    needles: Sequence[bytes],
    stats: ReadStats,
    record_filter: RecordFilter | None,
    progress: Progress | None,
) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for source in sources:
        found.extend(
            read_records(
                source, stats, needles=needles, record_filter=record_filter, progress=progress
            )
        )
    return found


def _child_correlations(records: Iterable[dict[str, Any]], known: set[str]) -> set[str]:
    children: set[str] = set()
    for record in records:
        child = record.get(keys.CORRELATION_ID)
        if (
            isinstance(child, str)
            and child not in known
            and record.get(keys.PARENT_CORRELATION_ID) in known
        ):
            children.add(child)
    return children


def _unique(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: set[tuple[tuple[str, str], ...]] = set()
    unique: list[dict[str, Any]] = []
    for record in records:
        fingerprint = tuple((name, repr(value)) for name, value in record.items())
        if fingerprint not in seen:
            seen.add(fingerprint)
            unique.append(record)
    return unique


# -- Building the tree -------------------------------------------------------------------


def _seconds(record: dict[str, Any]) -> float | None:
    moment = record_time(record)
    return moment.timestamp() if moment is not None else None


def _in_time_order(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Sort by timestamp, keeping file order for equal or unreadable times."""
    indexed = list(enumerate(records))

    def key(item: tuple[int, dict[str, Any]]) -> tuple[bool, float, int]:
        seconds = _seconds(item[1])
        return (seconds is None, seconds or 0.0, item[0])

    return [record for _, record in sorted(indexed, key=key)]


def _first_text(records: Iterable[dict[str, Any]], name: str) -> str | None:
    for record in records:
        value = record.get(name)
        if isinstance(value, str) and value:
            return value
    return None


def build_tree(records: Iterable[dict[str, Any]], ident: str, by: By) -> Node:
    """Build the tree of *ident* (a correlation, request or trace id) from *records*."""
    ordered = _in_time_order(records)
    by_correlation: dict[str, list[dict[str, Any]]] = {}
    loose: list[dict[str, Any]] = []
    for record in ordered:
        correlation = record.get(keys.CORRELATION_ID)
        if isinstance(correlation, str) and correlation:
            by_correlation.setdefault(correlation, []).append(record)
        else:
            loose.append(record)
    # A correlation's parent is what its earliest record says, even if a duplicated id
    # makes later records disagree.
    parents = {
        correlation: _first_text(group, keys.PARENT_CORRELATION_ID)
        for correlation, group in by_correlation.items()
    }
    children: dict[str, list[str]] = {}
    for correlation, parent in parents.items():
        if parent is not None:
            children.setdefault(parent, []).append(correlation)

    if by == "correlation":
        root_id, root_kind = ident, "correlation"
    else:
        tops = [cid for cid, parent in parents.items() if parent is None]
        root_id, root_kind = (tops[0], "correlation") if tops else (ident, by)
    root = Node(kind=root_kind, id=root_id, records=list(loose))

    placed: set[str] = set()
    _attach(root, by_correlation, children, placed)
    # Whatever the walk from the root did not reach hangs under the root: correlations
    # whose parent has no record here, or other roots of the same request or trace.
    for correlation in by_correlation:
        if correlation in placed:
            continue
        parent = parents[correlation]
        top = correlation
        seen = {correlation}
        while parent is not None and parent in by_correlation and parent not in seen:
            seen.add(parent)
            top, parent = parent, parents[parent]
        if top in placed:
            continue
        orphan = Node(kind="correlation", id=top, orphan=parents[top] is not None)
        orphan.missing_parent = parents[top]
        root.children.append(orphan)
        _attach(orphan, by_correlation, children, placed)

    _finish(root)
    _place(root)
    return root


def _attach(
    node: Node,
    by_correlation: dict[str, list[dict[str, Any]]],
    children: dict[str, list[str]],
    placed: set[str],
) -> None:
    """Fill a correlation node with its spans and, recursively, its child correlations."""
    placed.add(node.id)
    node.records.extend(by_correlation.get(node.id, []))
    node.records[:] = _in_time_order(node.records)
    _split_spans(node)
    for child_id in children.get(node.id, []):
        if child_id in placed:  # a cycle made by duplicated ids
            continue
        child = Node(kind="correlation", id=child_id)
        node.children.append(child)
        _attach(child, by_correlation, children, placed)


def _split_spans(node: Node) -> None:
    """Move the node's records that carry a ``span_id`` into nested span nodes."""
    spans: dict[str, Node] = {}
    own: list[dict[str, Any]] = []
    for record in node.records:
        span_id = record.get(keys.SPAN_ID)
        if isinstance(span_id, str) and span_id:
            spans.setdefault(span_id, Node(kind="span", id=span_id)).records.append(record)
        else:
            own.append(record)
    node.records[:] = own
    for span in spans.values():
        parent = _first_text(span.records, keys.PARENT_SPAN_ID)
        host = spans.get(parent) if parent is not None else None
        if host is None or host is span or _is_below(host, span, spans):
            node.children.append(span)
        else:
            host.children.append(span)


def _is_below(candidate: Node, span: Node, spans: dict[str, Node]) -> bool:
    """Whether *candidate*'s parent chain reaches *span* (nesting would make a cycle)."""
    seen: set[str] = set()
    current: Node | None = candidate
    while current is not None and current.id not in seen:
        if current is span:
            return True
        seen.add(current.id)
        parent = _first_text(current.records, keys.PARENT_SPAN_ID)
        current = spans.get(parent) if parent is not None else None
    return False


def _finish(node: Node) -> None:
    """Summarize *node* and its subtree, children first.

    A node starts at its earliest own record, or earlier when its finishing record's
    ``duration_ms`` says so (the integrations log when work ends), or when a child of
    the same service (the same clock) started before it. A child of another service
    starting earlier is put down to clock skew instead (see :func:`_place`).
    """
    for child in node.children:
        _finish(child)
    node.failed_below = sum(
        child.failed_below + (child.status == keys.STATUS_FAILED) for child in node.children
    )
    finish = _summarize(node)
    for child in node.children:
        # A child correlation inherits the request's operation_name; its own timed
        # operation tells it apart from its parent.
        if child.kind == "correlation" and child.operation == node.operation:
            child.operation = _first_text(child.records, keys.OPERATION) or child.operation
    starts = [_seconds(record) for record in node.records]
    if finish is not None and node.duration_ms is not None:
        finished = _seconds(finish)
        if finished is not None:
            starts.append(finished - node.duration_ms / 1000)
    starts += [
        child.start_s
        for child in node.children
        if not node.records or child.service in (None, node.service)
    ]
    known = [start for start in starts if start is not None]
    if known:
        node.start_s = node.display_s = min(known)
        node.start = _iso(node.start_s)
    if node.duration_ms is None and node.start_s is not None:
        ends = [_seconds(record) for record in node.records]
        ends += [
            child.start_s + (child.duration_ms or 0.0) / 1000
            for child in node.children
            if child.start_s is not None
        ]
        end = max((one for one in ends if one is not None), default=node.start_s)
        node.duration_ms = round(max(end - node.start_s, 0.0) * 1000, 3)


def _iso(seconds: float) -> str:
    moment = datetime.datetime.fromtimestamp(seconds, tz=datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _place(node: Node) -> None:
    """Clamp each child's timeline start to its parent's and sort children by it."""
    for child in node.children:
        if node.display_s is not None and child.start_s is not None:
            if child.start_s < node.display_s:
                child.skew_ms = round((node.display_s - child.start_s) * 1000, 3)
                child.display_s = node.display_s
            else:
                child.display_s = child.start_s
        _place(child)
    node.children.sort(
        key=lambda child: (child.display_s is None, child.display_s or 0.0, child.start_s or 0.0)
    )


def _event(record: dict[str, Any]) -> object:
    return record.get(keys.MESSAGE)


def _is_failure(record: dict[str, Any]) -> bool:
    status_code = record.get(keys.STATUS_CODE)
    return (
        record.get(keys.LEVEL) in _ERROR_LEVELS
        or record.get(keys.STATUS) == keys.STATUS_FAILED
        or _event(record) in _FAILED_EVENTS
        or (isinstance(status_code, int) and status_code >= _SERVER_ERROR)
        or keys.ERROR in record
    )


def _error_code(record: dict[str, Any]) -> str | None:
    code = lookup(record, (keys.ERROR, keys.ERROR_CODE))
    if isinstance(code, str):
        return code
    code = record.get(keys.ERROR_CODE_FIELD)
    if isinstance(code, str):
        return code
    rpc_code = record.get(keys.RPC_CODE)
    return rpc_code if isinstance(rpc_code, str) and _event(record) in _FAILED_EVENTS else None


def _label(record: dict[str, Any]) -> str | None:
    """The operation a finishing or starting record of an integration describes."""
    method = record.get(keys.HTTP_METHOD)
    target = record.get(keys.HTTP_ROUTE) or record.get(keys.HTTP_PATH) or record.get(keys.HTTP_URL)
    if isinstance(target, str):
        return f"{method} {target}" if isinstance(method, str) else target
    for name in (keys.RPC_METHOD, keys.TASK_NAME):
        value = record.get(name)
        if isinstance(value, str):
            return value
    return None


def _subtree_records(node: Node) -> list[dict[str, Any]]:
    return [record for one in node.walk() for record in one.records]


def _summarize(node: Node) -> dict[str, Any] | None:
    """Fill in everything but the start; return the node's finishing record, if any."""
    records = node.records
    everything = records if node.kind == "span" else _subtree_records(node)
    finish = next((r for r in reversed(records) if _event(r) in _FINISH_EVENTS), None)
    node.service = _first_text(records, keys.SERVICE_NAME) or _first_text(
        everything, keys.SERVICE_NAME
    )
    labelled = [finish] if finish is not None else []
    labelled += [r for r in records if _event(r) == keys.EVENT_REQUEST_STARTED]
    node.operation = next((label for r in labelled if (label := _label(r))), None)
    if node.operation is None and node.kind != "span":
        # A correlation whose records all sit in spans is named after its first span:
        # the route of the request that started it, not that request's raw path.
        entry = min(
            (c for c in node.children if c.kind == "span" and c.operation and c.start_s),
            key=lambda child: child.start_s or 0.0,
            default=None,
        )
        node.operation = entry.operation if entry is not None else None
    if node.operation is None:
        node.operation = (
            _first_text(records, keys.OPERATION_NAME)
            or _first_text(records, keys.OPERATION)
            or _first_text(everything, keys.OPERATION_NAME)
        )
    duration = finish.get(keys.DURATION_MS) if finish is not None else None
    if isinstance(duration, int | float) and not isinstance(duration, bool):
        node.duration_ms = float(duration)
    if finish is not None:
        code = finish.get(keys.STATUS_CODE, finish.get(keys.RPC_CODE))
        node.status_code = None if code is None else str(code)
    failures = [record for record in records if _is_failure(record)]
    node.status = keys.STATUS_FAILED if failures else "ok"
    node.errors = [
        {
            keys.MESSAGE: str(record.get(keys.MESSAGE, "")),
            keys.ERROR_CODE: _error_code(record),
            keys.TIMESTAMP: _text_or_none(record.get(keys.TIMESTAMP)),
        }
        for record in failures
    ]
    return finish


def _text_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def to_data(node: Node, *, with_records: bool = True) -> dict[str, Any]:
    """Return *node* and its subtree as plain data, for ``--format json``."""
    data: dict[str, Any] = {
        "kind": node.kind,
        "id": node.id,
        "service": node.service,
        "operation": node.operation,
        "start": node.start,
        "duration_ms": node.duration_ms,
        "status": node.status,
        "status_code": node.status_code,
        "errors": node.errors,
        "failed_below": node.failed_below,
        "orphan": node.orphan,
    }
    if node.orphan:
        data["missing_parent"] = node.missing_parent
    if node.skew_ms:
        data["skew_ms"] = node.skew_ms
    if with_records:
        data["records"] = node.records
    data["children"] = [to_data(child, with_records=with_records) for child in node.children]
    return data
