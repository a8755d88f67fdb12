"""Reading logs: sources, bad lines, chunks, filters, merging and following."""

from __future__ import annotations

import gzip
import io
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from cli_records import make_record

from flext_logging import keys
from flext_logging.cli import reading
from flext_logging.cli.reading import Reader, ReadStats, RecordFilter, UsageError


def _messages(path: Path, record_filter: RecordFilter | None = None) -> list[str]:
    reader = Reader(record_filter=record_filter)
    return [str(record[keys.MESSAGE]) for record in reader.records(str(path))]


def test_bad_and_truncated_lines_are_counted_and_skipped(write_log: Callable[..., Path]) -> None:
    """Non-JSON text, a cut-off record and a JSON non-object are skipped and counted."""
    path = write_log(
        "app.log",
        make_record("one", "01.000000"),
        "Traceback (most recent call last):",
        '{"timestamp":"2026-11-23T10:00:02.000000Z","level":"in',
        "[1, 2]",
        make_record("two", "03.000000"),
    )
    stats = ReadStats()
    records = list(Reader(stats=stats).records(str(path)))
    assert [r[keys.MESSAGE] for r in records] == ["one", "two"]
    assert (stats.lines, stats.bad_lines) == (5, 3)
    assert stats.summary() == (
        f"flext-logging: skipped 3 lines that were not JSON records (in {path})"
    )


def test_gzip_files_are_read_whatever_their_name(tmp_path: Path) -> None:
    """A gzip-compressed log is decompressed, recognized by its magic bytes."""
    path = tmp_path / "app.log.1"
    path.write_bytes(gzip.compress(b'{"message":"zipped"}\n{"message":"too"}'))
    assert _messages(path) == ["zipped", "too"]


def test_stdin_is_read_for_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    """The source '-' reads standard input as bytes."""
    fake = io.TextIOWrapper(io.BytesIO(b'{"message":"piped"}\r\nnot json\n'))
    monkeypatch.setattr(sys, "stdin", fake)
    stats = ReadStats()
    records = list(Reader(stats=stats).records(reading.STDIN))
    assert [r[keys.MESSAGE] for r in records] == ["piped"]
    assert stats.bad_sources == ["-"]


def test_globs_expand_in_sorted_order_and_typos_are_usage_errors(tmp_path: Path) -> None:
    """A glob expands to its sorted matches; a name matching nothing raises UsageError."""
    for name in ("b.log", "a.log"):
        (tmp_path / name).write_text("")
    assert reading.expand_sources([str(tmp_path / "*.log"), "-"]) == [
        str(tmp_path / "a.log"),
        str(tmp_path / "b.log"),
        "-",
    ]
    assert reading.expand_sources([]) == ["-"]
    with pytest.raises(UsageError, match="no such file"):
        reading.expand_sources([str(tmp_path / "missing*.log")])


def test_needle_scan_finds_lines_across_chunk_boundaries(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Lines of a stream split between two reads are joined before the substring test."""
    monkeypatch.setattr(reading, "CHUNK_SIZE", 7)
    path = tmp_path / "app.log.gz"  # compressed: read as a stream, not searched in place
    path.write_bytes(gzip.compress(b'{"id":"abc"}\n{"id":"xyz"}\n{"id":"abc","n":2}'))
    found = list(reading.scan_lines(str(path), [b'"abc"'], ReadStats()))
    assert found == [(0, b'{"id":"abc"}'), (26, b'{"id":"abc","n":2}')]


def test_where_matches_dotted_keys_and_compares_as_text(write_log: Callable[..., Path]) -> None:
    """--where error.code=X looks inside the error object; numbers compare as text."""
    path = write_log(
        "app.log",
        make_record("a", "01.000000", error={keys.ERROR_CODE: "FLEXT_NOT_FOUND_ERROR"}),
        make_record("b", "02.000000", error={keys.ERROR_CODE: "OTHER"}),
        make_record("c", "03.000000", status_code=500),
        make_record("d", "04.000000"),
    )
    by_code = RecordFilter(where=["error.code=FLEXT_NOT_FOUND_ERROR"])
    by_status = RecordFilter(where=["status_code=500", "service_name=shop"])
    assert _messages(path, record_filter=by_code) == ["a"]
    assert _messages(path, record_filter=by_status) == ["c"]


def test_since_is_inclusive_and_until_exclusive(write_log: Callable[..., Path]) -> None:
    """--since keeps records at that time, --until drops them; offsets are understood."""
    path = write_log(
        "app.log",
        *(make_record(f"m{second}", f"0{second}.000000") for second in range(5)),
        {keys.MESSAGE: "no time"},
    )
    window = RecordFilter(since="2026-11-23T10:00:01Z", until="2026-11-23T11:00:03+01:00")
    assert _messages(path, record_filter=window) == ["m1", "m2"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"where": ["nokey"]}, "--where needs KEY=VALUE"),
        ({"since": "yesterday"}, "not an RFC 3339 time"),
    ],
)
def test_malformed_filters_are_usage_errors(options: dict[str, object], message: str) -> None:
    """A --where without '=' or a time that is not RFC 3339 raises UsageError."""
    with pytest.raises(UsageError, match=message):
        RecordFilter(**options)  # type: ignore[arg-type]


def test_follow_yields_lines_appended_while_waiting(tmp_path: Path) -> None:
    """Lines written after the end was reached are yielded, a half line only when complete."""
    path = tmp_path / "app.log"
    path.write_bytes(b"first\n")
    appends = [b"sec", b"ond\nthird\n"]

    def grow_then_stop() -> bool:
        if not appends:
            return True
        with path.open("ab") as stream:
            stream.write(appends.pop(0))
        return False

    lines = list(reading.follow_lines(str(path), poll_interval=0, stop=grow_then_stop))
    assert lines == [b"first", b"second", b"third"]


def _follow_while(path: Path, *steps: Callable[[], None]) -> list[bytes]:
    """Follow *path*, running one step each time the end is reached, then stop."""
    pending = list(steps)

    def next_step_or_stop() -> bool:
        if not pending:
            return True
        pending.pop(0)()
        return False

    return list(reading.follow_lines(str(path), poll_interval=0, stop=next_step_or_stop))


def test_follow_reads_a_file_truncated_in_place_from_its_start(tmp_path: Path) -> None:
    """copytruncate rotation: the file shrinks under the reader, which starts over."""
    path = tmp_path / "app.log"
    path.write_bytes(b"old one\nold two\n")

    def truncate_and_write() -> None:
        path.write_bytes(b"new\n")  # opened with "w": truncated, then shorter than before

    assert _follow_while(path, truncate_and_write) == [b"old one", b"old two", b"new"]


def test_follow_moves_to_the_new_file_after_a_rename(tmp_path: Path) -> None:
    """Rename rotation: the old file is read to its end, then the new one from its start."""
    path = tmp_path / "app.log"
    path.write_bytes(b"first\n")

    def rotate() -> None:
        with path.open("ab") as stream:
            stream.write(b"last of old\nhalf")
        path.rename(tmp_path / "app.log.1")

    def recreate() -> None:
        path.write_bytes(b"first of new\n")

    lines = _follow_while(path, rotate, lambda: None, recreate)
    assert lines == [b"first", b"last of old", b"half", b"first of new"]
