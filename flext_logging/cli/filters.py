"""The filters of every command: ``--where`` expressions, ``--since`` and ``--until``.

A filter looks at a record as normalized (our field names), then as it was written, so
that ``--where trace_id=…`` works on every dialect and ``--where log.level=…`` on ECS.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import orjson

from flext_logging import keys
from flext_logging.cli.fields import lookup, normalize_level, split_path
from flext_logging.cli.times import parse_user_time, record_seconds

__all__ = ["RecordFilter", "UsageError"]


class UsageError(Exception):
    """A command line that cannot be run: a missing file, a malformed filter or time."""


_OPERATOR: Final = re.compile(r"!=|>=|<=|==|=|~|>|<")
_NUMERIC_OPERATORS: Final = frozenset({">=", "<=", ">", "<"})
_MISSING: Final = object()


def _as_text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None or isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    return str(value)


def _as_number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


@dataclass(frozen=True)
class _Condition:
    path: tuple[str, ...]
    operator: str
    text: str
    number: float | None
    pattern: re.Pattern[str] | None

    def holds(self, value: object) -> bool:
        if self.operator == "!=":
            return value is _MISSING or self._text(value) != self.text
        if value is _MISSING:
            return False
        if self.operator == "=":
            return self._text(value) == self.text
        if self.operator == "~":
            assert self.pattern is not None
            return self.pattern.search(self._text(value)) is not None
        number = _as_number(value)
        if number is None or self.number is None:
            return False
        return {
            ">=": number >= self.number,
            "<=": number <= self.number,
            ">": number > self.number,
            "<": number < self.number,
        }[self.operator]

    def _text(self, value: object) -> str:
        text = _as_text(value)
        if self.path == (keys.LEVEL,):
            return normalize_level(text) or text
        return text

    @classmethod
    def parse(cls, expression: str) -> _Condition:
        match = _OPERATOR.search(expression)
        if match is None or match.start() == 0:
            raise UsageError(
                f"--where needs KEY=VALUE (or !=, >=, <=, >, <, ~ for a regular expression),"
                f" got {expression!r}"
            )
        operator, name = match.group(), expression[: match.start()]
        value = expression[match.end() :]
        if operator == "==":
            raise UsageError(f"--where compares with a single '=': {name}={value.lstrip('=')}")
        if name != name.strip() or not name.strip():
            raise UsageError(f"--where: a key without spaces is needed, got {name!r}")
        number = _as_number(value) if operator in _NUMERIC_OPERATORS else None
        if operator in _NUMERIC_OPERATORS and number is None:
            raise UsageError(f"--where {name}{operator}: a number is needed, got {value!r}")
        pattern = None
        if operator == "~":
            try:
                pattern = re.compile(value)
            except re.error as error:
                raise UsageError(f"--where {name}~: not a regular expression: {error}") from None
        text = value
        if split_path(name) == (keys.LEVEL,) and operator in ("=", "!="):
            text = normalize_level(value) or value
        return cls(split_path(name), operator, text, number, pattern)


class RecordFilter:
    """The ``--where``, ``--since`` and ``--until`` filters of every command.

    ``--where KEY=VALUE`` compares as text (``status_code=500`` matches the number);
    ``!=`` keeps records where the key differs or is absent; ``>=``, ``<=``, ``>``,
    ``<`` compare numbers; ``KEY~REGEX`` searches a regular expression. A key may be
    dotted (``error.code``) and is looked up in the record as normalized, then as
    written (``log.level`` of an ECS line). Levels compare case-insensitively. Several
    ``--where`` must all match. ``--since`` is inclusive, ``--until`` exclusive; a
    record whose time cannot be read never passes a time filter and is counted.
    """

    __slots__ = ("_conditions", "_since", "_until", "on_untimed")

    def __init__(
        self,
        *,
        where: Sequence[str] = (),
        since: str | None = None,
        until: str | None = None,
    ) -> None:
        self._conditions = [_Condition.parse(expression) for expression in where]
        self._since = _user_time(since, "--since")
        self._until = _user_time(until, "--until")
        self.on_untimed: Callable[[], None] | None = None
        """Told of each record a time filter drops because its time cannot be read."""

    @property
    def active(self) -> bool:
        """Whether any filter was given (when not, every record passes)."""
        return bool(self._conditions) or self._since is not None or self._until is not None

    @property
    def since(self) -> float | None:
        """``--since`` in seconds since the epoch (a store can be asked for the window)."""
        return self._since

    @property
    def until(self) -> float | None:
        """``--until`` in seconds since the epoch."""
        return self._until

    def __call__(self, record: dict[str, Any], raw: dict[str, Any] | None = None) -> bool:
        """Return whether *record* (normalized from *raw*) passes every filter."""
        for condition in self._conditions:
            found, value = lookup(record, condition.path)
            if not found and raw is not None and raw is not record:
                found, value = lookup(raw, condition.path)
            if not condition.holds(value if found else _MISSING):
                return False
        if self._since is not None or self._until is not None:
            moment = record_seconds(record)
            if moment is None:
                if self.on_untimed is not None:
                    self.on_untimed()
                return False
            if self._since is not None and moment < self._since:
                return False
            if self._until is not None and moment >= self._until:
                return False
        return True


def _user_time(text: str | None, option: str) -> float | None:
    if text is None:
        return None
    moment = parse_user_time(text)
    if moment is None:
        raise UsageError(f"{option}: not an RFC 3339 time: {text!r}")
    return moment
