"""Finding the lines of a large log file that hold one of many ids, at the speed of ``grep -F``.

A regular, uncompressed file is memory-mapped and searched in place: only the lines
around a hit are cut out, nothing else is copied or parsed. A few needles are searched
one after the other with StringZilla's SIMD substring search (``mmap.find`` where
StringZilla cannot be imported); many needles at once (the hundreds of child
correlations of a fan-out) with one Aho-Corasick pass (``ahocorasick_rs``), so that the
cost grows with the levels of a tree, not with its width.

A mapped file that shrinks while it is read (``copytruncate`` rotation) makes the
kernel send SIGBUS, which no Python code can catch. So the search runs in a forked
child that sends the lines it found through a pipe: if the child dies, nothing of this
process is lost, and the caller reads the file again as a stream.
"""

from __future__ import annotations

import mmap
import os
import signal
import stat
import struct
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import IO, Any, Final

try:
    import stringzilla
except ImportError:  # pragma: no cover - a wheel exists for every platform we test on
    stringzilla = None

try:
    import ahocorasick_rs
except ImportError:  # pragma: no cover - a wheel exists for every platform we test on
    ahocorasick_rs = None  # type: ignore[assignment]  # the per-needle search is used then

__all__ = ["MANY_NEEDLES", "RANGE_BYTES", "Needles", "find_lines", "searchable"]

RANGE_BYTES: Final = 64 * 1024 * 1024
"""How much of the file is searched between two progress reports (64 MiB)."""
MANY_NEEDLES: Final = 24
"""From this many needles on, one Aho-Corasick pass beats one SIMD pass per needle."""
_GZIP_MAGIC: Final = b"\x1f\x8b"
in_child = hasattr(os, "fork")
"""Whether the search runs in a forked child (everywhere but where there is no fork)."""

Line = tuple[int, bytes]


class Needles:
    """A set of byte strings to search for, with the fastest test for *any* of them."""

    __slots__ = ("_automaton", "longest", "needles")

    def __init__(self, needles: Sequence[bytes]) -> None:
        self.needles = tuple(dict.fromkeys(needle for needle in needles if needle))
        self.longest = max((len(needle) for needle in self.needles), default=0)
        self._automaton: Any = None
        if len(self.needles) >= MANY_NEEDLES and ahocorasick_rs is not None:
            self._automaton = ahocorasick_rs.BytesAhoCorasick(list(self.needles))

    @property
    def many(self) -> bool:
        """Whether the needles are searched in one Aho-Corasick pass."""
        return self._automaton is not None

    def any_in(self, data: bytes, start: int = 0, end: int | None = None) -> bool:
        """Return whether ``data[start:end]`` holds one of the needles."""
        if self._automaton is not None:
            view = memoryview(data)[start:end] if start or end is not None else data
            return bool(self._automaton.find_matches_as_indexes(view))
        stop = len(data) if end is None else end
        return any(data.find(needle, start, stop) >= 0 for needle in self.needles)

    def hits(self, text: Any, start: int, end: int, size: int) -> Iterator[int]:
        """Yield where needles start in ``text[start:end]`` (a hit may run past *end*)."""
        limit = min(size, end + self.longest - 1)
        if self._automaton is not None:
            view = memoryview(text)[start:limit]
            for _, first, _ in self._automaton.find_matches_as_indexes(view):
                if first + start < end:
                    yield first + start
            return
        for needle in self.needles:
            position = start
            bound = min(size, end + len(needle) - 1)
            while (hit := text.find(needle, position, bound)) >= 0:
                yield hit
                position = hit + 1


def searchable(source: str) -> bool:
    """Return whether *source* is a non-empty regular file that is not gzip-compressed."""
    try:
        info = os.stat(source)
    except OSError:
        return False
    if not stat.S_ISREG(info.st_mode) or info.st_size == 0:
        return False
    try:
        with open(source, "rb") as probe:
            return probe.read(2) != _GZIP_MAGIC
    except OSError:
        return False


@contextmanager
def _mapped(path: str, *, simd: bool) -> Iterator[tuple[Any, int]]:
    """Map *path* for reading; yield it (``find``, ``rfind``, slicing) and its size."""
    if simd and stringzilla is not None:
        text = stringzilla.Str(stringzilla.File(path))
        yield text, len(text)
        return
    with open(path, "rb") as stream:
        size = os.fstat(stream.fileno()).st_size
        if size == 0:
            yield b"", 0
            return
        with mmap.mmap(stream.fileno(), size, access=mmap.ACCESS_READ) as mapped:
            yield mapped, size


def _search(path: str, needles: Needles, report: Callable[[int], None] | None) -> Iterator[Line]:
    """Yield (offset, line) for each line of *path* holding a needle, in file order."""
    with _mapped(path, simd=not needles.many) as (text, size):
        for start in range(0, size, RANGE_BYTES):
            end = min(start + RANGE_BYTES, size)
            found: dict[int, int] = {}
            for hit in needles.hits(text, start, end, size):
                line_start = text.rfind(b"\n", 0, hit) + 1
                if line_start in found:
                    continue
                line_end = text.find(b"\n", hit)
                found[line_start] = size if line_end < 0 else line_end
            for line_start in sorted(found):
                line = bytes(text[line_start : found[line_start]])
                yield line_start, line[:-1] if line.endswith(b"\r") else line
            if report is not None:
                report(end - start)


# Messages from the searching child: a progress count, or a line and its offset.
_PROGRESS: Final = b"P"
_LINE: Final = b"L"
_HEADER: Final = struct.Struct("<cQQ")


def find_lines(
    path: str, needles: Needles, *, progress: Callable[[int], None] | None = None
) -> list[Line] | None:
    """Return (offset, line) of each line of *path* holding a needle, in file order.

    Each line comes once, without its line ending, however many needles it holds.
    *progress* is told how many bytes were searched, every :data:`RANGE_BYTES`.
    Returns ``None`` when the file changed under the search (the caller reads it again).
    """
    if not in_child:
        return _unique(_search(path, needles, progress))
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        # The child only searches and exits through os._exit: no lock of another
        # thread (a progress bar's) is ever taken there.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child, which coverage does not follow
        _child(path, needles, read_end, write_end)
    os.close(write_end)
    try:
        with os.fdopen(read_end, "rb") as messages:
            lines = _receive(messages, progress)
    finally:
        _, status = _reap(pid)
    if os.WIFSIGNALED(status) or os.WEXITSTATUS(status) != 0 or lines is None:
        return None
    return lines


def _reap(pid: int) -> tuple[int, int]:
    try:
        return os.waitpid(pid, 0)
    except KeyboardInterrupt:
        with suppress(OSError):
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise


def _child(path: str, needles: Needles, read_end: int, write_end: int) -> None:  # pragma: no cover
    status = 0
    try:
        os.close(read_end)
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C: the parent reports it
        with os.fdopen(write_end, "wb", buffering=1024 * 1024) as out:

            def report(count: int) -> None:
                out.write(_HEADER.pack(_PROGRESS, count, 0))

            for offset, line in _unique(_search(path, needles, report)):
                out.write(_HEADER.pack(_LINE, offset, len(line)))
                out.write(line)
    except BaseException:  # noqa: BLE001 - any failure: the parent reads the file itself
        status = 70
    os._exit(status)


def _receive(messages: IO[bytes], progress: Callable[[int], None] | None) -> list[Line] | None:
    lines: list[Line] = []
    while header := messages.read(_HEADER.size):
        if len(header) < _HEADER.size:
            return None
        kind, first, second = _HEADER.unpack(header)
        if kind == _PROGRESS:
            if progress is not None:
                progress(first)
            continue
        line = messages.read(second)
        if len(line) < second:
            return None
        lines.append((first, line))
    return lines


def _unique(lines: Iterator[Line]) -> list[Line]:
    """The lines in offset order, each once (two ranges may both cut out the same line)."""
    seen: set[int] = set()
    unique: list[Line] = []
    for offset, line in lines:
        if offset not in seen:
            seen.add(offset)
            unique.append((offset, line))
    return unique
