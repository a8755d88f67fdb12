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

``trace`` searches a file level after level: the id, then the correlations found in its
lines, then theirs. The first search of a file also looks, block by block while each
block is still in the cache, for the correlation ids of the lines it finds (the ones the
next level is likely to ask for), from where it first saw each one; the workers tell
each other what they saw. The next level then only searches what was not searched yet
for its ids. Every id a level asks for is still searched in the whole file, once: the
searcher keeps, for each id, from where each worker's share has been searched.
"""

from __future__ import annotations

import itertools
import mmap
import os
import stat
import struct
import warnings

from flext_logging import keys

# `trace` forks its workers as soon as this module is loaded: typing, collections.abc,
# contextlib and signal (some 10 ms with the re, enum and functools they load) would
# only delay the search, and StringZilla is imported by the workers that search.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence
    from typing import IO, Any, Final


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
_DFA_AT_MOST: Final = 5000
"""Up to this many needles the automaton is a DFA: a third faster than the library's
default on ids, for some 4 KiB of memory per needle."""
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
    if len(needles) > _DFA_AT_MOST:  # pragma: no cover - a fan-out of thousands
        return ahocorasick_rs.BytesAhoCorasick(list(needles))
    dfa = ahocorasick_rs.Implementation.DFA
    return ahocorasick_rs.BytesAhoCorasick(list(needles), implementation=dfa)


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


_zilla: Any = None
"""StringZilla, once a search imported it; ``False`` where it cannot be (``mmap.find`` then)."""


def _stringzilla() -> Any:
    """StringZilla, imported on first use (in the workers: after the fork), or ``None``."""
    global _zilla  # noqa: PLW0603 - imported once per process
    if _zilla is None:
        try:
            import stringzilla
        except ImportError:  # pragma: no cover - a wheel exists for every platform we test on
            _zilla = False
        else:
            _zilla = stringzilla
    return _zilla or None


class _Mapped:
    """*path* mapped for reading: ``with _Mapped(path) as (text, size)``, where *text* has
    ``find``, ``rfind``, slicing and the buffer protocol."""

    __slots__ = ("_mapping", "_path", "_stream")

    def __init__(self, path: str) -> None:
        self._path = path
        self._stream: IO[bytes] | None = None
        self._mapping: mmap.mmap | None = None

    def __enter__(self) -> tuple[Any, int]:
        zilla = _stringzilla()
        if zilla is not None:
            text = zilla.Str(zilla.File(self._path))
            return text, len(text)
        self._stream = stream = open(self._path, "rb")
        try:
            size = os.fstat(stream.fileno()).st_size
            if size == 0:
                return b"", 0
            self._mapping = mmap.mmap(stream.fileno(), size, access=mmap.ACCESS_READ)
        except BaseException:
            stream.close()
            raise
        return self._mapping, size

    def __exit__(self, *_: object) -> None:
        if self._mapping is not None:
            self._mapping.close()
        if self._stream is not None:
            self._stream.close()


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
            _add_line(found, text, size, hit)
        for line_start in sorted(found):
            line = bytes(text[line_start : found[line_start]])
            yield line_start, line[:-1] if line.endswith(b"\r") else line
        if report is not None:
            report(end - start)


def _add_line(found: dict[int, int], text: Any, size: int, hit: int) -> int:
    """Note the line around *hit* in *found* (its start to its end); return its start."""
    line_start: int = text.rfind(b"\n", 0, hit) + 1
    if line_start not in found:
        line_end = text.find(b"\n", hit)
        found[line_start] = size if line_end < 0 else line_end
    return line_start


def _cut(text: Any, start: int, end: int) -> bytes:
    line = bytes(text[start:end])
    return line[:-1] if line.endswith(b"\r") else line


# -- Following the correlations of the first search ------------------------------------------

FOLLOWED_KEY: Final = f'"{keys.CORRELATION_ID}":'.encode()
"""The field whose values the first search of a file also looks for, in the lines it finds
(``trace``'s next level asks for the correlations of the lines of this one)."""
FOLLOWED_AT_MOST: Final = 8
"""A first search that sees more ids than this to follow (a fan-out) follows none: the
next level's one multi-needle pass is cheaper than this many searches per block."""
_FOLLOW_BLOCK: Final = 2 * 1024 * 1024
"""Followed ids are searched block by block (2 MiB), while each block is in the cache."""
_FOLLOWED_BYTES: Final = 16 * 1024 * 1024
"""A worker that found this much (16 MiB) of lines of followed ids only stops following:
an id seen in a line may be no child at all, but a correlation of a million lines."""
_LONGEST_FOLLOWED: Final = 256
_SLOT_BYTES: Final = 4096
"""Each worker's part of the board: a count, then each id it follows (length, bytes)."""
_SLOT_COUNT: Final = struct.Struct("<I")
_GAVE_UP: Final = 0xFFFFFFFF
"""A slot's count once its worker follows nothing more: the others stop too."""


def followed_ids(line: bytes) -> Iterator[bytes]:
    """Yield the needles of the values of :data:`FOLLOWED_KEY` in *line*, as JSON writes them.

    Only a value a JSON writer writes as its own bytes (printable ASCII, no quote, no
    backslash) is followed: the needle is then exactly what the next level asks for.
    """
    position = line.find(FOLLOWED_KEY)
    while position >= 0:
        start = position + len(FOLLOWED_KEY)
        while start < len(line) and line[start] in b" \t":  # json.dumps writes ": "
            start += 1
        end = line.find(b'"', start + 1) if line.startswith(b'"', start) else -1
        value = line[start + 1 : end] if end > 0 else b""
        if (
            0 < len(value) <= _LONGEST_FOLLOWED
            and value.isascii()
            and b"\\" not in value
            and min(value) >= 0x20  # below the space: escaped in JSON
        ):
            yield b'"' + value + b'"'
        position = line.find(FOLLOWED_KEY, position + 1)


class _Board:
    """Shared memory where the workers of one file post the ids they follow, for each other.

    Worker *index* writes only its own slot, the id first and the count after; another
    worker that reads a slot while it is written may see an id cut short, which it then
    searches for in vain: it follows only what it read, and says so.
    """

    __slots__ = ("_index", "_memory", "_read", "_written")

    def __init__(self, memory: mmap.mmap | None, index: int) -> None:
        self._memory, self._index = memory, index
        self._written = _SLOT_COUNT.size
        slots = len(memory) // _SLOT_BYTES if memory is not None else 0
        self._read = [[0, _SLOT_COUNT.size] for _ in range(slots)]
        """For each slot: how many of its ids were read, and where the next one starts."""

    def post(self, needle: bytes) -> None:
        memory = self._memory
        if memory is None or self._written + 1 + len(needle) > _SLOT_BYTES:
            return
        slot = self._index * _SLOT_BYTES
        count = _SLOT_COUNT.unpack_from(memory, slot)[0]
        if count == _GAVE_UP:
            return
        memory[slot + self._written] = len(needle)
        memory[slot + self._written + 1 : slot + self._written + 1 + len(needle)] = needle
        self._written += 1 + len(needle)
        _SLOT_COUNT.pack_into(memory, slot, count + 1)

    def give_up(self) -> None:
        """Tell the other workers that this one follows nothing more (a fan-out)."""
        if self._memory is not None:
            _SLOT_COUNT.pack_into(self._memory, self._index * _SLOT_BYTES, _GAVE_UP)

    def news(self) -> list[bytes] | None:
        """The ids the other workers posted since the last call; ``None`` once one gave up."""
        memory, news = self._memory, list[bytes]()
        if memory is None:
            return news
        for index, seen in enumerate(self._read):
            if index == self._index:
                continue
            slot = index * _SLOT_BYTES
            count = _SLOT_COUNT.unpack_from(memory, slot)[0]
            if count == _GAVE_UP:
                return None
            while seen[0] < count:
                length = memory[slot + seen[1]]
                end = seen[1] + 1 + length
                if length == 0 or end > _SLOT_BYTES:
                    break
                news.append(bytes(memory[slot + seen[1] + 1 : slot + end]))
                seen[0], seen[1] = seen[0] + 1, end
        return news


class _Following:
    """The ids a first search follows, and from where in its share it searched each."""

    __slots__ = ("_board", "_requested", "abandoned", "since")

    def __init__(self, board: _Board, requested: Sequence[bytes]) -> None:
        self._board, self._requested = board, requested
        self.abandoned = False
        self.since: dict[bytes, tuple[int, Needles]] = {}
        """Each followed id: where its search started, and the search."""

    def _add(self, needle: bytes, block_start: int) -> bool:
        if self.abandoned or needle in self.since:
            return False
        if any(requested in needle for requested in self._requested):
            return False  # its lines hold a requested needle: found anyway
        if len(self.since) >= FOLLOWED_AT_MOST:
            self.abandon()
            return False
        self.since[needle] = (block_start, Needles([needle]))
        return True

    def abandon(self) -> None:
        """Follow nothing from now on, say nothing of what was followed, and have the
        other workers do the same."""
        self.abandoned, self.since = True, {}
        self._board.give_up()

    def learn(self, line: bytes, block_start: int) -> None:
        """Follow the ids of a line found in the block at *block_start*; post the new ones."""
        for needle in followed_ids(line):
            if self._add(needle, block_start):
                self._board.post(needle)

    def listen(self, block_start: int) -> None:
        """Follow what the other workers posted, from the block at *block_start* on."""
        news = self._board.news()
        if news is None:
            self.abandoned, self.since = True, {}
            return
        for needle in news:
            self._add(needle, block_start)


def _search_following(
    text: Any,
    size: int,
    needles: Needles,
    span: tuple[int, int],
    report: Callable[[int], None] | None,
    *,
    following: _Following,
) -> Iterator[tuple[int, bytes, bool]]:
    """Yield (offset, line, whether it holds one of *needles*) as :func:`_search` does,
    and the lines holding an id *following* follows, from the block it was seen in on.

    Blocks are of 2 MiB while an id is followed, so that its search reads them from the
    cache; of 16 MiB while none is (the workers' posts are read between blocks).
    """
    first, last = span
    reported = start = first
    other_bytes = 0
    while start < last and not following.abandoned:
        block = _FOLLOW_BLOCK if following.since else 8 * _FOLLOW_BLOCK
        end = min(start + min(block, RANGE_BYTES), last)
        for offset, line, asked in _block(text, size, needles, (start, end), following):
            other_bytes += 0 if asked else len(line)
            yield offset, line, asked
        if report is not None and (end - reported >= RANGE_BYTES or end == last):
            report(end - reported)
            reported = end
        start = end
        if other_bytes > _FOLLOWED_BYTES:
            following.abandon()
    if start < last:  # too many ids to follow, or too many lines: the rest as a plain search
        if report is not None and start > reported:
            report(start - reported)
        for offset, line in _search(text, size, needles, (start, last), report):
            yield offset, line, True


def _block(
    text: Any, size: int, needles: Needles, block: tuple[int, int], following: _Following
) -> list[tuple[int, bytes, bool]]:
    """The lines of one block: those of *needles*, then those of the ids followed."""
    start, end = block
    found: dict[int, int] = {}
    for hit in needles.hits(text, start, end, size):
        _add_line(found, text, size, hit)
    asked = {line_start: _cut(text, line_start, stop) for line_start, stop in found.items()}
    for line in asked.values():
        following.learn(line, start)
    following.listen(start)
    for _, search in following.since.values():
        for hit in search.hits(text, start, end, size):
            _add_line(found, text, size, hit)
    return [
        (line_start, asked[line_start], True)
        if line_start in asked
        else (line_start, _cut(text, line_start, found[line_start]), False)
        for line_start in sorted(found)
    ]


# Messages between the searcher and its workers. A request is its kind (the first
# search, which follows ids, or one of ranges) and a count of ranges; each range is its
# start, end and count of needles, then each needle's length and bytes. A reply is
# progress counts, lines (of a needle asked for, or of a followed id only) and the ids
# followed (each with where its search started), then an end.
_FIRST: Final = b"F"
_RANGES: Final = b"R"
_REQUEST: Final = struct.Struct("<cQ")
_RANGE: Final = struct.Struct("<QQQ")
_PROGRESS: Final = b"P"
_LINE: Final = b"L"
_OTHER: Final = b"O"
_FOLLOWED: Final = b"W"
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


Plan = list[tuple[int, int, tuple[bytes, ...]]]
"""What one worker is asked to search: ranges of its share, and the needles of each."""


class Searcher:
    """Searches one regular file for any number of needle sets, mapping it only once.

    The file is mapped by worker processes (one per CPU, up to four, for a large file),
    each searching its share, so that SIGBUS from a file truncated under the mapping
    kills a worker, never this process. Every line a worker sends is kept, and for every
    needle, from where each share has been searched: a needle is never searched twice in
    the same bytes (see the module's note on following). Use as a context manager, or
    :meth:`close`.
    """

    __slots__ = (
        "_asking",
        "_board",
        "_broken",
        "_follow",
        "_known",
        "_pending",
        "_searched",
        "_spans",
        "_workers",
        "path",
    )

    def __init__(self, path: str, *, follow: bool = True) -> None:
        self.path = path
        self._broken = False
        self._follow = follow
        """Whether the next request is the first, which follows the ids it sees."""
        self._pending: tuple[bytes, ...] | None = None
        """The needles of a request sent by :meth:`start` whose replies are not read yet."""
        self._known: dict[int, bytes] = {}
        """Every line the workers sent, by offset."""
        self._searched: dict[bytes, list[int]] = {}
        """For each needle, where its search of each share started (it ran to the share's
        end); a share not listed was not searched for it."""
        self._workers: list[tuple[int, IO[bytes], IO[bytes]]] = []
        """(pid, requests to it, replies from it) of each worker."""
        self._asking: list[bool] = []
        """Which workers the request sent last was sent to."""
        self._spans = _spans(os.stat(path).st_size)
        self._board = mmap.mmap(-1, _SLOT_BYTES * len(self._spans)) if follow else None
        for index, span in enumerate(self._spans):
            self._start(index, span)

    def _start(self, index: int, span: tuple[int, int]) -> None:
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
                try:  # noqa: SIM105 - contextlib is not imported (see the imports)
                    os.close(descriptor)
                except OSError:  # noqa: PERF203 - closed already
                    pass
            board = _Board(self._board, index)
            _serve(self.path, span, board, worker_reads, worker_writes)
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

    def _plans(self, needles: Sequence[bytes]) -> list[Plan]:
        """For each worker, the ranges of its share not yet searched for each needle."""
        plans: list[Plan] = []
        for index, (first, last) in enumerate(self._spans):
            by_end: dict[int, list[bytes]] = {}
            for needle in needles:
                since = self._searched.get(needle)
                end = last if since is None else since[index]
                if end > first:
                    by_end.setdefault(end, []).append(needle)
            plans.append([(first, end, tuple(group)) for end, group in by_end.items()])
        return plans

    def _send(self, needles: Needles) -> bool:
        if self._broken:
            return False
        kind, self._follow = (_FIRST if self._follow else _RANGES), False
        plans = self._plans(needles.needles)
        self._asking = [bool(plan) for plan in plans]
        try:
            for (_, requests, _), plan in zip(self._workers, plans, strict=True):
                if plan:  # a worker whose share was searched for all of them is not asked
                    requests.write(_request(kind, plan))
                    requests.flush()
        except (BrokenPipeError, ConnectionError):
            self._broken = True
            return False
        for needle in needles.needles:  # searched in every share, once the replies are in
            self._searched[needle] = [first for first, _ in self._spans]
        return True

    def _collect(self, progress: Callable[[int], None] | None) -> dict[int, bytes] | None:
        """Receive a request's replies: keep every line, return the ones asked for."""
        asked: dict[int, bytes] = {}
        try:
            for index, (_, _, replies) in enumerate(self._workers):
                if self._asking[index] and not self._receive(index, replies, asked, progress):
                    self._broken = True
        except ConnectionError:
            self._broken = True
        return None if self._broken else asked

    def _receive(
        self,
        index: int,
        replies: IO[bytes],
        asked: dict[int, bytes],
        progress: Callable[[int], None] | None,
    ) -> bool:
        """Take one worker's reply to a request; return whether it came whole."""
        while (header := _read_exactly(replies, _HEADER.size)) is not None:
            kind, first, second = _HEADER.unpack(header)
            if kind == _END:
                return True
            if kind == _PROGRESS:
                if progress is not None:
                    progress(first)
                continue
            data = _read_exactly(replies, second)
            if data is None:
                return False
            if kind == _FOLLOWED:
                since = self._searched.setdefault(data, [last for _, last in self._spans])
                since[index] = min(since[index], first)
                continue
            self._known.setdefault(first, data)
            if kind == _LINE:
                asked.setdefault(first, data)
        return False

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
            # Started for other needles: its lines are kept, and what it searched.
            if self._collect(None) is None:
                return None
            pending = None
        earlier = [(offset, line) for offset, line in self._known.items() if needles.any_in(line)]
        if pending is None and not self._send(needles):
            return None
        if meanwhile is not None:
            meanwhile()
        asked = self._collect(progress)
        if asked is None:
            return None
        return _unique(itertools.chain(asked.items(), earlier))

    def close(self) -> None:
        """Stop the workers, and wait for them unless :func:`leave_workers_at_exit` was called.

        Every worker is told to stop before any is waited for: each unmaps the file as it
        exits (some 10 ms per 512 MiB searched), and they do it side by side.
        """
        workers, self._workers = self._workers, []
        for _, requests, replies in workers:
            _PARENT_ENDS.difference_update((requests.fileno(), replies.fileno()))
            try:  # noqa: SIM105 - contextlib is not imported (see the imports)
                requests.close()
            except OSError:  # what was not sent yet is no longer wanted
                pass
            replies.close()
        for pid, _, _ in workers:
            if _wait_for_workers:
                _reap(pid)
            else:
                _LEFT.append(pid)
        _LEFT[:] = [pid for pid in _LEFT if not _exited(pid)]  # zombies of earlier files
        if self._board is not None:
            self._board.close()
            self._board = None

    def __enter__(self) -> Searcher:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _request(kind: bytes, plan: Plan) -> bytes:
    parts = [_REQUEST.pack(kind, len(plan))]
    for start, end, needles in plan:
        parts.append(_RANGE.pack(start, end, len(needles)))
        parts.extend(_COUNT.pack(len(needle)) + needle for needle in needles)
    return b"".join(parts)


def find_lines(
    path: str, needles: Needles, *, progress: Callable[[int], None] | None = None
) -> list[Line] | None:
    """Return (offset, line) of each line of *path* holding a needle, in file order.

    Each line comes once, without its line ending, however many needles it holds.
    *progress* is told how many bytes were searched, every :data:`RANGE_BYTES`.
    Returns ``None`` when the file changed under the search (the caller reads it again).
    """
    if not in_child:
        with _Mapped(path) as (text, size):
            return _unique(_search(text, size, needles, (0, size), progress))
    try:
        searcher = Searcher(path, follow=False)
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
        import signal

        try:  # noqa: SIM105 - contextlib is not imported (see the imports)
            os.kill(pid, signal.SIGKILL)
        except OSError:  # gone already
            pass
        os.waitpid(pid, 0)
        raise
    except ChildProcessError:  # already reaped
        return 0


def _detach_standard_streams() -> None:  # pragma: no cover - runs in the worker
    """Point the worker's stdin, stdout and stderr at /dev/null.

    The worker writes only to its pipe; holding the command's output open would make
    whoever reads it (``| less``, a test, a benchmark) wait for the worker's exit too.
    """
    try:
        null = os.open(os.devnull, os.O_RDWR)
        for descriptor in (0, 1, 2):
            os.dup2(null, descriptor)
        if null > 2:  # not one of the three it now stands for
            os.close(null)
    except OSError:
        pass


def _serve(
    path: str, span: tuple[int, int], board: _Board, requests_fd: int, replies_fd: int
) -> None:  # pragma: no cover
    """The worker: map *path* once, then answer each request for its *span*, until EOF."""
    status = 0
    try:
        # signal's C half: signal.py would import enum, some 10 ms of every worker's start.
        import _signal  # type: ignore[import-not-found]  # no stub: a CPython builtin

        _signal.signal(_signal.SIGINT, _signal.SIG_DFL)  # Ctrl-C: the parent reports it
        with (
            os.fdopen(requests_fd, "rb") as requests,
            os.fdopen(replies_fd, "wb", buffering=1024 * 1024) as out,
            _Mapped(path) as (text, size),
        ):

            def report(count: int) -> None:
                out.write(_HEADER.pack(_PROGRESS, count, 0))
                out.flush()

            while (request := _read_request(requests)) is not None:
                kind, plan = request
                # Every range starts where the share does: the widest tells the progress.
                plan.sort(key=lambda item: item[1], reverse=True)
                for index, (start, end, needles) in enumerate(plan):
                    told = report if index == 0 else None
                    searched = (min(start, size), min(end, size))
                    if kind == _FIRST:
                        following = _Following(board, needles)
                        for offset, line, asked in _search_following(
                            text, size, Needles(needles), searched, told, following=following
                        ):
                            out.write(_HEADER.pack(_LINE if asked else _OTHER, offset, len(line)))
                            out.write(line)
                        for needle, (since, _) in following.since.items():
                            out.write(_HEADER.pack(_FOLLOWED, since, len(needle)))
                            out.write(needle)
                        continue
                    for offset, line in _search(text, size, Needles(needles), searched, told):
                        out.write(_HEADER.pack(_LINE, offset, len(line)))
                        out.write(line)
                out.write(_HEADER.pack(_END, 0, 0))
                out.flush()
    except BaseException:  # noqa: BLE001 - any failure: the parent reads the file itself
        status = _FAILED_EXIT
    os._exit(status)


def _read_request(requests: IO[bytes]) -> tuple[bytes, Plan] | None:  # pragma: no cover
    """The next request of the searcher, or ``None`` at its end; EOFError if cut short."""
    header = _read_exactly(requests, _REQUEST.size)
    if header is None:
        return None
    kind, count = _REQUEST.unpack(header)
    plan: Plan = []
    for _ in range(count):
        head = _read_exactly(requests, _RANGE.size)
        if head is None:
            raise EOFError
        start, end, needle_count = _RANGE.unpack(head)
        needles = []
        for _ in range(needle_count):
            length = _read_exactly(requests, _COUNT.size)
            needle = _read_exactly(requests, _COUNT.unpack(length)[0]) if length else None
            if needle is None:
                raise EOFError
            needles.append(needle)
        plan.append((start, end, tuple(needles)))
    return kind, plan


def _unique(lines: Iterable[Line]) -> list[Line]:
    """The lines in offset order, each once (two ranges may both cut out the same line)."""
    unique: dict[int, bytes] = {}
    for offset, line in lines:
        unique.setdefault(offset, line)
    return [(offset, unique[offset]) for offset in sorted(unique)]
