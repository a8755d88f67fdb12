"""Outputs: streams (a shared pipe), files (several processes, rotation), through logging,
and several of them at once with configure(outputs=[...])."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest
from scripts import ROOT

from flext_logging import JsonFormatter, configure, get_logger, keys
from flext_logging.outputs import FileOutput, LoggingOutput, StreamOutput

logger = get_logger("tests.outputs")
WRITERS = 3
WORKER_TIMEOUT_S = 120


def _run_writers(script: str, *arguments: str) -> None:
    """Run WRITERS copies of *script* at once; each must succeed."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(script), str(number), *arguments],
            env=environment,
            stdout=subprocess.DEVNULL,
        )
        for number in range(WRITERS)
    ]
    assert [process.wait(WORKER_TIMEOUT_S) for process in processes] == [0] * WRITERS


# -- StreamOutput ----------------------------------------------------------------------------


def test_bytes_go_to_a_utf8_text_streams_buffer_unchanged() -> None:
    """A UTF-8 text stream's byte buffer gets the line as rendered, after earlier text."""
    buffer = io.BytesIO()
    stream = io.TextIOWrapper(buffer, encoding="utf-8")
    stream.write("printed first\n")  # pending in the text layer
    output = StreamOutput(stream)
    line = '{"message":"caf\u00e9 \\u001b"}\n'.encode()
    output.write(line)
    assert buffer.getvalue() == b"printed first\n" + line


def test_a_text_stream_of_another_encoding_gets_text() -> None:
    """A latin-1 stream is written as text, in its own encoding."""
    buffer = io.BytesIO()
    stream = io.TextIOWrapper(buffer, encoding="latin-1")
    StreamOutput(stream).write('{"message":"caf\u00e9"}\n'.encode())
    stream.flush()
    assert buffer.getvalue() == b'{"message":"caf\xe9"}\n'


def test_a_file_gets_each_line_after_what_the_application_wrote_to_it(tmp_path: Path) -> None:
    """Lines go to a file's descriptor directly, after the text the stream still holds."""
    path = tmp_path / "app.log"
    with path.open("a", encoding="utf-8") as stream:
        output = StreamOutput(stream)
        stream.write("printed first\n")  # held in the stream's buffers
        output.write(b'{"n":1}\n')
        stream.write("printed between\n")
        output.write('{"n":2}\n')  # text is written as UTF-8 too
        stream.write("printed last\n")
    assert path.read_text(encoding="utf-8").splitlines() == [
        "printed first",
        '{"n":1}',
        "printed between",
        '{"n":2}',
        "printed last",
    ]


def test_a_closed_file_sends_the_line_to_stderr(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """A stream closed under the output loses no line: it reaches stderr instead."""
    stream = (tmp_path / "app.log").open("ab")
    output = StreamOutput(stream)
    output.write(b'{"n":1}\n')
    stream.close()
    output.write(b'{"n":2}\n')
    assert '{"n":2}' in capfd.readouterr().err
    assert (tmp_path / "app.log").read_bytes() == b'{"n":1}\n'


def test_threads_writing_one_file_tear_no_line(tmp_path: Path) -> None:
    """Several threads writing to one file through one output: every line whole."""
    path = tmp_path / "app.log"
    with path.open("a", encoding="utf-8") as stream:
        output = StreamOutput(stream)

        def write(number: int) -> None:
            for index in range(500):
                output.write(json.dumps({"t": number, "i": index, "pad": "x" * 900}) + "\n")

        threads = [threading.Thread(target=write, args=(number,)) for number in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    lines = path.read_text(encoding="utf-8").splitlines()
    assert sorted((line["t"], line["i"]) for line in map(json.loads, lines)) == [
        (number, index) for number in range(4) for index in range(500)
    ]


PIPE_WRITER = """
import sys
from flext_logging import configure, get_logger

configure(format="json")
logger = get_logger("writer")
number = int(sys.argv[1])
for index in range(300):
    logger.info("big", writer=number, index=index, pad="x" * (3000 + (index * 7919) % 57000))
"""


def test_processes_sharing_a_pipe_never_tear_a_record(tmp_path: Path) -> None:
    """Three processes write 3-60 KB records to one pipe, read slowly: every line whole."""
    out = tmp_path / "pipe.log"
    reader_script = ROOT / "tests" / "integrations" / "stack_apps" / "slow_reader.py"
    read_end, write_end = os.pipe()
    reader = subprocess.Popen([sys.executable, str(reader_script), str(out)], stdin=read_end)
    os.close(read_end)
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", PIPE_WRITER, str(number)], env=environment, stdout=write_end
        )
        for number in range(WRITERS)
    ]
    os.close(write_end)
    assert [writer.wait(WORKER_TIMEOUT_S) for writer in writers] == [0] * WRITERS
    assert reader.wait(WORKER_TIMEOUT_S) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted((r["writer"], r["index"]) for r in records) == sorted(
        (writer, index) for writer in range(WRITERS) for index in range(300)
    )
    assert all(len(r["pad"]) == 3000 + (r["index"] * 7919) % 57000 for r in records)


# -- FileOutput ------------------------------------------------------------------------------


def test_file_output_appends_json_lines(tmp_path: Path) -> None:
    """A file output appends one JSON line per record to what the file held."""
    path = tmp_path / "app.log"
    path.write_text("earlier\n")
    configure(outputs=[FileOutput(path)])
    logger.info("appended", n=1)
    lines = path.read_text().splitlines()
    assert lines[0] == "earlier"
    assert json.loads(lines[1])[keys.MESSAGE] == "appended"


def test_file_output_reopens_a_file_moved_away_by_logrotate(tmp_path: Path) -> None:
    """After the file is renamed (logrotate without copytruncate), lines go to a new file."""
    path = tmp_path / "app.log"
    configure(outputs=[FileOutput(path)])
    logger.info("before rotation")
    path.rename(tmp_path / "app.log.1")
    logger.info("after rotation")
    assert [json.loads(line)[keys.MESSAGE] for line in path.read_text().splitlines()] == [
        "after rotation"
    ]
    rotated = (tmp_path / "app.log.1").read_text().splitlines()
    assert [json.loads(line)[keys.MESSAGE] for line in rotated] == ["before rotation"]


ROTATING_WRITER = """
import sys
from flext_logging import configure, get_logger
from flext_logging.outputs import FileOutput

configure(outputs=[FileOutput(sys.argv[2], max_bytes=20_000, backup_count=1000)])
logger = get_logger("writer")
number = int(sys.argv[1])
for index in range(1000):
    logger.info("line", writer=number, index=index, pad="y" * 100)
"""


def test_processes_rotating_one_file_lose_and_tear_no_line(tmp_path: Path) -> None:
    """Three processes rotate app.log at 20 KB: every line is in one of the files, once."""
    path = tmp_path / "app.log"
    _run_writers(ROTATING_WRITER, str(path))
    files = sorted(tmp_path.glob("app.log*"))
    records = [
        json.loads(line)
        for file in files
        if not file.name.endswith(".lock")
        for line in file.read_text().splitlines()
    ]
    assert sorted((r["writer"], r["index"]) for r in records) == sorted(
        (writer, index) for writer in range(WRITERS) for index in range(1000)
    )
    assert len(files) > 10  # it did rotate, many times
    # One rotation at a time: no file past the cap by more than the lines written
    # to it by the other processes before they noticed the new file.
    assert max(file.stat().st_size for file in files) < 20_000 + WRITERS * 1_000


def test_file_output_keeps_backup_count_files(tmp_path: Path) -> None:
    """With backup_count=2, app.log.1 and app.log.2 remain; older ones are dropped."""
    path = tmp_path / "app.log"
    configure(outputs=[FileOutput(path, max_bytes=1_000, backup_count=2)])
    for index in range(100):
        logger.info("line", index=index)
    names = sorted(file.name for file in tmp_path.iterdir() if not file.name.endswith(".lock"))
    assert names == ["app.log", "app.log.1", "app.log.2"]
    newest = json.loads(path.read_text().splitlines()[-1])
    assert newest["index"] == 99


def test_file_output_with_a_bad_path_or_option_fails_when_made(tmp_path: Path) -> None:
    """A missing directory or a bad rotation option fails at once, not at the first record."""
    with pytest.raises(FileNotFoundError):
        FileOutput(tmp_path / "missing" / "app.log")
    with pytest.raises(ValueError, match="max_bytes"):
        FileOutput(tmp_path / "app.log", max_bytes=0)
    with pytest.raises(ValueError, match="backup_count"):
        FileOutput(tmp_path / "app.log", backup_count=0)


# -- LoggingOutput ---------------------------------------------------------------------------


@pytest.fixture
def app_handler() -> Any:
    """A JSON handler on logger "tests.outputs" (not propagating); removed afterwards."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    target = logging.getLogger("tests.outputs")
    target.addHandler(handler)
    target.propagate = False
    target.setLevel(logging.INFO)
    yield stream
    target.removeHandler(handler)
    target.propagate = True
    target.setLevel(logging.NOTSET)


def test_logging_output_hands_records_to_the_loggers_handlers(app_handler: io.StringIO) -> None:
    """Through logging, a JsonFormatter writes the same line as a stream output would."""
    direct = io.StringIO()
    configure(outputs=[LoggingOutput(), StreamOutput(direct, format="json")], level="DEBUG")
    logger.info("charged", amount=12, password="p")
    logger.debug("below the logger's level")  # tests.outputs is at INFO
    (handed,) = app_handler.getvalue().splitlines()
    assert json.loads(handed) == json.loads(direct.getvalue().splitlines()[0])
    assert json.loads(handed)["password"] == "[REDACTED]"


def test_logging_output_does_not_hand_logging_records_back() -> None:
    """Each record reaches a root handler once: logging's own delivery, ours handed over."""
    root_stream, other = io.StringIO(), io.StringIO()
    handler = logging.StreamHandler(root_stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    configure(outputs=[LoggingOutput(), StreamOutput(other, format="json")])
    logging.getLogger("tests_outputs_library").warning("library line")
    logger.info("our line")
    for stream in (root_stream, other):
        messages = [json.loads(line)[keys.MESSAGE] for line in stream.getvalue().splitlines()]
        assert messages == ["library line", "our line"]


# -- Several outputs at once -----------------------------------------------------------------


def test_each_output_has_its_own_format_and_level(tmp_path: Path) -> None:
    """JSON on one stream, console on another from WARNING, a file from DEBUG."""
    json_stream, console_stream = io.StringIO(), io.StringIO()
    path = tmp_path / "debug.log"
    configure(
        outputs=[
            StreamOutput(json_stream, format="json"),
            StreamOutput(console_stream, format="console", level="WARNING"),
            FileOutput(path, level="DEBUG"),
        ],
        console_width=100,
    )
    logger.debug("detail")
    logger.info("progress")
    try:
        raise ValueError("bad input")
    except ValueError:
        logger.exception("failed")
    assert [json.loads(line)[keys.MESSAGE] for line in json_stream.getvalue().splitlines()] == [
        "progress",
        "failed",
    ]
    failed = json.loads(json_stream.getvalue().splitlines()[-1])
    assert failed[keys.ERROR][keys.ERROR_TYPE_NAME] == "ValueError"
    assert "exc_info" not in failed
    console = console_stream.getvalue()
    assert "failed" in console.splitlines()[0]  # the first line: progress is below WARNING
    assert "ValueError: bad input" in console  # the console draws the traceback itself
    in_file = [json.loads(line)[keys.MESSAGE] for line in path.read_text().splitlines()]
    assert in_file == ["detail", "progress", "failed"]


def test_outputs_and_stream_together_are_refused() -> None:
    """stream= is the one-output shorthand: with outputs= it is an error."""
    with pytest.raises(ValueError, match=r"either stream= .* or outputs="):
        configure(stream=io.StringIO(), outputs=[StreamOutput()])


@pytest.mark.parametrize(
    ("outputs", "error"),
    [
        ([], ValueError),
        ("stdout", ValueError),
        ([io.StringIO()], TypeError),
        ([StreamOutput(format="xml")], ValueError),
        ([StreamOutput(level="LOUD")], ValueError),
    ],
)
def test_bad_outputs_fail_at_configure(outputs: Any, error: type[Exception]) -> None:
    """An empty list, a non-output, an unknown format or level fails at configure()."""
    with pytest.raises(error):
        configure(outputs=outputs)


def test_outputs_variable_names_the_outputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """FLEXT_LOG_OUTPUTS="stderr,file:PATH" writes to both; an argument would win."""
    path = tmp_path / "app.log"
    monkeypatch.setenv("FLEXT_LOG_OUTPUTS", f"stderr, file:{path}")
    configure(format="json")
    logger.info("to both")
    assert json.loads(capsys.readouterr().err)[keys.MESSAGE] == "to both"
    assert json.loads(path.read_text())[keys.MESSAGE] == "to both"
    monkeypatch.setenv("FLEXT_LOG_OUTPUTS", "stdout,kafka:topic")
    with pytest.raises(ValueError, match="FLEXT_LOG_OUTPUTS: 'kafka:topic'"):
        configure()


def test_async_output_writes_a_file_output_from_its_thread(tmp_path: Path) -> None:
    """async_output wraps each output; shutdown() writes what was queued."""
    from flext_logging import shutdown

    path = tmp_path / "app.log"
    configure(outputs=[FileOutput(path)], async_output=True)
    for index in range(500):
        logger.info("queued", index=index)
    shutdown()
    assert [json.loads(line)["index"] for line in path.read_text().splitlines()] == list(range(500))
