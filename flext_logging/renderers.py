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
from itertools import islice
from typing import IO, Any, Final, overload

import orjson
from rich.console import Console
from rich.text import Text
from rich.traceback import Trace, Traceback

from flext_logging import keys, presets
from flext_logging._display import CONTEXT_LABELS, QUIET_CONTEXT, short_id
from flext_logging._jsonsafe import (
    TRUNCATION_MARK,
    int_text,
    native,
    safe_repr,
    to_json_safe,
    truncate,
)
from flext_logging.context.state import current_span
from flext_logging.exceptions import BaseError
from flext_logging.processors import COLLISION_SUFFIX, EXC_INFO
from flext_logging.redaction import Redactor

__all__ = [
    "DEFAULT_MAX_RECORD_BYTES",
    "ConsoleRenderer",
    "JSONRenderer",
    "LogfmtRenderer",
    "SchemaRenderer",
    "dumps_record",
    "fit_record",
]

_ORJSON_OPTIONS: Final = orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS | orjson.OPT_APPEND_NEWLINE
# Nearly every record has only string keys; orjson checks each key faster without
# OPT_NON_STR_KEYS, and raises on any other key, which sends that record to the fallback.
_FAST_OPTIONS: Final = orjson.OPT_UTC_Z | orjson.OPT_APPEND_NEWLINE
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
_MARKER: Final = (keys.TRUNCATED, keys.TRUNCATED_FIELDS, keys.FIELDS_OMITTED)
MAX_CUT_FIELDS: Final = 1000
"""A record cut to fit keeps at most this many fields besides its head and context."""
_MIN_KEPT: Final = 256  # a value cut shorter than this many characters is removed instead
_LAST_RESORT_TEXT: Final = 100  # characters of logger and message in a last-resort record
_FIT_ROUNDS: Final = 4  # measure, cut, check; a round more if escaping still overflows
_MARKER_BASE: Final = 64  # bytes of "truncated":true,"truncated_fields":[] and punctuation
_NAME_LENGTH: Final = 100  # a name in truncated_fields is cut to this many characters
_REMOVED: Final = object()
_PREFIX_TRIES: Final = 6  # measurements to find the longest prefix that fits
_EMPTY_JSON: Final = len(b"{}\n")

Render = Callable[[dict[str, Any]], "bytes | str"]


def fit_record(record: Mapping[str, Any], limit: int, render: Render) -> bytes | str:
    """Render *record* within *limit* bytes by cutting its largest values; keep the rest.

    Each field is measured once, encoded as *render* writes it. The largest values are
    cut until the line fits, the message last: a string (or the JSON text of another
    value) becomes a prefix ending in ``...[truncated]``; a dict one of whose members
    holds the excess is cut inside it (``error.context``); a value that would keep
    fewer than 256 characters is removed (the message never is). The head and the
    context ids stay whole. The record then carries ``truncated: true`` and
    ``truncated_fields``, the names cut, largest first (a field of the record with one
    of the marker's names is kept as ``<name>_field``). Fields past the
    first 1000, and names too many to list in a quarter of *limit*, are counted in
    ``fields_omitted`` instead. Cost: linear in the record's size.
    """
    empty = _size(render({}))
    fitted: dict[str, Any] = {}
    kept = omitted = 0
    for key, value in record.items():
        if key in _MARKER:
            # A call's own field of the marker's name: kept beside the marker, renamed as
            # a field named like the head is.
            key = f"{key}{COLLISION_SUFFIX}"  # noqa: PLW2901 - the name it is written under
        if key in _PROTECTED or key == keys.MESSAGE:
            fitted[key] = value
        elif kept < MAX_CUT_FIELDS:
            fitted[key] = value
            kept += 1
        else:
            omitted += 1
    sizes = {
        key: _size(render({key: value})) - empty
        for key, value in fitted.items()
        if key not in _PROTECTED
    }
    cut: list[str] = []
    for _ in range(_FIT_ROUNDS):
        line = render(_with_marker(fitted, cut, omitted, limit))
        excess = _size(line) - limit
        if excess <= 0:
            return line
        listed = limit // 4 - sum(min(len(name), _NAME_LENGTH) + 4 for name in cut)
        if not _cut_largest(fitted, sizes, excess, cut, render=render, empty=empty, listed=listed):
            break
    return _last_resort(record, limit, render)


def _with_marker(
    fitted: dict[str, Any], cut: list[str], omitted: int, limit: int
) -> dict[str, Any]:
    if not cut and not omitted:
        return fitted
    names: list[str] = []
    budget = limit // 4
    for name in cut:
        name = truncate(name, _NAME_LENGTH)  # noqa: PLW2901 - the listed form of the name
        budget -= len(name) + 4
        if budget < 0:
            break
        names.append(name)
    unnamed = omitted + len(cut) - len(names)
    marked = {**fitted, keys.TRUNCATED: True, keys.TRUNCATED_FIELDS: names}
    if unnamed:
        marked[keys.FIELDS_OMITTED] = unnamed
    return marked


def _cut_largest(
    fitted: dict[str, Any],
    sizes: dict[str, int],
    excess: int,
    cut: list[str],
    *,
    render: Render,
    empty: int,
    listed: int,
) -> bool:
    """Cut the largest fields of *fitted* (the message last) to save *excess* bytes.

    *listed* is what is left of the bytes names may take in ``truncated_fields``; a
    name past it costs nothing more (it is counted, not listed).
    """
    order = sorted((key for key in sizes if key != keys.MESSAGE), key=sizes.__getitem__)
    order.reverse()
    if keys.MESSAGE in sizes:
        order.append(keys.MESSAGE)
    need = excess + (0 if cut else _MARKER_BASE)
    progress = False
    for key in order:
        if need <= 0:
            break
        name = str(key)
        if name not in cut and listed > 0:
            cost = min(len(name), _NAME_LENGTH) + 4
            listed -= cost
            need += cost
        value, names, size = _shrink(key, fitted[key], sizes[key] - need, render, empty)
        if value is _REMOVED and key != keys.MESSAGE:
            del fitted[key]
            del sizes[key]
            need -= size + 1  # and its separator
        else:
            if value is _REMOVED:  # the message is shortened to the mark, never removed
                value = TRUNCATION_MARK
            if value is fitted[key]:
                continue
            fitted[key] = value
            new_size = _size(render({key: value})) - empty
            need -= sizes[key] - new_size
            sizes[key] = new_size
        cut.extend(n for n in names if n not in cut)
        progress = True
    return progress


def _shrink(
    key: str, value: Any, target: int, render: Render, empty: int
) -> tuple[Any, list[str], int]:
    """*value* cut so that the field takes at most *target* bytes: (value, names, size).

    The value is ``_REMOVED`` when too little of it would be left; *size* is then the
    field's size before removal.
    """
    size = _size(render({key: value})) - empty
    if size <= target:
        return value, [], size
    if isinstance(value, Mapping) and value:
        inner = _shrink_inside(key, value, size - target, render, empty)
        if inner is not None:
            return inner[0], inner[1], size
    text = value if isinstance(value, str) else dumps_record(value).decode("utf-8").rstrip("\n")
    if text.endswith(TRUNCATION_MARK):  # cut in an earlier round: cut the original again
        text = text[: -len(TRUNCATION_MARK)]
    overhead = _size(render({key: TRUNCATION_MARK})) - empty
    room = target - overhead
    keep = int(room / max((size - overhead) / max(len(text), 1), 1.0))
    for attempt in range(_PREFIX_TRIES):
        if keep <= 0:
            break
        measured = _size(render({key: text[:keep] + TRUNCATION_MARK})) - empty
        if measured <= target:
            break
        if attempt == _PREFIX_TRIES - 1 or measured <= overhead:
            keep -= measured - target  # a character is at least one byte: this fits
        else:  # escapes are denser in this prefix than on average: scale down to them
            keep = min(int(keep * room / (measured - overhead)), keep - 1)
    if keep < _MIN_KEPT and key != keys.MESSAGE:
        return _REMOVED, [str(key)], size
    return text[: max(keep, 0)] + TRUNCATION_MARK, [str(key)], size


def _shrink_inside(
    key: str, value: Mapping[Any, Any], need: int, render: Render, empty: int
) -> tuple[dict[Any, Any], list[str]] | None:
    """Cut the one member of a dict that holds the excess, if one does (keeps the rest)."""
    members = {
        member: len(dumps_record({member: item})) - _EMPTY_JSON for member, item in value.items()
    }
    largest = max(members, key=members.__getitem__)
    if members[largest] - _MIN_KEPT < need:
        return None  # no one member is enough: the caller cuts the whole value
    path = f"{key}.{largest}"
    new_item, names, _ = _shrink(
        path, value[largest], members[largest] - need, _member(largest), _EMPTY_JSON
    )
    shrunk = dict(value)
    if new_item is _REMOVED:
        del shrunk[largest]
    else:
        shrunk[largest] = new_item
    return shrunk, names


def _member(name: Any) -> Render:
    """Render a dict member under its own name, whatever key _shrink passes."""

    def render(candidate: dict[str, Any]) -> bytes:
        if not candidate:
            return dumps_record({})
        (item,) = candidate.values()
        return dumps_record({name: item})

    return render


def _last_resort(record: Mapping[str, Any], limit: int, render: Render) -> bytes | str:
    # A huge logger name or context: keep only what must stay.
    last: dict[str, Any] = {key: record[key] for key in _PROTECTED if key in record}
    last[keys.LOGGER] = truncate(str(last.get(keys.LOGGER, "")), _LAST_RESORT_TEXT)
    last[keys.MESSAGE] = truncate(str(record.get(keys.MESSAGE, "")), _LAST_RESORT_TEXT)
    ordered: dict[str, Any] = {key: last[key] for key in keys.RECORD_KEYS if key in last}
    others = [str(key) for key in record if key not in _PROTECTED and key not in _MARKER]
    line = render(_with_marker(ordered, others, 0, limit))
    if _size(line) <= limit:
        return line
    head = (keys.TIMESTAMP, keys.LEVEL, keys.LOGGER, keys.MESSAGE)
    minimal = {key: last[key] for key in head if key in last}
    minimal[keys.TRUNCATED] = True
    return render(minimal)


def _size(line: bytes | str) -> int:
    return len(line) if isinstance(line, bytes) else len(line.encode("utf-8", "surrogatepass"))


@overload
def _json_line(record: Mapping[str, Any]) -> bytes: ...
@overload
def _json_line(record: Mapping[str, Any], refused: Callable[[Any], None]) -> bytes | None: ...
def _json_line(
    record: Mapping[str, Any], refused: Callable[[Any], bytes | None] = dumps_record
) -> bytes | None:
    """*record* as one JSON line: :func:`dumps_record`'s first step inlined (the path of
    nearly every record), line breaks escaped; what orjson refuses (a key that is no
    string) goes to *refused*: the fallbacks of :func:`dumps_record`."""
    try:
        line = orjson.dumps(record, default=_default, option=_FAST_OPTIONS)
    except Exception:  # noqa: BLE001 - the fallbacks of dumps_record take over
        return refused(record)
    return line if line.isascii() else _escape_breaks(line)


def _refused(record: object) -> None:
    return None


def _with_fragments(encoded: dict[str, Any], containers: frozenset[str]) -> dict[str, Any]:
    """A copy of *encoded* with each of the *containers* already encoded (an
    ``orjson.Fragment``, written as it is): what every line of a scope repeats is encoded
    once. A container orjson refuses stays as it is."""
    copy = encoded.copy()  # a copy keeps the dict's compact layout (dict() would not)
    for name in containers:
        copy[name] = _fragment(encoded[name])
    return copy


def _fragment(value: object) -> object:
    try:
        return orjson.Fragment(orjson.dumps(value, default=_default, option=orjson.OPT_UTC_Z))
    except Exception:  # noqa: BLE001 - a value orjson refuses: encoded per line, as before
        return value


class JSONRenderer:
    """Render a record as one JSON object per line (bytes), timestamps as RFC 3339 ``Z``.

    A line longer than *max_record_bytes* is cut with :func:`fit_record`, so it is still
    one valid JSON object; ``None`` turns the cap off.
    """

    __slots__ = ("_limit",)

    def __init__(self, *, max_record_bytes: int | None = DEFAULT_MAX_RECORD_BYTES) -> None:
        self._limit = max_record_bytes

    def __call__(self, logger: Any, method_name: str, event_dict: dict[str, Any]) -> bytes:
        # _json_line inlined: a call costs ~4% of this path's instructions, and it is the
        # path of nearly every record.
        try:
            line = orjson.dumps(event_dict, default=_default, option=_FAST_OPTIONS)
        except Exception:  # noqa: BLE001 - the fallbacks of dumps_record take over
            line = dumps_record(event_dict)
        else:
            if not line.isascii():
                line = _escape_breaks(line)
        limit = self._limit
        if limit is not None and len(line) > limit:
            return fit_record(event_dict, limit, dumps_record)  # type: ignore[return-value]  # bytes in, bytes out
        return line


class SchemaRenderer:
    """Render a record as one JSON line in a schema preset: ECS, Cloud Logging, Datadog or
    OpenTelemetry's names (``configure(schema=...)``, see docs/aggregators.md).

    The record is mapped by :class:`flext_logging.presets.Preset` into a new dict (what
    other outputs render is untouched), by the encoder it compiled for the record's key
    sequence (:meth:`~flext_logging.presets.Preset.encode_compiled`, the same bytes as
    ``encode``), then encoded as :class:`JSONRenderer` encodes.
    A line over *max_record_bytes* is cut in the flat form and mapped again, so the head
    and the context ids are kept whole whatever the preset calls them. Cloud Logging's
    ``trace_sampled`` and OpenTelemetry's ``TraceFlags`` come from the span the record
    was made in, when it is the record's trace.
    """

    __slots__ = ("_encode", "_encode_line", "_flags", "_limit", "_plan_of", "_scope", "clock")

    def __init__(
        self,
        schema: str,
        *,
        max_record_bytes: int | None = DEFAULT_MAX_RECORD_BYTES,
        gcp_project: str | None = None,
    ) -> None:
        preset = presets.preset(schema, gcp_project=gcp_project)
        self._encode = preset.encode
        # The compiled form of each key sequence (the same dicts as encode builds).
        self._encode_line = preset.encode_compiled
        self._plan_of = preset.compiled_plan
        self.clock = preset.clock
        """The clock :meth:`line_of_parts` takes its records' time from, when not the
        logger's ``datetime`` (:attr:`flext_logging.presets.Preset.clock`)."""
        self._flags = schema in (presets.GCP, presets.OTEL)
        self._limit = max_record_bytes
        self._scope: tuple[Any, ...] = (None, None, None, None, None, None, None)
        """The last scope's record template, its field names, whether with trace flags,
        the process id, its re-encoder (made at its second record), the record it encoded
        first, and what makes the re-encoder (see :meth:`line_of_parts`)."""

    def __call__(self, logger: Any, method_name: str, event_dict: dict[str, Any]) -> bytes:
        flags = _trace_flags(event_dict) if self._flags else None
        line = _json_line(self._encode_line(event_dict, flags))
        limit = self._limit
        if limit is not None and len(line) > limit:
            encode = self._encode
            return fit_record(event_dict, limit, lambda d: dumps_record(encode(d, flags)))  # type: ignore[return-value]  # bytes in, bytes out
        return line

    def line_of_parts(  # noqa: PLR0917 - positional: the path of every record
        self,
        template: Mapping[str, Any],
        timestamp: object,
        level: str,
        name: str,
        message: str,
        process_id: int,
        fields: Mapping[str, Any],
    ) -> bytes | None:
        """The line of the record a record path would build from its parts, without
        building it; ``None`` when the record must be built and rendered by the call.

        The record is *template* (a scope's: the head and ``process_id`` first, as
        placeholders, then the context ids) with the head and process id given put in,
        and *fields*, none of the template's names, after it. The first record of a
        scope, field names and process is encoded by the compiled form of its key
        sequence, once a record of that sequence was rendered the long way (which
        compiles it); the next ones are copies of it with their own head, fields and
        trace flags put in. Any other record (a first of its sequence, one a conversion
        refuses, a line over the size cap) gets ``None``.
        """
        names = tuple(fields)
        # No trace id, no span of the record's trace: its flags are not looked for.
        flags = _trace_flags(template) if self._flags and _TRACE_ID in template else None
        last = self._scope
        if (
            last[0] is template
            and last[1] == names
            and last[2] is (flags is not None)
            and last[3] == process_id
        ):
            refill = last[4]
            if refill is None:  # the scope's second record: a scope of one never needs it
                fixed = range(len(keys.HEAD_KEYS), len(template))  # pid and context: the scope's
                plan = last[6]
                refill = plan.refill(flags is not None, fixed, last[5])
                base = _with_fragments(last[5], plan.fixed_containers(fixed))
                self._scope = last = (*last[:4], refill, base, None)
            encoded = refill(last[5], timestamp, level, name, message, fields, flags)
        else:
            # A scope's first record of these names (or process: the scope is new after a
            # fork) by the compiled encoder; kept, with its plan, for the next ones.
            plan = self._plan_of(tuple(template) + names)
            fill = None if plan is None else plan.fills[flags is not None]
            if fill is None:
                return None
            encoded = fill(
                (
                    timestamp,
                    level,
                    name,
                    message,
                    process_id,
                    *islice(template.values(), _CONTEXT_START, None),
                    *fields.values(),
                    flags,
                )
            )
            if encoded is not None:
                self._scope = (template, names, flags is not None, process_id, None, encoded, plan)
        if encoded is None:
            return None
        # Refused (a field orjson has no form for): built and rendered the long way.
        line = _json_line(encoded, _refused)
        limit = self._limit
        return line if line is None or limit is None or len(line) <= limit else None


_CONTEXT_START: Final = len(keys.HEAD_KEYS) + 1
"""Where a record template's context starts: after the head and ``process_id``."""
_TRACE_ID: Final = keys.TRACE_ID


def _trace_flags(event_dict: Mapping[str, Any]) -> str | None:
    """The W3C flags of the span in force, when the record belongs to its trace."""
    span = current_span()
    if span is None or span.trace_id != event_dict.get(keys.TRACE_ID):
        return None
    return span.flags


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
    """Render a record for people: time, level, service, message, fields, then dim context.

    The message is padded so the call's fields start in one column; the logger name
    and context follow, dimmed, with ids shortened as git shortens hashes (``corr=``,
    ``req=``, ``trace=``, ``span=``) and without the service version, environment and
    operation name, so a line fits a terminal; *verbose* shows every context value
    whole (the JSON lines always carry them). The same layout as ``flext-logging
    pretty``. Colour follows the destination: none when it is not a terminal or
    ``NO_COLOR`` is set. Exceptions are drawn as rich tracebacks, with a
    FlextExceptions error's code and context above them. With a *redactor*, the
    exception messages and error context drawn are redacted like the fields are.

    A record is untrusted text: every character ``str.isprintable()`` rejects (C0 and
    C1 controls, ESC, the one-character CSI U+009B, line separators, bidi overrides)
    is written as a ``\\uXXXX`` escape wherever it appears, the traceback included,
    so nothing from a record reaches a terminal as a control sequence. The only
    styling is this renderer's own.
    """

    __slots__ = ("_console", "_redactor", "_verbose")

    def __init__(
        self,
        stream: IO[Any] | None = None,
        *,
        width: int | None = None,
        redactor: Redactor | None = None,
        verbose: bool = False,
    ) -> None:
        self._redactor = redactor
        self._verbose = verbose
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
        service = record.pop(keys.SERVICE_NAME, None)
        if service:
            line.append(f"{_one_line(service)} ", style="cyan")
        message = _one_line(record.pop(keys.MESSAGE, ""))
        line.append(f"{message:<{_MESSAGE_WIDTH}}", style="bold")
        name = record.pop(keys.LOGGER, "")
        record.pop(keys.PROCESS_ID, None)  # the same on every line a person reads
        context = {key: record.pop(key) for key in keys.CONTEXT_KEYS if key in record}
        for key, value in record.items():
            line.append(f" {_one_line(key)}=", style="cyan")
            line.append(_console_value(value), style="magenta")
        if name:
            line.append(f"  [{_one_line(name)}]", style="dim cyan")
        verbose = self._verbose
        for key, value in context.items():
            label = CONTEXT_LABELS.get(key)
            if label is not None and isinstance(value, str):
                shown = f"{key if verbose else label}={short_id(_one_line(value), verbose=verbose)}"
            elif verbose or key not in QUIET_CONTEXT:
                shown = f"{key}={_console_value(value)}"
            else:
                continue
            line.append(f" {shown}", style="dim")
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
