"""Finding the lines that hold an id in a memory-mapped file, with either search backend."""

from __future__ import annotations

import gzip
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from flext_logging.cli import search


@pytest.fixture(params=["stringzilla", "mmap", "in-process", "aho-corasick"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test with StringZilla in a child, the ``mmap.find`` fallback, in this process,
    and with the Aho-Corasick search that many needles use."""
    if request.param == "mmap":
        monkeypatch.setattr(search, "stringzilla", None)
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
