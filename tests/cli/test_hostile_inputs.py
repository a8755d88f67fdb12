"""The CLI on hostile inputs: pipes, FIFOs, files that change, broken archives, endless lines.

Each input is read whole or reported, never fatal, with memory bounded whatever its
size. The slow or crashing cases run the command as a process, bounded in time, with
its address space capped where memory is the point.
"""

from __future__ import annotations

import gzip
import io
import os
import resource
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from cli_records import make_record

from flext_logging import keys
from flext_logging.cli import reading, search
from flext_logging.cli.main import main

RUN_TIMEOUT_S = 60
MEMORY_CAP = 400 * 1024 * 1024
"""An address space the command must fit in while reading 256 MiB without a newline."""


def _lines(*records: dict[str, object]) -> bytes:
    return b"".join(orjson.dumps(record) + b"\n" for record in records)


def _three() -> bytes:
    finished = keys.EVENT_OPERATION_FINISHED
    return _lines(
        make_record("one", "01.000000", correlation="c", operation="op"),
        make_record(finished, "01.500000", correlation="c", duration_ms=1.0, operation="op"),
        make_record("two", "02.000000", correlation="c"),
        make_record("three", "03.000000", correlation="c"),
    )


def _cli(
    *argv: str,
    stdin: bytes | None = None,
    cap_memory: bool = False,
    pass_fds: tuple[int, ...] = (),
) -> subprocess.CompletedProcess[bytes]:
    def limit() -> None:  # runs in the child before exec
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))

    return subprocess.run(
        [sys.executable, "-m", "flext_logging", *argv],
        input=stdin,
        capture_output=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
        preexec_fn=limit if cap_memory else None,
        pass_fds=pass_fds,
    )


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main(argv)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _through_a_pipe(log: Path, *argv: str) -> subprocess.CompletedProcess[bytes]:
    """Run the command on bash's process substitution of *log*: `CMD <(cat app.log)`."""
    script = f'exec "{sys.executable}" -m flext_logging {" ".join(argv)} <(cat "{log}")'
    return subprocess.run(
        ["bash", "-c", script], capture_output=True, timeout=RUN_TIMEOUT_S, check=False
    )


def test_process_substitution_loses_no_line(tmp_path: Path) -> None:
    """`pretty <(cat app.log)`: a pipe is opened once, its first bytes are not lost."""
    log = tmp_path / "app.log"
    log.write_bytes(_three())
    result = _through_a_pipe(log, "pretty")
    assert result.returncode == 0, result.stderr
    assert [line.split()[3] for line in result.stdout.decode().splitlines()] == [
        "one",
        keys.EVENT_OPERATION_FINISHED,
        "two",
        "three",
    ]


@pytest.mark.parametrize("packed", [False, True], ids=["plain", "gzip"])
def test_a_named_fifo_is_read_to_its_end(tmp_path: Path, *, packed: bool) -> None:
    """A FIFO is opened once: the command reads what the writer wrote and ends."""
    fifo = tmp_path / "app.fifo"
    os.mkfifo(fifo)
    data = gzip.compress(_three()) if packed else _three()

    def write() -> None:
        with fifo.open("wb") as stream:
            stream.write(data)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    result = _cli("stats", str(fifo), "--format", "csv")
    writer.join(timeout=RUN_TIMEOUT_S)
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode().splitlines()[1].startswith("op,1,0,")


def _family() -> bytes:
    """A request whose job started a child correlation, which started one of its own."""
    return _lines(
        make_record("root work", "01.000000", correlation="root"),
        make_record("job started", "02.000000", correlation="kid", parent="root"),
        make_record("job work", "02.500000", correlation="kid"),
        make_record("grandchild work", "03.000000", correlation="grandkid", parent="kid"),
    )


_FAMILY_MESSAGES = ("root work", "job started", "job work", "grandchild work")


def test_trace_reads_a_named_fifo_once_for_every_level_of_the_tree(tmp_path: Path) -> None:
    """`trace` searches once per level: a FIFO is read once, the children still found."""
    fifo = tmp_path / "app.fifo"
    os.mkfifo(fifo)

    def write() -> None:
        with fifo.open("wb") as stream:
            stream.write(_family())

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    result = _cli("trace", "root", str(fifo))
    writer.join(timeout=RUN_TIMEOUT_S)
    assert result.returncode == 0, result.stderr
    out = result.stdout.decode()
    assert all(message in out for message in _FAMILY_MESSAGES), out


def test_trace_through_process_substitution_finds_the_children(tmp_path: Path) -> None:
    """`trace ID <(cat app.log)`: the pipe gives its bytes once; every level is searched."""
    log = tmp_path / "app.log"
    log.write_bytes(_family())
    result = _through_a_pipe(log, "trace", "root")
    assert result.returncode == 0, result.stderr
    out = result.stdout.decode()
    assert all(message in out for message in _FAMILY_MESSAGES), out


def test_a_file_truncated_while_it_is_searched_does_not_kill_the_command(tmp_path: Path) -> None:
    """copytruncate under a running trace: no SIGBUS; the file is read as it now is."""
    log = tmp_path / "app.log"
    filler = make_record("filler", "00.000000", correlation="other") | {"pad": "x" * 900}
    with log.open("wb") as stream:
        stream.write(_lines(filler) * 40_000)  # about 40 MB
        stream.write(_lines(make_record("the one", "05.000000", correlation="wanted")))
    script = f"""
import contextlib, os, sys
from flext_logging.cli import main, progress, search
search.RANGE_BYTES = 1 << 16
@contextlib.contextmanager
def truncating(total, **options):
    done = []
    def advance(count):
        if not done:  # rotated by copytruncate: emptied, then written anew
            done.append(count)
            os.truncate({str(log)!r}, 0)
            with open({str(log)!r}, "ab") as stream:
                stream.write({_lines(make_record("the one", "06.000000", correlation="wanted"))!r})
    yield advance
progress.progress = truncating
sys.exit(main.main(["trace", "wanted", {str(log)!r}, "--format", "json"]))
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, timeout=RUN_TIMEOUT_S, check=False
    )
    assert result.returncode == 0, result.stderr
    assert orjson.loads(result.stdout)["records"][0][keys.MESSAGE] == "the one"


def test_a_search_whose_file_changed_falls_back_to_reading_it(
    write_log: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the searching child dies (SIGBUS), the file is read again and the change said."""
    log = write_log("app.log", make_record("kept", "01.000000", correlation="c"))
    monkeypatch.setattr(search, "find_lines", lambda *_, **__: None)
    stats = reading.ReadStats()
    lines = list(reading.scan_lines(str(log), [b'"c"'], stats))
    assert [line for _, line in lines] == [log.read_bytes().rstrip(b"\n")]
    assert stats.problems == [
        f"{log} changed while it was read (truncated?); read it again as it is now"
    ]


def test_the_searching_child_reports_a_file_that_shrank(tmp_path: Path) -> None:
    """A child killed by the kernel (here: the file vanished under it) is reported as None."""
    log = tmp_path / "app.log"
    log.write_bytes(_three())
    needles = search.Needles([b"nowhere"])
    log.unlink()  # the child cannot map it and exits non-zero
    assert search.find_lines(str(log), needles) is None


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (lambda data: data[: len(data) - 12], "the gzip data ends early (truncated?)"),
        (lambda data: data[:-8] + bytes([data[-8] ^ 0xFF]) + data[-7:], "corrupt gzip data"),
    ],
    ids=["truncated", "corrupt"],
)
@pytest.mark.parametrize("command", ["trace", "stats", "pretty"])
def test_a_damaged_gzip_file_is_read_up_to_the_damage_and_reported(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    damage: Callable[[bytes], bytes],
    problem: str,
    command: str,
) -> None:
    """A cut or corrupt .gz gives the records before the damage and one line on stderr."""
    log = tmp_path / "app.log.gz"
    records = [
        make_record(f"m{n}", f"{n % 60:02d}.000000", correlation="c", pad=os.urandom(40).hex())
        for n in range(4000)
    ]
    log.write_bytes(damage(gzip.compress(_lines(*records))))
    argv = {"trace": ["trace", "c"], "stats": ["stats"], "pretty": ["pretty"]}[command]
    status, out, err = _run([*argv, str(log)], capsys)
    assert status == 0
    assert f"flext-logging: {log}: {problem}" in err
    assert "Traceback" not in err
    if command != "stats":
        assert "m0" in out


def test_a_directory_is_read_as_its_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Like lnav: a directory stands for the (non-hidden) files in it, in name order."""
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "b.log").write_bytes(_lines(make_record("from b", "02.000000", correlation="c")))
    (logs / "a.log.gz").write_bytes(
        gzip.compress(_lines(make_record("from a", "01.000000", correlation="c")))
    )
    (logs / ".hidden").write_bytes(b"not read\n")
    (logs / "sub").mkdir()
    status, out, err = _run(["trace", "c", str(logs), "--format", "json"], capsys)
    assert (status, err) == (0, "")
    assert [r[keys.MESSAGE] for r in orjson.loads(out)["records"]] == ["from a", "from b"]


@pytest.mark.parametrize("command", ["stats", "pretty"])
def test_gzip_on_stdin_is_decompressed_by_every_command(command: str) -> None:
    """`zcat`-less pipes: `cat app.log.gz | flext-logging pretty` shows records, not bytes."""
    options = ["--format", "csv"] if command == "stats" else []
    result = _cli(command, "-", *options, stdin=gzip.compress(_three()))
    assert (result.returncode, result.stderr) == (0, b"")
    out = result.stdout.decode()
    assert "\x1f" not in out
    if command == "stats":
        assert out.splitlines()[1].startswith("op,1,0,")
    else:
        assert [line.split()[3] for line in out.splitlines()][-1] == "three"


def test_a_byte_order_mark_does_not_hide_the_first_record(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file saved with a UTF-8 BOM keeps its first record, in every command."""
    log = tmp_path / "app.log"
    log.write_bytes(b"\xef\xbb\xbf" + _three())
    status, out, err = _run(["pretty", str(log)], capsys)
    assert (status, err) == (0, "")
    assert [line.split()[3] for line in out.splitlines()] == [
        "one",
        keys.EVENT_OPERATION_FINISHED,
        "two",
        "three",
    ]
    status, out, err = _run(["trace", "c", str(log), "--format", "json"], capsys)
    assert len(orjson.loads(out)["records"]) == 4


def test_a_bad_line_holding_two_searched_ids_is_counted_once(
    write_log: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """The root's search and its child's search both see the cut line: it is one line."""
    log = write_log(
        "app.log",
        make_record("root", "01.000000", correlation="c-root"),
        make_record("child", "02.000000", correlation="c-kid", parent="c-root"),
        '{"correlation_id":"c-kid","parent_correlation_id":"c-root","mess',
    )
    status, _, err = _run(["trace", "c-root", str(log), "--format", "json"], capsys)
    assert status == 0
    assert err == f"flext-logging: skipped 1 line that was not a JSON record (in {log})\n"


@pytest.mark.parametrize("command", ["stats", "pretty"])
def test_a_file_given_twice_is_counted_once(
    write_log: Callable[..., Path], capsys: pytest.CaptureFixture[str], command: str
) -> None:
    """`stats app.log app.log` (or a glob and a name of the same file) reads it once."""
    finished = keys.EVENT_OPERATION_FINISHED
    log = write_log("app.log", make_record(finished, "01.000000", duration_ms=2.0, operation="op"))
    status, out, _ = _run([command, str(log), str(log.parent / "*.log"), "--width", "100"], capsys)
    assert status == 0
    if command == "stats":
        assert [line.split("│")[2].strip() for line in out.splitlines() if "│ op" in line] == ["1"]
    else:
        assert len(out.splitlines()) == 1


def _endless_line_gz(tmp_path: Path) -> Path:
    """A small .gz that expands to 256 MiB without a newline, then one good record."""
    path = tmp_path / "bomb.log.gz"
    compressor = gzip.GzipFile(path, "wb")
    with compressor:
        block = b"x" * (1024 * 1024)
        for _ in range(256):
            compressor.write(block)
        compressor.write(b"\n" + _lines(make_record("after", "01.000000", correlation="c")))
    return path


@pytest.mark.parametrize("command", ["stats", "pretty", "trace"])
def test_a_line_without_end_is_skipped_in_bounded_memory(tmp_path: Path, command: str) -> None:
    """256 MiB without a newline: skipped and counted in an address space of 400 MiB."""
    bomb = _endless_line_gz(tmp_path)
    argv = {"stats": ["stats"], "pretty": ["pretty"], "trace": ["trace", "c"]}[command]
    result = _cli(*argv, str(bomb), cap_memory=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert b"skipped 1 line longer than 16 MiB" in result.stderr
    if command != "stats":
        assert b"after" in result.stdout


def test_zeros_on_stdin_are_read_in_bounded_memory() -> None:
    """`head -c 300M /dev/zero | flext-logging stats`: one endless line, memory capped."""
    zeros = subprocess.Popen(
        ["head", "-c", str(300 * 1024 * 1024), "/dev/zero"], stdout=subprocess.PIPE
    )
    assert zeros.stdout is not None
    try:
        result = subprocess.run(
            [sys.executable, "-m", "flext_logging", "stats", "-"],
            stdin=zeros.stdout,
            capture_output=True,
            timeout=RUN_TIMEOUT_S,
            check=False,
            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP)),
        )
    finally:
        zeros.stdout.close()
        zeros.wait(timeout=RUN_TIMEOUT_S)
    assert result.returncode == 0, result.stderr[-2000:]
    assert b"skipped 1 line longer than 16 MiB" in result.stderr


def test_lines_split_across_many_small_reads_are_joined(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pipe hands out a few bytes at a time: records still come out whole, once each."""
    monkeypatch.setattr(reading, "CHUNK_SIZE", 5)
    data = b"\xef\xbb\xbf" + _three() + b"tail without newline"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    stats = reading.ReadStats()
    lines = [line for _, line in reading.scan_lines(reading.STDIN, (), stats)]
    assert lines == [*_three().splitlines(), b"tail without newline"]


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="counts processes through /proc")
def test_many_files_do_not_keep_a_worker_each(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A directory of 40 logs, searched level after level: every worker is gone after."""
    logs = tmp_path / "logs"
    logs.mkdir()
    for n in range(40):
        (logs / f"app.{n:02d}.log").write_bytes(
            _lines(
                make_record(
                    f"m{n}", "01.000000", correlation="kid" if n else "c", parent="c" if n else None
                )
            )
        )
    status, out, _ = _run(["trace", "c", str(logs), "--format", "json"], capsys)
    assert status == 0
    assert len(orjson.loads(out)["children"][0]["records"]) == 39
    assert _children() == []


def _children() -> list[int]:
    """The processes this one started that are still there (workers not reaped)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == os.getpid():
                found.append(int(entry))
    return found


def test_a_file_name_reaches_the_terminal_as_text_never_as_a_control_sequence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """File names are anyone's: an ESC or a bidi override in one is shown escaped."""
    evil = tmp_path / "ev\x1b[31mil\u202e.log"
    evil.write_bytes(b"not json\n" + _three())
    status, _, err = _run(["stats", str(evil)], capsys)
    assert status == 0
    assert "ev\\x1b[31mil\\u202e.log" in err
    status, _, err = _run(["stats", str(tmp_path / "no\x1b[31m.log")], capsys)
    assert status == 2
    assert err.endswith("no\\x1b[31m.log\n")
    assert "\x1b" not in err
