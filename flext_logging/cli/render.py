"""Drawing for people: the trace tree, the timeline, pretty lines, the stats table.

The only module of the CLI that imports rich. Everything draws into a given
``Console``, so tests render at a fixed width without colour and compare exactly.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import IO, Any, Final

import orjson
from rich.console import Console
from rich.text import Text
from rich.tree import Tree

from flext_logging import keys
from flext_logging.cli.stats import Stats
from flext_logging.cli.tree import Node, to_data

__all__ = [
    "PROGRESS_DELAY_S",
    "TIMELINE_WIDTH",
    "new_console",
    "pretty_line",
    "print_line",
    "progress",
    "render_json",
    "render_stats",
    "render_timeline",
    "render_tree",
]

PROGRESS_DELAY_S: Final = 1.0
"""Reading that ends sooner than this (one second) shows no progress bar at all."""

TIMELINE_WIDTH: Final = 120
"""The timeline's width written to a pipe or a file: its bars need a width to scale to."""

_UNLIMITED_WIDTH: Final = 1_000_000
"""Wide enough for any line: rich cuts lines at the console's width, which must be a number."""

_LEVEL_STYLES: Final = {
    "debug": "dim",
    "info": "green",
    "warning": "yellow",
    "error": "bold red",
    "critical": "bold white on red",
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


def _clock(timestamp: object) -> str:
    """``HH:MM:SS.mmm`` of an RFC 3339 timestamp, or the text itself if it is not one."""
    if not isinstance(timestamp, str):
        return "--:--:--.---"
    if len(timestamp) >= 23 and timestamp[10] in "Tt ":
        return timestamp[11:23]
    return timestamp


def _duration(duration_ms: float | None) -> str:
    if duration_ms is None:
        return "-"
    if duration_ms >= 1000:
        return f"{duration_ms / 1000:.2f} s"
    return f"{duration_ms:.1f} ms"


def _text(value: object) -> str:
    text = value if isinstance(value, str) else orjson.dumps(value, default=str).decode()
    return text.replace("\n", "\\n").replace("\r", "\\r")


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
    return Console(file=destination, width=width, highlight=False)


def print_line(console: Console, line: bytes, record: Mapping[str, Any] | None) -> None:
    """Print *record* as a pretty line, or *line* unchanged when it was not a record."""
    if record is None:
        console.print(Text(line.decode("utf-8", "replace")), soft_wrap=True)
    else:
        console.print(pretty_line(record), soft_wrap=True)


# -- trace: the tree ---------------------------------------------------------------------


def _node_label(node: Node) -> Text:
    label = Text()
    label.append(node.kind, style="bold blue" if node.kind != "span" else "blue")
    label.append(f" {node.id}", style="dim")
    if node.service:
        label.append(f" {node.service}", style="cyan")
    if node.operation:
        label.append(f" {node.operation}", style="bold")
    label.append(f"  {_clock(node.start)}  {_duration(node.duration_ms)}")
    status = node.status if node.status_code is None else f"{node.status} {node.status_code}"
    label.append(f"  {status}", style="bold red" if node.status != "ok" else "green")
    codes = dict.fromkeys(
        str(error[keys.ERROR_CODE] or error[keys.MESSAGE]) for error in node.errors
    )
    if codes:
        label.append(f" [{', '.join(codes)}]", style="red")
    if node.failed_below:
        label.append(f"  ({node.failed_below} failed below)", style="red")
    if node.orphan:
        label.append(f"  (orphan: parent {node.missing_parent} not found)", style="yellow")
    if node.skew_ms:
        label.append(f"  (clock skew: starts {node.skew_ms:g} ms before its parent)", "yellow")
    return label


def _record_label(record: Mapping[str, Any]) -> Text:
    line = Text()
    line.append(_clock(record.get(keys.TIMESTAMP)) + " ", style="dim")
    level = _text(record.get(keys.LEVEL, ""))
    line.append(f"{level:<7} ", style=_LEVEL_STYLES.get(level, ""))
    line.append(_text(record.get(keys.MESSAGE, "")))
    for name in _SHOWN_FIELDS:
        if name in record:
            line.append(f" {name}={_text(record[name])}", style="magenta")
    error = record.get(keys.ERROR)
    if isinstance(error, dict):
        code = error.get(keys.ERROR_CODE)
        kind = error.get(keys.ERROR_TYPE_NAME)
        shown = code if code is not None else kind
        line.append(f" error={_text(shown)}: {_text(error.get(keys.ERROR_MESSAGE, ''))}", "red")
    return line


def _add(branch: Tree, node: Node, *, with_records: bool) -> None:
    for entry in node.entries() if with_records else node.children:
        if isinstance(entry, Node):
            _add(branch.add(_node_label(entry)), entry, with_records=with_records)
        else:
            branch.add(_record_label(entry))


def render_tree(node: Node, console: Console, *, with_records: bool = True) -> None:
    """Print the tree of *node*: one line per correlation and span, then its records."""
    tree = Tree(_node_label(node), guide_style="dim")
    _add(tree, node, with_records=with_records)
    console.print(tree, soft_wrap=False, overflow="ellipsis", no_wrap=True)


# -- trace --format timeline: the waterfall ------------------------------------------------


def render_timeline(node: Node, console: Console) -> None:
    """Print a waterfall: each node as a bar from its start, as long as its duration."""
    rows = list(_rows(node, depth=0))
    starts = [n.display_s for _, n in rows if n.display_s is not None]
    if not starts:
        console.print("(no timestamps: nothing to draw)")
        return
    origin = min(starts)
    end = max((n.display_s or origin) + (n.duration_ms or 0.0) / 1000 for _, n in rows)
    total = max(end - origin, 1e-9)
    label_width = max(20, console.width * 2 // 5)
    bar_width = max(_MIN_BAR_WIDTH, console.width - label_width - 12)
    for depth, item in rows:
        label = Text("  " * depth + item.kind[0].upper() + " ")
        label.append(item.service or "-", style="cyan")
        label.append(f" {item.operation or item.id}")
        label.truncate(label_width, overflow="ellipsis", pad=True)
        line = Text()
        line.append_text(label)
        line.append(" ")
        if item.display_s is None:
            line.append(" " * bar_width)
        else:
            offset = round((item.display_s - origin) / total * bar_width)
            offset = min(offset, bar_width - 1)
            length = round((item.duration_ms or 0.0) / 1000 / total * bar_width)
            length = max(1, min(length, bar_width - offset))
            style = "red" if item.status != "ok" else "green"
            line.append(" " * offset)
            line.append(_BAR * length, style=style)
            line.append(" " * (bar_width - offset - length))
        line.append(f" {_duration(item.duration_ms):>10}")
        console.print(line, soft_wrap=False, no_wrap=True, overflow="ellipsis")
    console.print(
        Text(f"{' ' * (label_width + 1)}0 ms{_duration(total * 1000):>{bar_width - 4}}", "dim"),
        no_wrap=True,
    )


def _rows(node: Node, depth: int) -> Iterator[tuple[int, Node]]:
    yield depth, node
    for child in node.children:
        yield from _rows(child, depth + 1)


# -- trace --format json ----------------------------------------------------------------------


def render_json(node: Node, *, with_records: bool = True) -> str:
    """Return the tree as indented JSON text, newline included."""
    data = to_data(node, with_records=with_records)
    return orjson.dumps(data, default=str, option=orjson.OPT_INDENT_2).decode() + "\n"


# -- pretty -------------------------------------------------------------------------------------


def pretty_line(record: Mapping[str, Any]) -> Text:
    """Return one record as a readable line: time, level, service, message, fields.

    The context ids follow the call's own fields, dimmed; an error shows its type, code
    and message.
    """
    line = Text()
    line.append(_clock(record.get(keys.TIMESTAMP)) + " ", style="dim")
    level = _text(record.get(keys.LEVEL, ""))
    line.append(f"{level:<8} ", style=_LEVEL_STYLES.get(level, ""))
    service = record.get(keys.SERVICE_NAME)
    if service is not None:
        line.append(f"{_text(service)} ", style="cyan")
    line.append(_text(record.get(keys.MESSAGE, "")), style="bold")
    skipped = {*keys.HEAD_KEYS, *keys.CONTEXT_KEYS, keys.SERVICE_NAME, keys.ERROR}
    for name, value in record.items():
        if name not in skipped:
            line.append(f" {name}=", style="cyan")
            line.append(_text(value), style="magenta")
    error = record.get(keys.ERROR)
    if isinstance(error, dict):
        line.append(
            f" error={_text(error.get(keys.ERROR_TYPE_NAME, ''))}"
            f" code={_text(error.get(keys.ERROR_CODE))}"
            f" {_text(error.get(keys.ERROR_MESSAGE, ''))!r}",
            style="red",
        )
    logger = record.get(keys.LOGGER)
    if logger is not None:
        line.append(f"  [{_text(logger)}]", style="dim cyan")
    for name in keys.CONTEXT_KEYS:
        if name != keys.SERVICE_NAME and name in record:
            line.append(f" {name}={_text(record[name])}", style="dim")
    return line


# -- stats -----------------------------------------------------------------------------------


def render_stats(stats: Stats, console: Console) -> None:
    """Print the table of routes and operations, then the error codes by count."""
    from rich.table import Table  # only stats draws tables: not loaded for trace and pretty

    table = Table(title="Durations by route and operation (ms)", title_justify="left")
    table.add_column("route / operation")
    for name in ("count", "errors", "p50", "p95", "p99"):
        table.add_column(name, justify="right")
    for row in stats.rows():
        table.add_row(
            row.name,
            str(row.count),
            str(row.errors),
            *(_number(value) for value in (row.p50, row.p95, row.p99)),
        )
    console.print(table)
    error_codes = stats.error_codes()
    if not error_codes:
        console.print("Error codes: none")
        return
    codes = Table(title="Error codes", title_justify="left")
    codes.add_column("error code")
    codes.add_column("count", justify="right")
    for code, count in error_codes:
        codes.add_row(code, str(count))
    console.print(codes)


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


# -- progress --------------------------------------------------------------------------------


@contextmanager
def progress(
    total_bytes: int, *, enabled: bool | None = None, delay_s: float = PROGRESS_DELAY_S
) -> Iterator[Callable[[int], None]]:
    """Yield a callback told how many bytes were read; past *delay_s*, show a bar on stderr.

    The bar appears only once reading has taken *delay_s* seconds, so quick commands
    print nothing, and only when stderr is a terminal, unless *enabled* decides. With
    *total_bytes* 0 (stdin) it shows the bytes read without an end.
    """
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        yield lambda _: None
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    bar = Progress(
        "reading",
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = bar.add_task("reading", total=total_bytes or None)
    shown_after = time.monotonic() + delay_s
    shown = False

    def advance(count: int) -> None:
        nonlocal shown
        bar.advance(task, count)
        if not shown and time.monotonic() >= shown_after:
            shown = True
            bar.start()

    try:
        yield advance
    finally:
        bar.stop()
