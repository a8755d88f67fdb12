"""The ``flext-logging`` command: ``trace``, ``requests``, ``pretty`` and ``stats``.

``trace`` and ``stats`` also read a ClickHouse table (``--source clickhouse://...``,
:mod:`flext_logging.cli.clickhouse`, imported only then).

Exit status: 0 when the command did its job (also when the reader of its output went
away: ``| head``, ``less`` quit), 1 when ``trace`` found no record of the id, 2 for a
usage error (unknown option, missing file, malformed filter or time), 130 on Ctrl-C.
rich is imported only once there is something to draw.
"""

from __future__ import annotations

import atexit
import errno
import os
import sys

from flext_logging.cli import search

# Until trace's search has started, nothing is imported that the search does not need:
# typing and collections.abc (some 10 ms with the re and enum they load) only for mypy.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Iterator, Sequence
    from typing import IO, Any, Final, NoReturn

    from flext_logging.cli.fields import Schema
    from flext_logging.cli.plain import View
    from flext_logging.cli.reading import Reader, RecordFilter
    from flext_logging.cli.tree import Node

__all__ = ["build_parser", "follow", "main", "run"]

_EXIT_FOUND: Final = 0
_EXIT_NOT_FOUND: Final = 1
_EXIT_USAGE: Final = 2
_EXIT_INTERRUPTED: Final = 130
_MIN_WIDTH: Final = 20
_STAT_COLUMNS: Final = ("count", "errors", "p50_ms", "p95_ms", "p99_ms")
_STDIN: Final = "-"
"""``reading.STDIN``, named here so that the command line is checked before reading loads."""
_MERGE_WINDOW: Final = 100_000
"""How many lines ``pretty`` holds to put several files in time order (out-of-order
lines within this window are sorted; memory stays bounded whatever the input)."""


def _columns(text: str) -> int:
    """Parse ``--width``: a whole number of at least 20 columns."""
    import argparse

    try:
        columns = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of columns: {text!r}") from None
    if columns < _MIN_WIDTH:
        raise argparse.ArgumentTypeError(f"at least {_MIN_WIDTH} columns, got {columns}")
    return columns


def _positive(text: str) -> int:
    import argparse

    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"at least 1, got {number}")
    return number


def _print_version(parser: argparse.ArgumentParser, *_: object) -> None:
    """``--version``: the installed distribution's version, looked up only when asked."""
    from importlib import metadata

    try:
        version = metadata.version("flext-logging")
    except metadata.PackageNotFoundError:  # run from a source tree, not installed
        version = "(not installed)"
    sys.stdout.write(f"flext-logging {version}\n")
    parser.exit()


def _help_width() -> int:
    """The width argparse lays its help out in: ``COLUMNS``, else the terminal's, less 2
    (what its formatter finds through :func:`shutil.get_terminal_size`)."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    stdout = sys.__stdout__
    if columns <= 0 and stdout is not None:
        try:
            columns = os.get_terminal_size(stdout.fileno()).columns
        except (AttributeError, ValueError, OSError):  # not a terminal, or closed
            columns = 0
    return (columns or _FALLBACK_COLUMNS) - 2


_FALLBACK_COLUMNS: Final = 80


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "files",
        nargs="*",
        default=[],  # without a default argparse counts FILE as required in its errors
        metavar="FILE",
        help="log files, directories, globs or .gz files; '-' or nothing reads stdin",
    )
    filters = parser.add_argument_group("filters")
    filters.add_argument(
        "--where",
        action="append",
        default=[],
        metavar="EXPR",
        help="keep records where KEY=VALUE (also !=, >=, <=, >, <, and KEY~REGEX);"
        " KEY may be dotted (error.code); repeat to require several",
    )
    filters.add_argument(
        "--since", metavar="TIME", help="keep records at or after this RFC 3339 time"
    )
    filters.add_argument("--until", metavar="TIME", help="keep records before this RFC 3339 time")
    fields = parser.add_argument_group("reading other libraries' logs")
    fields.add_argument("--time-field", metavar="PATH", help="the field holding the time")
    fields.add_argument("--level-field", metavar="PATH", help="the field holding the level")
    fields.add_argument("--message-field", metavar="PATH", help="the field holding the message")
    fields.add_argument(
        "--id-field",
        action="append",
        default=[],
        metavar="PATH",
        help="a field holding the correlation id (dotted for nested); repeat for several",
    )
    shown = parser.add_argument_group("output")
    shown.add_argument(
        "--width",
        type=_columns,
        metavar="COLUMNS",
        help="render at this width (default: the terminal's; written to a pipe or a file,"
        " lines are never cut and the timeline is 120 columns wide)",
    )
    shown.add_argument(
        "--local", action="store_true", help="show times in local time (default: UTC)"
    )
    shown.add_argument(
        "-v", "--verbose", action="store_true", help="show ids in full and every context field"
    )


_COMMANDS: Final = ("trace", "requests", "pretty", "stats")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """Return the argument parser of ``flext-logging`` and its subcommands.

    Given the *command* about to be parsed, only that one's options are added (the
    others are listed, with their help): building every option takes some 10 ms.
    """
    import argparse  # after trace's search has started: it takes some 5 ms to import

    def wanted(name: str) -> bool:
        return command not in _COMMANDS or command == name

    class _Version(argparse.Action):
        def __call__(self, parser: argparse.ArgumentParser, *rest: object) -> None:
            _print_version(parser, *rest)

    class _Formatter(argparse.HelpFormatter):
        # argparse's layout at the width it would take, found without importing shutil
        # (some 2 ms with the bz2 and lzma it loads): each option added builds one.
        def __init__(
            self,
            prog: str,
            indent_increment: int = 2,
            max_help_position: int = 24,
            width: int | None = None,
        ) -> None:
            width = _help_width() if width is None else width
            super().__init__(prog, indent_increment, max_help_position, width)

    parser = argparse.ArgumentParser(
        prog="flext-logging",
        formatter_class=_Formatter,
        description="Follow requests through JSON-lines logs: flext-logging's own, and"
        " those of ECS, loguru, python-json-logger, structlog and OpenTelemetry.",
    )
    parser.add_argument("--version", action=_Version, nargs=0, help="print the version and exit")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    trace = commands.add_parser(
        "trace",
        formatter_class=_Formatter,
        help="rebuild the tree of one correlation, request or trace",
        description="Rebuild the whole tree of a request from the logs of any number of"
        " services, given any of its ids: the correlations it ran in, the correlations"
        " they started, their spans, and each one's records in time order.",
    )
    if wanted("trace"):
        _add_trace_options(trace)

    requests = commands.add_parser(
        "requests",
        formatter_class=_Formatter,
        help="list root requests, to find the one to trace",
        description="List the root requests: id, service, route, start, duration,"
        " status and error code, in time order.",
    )
    if wanted("requests"):
        _add_common(requests)
        requests.add_argument(
            "--failed", action="store_true", help="only requests that failed, or whose work failed"
        )
        requests.add_argument(
            "--slowest", type=_positive, metavar="N", help="only the N slowest, slowest first"
        )
        requests.add_argument("--format", choices=("table", "json", "csv"), default="table")

    pretty = commands.add_parser(
        "pretty",
        formatter_class=_Formatter,
        help="print JSON lines as readable, coloured lines",
        description="Print JSON-lines records as readable lines; other lines pass through"
        " (made safe for the terminal). Several files are merged by time.",
    )
    if wanted("pretty"):
        _add_common(pretty)
        pretty.add_argument(
            "-f",
            "--follow",
            action="store_true",
            help="keep reading one growing file, like tail -f",
        )

    stats = commands.add_parser(
        "stats",
        formatter_class=_Formatter,
        help="durations per route and operation, errors by code",
        description="Count, error count and p50/p95/p99 duration_ms per route and"
        " operation (or --by service, route, operation, code), then the error codes.",
    )
    if wanted("stats"):
        _add_common(stats)
        stats.add_argument(
            "--by",
            choices=("route", "operation", "service", "code"),
            help="one row per route, operation, service or code (default: routes and operations)",
        )
        stats.add_argument(
            "--every", metavar="LENGTH", help="split rows into time buckets: 30s, 1m, 1h, 1d"
        )
        stats.add_argument("--format", choices=("table", "json", "csv"), default="table")
        _add_source(stats)
    return parser


def _add_trace_options(trace: argparse.ArgumentParser) -> None:
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
    _add_source(trace)
    trace.add_argument(
        "--no-records",
        dest="with_records",
        action="store_false",
        help="show only the correlations and spans, not their records",
    )


def _add_source(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--source",
        metavar="URL",
        help="read a ClickHouse table instead of files: clickhouse://HOST:PORT/DB.TABLE"
        " (the id and the --since/--until window are asked in SQL; CLICKHOUSE_USER,"
        " CLICKHOUSE_PASSWORD)",
    )


def _reader(args: argparse.Namespace, *, with_filter: bool = True) -> Reader:
    from flext_logging.cli.fields import Schema
    from flext_logging.cli.reading import Reader, RecordFilter

    schema = Schema(
        time_field=args.time_field,
        level_field=args.level_field,
        message_field=args.message_field,
        id_fields=args.id_field,
    )
    record_filter = RecordFilter(where=args.where, since=args.since, until=args.until)
    return Reader(schema=schema, record_filter=record_filter if with_filter else None)


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # closed, or replaced by something without it
        return False


def _report(reader: Reader) -> None:
    summary = reader.stats.summary()
    if summary is not None:
        print(_safe_lines(summary), file=sys.stderr)


def _safe_lines(text: str) -> str:
    """*text* with no control sequence left in its lines: file names are anyone's."""
    from flext_logging.cli.plain import safe

    return "\n".join(safe(line) for line in text.split("\n"))


def _view(args: argparse.Namespace) -> View:
    from flext_logging.cli.plain import View

    return View(local=args.local, verbose=args.verbose)


def run() -> NoReturn:
    """The ``flext-logging`` executable: :func:`main`, then exit without tearing down.

    Once the output is flushed and the exit handlers have run, freeing every module
    and object one by one (some 20 ms after rich is loaded) serves no one: the process
    ends at once with :func:`os._exit`. Nor does it wait for its search workers to
    unmap the file as they exit (:func:`search.leave_workers_at_exit`).
    """
    search.leave_workers_at_exit()  # their exit unmaps the file: the system reaps them
    status = main()
    if not (_flushed(sys.stdout) and _flushed(sys.stderr)):
        status = status or _EXIT_OUTPUT_FAILED
    atexit._run_exitfuncs()  # what sys.exit would run (coverage's data of subprocesses)
    os._exit(status)


# The output could not be written (a full disk under `> file`): what Python itself exits
# with when flushing the standard streams fails at exit.
_EXIT_OUTPUT_FAILED: Final = 120


def _flushed(stream: IO[str]) -> bool:
    """Flush *stream*; ``False`` if what was written may be incomplete (a full disk)."""
    try:
        stream.flush()
    except (BrokenPipeError, ValueError):  # the reader went away (`| head`), or closed
        return True
    except OSError:
        return False
    return True


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``flext-logging`` with *argv* (default: the process arguments); return the status."""
    arguments = sys.argv[1:] if argv is None else list(argv)
    early = _search_early(arguments)
    try:
        parser = build_parser(arguments[0] if arguments else None)
        try:
            # Files may come after the options too (`trace ID --format json app.log`).
            args, extra = parser.parse_known_args(arguments)
            unknown = [one for one in extra if one.startswith("-") and one != _STDIN]
            if unknown:
                parser.error(f"unrecognized arguments: {' '.join(unknown)}")
            args.files = [*args.files, *extra]
        except SystemExit as exit_:  # argparse exits 2 on usage errors, 0 after --help
            return exit_.code if isinstance(exit_.code, int) else _EXIT_USAGE
        return _run(args, early)
    finally:
        for searcher in early.values():
            searcher.close()


# The options of `trace` that take a value, and those that take none: what
# _search_early must know to tell the id and the first file among the arguments.
_TRACE_VALUED: Final = frozenset(
    (
        "--where",
        "--since",
        "--until",
        "--time-field",
        "--level-field",
        "--message-field",
        "--id-field",
        "--width",
        "--by",
        "--format",
    )
)
_TRACE_FLAGS: Final = frozenset(("--local", "-v", "--verbose", "--no-records"))


def _trace_target(arguments: Sequence[str]) -> tuple[str, str] | None:
    """The id and the first file of a ``trace`` command line, or ``None`` when unsure.

    Read before the parser is even built (that takes some 15 ms): anything out of the
    ordinary (another command, ``--source``, an abbreviated or unknown option, ``--``)
    gives ``None``, and the search then starts when ``trace`` asks for it.
    """
    if not arguments or arguments[0] != "trace":
        return None
    positional: list[str] = []
    rest = iter(arguments[1:])
    for argument in rest:
        if argument == _STDIN or not argument.startswith("-"):
            positional.append(argument)
            continue
        name, equals, _ = argument.partition("=")
        if name in _TRACE_VALUED:
            if not equals and next(rest, None) is None:
                return None
        elif name not in _TRACE_FLAGS or equals:
            return None
    return (positional[0], positional[1]) if len(positional) >= 2 else None


def _search_early(arguments: Sequence[str]) -> dict[str, search.Searcher]:
    """Start searching ``trace``'s first file for the id before the rest is imported.

    The workers search while this process builds its parser and imports the modules
    that parse, build and draw the tree (some 40 ms): the search ``trace`` then asks for
    is already under way. Only for a plain file and an id a JSON line holds as its own
    bytes (what ``tree._needles`` makes of it); any other search starts when it is asked
    for. Should the command line turn out to mean something else, nothing is lost: a
    search is collected only by a ``find`` for the same needles in the same file.
    """
    target = _trace_target(arguments) if search.in_child else None
    if target is None:
        return {}
    ident, first = target
    plain = ident.isascii() and ident.isprintable() and not any(c in ident for c in '"\\')
    if not plain or ident.startswith(("0x", "0X", "projects/")) or not ident.strip("0"):
        return {}  # escaped in JSON, or rewritten by fields.normalize_id: not guessed here
    if first == _STDIN or not search.searchable(first):
        return {}
    try:
        searcher = search.Searcher(first)
    except OSError:
        return {}
    searcher.start(search.Needles([ident.encode()]))
    return {first: searcher}


def _run(args: argparse.Namespace, early: dict[str, search.Searcher]) -> int:
    """Run the parsed command; turn usage errors, a closed pipe and Ctrl-C into a status."""
    from flext_logging.cli.reading import RecordFilter, UsageError, expand_sources

    try:
        RecordFilter(where=args.where, since=args.since, until=args.until)  # usage errors first
        if getattr(args, "source", None) is not None:
            _check_source(args)
            sources: list[str] = []
        else:
            sources = expand_sources(args.files)
        if not args.files and not getattr(args, "source", None) and _is_terminal(sys.stdin):
            raise UsageError(
                "no FILE given: reading stdin, which is a terminal;"
                " name a log file, or pipe one in (... | flext-logging ...)"
            )
        if args.command == "trace":
            return _trace(args, sources, early)
        command: Callable[[argparse.Namespace, list[str]], int] = {
            "requests": _requests,
            "pretty": _pretty,
            "stats": _stats,
        }[args.command]
        return command(args, sources)
    except UsageError as error:
        print(_safe_lines(f"flext-logging: {error}"), file=sys.stderr)
        return _EXIT_USAGE
    except BrokenPipeError:  # `| head`, `less` quit: the reader is gone, which is no error
        from flext_logging.cli.plain import devnull_stdout

        devnull_stdout()
        return _EXIT_FOUND
    except KeyboardInterrupt:
        return _EXIT_INTERRUPTED
    except OSError as error:
        if error.errno not in _OUTPUT_ERRORS:
            raise
        # The output is incomplete: say so once, without a traceback.
        print(f"flext-logging: cannot write the output: {error.strerror}", file=sys.stderr)
        return _EXIT_OUTPUT_FAILED


_AMBIGUOUS_SHOWN: Final = 5
"""How many of the ids a short id starts the message names."""

# Write errors that end the command: the destination accepts no more.
_OUTPUT_ERRORS: Final = frozenset((errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EFBIG))


def _check_source(args: argparse.Namespace) -> None:
    """``--source`` reads a table: no files beside it, and ids only in the id columns."""
    from flext_logging.cli.filters import UsageError

    if args.files:
        raise UsageError("--source reads a ClickHouse table: name no FILE as well")
    if args.id_field:
        raise UsageError(
            "--id-field looks into files; in a ClickHouse table the ids are its id columns"
        )


def _import_render() -> None:
    """Import rich and the renderers (some 35 ms), while a search runs in the workers."""
    from flext_logging.cli import render  # noqa: F401 - imported for later, not used here


def _trace(args: argparse.Namespace, sources: list[str], early: dict[str, search.Searcher]) -> int:
    from flext_logging.cli import plain, progress
    from flext_logging.cli.reading import total_size
    from flext_logging.cli.tree import build_tree, collect_from, collect_records

    # Written to a pipe or a file, the tree is plain text: rich is not even imported.
    rich_draws = args.format == "timeline" or (
        args.format == "tree" and not plain.draws_plain(sys.stdout, width=args.width)
    )
    reader = _reader(args)
    reader.adopt({source: early.pop(source) for source in sources if source in early})
    if args.source is not None:
        from flext_logging.cli.clickhouse import ClickHouseSource

        table = ClickHouseSource.open(args.source)
        with reader:
            found = collect_from(table.search(reader), args.id, by=args.by)
    else:
        with progress.progress(total_size(sources)) as advance:
            found = collect_records(
                sources,
                args.id,
                reader,
                by=args.by,
                progress=advance,
                meanwhile=_import_render if rich_draws else None,
            )
    _report(reader)
    if found.by is None or not found.records:
        if found.ambiguous:
            listed = ", ".join(plain.safe(one) for one in found.ambiguous[:_AMBIGUOUS_SHOWN])
            more = ", …" if len(found.ambiguous) > _AMBIGUOUS_SHOWN else ""
            print(
                f"flext-logging: {plain.safe(args.id)!r} is the start of"
                f" {len(found.ambiguous)} ids ({listed}{more}); give more of it",
                file=sys.stderr,
            )
            return _EXIT_NOT_FOUND
        print(f"flext-logging: no record of {plain.safe(args.id)!r} found", file=sys.stderr)
        if found.unmatched_lines:
            lines = "line contains" if found.unmatched_lines == 1 else "lines contain"
            print(
                f"flext-logging: {found.unmatched_lines} {lines} {plain.safe(args.id)!r}"
                " but no correlation/request/trace field holds it; try --id-field FIELD",
                file=sys.stderr,
            )
        return _EXIT_NOT_FOUND
    root = build_tree(found.records, found.ident or args.id, found.by)
    view = _view(args)
    if args.format == "json":
        sys.stdout.write(plain.render_json(root, with_records=args.with_records))
    elif rich_draws or not plain.render_tree(
        root, sys.stdout, with_records=args.with_records, view=view
    ):
        _draw_with_rich(args, root, view)
    sys.stdout.flush()
    return _EXIT_FOUND


def _draw_with_rich(args: argparse.Namespace, root: Node, view: View) -> None:
    """Draw the tree or the timeline with rich: on a terminal, at a ``--width``, styled."""
    from flext_logging.cli import render

    if args.format == "timeline":
        console = render.new_console(width=args.width, width_off_terminal=render.TIMELINE_WIDTH)
        render.render_timeline(root, console, view=view)
    else:
        console = render.new_console(width=args.width)
        render.render_tree(root, console, with_records=args.with_records, view=view)


def _requests(args: argparse.Namespace, sources: list[str]) -> int:
    from flext_logging.cli import progress, render
    from flext_logging.cli.listing import REQUEST_COLUMNS, collect_requests, select
    from flext_logging.cli.reading import RecordFilter, total_size

    record_filter = RecordFilter(where=args.where, since=args.since, until=args.until)
    with (
        _reader(args, with_filter=False) as reader,
        progress.progress(total_size(sources)) as advance,
    ):
        found = collect_requests(sources, reader, progress=advance)
    rows = select(found, record_filter=record_filter, failed=args.failed, slowest=args.slowest)
    view = _view(args)
    if args.format == "table":
        render.render_table(
            render.new_console(width=args.width),
            None,
            [
                ("id", False),
                ("start", False),
                ("service", False),
                ("route", False),
                ("duration", True),
                ("status", False),
                ("below", True),
                ("error code", False),
            ],
            [
                (
                    view.ident(row.id),
                    view.clock(row.start_s),
                    row.service or "-",
                    row.route or "-",
                    render.duration(row.duration_ms),
                    row.status if row.status_code is None else f"{row.status} {row.status_code}",
                    str(row.failed_below) if row.failed_below else "-",
                    row.error_code or "-",
                )
                for row in rows
            ],
        )
    else:
        _write_data([row.to_data() for row in rows], args.format, REQUEST_COLUMNS)
    _report(reader)
    return _EXIT_FOUND


def _write_data(rows: list[dict[str, Any]], form: str, columns: Sequence[str]) -> None:
    """Write *rows* as JSON (a list of objects) or CSV (a header, then one line each)."""
    import csv
    import io

    from flext_logging.cli import plain

    if form == "json":
        sys.stdout.write(plain.dump_json(rows, indent=True))
        return
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if value is None else plain.safe(value) for value in row.values()])
    sys.stdout.write(buffer.getvalue())


# -- pretty ------------------------------------------------------------------------------------

_Item = tuple[float, int, bytes, "dict[str, Any] | None"]


def _pretty_source(
    reader: Reader, source: str, advance: Callable[[int], None], sequence: Iterator[int]
) -> Iterator[_Item]:
    """Yield a sort key and what to print for every line of *source* to print.

    A line that is not a record sorts with the record before it (a traceback stays
    under the record it belongs to).
    """
    from flext_logging.cli.times import record_seconds

    last = 0.0
    filtering = reader.filter is not None
    for line, record, is_record in reader.lines(source, progress=advance):
        if record is None:
            if not is_record and not filtering:
                yield last, next(sequence), line, None
            continue
        seconds = record_seconds(record)
        if seconds is not None:
            last = seconds
        yield last, next(sequence), line, record


def _in_time_order(items: Iterator[_Item]) -> Iterator[_Item]:
    """Sort a stream by time within a window of :data:`_MERGE_WINDOW` lines."""
    import heapq

    window: list[_Item] = []
    for item in items:
        if len(window) >= _MERGE_WINDOW:
            yield heapq.heappushpop(window, item)
        else:
            heapq.heappush(window, item)
    while window:
        yield heapq.heappop(window)


def _pretty(args: argparse.Namespace, sources: list[str]) -> int:
    import heapq
    import itertools

    from flext_logging.cli import progress, render
    from flext_logging.cli.reading import UsageError, total_size

    if args.follow:
        if len(sources) != 1 or sources[0] == _STDIN:
            raise UsageError("--follow needs exactly one file")
        follow(sources[0], width=args.width, record_filter=_reader(args).filter, view=_view(args))
        return _EXIT_FOUND
    reader = _reader(args)
    console = render.new_console(width=args.width)
    view = _view(args)
    sequence = itertools.count()
    with progress.progress(total_size(sources)) as advance:
        streams = [_pretty_source(reader, source, advance, sequence) for source in sources]
        merged = streams[0] if len(streams) == 1 else _in_time_order(heapq.merge(*streams))
        for _, _, line, record in merged:
            render.print_line(console, line, record, view)
    _report(reader)
    return _EXIT_FOUND


def follow(
    path: str,
    *,
    width: int | None = None,
    output: IO[str] | None = None,
    record_filter: RecordFilter | None = None,
    stop: Callable[[], bool] = lambda: False,
    poll_interval: float = 0.25,
    view: View | None = None,
    schema: Schema | None = None,
) -> None:
    """Print the lines of a growing file as ``pretty`` does, until *stop* says so.

    Lines go to *output* (default: stdout) rendered at *width* (default: the terminal's,
    and whole lines when *output* is not a terminal).
    """
    from flext_logging.cli import render
    from flext_logging.cli.fields import Schema
    from flext_logging.cli.reading import follow_lines, parse_line

    console = render.new_console(width=width, file=output)
    schema = schema or Schema()
    keep = record_filter if record_filter is not None and record_filter.active else None
    for line in follow_lines(path, poll_interval=poll_interval, stop=stop):
        raw = parse_line(line)
        record = schema.normalize(raw) if raw is not None else None
        if keep is not None and (record is None or not keep(record, raw)):
            continue
        render.print_line(console, line, record, view)


# -- stats -------------------------------------------------------------------------------------


def _stats(args: argparse.Namespace, sources: list[str]) -> int:
    from flext_logging.cli import progress, render
    from flext_logging.cli.reading import UsageError, total_size
    from flext_logging.cli.stats import Stats, parse_every

    every_s = None
    if args.every is not None:
        every_s = parse_every(args.every)
        if every_s is None:
            raise UsageError(f"--every needs a length like 30s, 1m, 1h or 1d, got {args.every!r}")
    reader = _reader(args)
    stats = Stats(group=args.by or "name", every_s=every_s)
    if args.source is not None:
        from flext_logging.cli.clickhouse import ClickHouseSource

        stats.add_all(ClickHouseSource.open(args.source).records(reader))
    else:
        with progress.progress(total_size(sources)) as advance:
            for source in sources:
                stats.add_all(reader.records(source, progress=advance))
    view = _view(args)
    rows = stats.rows()
    if args.format == "table":
        render.render_stats(stats, render.new_console(width=args.width), view=view)
    else:
        data = [
            {
                **({"time": render.instant(row.bucket, view)} if every_s is not None else {}),
                (args.by or "name"): row.name,
                **dict(
                    zip(
                        _STAT_COLUMNS,
                        (row.count, row.errors, row.p50, row.p95, row.p99),
                        strict=True,
                    )
                ),
            }
            for row in rows
        ]
        columns = [*(["time"] if every_s is not None else []), args.by or "name", *_STAT_COLUMNS]
        _write_data(data, args.format, columns)
    _report(reader)
    return _EXIT_FOUND
