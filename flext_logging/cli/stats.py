"""Counting for ``stats``: durations per route, operation or service, and error codes.

A record counts when it is the one that reports how long a piece of work took: the
``request_finished``/``request_failed`` records of the web middleware (named ``METHOD
route``, or ``METHOD path`` made a template when the framework names no route), the
``http_request_*`` records of the HTTP clients (``METHOD url``, made a template), gRPC
calls (``rpc_method``, the client's end of a call a row of its own, by ``rpc_side``),
Celery tasks (``task_name``) and ``timed_operation()`` blocks
(``operation_finished``/``operation_failed``, by ``operation``). A record that merely
carries a ``duration_ms`` inside a timed operation is not that operation. Lines of
other libraries count when they carry a duration and an HTTP route or path. Rows can
be grouped differently (``--by``) and split into time buckets (``--every``).
Percentiles use the nearest-rank method: always a value that occurred.
"""

from __future__ import annotations

import math
import re
import urllib.parse
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from flext_logging import keys
from flext_logging.cli.times import record_seconds
from flext_logging.cli.tree import FINISH_EVENTS, error_code, is_failure

__all__ = [
    "GROUPS",
    "Group",
    "Row",
    "Stats",
    "parse_every",
    "path_template",
    "percentile",
    "url_template",
]

Group = Literal["name", "route", "operation", "service", "code"]
"""What one row of the table stands for: ``name`` mixes routes, calls and operations."""
GROUPS: Final = ("route", "operation", "service", "code")
"""The values of ``stats --by``."""

_ID: Final = "{id}"
_DIGIT: Final = re.compile(r"[0-9]")
_VERSION: Final = re.compile(r"v[0-9]+(\.[0-9]+)*", re.IGNORECASE)
_EVERY: Final = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|h|d)?\s*\Z")
_UNITS: Final = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_OPERATION_EVENTS: Final = frozenset({keys.EVENT_OPERATION_FINISHED, keys.EVENT_OPERATION_FAILED})
_SERVER_EVENTS: Final = frozenset({keys.EVENT_REQUEST_FINISHED, keys.EVENT_REQUEST_FAILED})
_OUR_EVENTS: Final = FINISH_EVENTS | _OPERATION_EVENTS | {keys.EVENT_REQUEST_STARTED}


def percentile(ordered: Sequence[float], fraction: float) -> float | None:
    """Return the nearest-rank percentile of *ordered* (sorted), ``None`` when empty."""
    if not ordered:
        return None
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def parse_every(text: str) -> float | None:
    """Return an ``--every`` length (``30s``, ``1m``, ``1h``, ``500ms``) in seconds."""
    match = _EVERY.match(text)
    if match is None:
        return None
    seconds = float(match.group(1)) * _UNITS[match.group(2) or "s"]
    return seconds if seconds > 0 else None


@dataclass(frozen=True)
class Row:
    """One line of the stats table."""

    name: str
    count: int
    errors: int
    p50: float | None
    p95: float | None
    p99: float | None
    bucket: float | None = None
    """The start of the row's time bucket (seconds since the epoch), with ``--every``."""


def path_template(path: str) -> str:
    """Return *path* with its id-like segments replaced by ``{id}``, without query or fragment.

    A segment is id-like when it holds a digit (``42``, ``u-1013``, a UUID, a hash)
    and is not a version (``v1``, ``v2.1``): ``/api/v2/users/u-1013?full=1`` becomes
    ``/api/v2/users/{id}``: one row for all users rather than one for each.
    """
    path = path.partition("?")[0].partition("#")[0]
    return "/".join(_ID if _is_id(segment) else segment for segment in path.split("/"))


def _is_id(segment: str) -> bool:
    return _DIGIT.search(segment) is not None and _VERSION.fullmatch(segment) is None


def url_template(url: str) -> str:
    """Return *url* with its path made a :func:`path_template`, without user info.

    Scheme, host and port stay, so that calls to different services are different rows.
    """
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:  # an unclosed "[" in the host: a template of the text
        return path_template(url)
    host = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit((parts.scheme, host, path_template(parts.path), "", ""))


def _text(record: dict[str, Any], name: str) -> str | None:
    value = record.get(name)
    return value if isinstance(value, str) and value else None


def _target(record: dict[str, Any]) -> str | None:
    """What an HTTP record is about: its route as it is, else its path or URL as a template."""
    route = _text(record, keys.HTTP_ROUTE)
    if route is not None:
        return route
    path = _text(record, keys.HTTP_PATH)
    if path is not None:
        return path_template(path)
    url = _text(record, keys.HTTP_URL)
    return url_template(url) if url is not None else None


def _http_name(record: dict[str, Any]) -> str | None:
    target = _target(record)
    if target is None:
        return None
    method = _text(record, keys.HTTP_METHOD)
    return f"{method} {target}" if method is not None else target


def _name(record: dict[str, Any], group: Group) -> str | None:
    """The row *record* counts in, or ``None`` when it reports no piece of work."""
    event = record.get(keys.MESSAGE)
    if group == "service":
        return _text(record, keys.SERVICE_NAME) or "-" if _is_timed(record) else None
    if group == "code":
        code = error_code(record) if is_failure(record) else None
        if code is None and event in FINISH_EVENTS:
            status = record.get(keys.STATUS_CODE, record.get(keys.RPC_CODE))
            code = None if status is None or isinstance(status, bool) else str(status)
        return code
    if event in _OPERATION_EVENTS:
        return _text(record, keys.OPERATION) if group in ("name", "operation") else None
    if event in FINISH_EVENTS:
        if group == "route":
            return _http_name(record) if event in _SERVER_EVENTS else None
        work = _rpc_name(record) or _text(record, keys.TASK_NAME)
        if group == "operation":
            return work
        return _http_name(record) or work
    if event in _OUR_EVENTS or group == "operation":
        return None
    return _http_name(record)  # another library's access line with a duration


def _rpc_name(record: dict[str, Any]) -> str | None:
    """A gRPC call's row: its method, and ``(client)`` for the caller's end of it."""
    method = _text(record, keys.RPC_METHOD)
    if method is not None and record.get(keys.RPC_SIDE) == keys.RPC_SIDE_CLIENT:
        return f"{method} (client)"
    return method


def _duration(record: dict[str, Any]) -> float | None:
    duration = record.get(keys.DURATION_MS)
    if isinstance(duration, bool) or not isinstance(duration, int | float):
        return None
    return float(duration)


def _is_timed(record: dict[str, Any]) -> bool:
    return _duration(record) is not None and _name(record, "name") is not None


@dataclass
class Stats:
    """Durations and error codes gathered from records, one :meth:`add` at a time."""

    group: Group = "name"
    every_s: float | None = None
    durations: dict[tuple[float | None, str], list[float]] = field(default_factory=dict)
    counts: Counter[tuple[float | None, str]] = field(default_factory=Counter)
    failures: Counter[tuple[float | None, str]] = field(default_factory=Counter)
    codes: Counter[str] = field(default_factory=Counter)

    def add(self, record: dict[str, Any]) -> None:
        """Count *record*: its duration under its row, and its error code."""
        failed = is_failure(record)
        code = error_code(record)
        if code is not None:
            self.codes[code] += 1
        name = _name(record, self.group)
        if name is None:
            return
        duration = _duration(record)
        if duration is None and self.group != "code":
            return
        bucket = self._bucket(record)
        if bucket is False:
            return
        key = (bucket, name)
        self.counts[key] += 1
        if duration is not None:
            self.durations.setdefault(key, []).append(duration)
        if failed:
            self.failures[key] += 1

    def _bucket(self, record: dict[str, Any]) -> float | Literal[False] | None:
        if self.every_s is None:
            return None
        seconds = record_seconds(record)
        if seconds is None:
            return False  # no time: it belongs to no bucket
        return math.floor(seconds / self.every_s) * self.every_s

    def add_all(self, records: Iterable[dict[str, Any]]) -> None:
        """Count every record of *records*."""
        for record in records:
            self.add(record)

    def rows(self) -> list[Row]:
        """Return one row per group (and bucket): in time order, then the most frequent first."""
        rows = []
        for key, count in self.counts.items():
            ordered = sorted(self.durations.get(key, []))
            rows.append(
                Row(
                    name=key[1],
                    count=count,
                    errors=self.failures[key],
                    p50=percentile(ordered, 0.50),
                    p95=percentile(ordered, 0.95),
                    p99=percentile(ordered, 0.99),
                    bucket=key[0],
                )
            )
        return sorted(rows, key=lambda row: (row.bucket or 0.0, -row.count, row.name))

    def error_codes(self) -> list[tuple[str, int]]:
        """Return the error codes seen and how many records carried each, most first."""
        return sorted(self.codes.items(), key=lambda item: (-item[1], item[0]))
