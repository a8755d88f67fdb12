"""Renderers: JSON lines, logfmt and the rich console, compared exactly at a fixed width."""

from __future__ import annotations

import datetime
import io
import json
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from flext_logging import FlextContext, FlextExceptions, configure, get_logger, keys
from flext_logging.renderers import ConsoleRenderer, JSONRenderer, LogfmtRenderer, dumps_record

WHEN = datetime.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=datetime.timezone.utc)


class TerminalStream(io.StringIO):
    """A StringIO that says it is a terminal, as a console would."""

    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def _plain_terminal_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fix what rich reads to pick colours, and the local time zone (UTC), for every test."""
    for name in ("TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLORTERM", "COLUMNS", "LINES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def _record(**fields: Any) -> dict[str, Any]:
    return {
        keys.TIMESTAMP: WHEN,
        keys.LEVEL: "info",
        keys.LOGGER: "app",
        keys.MESSAGE: "user created",
        **fields,
    }


# -- JSON ------------------------------------------------------------------------------------


def test_dumps_record_writes_compact_json_with_z_timestamps() -> None:
    """A record becomes one compact JSON line whose datetimes are RFC 3339 with a 'Z'."""
    assert dumps_record({keys.TIMESTAMP: WHEN, "n": 1, "s": "é"}) == (
        '{"timestamp":"2024-05-06T07:08:09.123456Z","n":1,"s":"é"}\n'.encode()
    )


def test_json_renderer_returns_one_line_of_bytes() -> None:
    """JSONRenderer returns bytes ending in exactly one newline that parse back to the record."""
    line = JSONRenderer()(None, "info", _record(text="a\nb", nested={"k": [1, 2]}))
    assert isinstance(line, bytes)
    assert line.count(b"\n") == 1
    assert line.endswith(b"\n")
    assert json.loads(line) == {
        keys.TIMESTAMP: "2024-05-06T07:08:09.123456Z",
        keys.LEVEL: "info",
        keys.LOGGER: "app",
        keys.MESSAGE: "user created",
        "text": "a\nb",
        "nested": {"k": [1, 2]},
    }


def _cycle() -> dict[str, Any]:
    value: dict[str, Any] = {}
    value["again"] = value
    return value


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(2**70, str(2**70), id="wide-int"),
        pytest.param("\ud800", "\ud800", id="lone-surrogate"),
        pytest.param(_cycle(), {"again": "<cycle dict>"}, id="cycle"),
        pytest.param({(1, 2): "v"}, {"(1, 2)": "v"}, id="tuple-key"),
        pytest.param({1: "v"}, {"1": "v"}, id="int-key"),
        pytest.param(b"raw", "raw", id="bytes"),
        pytest.param({"b", "a"}, ["a", "b"], id="set"),
    ],
)
def test_dumps_record_encodes_values_json_rejects(value: object, expected: object) -> None:
    """Values plain JSON encoders reject are written as safe data, keeping the other fields."""
    line = dumps_record({keys.TIMESTAMP: WHEN, "value": value, "other": 1})
    assert line.count(b"\n") == 1
    assert json.loads(line) == {
        keys.TIMESTAMP: "2024-05-06T07:08:09.123456Z",
        "value": expected,
        "other": 1,
    }


# -- logfmt ----------------------------------------------------------------------------------


def test_logfmt_renders_key_value_pairs_in_record_order() -> None:
    """A record becomes key=value pairs on one line, quoting only where needed."""
    line = LogfmtRenderer()(None, "info", _record(plan="pro", seats=3))
    assert line == (
        "timestamp=2024-05-06T07:08:09.123456Z level=info logger=app "
        'message="user created" plan=pro seats=3\n'
    )


@pytest.mark.parametrize(
    ("value", "rendered"),
    [
        ("plain", "plain"),
        ("path/to:file-1.txt", "path/to:file-1.txt"),
        ("two words", '"two words"'),
        ("", '""'),
        ('say "hi"', '"say \\"hi\\""'),
        ("back\\slash", '"back\\\\slash"'),
        ("line\nbreak", '"line\\nbreak"'),
        ("carriage\rreturn", '"carriage\\rreturn"'),
        ("tab\there", '"tab\\there"'),
        ("k=v", '"k=v"'),
        ("ünï", '"ünï"'),
        (True, "true"),
        (False, "false"),
        (None, "null"),
        (3, "3"),
        (-1.5, "-1.5"),
        ({"a": [1, "b"]}, '"{\\"a\\":[1,\\"b\\"]}"'),
        ([1, 2], '"[1,2]"'),
        ((1,), '"[1]"'),
        (WHEN, "2024-05-06T07:08:09.123456Z"),
    ],
)
def test_logfmt_quotes_and_escapes_values(value: object, rendered: str) -> None:
    """Values with spaces, quotes or control characters are quoted and escaped; nested as JSON."""
    assert LogfmtRenderer()(None, "info", {"v": value}) == f"v={rendered}\n"


def test_logfmt_renders_other_objects_by_repr() -> None:
    """An object that is no JSON type is written as its quoted repr."""

    class Thing:
        def __repr__(self) -> str:
            return "<Thing 1>"

    assert LogfmtRenderer()(None, "info", {"v": Thing()}) == 'v="<Thing 1>"\n'


def test_logfmt_cleans_keys_so_pairs_stay_parseable() -> None:
    """Characters that would break key=value parsing are replaced in keys."""
    line = LogfmtRenderer()(None, "info", {"a key": 1, "k=v": 2, "": 3, 4: 5})
    assert line == "a_key=1 k_v=2 _=3 4=5\n"


def test_logfmt_keeps_each_record_on_one_line() -> None:
    """configure(format='logfmt') writes one line per record, even with newlines in values."""
    stream = io.StringIO()
    configure(format="logfmt", stream=stream)
    logger = get_logger("tests.logfmt")
    logger.info("multi\nline", detail="a\r\nb", data={"x": "y\nz"})
    logger.info("second")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("timestamp=")
    assert ' level=info logger=tests.logfmt message="multi\\nline" process_id=' in lines[0]
    assert ' detail="a\\r\\nb"' in lines[0]
    assert re.search(r" level=info logger=tests.logfmt message=second process_id=\d+$", lines[1])


# -- Console -----------------------------------------------------------------------------------


def _plain_line(message: str = "user created", fields: str = "", context: str = "") -> str:
    return f"07:08:09.123 info     {message:<32}{fields}  [app]{context}\n"


def test_console_renders_the_exact_line_at_a_fixed_width() -> None:
    """A record renders as time, level, padded message, fields, then logger and context."""
    renderer = ConsoleRenderer(io.StringIO(), width=80)
    rendered = renderer(
        None,
        "info",
        _record(
            correlation_id="abc",
            plan="pro",
            note="two words",
            empty="",
            seats=3,
            ok=True,
            data={"a": [1, 2]},
        ),
    )
    expected = _plain_line(
        fields=' plan=pro note="two words" empty="" seats=3 ok=True data={"a":[1,2]}',
        context=" corr=abc",
    )
    assert rendered == expected


def test_console_line_without_logger_name_or_timestamp() -> None:
    """A record without a name or a datetime timestamp leaves those parts out."""
    renderer = ConsoleRenderer(io.StringIO(), width=80)
    rendered = renderer(None, "warning", {keys.LEVEL: "warning", keys.MESSAGE: "careful"})
    assert rendered == f"warning  {'careful':<32}\n"


def test_configured_console_writes_the_exact_line() -> None:
    """configure(format='console') writes the same exact line, with no colour into a StringIO."""
    stream = io.StringIO()
    configure(format="console", stream=stream, console_width=80, log_operations=False)
    get_logger("app").info("user created", timestamp=WHEN, plan="pro")
    get_logger("app").debug("hidden at INFO", timestamp=WHEN)
    assert stream.getvalue() == _plain_line(fields=" plan=pro")


def test_console_has_colour_on_a_terminal() -> None:
    """On a terminal the console line carries ANSI styles (the contrast to the cases below)."""
    rendered = ConsoleRenderer(TerminalStream(), width=80)(None, "info", _record(plan="pro"))
    assert "\x1b[" in rendered


@pytest.mark.parametrize("forced_by", ["isatty", "FORCE_COLOR"])
def test_no_color_on_a_forced_terminal_writes_no_ansi_codes(
    monkeypatch: pytest.MonkeyPatch, forced_by: str
) -> None:
    """With NO_COLOR set, even a terminal gets plain text with no escape codes at all."""
    monkeypatch.setenv("NO_COLOR", "1")
    stream: io.StringIO = TerminalStream()
    if forced_by == "FORCE_COLOR":
        monkeypatch.setenv("FORCE_COLOR", "1")
        stream = io.StringIO()
    configure(format="console", stream=stream, console_width=80)
    get_logger("app").info("user created", timestamp=WHEN, plan="pro")
    assert stream.getvalue() == _plain_line(fields=" plan=pro")


def test_auto_format_on_a_terminal_is_coloured_console() -> None:
    """format='auto' on a terminal picks the console renderer, with colour."""
    stream = TerminalStream()
    configure(stream=stream, console_width=80)
    get_logger("app").info("user created", timestamp=WHEN)
    output = stream.getvalue()
    assert "\x1b[" in output
    assert "user created" in output
    assert not output.startswith("{")


def test_console_renders_an_exception_as_a_rich_traceback() -> None:
    """A record with an exception is followed by a traceback naming the exception and message."""
    stream = io.StringIO()
    configure(format="console", stream=stream, console_width=80)
    try:
        raise KeyError("missing-key")
    except KeyError:
        get_logger("app").exception("lookup failed", timestamp=WHEN)
    first, *rest = stream.getvalue().splitlines()
    assert first == f"07:08:09.123 error    {'lookup failed':<32}  [app]"
    traceback = "\n".join(rest)
    assert "Traceback" in traceback
    assert "KeyError: 'missing-key'" in traceback
    assert "test_renderers.py" in traceback
    assert "\x1b" not in traceback
    assert all(len(line) <= 80 for line in rest)


def test_console_shows_the_service_and_short_ids() -> None:
    """The service leads the message; long ids are cut to 8 characters, labelled short,
    and the version, environment and operation name are left off, so a line fits."""
    stream = io.StringIO()
    configure(format="console", stream=stream, service_name="svc", service_version="1.0")
    with (
        FlextContext.Correlation.new_correlation() as correlation_id,
        FlextContext.Request.request_context(request_id="req-7f3a", operation_name="signup"),
    ):
        get_logger("app").info("user created", timestamp=WHEN)
    line = stream.getvalue()
    assert line == (
        f"07:08:09.123 info     svc {'user created':<32}  [app] "
        f"corr={correlation_id[:8]} req=req-7f3a\n"
    )


def test_verbose_console_shows_every_context_value_whole() -> None:
    """configure(console_verbose=True) writes full ids under their schema names."""
    stream = io.StringIO()
    configure(
        format="console",
        stream=stream,
        service_name="svc",
        service_version="1.0",
        console_verbose=True,
    )
    with FlextContext.Correlation.new_correlation() as correlation_id:
        get_logger("app").info("user created", timestamp=WHEN)
    assert stream.getvalue() == (
        f"07:08:09.123 info     svc {'user created':<32}  [app] "
        f"correlation_id={correlation_id} service_version=1.0\n"
    )


def test_console_shows_code_and_context_of_a_flext_error() -> None:
    """A FlextExceptions error shows its code and context above the traceback."""
    stream = io.StringIO()
    configure(format="console", stream=stream, console_width=80)
    try:
        raise FlextExceptions("no such user", resource_id="u-1")
    except FlextExceptions.NotFoundError:
        get_logger("app").exception("lookup failed", timestamp=WHEN)
    lines = stream.getvalue().splitlines()
    assert lines[1] == 'FLEXT_NOT_FOUND_ERROR context={"resource_id":"u-1"}'
    assert "NotFoundError: no such user" in stream.getvalue()


@pytest.mark.parametrize("text", ["line\nbreak", "tab\there", "esc\x1b[31m"])
def test_console_message_with_control_characters_stays_on_one_line(text: str) -> None:
    """Line breaks and escape codes in a message are shown escaped, never acted on."""
    rendered = ConsoleRenderer(io.StringIO(), width=80)(
        None, "info", _record(**{keys.MESSAGE: text})
    )
    assert rendered.count("\n") == 1
    assert "\x1b" not in rendered


def test_console_writes_to_a_binary_stream() -> None:
    """A binary destination receives the same line, encoded as UTF-8."""
    stream = io.BytesIO()
    configure(format="console", stream=stream, console_width=80)
    get_logger("app").info("user created", timestamp=WHEN)
    assert stream.getvalue().decode("utf-8") == _plain_line()
