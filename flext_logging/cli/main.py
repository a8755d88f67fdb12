"""The ``flext-logging`` command: ``trace``, ``pretty`` and ``stats`` over JSON-lines logs.

Exit status: 0 when the command did its job, 1 when ``trace`` found no record of the
id, 2 for a usage error (unknown option, missing file, malformed filter or time).
"""

from __future__ import annotations

import argparse
import heapq
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import IO, Any

from flext_logging import keys
from flext_logging.cli import render
from flext_logging.cli.reading import (
    STDIN,
    ReadStats,
    RecordFilter,
    UsageError,
    expand_sources,
    follow_lines,
    parse_line,
    read_records,
    record_time,
    scan_lines,
    total_size,
)
from flext_logging.cli.stats import Stats
from flext_logging.cli.tree import By, build_tree, collect_records

__all__ = ["build_parser", "follow", "main"]

_EXIT_FOUND = 0
_EXIT_NOT_FOUND = 1
_EXIT_USAGE = 2
_MIN_WIDTH = 20


def _columns(text: str) -> int:
    """Parse ``--width``: a whole number of at least 20 columns."""
    try:
        columns = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of columns: {text!r}") from None
    if columns < _MIN_WIDTH:
        raise argparse.ArgumentTypeError(f"at least {_MIN_WIDTH} columns, got {columns}")
    return columns


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "files",
        nargs="*",
        metavar="FILE",
        help="log files, globs or .gz files; '-' or nothing reads stdin",
    )
    parser.add_argument(
        "--where",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="keep records whose KEY (dotted for nested, e.g. error.code) equals VALUE;"
        " repeat to require several",
    )
    parser.add_argument(
        "--since", metavar="TIME", help="keep records at or after this RFC 3339 time"
    )
    parser.add_argument("--until", metavar="TIME", help="keep records before this RFC 3339 time")
    parser.add_argument(
        "--width",
        type=_columns,
        metavar="COLUMNS",
        help="render at this width (default: the terminal's; written to a pipe or a file,"
        f" lines are never cut and the timeline is {render.TIMELINE_WIDTH} columns wide)",
    )


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``flext-logging`` and its three subcommands."""
    parser = argparse.ArgumentParser(
        prog="flext-logging",
        description="Follow requests through flext-logging JSON-lines logs.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    trace = commands.add_parser(
        "trace",
        help="rebuild the tree of one correlation, request or trace",
        description="Rebuild the tree of one correlation, request or trace id from the logs"
        " of any number of services: correlations, the correlations they started, their"
        " spans, and each one's records in time order.",
    )
    trace.add_argument("id", metavar="ID", help="a correlation id, request id or trace id")
    _add_common(trace)
    trace.add_argument(
        "--by",
        choices=("correlation", "request", "trace"),
        help="which field ID is (default: detected from the records)",
    )
    trace.add_argument(
        "--format",
        choices=("tree", "timeline", "json"),
        default="tree",
        help="tree (default), timeline: a waterfall of durations, json: the tree as data",
    )
    trace.add_argument(
        "--no-records",
        dest="with_records",
        action="store_false",
        help="show only the correlations and spans, not their records",
    )

    pretty = commands.add_parser(
        "pretty",
        help="print JSON lines as readable, coloured lines",
        description="Print JSON-lines records as readable lines; other lines pass through"
        " unchanged. Several files are merged by time.",
    )
    _add_common(pretty)
    pretty.add_argument(
        "-f", "--follow", action="store_true", help="keep reading one growing file, like tail -f"
    )

    stats = commands.add_parser(
        "stats",
        help="durations per route and operation, errors by code",
        description="Count, error count and p50/p95/p99 duration_ms per route and"
        " operation, then the error codes by count.",
    )
    _add_common(stats)
    return parser


def _report(stats: ReadStats) -> None:
    summary = stats.summary()
    if summary is not None:
        print(summary, file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``flext-logging`` with *argv* (default: the process arguments); return the status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse exits 2 on usage errors, 0 after --help
        return exit_.code if isinstance(exit_.code, int) else _EXIT_USAGE
    try:
        record_filter = RecordFilter(where=args.where, since=args.since, until=args.until)
        sources = expand_sources(args.files)
        command: Callable[[argparse.Namespace, list[str], RecordFilter], int] = {
            "trace": _trace,
            "pretty": _pretty,
            "stats": _stats,
        }[args.command]
        return command(args, sources, record_filter)
    except UsageError as error:
        print(f"flext-logging: {error}", file=sys.stderr)
        return _EXIT_USAGE
    except BrokenPipeError:  # `| head`: the reader is gone, which is not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return _EXIT_FOUND
    except KeyboardInterrupt:
        return 130


def _trace(args: argparse.Namespace, sources: list[str], record_filter: RecordFilter) -> int:
    stats = ReadStats()
    by: By | None = args.by
    with render.progress(total_size(sources)) as advance:
        found_by, records = collect_records(
            sources,
            args.id,
            stats,
            by=by,
            record_filter=record_filter if record_filter.active else None,
            progress=advance,
        )
    _report(stats)
    if found_by is None or not records:
        print(f"flext-logging: no record of {args.id!r} found", file=sys.stderr)
        return _EXIT_NOT_FOUND
    root = build_tree(records, args.id, found_by)
    if args.format == "json":
        sys.stdout.write(render.render_json(root, with_records=args.with_records))
    elif args.format == "timeline":
        console = render.new_console(width=args.width, width_off_terminal=render.TIMELINE_WIDTH)
        render.render_timeline(root, console)
    else:
        render.render_tree(
            root, render.new_console(width=args.width), with_records=args.with_records
        )
    return _EXIT_FOUND


def _pretty_source(
    source: str, record_filter: RecordFilter, advance: Callable[[int], None]
) -> Iterator[tuple[str, bytes, dict[str, Any] | None]]:
    """Yield (sort key, line, record or None) for every line of *source* to print."""
    last = ""
    for line in scan_lines(source, (), progress=advance):
        record = parse_line(line)
        if record is None:
            if not record_filter.active:  # with a filter, only matching records are shown
                yield last, line, None
            continue
        if record_time(record) is not None:
            last = str(record.get(keys.TIMESTAMP, last))
        if record_filter(record):
            yield last, line, record


def _pretty(args: argparse.Namespace, sources: list[str], record_filter: RecordFilter) -> int:
    if args.follow:
        if len(sources) != 1 or sources[0] == STDIN:
            raise UsageError("--follow needs exactly one file")
        follow(sources[0], width=args.width, record_filter=record_filter)
        return _EXIT_FOUND
    console = render.new_console(width=args.width)
    with render.progress(total_size(sources)) as advance:
        streams = [_pretty_source(source, record_filter, advance) for source in sources]
        merged = streams[0] if len(streams) == 1 else heapq.merge(*streams, key=lambda i: i[0])
        for _, line, record in merged:
            render.print_line(console, line, record)
    return _EXIT_FOUND


def follow(
    path: str,
    *,
    width: int | None = None,
    output: IO[str] | None = None,
    record_filter: RecordFilter | None = None,
    stop: Callable[[], bool] = lambda: False,
    poll_interval: float = 0.25,
) -> None:
    """Print the lines of a growing file as ``pretty`` does, until *stop* says so.

    Lines go to *output* (default: stdout) rendered at *width* (default: the terminal's,
    and whole lines when *output* is not a terminal).
    """
    console = render.new_console(width=width, file=output)
    for line in follow_lines(path, poll_interval=poll_interval, stop=stop):
        record = parse_line(line)
        if (
            record_filter is not None
            and record_filter.active
            and (record is None or not record_filter(record))
        ):
            continue
        render.print_line(console, line, record)


def _stats(args: argparse.Namespace, sources: list[str], record_filter: RecordFilter) -> int:
    read_stats = ReadStats()
    stats = Stats()
    active = record_filter if record_filter.active else None
    with render.progress(total_size(sources)) as advance:
        for source in sources:
            stats.add_all(read_records(source, read_stats, record_filter=active, progress=advance))
    render.render_stats(stats, render.new_console(width=args.width))
    _report(read_stats)
    return _EXIT_FOUND
