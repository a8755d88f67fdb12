"""Drawing for people with rich: the trace tree, the timeline, pretty lines, the tables.

The only module of the CLI that imports rich, and only ``main`` imports it, when there
is something to draw that rich must draw: a terminal, a ``--width``, a timeline, a
table (a tree written to a pipe or a file is written by :mod:`flext_logging.cli.plain`,
without loading rich, the same bytes). Everything draws into a given ``Console``, so
tests render at a fixed width without colour and compare exactly.

A log line is untrusted input. Every value taken from one is drawn as text, never as
rich markup, and through :func:`~flext_logging.cli.plain.safe`: nothing from a log
reaches the terminal as a control sequence.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping, Sequence
from typing import IO, TYPE_CHECKING, Any, Final, Literal

from rich.console import Console
from rich.text import Text
from rich.tree import Tree

from flext_logging import _display, keys
from flext_logging.cli.plain import (
    Piece,
    View,
    dump_json,
    duration,
    level_style,
    node_label,
    number,
    record_label,
    render_json,
    safe,
    short_id,
)
from flext_logging.cli.progress import PROGRESS_DELAY_S, progress
from flext_logging.cli.times import format_instant
from flext_logging.cli.tree import Node

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

_BAR: Final = "█"
_MIN_BAR_WIDTH: Final = 10


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


# -- trace: the tree ---------------------------------------------------------------------


def _text(pieces: list[Piece], **options: Any) -> Text:
    """A label's pieces as rich text, each in its style."""
    text = Text(**options)
    for run, style in pieces:
        text.append(run, style=style)
    return text


def _node_label(node: Node, view: View, *, root: bool = False) -> Text:
    """A node's line: it wraps rather than being cut (duration and status come first)."""
    return _text(node_label(node, view, root=root), no_wrap=False, overflow="fold")


def _record_label(record: Mapping[str, Any], view: View) -> Text:
    return _text(record_label(record, view), no_wrap=True, overflow="ellipsis")


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
    line.append(f"{level:<8} ", style=level_style(level))
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
    """Print a table; each column is (header, right-aligned), every cell is safe text.

    On a narrow terminal only names and codes wrap, folded: an id, a time, a number or a
    status keeps its width (it is never cut, so an id can still be copied).
    """
    from rich.table import Table  # only tables need it: not loaded for trace and pretty

    cells = [[Text(safe(cell)) for cell in row] for row in rows]
    widths = [
        max([len(header), *(row[index].cell_len for row in cells)])
        for index, (header, _) in enumerate(columns)
    ]
    if sum(widths) + 3 * len(columns) + 1 <= console.width:
        table = Table(title=title, title_justify="left")
    else:  # narrow: no vertical rules, no padding at the edges
        from rich import box

        table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 1, 0, 0))
    for index, (header, right) in enumerate(columns):
        justify: Literal["left", "right"] = "right" if right else "left"
        if header in _WRAPPING_HEADERS:
            table.add_column(header, justify=justify, overflow="fold")
        else:
            table.add_column(header, justify=justify, no_wrap=True, min_width=widths[index])
    for row in cells:
        table.add_row(*row)
    console.print(table)


_WRAPPING_HEADERS: Final = frozenset(
    {"service", "route", "operation", "route / operation", "code", "error code"}
)
"""The columns that wrap on a narrow terminal (names and codes, folded: no character is
lost); the others keep their width."""


def stats_cells(row: Row, view: View, *, every: bool) -> list[str]:
    """The cells of one stats row, for the table (and CSV)."""
    cells = [view.clock(row.bucket)] if every else []
    return [
        *cells,
        row.name,
        str(row.count),
        str(row.errors),
        *(number(value) for value in (row.p50, row.p95, row.p99)),
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
