"""Reading JSON-lines logs: files, globs, ``.gz`` files and stdin, filtered and merged.

Nothing here knows about trees or terminals. Lines are read as bytes in large chunks;
a line that is not a JSON object (a library printing to stdout, a line cut by a crash)
is counted in :class:`ReadStats`, never fatal. For ``trace`` only the lines that hold
the id as a byte string are parsed (found by :mod:`flext_logging.cli.search` in regular
files), which is what keeps a scan of a large file close to the speed of ``grep -F``.
"""

from __future__ import annotations

import datetime
import glob
import gzip
import heapq
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Final

import orjson

from flext_logging import keys
from flext_logging.cli import search

__all__ = [
    "CHUNK_SIZE",
    "STDIN",
    "ReadStats",
    "RecordFilter",
    "UsageError",
    "expand_sources",
    "follow_lines",
    "iter_lines",
    "lookup",
    "merge_by_time",
    "parse_line",
    "parse_time",
    "read_records",
    "record_time",
    "scan_lines",
    "total_size",
]

STDIN: Final = "-"
"""The source name that stands for standard input."""
CHUNK_SIZE: Final = 4 * 1024 * 1024
"""How many bytes are read at once (4 MiB): few system calls, bounded memory."""

Progress = Callable[[int], None]
"""A callback told how many more bytes of input were read."""


class UsageError(Exception):
    """A command line that cannot be run: a missing file, a malformed filter or time."""


@dataclass
class ReadStats:
    """What reading saw: lines read, and lines skipped because they were not records."""

    lines: int = 0
    bad_lines: int = 0
    bad_sources: list[str] = field(default_factory=list)
    """Sources named by a bad line, each once, in the order first seen."""

    def count_bad(self, source: str) -> None:
        """Count one line of *source* that is not a JSON object."""
        self.bad_lines += 1
        if source not in self.bad_sources:
            self.bad_sources.append(source)

    def summary(self) -> str | None:
        """Return the line reported on stderr at the end, or ``None`` when all was well."""
        if not self.bad_lines:
            return None
        what = (
            "line that was not a JSON record"
            if self.bad_lines == 1
            else "lines that were not JSON records"
        )
        return f"flext-logging: skipped {self.bad_lines} {what} (in {', '.join(self.bad_sources)})"


def expand_sources(patterns: Sequence[str]) -> list[str]:
    """Turn file names, globs and ``-`` into the list of sources to read, in order.

    No pattern means stdin. Raises :class:`UsageError` for a name or glob that matches
    nothing, so a typo is reported instead of read as an empty log.
    """
    if not patterns:
        return [STDIN]
    sources: list[str] = []
    for pattern in patterns:
        if pattern == STDIN or os.path.exists(pattern):
            sources.append(pattern)
            continue
        matches = sorted(glob.glob(pattern))
        if not matches:
            raise UsageError(f"no such file: {pattern}")
        sources.extend(matches)
    return sources


def total_size(sources: Iterable[str]) -> int:
    """Return the bytes on disk of *sources* (stdin counts as nothing)."""
    return sum(os.path.getsize(source) for source in sources if source != STDIN)


def _open(source: str) -> BinaryIO:
    if source == STDIN:
        return sys.stdin.buffer
    with open(source, "rb") as probe:
        magic = probe.read(2)
    if magic == b"\x1f\x8b":  # gzip, whatever the file is called
        # GzipFile is a BufferedIOBase; typeshed does not call it a BinaryIO.
        return gzip.open(source, "rb")  # type: ignore[return-value]
    return open(source, "rb")


def _chunks(source: str, progress: Progress | None) -> Iterator[bytes]:
    stream = _open(source)
    try:
        while chunk := stream.read(CHUNK_SIZE):
            if progress is not None:
                progress(len(chunk))
            yield chunk
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()


def iter_lines(source: str, *, progress: Progress | None = None) -> Iterator[bytes]:
    """Yield the lines of *source* as bytes, without line endings, empty lines skipped."""
    return scan_lines(source, (), progress=progress)


def scan_lines(
    source: str, needles: Sequence[bytes], *, progress: Progress | None = None
) -> Iterator[bytes]:
    """Yield the lines of *source* that contain one of *needles* (every line if none).

    With needles, a regular file is searched in place by :func:`search.find_lines`.
    Other sources are read in chunks; a chunk that contains no needle at all is skipped
    without being split into lines, only the partial line at its end is carried over
    to the next chunk.
    """
    if needles and search.searchable(source):
        yield from search.find_lines(source, needles, progress=progress)
        return
    rest = b""
    for chunk in _chunks(source, progress):
        cut = chunk.rfind(b"\n")
        if cut < 0:
            rest += chunk
            continue
        if needles and not any(needle in chunk for needle in needles):
            # The common case: no needle in this chunk. Only the line that straddles the
            # previous chunk can still hold one; nothing big is copied.
            first = chunk.find(b"\n")
            yield from _matching(rest + chunk[:first], needles)
        else:
            yield from _matching(rest + chunk[: cut + 1], needles)
        rest = chunk[cut + 1 :]
    if rest:
        yield from _matching(rest, needles)


def _matching(block: bytes, needles: Sequence[bytes]) -> Iterator[bytes]:
    if needles and not any(needle in block for needle in needles):
        return
    for raw in block.split(b"\n"):
        line = raw.rstrip(b"\r")
        if not line.strip():
            continue
        if not needles or any(needle in line for needle in needles):
            yield line


def parse_line(line: bytes) -> dict[str, Any] | None:
    """Return *line* parsed as a JSON object, or ``None`` when it is not one."""
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    return record if isinstance(record, dict) else None


def parse_time(text: str) -> datetime.datetime:
    """Parse an RFC 3339 time (``Z`` or an offset; a date alone means midnight UTC).

    Raises :class:`UsageError` when *text* is not such a time.
    """
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        moment = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(f"not an RFC 3339 time: {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment


def record_time(record: dict[str, Any]) -> datetime.datetime | None:
    """Return the record's ``timestamp`` as an aware datetime, or ``None`` if unreadable."""
    value = record.get(keys.TIMESTAMP)
    if not isinstance(value, str):
        return None
    try:
        return parse_time(value)
    except UsageError:
        return None


_MISSING: Final = object()


def lookup(record: dict[str, Any], path: Sequence[str]) -> object:
    """Return the value at the dotted *path* of *record*, or a sentinel when absent."""
    value: object = record
    for part in path:
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _as_text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return orjson.dumps(value).decode()
    return str(value)


class RecordFilter:
    """The ``--where key=value``, ``--since`` and ``--until`` filters of every command.

    A ``--where`` key may be dotted (``error.code``) and its value is compared as text,
    so ``status_code=500`` matches the number 500. Several ``--where`` must all match.
    ``--since`` is inclusive, ``--until`` exclusive; a record without a readable
    timestamp never passes a time filter.
    """

    __slots__ = ("_since", "_until", "_where")

    def __init__(
        self,
        *,
        where: Sequence[str] = (),
        since: str | None = None,
        until: str | None = None,
    ) -> None:
        self._where: list[tuple[tuple[str, ...], str]] = []
        for expression in where:
            name, equals, value = expression.partition("=")
            if not equals or not name:
                raise UsageError(f"--where needs key=value, got {expression!r}")
            self._where.append((tuple(name.split(".")), value))
        self._since = parse_time(since) if since is not None else None
        self._until = parse_time(until) if until is not None else None

    @property
    def active(self) -> bool:
        """Whether any filter was given (when not, every record passes)."""
        return bool(self._where) or self._since is not None or self._until is not None

    def __call__(self, record: dict[str, Any]) -> bool:
        """Return whether *record* passes every filter."""
        for path, expected in self._where:
            value = lookup(record, path)
            if value is _MISSING or _as_text(value) != expected:
                return False
        if self._since is not None or self._until is not None:
            moment = record_time(record)
            if moment is None:
                return False
            if self._since is not None and moment < self._since:
                return False
            if self._until is not None and moment >= self._until:
                return False
        return True


def read_records(
    source: str,
    stats: ReadStats,
    *,
    needles: Sequence[bytes] = (),
    record_filter: RecordFilter | None = None,
    progress: Progress | None = None,
) -> Iterator[dict[str, Any]]:
    """Yield the records of *source* that contain a needle and pass *record_filter*.

    Lines that are not JSON objects are counted in *stats* and skipped.
    """
    for line in scan_lines(source, needles, progress=progress):
        stats.lines += 1
        record = parse_line(line)
        if record is None:
            stats.count_bad(source)
            continue
        if record_filter is None or record_filter(record):
            yield record


def _sort_key(record: dict[str, Any]) -> str:
    value = record.get(keys.TIMESTAMP)
    return value if isinstance(value, str) else ""


def merge_by_time(streams: Iterable[Iterator[dict[str, Any]]]) -> Iterator[dict[str, Any]]:
    """Merge record streams, each in time order, into one in time order.

    Timestamps are compared as written: flext-logging writes them all in one UTC form,
    so text order is time order. Streams are read lazily, one record ahead each.
    """
    return heapq.merge(*streams, key=_sort_key)


def follow_lines(
    path: str,
    *,
    poll_interval: float = 0.25,
    stop: Callable[[], bool] = lambda: False,
    from_start: bool = True,
) -> Iterator[bytes]:
    """Yield the lines of a growing file as they are written, like ``tail -F``.

    A line is yielded only once its newline was written. Rotation is followed: a file
    truncated in place (``copytruncate``) is read again from its start, and when *path*
    names a new file (the old one renamed away), the old one is read to its end and the
    new one from its start. Between polls at end of file *stop* is asked whether to end;
    it is how tests and callers bound the loop.
    """
    stream: BinaryIO = open(path, "rb")  # noqa: SIM115 - replaced on rotation, closed below
    try:
        if not from_start:
            stream.seek(0, os.SEEK_END)
        rest = b""
        while True:
            chunk = stream.read(CHUNK_SIZE)
            if chunk:
                rest += chunk
                *lines, rest = rest.split(b"\n")
                for line in lines:
                    if line.strip():
                        yield line.rstrip(b"\r")
                continue
            if os.fstat(stream.fileno()).st_size < stream.tell():  # truncated in place
                stream.seek(0)
                rest = b""
                continue
            successor = _successor(path, stream)
            if successor is not None:
                if rest.strip():  # the old file's last line, which will never be finished
                    yield rest.rstrip(b"\r")
                stream.close()
                stream, rest = successor, b""
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
