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
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import IO, Any, Final

try:
    import stringzilla
except ImportError:  # pragma: no cover - a wheel exists for every platform we test on
    stringzilla = None


__all__ = [
    "MANY_NEEDLES",
    "RANGE_BYTES",
    "Needles",
    "Searcher",
    "find_lines",
    "leave_workers_at_exit",
    "searchable",
]

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
        if len(self.needles) >= MANY_NEEDLES:
            self._automaton = _automaton(self.needles)

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


def _automaton(needles: Sequence[bytes]) -> Any:
    """An Aho-Corasick automaton of *needles*, or ``None`` (one search per needle then).

    Imported only for a fan-out: a plain ``trace`` starts searching sooner without it.
    """
    try:
        import ahocorasick_rs
    except ImportError:  # pragma: no cover - a wheel exists for every platform we test on
        return None
    return ahocorasick_rs.BytesAhoCorasick(list(needles))


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
def _mapped(path: str) -> Iterator[tuple[Any, int]]:
    """Map *path* for reading; yield it (``find``, ``rfind``, slicing, a buffer) and its size."""
    if stringzilla is not None:
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


def _search(
    text: Any,
    size: int,
    needles: Needles,
    span: tuple[int, int],
    report: Callable[[int], None] | None,
) -> Iterator[Line]:
    """Yield (offset, line) for each line holding a needle that starts in *span*, in order.

    A line is cut out whole even where it runs out of *span*; a line two workers both
    saw (a hit on each side of their boundary) is dropped by the caller.
    """
    first, last = span
    for start in range(first, last, RANGE_BYTES):
        end = min(start + RANGE_BYTES, last)
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


# Messages between the searcher and its workers. A request is a count of needles, then
# each needle's length and bytes; a reply is progress counts and lines, then an end.
_PROGRESS: Final = b"P"
_LINE: Final = b"L"
_END: Final = b"E"
_HEADER: Final = struct.Struct("<cQQ")
_COUNT: Final = struct.Struct("<Q")
_FAILED_EXIT: Final = 70
SPLIT_BYTES: Final = 64 * 1024 * 1024
"""Files at least this large (64 MiB) are searched by one worker per CPU, up to four."""
_MAX_WORKERS: Final = 4
_PARENT_ENDS: set[int] = set()
"""This process's ends of every worker's pipes: a new worker must not hold them open,
or the worker they lead to would never see the end of its requests."""
_wait_for_workers = True
_LEFT: list[int] = []
"""Workers told to stop and not waited for (see :func:`leave_workers_at_exit`)."""


def leave_workers_at_exit() -> None:
    """Let :meth:`Searcher.close` stop the workers without waiting for them to exit.

    For a process that is about to end (the ``flext-logging`` executable): a worker
    that has answered has nothing more to say, but its exit unmaps the file, which
    would delay the end of the command by as much as a search takes. The workers hold
    neither the standard output nor the standard error, so whoever reads the command's
    output sees its end when the command ends; the system reaps the workers, as it
    reaps any orphan.
    """
    global _wait_for_workers  # noqa: PLW0603 - one switch for the whole process
    _wait_for_workers = False


def _read_exactly(stream: IO[bytes], count: int) -> bytes | None:
    data = stream.read(count)
    return data if len(data) == count else None


def _spans(size: int) -> list[tuple[int, int]]:
    workers = min(_MAX_WORKERS, os.cpu_count() or 1) if size >= SPLIT_BYTES else 1
    step = -(-size // workers)
    return [(start, min(start + step, size)) for start in range(0, size, step)] or [(0, 0)]


class Searcher:
    """Searches one regular file for any number of needle sets, mapping it only once.

    The file is mapped by worker processes (one per CPU, up to four, for a large file),
    each searching its share, so that SIGBUS from a file truncated under the mapping
    kills a worker, never this process. Use as a context manager, or :meth:`close`.
    """

    __slots__ = ("_broken", "_pending", "_workers", "path")

    def __init__(self, path: str) -> None:
        self.path = path
        self._broken = False
        self._pending: tuple[bytes, ...] | None = None
        """The needles of a request sent by :meth:`start` whose replies are not read yet."""
        self._workers: list[tuple[int, IO[bytes], IO[bytes]]] = []
        """(pid, requests to it, replies from it) of each worker."""
        size = os.stat(path).st_size
        for span in _spans(size):
            self._start(span)

    def _start(self, span: tuple[int, int]) -> None:
        worker_reads, parent_writes = os.pipe()
        parent_reads, worker_writes = os.pipe()
        with warnings.catch_warnings():
            # The worker only searches and leaves through os._exit: it never takes a
            # lock another thread (a progress bar's) might hold.
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the worker, which coverage does not follow
            _detach_standard_streams()
            os.close(parent_writes)
            os.close(parent_reads)
            for descriptor in _PARENT_ENDS:  # the other workers' pipes, of every searcher
                with suppress(OSError):
                    os.close(descriptor)
            _serve(self.path, span, worker_reads, worker_writes)
        os.close(worker_reads)
        os.close(worker_writes)
        _PARENT_ENDS.update((parent_writes, parent_reads))
        self._workers.append((pid, os.fdopen(parent_writes, "wb"), os.fdopen(parent_reads, "rb")))

    def start(self, needles: Needles) -> None:
        """Have the workers start searching for *needles* now, without waiting for them.

        The process goes on with other work (``trace`` imports what it needs to parse
        and draw) while the file is searched; the :meth:`find` with the same needles
        then only collects the lines.
        """
        if self._pending is None and self._send(needles):
            self._pending = needles.needles

    def _send(self, needles: Needles) -> bool:
        if self._broken:
            return False
        request = _COUNT.pack(len(needles.needles)) + b"".join(
            _COUNT.pack(len(needle)) + needle for needle in needles.needles
        )
        try:
            for _, requests, _ in self._workers:
                requests.write(request)
                requests.flush()
        except (BrokenPipeError, ConnectionError):
            self._broken = True
        return not self._broken

    def _collect(self, progress: Callable[[int], None] | None) -> list[Line] | None:
        lines: list[Line] = []
        try:
            for _, _, replies in self._workers:
                if not _receive(replies, lines, progress):
                    self._broken = True
        except ConnectionError:
            self._broken = True
        return None if self._broken else _unique(lines)

    def find(
        self,
        needles: Needles,
        *,
        progress: Callable[[int], None] | None = None,
        meanwhile: Callable[[], None] | None = None,
    ) -> list[Line] | None:
        """Return (offset, line) of each line holding a needle, in file order, each once.

        *meanwhile* is called once the workers are searching, before their lines are
        waited for. Returns ``None`` when a worker died (the file changed under it):
        the caller reads the file as a stream instead.
        """
        pending, self._pending = self._pending, None
        if pending is not None and pending != needles.needles:
            self._collect(None)  # started for other needles: its lines are not wanted
            pending = None
        if pending is None and not self._send(needles):
            return None
        if meanwhile is not None:
            meanwhile()
        return self._collect(progress)

    def close(self) -> None:
        """Stop the workers, and wait for them unless :func:`leave_workers_at_exit` was called.

        Every worker is told to stop before any is waited for: each unmaps the file as it
        exits (some 10 ms per 512 MiB searched), and they do it side by side.
        """
        workers, self._workers = self._workers, []
        for _, requests, replies in workers:
            _PARENT_ENDS.difference_update((requests.fileno(), replies.fileno()))
            with suppress(OSError):
                requests.close()
            replies.close()
        for pid, _, _ in workers:
            if _wait_for_workers:
                _reap(pid)
            else:
                _LEFT.append(pid)
        _LEFT[:] = [pid for pid in _LEFT if not _exited(pid)]  # zombies of earlier files

    def __enter__(self) -> Searcher:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def find_lines(
    path: str, needles: Needles, *, progress: Callable[[int], None] | None = None
) -> list[Line] | None:
    """Return (offset, line) of each line of *path* holding a needle, in file order.

    Each line comes once, without its line ending, however many needles it holds.
    *progress* is told how many bytes were searched, every :data:`RANGE_BYTES`.
    Returns ``None`` when the file changed under the search (the caller reads it again).
    """
    if not in_child:
        with _mapped(path) as (text, size):
            return _unique(_search(text, size, needles, (0, size), progress))
    try:
        searcher = Searcher(path)
    except OSError:
        return None
    with searcher:
        return searcher.find(needles, progress=progress)


def _exited(pid: int) -> bool:
    """Reap worker *pid* if it has exited, without waiting; return whether it is gone."""
    try:
        return os.waitpid(pid, os.WNOHANG)[0] != 0
    except ChildProcessError:  # reaped already
        return True


def _reap(pid: int) -> int:
    try:
        return os.waitpid(pid, 0)[1]
    except KeyboardInterrupt:
        with suppress(OSError):
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise
    except ChildProcessError:  # already reaped
        return 0


def _detach_standard_streams() -> None:  # pragma: no cover - runs in the worker
    """Point the worker's stdin, stdout and stderr at /dev/null.

    The worker writes only to its pipe; holding the command's output open would make
    whoever reads it (``| less``, a test, a benchmark) wait for the worker's exit too.
    """
    with suppress(OSError):
        null = os.open(os.devnull, os.O_RDWR)
        for descriptor in (0, 1, 2):
            os.dup2(null, descriptor)
        if null > 2:  # not one of the three it now stands for
            os.close(null)


def _serve(
    path: str, span: tuple[int, int], requests_fd: int, replies_fd: int
) -> None:  # pragma: no cover
    """The worker: map *path* once, then answer each request for its *span*, until EOF."""
    status = 0
    try:
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C: the parent reports it
        with (
            os.fdopen(requests_fd, "rb") as requests,
            os.fdopen(replies_fd, "wb", buffering=1024 * 1024) as out,
            _mapped(path) as (text, size),
        ):

            def report(count: int) -> None:
                out.write(_HEADER.pack(_PROGRESS, count, 0))
                out.flush()

            first, last = min(span[0], size), min(span[1], size)
            while (header := _read_exactly(requests, _COUNT.size)) is not None:
                needles = []
                for _ in range(_COUNT.unpack(header)[0]):
                    length = _read_exactly(requests, _COUNT.size)
                    needle = _read_exactly(requests, _COUNT.unpack(length)[0]) if length else None
                    if needle is None:
                        raise EOFError
                    needles.append(needle)
                for offset, line in _search(text, size, Needles(needles), (first, last), report):
                    out.write(_HEADER.pack(_LINE, offset, len(line)))
                    out.write(line)
                out.write(_HEADER.pack(_END, 0, 0))
                out.flush()
    except BaseException:  # noqa: BLE001 - any failure: the parent reads the file itself
        status = _FAILED_EXIT
    os._exit(status)


def _receive(replies: IO[bytes], lines: list[Line], progress: Callable[[int], None] | None) -> bool:
    """Add one reply's lines to *lines*; return whether it came whole."""
    while (header := _read_exactly(replies, _HEADER.size)) is not None:
        kind, first, second = _HEADER.unpack(header)
        if kind == _END:
            return True
        if kind == _PROGRESS:
            if progress is not None:
                progress(first)
            continue
        line = _read_exactly(replies, second)
        if line is None:
            return False
        lines.append((first, line))
    return False


def _unique(lines: Iterable[Line]) -> list[Line]:
    """The lines in offset order, each once (two ranges may both cut out the same line)."""
    unique: dict[int, bytes] = {}
    for offset, line in lines:
        unique.setdefault(offset, line)
    return [(offset, unique[offset]) for offset in sorted(unique)]
