"""Finding the lines that hold an id in a memory-mapped file, with either search backend."""

from __future__ import annotations

import gzip
import mmap
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flext_logging.cli import search


@pytest.fixture(params=["stringzilla", "mmap", "in-process", "aho-corasick"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test with StringZilla in a child, the ``mmap.find`` fallback, in this process,
    and with the Aho-Corasick search that many needles use."""
    if request.param == "mmap":
        monkeypatch.setattr(search, "_zilla", False)
    if request.param == "in-process":  # what coverage sees of the child's work
        monkeypatch.setattr(search, "in_child", False)
    if request.param == "aho-corasick":
        monkeypatch.setattr(search, "MANY_NEEDLES", 1)
    return str(request.param)


@pytest.mark.usefixtures("backend")
@pytest.mark.parametrize("range_bytes", [3, 7, 64, search.RANGE_BYTES])
def test_lines_holding_a_needle_are_found_whole_across_range_boundaries(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, range_bytes: int
) -> None:
    """Each matching line comes once, whole, in file order, wherever the ranges cut it."""
    monkeypatch.setattr(search, "RANGE_BYTES", range_bytes)
    path = tmp_path / "app.log"
    path.write_bytes(
        b'{"id":"abc"}\n'
        b'{"id":"xyz"}\n'
        b'{"id":"abc","parent":"def"}\r\n'  # both needles, and a Windows line ending
        b"\n"
        b'{"id":"def","n":2}\n'
        b'{"id":"abc","n":3}'  # no newline at the end
    )
    assert search.find_lines(str(path), search.Needles([b'"abc"', b'"def"'])) == [
        (0, b'{"id":"abc"}'),
        (26, b'{"id":"abc","parent":"def"}'),
        (56, b'{"id":"def","n":2}'),
        (75, b'{"id":"abc","n":3}'),
    ]
    assert search.find_lines(str(path), search.Needles([b'"nowhere"'])) == []


@pytest.mark.usefixtures("backend")
def test_progress_adds_up_to_the_file_size(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The progress callback is told every byte searched, once, range by range."""
    monkeypatch.setattr(search, "RANGE_BYTES", 10)
    path = tmp_path / "app.log"
    path.write_bytes(b'{"id":"abc"}\n' * 5)
    told: list[int] = []
    search.find_lines(str(path), search.Needles([b"abc"]), progress=told.append)
    assert told == [10] * 6 + [5]


def test_only_non_empty_regular_uncompressed_files_are_searched_in_place(
    tmp_path: Path,
) -> None:
    """Empty files, gzip files, directories and missing paths are left to the stream reader."""
    plain, empty, packed = tmp_path / "a.log", tmp_path / "b.log", tmp_path / "c.log"
    plain.write_bytes(b"{}\n")
    empty.write_bytes(b"")
    packed.write_bytes(gzip.compress(b"{}\n"))
    assert search.searchable(str(plain))
    assert not search.searchable(str(empty))
    assert not search.searchable(str(packed))
    assert not search.searchable(str(tmp_path))
    assert not search.searchable(str(tmp_path / "missing.log"))


def test_a_search_started_early_is_collected_by_the_find_for_the_same_needles(
    tmp_path: Path,
) -> None:
    """start() then find() gives what find() alone gives; a start for other needles is
    set aside, and the find gets its own lines."""
    path = tmp_path / "app.log"
    path.write_bytes(b'{"id":"abc"}\n{"id":"def"}\n{"id":"abc","n":2}\n')
    with search.Searcher(str(path)) as searcher:
        searcher.start(search.Needles([b"abc"]))
        assert searcher.find(search.Needles([b"abc"])) == [
            (0, b'{"id":"abc"}'),
            (26, b'{"id":"abc","n":2}'),
        ]
        searcher.start(search.Needles([b"abc"]))
        called: list[bool] = []
        found = searcher.find(search.Needles([b"def"]), meanwhile=lambda: called.append(True))
        assert found == [(13, b'{"id":"def"}')]
        assert called == [True]
        assert searcher.find(search.Needles([b"nowhere"])) == []


@pytest.mark.skipif(not search.in_child, reason="the workers are forked processes")
def test_the_workers_hold_neither_the_output_nor_the_errors_of_the_command(
    tmp_path: Path,
) -> None:
    """Whoever reads the command's output sees its end when the command closes it, while
    workers still live (they unmap the file as they exit, and are not waited for)."""
    path = tmp_path / "app.log"
    path.write_bytes(b'{"id":"abc"}\n' * 1000)
    code = (
        "import os, sys; from flext_logging.cli import search;"
        f"searcher = search.Searcher({str(path)!r});"
        "found = searcher.find(search.Needles([b'abc']));"
        "print(len(found)); sys.stdout.flush(); os.close(1); os.close(2);"
        "sys.stdin.read()"  # workers alive until the test lets this process end
    )
    output: list[bytes] = []
    ended = threading.Event()
    with subprocess.Popen(
        [sys.executable, "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as process:
        assert process.stdin is not None
        assert process.stdout is not None
        assert process.stderr is not None
        out, err = process.stdout, process.stderr

        def read_to_the_end() -> None:
            output.extend((out.read(), err.read()))
            ended.set()

        threading.Thread(target=read_to_the_end, daemon=True).start()
        try:
            assert ended.wait(timeout=30), "the output stayed open: a worker holds it"
        finally:
            process.stdin.close()  # the process ends, and with it its workers
            process.wait(timeout=30)
    assert output == [b"1000\n", b""]


@pytest.mark.skipif(not search.in_child, reason="the workers are forked processes")
def test_a_worker_searches_without_importing_enum(tmp_path: Path) -> None:
    """A worker starts searching at once: resetting its Ctrl-C handler does not import
    ``signal`` (and with it ``enum``, some 10 ms of every worker's start). With both made
    unimportable, the search still answers."""
    path = tmp_path / "app.log"
    path.write_bytes(b'{"id":"abc"}\n' * 1000)
    code = (
        "import sys; sys.modules['signal'] = sys.modules['enum'] = None;"
        "from flext_logging.cli import search;"
        f"searcher = search.Searcher({str(path)!r}, follow=False);"
        "found = searcher.find(search.Needles([b'abc']));"
        "searcher.close(); print(None if found is None else len(found))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout == "1000\n"


@pytest.mark.skipif(not search.in_child, reason="the workers are forked processes")
def test_ctrl_c_ends_a_worker_as_the_signal_does(tmp_path: Path) -> None:
    """A worker does not turn Ctrl-C into an exception of its own: it dies of SIGINT, as
    a process without Python's handler does, and the command reports the interrupt."""
    import signal

    path = tmp_path / "app.log"
    path.write_bytes(b'{"id":"abc"}\n' * 1000)
    with search.Searcher(str(path), follow=False) as searcher:
        assert searcher.find(search.Needles([b"abc"])) is not None  # the worker is up
        pid = searcher._workers[0][0]
        os.kill(pid, signal.SIGINT)
        _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status)
    assert os.WTERMSIG(status) == signal.SIGINT


# -- Following the correlations of the first search -------------------------------------------


def test_the_ids_followed_are_the_correlations_as_json_writers_write_them() -> None:
    """orjson's and json.dumps' spacing; escaped, non-ASCII and empty values are not followed,
    nor a parent correlation."""
    line = (
        b'{"correlation_id":"c-1","parent_correlation_id":"p-1","x":{"correlation_id": "c-2"},'
        b'"y":{"correlation_id":"a\\"b"},"z":{"correlation_id":"caf\xc3\xa9"},'
        b'"w":{"correlation_id":""},"v":{"correlation_id":7}}'
    )
    assert list(search.followed_ids(line)) == [b'"c-1"', b'"c-2"']


def _lines_holding(path: Path, needles: list[bytes]) -> list[tuple[int, bytes]]:
    """Every line of *path* holding one of *needles*, by a plain scan (the reference)."""
    found, offset = [], 0
    for raw in path.read_bytes().split(b"\n"):
        if any(needle in raw for needle in needles):
            found.append((offset, raw))
        offset += len(raw) + 1
    return found


def _record(correlation: str, n: int, parent: str | None = None) -> bytes:
    fields = f'"correlation_id":"{correlation}"'
    if parent is not None:
        fields += f',"parent_correlation_id":"{parent}"'
    return f'{{"message":"line {n}",{fields}}}'.encode()


@pytest.fixture
def small_shares(monkeypatch: pytest.MonkeyPatch) -> None:
    """Split even a small file between the workers, and search it in blocks of 16 bytes."""
    monkeypatch.setattr(search, "SPLIT_BYTES", 1)
    monkeypatch.setattr(search, "_FOLLOW_BLOCK", 16)


@pytest.mark.skipif(not search.in_child, reason="the workers are forked processes")
@pytest.mark.usefixtures("small_shares")
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.data())
def test_each_level_finds_every_line_of_its_ids_wherever_the_first_search_followed_them(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    """Children's lines before, among and after the parent's, in every worker's share, some
    without the parent's id: each level gets exactly the lines a plain scan finds."""
    lines = [_record("root", n) for n in range(data.draw(st.integers(1, 4)))]
    lines += [_record("other", n) for n in range(data.draw(st.integers(0, 40)))]
    lines += [_record("kid", n, parent="root") for n in range(data.draw(st.integers(0, 3)))]
    lines += [_record("kid", n) for n in range(data.draw(st.integers(0, 5)))]
    lines += [_record("grandkid", n, parent="kid") for n in range(data.draw(st.integers(0, 3)))]
    lines = data.draw(st.permutations(lines))
    path = tmp_path_factory.mktemp("log") / "app.log"
    path.write_bytes(b"\n".join(lines) + b"\n")
    with search.Searcher(str(path)) as searcher:
        for needles in ([b"root"], [b'"kid"'], [b'"grandkid"', b'"other"'], [b'"kid"']):
            assert searcher.find(search.Needles(needles)) == _lines_holding(path, needles)


@pytest.mark.skipif(not search.in_child, reason="the workers are forked processes")
@pytest.mark.usefixtures("small_shares")
def test_the_next_level_searches_only_what_the_first_did_not(tmp_path: Path) -> None:
    """A child seen in the first search is searched by it from there on: the next level
    searches only the bytes before (in each share, as soon as its worker heard of the
    child), and finds its lines all the same."""
    lines = [_record("kid", 0)] + [_record("other", n) for n in range(20)]  # blocks before
    for share in range(2):
        lines += [_record("root", share), _record("kid", share + 1, parent="root")]
        lines += [_record("other", n) for n in range(30)]
        lines += [_record("kid", share + 10)]
    path = tmp_path / "app.log"
    path.write_bytes(b"\n".join(lines) + b"\n")
    size = path.stat().st_size
    with search.Searcher(str(path)) as searcher:
        first: list[int] = []
        assert searcher.find(search.Needles([b"root"]), progress=first.append) == (
            _lines_holding(path, [b"root"])
        )
        assert sum(first) == size
        second: list[int] = []
        kid = search.Needles([b'"kid"'])
        assert searcher.find(kid, progress=second.append) == _lines_holding(path, [b'"kid"'])
        assert 0 < sum(second) < size
        third: list[int] = []
        assert searcher.find(kid, progress=third.append) == _lines_holding(path, [b'"kid"'])
        assert sum(third) == 0


@pytest.mark.skipif(not search.in_child, reason="the workers are forked processes")
@pytest.mark.usefixtures("small_shares")
def test_a_fan_out_is_not_followed(tmp_path: Path) -> None:
    """More children than FOLLOWED_AT_MOST: the first search follows none of them, and
    the next level searches them all, in the whole file."""
    children = [f"kid-{n}" for n in range(search.FOLLOWED_AT_MOST + 1)]
    lines = [_record(child, 0, parent="root") for child in children]
    lines += [_record("other", n) for n in range(30)] + [_record(c, 1) for c in children]
    path = tmp_path / "app.log"
    path.write_bytes(b"\n".join(lines) + b"\n")
    needles = [f'"{child}"'.encode() for child in children]
    with search.Searcher(str(path)) as searcher:
        searcher.find(search.Needles([b"root"]))
        told: list[int] = []
        found = searcher.find(search.Needles(needles), progress=told.append)
        assert found == _lines_holding(path, needles)
        assert sum(told) == path.stat().st_size


@pytest.mark.skipif(not search.in_child, reason="the workers are forked processes")
@pytest.mark.usefixtures("small_shares")
def test_an_id_of_too_many_lines_is_no_longer_followed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A followed id whose lines pass _FOLLOWED_BYTES is dropped: the next level searches
    the whole file for it (it may be no child, but a correlation of a million lines).
    One worker: another could hear of the id only near its share's end, and follow it."""
    monkeypatch.setattr(search, "SPLIT_BYTES", 1 << 40)
    monkeypatch.setattr(search, "_FOLLOWED_BYTES", 200)
    lines = [_record("root", 0), _record("busy", 0, parent="root")]
    lines += [_record("busy", n) for n in range(1, 40)]
    path = tmp_path / "app.log"
    path.write_bytes(b"\n".join(lines) + b"\n")
    with search.Searcher(str(path)) as searcher:
        assert searcher.find(search.Needles([b"root"])) == _lines_holding(path, [b"root"])
        told: list[int] = []
        busy = search.Needles([b'"busy"'])
        assert searcher.find(busy, progress=told.append) == _lines_holding(path, [b'"busy"'])
        assert sum(told) == path.stat().st_size


def test_a_worker_follows_what_another_posts_and_stops_when_it_gives_up() -> None:
    """The board in this process (what the workers do): an id posted by one worker is
    followed by the other from the block it heard of it in; once one gives up, both do."""
    board = mmap.mmap(-1, 2 * search._SLOT_BYTES)
    first, second = search._Board(board, 0), search._Board(board, 1)
    text = b"".join(_record("other", n) + b"\n" for n in range(4)) + _record("kid", 9) + b"\n"
    following = search._Following(first, [b"root"])
    lines = list(
        search._search_following(
            text, len(text), search.Needles([b"root"]), (0, len(text)), None, following=following
        )
    )
    assert lines == []  # nothing asked for, nothing followed yet
    second.post(b'"kid"')
    told: list[int] = []
    following = search._Following(first, [b"root"])
    lines = list(
        search._search_following(
            text,
            len(text),
            search.Needles([b"root"]),
            (0, len(text)),
            told.append,
            following=following,
        )
    )
    assert lines == [(text.index(b'{"message":"line 9"'), _record("kid", 9), False)]
    assert set(following.since) == {b'"kid"'}
    assert sum(told) == len(text)
    second.give_up()
    assert first.news() is None
    following.listen(0)
    assert following.abandoned
    assert following.since == {}
    board.close()
