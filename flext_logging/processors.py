"""Building records, and the enrichers: small callables with structlog's processor signature.

:func:`new_record` starts every record (head, process id, context, structlog's
context-local values) and :func:`add_fields` adds a call's fields, with
:func:`place_fields` for the names that need care. The steps after that take
``(logger, method_name, event_dict)`` and return the event dict, so any structlog
processor can run beside them (:func:`adapted_processors` checks the user's). Each
docstring names the keys it reads and writes (constants of :mod:`flext_logging.keys`).
The :class:`Redactor` lives in :mod:`flext_logging.redaction` and is re-exported here.
"""

from __future__ import annotations

import contextvars
import copy
import datetime
import os
import sys
from collections.abc import Iterable, Mapping
from typing import Any, Final

import structlog
import structlog.dev
import structlog.stdlib

from flext_logging import keys
from flext_logging._jsonsafe import rfc3339
from flext_logging.context.ids import report_dropped, usable
from flext_logging.context.state import opentelemetry_span_in_force, record_fields
from flext_logging.exceptions import current_error_handling
from flext_logging.redaction import DEFAULT_REDACT_KEYS, EXC_INFO, REDACTED, Redactor
from flext_logging.tracebacks import exception_data, resolve_exc_info, stack_text

__all__ = [
    "DEFAULT_REDACT_KEYS",
    "EXC_INFO",
    "REDACTED",
    "Redactor",
    "adapted_processors",
    "add_context",
    "add_error",
    "add_exception",
    "add_fields",
    "add_opentelemetry_ids",
    "add_stack",
    "from_structlog_view",
    "level_name",
    "new_record",
    "now",
    "place_fields",
    "set_aside_head_fields",
    "structlog_context",
    "watch_structlog",
]

# EXC_INFO (from redaction, which must leave it alone): where a logger call's exc_info=
# waits for add_error / add_exception.
STACK_INFO: Final = "stack_info"
"""Where a logger call's ``stack_info=True`` waits for :func:`add_stack`."""
EVENT: Final = keys.EVENT
"""structlog's name for the message; :func:`add_context` moves it to ``message``."""
EXTRA: Final = "extra"
"""``logging``'s keyword for extra fields, accepted by the logger for drop-in use."""
STACKLEVEL: Final = "stacklevel"
"""``logging``'s keyword for the caller's frame: accepted, never written."""

COLLISION_SUFFIX: Final = "_field"
"""Added to a call field that would overwrite a head key (``level`` -> ``level_field``)."""
PIPELINE_INPUTS: Final = (*keys.HEAD_KEYS, EVENT, EXC_INFO, STACK_INFO)
"""The names under which a producer hands its record's own values to the enrichers."""
_PIPELINE_INPUT_SET: Final = frozenset(PIPELINE_INPUTS)

_CONTEXT_KEY_SET: Final = frozenset(keys.CONTEXT_KEYS)
_HEAD_NAMES: Final = frozenset((*keys.HEAD_KEYS, keys.PROCESS_ID))
PLACED_KEYS: Final = frozenset((*_HEAD_NAMES, *keys.CONTEXT_KEYS, EVENT))
"""Field names that :func:`place_fields` must look at; any other name is simply added."""
DETAIL_KEYS: Final = frozenset((EXC_INFO, STACK_INFO))
"""Field names that ask for the exception and stack steps of the pipeline."""
_LOGGING_KEYWORDS: Final = frozenset((EXTRA, STACKLEVEL))
_SPECIAL_NAMES: Final = PLACED_KEYS | DETAIL_KEYS
_SPECIAL_CALL_NAMES: Final = _SPECIAL_NAMES | _LOGGING_KEYWORDS
CALL_NAMES_NEEDING_CARE: Final = _SPECIAL_CALL_NAMES
"""The names of a call's fields that :func:`add_fields` treats apart (head and context
keys, ``exc_info``/``stack_info``, ``logging``'s keywords): a record builder that takes
a short cut must leave calls with any of them to it."""

_LEVEL_ALIASES: Final = {
    "exception": "error",
    "warn": "warning",
    "fatal": "critical",
    "msg": "info",
    "log": "info",
}
_UTC: Final = datetime.timezone.utc
_now: Final = datetime.datetime.now


def level_name(method_name: str) -> str:
    """Return the record level for a logger method name (``exception`` -> ``error``)."""
    return _LEVEL_ALIASES.get(method_name, method_name)


def set_aside_head_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """Return *fields* with each one named like a pipeline input renamed ``<name>_field``.

    The collision rule for a producer that gathers a call's own fields (``extra=``,
    static fields, a dict message) before adding the record's time, level, logger
    name, message, exception and stack: the head always means what the schema says,
    and the call's value is kept beside it, in its place. Returns *fields* itself
    when nothing collides.
    """
    if _PIPELINE_INPUT_SET.isdisjoint(fields):
        return fields
    return {
        (key + COLLISION_SUFFIX if key in _PIPELINE_INPUT_SET else key): value
        for key, value in fields.items()
    }


# -- The process id of the head: read once, and again in a forked child. ---------------

process_id: int = os.getpid()
"""This process's id, written as ``process_id`` in every record."""


def _after_fork() -> None:
    global process_id  # noqa: PLW0603 - one value per process, refreshed in the child
    process_id = os.getpid()


if hasattr(os, "register_at_fork"):  # not on Windows, where there is no fork
    os.register_at_fork(after_in_child=_after_fork)


def now() -> datetime.datetime | str:
    """Return the record time: an aware UTC ``datetime`` orjson renders as RFC 3339.

    On a whole second it is the text itself: orjson would drop the fraction, and a
    fixed width keeps log lines sortable as text.
    """
    moment = _now(_UTC)
    return moment if moment.microsecond else rfc3339(moment)


def time_of_nanoseconds(nanoseconds: int) -> object:
    """Return the record time :func:`now` gives for a clock reading in nanoseconds since
    the epoch (``time.time_ns()``, the clock of ``datetime.datetime.now``)."""
    return _fixed_width(_EPOCH + datetime.timedelta(microseconds=nanoseconds // 1000))


_EPOCH: Final = datetime.datetime(1970, 1, 1, tzinfo=_UTC)


def _fixed_width(timestamp: object) -> object:
    if isinstance(timestamp, datetime.datetime) and not timestamp.microsecond:
        return rfc3339(timestamp)
    return timestamp


# -- Merging structlog's context-local values (bind_contextvars). -----------------------

_STRUCTLOG_PREFIX: Final = structlog.contextvars.STRUCTLOG_KEY_PREFIX
# structlog keeps one ContextVar per name ever bound (and never forgets one) in a dict
# that it looks a name up in each time it binds, resets or unbinds it. That dict is
# replaced by a copy that marks the caller's context at each look-up, so a record made
# where nothing of structlog's was ever bound knows it from one ContextVar.get, however
# many names were bound elsewhere. Where structlog's internals differ, every record
# asks get_contextvars(), the public, slower way.


class _WatchedRegistry(dict[str, contextvars.ContextVar[Any]]):
    """structlog's registry of context variables, marking each context that binds one."""

    __slots__ = ("marked",)

    def __init__(
        self,
        variables: Mapping[str, contextvars.ContextVar[Any]],
        marked: contextvars.ContextVar[bool],
    ) -> None:
        super().__init__(variables)
        self.marked = marked

    def __getitem__(self, name: str) -> contextvars.ContextVar[Any]:
        self.marked.set(True)
        return super().__getitem__(name)


def _always() -> bool:
    return True


_watched: tuple[object, Any] = (None, _always)  # structlog's registry as watched, and its test


def watch_structlog() -> Any:
    """Watch structlog's registry of context variables (again, if it was replaced since).

    Return the test a record makes: a callable telling whether values may be bound with
    ``structlog.contextvars`` in the current context (a bind was seen in it, or in the
    context it was copied from). Called when the module is imported and by ``configure()``.
    """
    global _watched  # noqa: PLW0603 - one watch per registry structlog has
    variables = getattr(structlog.contextvars, "_CONTEXT_VARS", None)
    if variables is _watched[0]:
        return _watched[1]
    if not isinstance(variables, dict):
        _watched = (variables, _always)
        return _always
    if isinstance(variables, _WatchedRegistry):  # watched before (put back by a test, say)
        registry = variables
    else:
        # Names bound before the watch began may have values in any context.
        marked = contextvars.ContextVar("flext_logging.structlog_bound", default=bool(variables))
        registry = _WatchedRegistry(variables, marked)
        structlog.contextvars._CONTEXT_VARS = registry  # structlog's own look-ups now mark
    _watched = (registry, registry.marked.get)
    return registry.marked.get


watch_structlog()
_get_variable: Final = contextvars.ContextVar.get
_current_context: Final = contextvars.copy_context  # O(1): it shares the mapping
_known_structlog_variables: tuple[
    tuple[str, ...], tuple[contextvars.ContextVar[Any], ...], frozenset[contextvars.ContextVar[Any]]
] = ((), (), frozenset())
"""The names (without the prefix) of structlog's registry, their variables, and the
same as a set, as of the last time :func:`structlog_context` saw a name added."""


def structlog_context() -> dict[str, Any] | None:
    """Return the values bound with ``structlog.contextvars`` here, or ``None`` if none."""
    global _known_structlog_variables  # noqa: PLW0603 - a cache of structlog's growing registry
    variables, may_be_bound = _watched
    if not may_be_bound():
        return None
    if not isinstance(variables, dict):
        return structlog.contextvars.get_contextvars() or None
    names, known, known_set = _known_structlog_variables
    if len(variables) != len(known):
        cut = len(_STRUCTLOG_PREFIX)
        items = tuple(variables.items())
        names = tuple(name[cut:] for name, _ in items)
        known = tuple(variable for _, variable in items)
        known_set = frozenset(known)
        _known_structlog_variables = (names, known, known_set)
    if known_set.isdisjoint(_current_context()):
        return None
    values = list(map(_get_variable, known))
    # Ellipsis is structlog's "unset" (its default, and the value after unbind).
    if values.count(Ellipsis) == len(values):
        return None
    return {name: value for name, value in zip(names, values, strict=True) if value is not Ellipsis}


# -- Building the record. -------------------------------------------------------------


def place_fields(
    record: dict[str, Any],
    fields: Mapping[str, Any],
    *,
    message_key: str = keys.MESSAGE,
    override: bool = True,
) -> None:
    """Add *fields* to *record* where the schema wants them: the path of unusual names.

    A field named like a context key is validated like a context value (an ``int``
    becomes its text; an unusable value is dropped and reported) and takes that key's
    place in the schema. A ``timestamp`` replaces the record's time; a field named
    like another head key (or the message key in force) is kept beside it with
    ``_field`` added. With *override* false, a name the record already has keeps its
    value (structlog's context-local values never replace ours).
    """
    late_context: dict[str, str] = {}
    for key, value in fields.items():
        if key in _CONTEXT_KEY_SET:
            if override or key not in record:
                _place_context_value(record, late_context, key, value)
        elif key == keys.TIMESTAMP and override:
            # The time the event happened, when the caller knows it better (a replay).
            if value is not None:
                record[key] = _fixed_width(value)
        elif key in _HEAD_NAMES or key == message_key:
            record[f"{key}{COLLISION_SUFFIX}"] = value
        elif override or key not in record:
            record[key] = value
    if late_context:
        _insert_context(record, late_context, message_key)


def _place_context_value(
    record: dict[str, Any], late: dict[str, str], key: str, value: object
) -> None:
    """Validate a context value a call gave; in place if the record has it, else later."""
    text = _context_value(key, value)
    if text is None:
        return
    if key in record:
        record[key] = text
    else:
        late[key] = text


def _context_value(key: str, value: object) -> str | None:
    """A call's value for context key *key*, as the context would hold it; or ``None``."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # user_id=42: the context holds text, so do records
    if usable(key, value):
        return value  # type: ignore[return-value]  # usable() only accepts str
    report_dropped(key, value, "call")
    return None


def _insert_context(record: dict[str, Any], late: Mapping[str, str], message_key: str) -> None:
    """Put context values the record did not have yet in their schema place."""
    items = list(record.items())
    head = 0
    while head < len(items) and (items[head][0] in _HEAD_NAMES or items[head][0] == message_key):
        head += 1
    rest = dict(items[head:])
    record.clear()
    record.update(items[:head])
    for key in keys.CONTEXT_KEYS:
        if key in late:
            record[key] = late[key]
        elif key in rest:
            record[key] = rest[key]
    record.update(rest)  # keys placed above keep their place


def new_record(
    timestamp: object, level: str, name: str, message: object, message_key: str = keys.MESSAGE
) -> dict[str, Any]:
    """Start a record: the head, the process id, the context, then structlog's values.

    One dict literal: ``timestamp``, ``level``, ``logger``, the message (under
    *message_key*: ``event`` while user processors run), ``process_id``, the context
    keys with a value in schema order and the fields bound to the scope (one
    ``ContextVar.get``), then anything bound with ``structlog.contextvars``. Every
    entry point (loggers, ``logging`` records, event dicts) starts its records here.
    """
    record = {
        keys.TIMESTAMP: timestamp,
        keys.LEVEL: level,
        keys.LOGGER: name,
        message_key: message,
        keys.PROCESS_ID: process_id,
        **record_fields(),
    }
    scoped = structlog_context()
    if scoped:
        place_fields(record, scoped, message_key=message_key, override=False)
    return record


def add_fields(
    record: dict[str, Any], fields: Mapping[str, Any], message_key: str, *, call: bool = False
) -> bool:
    """Add *fields* to a new record; tell whether they ask for the exception or stack.

    One set operation decides: names that need care go through :func:`place_fields`,
    the others are added as they are. For a logger *call*, ``logging``'s keywords are
    understood too: ``extra=`` (a mapping) adds its fields without overriding the
    call's, ``stacklevel=`` is dropped.
    """
    if (_SPECIAL_CALL_NAMES if call else _SPECIAL_NAMES).isdisjoint(fields):
        record.update(fields)
        return False
    if call and not _LOGGING_KEYWORDS.isdisjoint(fields):
        fields = _with_logging_keywords(fields)
    place_fields(record, fields, message_key=message_key)
    return not DETAIL_KEYS.isdisjoint(fields)


def _with_logging_keywords(fields: Mapping[str, Any]) -> dict[str, Any]:
    extra = fields.get(EXTRA)
    merged = {
        key: value
        for key, value in fields.items()
        if key != STACKLEVEL
        and not (key == EXTRA and (extra is None or isinstance(extra, Mapping)))
    }
    if isinstance(extra, Mapping):  # anything else is kept as a field called "extra"
        for key, value in extra.items():
            merged.setdefault(key, value)
    return merged


def add_context(
    logger: Any,
    method_name: str,
    event_dict: dict[str, Any],
    *,
    message_key: str = keys.MESSAGE,
) -> dict[str, Any]:
    """Build a record from a structlog-style event dict (``event`` and fields).

    The path of ``logging`` records and of the library's own records; loggers from
    ``get_logger()`` build theirs directly. Reads ``event`` (or ``message``),
    ``timestamp`` and ``logger`` when a caller supplied them; writes the head
    (``timestamp``, ``level``, ``logger``, ``message``, ``process_id``), every context
    key with a value, the fields bound to the scope, structlog's context-local values,
    then the event dict's own fields (see :func:`place_fields`).
    """
    timestamp = event_dict.pop(keys.TIMESTAMP, None)
    timestamp = now() if timestamp is None else _fixed_width(timestamp)
    name = event_dict.pop(keys.LOGGER, None)
    if name is None:
        name = getattr(logger, "name", None) or ""
    message = event_dict.pop(EVENT, None)
    if message is None:
        message = event_dict.pop(keys.MESSAGE, "")
    record = new_record(timestamp, level_name(method_name), name, message, message_key)
    add_fields(record, event_dict, message_key)
    return record


# -- The user's processors (configure(processors=...)), structlog's included. -----------

_OUR_FRAMES: Final = "flext_logging."
_RENDERERS: Final = (
    structlog.processors.JSONRenderer,
    structlog.processors.KeyValueRenderer,
    structlog.processors.LogfmtRenderer,
    structlog.dev.ConsoleRenderer,
)
_RENDERING_FUNCTIONS: Final = (
    structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
    structlog.stdlib.render_to_log_kwargs,
    structlog.stdlib.render_to_log_args_and_kwargs,
)
_FRAME_FINDERS: Final = (
    structlog.processors.CallsiteParameterAdder,
    structlog.processors.StackInfoRenderer,
)


def adapted_processors(given: Iterable[Any]) -> list[Any]:
    """Check the processors given to ``configure()`` and adapt structlog's where needed.

    Raises ``ValueError`` for one that is not callable or that renders the record
    (``JSONRenderer()``, ``ConsoleRenderer()``, ``wrap_for_formatter``, ...): this
    library renders every record itself, after redaction. A
    ``CallsiteParameterAdder`` or ``StackInfoRenderer`` is copied so that it skips
    this library's frames and reports the application's call site.
    """
    adapted = []
    for processor in given:
        if not callable(processor):
            raise ValueError(f"configure(processors=...): {processor!r} is not callable")
        if isinstance(processor, _RENDERERS) or processor in _RENDERING_FUNCTIONS:
            name = getattr(processor, "__qualname__", type(processor).__qualname__)
            raise ValueError(
                f"configure(processors=...): {name} renders the record, but flext-logging "
                "renders every record itself, after redaction (format='json', 'logfmt' or "
                f"'console'). Remove {name} from processors= and keep the processors "
                "before it; to keep structlog's own output for structlog loggers, pass "
                "capture_structlog=False."
            )
        if isinstance(processor, _FRAME_FINDERS):
            processor = _skipping_our_frames(processor)  # noqa: PLW2901 - the adapted copy
        adapted.append(processor)
    return adapted


def _skipping_our_frames(processor: Any) -> Any:
    """A copy of a structlog frame-finding processor that also skips this library's frames."""
    ignores = getattr(processor, "_additional_ignores", ())
    if not isinstance(ignores, (list, tuple, type(None))) or _OUR_FRAMES in (ignores or ()):
        return processor  # internals that differ, or adapted already: leave it as it is
    copied = copy.copy(processor)
    copied._additional_ignores = [*(ignores or ()), _OUR_FRAMES]
    return copied


def from_structlog_view(logger: Any, method_name: str, event_dict: Any) -> dict[str, Any]:
    """After the user's processors: check what they returned; ``event`` becomes ``message``.

    The user's processors see the message as ``event``, as structlog's do. A
    processor that renders (returns ``str`` or ``bytes``) or returns anything but
    a dict is reported with what to do instead.
    """
    if not isinstance(event_dict, dict):
        if isinstance(event_dict, (str, bytes, bytearray)):
            raise TypeError(
                f"a processor given to configure(processors=...) returned "
                f"{type(event_dict).__name__}: it renders the record, but flext-logging "
                "renders every record itself. Remove renderers from processors=."
            )
        raise TypeError(
            "a processor given to configure(processors=...) returned "
            f"{type(event_dict).__name__} instead of the event dict"
        )
    if EVENT not in event_dict:
        return event_dict  # renamed by the user (EventRenamer): their name stays
    if keys.MESSAGE in event_dict:
        event_dict[keys.MESSAGE + COLLISION_SUFFIX] = event_dict.pop(keys.MESSAGE)
    return {(keys.MESSAGE if key == EVENT else key): value for key, value in event_dict.items()}


def add_error(logger: Any, method_name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """Render the exception named by ``exc_info`` as data under ``error``.

    Reads and removes ``exc_info``; writes ``error`` (see :mod:`flext_logging.tracebacks`)
    following the error-handling settings in force.
    """
    exc = resolve_exc_info(event_dict.pop(EXC_INFO, None))
    if exc is not None:
        event_dict[keys.ERROR] = exception_data(exc, current_error_handling())
    return event_dict


def add_exception(logger: Any, method_name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """Resolve ``exc_info`` to the exception itself, for renderers that draw tracebacks.

    Reads ``exc_info``; leaves the exception instance there (or removes the key when
    it names none). The console renderer uses it; JSON pipelines use :func:`add_error`.
    """
    exc = resolve_exc_info(event_dict.pop(EXC_INFO, None))
    if exc is not None:
        event_dict[EXC_INFO] = exc
    return event_dict


_OWN_PACKAGES: Final = ("flext_logging", "logging", "structlog")
_OWN_PREFIXES: Final = tuple(f"{package}." for package in _OWN_PACKAGES)


def _is_own_module(name: str) -> bool:
    return name in _OWN_PACKAGES or name.startswith(_OWN_PREFIXES)


def add_stack(logger: Any, method_name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """Add the caller's stack when the call passed ``stack_info=True``.

    Reads and removes ``stack_info``; writes ``stack``: the formatted call stack up to
    the application code that made the call, as the standard library formats it.
    """
    if event_dict.pop(STACK_INFO, False):
        frame = sys._getframe(1)
        while frame is not None and _is_own_module(frame.f_globals.get("__name__", "")):
            frame = frame.f_back  # type: ignore[assignment]  # loop ends on None
        event_dict[keys.STACK] = stack_text(frame, current_error_handling().max_frames)
    return event_dict


_TRACE_KEYS: Final = (keys.TRACE_ID, keys.SPAN_ID)
# The keys a trace id is written after, when a record has no trace id of its own yet.
_BEFORE_TRACE: Final = frozenset(
    (
        *keys.HEAD_KEYS,
        keys.EVENT,
        keys.PROCESS_ID,
        *keys.CONTEXT_KEYS[: keys.CONTEXT_KEYS.index(keys.TRACE_ID)],
    )
)


def add_opentelemetry_ids(
    logger: Any, method_name: str, event_dict: dict[str, Any]
) -> dict[str, Any]:
    """Write the ids of the active OpenTelemetry span, when it is the innermost span.

    Reads nothing of the record; writes ``trace_id`` and ``span_id`` in their schema
    place, replacing the ids of a span of this library that the OpenTelemetry span was
    started in (a span of ours started inside the OpenTelemetry span keeps its ids). A
    no-op, one dictionary lookup, unless the application has imported ``opentelemetry``.
    """
    if "opentelemetry.trace" not in sys.modules:
        return event_dict
    span = opentelemetry_span_in_force()
    if span is None:
        return event_dict
    if keys.TRACE_ID in event_dict and keys.SPAN_ID in event_dict:
        event_dict[keys.TRACE_ID] = span.trace_id
        event_dict[keys.SPAN_ID] = span.span_id
        return event_dict
    record: dict[str, Any] = {}
    for key, value in event_dict.items():
        if key not in _BEFORE_TRACE and keys.TRACE_ID not in record:
            record[keys.TRACE_ID] = span.trace_id
            record[keys.SPAN_ID] = span.span_id
        if key not in _TRACE_KEYS:
            record[key] = value
    if keys.TRACE_ID not in record:
        record[keys.TRACE_ID] = span.trace_id
        record[keys.SPAN_ID] = span.span_id
    return record
