"""The last step of the pipeline: a record becomes one line of output.

Every renderer returns a complete line, newline included, and never raises because of
a value: what cannot be encoded falls back to a bounded ``repr``.
"""

from __future__ import annotations

import datetime
import io
import json
import os
import re
import sys
from collections.abc import Callable, Mapping
from typing import IO, Any, Final

import orjson
from rich.console import Console
from rich.text import Text
from rich.traceback import Trace, Traceback

from flext_logging import keys
from flext_logging._jsonsafe import (
    TRUNCATION_MARK,
    int_text,
    native,
    safe_repr,
    to_json_safe,
    truncate,
)
from flext_logging.context import process_defaults
from flext_logging.exceptions import BaseError
from flext_logging.processors import EXC_INFO
from flext_logging.redaction import Redactor

__all__ = [
    "DEFAULT_MAX_RECORD_BYTES",
    "ConsoleRenderer",
    "JSONRenderer",
    "LogfmtRenderer",
    "dumps_record",
    "fit_record",
]

_ORJSON_OPTIONS: Final = orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS | orjson.OPT_APPEND_NEWLINE
DEFAULT_MAX_RECORD_BYTES: Final = 65_536
"""The default size cap of one rendered record, newline included (64 KiB)."""
MIN_MAX_RECORD_BYTES: Final = 1024
"""The smallest cap accepted: room for the head, the context and the truncation marker."""

# orjson escapes control characters below U+0020 but writes the C1 controls raw
# (U+0080-U+009F: U+009B alone starts a terminal control sequence, U+0085 ends a line)
# and LINE and PARAGRAPH SEPARATOR, which end a line for str.splitlines() and for many
# log shippers. In UTF-8 the C1 controls are C2 80 to C2 9F.
_RAW_CONTROLS: Final = re.compile(b"\xc2[\x80-\x9f]|\xe2\x80[\xa8\xa9]")


def _escape_control(match: re.Match[bytes]) -> bytes:
    return b"\\u%04x" % ord(match.group().decode("utf-8"))


def _escape_breaks(line: bytes) -> bytes:
    # isascii() is a fast scan; the substring tests cost more and run only when needed.
    if not line.isascii() and (b"\xc2" in line or b"\xe2\x80" in line):
        line = _RAW_CONTROLS.sub(_escape_control, line)
    return line


def _quoted(text: str) -> str:
    """*text* as a JSON string literal with every unprintable character escaped."""
    quoted = json.dumps(text, ensure_ascii=False)
    return quoted if quoted.isprintable() else _escape_unprintable(quoted)


def _escape_unprintable(text: str) -> str:
    """Escape what ``str.isprintable()`` rejects: controls (C0, DEL, C1), line and
    paragraph separators, format characters such as bidi overrides, lone surrogates,
    unassigned code points. Nothing in the result moves a terminal's cursor or starts
    a control sequence."""
    return "".join(char if char.isprintable() else _escape_char(char) for char in text)


def _escape_char(char: str) -> str:
    code = ord(char)
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    code -= 0x10000  # beyond the BMP: a surrogate pair, as JSON writes it
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def _default(value: Any) -> Any:
    # orjson calls this for types it does not know; anything unusual becomes safe data.
    return to_json_safe(value)


def dumps_record(record: object, *, default: Callable[[Any], Any] | None = None) -> bytes:
    """Encode *record* as one JSON line (bytes ending in a newline), whatever it holds.

    *default*, when given, encodes the values orjson has no form for, in place of the
    library's own conversion (which still takes over if it fails).
    """
    try:
        return _escape_breaks(
            orjson.dumps(record, default=default or _default, option=_ORJSON_OPTIONS)
        )
    except Exception:  # noqa: BLE001, S110 - cycles, huge ints, bad keys: take the safe path
        pass
    safe = to_json_safe(record)
    try:
        return _escape_breaks(orjson.dumps(safe, option=_ORJSON_OPTIONS))
    except Exception:  # noqa: BLE001 - e.g. lone surrogates, which stdlib json escapes
        return (json.dumps(safe, ensure_ascii=True) + "\n").encode("ascii")


_PROTECTED: Final = frozenset((keys.TIMESTAMP, keys.LEVEL, keys.LOGGER, *keys.CONTEXT_KEYS))
_MARKER_RESERVE: Final = 64  # bytes for "truncated":true and the list's punctuation
_LAST_RESORT_TEXT: Final = 100  # characters of logger and message in a last-resort record


def fit_record(
    record: Mapping[str, Any], limit: int, render: Callable[[dict[str, Any]], bytes | str]
) -> bytes | str:
    """Render *record* within *limit* bytes by cutting its largest fields.

    The head and the context ids are kept whole; the largest other fields (the message
    too, which is shortened but never removed) are cut to a string prefix marked
    ``...[truncated]``, or removed when too little of them would be left. A record
    that was cut carries ``truncated: true`` and ``truncated_fields``, the names cut.
    """
    sizes = {
        key: len(dumps_record(value)) + len(str(key))
        for key, value in record.items()
        if key not in _PROTECTED
    }
    fitted = dict(record)
    cut: list[str] = []
    line = render(fitted)
    for key in sorted(sizes, key=sizes.__getitem__, reverse=True):
        excess = _size(line) - limit
        if excess <= 0:
            break
        excess += _MARKER_RESERVE + 4 * (len(cut) + 1) + sum(len(str(k)) for k in (*cut, key))
        value = fitted[key]
        text = value if isinstance(value, str) else dumps_record(value).decode().rstrip("\n")
        # Escapes and multi-byte characters make a character cost more than one byte.
        per_char = max(sizes[key] / max(len(text), 1), 1.0)
        keep = int((sizes[key] - excess) / per_char) - len(TRUNCATION_MARK)
        if keep >= _MIN_KEPT or key == keys.MESSAGE:
            fitted[key] = truncate(text, max(keep, 0) + len(TRUNCATION_MARK))
        else:
            del fitted[key]
        cut.append(str(key))
        fitted[keys.TRUNCATED] = True
        fitted[keys.TRUNCATED_FIELDS] = cut
        line = render(fitted)
    if _size(line) <= limit:
        return line
    # Thousands of small fields, or a huge logger name: keep only what must stay.
    last: dict[str, Any] = {key: record[key] for key in _PROTECTED if key in record}
    last[keys.LOGGER] = truncate(str(last.get(keys.LOGGER, "")), _LAST_RESORT_TEXT)
    last[keys.MESSAGE] = truncate(str(record.get(keys.MESSAGE, "")), _LAST_RESORT_TEXT)
    last[keys.TRUNCATED] = True
    last[keys.TRUNCATED_FIELDS] = [str(key) for key in sizes][:20]
    line = render({key: last[key] for key in (*keys.RECORD_KEYS, *_MARKER) if key in last})
    if _size(line) <= limit:
        return line
    head = (keys.TIMESTAMP, keys.LEVEL, keys.LOGGER, keys.MESSAGE, keys.TRUNCATED)
    return render({key: last[key] for key in head if key in last})


_MIN_KEPT: Final = 256  # a field cut shorter than this is removed instead
_MARKER: Final = (keys.TRUNCATED, keys.TRUNCATED_FIELDS)


def _size(line: bytes | str) -> int:
    return len(line) if isinstance(line, bytes) else len(line.encode("utf-8", "surrogatepass"))


class JSONRenderer:
    """Render a record as one JSON object per line (bytes), timestamps as RFC 3339 ``Z``.

    A line longer than *max_record_bytes* is cut with :func:`fit_record`, so it is still
    one valid JSON object; ``None`` turns the cap off.
    """

    __slots__ = ("_limit",)

    def __init__(self, *, max_record_bytes: int | None = DEFAULT_MAX_RECORD_BYTES) -> None:
        self._limit = max_record_bytes

    def __call__(self, logger: Any, method_name: str, event_dict: dict[str, Any]) -> bytes:
        # dumps_record's first step inlined: this is the path of nearly every record.
        try:
            line = orjson.dumps(event_dict, default=_default, option=_ORJSON_OPTIONS)
        except Exception:  # noqa: BLE001 - the fallbacks of dumps_record take over
            line = dumps_record(event_dict)
        else:
            if not line.isascii():
                line = _escape_breaks(line)
        limit = self._limit
        if limit is not None and len(line) > limit:
            return fit_record(event_dict, limit, dumps_record)  # type: ignore[return-value]  # bytes in, bytes out
        return line


_LOGFMT_BARE: Final = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:/@+"
)


class LogfmtRenderer:
    """Render a record as ``key=value`` pairs on one line; nested values become JSON.

    A line longer than *max_record_bytes* is cut as the JSON renderer cuts it.
    """

    __slots__ = ("_limit",)

    def __init__(self, *, max_record_bytes: int | None = DEFAULT_MAX_RECORD_BYTES) -> None:
        self._limit = max_record_bytes

    def __call__(self, logger: Any, method_name: str, event_dict: dict[str, Any]) -> str:
        line = _logfmt_line(event_dict)
        limit = self._limit
        if limit is not None and len(line) * 4 > limit and _size(line) > limit:
            return fit_record(event_dict, limit, _logfmt_line)  # type: ignore[return-value]  # str in, str out
        return line


def _logfmt_line(event_dict: Mapping[str, Any]) -> str:
    parts = [f"{_logfmt_key(key)}={_logfmt_value(value)}" for key, value in event_dict.items()]
    return " ".join(parts) + "\n"


def _logfmt_key(key: object) -> str:
    text = key if isinstance(key, str) else safe_repr(key, 100)
    cleaned = "".join(char if char in _LOGFMT_BARE else "_" for char in text)
    return cleaned or "_"


def _logfmt_value(value: object) -> str:
    if isinstance(value, datetime.datetime):
        text = str(to_json_safe(value))
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif value is None:
        text = "null"
    elif isinstance(value, int):
        text = int_text(value)  # past Python's digit limit, str() raises
    elif isinstance(value, float):
        text = str(value)
    elif isinstance(value, str):
        text = value
    else:
        text = _as_text(value)
    if text and all(char in _LOGFMT_BARE for char in text):
        return text
    # Quoted with every control and line-breaking character escaped: one record, one line.
    return _quoted(text)


_LEVEL_STYLES: Final = {
    "debug": "blue",
    "info": "green",
    "warning": "yellow",
    "error": "bold red",
    "critical": "bold white on red",
}
_MESSAGE_WIDTH: Final = 32


class ConsoleRenderer:
    """Render a record for people: time, coloured level, message, fields, then dim context.

    The message is padded so the call's fields start in one column; the logger name
    and context follow, dimmed, without the process-wide service identity (it is the
    same on every line). Colour follows the destination: none when it is not a
    terminal or ``NO_COLOR`` is set. Exceptions are drawn as rich tracebacks, with a
    FlextExceptions error's code and context above them. With a *redactor*, the
    exception messages and error context drawn are redacted like the fields are.

    A record is untrusted text: every character ``str.isprintable()`` rejects (C0 and
    C1 controls, ESC, the one-character CSI U+009B, line separators, bidi overrides)
    is written as a ``\\uXXXX`` escape wherever it appears, the traceback included,
    so nothing from a record reaches a terminal as a control sequence. The only
    styling is this renderer's own.
    """

    __slots__ = ("_console", "_redactor")

    def __init__(
        self,
        stream: IO[Any] | None = None,
        *,
        width: int | None = None,
        redactor: Redactor | None = None,
    ) -> None:
        self._redactor = redactor
        terminal = _is_terminal(stream if stream is not None else sys.stdout)
        colour = (terminal or bool(os.environ.get("FORCE_COLOR"))) and not os.environ.get(
            "NO_COLOR"
        )
        # rich only renders into a private buffer; the pipeline's writer does the output,
        # so text and binary destinations are handled alike.
        self._console = Console(
            file=io.StringIO(),
            width=width or 100,
            force_terminal=colour,
            color_system="auto" if colour else None,
            highlight=False,
            soft_wrap=True,
        )

    def __call__(self, logger: Any, method_name: str, event_dict: dict[str, Any]) -> str:
        record = dict(event_dict)
        exc = record.pop(EXC_INFO, None)
        line = Text()
        timestamp = record.pop(keys.TIMESTAMP, None)
        if timestamp is not None:
            line.append(_clock(timestamp) + " ", style="dim")
        level = _one_line(record.pop(keys.LEVEL, ""))
        line.append(f"{level:<8} ", style=_LEVEL_STYLES.get(level, ""))
        message = _one_line(record.pop(keys.MESSAGE, ""))
        line.append(f"{message:<{_MESSAGE_WIDTH}}", style="bold")
        name = record.pop(keys.LOGGER, "")
        context = {key: record.pop(key) for key in keys.CONTEXT_KEYS if key in record}
        for key, value in record.items():
            line.append(f" {_one_line(key)}=", style="cyan")
            line.append(_console_value(value), style="magenta")
        if name:
            line.append(f"  [{_one_line(name)}]", style="dim cyan")
        defaults = process_defaults()
        for key, value in context.items():
            if defaults.get(key) != value:
                line.append(f" {key}={_console_value(value)}", style="dim")
        console = self._console
        with console.capture() as capture:
            console.print(line)
            if isinstance(exc, BaseError):
                error_context = exc.context
                if self._redactor is not None:
                    error_context = self._redactor.redact_value(error_context)
                code = _one_line(exc.error_code)
                code_line = f"{code} context={_console_value(error_context)}"
                console.print(Text(code_line, style="red"))
            if isinstance(exc, BaseException):
                trace = Traceback.extract(type(exc), exc, exc.__traceback__, show_locals=False)
                _clean_trace(trace, self._redactor)
                console.print(Traceback(trace, show_locals=False))
        return capture.get()


def _clean_trace(trace: Trace, redactor: Redactor | None) -> None:
    """Redact (with a *redactor*) and escape, in place, the text a traceback draws."""

    def clean(text: object) -> str:
        text = text if isinstance(text, str) else safe_repr(text)
        if redactor is not None:
            text = redactor.redact_text(text)
        return _one_line(text)

    for stack in trace.stacks:
        stack.exc_type = clean(stack.exc_type)
        stack.exc_value = clean(stack.exc_value)
        stack.notes = [clean(note) for note in stack.notes]
        for frame in stack.frames:
            frame.filename = _one_line(frame.filename)
            frame.name = _one_line(frame.name)
            frame.line = _one_line(frame.line)
        error = stack.syntax_error
        if error is not None:
            error.filename = _one_line(error.filename)
            error.line = clean(error.line.rstrip("\n"))
            error.msg = clean(error.msg)
            error.notes = [clean(note) for note in error.notes]
        for member in stack.exceptions:
            _clean_trace(member, redactor)


def _clock(timestamp: object) -> str:
    """The local wall-clock time of a record, to the millisecond."""
    if isinstance(timestamp, str):
        try:
            timestamp = datetime.datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
        except ValueError:
            return _one_line(timestamp)
    if isinstance(timestamp, datetime.datetime):
        return timestamp.astimezone().strftime("%H:%M:%S.%f")[:-3]
    return _one_line(safe_repr(timestamp))


def _one_line(value: object) -> str:
    text = value if isinstance(value, str) else safe_repr(value)
    # Escape line breaks and every other unprintable character: one record, one line,
    # and no control sequence for the terminal.
    return text if text.isprintable() else _quoted(text)[1:-1]


def _is_terminal(stream: IO[Any]) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _console_value(value: object) -> str:
    if isinstance(value, str):
        bare = value and value.isprintable() and not any(char in value for char in ' "=')
        return value if bare else _quoted(value)
    if isinstance(value, datetime.datetime):
        return str(to_json_safe(value))
    return _one_line(_as_text(value))


def _as_text(value: object) -> str:
    """A value that is not text, as logfmt and the console write it: JSON for data
    (containers, sets, dataclasses, models), the ``repr`` of anything else."""
    data = native(value)
    if isinstance(data, str):
        return data
    if isinstance(data, (Mapping, list, tuple)):
        return dumps_record(data).decode("utf-8").rstrip("\n")
    return safe_repr(data)
