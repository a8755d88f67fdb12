"""Schema presets: our records under the field names Elastic, Google Cloud, Datadog and
OpenTelemetry expect.

One table, :data:`FIELDS`, says for every field of the flat schema (:mod:`keys`) where
each preset writes it and how its value is converted. Everything else follows from it:

- :meth:`Preset.encode` turns a flat record into the preset's shape; the JSON renderer
  of ``configure(schema=...)`` calls :meth:`Preset.encode_compiled`, the same result
  through a function compiled per key sequence from where ``encode`` put the values;
- :meth:`Preset.decode` turns it back, so the ``flext-logging`` tool reads every preset
  (:func:`to_flat` recognises which one a line is in);
- :func:`markdown_table` is the table in ``docs/aggregators.md``, which a test keeps equal.

A field the table does not place goes where the preset keeps custom data: under
``flext.`` (ECS), at the top level (Cloud Logging, Datadog) or in ``Attributes``
(OpenTelemetry). A custom field whose name the preset reserves is written under
``flext.<name>``, and a value a conversion cannot take (a duration that is no number,
a trace id that is no hex) is kept under its own name there: nothing is lost.
Encoding only builds new dicts; the record passed in is never changed.
"""

from __future__ import annotations

import datetime
import ipaddress
import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, NamedTuple

from flext_logging import keys

__all__ = [
    "ECS_VERSION",
    "FIELDS",
    "FLAT",
    "SCHEMAS",
    "Field",
    "Preset",
    "Target",
    "detect",
    "dotted",
    "markdown_table",
    "preset",
    "reading_targets",
    "to_flat",
]

FLAT: Final = "flat"
ECS: Final = "ecs"
GCP: Final = "gcp"
DATADOG: Final = "datadog"
OTEL: Final = "otel"
SCHEMAS: Final = (FLAT, ECS, GCP, DATADOG, OTEL)
"""The values of ``configure(schema=...)``; ``flat`` is our own schema, unchanged."""
PRESETS: Final = (ECS, GCP, DATADOG, OTEL)

ECS_VERSION: Final = "8.11.0"
"""The ECS release whose field types the ``ecs`` preset follows (``ecs.version``)."""
CUSTOM: Final = "flext"
"""The namespace of fields a preset has no name for, and of reserved names."""

GCP_LABELS: Final = "logging.googleapis.com/labels"
GCP_TRACE: Final = "logging.googleapis.com/trace"
GCP_SPAN: Final = "logging.googleapis.com/spanId"
GCP_SAMPLED: Final = "logging.googleapis.com/trace_sampled"
GCP_HTTP: Final = "httpRequest"
GCP_SERVICE: Final = "serviceContext"
GCP_ERROR: Final = "error"
OTEL_ATTRIBUTES: Final = "Attributes"
OTEL_RESOURCE: Final = "Resource"
OTEL_SCOPE: Final = "InstrumentationScope"

TRACE_FLAGS: Final = "trace_flags"
"""Not a record field: the W3C flags of the record's span, which the renderer supplies."""

REQUEST_EVENTS: Final = frozenset(
    (
        keys.EVENT_REQUEST_STARTED,
        keys.EVENT_REQUEST_FINISHED,
        keys.EVENT_REQUEST_FAILED,
        keys.EVENT_HTTP_REQUEST_FINISHED,
        keys.EVENT_HTTP_REQUEST_FAILED,
    )
)
"""The records whose HTTP fields a preset writes under its HTTP names ("request" rows)."""


# -- Value conversions: each has an encoding and, unless derived, its inverse. -----------


class _Skip:
    """The result of a conversion that cannot take a value (the field stays as it is)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "SKIP"


SKIP: Final = _Skip()
_UTC: Final = datetime.timezone.utc
_EPOCH: Final = datetime.datetime(1970, 1, 1, tzinfo=_UTC)
_RFC3339: Final = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?([Zz]|[+-]\d\d:\d\d)"
)
_HEX: Final = frozenset("0123456789abcdef")
_LEVEL_NUMBERS: Final = {"debug": 5, "info": 9, "warning": 13, "error": 17, "critical": 21}
"""Our levels as OpenTelemetry SeverityNumber: the first number of each range."""
_OUTCOMES: Final = {keys.STATUS_SUCCEEDED: "success", keys.STATUS_FAILED: "failure"}
_STATUSES: Final = {outcome: status for status, outcome in _OUTCOMES.items()}
_FRAME_LINE: Final = re.compile(r'  File "(.*)", line (\d+|None), in (.*)')
_TRACEBACK_HEAD: Final = "Traceback (most recent call last):"
_NS_PER_MS: Final = 1_000_000


def _is_number(value: object) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and abs(value) < 1e12  # milliseconds: about 30 years, and room in an int64 of ns
    )


def _unix_ns(value: object) -> object:
    """A record time (datetime or RFC 3339 text, or a clock's integer nanoseconds, see
    :attr:`Preset.clock`) as decimal nanoseconds since the epoch, to the microsecond."""
    if type(value) is int:
        return f"{value // 1000}000" if value >= 0 else SKIP
    if isinstance(value, datetime.datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=_UTC)
        delta = moment - _EPOCH  # exact: whole days, seconds and microseconds
        return f"{(delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds}000"
    if isinstance(value, str):
        nanoseconds = _parse_rfc3339(value)
        return SKIP if nanoseconds is None else str(nanoseconds)
    return SKIP


def _parse_rfc3339(text: str) -> int | None:
    match = _RFC3339.fullmatch(text.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        moment = datetime.datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), tzinfo=_UTC
        )
    except ValueError:
        return None
    offset = 0
    if zone not in ("Z", "z"):
        sign = 1 if zone[0] == "+" else -1
        offset = sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    delta = moment - _EPOCH
    seconds = delta.days * 86_400 + delta.seconds - offset
    return seconds * 10**9 + int((fraction or "0").ljust(9, "0"))


def _from_unix_ns(value: object) -> object:
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        return SKIP
    seconds, nanoseconds = divmod(value, 10**9)
    try:
        moment = _EPOCH + datetime.timedelta(seconds=seconds)
    except OverflowError:
        return SKIP
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    fraction = f"{nanoseconds:09d}"
    return f"{text}.{fraction[:6] if fraction.endswith('000') else fraction}Z"


_clock_ns = time.time_ns
"""What :attr:`Preset.clock` reads: the same clock as ``datetime.datetime.now``."""

_UPPER_LEVELS: Final = {name: name.upper() for name in _LEVEL_NUMBERS}


def _upper(value: object) -> object:
    if not isinstance(value, str):
        return SKIP
    return _UPPER_LEVELS.get(value) or value.upper()


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else SKIP


def _severity_number(value: object) -> object:
    return _LEVEL_NUMBERS.get(value, SKIP) if isinstance(value, str) else SKIP


def _ms_to_ns(value: object) -> object:
    return round(value * _NS_PER_MS) if _is_number(value) else SKIP  # type: ignore[operator]  # a number


def _ns_to_ms(value: object) -> object:
    if isinstance(value, int) and not isinstance(value, bool):
        return value / _NS_PER_MS
    return SKIP


def _latency(value: object) -> object:
    """Milliseconds as a protobuf Duration in JSON: seconds with a fraction and ``s``."""
    if not _is_number(value) or value < 0:  # type: ignore[operator]  # a number
        return SKIP
    seconds, nanoseconds = divmod(round(value * _NS_PER_MS), 10**9)  # type: ignore[operator]
    fraction = f"{nanoseconds:09d}".rstrip("0")
    return f"{seconds}.{fraction}s" if fraction else f"{seconds}s"


def _from_latency(value: object) -> object:
    if not isinstance(value, str) or not value.endswith("s"):
        return SKIP
    whole, _, fraction = value[:-1].partition(".")
    if not whole.isdigit() or (fraction and not fraction.isdigit()) or len(fraction) > 9:
        return SKIP
    return (int(whole) * 10**9 + int(fraction.ljust(9, "0") or "0")) / _NS_PER_MS


def _outcome(value: object) -> object:
    return _OUTCOMES.get(value, SKIP) if isinstance(value, str) else SKIP


def _from_outcome(value: object) -> object:
    return _STATUSES.get(value, SKIP) if isinstance(value, str) else SKIP


_HEX_ID: Final = re.compile(r"(?:[0-9a-f]{16}){1,2}")
_decimal_ids: dict[str, str] = {}
_DECIMAL_IDS_LIMIT: Final = 4096


def _decimal_id(value: object) -> object:
    """A W3C id as Datadog's decimal form: the low 64 bits, unsigned."""
    if not isinstance(value, str):
        return SKIP
    found = _decimal_ids.get(value)
    if found is not None:
        return found
    if _HEX_ID.fullmatch(value) is None:
        return SKIP
    decimal = str(int(value[-16:], 16))
    if len(_decimal_ids) >= _DECIMAL_IDS_LIMIT:  # the ids of a few requests at a time
        _decimal_ids.clear()
    _decimal_ids[value] = decimal
    return decimal


def _ip(value: object) -> object:
    if not isinstance(value, str):
        return SKIP
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return SKIP
    return value


def _sampled(value: object) -> object:
    if isinstance(value, str) and len(value) == 2 and _HEX.issuperset(value):
        return bool(int(value, 16) & 1)
    return SKIP


def _flags_number(value: object) -> object:
    if isinstance(value, str) and len(value) == 2 and _HEX.issuperset(value):
        return int(value, 16)
    return SKIP


def _same(value: object) -> object:
    return value


def _whole(value: object) -> object:
    return value if isinstance(value, int) and not isinstance(value, bool) else SKIP


def _dataset(value: object) -> object:
    """ecs-logging's ``event.dataset`` for a service that names itself: ``<service>.log``."""
    return f"{value}.log" if isinstance(value, str) else SKIP


def _text_same(value: object) -> object:
    return value if isinstance(value, str) else SKIP


def _path_only(value: object) -> object:
    return value if isinstance(value, str) and value.startswith("/") else SKIP


def _url_only(value: object) -> object:
    return value if isinstance(value, str) and not value.startswith("/") else SKIP


def stack_text(error: Mapping[str, Any]) -> object:
    """An error's frames as the text Python prints for a traceback (what trackers parse)."""
    frames = error.get(keys.ERROR_STACK)
    if not isinstance(frames, list) or not all(isinstance(f, Mapping) for f in frames):
        return SKIP
    lines = [_TRACEBACK_HEAD]
    lines.extend(
        f'  File "{frame.get(keys.FRAME_FILE)}", line {frame.get(keys.FRAME_LINE)},'
        f" in {frame.get(keys.FRAME_FUNCTION)}"
        for frame in frames
    )
    kind = error.get(keys.ERROR_TYPE_NAME)
    message = error.get(keys.ERROR_MESSAGE)
    lines.append(f"{kind}: {message}" if message else str(kind))
    return "\n".join(lines)


def stack_frames(text: object) -> object:
    """The frames of a traceback text written by :func:`stack_text`."""
    if not isinstance(text, str) or not text.startswith(_TRACEBACK_HEAD):
        return SKIP
    frames: list[dict[str, Any]] = []
    for line in text.split("\n"):
        match = _FRAME_LINE.fullmatch(line)
        if match is not None:
            file, number, function = match.groups()
            frames.append(
                {
                    keys.FRAME_FILE: file,
                    keys.FRAME_LINE: None if number == "None" else int(number),
                    keys.FRAME_FUNCTION: function,
                }
            )
    return frames


Convert = Callable[[object], object]


class Codec(NamedTuple):
    """How a value is written under a preset's name, and read back (``None``: derived)."""

    name: str
    encode: Convert
    decode: Convert | None


def _unix_ns_source(value: str, argument: Callable[[object], str]) -> str:
    return (
        f'f"{{{value} // 1000}}000" if type({value}) is int and {value} >= 0'
        f" else {argument(_unix_ns)}({value})"
    )


def _severity_source(value: str, argument: Callable[[object], str]) -> str:
    table, convert = argument(_LEVEL_NUMBERS), argument(_severity_number)
    return f"{table}.get({value}, SKIP) if type({value}) is str else {convert}({value})"


def _upper_source(value: str, argument: Callable[[object], str]) -> str:
    table, convert = argument(_UPPER_LEVELS), argument(_upper)
    return (
        f"({table}.get({value}) or {convert}({value}))"
        f" if type({value}) is str else {convert}({value})"
    )


_INLINE: Final[dict[Convert, Callable[[str, Callable[[object], str]], str]]] = {
    _unix_ns: _unix_ns_source,
    _severity_number: _severity_source,
    _upper: _upper_source,
}
"""The conversions of a head value (a record's time and level, converted on every line)
as source the compiled encoders write inline: the same result as the function, which
they still call for a value of another type, without a call for the usual one."""


def _conversion(convert: Convert, value: str, argument: Callable[[object], str]) -> str:
    """The source that converts the value *value* (an expression) by *convert*."""
    inline = _INLINE.get(convert)
    return inline(value, argument) if inline is not None else f"{argument(convert)}({value})"


SAME: Final = Codec("", _same, _same)
WHOLE: Final = Codec("", _whole, _whole)
"""A whole number, as the ECS type ``long`` wants (anything else is kept as ``flext.*``)."""
UPPER: Final = Codec("upper case", _upper, _lower)
UNIX_NS: Final = Codec("nanoseconds since the epoch, as text", _unix_ns, _from_unix_ns)
SEVERITY: Final = Codec("SeverityNumber", _severity_number, None)
NANOSECONDS: Final = Codec("nanoseconds (long)", _ms_to_ns, _ns_to_ms)
LATENCY: Final = Codec('seconds, e.g. "0.0125s"', _latency, _from_latency)
OUTCOME: Final = Codec("success / failure", _outcome, _from_outcome)
DECIMAL_ID: Final = Codec("decimal, low 64 bits", _decimal_id, None)
IP_ONLY: Final = Codec("only when an IP address", _ip, None)
IP: Final = Codec("an IP address", _ip, _text_same)
PATH: Final = Codec("", _same, _path_only)
"""A request path, told apart from an absolute URL when read back."""
URL: Final = Codec("", _same, _url_only)
SAMPLED: Final = Codec("true when sampled", _sampled, None)
DATASET: Final = Codec('"<service>.log"', _dataset, None)
FLAGS_NUMBER: Final = Codec("a number", _flags_number, None)
STACK_TEXT: Final = Codec("traceback text", _same, stack_frames)
"""Encoded from the whole error object (:func:`stack_text`), not from the frames alone."""
GCP_TRACE_NAME: Final = Codec("projects/PROJECT/traces/ID", _same, _same)
"""Encoded by the preset, which knows the project; read back by :func:`_trace_from_name`."""


# -- The table. --------------------------------------------------------------------------


class Target(NamedTuple):
    """Where a preset writes a field: a path (one key, or container then key), how."""

    path: tuple[str, ...]
    codec: Codec = SAME
    request_only: bool = False
    """Written here on request records only (see :data:`REQUEST_EVENTS`)."""


Cell = str | Target | tuple[Target, ...] | None


class Field(NamedTuple):
    """One row: a field of our schema (dotted for a member of ``error``) per preset."""

    source: str
    ecs: Cell = None
    gcp: Cell = None
    datadog: Cell = None
    otel: Cell = None


def _t(*path: str, codec: Codec = SAME, request: bool = False) -> Target:
    return Target(tuple(path), codec, request)


_ERROR: Final = f"{keys.ERROR}."
_CUSTOM_ERROR: Final = f"{CUSTOM}.{keys.ERROR}"
"""Where ECS and OpenTelemetry keep the members of our error object they have no name for."""

FIELDS: Final[tuple[Field, ...]] = (
    # The head.
    Field(
        keys.TIMESTAMP,
        ecs="@timestamp",
        gcp="time",
        datadog="timestamp",
        otel=_t("Timestamp", codec=UNIX_NS),
    ),
    Field(
        keys.LEVEL,
        ecs="log.level",
        gcp=_t("severity", codec=UPPER),
        datadog="status",
        otel=(_t("SeverityText"), _t("SeverityNumber", codec=SEVERITY)),
    ),
    Field(
        keys.LOGGER,
        ecs=_t("log.logger"),
        gcp="logger",
        datadog="logger.name",
        otel=_t(OTEL_SCOPE, "Name"),
    ),
    Field(keys.MESSAGE, ecs="message", gcp="message", datadog="message", otel="Body"),
    Field(
        keys.PROCESS_ID,
        ecs=_t("process.pid", codec=WHOLE),
        otel=_t(OTEL_RESOURCE, "process.pid"),
    ),
    # The context.
    Field(
        keys.CORRELATION_ID,
        ecs="labels.correlation_id",
        gcp=_t(GCP_LABELS, keys.CORRELATION_ID),
        datadog=keys.CORRELATION_ID,
        otel=_t(OTEL_ATTRIBUTES, keys.CORRELATION_ID),
    ),
    Field(
        keys.PARENT_CORRELATION_ID,
        ecs="labels.parent_correlation_id",
        gcp=_t(GCP_LABELS, keys.PARENT_CORRELATION_ID),
        datadog=keys.PARENT_CORRELATION_ID,
        otel=_t(OTEL_ATTRIBUTES, keys.PARENT_CORRELATION_ID),
    ),
    Field(
        keys.TRACE_ID,
        ecs="trace.id",
        gcp=_t(GCP_TRACE, codec=GCP_TRACE_NAME),
        datadog=(_t(keys.TRACE_ID), _t("dd.trace_id", codec=DECIMAL_ID)),
        otel="TraceId",
    ),
    Field(
        keys.SPAN_ID,
        ecs="span.id",
        gcp=GCP_SPAN,
        datadog=(_t(keys.SPAN_ID), _t("dd.span_id", codec=DECIMAL_ID)),
        otel="SpanId",
    ),
    Field(
        TRACE_FLAGS,
        gcp=_t(GCP_SAMPLED, codec=SAMPLED),
        otel=_t("TraceFlags", codec=FLAGS_NUMBER),
    ),
    Field(
        keys.REQUEST_ID,
        ecs="transaction.id",
        gcp=_t(GCP_LABELS, keys.REQUEST_ID),
        datadog=keys.REQUEST_ID,
        otel=_t(OTEL_ATTRIBUTES, keys.REQUEST_ID),
    ),
    Field(
        keys.SERVICE_NAME,
        ecs=(_t("service.name"), _t("event.dataset", codec=DATASET)),
        gcp=_t(GCP_SERVICE, "service"),
        datadog="dd.service",
        otel=_t(OTEL_RESOURCE, "service.name"),
    ),
    Field(
        keys.SERVICE_VERSION,
        ecs="service.version",
        gcp=_t(GCP_SERVICE, "version"),
        datadog="dd.version",
        otel=_t(OTEL_RESOURCE, "service.version"),
    ),
    Field(
        keys.ENVIRONMENT,
        ecs="service.environment",
        gcp=_t(GCP_LABELS, keys.ENVIRONMENT),
        datadog="dd.env",
        otel=_t(OTEL_RESOURCE, "deployment.environment.name"),
    ),
    Field(
        keys.USER_ID,
        ecs="user.id",
        gcp=_t(GCP_LABELS, keys.USER_ID),
        datadog="usr.id",
        otel=_t(OTEL_ATTRIBUTES, "user.id"),
    ),
    Field(
        keys.OPERATION_NAME,
        ecs="labels.operation_name",
        gcp=_t(GCP_LABELS, keys.OPERATION_NAME),
        datadog=keys.OPERATION_NAME,
        otel=_t(OTEL_ATTRIBUTES, keys.OPERATION_NAME),
    ),
    Field(
        keys.OPERATION,
        ecs="labels.operation",
        gcp=_t(GCP_LABELS, keys.OPERATION),
        datadog=keys.OPERATION,
        otel=_t(OTEL_ATTRIBUTES, keys.OPERATION),
    ),
    # Timing and outcome.
    Field(
        keys.DURATION_MS,
        ecs=_t("event.duration", codec=NANOSECONDS),
        gcp=_t(GCP_HTTP, "latency", codec=LATENCY, request=True),
        datadog=_t("duration", codec=NANOSECONDS),
    ),
    Field(
        keys.STATUS,
        ecs=_t("event.outcome", codec=OUTCOME),
        datadog=_t("evt.outcome", codec=OUTCOME),
    ),
    # An exception, as data: the members of "error".
    Field(
        _ERROR + keys.ERROR_TYPE_NAME,
        ecs="error.type",
        gcp=_t(GCP_ERROR, keys.ERROR_TYPE_NAME),
        datadog="error.kind",
        otel=_t(OTEL_ATTRIBUTES, "exception.type"),
    ),
    Field(
        _ERROR + keys.ERROR_MESSAGE,
        ecs="error.message",
        gcp=_t(GCP_ERROR, keys.ERROR_MESSAGE),
        datadog="error.message",
        otel=_t(OTEL_ATTRIBUTES, "exception.message"),
    ),
    Field(
        _ERROR + keys.ERROR_STACK,
        ecs=_t("error.stack_trace", codec=STACK_TEXT),
        gcp=_t("stack_trace", codec=STACK_TEXT),
        datadog=_t("error.stack", codec=STACK_TEXT),
        otel=_t(OTEL_ATTRIBUTES, "exception.stacktrace", codec=STACK_TEXT),
    ),
    Field(
        _ERROR + keys.ERROR_CODE,
        ecs="error.code",
        gcp=_t(GCP_ERROR, keys.ERROR_CODE),
        datadog="error.code",
    ),
    # HTTP, on request records.
    Field(
        keys.HTTP_METHOD,
        ecs=_t("http.request.method", request=True),
        gcp=_t(GCP_HTTP, "requestMethod", request=True),
        datadog=_t("http.method", request=True),
        otel=_t(OTEL_ATTRIBUTES, "http.request.method", request=True),
    ),
    Field(
        keys.HTTP_PATH,
        ecs=_t("url.path", request=True),
        gcp=_t(GCP_HTTP, "requestUrl", codec=PATH, request=True),
        datadog=_t("http.url_details.path", request=True),
        otel=_t(OTEL_ATTRIBUTES, "url.path", request=True),
    ),
    Field(
        keys.HTTP_URL,
        ecs=_t("url.full", request=True),
        gcp=_t(GCP_HTTP, "requestUrl", codec=URL, request=True),
        datadog=_t("http.url", request=True),
        otel=_t(OTEL_ATTRIBUTES, "url.full", request=True),
    ),
    Field(keys.HTTP_ROUTE, otel=_t(OTEL_ATTRIBUTES, "http.route", request=True)),
    Field(
        keys.STATUS_CODE,
        ecs=_t("http.response.status_code", request=True),
        gcp=_t(GCP_HTTP, "status", request=True),
        datadog=_t("http.status_code", request=True),
        otel=_t(OTEL_ATTRIBUTES, "http.response.status_code", request=True),
    ),
    Field(
        keys.CLIENT_IP,
        ecs=(
            _t("client.address", request=True),
            _t("client.ip", codec=IP_ONLY, request=True),
        ),
        gcp=_t(GCP_HTTP, "remoteIp", codec=IP, request=True),
        datadog=_t("network.client.ip", request=True),
        otel=_t(OTEL_ATTRIBUTES, "client.address", request=True),
    ),
    Field(
        keys.USER_AGENT,
        ecs=_t("user_agent.original", request=True),
        gcp=_t(GCP_HTTP, "userAgent", request=True),
        datadog=_t("http.useragent", request=True),
        otel=_t(OTEL_ATTRIBUTES, "user_agent.original", request=True),
    ),
)
"""Our field -> where each preset writes it. ``None``: where the preset keeps the rest."""

_CONSTANTS: Final[Mapping[str, tuple[tuple[str, object], ...]]] = {
    ECS: (("ecs.version", ECS_VERSION),),
}
"""Fields a preset writes on every record, whatever it holds."""

_RESERVED: Final[Mapping[str, frozenset[str]]] = {
    GCP: frozenset(
        ("timestamp", "timestampSeconds", "timestampNanos", "exception", "@type", "error")
    ),
    DATADOG: frozenset(
        # Reserved attributes, and the names Datadog's default date and status remappers read.
        (
            "host",
            "hostname",
            "service",
            "source",
            "ddsource",
            "ddtags",
            "date",
            "@timestamp",
            "_timestamp",
            "Timestamp",
            "eventTime",
            "published",
            "level",
            "severity",
        )
    ),
    OTEL: frozenset(),
    ECS: frozenset(),
}
"""Names a preset's vendor gives a meaning, beyond those the table writes."""
_RESERVED_PREFIXES: Final[Mapping[str, tuple[str, ...]]] = {
    GCP: ("logging.googleapis.com/", f"{CUSTOM}."),
    DATADOG: (
        "dd.",
        "error.",
        "http.",
        "usr.",
        "evt.",
        "network.",
        "logger.",
        f"{CUSTOM}.",
    ),
    OTEL: ("exception.", f"{CUSTOM}."),
    ECS: (),
}


# -- Compiling the table for one preset. --------------------------------------------------


def _targets(cell: Cell) -> tuple[Target, ...]:
    if cell is None:
        return ()
    if isinstance(cell, str):
        return (Target((cell,)),)
    if isinstance(cell, Target):
        return (cell,)
    return cell


def cell_targets(row: Field, schema: str) -> tuple[Target, ...]:
    """Return the targets of *row* in *schema* (none: the row's field goes to the rest)."""
    return _targets(getattr(row, schema))


_NAMES_LIMIT: Final = 10_000
_ELSEWHERE: Final = "\x00"
"""The one name, in the main object, of every field placed elsewhere: removed after."""
_RARE: Final = "\x01"
"""Likewise for the fields few records have: when it is there, they are placed one by one."""
_MISSING: Final = object()
_NO_PLAN: Final[Any] = object()

Rare = Callable[[dict[str, Any], dict[str, Any], object, Mapping[str, Any], bool], None]
"""Places one field seen on few records: (top, main, value, record, is a request)."""


class Preset:
    """One schema preset, compiled from :data:`FIELDS`: :meth:`encode` and :meth:`decode`.

    *gcp_project* makes Cloud Logging trace names (``projects/P/traces/ID``) that link a
    line to Cloud Trace; without it the trace id is written as it is.

    Encoding is planned once here so that a record costs one dict comprehension (the
    fields the preset keeps in its main object, renamed), one small comprehension per
    container, a call per converted field, and nothing for the fields few records have
    (durations, outcomes, errors, HTTP) unless the record has them. The renderer's
    :meth:`encode_compiled` costs one dict display per record of a key sequence seen.
    """

    __slots__ = (
        "_coded",
        "_constants",
        "_container",
        "_decoders",
        "_derived",
        "_error_targets",
        "_flag_targets",
        "_groups",
        "_last_plan",
        "_names",
        "_plans",
        "_rare",
        "_reserved",
        "_reserved_prefixes",
        "_top_plain",
        "_trace_name",
        "clock",
        "name",
    )

    def __init__(self, name: str, *, gcp_project: str | None = None) -> None:
        if name not in PRESETS:
            raise ValueError(f"schema must be one of {', '.join(SCHEMAS)}, not {name!r}")
        self.name = name
        project = gcp_project or None
        self._trace_name: Convert = (
            (lambda value: f"projects/{project}/traces/{value}" if isinstance(value, str) else SKIP)
            if project
            else _text_same
        )
        self._container = OTEL_ATTRIBUTES if name == OTEL else None
        self._constants = dict(_CONSTANTS.get(name, ()))
        self._error_targets: dict[str, Target] = {}
        self._decoders: list[tuple[tuple[str, ...], Codec, str]] = []
        self._derived: set[tuple[str, ...]] = set()
        self._top_plain: list[tuple[str, str]] = []
        self._coded: list[tuple[str, tuple[str, ...], Convert, bool, str | None]] = []
        self._rare: list[tuple[str, Rare]] = []
        known: dict[Any, Any] = {keys.ERROR: _RARE}
        groups: dict[str, list[tuple[str, str]]] = {}
        for row in FIELDS:
            targets = cell_targets(row, name)
            self._plan_decoding(row.source, targets)
            if row.source.startswith(_ERROR):
                if targets:
                    self._error_targets[row.source[len(_ERROR) :]] = targets[0]
            elif targets and row.source != TRACE_FLAGS:
                self._plan_encoding(row.source, targets, known, groups)
        self._rare.append((keys.ERROR, self._place_error))
        self._flag_targets = tuple(
            (target.path, target.codec.encode, self._top_key(target))
            for target in cell_targets(_FLAGS_ROW, name)
        )
        written = {
            self._main_name(path) for path in (*self._derived, *(d[0] for d in self._decoders))
        }
        self._reserved = _RESERVED[name] | written
        self._reserved_prefixes = _RESERVED_PREFIXES[name]
        self._names = known
        self._groups = tuple((container, tuple(pairs)) for container, pairs in groups.items())
        self._plans: dict[tuple[Any, ...], _Plan | None] = {}
        self._last_plan: _Plan | None = None
        times = cell_targets(_TIME_ROW, name)
        self.clock: Callable[[], int] | None = (
            _clock_ns if times and times[0].codec is UNIX_NS else None
        )
        """The clock of the records of a line made from parts, when it is not the
        logger's ``datetime``: ``time.time_ns`` for a preset that writes nanoseconds
        (reading the time as a ``datetime`` and converting it costs about three times more)."""

    def _plan_decoding(self, source: str, targets: tuple[Target, ...]) -> None:
        """Read back each field from its first target; the others are derived from it."""
        for index, target in enumerate(targets):
            if target.codec.decode is None or index:
                self._derived.add(target.path)
            else:
                self._decoders.append((target.path, target.codec, source))

    def _plan_encoding(
        self,
        source: str,
        targets: tuple[Target, ...],
        known: dict[Any, Any],
        groups: dict[str, list[tuple[str, str]]],
    ) -> None:
        """Decide how a field is placed: renamed in the comprehension, in a container
        group, through a conversion, or (a field few records have) on its own."""
        if source not in _ALWAYS or any(target.request_only for target in targets):
            known[source] = _RARE
            self._rare.append((source, self._placer(source, targets)))
            return
        # ECS wants @timestamp, log.level and message first: the logger is placed after.
        late = self.name == ECS and source == keys.LOGGER
        for index, target in enumerate(targets):
            plain = target.codec is SAME
            if plain and index == 0 and self._is_main(target.path) and not late:
                known[source] = self._main_name(target.path)
                continue
            known.setdefault(source, _ELSEWHERE)
            if plain and self._is_main(target.path):
                self._top_plain.append((source, target.path[-1]))
            elif plain and len(target.path) == 1:
                self._top_plain.append((source, target.path[0]))
            elif plain and len(target.path) == 2:
                groups.setdefault(target.path[0], []).append((source, target.path[1]))
            else:
                encode = self._trace_name if target.codec is GCP_TRACE_NAME else target.codec.encode
                self._coded.append((source, target.path, encode, index == 0, self._top_key(target)))

    # -- encoding --------------------------------------------------------------------

    def encode(self, record: Mapping[str, Any], trace_flags: str | None = None) -> dict[str, Any]:
        """Return *record* (flat) in this preset's shape, as a new dict.

        *trace_flags* are the W3C flags of the span the record was made in (when the
        caller knows them): Cloud Logging's ``trace_sampled``, OpenTelemetry's
        ``TraceFlags``.
        """
        names = self._names
        try:
            main = {names[key]: value for key, value in record.items()}
        except KeyError:  # a field name seen for the first time
            main = {self._name(key): value for key, value in record.items()}
        main.pop(_ELSEWHERE, None)
        rare = main.pop(_RARE, _MISSING) is not _MISSING
        top: dict[str, Any] = {} if self._container else main
        for key, name in self._top_plain:
            if key in record:
                top[name] = record[key]
        for container, pairs in self._groups:
            inner = {name: record[key] for key, name in pairs if key in record}
            if inner:
                top[container] = inner
        for key, path, encode, primary, top_key in self._coded:
            value = record.get(key, _MISSING)
            if value is _MISSING:
                continue
            encoded = encode(value)
            if top_key is not None and encoded is not SKIP and top_key not in top:
                top[top_key] = encoded  # what _put does for a top-level name, inlined
            elif (encoded is SKIP or not self._put(top, main, path, encoded)) and primary:
                self._keep(main, key, value)
        if rare:
            self._place_rare(top, main, record)
        if trace_flags is not None and self._flag_targets:
            self._place_flags(top, main, trace_flags)
        top.update(self._constants)
        if self._container and main:
            top[self._container] = main
        return top

    def encode_compiled(
        self, record: Mapping[str, Any], trace_flags: str | None = None
    ) -> dict[str, Any]:
        """Return what :meth:`encode` returns, through a function compiled for the
        record's key sequence.

        The renderer's path. Records with one key sequence are encoded alike: where
        each value goes is decided by the table and the keys alone, and the values are
        looked at only by the conversions. The first record of a sequence is encoded by
        :meth:`encode`; if each of its values is at its planned place and nowhere else,
        and what is left is the table's constants, a function that builds that form in
        one dict display from a record's values is compiled. It serves the next records
        of the sequence whatever their context; one whose conversion refuses a value
        goes through :meth:`encode`, as do records with fields few records have
        (errors, durations, HTTP). Like :meth:`encode`'s, the result is new dicts that
        hold the record's values.
        """
        plan = self.compiled_plan(tuple(record))
        if plan is None:
            return self.encode(record, trace_flags)
        fill = plan.fills[trace_flags is not None]
        if fill is not None:
            encoded = fill((*record.values(), trace_flags))
            if encoded is not None:
                return encoded  # type: ignore[no-any-return]  # the function's dict
            return self.encode(record, trace_flags)
        encoded = self.encode(record, trace_flags)
        plan.learn((*record.values(), trace_flags), encoded)
        return encoded

    def compiled_plan(self, shape_keys: tuple[Any, ...]) -> _Plan | None:
        """The plan of records with *shape_keys* (``None``: they are encoded one by one).

        Its ``fills[with_trace_flags]`` is the compiled encoder once a record of them
        was encoded by :meth:`encode_compiled`: it takes the record's values in order,
        then the trace flags (or ``None``), and returns the encoded record, or ``None``
        when a conversion refuses a value (then :meth:`encode` it). Its
        :meth:`_Plan.refill` makes the re-encoder of a scope's records. For a record path
        that has a record's parts without the record.
        """
        plan = self._last_plan
        if plan is None or plan.keys != shape_keys:
            plan = self._plans.get(shape_keys, _NO_PLAN)
            if plan is _NO_PLAN:
                plan = self._remember_plan(shape_keys)
            if plan is None:
                return None
            self._last_plan = plan
        return plan

    def _remember_plan(self, shape_keys: tuple[Any, ...]) -> _Plan | None:
        plan = self._plan(shape_keys)
        if len(self._plans) >= _PLANS_LIMIT:
            self._plans.clear()
        self._plans[shape_keys] = plan
        return plan

    def _plan(self, shape_keys: tuple[Any, ...]) -> _Plan | None:
        """Where the values of records with *shape_keys* go (``None``: such records are
        encoded one by one). The trace flags come after the record's values."""
        plain: list[tuple[Location, int]] = []
        coded: list[tuple[str, int, Convert]] = []
        for position, key in enumerate(shape_keys):
            if type(key) is not str:
                return None
            if key in _ALWAYS:
                placed = self._places(key)
                if placed is None:
                    return None
                plain.extend((location, position) for location in placed[0])
                coded.extend((name, position, convert) for name, convert in placed[1])
                continue
            if key in _SOURCES or self._names.get(key) in (_RARE, _ELSEWHERE):
                return None  # a field few records have, placed by its own step
            plain.append(((self._container, self._name(key)), position))
        flags: list[tuple[str, int, Convert]] = []
        for _path, convert, name in self._flag_targets:
            if name is None:
                return None
            flags.append((name, len(shape_keys), convert))
        return _Plan(shape_keys, tuple(plain), tuple(coded), tuple(flags), self._constants)

    def _places(self, key: str) -> tuple[list[Location], list[tuple[str, Convert]]] | None:
        """Where the table puts the field *key* of the head or context: as it is, and
        converted (``None``: somewhere a compiled form does not reach)."""
        plain: list[Location] = []
        coded: list[tuple[str, Convert]] = []
        name = self._names.get(key)
        if name is None:
            name = self._name(key)  # not in this preset's table: kept as the rest is
        if name is _RARE:
            return None
        if name is not _ELSEWHERE:
            plain.append((self._container, name))
        plain.extend((None, top_name) for source, top_name in self._top_plain if source == key)
        for container, pairs in self._groups:
            plain.extend((container, member) for source, member in pairs if source == key)
        for source, _path, convert, _primary, top_key in self._coded:
            if source == key:
                if top_key is None:
                    return None
                coded.append((top_key, convert))
        return plain, coded

    def _place_rare(
        self, top: dict[str, Any], main: dict[str, Any], record: Mapping[str, Any]
    ) -> None:
        request = record.get(keys.MESSAGE) in REQUEST_EVENTS
        for key, place in self._rare:
            value = record.get(key, _MISSING)
            if value is not _MISSING:
                place(top, main, value, record, request)

    def _place_flags(self, top: dict[str, Any], main: dict[str, Any], flags: str) -> None:
        for path, encode, name in self._flag_targets:
            encoded = encode(flags)
            if encoded is SKIP:
                continue
            if name is not None:
                top.setdefault(name, encoded)
            else:
                self._put(top, main, path, encoded)

    def _name(self, key: Any) -> Any:
        """The main object's name for *key*, learned on first sight (a bounded memo)."""
        name = self._names.get(key)
        if name is None:
            name = self._rest_name(key)
            if len(self._names) < _NAMES_LIMIT:  # field names are few; bound odd callers
                self._names[key] = name
        return name

    def _top_key(self, target: Target) -> str | None:
        """The name of *target* when it is one key of the top-level object, else ``None``."""
        if len(target.path) == 1 and not (self._is_main(target.path) and self._container):
            return target.path[0]
        return None

    def _is_main(self, path: tuple[str, ...]) -> bool:
        if self._container:
            return len(path) == 2 and path[0] == self._container
        return len(path) == 1

    def _main_name(self, path: tuple[str, ...]) -> str:
        return path[-1] if self._is_main(path) else path[0]

    def _rest_name(self, key: Any) -> Any:
        if not isinstance(key, str):  # a processor's int key: JSON writes it as text
            if self.name != ECS:
                return key
            try:
                return f"{CUSTOM}.{key}"
            except Exception:  # noqa: BLE001 - a key whose str() raises still has a place
                return f"{CUSTOM}.{type(key).__name__}"
        if self.name == ECS or key in self._reserved or key.startswith(self._reserved_prefixes):
            return f"{CUSTOM}.{key}"
        return key if key not in (_ELSEWHERE, _RARE) else f"{CUSTOM}.{key}"

    def _put(
        self, top: dict[str, Any], main: dict[str, Any], path: tuple[str, ...], value: object
    ) -> bool:
        """Write *value* at *path*; ``False`` when something is there already."""
        if self._is_main(path):
            target, name = main, path[-1]
        elif len(path) == 1:
            target, name = top, path[0]
        else:
            inner = top.get(path[0])
            if inner is None:
                inner = top[path[0]] = {}
            elif not isinstance(inner, dict):
                return False
            target, name = inner, path[1]
        if name in target:
            return False
        target[name] = value
        return True

    def _keep(self, main: dict[str, Any], key: str, value: object) -> None:
        """Keep a field no target took, under its rest name (never losing it)."""
        name = self._rest_name(key)
        if name in main:
            name = f"{CUSTOM}.{key}"
        main[name] = value

    def _placer(self, key: str, targets: tuple[Target, ...]) -> Rare:
        first, extra = targets[0], targets[1:]
        encode = self._trace_name if first.codec is GCP_TRACE_NAME else first.codec.encode

        def place(
            top: dict[str, Any],
            main: dict[str, Any],
            value: object,
            record: Mapping[str, Any],
            request: bool,
        ) -> None:
            if first.request_only and not request:
                self._keep(main, key, value)
                return
            encoded = encode(value)
            if encoded is SKIP or not self._put(top, main, first.path, encoded):
                self._keep(main, key, value)
                return
            for target in extra:
                derived = target.codec.encode(value)
                if derived is not SKIP:
                    self._put(top, main, target.path, derived)

        return place

    def _place_error(
        self,
        top: dict[str, Any],
        main: dict[str, Any],
        value: object,
        record: Mapping[str, Any],
        request: bool,
    ) -> None:
        if not isinstance(value, Mapping):
            self._keep(main, keys.ERROR, value)
            return
        if not value:  # an empty error still says there was one
            (top if self.name == GCP else main)[
                GCP_ERROR if self.name == GCP else _CUSTOM_ERROR
            ] = {}
            return
        leftover = self._place_error_members(top, main, value)
        if not leftover:
            return
        if self.name == GCP:
            error = top.setdefault(GCP_ERROR, {})
            for member, member_value in leftover.items():
                error.setdefault(member, member_value)
            return
        # ECS and OpenTelemetry keep custom members out of their error namespaces: in one
        # "flext.error" object, which no call field can be named (it is written flext.*).
        kept: dict[str, Any] = {}
        for member, member_value in leftover.items():
            name = _ERROR + member
            if self.name == DATADOG and name not in main:
                main[name] = member_value
            else:
                kept[member] = member_value
        if kept:
            main[_CUSTOM_ERROR] = kept

    def _place_error_members(
        self, top: dict[str, Any], main: dict[str, Any], error: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Write the members of *error* the table names; return the others."""
        leftover: dict[str, Any] = {}
        for member, value in error.items():
            target = self._error_targets.get(member)
            if target is None:
                leftover[member] = value
            elif target.codec is STACK_TEXT:
                text = stack_text(error)
                if text is SKIP or not self._put(top, main, target.path, text):
                    leftover[member] = value
                elif stack_frames(text) != value:
                    # Text for the vendor's error tracker, and the frames as they were
                    # (locals, odd file names) for a lossless read-back.
                    leftover[member] = value
            else:
                encoded = target.codec.encode(value)
                if encoded is SKIP or not self._put(top, main, target.path, encoded):
                    leftover[member] = value
        return leftover

    # -- decoding --------------------------------------------------------------------

    def decode(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Return a record of this preset in the flat schema (what :meth:`encode` took)."""
        found: dict[str, Any] = {}
        error: dict[str, Any] = {}
        used = self._decode_targets(record, found, error)
        rest: dict[str, Any] = {}
        containers = _CONTAINERS.get(self.name, ())
        seen = bool(error)  # an error object was read, even an empty one
        for key, value in record.items():
            if (key,) in used:
                continue
            if key in containers and isinstance(value, Mapping):
                for member, member_value in value.items():
                    if (key, member) not in used:
                        seen = seen or (
                            member == _CUSTOM_ERROR and isinstance(member_value, Mapping)
                        )
                        self._decode_rest(str(member), member_value, rest, error)
            elif key == GCP_ERROR and self.name == GCP and isinstance(value, Mapping):
                seen = True
                error.update((m, v) for m, v in value.items() if (key, m) not in used)
            else:
                seen = seen or (key == _CUSTOM_ERROR and isinstance(value, Mapping))
                self._decode_rest(key, value, rest, error)
        if error or seen:
            kept = rest.get(keys.ERROR)
            rest[keys.ERROR] = {**error, **kept} if isinstance(kept, Mapping) else error
        flat: dict[str, Any] = {key: found[key] for key in keys.RECORD_KEYS if key in found}
        for key, value in (*found.items(), *rest.items()):
            flat.setdefault(key, value)
        return flat

    def _decode_targets(
        self, record: Mapping[str, Any], found: dict[str, Any], error: dict[str, Any]
    ) -> set[tuple[str, ...]]:
        """Read the fields the table places; return the paths read (or derived)."""
        used = set(self._derived)
        used.update((name,) for name in self._constants)
        for path, codec, source in self._decoders:
            present, value = _lookup(record, path)
            decode = _trace_from_name if codec is GCP_TRACE_NAME else codec.decode
            if not present or decode is None:
                continue
            decoded = decode(value)
            if decoded is SKIP:
                continue
            used.add(path)
            if source.startswith(_ERROR):
                error[source[len(_ERROR) :]] = decoded
            else:
                found.setdefault(source, decoded)
        return used

    def _decode_rest(
        self, key: str, value: object, rest: dict[str, Any], error: dict[str, Any]
    ) -> None:
        custom = f"{CUSTOM}."
        if key == _CUSTOM_ERROR and isinstance(value, Mapping):
            error.update(value)  # members kept as they were win over those read from text
        elif key.startswith(custom):
            rest.setdefault(key[len(custom) :], value)
        elif self.name == ECS and key.startswith("labels."):
            rest.setdefault(key[len("labels.") :], value)
        elif self.name == DATADOG and key.startswith(_ERROR):
            error.setdefault(key[len(_ERROR) :], value)
        else:
            rest.setdefault(key, value)


_ALWAYS: Final = frozenset(keys.RECORD_KEYS)
"""Fields nearly every record has: planned into the comprehension and the groups."""
_FLAGS_ROW: Final = next(row for row in FIELDS if row.source == TRACE_FLAGS)
_TIME_ROW: Final = next(row for row in FIELDS if row.source == keys.TIMESTAMP)
_CONTAINERS: Final[Mapping[str, tuple[str, ...]]] = {
    GCP: (GCP_LABELS, GCP_HTTP, GCP_SERVICE),
    OTEL: (OTEL_ATTRIBUTES, OTEL_RESOURCE, OTEL_SCOPE),
}
"""The objects a preset nests fields in: their members are read one by one."""


def _trace_from_name(value: object) -> object:
    if not isinstance(value, str):
        return SKIP
    _, marker, trace_id = value.rpartition("/traces/")
    return trace_id if marker else value


def _lookup(record: Mapping[str, Any], path: Sequence[str]) -> tuple[bool, Any]:
    current: Any = record
    for part in path:
        if not isinstance(current, Mapping) or part not in current:
            return False, None
        current = current[part]
    return True, current


# -- A compiled form per key sequence, for the renderer. ----------------------------------

_SOURCES: Final = frozenset((keys.ERROR, *(row.source for row in FIELDS)))
_HEAD_FIELDS: Final = (*keys.HEAD_KEYS, keys.PROCESS_ID)
_PLANS_LIMIT: Final = 64
"""Key sequences compiled per preset: records have few; bound odd callers."""
_LEARNING_TRIES: Final = 8
"""Records of a sequence that may show its form before it is encoded one by one for good."""

Location = tuple[str | None, str]
"""Where a value lands in an encoded record: (a top-level container or ``None``, name)."""
Fill = Callable[[tuple[Any, ...]], Any]
"""A compiled encoder: a record's values, then the trace flags -> the encoded record, or
``None`` when a conversion refuses a value."""


Refill = Callable[..., Any]
"""A compiled re-encoder: ``refill(encoded, *head, fields, flags)`` makes, from a record of
one scope encoded, another record's encoded form, given its values before the scope's
(the head), its fields by name and its trace flags; ``None`` when a conversion refuses a
value."""


class _Plan:
    """Where the values of records with one key sequence go, and, once a record showed
    it, the compiled encoder of that form (one without trace flags, one with)."""

    __slots__ = ("coded", "constants", "fills", "flags", "keys", "plain", "refills", "tries")

    def __init__(
        self,
        keys: tuple[Any, ...],
        plain: tuple[tuple[Location, int], ...],
        coded: tuple[tuple[str, int, Convert], ...],
        flags: tuple[tuple[str, int, Convert], ...],
        constants: Mapping[str, object],
    ) -> None:
        self.keys = keys
        self.plain = plain
        """Values placed as they are: (location, position in the record)."""
        self.coded = coded
        """Values converted into one top-level name: (name, position, conversion)."""
        self.flags = flags
        """The trace flags, converted (their position follows the record's values)."""
        self.constants = constants
        """The names and values the preset writes on every record."""
        self.fills: list[Fill | None] = [None, None]
        self.refills: dict[tuple[bool, int, int], Refill] = {}
        self.tries = 0

    def refill(self, with_flags: bool, fixed: range, base: Mapping[str, Any]) -> Refill:
        """The re-encoder of records whose values at the *fixed* positions are those of
        the record *base* encodes (a scope's context): it copies *base* and puts in the
        values before them (as arguments), those after (the fields, by name) and the
        trace flags (``None`` without)."""
        key = (with_flags, fixed.start, fixed.stop)
        refill = self.refills.get(key)
        if refill is None:
            coded = (*self.coded, *(self.flags if with_flags else ()))
            refill = _compile_refill(base, dict(self.plain), coded, self.keys, fixed)
            self.refills[key] = refill
        return refill

    def fixed_containers(self, fixed: range) -> frozenset[str]:
        """The containers that hold only values at the *fixed* positions: the same in
        every record :meth:`refill` makes for them."""
        containers = {container for (container, _), _ in self.plain if container is not None}
        return frozenset(
            containers.difference(
                container
                for (container, _), position in self.plain
                if container is not None and position not in fixed
            )
        )

    def learn(self, values: tuple[Any, ...], encoded: Mapping[str, Any]) -> None:
        """Compile the encoder from *encoded*, the encoded record of *values*, if it shows
        the plan holds (its form for records with trace flags if the last value is one)."""
        if self.tries >= _LEARNING_TRIES:
            return
        self.tries += 1
        with_flags = values[-1] is not None
        coded = (*self.coded, *(self.flags if with_flags else ()))
        if not _holds(self.plain, coded, self.constants, values, encoded):
            return
        try:
            fill = _compile(encoded, dict(self.plain), coded, self.constants)
            if _alike(fill(values), encoded):
                self.fills[with_flags] = fill
        except RecursionError:  # pragma: no cover - a record nested deeper than Python goes
            return


def _holds(
    plain: tuple[tuple[Location, int], ...],
    coded: tuple[tuple[str, int, Convert], ...],
    constants: Mapping[str, object],
    values: tuple[Any, ...],
    encoded: Mapping[str, Any],
) -> bool:
    """Tell whether *encoded* has each value at its planned locations and nowhere else,
    and nothing else but the preset's constants (then every record of the key sequence is
    encoded alike: the encoder looks at the values only through the conversions)."""
    placed: dict[int, int] = {}  # id of a value -> its position
    for position in (*(p for _, p in plain), *(p for _, p, _ in coded)):
        if placed.setdefault(id(values[position]), position) != position:
            return False  # one object in two fields: its locations would be ambiguous
    locations: dict[Location, object] = {}
    for location, position in plain:
        container, name = location
        inner = encoded if container is None else encoded.get(container)
        if location in locations or not isinstance(inner, dict):
            return False
        if inner.get(name, _MISSING) is not values[position]:
            return False
        locations[location] = values[position]
    for name, position, convert in coded:
        value = convert(values[position])
        if (None, name) in locations or value is SKIP or not _alike(encoded.get(name), value):
            return False
        locations[None, name] = value
    containers = {container for container, _ in locations if container is not None}
    for name, value in encoded.items():
        if name in containers:
            if not all((name, member) in locations for member in value):
                return False
        elif (None, name) not in locations and constants.get(name, _MISSING) is not value:
            return False
    return True


def _compile(
    encoded: Mapping[str, Any],
    plain: Mapping[Location, int],
    coded: tuple[tuple[str, int, Convert], ...],
    constants: Mapping[str, object],
) -> Fill:
    """A function of a record's values that builds *encoded* again, in one dict display:
    the values at the *plain* places, the *coded* ones converted, the *constants*.

    No name or value is written into the source: each is an argument of an outer
    function, which the inner one reads as a cell (cheaper than a global).
    """
    arguments: dict[str, object] = {"SKIP": SKIP}
    by_name: dict[str, str] = {}

    def argument(value: object, name: str | None = None) -> str:
        """The argument that holds *value* (one per name, for the names of the record)."""
        known = by_name.get(name) if name is not None else None
        if known is not None:
            return known
        found = f"a{len(arguments)}"
        arguments[found] = value
        if name is not None:
            by_name[name] = found
        return found

    body: list[str] = []
    converted: dict[str, str] = {}
    for index, (name, position, convert) in enumerate(coded):
        body.append(f"        e{index} = {_conversion(convert, f'v[{position}]', argument)}")
        body.append(f"        if e{index} is SKIP: return None")
        converted[name] = f"e{index}"
    containers = {container for container, _ in plain if container is not None}

    def display(values: Mapping[str, Any], container: str | None) -> str:
        items = []
        for name in values:
            if (container, name) in plain:
                item = f"v[{plain[container, name]}]"
            elif container is None and name in converted:
                item = converted[name]
            elif container is None and name in containers:
                item = display(values[name], name)
            else:
                item = argument(constants[name])
            items.append(f"{argument(name, name)}: {item}")
        return "{" + ", ".join(items) + "}"

    result = display(encoded, None)
    source = "\n".join(
        [
            f"def make({', '.join(arguments)}):",
            "    def fill(v):",
            *body,
            f"        return {result}",
            "    return fill",
        ]
    )
    namespace: dict[str, Any] = {}
    exec(compile(source, "<flext_logging.presets encoder>", "exec"), namespace)  # noqa: S102 - our own source: names and values are arguments
    return namespace["make"](**arguments)  # type: ignore[no-any-return]  # the function made


def _compile_refill(
    encoded: Mapping[str, Any],
    plain: Mapping[Location, int],
    coded: tuple[tuple[str, int, Convert], ...],
    shape_keys: tuple[Any, ...],
    fixed: range,
) -> Refill:
    """A function that makes, from *encoded*, another record of the key sequence
    *shape_keys* with the same values at the *fixed* positions, encoded: a copy of
    *encoded* with the other values (converted where *coded* says) in their places, and a
    copy of each container that holds one. Those before *fixed* are its arguments after
    *encoded*, then come the fields after *fixed* (a mapping, read by name) and the trace
    flags (the position after the last key).

    As :func:`_compile`, names are arguments of an outer function, never in the source.
    """
    arguments: dict[str, object] = {"SKIP": SKIP}

    def argument(value: object) -> str:
        found = f"a{len(arguments)}"
        arguments[found] = value
        return found

    def source(position: int) -> str | None:
        """The expression of the value at *position*; ``None`` for the scope's."""
        if position < fixed.start:
            return f"h{position}"
        if position in fixed:
            return None
        if position < len(shape_keys):
            return f"f[{argument(shape_keys[position])}]"
        return "fl"

    body: list[str] = []
    for number, (_, position, convert) in enumerate(coded):
        if (value := source(position)) is not None:
            body.append(f"        e{number} = {_conversion(convert, value, argument)}")
            body.append(f"        if e{number} is SKIP: return None")
    body.append("        d = b.copy()")
    for number, (name, position, _) in enumerate(coded):
        if source(position) is not None:
            body.append(f"        d[{argument(name)}] = e{number}")
    inner: dict[str, list[tuple[str, str]]] = {}
    for (container, name), position in plain.items():
        if (value := source(position)) is None:
            continue
        if container is None:
            body.append(f"        d[{argument(name)}] = {value}")
        else:
            inner.setdefault(container, []).append((name, value))
    for number, (container, members) in enumerate(inner.items()):
        values = dict(members)
        if values.keys() == encoded[container].keys():  # all new: a display, in its order
            items = ", ".join(f"{argument(name)}: {values[name]}" for name in encoded[container])
            body.append(f"        d[{argument(container)}] = {{{items}}}")
            continue
        body.append(f"        c{number} = b[{argument(container)}].copy()")
        body.extend(f"        c{number}[{argument(name)}] = {value}" for name, value in members)
        body.append(f"        d[{argument(container)}] = c{number}")
    head = "".join(f"h{position}, " for position in range(fixed.start))
    source_text = "\n".join(
        [
            f"def make({', '.join(arguments)}):",
            f"    def refill(b, {head}f, fl):",
            *body,
            "        return d",
            "    return refill",
        ]
    )
    namespace: dict[str, Any] = {}
    exec(compile(source_text, "<flext_logging.presets re-encoder>", "exec"), namespace)  # noqa: S102 - our own source: names and values are arguments
    return namespace["make"](**arguments)  # type: ignore[no-any-return]  # the function made


def _alike(first: object, second: object) -> bool:
    """Tell whether two encoded records are equal, their keys in the same order."""
    try:
        if isinstance(first, dict) and isinstance(second, dict):
            return list(first) == list(second) and all(
                _alike(value, second[key]) for key, value in first.items()
            )
        return first is second or bool(first == second)
    except Exception:  # noqa: BLE001 - a value that cannot be compared: not alike
        return False


# -- One preset per name, recognising a line, and the docs table. -------------------------

_cache: dict[tuple[str, str | None], Preset] = {}


def preset(name: str, *, gcp_project: str | None = None) -> Preset:
    """Return the compiled preset *name* (one object per name and project)."""
    key = (name, gcp_project or None)
    found = _cache.get(key)
    if found is None:
        found = _cache[key] = Preset(name, gcp_project=gcp_project)
    return found


def _head_paths(schema: str) -> tuple[tuple[str, ...], ...]:
    if schema == FLAT:
        return tuple((key,) for key in keys.HEAD_KEYS)
    rows = (row for row in FIELDS if row.source in keys.HEAD_KEYS)
    return tuple(cell_targets(row, schema)[0].path for row in rows)


_HEADS: Final = tuple((schema, _head_paths(schema)) for schema in SCHEMAS)
"""Where each schema writes the head: a line of that schema has all four."""


def detect(record: Mapping[str, Any]) -> str:
    """Tell which schema a parsed line is in: one of :data:`SCHEMAS` (``flat`` if unsure).

    A preset is recognised by its four head names, which its lines always carry (a
    custom field never takes one); a line with fewer is left to the reader as it is.
    """
    if keys.TIMESTAMP in record and keys.LEVEL in record:  # ours; the presets reserve these
        return FLAT
    for schema, paths in _HEADS:
        if schema != FLAT and all(_lookup(record, path)[0] for path in paths):
            return schema
    return FLAT


def to_flat(record: Mapping[str, Any]) -> dict[str, Any]:
    """Return a parsed line of any preset in the flat schema (a flat one unchanged)."""
    schema = detect(record)
    if schema == FLAT:
        return dict(record)
    return preset(schema).decode(record)


def reading_targets(schema: str) -> dict[str, tuple[Target, ...]]:
    """Return, per field of the flat schema, the targets *schema* reads it back from.

    These are the names a reader that matches fields by name (the CLI's dialect table)
    tries for a line that is not a whole preset line (another library writing ECS or
    OpenTelemetry names, say): the first target of each row, never a derived one
    (Datadog's decimal ids, ECS's ``event.dataset``). Members of ``error`` and rows that
    are no record field (the trace flags) are left out.
    """
    found: dict[str, tuple[Target, ...]] = {}
    for row in FIELDS:
        targets = cell_targets(row, schema)
        if not targets or row.source == TRACE_FLAGS or row.source.startswith(_ERROR):
            continue
        first = targets[0]
        if first.codec.decode is not None:
            found[row.source] = (first,)
    return found


def dotted(target: Target) -> str:
    """Return *target*'s path as one dotted name (a container, then its member)."""
    return ".".join(target.path)


_TITLES: Final = {
    ECS: "ECS (`ecs`)",
    GCP: "Cloud Logging (`gcp`)",
    DATADOG: "Datadog (`datadog`)",
    OTEL: "OpenTelemetry (`otel`)",
}


def _rest_text(schema: str, name: str) -> str:
    """Where *schema* keeps a field the table does not place (a member of error: dotted)."""
    if name.startswith(_ERROR):
        member = name[len(_ERROR) :]
        return {
            ECS: f"`{_CUSTOM_ERROR}` → `{member}`",
            GCP: f"`{GCP_ERROR}` → `{member}`",
            DATADOG: f"`error.{member}`",
            OTEL: f"`{OTEL_ATTRIBUTES}` → `{_CUSTOM_ERROR}` → `{member}`",
        }[schema]
    return {
        ECS: f"`{CUSTOM}.{name}`",
        GCP: f"`{name}`",
        DATADOG: f"`{name}`",
        OTEL: f"`{OTEL_ATTRIBUTES}` → `{name}`",
    }[schema]


def _path_text(target: Target) -> str:
    text = " → ".join(f"`{part}`" for part in target.path)
    notes = []
    if target.codec.name:
        notes.append(target.codec.name)
    if target.request_only:
        notes.append("request records")
    return f"{text} ({', '.join(notes)})" if notes else text


def markdown_table() -> str:
    """Return the table of every preset's names, as docs/aggregators.md shows it."""
    header = ["flat", *(_TITLES[name] for name in PRESETS)]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for row in FIELDS:
        cells = ["the span's W3C flags" if row.source == TRACE_FLAGS else f"`{row.source}`"]
        for name in PRESETS:
            targets = cell_targets(row, name)
            if targets:
                cells.append("<br>".join(_path_text(target) for target in targets))
            elif row.source == TRACE_FLAGS:
                cells.append("—")
            else:
                cells.append(_rest_text(name, row.source))
        lines.append("| " + " | ".join(cells) + " |")
    for label, example in (
        ("other members of `error`", _ERROR + "<member>"),
        ("any other field", "<name>"),
    ):
        cells = [label, *(_rest_text(name, example) for name in PRESETS)]
        lines.append("| " + " | ".join(cells) + " |")
    constants = [f"`{key}`: `{value}`" for values in _CONSTANTS.values() for key, value in values]
    lines.append("")
    lines.append("Written on every record besides: " + ", ".join(constants) + " (ECS).")
    return "\n".join(lines) + "\n"
