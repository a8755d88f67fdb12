"""Drawing for people: the trace tree, the timeline, pretty lines, the stats and requests tables.

The only module of the CLI that imports rich, and only ``main`` imports it, when there
is something to draw. Everything draws into a given ``Console``, so tests render at a
fixed width without colour and compare exactly.

A log line is untrusted input. Every value taken from one is drawn as text, never as
rich markup, and through :func:`safe`, which writes control characters (C0, DEL, C1
such as the one-character CSI U+009B, and the bidirectional overrides) as visible
escapes: nothing from a log reaches the terminal as a control sequence.
"""

from __future__ import annotations

import io
import os
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, Final

import orjson
from rich.console import Console
from rich.text import Text
from rich.tree import Tree

from flext_logging import _display, keys
from flext_logging.cli.progress import PROGRESS_DELAY_S, progress
from flext_logging.cli.times import clock, format_instant, parse_instant
from flext_logging.cli.tree import Node, to_data

if TYPE_CHECKING:  # only stats draws them: not imported for trace and pretty
    from flext_logging.cli.stats import Row, Stats

__all__ = [
    "PROGRESS_DELAY_S",
    "TIMELINE_WIDTH",
    "View",
    "dump_json",
    "duration",
    "new_console",
    "pretty_line",
    "print_line",
    "progress",
    "render_json",
    "render_stats",
    "render_table",
    "render_timeline",
    "render_tree",
    "safe",
    "short_id",
]

TIMELINE_WIDTH: Final = 120
"""The timeline's width written to a pipe or a file: its bars need a width to scale to."""

_UNLIMITED_WIDTH: Final = 1_000_000
"""Wide enough for any line: rich cuts lines at the console's width, which must be a number."""

_LEVEL_STYLES: Final = {
    "trace": "dim",
    "debug": "dim",
    "info": "green",
    "warning": "yellow",
    "error": "bold red",
    "critical": "bold white on red",
    "fatal": "bold white on red",
}
_SHOWN_FIELDS: Final = (
    keys.OPERATION,
    keys.DURATION_MS,
    keys.STATUS,
    keys.STATUS_CODE,
    keys.ERROR_CODE_FIELD,
)
_BAR: Final = "█"
_MIN_BAR_WIDTH: Final = 10
# C0 controls, DEL, C1 controls, and the characters that reorder or hide text.
_UNSAFE: Final = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff]"
)
_ESCAPES: Final = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_FAILED: Final = "failed"


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _ESCAPES:
        return _ESCAPES[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe(value: object) -> str:
    """Return *value* as one line of text that a terminal shows and never obeys.

    Strings are taken as they are, other values as JSON; control characters become
    visible escapes (``\\x1b``, ``\\x9b``, ``\\n``).
    """
    if isinstance(value, str):
        text = value
    else:
        try:
            text = orjson.dumps(value, default=str).decode()
        except TypeError:  # an integer too big for JSON, or a cycle: a plain repr
            text = repr(value)
    return _UNSAFE.sub(_escape, text)


def short_id(value: object, *, verbose: bool = False) -> str:
    """An id as git shortens a hash: the first 8 characters of a long hex id, else as is."""
    return _display.short_id(safe(value), verbose=verbose)


@dataclass(frozen=True)
class View:
    """How values are shown: times in UTC or local time, ids short or full."""

    local: bool = False
    verbose: bool = False

    def clock(self, value: object) -> str:
        """``HH:MM:SS.mmm`` of a record's time, or of seconds since the epoch."""
        seconds = value if isinstance(value, float) else parse_instant(value)
        return clock(seconds, local=self.local)

    def ident(self, value: object) -> str:
        """An id, shortened unless verbose."""
        return short_id(value, verbose=self.verbose)


class _Console(Console):
    """A console whose closed pipe (``| head``, ``less`` quit) ends the command quietly.

    rich's own answer to a broken pipe is ``SystemExit(1)``, the status that means
    "not found" here; this raises :class:`BrokenPipeError`, which ``main`` turns into 0.
    """

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError


def new_console(
    *,
    width: int | None = None,
    file: IO[str] | None = None,
    width_off_terminal: int | None = None,
) -> Console:
    """Return a console writing to *file* (default: stdout), *width* columns wide if given.

    Without *width*, a terminal's own width is used; a pipe or a file gets
    *width_off_terminal*, or when that is ``None`` a width no line reaches, so that lines
    come out whole, neither cut nor wrapped. Colour follows the destination: on a
    terminal unless ``NO_COLOR`` is set.
    """
    destination = file if file is not None else sys.stdout
    if width is None and not destination.isatty():
        width = _UNLIMITED_WIDTH if width_off_terminal is None else width_off_terminal
    return _Console(file=destination, width=width, highlight=False, markup=False, emoji=False)


def print_line(
    console: Console, line: bytes, record: Mapping[str, Any] | None, view: View | None = None
) -> None:
    """Print *record* as a pretty line, or *line* (made safe) when it was not a record."""
    if record is None:
        console.print(Text(safe(line.decode("utf-8", "replace"))), soft_wrap=True)
    else:
        console.print(pretty_line(record, view), soft_wrap=True)


def duration(duration_ms: float | None) -> str:
    """A duration for people: ``12.5 ms``, ``1.20 s``, ``-`` when unknown."""
    if duration_ms is None:
        return "-"
    if duration_ms >= 1000:
        return f"{duration_ms / 1000:.2f} s"
    return f"{_number(duration_ms)} ms"


def _number(value: float | None) -> str:
    """A duration in ms: one decimal, and enough digits that a small one is not 0.0."""
    if value is None:
        return "-"
    if value == 0 or abs(value) >= 0.05:
        return f"{value:.1f}"
    return f"{value:.2g}"


# -- trace: the tree ---------------------------------------------------------------------


def _status(node: Node) -> str:
    status = _FAILED if node.status == _FAILED else "ok"
    return status if node.status_code is None else f"{status} {safe(node.status_code)}"


def _node_label(node: Node, view: View, *, root: bool = False) -> Text:
    """The line of a node: what it is, when, how long, how it ended and why, then where.

    The fixed-width facts come first and the line wraps rather than being cut, so
    duration, status and error codes are never lost on a narrow terminal.
    """
    label = Text(no_wrap=False, overflow="fold")
    label.append(node.kind, style="bold blue" if node.kind != "span" else "blue")
    label.append(f" {safe(node.id) if root else view.ident(node.id)}", style="dim")
    label.append(f"  {view.clock(node.start_s)}  {duration(node.duration_ms)}")
    label.append(f"  {_status(node)}", style="bold red" if node.status != "ok" else "green")
    codes = dict.fromkeys(
        safe(error[keys.ERROR_CODE]) for error in node.errors if error.get(keys.ERROR_CODE)
    )
    if codes:
        label.append(f" [{', '.join(codes)}]", style="red")
    if node.failed_below:
        label.append(f" ({node.failed_below} failed below)", style="red")
    where = " " if node.service or node.operation else ""
    if node.service:
        label.append(f"{where} {safe(node.service)}", style="cyan")
        where = ""
    if node.operation:
        label.append(f"{where} {safe(node.operation)}", style="bold")
    if node.orphan:
        label.append(
            f"  (orphan: parent {view.ident(node.missing_parent)} not found)", style="yellow"
        )
    if node.skew_ms > 0:
        label.append(f"  (clock skew: starts {node.skew_ms:g} ms before its parent)", "yellow")
    elif node.skew_ms < 0:
        label.append(f"  (clock skew: ends {-node.skew_ms:g} ms after its parent)", "yellow")
    return label


def _record_label(record: Mapping[str, Any], view: View) -> Text:
    line = Text(no_wrap=True, overflow="ellipsis")
    line.append(view.clock(record.get(keys.TIMESTAMP)) + " ", style="dim")
    level = safe(record.get(keys.LEVEL, ""))
    line.append(f"{level:<7} ", style=_LEVEL_STYLES.get(level, ""))
    line.append(safe(record.get(keys.MESSAGE, "")))
    for name in _SHOWN_FIELDS:
        if name in record:
            line.append(f" {name}={safe(record[name])}", style="magenta")
    error = record.get(keys.ERROR)
    if isinstance(error, dict):
        code = error.get(keys.ERROR_CODE)
        kind = error.get(keys.ERROR_TYPE_NAME)
        shown = code if code is not None else kind
        message = safe(error.get(keys.ERROR_MESSAGE, ""))
        line.append(f" error={safe(shown)}: {message}", "red")
    return line


def _add(branch: Tree, node: Node, view: View, *, with_records: bool) -> None:
    for entry in node.entries() if with_records else node.children:
        if isinstance(entry, Node):
            child = branch.add(_node_label(entry, view))
            _add(child, entry, view, with_records=with_records)
        else:
            branch.add(_record_label(entry, view))


def render_tree(
    node: Node, console: Console, *, with_records: bool = True, view: View | None = None
) -> None:
    """Print the tree of *node*: one line per correlation and span, then its records.

    Node lines wrap at the console's width; record lines end in ``…`` there.
    """
    view = view or View()
    tree = Tree(_node_label(node, view, root=True), guide_style="dim")
    _add(tree, node, view, with_records=with_records)
    console.print(tree, soft_wrap=False)


# -- trace --format timeline: the waterfall ------------------------------------------------


def render_timeline(node: Node, console: Console, *, view: View | None = None) -> None:
    """Print a waterfall: each node as a bar from its start, as long as its duration.

    Each row ends with the duration and the status in words (``ok``/``failed``), so a
    failure reads without colour.
    """
    view = view or View()
    rows = list(_rows(node, depth=0))
    starts = [n.display_s for _, n in rows if n.display_s is not None]
    if not starts:
        console.print("(no timestamps: nothing to draw)")
        return
    origin = min(starts)
    end = max((n.display_s or origin) + (n.duration_ms or 0.0) / 1000 for _, n in rows)
    total = max(end - origin, 1e-9)
    label_width = max(20, console.width * 2 // 5)
    bar_width = max(_MIN_BAR_WIDTH, console.width - label_width - 19)
    for depth, item in rows:
        label = Text("  " * depth + item.kind[0].upper() + " ")
        label.append(safe(item.service or "-"), style="cyan")
        label.append(f" {safe(item.operation or view.ident(item.id))}")
        label.truncate(label_width, overflow="ellipsis", pad=True)
        line = Text()
        line.append_text(label)
        line.append(" ")
        failed = item.status != "ok"
        if item.display_s is None:
            line.append(" " * bar_width)
        else:
            offset = round((item.display_s - origin) / total * bar_width)
            offset = min(offset, bar_width - 1)
            length = round((item.duration_ms or 0.0) / 1000 / total * bar_width)
            length = max(1, min(length, bar_width - offset))
            line.append(" " * offset)
            line.append(_BAR * length, style="red" if failed else "green")
            line.append(" " * (bar_width - offset - length))
        line.append(" failed" if failed else "     ok", style="bold red" if failed else "green")
        line.append(f" {duration(item.duration_ms):>10}")
        console.print(line, soft_wrap=False, no_wrap=True, overflow="ellipsis")
    axis = f"{' ' * (label_width + 1)}0 ms{duration(total * 1000):>{bar_width - 4}}"
    console.print(Text(axis, "dim"), no_wrap=True)


def _rows(node: Node, depth: int) -> Iterator[tuple[int, Node]]:
    yield depth, node
    for child in node.children:
        yield from _rows(child, depth + 1)


# -- JSON for scripts ---------------------------------------------------------------------------

_JSON_UNSAFE: Final = re.compile(
    "[\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff]"
)


def dump_json(data: object, *, indent: bool = False) -> str:
    """Return *data* as JSON text, newline included, with every control character escaped.

    orjson escapes C0 controls; C1 (U+0080-U+009F, U+009B being a CSI) and the
    characters that reorder text it writes raw, which a terminal may obey: they are
    written as ``\\uXXXX``, which is the same JSON.
    """
    option = orjson.OPT_INDENT_2 if indent else 0
    text = orjson.dumps(data, default=safe, option=option).decode()
    return _JSON_UNSAFE.sub(lambda match: f"\\u{ord(match.group()):04x}", text) + "\n"


def render_json(node: Node, *, with_records: bool = True) -> str:
    """Return the tree as indented JSON text, newline included."""
    return dump_json(to_data(node, with_records=with_records), indent=True)


# -- pretty -------------------------------------------------------------------------------------

_FIELD_IDS: Final = frozenset({keys.PARENT_SPAN_ID, keys.TASK_ID})
"""A call's fields that are ids: shortened like the context ids."""


def pretty_line(record: Mapping[str, Any], view: View | None = None) -> Text:
    """Return one record as a readable line: time, level, service, message, fields, ids.

    The call's own fields follow the message; an error shows its type, its code if it
    has one, and its message; then, dimmed, the logger and the context (ids short unless
    verbose, and without the process id, version, environment or operation name unless
    verbose).
    """
    view = view or View()
    line = Text()
    line.append(view.clock(record.get(keys.TIMESTAMP)) + " ", style="dim")
    level = safe(record.get(keys.LEVEL, ""))
    line.append(f"{level:<8} ", style=_LEVEL_STYLES.get(level, ""))
    service = record.get(keys.SERVICE_NAME)
    if service is not None:
        line.append(f"{safe(service)} ", style="cyan")
    line.append(safe(record.get(keys.MESSAGE, "")), style="bold")
    skipped = {*keys.HEAD_KEYS, *keys.CONTEXT_KEYS, keys.ERROR, keys.PROCESS_ID}
    for name, value in record.items():
        if name not in skipped:
            line.append(f" {safe(name)}=", style="cyan")
            shown = view.ident(value) if name in _FIELD_IDS else safe(value)
            line.append(shown, style="magenta")
    error = record.get(keys.ERROR)
    if isinstance(error, dict):
        code, text = error.get(keys.ERROR_CODE), error.get(keys.ERROR_MESSAGE)
        line.append(
            f" error={safe(error.get(keys.ERROR_TYPE_NAME, ''))}"
            + (f" code={safe(code)}" if code not in (None, "") else "")
            + (f": {safe(text)}" if text not in (None, "") else ""),
            style="red",
        )
    elif error is not None:
        line.append(f" error={safe(error)}", style="red")
    logger = record.get(keys.LOGGER)
    if logger is not None:
        line.append(f"  [{safe(logger)}]", style="dim cyan")
    if view.verbose and keys.PROCESS_ID in record:  # the same on every line of a process
        line.append(f" {keys.PROCESS_ID}={safe(record[keys.PROCESS_ID])}", style="dim")
    for name in keys.CONTEXT_KEYS:
        if name == keys.SERVICE_NAME or name not in record:
            continue
        if name in _display.CONTEXT_LABELS:
            shown = _display.CONTEXT_LABELS[name] if not view.verbose else name
            line.append(f" {shown}={view.ident(record[name])}", style="dim")
        elif view.verbose or name not in _display.QUIET_CONTEXT:
            line.append(f" {name}={safe(record[name])}", style="dim")
    return line


# -- stats and requests: tables ------------------------------------------------------------------


def render_table(
    console: Console,
    title: str | None,
    columns: Sequence[tuple[str, bool]],
    rows: Sequence[Sequence[object]],
) -> None:
    """Print a table; each column is (header, right-aligned), every cell is safe text."""
    from rich.table import Table  # only tables need it: not loaded for trace and pretty

    table = Table(title=title, title_justify="left")
    for header, right in columns:
        table.add_column(header, justify="right" if right else "left")
    for row in rows:
        table.add_row(*(Text(safe(cell)) for cell in row))
    console.print(table)


def stats_cells(row: Row, view: View, *, every: bool) -> list[str]:
    """The cells of one stats row, for the table (and CSV)."""
    cells = [view.clock(row.bucket)] if every else []
    return [
        *cells,
        row.name,
        str(row.count),
        str(row.errors),
        *(_number(value) for value in (row.p50, row.p95, row.p99)),
    ]


_GROUP_HEADINGS: Final = {
    "name": "route / operation",
    "route": "route",
    "operation": "operation",
    "service": "service",
    "code": "code",
}


def render_stats(stats: Stats, console: Console, *, view: View | None = None) -> None:
    """Print the table of rows, then (unless grouped with ``--by``) the error codes by count."""
    view = view or View()
    every = stats.every_s is not None
    columns = [("time", False)] if every else []
    columns += [
        (_GROUP_HEADINGS[stats.group], False),
        *((name, True) for name in ("count", "errors", "p50", "p95", "p99")),
    ]
    title = "Durations by route and operation (ms)" if stats.group == "name" else "Durations (ms)"
    render_table(
        console, title, columns, [stats_cells(row, view, every=every) for row in stats.rows()]
    )
    if stats.group != "name":
        return
    error_codes = stats.error_codes()
    if not error_codes:
        console.print("Error codes: none")
        return
    render_table(
        console,
        "Error codes",
        [("error code", False), ("count", True)],
        [(code, str(count)) for code, count in error_codes],
    )


def instant(seconds: float | None, view: View) -> str:
    """A full time for tables (``requests``): RFC 3339 in UTC, or local time."""
    return format_instant(seconds, local=view.local) or "-"


def devnull_stdout() -> None:
    """Point stdout at /dev/null, so that flushing at exit after a closed pipe is silent."""
    with suppress(OSError, ValueError, AttributeError, io.UnsupportedOperation):  # a capture
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
