"""One record is one line, whatever its values hold, and never larger than the cap."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable
from typing import Any

import pytest

from flext_logging import (
    FlextContext,
    FlextExceptions,
    JsonFormatter,
    configure,
    get_logger,
    keys,
)
from flext_logging.renderers import (
    DEFAULT_MAX_RECORD_BYTES,
    JSONRenderer,
    LogfmtRenderer,
    dumps_record,
)

log = get_logger("tests.lines")

BREAKERS = ["\n", "\r", "\r\n", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]


@pytest.mark.parametrize("output_format", ["json", "logfmt", "console"])
@pytest.mark.parametrize("breaker", BREAKERS, ids=[f"U+{ord(b[0]):04X}" for b in BREAKERS])
def test_line_breaking_characters_never_split_a_record(output_format: str, breaker: str) -> None:
    """Every character str.splitlines() splits on is escaped in message, keys and values."""
    stream = io.StringIO()
    configure(format=output_format, stream=stream)
    text = f"a{breaker}b"
    log.info(text, **{f"k{breaker}ey": text, "nested": {"v": [text]}})
    output = stream.getvalue()
    assert output.endswith("\n")
    assert len(output.splitlines()) == 1


def test_json_line_with_separators_parses_back_to_the_same_text() -> None:
    """U+2028, U+2029 and NEL are escaped, and the JSON still decodes to the original."""
    text = "x\u2028y\u2029z\x85!"
    line = dumps_record({"m": text})
    assert b"\\u2028" in line
    assert b"\\u2029" in line
    assert b"\\u0085" in line
    assert json.loads(line) == {"m": text}


def _big_record(**fields: Any) -> dict[str, Any]:
    return {
        keys.TIMESTAMP: "2026-01-01T00:00:00.000000Z",
        keys.LEVEL: "info",
        keys.LOGGER: "tests.lines",
        keys.MESSAGE: "big one",
        keys.CORRELATION_ID: "c-1",
        keys.REQUEST_ID: "r-1",
        **fields,
    }


def test_oversized_record_is_cut_to_a_valid_line_keeping_head_and_context() -> None:
    """The largest fields are cut or dropped, head and context stay, and a marker names them."""
    record = _big_record(
        payload="p" * 100_000, rows=[{"n": n} for n in range(10_000)], small="kept"
    )
    line = JSONRenderer(max_record_bytes=4096)(None, "info", record)
    assert len(line) <= 4096
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1
    out = json.loads(line)
    for key in (keys.TIMESTAMP, keys.LEVEL, keys.LOGGER, keys.MESSAGE):
        assert out[key] == record[key]
    assert (out[keys.CORRELATION_ID], out[keys.REQUEST_ID]) == ("c-1", "r-1")
    assert out["small"] == "kept"
    assert out[keys.TRUNCATED] is True
    assert set(out[keys.TRUNCATED_FIELDS]) == {"payload", "rows"}


def test_cut_field_keeps_a_marked_prefix() -> None:
    """A large string field that can partly fit is shortened with a visible mark."""
    line = JSONRenderer(max_record_bytes=2048)(None, "info", _big_record(payload="p" * 5000))
    out = json.loads(line)
    assert out["payload"].startswith("ppp")
    assert out["payload"].endswith("...[truncated]")
    assert out[keys.TRUNCATED_FIELDS] == ["payload"]


def test_huge_message_is_shortened_never_removed() -> None:
    """The message is part of the head: it is cut to fit but always present."""
    record = _big_record()
    record[keys.MESSAGE] = "é\n" * 50_000  # multi-byte and escaped characters
    line = JSONRenderer(max_record_bytes=1024)(None, "info", record)
    assert len(line) <= 1024
    out = json.loads(line)
    assert out[keys.MESSAGE].startswith("é\n")
    assert out[keys.TRUNCATED_FIELDS] == [keys.MESSAGE]


def test_thousands_of_small_fields_keep_what_fits_and_account_for_the_rest() -> None:
    """Many small fields: those that fit stay, and every one cut is named or counted."""
    record = _big_record(**{f"field_{n}": n for n in range(5000)})
    line = JSONRenderer(max_record_bytes=2048)(None, "info", record)
    assert len(line) <= 2048
    out = json.loads(line)
    assert (out[keys.MESSAGE], out[keys.REQUEST_ID], out[keys.TRUNCATED]) == (
        "big one",
        "r-1",
        True,
    )
    kept = {key for key in out if key.startswith("field_")}
    named = set(out[keys.TRUNCATED_FIELDS])
    assert kept
    assert not kept & named
    assert len(kept) + len(named) + out[keys.FIELDS_OMITTED] == 5000


def test_a_record_past_the_field_cap_keeps_its_first_thousand_fields() -> None:
    """12,000 fields: the first 1000 are written, the others counted in fields_omitted."""
    record = _big_record(**{f"field_{n}": n for n in range(12_000)})
    out = json.loads(JSONRenderer()(None, "info", record))
    assert [key for key in out if key.startswith("field_")] == [f"field_{n}" for n in range(1000)]
    assert (out[keys.TRUNCATED], out[keys.FIELDS_OMITTED]) == (True, 11_000)
    assert out[keys.TRUNCATED_FIELDS] == []
    assert out[keys.MESSAGE] == "big one"


@pytest.mark.parametrize("renderer", [JSONRenderer, LogfmtRenderer])
def test_one_oversized_container_beside_small_fields_keeps_the_small_fields(
    renderer: type[JSONRenderer] | type[LogfmtRenderer],
) -> None:
    """A big list is cut; order_id and amount stay; only the list is named."""
    record = _big_record(rows=[{"n": n} for n in range(10_000)], order_id="o-1", amount=12.5)
    line = renderer(max_record_bytes=4096)(None, "info", record)
    text = line.decode() if isinstance(line, bytes) else line
    assert len(text.encode()) <= 4096
    if renderer is JSONRenderer:
        out = json.loads(text)
        assert (out["order_id"], out["amount"], out[keys.MESSAGE]) == ("o-1", 12.5, "big one")
        assert out[keys.TRUNCATED_FIELDS] == ["rows"]
        assert out["rows"].endswith("...[truncated]")
    else:
        assert " order_id=o-1 amount=12.5 " in text
        assert 'truncated_fields="[\\"rows\\"]"' in text
        assert "message=big one" not in text  # quoted, and whole
        assert 'message="big one"' in text


def test_a_big_exception_context_is_cut_inside_the_error() -> None:
    """The error keeps its type, message and code; only the big context value is cut."""
    stream = io.StringIO()
    configure(format="json", stream=stream, max_record_bytes=4096)
    try:
        raise FlextExceptions("declined", payment={"blob": "y" * 100_000, "id": "p-1"})
    except FlextExceptions.Error:
        log.exception("payment failed", order_id="o-1")
    line = stream.getvalue()
    assert len(line.encode()) <= 4096
    out = json.loads(line)
    error = out[keys.ERROR]
    assert (error[keys.ERROR_MESSAGE], error[keys.ERROR_CODE]) == ("declined", "FLEXT_ERROR")
    assert error[keys.ERROR_TYPE_NAME].endswith("Error")
    assert error[keys.ERROR_CONTEXT]["payment"]["id"] == "p-1"
    assert error[keys.ERROR_CONTEXT]["payment"]["blob"].endswith("...[truncated]")
    assert out[keys.TRUNCATED_FIELDS] == ["error.context.payment.blob"]
    assert out["order_id"] == "o-1"


@pytest.mark.parametrize("renderer", [JSONRenderer, LogfmtRenderer])
def test_escaped_characters_are_measured_exactly(
    renderer: type[JSONRenderer] | type[LogfmtRenderer],
) -> None:
    """Escapes dense at the start of a value: the cut still fits, keeping a prefix."""
    record = _big_record(payload="\x01" * 3000 + "a" * 50_000, order_id="o-1")
    line = renderer(max_record_bytes=4096)(None, "info", record)
    text = line.decode() if isinstance(line, bytes) else line
    assert len(text.encode()) <= 4096
    assert "...[truncated]" in text
    assert "o-1" in text
    assert "\\u0001" in text


def test_logfmt_line_is_capped_too() -> None:
    """The logfmt renderer cuts an oversized record the same way."""
    line = LogfmtRenderer(max_record_bytes=2048)(None, "info", _big_record(payload="p" * 9000))
    assert len(line.encode()) <= 2048
    assert "truncated=true" in line
    assert line.count("\n") == 1


def test_configure_caps_records_at_64_kib_by_default() -> None:
    """Without max_record_bytes a record over 64 KiB is cut; under it, nothing changes."""
    stream = io.StringIO()
    configure(format="json", stream=stream)
    log.info("small", payload="x" * 1000)
    log.info("large", payload="x" * 200_000)
    small, large = (json.loads(line) for line in stream.getvalue().splitlines())
    assert keys.TRUNCATED not in small
    assert large[keys.TRUNCATED] is True
    assert len(json.dumps(large, separators=(",", ":"))) <= DEFAULT_MAX_RECORD_BYTES


def test_max_record_bytes_none_turns_the_cap_off() -> None:
    """configure(max_record_bytes=None) writes records of any size whole."""
    stream = io.StringIO()
    configure(format="json", stream=stream, max_record_bytes=None)
    log.info("large", payload="x" * 200_000)
    assert json.loads(stream.getvalue())["payload"] == "x" * 200_000


@pytest.mark.parametrize("value", [0, 100, 1023, -1, True, 4096.0])
def test_configure_rejects_a_cap_too_small_to_hold_a_record(value: object) -> None:
    """A max_record_bytes below 1024 (or not an int) fails at start-up."""
    with pytest.raises(ValueError, match="max_record_bytes"):
        configure(max_record_bytes=value)  # type: ignore[arg-type]


def test_invalid_inbound_id_with_a_line_break_is_dropped() -> None:
    """An id carrying a newline from a header never becomes a field."""
    stream = io.StringIO()
    configure(format="json", stream=stream)
    with FlextContext.Serialization.context_from({"X-Request-Id": 'abc\n{"level":"x"}'}):
        log.info("served")
    lines = stream.getvalue().splitlines()
    assert all(json.loads(line) for line in lines)
    assert keys.REQUEST_ID not in json.loads(lines[-1])


def test_stdlib_json_formatter_caps_records_too() -> None:
    """The dictConfig JsonFormatter cuts an oversized record to one valid line of 64 KiB."""
    record = logging.LogRecord("tests.lines", logging.INFO, __file__, 1, "huge", (), None)
    record.payload = "z" * 300_000
    line = JsonFormatter().format(record)
    out = json.loads(line)
    assert len(line.encode()) < DEFAULT_MAX_RECORD_BYTES
    assert out[keys.MESSAGE] == "huge"
    assert out[keys.TRUNCATED_FIELDS] == ["payload"]


HUGE = 10**5000  # past Python's int-to-str digit limit: str() raises ValueError
HUGE_TEXT = f"<int of {HUGE.bit_length()} bits>"
HUGE_POSITIONS: dict[str, Callable[[], None]] = {
    "field": lambda: log.info("huge", count=HUGE, order_id="o-1"),
    "extra": lambda: log.info("huge", extra={"count": HUGE, "order_id": "o-1"}),
    "nested": lambda: log.info("huge", stats={"count": [HUGE]}, order_id="o-1"),
    "dict_key": lambda: log.info("huge", stats={HUGE: "big"}, order_id="o-1"),
    "set": lambda: log.info("huge", stats={HUGE, 1}, order_id="o-1"),
    "stdlib_extra": lambda: logging.getLogger("tests.lines.std").warning(
        "huge", extra={"count": HUGE, "order_id": "o-1"}
    ),
}


@pytest.mark.parametrize("redaction", [True, False], ids=["redaction", "no-redaction"])
@pytest.mark.parametrize("output_format", ["json", "logfmt", "console"])
@pytest.mark.parametrize("position", sorted(HUGE_POSITIONS))
def test_an_integer_past_the_digit_limit_only_changes_its_own_value(
    position: str, output_format: str, redaction: bool
) -> None:
    """10**5000 keeps the record's head, context and other fields; it becomes safe text."""
    stream = io.StringIO()
    configure(format=output_format, stream=stream, redaction=redaction)
    with FlextContext.Request.request_context(request_id="r-huge"):
        HUGE_POSITIONS[position]()
    output = stream.getvalue()
    assert HUGE_TEXT in output
    for expected in ("huge", "r-huge", "o-1", "tests.lines"):
        assert expected in output
    assert keys.LOGGING_ERROR not in output
    if output_format == "json":
        record = json.loads(output)
        assert record[keys.LEVEL] in ("info", "warning")
        assert record[keys.REQUEST_ID] == "r-huge"


def test_a_cut_record_keeps_the_fields_named_like_its_marker() -> None:
    """A call's own truncated/truncated_fields/fields_omitted are renamed <name>_field
    beside the marker (the collision rule of the head), never dropped."""
    record = _big_record(
        blob="x" * 10_000, truncated="mine", truncated_fields=["a"], fields_omitted=3
    )
    out = json.loads(JSONRenderer(max_record_bytes=4096)(None, "info", record))
    assert out[keys.TRUNCATED] is True
    assert out[keys.TRUNCATED_FIELDS] == ["blob"]
    assert (out["truncated_field"], out["truncated_fields_field"], out["fields_omitted_field"]) == (
        "mine",
        ["a"],
        3,
    )
