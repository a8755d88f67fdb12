"""Timestamps as written by any logger, read as seconds since the epoch, shown in one zone.

A record's time may be RFC 3339 text (``Z`` or an offset, ``T`` or a space, any number
of fraction digits, a comma before them as the stdlib's ``asctime`` writes), or a number:
epoch seconds, milliseconds, microseconds or nanoseconds, told apart by size (also as a
string of digits, as OpenTelemetry's ``timeUnixNano``). A time without a zone is taken
as UTC. Times are compared as numbers, never as text, and shown in UTC unless the user
asks for local time.
"""

from __future__ import annotations

import calendar
import datetime
import math
import re
from functools import lru_cache
from typing import Any, Final

from flext_logging import keys

__all__ = [
    "clock",
    "format_instant",
    "parse_instant",
    "parse_user_time",
    "record_seconds",
]

_RFC3339: Final = re.compile(
    r"\s*(\d{4})-(\d\d)-(\d\d)(?:[Tt ](\d\d):(\d\d)(?::(\d\d)(?:[.,](\d+))?)?)?"
    r"\s*(?:([Zz]|UTC|GMT)|([+-])(\d\d):?(\d\d)?)?\s*\Z"
)
_DIGITS: Final = re.compile(r"\d{9,20}(?:\.\d+)?\Z")
# Epoch numbers are told apart by magnitude: below 1e11 seconds (year 5138), below
# 1e14 milliseconds, below 1e17 microseconds, else nanoseconds.
_SECONDS_BELOW: Final = 1e11
_MILLIS_BELOW: Final = 1e14
_MICROS_BELOW: Final = 1e17
_MAX_TEXT: Final = 64


def parse_instant(value: object) -> float | None:
    """Return *value* as seconds since the epoch, or ``None`` when it is no time."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return _from_number(float(value))
    if isinstance(value, str) and len(value) <= _MAX_TEXT:
        return _parse_text(value)
    return None


def _from_number(number: float) -> float | None:
    if math.isnan(number) or number < 0:  # before 1970: not a log time
        return None
    if number < _SECONDS_BELOW:
        return number
    if number < _MILLIS_BELOW:
        return number / 1e3
    if number < _MICROS_BELOW:
        return number / 1e6
    return number / 1e9


_OURS_LENGTH: Final = len("2026-11-23T10:00:00.000000Z")


def _parse_text(text: str) -> float | None:
    # Our own form, fixed-width (``2026-11-23T10:00:00.123456Z``), is most lines' time:
    # read from its hour's start (remembered per hour) and three slices of digits.
    if (
        len(text) == _OURS_LENGTH
        and text[10] == "T"
        and text[13] == text[16] == ":"
        and text[19] == "."
        and text[26] == "Z"
    ):
        digits = text[14:16] + text[17:19] + text[20:26]
        hour = _hour_start(text[:13])
        if hour is not None and digits.isascii() and digits.isdigit():
            minute, second = int(digits[:2]), int(digits[2:4])
            if minute <= _LAST_MINUTE and second <= _LAST_MINUTE:
                return hour + minute * 60 + second + int(digits[4:]) / 1e6
    return _parse_any(text)


_LAST_MINUTE: Final = 59


@lru_cache(maxsize=256)
def _hour_start(text: str) -> float | None:
    """Seconds at the start of the hour ``YYYY-MM-DDTHH``, or ``None`` if it is none."""
    if not (text.isascii() and text[:4].isdigit() and text[4] == text[7] == "-"):
        return None
    return _parse_any(text + ":00:00Z")


@lru_cache(maxsize=4096)
def _parse_any(text: str) -> float | None:
    match = _RFC3339.match(text)
    if match is None:
        if _DIGITS.match(text.strip()):
            return _from_number(float(text))
        return None
    year, month, day, hour, minute, second, fraction, _, sign, off_h, off_m = match.groups()
    try:
        seconds = calendar.timegm(
            (int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0))
        )
        datetime.date(int(year), int(month), int(day))  # rejects 2026-02-31
    except (ValueError, OverflowError):
        return None
    if not (0 <= int(hour or 0) <= 23 and 0 <= int(minute or 0) <= 59):
        return None
    total = float(seconds)
    if fraction:
        total += int(fraction[:9]) / 10 ** len(fraction[:9])
    if sign is not None:
        offset = int(off_h) * 3600 + int(off_m or 0) * 60
        total -= offset if sign == "+" else -offset
    return total


def record_seconds(record: dict[str, Any]) -> float | None:
    """Return the record's time (our ``timestamp`` field) in seconds, ``None`` if unreadable."""
    return parse_instant(record.get(keys.TIMESTAMP))


def parse_user_time(text: str) -> float | None:
    """Return a ``--since``/``--until`` time in seconds, or ``None`` when it is not one."""
    return _parse_text(text) if len(text) <= _MAX_TEXT else None


def _moment(seconds: float, *, local: bool) -> datetime.datetime:
    moment = datetime.datetime.fromtimestamp(seconds, tz=datetime.timezone.utc)
    return moment.astimezone() if local else moment


def clock(seconds: float | None, *, local: bool = False) -> str:
    """``HH:MM:SS.mmm`` of *seconds* in UTC (or local time), dashes when unknown."""
    if seconds is None:
        return "--:--:--.---"
    try:
        moment = _moment(seconds, local=local)
    except (OverflowError, OSError, ValueError):
        return "--:--:--.---"
    return moment.strftime("%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def format_instant(seconds: float | None, *, local: bool = False) -> str | None:
    """RFC 3339 text of *seconds* with microseconds: ``Z`` in UTC, the offset in local time."""
    if seconds is None:
        return None
    try:
        moment = _moment(seconds, local=local)
    except (OverflowError, OSError, ValueError):
        return None
    text = moment.isoformat(timespec="microseconds")
    return text.replace("+00:00", "Z") if not local else text
