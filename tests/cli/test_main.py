"""The ``flext-logging`` command end to end: in-process through main(argv), and as a process."""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from cli_records import make_record

from flext_logging import FlextContext, FlextExceptions, configure, get_logger, keys
from flext_logging.cli.main import follow, main

ROOT = Path(__file__).resolve().parents[2]


def _workload(path: Path) -> dict[str, str]:
    """Log one request with a child correlation, a span and a failing FlextExceptions call.

    The file ends with a line that is not JSON and a cut-off record of the root.
    """
    logger = get_logger("shop.checkout")
    ids: dict[str, str] = {}
    with path.open("w") as stream:
        configure(format="json", stream=stream, service_name="shop")
        with (
            FlextContext.Correlation.new_correlation() as root,
            FlextContext.Request.request_context(request_id="req-42"),
        ):
            ids["root"] = root
            logger.info("order received")
            with FlextContext.Performance.timed_operation("reserve_stock"):
                logger.info("stock reserved")
            with FlextContext.Correlation.new_correlation() as child:
                ids["child"] = child
                with FlextContext.Trace.span() as span:
                    ids["span"] = span.span_id
                    logger.info("calling payments")
                with FlextContext.Correlation.new_correlation() as grandchild:
                    ids["grandchild"] = grandchild
                    try:
                        with FlextContext.Performance.timed_operation("charge_card"):
                            raise FlextExceptions("card not found", resource_id="card-1")
                    except FlextExceptions.BaseError:
                        logger.exception("payment failed")
            logger.info("order placed")
        stream.write("a line that is not JSON\n")
        stream.write(
            f'{{"timestamp":"2026-11-23T10:00:00Z","correlation_id":"{ids["root"]}","mes\n'
        )
    return ids


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main(argv)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _outline(node: dict[str, Any], depth: int = 0) -> list[str]:
    lines = ["  " * depth + f"{node['kind']} {node['status']} {node['operation']}"]
    for child in node["children"]:
        lines += _outline(child, depth + 1)
    return lines


def test_trace_rebuilds_the_tree_a_real_workload_logged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nested correlations, a span and a failed timed operation come back as one tree."""
    log = tmp_path / "app.log"
    ids = _workload(log)
    status, out, err = _run(["trace", ids["root"], str(log), "--format", "json"], capsys)
    assert status == 0
    tree = orjson.loads(out)
    assert _outline(tree) == [
        "correlation ok reserve_stock",
        "  correlation ok None",
        "    span ok None",
        "    correlation failed charge_card",
    ]
    child = tree["children"][0]
    assert (child["id"], child["children"][0]["id"]) == (ids["child"], ids["span"])
    failed = child["children"][1]
    assert failed["id"] == ids["grandchild"]
    # Each error names its event, and the exception's own message where there is one.
    assert [(e["event"], e["message"], e["code"]) for e in failed["errors"]] == [
        (keys.EVENT_OPERATION_FAILED, None, "FLEXT_NOT_FOUND_ERROR"),
        ("payment failed", "card not found", "FLEXT_NOT_FOUND_ERROR"),
    ]
    assert [r[keys.MESSAGE] for r in tree["records"]] == [
        "order received",
        "stock reserved",
        keys.EVENT_OPERATION_FINISHED,
        "order placed",
    ]
    # Only lines naming the id are parsed, so only the cut-off record is counted.
    assert err == f"flext-logging: skipped 1 line that was not a JSON record (in {log})\n"


def test_trace_by_request_finds_the_same_tree(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A request id, detected or forced with --by, rebuilds the tree from its root."""
    log = tmp_path / "app.log"
    ids = _workload(log)
    for extra in ([], ["--by", "request"]):
        status, out, _ = _run(["trace", "req-42", str(log), "--format", "json", *extra], capsys)
        assert status == 0
        assert orjson.loads(out)["id"] == ids["root"]


def test_trace_draws_a_tree_by_default(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Without --format, trace prints the rich tree with each node's summary line."""
    log = tmp_path / "app.log"
    ids = _workload(log)
    status, out, _ = _run(["trace", ids["grandchild"], str(log), "--width", "140"], capsys)
    assert status == 0
    lines = out.splitlines()
    assert lines[0].startswith(f"correlation {ids['grandchild']}  ")
    assert lines[0].endswith("  failed [FLEXT_NOT_FOUND_ERROR]  shop charge_card")
    assert [line[:4] for line in lines[1:]] == ["├── ", "└── "]


@pytest.mark.parametrize(
    ("argv", "expected", "message"),
    [
        (["trace", "no-such-id"], 1, "flext-logging: no record of 'no-such-id' found\n"),
        (["trace", "x", "missing.log"], 2, "flext-logging: no such file: missing.log\n"),
        (["trace", "x", "--where", "oops"], 2, "flext-logging: --where needs KEY=VALUE"),
        (["stats", "--since", "noon"], 2, "flext-logging: --since: not an RFC 3339 time: 'noon'\n"),
        (["trace"], 2, "error: the following arguments are required: ID\n"),
        (["explode"], 2, "invalid choice: 'explode'"),
        (["stats", "--width", "0"], 2, "at least 20 columns, got 0"),
    ],
)
def test_exit_status_tells_found_not_found_and_usage_errors(
    argv: list[str],
    expected: int,
    message: str,
    *,
    write_log: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """0 found, 1 id not found, 2 for bad options, files, filters or times."""
    log = write_log("app.log", make_record("hello", "01.000000", correlation="c"))
    monkeypatch.chdir(log.parent)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(log.read_bytes())))
    status, _, err = _run(argv, capsys)
    assert status == expected
    assert message in err


def test_trace_reads_stdin_gzip_and_globs_together(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Records of one correlation spread over stdin, a .gz file and a glob are merged."""
    import gzip

    (tmp_path / "a.log").write_bytes(
        orjson.dumps(make_record("from glob", "02.000000", correlation="c"))
    )
    (tmp_path / "b.log.gz").write_bytes(
        gzip.compress(orjson.dumps(make_record("from gzip", "03.000000", correlation="c")))
    )
    piped = orjson.dumps(make_record("from stdin", "01.000000", correlation="c")) + b"\n"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(piped)))
    argv = ["trace", "c", "-", str(tmp_path / "*.log"), str(tmp_path / "b.log.gz")]
    status, out, _ = _run([*argv, "--format", "json"], capsys)
    assert status == 0
    assert [r[keys.MESSAGE] for r in orjson.loads(out)["records"]] == [
        "from stdin",
        "from glob",
        "from gzip",
    ]


def test_trace_filters_apply_before_the_tree_is_built(
    write_log: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """--where and --since/--until keep only matching records of the tree."""
    log = write_log(
        "app.log",
        make_record("early", "01.000000", correlation="c"),
        make_record("middle", "02.000000", correlation="c", level="warning"),
        make_record("late", "03.000000", correlation="c"),
    )
    window = ["--since", "2026-11-23T10:00:02Z", "--until", "2026-11-23T10:00:03Z"]
    status, out, _ = _run(["trace", "c", str(log), "--format", "json", *window], capsys)
    assert [r[keys.MESSAGE] for r in orjson.loads(out)["records"]] == ["middle"]
    status, out, _ = _run(
        ["trace", "c", str(log), "--format", "json", "--where", "level=info"], capsys
    )
    assert status == 0
    assert [r[keys.MESSAGE] for r in orjson.loads(out)["records"]] == ["early", "late"]


def test_pretty_passes_unknown_lines_through_and_merges_files_by_time(
    write_log: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """Records become readable lines in time order; other lines are printed unchanged."""
    first = write_log(
        "a.log",
        make_record("one", "01.000000", service="gateway"),
        "plain [text] line",
        make_record("three", "03.000000", service="gateway"),
    )
    second = write_log("b.log", make_record("two", "02.000000", service="users", user_id="u-1"))
    status, out, _ = _run(["pretty", str(first), str(second), "--width", "100"], capsys)
    assert status == 0
    assert out.splitlines() == [
        "10:00:01.000 info     gateway one  [test]",
        "plain [text] line",
        "10:00:02.000 info     users two  [test] user_id=u-1",
        "10:00:03.000 info     gateway three  [test]",
    ]


def test_pretty_with_a_filter_drops_unknown_lines(
    write_log: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """With --where only matching records are printed."""
    log = write_log(
        "a.log",
        make_record("one", "01.000000", level="error"),
        "plain line",
        make_record("two", "02.000000"),
    )
    _, out, _ = _run(["pretty", str(log), "--where", "level=error"], capsys)
    assert out.splitlines() == ["10:00:01.000 error    shop one  [test]"]


def test_pretty_follow_prints_lines_as_the_file_grows(tmp_path: Path) -> None:
    """follow() prints what is appended until its stop callback ends it."""
    log = tmp_path / "app.log"
    log.write_bytes(orjson.dumps(make_record("first", "01.000000")) + b"\n")
    appends = [orjson.dumps(make_record("second", "02.000000")) + b"\nnot json\n"]

    def grow_then_stop() -> bool:
        if not appends:
            return True
        with log.open("ab") as stream:
            stream.write(appends.pop())
        return False

    output = io.StringIO()
    follow(str(log), width=100, output=output, stop=grow_then_stop, poll_interval=0)
    assert output.getvalue().splitlines() == [
        "10:00:01.000 info     shop first  [test]",
        "10:00:02.000 info     shop second  [test]",
        "not json",
    ]


def test_pretty_follow_needs_one_file(capsys: pytest.CaptureFixture[str]) -> None:
    """--follow on stdin is a usage error."""
    status, _, err = _run(["pretty", "--follow", "-"], capsys)
    assert (status, err) == (2, "flext-logging: --follow needs exactly one file\n")


def test_stats_counts_a_real_workload(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """stats lists the timed operations and the error code of the failed one."""
    log = tmp_path / "app.log"
    _workload(log)
    status, out, _ = _run(["stats", str(log), "--width", "100"], capsys)
    assert status == 0
    rows = {line.split("│")[1].strip(): line for line in out.splitlines() if line.startswith("│")}
    assert set(rows) == {"reserve_stock", "charge_card", "FLEXT_NOT_FOUND_ERROR"}
    assert rows["charge_card"].split("│")[2:4] == ["     1 ", "      1 "]
    assert rows["FLEXT_NOT_FOUND_ERROR"].split("│")[2] == "     2 "


def test_python_m_runs_the_cli_on_two_real_services(tmp_path: Path) -> None:
    """examples/two_services.py's log, traced by trace id in a subprocess, nests four spans."""
    example = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "two_services.py")],
        capture_output=True,
        check=True,
        timeout=60,
    )
    log = tmp_path / "two.log"
    log.write_bytes(example.stdout)
    trace_id = orjson.loads(example.stdout.splitlines()[0])[keys.TRACE_ID]
    result = subprocess.run(
        [sys.executable, "-m", "flext_logging", "trace", trace_id, str(log), "--format", "json"],
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    tree = orjson.loads(result.stdout)

    def chain(node: dict[str, Any]) -> list[str]:
        label = [f"{node['kind']} {node['service']} {node['operation']} {node['status_code']}"]
        return label + [line for child in node["children"] for line in chain(child)]

    lines = chain(tree)
    assert lines[0].startswith("correlation shop ")
    assert [line.rsplit(":", 1)[0] if "http://" in line else line for line in lines[1:]] == [
        "span None POST http://127.0.0.1",
        "span shop POST /orders 200",
        "span shop POST http://127.0.0.1",
        "span billing POST /invoices 200",
    ]
    assert all(len(node["children"]) <= 1 for node in [tree])


def test_importing_the_package_does_not_import_the_cli() -> None:
    """flext_logging's import leaves the CLI (and its argparse setup) unloaded."""
    code = "import sys, flext_logging; print('flext_logging.cli' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout == "False\n"


def test_the_command_starts_without_loading_the_logging_pipeline() -> None:
    """`flext-logging` imports neither structlog nor the pipeline: it starts in a blink."""
    code = (
        "import sys, flext_logging.cli.main;"
        "print(sorted(m for m in ('structlog', 'flext_logging._pipeline') if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert loaded.strip() == "[]"


def test_trace_starts_its_search_before_importing_what_only_later_steps_need() -> None:
    """Loading the command (which forks trace's search workers) loads neither argparse,
    signal, StringZilla, typing nor re: the workers start searching as early as they can."""
    unwanted = ("argparse", "re", "signal", "stringzilla", "typing")
    code = f"import sys, flext_logging.cli.main; print([m for m in {unwanted} if m in sys.modules])"
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert loaded.strip() == "[]"


def test_a_trace_of_our_own_records_needs_neither_the_preset_tables_nor_shutil(
    write_log: Callable[..., Path],
) -> None:
    """Records in our schema are read without the presets' field tables, and the parser's
    help width is found without shutil; both stay unloaded through a whole trace."""
    path = write_log(
        "app.log", make_record("order placed", "2026-11-23T10:00:00Z", correlation="c")
    )
    code = (
        "import sys; from flext_logging.cli.main import main;"
        f"status = main(['trace', 'c', {str(path)!r}]);"
        "print(status, sorted(m for m in ('flext_logging.presets', 'shutil') if m in sys.modules),"
        " file=sys.stderr)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.startswith("correlation c")
    assert result.stderr.strip() == "0 []"


@pytest.mark.parametrize("columns", ["60", "160", "", "nonsense"])
def test_help_is_laid_out_as_argparse_would_lay_it_out(
    columns: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The help of each command is what argparse's own formatter writes, at ``COLUMNS``
    (or the terminal's width, 80 without one): only the way the width is found differs."""
    import argparse

    from flext_logging.cli.main import build_parser

    monkeypatch.setenv("COLUMNS", columns)
    for command in ("trace", "requests", "pretty", "stats"):
        parser = build_parser(command)
        choices = next(
            action.choices
            for action in parser._actions  # the subcommands and their parsers
            if isinstance(action, argparse._SubParsersAction)
        )
        ours = choices[command].format_help()
        choices[command].formatter_class = argparse.HelpFormatter
        assert ours == choices[command].format_help()


@pytest.mark.parametrize(
    ("ident", "expected"), [("c", 0), ("0xc", 0), ("nothere", 1), ('say "c"', 1)]
)
def test_the_executable_exits_with_the_status_of_main_and_all_its_output(
    ident: str, expected: int, write_log: Callable[..., Path]
) -> None:
    """run(), the installed `flext-logging`, ends the process at once: status and output
    are main's, whether the id's search started before the modules loaded or not."""
    records = [make_record(f"line {n}", f"0{n}.000000", correlation="c") for n in range(3)]
    log = write_log("app.log", *records)
    code = "import sys; from flext_logging.cli.main import run; sys.argv[1:] = sys.argv[2:]; run()"
    result = subprocess.run(
        [sys.executable, "-c", code, "-", "trace", ident, str(log), "--format", "json"],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == expected, result.stderr
    if expected == 0:
        tree = orjson.loads(result.stdout)
        assert [record[keys.MESSAGE] for record in tree["records"]] == [
            "line 0",
            "line 1",
            "line 2",
        ]
    else:
        assert b"no record of" in result.stderr


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize("command", ["pretty", "stats"])
def test_a_full_disk_under_the_output_is_an_error_without_a_traceback(
    tmp_path: Path, command: str
) -> None:
    """Output that cannot be written (`> file` on a full disk) ends in exit status 120 and
    one line on stderr, as Python itself exits when it cannot flush: never status 0."""
    log = tmp_path / "app.log"
    log.write_bytes(orjson.dumps(make_record("one line", "2026-12-01T10:00:00Z")) + b"\n")
    with Path("/dev/full").open("w") as full:
        result = subprocess.run(
            [sys.executable, "-m", "flext_logging", command, str(log)],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 120
    assert "Traceback" not in result.stderr
    message = "flext-logging: cannot write the output: No space left on device"
    assert result.stderr.strip() == message


@pytest.mark.parametrize(
    "argv",
    [
        ["trace", "c", "{log}"],
        ["trace", "{log}", "c"],
        ["trace", "--by", "correlation", "c", "{log}"],
        ["trace", "c", "--format", "json", "{log}"],
        ["trace", "--where", "level=info", "c", "{log}"],
        ["trace", "--width", "100", "c", "{log}"],
        ["trace", "--fo", "json", "c", "{log}"],
        ["trace", "-v", "--local", "c", "{log}", "{log}"],
        ["trace", "--until=2030-01-01T00:00:00Z", "c", "{other}", "{log}"],
        ["trace", "--", "c", "{log}"],
    ],
)
def test_trace_finds_the_same_records_however_its_arguments_are_written(
    argv: list[str], write_log: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """The search that starts before the command line is parsed guesses the id and the
    file; a wrong guess (options in another order, abbreviated, id and file swapped)
    costs time, never a record."""
    records = [make_record(f"line {n}", f"0{n}.000000", correlation="c") for n in range(3)]
    log = write_log("app.log", *records)
    other = write_log("other.log", make_record("other", "05.000000", correlation="c"))
    command, *rest = (one.format(log=log, other=other) for one in argv)
    status, out, err = _run([command, "--format=json", *rest], capsys)
    if argv[1:3] == ["{log}", "c"]:  # the file given as the id, and no file named c
        assert status == 2, err
        return
    assert status == 0, err
    messages = [record[keys.MESSAGE] for record in orjson.loads(out)["records"]]
    expected = ["line 0", "line 1", "line 2"]
    assert messages == (expected if "{other}" not in argv else [*expected, "other"])
