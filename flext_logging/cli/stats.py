"""Counting for ``stats``: durations per route or operation, and error codes.

A record counts toward a route or operation when it reports a ``duration_ms``: the
``request_*`` records of the web middleware (named ``METHOD route``, or ``METHOD path``
made a template when the framework names no route), the ``http_request_*`` records of
the HTTP clients (``METHOD url``, made a template), gRPC calls (``rpc_method``), Celery
tasks (``task_name``) and ``timed_operation()`` blocks (``operation``). Percentiles use
the nearest-rank method: always a value that occurred.
"""

from __future__ import annotations

import math
import re
import urllib.parse
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from flext_logging import keys
from flext_logging.cli.reading import lookup

__all__ = ["Row", "Stats", "path_template", "percentile", "url_template"]

_SERVER_ERROR = 500
_ID: Final = "{id}"
_DIGIT: Final = re.compile(r"[0-9]")
_VERSION: Final = re.compile(r"v[0-9]+(\.[0-9]+)*", re.IGNORECASE)


def percentile(ordered: Sequence[float], fraction: float) -> float | None:
    """Return the nearest-rank percentile of *ordered* (sorted), ``None`` when empty."""
    if not ordered:
        return None
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass(frozen=True)
class Row:
    """One line of the stats table."""

    name: str
    count: int
    errors: int
    p50: float | None
    p95: float | None
    p99: float | None


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


def _target(record: dict[str, Any]) -> str | None:
    """What an HTTP record is about: its route as it is, else its path or URL as a template."""
    route = record.get(keys.HTTP_ROUTE)
    if isinstance(route, str):
        return route
    path = record.get(keys.HTTP_PATH)
    if isinstance(path, str):
        return path_template(path)
    url = record.get(keys.HTTP_URL)
    return url_template(url) if isinstance(url, str) else None


def _name(record: dict[str, Any]) -> str | None:
    target = _target(record)
    if target is not None:
        method = record.get(keys.HTTP_METHOD)
        return f"{method} {target}" if isinstance(method, str) else target
    for name in (keys.RPC_METHOD, keys.TASK_NAME, keys.OPERATION):
        value = record.get(name)
        if isinstance(value, str):
            return value
    return None


def _failed(record: dict[str, Any]) -> bool:
    status_code = record.get(keys.STATUS_CODE)
    return (
        record.get(keys.STATUS) == keys.STATUS_FAILED
        or record.get(keys.LEVEL) in ("error", "critical")
        or (isinstance(status_code, int) and status_code >= _SERVER_ERROR)
        or (record.get(keys.RPC_CODE) not in (None, "OK"))
    )


@dataclass
class Stats:
    """Durations and error codes gathered from records, one :meth:`add` at a time."""

    durations: dict[str, list[float]] = field(default_factory=dict)
    failures: Counter[str] = field(default_factory=Counter)
    codes: Counter[str] = field(default_factory=Counter)

    def add(self, record: dict[str, Any]) -> None:
        """Count *record*: its duration under its route or operation, its error code."""
        code = lookup(record, (keys.ERROR, keys.ERROR_CODE))
        if not isinstance(code, str):
            code = record.get(keys.ERROR_CODE_FIELD)
        if isinstance(code, str):
            self.codes[code] += 1
        duration = record.get(keys.DURATION_MS)
        if not isinstance(duration, int | float) or isinstance(duration, bool):
            return
        name = _name(record)
        if name is None:
            return
        self.durations.setdefault(name, []).append(float(duration))
        if _failed(record):
            self.failures[name] += 1

    def add_all(self, records: Iterable[dict[str, Any]]) -> None:
        """Count every record of *records*."""
        for record in records:
            self.add(record)

    def rows(self) -> list[Row]:
        """Return one row per route or operation, the most frequent first."""
        rows = []
        for name, values in self.durations.items():
            ordered = sorted(values)
            rows.append(
                Row(
                    name=name,
                    count=len(ordered),
                    errors=self.failures[name],
                    p50=percentile(ordered, 0.50),
                    p95=percentile(ordered, 0.95),
                    p99=percentile(ordered, 0.99),
                )
            )
        return sorted(rows, key=lambda row: (-row.count, row.name))

    def error_codes(self) -> list[tuple[str, int]]:
        """Return the error codes seen and how many records carried each, most first."""
        return sorted(self.codes.items(), key=lambda item: (-item[1], item[0]))
