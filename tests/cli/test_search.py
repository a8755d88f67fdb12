"""Finding the lines that hold an id in a memory-mapped file, with either search backend."""

from __future__ import annotations

import gzip
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
