"""Nothing from a record reaches a terminal as a control sequence, in any format.

A log line is untrusted input: a value can carry ESC sequences, the one-character C1
CSI (U+009B) or OSC (U+009D), bidi overrides. The console format escapes every
character ``str.isprintable()`` rejects wherever it draws text (message, keys, values,
logger name, the traceback, notes, causes, the error code line); JSON and logfmt lines
escape control characters, C1 included, so ``tail -f`` of a log file is safe too.
"""

from __future__ import annotations

import builtins
import io
import re
from collections.abc import Callable

import pytest

from flext_logging import FlextExceptions, configure, get_logger

HOSTILE = {
    "csi": "\x1b[31;5mred-blink",
    "osc_title": "\x1b]0;pwned\x07",
    "c1_csi": "\x9b31mred",
    "c1_osc": "\x9d0;pwned\x9c",
    "c1_dcs": "\x90qdcs\x9c",
    "nel": "a\x85b",
    "bidi_override": "user\u202eexe.txt",
    "delete": "ab\x7fc",
    "bell": "ding\x07",
}
# What may not appear raw: C0 (but the newline ending a line), DEL, C1, bidi controls.
UNSAFE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# The console's own colours, when colour is on: SGR sequences, nothing else.
OWN_STYLING = re.compile("\x1b\\[[0-9;]*m")


def _raise_chain(text: str) -> None:
    try:
        try:
            raise KeyError(f"cause {text}")
        except KeyError as cause:
            error = ValueError(f"boom {text}")
            error.add_note(f"note {text}")
            raise error from cause
    except ValueError:
        get_logger("tests.terminal").exception("failed")


def _raise_flext(text: str) -> None:
    try:
        raise FlextExceptions(f"denied {text}", error_code=f"E_{text}", detail=text)
    except Exception:
        get_logger("tests.terminal").exception("flext error")


def _raise_group(text: str) -> None:
    group = getattr(builtins, "ExceptionGroup", None)  # Python 3.11+
    error = ValueError(f"member {text}")
    try:
        raise group(f"group {text}", [error]) if group is not None else error
    except Exception:
        get_logger("tests.terminal").exception("group")


POSITIONS: dict[str, Callable[[str], None]] = {
    "message": lambda text: get_logger("tests.terminal").info(f"m {text}"),
    "percent_args": lambda text: get_logger("tests.terminal").info("m %s", text),
    "key": lambda text: get_logger("tests.terminal").info("m", **{f"k{text}": 1}),
    "value": lambda text: get_logger("tests.terminal").info("m", value=text),
    "nested_value": lambda text: get_logger("tests.terminal").info("m", value={"a": [text]}),
    "object_value": lambda text: get_logger("tests.terminal").info("m", value=ValueError(text)),
    "logger_name": lambda text: get_logger(f"tests.{text}").info("m"),
    "traceback_chain_and_notes": _raise_chain,
    "error_code_and_context": _raise_flext,
    "exception_group": _raise_group,
}


def _assert_safe(output: str, *, colour: bool = False) -> None:
    if colour:
        output = OWN_STYLING.sub("", output)
    assert output
    found = sorted({f"U+{ord(char):04X}" for char in UNSAFE.findall(output)})
    assert found == []


@pytest.mark.parametrize("position", sorted(POSITIONS))
@pytest.mark.parametrize("hostile", sorted(HOSTILE))
def test_console_escapes_every_control_character(position: str, hostile: str) -> None:
    """The console format draws no control character from a record, anywhere."""
    stream = io.StringIO()
    configure(format="console", stream=stream, console_width=100)
    POSITIONS[position](HOSTILE[hostile])
    _assert_safe(stream.getvalue())


@pytest.mark.parametrize("position", sorted(POSITIONS))
def test_console_with_colour_adds_only_its_own_styling(
    position: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With colour forced on, the only escape sequences are the renderer's own SGR codes."""
    monkeypatch.setenv("FORCE_COLOR", "1")
    stream = io.StringIO()
    configure(format="console", stream=stream, console_width=100)
    POSITIONS[position]("".join(HOSTILE.values()))
    _assert_safe(stream.getvalue(), colour=True)


@pytest.mark.parametrize("output_format", ["json", "logfmt"])
@pytest.mark.parametrize("position", sorted(POSITIONS))
def test_json_and_logfmt_lines_carry_no_raw_control_character(
    position: str, output_format: str
) -> None:
    """ESC and the C1 controls are escaped in JSON and logfmt lines, so a terminal is safe."""
    stream = io.StringIO()
    configure(format=output_format, stream=stream)
    POSITIONS[position]("".join(v for k, v in HOSTILE.items() if k != "bidi_override"))
    output = stream.getvalue()
    assert output
    assert re.findall("[\x00-\x09\x0b-\x1f\x80-\x9f]", output) == []
