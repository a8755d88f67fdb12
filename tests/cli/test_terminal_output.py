"""What reaches a terminal: never a control sequence or markup from a log, never a lost status.

A log line is untrusted input. Its values are drawn as text, control characters as
visible escapes; a closed pipe ends the command with 0; a narrow terminal wraps a
node's line instead of cutting off its duration, status and error code.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from cli_records import make_record

from flext_logging import keys
from flext_logging.cli.main import main

ESC = "\x1b"
CSI = "\x9b"
HOSTILE = f"{ESC}[2J{ESC}]0;owned{ESC}\\{CSI}31m\x07\x08\u202e"
"""Clear the screen, set the window title, a one-character CSI, bell, backspace, RTL override."""
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202e]")
"""Every control character but newline and tab: none may be in the output."""


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main(argv)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _hostile_log(write_log: Callable[..., Path]) -> Path:
    return write_log(
        "app.log",
        make_record(
            keys.EVENT_REQUEST_FINISHED,
            "01.000000",
            correlation="c",
            span="s1",
            service=f"svc{HOSTILE}",
            method="GET",
            route=f"/r{HOSTILE}",
            status_code=500,
            duration_ms=5.0,
            **{f"key{HOSTILE}": f"value{HOSTILE}"},
        ),
        make_record(
            f"message{HOSTILE}",
            "01.100000",
            correlation="c",
            level="error",
            operation=f"op{HOSTILE}",
            error={keys.ERROR_CODE: f"CODE{HOSTILE}", keys.ERROR_MESSAGE: f"boom{HOSTILE}"},
        )
        | {keys.LOGGER: f"logger{HOSTILE}"},
        f"plain line {HOSTILE}",
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["pretty"],
        ["pretty", "-v"],
        ["trace", "c"],
        ["trace", "c", "--format", "timeline"],
        ["trace", "c", "--format", "json"],
        ["stats"],
        ["stats", "--by", "service"],
        ["stats", "--format", "json"],
        ["stats", "--format", "csv"],
        ["requests"],
        ["requests", "--format", "json"],
        ["requests", "--format", "csv"],
    ],
    ids=" ".join,
)
def test_no_control_character_from_a_log_reaches_the_output(
    argv: list[str], write_log: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """ESC, CSI (U+009B), BEL, BS and RTL overrides are written as visible escapes."""
    status, out, err = _run([*argv, str(_hostile_log(write_log))], capsys)
    assert status == 0, err
    assert CONTROL.search(out) is None, repr(CONTROL.search(out))
    assert CONTROL.search(err) is None
    if "json" not in argv:
        assert "\\x1b[2J" in out or "\\x1b" in out
    else:
        assert "\\u001b" in out
        assert "\\u009b" in out
        orjson.loads(out)  # still valid JSON, the same data


def test_json_keeps_the_text_exactly(
    write_log: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """The escaping of --format json is JSON's own: the values decode to what was logged."""
    _, out, _ = _run(["trace", "c", str(_hostile_log(write_log)), "--format", "json"], capsys)
    records = orjson.loads(out)["children"][0]["records"]
    assert records[0][keys.SERVICE_NAME] == f"svc{HOSTILE}"


MARKUP = [
    "/%5B/x%5D",
    "/[/x]",
    "[link=https://evil.example/]pay-here[/link]",
    "[bold red]alarm[/]",
    "[/]",
]


@pytest.mark.parametrize(
    "argv", [["stats"], ["requests"], ["pretty"], ["trace", "r"]], ids=" ".join
)
def test_markup_in_a_log_is_shown_as_text(
    argv: list[str], write_log: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """Routes like `/[/x]` or `[link=…]` neither crash the table nor become a live link."""
    records = [
        make_record(
            keys.EVENT_REQUEST_FINISHED,
            f"0{n}.000000",
            correlation=f"c{n}",
            request_id="r",
            method="GET",
            route=route,
            path=route,
            status_code=200,
            duration_ms=1.0,
        )
        for n, route in enumerate(MARKUP)
    ]
    log = write_log("app.log", *records)
    status, out, err = _run([*argv, str(log), "--width", "200"], capsys)
    assert (status, err) == (0, "")
    for route in MARKUP:
        assert route in out
    assert "\x1b]8;" not in out


def test_a_closed_pipe_exits_zero(write_log: Callable[..., Path]) -> None:
    """`pretty … | head -1`, `stats … | head -1`: the reader left, the command did its job."""
    lines = [make_record(f"line {n}", "01.000000", service="shop") for n in range(20_000)]
    log = write_log("app.log", *lines)
    for command in (["pretty"], ["stats", "--by", "service"], ["trace", "x"]):
        reader = subprocess.Popen(
            [sys.executable, "-m", "flext_logging", *command, str(log)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert reader.stdout is not None
        reader.stdout.readline()
        reader.stdout.close()  # what `head -1` does after its line
        _, stderr = reader.communicate(timeout=60)
        expected = 1 if command[0] == "trace" else 0  # no record of x: 1, and only then
        assert (reader.returncode, stderr.count(b"Traceback")) == (expected, 0), stderr


def test_a_closed_pipe_exits_zero_in_process(
    write_log: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """rich's own broken-pipe answer is SystemExit(1); the command answers 0 instead."""

    class ClosedPipe:
        def write(self, text: str) -> int:
            raise BrokenPipeError

        def flush(self) -> None:
            raise BrokenPipeError

        def isatty(self) -> bool:
            return False

    log = write_log("app.log", make_record("one", "01.000000", correlation="c"))
    for argv in (["pretty", str(log)], ["stats", str(log)], ["trace", "c", str(log)]):
        monkeypatch.setattr(sys, "stdout", ClosedPipe())
        assert main(argv) == 0


def test_a_narrow_terminal_wraps_a_node_and_keeps_its_status(
    write_log: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """At 80 columns, deep in the tree, duration, status, code and failures below stay."""
    root, child = "a" * 32, "b" * 32
    log = write_log(
        "app.log",
        make_record("start", "01.000000", correlation=root, operation_name="checkout"),
        make_record(
            keys.EVENT_REQUEST_FAILED,
            "01.500000",
            correlation=child,
            parent=root,
            span="s" * 16,
            service="payments-and-billing",
            method="POST",
            route="/very/long/route/of/the/payments/service/{payment_id}/capture",
            status_code=503,
            duration_ms=12.5,
            level="error",
            error={keys.ERROR_CODE: "FLEXT_UPSTREAM_UNAVAILABLE"},
        ),
    )
    status, out, _ = _run(["trace", root, str(log), "--width", "80", "--no-records"], capsys)
    assert status == 0
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 80
    text = " ".join(line.strip("│├└─ ") for line in lines)
    assert "(1 failed below)" in text
    assert "12.5 ms" in text
    assert "failed 503" in text
    assert "[FLEXT_UPSTREAM_UNAVAILABLE]" in text
    assert "…" not in out
