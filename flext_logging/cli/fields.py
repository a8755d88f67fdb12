"""Which fields of a JSON log line mean what: our schema and other libraries' dialects.

The CLI works on records in flext-logging's flat schema (:mod:`flext_logging.keys`).
A line written by another library is *normalized* into it first: its time, level,
message, logger, ids, service and duration are looked up under the names that library
uses and copied to ours, and the fields it nests (loguru's ``record.extra``,
OpenTelemetry's ``attributes``) are lifted to the top. Everything else of the line is
kept as it is.

The names are data: :data:`DIALECTS` maps each dialect to the paths of its fields, and
:data:`ALIASES` is what the reader tries, per field, in order — ours first, then every
dialect's. A path is dotted and matches nested objects and dotted keys alike
(``log.level`` is ``{"log.level": …}`` or ``{"log": {"level": …}}``). The schema
presets feed this table: the ``ecs``, ``gcp``, ``datadog`` and ``otel`` dialects are
made from ``flext_logging.presets.FIELDS``, the one table that also drives the renderer
and the docs, plus the names other libraries writing those schemas use. A whole line of
a preset (its four head names present) is not looked up name by name but decoded by
the preset itself, exactly: ``trace``, ``pretty`` and ``stats`` read every preset back
as the flat record it was made from. The ``--time-field``, ``--level-field``,
``--message-field`` and ``--id-field`` options put the user's own paths first
(:class:`Schema`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from flext_logging import keys

if TYPE_CHECKING:
    from types import ModuleType

__all__ = [
    "ALIASES",
    "DIALECTS",
    "FAILURE_LEVELS",
    "ID_FIELDS",
    "KNOWN_LEVELS",
    "LIFTED",
    "SCALES",
    "Schema",
    "lookup",
    "normalize_id",
    "normalize_level",
    "split_path",
]

Path = tuple[str, ...]

# The tables made from the presets' (DIALECTS, ALIASES, SCALES) are built on first use:
# importing `presets` and walking its table takes some 8 ms, which a `trace` of our own
# records, read without a look-up by name (Schema.normalize's fast path), never needs.

_AMBIGUOUS_NAMES: Final = frozenset({"duration"})
"""Preset names other libraries use in another sense: Datadog's ``duration`` is in
nanoseconds, other loggers' in milliseconds or seconds. A line of the preset is
still read whole (:func:`flext_logging.presets.detect`); the name alone is not."""
_HTTP_READ: Final = (
    keys.HTTP_METHOD,
    keys.HTTP_ROUTE,
    keys.HTTP_PATH,
    keys.HTTP_URL,
    keys.STATUS_CODE,
    keys.CLIENT_IP,
    keys.USER_AGENT,
)
"""A request's fields, which the tree and ``requests`` name a request by: read from the
presets' names too (ecs-logging nests ``http.request.method`` as objects)."""
_OURS_READ: Final = frozenset(
    (*keys.HEAD_KEYS, *keys.CONTEXT_KEYS, keys.PARENT_SPAN_ID, keys.DURATION_MS, *_HTTP_READ)
)


def _presets() -> ModuleType:
    from flext_logging import presets

    return presets


def _preset_dialect(schema: str) -> dict[str, tuple[str, ...]]:
    """Where the preset *schema* writes our fields, from the table in ``presets``."""
    presets = _presets()
    read_by_name = (  # the preset conversions this module can undo knowing the name alone
        presets.SAME,
        presets.UPPER,  # a level in any case is normalized
        presets.UNIX_NS,  # times.py reads epoch nanoseconds, also as a string of digits
        presets.NANOSECONDS,  # scaled by SCALES
        presets.GCP_TRACE_NAME,  # normalize_id unwraps projects/P/traces/ID
    )
    return {
        name: tuple(
            presets.dotted(target)
            for target in targets
            if target.codec in read_by_name and presets.dotted(target) not in _AMBIGUOUS_NAMES
        )
        for name, targets in presets.reading_targets(schema).items()
        if name in _OURS_READ
    }


def _other_writers() -> dict[str, dict[str, tuple[str, ...]]]:
    """What other libraries writing a preset's schema name differently (ecs-logging, the
    OpenTelemetry SDK's to_json(), dd-trace's log injection): tried after the preset's."""
    presets = _presets()
    return {
        presets.ECS: {
            keys.PARENT_SPAN_ID: ("parent.id",),
            keys.REQUEST_ID: ("http.request.id",),
            keys.CORRELATION_ID: ("flext.correlation_id",),
            keys.PARENT_CORRELATION_ID: ("flext.parent_correlation_id",),
        },
        presets.OTEL: {
            keys.TIMESTAMP: ("timeUnixNano", "ObservedTimestamp", "observed_timestamp"),
            keys.LEVEL: ("severity_text", "SeverityNumber", "severity_number"),
            keys.MESSAGE: ("body",),
            keys.TRACE_ID: ("traceId", "otelTraceID"),
            keys.SPAN_ID: ("spanId", "otelSpanID"),
            keys.SERVICE_NAME: (
                "resource.attributes.service.name",
                "resource.service.name",
                "otelServiceName",
            ),
        },
        presets.GCP: {keys.TIMESTAMP: ("timestamp",)},
        presets.DATADOG: {keys.TRACE_ID: ("dd.trace_id",), keys.SPAN_ID: ("dd.span_id",)},
    }


def _schema_dialect(schema: str) -> dict[str, tuple[str, ...]]:
    table = {name: list(paths) for name, paths in _preset_dialect(schema).items()}
    for name, paths in _other_writers().get(schema, {}).items():
        known = table.setdefault(name, [])
        known.extend(path for path in paths if path not in known)
    return {name: tuple(paths) for name, paths in table.items() if paths}


def _dialects() -> dict[str, dict[str, tuple[str, ...]]]:
    presets = _presets()
    return {
        # Elastic Common Schema: our ecs preset, and ecs-logging (dotted and nested keys mixed).
        "ecs": _schema_dialect(presets.ECS),
        # loguru's serialize=True: everything under "record", the call's fields in "extra".
        "loguru": {
            keys.TIMESTAMP: ("record.time.timestamp", "record.time.repr"),
            keys.LEVEL: ("record.level.name",),
            keys.MESSAGE: ("record.message",),
            keys.LOGGER: ("record.name",),
        },
        # python-json-logger with its usual format string, and the stdlib's LogRecord names.
        "python-json-logger": {
            keys.TIMESTAMP: ("asctime", "created"),
            keys.LEVEL: ("levelname",),
            keys.LOGGER: ("name",),
        },
        # structlog's defaults: the event is the message.
        "structlog": {keys.MESSAGE: ("event",)},
        # OpenTelemetry: the log data model (our otel preset), and the Python SDK's JSON.
        "otel": _schema_dialect(presets.OTEL),
        # Google Cloud Logging's structured payload (our gcp preset).
        "gcp": _schema_dialect(presets.GCP),
        # Datadog's reserved and standard attributes (our datadog preset).
        "datadog": _schema_dialect(presets.DATADOG),
        # Names many other libraries share (humanlog's defaults, camelCase ids).
        "common": {
            keys.TIMESTAMP: ("time", "ts", "t", "date", "datetime"),
            keys.LEVEL: ("lvl", "severity", "loglevel", "log_level"),
            keys.MESSAGE: ("msg", "text", "log", "Message"),
            keys.LOGGER: ("logger_name", "logName"),
            keys.CORRELATION_ID: ("correlationId", "correlation", "cid"),
            keys.REQUEST_ID: ("requestId", "req_id", "reqId", "x_request_id"),
            keys.TRACE_ID: ("traceId", "traceid", "trace"),
            keys.SPAN_ID: ("spanId", "spanid"),
            keys.PARENT_SPAN_ID: ("parentSpanId", "ParentSpanId"),
            keys.SERVICE_NAME: ("service", "app", "application"),
        },
    }


_OURS: Final[Mapping[str, str]] = {
    name: name
    for name in (
        *keys.HEAD_KEYS,
        *keys.CONTEXT_KEYS,
        keys.PARENT_SPAN_ID,
        keys.DURATION_MS,
        *_HTTP_READ,
    )
}


def _aliases(dialects: Mapping[str, Mapping[str, tuple[str, ...]]]) -> dict[str, tuple[str, ...]]:
    table: dict[str, list[str]] = {name: [name] for name in _OURS}
    for fields in dialects.values():
        for name, paths in fields.items():
            table.setdefault(name, [name]).extend(p for p in paths if p not in table[name])
    return {name: tuple(paths) for name, paths in table.items()}


def _scales() -> dict[str, float]:
    presets = _presets()
    return {
        presets.dotted(target): 1e-6
        for schema in presets.PRESETS
        for target in presets.reading_targets(schema).get(keys.DURATION_MS, ())
        if target.codec is presets.NANOSECONDS and presets.dotted(target) not in _AMBIGUOUS_NAMES
    }


_TABLES: dict[str, Any] = {}
"""``DIALECTS``, ``ALIASES`` and ``SCALES`` once built (by :func:`_table`)."""

if TYPE_CHECKING:  # at run time, module attributes built on first use (see __getattr__)
    DIALECTS: dict[str, dict[str, tuple[str, ...]]]
    """Dialect -> our field -> where that dialect writes it, most specific first. The four
    preset dialects come from ``presets.FIELDS``, the table that also drives the renderer."""
    ALIASES: dict[str, tuple[str, ...]]
    """Our field -> the paths tried for it, in order: our own name, then each dialect's."""
    SCALES: Mapping[str, float]
    """Paths whose numbers are in another unit than ours: the factor to milliseconds."""


def _table(name: str) -> Any:
    """Build the preset-made tables on first use; return the one called *name*."""
    if not _TABLES:
        dialects = _dialects()
        _TABLES.update(DIALECTS=dialects, ALIASES=_aliases(dialects), SCALES=_scales())
        globals().update(_TABLES)
    return _TABLES[name]


def __getattr__(name: str) -> Any:
    """``DIALECTS``, ``ALIASES`` and ``SCALES``, built when first asked for."""
    if name in ("DIALECTS", "ALIASES", "SCALES"):
        return _table(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


LIFTED: Final = ("record.extra", "attributes", "Attributes", "labels", "flext")
"""Objects whose members are the call's own fields: lifted to the top of the record."""

ID_FIELDS: Final = (keys.CORRELATION_ID, keys.REQUEST_ID, keys.TRACE_ID)
"""The fields ``trace`` finds an id in, in the order detection tries them."""

FAILURE_LEVELS: Final = frozenset(
    {"error", "critical", "fatal", "alert", "emergency", "panic", "severe"}
)
"""Levels (normalized) that mean the work failed."""

KNOWN_LEVELS: Final = frozenset({"trace", "debug", "info", "warning", *FAILURE_LEVELS})
"""The level names records are normalized to (others are kept as written)."""
_AMBIGUOUS_LEVELS: Final = frozenset({"status"})
"""Level paths that may hold something else: only a known level name counts there."""

_LEVEL_SYNONYMS: Final = {
    "warn": "warning",
    "err": "error",
    "crit": "critical",
    "emerg": "emergency",
    "information": "info",
    "informational": "info",
    "notice": "info",
    "dbg": "debug",
    "trc": "trace",
    "verbose": "debug",
    "success": "info",
    "exception": "error",
}
# OpenTelemetry SeverityNumber ranges: 1-4 trace ... 21-24 fatal.
_OTEL_SEVERITIES: Final = ("trace", "debug", "info", "warning", "error", "fatal")
# pino/bunyan numbers; the stdlib's are multiples of ten as well (10 debug ... 50 critical).
_NUMERIC_LEVELS: Final = {10: "debug", 20: "info", 30: "warning", 40: "error", 50: "critical"}
_MAX_LEVEL_TEXT: Final = 32
_OTEL_MAX: Final = 24


def split_path(path: str) -> Path:
    """Return a dotted path as its parts (``error.code`` -> ``("error", "code")``)."""
    return tuple(path.split("."))


def lookup(record: Mapping[str, Any], parts: Sequence[str]) -> tuple[bool, Any]:
    """Return ``(found, value)`` at *parts* of *record*; dotted keys match as well.

    ``("log", "level")`` finds ``{"log": {"level": 1}}`` and ``{"log.level": 1}``; the
    longest key that exists wins at each level.
    """
    current: Any = record
    index = 0
    count = len(parts)
    while index < count:
        if not isinstance(current, Mapping):
            return False, None
        for end in range(count, index, -1):
            key = parts[index] if end == index + 1 else ".".join(parts[index:end])
            if key in current:
                current = current[key]
                index = end
                break
        else:
            return False, None
    return True, current


def normalize_level(value: object, *, strict: bool = False) -> str | None:
    """Return a level in our lower-case names, or ``None`` when *value* is no level.

    Names we do not know are kept, lower-cased, unless *strict* (a field that may hold
    something else, like Datadog's ``status``).
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = int(value)
        if 1 <= number <= _OTEL_MAX and number == value:
            return _OTEL_SEVERITIES[(number - 1) // 4]
        return _NUMERIC_LEVELS.get(number)
    if not isinstance(value, str) or not value or len(value) > _MAX_LEVEL_TEXT:
        return None
    name = value.strip().lower()
    if name.isdigit():
        return normalize_level(int(name))
    name = _LEVEL_SYNONYMS.get(name, name)
    return None if strict and name not in KNOWN_LEVELS else name


def normalize_id(value: object) -> str | None:
    """Return an id as text: ``0x``-prefixed hex and Cloud Logging trace names unwrapped."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return str(value)
    if not isinstance(value, str) or not value:
        return None
    if value.startswith(("0x", "0X")) and len(value) > len("0x"):
        value = value[2:].lower()
    elif value.startswith("projects/") and "/traces/" in value:
        value = value.rpartition("/traces/")[2]
    return value if value.strip("0") else None  # W3C: all zeros is no id


def _paths(names: Iterable[str]) -> tuple[tuple[str, Path], ...]:
    return tuple((name, split_path(name)) for name in names)


@dataclass(frozen=True)
class _Field:
    name: str
    paths: tuple[tuple[str, Path], ...]


_TEXT_FIELDS: Final = (
    keys.MESSAGE,
    keys.LOGGER,
    keys.SERVICE_NAME,
    keys.SERVICE_VERSION,
    keys.ENVIRONMENT,
    keys.USER_ID,
    keys.OPERATION_NAME,
    keys.OPERATION,
    *(name for name in _HTTP_READ if name != keys.STATUS_CODE),
)
_ID_LIKE: Final = (
    keys.CORRELATION_ID,
    keys.PARENT_CORRELATION_ID,
    keys.TRACE_ID,
    keys.SPAN_ID,
    keys.PARENT_SPAN_ID,
    keys.REQUEST_ID,
)
# A record with these three written as we write them needs no alias look-up at all.
_FAST_KEYS: Final = (keys.TIMESTAMP, keys.LEVEL, keys.MESSAGE)


class Schema:
    """How to read records: :data:`ALIASES`, with the user's own paths tried first.

    *time_field*, *level_field* and *message_field* name where a log keeps those;
    *id_fields* are paths holding the correlation id (``--id-field``), tried before ours.
    """

    __slots__ = ("_fields", "_first", "_own_fields", "_own_ids", "custom")

    def __init__(
        self,
        *,
        time_field: str | None = None,
        level_field: str | None = None,
        message_field: str | None = None,
        id_fields: Sequence[str] = (),
    ) -> None:
        first: dict[str, list[str]] = {
            keys.TIMESTAMP: [time_field] if time_field else [],
            keys.LEVEL: [level_field] if level_field else [],
            keys.MESSAGE: [message_field] if message_field else [],
            keys.CORRELATION_ID: list(id_fields),
        }
        self.custom = any(first.values())
        """Whether the user named a field: then no record is taken as already ours."""
        self._own_ids = tuple(split_path(path) for path in id_fields)
        self._own_fields = tuple(
            _Field(name, _paths(dict.fromkeys(paths))) for name, paths in first.items() if paths
        )
        self._first = first
        self._fields: tuple[_Field, ...] | None = None
        """Every field and the paths tried for it, built on the first record that needs it."""

    def _all_fields(self) -> tuple[_Field, ...]:
        if self._fields is None:
            first = self._first
            # Our own names inside the objects that hold a call's fields come last.
            self._fields = tuple(
                _Field(
                    name,
                    _paths(
                        dict.fromkeys(
                            [
                                *first.get(name, []),
                                *paths,
                                *(f"{container}.{name}" for container in LIFTED),
                            ]
                        )
                    ),
                )
                for name, paths in _table("ALIASES").items()
            )
        return self._fields

    @property
    def id_paths(self) -> tuple[Path, ...]:
        """The ``--id-field`` paths, as parts."""
        return self._own_ids

    def _our_fields(self, record: dict[str, Any]) -> tuple[dict[str, Any], set[str]]:
        """Return our fields found in *record*, and the paths they were taken from."""
        return self._fields_of(record, self._all_fields())

    @staticmethod
    def _fields_of(
        record: dict[str, Any], fields: Iterable[_Field]
    ) -> tuple[dict[str, Any], set[str]]:
        found: dict[str, Any] = {}
        used: set[str] = set()
        for field in fields:
            for text, parts in field.paths:
                present, value = lookup(record, parts)
                if not present or value is None:
                    continue
                converted = _convert(field.name, text, value)
                if converted is None:
                    continue
                found[field.name] = converted
                used.add(parts[0] if len(parts) == 1 else text)
                break
        return found, used

    def normalize(self, record: dict[str, Any]) -> dict[str, Any]:
        """Return *record* in our schema: our fields first, the rest of the line after.

        A record already in our schema is returned as it is, its level normalized. A line
        of one of our schema presets (ECS, Cloud Logging, Datadog, OpenTelemetry, told by
        its head names) is decoded by the preset's own table, exactly; the fields the user
        named are still read from the line as it was written.
        """
        if not self.custom and all(name in record for name in _FAST_KEYS):
            return _with_known_level(record)
        presets = _presets()
        schema = presets.detect(record)
        if schema != presets.FLAT:
            decoded = presets.preset(schema).decode(record)
            if self.custom:
                decoded.update(self._fields_of(record, self._own_fields)[0])
            elif all(name in decoded for name in _FAST_KEYS):
                return _with_known_level(decoded)
            record = decoded
        found, used = self._our_fields(record)
        normalized: dict[str, Any] = {
            name: found[name] for name in (*keys.RECORD_KEYS, keys.PARENT_SPAN_ID) if name in found
        }
        _lift(record, normalized, used)
        for name, value in record.items():
            if name not in used and name not in normalized:
                normalized[name] = value
        for name in (*_HTTP_READ, keys.DURATION_MS):
            if name in found:
                normalized[name] = found[name]
        for name in _ID_LIKE:  # an id that is none (all zeros, empty) must not group records
            if name not in found:
                normalized.pop(name, None)
        if not isinstance(normalized.get(keys.ERROR), Mapping):
            error = _foreign_error(record, normalized)
            if error is not None:
                normalized[keys.ERROR] = error
        return _drop_consumed(normalized, used)


def _with_known_level(record: dict[str, Any]) -> dict[str, Any]:
    level = record.get(keys.LEVEL)
    if level not in KNOWN_LEVELS:
        record[keys.LEVEL] = normalize_level(level) or level
    return record


def _foreign_error(record: Mapping[str, Any], lifted: Mapping[str, Any]) -> dict[str, Any] | None:
    """Return another library's exception as our ``error`` object, if the line has one."""
    present, loguru = lookup(record, ("record", "exception"))
    if present and isinstance(loguru, Mapping) and loguru.get("type"):
        return {
            keys.ERROR_TYPE_NAME: str(loguru.get("type")),
            keys.ERROR_MESSAGE: str(loguru.get("value") or ""),
        }
    kind = lifted.get("exception.type")
    if isinstance(kind, str):  # OpenTelemetry's semantic conventions
        return {
            keys.ERROR_TYPE_NAME: kind,
            keys.ERROR_MESSAGE: str(lifted.get("exception.message") or ""),
        }
    chain = record.get("exception")
    if isinstance(chain, list) and chain and isinstance(chain[-1], Mapping):
        last = chain[-1]  # structlog's dict_tracebacks: the raised exception is last
        if isinstance(last.get("exc_type"), str):
            return {
                keys.ERROR_TYPE_NAME: last["exc_type"],
                keys.ERROR_MESSAGE: str(last.get("exc_value") or ""),
            }
    for name in ("exc_info", "exception", "stack_trace"):
        text = record.get(name)
        if isinstance(text, str) and text.strip():  # a formatted traceback
            last_line = text.strip().splitlines()[-1]
            kind, _, message = last_line.partition(": ")
            return {keys.ERROR_TYPE_NAME: kind, keys.ERROR_MESSAGE: message}
    return None


def _lift(record: Mapping[str, Any], normalized: dict[str, Any], used: set[str]) -> None:
    """Copy the members of the objects that hold a call's fields to the top."""
    for container in LIFTED:
        present, members = lookup(record, split_path(container))
        if present and isinstance(members, Mapping):
            used.add(container)
            for name, value in members.items():
                if isinstance(name, str) and name not in normalized:
                    normalized[name] = value


def _convert(name: str, path: str, value: Any) -> Any:
    """Return *value* as our field *name* holds it, or ``None`` when it cannot be that."""
    if name == keys.LEVEL:
        return normalize_level(value, strict=path in _AMBIGUOUS_LEVELS)
    if name in _ID_LIKE:
        return normalize_id(value)
    if name == keys.TIMESTAMP:
        return (
            value if isinstance(value, str | int | float) and not isinstance(value, bool) else None
        )
    if name == keys.DURATION_MS:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return value * _table("SCALES").get(path, 1.0)
    if name in _TEXT_FIELDS:
        return value if isinstance(value, str) else None
    return value


def _drop_consumed(record: dict[str, Any], used: set[str]) -> dict[str, Any]:
    """Remove from nested objects the members that became one of our fields."""
    for path in used:
        parts = split_path(path)
        if len(parts) < 2 or parts[0] not in record:
            continue
        record[parts[0]] = _without(record[parts[0]], parts[1:])
        if record[parts[0]] in ({}, None):
            del record[parts[0]]
    return record


def _without(value: Any, parts: Path) -> Any:
    if not isinstance(value, dict):
        return value
    key = ".".join(parts)
    if key in value:
        return {k: v for k, v in value.items() if k != key}
    head, rest = parts[0], parts[1:]
    if head not in value or not rest:
        return value
    inner = _without(value[head], rest)
    copy = dict(value)
    if inner in ({}, None):
        del copy[head]
    else:
        copy[head] = inner
    return copy
