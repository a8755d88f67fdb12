"""The last step of the pipeline: a record becomes one line of output.

Every renderer returns a complete line, newline included, and never raises because of
a value: what cannot be encoded falls back to a bounded ``repr``.
"""

from __future__ import annotations

import datetime
import io
import json
import os
import sys
from collections.abc import Mapping
from typing import IO, Any, Final

import orjson
from rich.console import Console
from rich.text import Text
from rich.traceback import Traceback

from flext_logging import keys
from flext_logging._jsonsafe import safe_repr, to_json_safe
from flext_logging.context import process_defaults
from flext_logging.exceptions import BaseError
from flext_logging.processors import EXC_INFO

__all__ = ["ConsoleRenderer", "JSONRenderer", "LogfmtRenderer", "dumps_record"]

_ORJSON_OPTIONS: Final = orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS | orjson.OPT_APPEND_NEWLINE


def _default(value: Any) -> Any:
    # orjson calls this for types it does not know; anything unusual becomes safe data.
    return to_json_safe(value)


def dumps_record(record: object) -> bytes:
    """Encode *record* as one JSON line (bytes ending in a newline), whatever it holds."""
    try:
        return orjson.dumps(record, default=_default, option=_ORJSON_OPTIONS)
    except Exception:  # noqa: BLE001, S110 - cycles, huge ints, bad keys: take the safe path
        pass
    safe = to_json_safe(record)
    try:
        return orjson.dumps(safe, option=_ORJSON_OPTIONS)
    except Exception:  # noqa: BLE001 - e.g. lone surrogates, which stdlib json escapes
        return (json.dumps(safe, ensure_ascii=True) + "\n").encode("ascii")


class JSONRenderer:
    """Render a record as one JSON object per line (bytes), timestamps as RFC 3339 ``Z``."""

    __slots__ = ()

    def __call__(self, logger: Any, method_name: str, event_dict: dict[str, Any]) -> bytes:
        return dumps_record(event_dict)


_LOGFMT_BARE: Final = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:/@+"
)


class LogfmtRenderer:
    """Render a record as ``key=value`` pairs on one line; nested values become JSON."""

    __slots__ = ()

    def __call__(self, logger: Any, method_name: str, event_dict: dict[str, Any]) -> str:
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
    elif isinstance(value, (int, float)):
        text = str(value)
    elif isinstance(value, str):
        text = value
    else:
        text = (
            dumps_record(value).decode("utf-8").rstrip("\n")
            if isinstance(value, (Mapping, list, tuple))
            else safe_repr(value)
        )
    if text and all(char in _LOGFMT_BARE for char in text):
        return text
    # json.dumps quotes and escapes control characters, so the record stays one line.
    return json.dumps(text, ensure_ascii=False)


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
    FlextExceptions error's code and context above them.
    """

    __slots__ = ("_console",)

    def __init__(self, stream: IO[Any] | None = None, *, width: int | None = None) -> None:
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
        level = str(record.pop(keys.LEVEL, ""))
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
                code_line = f"{exc.error_code} context={_console_value(exc.context)}"
                console.print(Text(code_line, style="red"))
            if isinstance(exc, BaseException):
                console.print(
                    Traceback.from_exception(type(exc), exc, exc.__traceback__, show_locals=False)
                )
        return capture.get()


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
    # Escape line breaks and other control characters: one record, one line.
    return text if text.isprintable() else json.dumps(text, ensure_ascii=False)[1:-1]


def _is_terminal(stream: IO[Any]) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _console_value(value: object) -> str:
    if isinstance(value, str):
        bare = value and value.isprintable() and not any(char in value for char in ' "=')
        return value if bare else json.dumps(value, ensure_ascii=False)
    if isinstance(value, datetime.datetime):
        return str(to_json_safe(value))
    if isinstance(value, (Mapping, list, tuple)):
        return dumps_record(value).decode("utf-8").rstrip("\n")
    return _one_line(safe_repr(value))
