"""Rendering at a fixed width without colour (tree, timeline, JSON, pretty lines), and the width."""

from __future__ import annotations

import io
import re
from pathlib import Path

import orjson
import pytest
from render_sample import sample_records
from rich.console import Console

from flext_logging.cli import render
from flext_logging.cli.main import main
from flext_logging.cli.tree import Node, build_tree


@pytest.fixture
def root() -> Node:
    """The sample request's tree."""
    return build_tree(sample_records(), "c-root", "correlation")


def _console() -> tuple[Console, io.StringIO]:
    output = io.StringIO()
    return Console(file=output, width=100, color_system=None), output


def test_tree_shows_each_node_and_its_records_in_time_order(root: Node) -> None:
    """Nodes show service, route, start, duration, status; records and children interleave."""
    console, output = _console()
    render.render_tree(root, console)
    assert output.getvalue() == (
        "correlation c-root  10:00:01.000  100.0 ms  ok (1 failed below)"
        "  gateway GET /users/{user_id}\n"
        "├── span s-gw  10:00:01.000  100.0 ms  ok 404  gateway GET /users/{user_id}\n"
        "│   ├── 10:00:01.000 info    request_started\n"
        "│   ├── span s-call  10:00:01.010  70.0 ms  ok 404  gateway GET http://users/users/7\n"
        "│   │   └── 10:00:01.080 info    http_request_finished duration_ms=70.0 status_code=404\n"
        "│   └── 10:00:01.100 info    request_finished duration_ms=100.0 status_code=404\n"
        "└── correlation c-lookup  10:00:01.020  40.0 ms  failed [FLEXT_NOT_FOUND_ERROR]"
        "  users load_user\n"
        "    ├── 10:00:01.020 info    user lookup\n"
        "    └── 10:00:01.060 error   operation_failed operation=load_user duration_ms=35.5"
        " status=failed er…\n"
    )


def test_tree_without_records_shows_only_nodes(root: Node) -> None:
    """with_records=False leaves out the record lines."""
    console, output = _console()
    render.render_tree(root, console, with_records=False)
    assert output.getvalue().splitlines() == [
        (
            "correlation c-root  10:00:01.000  100.0 ms  ok (1 failed below)"
            "  gateway GET /users/{user_id}"
        ),
        "├── span s-gw  10:00:01.000  100.0 ms  ok 404  gateway GET /users/{user_id}",
        "│   └── span s-call  10:00:01.010  70.0 ms  ok 404  gateway GET http://users/users/7",
        (
            "└── correlation c-lookup  10:00:01.020  40.0 ms  failed [FLEXT_NOT_FOUND_ERROR]"
            "  users load_user"
        ),
    ]


def test_orphans_and_skew_are_labelled() -> None:
    """An orphan names its missing parent; a skewed child says how far it was moved."""
    orphan = Node(kind="correlation", id="b", orphan=True, missing_parent="gone")
    skewed = Node(kind="span", id="s", skew_ms=12.5, service="users", duration_ms=3.0)
    top = Node(kind="request", id="r1", children=[orphan, skewed])
    console, output = _console()
    render.render_tree(top, console)
    assert output.getvalue().splitlines() == [
        "request r1  --:--:--.---  -  ok",
        "├── correlation b  --:--:--.---  -  ok  (orphan: parent gone not found)",
        (
            "└── span s  --:--:--.---  3.0 ms  ok  users"
            "  (clock skew: starts 12.5 ms before its parent)"
        ),
    ]


def test_timeline_draws_bars_from_start_for_the_duration(root: Node) -> None:
    """Each node is a bar offset by its start and as long as its duration."""
    console, output = _console()
    render.render_timeline(root, console)
    bar = "█"
    assert output.getvalue().splitlines() == [
        "C gateway GET /users/{user_id}           " + bar * 41 + "     ok   100.0 ms",
        "  S gateway GET /users/{user_id}         " + bar * 41 + "     ok   100.0 ms",
        "    S gateway GET http://users/users/7       " + bar * 29 + "             ok    70.0 ms",
        "  C users load_user                              "
        + bar * 16
        + "                  failed    40.0 ms",
        "                                         0 ms                             100.0 ms",
    ]


def test_json_is_the_tree_as_data(root: Node) -> None:
    """--format json nests children and keeps each node's records and errors."""
    data = orjson.loads(render.render_json(root))
    assert [child["id"] for child in data["children"]] == ["s-gw", "c-lookup"]
    lookup = data["children"][1]
    assert lookup["status"] == "failed"
    assert lookup["errors"][0]["code"] == "FLEXT_NOT_FOUND_ERROR"
    assert [r["message"] for r in lookup["records"]] == ["user lookup", "operation_failed"]
    assert data["children"][0]["children"][0]["start"] == "2026-11-23T10:00:01.010000Z"


def test_pretty_line_puts_fields_before_dimmed_context() -> None:
    """A pretty line reads time, level, service, message, fields, logger, then context."""
    console, output = _console()
    console.print(render.pretty_line(sample_records()[4]), soft_wrap=True)
    assert output.getvalue() == (
        "10:00:01.060 error    users operation_failed duration_ms=35.5 status=failed"
        " error_code=FLEXT_NOT_FOUND_ERROR  [test] corr=c-lookup parent=c-root"
        " operation=load_user\n"
    )


def test_pretty_line_shows_the_process_id_only_verbose_and_no_empty_code() -> None:
    """The process id is the same on every line of a process: shown with -v only. An
    error without a code shows its type and message, not ``code=None``."""
    record = {
        **sample_records()[4],
        "process_id": 4242,
        "error": {"type": "ValueError", "message": "card declined"},
    }
    plain, verbose = (
        render.pretty_line(record, render.View(verbose=flag)).plain for flag in (False, True)
    )
    assert "4242" not in plain
    assert " process_id=4242 " in verbose
    assert " error=ValueError: card declined  [test]" in plain
    assert "code=" not in plain.replace("error_code=", "")


class _Terminal(io.StringIO):
    """A stderr that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_progress_is_silent_off_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    """With stderr not a terminal (pytest captures it), nothing is drawn, however long."""
    with render.progress(2000, delay_s=0) as advance:
        advance(1000)
    assert capsys.readouterr().err == ""


def test_progress_waits_before_drawing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reading that ends before the delay draws nothing, even on a terminal."""
    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    with render.progress(2000, delay_s=3600) as advance:
        advance(2000)
    assert terminal.getvalue() == ""


@pytest.mark.parametrize(("total", "shown"), [(2000, "2.0/2.0 kB"), (0, "2.0/? kB")])
def test_progress_is_drawn_on_a_terminal_once_reading_takes_long(
    monkeypatch: pytest.MonkeyPatch, total: int, shown: str
) -> None:
    """Past the delay a bar counts the bytes read, against the total when it is known."""
    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    with render.progress(total, delay_s=0) as advance:
        advance(1000)
        advance(1000)
    drawn = ANSI_STYLE.sub("", terminal.getvalue())
    assert "reading" in drawn
    assert shown in drawn


def test_timeline_through_the_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """trace --format timeline prints one bar row per node and the time axis."""
    log = tmp_path / "app.log"
    log.write_bytes(b"\n".join(orjson.dumps(record) for record in sample_records()))
    assert main(["trace", "c-root", str(log), "--format", "timeline", "--width", "100"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("█")[0].strip() for line in lines[:4]] == [
        "C gateway GET /users/{user_id}",
        "S gateway GET /users/{user_id}",
        "S gateway GET http://users/users/7",
        "C users load_user",
    ]
    assert lines[4].split() == ["0", "ms", "100.0", "ms"]
    assert [line.split()[-3] for line in lines[:4]] == ["ok", "ok", "ok", "failed"]


# -- width: the terminal's, whole lines to a pipe or a file, or --width -----------------------

LONG_MESSAGE = "payment provider answered" + " slowly" * 60
ANSI_STYLE = re.compile(r"\x1b\[[0-9;]*m")


class TerminalStream(io.StringIO):
    """A StringIO that says it is a terminal, as the console's destination."""

    def isatty(self) -> bool:
        return True


def _long_log(tmp_path: Path) -> Path:
    """The sample request with one record wider than any terminal."""
    long_record = {**sample_records()[3], "message": LONG_MESSAGE}
    log = tmp_path / "app.log"
    log.write_bytes(b"\n".join(orjson.dumps(r) for r in [*sample_records(), long_record]))
    return log


@pytest.mark.parametrize("command", [["trace", "c-root"], ["pretty"]])
def test_lines_written_to_a_pipe_come_out_whole(
    command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --width, output that is not a terminal is neither cut nor wrapped."""
    assert main([*command, str(_long_log(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert "…" not in out
    assert len([line for line in out.splitlines() if LONG_MESSAGE in line]) == 1


def test_an_explicit_width_still_cuts_the_tree(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--width keeps its meaning off a terminal: lines end in an ellipsis at that width."""
    assert main(["trace", "c-root", str(_long_log(tmp_path)), "--width", "60"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert max(len(line) for line in lines) == 60
    assert next(line for line in lines if "payment provider" in line).endswith("…")


def test_timeline_written_to_a_pipe_is_120_columns_wide(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The timeline needs a width to scale its bars to: 120 columns off a terminal."""
    assert main(["trace", "c-root", str(_long_log(tmp_path)), "--format", "timeline"]) == 0
    bars = [line for line in capsys.readouterr().out.splitlines() if "█" in line]
    assert len(bars) == 4
    assert {len(line) for line in bars} == {render.TIMELINE_WIDTH}


def test_a_terminal_is_filled_to_its_width(root: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a terminal (here 60 columns) the tree is cut to fit, as before."""
    monkeypatch.setenv("COLUMNS", "60")
    terminal = TerminalStream()
    render.render_tree(root, render.new_console(file=terminal))
    lines = ANSI_STYLE.sub("", terminal.getvalue()).splitlines()
    assert max(len(line) for line in lines) == 60
    assert lines[-1] == "    └── 10:00:01.060 error   operation_failed operation=loa…"


def test_pretty_shortens_ids_and_verbose_shows_them_whole() -> None:
    """Long hex ids are cut to 8 characters, as git does; -v gives them whole, by name."""
    record = {
        **sample_records()[0],
        "correlation_id": "a" * 32,
        "request_id": "b" * 32,
        "service_version": "1.2.3",
    }
    short = render.pretty_line(record).plain
    assert short.endswith(f"[test] corr={'a' * 8} span=s-gw req={'b' * 8}")
    full = render.pretty_line(record, render.View(verbose=True)).plain
    assert full.endswith(
        f"[test] correlation_id={'a' * 32} span_id=s-gw request_id={'b' * 32} service_version=1.2.3"
    )
