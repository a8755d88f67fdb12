"""Reading JSON-lines logs: files, directories, globs, ``.gz`` files, pipes and stdin.

Nothing here knows about trees or terminals. Every source is opened once and read as
bytes in chunks (so a pipe, a FIFO or ``<(…)`` loses nothing); gzip is recognized by
its magic bytes, on stdin too, and decompressed in bounded steps, a truncated or
corrupt archive reported rather than raised. Lines are bounded: one longer than
:data:`MAX_LINE_BYTES` is skipped and counted, however much of it there is, so a file
without newlines costs constant memory and linear time. A line that is not a JSON
object is counted, never fatal. Records are normalized into our schema by
:class:`~flext_logging.cli.fields.Schema`, whichever library wrote them.

For ``trace`` only the lines that hold one of the ids are parsed: a regular file is
searched in place by :mod:`flext_logging.cli.search`; other sources skip every chunk
that holds none.
"""

from __future__ import annotations

import os
import stat
import sys
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, BinaryIO, Final

import orjson

from flext_logging.cli import search
from flext_logging.cli.fields import Schema
from flext_logging.cli.filters import RecordFilter, UsageError

__all__ = [
    "CHUNK_SIZE",
    "MAX_LINE_BYTES",
    "STDIN",
    "Progress",
    "ReadStats",
    "Reader",
    "RecordFilter",
    "UsageError",
    "expand_sources",
    "follow_lines",
    "iter_lines",
    "parse_line",
    "scan_lines",
    "total_size",
]

STDIN: Final = "-"
"""The source name that stands for standard input."""
CHUNK_SIZE: Final = 4 * 1024 * 1024
"""How many bytes are read at once (4 MiB): few system calls, bounded memory."""
MAX_LINE_BYTES: Final = 16 * 1024 * 1024
"""Lines longer than this (16 MiB) are skipped and counted, never held in memory."""

_GZIP_MAGIC: Final = b"\x1f\x8b"
_BOM: Final = b"\xef\xbb\xbf"
_GZIP_WBITS: Final = 31  # zlib: a gzip header and trailer
_GZIP_SLICE: Final = 64 * 1024
_OPEN_SEARCHERS: Final = 8
"""How many files keep their searching workers between searches (a directory of a
thousand rotated logs must not hold a thousand processes)."""

Progress = Callable[[int], None]
"""A callback told how many more bytes of input were read."""
Line = tuple[int, bytes]
"""A line and the offset it starts at in its (decompressed) source."""


def _plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


@dataclass
class ReadStats:
    """What reading saw: lines read, lines skipped, and sources that could not be read whole."""

    lines: int = 0
    bad_lines: int = 0
    bad_sources: list[str] = field(default_factory=list)
    """Sources named by a bad line, each once, in the order first seen."""
    long_lines: int = 0
    problems: list[str] = field(default_factory=list)
    """One sentence per source that ended early, was corrupt or changed while read."""
    untimed: int = 0
    """Records left out by ``--since``/``--until`` because their time could not be read."""
    _seen_bad: set[tuple[str, int]] = field(default_factory=set, repr=False)

    def count_bad(self, source: str, offset: int | None = None) -> None:
        """Count one line of *source* that is not a JSON object (once per *offset*)."""
        if offset is not None:
            if (source, offset) in self._seen_bad:
                return
            self._seen_bad.add((source, offset))
        self.bad_lines += 1
        if source not in self.bad_sources:
            self.bad_sources.append(source)

    def problem(self, text: str) -> None:
        """Record one sentence about a source that could not be read as it should."""
        if text not in self.problems:
            self.problems.append(text)

    def summary(self) -> str | None:
        """Return the lines reported on stderr at the end, or ``None`` when all was well."""
        lines = [f"flext-logging: {problem}" for problem in self.problems]
        if self.bad_lines:
            what = _plural(
                self.bad_lines,
                "line that was not a JSON record",
                "lines that were not JSON records",
            )
            lines.append(f"flext-logging: skipped {what} (in {', '.join(self.bad_sources)})")
        if self.long_lines:
            what = _plural(self.long_lines, "line", "lines")
            lines.append(
                f"flext-logging: skipped {what} longer than {MAX_LINE_BYTES // (1024 * 1024)} MiB"
            )
        if self.untimed:
            what = _plural(self.untimed, "record", "records")
            lines.append(
                f"flext-logging: {what} without a readable time left out by the time filter"
            )
        return "\n".join(lines) if lines else None


# -- Sources -----------------------------------------------------------------------------


def _identity(path: str) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_dev, info.st_ino) if stat.S_ISREG(info.st_mode) else None


def _directory_files(path: str) -> list[str]:
    """The regular files directly inside *path*, sorted, hidden ones left out (like lnav)."""
    try:
        names = sorted(os.listdir(path))
    except OSError as error:
        raise UsageError(f"cannot read directory {path}: {error.strerror}") from None
    return [
        os.path.join(path, name)
        for name in names
        if not name.startswith(".") and os.path.isfile(os.path.join(path, name))
    ]


def expand_sources(patterns: Sequence[str]) -> list[str]:
    """Turn file names, directories, globs and ``-`` into the sources to read, in order.

    No pattern means stdin. A directory stands for the files in it. A file named twice
    (or through a link) is read once. Raises :class:`UsageError` for a name or glob that
    matches nothing, so a typo is reported instead of read as an empty log.
    """
    if not patterns:
        return [STDIN]
    sources: list[str] = []
    seen: set[tuple[int, int]] = set()

    def add(path: str) -> None:
        identity = _identity(path)
        if identity is not None:
            if identity in seen:
                return
            seen.add(identity)
        sources.append(path)

    for pattern in patterns:
        if pattern == STDIN:
            if STDIN not in sources:
                sources.append(STDIN)
            continue
        if os.path.exists(pattern):
            matches = [pattern]
        else:
            import glob  # only for a pattern that names no file as it is

            matches = sorted(glob.glob(pattern))
        if not matches:
            raise UsageError(f"no such file: {pattern}")
        for match in matches:
            for path in _directory_files(match) if os.path.isdir(match) else [match]:
                add(path)
    return sources


def total_size(sources: Iterable[str]) -> int:
    """Return the bytes on disk of the regular files among *sources* (others count 0)."""
    total = 0
    for source in sources:
        if source == STDIN:
            continue
        try:
            info = os.stat(source)
        except OSError:
            continue
        if stat.S_ISREG(info.st_mode):
            total += info.st_size
    return total


def _raw_chunks(source: str, stats: ReadStats, progress: Progress | None) -> Iterator[bytes]:
    """Yield the bytes of *source* as read, opened once (a pipe can be read only once)."""
    if source == STDIN:
        stream: IO[bytes] = sys.stdin.buffer
    else:
        try:
            stream = open(source, "rb")  # noqa: SIM115 - closed in the finally below
        except OSError as error:
            stats.problem(f"cannot read {source}: {error.strerror}")
            return
    read = getattr(stream, "read1", stream.read)  # a pipe: what is there, not 4 MiB
    try:
        while True:
            try:
                chunk = read(CHUNK_SIZE)
            except OSError as error:
                stats.problem(f"cannot read {source}: {error.strerror}")
                return
            if not chunk:
                return
            if progress is not None:
                progress(len(chunk))
            yield chunk
    finally:
        if source != STDIN:
            stream.close()


def _gunzip(first: bytes, rest: Iterator[bytes], stats: ReadStats, source: str) -> Iterator[bytes]:
    """Decompress gzip members in bounded steps; report a corrupt or cut end.

    Input is fed in small slices, so that what precedes damage is still read, and
    output is taken at most one chunk at a time, so that a "gzip bomb" costs no memory.
    """
    decompressor = zlib.decompressobj(_GZIP_WBITS)
    started = False
    for data in _chain(first, rest):
        for start in range(0, len(data), _GZIP_SLICE):
            pending = data[start : start + _GZIP_SLICE]
            while pending:
                started = True
                try:
                    out = decompressor.decompress(pending, CHUNK_SIZE)
                except zlib.error:
                    stats.problem(f"{source}: corrupt gzip data; read up to the damage")
                    return
                if out:
                    yield out
                if not decompressor.eof:
                    pending = decompressor.unconsumed_tail
                    continue
                pending = decompressor.unused_data
                decompressor, started = zlib.decompressobj(_GZIP_WBITS), False
                if pending and not pending.startswith(_GZIP_MAGIC):
                    if pending.strip(b"\x00"):  # padding of zeros is common and harmless
                        stats.problem(f"{source}: data after the last gzip member ignored")
                    return
    if started:
        tail = decompressor.flush()
        if tail:
            yield tail
        stats.problem(f"{source}: the gzip data ends early (truncated?); read what was there")


def _chain(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    if first:
        yield first
    yield from rest


def _chunks(source: str, stats: ReadStats, progress: Progress | None) -> Iterator[bytes]:
    """Yield the (decompressed) bytes of *source*, gzip detected by its first bytes."""
    raw = _raw_chunks(source, stats, progress)
    first = b""
    for chunk in raw:
        first += chunk
        if len(first) >= len(_GZIP_MAGIC):
            break
    if first.startswith(_GZIP_MAGIC):
        yield from _gunzip(first, raw, stats, source)
    else:
        yield from _chain(first, raw)


class _Splitter:
    """Cuts chunks into lines, whatever the chunk boundaries, bounded by :data:`MAX_LINE_BYTES`.

    With *needles*, only lines holding one come out, and the middle of a chunk holding
    none is not split at all: only the lines straddling its ends are completed.
    """

    __slots__ = (
        "_first",
        "_length",
        "_needles",
        "_pending",
        "_size",
        "_skipping",
        "_stats",
        "offset",
    )

    def __init__(self, stats: ReadStats, needles: search.Needles | None) -> None:
        self._stats, self._needles = stats, needles
        self._pending: list[bytes] = []
        self._size = 0
        self._skipping = False  # inside a line that is already too long
        self._length = 0  # of the pending line, the skipped part of a long one included
        self._first = True
        self.offset = 0
        """Where the pending line starts in the stream."""

    def _skip_bom(self, chunk: bytes) -> bytes:
        """The first chunk without a UTF-8 byte order mark (it would hide the first record)."""
        if self._first:
            self._first = False
            if chunk.startswith(_BOM):
                self.offset = len(_BOM)
                return chunk[len(_BOM) :]
        return chunk

    def _wanted(self, data: bytes, start: int = 0, end: int | None = None) -> bool:
        return self._needles is None or self._needles.any_in(data, start, end)

    def _hold(self, data: bytes) -> None:
        """Keep *data* as (the start of) the pending line, unless the line grows too long."""
        self._length += len(data)
        if self._skipping or not data:
            return
        self._pending.append(data)
        self._size += len(data)
        if self._size > MAX_LINE_BYTES:
            self._stats.long_lines += 1
            self._pending, self._size, self._skipping = [], 0, True

    def feed(self, data: bytes) -> Iterator[Line]:
        """Yield the lines that *data* completes."""
        chunk = self._skip_bom(data)
        cut = chunk.find(b"\n")
        if cut < 0:
            self._hold(chunk)
            return
        if not self._skipping:  # the pending line ends here
            self._hold(chunk[:cut])
            if not self._skipping:
                line = b"".join(self._pending)
                if self._wanted(line):
                    yield from _emit(self.offset, line)
        else:
            self._length += cut
        self.offset += self._length + 1
        self._pending, self._size, self._skipping, self._length = [], 0, False, 0
        last = chunk.rfind(b"\n")
        if last > cut:
            if self._wanted(chunk, cut + 1, last):
                for part in chunk[cut + 1 : last].split(b"\n"):
                    if len(part) > MAX_LINE_BYTES:
                        self._stats.long_lines += 1
                    elif self._wanted(part):
                        yield from _emit(self.offset, part)
                    self.offset += len(part) + 1
            else:
                self.offset += last - cut
        self._hold(chunk[last + 1 :])

    def finish(self) -> Iterator[Line]:
        """Yield the last line, which had no newline."""
        if self._pending and not self._skipping:
            line = b"".join(self._pending)
            if self._wanted(line):
                yield from _emit(self.offset, line)
        self._pending, self._size, self._skipping, self._length = [], 0, False, 0


def _split(
    chunks: Iterable[bytes], stats: ReadStats, needles: search.Needles | None
) -> Iterator[Line]:
    """Yield (offset, line) for every non-empty line of *chunks* (holding a needle)."""
    splitter = _Splitter(stats, needles)
    for chunk in chunks:
        yield from splitter.feed(chunk)
    yield from splitter.finish()


def _emit(offset: int, line: bytes) -> Iterator[Line]:
    if line.endswith(b"\r"):
        line = line[:-1]
    if line and not line.isspace():
        yield offset, line


def iter_lines(
    source: str, stats: ReadStats | None = None, *, progress: Progress | None = None
) -> Iterator[bytes]:
    """Yield the lines of *source* as bytes, without line endings, empty lines skipped."""
    for _, line in scan_lines(
        source, (), stats if stats is not None else ReadStats(), progress=progress
    ):
        yield line


def scan_lines(
    source: str,
    needles: Sequence[bytes],
    stats: ReadStats,
    *,
    progress: Progress | None = None,
    searchers: dict[str, search.Searcher] | None = None,
    meanwhile: Callable[[], None] | None = None,
) -> Iterator[Line]:
    """Yield (offset, line) for the lines of *source* that hold a needle (all if none).

    A regular file is searched in place (by the searcher kept in *searchers* for it,
    when given, so that several searches map it once, and *meanwhile* is called while
    its workers search); should it shrink while searched (rotated by ``copytruncate``),
    it is read again as a stream and the change reported.
    """
    compiled = search.Needles(needles) if needles else None
    if compiled is not None and search.searchable(source):
        if searchers is None or not search.in_child:
            found = search.find_lines(source, compiled, progress=progress)
        else:
            if source not in searchers:
                if len(searchers) >= _OPEN_SEARCHERS:  # many files: keep the last few mapped
                    searchers.pop(next(iter(searchers))).close()
                searchers[source] = search.Searcher(source)
            found = searchers[source].find(compiled, progress=progress, meanwhile=meanwhile)
        if found is not None:
            yield from found
            return
        stats.problem(
            f"{source} changed while it was read (truncated?); read it again as it is now"
        )
    yield from _split(_chunks(source, stats, progress), stats, compiled)


def parse_line(line: bytes) -> dict[str, Any] | None:
    """Return *line* parsed as a JSON object, or ``None`` when it is not one."""
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        if line.startswith(_BOM):
            return parse_line(line[len(_BOM) :])
        return None
    return record if isinstance(record, dict) else None


# -- Records ---------------------------------------------------------------------------------


class Reader:
    """Read records from sources: parsed, normalized to our schema, filtered, counted.

    A file searched more than once (``trace``, level after level) is mapped once, by
    searchers that live until :meth:`close` (or the end of a ``with`` block).
    """

    __slots__ = ("_searchers", "filter", "schema", "stats")

    def __init__(
        self,
        *,
        schema: Schema | None = None,
        record_filter: RecordFilter | None = None,
        stats: ReadStats | None = None,
    ) -> None:
        self.schema = schema if schema is not None else Schema()
        self.stats = stats if stats is not None else ReadStats()
        self.filter = record_filter if record_filter is not None and record_filter.active else None
        if self.filter is not None:
            self.filter.on_untimed = self._count_untimed
        self._searchers: dict[str, search.Searcher] = {}

    def adopt(self, searchers: dict[str, search.Searcher]) -> None:
        """Search these files with these searchers (started early), and close them too."""
        self._searchers.update(searchers)

    def _count_untimed(self) -> None:
        self.stats.untimed += 1

    def close(self) -> None:
        """Stop the searchers of the files searched so far."""
        for searcher in self._searchers.values():
            searcher.close()
        self._searchers.clear()

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def records(
        self,
        source: str,
        *,
        needles: Sequence[bytes] = (),
        progress: Progress | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Yield the records of *source* that hold a needle and pass the filter."""
        for _, record, _ in self.lines(source, needles=needles, progress=progress):
            if record is not None:
                yield record

    def accept(self, raw: dict[str, Any]) -> dict[str, Any] | None:
        """Return a record read from elsewhere than a file (a table's row), normalized and
        counted like a line, or ``None`` when it fails the filter."""
        self.stats.lines += 1
        record = self.schema.normalize(raw)
        keep = self.filter
        return record if keep is None or keep(record, raw) else None

    def lines(
        self,
        source: str,
        *,
        needles: Sequence[bytes] = (),
        progress: Progress | None = None,
        meanwhile: Callable[[], None] | None = None,
    ) -> Iterator[tuple[bytes, dict[str, Any] | None, bool]]:
        """Yield (line, record or ``None``, whether it is a JSON record) for each line read.

        A record that fails the filter is yielded as ``None`` but still marked a record,
        so that ``pretty`` can tell a filtered record from a line that is not JSON.
        *meanwhile* is called, when the file is searched in place, while it is searched.
        """
        stats, schema, keep = self.stats, self.schema, self.filter
        lines = scan_lines(
            source,
            needles,
            stats,
            progress=progress,
            searchers=self._searchers,
            meanwhile=meanwhile,
        )
        for offset, line in lines:
            stats.lines += 1
            raw = parse_line(line)
            if raw is None:
                stats.count_bad(source, offset if needles else None)
                yield line, None, False
                continue
            record = schema.normalize(raw)
            if keep is None or keep(record, raw):
                yield line, record, True
            else:
                yield line, None, True


# -- Following a growing file -------------------------------------------------------------------


def follow_lines(
    path: str,
    *,
    poll_interval: float = 0.25,
    stop: Callable[[], bool] = lambda: False,
    from_start: bool = True,
) -> Iterator[bytes]:
    """Yield the lines of a growing file as they are written, like ``tail -F``.

    A line is yielded only once its newline was written (one longer than
    :data:`MAX_LINE_BYTES` is skipped). Rotation is followed: a file truncated in place
    (``copytruncate``) is read again from its start, and when *path* names a new file
    (the old one renamed away), the old one is read to its end and the new one from its
    start. Between polls at end of file *stop* is asked whether to end.
    """
    stats = ReadStats()
    stream: BinaryIO = open(path, "rb")  # noqa: SIM115 - replaced on rotation, closed below
    try:
        if not from_start:
            stream.seek(0, os.SEEK_END)
        splitter = _Splitter(stats, None)
        while True:
            chunk = stream.read(CHUNK_SIZE)
            if chunk:
                for _, line in splitter.feed(chunk):
                    yield line
                continue
            if os.fstat(stream.fileno()).st_size < stream.tell():  # truncated in place
                stream.seek(0)
                splitter = _Splitter(stats, None)
                continue
            successor = _successor(path, stream)
            if successor is not None:
                for _, line in splitter.finish():  # the old file's unfinished last line
                    yield line
                stream.close()
                stream, splitter = successor, _Splitter(stats, None)
                continue
            if stop():
                return
            time.sleep(poll_interval)
    finally:
        stream.close()


def _successor(path: str, stream: BinaryIO) -> BinaryIO | None:
    """Return *path* opened anew when it no longer names the file *stream* reads."""
    try:
        current = os.stat(path)
    except OSError:  # renamed away and not created again yet: keep waiting
        return None
    reading = os.fstat(stream.fileno())
    if (current.st_ino, current.st_dev) == (reading.st_ino, reading.st_dev):
        return None
    try:
        return open(path, "rb")
    except OSError:
        return None
