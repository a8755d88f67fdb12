"""Rebuilding the causal tree of one id from the records that mention it.

Whatever id is given — a correlation, request or trace id — the tree is the whole
request: every correlation the id was seen in, all their records (an HTTP client's span
carries no request id), and the correlations started inside them
(``parent_correlation_id``, followed transitively, one multi-needle search per level).
Inside a correlation, records with a ``span_id`` are grouped into spans nested through
``parent_span_id``; a correlation whose first span was called from a span of another
correlation (only ``traceparent`` crossed) nests under that span.

Each node keeps its own records in time order and a summary: service, operation or
route, start, ``duration_ms``, status and errors. Nothing here crashes on odd input:
missing parents become orphans under the root, cycles made by duplicated ids are cut,
and a child whose clock runs behind or ahead of its parent's is drawn inside it, with
the skew labelled.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, Protocol

import orjson

from flext_logging import keys
from flext_logging.cli.fields import FAILURE_LEVELS, lookup, normalize_id
from flext_logging.cli.reading import STDIN, Progress, Reader
from flext_logging.cli.times import format_instant, record_seconds

__all__ = [
    "BY_FIELDS",
    "TASK_CLOSING_EVENTS",
    "By",
    "Collected",
    "FileSearch",
    "Found",
    "Node",
    "RecordSearch",
    "build_tree",
    "collect_from",
    "collect_records",
    "detect_by",
    "error_code",
    "is_call",
    "is_failure",
    "spool_streams",
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

TASK_CLOSING_EVENTS: Final = (
    keys.EVENT_TASK_SUCCEEDED,
    keys.EVENT_TASK_FAILED,
    keys.EVENT_TASK_RETRIED,
    keys.EVENT_TASK_IGNORED,
    keys.EVENT_TASK_REJECTED,
)
"""The events that close an attempt of a task: one per ``task_started``."""
FINISH_EVENTS: Final = frozenset(
    {
        keys.EVENT_REQUEST_FINISHED,
        keys.EVENT_REQUEST_FAILED,
        keys.EVENT_HTTP_REQUEST_FINISHED,
        keys.EVENT_HTTP_REQUEST_FAILED,
        keys.EVENT_RPC_FINISHED,
        keys.EVENT_RPC_FAILED,
        *TASK_CLOSING_EVENTS,
    }
)
FAILED_EVENTS: Final = frozenset(
    {
        keys.EVENT_OPERATION_FAILED,
        keys.EVENT_REQUEST_FAILED,
        keys.EVENT_HTTP_REQUEST_FAILED,
        keys.EVENT_RPC_FAILED,
        keys.EVENT_TASK_FAILED,
    }
)
_SERVED: Final = frozenset(
    {
        keys.EVENT_REQUEST_STARTED,
        keys.EVENT_REQUEST_FINISHED,
        keys.EVENT_REQUEST_FAILED,
        keys.EVENT_RPC_FINISHED,
        keys.EVENT_RPC_FAILED,
        *TASK_CLOSING_EVENTS,
    }
)
"""Events of work a service did for a caller: they name the correlation they ran in."""
_SERVER_ERROR: Final = 500
_AHEAD_TOLERANCE_S: Final = 0.010
"""How far past its parent's end a child may end before it is called clock skew (10 ms):
a server writes its finishing record just after its answer reached the caller."""


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
    """The time of the earliest record of the node or of its subtree, RFC 3339 in UTC."""
    start_s: float | None = None
    """``start`` in seconds since the epoch; ``None`` when no record had a time."""
    display_s: float | None = None
    """Where the node starts on the timeline: inside its parent, whatever the clocks say."""
    skew_ms: float = 0.0
    """How far the node's clock seems off its parent's: positive when it starts before
    its parent (behind), negative when it ends after its parent ended (ahead)."""
    duration_ms: float | None = None
    """The duration a finishing record reported, else the time its records span."""
    service: str | None = None
    operation: str | None = None
    status: str = "ok"
    """``ok`` or ``failed``: whether one of the node's own records reports a failure."""
    failed_below: int = 0
    """How many nodes under this one failed: a request can succeed while work it started
    (a queued job, a call it retried) fails."""
    status_code: int | str | None = None
    """The HTTP status (a number) or gRPC code (a name) of the node's finishing record."""
    errors: list[dict[str, Any]] = field(default_factory=list)
    """One entry per failed record: ``event``, ``message``, ``code``, ``timestamp``."""

    def entries(self) -> list[dict[str, Any] | Node]:
        """Return the node's records and children interleaved in time order.

        A child sits at its timeline start (inside its parent, whatever the clocks
        said); at equal times records come first, and untimed entries last.
        """

        def key(item: tuple[int, dict[str, Any] | Node]) -> tuple[bool, float, int]:
            index, entry = item
            seconds = entry.display_s if isinstance(entry, Node) else record_seconds(entry)
            return (seconds is None, seconds or 0.0, index)

        entries: list[dict[str, Any] | Node] = [*self.records, *self.children]
        return [entry for _, entry in sorted(enumerate(entries), key=key)]

    def walk(self) -> Iterable[Node]:
        """Yield this node and every node below it, depth first, in display order."""
        yield self
        for child in self.children:
            yield from child.walk()


# -- Finding the records ---------------------------------------------------------------


def _text(record: dict[str, Any], name: str) -> str | None:
    value = record.get(name)
    return value if isinstance(value, str) and value else None


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


def _needles(value: str, *, quoted: bool) -> list[bytes]:
    """How *value* can appear in a JSON line: as orjson and as ``json.dumps`` write it."""
    written = orjson.dumps(value)
    forms = [written if quoted else written[1:-1]]
    if not value.isascii():
        escaped = value.encode("ascii", "backslashreplace").replace(b"\\x", b"\\u00")
        forms.append(b'"' + escaped + b'"' if quoted else escaped)
    return forms


def _read_once(source: str) -> bool:
    """Whether *source* can be read only once: stdin, a FIFO, a pipe (``<(…)``), a device."""
    if source == STDIN:
        return True
    try:
        return not stat.S_ISREG(os.stat(source).st_mode)
    except OSError:
        return False  # the reader says why it cannot be read


def spool_streams(sources: Sequence[str]) -> tuple[list[str], list[str]]:
    """Copy each source that can be read only once to a temporary file.

    ``trace`` reads its inputs once per level of the tree, ``requests`` twice when a
    root's own lines are needed: a FIFO opened again waits for a writer that is gone,
    and ``<(…)`` gives nothing the second time. Returns the
    sources to read, and the temporary files to remove afterwards.
    """
    readable: list[str] = []
    spooled: list[str] = []
    for source in sources:
        if not _read_once(source):
            readable.append(source)
            continue
        import shutil
        import tempfile

        with tempfile.NamedTemporaryFile(prefix="flext-logging-", delete=False) as spool:
            spooled.append(spool.name)
            if source == STDIN:
                shutil.copyfileobj(sys.stdin.buffer, spool)
            else:
                try:
                    with open(source, "rb") as stream:
                        shutil.copyfileobj(stream, spool)
                except OSError:
                    readable.append(source)  # the reader says why it cannot be read
                    continue
        readable.append(spool.name)
    return readable, spooled


@dataclass
class Collected:
    """What :func:`collect_records` found: the kind of id, the records, and the misses."""

    by: By | None
    records: list[dict[str, Any]]
    unmatched_lines: int = 0
    """Records that contain the id as text but hold it in no field the reader knows."""
    searches: int = 0
    """How many searches of the inputs were made (one per level of the tree)."""
    ident: str | None = None
    """The id in full (a short one given is expanded when it is unambiguous)."""
    ambiguous: list[str] = field(default_factory=list)
    """The ids a short id given starts, when it starts more than one."""


Found = list[tuple[bytes, dict[str, Any]]]
"""Records found by a search, each with the bytes it was read from (to read it once)."""


class RecordSearch(Protocol):
    """Where ``trace`` looks for records: files (:class:`FileSearch`) or a table.

    Each method returns at least the records it names, with the bytes each was read
    from (the line, the row); :func:`collect_from` keeps the ones that belong.
    """

    def mentioning(self, ident: str) -> Found:
        """Records that may hold *ident* in an id field."""

    def shortened(self, prefix: str, mentioning: Found) -> Found:
        """Records that may hold an id starting with *prefix* (*mentioning* searched it)."""

    def of_correlations(self, correlations: set[str]) -> Found:
        """Records that may be of *correlations*, or have one of them as parent."""


class FileSearch:
    """Search log files for ids: a multi-needle byte search, then parsing what matched."""

    __slots__ = ("_meanwhile", "_progress", "_reader", "_sources")

    def __init__(
        self,
        sources: Sequence[str],
        reader: Reader,
        progress: Progress | None = None,
        meanwhile: Callable[[], None] | None = None,
    ) -> None:
        self._sources, self._reader, self._progress = sources, reader, progress
        self._meanwhile = meanwhile
        """Called once, while the first search for child correlations runs."""

    def _scan(self, needles: Sequence[bytes], *, children: bool = False) -> Found:
        found: Found = []
        progress, self._progress = self._progress, None  # one bar: the first pass
        for source in self._sources:
            meanwhile = None
            if children:
                meanwhile, self._meanwhile = self._meanwhile, None
            lines = self._reader.lines(
                source, needles=needles, progress=progress, meanwhile=meanwhile
            )
            for line, record, _ in lines:
                if record is not None:
                    found.append((line, record))
        return found

    def mentioning(self, ident: str) -> Found:
        """The lines that contain *ident* as text, anywhere."""
        return self._scan(_needles(ident, quoted=False))

    def shortened(self, prefix: str, mentioning: Found) -> Found:
        """Every id that starts with *prefix* contains it: the lines already found."""
        return mentioning

    def of_correlations(self, correlations: set[str]) -> Found:
        """The lines that contain one of *correlations* as a JSON string."""
        return self._scan(
            [needle for one in sorted(correlations) for needle in _needles(one, quoted=True)],
            children=True,
        )


def collect_records(
    sources: Sequence[str],
    ident: str,
    reader: Reader,
    *,
    by: By | None = None,
    progress: Progress | None = None,
    meanwhile: Callable[[], None] | None = None,
) -> Collected:
    """Read the records of the whole tree of *ident* from the files *sources*.

    The first search finds the lines holding the id; the correlations they belong to
    (for a correlation id, the ones started inside it) are then searched for all at
    once, level after level, until no new one turns up. A line read twice counts once.
    *meanwhile* may be called while a file is searched for the child correlations
    (``trace`` imports its renderer then).
    """
    readable, spooled = spool_streams(sources)
    try:
        found_in = FileSearch(readable, reader, progress, meanwhile)
        return collect_from(found_in, ident, by=by)
    finally:
        reader.close()
        for path in spooled:
            os.unlink(path)


def collect_from(search: RecordSearch, ident: str, *, by: By | None = None) -> Collected:
    """Collect the records of the whole tree of *ident* through *search* (any source).

    A record is in the tree when one of its id fields holds *ident* (of the kind
    detected, or *by*), or when it is of a correlation found so far or started inside
    one; the same bytes are taken once.
    """
    ident, by, candidates, ambiguous = _identify(search, normalize_id(ident) or ident, by)
    if ambiguous:
        return Collected(None, [], searches=1, ambiguous=ambiguous)
    if by is None:
        unmatched = len({line for line, _ in candidates})
        return Collected(None, [], unmatched_lines=unmatched, searches=1)
    seen: set[bytes] = set()
    kept: list[dict[str, Any]] = []
    for line, record in candidates:
        if line not in seen and _belongs(record, ident, by):
            seen.add(line)
            kept.append(record)
    known: set[str] = set()
    if by == "correlation":
        known.add(ident)
    new = _correlations(kept, known, by)
    searches = 1
    asked: set[str] = set()
    while True:
        if not new:  # the services called under correlations of their own, if any
            new, count = _callees(search, _unanswered_calls(kept, asked), known)
            searches += count
            if not new:
                break
        known |= new
        more = search.of_correlations(new)
        searches += 1
        for line, record in more:
            if line not in seen and (
                record.get(keys.CORRELATION_ID) in new
                or record.get(keys.PARENT_CORRELATION_ID) in new
            ):
                seen.add(line)
                kept.append(record)
        new = _child_correlations(kept, known)
    return Collected(by, kept, searches=searches, ident=ident)


_CALL_EVENTS: Final = frozenset({keys.EVENT_HTTP_REQUEST_FINISHED, keys.EVENT_HTTP_REQUEST_FAILED})
_RPC_FINISH_EVENTS: Final = frozenset({keys.EVENT_RPC_FINISHED, keys.EVENT_RPC_FAILED})


def is_call(record: dict[str, Any]) -> bool:
    """Whether *record* finishes a call this service made (HTTP client, gRPC client)."""
    event = _event(record)
    return event in _CALL_EVENTS or (
        event in _RPC_FINISH_EVENTS and record.get(keys.RPC_SIDE) == keys.RPC_SIDE_CLIENT
    )


def _unanswered_calls(records: Iterable[dict[str, Any]], asked: set[str]) -> dict[str, str]:
    """The calls among *records* that no record answers (its span is no one's parent),
    by span, with their trace ids; each is returned once (*asked* keeps them)."""
    records = list(records)
    answered = {parent for r in records if (parent := _text(r, keys.PARENT_SPAN_ID))}
    calls: dict[str, str] = {}
    for record in records:
        if not is_call(record):
            continue
        span, trace = _text(record, keys.SPAN_ID), _text(record, keys.TRACE_ID)
        if span is not None and trace is not None and span not in answered and span not in asked:
            calls[span] = trace
    asked.update(calls)
    return calls


def _callees(search: RecordSearch, calls: dict[str, str], known: set[str]) -> tuple[set[str], int]:
    """The correlations that served *calls* (only ``traceparent`` crossed: a span of
    theirs names a call as its parent), found by the calls' trace ids; and the searches."""
    found: set[str] = set()
    traces = sorted(set(calls.values()))
    for trace in traces:
        for _, record in search.mentioning(trace):
            correlation = _text(record, keys.CORRELATION_ID)
            if correlation not in known and _text(record, keys.PARENT_SPAN_ID) in calls:
                found.add(correlation)  # type: ignore[arg-type] # not None: not in known
    return found, len(traces)


def _identify(
    search: RecordSearch, ident: str, by: By | None
) -> tuple[str, By | None, Found, list[str]]:
    """Which id *ident* is, and the records mentioning it: the id in full, its kind (or
    ``None``: not found), the records, and the ids a short id starts if it starts several."""
    candidates = search.mentioning(ident)
    if by is None:
        by = detect_by((record for _, record in candidates), ident)
    if by is None:  # a short id, as `requests` and the tree print them?
        shortened = search.shortened(ident, candidates)
        matches = _expand_prefix((record for _, record in shortened), ident)
        if len(matches) > 1:
            return ident, None, [], sorted(matches)
        if matches:
            (ident, by), candidates = next(iter(matches.items())), shortened
    return ident, by, candidates, []


def _expand_prefix(records: Iterable[dict[str, Any]], prefix: str) -> dict[str, By]:
    """The ids that start with *prefix* (a short id, as git takes them), and their kinds."""
    matches: dict[str, By] = {}
    kinds: tuple[By, ...] = ("correlation", "request", "trace")
    for record in records:
        for by in kinds:
            value = _text(record, BY_FIELDS[by])
            if value is not None and value.startswith(prefix):
                matches.setdefault(value, by)
    return matches


def _belongs(record: dict[str, Any], ident: str, by: By) -> bool:
    if by == "correlation":
        return ident in (record.get(keys.CORRELATION_ID), record.get(keys.PARENT_CORRELATION_ID))
    return record.get(BY_FIELDS[by]) == ident


def _correlations(records: Iterable[dict[str, Any]], known: set[str], by: By) -> set[str]:
    """The correlations still to search for: those of a request or trace, or the children."""
    if by == "correlation":
        return _child_correlations(records, known)
    return {
        correlation
        for record in records
        if (correlation := _text(record, keys.CORRELATION_ID)) is not None
    }


def _child_correlations(records: Iterable[dict[str, Any]], known: set[str]) -> set[str]:
    children: set[str] = set()
    for record in records:
        child = _text(record, keys.CORRELATION_ID)
        if (
            child is not None
            and child not in known
            and record.get(keys.PARENT_CORRELATION_ID) in known
        ):
            children.add(child)
    return children


# -- Building the tree -------------------------------------------------------------------


def _in_time_order(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Sort by time, keeping file order for equal or unreadable times."""
    decorated = [
        (seconds is None, seconds or 0.0, index, record)
        for index, record in enumerate(records)
        for seconds in [record_seconds(record)]
    ]
    decorated.sort(key=lambda item: item[:3])
    return [item[3] for item in decorated]


def _first_text(records: Iterable[dict[str, Any]], name: str) -> str | None:
    for record in records:
        value = _text(record, name)
        if value is not None:
            return value
    return None


def build_tree(records: Iterable[dict[str, Any]], ident: str, by: By) -> Node:
    """Build the tree of *ident* (a correlation, request or trace id) from *records*."""
    ident = normalize_id(ident) or ident
    ordered = _in_time_order(records)
    by_correlation: dict[str, list[dict[str, Any]]] = {}
    loose: list[dict[str, Any]] = []
    for record in ordered:
        correlation = _text(record, keys.CORRELATION_ID)
        if correlation is not None:
            by_correlation.setdefault(correlation, []).append(record)
        else:
            loose.append(record)
    # A correlation's parent is the first its records name, even if a duplicated id
    # makes later records disagree.
    parents = {
        correlation: _first_text(group, keys.PARENT_CORRELATION_ID)
        for correlation, group in by_correlation.items()
    }
    _cut_cycles(parents, ident if by == "correlation" else None)
    children: dict[str, list[str]] = {}
    for correlation, parent in parents.items():
        if parent is not None and parent in by_correlation:
            children.setdefault(parent, []).append(correlation)

    placed: set[str] = set()
    tops: list[Node] = []
    for correlation in by_correlation:
        if correlation in placed:
            continue
        top = _top_of(correlation, parents, by_correlation)
        if top in placed:
            continue
        node = Node(kind="correlation", id=top)
        parent = parents[top]
        if parent is not None and parent not in by_correlation:
            node.orphan, node.missing_parent = True, parent
        _attach(node, by_correlation, children, placed)
        tops.append(node)

    root = _choose_root(tops, ident, by, loose)
    _finish(root)
    _place(root)
    return root


def _cut_cycles(parents: dict[str, str | None], root: str | None) -> None:
    """Make each cycle of parents (duplicated ids) a chain, so each is drawn once: *root*
    (the correlation asked for), if in it, else the member that started first (*parents*
    is in order of first record) names no parent."""
    order = {correlation: index for index, correlation in enumerate(parents)}
    for correlation in parents:
        chain: dict[str, None] = {}
        current: str | None = correlation
        while current is not None and current in parents and current not in chain:
            chain[current] = None
            current = parents[current]
        if current is not None and current in chain:
            members = list(chain)[list(chain).index(current) :]
            parents[root if root in members else min(members, key=order.__getitem__)] = None


def _top_of(
    correlation: str, parents: dict[str, str | None], by_correlation: dict[str, Any]
) -> str:
    """Climb the parent chain of *correlation* while parents have records; stop at a cycle."""
    top, seen = correlation, {correlation}
    parent = parents[correlation]
    while parent is not None and parent in by_correlation and parent not in seen:
        seen.add(parent)
        top, parent = parent, parents[parent]
    return top


def _spans_of(node: Node) -> dict[str, Node]:
    """The span nodes of *node*'s own correlation (not of the correlations inside it)."""
    spans: dict[str, Node] = {}
    pending = list(node.children)
    while pending:
        child = pending.pop()
        if child.kind == "span":
            spans.setdefault(child.id, child)
            pending.extend(child.children)
    return spans


def _span_depths(node: Node) -> list[tuple[Node, int]]:
    """The span nodes of *node*'s own correlation, each with how deep it is nested (0: top)."""
    found: list[tuple[Node, int]] = []
    level = [child for child in node.children if child.kind == "span"]
    depth = 0
    while level:
        found.extend((span, depth) for span in level)
        level = [child for span in level for child in span.children if child.kind == "span"]
        depth += 1
    return found


def _caller_span(node: Node) -> str | None:
    """The span of another correlation that called *node*'s first span, if it says so."""
    own = _spans_of(node)
    first = min(
        (child for child in node.children if child.kind == "span"),
        key=lambda span: min((record_seconds(r) or 0.0 for r in span.records), default=0.0),
        default=None,
    )
    if first is None:
        return None
    parent = _first_text(first.records, keys.PARENT_SPAN_ID)
    return parent if parent is not None and parent not in own else None


def _choose_root(tops: list[Node], ident: str, by: By, loose: list[dict[str, Any]]) -> Node:
    """Pick the root among the top correlations; hang the others where they belong.

    A top correlation called from a span of another one nests under that span. Of the
    rest, the root is the id itself (for a correlation id), else the earliest one
    without a parent, or the only one; otherwise a made-up root holds them all.
    """
    spans: dict[str, Node] = {}
    for top in tops:
        for node in top.walk():
            if node.kind == "span":
                spans.setdefault(node.id, node)
    free: list[Node] = []
    for top in tops:
        caller = _caller_span(top)
        host = spans.get(caller) if caller is not None else None
        if host is not None and not _is_within(host, top):
            host.children.append(top)
            top.orphan, top.missing_parent = False, None
        else:
            free.append(top)
    if by == "correlation":
        chosen = next((top for top in free if top.id == ident), None)
    else:  # one correlation whose parent is outside the request is its root all the same
        chosen = next((top for top in free if not top.orphan), free[0] if len(free) == 1 else None)
    if chosen is None:
        for top in free:
            if top.missing_parent == ident:  # the root drawn above it is that parent
                top.orphan, top.missing_parent = False, None
        return Node(kind=by, id=ident, records=list(loose), children=free)
    # The root's own parent was not asked for: it is no orphan.
    chosen.orphan, chosen.missing_parent = False, None
    chosen.records[:0] = loose
    chosen.records[:] = _in_time_order(chosen.records)
    chosen.children.extend(top for top in free if top is not chosen)
    return chosen


def _is_within(node: Node, ancestor: Node) -> bool:
    return any(one is node for one in ancestor.walk())


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
        span_id = _text(record, keys.SPAN_ID)
        if span_id is not None:
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
    starts = [record_seconds(record) for record in node.records]
    if finish is not None and node.duration_ms is not None:
        finished = record_seconds(finish)
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
        node.start = format_instant(node.start_s)
    if node.duration_ms is None and node.start_s is not None:
        ends = [record_seconds(record) for record in node.records]
        ends += [
            child.start_s + (child.duration_ms or 0.0) / 1000
            for child in node.children
            if child.start_s is not None
        ]
        end = max((one for one in ends if one is not None), default=node.start_s)
        node.duration_ms = round(max(end - node.start_s, 0.0) * 1000, 3)


def _place(node: Node) -> None:
    """Draw each child inside its parent on the timeline, labelling clock skew.

    A child of another service that starts before its parent (its clock behind) is
    drawn at the parent's start; one that ends after its parent's reported end and
    starts at least as late after the parent's start (its clock ahead) is drawn ending
    with its parent. One that starts in time and only ends late wrote its finishing
    record after its answer reached the caller (a busy server): no skew. Children are
    sorted by their drawn start.
    """
    end = (
        node.display_s + node.duration_ms / 1000
        if node.display_s is not None and node.duration_ms is not None
        else None
    )
    for child in node.children:
        if node.display_s is not None and child.start_s is not None:
            child.display_s = child.start_s
            child_end = child.start_s + (child.duration_ms or 0.0) / 1000
            foreign = child.service not in (None, node.service)
            if child.start_s < node.display_s:
                child.skew_ms = round((node.display_s - child.start_s) * 1000, 3)
                child.display_s = node.display_s
            elif (
                foreign
                and end is not None
                and child_end > end + _AHEAD_TOLERANCE_S
                # A clock ahead moves the child's start as far as its end; a finishing
                # record written late (a busy server) moves only the end.
                and child.start_s - node.display_s >= child_end - end
            ):
                child.skew_ms = -round((child_end - end) * 1000, 3)
                child.display_s = max(node.display_s, end - (child.duration_ms or 0.0) / 1000)
        _place(child)
    node.children.sort(
        key=lambda child: (child.display_s is None, child.display_s or 0.0, child.start_s or 0.0)
    )


def _served(record: dict[str, Any]) -> bool:
    """Whether *record* tells of work done for a caller (not the caller's end of a call)."""
    return _event(record) in _SERVED and record.get(keys.RPC_SIDE) != keys.RPC_SIDE_CLIENT


def _event(record: dict[str, Any]) -> object:
    return record.get(keys.MESSAGE)


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and value.isascii() and value.isdigit():  # "²" is a digit too
        return float(value)
    return None


def is_failure(record: dict[str, Any]) -> bool:
    """Whether *record* reports a failure: its level, status, event, HTTP status or error."""
    level = record.get(keys.LEVEL)
    status_code = _number(record.get(keys.STATUS_CODE))
    rpc_code = record.get(keys.RPC_CODE)
    return (
        (isinstance(level, str) and level.lower() in FAILURE_LEVELS)
        or record.get(keys.STATUS) == keys.STATUS_FAILED
        or _event(record) in FAILED_EVENTS
        or (status_code is not None and status_code >= _SERVER_ERROR)
        or isinstance(record.get(keys.ERROR), dict)
        or (_event(record) in FINISH_EVENTS and isinstance(rpc_code, str) and rpc_code != "OK")
    )


def error_code(record: dict[str, Any]) -> str | None:
    """The error code a failed record carries: ``error.code``, ``error_code`` or a gRPC code."""
    found, code = lookup(record, (keys.ERROR, keys.ERROR_CODE))
    if found and isinstance(code, str) and code:
        return code
    code = record.get(keys.ERROR_CODE_FIELD)
    if isinstance(code, str) and code:
        return code
    rpc_code = record.get(keys.RPC_CODE)
    if isinstance(rpc_code, str) and rpc_code != "OK" and _event(record) in FINISH_EVENTS:
        return rpc_code
    return None


def _label(record: dict[str, Any]) -> str | None:
    """The operation a finishing or starting record of an integration describes."""
    method = record.get(keys.HTTP_METHOD)
    target = (
        _text(record, keys.HTTP_ROUTE)
        or _text(record, keys.HTTP_PATH)
        or _text(record, keys.HTTP_URL)
    )
    if target is not None:
        return f"{method} {target}" if isinstance(method, str) else target
    for name in (keys.RPC_METHOD, keys.TASK_NAME):
        value = _text(record, name)
        if value is not None:
            return value
    return None


def _correlation_records(node: Node) -> list[dict[str, Any]]:
    """The records of *node* and of its spans: its own correlation, not those inside it."""
    records = list(node.records)
    for span in _spans_of(node).values():
        records.extend(span.records)
    return records


def _summarize(node: Node) -> dict[str, Any] | None:
    """Fill in everything but the start; return the node's finishing record, if any."""
    records = node.records
    finish = next((r for r in reversed(records) if _event(r) in FINISH_EVENTS), None)
    everything = records if node.kind == "span" else _correlation_records(node)
    node.service = _first_text(records, keys.SERVICE_NAME) or _first_text(
        everything, keys.SERVICE_NAME
    )
    labelled = [finish] if finish is not None else []
    labelled += [r for r in records if _event(r) == keys.EVENT_REQUEST_STARTED]
    node.operation = next((label for r in labelled if (label := _label(r))), None)
    if node.operation is None and node.kind != "span":
        # A correlation whose records all sit in spans is named after its outermost
        # span that served a request (the route it matched, not the raw path, nor the
        # URL a client called it by), else after its outermost span; the earliest of
        # a level. Not the earliest of all: a callee's clock may run behind.
        depths = _span_depths(node)
        spans = [span for span, _ in depths if span.operation and span.start_s]
        served = [span for span in spans if any(_served(r) for r in span.records)]
        depth = {id(span): level for span, level in depths}
        entry = min(
            served or spans,
            key=lambda span: (depth[id(span)], span.start_s or 0.0),
            default=None,
        )
        node.operation = entry.operation if entry is not None else None
    if node.operation is None:
        # A span is never named after an operation that merely ran inside it.
        node.operation = (
            _first_text(records, keys.OPERATION_NAME)
            or (_first_text(records, keys.OPERATION) if node.kind != "span" else None)
            or _first_text(everything, keys.OPERATION_NAME)
        )
    duration = finish.get(keys.DURATION_MS) if finish is not None else None
    if isinstance(duration, int | float) and not isinstance(duration, bool):
        node.duration_ms = float(duration)
    if finish is not None:
        code = finish.get(keys.STATUS_CODE, finish.get(keys.RPC_CODE))
        node.status_code = (
            code if isinstance(code, int | str) and not isinstance(code, bool) else None
        )
    failures = [record for record in records if is_failure(record)]
    node.status = keys.STATUS_FAILED if failures else "ok"
    node.errors = [_error_entry(record) for record in failures]
    return finish


def _error_entry(record: dict[str, Any]) -> dict[str, Any]:
    error = record.get(keys.ERROR)
    message = error.get(keys.ERROR_MESSAGE) if isinstance(error, dict) else None
    return {
        "event": _event(record) if isinstance(_event(record), str) else None,
        keys.MESSAGE: message if isinstance(message, str) else None,
        keys.ERROR_CODE: error_code(record),
        keys.TIMESTAMP: format_instant(record_seconds(record)),
    }


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
